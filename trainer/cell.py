"""The CfC cell of docs/model.md ("The cell") in numpy: forward and hand-written BPTT backward.

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
The nonlinearities and the state update are the float reference's (cfcbase.cell).
"""
from __future__ import annotations

import numpy as np

from cfcbase.cell import DT, HEAD_SCALE, activations_, state_update_


class Cache:
    """Preallocated forward caches and backward buffers for one (T, M, B, I, H).

    The heads sit on their own axis ([2, M, B, H]: 0 gate, 1 candidate) so that every
    elementwise op runs on contiguous memory (strided views cost several times more here).
    Backward buffers are allocated on first use (validation caches only ever run forward).
    """

    def __init__(self, T, M, B, I, H):
        self.T, self.M, self.B, self.I, self.H = T, M, B, I, H
        self.h = np.zeros((T + 1, M, B, H))      # h[0] = h_{-1} = 0, h[t+1] = h_t
        self.act = np.empty((T, 2, M, B, H))     # [gate, cand] after the nonlinearity
        self.d = np.empty((T, M, B, H))          # cand - lam * h_prev
        self.xa = np.empty((T, 2, M, B, H))      # input part of the pre-activation + bias (scaled)
        self.y = np.empty((T, M, B, 1))
        self.tmp = np.empty((M, B, H))
        self._bwd = None

    def backward_buffers(self):
        if self._bwd is None:
            T, M, B, H = self.T, self.M, self.B, self.H
            self._bwd = (np.empty((T, 2, M, B, H)),      # G: da = dh * G, per step
                         np.empty((T, 2, M, B, H)),      # da: dL/d pre-activation, per step
                         np.empty((T, M, B, H)),         # lq = lam * (1 - gate)
                         np.empty((T, M, B, H)),         # qh = (1 - gate) * h_prev
                         np.empty((2, M, B, H)), np.empty((M, B, H)))
        return self._bwd


# ---- one step ---------------------------------------------------------------------------

# gate = sigmoid(a_f), cand = tanh(a_g), a = W_x x_t + b + W_h h_prev  (xa_t holds W_x x_t + b)
# h    = lam * (1 - gate) * h_prev + gate * cand  =  lam*h_prev + gate * (cand - lam*h_prev)
# The gate rows of xa_t and WhT come scaled by -1, the candidate rows by -2 (HEAD_SCALE), as
# cfcbase.cell.activations_ wants them; the caller ignores the overflow flag of exp.
def cell_forward(h_out, act_out, d_out, tmp, xa_t, h_prev, WhT, lam):
    np.matmul(h_prev, WhT, out=act_out)             # [M,B,H] @ [2,M,H,H] -> [2,M,B,H]
    act_out += xa_t
    activations_(act_out)
    state_update_(h_out, d_out, tmp, h_prev, act_out[0], act_out[1], lam)


# The factors of the backward step that do not depend on dh, for all steps at once (one call
# per array instead of one per step):
# G = [gate (1 - gate) d, gate (1 - cand^2)]   lq = lam (1 - gate)   qh = (1 - gate) h_prev
def backward_factors(G_out, lq_out, qh_out, act, d, h_prev, lam):
    gate, cand = act[:, 0], act[:, 1]                # [T, M, B, H]
    Gf, Gg = G_out[:, 0], G_out[:, 1]
    np.subtract(1.0, gate, out=lq_out)               # 1 - gate
    np.multiply(h_prev, lq_out, out=qh_out)
    np.multiply(gate, lq_out, out=Gf)
    Gf *= d
    lq_out *= lam
    np.multiply(cand, cand, out=Gg)
    np.subtract(1.0, Gg, out=Gg)
    Gg *= gate


# da = dh * G_t (both heads: da_f = dh gate' d, da_g = dh gate cand')
# dh_prev += da_f @ W_hf + da_g @ W_hg + dh * lq_t
# (dW, db and dlam are sums over steps of products with da and dh: param_grads, after the loop)
def cell_backward(dh_prev, da_out, tmp2, tmp, dh, G_t, lq_t, Wh):
    np.multiply(dh, G_t, out=da_out)                 # dh broadcasts over the head axis
    np.matmul(da_out, Wh, out=tmp2)                  # [2,M,B,H] @ [2,M,H,H]
    dh_prev += tmp2[0]
    dh_prev += tmp2[1]
    np.multiply(dh, lq_t, out=tmp)
    dh_prev += tmp


