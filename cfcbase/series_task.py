"""A user's series as a task (cfcbase.task.ForecastTask; docs/model.md, "Your own data").

Two ways in: the trainer resolves a SeriesSpec (SeriesTask.resolve: the file read, every default
resolved), or an artifact records one (SeriesTask.from_record: its data_json and scaling, checked;
the file found beside the artifact and read only when the data are asked for). best.npz records
the spec with its defaults resolved, the file relative to the artifact and its sha256, so export
and verify rebuild exactly the training windows.

The baselines stay on the target's levels: persistence (the level at the input's row) and AR(p)
on the target's own last p levels, fitted on the training block; their forecasts are level
forecasts, compared in the model's units (a differenced model: its change's units).
"""
from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np

from .baselines import ar_design, ar_fit
from .metrics import WASHOUT, forecast_metrics
from .rules import (DATA_FIELDS, DATA_OPTIONAL, SCALING_OFFSET_MAX, SCALING_SCALE_RANGE, data_spec_problem, fail,
                    json_object)
from .series import Q14_LIMIT, SeriesSpec, build
from .series_file import data_sha256, locate_data
from .table import recorded_path
from .task import SPLITS, ForecastTask

AR_ORDER = WASHOUT + 1     # the series' AR(p): the whole history of every washout step lies in its window
SCALING_KEYS = {"input_offset": ("I",), "input_scale": ("I",), "target_offset": (), "target_scale": ()}


def spec_dict(spec: SeriesSpec) -> dict:
    """A SeriesSpec as JSON-able fields (data_json without the file's hash)."""
    return {"path": str(spec.path), "inputs": list(spec.inputs), "target": spec.target,
            "horizon": int(spec.horizon), "seq_len": None if spec.seq_len is None else int(spec.seq_len),
            "fractions": [float(f) for f in spec.fractions], "gaps": spec.gaps,
            "max_gap": None if spec.max_gap is None else int(spec.max_gap),
            "difference": (spec.difference if isinstance(spec.difference, str) else
                           {"target": bool(spec.difference["target"]), "inputs": list(spec.difference["inputs"])})}


def spec_of(d: dict) -> SeriesSpec:
    """The SeriesSpec of a data_json. Fields that artifacts written before them lack take what those
    were trained with: gaps refused, levels (no differencing)."""
    return SeriesSpec(d["path"], tuple(d["inputs"]), d["target"], d["horizon"], d["seq_len"],
                      tuple(d["fractions"]), d.get("gaps", "refuse"), d.get("max_gap"), d.get("difference", "none"))


