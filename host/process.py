"""Child processes (QEMU, the native firmware) that never outlive the host.

- Each child runs in its own session, so a Ctrl-C at the terminal reaches only the host, which
  then stops the child itself (in a `finally`, on every exit path).
- On Linux each child also gets PR_SET_PDEATHSIG = SIGKILL: if the host is killed outright
  (SIGKILL, a crash), the kernel kills the child too.
- stop(): SIGTERM, a short grace period, then SIGKILL, and always reaped.
"""
from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import tempfile

_PR_SET_PDEATHSIG = 1


def _child_setup():            # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except Exception:       # noqa: BLE001 - best effort; stop() still runs
            pass


CAUSE = re.compile(r"fatal|error|abort|assert|panic|lockup|fault|exception|killed", re.I)


def exit_words(stderr: str) -> str:
    """What a dead child said, for one line: the lines that name a cause first (QEMU prints
    "qemu: fatal: Lockup: ..." before a register dump of a dozen lines), then how much more
    there was; QEMU's "info: QEMU waiting for connection on: ..." is not news."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and ": info: " not in ln]
    if not lines:
        return ""
    cause = [ln for ln in lines if CAUSE.search(ln)][:3]
    shown = cause or lines[-3:]
    more = len(lines) - len(shown)
    text = "; ".join(ln[:300] for ln in shown)
    return f": {text}" + (f" (and {more} more line{'s' if more != 1 else ''} on its stderr)" if more else "")


class Child:
    """A started process, its stderr captured to a temporary file (read on failure)."""

    def __init__(self, argv, stdin=None, stdout=None, pass_fds=()):
        self.argv = [str(a) for a in argv]
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                     stdout=stdout if stdout is not None else self._err,
                                     stderr=self._err, start_new_session=True,
                                     preexec_fn=_child_setup, pass_fds=pass_fds, close_fds=True)
        self.pid = self.proc.pid
        self._tail = None

    @property
    def name(self) -> str:
        return os.path.basename(self.argv[0])

    def poll(self):
        return self.proc.poll()

    def stderr_tail(self, limit: int = 600) -> str:
        """The end of what the child wrote to stderr so far (pread: the child shares the file
        offset, so the parent must not move it)."""
        if self._tail is not None:
            return self._tail[-limit:]
        try:
            fd = self._err.fileno()
            size = os.fstat(fd).st_size
            data = os.pread(fd, min(size, 65536), max(0, size - 65536)).decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return data[-limit:]

    def describe_exit(self) -> str:
        rc = self.proc.returncode
        how = f"was killed by signal {-rc}" if rc is not None and rc < 0 else f"exited with status {rc}"
        return f"{self.name} (pid {self.pid}) {how}" + exit_words(self.stderr_tail(8000))

    def stop(self, grace: float = 2.0) -> None:
        """Terminate (then kill) and reap; safe to call more than once."""
        p = self.proc
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
            except ProcessLookupError:
                pass
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:   # pragma: no cover - SIGKILL is not ignorable
            pass
        if self._tail is None:
            self._tail = self.stderr_tail(4000)
        try:
            self._err.close()
        except OSError:
            pass
