"""A user's own time series as a forecasting task: split in time, window, scale.

    SeriesSpec(path, inputs, target, horizon, seq_len, fractions, gaps, max_gap, difference)
    build(spec)                             -> SeriesData: x, y per split, the scaling, sizes,
                                               the spec with every default resolved, notes

The file is read by cfcbase.datafile (read_table: a CSV, .npy or .npz within fixed bounds;
SeriesError, read_table and Table are importable from here too). A used column's values must
also lie within MAX_SCALED training ranges of the training mean.

Defaults (docs/model.md, "Your own data"), each resolved once by build() and recorded in
SeriesData.spec, so that a worker process or an artifact rebuilds the same data from it:
  inputs    the target when one is named, else the first column of numbers that is not a time
            stamp (datafile.read_table(default=True)); the target: the first input
  gaps      missing values (empty cells, NaN) in the used columns: rows before the first and
            after the last complete row are dropped; an inner run of at most `max_gap`
            consecutive missing rows (default: 3, or 1% of the rows when that is more) is filled
            by linear interpolation; a longer one is refused naming its rows. gaps="refuse"
            refuses any missing value.
  seq_len   None: the largest length in AUTO_SEQ_LEN that gives the splits at least
            MIN_WINDOWS windows, else the largest that gives each one window (choose_seq_len)
  difference "none", "target" (the model forecasts the target's change over the horizon),
            "all" (also every input as its change from the row before), "auto" (each of them
            that trends: trend_reason), or the resolved {"target": bool, "inputs": [names]}

The rows split into three contiguous blocks in time, train | val | test (fractions, default
0.7 / 0.15 / 0.15). Each block is cut into non-overlapping windows of `seq_len` steps; a
window's input at step t is the input channels at row r+t, its target the target channel at
row r+t+horizon (differenced: that row minus row r+t), and both rows lie inside the block, so
no window crosses a split and nothing from a later block leaks into an earlier one (a
differenced input at row r+t also reads row r+t-1, the past; at the file's first row its
change is 0).

Scaling is fitted on the training block alone: per channel x' = (x - offset) / scale with
offset = the training mean and scale = the largest |x - offset| over the training block
divided by RANGE_FILL, so the training data fill [-RANGE_FILL, RANGE_FILL] and the device's
Q14 range (|v| < 2) keeps headroom for values beyond the training extremes; values past it
saturate on the device and are counted.

The baselines (cfcbase.tasks.data_baselines) stay on the target's levels: `now` and `ylev` are
the target's level at the input's row and at the target's row, scaled by `level_scaling`
(the target's own scaling when it is not differenced).

Every problem raises SeriesError with one line naming the file and the row, column or key.
Gaps and differencing: cfcbase.series_prep; finding and checking a model's data file:
cfcbase.series_file.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .datafile import read_table
from .table import SeriesError, Table, choose_default, quote, show_names
from .metrics import WASHOUT
from .series_prep import difference_spec, fill_gaps
from .text import text_problem

RANGE_FILL = 1.0          # training data scaled into [-1, 1]; the device carries |v| < 2 (Q14)
Q14_LIMIT = 2.0           # |value| the device's int16 Q14 inputs and output can carry
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
SPLITS = ("train", "val", "test")
MAX_INPUTS = 255                  # input columns (the artifact's I)
MAX_WINDOWS = 1024                # windows used per split: evenly spaced over a longer block
MAX_SCALED = 1e6                  # |value| after scaling: multiples of the training block's range
GAPS = ("interpolate", "refuse")
DIFFERENCE = ("none", "target", "all", "auto")
# seq_len=None: the largest length in AUTO_SEQ_LEN giving the splits at least MIN_WINDOWS
# windows (train, val, test), else the largest giving each split one. 15 is the shortest the
# trainer takes (its transient crops are 10 steps from step 5: trainer.factorial.MIN_TRAIN_SEQ_LEN),
# 50 the pinned tasks' length.
AUTO_SEQ_LEN = (15, 50)
MIN_WINDOWS = (8, 2, 2)


# ---- the task ---------------------------------------------------------------------------

@dataclass
class SeriesSpec:
    path: str
    inputs: tuple = ()              # column names; default: the target, else the first column of numbers
    target: str | None = None       # default: the first input
    horizon: int = 1                # predict the target this many rows ahead
    seq_len: int | None = 50        # steps per window; None: chosen from the series (choose_seq_len)
    fractions: tuple = DEFAULT_FRACTIONS
    gaps: str = "interpolate"       # missing values: "interpolate" (short inner runs) or "refuse"
    max_gap: int | None = None      # longest run filled; None: max(MAX_GAP_MIN, 1% of the rows)
    difference: object = "none"     # a DIFFERENCE mode or {"target": bool, "inputs": [names]}


@dataclass
class Scaling:
    """x' = (x - offset) / scale per channel; inputs in column order, then the target."""
    names: list
    offset: np.ndarray
    scale: np.ndarray


