"""`python -m trainer frontier`: its options and its run (the frontier itself:
trainer/experiments/frontier.py)."""
from __future__ import annotations

import os

from ..errors import TrainerError
from ..experiments.configs import BUDGETS
from ..experiments.configs import TASK_DEFAULTS as TD
from ..experiments.frontier import (INT8_WIDTHS, TARGETS, TERNARY_SET, TERNARY_WIDTHS, FrontierSettings,
                                    run)
from ..experiments.sweep import parse_settings
from ..reports.frontier_report import score_of
from .task_options import task_of, task_options


def frontier_options(f):
    """The options of `python -m trainer frontier` (trainer/cli's table of commands)."""
    per = lambda k: ", ".join(f"{t} {TD[t][k]}" for t in TD)  # noqa: E731
    task_options(f, default="sine-mix")
    f.add_argument("--seeds", type=int, default=5, metavar="N",
                   help="paired seeds 0..N-1 of every point (default: 5)")
    f.add_argument("--ternary", default=",".join(map(str, TERNARY_WIDTHS)), metavar="H,H,...",
                   help=f"widths of the ternary students (default: {','.join(map(str, TERNARY_WIDTHS))})")
    f.add_argument("--int8", default=",".join(map(str, INT8_WIDTHS)), metavar="H,H,...",
                   help=f"widths of the int8 models (default: {','.join(map(str, INT8_WIDTHS))}); float teachers are "
                   "trained at every width of both lists")
    f.add_argument("--epochs", type=int, default=None, metavar="N",
                   help=f"ternary student and int8 QAT epochs (default: the factorial's, {per('epochs')})")
    f.add_argument("--teacher-epochs", type=int, default=None, metavar="N",
                   help=f"float teacher epochs (default: the factorial's, {per('teacher_epochs')})")
    f.add_argument("--budget", choices=tuple(BUDGETS), default="quick",
                   help="training budget of both formats: the default student epochs (ternary, int8 QAT) times "
                        + ", ".join(f"{k} {v}" for k, v in BUDGETS.items()) + " (default: quick)")
    f.add_argument("--teacher-lr", type=float, default=None, metavar="X",
                   help=f"teacher Adam LR (default: the factorial's, {per('teacher_lr')})")
    f.add_argument("--ternary-set", action="append", default=None, metavar="KNOB=V",
                   help="a sweep knob of the ternary students' training (repeatable; docs/sweep.md), e.g. thr=learned "
                   f"(default: {' '.join(f'{k}={v}' for k, v in TERNARY_SET.items())}, the factorial's shaped STE)")
    f.add_argument("--targets", default=",".join(TARGETS), metavar="T,T,...",
                   help=f"bare-metal targets to build and measure each point on under QEMU: flash, RAM, instructions "
                   f"per cell step (default: {','.join(TARGETS)}; `python -m host verify --help` lists the targets)")
    f.add_argument("--no-qemu", action="store_true",
                   help="train and report the MSEs and bytes only: no firmware build, no QEMU measurement")
    f.add_argument("--out", default=None, metavar="DIR",
                   help="output directory; its jobs/ subdirectory caches every finished job, so a rerun computes only "
                   "what is missing (default: results/<task>/frontier, with --data results/<file name>/frontier)")
    f.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="worker processes for the training jobs; results do not depend on it (default: os.cpu_count())")
    f.add_argument("--stack", type=int, default=5, metavar="N",
                   help="seeds trained side by side in one job (default: 5)")
    f.add_argument("--build-dir", default=None, metavar="DIR",
                   help="root of the firmware build trees (default: build/ of the checkout, as host verify)")


def _widths(name, v):
    try:
        return tuple(int(h) for h in v.split(","))
    except ValueError:
        raise TrainerError(f"{name}: comma-separated integers expected, got {v!r}") from None


def run_frontier(a) -> int:
    """Run the frontier for the parsed options ``a`` (trainer/experiments/frontier.py)."""
    task, out, argv = task_of(a, "frontier")
    command = " ".join(["python -m trainer frontier"] + argv + [f"--seeds {a.seeds}"]
                       + [f"--{k.replace('_', '-')} {getattr(a, k)}" for k in ("epochs", "teacher_epochs")
                          if getattr(a, k) is not None])
    if a.budget != "quick":
        command += f" --budget {a.budget}"
    ternary_set = parse_settings(a.ternary_set or ["ste=shaped"], "--ternary-set")
    if a.ternary_set:
        command += "".join(f" --ternary-set {x}" for x in a.ternary_set)
    ternary, int8 = _widths("--ternary", a.ternary), _widths("--int8", a.int8)
    if a.ternary != "8,16,32,64":
        command += f" --ternary {a.ternary}"
    if a.int8 != "4,8,16,32":
        command += f" --int8 {a.int8}"
    if a.workers < 1 or a.stack < 1 or a.seeds < 1:
        raise TrainerError("--workers, --stack and --seeds must be positive")
    for k in ("epochs", "teacher_epochs"):
        if getattr(a, k) is not None and getattr(a, k) < 1:
            raise TrainerError(f"--{k.replace('_', '-')} must be positive, got {getattr(a, k)}")
    st = FrontierSettings(task=task, seeds=a.seeds, ternary=ternary, int8=int8, epochs=a.epochs, budget=a.budget,
                          teacher_epochs=a.teacher_epochs, teacher_lr=a.teacher_lr, ternary_set=ternary_set,
                          targets=tuple(t for t in a.targets.split(",") if t), qemu=not a.no_qemu,
                          out=out, workers=a.workers, stack=a.stack, command=command,
                          build_root=a.build_dir)
    r = run(st)
    for q in r["equal_bytes"]:
        print(f"{r['label']}: ternary H={q['ternary_H']} ({q['ternary_bytes']} B) / int8 H={q['int8_H']} "
              f"({q['int8_bytes']} B): {score_of(r).comparison(q)}")
    print(f"report in {st.out}/frontier.md")
    return 0
