"""Version 3 of best.npz: a classifier (docs/artifact.md, "Version 3: a classifier"): its keys and
bounds, its checks (cfcbase.artifact's load_artifact calls _validate_classifier) and its entries
(artifact_arrays calls classifier_arrays).
"""
from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING

import numpy as np

from .artifact_rules import (PARAM_MAX, SCALING_OFFSET_MAX, SCALING_SCALE_RANGE, SEQ_LEN_RANGE, _fail,
                             data_path_problem)
from .text import NAME_MAX, text_problem

if TYPE_CHECKING:
    from .artifact import Artifact


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
