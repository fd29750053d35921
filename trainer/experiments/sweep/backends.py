"""Where the sweep's jobs run: worker processes on this machine (LocalBackend) or Ray tasks on
a cluster or a Ray instance of the sweep's own (RayBackend). Both call on_done(i, result) as
jobs finish; the numbers do not depend on the backend."""
from __future__ import annotations

import logging
import os
import re
import socket
import sys
import tempfile
import threading
import time

from cfcbase import numerics
from cfcbase.numerics import THREAD_ENV

from .. import workers
from ...errors import TrainerError


class LocalBackend:
    """Worker processes on this machine (spawned: nothing inherited but the arguments)."""

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self.name = f"local ({self.workers} worker{'s' if self.workers > 1 else ''})"

    def run(self, fn, argslist, on_done):
        workers.run_jobs(fn, argslist, self.workers, on_done)


RAY_CONNECT_TIMEOUT = 30.0      # s: --ray HOST:PORT gives up, in one line, when Ray has not connected by then
RAY_START_TIMEOUT = 120.0       # s: the same for starting a local instance
_RAY_AUTH_MARKERS = ("InvalidAuthToken", "Unauthenticated", "AuthenticationError",
                     "no authentication token was found")
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.\-]{0,252}):([0-9]{1,5})")


def ray_target(address: str) -> tuple:
    """(host, port) of --ray HOST:PORT, or of `auto`: RAY_ADDRESS, else the cluster that
    `ray start --head` last started on this machine. TrainerError (one line) otherwise."""
    given = address
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS") or ""
        if not address:
            try:
                # Ray is an optional dependency (trixcfc[ray]); its helper that reads `ray start`'s address
                from ray._private.utils import read_ray_address
                address = read_ray_address() or ""
            except Exception:  # noqa: BLE001 - a private helper: without it, auto finds nothing
                address = ""
        if not address:
            raise TrainerError("--ray auto: no Ray cluster to join (RAY_ADDRESS is not set and `ray start --head` "
                               "has not run on this machine); give HOST:PORT, or --ray for a local instance")
        given = f"auto ({address})"
    m = _HOST_PORT.fullmatch(address)
    if not m or not 1 <= int(m.group(2)) <= 65535:
        raise TrainerError(f"--ray {given!r}: expected local, auto or HOST:PORT (the head's GCS port, e.g. "
                           f"10.0.0.5:6379)")
    return m.group(1).strip("[]"), int(m.group(2))