# dW_h = sum_t da_t^T h_prev_t   dW_x = sum_t da_t^T x_t   db = sum_t da_t   (and over B)
# dlam = sum_t dh_t (1 - gate_t) h_prev_t
# Shapes: da [T, 2, M, B, H], dhs and qh and h_prev [T, M, B, H], xT [T, B, I];
# returns dW [M, 2H, I + H] (rows: gate then candidate), db [M, 2H], dlam [M, H].
def param_grads(da, dhs, qh, xT, h_prev):
    T, _, M, B, H = da.shape
    daM = da.transpose(1, 2, 0, 3, 4).reshape(2, M, T * B, H)
    daT = daM.swapaxes(-1, -2)                       # [2, M, H, T*B]
    dWh = np.matmul(daT, h_prev.transpose(1, 0, 2, 3).reshape(M, T * B, H))
    dWx = np.matmul(daT, xT.reshape(T * B, -1))
    dW = np.concatenate([dWx, dWh], axis=3).transpose(1, 0, 2, 3).reshape(M, 2 * H, -1)
    db = daM.sum(axis=2).transpose(1, 0, 2).reshape(M, 2 * H)
    dlam = np.einsum("tmbh,tmbh->mh", dhs, qh)
    return dW, db, dlam


# ---- a whole sequence -------------------------------------------------------------------
# Shapes: xT [T, B, I] (time-major, shared by all models); W [M, 2H, C] (rows: gate then
# candidate); b [M, 2H]; lam, tau, w_o [M, H]; b_o [M]; y [T, M, B]; states [T, M, B, H].

_SCALE = np.array(HEAD_SCALE)[:, None, None, None]


def forward(cache, xT, W, b, lam, w_o, b_o):
    """Fills cache; returns y [T, M, B] (a view into cache.y)."""
    I, H, M, B = cache.I, cache.H, cache.M, cache.B
    W2 = W.reshape(M, 2, H, I + H).transpose(1, 0, 2, 3) * _SCALE         # [2, M, H, C]
    np.matmul(xT[:, None, None], W2[..., :I].transpose(0, 1, 3, 2), out=cache.xa)
    cache.xa += (b.reshape(M, 2, H).transpose(1, 0, 2) * _SCALE[..., 0])[:, :, None, :]
    WhT = np.ascontiguousarray(W2[..., I:].transpose(0, 1, 3, 2))        # [2, M, H, H]
    lamf = np.ascontiguousarray(np.broadcast_to(lam[:, None, :], (M, B, H)))
    h, act, d, xa, tmp = cache.h, cache.act, cache.d, cache.xa, cache.tmp
    with np.errstate(over="ignore"):
        for t in range(cache.T):
            cell_forward(h[t + 1], act[t], d[t], tmp, xa[t], h[t], WhT, lamf)
    np.matmul(h[1:], w_o[:, :, None], out=cache.y)
    y = cache.y[..., 0]
    y += b_o[:, None]
    return y


def backward(cache, xT, W, lam, tau, w_o, dy, dh_ext=None):
    """BPTT. dy: dL/dy [T, M, B]; dh_ext: extra dL/dh_t [T, M, B, H] (trajectory) or None.

    Returns dW [M, 2H, C], db [M, 2H], dlog_tau [M, H], dw_o [M, H], db_o [M].
    lam = exp(-DT/tau), tau = exp(log_tau), so dlam/dlog_tau = lam * DT / tau.
    """
    I, H, T, M = cache.I, cache.H, cache.T, cache.M
    G, da, lq, qh, tmp2, tmp = cache.backward_buffers()
    Wh = np.ascontiguousarray(W[:, :, I:].reshape(M, 2, H, H).transpose(1, 0, 2, 3))   # [2,M,H,H]
    h = cache.h
    backward_factors(G, lq, qh, cache.act, cache.d, h[:T], lam[:, None, :])
    dhs = dy[..., None] * w_o[:, None, :]            # dL/dh_t [T, M, B, H]: the readout's part,
    if dh_ext is not None:                           # completed from t = T-1 down by the loop
        dhs += dh_ext
    for t in range(T - 1, 0, -1):
        cell_backward(dhs[t - 1], da[t], tmp2, tmp, dhs[t], G[t], lq[t], Wh)
    np.multiply(dhs[0], G[0], out=da[0])             # step 0: h_prev = 0 needs no gradient
    dW, db, dlam = param_grads(da, dhs, qh, xT, h[:T])
    dlog_tau = dlam * lam * DT / tau
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
    The trajectory gradient enters BPTT additively per step: dL/dh_t gets the distillation
    term at every step before the step's backward (docs/training.md, "Ternary student").
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
