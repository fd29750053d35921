"""The rules every best.npz check shares (docs/artifact.md): the one-line ArtifactError naming the
file and the key (fail), the bounds of every float parameter and of a model's input scaling, and
the rules of a data reference (a series' data_json, a classifier's labelled_json: data_path_problem,
data_spec_problem). cfcbase.artifact, cfcbase.heads and the tasks' records validate with them.
"""
from __future__ import annotations

import json
import math
import os

from .table import PKG_PREFIX                   # a file inside an installed package
from .errors import ArtifactError
from .text import NAME_MAX, PATH_MAX, text_problem

# the fields of a version-2 data_json (docs/artifact.md, "Version 2")
DATA_FIELDS = {"path": str, "inputs": list, "target": str, "horizon": int, "seq_len": int, "fractions": list}
# fields a version-2 data_json may carry (artifacts written before them lack them: docs/artifact.md)
DATA_OPTIONAL = {"sha256": str, "gaps": str, "max_gap": int, "difference": dict}
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


# A JSON entry of an artifact (metrics_json, data_json, labelled_json): at most this many
# characters (the largest written is a few kB), integers of at most this many digits.
JSON_MAX_CHARS = 1 << 16
JSON_MAX_DIGITS = 18


def fail(path, key, msg):
    where = f"{path}: {key}: " if key else f"{path}: "
    raise ArtifactError(where + msg)


def str_scalar(path, raw, k) -> str:
    a = raw[k]
    if a.shape != () or a.dtype.kind != "U":
        fail(path, k, f"expected a unicode scalar, got {a.dtype} of shape {a.shape}")
    return str(a)


def _bounded_int(text):
    if len(text.lstrip("-")) > JSON_MAX_DIGITS:
        raise ValueError(f"integer of {len(text.lstrip('-'))} digits (at most {JSON_MAX_DIGITS})")
    return int(text)


def _finite_float(text):
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"number {text[:40]} is beyond a float")
    return v


def _no_constant(name):
    raise ValueError(f"{name} is not a number an artifact may hold")


def json_object(path, raw, k) -> dict:
    """The JSON object of the text entry k: at most JSON_MAX_CHARS characters, finite numbers and
    integers of at most JSON_MAX_DIGITS digits, nested as deep as the parser goes; else one
    ArtifactError line naming the key."""
    text = str_scalar(path, raw, k)
    if len(text) > JSON_MAX_CHARS:
        fail(path, k, f"{len(text):,} characters; a JSON entry holds at most {JSON_MAX_CHARS:,}")
    try:
        d = json.loads(text, parse_int=_bounded_int, parse_float=_finite_float, parse_constant=_no_constant)
    except RecursionError:
        fail(path, k, "not a JSON object (nested too deeply)")
    except ValueError as e:
        fail(path, k, f"not a JSON object ({e})")
    if not isinstance(d, dict):
        fail(path, k, f"not a JSON object (a JSON {type(d).__name__})")
    return d


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
    """Why a version-2 data spec (data_json: the fields of DATA_FIELDS, types already checked)
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