class RayBackend:
    """Ray tasks (one CPU each): a cluster at `address` (HOST:PORT or auto), or with `address`
    None or "local" a Ray instance of its own on this machine, never one that another program
    started (address="local", and RAY_ADDRESS is dropped from the environment). Every node
    needs this package installed (the same version).

    Connecting is bounded: HOST:PORT must accept a TCP connection, and Ray must connect within
    RAY_CONNECT_TIMEOUT seconds (a local instance start within RAY_START_TIMEOUT); a cluster
    that refuses this client's token is named as such.
    Ray's own messages while connecting go to a log file, not the terminal; every failure is
    one TrainerError line."""

    def __init__(self, address: str | None, workers: int | None = None, timeout: float | None = None):
        try:
            import ray  # an optional dependency (trixcfc[ray]): imported when --ray is given
        except ImportError:
            raise TrainerError("--ray needs Ray: pip install 'trixcfc[ray]' (or pip install ray)") from None
        self.ray = ray
        local = address in (None, "local")
        # the workers compute with the pinned numerics too (cfcbase.numerics), one BLAS thread each
        env = dict(THREAD_ENV, **{k: os.environ[k] for k in numerics.PIN_VARS + (numerics.MARK,) if k in os.environ})
        kw = {"runtime_env": {"env_vars": env}, "log_to_driver": False, "logging_level": logging.WARNING}
        if local:
            os.environ.pop("RAY_ADDRESS", None)
            kw.update(address="local", num_cpus=workers or os.cpu_count() or 1, _node_ip_address="127.0.0.1",
                      include_dashboard=False)
            target, self.where = None, "local instance"
        else:
            target = ray_target(address)
            kw["address"] = f"{target[0]}:{target[1]}"
            self.where = kw["address"]
        self._own = not ray.is_initialized()
        if self._own:
            self._connect(kw, target, f"--ray {address or 'local'}",
                          timeout or (RAY_START_TIMEOUT if local else RAY_CONNECT_TIMEOUT))
        self.name = f"ray ({self.where}, {int(ray.cluster_resources().get('CPU', 0))} CPUs)"

    def _connect(self, kw, target, what, timeout):
        """ray.init(**kw) with Ray's output (fd 2) in a log file, within `timeout`.

        ray.init runs on this (the main) thread: the processes a local instance starts die
        with the thread that started them. A watchdog thread ends the process with one line
        when the deadline passes or the cluster refuses this client's token, since a
        connecting ray.init cannot be interrupted (it retries for tens of seconds)."""
        fd, log = tempfile.mkstemp(prefix="trixcfc-ray-", suffix=".log")
        where = f"{target[0]}:{target[1]}" if target else "this machine"

        def said():
            try:
                with open(log, "rb") as f:
                    return f.read(1 << 20).decode("utf-8", "replace")
            except OSError:
                return ""

        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(fd, 2)
        os.close(fd)
        lock, done = threading.Lock(), threading.Event()
        deadline = time.monotonic() + timeout

        def watchdog():
            while not done.wait(0.2):
                refused = target is not None and any(m in said() for m in _RAY_AUTH_MARKERS)
                if refused or time.monotonic() > deadline:
                    with lock:
                        if done.is_set():
                            return
                        if refused:
                            why = _auth_help(where)
                            os.unlink(log)
                        else:
                            why = (f"no answer from Ray at {where} within {timeout:g} s "
                                   f"(Ray's messages: {log})")
                        os.write(saved, f"error: {what}: {why}\n".encode())
                        os._exit(2)

        threading.Thread(target=watchdog, name="ray-connect-watchdog", daemon=True).start()
        error = unreachable = None
        try:
            if target is not None:
                try:
                    socket.create_connection(target, timeout=min(10.0, timeout)).close()
                except OSError as e:
                    unreachable = e.strerror or str(e) or type(e).__name__
            if unreachable is None:
                self.ray.init(**kw)
        except Exception as e:  # noqa: BLE001 - reported below, in one line
            error = e
        finally:
            with lock:
                done.set()
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        text = said()
        if error is None and unreachable is None:
            os.unlink(log)
            return
        if unreachable is not None:
            os.unlink(log)
            raise TrainerError(f"{what}: cannot connect to {where} ({unreachable}); is a Ray head running "
                               f"there (ray start --head --port {target[1]})?")
        if target is not None and (any(m in text for m in _RAY_AUTH_MARKERS)
                                   or type(error).__name__ == "AuthenticationError"):
            os.unlink(log)
            raise TrainerError(f"{what}: {_auth_help(where)}")
        first = " ".join(str(error).split())[:300]
        raise TrainerError(f"{what}: Ray did not {'connect' if target else 'start'}: {type(error).__name__}: "
                           f"{first} (Ray's messages: {log})")

    def run(self, fn, argslist, on_done):
        ray = self.ray
        remote = ray.remote(num_cpus=1, max_retries=2)(fn)
        refs = {remote.remote(*a): i for i, a in enumerate(argslist)}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for r in done:
                    on_done(refs[r], ray.get(r))
        except BaseException as e:
            for r in pending:
                try:
                    ray.cancel(r, force=True)
                except Exception:  # noqa: BLE001 - a lost cluster cannot cancel; the error below says why
                    pass
            if isinstance(e, ray.exceptions.RayTaskError) and isinstance(e.cause, TrainerError):
                raise TrainerError(str(e.cause)) from None
            if isinstance(e, ray.exceptions.RayError):
                first = " ".join(str(e).strip().splitlines()[0].split())[:300] if str(e).strip() else ""
                raise TrainerError(f"Ray ({self.where}): {type(e).__name__}: {first}") from None
            raise

    def close(self):
        if self._own:
            self.ray.shutdown()


def _auth_help(where) -> str:
    return (f"the Ray cluster at {where} requires token authentication and refused this client: set "
            f"RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN (or in the file RAY_AUTH_TOKEN_PATH "
            f"names, default ~/.ray/auth_token; `ray get-auth-token` on the head prints it)")
