"""`python -m trainer sweep`: a grid of student settings x paired seeds, resumable, on local
worker processes or on a Ray cluster.

A *cell* is one setting of every knob (KNOBS). The grid names the knobs it varies, as a
product of value lists, or a union of such products separated by `|`; the other knobs keep
their defaults. A cell is named by its knobs that differ from the defaults ("default" when
none does). Settings a cell ignores are set to their defaults before anything is keyed
(alpha when there is no distillation, beta with the vanilla STE), so equivalent cells share
their jobs.

A *job* trains one stack of seeds (a chunk of --stack consecutive seeds, aligned to
multiples of --stack so that more seeds later add chunks instead of changing them):
  teacher job  (task, H, teacher_epochs, teacher_lr, seeds)  -> float teachers' parameters
  student job  (task, the cell's settings, seeds)            -> the students' metrics
Seed k uses the same data and the same teacher in every cell that shares its teacher
settings, as in the factorial. Jobs are pure functions of their settings: the numbers do not
depend on the backend, the number of workers or the order in which jobs finish.

Every finished job is stored under OUT/jobs/ as a file named by a hash of its settings and
of the source of the code that computes it (CODE_FILES). A rerun computes only what is
missing; a change to that code changes every hash, so old entries are not reused.
"""
from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cfcbase import numerics, tasks
from cfcbase.fileio import atomic_write, write_file_set, write_npz

from . import stats, train, workers
from .configs import SHAPED_BETA
from .errors import TrainerError

SCHEMA = 1
THREAD_ENV = workers.THREAD_ENV
# the modules whose source decides a job's numbers (with the job functions' own source:
# CODE_FUNCTIONS); editing the reports or the CLI keeps the cache
CODE_FILES = ("trainer/cell.py", "trainer/quant.py", "trainer/train.py", "cfcbase/cell.py", "cfcbase/tasks.py")
ALPHA_SCHEDULES = ("const", "rise", "fall")
BETA_SCHEDULES = ("linear", "const")
RISE_START = 0.375      # "rise" goes RISE_START * alpha -> alpha: alpha 0.8 is the seeds' 0.3 -> 0.8


def _in_range(cast, ok, what):
    """A knob value parser: cast, then require a finite value for which ok() holds."""
    def parse(s):
        v = cast(s)
        if not (math.isfinite(v) and ok(v)):
            raise ValueError(f"must be {what}")
        return v
    return parse


