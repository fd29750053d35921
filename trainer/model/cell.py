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

from cfcbase.cell import DT, HEAD_SCALE

_SCALE = np.array(HEAD_SCALE)[:, None, None, None]


class Cache:
    """Preallocated forward caches, backward buffers and per-step views for one (T, M, B, I, H).

    The heads sit on their own axis ([2, M, B, H]: 0 gate, 1 candidate) so that every
    elementwise op of a step runs on contiguous memory (an op on a [M, B, H] view whose model
    blocks are apart costs 3-4x more here). The exception is dL/d pre-activation, `da`
    [2, M, T, B, H]: written by one op per backward step, it is read by param_grads as each
    model's T B rows in place (time-major it needed a copy of the whole array). The views of
    every step are made once here (making a view costs about as much as a small ufunc call),
    and the constants of a step are full-size arrays (a Python scalar operand or a broadcast
    operand costs more per call than the arithmetic at these sizes). Backward buffers are
    allocated on first use (validation caches only ever run forward).
    """

    def __init__(self, T, M, B, I, H):
        self.T, self.M, self.B, self.I, self.H = T, M, B, I, H
        self.h = np.zeros((T + 1, M, B, H))      # h[0] = h_{-1} = 0, h[t+1] = h_t
        self.act = np.empty((T, 2, M, B, H))     # [gate, cand] after the nonlinearity
        self.d = np.empty((T, M, B, H))          # cand - lam * h_prev
        self.xa = np.empty((T, 2, M, B, H))      # input part of the pre-activation + bias (scaled)
        self.y = np.empty((T, M, B, 1))          # a readout's outputs (trainer.model.heads)
        self.tmp = np.empty((M, B, H))
        self.lamf = np.empty((M, B, H))          # lam repeated over the batch
        self.ones = np.ones((2, M, B, H))        # (a [M, B, H] operand broadcast over the heads costs 2x)
        self.num = np.empty((2, M, B, H))        # 1 (gate), 2 (cand): cfcbase.cell.activations_
        self.num[0], self.num[1] = 1.0, 2.0
        self.xrep = np.empty((T, 1, 1, B, H)) if I == 1 else None   # x_t repeated over H
        self.rows = np.empty((2, M, B, H))       # a [2, M, H] row vector repeated over B
        self.steps = [(self.h[t + 1], self.act[t], self.act[t, 0], self.act[t, 1], self.d[t], self.xa[t],
                       self.h[t]) for t in range(T)]
        self._bwd = None
        self.lengths = None                      # each window's steps (a classifier's head reads them); None: all T

    def dh(self):
        """dL/dh_t [T, M, B, H]: a head fills it before backward()."""
        return self.backward_buffers().dhs

    def backward_buffers(self):
        if self._bwd is None:
            T, M, B, H = self.T, self.M, self.B, self.H
            b = self._bwd = _Backward()
            b.G = np.empty((T, 2, M, B, H))       # da = dh * G, per step
            b.da = _model_major((2 * M, T, B, H)).reshape(2, M, T, B, H)   # dL/d pre-activation
            b.lq = np.empty((T, M, B, H))         # lam * (1 - gate)
            b.qh = np.empty((T, M, B, H))         # (1 - gate) * h_prev
            b.dhs = np.empty((T, M, B, H))        # dL/dh_t
            b.tmp2 = np.empty((2, M, B, H))
            b.tmp = np.empty((M, B, H))
            b.steps = [(b.dhs[t - 1], b.da[:, :, t], b.dhs[t], b.G[t], b.lq[t]) for t in range(T - 1, 0, -1)]
        return self._bwd


class _Backward:
    pass


def _model_major(shape, alloc=np.empty):
    """An array of shape whose leading-axis blocks are each contiguous, with 64 bytes between
    blocks: a block stride that is a multiple of 4096 bytes (e.g. T = 50 steps x 32 x 32)
    puts the blocks' rows of one step into the same cache sets."""
    n = int(np.prod(shape[1:]))
    return alloc((shape[0], n + 8))[:, :n].reshape(shape)


# ---- one step ---------------------------------------------------------------------------

