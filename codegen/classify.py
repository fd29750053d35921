"""The classification head in integers: the executable specification of docs/fixed_point.md,
section 12 (codegen.golden is sections 1-11, the cell step every model shares).

At the end of a window of n steps (from h = 0 at RESET) the device pools the states h_t (Q15):

    last:  v = h_{n-1}                                       (h = 0 when n = 0)
    mean:  S = sum_{t < n} h_t                               int32 per unit (n <= 65535)
           v = floor(S / n) + (2 (S mod n) >= n)             round half up of S / n, Q15 (0 when n = 0)

and computes the K logits and their argmax:

    acc_k   = b_q[k] + sum_i w_q[k][i] * v[i]                int64, Q(15 + s)
    logit_k = sat32((acc_k + 2^(s - 2)) >> (s - 1))          int32, Q16
    class   = the first k with the largest logit_k

with w_q = round(w_c 2^s) (int32), b_q = round(b_c 2^(15 + s)) (int64) and s the largest
shift in [2, 40] that fits both (codegen error if none). A window longer than MAX_WINDOW steps
pools its first MAX_WINDOW steps (the step count and the sums stop there).
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from cfcbase.cell import activations_, decay, head_scale_rows, state_update_

from .errors import CodegenError

LOGIT_FRAC = 16                      # logits: int32 Q16
HEAD_SHIFT_MIN, HEAD_SHIFT_MAX = 2, 40
MAX_WINDOW = 65535                   # steps a window pools (the LOGITS reply's u16 step count)
POOLING_CODES = {"last": 0, "mean": 1}
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def _round_half_up(v: float) -> int:
    return int(math.floor(v + 0.5))


@dataclass
class IntHead:
    """The integer head of a classifier (what codegen writes into the model header)."""
    K: int
    pooling: str                 # "last" | "mean"
    w_q: np.ndarray              # int32 [K, H], Q(shift)
    b_q: np.ndarray              # int64 [K], Q(15 + shift)
    shift: int                   # s in [2, 40]
    classes: list
    source_bytes: bytes = b""    # the float head (hashed too)

    @classmethod
    def from_artifact(cls, art) -> "IntHead":
        h = art.head
        w = np.asarray(h["w_c"], np.float64)
        b = np.asarray(h["b_c"], np.float64)
        wmax = float(np.max(np.abs(w)))
        s = HEAD_SHIFT_MAX
        while s >= HEAD_SHIFT_MIN and (_round_half_up(wmax * 2.0 ** s) > INT32_MAX
                                       or max(abs(_round_half_up(v * 2.0 ** (15 + s))) for v in b) >= 1 << 62):
            s -= 1
        if s < HEAD_SHIFT_MIN:
            raise CodegenError(f"{art.path}: w_c: head weights/biases outside the fixed-point range "
                               f"(max |w_c| {wmax!r}, max |b_c| {float(np.max(np.abs(b)))!r})")
        w_q = np.array([[_round_half_up(v * 2.0 ** s) for v in row] for row in w], np.int64)
        b_q = np.array([_round_half_up(v * 2.0 ** (15 + s)) for v in b], np.int64)
        src = np.ascontiguousarray(w, dtype="<f8").tobytes() + np.ascontiguousarray(b, dtype="<f8").tobytes()
        src += "\0".join(h["classes"]).encode()
        return cls(K=len(h["classes"]), pooling=h["pooling"], w_q=w_q.astype(np.int32), b_q=b_q, shift=s,
                   classes=list(h["classes"]), source_bytes=src)

    def canonical_bytes(self) -> bytes:
        """What the model hash covers of the head (docs/fixed_point.md, section 8)."""
        return (b"trixcfc-head-v1" + struct.pack("<iii", self.K, POOLING_CODES[self.pooling], self.shift)
                + np.ascontiguousarray(self.w_q, dtype="<i4").tobytes()
                + np.ascontiguousarray(self.b_q, dtype="<i8").tobytes() + self.source_bytes)


def pooled_q15(head: IntHead, h_q15) -> np.ndarray:
    """The pooled state of windows: h_q15 int16 [N, T, H] (the states after each step) -> v int64 [N, H]."""
    h = np.asarray(h_q15, np.int64)
    N, T, H = h.shape
    if T == 0:
        return np.zeros((N, H), np.int64)
    if head.pooling == "last":
        return h[:, min(T, MAX_WINDOW) - 1]
    n = min(T, MAX_WINDOW)
    S = h[:, :n].sum(axis=1)                          # |S| <= 65535 * 32768 < 2^31: int32 on the device
    return (2 * S + n) // (2 * n)                      # floor(S / n) + (2 (S mod n) >= n)


def logits_q16(head: IntHead, v) -> np.ndarray:
    """int32 [N, K] logits (Q16) of pooled states v [N, H] (Q15)."""
    v = np.asarray(v, np.int64)
    acc = v @ head.w_q.astype(np.int64).T + head.b_q[None, :]       # Q(15 + s), |acc| < 2^63
    s = head.shift
    return np.clip((acc + (1 << (s - 2))) >> (s - 1), INT32_MIN, INT32_MAX).astype(np.int32)


def run_golden_logits(m, x_q14):
    """Windows x int16 Q14 [N, T, I], each from h = 0 -> (logits int32 [N, K] (Q16), class int64 [N])."""
    from .golden import run_golden
    if m.head is None:
        raise CodegenError("the model has no classification head")
    _, hs = run_golden(m, x_q14, return_states=True)
    lg = logits_q16(m.head, pooled_q15(m.head, hs))
    return lg, np.argmax(lg, axis=1)


def dequantize_logits(lg) -> np.ndarray:
    return np.asarray(lg, np.float64) / (1 << LOGIT_FRAC)


# ---- the float ternary classifier (what the integer model is compared with) ----------------------

def float_ternary_logits(art, x) -> np.ndarray:
    """The float ternary classifier of an artifact: x [N, T, I] -> logits float64 [N, K]
    (cfcbase.cell's nonlinearities and state update, the float model of every stage)."""
    x = np.asarray(x, np.float64)
    N, T, I = x.shape
    H = art.H
    W = np.concatenate([art.scale_f[:, None] * art.trits_f.astype(np.float64),
                        art.scale_g[:, None] * art.trits_g.astype(np.float64)])
    sc = head_scale_rows(H)
    Ws = W * sc[:, None]
    xa = x @ Ws[:, :I].T + np.concatenate([art.b_f, art.b_g]) * sc
    WhT = np.ascontiguousarray(Ws[:, I:].T)
    lam = decay(art.tau, art.dt)
    h = np.zeros((N, H))
    hsum = np.zeros((N, H))
    d, tmp = np.empty((N, H)), np.empty((N, H))
    with np.errstate(over="ignore"):
        for t in range(T):
            a = np.ascontiguousarray((h @ WhT + xa[:, t]).reshape(1, N, 2, H).transpose(2, 0, 1, 3))
            activations_(a)
            state_update_(h, d, tmp, h, a[0, 0], a[1, 0], lam)
            hsum += h
    hp = h if art.head["pooling"] == "last" else hsum / max(T, 1)
    return hp @ np.asarray(art.head["w_c"]).T + np.asarray(art.head["b_c"])


# ---- the export's check: integer vs float ternary logits ----------------------------------------

# Refusal bound on the largest |integer - float ternary| logit (natural units: Q16 / 2^16) on the
# validation windows: beyond it a softmax probability ratio between two classes moves by more
# than 10 % (e^0.1). Measured (`python -m codegen export` prints it; docs/fixed_point.md, section
# 12): the trained BasicMotions classifier 3.7e-2 on its 8 validation windows (logits up to
# +-12, 279 gate pre-activations of 12 800 past the table), random classifiers 1e-4 .. 5e-3.
LOGIT_BOUND = 0.1


def logit_report(art, m, x) -> dict:
    """Golden vs float ternary logits on float windows x [N, T, I], and the table clamps."""
    from .golden import quantize_input
    from .lossy import saturation_counts
    xq = quantize_input(x)
    lg, cls = run_golden_logits(m, xq)
    lf = float_ternary_logits(art, x)
    d = np.abs(dequantize_logits(lg) - lf)
    r = {"max_abs_logit_diff": float(d.max()), "mean_abs_logit_diff": float(d.mean()),
         "argmax_disagree": int(np.count_nonzero(cls != np.argmax(lf, axis=1))),
         "sequences": int(x.shape[0]), "steps": int(x.shape[1])}
    c = saturation_counts(m, xq)
    r.update(gate_table=c["gate_table"], cand_table=c["cand_table"], pre_per_head=c["pre_per_head"])
    return r


def logit_text(r: dict, where: str, note: str = "") -> str:
    return (f"integer vs float ternary logits on {where} ({r['sequences']} windows x {r['steps']} steps): max "
            f"|diff| {r['max_abs_logit_diff']:.3e} (bound {LOGIT_BOUND:g}), mean |diff| "
            f"{r['mean_abs_logit_diff']:.3e}, argmax differs on {r['argmax_disagree']} of {r['sequences']} windows; "
            f"saturated: gate table {r['gate_table']}, candidate table {r['cand_table']} of {r['pre_per_head']} "
            f"pre-activations each" + (f" ({note})" if note else ""))


def check_logits(r: dict, path, where: str, allow: bool) -> None:
    if not r["max_abs_logit_diff"] <= LOGIT_BOUND and not allow:
        raise CodegenError(
            f"{path}: the integer model is far from the float ternary model: max |logit diff| "
            f"{r['max_abs_logit_diff']:.3e} > {LOGIT_BOUND:g} on {where} (argmax differs on {r['argmax_disagree']} "
            f"windows; saturated: gate table {r['gate_table']}, candidate table {r['cand_table']}); pre-activations "
            f"beyond [-8, 8) do not fit the fixed-point ranges. Retrain, or pass --allow-lossy to export it anyway")


# ---- what the headers carry of the head ------------------------------------------------------------

def head_arrays(m, arr) -> list:
    """The head's constant arrays for codegen.export.model_arrays (``arr`` its row maker)."""
    from .cliterals import c_array_body, c_int
    h = m.head
    return [
        arr("int32_t", "w_c", ("CLASSES", "HIDDEN"), h.K * m.H,
            c_array_body(h.w_q.astype(np.int64).ravel(), 8, fmt=lambda v: c_int(v, 32)),
            "Classification head weights, [class][unit], Q(HEAD_SHIFT) (docs/fixed_point.md, 12)."),
        arr("int64_t", "b_c", ("CLASSES",), h.K, c_array_body(h.b_q.ravel(), 4, fmt=lambda v: c_int(v, 64)),
            "Classification head biases, Q(15 + HEAD_SHIFT)."),
    ]


def head_constants(art, m) -> dict | None:
    """The classifier block of the model header as C text, or None for a regression model."""
    from .cliterals import CText, c_comment_text, c_double, c_join, c_string
    from cfcbase.text import PATH_MAX
    if m.head is None:
        return None
    h = m.head
    where = f"{art.path}: class_names"
    out = {"K": h.K, "shift": h.shift, "pooling": POOLING_CODES[h.pooling],
           "pooling_text": CText("state after the window's last step" if h.pooling == "last"
                                 else "mean state over the window's steps"),
           "names": c_join(c_comment_text(c, f"{where}[{i}]") for i, c in enumerate(h.classes)),
           "names_c": c_join(c_string(c, f"{where}[{i}]") for i, c in enumerate(h.classes)),
           "scaling": None}
    if art.labelled is not None:
        lw = f"{art.path}: labelled_json"
        out["scaling"] = {
            "source": c_comment_text(art.labelled["train"], f"{lw}: train", PATH_MAX),
            "channels": c_join(c_comment_text(c, f"{lw}: channels[{i}]") for i, c in enumerate(art.labelled["channels"])),
            "input_offset": c_join(c_double(v) for v in art.scaling["input_offset"]),
            "input_scale": c_join(c_double(v) for v in art.scaling["input_scale"])}
    return out


def golden_head_vectors(m, x_q14) -> dict:
    """The golden header's expected logits and classes of the golden windows."""
    from .cliterals import c_array_body, c_int
    lg, cls = run_golden_logits(m, x_q14)
    return {"K": m.head.K, "logits": c_array_body(lg.astype(np.int64).ravel(), 8, fmt=lambda v: c_int(v, 32)),
            "classes": c_array_body(cls.astype(np.int64).ravel(), 16), "n_logits": int(lg.size)}