@dataclass
class SeriesData:
    spec: SeriesSpec                             # every default resolved (inputs, seq_len, gaps, difference)
    inputs: list
    target: str
    x_scaling: Scaling
    y_scaling: Scaling
    rows: dict                                   # split -> (first row, end row) of the block, file rows
    x: dict = field(default_factory=dict)        # split -> float64 [N, T, I], scaled
    y: dict = field(default_factory=dict)        # split -> float64 [N, T, 1], scaled
    now: dict = field(default_factory=dict)      # split -> float64 [N, T]: the target's level at
                                                 # the input's row (level_scaling), for the baselines
    ylev: dict = field(default_factory=dict)     # split -> float64 [N, T]: the target's level at the
                                                 # target's row (level_scaling)
    windows: dict = field(default_factory=dict)  # split -> the block's windows (N, or more: MAX_WINDOWS)
    level_scaling: Scaling | None = None         # the target's levels (= y_scaling when not differenced)
    notes: list = field(default_factory=list)    # what the defaults chose, one line each
    gaps: dict = field(default_factory=dict)     # filled values per column, rows dropped at the ends

    def sizes(self) -> str:
        def n(s):
            used = self.x[s].shape[0]
            total = self.windows.get(s, used)
            return (f"{used} window{'s' if used != 1 else ''}" if used == total
                    else f"{total} windows, {used} used: evenly spaced")
        return ", ".join(f"{s} rows {a}-{b - 1} ({n(s)})" for s, (a, b) in self.rows.items())

    @property
    def differenced(self) -> dict:
        return self.spec.difference

    def unscale_y(self, y):
        return np.asarray(y) * self.y_scaling.scale[0] + self.y_scaling.offset[0]

    def level_to_model(self, pred, split):
        """Level forecasts (level_scaling) of a split's windows in the model's target units: the
        same array without differencing, else the forecast change from the level at the input's
        row, scaled as the model's target."""
        if not self.differenced["target"]:
            return pred
        ls, ys = self.level_scaling, self.y_scaling
        return ((np.asarray(pred) - self.now[split]) * ls.scale[0] - ys.offset[0]) / ys.scale[0]


def _fit_scaling(path, v, block, names, what=None) -> Scaling:
    a, b = block
    v = v[a:b]
    offset = v.mean(0)
    spread = np.abs(v - offset).max(0)
    for j, s in enumerate(spread):
        if not s > 0:
            raise SeriesError(f"{path}: column {quote(names[j])}{what or ''} is constant over the training rows "
                              f"{a}-{b - 1}; it carries no signal (drop it)")
    return Scaling(list(names), offset, spread / RANGE_FILL)


def _check_scaled(t: Table, name, v, sc: Scaling, j, row0=0, what="") -> None:
    """Every value of a used channel within MAX_SCALED training ranges of the training mean."""
    r = np.abs(v - sc.offset[j]) / sc.scale[j]
    big = ~(r <= MAX_SCALED)
    if big.any():
        i = int(np.argmax(big))
        raise SeriesError(f"{t.path}: row {t.row(i + row0)}, column {quote(name)}{what}: {v[i]:g} lies {r[i]:.3g} "
                          f"times the training rows' range from their mean (at most {MAX_SCALED:g}; the scaling "
                          f"is fitted on the training rows)")


