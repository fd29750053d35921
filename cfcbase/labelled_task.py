"""Labelled windows as a task (cfcbase.task.ClassifyTask; docs/model.md, "Classification").

Two ways in: the trainer resolves a LabelledSpec (LabelledTask.resolve: both files read, split,
scaled), or a classifier artifact records one (LabelledTask.from_record: its labelled_json and
input scaling, checked; the files found beside the artifact and read only when asked for). The
test split of a recorded task is its TEST file alone, scaled with the artifact's scaling, so
`host verify` needs no TRAIN file; the other splits are rebuilt from both files.
"""
from __future__ import annotations

import json
import math
import os
import re

import numpy as np

from .heads import MAX_WINDOW
from .labelled import LabelledSpec, build, counts, spec_dict
from .labelled_files import EXTENSIONS, bad_file, read_labelled
from .rules import SEQ_LEN_RANGE, data_path_problem, fail, json_object
from .series_file import data_sha256, locate_file
from .series_task import read_scaling
from .table import recorded_path
from .task import SPLITS, ClassifyTask
from .text import NAME_MAX, text_problem

SCALING_KEYS = {"input_offset": ("I",), "input_scale": ("I",)}
FIELDS = {"train": str, "test": str, "val_fraction": float, "channels": list, "seq_len": int}
HASH_FIELDS = ("train_sha256", "test_sha256")      # the files' contents (absent in files written before)


