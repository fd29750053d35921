"""The sweep's knobs and its grid grammar: what a cell is, its defaults, its name.

A *cell* is one setting of every knob (KNOBS). The grid names the knobs it varies, as a
product of value lists, or a union of such products separated by `|`; the other knobs keep
their defaults. A cell is named by its knobs that differ from the defaults ("default" when
none does). Settings a cell ignores are set to their defaults before anything is keyed
(alpha when there is no distillation, beta with the vanilla STE), so equivalent cells share
their jobs.

A new training knob is one Knob row in KNOBS (its parser, default and help: the grid, --set,
--help, the cell names, the job keys and the reports follow from it) and its use in
jobs.job_student (docs/sweep.md, "Adding a knob").
"""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass

from ...errors import TrainerError
from ...model.quant import SHAPED_BETA
from ..configs import STUDENT_LR, task_defaults

ALPHA_SCHEDULES = ("const", "rise", "fall")
BETA_SCHEDULES = ("linear", "const")
RISE_START = 0.375      # "rise" goes RISE_START * alpha -> alpha: alpha 0.8 is the factorial's 0.3 -> 0.8


def _in_range(cast, ok, what):
    """A knob value parser: cast, then require a finite value for which ok() holds."""
    def parse(s):
        v = cast(s)
        if not (math.isfinite(v) and ok(v)):
            raise ValueError(f"must be {what}")
        return v
    return parse


