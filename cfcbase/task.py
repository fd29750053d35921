"""What a task is to every stage (docs/model.md, "The tasks"; docs/architecture.md): the face
shared by the built-in tasks, a user's series and labelled windows (cfcbase.tasks makes them).

A task knows where its windows come from and what the model predicts of them. Two families:

    ForecastTask   a value per step (a readout head): y [N, T] floats, scored on the washout
                   steps t >= WASHOUT; baselines persistence and AR(p)
    ClassifyTask   a class per window (a classifier head): y [N] class indices, scored by the
                   cross-entropy and the accuracy; baselines nearest centroid and 1-NN

Data are read once, when first asked for, and kept by the task object, which crosses to worker
processes and Ray with them (pickled), so no worker reads a file again. Every problem with the
data is one SeriesError line naming the file.
"""
from __future__ import annotations

import numpy as np

from .baselines import class_baselines
from .metrics import class_metrics, forecast_metrics

SPLITS = ("train", "val", "test")


class Task:
    """A task (see the module docstring). Subclasses set the class attributes and implement
    `_load` (the splits) and `record` (what best.npz stores of the task)."""
    name: str = ""                 # best.npz's `task`: a built-in name, "data" or "labelled"
    head_kind: str = ""            # cfcbase.heads.HEAD_KINDS key of the head the task trains
    headline: str = ""             # the metric the factorial minimizes on validation (without prefix)
    preset: str = ""               # the row of the trainer's per-task defaults
    version: int = 1               # the lowest best.npz version that records such a task

    def __init__(self):
        self._splits = None

    # ---- identity ------------------------------------------------------------------------------
    def label(self) -> str:
        """A short name for titles and the default output directory."""
        return self.name

    def key(self) -> dict:
        """What identifies the task's data (JSON), for caches: a changed file is another task."""
        return {"task": self.name}

    def default_out(self) -> str:
        return f"results/{self.label().lower()}"

    def files(self) -> list:
        """The files the task reads (as given: a path or pkg:PACKAGE/PATH); none for a built-in task."""
        return []

    def with_data(self, path) -> "Task":
        """The same task on the data of another copy of its file (--data FILE)."""
        raise ValueError(f"it was trained on the {self.name} task, not on a data file")

    def source(self, split: str = "test") -> str:
        """Where a split comes from, for reports."""
        return f"{self.name} {split} set (cfcbase.tasks)"

    # ---- data -----------------------------------------------------------------------------------
    def _load(self) -> dict:
        """{split: (x float64 [N, T, I], y)}; read once (SeriesError on bad data)."""
        raise NotImplementedError

    def splits(self) -> dict:
        if self._splits is None:
            self._splits = self._load()
        return self._splits

    def split(self, name: str):
        """(x, y) of a split (copies)."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r} for task {self.label()!r} (known: {', '.join(SPLITS)})")
        x, y = self.splits()[name]
        return x.copy(), y.copy()

    def lengths(self, name: str):
        """Each window's steps of a split, int64 [N], or None when every window has the split's T
        steps (a shorter window's inputs past its length are 0 and are not steps)."""
        return None

    @property
    def I(self) -> int:
        """Inputs per step."""
        return self.splits()["train"][0].shape[2]

    @property
    def steps(self) -> int:
        """Steps of the training windows."""
        return self.splits()["train"][0].shape[1]

    # ---- what reports and logs say of the data ---------------------------------------------------
    def data_lines(self) -> list:
        """Lines that describe the data when a run starts (none for a built-in task)."""
        return []

    def summary(self) -> dict | None:
        """What a factorial report records of the data (None for a built-in task)."""
        return None

    def first_step_floor(self) -> dict | None:
        """The MSE floor of a forecast's ambiguous first step, where it is known (a pinned sine)."""
        return None

    def record(self, out: str = ".") -> dict:
        """best.npz's entries of the task after the head's (docs/artifact.md), for an artifact
        written into ``out`` (file references are relative to it)."""
        return {}


class ForecastTask(Task):
    """A value per step, scored on the washout steps (cfcbase.metrics)."""
    head_kind = "readout"
    headline = "mse_washout"
    scaling = None                 # a series' {input_offset, input_scale, target_offset, target_scale}
    differenced = (False, [])      # (the target is differenced, [input i is differenced])

    def metrics(self, pred, y, prefix=""):
        """The figures of predictions pred [N, T] of y [N, T] (or [N, T, 1])."""
        return forecast_metrics(pred, y, prefix)

    def collapse(self, m: dict) -> str | None:
        """Why a model with the metrics ``m`` learned nothing, in words, or None: its test washout
        NMSE is at least 1 (no better than the target's mean)."""
        v = m.get("test_nmse_washout")
        if v is not None and v >= 1.0:
            return f"its test washout NMSE is {v:.3f}: no better than forecasting the target's mean"
        return None

    def baseline_predictions(self, split: str = "test") -> dict:
        """{label: float64 [N, T]}: the classic baselines' forecasts of a split, model units."""
        raise NotImplementedError

    def baselines(self) -> dict:
        """The baselines' figures on the test split (factorial.json's "baselines")."""
        raise NotImplementedError

    def units(self) -> dict | None:
        """A series' target name and scaling (its figures in the target's own units), else None."""
        return None


class ClassifyTask(Task):
    """A class per window, scored by cross-entropy and accuracy (cfcbase.metrics)."""
    head_kind = "classifier"
    headline = "ce"
    version = 3
    classes: list = []
    channels: list = []
    scaling = None                 # a labelled file's {input_offset, input_scale}
    differenced = (False, [])

    def test_name(self) -> str:
        """What the test windows are called in a header's comment."""
        return self.name

    @property
    def K(self) -> int:
        return len(self.classes)

    def metrics(self, logits, y, prefix=""):
        return class_metrics(logits, y, self.K, prefix)

    def collapse(self, m: dict) -> str | None:
        """Why a classifier with the metrics ``m`` learned nothing, in words, or None: it gives one
        class for every test window."""
        conf = np.asarray(m.get("test_confusion", []))
        if conf.ndim != 2 or conf.sum() == 0:
            return None
        given = np.flatnonzero(conf.sum(axis=0))
        if len(given) == 1:
            return (f"it gives one class, {self.classes[given[0]]!r}, for every test window (test cross-entropy "
                    f"{m.get('test_ce', float('nan')):.3f}; ln K = {np.log(self.K):.3f} is what guessing scores)")
        return None

    def baseline_predictions(self, split: str = "test") -> dict:
        """{label: int64 [N]}: the classic baselines' classes of a split's windows (cfcbase.baselines),
        fitted on the training windows."""
        xtr, ytr = self.split("train")
        x, _ = self.split(split)
        return class_baselines(xtr, ytr, x, self.K)

    def baselines(self) -> dict:
        """The baselines' test accuracy (factorial.json's "baselines")."""
        _, y = self.split("test")
        return {k: {"test_acc": float(np.mean(p == y))} for k, p in self.baseline_predictions("test").items()}

    def class_counts(self, split: str) -> np.ndarray:
        return np.bincount(np.asarray(self.splits()[split][1], np.int64), minlength=self.K)

    def summary(self) -> dict:
        """What a factorial report records of the windows: the classes and the split sizes."""
        return {"classes": list(self.classes), "channels": self.I,
                "sizes": {s: int(len(self.splits()[s][1])) for s in SPLITS}}
