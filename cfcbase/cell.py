"""The float reference of the CfC cell (docs/artifact.md), shared by every stage.

    z_t    = [x_t ; h_{t-1}]
    gate_t = sigmoid(W_f z_t + b_f),  cand_t = tanh(W_g z_t + b_g)
    lam    = exp(-dt / tau)
    h_t    = lam * (1 - gate_t) * h_{t-1} + gate_t * cand_t  =  lam h + gate (cand - lam h)
    y_t    = w_o . h_t + b_o

For the quantized model W = s[:, None] * values (per-row scales, cfcbase.formats). The trainer's BPTT cell
(trainer/cell.py), its coordinate search and the float ternary model that codegen and the host
compare the integer firmware with all use the pieces below, so they compute the same numbers.

Both nonlinearities come from one exp (numpy's float64 tanh is 3-4x slower than exp on CPUs
without AVX-512): the gate rows of the pre-activation are scaled by -1, the candidate rows by
-2 (HEAD_SCALE), e = exp(scaled a), gate = 1 / (1 + e_f), cand = 2 / (1 + e_g) - 1 = tanh(a_g).
e = inf (a far out) gives gate = 0, cand = -1 exactly; callers ignore the overflow flag.
"""
from __future__ import annotations

import numpy as np

from .heads import Readout

DT = 0.1                                 # seconds per sample (DESIGN: dt = 0.1)

HEAD_SCALE = (-1.0, -2.0)                # per head: exp(-a_f), exp(-2 a_g)
_NUM = np.array([1.0, 2.0])[:, None, None, None]      # gate = 1/(1+e_f), cand + 1 = 2/(1+e_g)


def decay(tau, dt=DT):
    """lam = exp(-dt / tau): the per-unit state decay of one step."""
    return np.exp(-dt / tau)


def head_scale_rows(H):
    """HEAD_SCALE per row of the stacked [2H, C] head matrix (gate rows, then candidate rows)."""
    return np.repeat(HEAD_SCALE, H)


def activations_(a):
    """In place: scaled pre-activations a [2, M, B, H] (HEAD_SCALE applied) -> [gate, cand]."""
    np.exp(a, out=a)
    a += 1.0
    np.divide(_NUM, a, out=a)
    a[1] -= 1.0


def state_update_(h_out, d_out, tmp, h_prev, gate, cand, lam):
    """h_out = lam h_prev + gate (cand - lam h_prev); d_out = cand - lam h_prev (BPTT keeps it).
    h_out may be h_prev (in place)."""
    np.multiply(h_prev, lam, out=h_out)             # lam * h_prev
    np.subtract(cand, h_out, out=d_out)             # cand - lam * h_prev
    np.multiply(gate, d_out, out=tmp)
    h_out += tmp


def run(W, b, lam, x, collector):
    """One model: W [2H, C] (gate rows, then candidate rows), b [2H], lam [H]; windows x [N, T, I]
    from h = 0, each step's state h [N, H] handed to collector.add(t, h) (a cfcbase.heads collector,
    which keeps what its head needs); returns collector.outputs()."""
    x = np.asarray(x, np.float64)
    N, T, I = x.shape
    H = W.shape[0] // 2
    sc = head_scale_rows(H)
    Ws = np.asarray(W, np.float64) * sc[:, None]
    xa = x @ Ws[:, :I].T + np.asarray(b, np.float64) * sc            # [N, T, 2H]
    WhT = np.ascontiguousarray(Ws[:, I:].T)                            # [H, 2H]
    h = np.zeros((N, H))
    d, tmp = np.empty((N, H)), np.empty((N, H))
    with np.errstate(over="ignore"):
        for t in range(T):
            a = np.ascontiguousarray((h @ WhT + xa[:, t]).reshape(1, N, 2, H).transpose(2, 0, 1, 3))
            activations_(a)                                           # [2, 1, N, H]
            state_update_(h, d, tmp, h, a[0, 0], a[1, 0], lam)
            collector.add(t, h)
    return collector.outputs()


def predict(W, b, lam, w_o, b_o, x):
    """A readout model from h = 0: x [N, T, I] -> y [N, T] (float64)."""
    x = np.asarray(x, np.float64)
    return run(W, b, lam, x, Readout(w_o, b_o).collector(x.shape[0], x.shape[1]))


def float_weights(art):
    """W [2H, C] = scale[:, None] * values of an artifact's two matrices (any weight format)."""
    return np.concatenate([s[:, None] * w.astype(np.float64) for _, w, s in art.matrices()])


def float_outputs(art, x, n=None):
    """The float model of an artifact (cfcbase.artifact.Artifact) on windows x [N, T, I] (``n``:
    each window's steps, None: all T): its head's outputs (a readout: y [N, T]; a classifier:
    logits [N, K])."""
    x = np.asarray(x, np.float64)
    return run(float_weights(art), np.concatenate([art.b_f, art.b_g]), decay(art.tau, art.dt), x,
               art.head.collector(x.shape[0], x.shape[1], n))
