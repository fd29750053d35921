"""The trained model, ``best.npz``: schema (docs/artifact.md, format versions 1, 2 and 3), load
and validate, and the one writer (the trainer saves its best.npz through save_artifact).

Version 2 adds a user's data set (``data_json``) and its scaling (``input_offset``,
``input_scale``, ``target_offset``, ``target_scale``). A model without them (the sine tasks)
is written as version 1, byte for byte as before; both versions load. Version 3 adds a
classifier (the block "Version 3: a classifier" below): K logits from the hidden state instead
of the regression readout. Version 4 adds a weight format per head matrix (``format_f``,
``format_g``: ternary or int8; the int8 weights in ``weights_f`` / ``weights_g``); a model with
only ternary heads is written as version 1, 2 or 3.

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
_DATA_FIELDS = {"path": str, "inputs": list, "target": str, "horizon": int, "seq_len": int, "fractions": list}
# fields a version-2 data_json may carry (artifacts written before them lack them: docs/artifact.md)
_DATA_OPTIONAL = {"sha256": str, "gaps": str, "max_gap": int, "difference": dict}
GAP_POLICIES = ("interpolate", "refuse")
MAX_GAP_RANGE = (0, 1_000_000)

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

# ---- version 4: a weight format per head matrix (docs/artifact.md, "Version 4: int8 heads") ---
# A head is "ternary" (trits_<h>, int8 in {-1, 0, +1}) or "int8" (weights_<h>, int8 in
# [-INT8_MAX, INT8_MAX], symmetric: -128 is refused); either way W = scale_<h>[:, None] * values.
# A file with only ternary heads is written as version 1, 2 or 3, byte for byte as before.
FORMATS = ("ternary", "int8")
HEADS = ("f", "g")
INT8_MAX = 127
INT8_VERSION = 4
INT8_KEYS = ("format_f", "format_g")


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


# ---- version 4: the weight format per head (docs/artifact.md, "Version 4: int8 heads") ----------

def _int8_weight_keys(path, npz, names) -> tuple:
    """The weight keys a file must hold: trits_<h> for a ternary head, weights_<h> for an int8 one
    (the formats are read here first; _int8_formats checks them)."""
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


def _int8_formats(path, raw, version) -> tuple:
    """(format_f, format_g): "ternary" for versions 1 to 3; version 4 names both, one of FORMATS,
    at least one of them int8 (a ternary-only model is version 1, 2 or 3; a classifier has
    ternary heads)."""
    present = [k for k in INT8_KEYS if k in raw]
    if version != INT8_VERSION:
        if present:
            _fail(path, present[0], f"a weight format needs format version {INT8_VERSION}, the file is version {version}")
        for h in HEADS:
            if f"weights_{h}" in raw:
                _fail(path, f"weights_{h}", f"int8 weights need format version {INT8_VERSION}, the file is version {version}")
        return ("ternary", "ternary")
    out = []
    for k in INT8_KEYS:
        if k not in raw:
            _fail(path, k, f"missing key (format version {INT8_VERSION})")
        a = raw[k]
        if a.shape != () or a.dtype.kind != "U":
            _fail(path, k, f"expected a unicode scalar, got {a.dtype} of shape {a.shape}")
        if str(a) not in FORMATS:
            _fail(path, k, f"unknown weight format {str(a)[:40]!r} (known: {', '.join(FORMATS)})")
        out.append(str(a))
    if "int8" not in out:
        _fail(path, "format_f", f"format version {INT8_VERSION} is for int8 heads; a ternary-only model is version 1 or 2")
    return tuple(out)


def _int8_arrays(art: Artifact) -> dict:
    """The version-4 entries of an artifact with an int8 head: the formats; an int8 head's weights
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
    if "sha256" in d and not (len(d["sha256"]) == 64 and all(c in "0123456789abcdef" for c in d["sha256"])):
        return f"sha256 {d['sha256'][:70]!r} is not 64 lowercase hexadecimal digits"
    if "gaps" in d and d["gaps"] not in GAP_POLICIES:
        return f"gaps {d['gaps'][:40]!r} is not one of {', '.join(GAP_POLICIES)}"
    if "max_gap" in d:
        lo, hi = MAX_GAP_RANGE
        if isinstance(d["max_gap"], bool) or not lo <= d["max_gap"] <= hi:
            return f"max_gap {d['max_gap']!r} is not an integer in {lo}..{hi}"
    if "difference" in d:
        df = d["difference"]
        if set(df) != {"target", "inputs"} or not isinstance(df["target"], bool) or not isinstance(df["inputs"], list):
            return "difference: expected {\"target\": true or false, \"inputs\": [input columns]}"
        if any(not isinstance(c, str) or c not in d["inputs"] for c in df["inputs"]) or \
                len(set(df["inputs"])) != len(df["inputs"]):
            return f"difference: inputs {str(df['inputs'])[:80]} must be distinct names out of inputs"
    return None


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
    if art.has_int8:                          # version 4 (its own block)
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


