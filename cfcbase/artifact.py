"""The trained model, ``best.npz``: schema (docs/artifact.md, format versions 1, 2 and 3), load
and validate, and the one writer (the trainer saves its best.npz through save_artifact).

Version 2 adds a user's data set (``data_json``) and its scaling (``input_offset``,
``input_scale``, ``target_offset``, ``target_scale``). A model without them (the sine tasks)
is written as version 1, byte for byte as before; both versions load. Version 3 adds a weight
format per head matrix (``format_f``, ``format_g``: ternary or int8; the int8 weights in
``weights_f`` / ``weights_g``); a model with only ternary heads is written as version 1 or 2.

Every problem is an ArtifactError whose one-line message names the file and the key, so
``python -m codegen export`` and ``python -m host verify`` fail with one clear line before
anything is written or run. A best.npz is a file people download and share: every string in
it that may reach generated C or a log is checked against cfcbase.text's character set, every
number against the bounds below (docs/artifact.md).
"""
from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .datafile import PKG_PREFIX                # a file inside an installed package
from .errors import ArtifactError
from .fileio import atomic_write, write_npz
from .tasks import TASKS
from .text import NAME_MAX, PATH_MAX, text_problem

FORMAT_VERSION = 3                      # the newest version written and read
READ_VERSIONS = (1, 2, 3)
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

# Bounds of every float parameter (docs/artifact.md): far beyond any trained model (|values|
# below 4, tau 0.12 .. 6.4 in results/*/best.npz) and what codegen's fixed point carries,
# near enough that no arithmetic on them overflows a double.
PARAM_MAX = 1e6                          # |every float parameter|, teacher included
TAU_RANGE = (1e-6, 1e6)                  # tau and teacher_tau
# Version 2, data_json and the scaling (docs/artifact.md, "Version 2").
DATA_EXTENSIONS = (".csv", ".npy", ".npz")
HORIZON_RANGE = (1, 10_000)
SEQ_LEN_RANGE = (2, 100_000)
FRACTIONS_TOL = 1e-9                     # |train + val + test - 1|
# v' = (v - offset) / scale is quantized to Q14 (2^-14 steps, |v'| < 2) on the host and for the
# device: beyond these the float64 arithmetic overflows (1e300 / 1e-300) or its Q14 bits are
# noise or nothing (a scale below 1e-15 turns the rounding of a reading of order 1, 2.2e-16,
# into 0.2 of v', thousands of Q14 steps; above 1e15 any reading below 1e11 maps to 0; an offset
# above 1e15 leaves v - offset steps of 0.125 or coarser).
SCALING_OFFSET_MAX = 1e15
SCALING_SCALE_RANGE = (1e-15, 1e15)

