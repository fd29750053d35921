"""Atomic file output shared by the trainer, codegen and the host: nothing is ever half-written."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile

import numpy as np


def atomic_write(path, write) -> None:
    """Call ``write(f)`` on a binary temp file beside ``path``, fsync it, then rename it over
    ``path``. On any error (also KeyboardInterrupt) the temp file is removed and ``path`` is
    left as it was."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)                     # mkstemp makes 0600; outputs are ordinary files
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_npz(f, arrays) -> None:
    """``np.savez(f, **arrays)`` with bytes that depend on the arrays only: stored entries with a
    fixed timestamp and no zip64 records. np.savez forces zip64 local headers, which Python
    patch releases write differently (3.11.2 and 3.11.7 give different files for the same
    arrays); np.load reads both."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        for name, value in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(value), allow_pickle=False)
            z.writestr(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue())


def write_file_set(directory, writers) -> None:
    """Write a set of files that belong together, all or none: ``writers`` maps a file name to
    ``write(f)`` (or to None: that member of the set is not produced this time, and an old
    copy is removed so that it cannot be taken for part of the new set). Every file is
    rendered into a staging directory beside them first; only when all succeeded are the old
    ones replaced, in quick succession. On any error the directory is left as it was."""
    directory = os.path.abspath(directory)
    staging = tempfile.mkdtemp(dir=directory, prefix=".staging-")
    try:
        for name, write in writers.items():
            if write is None:
                continue
            with open(os.path.join(staging, name), "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(os.path.join(staging, name), 0o666 & ~umask)
        for name, write in writers.items():
            if write is None and os.path.lexists(os.path.join(directory, name)):
                os.unlink(os.path.join(directory, name))
        for name, write in writers.items():
            if write is not None:
                os.replace(os.path.join(staging, name), os.path.join(directory, name))
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
