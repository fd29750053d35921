"""The pinned CfC cell (DESIGN.md) in numpy: forward and hand-written BPTT backward.

Dimensions: M models, T time, B batch, I inputs, H hidden, C = I + H (columns of z = [x ; h]).
M independent models (e.g. the seeds or configurations of one factorial cell) are trained
side by side on the same data as one stack: numpy's per-call overhead dominates at these
sizes, so a stack of M models costs far less than M separate runs. Every model's numbers
are its own: nothing mixes across M.
The two heads are stacked into one matrix W [2H, C]: rows [0, H) gate, rows [H, 2H) candidate,
so one matmul per step serves both. For the ternary student W is the effective
(dequantized) matrix s[:, None] * trits; this module does not know about quantization.

Style (after llm.c train_gpt2.c): per step a cell_forward / cell_backward pair, outputs
first, forward caches passed explicitly, gradients named d<x> accumulated with +=.
"""
from __future__ import annotations

import numpy as np

DT = 0.1


class Cache:
    """Preallocated forward caches and backward buffers for one (T, M, B, I, H).

    The heads sit on their own axis ([2, M, B, H]: 0 gate, 1 candidate) so that every
    elementwise op runs on contiguous memory (strided views cost several times more here).
    """

    def __init__(self, T, M, B, I, H):
        self.T, self.M, self.B, self.I, self.H = T, M, B, I, H
        self.h = np.zeros((T + 1, M, B, H))      # h[0] = h_{-1} = 0, h[t+1] = h_t
        self.act = np.empty((T, 2, M, B, H))     # [gate, cand] after the nonlinearity
        self.d = np.empty((T, M, B, H))          # cand - lam * h_prev
        self.xa = np.empty((T, 2, M, B, H))      # input part of the pre-activation + bias
        self.da = np.empty((T, 2, M, B, H))      # dL/d pre-activation, per step
        self.y = np.empty((T, M, B, 1))
        self.tmp = np.empty((M, B, H))
        self.tmp2 = np.empty((M, B, H))
        self.q = np.empty((M, B, H))
        self.dh = np.empty((M, B, H))
        self.dh2 = np.empty((M, B, H))
        self.dlam = np.empty((M, B, H))


# ---- one step ---------------------------------------------------------------------------

# gate = sigmoid(a_f), cand = tanh(a_g), a = W_x x_t + b + W_h h_prev  (xa_t holds W_x x_t + b)
# h    = lam * (1 - gate) * h_prev + gate * cand  =  lam*h_prev + gate * (cand - lam*h_prev)
# sigmoid(a) = (1 + tanh(a/2)) / 2: the gate rows of xa_t and WhT come pre-halved, so both
# heads share one tanh call.
def cell_forward(h_out, act_out, d_out, tmp, xa_t, h_prev, WhT, lam, H):
    np.matmul(h_prev, WhT, out=act_out)             # [M,B,H] @ [2,M,H,H] -> [2,M,B,H]
    act_out += xa_t
    np.tanh(act_out, out=act_out)
    gate = act_out[0]
    gate *= 0.5
    gate += 0.5
    np.multiply(h_prev, lam, out=h_out)             # lam * h_prev
    np.subtract(act_out[1], h_out, out=d_out)       # cand - lam * h_prev
    np.multiply(gate, d_out, out=tmp)
    h_out += tmp


# dgate = dh * (cand - lam*h_prev)        da_f = dgate * gate * (1 - gate)
# dcand = dh * gate                       da_g = dcand * (1 - cand^2)
# dlam += dh * (1 - gate) * h_prev        dh_prev = dh * lam * (1 - gate) + da_f @ W_hf + da_g @ W_hg
# dW_h += da^T h_prev                     dW_x += da^T x_t
def cell_backward(dh_prev, da_out, dWh, dWx, dlam, q, tmp, tmp2, tWh, tWx,
                  dh, x_t, h_prev, act, d, Whf, Whg, lam):
    gate, cand = act[0], act[1]
    da_f, da_g = da_out[0], da_out[1]
    np.subtract(1.0, gate, out=q)
    np.multiply(dh, d, out=da_f)
    da_f *= gate
    da_f *= q
    np.multiply(cand, cand, out=da_g)
    np.subtract(1.0, da_g, out=da_g)
    da_g *= gate
    da_g *= dh
    q *= dh                                          # dh * (1 - gate)
    np.multiply(q, h_prev, out=tmp)
    dlam += tmp
    np.matmul(da_f, Whf, out=dh_prev)
    np.matmul(da_g, Whg, out=tmp2)
    dh_prev += tmp2
    q *= lam
    dh_prev += q
    daT = da_out.swapaxes(-1, -2)                     # [2, M, H, B]
    np.matmul(daT, h_prev, out=tWh)
    dWh += tWh
    np.matmul(daT, x_t, out=tWx)
    dWx += tWx


# ---- a whole sequence -------------------------------------------------------------------
# Shapes: xT [T, B, I] (time-major, shared by all models); W [M, 2H, C] (rows: gate then
# candidate); b [M, 2H]; lam, tau, w_o [M, H]; b_o [M]; y [T, M, B]; states [T, M, B, H].

_HALF = np.array([0.5, 1.0])[:, None, None, None]     # pre-scale of the gate head (sigmoid via tanh)