_int = _in_range(int, lambda v: v >= 1, "a positive integer")
_pos_float = _in_range(float, lambda v: v > 0, "a positive number")
_nonneg_float = _in_range(float, lambda v: v >= 0, "a number >= 0")
_unit_float = _in_range(float, lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
_width = _in_range(int, lambda v: 2 <= v <= 128, "in 2..128")


def _choice(options):
    def parse(s):
        if s not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return s
    return parse


@dataclass(frozen=True)
class Knob:
    parse: object
    default: object        # None: the task's default (train.TASK_DEFAULTS via the factorial)
    help: str


KNOBS = {
    "ste": Knob(_choice(("vanilla", "shaped")), "vanilla", "straight-through estimator: vanilla (identity) or shaped"),
    "distill": Knob(_choice(("none", "traj", "out")), "none",
                    "distillation: none, traj (hidden trajectory) or out (output only)"),
    "alpha": Knob(_unit_float, 0.8, "distillation weight (the schedule's final value)"),
    "alpha_schedule": Knob(_choice(ALPHA_SCHEDULES), "rise",
                           f"const (alpha throughout), rise ({RISE_START:g} alpha -> alpha; alpha 0.8 is the "
                           f"seeds' 0.3 -> 0.8), fall (alpha -> {RISE_START:g} alpha)"),
    "beta": Knob(_pos_float, SHAPED_BETA[1], "shaped-STE window sharpness, final value (window width 1/beta)"),
    "beta_schedule": Knob(_choice(BETA_SCHEDULES), "const" if SHAPED_BETA[0] == SHAPED_BETA[1] else "linear",
                          "linear (1 -> beta) or const (beta throughout)"),
    "beta_zero": Knob(_nonneg_float, 0.0, "zero-boundary window of the shaped STE, centred on u = 0 with width "
                      "1/beta_zero, constant (0: none)"),
    "H": Knob(_width, 16, "hidden units"),
    "epochs": Knob(_int, None, "student epochs (default: the factorial's for the task)"),
    "lr": Knob(_pos_float, 1e-2, "student Adam learning rate"),
    "teacher_epochs": Knob(_int, None, "float teacher epochs (teacher quality; default: the factorial's)"),
    "teacher_lr": Knob(_pos_float, None, "teacher Adam learning rate (default: the factorial's)"),
}
TEACHER_KNOBS = ("H", "teacher_epochs", "teacher_lr")
SHAPED_KNOBS = ("beta", "beta_schedule", "beta_zero")   # ignored by the vanilla STE

# The factorial's eight configurations as a grid: `--preset factorial`.
PRESETS = {"factorial": "H=16,32; distill=none,traj; ste=vanilla,shaped"}


def _parse_block(spec: str) -> dict:
    grid = {}
    for part in [p for p in spec.replace("\n", ";").split(";") if p.strip()]:
        if "=" not in part:
            raise TrainerError(f"--grid: {part.strip()!r} is not KNOB=V1,V2,... (knobs: {', '.join(KNOBS)})")
        name, values = (s.strip() for s in part.split("=", 1))
        if name not in KNOBS:
            raise TrainerError(f"--grid: unknown knob {name!r} (knobs: {', '.join(KNOBS)})")
        if name in grid:
            raise TrainerError(f"--grid: knob {name!r} given twice")
        vals = []
        for v in [v.strip() for v in values.split(",")]:
            try:
                vals.append(KNOBS[name].parse(v))
            except ValueError as e:
                raise TrainerError(f"--grid: {name}={v!r}: {e}") from None
        if len(set(vals)) != len(vals):
            raise TrainerError(f"--grid: knob {name!r} repeats a value")
        grid[name] = vals
    if not grid:
        raise TrainerError("--grid is empty: give at least one KNOB=V1,V2,...")
    return grid


def parse_grid(spec: str) -> list:
    """'alpha=0.3,0.8; alpha_schedule=const,rise | H=8,64' -> [{knob: [values]}, ...]: the
    cells are the union of each block's product."""
    return [_parse_block(block) for block in spec.split("|")]


def grid_spec(blocks: list) -> str:
    """parse_grid's inverse: [{knob: [values]}, ...] -> 'knob=v1,v2; knob=... | ...'."""
    return " | ".join("; ".join(f"{k}=" + ",".join(_fmt(v) for v in vs) for k, vs in b.items()) for b in blocks)


def task_defaults(task: str) -> dict:
    from .factorial import TASK_DEFAULTS, Settings   # noqa: PLC0415 - the factorial's defaults
    d, st = TASK_DEFAULTS[task], Settings()
    return {"epochs": d["epochs"], "teacher_epochs": d["teacher_epochs"], "lr": st.lr, "teacher_lr": d["teacher_lr"]}


def defaults(task: str) -> dict:
    d = task_defaults(task)
    return {k: (d[k] if k in d else kn.default) for k, kn in KNOBS.items()}


def canonical(s: dict, dflt: dict) -> dict:
    """The settings with what the cell ignores set to the defaults."""
    s = dict(s)
    if s["distill"] == "none":
        s["alpha"], s["alpha_schedule"] = dflt["alpha"], dflt["alpha_schedule"]
    if s["ste"] == "vanilla":
        for k in SHAPED_KNOBS:
            s[k] = dflt[k]
    return s


def cells(task: str, blocks: list, overrides: dict | None = None) -> list:
    """The union of every block's product of values, in order, without repeats; the other
    knobs at their defaults (or overrides)."""
    dflt = dict(defaults(task), **(overrides or {}))
    out, seen = [], set()
    for grid in blocks:
        for combo in itertools.product(*grid.values()):
            c = canonical(dict(dflt, **dict(zip(grid.keys(), combo))), dflt)
            key = json.dumps(c, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(c)
    return out


def _fmt(v):
    return f"{v:g}" if isinstance(v, float) else str(v)


def cell_id(settings: dict, dflt: dict) -> str:
    """The knobs that differ from the defaults, in KNOBS order; "default" if none."""
    return ",".join(f"{k}={_fmt(settings[k])}" for k in KNOBS if settings[k] != dflt[k]) or "default"


def schedules(s: dict) -> tuple:
    """(alpha start, end), (beta start, end) of a cell, for train.train_students."""
    a = s["alpha"]
    alpha = {"const": (a, a), "rise": (RISE_START * a, a), "fall": (a, RISE_START * a)}[s["alpha_schedule"]]
    b = s["beta"]
    beta = {"linear": (1.0, b), "const": (b, b)}[s["beta_schedule"]]
    return alpha, beta


# ---- jobs (top-level functions: picklable for process pools and Ray) ------------------------

def _quiet():
    for k, v in THREAD_ENV.items():
        os.environ.setdefault(k, v)
    np.seterr(all="ignore")


def job_teacher(task: str, H: int, epochs: int, lr: float, seeds: tuple) -> dict:
    _quiet()
    p, _ = train.train_teachers(task, H, list(seeds), epochs=epochs, lr=lr)
    return {"flat": p.flat.copy(), "metrics": train.evaluate(train.effective(p), task)}


def job_student(task: str, s: dict, seeds: tuple, teacher_flat) -> dict:
    _quiet()
    teacher = train.Params(s["H"], len(seeds), flat=np.asarray(teacher_flat))
    alpha, beta = schedules(s)
    distill = None if s["distill"] == "none" else s["distill"]
    M = len(seeds)
    p, infos, _ = train.train_students(task, teacher, [s["ste"] == "shaped"] * M, [distill] * M,
                                       epochs=s["epochs"], lr=s["lr"], beta=beta, alpha=alpha,
                                       beta_zero=s["beta_zero"], transient_w=0.0)
    ev = train.evaluate(train.effective(p, "coupled"), task)
    return {"metrics": [{**e, **i} for e, i in zip(ev, infos)]}


CODE_FUNCTIONS = (schedules, canonical, job_teacher, job_student)


# ---- keys and the store ---------------------------------------------------------------------

def code_fingerprint(root: Path | None = None) -> str:
    """A hash of CODE_FILES under root (default: where the packages are installed) and of the
    source of the functions in CODE_FUNCTIONS."""
    import inspect  # noqa: PLC0415
    root = Path(root or Path(__file__).resolve().parents[1])
    h = hashlib.sha256()
    for name in CODE_FILES:
        h.update(name.encode() + b"\0" + (root / name).read_bytes())
    for fn in CODE_FUNCTIONS:
        h.update(inspect.getsource(fn).encode())
    return h.hexdigest()[:16]


def _key(kind: str, settings: dict, code: str) -> str:
    blob = json.dumps({"kind": kind, "schema": SCHEMA, "code": code, **settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class _BadJob(Exception):
    """Why a job file is not used (one phrase)."""


JOB_FORMAT = 2            # of a job file's record
JOB_FILE_MAX = 64 << 20   # bytes: larger than any job file (a teacher stack of 5 at H = 128 is 1.4 MB)
REQUIRED_METRICS = {"teacher": ("val_mse_washout", "test_mse_washout"),
                    "student": ("val_mse_washout", "test_mse_washout", "test_mse")}


def job_digest(kind: str, key: str, metrics, flat=None) -> str:
    """sha256 over the job's kind and key, the canonical JSON of its metrics and (a teacher) the
    bytes of its parameters: what a job file carries to detect an edit or damage."""
    h = hashlib.sha256(f"{kind}\0{key}\0".encode())
    h.update(json.dumps(metrics, sort_keys=True, separators=(",", ":")).encode())
    if flat is not None:
        h.update(b"\0" + np.ascontiguousarray(flat, "<f8").tobytes())
    return h.hexdigest()


class Store:
    """OUT/jobs/<kind>-<key>.npz (teachers: parameters + record) / .json (students: record).

    A job file's record holds the job's kind, key, settings and code fingerprint (the key is
    the hash of those), its metrics and a digest (job_digest). A file is used only when it is
    what a job of this code writes under that name: the record's key is its file name's and
    the one asked for, its settings are the ones asked for and hash (with the code) to that
    key, the digest matches, the metrics are finite (the MSEs positive) for every seed, and a
    teacher's parameters are a finite float64 [seeds, n] array of this width's n. Anything
    else (a planted or swapped file, an edit, a truncated or foreign file) is logged as
    `sweep: FILE: WHY; recomputing` and counts as missing. Results are read once per run.
    """

    def __init__(self, out: Path, code: str):
        self.dir = Path(out) / "jobs"          # made by the first put: a dry run writes nothing
        self.code = code
        self._ok = {}                           # (kind, key) -> the checked (or just computed) result

    def path(self, kind, key):
        return self.dir / f"{kind}-{key}.{'npz' if kind == 'teacher' else 'json'}"

    def record(self, kind, key, settings, result) -> dict:
        flat = result.get("flat") if kind == "teacher" else None
        return {"format": JOB_FORMAT, "kind": kind, "key": key, "code": self.code, "settings": settings,
                "metrics": result["metrics"], "digest": job_digest(kind, key, result["metrics"], flat)}

    def put(self, kind, key, settings, result):
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = json.dumps(self.record(kind, key, settings, result), sort_keys=True)
        if kind == "teacher":
            atomic_write(self.path(kind, key), lambda f: write_npz(f, {"flat": result["flat"],
                                                                        "meta": np.array(meta)}))
        else:
            atomic_write(self.path(kind, key), lambda f: f.write(meta.encode() + b"\n"))
        self._ok[kind, key] = result

    def load(self, kind, key, settings):
        """The job's result if its file is there and checks out, else None (a line says why,
        unless there is no file)."""
        if (kind, key) in self._ok:
            return self._ok[kind, key]
        p = self.path(kind, key)
        if not os.path.lexists(p):
            return None
        try:
            result = self._read(kind, key, settings, p)
        except _BadJob as e:
            _log(f"{p}: {e}; recomputing")
            return None
        self._ok[kind, key] = result
        return result

    def get(self, kind, key):
        """A result that load() checked or put() stored in this run."""
        try:
            return self._ok[kind, key]
        except KeyError:
            raise TrainerError(f"{self.path(kind, key)}: job not computed in this run") from None

    def _read(self, kind, key, settings, p) -> dict:
        try:
            if not p.is_file():
                raise _BadJob("not a regular file")
            if p.stat().st_size > JOB_FILE_MAX:
                raise _BadJob(f"{p.stat().st_size} bytes, larger than any job file")
            flat = None
            if kind == "teacher":
                import zipfile  # noqa: PLC0415
                with zipfile.ZipFile(p) as z:
                    names = sorted(i.filename for i in z.infolist())
                    if names != ["flat.npy", "meta.npy"]:
                        raise _BadJob(f"members {', '.join(names) or 'none'}; a teacher job has flat.npy, meta.npy")
                    if sum(i.file_size for i in z.infolist()) > JOB_FILE_MAX:
                        raise _BadJob("larger than any job file when uncompressed")
                with np.load(p, allow_pickle=False) as z:
                    flat, meta = z["flat"], z["meta"]
                if meta.shape != () or meta.dtype.kind != "U":
                    raise _BadJob("its record is not a text scalar")
                rec = json.loads(str(meta))
            else:
                with open(p, "rb") as f:
                    raw = f.read(JOB_FILE_MAX + 1)
                if len(raw) > JOB_FILE_MAX:
                    raise _BadJob("larger than any job file")
                rec = json.loads(raw.decode("utf-8"))
        except _BadJob:
            raise
        except Exception as e:  # noqa: BLE001 - whatever a damaged file raises (BadZipFile, zlib.error, ...)
            why = " ".join(f"{type(e).__name__}: {e}".split())
            raise _BadJob(f"unreadable ({why[:200]})") from None
        return self._check(kind, key, settings, rec, flat)

    def _check(self, kind, key, settings, rec, flat) -> dict:
        if not isinstance(rec, dict):
            raise _BadJob(f"not a job record (a JSON {type(rec).__name__})")
        missing = [f for f in ("format", "kind", "key", "code", "settings", "metrics", "digest") if f not in rec]
        if missing:
            raise _BadJob(f"not a job record (no {', '.join(missing)})")
        if rec["format"] != JOB_FORMAT:
            raise _BadJob(f"job record format {rec['format']!r}, this code writes {JOB_FORMAT}")
        if rec["kind"] != kind:
            raise _BadJob(f"a {rec['kind']!r} job filed as a {kind} job")
        if rec["key"] != key:
            raise _BadJob(f"holds job {str(rec['key'])[:40]!r}, not the job its name says")
        if not isinstance(rec["settings"], dict) or not isinstance(rec["code"], str):
            raise _BadJob("its settings or code fingerprint are not what a job writes")
        if _key(kind, rec["settings"], rec["code"]) != key:
            raise _BadJob("its settings and code do not hash to its name")
        if rec["code"] != self.code or rec["settings"] != settings:
            raise _BadJob("computed for other settings or other training code than asked")
        metrics = rec["metrics"]
        seeds = settings.get("seeds", [])
        if not (isinstance(metrics, list) and len(metrics) == len(seeds) and all(isinstance(m, dict) for m in metrics)):
            raise _BadJob(f"metrics are not one record per seed ({len(seeds)})")
        for i, m in enumerate(metrics):
            for name in REQUIRED_METRICS[kind]:
                v = m.get(name)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
                    raise _BadJob(f"seed {seeds[i]}: {name} = {str(v)[:40]}, not a finite positive number")
            for name, v in m.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise _BadJob(f"seed {seeds[i]}: {str(name)[:40]} = {str(v)[:40]}, not a finite number")
        if kind == "teacher":
            n = train.layout(settings["H"], tasks.n_inputs(settings["task"]))[1]
            if flat.dtype != np.float64 or flat.shape != (len(seeds), n) or not np.isfinite(flat).all():
                raise _BadJob(f"parameters {flat.dtype} {flat.shape}, expected finite float64 ({len(seeds)}, {n})")
        if rec["digest"] != job_digest(kind, key, metrics, flat):
            raise _BadJob("its content does not match its digest (edited or damaged)")
        return {"metrics": metrics} if flat is None else {"flat": flat, "metrics": metrics}


# ---- backends -------------------------------------------------------------------------------

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
                from ray._private.utils import read_ray_address  # noqa: PLC0415
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
            import ray  # noqa: PLC0415
        except ImportError:
            raise TrainerError("--ray needs Ray: pip install 'trixcfc[ray]' (or pip install ray)") from None
        import logging  # noqa: PLC0415
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
        import socket  # noqa: PLC0415
        import tempfile  # noqa: PLC0415
        import threading  # noqa: PLC0415
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


# ---- the sweep -------------------------------------------------------------------------------

@dataclass
class SweepSettings:
    task: str = "sine"
    grid: str = "factorial"       # a preset name or a grid spec
    seeds: int = 10
    out: str = ""
    baseline: str = ""            # a cell id; default: the first cell
    workers: int = os.cpu_count() or 1
    stack: int = 5                # seeds trained side by side in one job
    ray: str | None = None        # None: local processes; "local" or an address: Ray
    ray_timeout: float | None = None   # s to connect to a cluster (default RAY_CONNECT_TIMEOUT)
    overrides: dict | None = None  # knob -> value for every cell (e.g. fewer epochs)


def _log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] sweep: {msg}", file=sys.stderr, flush=True)


class _Progress:
    def __init__(self, total):
        self.total, self.done, self.t0 = total, 0, time.perf_counter()

    def tick(self, what):
        self.done += 1
        el = time.perf_counter() - self.t0
        eta = el / self.done * (self.total - self.done)
        _log(f"{self.done}/{self.total} jobs done ({what}); elapsed {el:.0f} s, ETA {eta:.0f} s")


def chunks(n_seeds: int, stack: int) -> list:
    return [tuple(range(a, min(a + stack, n_seeds))) for a in range(0, n_seeds, stack)]


class Plan:
    """What a sweep's settings ask for: the cells, and per (cell, chunk of seeds) the teacher
    and student jobs, keyed by their settings and the training code; which are in the store."""

    def __init__(self, st: SweepSettings):
        if st.task not in tasks.TASKS:
            raise TrainerError(f"unknown task {st.task!r} (known: {', '.join(tasks.TASKS)})")
        if st.seeds < 2:
            raise TrainerError(f"--seeds must be at least 2 for paired comparisons, got {st.seeds}")
        if st.stack < 1 or st.workers < 1:
            raise TrainerError("--stack and --workers must be positive")
        self.st = st
        self.blocks = parse_grid(PRESETS.get(st.grid, st.grid))
        for k in (st.overrides or {}):
            if any(k in b for b in self.blocks):
                raise TrainerError(f"--set {k}: the grid varies it already")
        self.dflt = dict(defaults(st.task), **(st.overrides or {}))
        self.cells = cells(st.task, self.blocks, st.overrides)
        self.ids = [cell_id(c, self.dflt) for c in self.cells]
        self.baseline = st.baseline or self.ids[0]
        if self.baseline not in self.ids:
            raise TrainerError(f"--baseline {self.baseline!r} is not a cell of the grid (cells: {'; '.join(self.ids)})")
        self.out = Path(st.out or os.path.join("results", st.task, "sweep"))
        # numbers computed with other floating-point kernels (cfcbase.numerics) are other jobs
        self.code = code_fingerprint() + ("|" + numerics.fingerprint() if numerics.fingerprint() else "")
        self.store = Store(self.out, self.code)
        self.parts = chunks(st.seeds, st.stack)
        self.teachers = {}                  # key -> teacher settings
        self.students = {}                  # key -> (cell, seeds, student settings)
        for c in self.cells:
            for part in self.parts:
                ts, k = self.tkey(c, part)
                self.teachers[k] = ts
                ss, k = self.skey(c, part)
                self.students[k] = (c, part, ss)

    def tkey(self, c, part):
        ts = {"task": self.st.task, "seeds": list(part), **{k: c[k] for k in TEACHER_KNOBS}}
        return ts, _key("teacher", ts, self.code)

    def skey(self, c, part):
        ss = {"task": self.st.task, "seeds": list(part), **c}
        return ss, _key("student", ss, self.code)

    def todo(self):
        """([(key, teacher settings)], [(key, cell, seeds, student settings)]) without a usable
        job file in the store (Store.load: a file that does not check out is recomputed)."""
        return ([(k, ts) for k, ts in self.teachers.items() if self.store.load("teacher", k, ts) is None],
                [(k, *v) for k, v in self.students.items() if self.store.load("student", k, v[2]) is None])

    def summary(self, todo=None) -> str:
        """One line: cells, seeds, jobs, how many to run (todo: self.todo(), if already known)."""
        todo_t, todo_s = todo or self.todo()
        n = len(self.teachers) + len(self.students)
        return (f"{self.st.task}: {len(self.cells)} cells x {self.st.seeds} seeds in stacks of {self.st.stack}; "
                f"{len(self.teachers)} teacher and {len(self.students)} student jobs, "
                f"{len(todo_t) + len(todo_s)} to run ({n - len(todo_t) - len(todo_s)} cached in {self.store.dir})")


def run(st: SweepSettings) -> dict:
    p = Plan(st)
    todo_t, todo_s = todo = p.todo()
    _log(p.summary(todo))
    backend = LocalBackend(st.workers) if st.ray is None else RayBackend(st.ray, st.workers, st.ray_timeout)
    try:
        _log(f"backend: {backend.name}")
        prog = _Progress(len(todo_t) + len(todo_s))
        if todo_t:
            def t_done(i, res):
                k, ts = todo_t[i]
                p.store.put("teacher", k, ts, res)
                prog.tick(f"teachers H={ts['H']} seeds {ts['seeds'][0]}-{ts['seeds'][-1]}: test washout "
                          + " ".join(f"{m['test_mse_washout']:.1e}" for m in res["metrics"]))
            backend.run(job_teacher, [(st.task, ts["H"], ts["teacher_epochs"], ts["teacher_lr"], tuple(ts["seeds"]))
                                      for _, ts in todo_t], t_done)
        if todo_s:
            def s_done(i, res):
                k, c, part, ss = todo_s[i]
                p.store.put("student", k, ss, res)
                prog.tick(f"{cell_id(c, p.dflt)} seeds {part[0]}-{part[-1]}: test washout "
                          + " ".join(f"{m['test_mse_washout']:.1e}" for m in res["metrics"]))
            args = [(st.task, c, part, p.store.get("teacher", p.tkey(c, part)[1])["flat"]) for _, c, part, _ in todo_s]
            backend.run(job_student, args, s_done)
    finally:
        if hasattr(backend, "close"):
            backend.close()
    result = assemble(p)
    write_reports(p.out, result)
    _log(f"wrote {p.out}/sweep.json, sweep.md, sweep.png")
    return result


def assemble(p: Plan) -> dict:
    cells_out = []
    for c, cid in zip(p.cells, p.ids):
        rows = []
        for part in p.parts:
            ms = p.store.get("student", p.skey(c, part)[1])["metrics"]
            ts = p.store.get("teacher", p.tkey(c, part)[1])["metrics"]
            for seed, m, t in zip(part, ms, ts):
                rows.append({"seed": seed, "val_mse_washout": m["val_mse_washout"],
                             "test_mse_washout": m["test_mse_washout"], "test_mse": m["test_mse"],
                             "teacher_test_mse_washout": t["test_mse_washout"],
                             "teacher_val_mse_washout": t["val_mse_washout"]})
        cells_out.append({"id": cid, "settings": c, "seeds": rows})
    return {"schema": SCHEMA, "task": p.st.task, "grid": p.blocks, "grid_spec": grid_spec(p.blocks),
            "defaults": p.dflt, "baseline": p.baseline,
            "seeds": list(range(p.st.seeds)), "stack": p.st.stack, "cells": cells_out,
            "comparisons": compare(cells_out, p.baseline)}


def settings_of(result: dict, out) -> SweepSettings:
    """The settings a sweep.json was computed with (its grid in the order given, seeds, stack
    and baseline; as overrides its defaults that differ from the task's), writing to out."""
    task = result["task"]
    task_dflt = defaults(task)
    overrides = {k: v for k, v in result["defaults"].items() if task_dflt.get(k) != v}
    return SweepSettings(task=task, grid=result["grid_spec"], seeds=len(result["seeds"]), out=str(out),
                         baseline=result["baseline"], stack=result["stack"], overrides=overrides or None)


# ---- statistics ---------------------------------------------------------------------------

def t_cdf(t: float, df: int) -> float:
    """Student's t CDF from the regularized incomplete beta."""
    x = df / (df + t * t)
    tail = 0.5 * stats.betainc(df / 2.0, 0.5, x)
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: int) -> float:
    lo, hi = -1e3, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def compare(cells_out, baseline) -> list:
    """Paired differences of log10 test washout MSE, cell - baseline, per seed: mean, 95% CI
    (t), two-sided p, Holm-adjusted p over all comparisons."""
    base = next(c for c in cells_out if c["id"] == baseline)
    b = np.log10([r["test_mse_washout"] for r in base["seeds"]])
    rows = []
    for c in cells_out:
        if c["id"] == baseline:
            continue
        d = np.log10([r["test_mse_washout"] for r in c["seeds"]]) - b
        n = len(d)
        mean, sd = float(d.mean()), float(d.std(ddof=1))
        se = sd / math.sqrt(n)
        q = t_quantile(0.975, n - 1)
        if se > 0:
            t = mean / se
            p = 2 * min(t_cdf(t, n - 1), 1 - t_cdf(t, n - 1))
        else:
            p = 0.0 if mean != 0 else 1.0
        rows.append({"id": c["id"], "mean_log10_diff": mean, "ci95": [mean - q * se, mean + q * se],
                     "p": float(p)})
    # Holm: sort p ascending, p_adj(i) = max over j <= i of min(1, (m - j) p_j)
    m = len(rows)
    run = 0.0
    for j, r in enumerate(sorted(rows, key=lambda r: r["p"])):
        run = max(run, min(1.0, (m - j) * r["p"]))
        r["p_holm"] = run
    return rows


# ---- reports ------------------------------------------------------------------------------

def markdown(result) -> str:
    lines = [f"# Sweep: `{result['task']}`", "",
             f"Grid: {result['grid_spec']}. "
             f"Defaults: {', '.join(f'{k}={_fmt(v)}' for k, v in result['defaults'].items())}. "
             f"Seeds {result['seeds'][0]}..{result['seeds'][-1]} (paired: seed k has the same data and, per "
             f"teacher setting, the same teacher in every cell). Metric: test washout MSE (steps t >= "
             f"{tasks.WASHOUT}).", "",
             "| cell | geo. mean | log10 mean ± sd | teacher geo. mean | vs teacher |",
             "|---|---|---|---|---|"]
    for c in result["cells"]:
        lw = np.log10([r["test_mse_washout"] for r in c["seeds"]])
        tw = np.log10([r["teacher_test_mse_washout"] for r in c["seeds"]])
        mark = " (baseline)" if c["id"] == result["baseline"] else ""
        lines.append(f"| {c['id']}{mark} | {10 ** lw.mean():.2e} | {lw.mean():+.2f} ± {lw.std(ddof=1):.2f} | "
                     f"{10 ** tw.mean():.2e} | {10 ** (lw - tw).mean():.2f}x |")
    lines += ["", f"Paired against the baseline `{result['baseline']}`: mean difference of log10 test washout "
              "MSE over seeds (negative = better than the baseline), 95% t interval, two-sided p and "
              "Holm-adjusted p over all comparisons.", "",
              "| cell | log10 diff | 95% CI | ratio | p | p (Holm) |", "|---|---|---|---|---|---|"]
    for r in result["comparisons"]:
        lines.append(f"| {r['id']} | {r['mean_log10_diff']:+.3f} | [{r['ci95'][0]:+.3f}, {r['ci95'][1]:+.3f}] | "
                     f"{10 ** r['mean_log10_diff']:.2f}x | {r['p']:.2g} | {r['p_holm']:.2g} |")
    lines += ["", "Every seed:", "", "| cell | " + " | ".join(f"seed {s}" for s in result["seeds"]) + " |",
              "|---|" + "---|" * len(result["seeds"])]
    for c in result["cells"]:
        lines.append(f"| {c['id']} | " + " | ".join(f"{r['test_mse_washout']:.2e}" for r in c["seeds"]) + " |")
    return "\n".join(lines) + "\n"


def _in_block(c: dict, block: dict, dflt: dict) -> bool:
    return all((c[k] in block[k] or c[k] == dflt[k]) if k in block else c[k] == dflt[k] for k in KNOBS)


def plot(result) -> bytes | None:
    """sweep.png as bytes (None without matplotlib): one panel per numeric knob a grid block
    varies (per-seed points, a line through the geometric means per setting of the block's
    other knobs), and student vs teacher quality."""
    try:
        import matplotlib  # noqa: PLC0415
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        _log("matplotlib is not installed: skipping sweep.png (pip install 'trixcfc[plot]')")
        return None
    dflt = result["defaults"]
    panels = []
    for block in result["grid"]:
        for knob, vs in block.items():
            if isinstance(vs[0], (int, float)) and len(vs) > 1:
                panels.append((knob, block))
    panels.append(("teacher quality", None))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.8), squeeze=False)
    for ax, (knob, block) in zip(axes[0], panels):
        groups = {}
        for c in result["cells"]:
            if block is not None and not _in_block(c["settings"], block, dflt):
                continue
            others = [k for k in (block or {}) if k != knob]
            label = ", ".join(f"{k}={_fmt(c['settings'][k])}" for k in others) or "all"
            if block is None:
                label = f"distill={c['settings']['distill']}"
            groups.setdefault(label, []).append(c)
        for gi, (label, cl) in enumerate(sorted(groups.items())):
            color = f"C{gi % 10}"
            if block is None:
                xs = [r["teacher_test_mse_washout"] for c in cl for r in c["seeds"]]
                ys = [r["test_mse_washout"] for c in cl for r in c["seeds"]]
                ax.scatter(xs, ys, s=10, color=color, alpha=0.6, label=label)
                continue
            by = {}
            for c in cl:
                by.setdefault(c["settings"][knob], []).extend(r["test_mse_washout"] for r in c["seeds"])
            xs = sorted(by)
            for x in xs:
                ax.scatter([x] * len(by[x]), by[x], s=8, color=color, alpha=0.4)
            ax.plot(xs, [10 ** np.mean(np.log10(by[x])) for x in xs], "-o", color=color, ms=4, label=label)
        if knob in ("lr", "teacher_lr", "beta", "teacher_epochs", "H", "teacher quality"):
            ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(knob if block is not None else "teacher test washout MSE")
        ax.set_ylabel("student test washout MSE")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle(f"sweep {result['task']}: per-seed points, lines = geometric means")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_reports(out: Path, result: dict) -> None:
    """sweep.json, sweep.md and sweep.png, all or none (cfcbase.fileio.write_file_set)."""
    texts = {"sweep.json": json.dumps(result, indent=1, sort_keys=True) + "\n", "sweep.md": markdown(result)}
    writers = {name: (lambda f, t=t: f.write(t.encode())) for name, t in texts.items()}
    png = plot(result)
    writers["sweep.png"] = None if png is None else (lambda f: f.write(png))
    write_file_set(out, writers)
