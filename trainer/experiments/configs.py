"""The factorial's configurations and training defaults: per task its two widths, the 2x2x2 table,
the config names, its epochs and learning rates (task_defaults). The factorial
(trainer/experiments/factorial.py), its CLI and the sweep's knob defaults
(trainer/experiments/sweep/grid.py) read them here."""
from __future__ import annotations

STUDENT_LR = 1e-2          # the students' Adam learning rate (factorial --lr, sweep knob lr)
SCHEME = "coupled"         # per-row scale scheme of the students (trainer/model/quant.py)
TRANSIENT_WEIGHT = 0.0     # student/CS task-loss weight of a forecast's steps t < WASHOUT
# Windows per minibatch (factorial --batch): 32, measured at N = 2,000 labelled windows against 128
# and 512 (docs/training.md, "Time"); the epoch counts below are sized for it.
BATCH = 32

# Per-task defaults (by the task's preset: cfcbase.task.Task.preset), sized for the < 5 minute
# budget on 2 cores. An epoch is one pass over the training set in minibatches of 32 windows:
# sine (32 sequences) takes one optimizer step per epoch, sine-mix (128) four, so its epoch counts
# are a quarter. The sine-mix teachers learn at 3e-2: at 1e-2 and 375 epochs they stopped at
# 1.33e-3 (H=16) / 6.96e-4 (H=32) test washout MSE, at 3e-2 they reach 7.6e-4 / 4.7e-4 in the
# same time (docs/training.md, "Teacher quality"). A user's series (data) is sized like
# sine-mix (its epochs too: a few hundred windows). A classifier (docs/training.md,
# "Classification"): widths 8 and 16 (both under 1 kB of weights), teachers at LR 3e-2 (1e-2 left
# them at 70-85 % on BasicMotions after 300 epochs), 600 epochs; students 300 epochs at 1e-2.
TASK_DEFAULTS = {
    "sine": {"widths": (16, 32), "teacher_epochs": 1500, "epochs": 600, "cs_sweeps": 10, "refit_epochs": 200,
             "teacher_lr": 1e-2},
    "sine-mix": {"widths": (16, 32), "teacher_epochs": 375, "epochs": 300, "cs_sweeps": 3, "refit_epochs": 50,
                 "teacher_lr": 3e-2},
    "labelled": {"widths": (8, 16), "teacher_epochs": 600, "teacher_lr": 3e-2, "epochs": 300, "cs_sweeps": 2,
                 "refit_epochs": 100},
    "waves3": {"widths": (8, 16), "teacher_epochs": 300, "teacher_lr": 3e-2, "epochs": 200, "cs_sweeps": 2,
               "refit_epochs": 50},
}
TASK_DEFAULTS["data"] = dict(TASK_DEFAULTS["sine-mix"])
WIDTHS = TASK_DEFAULTS["sine"]["widths"]        # the pinned forecasts' widths (the README's factorial)
TRAINING_KEYS = ("teacher_epochs", "epochs", "cs_sweeps", "refit_epochs", "teacher_lr")


# The default epochs are sized for training sets of up to REF_WINDOWS windows (every committed
# task has 32 .. 216). A larger set keeps the number of windows a run sees: its default epochs are
# E x REF_WINDOWS / N (at least 1). A classifier's teacher then sees 300,000 windows (9,400
# optimizer steps of 32), more steps than any committed classifier's (JapaneseVowels: 4,200), and
# one job pair takes the same time at any N above REF_WINDOWS (`python -m trainer bench --scale`,
# docs/training.md "Time and memory"). Epochs given on the command line are kept.
REF_WINDOWS = 500
EPOCH_KEYS = ("teacher_epochs", "epochs", "refit_epochs")


def epochs_for(epochs: int, n_train: int) -> int:
    """A default epoch count for a training set of n_train windows (REF_WINDOWS above)."""
    return epochs if n_train <= REF_WINDOWS else max(1, round(epochs * REF_WINDOWS / n_train))


# Training budgets (factorial and frontier --budget): a factor on the default epochs of the
# students (ternary QAT, int8 QAT where it runs) and of the refit; the teachers keep theirs. quick,
# the default, is what the README's pipeline runs. full is 16: measured on sine-mix (5 paired
# seeds, `results/sine-mix/sweep-length/`), 300 -> 1,200 -> 4,800 student epochs take the ternary
# student from 1.81x to 1.44x to 1.16x its float teacher at H = 32 (1.79x / 1.40x / 1.20x at 16,
# 2.01x / 1.43x / 1.20x at 64), every step significant; on Daphnet the students are within
# 1.05-1.14x of their teachers at the quick budget already (docs/training.md, "Training length").
BUDGETS = {"quick": 1, "full": 16}
BUDGET_KEYS = ("epochs", "refit_epochs")


def task_defaults(task, budget: str = "quick") -> dict:
    """The factorial's epochs, coordinate-search sweeps and teacher LR for a task (cfcbase.task.Task),
    the students' and the refit's epochs times the budget's factor (BUDGETS)."""
    f = BUDGETS[budget]
    return {k: v * f if k in BUDGET_KEYS else v for k, v in TASK_DEFAULTS[task.preset].items() if k in TRAINING_KEYS}


def widths(task) -> tuple:
    """The factorial's two widths for a task."""
    return TASK_DEFAULTS[task.preset]["widths"]


def configs(widths_) -> dict:
    """config number -> (shaped STE, trajectory distillation, width): config 1 = vanilla STE, no
    distillation, the narrower width; bit 0 shaped, bit 1 distillation, bit 2 the wider width
    (docs/training.md)."""
    return {i + 1: (bool(i & 1), bool((i >> 1) & 1), widths_[(i >> 2) & 1]) for i in range(8)}


CONFIGS = configs(WIDTHS)


def config_name(shaped, distill, H):
    return f"{'shaped' if shaped else 'ste'}+{distill or 'none'}+H{H}"
