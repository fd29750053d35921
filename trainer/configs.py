"""The factorial's configurations and training defaults: widths, the 2x2x2 table, the config
names, the per-task epochs and learning rates. The factorial (trainer/factorial.py), its CLI
and the sweep's knob defaults (trainer/sweep/grid.py) read them here."""
from __future__ import annotations

from cfcbase import tasks

WIDTHS = (16, 32)
# The shaped STE's window sharpness beta over the optimizer steps, (start, end), linear in
# between: a constant 20. The sweeps (docs/training.md) found an annealing 1 -> 20 (the sweep's
# beta_schedule=linear) not reliably better than the vanilla STE, and a constant beta ahead of
# annealing on both tasks.
SHAPED_BETA = (20.0, 20.0)
# config number -> (shaped STE, trajectory distillation, width): config 1 = vanilla STE, no
# distillation, H = 16; bit 0 shaped, bit 1 distillation, bit 2 the wider H (docs/training.md)
CONFIGS = {i + 1: (bool(i & 1), bool((i >> 1) & 1), WIDTHS[(i >> 2) & 1]) for i in range(8)}

STUDENT_LR = 1e-2          # the students' Adam learning rate (factorial --lr, sweep knob lr)
SCHEME = "coupled"         # per-row scale scheme of the students (trainer/quant.py)
TRANSIENT_WEIGHT = 0.0     # student/CS task-loss weight of steps t < WASHOUT

# Per-task defaults, sized for the < 5 minute budget on 2 cores. An epoch is one pass over
# the training set in minibatches of 32 sequences: sine (32 sequences) takes one optimizer
# step per epoch, sine-mix (128) four, so its epoch counts are a quarter. The sine-mix
# teachers learn at 3e-2: at 1e-2 and 375 epochs they stopped at 1.33e-3 (H=16) / 6.96e-4
# (H=32) test washout MSE, at 3e-2 they reach 7.6e-4 / 4.7e-4 in the same time
# (docs/training.md, "Teacher quality").
TASK_DEFAULTS = {"sine": {"teacher_epochs": 1500, "epochs": 600, "cs_sweeps": 10, "refit_epochs": 200,
                          "teacher_lr": 1e-2},
                 "sine-mix": {"teacher_epochs": 375, "epochs": 300, "cs_sweeps": 3, "refit_epochs": 50,
                              "teacher_lr": 3e-2}}
# A user's series (--data): sized like sine-mix (its epochs too: a few hundred windows).
TASK_DEFAULTS["data"] = dict(TASK_DEFAULTS["sine-mix"])


def task_defaults(task):
    """The factorial's epochs, coordinate-search sweeps and teacher LR for a task (TASK_DEFAULTS;
    a classification task: trainer/classify_factorial.py's)."""
    from cfcbase.labelled import is_classify_task
    if is_classify_task(task):                       # [classification hook]
        from .classify_factorial import task_defaults as classify_defaults
        return classify_defaults(task)
    return TASK_DEFAULTS["data" if tasks.is_data_task(task) else task]


def config_name(shaped, distill, H):
    return f"{'shaped' if shaped else 'ste'}+{distill or 'none'}+H{H}"
