"""The trained model, ``best.npz``: schema (docs/artifact.md, format versions 1, 2 and 3), load
and validate, and the one writer (the trainer saves its best.npz through save_artifact).

Version 2 adds a user's data set (``data_json``) and its scaling (``input_offset``,
``input_scale``, ``target_offset``, ``target_scale``). A model without them (the sine tasks)
is written as version 1, byte for byte as before; both versions load. Version 3 adds a
classifier (cfcbase.artifact_classify): K logits from the hidden state instead
of the regression readout. Version 4 adds a weight format per head matrix (``format_f``,
``format_g``: ternary or int8; the int8 weights in ``weights_f`` / ``weights_g``; cfcbase.artifact_int8); a model with
only ternary heads is written as version 1, 2 or 3.

Every problem is an ArtifactError whose one-line message names the file and the key, so
``python -m codegen export`` and ``python -m host verify`` fail with one clear line before
anything is written or run. A best.npz is a file people download and share: every string in
it that may reach generated C or a log is checked against cfcbase.text's character set, every
number against the bounds of cfcbase.artifact_rules (docs/artifact.md).
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .artifact_classify import (CLASSIFIER_KEYS, CLASSIFIER_VERSION, LABELLED_KEYS, REGRESSION_READOUT,
                                _validate_classifier, _zero_readout, classifier_arrays, is_classifier_file)
from .artifact_int8 import HEADS, INT8_KEYS, INT8_MAX, INT8_VERSION, _int8_arrays, _int8_formats, _int8_weight_keys
from .artifact_rules import (_DATA_FIELDS, _DATA_OPTIONAL, PARAM_MAX, SCALING_OFFSET_MAX, SCALING_SCALE_RANGE,
                             TAU_RANGE, _fail, data_spec_problem)
from .errors import ArtifactError
from .fileio import atomic_write, write_npz
from .tasks import TASKS
from .text import NAME_MAX, text_problem

FORMAT_VERSION = 4                      # the newest version written and read
READ_VERSIONS = (1, 2, 3, 4)
DATA_TASK = "data"                      # `task` of a version-2 model trained on a user's series

# key -> (kind, shape spec); shape spec entries are ints or the names "H" / "C"
_INT_SCALARS = ("format_version", "I", "H")
_STR_SCALARS = ("task", "config", "metrics_json")
_FLOAT_KEYS = {
    "dt": (),
    "scale_f": ("H",), "scale_g": ("H",),
    "b_f": ("H",), "b_g": ("H",), "tau": ("H",), "w_o": ("H",), "b_o": (),
    "teacher_W_f": ("H", "C"), "teacher_W_g": ("H", "C"),
    "teacher_b_f": ("H",), "teacher_b_g": ("H",), "teacher_tau": ("H",),
    "teacher_w_o": ("H",), "teacher_b_o": (),
}
_TRIT_KEYS = ("trits_f", "trits_g")
REQUIRED_KEYS = _INT_SCALARS + _STR_SCALARS + tuple(_FLOAT_KEYS) + _TRIT_KEYS
_SCALING_KEYS = {"input_offset": ("I",), "input_scale": ("I",), "target_offset": (), "target_scale": ()}
V2_KEYS = ("data_json",) + tuple(_SCALING_KEYS)


def committed_model(task: str = "sine") -> str:
    """Where the checkout keeps a pinned task's selected model (relative to the checkout)."""
    return f"results/{task}/best.npz"


