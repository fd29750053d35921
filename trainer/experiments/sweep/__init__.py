"""`python -m trainer sweep`: a grid of student settings x paired seeds, resumable, on local
worker processes or on a Ray cluster (docs/sweep.md).

The rooms of the package:
  grid      the knobs (KNOBS), the grid grammar, the cells, their defaults and names
  jobs      the teacher and student jobs, their keys and the code fingerprint
  store     the cache under OUT/jobs/ and its integrity checks
  backends  local worker processes, Ray
  plan      what a sweep asks for (Plan) and running it (run)
  report    sweep.md, sweep.png and writing them with sweep.json
  progress  the log lines
The paired statistics are in trainer/stats.py, the factorial's defaults the knobs start from
in trainer/configs.py.

Jobs are pure functions of their settings: the numbers do not depend on the backend, the
number of workers or the order in which jobs finish. Every finished job is stored under
OUT/jobs/ as a file named by a hash of its settings and of the source of the code that
computes it (CODE_FILES, CODE_FUNCTIONS). A rerun computes only what is missing; a change to
that code changes every hash, so old entries are not reused.
"""
from __future__ import annotations

from .backends import RAY_CONNECT_TIMEOUT, RAY_START_TIMEOUT, LocalBackend, RayBackend, ray_target
from .grid import (KNOBS, PRESETS, SHAPED_KNOBS, TEACHER_KNOBS, Knob, canonical, cell_id, cells, defaults,
                   grid_spec, parse_grid, parse_settings, schedules)
from .jobs import CODE_FILES, CODE_FUNCTIONS, SCHEMA, code_fingerprint, job_key, job_student, job_teacher
from .plan import Plan, SweepSettings, assemble, chunks, run, settings_of
from .report import markdown, plot, write_reports
from .store import JOB_FORMAT, Store, job_digest

__all__ = ["CODE_FILES", "CODE_FUNCTIONS", "JOB_FORMAT", "KNOBS", "PRESETS", "RAY_CONNECT_TIMEOUT",
           "RAY_START_TIMEOUT", "SCHEMA", "SHAPED_KNOBS", "TEACHER_KNOBS", "Knob", "LocalBackend", "Plan",
           "RayBackend", "Store", "SweepSettings", "assemble", "canonical", "cell_id", "cells", "chunks",
           "code_fingerprint", "defaults", "grid_spec", "job_digest", "job_key", "job_student",
           "job_teacher", "markdown", "parse_grid", "parse_settings", "plot", "ray_target", "run", "schedules",
           "settings_of", "write_reports"]