def _check_spec(spec: SeriesSpec) -> tuple:
    if spec.horizon < 1:
        raise SeriesError(f"--horizon must be at least 1, got {spec.horizon}")
    if spec.seq_len is not None and spec.seq_len < WASHOUT + 1:
        raise SeriesError(f"--seq-len must be at least {WASHOUT + 1} (the metrics use the steps t >= {WASHOUT}), "
                          f"got {spec.seq_len}")
    try:
        fr = tuple(float(f) for f in spec.fractions)
    except (TypeError, ValueError):
        fr = ()
    if len(fr) != 3 or any(not (f > 0) for f in fr) or not math.isclose(sum(fr), 1.0, abs_tol=1e-9):
        raise SeriesError(f"split fractions must be three positive numbers adding up to 1, got {spec.fractions}")
    if spec.gaps not in GAPS:
        raise SeriesError(f"--gaps must be one of {', '.join(GAPS)}, got {spec.gaps!r}")
    if spec.max_gap is not None and spec.max_gap < 0:
        raise SeriesError(f"--max-gap must be at least 0, got {spec.max_gap}")
    d = spec.difference
    if not (d in DIFFERENCE if isinstance(d, str) else isinstance(d, dict) and set(d) == {"target", "inputs"}):
        raise SeriesError(f"--difference must be one of {', '.join(DIFFERENCE)}, got {d!r}")
    return fr


def _blocks(n, fr) -> dict:
    ends = [int(round(n * fr[0])), int(round(n * (fr[0] + fr[1]))), n]
    return dict(zip(SPLITS, zip([0] + ends[:2], ends)))