# gate = sigmoid(a_f), cand = tanh(a_g), a = W_x x_t + b + W_h h_prev  (xa_t holds W_x x_t + b)
# h    = lam * (1 - gate) * h_prev + gate * cand  =  lam*h_prev + gate * (cand - lam*h_prev)
# The gate rows of xa_t and WhT come scaled by -1, the candidate rows by -2 (HEAD_SCALE). The
# nonlinearities and the state update are cfcbase.cell's activations_ and state_update_, op
# for op (a test checks the forward against cfcbase.cell.predict bit for bit), on the views and
# constants of the Cache; the caller ignores the overflow flag of exp.
def cell_forward(h_out, act_out, gate, cand, d_out, tmp, xa_t, h_prev, WhT, lam, num, ones, one):
    np.matmul(h_prev, WhT, act_out)                 # [M,B,H] @ [2,M,H,H] -> [2,M,B,H]
    np.add(act_out, xa_t, act_out)
    np.exp(act_out, act_out)                        # e = exp(scaled a)
    np.add(act_out, ones, act_out)
    np.divide(num, act_out, act_out)                # gate = 1/(1 + e_f), cand + 1 = 2/(1 + e_g)
    np.subtract(cand, one, cand)
    np.multiply(h_prev, lam, h_out)                 # lam * h_prev
    np.subtract(cand, h_out, d_out)                 # cand - lam * h_prev
    np.multiply(gate, d_out, tmp)
    np.add(h_out, tmp, h_out)


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
    np.multiply(dh, G_t, da_out)                     # dh broadcasts over the head axis
    np.matmul(da_out, Wh, tmp2)                      # [2,M,B,H] @ [2,M,H,H]
    np.add(dh_prev, tmp2[0], dh_prev)
    np.add(dh_prev, tmp2[1], dh_prev)
    np.multiply(dh, lq_t, tmp)
    np.add(dh_prev, tmp, dh_prev)


# dW_h = sum_t da_t^T h_prev_t   dW_x = sum_t da_t^T x_t   db = sum_t da_t   (and over B)
# dlam = sum_t dh_t (1 - gate_t) h_prev_t
# Shapes: da [2, M, T, B, H] (the Cache's layout: each model's T B rows are read in place), dhs
# and qh and h_prev [T, M, B, H], xT [T, B, I]; returns dW [M, 2H, I + H] (rows: gate then
# candidate), db [M, 2H], dlam [M, H].
def param_grads(da, dhs, qh, xT, h_prev):
    _, M, T, B, H = da.shape
    daM = da.reshape(2, M, T * B, H)
    daT = daM.swapaxes(-1, -2)                       # [2, M, H, T*B]
    dWh = np.matmul(daT, h_prev.transpose(1, 0, 2, 3).reshape(M, T * B, H))
    dWx = np.matmul(daT, xT.reshape(T * B, -1))
    dW = np.concatenate([dWx, dWh], axis=3).transpose(1, 0, 2, 3).reshape(M, 2 * H, -1)
    db = daM.sum(axis=2).transpose(1, 0, 2).reshape(M, 2 * H)
    dlam = np.einsum("tmbh,tmbh->mh", dhs, qh)
    return dW, db, dlam


def sum_tb(x):
    """Per-model sum of x [T, M, B] over time and batch: each step's sum over B (numpy's
    pairwise sum of a contiguous axis), accumulated over T in order. The same bits whatever M
    is; numpy's own sum over both axes takes this order for M > 1 and another for M = 1, so
    a model trained alone would differ in the last bits from the same model in a stack."""
    return np.cumsum(x.sum(axis=2), axis=0)[-1]


# ---- a whole sequence -------------------------------------------------------------------
# Shapes: xT [T, B, I] (time-major, shared by all models); W [M, 2H, C] (rows: gate then
# candidate); b [M, 2H]; lam, tau, w_o [M, H]; b_o [M]; y [T, M, B]; states [T, M, B, H].

