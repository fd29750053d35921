"""M models' parameters as one flat float64 vector each, with named views into it, so that Adam
and the gradient clip are a handful of vector ops (trainer.model.optim).

    teacher   W [2H, C], b [2H], log_tau [H], then the head's rows
    student   V (shadow weights) [2H, C], s (per-row scales) [2H], b, log_tau, the head's rows,
              and with learned thresholds (the sweep's knob thr=learned) d [2H] last

The head's rows (trainer.model.heads): a readout's w_o [H], b_o [1]; a classifier's w_c [K, H],
b_c [K].
"""
from __future__ import annotations

import numpy as np

from cfcbase.cell import decay


def layout(H, I, head_rows, student=False, thr=False):
    """[(name, shape, start, end)] of one model's vector and its length."""
    C = I + H
    spec = ([("V", (2 * H, C)), ("s", (2 * H,))] if student else [("W", (2 * H, C))])
    spec += [("b", (2 * H,)), ("log_tau", (H,))] + list(head_rows)
    if thr:
        spec += [("d", (2 * H,))]
    out, off = [], 0
    for name, shape in spec:
        n = int(np.prod(shape))
        out.append((name, shape, off, off + n))
        off += n
    return out, off


class Params:
    """M models' parameters as one [M, n] array with named views [M, ...] into it."""

    def __init__(self, H, M, I, head_rows, student=False, flat=None, thr=False):
        self.H, self.M, self.I, self.student, self.thr = H, M, I, student, thr
        self.head_rows = list(head_rows)
        self.spec, n = layout(H, I, self.head_rows, student, thr)
        self.flat = np.zeros((M, n)) if flat is None else np.array(flat, dtype=np.float64).reshape(M, n)
        for name, shape, a, b in self.spec:
            setattr(self, name, self.flat[:, a:b].reshape((M,) + shape))

    def like(self, M=None, flat=None, student=None, thr=None):
        """A Params of the same shapes (M models; a student's layout if asked)."""
        return Params(self.H, self.M if M is None else M, self.I, self.head_rows,
                      self.student if student is None else student, flat, self.thr if thr is None else thr)

    def copy(self):
        return self.like(flat=self.flat)

    def zeros_like(self):
        return self.like()

    def take(self, idx):
        """A new Params holding the models idx (a list of indices)."""
        return self.like(len(idx), self.flat[list(idx)])

    @property
    def tau(self):
        return np.exp(self.log_tau)

    @property
    def lam(self):
        return decay(self.tau)