def windows_in(rows, seq_len, horizon) -> int:
    """Non-overlapping windows of seq_len steps (plus the horizon) in a block of `rows` rows."""
    return max(0, (rows - horizon) // seq_len)


def choose_seq_len(blocks, horizon):
    """(T, the window counts it needs) for seq_len=None: the largest T in AUTO_SEQ_LEN giving the
    blocks at least MIN_WINDOWS windows, else the largest giving each one; None if none does."""
    lo, hi = AUTO_SEQ_LEN
    for need in (MIN_WINDOWS, (1, 1, 1)):
        for T in range(hi, lo - 1, -1):
            if all(windows_in(b - a, T, horizon) >= k for (a, b), k in zip(blocks.values(), need)):
                return T, need
    return None


def _rows_needed(need, fr) -> int:
    """Rows that give every block at least `need` rows with these fractions."""
    n = max(need, math.ceil(need / min(fr)))
    while min(b - a for a, b in _blocks(n, fr).values()) < need:
        n += 1
    return n


def _fractions_hint(n, need, fr) -> str:
    """What to do with n rows too few for these fractions: the split with the largest training
    block that gives the validation and test blocks `need` rows each (one window), if any."""
    for f in (0.15, 0.2, 0.25, 0.3):
        other = (round(1 - 2 * f, 2), f, f)
        if other != tuple(fr) and min(b - a for a, b in _blocks(n, other).values()) >= need:
            return (f", or --fractions {','.join(f'{v:g}' for v in other)} fits these {n} rows (one validation and "
                    f"one test window: figures on that few steps are rough)")
    return f"; {n} rows hold no three blocks of one {need}-row window each"


def _seq_len(t, spec, fr, blocks, n, notes) -> int:
    h = spec.horizon
    shortest = min(blocks.values(), key=lambda ab: ab[1] - ab[0])
    largest = min(b - a for a, b in blocks.values()) - h          # the longest window every block holds
    if spec.seq_len is None:
        got = choose_seq_len(blocks, h)
        if got is None:
            lo = AUTO_SEQ_LEN[0]
            s = next(k for k, v in blocks.items() if v == shortest)
            raise SeriesError(f"{t.path}: {n} rows are too few: the {s} block has {shortest[1] - shortest[0]} rows, "
                              f"and the shortest window that trains ({lo} steps + horizon {h}) needs {lo + h}; "
                              f"need at least {_rows_needed(lo + h, fr)} rows with --fractions "
                              f"{','.join(f'{v:g}' for v in fr)}{_fractions_hint(n, lo + h, fr)}")
        T, need = got
        counts = [windows_in(b - a, T, h) for a, b in blocks.values()]
        how = (f"the largest of {AUTO_SEQ_LEN[0]}..{AUTO_SEQ_LEN[1]} giving at least {MIN_WINDOWS[0]} training, "
               f"{MIN_WINDOWS[1]} validation and {MIN_WINDOWS[2]} test windows" if need == MIN_WINDOWS else
               f"no length of {AUTO_SEQ_LEN[0]}..{AUTO_SEQ_LEN[1]} gives {MIN_WINDOWS[0]}/{MIN_WINDOWS[1]}/"
               f"{MIN_WINDOWS[2]} windows, so the largest giving every split one; the figures rest on few windows")
        notes.append(f"seq-len {T} (no --seq-len: {how}): windows {'/'.join(map(str, counts))}")
        return T
    need = spec.seq_len + h
    for s, (a, b) in blocks.items():
        if b - a < need:
            hint = (f", or --seq-len {largest} at most" if largest >= AUTO_SEQ_LEN[0] else "")
            raise SeriesError(f"{t.path}: {n} rows give the {s} block {b - a} rows, fewer than one window "
                              f"(seq-len {spec.seq_len} + horizon {h} = {need} rows); "
                              f"need at least {_rows_needed(need, fr)} rows{hint} (without --seq-len the length "
                              f"is chosen from the series)")
    return spec.seq_len


def build(spec: SeriesSpec, table: Table | None = None) -> SeriesData:
    """Read spec.path (only the columns the spec uses) and make the task's windows; bad data or
    options raise one SeriesError line. A used column's name must be safe text
    (cfcbase.text: it travels into the artifact, the model header and reports). The returned
    SeriesData.spec has every default resolved; building from it gives the same data."""
    fr = _check_spec(spec)
    notes = []
    t, inputs, target = _columns(spec, table, notes)
    used = list(dict.fromkeys(inputs + [target]))
    cols, row0, max_gap, gaps = fill_gaps(t, used, spec, notes)
    n = len(cols[used[0]])
    blocks = _blocks(n, fr)
    T = _seq_len(t, spec, fr, blocks, n, notes)
    h = spec.horizon
    diff = difference_spec(t, spec, inputs, target, cols, blocks, notes)
    spec = replace(spec, inputs=tuple(inputs), target=target, seq_len=T, max_gap=max_gap,
                   difference=diff)
    X, Y, D, xs, ys, dys = _scaled(t, inputs, target, cols, blocks, diff, h, row0)
    rows = {s: (a + row0, b + row0) for s, (a, b) in blocks.items()}
    out = SeriesData(spec, inputs, target, xs, dys, rows, level_scaling=ys, notes=notes, gaps=gaps)
    for s, (a, b) in blocks.items():
        _cut_windows(out, s, a, b, X, Y, D, t.path)
    return out


def _columns(spec: SeriesSpec, table: Table | None, notes: list) -> tuple:
    """(the table, the input columns, the target column): the spec's, or without --inputs and
    --target the first column of numbers that is not a time stamp (a note says which)."""
    chosen = {}
    default = not spec.inputs and not spec.target

    def checked_names(names, inputs, target):
        for c, what in [(c, "--inputs") for c in inputs if spec.inputs] + [(target, "--target")]:
            if c not in names:
                raise SeriesError(f"{spec.path}: no column {quote(c)} for {what} (columns: {show_names(names)})")
        if len(set(inputs)) != len(inputs):
            raise SeriesError(f"{spec.path}: --inputs names a column twice")
        if len(inputs) > MAX_INPUTS:
            raise SeriesError(f"{spec.path}: {len(inputs)} input columns; a model takes at most {MAX_INPUTS}")
        used = list(dict.fromkeys(list(inputs) + [target]))
        for c in used:
            why = text_problem(c)
            if why:
                raise SeriesError(f"{spec.path}: column {quote(c)} ({'the target' if c == target else 'an input'}): "
                                  f"{why}")
        return used

    def pick(names):
        if not names:
            raise SeriesError(f"{spec.path}: no columns")
        if default:
            return []
        inputs = list(spec.inputs) or [spec.target]
        target = spec.target or inputs[0]
        chosen.update(inputs=inputs, target=target)
        return checked_names(names, inputs, target)

    t = table if table is not None else read_table(spec.path, pick, default=default)
    if table is not None:
        pick(t.names)
    if default:
        if t.default is None:
            choose_default(t, {c: t.column(c) for c in t.names})
        checked_names(t.names, [t.default], t.default)
        chosen.update(inputs=[t.default], target=t.default)
        skipped = "; ".join(f"{quote(c)}: {why}" if c else f"column {t.names.index(c) + 1}: {why}"
                            for c, why in dict.fromkeys(t.skipped))
        notes.append(f"no --inputs or --target: input and target {t.default}, the first column of numbers that is "
                     f"not a time stamp" + (f" (skipped {skipped})" if skipped else ""))
    return t, chosen["inputs"], chosen["target"]


def _scaled(t, inputs, target, cols, blocks, diff, h, row0) -> tuple:
    """The inputs X [n, I] (differenced where diff says), the target's levels Y [n, 1] and its
    changes over the horizon D (None: not differenced), and the scalings fitted on the training
    block (inputs, levels, the target the model learns); every scaled value checked."""
    X = np.stack([cols[c] for c in inputs], 1)
    Y = cols[target][:, None]                              # the target's levels [n, 1]
    n = len(Y)
    ys = _fit_scaling(t.path, Y, blocks["train"], [target])      # of the levels
    dx = [j for j, c in enumerate(inputs) if c in diff["inputs"]]
    if dx:
        X = X.copy()
        X[1:, dx] = X[1:, dx] - X[:-1, dx]                 # the change from the row before; 0 at the first
        X[0, dx] = 0.0
    a, b = blocks["train"]
    xs = _fit_scaling(t.path, X, (max(a, 1), b) if dx else blocks["train"], inputs,
                      " (its changes from row to row)" if dx else None)
    D = None
    if diff["target"]:
        D = np.full((n, 1), np.nan)
        D[:n - h] = Y[h:] - Y[:-h]                          # the change over the horizon, at the input's row
        dys = _fit_scaling(t.path, D, (a, b - h), [target], f" (its changes over {h} row(s))")
    else:
        dys = ys
    _check_scaled(t, target, Y[:, 0], ys, 0, row0)
    for j, c in enumerate(inputs):
        _check_scaled(t, c, X[:, j], xs, j, row0, " (its change from the row before)" if j in dx else "")
    if D is not None:
        _check_scaled(t, target, D[:n - h, 0], dys, 0, row0, " (its change)")
    return X, Y, D, xs, ys, dys


def _cut_windows(out: SeriesData, s, a, b, X, Y, D, path) -> None:
    """Split s (rows a..b-1 of the scaled series) as windows of T steps, back to back, into out."""
    T, h = out.spec.seq_len, out.spec.horizon
    xs, ys, dys = out.x_scaling, out.level_scaling, out.y_scaling
    need = T + h                                        # rows one window uses
    starts = np.arange(a, b - need + 1, T)
    out.windows[s] = len(starts)
    if len(starts) > MAX_WINDOWS:                     # evenly spaced over the block
        starts = starts[np.linspace(0, len(starts) - 1, MAX_WINDOWS).round().astype(np.int64)]
    idx = starts[:, None] + np.arange(T)[None, :]
    out.x[s] = (X[idx] - xs.offset) / xs.scale
    out.ylev[s] = (Y[idx + h] - ys.offset) / ys.scale
    out.y[s] = (D[idx] - dys.offset) / dys.scale if D is not None else out.ylev[s]
    out.now[s] = (Y[idx, 0] - ys.offset[0]) / ys.scale[0]
    out.ylev[s] = out.ylev[s][:, :, 0]
    yw = out.y[s][:, WASHOUT:, 0]
    if not (yw.max() > yw.min() and yw.var() > 0):   # the NMSE's denominator
        ab = out.rows[s]
        raise SeriesError(f"{path}: the target column {quote(out.target)} does not vary over the {s} windows "
                          f"(rows {ab[0]}-{ab[1] - 1}, steps t >= {WASHOUT}); its NMSE is undefined")


def values_past_q14(data: SeriesData) -> dict:
    """How many scaled values per split lie outside what the device's Q14 carries."""
    return {s: {"inputs": int((np.abs(data.x[s]) >= Q14_LIMIT).sum()),
                "target": int((np.abs(data.y[s]) >= Q14_LIMIT).sum())} for s in SPLITS}
