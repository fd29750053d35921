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


# ---- a classification task [classification block]: the head of trainer/classify.py, the
# factorial's pooling; the job metrics are its cross-entropy and accuracy (headline: test_ce)
CLASSIFY_CODE_FILES = ("trainer/classify.py", "trainer/classify_factorial.py", "cfcbase/labelled.py",
                       "cfcbase/labelled_files.py", "trainer/classify_search.py")


def _scalars(m: dict) -> dict:
    return {k: v for k, v in m.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def job_cls_teacher(task: str, H: int, epochs: int, lr: float, seeds: tuple) -> dict:
    from .. import classify as C  # noqa: PLC0415
    from ..classify_factorial import POOLING  # noqa: PLC0415
    _quiet()
    p, _ = C.train_teachers(task, H, list(seeds), POOLING, epochs=epochs, lr=lr)
    return {"flat": p.flat.copy(), "metrics": [_scalars(m) for m in C.evaluate(C.effective(p), task, POOLING)]}


def job_cls_student(task: str, s: dict, seeds: tuple, teacher_flat) -> dict:
    from .. import classify as C  # noqa: PLC0415
    from ..classify_factorial import POOLING  # noqa: PLC0415
    _quiet()
    teacher = C.ClsParams(s["H"], len(seeds), C.inputs(task), C.n_classes(task), flat=np.asarray(teacher_flat))
    alpha, beta = schedules(s)
    distill = None if s["distill"] == "none" else s["distill"]
    M = len(seeds)
    p, infos, _ = C.train_students(task, teacher, [s["ste"] == "shaped"] * M, [distill] * M, POOLING,
                                   epochs=s["epochs"], lr=s["lr"], beta=beta, alpha=alpha, beta_zero=s["beta_zero"])
    ev = C.evaluate(C.effective(p, "coupled"), task, POOLING)
    return {"metrics": [_scalars({**e, **i}) for e, i in zip(ev, infos)]}


def is_classify(task) -> bool:
    from cfcbase.labelled import is_classify_task  # noqa: PLC0415
    return is_classify_task(task)


def jobs_for(task: str) -> tuple:
    """(teacher job, student job) of a task."""
    return (job_cls_teacher, job_cls_student) if is_classify(task) else (job_teacher, job_student)


def headline(task: str) -> str:
    """The metric a sweep compares (log10 of it, per seed): the test washout MSE, or a classifier's
    test cross-entropy."""
    return "test_ce" if is_classify(task) else "test_mse_washout"


def code_fingerprint(root: Path | None = None, classify: bool = False) -> str:
    """A hash of CODE_FILES under root (default: where the packages are installed) and of the
    source of the functions in CODE_FUNCTIONS; for a classification task also of
    CLASSIFY_CODE_FILES and its job functions."""
    import inspect  # noqa: PLC0415
    root = Path(root or Path(__file__).resolve().parents[2])
    h = hashlib.sha256()
    for name in CODE_FILES + (CLASSIFY_CODE_FILES if classify else ()):
        h.update(name.encode() + b"\0" + (root / name).read_bytes())
    for fn in CODE_FUNCTIONS + ((job_cls_teacher, job_cls_student) if classify else ()):
        h.update(inspect.getsource(fn).encode())
    return h.hexdigest()[:16]


def job_key(kind: str, settings: dict, code: str) -> str:
    """A job's name in the store: a hash of its kind, its settings and the code fingerprint."""
    blob = json.dumps({"kind": kind, "schema": SCHEMA, "code": code, **settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]
