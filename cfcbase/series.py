"""A user's own time series as a forecasting task: read, check, split in time, window, scale.

    read_table(path)                        -> Table(names, values float64 [rows, columns])
    SeriesSpec(path, inputs, target, horizon, seq_len, fractions)
    build(spec)                             -> SeriesData: x, y per split, the scaling, sizes

The file is a CSV with a header row (one column per channel, numbers only) or a NumPy file:
`.npy` with a 1-D or 2-D array (columns named c0, c1, ...), or `.npz` whose arrays are 1-D
columns of one length (named by their keys). Rows are time steps, evenly spaced.

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

A path `pkg:PACKAGE/RELATIVE/PATH` names a file shipped inside an installed Python package
(found with importlib.util.find_spec, without importing the package), so an artifact that
names it works on any machine where the package is installed.

Every problem raises SeriesError with one line naming the file and the row, column or key.
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field

import numpy as np

RANGE_FILL = 1.0          # training data scaled into [-1, 1]; the device carries |v| < 2 (Q14)
Q14_LIMIT = 2.0           # |value| the device's int16 Q14 inputs and output can carry
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
SPLITS = ("train", "val", "test")


class SeriesError(ValueError):
    """Bad data: the message is one line naming the file and what is at fault."""


@dataclass
class Table:
    """The columns of a file. CSV cells stay text until a column is used, so columns the task
    does not use (a timestamp, a label) may hold anything."""
    path: str
    names: list
    cells: list                 # per column: float64 array, or a list of the CSV's strings

    def column(self, name) -> np.ndarray:
        j = self.names.index(name)
        c = self.cells[j]
        if not isinstance(c, np.ndarray):
            out = np.empty(len(c), np.float64)
            for i, v in enumerate(c):
                try:
                    out[i] = float(v)
                except ValueError:
                    raise SeriesError(f"{self.path}: row {i + 2}, column {name!r}: {v.strip()!r} is not a "
                                      f"number") from None
            self.cells[j] = c = out
        bad = ~np.isfinite(c)
        if bad.any():
            i = int(np.argmax(bad))
            row = i + 2 if self.path.lower().endswith(".csv") else i
            raise SeriesError(f"{self.path}: row {row}, column {name!r}: {c[i]} "
                              f"({int(bad.sum())} non-finite value(s) in the column)")
        return c

    @property
    def rows(self) -> int:
        return len(self.cells[0]) if self.cells else 0

    @property
    def values(self) -> np.ndarray:
        """Every column as numbers, float64 [rows, columns]."""
        return np.stack([self.column(n) for n in self.names], 1)


PKG_PREFIX = "pkg:"


def resolve_path(path) -> str:
    """The file a path names: as is, or for `pkg:PACKAGE/REL/PATH` inside the installed package."""
    path = os.fspath(path)
    if not path.startswith(PKG_PREFIX):
        return path
    pkg, _, rel = path[len(PKG_PREFIX):].partition("/")
    import importlib.util
    try:
        spec = importlib.util.find_spec(pkg) if pkg.isidentifier() else None
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise SeriesError(f"{path}: Python package {pkg!r} is not installed (pip install --no-deps {pkg})")
    for root in spec.submodule_search_locations:
        full = os.path.join(root, rel)
        if os.path.isfile(full):
            return full
    raise SeriesError(f"{path}: no file {rel!r} in the installed package {pkg!r} "
                      f"({', '.join(spec.submodule_search_locations)})")


def read_table(path) -> Table:
    path = os.fspath(path)
    shown, path = path, resolve_path(path)
    if not os.path.isfile(path):
        raise SeriesError(f"{shown}: no such file")
    ext = os.path.splitext(path)[1].lower()
    t = _read(path, ext)
    t.path = shown
    return t


def _read(path, ext) -> Table:
    if ext == ".csv":
        return _read_csv(path)
    if ext in (".npy", ".npz"):
        return _read_numpy(path, ext)
    raise SeriesError(f"{path}: not a CSV (.csv) or NumPy (.npy, .npz) file")


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _read_csv(path) -> Table:
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise SeriesError(f"{path}: not a text CSV file (undecodable bytes)") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise SeriesError(f"{path}: empty file")
    header = [c.strip() for c in rows[0]]
    if all(_is_number(c) for c in header):
        raise SeriesError(f"{path}: the first row is all numbers; a header row naming the columns is required")
    if any(not c for c in header):
        raise SeriesError(f"{path}: column {header.index('') + 1} of the header row has no name")
    if len(set(header)) != len(header):
        dup = next(c for c in header if header.count(c) > 1)
        raise SeriesError(f"{path}: column name {dup!r} appears twice in the header row")
    for i, r in enumerate(rows[1:]):
        if len(r) != len(header):
            raise SeriesError(f"{path}: row {i + 2} has {len(r)} fields, the header {len(header)}")
    return Table(path, header, [[r[j] for r in rows[1:]] for j in range(len(header))])


def _read_numpy(path, ext) -> Table:
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as e:                                   # noqa: BLE001 - any unreadable file
        raise SeriesError(f"{path}: not a readable NumPy file ({e})") from None
    if ext == ".npy":
        a = np.asarray(loaded)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise SeriesError(f"{path}: array of shape {a.shape}; expected [rows] or [rows, columns]")
        names = [f"c{j}" for j in range(a.shape[1])]
        cols = [a[:, j] for j in range(a.shape[1])]
    else:
        with loaded:
            names = list(loaded.files)
            cols = [loaded[k] for k in names]
        if not names:
            raise SeriesError(f"{path}: no arrays in the file")
        for k, c in zip(names, cols):
            if c.ndim != 1:
                raise SeriesError(f"{path}: key {k!r} has shape {c.shape}; expected one 1-D column per key")
            if len(c) != len(cols[0]):
                raise SeriesError(f"{path}: key {k!r} has {len(c)} rows, key {names[0]!r} {len(cols[0])}")
    for k, c in zip(names, cols):
        if not (np.issubdtype(c.dtype, np.number) or c.dtype == bool) or np.iscomplexobj(c):
            raise SeriesError(f"{path}: column {k!r} has dtype {c.dtype}; expected real numbers")
    return Table(path, names, [np.asarray(c, np.float64) for c in cols])


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

    def sizes(self) -> str:
        return ", ".join(f"{s} rows {a}-{b - 1} ({self.x[s].shape[0]} windows)" for s, (a, b) in self.rows.items())

    def unscale_y(self, y):
        return np.asarray(y) * self.y_scaling.scale[0] + self.y_scaling.offset[0]


def _column(t: Table, name, what) -> int:
    if name not in t.names:
        raise SeriesError(f"{t.path}: no column {name!r} for {what} (columns: {', '.join(t.names)})")
    return t.names.index(name)


def _fit_scaling(path, v, block, names) -> Scaling:
    a, b = block
    v = v[a:b]
    offset = v.mean(0)
    spread = np.abs(v - offset).max(0)
    for j, s in enumerate(spread):
        if not s > 0:
            raise SeriesError(f"{path}: column {names[j]!r} is constant over the training rows {a}-{b - 1}; "
                              f"it carries no signal (drop it)")
    return Scaling(list(names), offset, spread / RANGE_FILL)


def build(spec: SeriesSpec, table: Table | None = None) -> SeriesData:
    t = table if table is not None else read_table(spec.path)
    inputs = list(spec.inputs) or [t.names[0]]
    target = spec.target or inputs[0]
    for c in inputs:
        _column(t, c, "--inputs")
    _column(t, target, "--target")
    if len(set(inputs)) != len(inputs):
        raise SeriesError(f"{t.path}: --inputs names a column twice")
    if spec.horizon < 1:
        raise SeriesError(f"--horizon must be at least 1, got {spec.horizon}")
    if spec.seq_len < 2:
        raise SeriesError(f"--seq-len must be at least 2, got {spec.seq_len}")
    fr = tuple(float(f) for f in spec.fractions)
    if len(fr) != 3 or any(not (f > 0) for f in fr) or not math.isclose(sum(fr), 1.0, abs_tol=1e-9):
        raise SeriesError(f"split fractions must be three positive numbers adding up to 1, got {spec.fractions}")
    used = list(dict.fromkeys(inputs + [target]))
    data = {c: t.column(c) for c in used}
    n = t.rows
    ends = [int(round(n * fr[0])), int(round(n * (fr[0] + fr[1]))), n]
    blocks = dict(zip(SPLITS, zip([0] + ends[:2], ends)))
    need = spec.seq_len + spec.horizon                    # rows one window uses
    for s, (a, b) in blocks.items():
        if b - a < need:
            raise SeriesError(f"{t.path}: {n} rows give the {s} block {b - a} rows, fewer than one window "
                              f"(seq-len {spec.seq_len} + horizon {spec.horizon} = {need} rows); "
                              f"need at least {math.ceil(need / min(fr))} rows")
    X = np.stack([data[c] for c in inputs], 1)
    Y = data[target][:, None]
    xs = _fit_scaling(t.path, X, blocks["train"], inputs)
    ys = _fit_scaling(t.path, Y, blocks["train"], [target])
    out = SeriesData(spec, inputs, target, xs, ys, blocks)
    for s, (a, b) in blocks.items():
        starts = np.arange(a, b - need + 1, spec.seq_len)
        idx = starts[:, None] + np.arange(spec.seq_len)[None, :]
        out.x[s] = (X[idx] - xs.offset) / xs.scale
        out.y[s] = (Y[idx + spec.horizon] - ys.offset) / ys.scale
        out.now[s] = (Y[idx, 0] - ys.offset[0]) / ys.scale[0]
    return out


def saturation_counts(data: SeriesData) -> dict:
    """How many scaled values per split lie outside what the device's Q14 carries."""
    return {s: {"inputs": int((np.abs(data.x[s]) >= Q14_LIMIT).sum()),
                "target": int((np.abs(data.y[s]) >= Q14_LIMIT).sum())} for s in SPLITS}
