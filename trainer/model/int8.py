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

from .quant import INT8_SCHEME, quantize_int8
from .train import frozen, train_students

# QAT runs when post-training quantization loses more than this share of validation washout MSE
PTQ_TOLERANCE = 0.10


def ptq(teachers):
    """The teachers' int8 models (a student Params stack with V = s * q exactly, scheme int8)."""
    p = teachers.like(student=True)
    q, s = quantize_int8(teachers.W)
    p.s[...] = s
    p.V[...] = s[..., None] * q
    for k in ["b", "log_tau"] + [name for name, _ in teachers.head_rows]:
        getattr(p, k)[...] = getattr(teachers, k)
    return p


def train_int8(head, teachers, epochs, lr, batch=32, transient_w=0.0):
    """int8 QAT of a teacher stack, starting from its PTQ (train.train_students, scheme int8, the
    identity STE, no distillation); returns (Params, infos, wall seconds)."""
    M = teachers.M
    return train_students(head, teachers, [False] * M, [None] * M, epochs=epochs, lr=lr, scheme=INT8_SCHEME,
                          transient_w=transient_w, start=ptq(teachers), batch=batch)


def frozen_int8(head, p, m):
    """Model m of an int8 stack as a frozen model dict (levels int8, s, b, tau, the head's)."""
    return frozen(head, p, m, INT8_SCHEME)
