"""A model's data file (docs/artifact.md, "Version 2"): found where its artifact says (pkg:PACKAGE/PATH
or relative to the artifact's directory) or at verify --data FILE, and checked against the sha256
the artifact records (locate_data; DataNotFound, DataChanged); data_sha256 hashes a file once per
process while it is unchanged.
"""
from __future__ import annotations

import functools
import os

from .table import PKG_PREFIX, SeriesError, beside, file_sha256, resolve_path


class DataNotFound(SeriesError):
    """A model's data file is not where its artifact says."""


class DataChanged(SeriesError):
    """A model's data file is there but is not the file the model was trained on."""


@functools.lru_cache(maxsize=32)
def _sha256(real, size, mtime_ns) -> str:
    return file_sha256(real)


def data_sha256(path) -> str:
    """file_sha256 of a data file, computed once per process while the file is unchanged."""
    real = os.path.realpath(resolve_path(path))
    try:
        st = os.stat(real)
    except OSError as e:
        raise SeriesError(f"{path}: cannot read ({e.strerror or e})") from None
    return _sha256(real, st.st_size, st.st_mtime_ns)


def _exists(p) -> bool:
    try:
        return os.path.isfile(resolve_path(p))
    except SeriesError:                     # pkg:PACKAGE/... of a package that is not installed
        return False


def locate_data(record: dict, artifact_path: str, data_path=None) -> tuple:
    """(the path to read, a note or None) of a version-2 artifact's data (docs/artifact.md): its
    `path` as pkg:PACKAGE/PATH or relative to the artifact's directory (an artifact without
    `sha256`, written before paths were relative to it: also the current directory), its
    content checked against `sha256`. ``data_path`` (verify --data FILE) replaces it; a content
    other than the trained file's is then noted, not refused. DataNotFound / DataChanged: one
    line naming the path and --data FILE. ``record``: the artifact's data_json; ``artifact_path``:
    where the artifact is."""
    d = record
    want = d.get("sha256")
    if data_path is not None:
        p = os.fspath(data_path)
        if not _exists(p):
            raise DataNotFound(f"{p}: no such file")
        note = None
        if want and data_sha256(p) != want:
            note = (f"{p} is not the file the model was trained on (sha256 {data_sha256(p)[:16]}..., the model's "
                    f"{want[:16]}...): the figures are on its data")
        return p, note
    p = d["path"]
    if p.startswith(PKG_PREFIX):
        where = [p]
    else:
        beside_path = beside(artifact_path, p)
        where = [beside_path] + ([] if want or os.path.normpath(p) == beside_path else [p])
    found = next((w for w in where if _exists(w)), None)
    if found is None:
        looked = "" if p.startswith(PKG_PREFIX) else f"; looked for {where[0]}, relative to the model {artifact_path}"
        why = "no such file"
        if p.startswith(PKG_PREFIX):
            try:
                resolve_path(p)
            except SeriesError as e:
                why = str(e)[len(p) + 2:]
        raise DataNotFound(f"{p}: {why}{looked}; pass --data FILE to read the data from another copy")
    if want:
        have = data_sha256(found)
        if have != want:
            raise DataChanged(f"{found}: the file changed since the model was trained (sha256 {have[:16]}..., the "
                              f"model's {want[:16]}...); pass --data FILE to read a copy of the original")
    return found, None
