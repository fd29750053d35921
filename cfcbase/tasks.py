"""The tasks (docs/model.md, "The tasks"): the built-in ones, and the factory of every kind.

    builtin(name)              sine, sine-mix (forecasts) and waves3 (classes), pinned
    series_task(spec)          a user's series (cfcbase.series_task.SeriesTask), its file read here
    labelled_task(spec)        labelled windows (cfcbase.labelled_task.LabelledTask), both files read
    task_from_record(...)      the task an artifact records (cfcbase.artifact reads it)

A built-in split is generated from its own fixed seed, so the data never depend on the training
seed: seed k of the factorial sees the same data in every configuration.
"""
from __future__ import annotations

import numpy as np

from .baselines import ar2_fit, ar2_predict, persistence_predict
from .labelled_task import LabelledTask
from .metrics import forecast_metrics
from .rules import fail
from .series_task import SeriesTask
from .task import SPLITS, ClassifyTask, ForecastTask, Task

T_STEPS = 50
SINE_W = 2 * np.pi / 25
SIZES = {"sine": {"train": 32, "val": 64, "test": 256},
         "sine-mix": {"train": 128, "val": 128, "test": 512}}
# one fixed seed per (task, split); never reused for anything else
_SEEDS = {("sine", "train"): 20261, ("sine", "val"): 20262, ("sine", "test"): 20263,
          ("sine-mix", "train"): 30261, ("sine-mix", "val"): 30262, ("sine-mix", "test"): 30263}

WAVES3_STEPS = 32
WAVES3_CLASSES = ("slow", "fast", "saw")
WAVES3_SIZES = {"train": 96, "val": 48, "test": 96}
_WAVES3_SEEDS = {"train": 40261, "val": 40262, "test": 40263}


def _sines(task: str, n: int, rng: np.random.Generator):
    t = np.arange(T_STEPS + 1, dtype=np.float64)[None, :]
    if task == "sine":
        phi = rng.uniform(0.0, 2 * np.pi, (n, 1))
        s = np.sin(SINE_W * t + phi)
        x = s[:, :-1]
    else:
        w = rng.uniform(2 * np.pi / 40, 2 * np.pi / 10, (n, 1))
        amp = rng.uniform(0.5, 1.0, (n, 1))
        phi = rng.uniform(0.0, 2 * np.pi, (n, 1))
        s = amp * np.sin(w * t + phi)
        x = s[:, :-1] + rng.normal(0.0, 0.02, (n, T_STEPS))   # noisy inputs, clean targets
    return x[:, :, None].copy(), s[:, 1:, None].copy()


class SineTask(ForecastTask):
    """`sine` (x_t = sin(w t + phi), w = 2 pi / 25) or `sine-mix` (w, amplitude and phase drawn per
    sequence, noisy inputs): input x_t, target the clean next sample; 50 steps."""

    def __init__(self, name: str):
        super().__init__()
        self.name = self.preset = name

    def _load(self):
        return {s: _sines(self.name, SIZES[self.name][s], np.random.default_rng(_SEEDS[self.name, s]))
                for s in SPLITS}

    def baseline_predictions(self, split="test"):
        xtr, ytr = self.split("train")
        x, _ = self.split(split)
        return {"persistence": persistence_predict(x), "AR(2)": ar2_predict(ar2_fit(xtr, ytr), x)}

    def baselines(self):
        """Persistence and AR(2) (fitted on train) on the test split."""
        xtr, ytr = self.split("train")
        x, y = self.split("test")
        coef = ar2_fit(xtr, ytr)
        return {"persistence": forecast_metrics(persistence_predict(x), y, "test_"),
                "ar2": dict(forecast_metrics(ar2_predict(coef, x), y, "test_"), coef=[float(c) for c in coef])}

    def first_step_floor(self, n: int = 400_000, bins: int = 400) -> dict:
        """The MSE floor from the ambiguous first step: from x_0 alone the phase direction is unknown.

        Step-0 Bayes error E[(y_0 - E[y_0 | x_0])^2]; since later steps can in principle be
        predicted (exactly for `sine`), the all-step MSE floor is that error / T.
        `sine`: analytic, sin(w)^2 / 2 (E[y_0|x_0] = x_0 cos w). `sine-mix`: Monte Carlo with a
        binned conditional mean (also a lower bound only: w and A stay uncertain a few steps).
        """
        if self.name == "sine":
            step0 = float(np.sin(SINE_W) ** 2 / 2)
            how = "analytic sin(w)^2/2"
        else:
            x, y = _sines(self.name, n, np.random.default_rng(777))
            x0, y0 = x[:, 0, 0], y[:, 0, 0]
            edges = np.quantile(x0, np.linspace(0, 1, bins + 1))
            idx = np.clip(np.searchsorted(edges, x0, side="right") - 1, 0, bins - 1)
            cnt = np.bincount(idx, minlength=bins)
            mean = np.bincount(idx, y0, minlength=bins) / np.maximum(cnt, 1)
            step0 = float(np.mean((y0 - mean[idx]) ** 2))
            how = f"Monte Carlo, {n} sequences, {bins}-bin conditional mean"
        return {"step0_mse": step0, "all_step_floor": step0 / T_STEPS, "how": how}


