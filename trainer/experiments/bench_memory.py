"""``python -m trainer bench --memory N,N,...``: the peak memory of training against the number of
windows, and the rate per window docs/training.md ("Memory") states. ``--scale N,N,...``: the time
of one job pair at the factorial's default epochs for N windows (configs.epochs_for), and its
seconds per epoch.

For each N, a fresh process trains what one factorial job pair trains (the float teacher of one
width and seed, then that seed's stack of students of that width, trainer.experiments.factorial's
job_teachers and job_students) on N labelled windows of T steps and C channels (random values,
two classes, written as a labelled .npz; a tenth of them for validation, as many again for the
test file) and reports its peak resident memory (getrusage). The line after the table is the
least-squares slope of peak memory in N, beside the stated rate.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from cfcbase.labelled import LabelledSpec
from cfcbase.tasks import labelled_task

from ..model.heads import train_head
from .configs import SCHEME, STUDENT_LR, TASK_DEFAULTS, epochs_for
from .factorial import job_students, job_teachers

EPOCHS = 1                                # each job's epochs: memory, not accuracy, is measured


def stated_rate(T: int, C: int, H: int, M: int) -> int:
    """Bytes of memory per training window that docs/training.md states: the window's inputs in
    float64 (read, scaled, time-major, and the minibatch's copy: 4 x 8 T C) and the teachers' states
    the students match in trajectory distillation (8 T M H)."""
    return 4 * 8 * T * C + 8 * T * M * H


def _child(path, H, out):
    """Runs in the child process (`python -c`, importing this module through the trainer package,
    which pins the numerics first): the two jobs on the labelled file ``path``; writes its peak RSS."""
    head = train_head(labelled_task(LabelledSpec(path, path.replace("_TRAIN", "_TEST"), 0.1)))
    t = job_teachers(head, H, (0,), EPOCHS, 3e-2)
    s = job_students(head, H, 0, t["flat"][0], EPOCHS, STUDENT_LR, SCHEME, 1.0)
    with open(out, "w") as f:
        json.dump({"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "M": len(s) - 1}, f)   # - PTQ


def _child_time(path, H, out):
    """Runs in the child process: the job pair at the classifier defaults for this N; writes the
    epochs and wall seconds of each job."""
    head = train_head(labelled_task(LabelledSpec(path, path.replace("_TRAIN", "_TEST"), 0.1)))
    n = len(head.task.split("train")[0])
    d = TASK_DEFAULTS["labelled"]
    te, se = epochs_for(d["teacher_epochs"], n), epochs_for(d["epochs"], n)
    t0 = time.perf_counter()
    t = job_teachers(head, H, (0,), te, d["teacher_lr"])
    t1 = time.perf_counter()
    s = job_students(head, H, 0, t["flat"][0], se, STUDENT_LR, SCHEME, 1.0)
    t2 = time.perf_counter()
    with open(out, "w") as f:
        json.dump({"n_train": n, "teacher_epochs": te, "teacher_s": t1 - t0, "student_epochs": se,
                   "student_s": t2 - t1, "M": len(s) - 1}, f)


def run_time(sizes, T=128, C=9, H=16, log=print) -> list:
    """Per N: one job pair (a teacher, then its stack of students) at the factorial's default epochs
    for a classifier of N windows (a tenth held out for validation), each in a fresh process on
    one core; the wall time of each job and its seconds per epoch."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="trix-scale-") as d:
        for N in sizes:
            g = _in_fresh_process("_child_time", d, N, T, C, H)
            rows.append((N, g))
            log(f"N={N:<6d} ({g['n_train']} training windows of {T} steps x {C} channels, H={H}): teacher "
                f"{g['teacher_epochs']} epochs {g['teacher_s']:7.1f} s ({g['teacher_s'] / g['teacher_epochs']:.2f} "
                f"s/epoch), {g['M']} students {g['student_epochs']} epochs {g['student_s']:7.1f} s "
                f"({g['student_s'] / g['student_epochs']:.2f} s/epoch); the pair {g['teacher_s'] + g['student_s']:.1f} s")
    return rows


def _in_fresh_process(child: str, d: str, N: int, T: int, C: int, H: int) -> dict:
    """Writes N labelled windows (and a test file of a tenth as many) into d, runs the function
    ``child`` of this module on them in a fresh interpreter (the trainer package pins the numerics
    first) and returns what it wrote."""
    train = os.path.join(d, f"{child}{N}_TRAIN.npz")
    _write(train, N, T, C, 0)
    _write(train.replace("_TRAIN", "_TEST"), max(2, N // 10), T, C, 1)
    out = os.path.join(d, f"{child}{N}.json")
    r = subprocess.run([sys.executable, "-c", f"from trainer.experiments.bench_memory import {child}; "
                        f"{child}({train!r}, {H}, {out!r})"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"N = {N}: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    with open(out) as f:
        return json.load(f)


def _write(path, N, T, C, seed):
    rng = np.random.default_rng(seed)
    y = np.arange(N) % 2
    x = rng.normal(size=(N, T, C)) + y[:, None, None]
    np.savez(path, X=x, y=y, classes=np.array(["a", "b"]))


def run(sizes, T=128, C=9, H=16, log=print) -> list:
    rows = []
    with tempfile.TemporaryDirectory(prefix="trix-memory-") as d:
        for N in sizes:
            got = _in_fresh_process("_child", d, N, T, C, H)
            rows.append((N, got["peak_kib"] * 1024, got["M"]))
            log(f"N={N:<6d} windows of {T} steps x {C} channels, H={H}: peak {got['peak_kib'] / 1024:8.1f} MiB "
                f"(a teacher, then {got['M']} students)")
    if len(rows) >= 2:
        n = np.array([r[0] for r in rows], float)
        peak = np.array([r[1] for r in rows], float)
        slope = float(np.polyfit(n, peak, 1)[0])
        M = rows[0][2]
        log(f"peak memory grows by {slope / 1024:.1f} KiB per training window (least squares over N = "
            f"{', '.join(str(r[0]) for r in rows)}); the stated rate 4 x 8 T C + 8 T M H = "
            f"{stated_rate(T, C, H, M) / 1024:.1f} KiB (T = {T}, C = {C}, M = {M} students, H = {H})")
    return rows
