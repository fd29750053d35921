"""The trained model, ``best.npz``: schema (docs/artifact.md, format versions 1 and 2), load
and validate, and the one writer (the trainer saves its best.npz through save_artifact).

Version 2 adds a user's data set (``data_json``) and its scaling (``input_offset``,
``input_scale``, ``target_offset``, ``target_scale``). A model without them (the sine tasks)
is written as version 1, byte for byte as before; both versions load.

Every problem is an ArtifactError whose one-line message names the file and the key, so
``python -m codegen export`` can fail with one clear line before anything is written.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .errors import ArtifactError
from .fileio import atomic_write, write_npz

FORMAT_VERSION = 2                      # the newest version written and read
READ_VERSIONS = (1, 2)
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
_DATA_FIELDS = {"path": str, "inputs": list, "target": str, "horizon": int, "seq_len": int, "fractions": list}


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

    @property
    def C(self) -> int:
        return self.I + self.H


def _fail(path, key, msg):
    where = f"{path}: {key}: " if key else f"{path}: "
    raise ArtifactError(where + msg)


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
            missing = [k for k in REQUIRED_KEYS if k not in names]
            if missing:
                _fail(path, missing[0], "missing key")
            keys = REQUIRED_KEYS + tuple(k for k in V2_KEYS if k in names)
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

    trits = {}
    for k in _TRIT_KEYS:
        a = raw[k]
        if a.dtype != np.int8:
            _fail(path, k, f"expected int8, got dtype {a.dtype}")
        if a.shape != (H, C):
            _fail(path, k, f"expected shape {(H, C)}, got {a.shape}")
        bad = (a < -1) | (a > 1)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            _fail(path, k, f"trit at row {r}, column {c} is {int(a[r, c])}, not in {{-1, 0, +1}}")
        trits[k] = a.copy()

    def json_object(k):
        try:
            d = json.loads(str_scalar(k))
            if not isinstance(d, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            _fail(path, k, f"not a JSON object ({e})")
        return d

    task, config = str_scalar("task"), str_scalar("config")
    metrics = json_object("metrics_json")

    data = scaling = None
    if version >= 2:
        for k in V2_KEYS:
            if k not in raw:
                _fail(path, k, "missing key (format version 2)")
        data = json_object("data_json")
        for k, kind in _DATA_FIELDS.items():
            if not isinstance(data.get(k), kind):
                _fail(path, "data_json", f"field {k!r} missing or not a {kind.__name__}")
        if len(data["inputs"]) != I:
            _fail(path, "data_json", f"{len(data['inputs'])} inputs named, I = {I}")
        scaling = {}
        for k, spec in _SCALING_KEYS.items():
            a = raw[k]
            shape = tuple(I for _ in spec)
            if a.dtype.kind != "f" or a.shape != shape:
                _fail(path, k, f"expected float64 of shape {shape}, got {a.dtype} of shape {a.shape}")
            if not np.all(np.isfinite(a)):
                _fail(path, k, "contains NaN or infinity")
            if k.endswith("scale") and not np.all(a > 0):
                _fail(path, k, "must be > 0")
            scaling[k] = a.astype(np.float64) if spec else float(a)

    return Artifact(
        I=I, H=H, dt=float(floats["dt"]),
        trits_f=trits["trits_f"], trits_g=trits["trits_g"],
        scale_f=floats["scale_f"], scale_g=floats["scale_g"],
        b_f=floats["b_f"], b_g=floats["b_g"], tau=floats["tau"],
        w_o=floats["w_o"], b_o=float(floats["b_o"]),
        task=task, config=config, metrics=metrics,
        teacher={k[len("teacher_"):]: floats[k] for k in _FLOAT_KEYS if k.startswith("teacher_")},
        format_version=version, path=path, data=data, scaling=scaling,
    )


def artifact_arrays(art: Artifact) -> dict:
    """The npz entries (docs/artifact.md) describing ``art``, in the order they are stored."""
    C = art.C
    teacher = art.teacher or {}
    defaults = {"W_f": np.zeros((art.H, C)), "W_g": np.zeros((art.H, C)), "b_f": np.zeros(art.H),
                "b_g": np.zeros(art.H), "tau": np.ones(art.H), "w_o": np.zeros(art.H), "b_o": 0.0}
    d = {
        "format_version": np.int32(2 if art.data is not None else 1),
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
    if art.data is not None:                  # version 2
        d["data_json"] = np.str_(json.dumps(art.data, sort_keys=True))
        for k, spec in _SCALING_KEYS.items():
            d[k] = np.asarray(art.scaling[k], np.float64).reshape(tuple(art.I for _ in spec))
    return d


def write_artifact(art: Artifact, f) -> None:
    """Write ``art`` as npz to the binary file ``f``; the bytes depend on the arrays only
    (cfcbase.fileio.write_npz)."""
    write_npz(f, artifact_arrays(art))


def save_artifact(art: Artifact, path) -> None:
    """Write ``art`` to ``path`` atomically (write_artifact)."""
    atomic_write(os.fspath(path), lambda f: write_artifact(art, f))