@dataclass
class Artifact:
    """A validated trained model (float parameters as in docs/artifact.md)."""
    I: int
    H: int
    dt: float
    trits_f: np.ndarray  # int8 [H, C]
    trits_g: np.ndarray  # int8 [H, C]
    scale_f: np.ndarray  # float64 [H]
    scale_g: np.ndarray
    b_f: np.ndarray
    b_g: np.ndarray
    tau: np.ndarray
    w_o: np.ndarray
    b_o: float
    task: str = "sine"
    config: str = ""
    metrics: dict = field(default_factory=dict)
    teacher: dict = field(default_factory=dict)
    format_version: int = 1
    path: str = "<memory>"
    # version 2: the series spec (cfcbase.tasks.spec_dict) and per-channel scaling
    # v' = (v - offset) / scale: {"input_offset", "input_scale" [I], "target_offset", "target_scale"}
    data: dict | None = None
    scaling: dict | None = None
    # version 3, a classifier: {"classes": [K names], "w_c" [K, H], "b_c" [K], "pooling"} (then
    # w_o, b_o are zeros: no regression readout), and for a labelled file its reference
    # (labelled_json) with the input scaling in `scaling` ({"input_offset", "input_scale"} only)
    head: dict | None = None
    labelled: dict | None = None
    # version 4: the weight format of each head matrix, "ternary" or "int8". trits_f / trits_g
    # hold the head's integer weights either way: trits in {-1, 0, +1}, or int8 in [-127, 127].
    format_f: str = "ternary"
    format_g: str = "ternary"

    @property
    def C(self) -> int:
        return self.I + self.H

    @property
    def formats(self) -> tuple:
        """(format_f, format_g)."""
        return (self.format_f, self.format_g)

    @property
    def has_int8(self) -> bool:
        return "int8" in self.formats


