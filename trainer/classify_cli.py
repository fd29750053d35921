"""The factorial's classification options (``python -m trainer factorial --labelled FILE`` or
``--task waves3``) and their run: trainer/classify_factorial.py."""
from __future__ import annotations

import os

from .errors import TrainerError


def add_options(f):
    """The classification options of `factorial` (trainer/cli.py calls this)."""
    from cfcbase.labelled import VAL_FRACTION, VAL_SEED
    from .classify import POOLINGS
    from .classify_factorial import POOLING
    f.add_argument("--labelled", default=None, metavar="FILE",
                   help="classify labelled windows instead of forecasting: the TRAIN file, a UCR/UEA .ts file "
                   "(@classLabel true ...) or an .npz with X [N, T, C], y [N] and classes [K]; pkg:PACKAGE/PATH names "
                   "a file inside an installed Python package (docs/model.md, 'Classification'). Defaults of a "
                   "classification task: teacher 600 epochs at LR 0.03, student 300 epochs, 2 coordinate-search "
                   "sweeps, refit 100 epochs (waves3: 300, 200, 2, 50); --out results/<problem name>/")
    f.add_argument("--labelled-test", default=None, metavar="FILE",
                   help="with --labelled: the TEST file (default: the TRAIN file's name with _TRAIN replaced by _TEST)")
    f.add_argument("--val-fraction", type=float, default=VAL_FRACTION, metavar="F",
                   help=f"with --labelled: the share of each class's TRAIN cases held out for validation, drawn with "
                   f"the fixed seed {VAL_SEED} (default: {VAL_FRACTION:g})")
    f.add_argument("--pooling", default=None, metavar="P",
                   help=f"a classifier's pooling of the hidden states into its logits: {' or '.join(POOLINGS)} (the "
                   f"state after the window's last step, or its mean over the window; default: {POOLING})")


def is_classification(a) -> bool:
    from cfcbase.labelled import CLASSIFY_TASKS
    return a.labelled is not None or a.task in CLASSIFY_TASKS


def factorial(a) -> int:
    """Run the classification factorial for the parsed `factorial` options ``a``."""
    from cfcbase.artifact_rules import data_path_problem
    from cfcbase.labelled import LabelledSpec, default_test_path, label, labelled_task
    from .classify_factorial import ClsSettings, run
    from .factorial import recorded_data_path
    if a.data is not None:
        raise TrainerError("--data (a series to forecast) and --labelled (windows to classify) exclude each other")
    if a.labelled is None and a.labelled_test is not None:
        raise TrainerError("--labelled-test needs --labelled (the TRAIN file)")
    cmd = ""
    if a.labelled is not None:
        test = a.labelled_test or default_test_path(a.labelled)
        if test is None:
            raise TrainerError(f"--labelled {a.labelled}: give --labelled-test (the name has no _TRAIN to make the "
                               f"TEST file's from)")
        if not (0 < a.val_fraction < 1):
            raise TrainerError(f"--val-fraction must be in (0, 1), got {a.val_fraction}")
        task = labelled_task(LabelledSpec(a.labelled, test, a.val_fraction))
        out = a.out or os.path.join("results", label(task).lower())
        for opt, v in (("--labelled", a.labelled), ("--labelled-test", test)):
            problem = data_path_problem(recorded_data_path(v, out), extension=False)   # what best.npz records
            if problem:
                raise TrainerError(f"{opt} {v}: {problem}")
        cmd = " ".join(["python -m trainer factorial --labelled", a.labelled]
                       + ([f"--labelled-test {a.labelled_test}"] if a.labelled_test else [])
                       + ([f"--val-fraction {a.val_fraction:g}"] if a.val_fraction != 0.2 else [])
                       + ([f"--pooling {a.pooling}"] if a.pooling else [])
                       + [f"--{k.replace('_', '-')} {getattr(a, k)}" for k in
                          ("epochs", "teacher_epochs", "cs_sweeps", "refit_epochs") if getattr(a, k) is not None]
                       + [f"--seeds {a.seeds}"] + ([f"--out {a.out}"] if a.out else []))
    else:
        task = a.task
    st = ClsSettings(task=task, seeds=a.seeds, epochs=a.epochs, teacher_epochs=a.teacher_epochs, lr=a.lr,
                     teacher_lr=a.teacher_lr, scheme=a.scheme, cs_sweeps=a.cs_sweeps, refit_epochs=a.refit_epochs,
                     jobs=a.jobs, out=a.out or os.path.join("results", label(task).lower()), command=cmd)
    if a.pooling is not None:
        st.pooling = a.pooling
    r = run(st)
    b = r["best"]
    print(f"{r['label']}: best ternary classifier {b['name']} seed {b['seed']}: test accuracy "
          f"{100 * b['test_acc']:.1f}% ({100 * b['acc_vs_teacher']:+.1f} points against its float teacher), "
          f"weights {b['weights_bytes']['total']} bytes; report in {st.out}")
    return 0


# ---- the sweep on a labelled file --------------------------------------------------------------

def add_sweep_options(sw):
    from cfcbase.labelled import VAL_FRACTION
    sw.add_argument("--labelled", default=None, metavar="FILE",
                    help="sweep a classifier of labelled windows: the TRAIN file (.ts or .npz, as for factorial "
                    "--labelled); the TEST file beside it (_TRAIN -> _TEST) or --labelled-test")
    sw.add_argument("--labelled-test", default=None, metavar="FILE", help="with --labelled: the TEST file")
    sw.add_argument("--val-fraction", type=float, default=VAL_FRACTION, metavar="F",
                    help=f"with --labelled: each class's validation share of the TRAIN cases (default: {VAL_FRACTION:g})")


def sweep_task(a) -> tuple:
    """(task, its directory name under results/) of the sweep's --task / --labelled."""
    from cfcbase.datafile import SeriesError
    from cfcbase.labelled import LabelledSpec, default_test_path, label, labelled_data, labelled_task
    if a.labelled is None:
        if a.labelled_test is not None:
            raise TrainerError("--labelled-test needs --labelled (the TRAIN file)")
        return a.task, a.task
    test = a.labelled_test or default_test_path(a.labelled)
    if test is None:
        raise TrainerError(f"--labelled {a.labelled}: give --labelled-test")
    if not (0 < a.val_fraction < 1):
        raise TrainerError(f"--val-fraction must be in (0, 1), got {a.val_fraction}")
    task = labelled_task(LabelledSpec(a.labelled, test, a.val_fraction))
    try:
        labelled_data(task)
    except SeriesError as e:
        raise TrainerError(str(e)) from None
    return task, label(task).lower()


def task_label(task) -> str:
    from cfcbase import tasks
    from cfcbase.labelled import is_labelled_task, label
    return label(task) if is_labelled_task(task) else tasks.label(task)
