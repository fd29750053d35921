"""The used columns of a series prepared before cfcbase.series.build windows them: gaps (missing
values) filled by linear interpolation or refused (_fill_gaps), and the trending columns found
(trend_reason) and differenced as --difference says (_difference); docs/model.md, "Your own data".
"""
from __future__ import annotations

import numpy as np

from .table import SeriesError, Table, quote

MAX_GAP_MIN = 3                   # default --max-gap: 3 rows, or MAX_GAP_FRACTION of the rows if more
MAX_GAP_FRACTION = 0.01
# difference="auto": a column trends when a straight line explains at least TREND_R2 of its
# variance over the training rows, or the validation rows' mean lies outside the training range.
TREND_R2 = 0.5


def _runs(mask) -> list:
    """[(start, end)] of the runs of True in a bool array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def fill_gaps(t: Table, used, spec, notes) -> tuple:
    """The used columns with their gaps filled, trimmed to the rows from the first to the last
    complete one: ({name: float64 [rows]}, first row, max_gap, {name: values filled})."""
    cols = {c: t.column(c) for c in used}
    miss = {c: np.isnan(v) for c, v in cols.items()}
    max_gap = spec.max_gap if spec.max_gap is not None else max(MAX_GAP_MIN, int(t.rows * MAX_GAP_FRACTION))
    if not any(m.any() for m in miss.values()):
        return cols, 0, max_gap, {}
    if spec.gaps == "refuse":
        c = next(c for c in used if miss[c].any())
        i = int(np.argmax(miss[c]))
        raise SeriesError(f"{t.path}: row {t.row(i)}, column {quote(c)}: missing value ({int(miss[c].sum())} in the "
                          f"column; --gaps refuse; --gaps interpolate fills short gaps)")
    complete = ~np.any(np.stack(list(miss.values())), 0)
    if not complete.any():
        raise SeriesError(f"{t.path}: no row has a value in every used column ({', '.join(map(quote, used))})")
    lo, hi = int(np.argmax(complete)), t.rows - int(np.argmax(complete[::-1]))
    if lo or hi < t.rows:
        parts = ([f"{lo} at the start (rows {t.row(0)}-{t.row(lo - 1)})"] if lo else []) + \
                ([f"{t.rows - hi} at the end (rows {t.row(hi)}-{t.row(t.rows - 1)})"] if hi < t.rows else [])
        notes.append(f"gaps: dropped {' and '.join(parts)}, before the first and after the last row with every "
                     f"used column filled")
    out, filled = {}, {}
    for c in used:
        v, m = cols[c][lo:hi].copy(), miss[c][lo:hi]
        runs = _runs(m)
        long = [(a, b) for a, b in runs if b - a > max_gap]
        if long:
            a, b = max(long, key=lambda r: r[1] - r[0])
            raise SeriesError(f"{t.path}: rows {t.row(a + lo)}-{t.row(b - 1 + lo)}, column {quote(c)}: {b - a} "
                              f"consecutive missing values, more than --max-gap {max_gap} fills "
                              f"({len(long)} such gap(s); --max-gap {b - a} would interpolate them)")
        if runs:
            idx = np.arange(len(v))
            v[m] = np.interp(idx[m], idx[~m], v[~m])
            a, b = max(runs, key=lambda r: r[1] - r[0])
            filled[c] = int(m.sum())
            notes.append(f"gaps: filled {filled[c]} missing value(s) of {c} by linear interpolation ({len(runs)} "
                         f"gap(s), the longest {b - a} row(s) at rows {t.row(a + lo)}-{t.row(b - 1 + lo)}; at most "
                         f"--max-gap {max_gap} are filled)")
        out[c] = v
    return out, lo, max_gap, dict(filled, dropped_start=lo, dropped_end=t.rows - hi)


def trend_reason(v, train, val) -> str | None:
    """Why a column counts as trending (difference="auto"), or None: a straight line explains at
    least TREND_R2 of its variance over the training rows, or the validation rows' mean lies
    outside the training rows' range. The test rows are not looked at."""
    a, b = train
    y = np.asarray(v[a:b], np.float64)
    t = np.arange(len(y), dtype=np.float64)
    ss = float(((y - y.mean()) ** 2).sum())
    if ss > 0 and len(y) > 2:
        A = np.stack([t, np.ones_like(t)], 1)
        coef, *_ = np.linalg.lstsq(A, y, rcond=None)
        r2 = 1.0 - float(((y - A @ coef) ** 2).sum()) / ss
        if r2 >= TREND_R2:
            return f"a straight line explains {r2:.0%} of its variance over the training rows"
    m = float(np.mean(v[val[0]:val[1]]))
    if m < y.min() or m > y.max():
        return (f"the validation rows' mean {m:.6g} lies outside the training rows' range "
                f"[{y.min():.6g}, {y.max():.6g}]")
    return None


def difference_spec(t, spec, inputs, target, cols, blocks, notes) -> dict:
    d = spec.difference
    if isinstance(d, dict):
        bad = [c for c in d["inputs"] if c not in inputs]
        if bad or not isinstance(d["target"], bool):
            raise SeriesError(f"{t.path}: difference {d!r}: inputs must name input columns, target a boolean")
        return {"target": d["target"], "inputs": [c for c in inputs if c in d["inputs"]]}
    why = {c: trend_reason(cols[c], blocks["train"], blocks["val"]) for c in dict.fromkeys(inputs + [target])}
    if d == "auto":
        out = {"target": why[target] is not None, "inputs": [c for c in inputs if why[c] is not None]}
        if out["target"] or out["inputs"]:
            said = [f"target {target} ({why[target]})"] if out["target"] else []
            said += [f"input {c}" + (" (the target)" if c == target and out["target"] else f" ({why[c]})")
                     for c in out["inputs"]]
            notes.append(f"difference (auto): modelling the changes of {', '.join(said)}; the forecast of the "
                         f"level is the level at the input's row plus the predicted change (--difference none "
                         f"keeps the levels)")
        else:
            notes.append(f"difference (auto): none, no used column trends (a straight line explains less than "
                         f"{TREND_R2:.0%} of its training variance and the validation mean lies in the training range)")
        return out
    out = {"target": d in ("target", "all"), "inputs": list(inputs) if d == "all" else []}
    if not out["target"] and why[target] is not None:
        notes.append(f"note: the target {target} trends ({why[target]}); --difference auto models its changes, "
                     f"which usually forecasts a trending series better")
    return out
