"""A user's own time series as a forecasting task: split in time, window, scale.

    SeriesSpec(path, inputs, target, horizon, seq_len, fractions)
    build(spec)                             -> SeriesData: x, y per split, the scaling, sizes

The file is read by cfcbase.datafile (read_table: a CSV, .npy or .npz within fixed bounds;
SeriesError, read_table and Table are importable from here too). A used column's values must
also lie within MAX_SCALED training ranges of the training mean.

The rows split into three contiguous blocks in time, train | val | test (fractions, default
0.7 / 0.15 / 0.15). Each block is cut into non-overlapping windows of `seq_len` steps; a
window's input at step t is the input channels at row r+t, its target the target channel at
row r+t+horizon, and both rows lie inside the block, so no window crosses a split and nothing
from a later block leaks into an earlier one.

Scaling is fitted on the training block alone: per channel x' = (x - offset) / scale with
offset = the training mean and scale = the largest |x - offset| over the training block
divided by RANGE_FILL, so the training data fill [-RANGE_FILL, RANGE_FILL] and the device's
Q14 range (|v| < 2) keeps headroom for values beyond the training extremes; values past it
saturate on the device and are counted.

Every problem raises SeriesError with one line naming the file and the row, column or key.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .datafile import SeriesError, Table, _names, _q, read_table  # noqa: F401 - SeriesError, read_table: the API

RANGE_FILL = 1.0          # training data scaled into [-1, 1]; the device carries |v| < 2 (Q14)
Q14_LIMIT = 2.0           # |value| the device's int16 Q14 inputs and output can carry
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
SPLITS = ("train", "val", "test")
MAX_INPUTS = 255                  # input columns (the artifact's I)
MAX_WINDOWS = 1024                # windows used per split: evenly spaced over a longer block
MAX_SCALED = 1e6                  # |value| after scaling: multiples of the training block's range


# ---- the task ---------------------------------------------------------------------------

@dataclass
class SeriesSpec:
    path: str
    inputs: tuple = ()              # column names; default: the first column
    target: str | None = None       # default: the first input
    horizon: int = 1                # predict the target this many rows ahead
    seq_len: int = 50               # steps per window
    fractions: tuple = DEFAULT_FRACTIONS


@dataclass
class Scaling:
    """x' = (x - offset) / scale per channel; inputs in column order, then the target."""
    names: list
    offset: np.ndarray
    scale: np.ndarray


@dataclass
class SeriesData:
    spec: SeriesSpec
    inputs: list
    target: str
    x_scaling: Scaling
    y_scaling: Scaling
    rows: dict                                   # split -> (first row, end row) of the block
    x: dict = field(default_factory=dict)        # split -> float64 [N, T, I], scaled
    y: dict = field(default_factory=dict)        # split -> float64 [N, T, 1], scaled
    now: dict = field(default_factory=dict)      # split -> float64 [N, T]: the target channel at
                                                 # the input's row (y scaling), for the baselines
    windows: dict = field(default_factory=dict)  # split -> the block's windows (N, or more: MAX_WINDOWS)

    def sizes(self) -> str:
        def n(s):
            used = self.x[s].shape[0]
            total = self.windows.get(s, used)
            return f"{used} windows" if used == total else f"{total} windows, {used} used: evenly spaced"
        return ", ".join(f"{s} rows {a}-{b - 1} ({n(s)})" for s, (a, b) in self.rows.items())

    def unscale_y(self, y):
        return np.asarray(y) * self.y_scaling.scale[0] + self.y_scaling.offset[0]


def _fit_scaling(path, v, block, names) -> Scaling:
    a, b = block
    v = v[a:b]
    offset = v.mean(0)
    spread = np.abs(v - offset).max(0)
    for j, s in enumerate(spread):
        if not s > 0:
            raise SeriesError(f"{path}: column {_q(names[j])} is constant over the training rows {a}-{b - 1}; "
                              f"it carries no signal (drop it)")
    return Scaling(list(names), offset, spread / RANGE_FILL)


def _check_scaled(t: Table, name, sc: Scaling, j) -> None:
    """Every value of a used column within MAX_SCALED training ranges of the training mean."""
    v = np.abs(t.column(name) - sc.offset[j]) / sc.scale[j]
    big = ~(v <= MAX_SCALED)
    if big.any():
        i = int(np.argmax(big))
        raise SeriesError(f"{t.path}: row {t.row(i)}, column {_q(name)}: {t.column(name)[i]:g} lies {v[i]:.3g} "
                          f"times the training rows' range from their mean (at most {MAX_SCALED:g}; the scaling "
                          f"is fitted on the training rows)")


