"""--data and its options, the same for `factorial`, `sweep` and `frontier` (docs/model.md, "Your own
data"): the arguments (data_options) and the task they name (data_task)."""
from __future__ import annotations

import os

from .errors import TrainerError


def data_options(f):
    """--data and its options, the same for factorial and sweep (docs/model.md, "Your own data")."""
    from cfcbase.series import AUTO_SEQ_LEN, DIFFERENCE, GAPS, MIN_WINDOWS
    from cfcbase.series_prep import MAX_GAP_FRACTION, MAX_GAP_MIN, TREND_R2
    f.add_argument("--data", default=None, metavar="FILE",
                   help="train on your own time series instead of --task: a CSV with a header row, a .npy "
                   "([rows] or [rows, columns]; columns c0, c1, ...) or a .npz (one 1-D array per column), rows "
                   "evenly spaced in time; pkg:PACKAGE/PATH names a file inside an installed Python package "
                   "(docs/model.md, 'Your own data')")
    f.add_argument("--inputs", default=None, metavar="COLS",
                   help="with --data: comma-separated input columns (default: the target if --target is given, "
                   "else the first column of numbers that is not a time stamp: columns of text such as dates or "
                   "labels, and columns that never decrease, such as a year, are skipped, and a line says which)")
    f.add_argument("--target", default=None, metavar="COL",
                   help="with --data: the column to forecast (default: the first input)")
    f.add_argument("--horizon", type=int, default=1, metavar="K",
                   help="with --data: forecast the target K rows ahead of the inputs (default: 1)")
    f.add_argument("--seq-len", type=int, default=None, metavar="T",
                   help="with --data: steps per window; train/val/test are contiguous blocks cut into "
                   "non-overlapping windows (default: chosen from the series: the largest T in "
                   f"{AUTO_SEQ_LEN[0]}..{AUTO_SEQ_LEN[1]} that gives at least {MIN_WINDOWS[0]} training, "
                   f"{MIN_WINDOWS[1]} validation and {MIN_WINDOWS[2]} test windows, else the largest that gives "
                   "each split one window; training needs at least 15)")
    f.add_argument("--fractions", default="0.7,0.15,0.15", metavar="A,B,C",
                   help="with --data: train, validation, test shares of the rows, in time order "
                   "(default: 0.7,0.15,0.15)")
    f.add_argument("--gaps", default="interpolate", choices=GAPS,
                   help="with --data: missing values (empty cells, NaN) in the used columns. interpolate: rows "
                   "before the first and after the last complete row are dropped, and inner gaps of at most "
                   "--max-gap consecutive rows are filled by linear interpolation (a longer gap is refused, naming "
                   "its rows); refuse: any missing value is refused (default: interpolate)")
    f.add_argument("--max-gap", type=int, default=None, metavar="N",
                   help=f"with --gaps interpolate: the longest run of missing rows filled (default: {MAX_GAP_MIN}, or "
                   f"{MAX_GAP_FRACTION:.0%}% of the rows when that is more)")
    f.add_argument("--difference", default="auto", choices=DIFFERENCE,
                   help="with --data: model the changes of a trending series instead of its levels. none: levels; "
                   "target: the model forecasts the target's change over the horizon (the level forecast is the "
                   "level at the input's row plus it); all: also every input as its change from the previous row; "
                   f"auto: the target and each input that trends (a straight line explains at least {TREND_R2:.0%}% "
                   "of its variance over the training rows, or the validation rows' mean lies outside the training "
                   "range), with a line saying which and why. Errors are reported in the target's units either way "
                   "(default: auto)")


def data_task(a, sweep=False):
    """(task name, default --out, the command that regenerates it) of --data and its options. The
    file is read here, once: the defaults (columns, seq-len, gaps, differencing) are resolved and
    the task's name carries them, so worker processes rebuild the same data from it."""
    from cfcbase.artifact_rules import data_path_problem
    from cfcbase.series import SeriesError, SeriesSpec
    from cfcbase.tasks import resolve_data_task
    from .factorial import recorded_data_path
    try:
        fr = tuple(float(v) for v in a.fractions.split(","))
    except ValueError:
        raise TrainerError(f"--fractions: three comma-separated numbers expected, got {a.fractions!r}") from None
    inputs = tuple(c.strip() for c in a.inputs.split(",")) if a.inputs else ()
    stem = os.path.splitext(os.path.basename(a.data))[0] or "data"
    out = a.out or os.path.join("results", stem, *(["sweep"] if sweep else []))
    # what best.npz will record (docs/artifact.md), checked now rather than after the training
    problem = data_path_problem(recorded_data_path(a.data, out), extension=False)   # cfcbase.series: the extension
    if problem:
        raise TrainerError(f"--data {a.data}: {problem}")
    spec = SeriesSpec(a.data, inputs, a.target, a.horizon, a.seq_len, fr, a.gaps, a.max_gap, a.difference)
    try:
        task, _ = resolve_data_task(spec)
    except SeriesError as e:
        raise TrainerError(str(e)) from None
    given = [("--inputs", ",".join(inputs) if inputs else None), ("--target", a.target),
             ("--horizon", a.horizon if a.horizon != 1 else None), ("--seq-len", a.seq_len),
             ("--fractions", a.fractions if fr != (0.7, 0.15, 0.15) else None),
             ("--gaps", a.gaps if a.gaps != "interpolate" else None), ("--max-gap", a.max_gap),
             ("--difference", a.difference if a.difference != "auto" else None)]
    if not sweep:
        given += [(f"--{k.replace('_', '-')}", getattr(a, k)) for k in ("epochs", "teacher_epochs", "cs_sweeps",
                                                                         "refit_epochs")]
    cmd = " ".join([f"python -m trainer {'sweep' if sweep else 'factorial'} --data", a.data]
                   + [f"{k} {v}" for k, v in given if v is not None]
                   + ([] if sweep else [f"--seeds {a.seeds}"]) + ([f"--out {a.out}"] if a.out else []))
    return task, out, cmd
