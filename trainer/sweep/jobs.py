"""The sweep's jobs and their keys: a job is a pure function of its settings, and its key
hashes those settings with the source of the code that computes it.

  teacher job  (task, H, teacher_epochs, teacher_lr, seeds)  -> float teachers' parameters
  student job  (task, the cell's settings, seeds)            -> the students' metrics

The functions are top-level: picklable for process pools and Ray.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from cfcbase import tasks

from .. import train
from ..workers import THREAD_ENV
from .grid import canonical, schedules

SCHEMA = 1
# the modules whose source decides a job's numbers (with the job functions' own source:
# CODE_FUNCTIONS); editing the reports or the CLI keeps the cache
CODE_FILES = ("trainer/cell.py", "trainer/quant.py", "trainer/train.py", "trainer/optim.py", "cfcbase/cell.py",
              "cfcbase/tasks.py", "trainer/int8.py")


def _quiet():
    for k, v in THREAD_ENV.items():
        os.environ.setdefault(k, v)
    np.seterr(all="ignore")


def job_teacher(task: str, H: int, epochs: int, lr: float, seeds: tuple) -> dict:
    _quiet()
    p, _ = train.train_teachers(task, H, list(seeds), epochs=epochs, lr=lr)
    return {"flat": p.flat.copy(), "metrics": train.evaluate(train.effective(p), task)}


def job_student(task: str, s: dict, seeds: tuple, teacher_flat) -> dict:
    _quiet()
    teacher = train.Params(s["H"], len(seeds), tasks.n_inputs(task), flat=np.asarray(teacher_flat))
    alpha, beta = schedules(s)
    distill = None if s["distill"] == "none" else s["distill"]
    M = len(seeds)
    p, infos, _ = train.train_students(task, teacher, [s["ste"] == "shaped"] * M, [distill] * M,
                                       epochs=s["epochs"], lr=s["lr"], beta=beta, alpha=alpha,
                                       beta_zero=s["beta_zero"], transient_w=0.0,
                                       thr_learn=s["thr"] == "learned", damp=s["damp"], inq=s["inq"])
    ev = train.evaluate(train.effective(p, "coupled"), task)
    return {"metrics": [{**e, **i} for e, i in zip(ev, infos)]}


CODE_FUNCTIONS = (schedules, canonical, job_teacher, job_student)


def code_fingerprint(root: Path | None = None) -> str:
    """A hash of CODE_FILES under root (default: where the packages are installed) and of the
    source of the functions in CODE_FUNCTIONS."""
    import inspect  # noqa: PLC0415
    root = Path(root or Path(__file__).resolve().parents[2])
    h = hashlib.sha256()
    for name in CODE_FILES:
        h.update(name.encode() + b"\0" + (root / name).read_bytes())
    for fn in CODE_FUNCTIONS:
        h.update(inspect.getsource(fn).encode())
    return h.hexdigest()[:16]


def job_key(kind: str, settings: dict, code: str) -> str:
    """A job's name in the store: a hash of its kind, its settings and the code fingerprint."""
    blob = json.dumps({"kind": kind, "schema": SCHEMA, "code": code, **settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]
