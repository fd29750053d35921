"""The sweep's jobs and their keys: a job is a pure function of its settings, and its key
hashes those settings with the source of the code that computes it.

  teacher job  (the task's key, H, teacher_epochs, teacher_lr, seeds)  -> float teachers' parameters
  student job  (the task's key, the cell's settings, seeds)            -> the students' metrics

The functions are top-level: picklable for process pools and Ray. They take the task's training
head (trainer.model.heads), which crosses to the workers with the task and its data.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
from pathlib import Path

import numpy as np

from ...model import train
from ...model.params import Params
from cfcbase.numerics import THREAD_ENV
from .grid import canonical, schedules

SCHEMA = 2
# the modules whose source decides a job's numbers (with the job functions' own source:
# CODE_FUNCTIONS): the training and the tasks' data; editing the reports or the CLI keeps the cache
CODE_FILES = ("trainer/model/cell.py", "trainer/model/quant.py", "trainer/model/train.py", "trainer/model/optim.py",
              "trainer/model/params.py", "trainer/model/heads.py", "trainer/model/int8.py", "cfcbase/cell.py",
              "cfcbase/metrics.py", "cfcbase/task.py", "cfcbase/tasks.py", "cfcbase/series.py",
              "cfcbase/series_prep.py", "cfcbase/series_task.py", "cfcbase/labelled.py", "cfcbase/labelled_files.py",
              "cfcbase/labelled_task.py", "cfcbase/datafile.py", "cfcbase/datafile_csv.py", "cfcbase/datafile_numpy.py",
              "cfcbase/table.py")


def _quiet():
    for k, v in THREAD_ENV.items():
        os.environ.setdefault(k, v)
    np.seterr(all="ignore")


def scalars(m: dict) -> dict:
    """The numbers of a metrics record (a classifier's confusion matrix is not a job's metric)."""
    return {k: v for k, v in m.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def job_teacher(head, H: int, epochs: int, lr: float, seeds: tuple) -> dict:
    _quiet()
    p, _ = train.train_teachers(head, H, list(seeds), epochs=epochs, lr=lr)
    return {"flat": p.flat.copy(), "metrics": [scalars(m) for m in train.evaluate(head, train.effective(p))]}


def job_student(head, s: dict, seeds: tuple, teacher_flat) -> dict:
    _quiet()
    teacher = Params(s["H"], len(seeds), head.task.I, head.rows(s["H"]), flat=np.asarray(teacher_flat))
    alpha, beta = schedules(s)
    distill = None if s["distill"] == "none" else s["distill"]
    M = len(seeds)
    p, infos, _ = train.train_students(head, teacher, [s["ste"] == "shaped"] * M, [distill] * M,
                                       epochs=s["epochs"], lr=s["lr"], beta=beta, alpha=alpha,
                                       beta_zero=s["beta_zero"], transient_w=0.0,
                                       thr_learn=s["thr"] == "learned", damp=s["damp"], inq=s["inq"])
    ev = train.evaluate(head, train.effective(p, "coupled"))
    return {"metrics": [scalars({**e, **i}) for e, i in zip(ev, infos)]}


CODE_FUNCTIONS = (schedules, canonical, job_teacher, job_student)


def code_fingerprint(root: Path | None = None) -> str:
    """A hash of CODE_FILES under root (default: where the packages are installed) and of the
    source of the functions in CODE_FUNCTIONS."""
    root = Path(root or Path(__file__).resolve().parents[3])
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
