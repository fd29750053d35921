"""The sweep's cache: every finished job as a file under OUT/jobs/, used again only when it is
what a job of this code writes under that name (Store)."""
from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from cfcbase.fileio import atomic_write, write_npz

from ...errors import TrainerError
from ...model.params import layout
from .jobs import job_key
from .progress import log


class _BadJob(Exception):
    """Why a job file is not used (one phrase)."""


JOB_FORMAT = 2            # of a job file's record
JOB_FILE_MAX = 64 << 20   # bytes: larger than any job file (a teacher stack of 5 at H = 128 is 1.4 MB)
_WITH_PARAMS = ("teacher", "int8")       # job files with parameters (.npz); students: metrics only (.json)


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

    def __init__(self, out: Path, code: str, head):
        self.dir = Path(out) / "jobs"          # made by the first put: a dry run writes nothing
        self.code = code
        self.head = head                        # the task's training head: its metrics and layout
        self._ok = {}                           # (kind, key) -> the checked (or just computed) result

    def path(self, kind, key):
        return self.dir / f"{kind}-{key}.{'npz' if kind in _WITH_PARAMS else 'json'}"

    def record(self, kind, key, settings, result) -> dict:
        flat = result.get("flat") if kind in _WITH_PARAMS else None
        return {"format": JOB_FORMAT, "kind": kind, "key": key, "code": self.code, "settings": settings,
                "metrics": result["metrics"], "digest": job_digest(kind, key, result["metrics"], flat)}

    def put(self, kind, key, settings, result):
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = json.dumps(self.record(kind, key, settings, result), sort_keys=True)
        if kind in _WITH_PARAMS:
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
            log(f"{p}: {e}; recomputing")
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
            if kind in _WITH_PARAMS:
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

    def _required(self, kind) -> tuple:
        """The metrics every seed's record must hold: the validation and test headline (a
        forecast's washout MSE, a classifier's cross-entropy), finite and positive."""
        h = self.head.task.headline
        return f"val_{h}", f"test_{h}"

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
        if job_key(kind, rec["settings"], rec["code"]) != key:
            raise _BadJob("its settings and code do not hash to its name")
        if rec["code"] != self.code or rec["settings"] != settings:
            raise _BadJob("computed for other settings or other training code than asked")
        metrics = rec["metrics"]
        seeds = settings.get("seeds", [])
        if not (isinstance(metrics, list) and len(metrics) == len(seeds) and all(isinstance(m, dict) for m in metrics)):
            raise _BadJob(f"metrics are not one record per seed ({len(seeds)})")
        for i, m in enumerate(metrics):
            for name in self._required(kind):
                v = m.get(name)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
                    raise _BadJob(f"seed {seeds[i]}: {name} = {str(v)[:40]}, not a finite positive number")
            for name, v in m.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise _BadJob(f"seed {seeds[i]}: {str(name)[:40]} = {str(v)[:40]}, not a finite number")
        if kind in _WITH_PARAMS:     # a teacher stack, or an int8 stack
            n = layout(settings["H"], self.head.task.I, self.head.rows(settings["H"]), student=kind == "int8")[1]
            if flat.dtype != np.float64 or flat.shape != (len(seeds), n) or not np.isfinite(flat).all():
                raise _BadJob(f"parameters {flat.dtype} {flat.shape}, expected finite float64 ({len(seeds)}, {n})")
        if rec["digest"] != job_digest(kind, key, metrics, flat):
            raise _BadJob("its content does not match its digest (edited or damaged)")
        return {"metrics": metrics} if flat is None else {"flat": flat, "metrics": metrics}