def _check_spec(spec: SeriesSpec) -> tuple:
    from .tasks import WASHOUT
    if spec.horizon < 1:
        raise SeriesError(f"--horizon must be at least 1, got {spec.horizon}")
    if spec.seq_len < WASHOUT + 1:
        raise SeriesError(f"--seq-len must be at least {WASHOUT + 1} (the metrics use the steps t >= {WASHOUT}), "
                          f"got {spec.seq_len}")
    try:
        fr = tuple(float(f) for f in spec.fractions)
    except (TypeError, ValueError):
        fr = ()
    if len(fr) != 3 or any(not (f > 0) for f in fr) or not math.isclose(sum(fr), 1.0, abs_tol=1e-9):
        raise SeriesError(f"split fractions must be three positive numbers adding up to 1, got {spec.fractions}")
    return fr


def build(spec: SeriesSpec, table: Table | None = None) -> SeriesData:
    """Read spec.path (only the columns the spec uses) and make the task's windows; bad data or
    options raise one SeriesError line. A used column's name must be safe text
    (cfcbase.text: it travels into the artifact, the model header and reports)."""
    from .tasks import WASHOUT
    from .text import text_problem
    fr = _check_spec(spec)
    chosen = {}

    def pick(names):
        if not names:
            raise SeriesError(f"{spec.path}: no columns")
        inputs = list(spec.inputs) or [names[0]]
        target = spec.target or inputs[0]
        for c, what in [(c, "--inputs") for c in inputs] + [(target, "--target")]:
            if c not in names:
                raise SeriesError(f"{spec.path}: no column {_q(c)} for {what} (columns: {_names(names)})")
        if len(set(inputs)) != len(inputs):
            raise SeriesError(f"{spec.path}: --inputs names a column twice")
        if len(inputs) > MAX_INPUTS:
            raise SeriesError(f"{spec.path}: {len(inputs)} input columns; a model takes at most {MAX_INPUTS}")
        used = list(dict.fromkeys(inputs + [target]))
        for c in used:
            why = text_problem(c)
            if why:
                raise SeriesError(f"{spec.path}: column {_q(c)} ({'the target' if c == target else 'an input'}): "
                                  f"{why}")
        chosen.update(inputs=inputs, target=target)
        return used

    t = table if table is not None else read_table(spec.path, pick)
    if table is not None:
        pick(t.names)
    inputs, target = chosen["inputs"], chosen["target"]
    n = t.rows
    ends = [int(round(n * fr[0])), int(round(n * (fr[0] + fr[1]))), n]
    blocks = dict(zip(SPLITS, zip([0] + ends[:2], ends)))
    need = spec.seq_len + spec.horizon                    # rows one window uses
    for s, (a, b) in blocks.items():
        if b - a < need:
            raise SeriesError(f"{t.path}: {n} rows give the {s} block {b - a} rows, fewer than one window "
                              f"(seq-len {spec.seq_len} + horizon {spec.horizon} = {need} rows); "
                              f"need at least {math.ceil(need / min(fr))} rows")
    X = np.stack([t.column(c) for c in inputs], 1)
    Y = t.column(target)[:, None]
    xs = _fit_scaling(t.path, X, blocks["train"], inputs)
    ys = _fit_scaling(t.path, Y, blocks["train"], [target])
    for j, c in enumerate(inputs):
        _check_scaled(t, c, xs, j)
    _check_scaled(t, target, ys, 0)
    out = SeriesData(spec, inputs, target, xs, ys, blocks)
    for s, (a, b) in blocks.items():
        starts = np.arange(a, b - need + 1, spec.seq_len)
        out.windows[s] = len(starts)
        if len(starts) > MAX_WINDOWS:                     # evenly spaced over the block
            starts = starts[np.linspace(0, len(starts) - 1, MAX_WINDOWS).round().astype(np.int64)]
        idx = starts[:, None] + np.arange(spec.seq_len)[None, :]
        out.x[s] = (X[idx] - xs.offset) / xs.scale
        out.y[s] = (Y[idx + spec.horizon] - ys.offset) / ys.scale
        out.now[s] = (Y[idx, 0] - ys.offset[0]) / ys.scale[0]
        yw = out.y[s][:, WASHOUT:, 0]
        if not (yw.max() > yw.min() and yw.var() > 0):   # the NMSE's denominator
            raise SeriesError(f"{t.path}: the target column {_q(target)} does not vary over the {s} windows "
                              f"(rows {a}-{b - 1}, steps t >= {WASHOUT}); its NMSE is undefined")
    return out


def values_past_q14(data: SeriesData) -> dict:
    """How many scaled values per split lie outside what the device's Q14 carries."""
    return {s: {"inputs": int((np.abs(data.x[s]) >= Q14_LIMIT).sum()),
                "target": int((np.abs(data.y[s]) >= Q14_LIMIT).sum())} for s in SPLITS}
