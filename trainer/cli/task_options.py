"""The options that name a task, the same for `factorial`, `sweep` and `frontier` (docs/model.md):
--task (a built-in one), --data and its options (a user's series), --labelled and its options
(labelled windows to classify), and the one place that turns them into a cfcbase task (task_of).
The files are read there, once: the task carries its data to every worker.
"""
from __future__ import annotations

from dataclasses import dataclass

from cfcbase.labelled import VAL_FRACTION, VAL_SEED, LabelledSpec, default_test_path
from cfcbase.rules import data_path_problem
from cfcbase.series import AUTO_SEQ_LEN, DEFAULT_FRACTIONS, DIFFERENCE, GAPS, MIN_WINDOWS, SeriesSpec
from cfcbase.series_prep import MAX_GAP_FRACTION, MAX_GAP_MIN, TREND_R2
from cfcbase.table import recorded_path
from cfcbase.tasks import BUILTIN, builtin, labelled_task, series_task

from ..errors import TrainerError
from ..model.heads import POOLING, POOLINGS


def task_options(f, default="sine", what="factorial"):
    """--task, --data and its options, --labelled and its options, --pooling."""
    f.add_argument("--task", default=default, metavar="TASK",
                   help=f"a built-in task: one of {', '.join(BUILTIN)} (waves3 is a classification task; "
                   f"default: {default})")
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
    f.add_argument("--fractions", default=",".join(f"{v:g}" for v in DEFAULT_FRACTIONS), metavar="A,B,C",
                   help="with --data: train, validation, test shares of the rows, in time order "
                   f"(default: {','.join(f'{v:g}' for v in DEFAULT_FRACTIONS)})")
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
    f.add_argument("--labelled", default=None, metavar="FILE",
                   help="classify labelled windows instead of forecasting: the TRAIN file, a UCR/UEA .ts file "
                   "(@classLabel true ...) or an .npz with X [N, T, C], y [N] and classes [K]; pkg:PACKAGE/PATH names "
                   "a file inside an installed Python package (docs/model.md, 'Classification'); --out defaults to "
                   "results/<problem name>/")
    f.add_argument("--labelled-test", default=None, metavar="FILE",
                   help="with --labelled: the TEST file (default: the TRAIN file's name with _TRAIN replaced by _TEST)")
    f.add_argument("--val-fraction", type=float, default=VAL_FRACTION, metavar="F",
                   help=f"with --labelled: the share of each class's TRAIN cases held out for validation, drawn with "
                   f"the fixed seed {VAL_SEED} (default: {VAL_FRACTION:g})")
    f.add_argument("--pooling", default=None, metavar="P",
                   help=f"a classifier's pooling of the hidden states into its logits: {' or '.join(POOLINGS)} (the "
                   f"state after the window's last step, or its mean over the window; default: {POOLING})")


def _series(a):
    try:
        fr = tuple(float(v) for v in a.fractions.split(","))
    except ValueError:
        raise TrainerError(f"--fractions: three comma-separated numbers expected, got {a.fractions!r}") from None
    inputs = tuple(c.strip() for c in a.inputs.split(",")) if a.inputs else ()
    if a.max_gap is not None and a.max_gap < 0:
        raise TrainerError(f"--max-gap must be at least 0, got {a.max_gap}")
    task = series_task(SeriesSpec(a.data, inputs, a.target, a.horizon, a.seq_len, fr, a.gaps, a.max_gap, a.difference))
    given = [("--inputs", ",".join(inputs) if inputs else None), ("--target", a.target),
             ("--horizon", a.horizon if a.horizon != 1 else None), ("--seq-len", a.seq_len),
             ("--fractions", a.fractions if fr != DEFAULT_FRACTIONS else None),
             ("--gaps", a.gaps if a.gaps != "interpolate" else None), ("--max-gap", a.max_gap),
             ("--difference", a.difference if a.difference != "auto" else None)]
    return task, ["--data", a.data] + [f"{k} {v}" for k, v in given if v is not None]


def _labelled(a):
    test = a.labelled_test or default_test_path(a.labelled)
    if test is None:
        raise TrainerError(f"--labelled {a.labelled}: give --labelled-test (the name has no _TRAIN to make the "
                           f"TEST file's from)")
    if not (0 < a.val_fraction < 1):
        raise TrainerError(f"--val-fraction must be in (0, 1), got {a.val_fraction}")
    task = labelled_task(LabelledSpec(a.labelled, test, a.val_fraction))
    given = [("--labelled-test", a.labelled_test), ("--val-fraction", f"{a.val_fraction:g}" if a.val_fraction != VAL_FRACTION else None)]
    return task, ["--labelled", a.labelled] + [f"{k} {v}" for k, v in given if v is not None]


@dataclass(frozen=True)
class Source:
    """An option that names a user's data instead of --task, its own options (default None: given
    or not) and how they make the task."""
    dest: str
    what: str
    options: tuple
    make: object                  # (parsed options) -> (task, argv)

    @property
    def flag(self):
        return "--" + self.dest.replace("_", "-")


SOURCES = (Source("data", "a series to forecast", ("inputs", "target", "seq_len", "max_gap"), _series),
           Source("labelled", "windows to classify", ("labelled_test",), _labelled))


def task_of(a, sub: str = ""):
    """(the task, its default --out, the options that name it for a regenerating command) of the
    parsed options ``a``; ``sub``: a subdirectory of the task's results (sweep, frontier). The files
    are read here (SeriesError: one TrainerError line, before anything is written); what the
    artifact will record of them is checked now rather than after the training."""
    given = [src for src in SOURCES if getattr(a, src.dest) is not None]
    if len(given) > 1:
        raise TrainerError(" and ".join(f"{src.flag} ({src.what})" for src in given) + " exclude each other")
    for src in SOURCES:
        stray = [o for o in src.options if getattr(a, o, None) is not None] if src not in given else []
        if stray:
            raise TrainerError(f"--{stray[0].replace('_', '-')} is an option of {src.flag} ({src.what})")
    try:
        task, argv = given[0].make(a) if given else (builtin(a.task), ["--task", a.task])
    except ValueError as e:                 # SeriesError, or an unknown built-in task
        raise TrainerError(str(e)) from None
    out = a.out or (task.default_out() + (f"/{sub}" if sub else ""))
    for p in task.files():
        problem = data_path_problem(recorded_path(p, out), extension=False)    # what best.npz records
        if problem:
            raise TrainerError(f"{p}: {problem}")
    if a.pooling is not None:
        argv.append(f"--pooling {a.pooling}")
    return task, out, argv
