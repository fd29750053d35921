"""The heads in integers (docs/fixed_point.md): what codegen asks a model's head for, one class
per kind of cfcbase.heads head, chosen in INT_HEADS by the head's `kind`.

    IntReadout     the per-step readout (sections 6-7): part of the cell step every model runs;
                   checked against the float model by the washout MSE and the largest |difference|
    IntClassifier  the head of section 12 at the end of a window: the pooled state, K logits and
                   their argmax; checked by the largest |logit difference|

Each answers the same questions: its share of the model hash, its constant arrays and C block,
its golden outputs from the golden states, its golden vectors, the check of the integer model
against the float one (the export's lossy gate) and its lines of the footprint.

The classifier at the end of a window of n steps (from h = 0 at RESET) pools the states h_t (Q15):

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

from cfcbase.cell import float_outputs
from cfcbase.heads import MAX_WINDOW, Pooling
from cfcbase.metrics import WASHOUT, washout_mse
from cfcbase.text import PATH_MAX

from .cliterals import CText, c_array_body, c_comment_text, c_int, c_join, c_string
from .errors import CodegenError
from .synthetic import synthetic_inputs, synthetic_steps

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
Q14_ONE = 1 << 14


def _round_half_up(v: float) -> int:
    return int(math.floor(v + 0.5))


# ---- the readout ----------------------------------------------------------------------------------

# Refusal bound on the washout MSE between the integer and the float model on the validation
# split, in squared output units. Measured (`python -m codegen export`, which prints it): the
# trained models 1.8e-9 and 1.9e-9; artifacts with row scales of 10-100 or biases beyond +-8
# 6.9e-2 .. 1.4 (docs/fixed_point.md, "Lossy models").
LOSSY_BOUND = 1e-5
# Refusal bound on the largest single |integer - float| output (all steps), in output units: the
# MSE alone let through a model at MSE 1e-6 with one output off by 0.31 (a few readout clamps among
# thousands of exact outputs). Measured (`python -m codegen export` prints it): the trained models
# 1.7e-4 (sine), 1.7e-4 (sine-mix), 2.2e-4 (daphnet) on their validation sets, 1.7e-4 / 2.4e-4 /
# 1.1e-3 on synthetic inputs; codegen.testing.random_artifact models (the 28 shapes of `codegen
# vectors` x 3 seeds, on the sine validation set and synthetic inputs) without a clamp at most
# 5.5e-4, those with 1-17 readout clamps yet under LOSSY_BOUND (MSE 2e-9 .. 3e-6) 4.6e-3 .. 1.2e-1.
# 1e-2 is nine times the largest figure of a model without readout clamps and thirty times below 0.31.
MAX_ABS_BOUND = 1e-2


class IntReadout:
    """The readout: the cell step computes it (codegen.golden); nothing more on the device."""
    kind = "readout"
    K = 0
    VAL_WORDS = "the validation set"          # what the export's check runs on
    TRAIN_WORDS = "training block"            # what the scaling was fitted on

    @staticmethod
    def golden_source(art, k) -> str:
        """What the golden vectors' inputs are: the first k test sequences of the task."""
        return f"the first {k} {c_comment_text(art.task.label(), f'{art.path}: data_json: path', PATH_MAX)} test sequences"

    @staticmethod
    def stand_in(art, n) -> tuple:
        """(x float64 [n, 50, I], what they are) when the task's test set cannot be had: sines."""
        t = np.arange(50)[None, :, None]
        phi = np.linspace(0, 2 * np.pi, n, endpoint=False)[:, None, None]
        task = c_comment_text(art.task.name, f"{art.path}: task")
        return (np.sin(2 * np.pi / 25 * t + phi) * np.ones((1, 1, art.I)),
                f"synthetic sines (no '{task}' test set with I = {int(art.I)})")

    @classmethod
    def from_head(cls, art):
        return cls()

    def canonical_bytes(self) -> bytes:
        return b""                       # the readout is hashed with the cell (IntModel)

    def arrays(self, m, arr) -> list:
        return []

    def blocks(self, art, m) -> list:
        return []

    def golden_vectors(self, m, hs) -> dict | None:
        return None

    def outputs(self, ys, hs, n=None):
        """The golden outputs: the per-step y (Q14 int16 [N, T])."""
        return ys

    def footprint(self, m) -> dict:
        return {}

    def footprint_lines(self, m) -> list:
        return []

    readout_note = ""

    @staticmethod
    def accuracy_report(art, x, y, ys) -> dict:
        """Washout MSE (t >= WASHOUT) of the float and the golden integer model (outputs ys) against
        the truth y [N, T(, 1)], and between them."""
        y = np.asarray(y, np.float64).reshape(x.shape[0], x.shape[1])
        yf = float_outputs(art, x)
        yg = np.asarray(ys, np.float64) / Q14_ONE
        mse_f, mse_g = washout_mse(yf, y), washout_mse(yg, y)
        return {"float_mse_washout": mse_f, "golden_mse_washout": mse_g,
                "relative": (mse_g - mse_f) / mse_f if mse_f > 0 else float("inf"),
                "golden_vs_float_mse": washout_mse(yg, yf), "max_abs_diff": float(np.max(np.abs(yg - yf)))}

    @classmethod
    def accuracy(cls, art, x, y, ys, hs, n=None) -> tuple:
        """(the line `codegen accuracy` prints, the relative difference it is judged by)."""
        r = cls.accuracy_report(art, x, y, ys)
        return (f"test set {x.shape[0]}x{x.shape[1]}, washout (t >= {WASHOUT}) MSE: float ternary "
                f"{r['float_mse_washout']:.4e}, golden integer {r['golden_mse_washout']:.4e}, relative "
                f"{100 * r['relative']:+.3f}%  (golden vs float MSE {r['golden_vs_float_mse']:.2e}, max |diff| "
                f"{r['max_abs_diff']:.2e})"), r["relative"]

    # ---- the export's check (docs/fixed_point.md, "Lossy models") ----
    def check_report(self, art, x, ys, hs, sat, n=None) -> dict:
        """Integer vs float washout MSE and largest |difference| on float inputs x [N, T, I] whose
        golden outputs are ys (sat: codegen.lossy.saturation_counts)."""
        yg = np.asarray(ys, np.float64) / Q14_ONE
        yf = float_outputs(art, x)
        r = {"golden_vs_float_mse_washout": washout_mse(yg, yf), "max_abs_diff": float(np.max(np.abs(yg - yf))),
             "sequences": int(x.shape[0]), "steps": int(x.shape[1])}
        r.update(sat)
        return r

    @staticmethod
    def exceeded(r) -> list:
        """The bounds r exceeds, as phrases (empty: the model is carried)."""
        out = []
        if not r["golden_vs_float_mse_washout"] <= LOSSY_BOUND:
            out.append(f"washout MSE {r['golden_vs_float_mse_washout']:.3e} > {LOSSY_BOUND:.0e}")
        if not r["max_abs_diff"] <= MAX_ABS_BOUND:
            out.append(f"max |diff| {r['max_abs_diff']:.3e} > {MAX_ABS_BOUND:.0e}")
        return out

    @staticmethod
    def check_text(r, where, note, float_model) -> str:
        return (f"integer vs {float_model} on {where} ({r['sequences']} x {r['steps']}): washout MSE "
                f"{r['golden_vs_float_mse_washout']:.3e} (bound {LOSSY_BOUND:.0e}), max |diff| {r['max_abs_diff']:.3e} "
                f"(bound {MAX_ABS_BOUND:.0e}); saturated: gate table {r['gate_table']}, candidate table "
                f"{r['cand_table']} of {r['pre_per_head']} pre-activations each, readout {r['readout']} of "
                f"{r['outputs']} outputs" + (f" ({note})" if note else ""))

    @staticmethod
    def refusal(r, where) -> str:
        return (f"{' and '.join(IntReadout.exceeded(r))} on {where} (saturated: gate table {r['gate_table']}, candidate table "
                f"{r['cand_table']}, readout {r['readout']}); pre-activations beyond [-8, 8) or outputs beyond "
                f"[-2, 2) do not fit the fixed-point ranges")


