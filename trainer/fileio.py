"""Atomic file output shared by the trainer and the host: nothing is ever half-written."""

from __future__ import annotations

import os
import tempfile


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