class SeriesTask(ForecastTask):
    """A user's series (see the module docstring)."""
    name = "data"
    preset = "data"
    version = 2
    RECORD_KEYS = ("data_json",) + tuple(SCALING_KEYS)

    def __init__(self, spec: SeriesSpec, data=None, record: dict | None = None, scaling: dict | None = None,
                 artifact_path: str = "<memory>", data_path=None):
        super().__init__()
        self.spec = spec                  # resolved (from the trainer or an artifact)
        self.data = data                  # cfcbase.series.SeriesData, once read
        self.recorded = record            # an artifact's data_json (path relative to it, sha256)
        self._scaling = scaling           # an artifact's scaling
        self.artifact_path = artifact_path
        self.data_path = data_path        # --data FILE instead of the recorded file
        self.note = None                  # why the data read are not the recorded file's, if so

    @classmethod
    def resolve(cls, spec: SeriesSpec) -> "SeriesTask":
        d = build(spec)
        return cls(d.spec, d)

    @classmethod
    def from_key(cls, key) -> "SeriesTask":
        """The task of a key() (a sweep.json's): its spec resolved from the file again."""
        return cls.resolve(spec_of(key["spec"]))

    def files(self) -> list:
        return [str(self.spec.path)]

    def with_data(self, path) -> "SeriesTask":
        """The same model's task on the data of another copy of its file (verify --data FILE)."""
        return SeriesTask(self.spec, None, self.recorded, self._scaling, self.artifact_path, os.fspath(path))

    # ---- identity ----------------------------------------------------------------------------------
    def label(self) -> str:
        return str(self.spec.path).rsplit("/", 1)[-1]

    def default_out(self) -> str:
        return os.path.join("results", os.path.splitext(os.path.basename(str(self.spec.path)))[0] or "data")

    def key(self) -> dict:
        """The resolved spec and the file's content: a changed file is another task."""
        return {"task": self.name, "spec": spec_dict(self.series().spec), "sha256": data_sha256(self.series().spec.path)}

    # ---- data --------------------------------------------------------------------------------------
    def series(self):
        """The SeriesData (read once; an artifact's file found and checked first)."""
        if self.data is None:
            path, self.note = locate_data(self.recorded, self.artifact_path, self.data_path)
            self.data = build(replace(self.spec, path=path))
        return self.data

    def _load(self):
        d = self.series()
        return {s: (d.x[s], d.y[s]) for s in SPLITS}

    @property
    def I(self) -> int:
        return len(self.spec.inputs)

    @property
    def steps(self) -> int:
        return int(self.spec.seq_len)

    @property
    def scaling(self) -> dict:
        """x' = (x - offset) / scale of the inputs and the target (the artifact's, else the data's)."""
        if self._scaling is not None:
            return self._scaling
        d = self.series()
        return {"input_offset": d.x_scaling.offset, "input_scale": d.x_scaling.scale,
                "target_offset": float(d.y_scaling.offset[0]), "target_scale": float(d.y_scaling.scale[0])}

    @property
    def differenced(self) -> tuple:
        """(the target is differenced, [input i is differenced])."""
        df = self.spec.difference if isinstance(self.spec.difference, dict) else {"target": False, "inputs": []}
        return bool(df["target"]), [name in df["inputs"] for name in self.spec.inputs]

    def source(self, split="test") -> str:
        """Where a split comes from, for reports."""
        d = self.series()
        a, b = d.rows[split]
        return f"{d.spec.path} {split} block, rows {a}-{b - 1} (cfcbase.series)"

    # ---- baselines ------------------------------------------------------------------------------------
    def _ar(self):
        d = self.series()
        return ar_fit(d.now["train"], d.ylev["train"], AR_ORDER)

    def baseline_predictions(self, split="test"):
        d = self.series()
        ar = ar_design(d.now[split], AR_ORDER) @ self._ar()
        return {"persistence": d.level_to_model(d.now[split], split), f"AR({AR_ORDER})": d.level_to_model(ar, split)}

    def baselines(self):
        """Persistence and AR(p) on the test block as level forecasts, their metrics in the model's
        scaled units."""
        d = self.series()
        y = d.y["test"]
        coef = self._ar()
        return {"persistence": forecast_metrics(d.level_to_model(d.now["test"], "test"), y, "test_"),
                "ar": dict(forecast_metrics(d.level_to_model(ar_design(d.now["test"], AR_ORDER) @ coef, "test"), y,
                                            "test_"), p=AR_ORDER, coef=[float(c) for c in coef])}

    # ---- reports ----------------------------------------------------------------------------------------
    def data_lines(self):
        d = self.series()
        return [f"data {d.spec.path}: inputs {', '.join(d.inputs)} (I = {len(d.inputs)}), target {d.target} "
                f"{d.spec.horizon} row(s) ahead, windows of {d.spec.seq_len} steps; {d.sizes()}"] + \
               [f"data: {note}" for note in d.notes]

    def summary(self):
        d = self.series()
        return {"spec": spec_dict(d.spec), "inputs": d.inputs, "target": d.target,
                "rows": {s: list(r) for s, r in d.rows.items()},
                "windows": {s: int(d.x[s].shape[0]) for s in d.x}, "sizes": d.sizes(),
                "input_offset": d.x_scaling.offset.tolist(), "input_scale": d.x_scaling.scale.tolist(),
                "target_offset": float(d.y_scaling.offset[0]), "target_scale": float(d.y_scaling.scale[0]),
                "level_offset": float(d.level_scaling.offset[0]), "level_scale": float(d.level_scaling.scale[0]),
                "difference": d.spec.difference, "gaps": d.gaps, "notes": d.notes,
                "sha256": data_sha256(d.spec.path),
                "saturation": {s: {"inputs": int((np.abs(d.x[s]) >= Q14_LIMIT).sum()),
                                   "target": int((np.abs(d.y[s]) >= Q14_LIMIT).sum())} for s in SPLITS}}

    def units(self) -> dict:
        """The target's name, scale and offset (host verify reports MSE in its units)."""
        sc = self.scaling
        return {"target": self.spec.target, "scale": sc["target_scale"], "offset": sc["target_offset"],
                "mse_factor": sc["target_scale"] ** 2, "differenced": self.differenced[0]}

    # ---- best.npz ---------------------------------------------------------------------------------------
    def record(self, out="."):
        if self.recorded is not None:      # an artifact's task written again: as it was recorded
            d = self.recorded
        else:
            s = self.series().spec
            d = dict(spec_dict(s), path=recorded_path(s.path, out), sha256=data_sha256(s.path))
        sc = self.scaling
        entries = {"data_json": np.str_(json.dumps(d, sort_keys=True))}
        for k, spec in SCALING_KEYS.items():
            entries[k] = np.asarray(sc[k], np.float64).reshape(tuple(-1 for _ in spec))  # checked against I on write
        return entries

    @classmethod
    def from_record(cls, path, raw, I, head=None) -> "SeriesTask":
        """The task of a version-2 artifact: data_json and the scaling, checked (ArtifactError:
        one line naming the key)."""
        for k in cls.RECORD_KEYS:
            if k not in raw:
                fail(path, k, "missing key (a model of a data file, task 'data')")
        d = json_object(path, raw, "data_json")
        for k, kind in DATA_FIELDS.items():
            if not isinstance(d.get(k), kind):
                fail(path, "data_json", f"field {k!r} missing or not a {kind.__name__}")
        for k, kind in DATA_OPTIONAL.items():
            if k in d and not isinstance(d[k], kind):
                fail(path, "data_json", f"field {k!r} is not a {kind.__name__}")
        unknown = sorted(set(d) - set(DATA_FIELDS) - set(DATA_OPTIONAL))
        if unknown:
            fail(path, "data_json", f"unknown field {unknown[0][:40]!r}")
        problem = data_spec_problem(d)
        if problem:
            fail(path, "data_json", problem)
        if len(d["inputs"]) != I:
            fail(path, "data_json", f"{len(d['inputs'])} inputs named, I = {I}")
        return cls(spec_of(d), record=d, scaling=read_scaling(path, raw, I, SCALING_KEYS), artifact_path=path)


