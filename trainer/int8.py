"""int8 heads: per-row symmetric post-training quantization of a float model, and int8
quantization-aware training (docs/training.md, "int8 models"; the artifact's version 4).

A head matrix W [R, C] becomes q = clip(round(W / s), -127, 127), s = max_c |W[r, c]| / 127 per row
(symmetric, no zero point: -128 is never used), and the model computes with s[:, None] * q.

QAT (the student machinery of train.py with the scheme quant.INT8_SCHEME): shadow weights V and
scales s learn, the forward always uses s * q(V / s); the gradient of V is the straight-through
estimator inside the quantizer's range (|V / s| <= 127.5, zero outside), the scale's the LSQ one,
sum_c dL/dW (q - u) inside the range and q outside (int8_grads; gradcheck group int8-ste / int8-lsq).
"""
from __future__ import annotations

import numpy as np

from .quant import INT8_MAX, INT8_SCHEME, S_MIN

# QAT runs when post-training quantization loses more than this share of validation washout MSE
PTQ_TOLERANCE = 0.10


def int8_row_scales(W):
    """Per-row symmetric scales: max |W_r| / 127 (at least quant.S_MIN)."""
    return np.maximum(np.abs(W).max(axis=-1) / INT8_MAX, S_MIN)


def quantize_int8(W, s=None):
    """(q as float64 in [-127, 127], s) of W [..., R, C]: per-row symmetric rounding."""
    s = int8_row_scales(W) if s is None else s
    return np.clip(np.round(W / s[..., None]), -INT8_MAX, INT8_MAX), s


def int8_grads(dW, u, q):
    """dL/dW_eff [M, R, C] -> (dL/dV, dL/ds) for W_eff = s * clip(round(V / s)), u = V / s:
    straight-through inside the range, LSQ's scale gradient."""
    inside = np.abs(u) <= INT8_MAX + 0.5
    dV = np.where(inside, dW, 0.0)
    ds = (dW * np.where(inside, q - u, q)).sum(axis=-1)
    return dV, ds


def ptq(teachers):
    """The teachers' int8 models (a student Params stack with V = s * q exactly, scheme int8)."""
    from .optim import Params  # noqa: PLC0415
    p = Params(teachers.H, teachers.M, teachers.I, student=True)
    q, s = quantize_int8(teachers.W)
    p.s[...] = s
    p.V[...] = s[..., None] * q
    for k in ("b", "log_tau", "w_o", "b_o"):
        getattr(p, k)[...] = getattr(teachers, k)
    return p


def train_int8(task, teachers, epochs, lr, batch=32, transient_w=0.0):
    """int8 QAT of a teacher stack, starting from its PTQ (train.train_students, scheme int8, the
    identity STE, no distillation); returns (Params, infos, wall seconds)."""
    from . import train  # noqa: PLC0415
    M = teachers.M
    return train.train_students(task, teachers, [False] * M, [None] * M, epochs=epochs, lr=lr,
                                scheme=INT8_SCHEME, transient_w=transient_w, start=ptq(teachers), batch=batch)


def frozen_int8(p, m):
    """Model m of an int8 stack as a frozen model dict (levels int8, s, b, tau, w_o, b_o)."""
    from .train import frozen  # noqa: PLC0415
    return frozen(p, m, INT8_SCHEME)