# ---- version 3: a classifier (docs/artifact.md, "Version 3: a classifier") [classification block]
# K logits from the hidden state (the state after the window's last step, or its mean over the
# window) instead of the regression readout: the keys below replace w_o, b_o, teacher_w_o and
# teacher_b_o, which a classifier file does not carry (its Artifact has zeros there).

CLASSIFIER_VERSION = 3
LABELLED_TASK = "labelled"               # `task` of a classifier of a labelled file (.ts, .npz)
POOLINGS = ("last", "mean")
K_RANGE = (2, 32)                        # classes (the LOGITS reply: docs/protocol.md)
_HEAD_KEYS = {"w_c": ("K", "H"), "b_c": ("K",), "teacher_w_c": ("K", "H"), "teacher_b_c": ("K",)}
CLASSIFIER_KEYS = ("K", "class_names", "pooling") + tuple(_HEAD_KEYS)
LABELLED_KEYS = ("labelled_json", "input_offset", "input_scale")
REGRESSION_READOUT = ("w_o", "b_o", "teacher_w_o", "teacher_b_o")
_LABELLED_FIELDS = {"train": str, "test": str, "val_fraction": float, "channels": list, "seq_len": int}
LABELLED_EXTENSIONS = (".ts", ".npz")


def is_classifier_file(names) -> bool:
    """A classifier's npz (its keys ``names``): it carries K."""
    return "K" in names


def _zero_readout(path, raw) -> dict:
    """The regression readout a classifier does not carry, as zeros (so that the checks of every
    version run on it unchanged); a classifier file that carries it is refused."""
    for k in REGRESSION_READOUT:
        if k in raw:
            _fail(path, k, "a classifier (key K) carries no regression readout")
    H = int(raw["H"]) if raw["H"].shape == () and np.issubdtype(raw["H"].dtype, np.integer) else 0
    return {"w_o": np.zeros(max(H, 0)), "b_o": np.float64(0.0), "teacher_w_o": np.zeros(max(H, 0)),
            "teacher_b_o": np.float64(0.0)}