def forward(cache, xT, W, b, lam, w_o, b_o):
    """Fills cache; returns y [T, M, B] (a view into cache.y)."""
    I, H, M, B = cache.I, cache.H, cache.M, cache.B
    W2 = W.reshape(M, 2, H, I + H).transpose(1, 0, 2, 3) * _HALF          # [2, M, H, C]
    np.matmul(xT[:, None, None], W2[..., :I].transpose(0, 1, 3, 2), out=cache.xa)
    cache.xa += (b.reshape(M, 2, H).transpose(1, 0, 2) * _HALF[..., 0])[:, :, None, :]
    WhT = np.ascontiguousarray(W2[..., I:].transpose(0, 1, 3, 2))        # [2, M, H, H]
    lamf = np.ascontiguousarray(np.broadcast_to(lam[:, None, :], (M, B, H)))
    h, act, d, xa, tmp = cache.h, cache.act, cache.d, cache.xa, cache.tmp
    for t in range(cache.T):
        cell_forward(h[t + 1], act[t], d[t], tmp, xa[t], h[t], WhT, lamf, H)
    np.matmul(h[1:], w_o[:, :, None], out=cache.y)
    y = cache.y[..., 0]
    y += b_o[:, None]
    return y


def backward(cache, xT, W, lam, tau, w_o, dy, dh_ext=None):
    """BPTT. dy: dL/dy [T, M, B]; dh_ext: extra dL/dh_t [T, M, B, H] (trajectory) or None.

    Returns dW [M, 2H, C], db [M, 2H], dlog_tau [M, H], dw_o [M, H], db_o [M].
    lam = exp(-DT/tau), tau = exp(log_tau), so dlam/dlog_tau = lam * DT / tau.
    """
    I, H, T, M, B = cache.I, cache.H, cache.T, cache.M, cache.B
    Whf = np.ascontiguousarray(W[:, :H, I:])          # [M, H, H]
    Whg = np.ascontiguousarray(W[:, H:, I:])
    g = dy[..., None] * w_o[:, None, :]               # dL/dh_t from the readout, [T, M, B, H]
    if dh_ext is not None:
        g += dh_ext
    lamf = np.ascontiguousarray(np.broadcast_to(lam[:, None, :], (M, B, H)))
    h, act, d, da = cache.h, cache.act, cache.d, cache.da
    dh, dh_prev, dlam, q, tmp, tmp2 = cache.dh, cache.dh2, cache.dlam, cache.q, cache.tmp, cache.tmp2
    dh[...] = 0.0
    dlam[...] = 0.0
    dWh, tWh = np.zeros((2, M, H, H)), np.empty((2, M, H, H))
    dWx, tWx = np.zeros((2, M, H, I)), np.empty((2, M, H, I))
    for t in range(T - 1, -1, -1):
        dh += g[t]
        cell_backward(dh_prev, da[t], dWh, dWx, dlam, q, tmp, tmp2, tWh, tWx,
                      dh, xT[t], h[t], act[t], d[t], Whf, Whg, lamf)
        dh, dh_prev = dh_prev, dh
    dW = np.concatenate([dWx, dWh], axis=3).transpose(1, 0, 2, 3).reshape(M, 2 * H, I + H)
    db = da.sum(axis=(0, 3)).transpose(1, 0, 2).reshape(M, 2 * H)
    dlog_tau = dlam.sum(axis=1) * lam * DT / tau
    dw_o = np.einsum("tmbh,tmb->mh", h[1:], dy)
    db_o = dy.sum(axis=(0, 2))
    return dW, db, dlog_tau, dw_o, db_o


def predict(xT, W, b, lam, w_o, b_o):
    """y [T, M, B] and hidden states [T, M, B, H] for inputs xT [T, B, I]."""
    T, B, I = xT.shape
    cache = Cache(T, W.shape[0], B, I, W.shape[2] - I)
    y = forward(cache, xT, W, b, lam, w_o, b_o)
    return y.copy(), cache.h[1:].copy()


# ---- losses -----------------------------------------------------------------------------

def loss_and_grads(y, target, alpha=0.0, h=None, h_teacher=None, y_teacher=None, alpha_out=0.0,
                   step_w=None):
    """Per-model loss [M] and its gradients w.r.t. y [T, M, B] and h [T, M, B, H].

    target [T, B] (shared) or [T, M, B]; alpha, alpha_out scalars or per-model arrays [M];
    step_w [T] optional per-step weights of the task term (default 1).

    L = (1 - alpha - alpha_out) * mean_{t,b} (y - target)^2
        + alpha     * mean_{t,b} ||h - h_teacher||^2          (trajectory distillation)
        + alpha_out * mean_{t,b} (y - y_teacher)^2            (output-only distillation)
    The trajectory gradient enters BPTT additively per step (seed 001, node 6).
    """
    T, M, B = y.shape
    n = T * B                                         # per model
    alpha = np.broadcast_to(np.asarray(alpha, np.float64), (M,))
    alpha_out = np.broadcast_to(np.asarray(alpha_out, np.float64), (M,))
    w_task = 1.0 - alpha - alpha_out
    e = y - (target[:, None, :] if target.ndim == 2 else target)
    if step_w is None:
        L = w_task * np.mean(e * e, axis=(0, 2))
        dy = (2.0 * w_task / n)[:, None] * e
    else:
        sw = np.asarray(step_w, np.float64)[:, None, None]
        L = w_task * np.mean(sw * e * e, axis=(0, 2))
        dy = (2.0 * w_task / n)[:, None] * sw * e
    dh = None
    if np.any(alpha):
        dhh = h - h_teacher
        L = L + alpha * np.sum(dhh * dhh, axis=(0, 2, 3)) / n
        dh = (2.0 * alpha / n)[:, None, None] * dhh
    if np.any(alpha_out):
        eo = y - y_teacher
        L = L + alpha_out * np.mean(eo * eo, axis=(0, 2))
        dy += (2.0 * alpha_out / n)[:, None] * eo
    return L, dy, dh