def read_scaling(path, raw, I, keys: dict) -> dict:
    """The scaling entries ``keys`` ({key: shape spec}) of an artifact, checked against the bounds
    beyond which the Q14 quantization of (v - offset) / scale overflows or loses every bit."""
    out = {}
    for k, spec in keys.items():
        a = raw[k]
        shape = tuple(I for _ in spec)
        if a.dtype.kind != "f" or a.shape != shape:
            fail(path, k, f"expected float64 of shape {shape}, got {a.dtype} of shape {a.shape}")
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            fail(path, k, "contains NaN or infinity")
        if k.endswith("scale"):
            lo, hi = SCALING_SCALE_RANGE
            bad = ~((a >= lo) & (a <= hi))
            rule = f"must be in [{lo:g}, {hi:g}]"
        else:
            bad = ~(np.abs(a) <= SCALING_OFFSET_MAX)
            rule = f"must be at most {SCALING_OFFSET_MAX:g} in magnitude"
        if np.any(bad):
            i = int(np.argmax(bad.ravel()))
            fail(path, k, f"{float(a.ravel()[i])!r}{f' (element {i})' if spec else ''} {rule}: beyond it the Q14 "
                          f"quantization of (v - offset) / scale overflows or loses every bit")
        out[k] = a if spec else float(a)
    return out