def forward(cache, xT, W, b, lam):
    """The states of the windows xT into cache.h (h[t + 1] = h_t); a head reads them (trainer.model.heads)."""
    I, H, M = cache.I, cache.H, cache.M
    W2 = W.reshape(M, 2, H, I + H).transpose(1, 0, 2, 3) * _SCALE         # [2, M, H, C]
    rows = cache.rows
    if I == 1:                                       # xa = x_t w_x + b: one product per element
        np.copyto(cache.xrep, xT[:, None, None])
        np.copyto(rows, W2[:, :, None, :, 0])
        np.multiply(cache.xrep, rows, out=cache.xa)
    else:
        np.matmul(xT[:, None, None], W2[..., :I].transpose(0, 1, 3, 2), out=cache.xa)
    np.copyto(rows, (b.reshape(M, 2, H).transpose(1, 0, 2) * _SCALE[..., 0])[:, :, None, :])
    np.add(cache.xa, rows, out=cache.xa)
    WhT = np.ascontiguousarray(W2[..., I:].transpose(0, 1, 3, 2))        # [2, M, H, H]
    lamf, tmp, num, ones = cache.lamf, cache.tmp, cache.num, cache.ones
    np.copyto(lamf, lam[:, None, :])
    with np.errstate(over="ignore"):
        for h_out, act, gate, cand, d, xa_t, h_prev in cache.steps:
            cell_forward(h_out, act, gate, cand, d, tmp, xa_t, h_prev, WhT, lamf, num, ones, ones[1])


def backward(cache, xT, W, lam, tau):
    """BPTT from cache.dh() [T, M, B, H], which the head filled with dL/dh_t of every step (its own
    part and any distillation term); the loop completes it from t = T-1 down.

    Returns dW [M, 2H, C], db [M, 2H], dlog_tau [M, H].
    lam = exp(-DT/tau), tau = exp(log_tau), so dlam/dlog_tau = lam * DT / tau.
    """
    I, H, T, M = cache.I, cache.H, cache.T, cache.M
    bw = cache.backward_buffers()
    G, da, dhs, tmp2, tmp = bw.G, bw.da, bw.dhs, bw.tmp2, bw.tmp
    Wh = np.ascontiguousarray(W[:, :, I:].reshape(M, 2, H, H).transpose(1, 0, 2, 3))   # [2,M,H,H]
    h = cache.h
    np.copyto(cache.lamf, lam[:, None, :])
    backward_factors(G, bw.lq, bw.qh, cache.act, cache.d, h[:T], cache.lamf)
    for dh_prev, da_t, dh, G_t, lq_t in bw.steps:
        cell_backward(dh_prev, da_t, tmp2, tmp, dh, G_t, lq_t, Wh)
    np.multiply(dhs[0], G[0], out=da[:, :, 0])       # step 0: h_prev = 0 needs no gradient
    dW, db, dlam = param_grads(da, dhs, bw.qh, xT, h[:T])
    dlog_tau = dlam * lam * DT / tau
    return dW, db, dlog_tau


def states(xT, W, b, lam):
    """The hidden states [T, M, B, H] of inputs xT [T, B, I]."""
    T, B, I = xT.shape
    cache = Cache(T, W.shape[0], B, I, W.shape[2] - I)
    forward(cache, xT, W, b, lam)
    return cache.h[1:].copy()


# ---- trajectory distillation ----------------------------------------------------------------

def trajectory_term(h, h_teacher, alpha, B, lengths=None):
    """alpha * mean_{t,b} ||h - h_teacher||^2 per model [M] and its gradient dL/dh [T, M, B, H]
    (docs/training.md, "Trajectory distillation"): the gradient enters BPTT additively per step,
    before the step's backward. alpha: per model [M]; B: the batch; lengths: each window's steps
    (the mean over each window's own steps; None: all T)."""
    T, M = h.shape[:2]
    n = T * B
    dhh = h - h_teacher
    if lengths is not None:
        dhh = dhh * (np.arange(T)[:, None] < np.asarray(lengths)[None, :])[:, None, :, None]
        n = int(np.sum(lengths))
    return alpha * sum_tb(np.einsum("tmbh,tmbh->tmb", dhh, dhh)) / n, (2.0 * alpha / n)[:, None, None] * dhh