# ---- version 3: a weight format per head matrix (docs/artifact.md, "Version 3") --------------
# A head is "ternary" (trits_<h>, int8 in {-1, 0, +1}) or "int8" (weights_<h>, int8 in
# [-INT8_MAX, INT8_MAX], symmetric: -128 is refused); either way W = scale_<h>[:, None] * values.
# A file with only ternary heads is written as version 1 or 2, byte for byte as before.
FORMATS = ("ternary", "int8")
HEADS = ("f", "g")
INT8_MAX = 127
V3_KEYS = ("format_f", "format_g")


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
    # version 3: the weight format of each head matrix, "ternary" or "int8". trits_f / trits_g
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
            weight_keys = _v3_weight_keys(path, npz, names)
            missing = [k for k in REQUIRED_KEYS if k not in names and k not in _TRIT_KEYS] + \
                      [k for k in weight_keys if k not in names]
            if missing:
                _fail(path, missing[0], "missing key")
            keys = tuple(k for k in REQUIRED_KEYS if k not in _TRIT_KEYS) + weight_keys + \
                tuple(k for k in V2_KEYS + V3_KEYS if k in names)
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
    for k, a in floats.items():
        lo, hi = TAU_RANGE if k.endswith("tau") else (-PARAM_MAX, PARAM_MAX)
        bad = ~((a >= lo) & (a <= hi))
        if bad.any():
            i = int(np.argmax(bad.ravel()))
            _fail(path, k, f"{float(a.ravel()[i])!r}{f' (element {i})' if a.ndim else ''} is outside "
                           f"[{lo:g}, {hi:g}]")

    formats = _v3_formats(path, raw, version)
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
    data_model = version == 2 or (version == 3 and all(k in raw for k in V2_KEYS))
    if data_model:
        for k in V2_KEYS:
            if k not in raw:
                _fail(path, k, f"missing key (format version {version})")
    if not data_model and task not in TASKS:
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

    return Artifact(
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


# ---- version 3: the weight format per head (docs/artifact.md, "Version 3") -----------------------

def _v3_weight_keys(path, npz, names) -> tuple:
    """The weight keys a file must hold: trits_<h> for a ternary head, weights_<h> for an int8 one
    (the formats are read here first; _v3_formats checks them)."""
    keys = []
    for h in HEADS:
        fmt = "ternary"
        if f"format_{h}" in names:
            try:
                a = npz[f"format_{h}"]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
                _fail(path, f"format_{h}", f"unreadable ({type(e).__name__}: {e}); truncated or corrupt file?")
            if a.shape != () or a.dtype.kind != "U":
                _fail(path, f"format_{h}", f"expected a unicode scalar, got {a.dtype} of shape {a.shape}")
            fmt = str(a)
            if fmt not in FORMATS:
                _fail(path, f"format_{h}", f"unknown weight format {fmt[:40]!r} (known: {', '.join(FORMATS)})")
        keys.append(("weights_" if fmt == "int8" else "trits_") + h)
    return tuple(keys)


def _v3_formats(path, raw, version) -> tuple:
    """(format_f, format_g): "ternary" for versions 1 and 2; version 3 names both, one of FORMATS,
    at least one of them int8 (a ternary-only model is version 1 or 2)."""
    present = [k for k in V3_KEYS if k in raw]
    if version < 3:
        if present:
            _fail(path, present[0], f"a weight format needs format version 3, the file is version {version}")
        for h in HEADS:
            if f"weights_{h}" in raw:
                _fail(path, f"weights_{h}", f"int8 weights need format version 3, the file is version {version}")
        return ("ternary", "ternary")
    out = []
    for k in V3_KEYS:
        if k not in raw:
            _fail(path, k, "missing key (format version 3)")
        a = raw[k]
        if a.shape != () or a.dtype.kind != "U":
            _fail(path, k, f"expected a unicode scalar, got {a.dtype} of shape {a.shape}")
        if str(a) not in FORMATS:
            _fail(path, k, f"unknown weight format {str(a)[:40]!r} (known: {', '.join(FORMATS)})")
        out.append(str(a))
    if "int8" not in out:
        _fail(path, "format_f", "format version 3 is for int8 heads; a ternary-only model is version 1 or 2")
    return tuple(out)


def _v3_arrays(art: Artifact) -> dict:
    """The version-3 entries of an artifact with an int8 head: the formats; an int8 head's weights
    go under weights_<h> instead of trits_<h> (artifact_arrays renames them)."""
    return {"format_f": np.str_(art.format_f), "format_g": np.str_(art.format_g)}


def data_path_problem(p, extension: bool = True) -> str | None:
    """Why ``p`` cannot be a version-2 artifact's data reference (a relative path or
    pkg:PACKAGE/PATH of at most PATH_MAX safe characters, a .csv, .npy or .npz file), or None.
    ``extension=False`` leaves the extension to the caller (the trainer: cfcbase.series)."""
    problem = text_problem(p, PATH_MAX)
    if problem:
        return f"path: {problem}"
    if p.startswith(PKG_PREFIX):
        pkg, _, rel = p[len(PKG_PREFIX):].partition("/")
        if not pkg.isidentifier() or not rel or rel.startswith("/") or ".." in rel.split("/"):
            return f"path {p!r}: expected pkg:PACKAGE/PATH, a file inside the installed Python package PACKAGE"
    elif os.path.isabs(p) or not p:
        return f"path {p!r} must be relative or pkg:PACKAGE/PATH"
    if extension and os.path.splitext(p)[1].lower() not in DATA_EXTENSIONS:
        return f"path {p!r}: not a {', '.join(DATA_EXTENSIONS)} file"
    return None


def data_spec_problem(d: dict) -> str | None:
    """Why a version-2 data spec (data_json: the fields of _DATA_FIELDS, types already checked)
    is refused, naming the field, or None. The rules of docs/artifact.md, "Version 2"."""
    problem = data_path_problem(d["path"])
    if problem:
        return problem
    if not d["inputs"]:
        return "inputs: no input column named"
    for i, name in enumerate(d["inputs"]):
        problem = text_problem(name, NAME_MAX)
        if problem:
            return f"inputs[{i}]: {problem}"
    if len(set(d["inputs"])) != len(d["inputs"]):
        dup = next(c for c in d["inputs"] if d["inputs"].count(c) > 1)
        return f"inputs: column {dup!r} named twice"
    problem = text_problem(d["target"], NAME_MAX)
    if problem:
        return f"target: {problem}"
    for k, (lo, hi) in (("horizon", HORIZON_RANGE), ("seq_len", SEQ_LEN_RANGE)):
        v = d[k]
        if isinstance(v, bool) or not lo <= v <= hi:
            return f"{k} {v!r} is not an integer in {lo}..{hi}"
    fr = d["fractions"]
    if (len(fr) != 3 or any(isinstance(f, bool) or not isinstance(f, (int, float)) for f in fr)
            or not all(math.isfinite(f) and f > 0 for f in fr) or not abs(sum(fr) - 1.0) <= FRACTIONS_TOL):
        return f"fractions {fr!r} must be three finite numbers > 0 (train, val, test) adding up to 1"
    return None


def artifact_arrays(art: Artifact) -> dict:
    """The npz entries (docs/artifact.md) describing ``art``, in the order they are stored."""
    C = art.C
    teacher = art.teacher or {}
    defaults = {"W_f": np.zeros((art.H, C)), "W_g": np.zeros((art.H, C)), "b_f": np.zeros(art.H),
                "b_g": np.zeros(art.H), "tau": np.ones(art.H), "w_o": np.zeros(art.H), "b_o": 0.0}
    d = {
        "format_version": np.int32(3 if art.has_int8 else 2 if art.data is not None else 1),
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
    if art.has_int8:                          # version 3 (its own block)
        d.update(_v3_arrays(art))
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