# ---- the classifier ------------------------------------------------------------------------------

LOGIT_FRAC = 16                      # logits: int32 Q16
HEAD_SHIFT_MIN, HEAD_SHIFT_MAX = 2, 40
# Refusal bound on the largest |integer - float| logit (natural units: Q16 / 2^16) on the
# validation windows: beyond it a softmax probability ratio between two classes moves by more than
# 10 % (e^0.1). Measured (`python -m codegen export` prints it; docs/fixed_point.md, section 12):
# the trained BasicMotions classifier 3.7e-2 on its 8 validation windows (logits up to +-12, 279
# gate pre-activations of 12 800 past the table), random classifiers 1e-4 .. 5e-3.
LOGIT_BOUND = 0.1


def dequantize_logits(lg) -> np.ndarray:
    return np.asarray(lg, np.float64) / (1 << LOGIT_FRAC)


@dataclass
class IntClassifier:
    """The integer head of a classifier (what codegen writes into the model header)."""
    K: int
    pooling: Pooling             # cfcbase.heads: LastPooling or MeanPooling
    w_q: np.ndarray              # int32 [K, H], Q(shift)
    b_q: np.ndarray              # int64 [K], Q(15 + shift)
    shift: int                   # s in [2, 40]
    classes: list
    source_bytes: bytes = b""    # the float head (hashed too)
    kind = "classifier"
    readout_note = "  (zeros: a classifier has no regression readout)"
    VAL_WORDS = "the validation windows"
    TRAIN_WORDS = "training cases"

    @staticmethod
    def golden_source(art, k) -> str:
        """What the golden vectors' inputs are: the first k test windows of the task's test file."""
        return f"the first {k} test windows of {c_comment_text(art.task.test_name(), f'{art.path}: test', PATH_MAX)}"

    @staticmethod
    def stand_in(art, n) -> tuple:
        """(x float64, what they are) when the task's test file cannot be read: synthetic inputs."""
        return synthetic_inputs(art.I, synthetic_steps(art), n=n), "synthetic inputs (the model's test file cannot be read)"

    @classmethod
    def from_head(cls, art) -> "IntClassifier":
        h = art.head
        w = np.asarray(h.w_c, np.float64)
        b = np.asarray(h.b_c, np.float64)
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
        src += "\0".join(h.classes).encode()
        return cls(K=h.K, pooling=h.pooling, w_q=w_q.astype(np.int32), b_q=b_q, shift=s, classes=list(h.classes),
                   source_bytes=src)

    def canonical_bytes(self) -> bytes:
        """What the model hash covers of the head (docs/fixed_point.md, section 8)."""
        return (b"trixcfc-head-v1" + struct.pack("<iii", self.K, self.pooling.code, self.shift)
                + np.ascontiguousarray(self.w_q, dtype="<i4").tobytes()
                + np.ascontiguousarray(self.b_q, dtype="<i8").tobytes() + self.source_bytes)

    # ---- the golden model (section 12) ----
    def pooled(self, h_q15, lengths=None) -> np.ndarray:
        """The pooled state of windows: h_q15 int16 [N, T, H] (the states after each step), each
        window's steps ``lengths`` int [N] (None: all T) -> v int64 [N, H]; a window pools at most
        its first MAX_WINDOW steps."""
        h = np.asarray(h_q15, np.int64)
        N, T, H = h.shape
        if T == 0:
            return np.zeros((N, H), np.int64)
        n = np.full(N, T, np.int64) if lengths is None else np.asarray(lengths, np.int64)
        return self.pooling.int_pool(h, np.minimum(n, MAX_WINDOW))

    def logits(self, v) -> np.ndarray:
        """int32 [N, K] logits (Q16) of pooled states v [N, H] (Q15)."""
        acc = np.asarray(v, np.int64) @ self.w_q.astype(np.int64).T + self.b_q[None, :]    # Q(15 + s), < 2^63
        s = self.shift
        return np.clip((acc + (1 << (s - 2))) >> (s - 1), INT32_MIN, INT32_MAX).astype(np.int32)

    def outputs(self, ys, hs, n=None):
        """(logits int32 [N, K] Q16, class int64 [N]) of windows from their golden states hs [N, T, H]
        (``n``: each window's steps, None: all T)."""
        lg = self.logits(self.pooled(hs, n))
        return lg, np.argmax(lg, axis=1)

    # ---- what the headers carry ----
    def arrays(self, m, arr) -> list:
        return [
            arr("int32_t", "w_c", ("CLASSES", "HIDDEN"), self.K * m.H,
                c_array_body(self.w_q.astype(np.int64).ravel(), 8, fmt=lambda v: c_int(v, 32)),
                "Classification head weights, [class][unit], Q(HEAD_SHIFT) (docs/fixed_point.md, 12)."),
            arr("int64_t", "b_c", ("CLASSES",), self.K, c_array_body(self.b_q.ravel(), 4, fmt=lambda v: c_int(v, 64)),
                "Classification head biases, Q(15 + HEAD_SHIFT)."),
        ]

    def blocks(self, art, m) -> list:
        """The model header's classifier block (templates/classifier.j2)."""
        where = f"{art.path}: class_names"
        return [("classifier.j2", {
            "K": self.K, "shift": self.shift, "pooling": self.pooling.code,
            "pooling_text": CText(self.pooling.text),
            "names": c_join(c_comment_text(c, f"{where}[{i}]") for i, c in enumerate(self.classes)),
            "names_c": c_join(c_string(c, f"{where}[{i}]") for i, c in enumerate(self.classes))})]

    def golden_vectors(self, m, hs) -> dict:
        """The golden header's expected logits and classes of the golden windows."""
        lg, cls = self.outputs(None, hs)
        return {"K": self.K, "logits": c_array_body(lg.astype(np.int64).ravel(), 8, fmt=lambda v: c_int(v, 32)),
                "classes": c_array_body(cls.astype(np.int64).ravel(), 16), "n_logits": int(lg.size),
                "pooling": self.pooling.code, "shift": self.shift, "lg": lg, "cls": cls}

    def footprint(self, m) -> dict:
        return {"head_bytes": self.K * (m.H * 4 + 8)}                   # int32 w, int64 b

    def footprint_lines(self, m) -> list:
        return [f"  head     {self.footprint(m)['head_bytes']:6d} bytes  ({self.K} classes x {m.H} int32 weights + "
                f"{self.K} int64 biases)"]

    def accuracy(self, art, x, y, ys, hs, n=None) -> tuple:
        """(the line `codegen accuracy` prints, the relative difference it is judged by): test accuracy
        of the float and of the golden integer classifier, and their relative difference in error rate."""
        _, cls = self.outputs(ys, hs, n)
        af = float(np.mean(np.argmax(float_outputs(art, x, n), 1) == y))
        ag = float(np.mean(cls == y))
        rel = abs(ag - af) / max(1.0 - af, 1.0 / len(y))
        return (f"classifier, test windows {x.shape[0]}x{x.shape[1]}: accuracy float ternary {100 * af:.2f}%, golden "
                f"integer {100 * ag:.2f}% (error rate relative difference {100 * rel:+.1f}%)"), rel

    # ---- the export's check: integer vs float logits ----
    def check_report(self, art, x, ys, hs, sat, n=None) -> dict:
        lg, cls = self.outputs(ys, hs, n)
        lf = float_outputs(art, x, n)
        d = np.abs(dequantize_logits(lg) - lf)
        r = {"max_abs_logit_diff": float(d.max()), "mean_abs_logit_diff": float(d.mean()),
             "argmax_disagree": int(np.count_nonzero(cls != np.argmax(lf, axis=1))),
             "sequences": int(x.shape[0]), "steps": int(x.shape[1])}
        r.update(gate_table=sat["gate_table"], cand_table=sat["cand_table"], pre_per_head=sat["pre_per_head"])
        return r

    @staticmethod
    def exceeded(r) -> list:
        if not r["max_abs_logit_diff"] <= LOGIT_BOUND:
            return [f"max |logit diff| {r['max_abs_logit_diff']:.3e} > {LOGIT_BOUND:g}"]
        return []

    @staticmethod
    def check_text(r, where, note, float_model) -> str:
        return (f"integer vs {float_model} logits on {where} ({r['sequences']} windows x {r['steps']} steps): max "
                f"|diff| {r['max_abs_logit_diff']:.3e} (bound {LOGIT_BOUND:g}), mean |diff| "
                f"{r['mean_abs_logit_diff']:.3e}, argmax differs on {r['argmax_disagree']} of {r['sequences']} windows; "
                f"saturated: gate table {r['gate_table']}, candidate table {r['cand_table']} of {r['pre_per_head']} "
                f"pre-activations each" + (f" ({note})" if note else ""))

    @staticmethod
    def refusal(r, where) -> str:
        return (f"{IntClassifier.exceeded(r)[0]} on {where} (argmax differs on {r['argmax_disagree']} windows; saturated: gate "
                f"table {r['gate_table']}, candidate table {r['cand_table']}); pre-activations beyond [-8, 8) do not "
                f"fit the fixed-point ranges")


INT_HEADS = {"readout": IntReadout, "classifier": IntClassifier}


def int_head(art):
    """The integer head of an artifact's head (INT_HEADS by its kind)."""
    return INT_HEADS[art.head.kind].from_head(art)
