"""Version 4 of best.npz: a weight format per head matrix (docs/artifact.md, "Version 4: int8
heads"): its keys and bounds, the weight keys a file must hold, the formats' checks and the
version-4 entries cfcbase.artifact writes.
"""
from __future__ import annotations

import zipfile
from typing import TYPE_CHECKING

import numpy as np

from .artifact_rules import _fail

if TYPE_CHECKING:
    from .artifact import Artifact

# ---- version 4: a weight format per head matrix (docs/artifact.md, "Version 4: int8 heads") ---
# A head is "ternary" (trits_<h>, int8 in {-1, 0, +1}) or "int8" (weights_<h>, int8 in
# [-INT8_MAX, INT8_MAX], symmetric: -128 is refused); either way W = scale_<h>[:, None] * values.
# A file with only ternary heads is written as version 1, 2 or 3, byte for byte as before.
FORMATS = ("ternary", "int8")
HEADS = ("f", "g")
INT8_MAX = 127
INT8_VERSION = 4
INT8_KEYS = ("format_f", "format_g")


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