def _waves3(n, rng):
    """n cases of 32 steps, one input: a slow sine (period 14-20 steps), a fast one (5-8) or a
    sawtooth (period 10-16), random amplitude 0.5-1 and phase, Gaussian noise sd 0.1;
    classes in turn (balanced)."""
    y = np.arange(n) % 3
    t = np.arange(WAVES3_STEPS)[None, :]
    period = np.where(y == 0, rng.uniform(14, 20, n), np.where(y == 1, rng.uniform(5, 8, n), rng.uniform(10, 16, n)))
    phase = rng.uniform(0, 1, n)
    amp = rng.uniform(0.5, 1.0, n)
    u = t / period[:, None] + phase[:, None]
    sine = np.sin(2 * np.pi * u)
    saw = 2 * (u - np.floor(u + 0.5))
    x = amp[:, None] * np.where((y == 2)[:, None], saw, sine) + rng.normal(0, 0.1, (n, WAVES3_STEPS))
    return x[:, :, None], y.astype(np.int64)


class Waves3Task(ClassifyTask):
    """`waves3`: three classes of 32-step windows, one input (a slow sine, a fast one, a sawtooth)."""
    name = preset = "waves3"
    classes = list(WAVES3_CLASSES)
    channels = ["x"]

    def _load(self):
        return {s: _waves3(WAVES3_SIZES[s], np.random.default_rng(_WAVES3_SEEDS[s])) for s in SPLITS}


BUILTIN = {"sine": SineTask, "sine-mix": SineTask, "waves3": Waves3Task}
FORECAST_TASKS = ("sine", "sine-mix")
CLASSIFY_TASKS = ("waves3",)
TASKS = tuple(BUILTIN)


def builtin(name: str) -> Task:
    """A built-in task by name; ValueError naming the known ones."""
    if name not in BUILTIN:
        raise ValueError(f"unknown task {name!r} (known: {', '.join(BUILTIN)})")
    kind = BUILTIN[name]
    return kind(name) if kind is SineTask else kind()


def series_task(spec) -> SeriesTask:
    """A user's series (cfcbase.series.SeriesSpec) as a task: the file read and every default
    resolved now (SeriesError: one line)."""
    return SeriesTask.resolve(spec)


def labelled_task(spec) -> LabelledTask:
    """Labelled windows (cfcbase.labelled.LabelledSpec) as a task: both files read now."""
    return LabelledTask.resolve(spec)


def task_from_key(key: dict) -> Task:
    """The task of a Task.key() (what a sweep.json records): a built-in one by name, a series or a
    labelled file rebuilt from its spec (its files read again)."""
    if key["task"] in BUILTIN:
        return builtin(key["task"])
    return RECORDED[key["task"]].from_key(key)


# best.npz's `task` -> the kind of task that records itself under that name
RECORDED = {SeriesTask.name: SeriesTask, LabelledTask.name: LabelledTask}


def task_from_record(path, raw, I, name: str, head) -> Task:
    """The task an artifact records (its `task` entry ``name`` and the task's own entries in
    ``raw``; ``head`` the artifact's cfcbase.heads head), checked; its data are read only when
    asked for. ArtifactError: one line naming the key."""
    if name in RECORDED:
        return RECORDED[name].from_record(path, raw, I, head)
    for kind in RECORDED.values():
        extra = [k for k in kind.RECORD_KEYS if k in raw]
        if extra:
            fail(path, extra[0], f"task {name!r} is a pinned task: it has no data file or scaling")
    if name not in BUILTIN:
        fail(path, "task", f"unknown task {name!r} (known: {', '.join(BUILTIN)}, or "
                           f"{', '.join(repr(k) for k in RECORDED)} with their entries)")
    return builtin(name)
