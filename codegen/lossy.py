"""How far the integer model is from the float model it came from, on the task's validation data,
and where the fixed-point ranges saturate (docs/fixed_point.md, "Lossy models"). `codegen export`
refuses a model beyond its head's bounds (codegen.heads: a readout's washout MSE and largest
|difference|, a classifier's largest |logit difference|) unless --allow-lossy. A model whose
data file is absent is measured on synthetic inputs in the range its scaling gives the training
windows (synthetic_inputs): the gate is never skipped.

The integer arithmetic clamps in two places that no range check of the artifact catches: the
activation tables cover pre-activations in [-8, 8) (beyond, the table's end value is used, while
the float model's sigmoid/tanh still move by up to 3.4e-4), and the readout saturates y to
int16 Q14, [-2, 2). A few clamps are harmless; a model that lives beyond them is not carried."""
from __future__ import annotations

import numpy as np

from .errors import CodegenError
from .golden import (TABLE_OFFSET, TABLE_SPAN, IntModel, accumulate_q15, cell_step_q14, preactivation_q16,
                     quantize_input, run_golden)

def saturation_counts(m: IntModel, x_q14) -> dict:
    """Run the golden model on x int16 [N, T, I] and count the clamps: pre-activations outside
    the tables' [-8, 8) (per head) and outputs clamped to int16 by the readout."""
    x = np.asarray(x_q14, np.int16)
    N, T, _ = x.shape
    h = np.zeros((N, m.H), np.int16)
    gate = cand = readout = 0
    s = m.readout_shift
    for t in range(T):
        pre = preactivation_q16(m, accumulate_q15(m, x[:, t, :], h))
        u = pre + TABLE_OFFSET
        out = (u < 0) | (u > TABLE_SPAN - 1)
        gate += int(out[:, : m.H].sum())
        cand += int(out[:, m.H:].sum())
        h, _ = cell_step_q14(m, h, x[:, t, :])
        acc_y = h.astype(np.int64) @ m.w_o_q.astype(np.int64) + m.b_o_q
        yr = (acc_y + (1 << s)) >> (s + 1)
        readout += int(((yr < -32768) | (yr > 32767)).sum())
    return {"gate_table": gate, "cand_table": cand, "readout": readout,
            "pre_per_head": N * T * m.H, "outputs": N * T}


def float_model_name(m: IntModel) -> str:
    """What the integer model is measured against: the float model of its weight formats."""
    names = sorted({f.name for f in m.formats}, key=["ternary", "int8"].index)
    return "float " + "/".join(names)


def check_report(art, m: IntModel, x, n=None) -> dict:
    """The head's check (codegen.heads: integer vs float outputs) on float inputs x [N, T, I]
    (``n``: each window's steps, None: all T), with the clamp counts."""
    xq = quantize_input(x)
    ys, hs = run_golden(m, xq, return_states=True)
    return m.head.check_report(art, np.asarray(x, np.float64), ys, hs, saturation_counts(m, xq), n)


def check_text(m: IntModel, r: dict, where: str, note: str = "") -> str:
    """The line export prints; ``where``: what the inputs were ("the validation set", ...), ``note``
    appended in parentheses."""
    return m.head.check_text(r, where, note, float_model_name(m))


def check_lossy(m: IntModel, r: dict, path, where: str, allow: bool) -> None:
    if m.head.exceeded(r) and not allow:
        raise CodegenError(f"{path}: the integer model is far from the {float_model_name(m)} model: "
                           f"{m.head.refusal(r, where)}. Retrain, or pass --allow-lossy to export it anyway")