class LabelledTask(ClassifyTask):
    """A labelled file's windows (see the module docstring)."""
    name = "labelled"
    preset = "labelled"
    RECORD_KEYS = ("labelled_json",) + tuple(SCALING_KEYS)

    def __init__(self, spec: LabelledSpec, data=None, record: dict | None = None, scaling: dict | None = None,
                 classes=None, artifact_path: str = "<memory>", test_path=None):
        super().__init__()
        self.spec = spec
        self.data = data                        # cfcbase.labelled.LabelledData, once read
        self.recorded = record                  # an artifact's labelled_json
        self._scaling = scaling
        self.artifact_path = artifact_path
        self.test_path = test_path              # verify --data FILE: another TEST file
        if data is not None:
            self.classes, self.channels = list(data.classes), list(data.channels)
        else:
            self.classes, self.channels = list(classes or []), list((record or {}).get("channels", []))

    @classmethod
    def resolve(cls, spec: LabelledSpec) -> "LabelledTask":
        return cls(spec, build(spec))

    @classmethod
    def from_key(cls, key) -> "LabelledTask":
        sp = key["spec"]
        return cls.resolve(LabelledSpec(sp["train"], sp["test"], sp["val_fraction"]))

    def files(self) -> list:
        return [str(self.spec.train), str(self.spec.test)]

    def with_data(self, path) -> "LabelledTask":
        """The same classifier's task with another TEST file (verify --data FILE)."""
        return LabelledTask(self.spec, None, self.recorded, self._scaling, self.classes, self.artifact_path,
                            os.fspath(path))

    # ---- identity ------------------------------------------------------------------------------
    def label(self) -> str:
        """The TRAIN file's problem: its name without _TRAIN."""
        stem = os.path.splitext(str(self.spec.train).rsplit("/", 1)[-1])[0]
        return stem[:-6] if stem.upper().endswith("_TRAIN") else stem

    def test_name(self) -> str:
        return str(self.spec.test)

    def key(self) -> dict:
        return {"task": self.name, "spec": spec_dict(self.spec), "channels": self.channels, "classes": self.classes}

    # ---- data ------------------------------------------------------------------------------------
    def _file(self, which: str) -> str:
        """The TRAIN or TEST file (``which``: "train" / "test") of a recorded task where the artifact
        says (cfcbase.series_file.locate_file: its sha256 checked, or inside the artifact's or the
        current directory); a task being trained: as given."""
        p = str(getattr(self.spec, which))
        if self.recorded is None or self.artifact_path.startswith("<"):
            return p
        return locate_file(p, self.artifact_path, self.recorded.get(f"{which}_sha256"),
                           how="pass --data FILE (a TEST file)" if which == "test" else "put the TRAIN file there")[0]

    def labelled(self):
        """The LabelledData of both files (read once)."""
        if self.data is None:
            self.data = build(LabelledSpec(self._file("train"), self._file("test"), self.spec.val_fraction))
            if self.data.classes != self.classes:
                bad_file(self.spec.train, f"classes {', '.join(self.data.classes)}; the model's are "
                                          f"{', '.join(self.classes)}")
        return self.data

    def _load(self):
        d = self.labelled()
        if self._scaling is None:
            return {s: (d.x[s], d.y[s]) for s in SPLITS}
        sc = self._scaling                     # a recorded task: the artifact's scaling
        return {s: (zero_past((d.x[s] * d.scale + d.offset - sc["input_offset"]) / sc["input_scale"], d.lengths[s]),
                    d.y[s]) for s in SPLITS}

    def lengths(self, name):
        """Each window's steps (cfcbase.task.Task.lengths), None when every window of the split
        has its T steps."""
        if name == "test" and self.recorded is not None:
            x, _, n = self._test_file()
        else:
            x, n = self.splits()[name][0], self.labelled().lengths[name]
        return None if (n == x.shape[1]).all() else n.copy()

    def _test_file(self):
        """(x scaled, y, lengths) of a recorded task's TEST file (the artifact's or verify --data's),
        read once."""
        if getattr(self, "_test", None) is None:
            lab = read_labelled(self.test_path or self._file("test"))
            if lab.classes != self.classes:
                bad_file(lab.path, f"classes {', '.join(lab.classes)}; the model's are {', '.join(self.classes)}")
            if lab.x.shape[2] != len(self.channels):
                bad_file(lab.path, f"{lab.x.shape[2]} channel(s), the model I = {len(self.channels)}")
            sc = self._scaling
            self._test_source = f"{lab.path} ({len(lab.y)} windows of {_steps(lab.lengths)})"
            self._test = (zero_past((lab.x - sc["input_offset"]) / sc["input_scale"], lab.lengths), lab.y, lab.lengths)
        return self._test

    def split(self, name):
        if name != "test" or self.recorded is None:
            return super().split(name)
        x, y, _ = self._test_file()
        return x.copy(), y.copy()

    @property
    def I(self) -> int:
        return len(self.channels)

    @property
    def steps(self) -> int:
        return int(self.recorded["seq_len"]) if self.recorded is not None else self.labelled().x["train"].shape[1]

    @property
    def scaling(self) -> dict:
        if self._scaling is not None:
            return self._scaling
        d = self.labelled()
        return {"input_offset": d.offset, "input_scale": d.scale}

    def source(self, split="test") -> str:
        if split == "test" and getattr(self, "_test_source", None):
            return self._test_source
        x, y = self.splits()[split]
        return f"{self.spec.train} {split} split ({len(y)} windows of {_steps(self.labelled().lengths[split])})"

    # ---- reports -----------------------------------------------------------------------------------
    def data_lines(self):
        d = self.labelled()
        n = np.concatenate([d.lengths[s] for s in SPLITS])
        return [f"labelled {d.spec.train} / {d.spec.test}: {len(d.channels)} channel(s), {len(d.classes)} classes, "
                f"windows of {_steps(n)}; {d.sizes()}"]

    def summary(self):
        d = self.labelled()
        return {"classes": self.classes, "channels": self.I, "spec": spec_dict(d.spec), "channel_names": d.channels,
                "problem": d.problem, "steps": int(d.x["train"].shape[1]),
                "window_steps": {s: [int(d.lengths[s].min()), int(d.lengths[s].max())] for s in d.lengths},
                "sizes": {s: int(len(d.y[s])) for s in d.y},
                "per_class": {s: counts(d.y[s], len(d.classes)).tolist() for s in d.y}, "description": d.sizes(),
                "input_offset": d.offset.tolist(), "input_scale": d.scale.tolist(),
                "saturation": {s: int((np.abs(d.x[s]) >= 2.0).sum()) for s in d.x}}

    # ---- best.npz ----------------------------------------------------------------------------------
    def record(self, out="."):
        if self.recorded is not None:
            d = self.recorded
        else:
            data = self.labelled()
            d = {"train": recorded_path(self.spec.train, out), "test": recorded_path(self.spec.test, out),
                 "val_fraction": float(self.spec.val_fraction), "channels": list(data.channels),
                 "seq_len": int(data.x["train"].shape[1]),
                 "train_sha256": data_sha256(self.spec.train), "test_sha256": data_sha256(self.spec.test)}
        sc = self.scaling
        return {"labelled_json": np.str_(json.dumps(d, sort_keys=True)),
                **{k: np.asarray(sc[k], np.float64).reshape(-1) for k in SCALING_KEYS}}

    @classmethod
    def from_record(cls, path, raw, I, head) -> "LabelledTask":
        for k in cls.RECORD_KEYS:
            if k not in raw:
                fail(path, k, f"missing key (a classifier of task {cls.name!r})")
        d = json_object(path, raw, "labelled_json")
        problem = record_problem(d, I)
        if problem:
            fail(path, "labelled_json", problem)
        spec = LabelledSpec(d["train"], d["test"], float(d["val_fraction"]))
        return cls(spec, record=d, scaling=read_scaling(path, raw, I, SCALING_KEYS), classes=head.classes,
                   artifact_path=path)