def load_artifact(path) -> Artifact:
    """Read and validate a best.npz; raise ArtifactError (one line) on any problem."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        _fail(path, None, "no such file")
    if not zipfile.is_zipfile(path):
        _fail(path, None, "not an npz archive (not a zip file)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = set(npz.files)
            classifier = is_classifier_file(names)             # [classification hook]
            weight_keys = _int8_weight_keys(path, npz, names)
            missing = [k for k in REQUIRED_KEYS if k not in names and k not in _TRIT_KEYS
                       and not (classifier and k in REGRESSION_READOUT)] + [k for k in weight_keys if k not in names]
            if missing:
                _fail(path, missing[0], "missing key")
            keys = tuple(k for k in REQUIRED_KEYS if k in names and k not in _TRIT_KEYS) + weight_keys
            keys += tuple(k for k in V2_KEYS + INT8_KEYS + CLASSIFIER_KEYS + LABELLED_KEYS if k in names and k not in keys)
            raw = {}
            for k in keys:
                try:
                    raw[k] = npz[k]
                except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
                    _fail(path, k, f"unreadable ({type(e).__name__}: {e}); truncated or corrupt file?")
    except ArtifactError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        _fail(path, None, f"not a readable npz archive ({type(e).__name__}: {e}); truncated or corrupt file?")
    return _validate(path, raw)


def _validate(path, raw) -> Artifact:
    classifier = is_classifier_file(raw)               # [classification hook]
    if classifier:
        raw = dict(raw, **_zero_readout(path, raw))
    def int_scalar(k):
        a = raw[k]
        if a.shape != () or not np.issubdtype(a.dtype, np.integer):
            _fail(path, k, f"expected an integer scalar, got {a.dtype} of shape {a.shape}")
        return int(a)

    def str_scalar(k):
        a = raw[k]
        if a.shape != () or a.dtype.kind != "U":
            _fail(path, k, f"expected a unicode scalar, got {a.dtype} of shape {a.shape}")
        return str(a)

    version = int_scalar("format_version")
    if version not in READ_VERSIONS:
        _fail(path, "format_version", f"unknown format version {version} (this version reads "
                                      f"{', '.join(map(str, READ_VERSIONS))})")
    I, H = int_scalar("I"), int_scalar("H")
    if not 1 <= I <= 255:
        _fail(path, "I", f"inputs per step must be in 1..255, got {I}")
    if not 1 <= H <= 1024:
        _fail(path, "H", f"hidden units must be in 1..1024, got {H}")
    C = I + H
    dims = {"H": H, "C": C}

    floats = {}
    for k, spec in _FLOAT_KEYS.items():
        a = raw[k]
        shape = tuple(dims[s] for s in spec)
        if a.dtype.kind != "f":
            _fail(path, k, f"expected float64, got dtype {a.dtype}")
        if a.shape != shape:
            _fail(path, k, f"expected shape {shape}, got {a.shape}")
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            _fail(path, k, "contains NaN or infinity")
        floats[k] = a
    for k in ("scale_f", "scale_g", "tau", "teacher_tau"):
        if not np.all(floats[k] > 0):
            i = int(np.argmin(floats[k] > 0))
            _fail(path, k, f"must be > 0, element {i} is {float(floats[k][i])!r}")
    if not floats["dt"] > 0:
        _fail(path, "dt", f"must be > 0, got {float(floats['dt'])!r}")
    for k, a in floats.items():
        lo, hi = TAU_RANGE if k.endswith("tau") else (-PARAM_MAX, PARAM_MAX)
        bad = ~((a >= lo) & (a <= hi))
        if bad.any():
            i = int(np.argmax(bad.ravel()))
            _fail(path, k, f"{float(a.ravel()[i])!r}{f' (element {i})' if a.ndim else ''} is outside "
                           f"[{lo:g}, {hi:g}]")

    formats = _int8_formats(path, raw, version)
    trits = {}
    for h, fmt in zip(HEADS, formats):
        k = ("trits_" if fmt == "ternary" else "weights_") + h
        a = raw[k]
        if a.dtype != np.int8:
            _fail(path, k, f"expected int8, got dtype {a.dtype}")
        if a.shape != (H, C):
            _fail(path, k, f"expected shape {(H, C)}, got {a.shape}")
        lo, hi = (-1, 1) if fmt == "ternary" else (-INT8_MAX, INT8_MAX)
        bad = (a < lo) | (a > hi)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            what = "trit" if fmt == "ternary" else "int8 weight"
            rng = "{-1, 0, +1}" if fmt == "ternary" else f"[-{INT8_MAX}, {INT8_MAX}]"
            _fail(path, k, f"{what} at row {r}, column {c} is {int(a[r, c])}, not in {rng}")
        trits["trits_" + h] = a.copy()

    def json_object(k):
        try:
            d = json.loads(str_scalar(k))
            if not isinstance(d, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            _fail(path, k, f"not a JSON object ({e})")
        return d

    task, config = str_scalar("task"), str_scalar("config")
    for k, v in (("task", task), ("config", config)):
        problem = text_problem(v, NAME_MAX)
        if problem:
            _fail(path, k, problem)
    if classifier and version != CLASSIFIER_VERSION:
        _fail(path, "format_version", f"a classifier (key K) is a format version {CLASSIFIER_VERSION} file, "
                                      f"this one says {version}")
    if version == CLASSIFIER_VERSION and not classifier:
        _fail(path, "K", f"missing key (format version {CLASSIFIER_VERSION} is a classifier)")
    data_model = version == 2 or (version == INT8_VERSION and all(k in raw for k in V2_KEYS))
    if data_model:
        for k in V2_KEYS:
            if k not in raw:
                _fail(path, k, f"missing key (format version {version})")
    if not data_model and not classifier and task not in TASKS:
        _fail(path, "task", f"unknown task {task!r} (known: {', '.join(TASKS)})")
    if data_model and task != DATA_TASK:
        _fail(path, "task", f"format version 2 is a model of a data file: task must be {DATA_TASK!r}, got {task!r}")
    metrics = json_object("metrics_json")

    data = scaling = None
    if data_model:
        data = json_object("data_json")
        for k, kind in _DATA_FIELDS.items():
            if not isinstance(data.get(k), kind):
                _fail(path, "data_json", f"field {k!r} missing or not a {kind.__name__}")
        for k, kind in _DATA_OPTIONAL.items():
            if k in data and not isinstance(data[k], kind):
                _fail(path, "data_json", f"field {k!r} is not a {kind.__name__}")
        unknown = sorted(set(data) - set(_DATA_FIELDS) - set(_DATA_OPTIONAL))
        if unknown:
            _fail(path, "data_json", f"unknown field {unknown[0][:40]!r}")
        problem = data_spec_problem(data)
        if problem:
            _fail(path, "data_json", problem)
        if len(data["inputs"]) != I:
            _fail(path, "data_json", f"{len(data['inputs'])} inputs named, I = {I}")
        scaling = {}
        for k, spec in _SCALING_KEYS.items():
            a = raw[k]
            shape = tuple(I for _ in spec)
            if a.dtype.kind != "f" or a.shape != shape:
                _fail(path, k, f"expected float64 of shape {shape}, got {a.dtype} of shape {a.shape}")
            a = a.astype(np.float64)
            if not np.all(np.isfinite(a)):
                _fail(path, k, "contains NaN or infinity")
            if k.endswith("scale"):
                lo, hi = SCALING_SCALE_RANGE
                bad = ~((a >= lo) & (a <= hi))
                rule = f"must be in [{lo:g}, {hi:g}]"
            else:
                bad = ~(np.abs(a) <= SCALING_OFFSET_MAX)
                rule = f"must be at most {SCALING_OFFSET_MAX:g} in magnitude"
            if np.any(bad):
                i = int(np.argmax(bad.ravel()))
                _fail(path, k, f"{float(a.ravel()[i])!r}{f' (element {i})' if spec else ''} {rule}: beyond it the Q14 "
                               f"quantization of (v - offset) / scale overflows or loses every bit")
            scaling[k] = a if spec else float(a)

    art = Artifact(
        I=I, H=H, dt=float(floats["dt"]),
        trits_f=trits["trits_f"], trits_g=trits["trits_g"],
        scale_f=floats["scale_f"], scale_g=floats["scale_g"],
        b_f=floats["b_f"], b_g=floats["b_g"], tau=floats["tau"],
        w_o=floats["w_o"], b_o=float(floats["b_o"]),
        task=task, config=config, metrics=metrics,
        teacher={k[len("teacher_"):]: floats[k] for k in _FLOAT_KEYS if k.startswith("teacher_")},
        format_version=version, path=path, data=data, scaling=scaling,
        format_f=formats[0], format_g=formats[1],
    )
    if classifier:                                      # [classification hook]
        _validate_classifier(path, raw, art)
    return art


def artifact_arrays(art: Artifact) -> dict:
    """The npz entries (docs/artifact.md) describing ``art``, in the order they are stored."""
    if art.head is not None and art.has_int8:
        raise ValueError("a classifier has ternary heads (artifact version 3); int8 heads are for regression models")
    C = art.C
    teacher = art.teacher or {}
    defaults = {"W_f": np.zeros((art.H, C)), "W_g": np.zeros((art.H, C)), "b_f": np.zeros(art.H),
                "b_g": np.zeros(art.H), "tau": np.ones(art.H), "w_o": np.zeros(art.H), "b_o": 0.0}
    d = {
        "format_version": np.int32(CLASSIFIER_VERSION if art.head is not None else INT8_VERSION if art.has_int8
                                   else 2 if art.data is not None else 1),
        "task": np.str_(art.task), "config": np.str_(art.config),
        "I": np.int32(art.I), "H": np.int32(art.H), "dt": np.float64(art.dt),
        "trits_f": np.asarray(art.trits_f, np.int8), "trits_g": np.asarray(art.trits_g, np.int8),
        "scale_f": np.asarray(art.scale_f, np.float64), "scale_g": np.asarray(art.scale_g, np.float64),
        "b_f": np.asarray(art.b_f, np.float64), "b_g": np.asarray(art.b_g, np.float64),
        "tau": np.asarray(art.tau, np.float64), "w_o": np.asarray(art.w_o, np.float64),
        "b_o": np.float64(art.b_o),
    }
    for k, v in defaults.items():
        d["teacher_" + k] = np.asarray(teacher.get(k, v), np.float64)
    d["metrics_json"] = np.str_(json.dumps(art.metrics, sort_keys=True))
    if art.head is not None:                  # version 3, a classifier [classification hook]
        return classifier_arrays(art, d)
    if art.data is not None:                  # version 2
        d["data_json"] = np.str_(json.dumps(art.data, sort_keys=True))
        for k, spec in _SCALING_KEYS.items():
            d[k] = np.asarray(art.scaling[k], np.float64).reshape(tuple(art.I for _ in spec))
    if art.has_int8:                          # version 4 (cfcbase.artifact_int8)
        d.update(_int8_arrays(art))
        d = {(f"weights_{k[-1]}" if k in _TRIT_KEYS and getattr(art, f"format_{k[-1]}") == "int8" else k): v
             for k, v in d.items()}
    return d


def write_artifact(art: Artifact, f) -> None:
    """Write ``art`` as npz to the binary file ``f``; the bytes depend on the arrays only
    (cfcbase.fileio.write_npz)."""
    write_npz(f, artifact_arrays(art))


def save_artifact(art: Artifact, path) -> None:
    """Write ``art`` to ``path`` atomically (write_artifact)."""
    atomic_write(os.fspath(path), lambda f: write_artifact(art, f))
