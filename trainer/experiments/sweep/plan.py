"""A sweep's plan and run: the cells, per (cell, chunk of seeds) the teacher and student
jobs and which of them the store holds; running the missing ones, assembling sweep.json.

A job trains one stack of seeds (a chunk of --stack consecutive seeds, aligned to multiples
of --stack so that more seeds later add chunks instead of changing them). Seed k uses the
same data and the same teacher in every cell that shares its teacher settings, as in the
factorial.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cfcbase import numerics
from cfcbase.tasks import task_from_key

from ...errors import TrainerError
from ...model.heads import train_head
from ...reports.stats import compare
from .backends import LocalBackend, RayBackend
from .grid import PRESETS, TEACHER_KNOBS, cell_id, cells, defaults, grid_spec, parse_grid
from .jobs import SCHEMA, code_fingerprint, job_key, job_student, job_teacher
from .progress import Progress, log
from .report import write_reports
from .store import Store


@dataclass
class SweepSettings:
    task: object = None           # a cfcbase.task.Task (resolved: its data read)
    grid: str = "factorial"       # a preset name or a grid spec
    seeds: int = 10
    out: str = ""
    baseline: str = ""            # a cell id; default: the first cell
    workers: int = os.cpu_count() or 1
    stack: int = 5                # seeds trained side by side in one job
    ray: str | None = None        # None: local processes; "local" or an address: Ray
    ray_timeout: float | None = None   # s to connect to a cluster (default RAY_CONNECT_TIMEOUT)
    overrides: dict | None = None  # knob -> value for every cell (e.g. fewer epochs)


def chunks(n_seeds: int, stack: int) -> list:
    return [tuple(range(a, min(a + stack, n_seeds))) for a in range(0, n_seeds, stack)]


class Plan:
    """What a sweep's settings ask for: the cells, and per (cell, chunk of seeds) the teacher
    and student jobs, keyed by their settings and the training code; which are in the store."""

    def __init__(self, st: SweepSettings):
        if st.seeds < 2:
            raise TrainerError(f"--seeds must be at least 2 for paired comparisons, got {st.seeds}")
        if st.stack < 1 or st.workers < 1:
            raise TrainerError("--stack and --workers must be positive")
        self.st = st
        self.blocks = parse_grid(PRESETS.get(st.grid, st.grid))
        for k in (st.overrides or {}):
            if any(k in b for b in self.blocks):
                raise TrainerError(f"--set {k}: the grid varies it already")
        self.dflt = dict(defaults(st.task), **(st.overrides or {}))
        self.cells = cells(st.task, self.blocks, st.overrides)
        self.ids = [cell_id(c, self.dflt) for c in self.cells]
        self.baseline = st.baseline or self.ids[0]
        if self.baseline not in self.ids:
            raise TrainerError(f"--baseline {self.baseline!r} is not a cell of the grid (cells: {'; '.join(self.ids)})")
        self.out = Path(st.out or os.path.join(st.task.default_out(), "sweep"))
        # numbers computed with other floating-point kernels (cfcbase.numerics) are other jobs
        self.code = code_fingerprint() + ("|" + numerics.fingerprint() if numerics.fingerprint() else "")
        self.head = train_head(st.task)
        self.store = Store(self.out, self.code, self.head)
        # a task's jobs are keyed by its key: a series' spec and its file's content, so a changed
        # file never reuses a job
        self.task_key = st.task.key()
        self.parts = chunks(st.seeds, st.stack)
        self.teachers = {}                  # key -> teacher settings
        self.students = {}                  # key -> (cell, seeds, student settings)
        for c in self.cells:
            for part in self.parts:
                ts, k = self.tkey(c, part)
                self.teachers[k] = ts
                ss, k = self.skey(c, part)
                self.students[k] = (c, part, ss)

    def tkey(self, c, part):
        ts = {"task": self.task_key, "seeds": list(part), **{k: c[k] for k in TEACHER_KNOBS}}
        return ts, job_key("teacher", ts, self.code)

    def skey(self, c, part):
        ss = {"task": self.task_key, "seeds": list(part), **c}
        return ss, job_key("student", ss, self.code)

    def todo(self):
        """([(key, teacher settings)], [(key, cell, seeds, student settings)]) without a usable
        job file in the store (Store.load: a file that does not check out is recomputed)."""
        return ([(k, ts) for k, ts in self.teachers.items() if self.store.load("teacher", k, ts) is None],
                [(k, *v) for k, v in self.students.items() if self.store.load("student", k, v[2]) is None])

    def summary(self, todo=None) -> str:
        """One line: cells, seeds, jobs, how many to run (todo: self.todo(), if already known)."""
        todo_t, todo_s = todo or self.todo()
        n = len(self.teachers) + len(self.students)
        return (f"{self.st.task.label()}: {len(self.cells)} cells x {self.st.seeds} seeds in stacks of {self.st.stack}; "
                f"{len(self.teachers)} teacher and {len(self.students)} student jobs, "
                f"{len(todo_t) + len(todo_s)} to run ({n - len(todo_t) - len(todo_s)} cached in {self.store.dir})")


def run(st: SweepSettings) -> dict:
    p = Plan(st)
    for line in st.task.data_lines():
        log(line)
    key = f"test_{st.task.headline}"
    todo_t, todo_s = todo = p.todo()
    log(p.summary(todo))
    backend = LocalBackend(st.workers) if st.ray is None else RayBackend(st.ray, st.workers, st.ray_timeout)
    try:
        log(f"backend: {backend.name}")
        prog = Progress(len(todo_t) + len(todo_s))
        if todo_t:
            def t_done(i, res):
                k, ts = todo_t[i]
                p.store.put("teacher", k, ts, res)
                prog.tick(f"teachers H={ts['H']} seeds {ts['seeds'][0]}-{ts['seeds'][-1]}: {key} "
                          + " ".join(f"{m[key]:.1e}" for m in res["metrics"]))
            backend.run(job_teacher, [(p.head, ts["H"], ts["teacher_epochs"], ts["teacher_lr"], tuple(ts["seeds"]))
                                      for _, ts in todo_t], t_done)
        if todo_s:
            def s_done(i, res):
                k, c, part, ss = todo_s[i]
                p.store.put("student", k, ss, res)
                prog.tick(f"{cell_id(c, p.dflt)} seeds {part[0]}-{part[-1]}: {key} "
                          + " ".join(f"{m[key]:.1e}" for m in res["metrics"]))
            args = [(p.head, c, part, p.store.get("teacher", p.tkey(c, part)[1])["flat"]) for _, c, part, _ in todo_s]
            backend.run(job_student, args, s_done)
    finally:
        if hasattr(backend, "close"):
            backend.close()
    result = assemble(p)
    write_reports(p.out, result)
    log(f"wrote {p.out}/sweep.json, sweep.md, sweep.png")
    return result


def assemble(p: Plan) -> dict:
    """sweep.json: per cell and seed the validation and test headline (a forecast's washout MSE, a
    classifier's cross-entropy) and its extras, the teacher's beside them, and the paired
    comparisons with the baseline cell."""
    h = p.st.task.headline
    keys = (f"val_{h}", f"test_{h}") + p.head.SWEEP_EXTRAS
    cells_out = []
    for c, cid in zip(p.cells, p.ids):
        rows = []
        for part in p.parts:
            ms = p.store.get("student", p.skey(c, part)[1])["metrics"]
            ts = p.store.get("teacher", p.tkey(c, part)[1])["metrics"]
            for seed, m, t in zip(part, ms, ts):
                rows.append({"seed": seed, **{k: m[k] for k in keys}, **{f"teacher_{k}": t[k] for k in keys}})
        cells_out.append({"id": cid, "settings": c, "seeds": rows})
    return {"schema": SCHEMA, "task": p.st.task.name, "task_key": p.task_key, "label": p.st.task.label(),
            "metric": f"test_{h}", "grid": p.blocks, "grid_spec": grid_spec(p.blocks), "defaults": p.dflt,
            "baseline": p.baseline, "seeds": list(range(p.st.seeds)), "stack": p.st.stack, "cells": cells_out,
            "comparisons": compare(cells_out, p.baseline, f"test_{h}")}


def settings_of(result: dict, out) -> SweepSettings:
    """The settings a sweep.json was computed with (its grid in the order given, seeds, stack
    and baseline; as overrides its defaults that differ from the task's), writing to out."""
    task = task_from_key(result["task_key"])
    task_dflt = defaults(task)
    overrides = {k: v for k, v in result["defaults"].items() if task_dflt.get(k) != v}
    return SweepSettings(task=task, grid=result["grid_spec"], seeds=len(result["seeds"]), out=str(out),
                         baseline=result["baseline"], stack=result["stack"], overrides=overrides or None)