_int = _in_range(int, lambda v: v >= 1, "a positive integer")
_pos_float = _in_range(float, lambda v: v > 0, "a positive number")
_nonneg_float = _in_range(float, lambda v: v >= 0, "a number >= 0")
_unit_float = _in_range(float, lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
_width = _in_range(int, lambda v: 2 <= v <= 128, "in 2..128")


def _choice(options):
    def parse(s):
        if s not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return s
    return parse


@dataclass(frozen=True)
class Knob:
    parse: object
    default: object        # None: the task's default (configs.TASK_DEFAULTS)
    help: str


KNOBS = {
    "ste": Knob(_choice(("vanilla", "shaped")), "vanilla", "straight-through estimator: vanilla (identity) or shaped"),
    "distill": Knob(_choice(("none", "traj", "out")), "none",
                    "distillation: none, traj (hidden trajectory) or out (output only)"),
    "alpha": Knob(_unit_float, 0.8, "distillation weight (the schedule's final value)"),
    "alpha_schedule": Knob(_choice(ALPHA_SCHEDULES), "rise",
                           f"const (alpha throughout), rise ({RISE_START:g} alpha -> alpha; alpha 0.8 is the "
                           f"factorial's 0.3 -> 0.8), fall (alpha -> {RISE_START:g} alpha)"),
    "beta": Knob(_pos_float, SHAPED_BETA[1], "shaped-STE window sharpness, final value (window width 1/beta)"),
    "beta_schedule": Knob(_choice(BETA_SCHEDULES), "const" if SHAPED_BETA[0] == SHAPED_BETA[1] else "linear",
                          "linear (1 -> beta) or const (beta throughout)"),
    "beta_zero": Knob(_nonneg_float, 0.0, "zero-boundary window of the shaped STE, centred on u = 0 with width "
                      "1/beta_zero, constant (0: none)"),
    "H": Knob(_width, 16, "hidden units"),
    "epochs": Knob(_int, None, "student epochs (default: the factorial's for the task)"),
    "lr": Knob(_pos_float, STUDENT_LR, "student Adam learning rate"),
    "teacher_epochs": Knob(_int, None, "float teacher epochs (teacher quality; default: the factorial's)"),
    "teacher_lr": Knob(_pos_float, None, "teacher Adam learning rate (default: the factorial's)"),
    "thr": Knob(_choice(("fixed", "learned")), "fixed",
                "ternary threshold per row: fixed (0.5 in units of the row's scale) or learned (a parameter per row, "
                "its gradient through a smoothstep window around it; the shaped STE's window follows it)"),
    "damp": Knob(_nonneg_float, 0.0, "oscillation dampening: weight of the mean (V/s - trit)^2 over the weights "
                 "added to the student loss, the trit held fixed (0: none)"),
    "inq": Knob(_in_range(int, lambda v: v >= 0, "an integer >= 0"), 0,
                "incremental quantization in this many stages: 1/2, 3/4, ... of each row's weights (the most "
                "confident first) quantized and frozen, the rest float, all of them in the last stage (0: none)"),
}
TEACHER_KNOBS = ("H", "teacher_epochs", "teacher_lr")
SHAPED_KNOBS = ("beta", "beta_schedule", "beta_zero")   # ignored by the vanilla STE

# The factorial's eight configurations as a grid: `--preset factorial`.
PRESETS = {"factorial": "H=16,32; distill=none,traj; ste=vanilla,shaped"}


def _parse_block(spec: str) -> dict:
    grid = {}
    for part in [p for p in spec.replace("\n", ";").split(";") if p.strip()]:
        if "=" not in part:
            raise TrainerError(f"--grid: {part.strip()!r} is not KNOB=V1,V2,... (knobs: {', '.join(KNOBS)})")
        name, values = (s.strip() for s in part.split("=", 1))
        if name not in KNOBS:
            raise TrainerError(f"--grid: unknown knob {name!r} (knobs: {', '.join(KNOBS)})")
        if name in grid:
            raise TrainerError(f"--grid: knob {name!r} given twice")
        vals = []
        for v in [v.strip() for v in values.split(",")]:
            try:
                vals.append(KNOBS[name].parse(v))
            except ValueError as e:
                raise TrainerError(f"--grid: {name}={v!r}: {e}") from None
        if len(set(vals)) != len(vals):
            raise TrainerError(f"--grid: knob {name!r} repeats a value")
        grid[name] = vals
    if not grid:
        raise TrainerError("--grid is empty: give at least one KNOB=V1,V2,...")
    return grid


def parse_settings(items, option: str) -> dict:
    """{knob: value} of KNOB=VALUE items (given by `option`, e.g. --set); a TrainerError naming
    the item for an unknown knob or a bad value."""
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or k not in KNOBS:
            raise TrainerError(f"{option} {item!r}: expected KNOB=VALUE with KNOB one of {', '.join(KNOBS)}")
        try:
            out[k] = KNOBS[k].parse(v)
        except ValueError as e:
            raise TrainerError(f"{option} {item!r}: {e}") from None
    return out


def parse_grid(spec: str) -> list:
    """'alpha=0.3,0.8; alpha_schedule=const,rise | H=8,64' -> [{knob: [values]}, ...]: the
    cells are the union of each block's product."""
    return [_parse_block(block) for block in spec.split("|")]


def grid_spec(blocks: list) -> str:
    """parse_grid's inverse: [{knob: [values]}, ...] -> 'knob=v1,v2; knob=... | ...'."""
    return " | ".join("; ".join(f"{k}=" + ",".join(fmt(v) for v in vs) for k, vs in b.items()) for b in blocks)


def defaults(task: str, budget: str = "quick") -> dict:
    """Every knob's default for a task: KNOBS', the task's from configs.task_defaults (of the
    training budget) where None."""
    d = task_defaults(task, budget)
    return {k: (d[k] if kn.default is None else kn.default) for k, kn in KNOBS.items()}


def canonical(s: dict, dflt: dict) -> dict:
    """The settings with what the cell ignores set to the defaults."""
    s = dict(s)
    if s.get("inq"):                 # incremental quantization trains float weights: no STE, no threshold
        s["ste"], s["thr"] = dflt["ste"], dflt["thr"]
    if s["distill"] == "none":
        s["alpha"], s["alpha_schedule"] = dflt["alpha"], dflt["alpha_schedule"]
    if s["ste"] == "vanilla":
        for k in SHAPED_KNOBS:
            s[k] = dflt[k]
    return s


def cells(task: str, blocks: list, overrides: dict | None = None) -> list:
    """The union of every block's product of values, in order, without repeats; the other
    knobs at their defaults (or overrides)."""
    dflt = dict(defaults(task), **(overrides or {}))
    out, seen = [], set()
    for grid in blocks:
        for combo in itertools.product(*grid.values()):
            c = canonical(dict(dflt, **dict(zip(grid.keys(), combo))), dflt)
            key = json.dumps(c, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(c)
    return out


def fmt(v):
    return f"{v:g}" if isinstance(v, float) else str(v)


def cell_id(settings: dict, dflt: dict) -> str:
    """The knobs that differ from the defaults, in KNOBS order; "default" if none."""
    return ",".join(f"{k}={fmt(settings[k])}" for k in KNOBS if settings[k] != dflt[k]) or "default"


def schedules(s: dict) -> tuple:
    """(alpha start, end), (beta start, end) of a cell, for train.train_students."""
    a = s["alpha"]
    alpha = {"const": (a, a), "rise": (RISE_START * a, a), "fall": (a, RISE_START * a)}[s["alpha_schedule"]]
    b = s["beta"]
    beta = {"linear": (1.0, b), "const": (b, b)}[s["beta_schedule"]]
    return alpha, beta
