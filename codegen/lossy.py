"""How far the integer model is from the float ternary model it came from, on the task's
validation data, and where the fixed-point ranges saturate (docs/fixed_point.md, "Lossy
models"). `codegen export` refuses a model above LOSSY_BOUND or MAX_ABS_BOUND unless
--allow-lossy. A data model whose file is absent is measured on synthetic inputs in the range
its scaling gives the training block (synthetic_inputs): the gate is never skipped.

The integer arithmetic clamps in two places that no range check of the artifact catches: the
activation tables cover pre-activations in [-8, 8) (beyond, the table's end value is used, while
the float model's sigmoid/tanh still move by up to 3.4e-4), and the readout saturates y to
int16 Q14, [-2, 2). A few clamps are harmless; a model that lives beyond them is not carried."""
from __future__ import annotations

import numpy as np

from cfcbase.cell import predict_ternary
from cfcbase.series import RANGE_FILL
from cfcbase.tasks import T_STEPS, washout_mse

from .errors import CodegenError
from .golden import (TABLE_OFFSET, TABLE_SPAN, IntModel, accumulate_q15, cell_step_q14,
                     dequantize_output, preactivation_q16, quantize_input, run_golden)

# Refusal bound on the washout MSE between the integer and the float ternary model on the
# validation split, in squared output units. Measured (`python -m codegen export`, which prints
# it): the trained models 1.8e-9 and 1.9e-9; artifacts with row scales of 10-100 or biases
# beyond +-8 6.9e-2 .. 1.4 (docs/fixed_point.md, "Lossy models").
LOSSY_BOUND = 1e-5
# Refusal bound on the largest single |integer - float ternary| output (all steps), in output
# units: the MSE alone let through a model at MSE 1e-6 with one output off by 0.31 (a few
# readout clamps among thousands of exact outputs). Measured (`python -m codegen export` prints
# it): the trained models 1.7e-4 (sine), 1.7e-4 (sine-mix), 2.2e-4 (daphnet) on their validation
# sets, 1.7e-4 / 2.4e-4 / 1.1e-3 on synthetic_inputs; codegen.testing.random_artifact models
# (the 28 shapes of `codegen vectors` x 3 seeds, on the sine validation set and synthetic_inputs:
# lossy_report) without a clamp at most 5.5e-4, those with 1-17 readout clamps yet under
# LOSSY_BOUND (MSE 2e-9 .. 3e-6) 4.6e-3 .. 1.2e-1. 1e-2 is nine times the largest figure of a
# model without readout clamps and thirty times below 0.31.
MAX_ABS_BOUND = 1e-2

# Synthetic inputs for a data model whose data file is absent (synthetic_inputs).
SYNTHETIC_SEED = 20_261
SYNTHETIC_SEQUENCES = 64
SYNTHETIC_STEPS_MAX = 1000


def synthetic_inputs(I: int, T: int, n: int = SYNTHETIC_SEQUENCES, seed: int = SYNTHETIC_SEED) -> np.ndarray:
    """float64 [n, T, I] smooth random sequences filling the scaled training range
    [-RANGE_FILL, RANGE_FILL] (cfcbase.series: the training block fills it by construction): per
    sequence and channel three sines of random period (8 .. 80 steps), amplitude and phase plus a
    random walk, clipped to the range. Deterministic (fixed seed)."""
    rng = np.random.default_rng(seed)
    t = np.arange(T, dtype=np.float64)[None, :, None]
    x = np.zeros((n, T, I))
    for _ in range(3):
        w = rng.uniform(2 * np.pi / 80, 2 * np.pi / 8, (n, 1, I))
        x += rng.uniform(0.1, 0.5, (n, 1, I)) * np.sin(w * t + rng.uniform(0, 2 * np.pi, (n, 1, I)))
    x += np.cumsum(rng.normal(0.0, 0.05, (n, T, I)), axis=1)
    return np.clip(x * RANGE_FILL, -RANGE_FILL, RANGE_FILL)


def synthetic_steps(art) -> int:
    """Steps per synthetic sequence: the model's windows (seq_len), at most SYNTHETIC_STEPS_MAX."""
    T = art.data["seq_len"] if art.data is not None else T_STEPS
    return max(2, min(int(T), SYNTHETIC_STEPS_MAX))


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


def lossy_text(r: dict, where: str, note: str = "", float_model: str = "float ternary") -> str:
    """The line export prints; ``where``: what the inputs were ("the validation set", ...),
    ``note`` appended in parentheses; ``float_model``: what the integer model is compared with
    ("float int8" for a model with int8 heads)."""
    return (f"integer vs {float_model} on {where} ({r['sequences']} x {r['steps']}): washout MSE "
            f"{r['golden_vs_float_mse_washout']:.3e} (bound {LOSSY_BOUND:.0e}), max |diff| {r['max_abs_diff']:.3e} "
            f"(bound {MAX_ABS_BOUND:.0e}); saturated: gate table {r['gate_table']}, candidate table {r['cand_table']} "
            f"of {r['pre_per_head']} pre-activations each, readout {r['readout']} of {r['outputs']} outputs"
            + (f" ({note})" if note else ""))


def lossy_exceeded(r: dict) -> list:
    """The bounds r exceeds, as phrases (empty: the model is carried)."""
    out = []
    if not r["golden_vs_float_mse_washout"] <= LOSSY_BOUND:
        out.append(f"washout MSE {r['golden_vs_float_mse_washout']:.3e} > {LOSSY_BOUND:.0e}")
    if not r["max_abs_diff"] <= MAX_ABS_BOUND:
        out.append(f"max |diff| {r['max_abs_diff']:.3e} > {MAX_ABS_BOUND:.0e}")
    return out


def check_lossy(r: dict, path, where: str, allow: bool, float_model: str = "float ternary") -> None:
    exceeded = lossy_exceeded(r)
    if exceeded and not allow:
        raise CodegenError(
            f"{path}: the integer model is far from the {float_model} model: {' and '.join(exceeded)} on {where} "
            f"(saturated: gate table {r['gate_table']}, candidate table {r['cand_table']}, readout {r['readout']}); "
            f"pre-activations beyond [-8, 8) or outputs beyond [-2, 2) do not fit the fixed-point ranges. Retrain, "
            f"or pass --allow-lossy to export it anyway")
