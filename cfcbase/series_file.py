"""A model's data files (docs/artifact.md, "Version 2" and "Version 3"): found where its artifact
says (pkg:PACKAGE/PATH or relative to the artifact's directory) or at verify --data FILE, and
checked against the sha256 the artifact records before they are parsed (locate_file,
locate_data; DataNotFound, DataChanged); data_sha256 hashes a file once per process while it is
unchanged.
"""
from __future__ import annotations

import functools
import os

from . import table
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


def _inside(path, roots) -> bool:
    real = os.path.realpath(path)
    return any(os.path.commonpath([real, os.path.realpath(r)]) == os.path.realpath(r) for r in roots)


def locate_file(p: str, artifact_path: str, want: str | None, given=None, how: str = "pass --data FILE") -> tuple:
    """(the path to read, a note or None) of a file an artifact records as ``p``: pkg:PACKAGE/PATH,
    or a path relative to the artifact's directory (a file recorded without its sha256, before
    paths were relative to the artifact: also the current directory).

    What an artifact names is not trusted: a file with a recorded sha256 ``want`` is read only
    when its content is that (hashed before it is parsed, within the data-file size bound); one
    without is read only inside the artifact's directory or the current directory. ``given``
    (verify --data FILE: the user's choice) replaces it; other content than the trained file's is
    then noted, not refused. DataNotFound / DataChanged: one line naming the path and ``how`` to
    read another copy."""
    if given is not None:
        g = os.fspath(given)
        if not _exists(g):
            raise DataNotFound(f"{g}: not a regular file" if os.path.exists(g) else f"{g}: no such file")
        size = os.path.getsize(resolve_path(g))
        if size > table.MAX_FILE_BYTES:
            raise SeriesError(f"{g}: {size:,} bytes; data files of at most {table.mib(table.MAX_FILE_BYTES)} are read")
        note = None
        if want and data_sha256(g) != want:
            note = (f"{g} is not the file the model was trained on (sha256 {data_sha256(g)[:16]}..., the model's "
                    f"{want[:16]}...): the figures are on its data")
        return g, note
    if p.startswith(PKG_PREFIX):
        where = [p]
    else:
        near = beside(artifact_path, p)
        where = [near] + ([] if want or os.path.normpath(p) == near else [p])
    found = next((w for w in where if _exists(w)), None)
    if found is None:
        looked = "" if p.startswith(PKG_PREFIX) else f"; looked for {where[0]}, relative to the model {artifact_path}"
        why = "no such file"
        if p.startswith(PKG_PREFIX):
            try:
                resolve_path(p)
            except SeriesError as e:
                why = str(e)[len(p) + 2:]
        raise DataNotFound(f"{p}: {why}{looked}; {how} to read the data from another copy")
    if want:
        real = resolve_path(found)
        if os.path.getsize(real) > table.MAX_FILE_BYTES:
            raise DataChanged(f"{found}: {os.path.getsize(real):,} bytes, larger than any data file the model can "
                              f"have been trained on; {how} to read a copy of the original")
        have = data_sha256(found)
        if have != want:
            raise DataChanged(f"{found}: the file changed since the model was trained (sha256 {have[:16]}..., the "
                              f"model's {want[:16]}...); {how} to read a copy of the original")
    elif not p.startswith(PKG_PREFIX) and not _inside(found, [os.path.dirname(os.path.abspath(artifact_path)), "."]):
        raise DataNotFound(f"{p}: {found} lies outside the model's directory and the current directory, and the "
                           f"model records no sha256 of it; {how} to read it")
    return found, None


def locate_data(record: dict, artifact_path: str, data_path=None) -> tuple:
    """(the path to read, a note or None) of a version-2 artifact's data (docs/artifact.md):
    locate_file of its data_json's `path` and `sha256`; ``data_path``: verify --data FILE."""
    return locate_file(record["path"], artifact_path, record.get("sha256"), data_path)
