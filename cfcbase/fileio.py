"""Atomic file output shared by the trainer, codegen and the host: nothing is ever half-written."""

from __future__ import annotations

import io
import os
import tempfile
import zipfile


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
    import numpy as np
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        for name, value in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(value), allow_pickle=False)
            z.writestr(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue())