def _steps(n) -> str:
    """Windows' steps in words: "100 steps", or "5..14 steps" when they differ."""
    lo, hi = int(np.min(n)), int(np.max(n))
    return f"{hi} steps" if lo == hi else f"{lo}..{hi} steps"


def zero_past(x, n):
    """x [N, T, C] with each window's steps past its length n [N] set to 0 (not data)."""
    past = np.arange(x.shape[1])[None, :] >= np.asarray(n)[:, None]
    if past.any():
        x[past] = 0.0
    return x


def record_problem(d: dict, I: int) -> str | None:
    """Why a classifier's labelled_json is refused (naming the field), or None."""
    unknown = sorted(set(d) - set(FIELDS) - set(HASH_FIELDS))
    if unknown:
        return f"unknown field {unknown[0][:40]!r}"
    for k in HASH_FIELDS:
        if k in d and not (isinstance(d[k], str) and re.fullmatch(r"[0-9a-f]{64}", d[k])):
            return f"{k}: expected 64 lowercase hex digits, got {str(d[k])[:70]!r}"
    for k, kind in FIELDS.items():
        v = d.get(k)
        ok = isinstance(v, kind) or (kind is float and isinstance(v, int))
        if not ok or isinstance(v, bool):
            return f"field {k!r} missing or not a {kind.__name__}"
    for k in ("train", "test"):
        problem = data_path_problem(d[k], extension=False)
        if problem:
            return f"{k} {problem}"
        if os.path.splitext(d[k])[1].lower() not in EXTENSIONS:
            return f"{k} {d[k]!r}: not a {', '.join(EXTENSIONS)} file"
    f = d["val_fraction"]
    if not (math.isfinite(f) and 0 < f < 1):
        return f"val_fraction {f!r} must be in (0, 1)"
    if len(d["channels"]) != I:
        return f"{len(d['channels'])} channels named, I = {I}"
    for i, name in enumerate(d["channels"]):
        problem = text_problem(name, NAME_MAX)
        if problem:
            return f"channels[{i}]: {problem}"
    lo, hi = SEQ_LEN_RANGE[0], MAX_WINDOW
    if not lo <= d["seq_len"] <= hi:
        return f"seq_len {d['seq_len']!r} is not an integer in {lo}..{hi}"
    return None