def _validate_classifier(path, raw, art: Artifact) -> None:
    """The version-3 classifier keys (docs/artifact.md): K, class_names, pooling, the head and
    the teacher's, and for task `labelled` the file reference and the input scaling."""
    from .labelled import CLASSIFY_TASKS
    a = raw["K"]
    if a.shape != () or not np.issubdtype(a.dtype, np.integer):
        _fail(path, "K", f"expected an integer scalar, got {a.dtype} of shape {a.shape}")
    K = int(a)
    if not K_RANGE[0] <= K <= K_RANGE[1]:
        _fail(path, "K", f"classes must be in {K_RANGE[0]}..{K_RANGE[1]}, got {K}")
    for k in CLASSIFIER_KEYS:
        if k not in raw:
            _fail(path, k, "missing key (a classifier, format version 3)")
    names = raw["class_names"]
    if names.dtype.kind != "U" or names.shape != (K,):
        _fail(path, "class_names", f"expected {K} names as unicode, got {names.dtype} of shape {names.shape}")
    classes = [str(c) for c in names]
    for i, c in enumerate(classes):
        problem = text_problem(c, NAME_MAX)
        if problem:
            _fail(path, "class_names", f"class {i}: {problem}")
    if len(set(classes)) != K:
        dup = next(c for c in classes if classes.count(c) > 1)
        _fail(path, "class_names", f"class {dup!r} named twice")
    pooling = raw["pooling"]
    if pooling.shape != () or pooling.dtype.kind != "U" or str(pooling) not in POOLINGS:
        _fail(path, "pooling", f"expected one of {', '.join(POOLINGS)}, got {str(pooling)[:40]!r}")
    head = {}
    dims = {"K": K, "H": art.H}
    for k, spec in _HEAD_KEYS.items():
        v = raw[k]
        shape = tuple(dims[d] for d in spec)
        if v.dtype.kind != "f" or v.shape != shape:
            _fail(path, k, f"expected float64 of shape {shape}, got {v.dtype} of shape {v.shape}")
        v = v.astype(np.float64)
        bad = ~(np.abs(v) <= PARAM_MAX)
        if bad.any():
            i = int(np.argmax(bad.ravel()))
            _fail(path, k, f"{float(v.ravel()[i])!r} (element {i}) is outside [{-PARAM_MAX:g}, {PARAM_MAX:g}]")
        head[k] = v
    task = art.task
    if task not in CLASSIFY_TASKS + (LABELLED_TASK,):
        _fail(path, "task", f"unknown classification task {task!r} (known: {', '.join(CLASSIFY_TASKS)}, and "
                            f"{LABELLED_TASK!r} for a labelled file)")
    labelled = scaling = None
    if task == LABELLED_TASK:
        for k in LABELLED_KEYS:
            if k not in raw:
                _fail(path, k, f"missing key (a classifier of task {LABELLED_TASK!r})")
        a = raw["labelled_json"]
        if a.shape != () or a.dtype.kind != "U":
            _fail(path, "labelled_json", f"expected a unicode scalar, got {a.dtype} of shape {a.shape}")
        try:
            labelled = json.loads(str(a))
            if not isinstance(labelled, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            _fail(path, "labelled_json", f"not a JSON object ({e})")
        problem = labelled_spec_problem(labelled, art.I)
        if problem:
            _fail(path, "labelled_json", problem)
        scaling = {}
        for k in ("input_offset", "input_scale"):
            v = raw[k]
            if v.dtype.kind != "f" or v.shape != (art.I,):
                _fail(path, k, f"expected float64 of shape {(art.I,)}, got {v.dtype} of shape {v.shape}")
            v = v.astype(np.float64)
            lo, hi = SCALING_SCALE_RANGE if k == "input_scale" else (-SCALING_OFFSET_MAX, SCALING_OFFSET_MAX)
            bad = ~((v >= lo) & (v <= hi))
            if bad.any():
                i = int(np.argmax(bad))
                _fail(path, k, f"{float(v[i])!r} (element {i}) must be in [{lo:g}, {hi:g}]: beyond it the Q14 "
                               f"quantization of (v - offset) / scale overflows or loses every bit")
            scaling[k] = v
    else:
        extra = [k for k in LABELLED_KEYS if k in raw]
        if extra:
            _fail(path, extra[0], f"task {task!r} is a pinned task: it has no labelled file or scaling")
    art.head = {"classes": classes, "w_c": head["w_c"], "b_c": head["b_c"], "pooling": str(pooling)}
    art.teacher["w_c"], art.teacher["b_c"] = head["teacher_w_c"], head["teacher_b_c"]
    art.labelled, art.scaling = labelled, scaling


def labelled_spec_problem(d: dict, I: int) -> str | None:
    """Why a classifier's labelled_json is refused (naming the field), or None."""
    for k, kind in _LABELLED_FIELDS.items():
        v = d.get(k)
        if kind is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, kind) or isinstance(v, bool):
            return f"field {k!r} missing or not a {kind.__name__}"
    for k in ("train", "test"):
        problem = data_path_problem(d[k], extension=False)
        if problem:
            return f"{k} {problem}"
        if os.path.splitext(d[k])[1].lower() not in LABELLED_EXTENSIONS:
            return f"{k} {d[k]!r}: not a {', '.join(LABELLED_EXTENSIONS)} file"
    if not (math.isfinite(d["val_fraction"]) and 0 < d["val_fraction"] < 1):
        return f"val_fraction {d['val_fraction']!r} must be in (0, 1)"
    if len(d["channels"]) != I:
        return f"{len(d['channels'])} channels named, I = {I}"
    for i, name in enumerate(d["channels"]):
        problem = text_problem(name, NAME_MAX)
        if problem:
            return f"channels[{i}]: {problem}"
    lo, hi = SEQ_LEN_RANGE
    if not lo <= d["seq_len"] <= hi:
        return f"seq_len {d['seq_len']!r} is not an integer in {lo}..{hi}"
    return None


def classifier_arrays(art: Artifact, d: dict) -> dict:
    """The npz entries of a classifier: ``d`` (artifact_arrays' common keys) without the
    regression readout, with the head (and for a labelled file its reference and scaling)."""
    d = {k: v for k, v in d.items() if k not in REGRESSION_READOUT}
    h, teacher = art.head, art.teacher or {}
    K = len(h["classes"])
    d["K"] = np.int32(K)
    d["class_names"] = np.array(h["classes"], dtype=np.str_)
    d["pooling"] = np.str_(h["pooling"])
    d["w_c"] = np.asarray(h["w_c"], np.float64).reshape(K, art.H)
    d["b_c"] = np.asarray(h["b_c"], np.float64).reshape(K)
    d["teacher_w_c"] = np.asarray(teacher.get("w_c", np.zeros((K, art.H))), np.float64).reshape(K, art.H)
    d["teacher_b_c"] = np.asarray(teacher.get("b_c", np.zeros(K)), np.float64).reshape(K)
    if art.labelled is not None:
        d["labelled_json"] = np.str_(json.dumps(art.labelled, sort_keys=True))
        for k in ("input_offset", "input_scale"):
            d[k] = np.asarray(art.scaling[k], np.float64).reshape(art.I)
    return d
