"""What a model computes from its hidden state: its head (docs/model.md, "Heads").

    Readout      a forecast per step:  y_t = w_o . h_t + b_o
    Classifier   K logits per window:  logits = w_c v + b_c, v the state pooled over the window
                 (a Pooling: "last", the state after its last step, or "mean", its mean over the
                 window's steps); the class is the first largest logit

A head holds its float parameters and answers, for every stage, what depends on its kind: its
float outputs from the cell's states (the float reference every stage compares with), the
readout the device runs per step, and its entries in best.npz. The trainer, codegen and the host
keep their own side of each kind in a table keyed by `kind` (docs/architecture.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rules import PARAM_MAX, fail
from .text import NAME_MAX, text_problem

K_RANGE = (2, 32)                        # classes (the LOGITS reply: docs/protocol.md)
# The longest window a classifier pools: the LOGITS reply counts its steps in a u16, and a mean's
# sum of 65,535 Q15 states fits the device's int32 (docs/fixed_point.md, section 12). Training
# refuses longer windows; past it the golden model and the device both keep the window as it was
# after its 65,535th step (the device leaves its state alone).
MAX_WINDOW = 65535


class Pooling:
    """How a classifier pools a window's states into one vector v. Each stage uses its side:
    the float model (pool, or add/result step by step), the trainer's backward (pool_backward)
    and the golden model's integers (int_pool). ``n``: each window's steps, int [B] (None: every
    window has all T; a window's states past its length are not pooled)."""
    name: str = ""
    code: int = -1                       # TRIX_POOL_* of firmware/core/trix_cell.h
    text: str = ""                       # what v is, in words (the model header's comment)

    def __str__(self):
        return self.name

    __repr__ = __str__


def _mask(T, n):
    """[T, 1, B, 1]: step t of window b is one of its steps."""
    return (np.arange(T)[:, None] < np.asarray(n)[None, :])[:, None, :, None]


class LastPooling(Pooling):
    """v = h_{n-1}, the state after the window's last step."""
    name, code, text = "last", 0, "state after the window's last step"

    @staticmethod
    def pool(hs, n=None):
        """hs [T, M, B, H] (the states after each step) -> v [M, B, H]."""
        if n is None:
            return hs[-1]
        return hs[np.asarray(n) - 1, :, np.arange(hs.shape[2])].transpose(1, 0, 2)

    @staticmethod
    def pool_backward(dhs, dv, T, n=None):
        """dL/dh_t += dL/dv dv/dh_t, into dhs [T, M, B, H]."""
        if n is None:
            dhs[-1] += dv
        else:
            dhs[np.asarray(n) - 1, :, np.arange(dhs.shape[2])] += dv.transpose(1, 0, 2)

    @staticmethod
    def add(acc, h, t=None, n=None):
        """The running pool after the states h [..., B, H] of step t (acc None before the first)."""
        if n is None:
            return h
        last = (np.asarray(n) == t + 1)[:, None]
        return np.where(last, h, 0.0 if acc is None else acc)

    @staticmethod
    def result(acc, T, n=None):
        return acc

    @staticmethod
    def int_pool(h, n):
        """Q15 states int64 [N, T, H], n int [N] (each window's steps, at most MAX_WINDOW) -> v int64 [N, H]."""
        return h[np.arange(h.shape[0]), np.asarray(n) - 1]


class MeanPooling(Pooling):
    """v = (1/n) sum_{t < n} h_t, the mean state over the window's steps."""
    name, code, text = "mean", 1, "mean state over the window's steps"

    @staticmethod
    def pool(hs, n=None):
        if n is None:
            return hs.mean(axis=0)
        return (hs * _mask(hs.shape[0], n)).sum(axis=0) / np.asarray(n)[None, :, None]

    @staticmethod
    def pool_backward(dhs, dv, T, n=None):
        if n is None:
            dhs += dv / T
        else:
            dhs += _mask(T, n) * (dv / np.asarray(n)[None, :, None])[None]

    @staticmethod
    def add(acc, h, t=None, n=None):
        if n is not None:
            h = h * (t < np.asarray(n))[:, None]
        return np.array(h, np.float64) if acc is None else acc + h      # a copy: callers step h in place

    @staticmethod
    def result(acc, T, n=None):
        return acc / T if n is None else acc / np.asarray(n)[:, None]

    @staticmethod
    def int_pool(h, n):
        n = np.asarray(n, np.int64)
        S = (h * (np.arange(h.shape[1])[None, :] < n[:, None])[:, :, None]).sum(axis=1)  # |S| < 2^31: int32 on the device
        return (2 * S + n[:, None]) // (2 * n[:, None])                    # floor(S / n) + (2 (S mod n) >= n)


POOLINGS = {p.name: p for p in (LastPooling(), MeanPooling())}


def pooling_of(p) -> Pooling:
    """A Pooling from itself or its name (KeyError for an unknown name: callers name it)."""
    return p if isinstance(p, Pooling) else POOLINGS[p]


class Head:
    """The common face of the heads (see the module docstring)."""
    kind: str = ""

    def collector(self, N: int, T: int, n=None):
        """A float collector of the states of N windows of T steps (``n``: each window's own steps,
        None: all T): .add(t, h [N, H]) per step, then .outputs()."""
        raise NotImplementedError

    def device_readout(self) -> tuple:
        """(w_o [H], b_o): the per-step readout the device runs for this head."""
        raise NotImplementedError


# ---- the readout: a forecast per step ------------------------------------------------------

class _ReadoutCollector:
    def __init__(self, head, N, T):
        self.w_o, self.b_o = head.w_o, head.b_o
        self.y = np.empty((N, T))

    def add(self, t, h):
        self.y[:, t] = h @ self.w_o + self.b_o

    def outputs(self):
        return self.y


@dataclass
class Readout(Head):
    """y_t = w_o . h_t + b_o: one output per step (a forecast)."""
    w_o: np.ndarray                     # float64 [H]
    b_o: float
    kind = "readout"

    def collector(self, N, T, n=None):
        return _ReadoutCollector(self, N, T)

    def device_readout(self):
        return self.w_o, self.b_o

    # best.npz (format version 1 on): w_o, b_o after tau; the teacher's teacher_w_o, teacher_b_o
    # after teacher_tau, checked among the cell's floats (FLOATS)
    version = 1
    FILE_KEYS = ("w_o", "b_o", "teacher_w_o", "teacher_b_o")
    FLOATS = {"w_o": ("H",), "b_o": (), "teacher_w_o": ("H",), "teacher_b_o": ()}
    MARK = "keys w_o, b_o"
    INLINE_KEYS = ("w_o", "b_o")

    @staticmethod
    def in_file(names) -> bool:
        """Every model file that is not another head's carries a readout."""
        return True

    @classmethod
    def read(cls, path, raw, floats, H) -> tuple:
        """(the head, the teacher's head) from the checked float entries."""
        return (cls(floats["w_o"], float(floats["b_o"])), cls(floats["teacher_w_o"], float(floats["teacher_b_o"])))

    def inline_entries(self, prefix=""):
        return {prefix + "w_o": np.asarray(self.w_o, np.float64), prefix + "b_o": np.float64(self.b_o)}

    def trailing_entries(self, teacher):
        return {}

    @classmethod
    def zeros(cls, H):
        return cls(np.zeros(H), 0.0)


# ---- the classifier: K logits per window --------------------------------------------------------

class _ClassifierCollector:
    def __init__(self, head, N, T, n=None):
        self.head, self.T, self.n = head, T, n
        self.acc = None

    def add(self, t, h):
        self.acc = self.head.pooling.add(self.acc, h, t, self.n)

    def outputs(self):
        v = self.head.pooling.result(self.acc, self.T, self.n)
        return v @ np.asarray(self.head.w_c).T + np.asarray(self.head.b_c)


@dataclass
class Classifier(Head):
    """K logits of the state pooled over a window; the class is the first largest."""
    classes: list                       # K names
    pooling: Pooling                    # one of POOLINGS (or its name, turned into it)
    w_c: np.ndarray                     # float64 [K, H]
    b_c: np.ndarray                     # float64 [K]
    kind = "classifier"

    def __post_init__(self):
        self.pooling = pooling_of(self.pooling)

    @property
    def K(self) -> int:
        return len(self.classes)

    def collector(self, N, T, n=None):
        return _ClassifierCollector(self, N, T, n)

    def device_readout(self):
        """A classifier has no per-step forecast: the device's readout is zero."""
        H = np.shape(self.w_c)[1]
        return np.zeros(H), 0.0

    # best.npz (format version 3 on): K, class_names, pooling, w_c, b_c and the teacher's, after
    # every other entry
    version = 3
    FILE_KEYS = ("K", "class_names", "pooling", "w_c", "b_c", "teacher_w_c", "teacher_b_c")
    FLOATS = {}
    MARK = "key K"
    INLINE_KEYS = ()

    @staticmethod
    def in_file(names) -> bool:
        """A classifier's file carries K."""
        return "K" in names

    @classmethod
    def read(cls, path, raw, floats, H) -> tuple:
        return read_classifier(path, raw, H)

    def inline_entries(self, prefix=""):
        return {}

    def trailing_entries(self, teacher):
        K, H = np.shape(self.w_c)
        return {"K": np.int32(self.K), "class_names": np.array(self.classes, dtype=np.str_),
                "pooling": np.str_(self.pooling.name), "w_c": np.asarray(self.w_c, np.float64).reshape(K, H),
                "b_c": np.asarray(self.b_c, np.float64).reshape(K),
                "teacher_w_c": np.asarray(teacher.w_c, np.float64).reshape(K, H),
                "teacher_b_c": np.asarray(teacher.b_c, np.float64).reshape(K)}

    def zeros_like(self):
        return Classifier(list(self.classes), self.pooling, np.zeros(np.shape(self.w_c)),
                          np.zeros(len(self.classes)))


HEAD_KINDS = {"readout": Readout, "classifier": Classifier}
HEAD_TYPES = (Classifier, Readout)       # a file's head: the first whose in_file() holds


def head_type_of(names) -> type:
    """The head class of a best.npz with the keys ``names``."""
    return next(h for h in HEAD_TYPES if h.in_file(names))


# ---- reading a classifier from best.npz (cfcbase.artifact) ------------------------------------------


def _float_array(path, raw, k, shape):
    v = raw[k]
    if v.dtype.kind != "f" or v.shape != shape:
        fail(path, k, f"expected float64 of shape {shape}, got {v.dtype} of shape {v.shape}")
    v = v.astype(np.float64)
    bad = ~(np.abs(v) <= PARAM_MAX)
    if bad.any():
        i = int(np.argmax(bad.ravel()))
        where = f" (element {i})" if v.ndim else ""
        fail(path, k, f"{float(v.ravel()[i])!r}{where} is outside [{-PARAM_MAX:g}, {PARAM_MAX:g}]")
    return v


def read_classifier(path, raw, H) -> tuple:
    """(the head, the teacher's head) of a classifier's entries (docs/artifact.md, "Version 3"):
    K, class_names, pooling, w_c, b_c and the teacher's; one ArtifactError line naming the key."""
    for k in Readout.FILE_KEYS:
        if k in raw:
            fail(path, k, "a classifier (key K) carries no regression readout")
    a = raw["K"]
    if a.shape != () or not np.issubdtype(a.dtype, np.integer):
        fail(path, "K", f"expected an integer scalar, got {a.dtype} of shape {a.shape}")
    K = int(a)
    if not K_RANGE[0] <= K <= K_RANGE[1]:
        fail(path, "K", f"classes must be in {K_RANGE[0]}..{K_RANGE[1]}, got {K}")
    for k in Classifier.FILE_KEYS:
        if k not in raw:
            fail(path, k, "missing key (a classifier, format version 3)")
    names = raw["class_names"]
    if names.dtype.kind != "U" or names.shape != (K,):
        fail(path, "class_names", f"expected {K} names as unicode, got {names.dtype} of shape {names.shape}")
    classes = [str(c) for c in names]
    for i, c in enumerate(classes):
        problem = text_problem(c, NAME_MAX) or ("an empty name" if not c.strip() else None)
        if problem:
            fail(path, "class_names", f"class {i}: {problem}")
    if len(set(classes)) != K:
        dup = next(c for c in classes if classes.count(c) > 1)
        fail(path, "class_names", f"class {dup!r} named twice")
    pooling = raw["pooling"]
    if pooling.shape != () or pooling.dtype.kind != "U" or str(pooling) not in POOLINGS:
        fail(path, "pooling", f"expected one of {', '.join(POOLINGS)}, got {str(pooling)[:40]!r}")
    p = {k: _float_array(path, raw, k, (K, H) if k.endswith("w_c") else (K,))
         for k in ("w_c", "b_c", "teacher_w_c", "teacher_b_c")}
    return (Classifier(classes, str(pooling), p["w_c"], p["b_c"]),
            Classifier(list(classes), str(pooling), p["teacher_w_c"], p["teacher_b_c"]))
