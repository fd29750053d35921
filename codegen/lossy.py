"""How far the integer model is from the float ternary model it came from, on the task's
validation data, and where the fixed-point ranges saturate (docs/fixed_point.md, "Lossy
models"). `codegen export` refuses a model above LOSSY_BOUND unless --allow-lossy.

The integer arithmetic clamps in two places that no range check of the artifact catches: the
activation tables cover pre-activations in [-8, 8) (beyond, the table's end value is used, while
the float model's sigmoid/tanh still move by up to 3.4e-4), and the readout saturates y to
int16 Q14, [-2, 2). A few clamps are harmless; a model that lives beyond them is not carried."""
from __future__ import annotations

import numpy as np

from cfcbase.cell import predict_ternary
from cfcbase.tasks import washout_mse

from .errors import CodegenError
from .golden import (TABLE_OFFSET, TABLE_SPAN, IntModel, accumulate_q15, cell_step_q14,
                     dequantize_output, preactivation_q16, quantize_input, run_golden)

# Refusal bound on the washout MSE between the integer and the float ternary model on the
# validation split, in squared output units. Measured (`python -m codegen export`, which prints
# it): the trained models 1.8e-9 and 1.9e-9; artifacts with row scales of 10-100 or biases
# beyond +-8 6.9e-2 .. 1.4 (docs/fixed_point.md, "Lossy models").
LOSSY_BOUND = 1e-5


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


def lossy_report(art, m: IntModel, x) -> dict:
    """Integer vs float ternary washout MSE on float inputs x [N, T, I], plus the clamp counts."""
    xq = quantize_input(x)
    yg = dequantize_output(run_golden(m, xq))
    yf = predict_ternary(art, x)
    r = {"golden_vs_float_mse_washout": washout_mse(yg, yf),
         "max_abs_diff": float(np.max(np.abs(yg - yf))), "sequences": int(x.shape[0]), "steps": int(x.shape[1])}
    r.update(saturation_counts(m, xq))
    return r


def lossy_text(r: dict, split: str) -> str:
    return (f"integer vs float ternary on the {split} set ({r['sequences']} x {r['steps']}): washout MSE "
            f"{r['golden_vs_float_mse_washout']:.3e} (bound {LOSSY_BOUND:.0e}), max |diff| {r['max_abs_diff']:.3e}; "
            f"saturated: gate table {r['gate_table']}, candidate table {r['cand_table']} of {r['pre_per_head']} "
            f"pre-activations each, readout {r['readout']} of {r['outputs']} outputs")


def check_lossy(r: dict, path, split: str, allow: bool) -> None:
    if r["golden_vs_float_mse_washout"] > LOSSY_BOUND and not allow:
        raise CodegenError(
            f"{path}: the integer model is far from the float ternary model: washout MSE "
            f"{r['golden_vs_float_mse_washout']:.3e} > {LOSSY_BOUND:.0e} on the {split} set (saturated: gate table "
            f"{r['gate_table']}, candidate table {r['cand_table']}, readout {r['readout']}); pre-activations "
            f"beyond [-8, 8) or outputs beyond [-2, 2) do not fit the fixed-point ranges. Retrain, or pass "
            f"--allow-lossy to export it anyway")
