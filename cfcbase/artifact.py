"""The trained model, ``best.npz`` (docs/artifact.md): the one reader and the one writer.

    load_artifact(path) -> Artifact      read, upgrade (versions 1-4) and validate
    save_artifact(art, path)             validate as the reader does, then write atomically

In memory a model is one form whatever file it came from: the cell (I, H, dt, per matrix its
integer weights in its weight format with a scale per row, biases, tau), its head
(cfcbase.heads: a readout or a classifier), its task (cfcbase.tasks: built-in, a series or a
labelled file, with the input scaling it was trained with) and the float teacher it came from.

On disk a model is written as the lowest format version that carries it, so files written
before keep their bytes: 1 a built-in forecast task; 2 a series (data_json, scaling); 3 a
classifier (K logits instead of the readout); 4 an int8 matrix (format_f, format_g; the int8
weights under weights_<m>). Each part of a model names the version it needs (Task.version,
the heads', the formats'); the file's version is the largest. The int8 files of version 3
written before the classifier took that number (format keys, no K) are read as version 4.

Everything from the file is checked before it is used: each entry's size from its header before
it is read (ENTRY_MAX_BYTES), every string against cfcbase.text's character set, every number
against cfcbase.rules' bounds; every problem is one ArtifactError line naming the file and the
key. The writer runs the same checks on what it is about to write, so the trainer never hands on
a model that export refuses.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .errors import ArtifactError
from .fileio import atomic_write, write_npz
from .formats import FORMATS, MATRICES, TERNARY, WeightFormat
from .heads import HEAD_TYPES, Head, head_type_of
from .rules import PARAM_MAX, TAU_RANGE, fail, json_object, str_scalar
from .task import Task
from .tasks import RECORDED, task_from_record
from .text import NAME_MAX, text_problem

FORMAT_VERSION = 4                      # the newest version written and read
READ_VERSIONS = (1, 2, 3, 4)
FORMATS_VERSION = 4                     # a file with a matrix in another format than ternary
# Every entry of a best.npz, at most (its header's shape x item size, checked before it is read):
# the largest legitimate one is a teacher matrix of H = 1024, C = 1279 (10.5 MB).
ENTRY_MAX_BYTES = 16 << 20
TEXT_KEYS_MAX_BYTES = 1 << 20          # a text entry (metrics_json, data_json, ...): 256k characters
TEXT_KEYS = ("task", "config", "metrics_json", "data_json", "labelled_json", "class_names", "pooling",
             "format_f", "format_g")
ENTRIES_MAX = 64                        # members of the archive

_INT_SCALARS = ("format_version", "I", "H")
_CELL_FLOATS = {"dt": (), "scale_f": ("H",), "scale_g": ("H",), "b_f": ("H",), "b_g": ("H",), "tau": ("H",)}
_TEACHER_FLOATS = {"teacher_W_f": ("H", "C"), "teacher_W_g": ("H", "C"), "teacher_b_f": ("H",),
                   "teacher_b_g": ("H",), "teacher_tau": ("H",)}
FORMAT_KEYS = ("format_f", "format_g")


def committed_model(task: str = "sine") -> str:
    """Where the checkout keeps a pinned task's selected model (relative to the checkout)."""
    return f"results/{task}/best.npz"


@dataclass
class Teacher:
    """The float teacher a model came from: its cell and a head of the model's kind."""
    W_f: np.ndarray                      # float64 [H, C]
    W_g: np.ndarray
    b_f: np.ndarray                      # float64 [H]
    b_g: np.ndarray
    tau: np.ndarray
    head: Head


@dataclass
class Artifact:
    """A validated trained model (docs/artifact.md)."""
    I: int
    H: int
    dt: float
    weights_f: np.ndarray                # int8 [H, C]: the gate matrix's values in its format
    weights_g: np.ndarray                # int8 [H, C]: the candidate matrix's
    scale_f: np.ndarray                  # float64 [H]: W_f = scale_f[:, None] * weights_f
    scale_g: np.ndarray
    b_f: np.ndarray
    b_g: np.ndarray
    tau: np.ndarray
    head: Head                           # cfcbase.heads: Readout or Classifier
    task: Task                           # cfcbase.tasks: what it was trained on (and its scaling)
    teacher: Teacher
    formats: tuple = (TERNARY, TERNARY)  # cfcbase.formats: the gate's and the candidate's
    config: str = ""
    metrics: dict = field(default_factory=dict)
    format_version: int = 1              # as read (a new model: as it will be written)
    path: str = "<memory>"

    @property
    def C(self) -> int:
        return self.I + self.H

    def matrices(self):
        """[(weight format, values int8 [H, C], scales [H])] of the gate and the candidate matrix."""
        return [(self.formats[0], self.weights_f, self.scale_f), (self.formats[1], self.weights_g, self.scale_g)]

    def version(self) -> int:
        """The lowest format version that carries this model."""
        return max(self.task.version, self.head.version,
                   FORMATS_VERSION if any(f is not TERNARY for f in self.formats) else 1)


# ---- writing ---------------------------------------------------------------------------------------

def artifact_arrays(art: Artifact, out: str = ".") -> dict:
    """The npz entries (docs/artifact.md) of ``art``, in the order they are stored; ``out``: the
    directory the file goes to (a task's files are recorded relative to it)."""
    t = art.teacher
    d = {"format_version": np.int32(art.version()), "task": np.str_(art.task.name), "config": np.str_(art.config),
         "I": np.int32(art.I), "H": np.int32(art.H), "dt": np.float64(art.dt)}
    for m, (fmt, w, _) in zip(MATRICES, art.matrices()):
        d[fmt.key_prefix + m] = np.asarray(w, np.int8)
    for k in ("scale_f", "scale_g", "b_f", "b_g", "tau"):
        d[k] = np.asarray(getattr(art, k), np.float64)
    d.update(art.head.inline_entries())
    for k in Teacher.__dataclass_fields__:
        if k != "head":
            d["teacher_" + k] = np.asarray(getattr(t, k), np.float64)
    d.update(t.head.inline_entries("teacher_"))
    d["metrics_json"] = np.str_(json.dumps(art.metrics, sort_keys=True))
    d.update(art.head.trailing_entries(t.head))
    d.update(art.task.record(out))
    if art.version() >= FORMATS_VERSION and any(f is not TERNARY for f in art.formats):
        d.update({k: np.str_(f.name) for k, f in zip(FORMAT_KEYS, art.formats)})
    return d


def checked_arrays(art: Artifact, path) -> dict:
    """artifact_arrays of ``art`` for the file ``path``, checked as load_artifact checks a file
    (ArtifactError naming path and key): what the trainer writes, export and verify accept."""
    arrays = artifact_arrays(art, os.path.dirname(os.path.abspath(path)))
    validate(os.fspath(path), arrays)
    return arrays


def write_artifact(art: Artifact, f, path) -> None:
    """Write ``art``, checked (checked_arrays), as npz to the binary file ``f`` that becomes
    ``path``; the bytes depend on the arrays only (cfcbase.fileio.write_npz)."""
    write_npz(f, checked_arrays(art, path))


def save_artifact(art: Artifact, path) -> None:
    """Write ``art`` to ``path`` atomically (write_artifact): nothing is written when it is refused."""
    path = os.fspath(path)
    arrays = checked_arrays(art, path)
    atomic_write(path, lambda f: write_npz(f, arrays))


# ---- reading ---------------------------------------------------------------------------------------

def _header(path, z, info):
    """(shape, dtype) of an archive member from its .npy header, without reading its data."""
    fmt = np.lib.format
    try:
        with z.open(info) as f:
            version = fmt.read_magic(f)
            shape, _, dtype = (fmt.read_array_header_1_0(f) if version == (1, 0) else fmt.read_array_header_2_0(f))
    except Exception as e:  # noqa: BLE001 - whatever a damaged member raises (ValueError, BadZipFile, zlib.error)
        fail(path, info.filename[:-4], f"unreadable ({type(e).__name__}: {e}); truncated or corrupt file?")
    return shape, dtype


def read_entries(path) -> dict:
    """{key: array} of a best.npz, every member's size checked from its header before it is read."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        fail(path, None, "no such file" if not os.path.exists(path) else "not a regular file")
    if not zipfile.is_zipfile(path):
        fail(path, None, "not an npz archive (not a zip file)")
    raw = {}
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if len(infos) > ENTRIES_MAX:
                fail(path, None, f"{len(infos)} members; a best.npz has at most {ENTRIES_MAX}")
            strays = [i.filename for i in infos if not i.filename.endswith(".npy")]
            if strays:
                fail(path, strays[0][:40], "not an array (.npy) member; a best.npz holds arrays only")
            for info in infos:
                key = info.filename[:-4]
                bound = TEXT_KEYS_MAX_BYTES if key in TEXT_KEYS else ENTRY_MAX_BYTES
                shape, dtype = _header(path, z, info)
                if dtype.hasobject:
                    fail(path, key, "holds Python objects; a best.npz holds numbers and text")
                n = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if n > bound or info.file_size > bound + 4096:
                    fail(path, key, f"{n:,} bytes; an entry of a best.npz has at most {bound:,}")
            for info in infos:
                key = info.filename[:-4]
                with z.open(info) as f:
                    try:
                        raw[key] = np.lib.format.read_array(f, allow_pickle=False)
                    except Exception as e:  # noqa: BLE001 - a damaged member
                        fail(path, key, f"unreadable ({type(e).__name__}: {e}); truncated or corrupt file?")
    except ArtifactError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        fail(path, None, f"not a readable npz archive ({type(e).__name__}: {e}); truncated or corrupt file?")
    return raw


def load_artifact(path) -> Artifact:
    """Read and validate a best.npz; raise ArtifactError (one line) on any problem."""
    path = os.fspath(path)
    return validate(path, read_entries(path))


def _int_scalar(path, raw, k) -> int:
    a = raw[k]
    if a.shape != () or not np.issubdtype(a.dtype, np.integer):
        fail(path, k, f"expected an integer scalar, got {a.dtype} of shape {a.shape}")
    return int(a)


def _floats(path, raw, spec: dict, dims: dict) -> dict:
    """The float entries of ``spec`` ({key: shape spec}), each checked: dtype, shape, finite,
    within the bounds (tau and dt > 0)."""
    out = {}
    for k, sp in spec.items():
        if k not in raw:
            fail(path, k, "missing key")
        a = raw[k]
        shape = tuple(dims[s] for s in sp)
        if a.dtype.kind != "f":
            fail(path, k, f"expected float64, got dtype {a.dtype}")
        if a.shape != shape:
            fail(path, k, f"expected shape {shape}, got {a.shape}")
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            fail(path, k, "contains NaN or infinity")
        if k in ("scale_f", "scale_g", "tau", "teacher_tau", "dt") and not np.all(a > 0):
            i = int(np.argmin(np.atleast_1d(a) > 0))
            what = f"element {i} is {float(np.atleast_1d(a)[i])!r}" if a.ndim else f"got {float(a)!r}"
            fail(path, k, f"must be > 0, {what}")
        lo, hi = TAU_RANGE if k.endswith("tau") else (-PARAM_MAX, PARAM_MAX)
        bad = ~((a >= lo) & (a <= hi))
        if bad.any():
            i = int(np.argmax(bad.ravel()))
            fail(path, k, f"{float(a.ravel()[i])!r}{f' (element {i})' if a.ndim else ''} is outside [{lo:g}, {hi:g}]")
        out[k] = a
    return out


def _formats(path, raw, version) -> tuple:
    """The two matrices' formats: named by format_f / format_g (version 4), else ternary."""
    present = [k for k in FORMAT_KEYS if k in raw]
    if not present:
        return (TERNARY, TERNARY)
    out = []
    for k in FORMAT_KEYS:
        if k not in raw:
            fail(path, k, f"missing key (format version {FORMATS_VERSION})")
        name = str_scalar(path, raw, k)
        if name not in FORMATS:
            fail(path, k, f"unknown weight format {name[:40]!r} (known: {', '.join(FORMATS)})")
        out.append(FORMATS[name])
    if all(f is TERNARY for f in out):
        fail(path, "format_f", f"format version {FORMATS_VERSION} is for int8 heads; a ternary-only model is version "
                               f"1, 2 or 3")
    return tuple(out)


def _weights(path, raw, fmt: WeightFormat, m, H, C):
    k = fmt.key_prefix + m
    other = [f.key_prefix + m for f in FORMATS.values() if f is not fmt and f.key_prefix + m in raw]
    if other:
        fail(path, other[0], f"the {'gate' if m == 'f' else 'candidate'} matrix is {fmt.name} (format_{m}): "
                             f"its values are {k}")
    if k not in raw:
        fail(path, k, "missing key")
    a = raw[k]
    if a.dtype != np.int8:
        fail(path, k, f"expected int8, got dtype {a.dtype}")
    if a.shape != (H, C):
        fail(path, k, f"expected shape {(H, C)}, got {a.shape}")
    bad = fmt.first_bad(a)
    if bad:
        fail(path, k, f"{fmt.value_word} at row {bad[0]}, column {bad[1]} is {bad[2]}, not in {fmt.range_text}")
    return a.copy()


def _check_version(path, raw, version, art: Artifact) -> None:
    """The file's version is the lowest that carries what it holds (the module's docstring)."""
    need = art.version()
    if version == need:
        return
    int8 = any(f is not TERNARY for f in art.formats)
    if version < need:
        if int8 and version < FORMATS_VERSION:
            k = next(k for k in FORMAT_KEYS if k in raw)
            fail(path, k, f"a weight format needs format version {FORMATS_VERSION}, the file is version {version}")
        if version < art.head.version:
            fail(path, "format_version", f"a {art.head.kind} ({art.head.MARK}) is a format version "
                                         f"{art.head.version} file, this one says {version}")
        fail(path, "format_version", f"a model of task {art.task.name!r} is a format version {need} file, "
                                     f"this one says {version}")
    # version > need: the entries that version stands for are missing
    if version >= FORMATS_VERSION and not int8:
        fail(path, "format_f", f"missing key (format version {FORMATS_VERSION})")
    other = next((h for h in HEAD_TYPES if h.version == version and not isinstance(art.head, h)), None)
    if other is not None:
        fail(path, other.FILE_KEYS[0], f"missing key (format version {version} is a {other.kind})")
    missing = next((k for kind in RECORDED.values() if kind.version == version for k in kind.RECORD_KEYS
                    if k not in raw), "task")
    fail(path, missing, f"missing key (format version {version})")


def validate(path, raw) -> Artifact:
    """The Artifact of a best.npz's entries ``raw``, upgraded from its version and checked."""
    for k in _INT_SCALARS + ("task", "config", "metrics_json"):
        if k not in raw:
            fail(path, k, "missing key")
    version = _int_scalar(path, raw, "format_version")
    if version not in READ_VERSIONS:
        fail(path, "format_version", f"unknown format version {version} (this version reads "
                                     f"{', '.join(map(str, READ_VERSIONS))})")
    head_type = head_type_of(raw)
    if version == 3 and head_type.version < 3 and any(k in raw for k in FORMAT_KEYS):
        version = FORMATS_VERSION        # an int8 file of the numbering before the classifier took 3
    formats = _formats(path, raw, version)
    I, H = _int_scalar(path, raw, "I"), _int_scalar(path, raw, "H")
    if not 1 <= I <= 255:
        fail(path, "I", f"inputs per step must be in 1..255, got {I}")
    if not 1 <= H <= 1024:
        fail(path, "H", f"hidden units must be in 1..1024, got {H}")
    dims = {"H": H, "C": I + H}
    floats = _floats(path, raw, {**_CELL_FLOATS, **_TEACHER_FLOATS, **head_type.FLOATS}, dims)
    weights = [_weights(path, raw, fmt, m, H, I + H) for fmt, m in zip(formats, MATRICES)]
    task_name, config = str_scalar(path, raw, "task"), str_scalar(path, raw, "config")
    for k, v in (("task", task_name), ("config", config)):
        problem = text_problem(v, NAME_MAX)
        if problem:
            fail(path, k, problem)
    head, teacher_head = head_type.read(path, raw, floats, H)
    task = task_from_record(path, raw, I, task_name, head)
    if task.head_kind != head.kind:
        fail(path, "task", f"task {task_name!r} trains a {task.head_kind}; this file carries a {head.kind}"
                           + f" ({head.MARK})")
    metrics = json_object(path, raw, "metrics_json")
    known = set(_INT_SCALARS + ("task", "config", "metrics_json") + FORMAT_KEYS) | set(floats) | \
        {f.key_prefix + m for f in FORMATS.values() for m in MATRICES} | {k for h in HEAD_TYPES for k in h.FILE_KEYS} | \
        {k for kind in RECORDED.values() for k in kind.RECORD_KEYS}
    unknown = sorted(set(raw) - known)
    if unknown:
        fail(path, unknown[0][:40], "unknown key (docs/artifact.md lists the keys of every version)")
    t = {k[len("teacher_"):]: v for k, v in floats.items() if k.startswith("teacher_")}
    art = Artifact(I=I, H=H, dt=float(floats["dt"]), weights_f=weights[0], weights_g=weights[1],
                   scale_f=floats["scale_f"], scale_g=floats["scale_g"], b_f=floats["b_f"], b_g=floats["b_g"],
                   tau=floats["tau"], head=head, task=task,
                   teacher=Teacher(t["W_f"], t["W_g"], t["b_f"], t["b_g"], t["tau"], teacher_head),
                   formats=formats, config=config, metrics=metrics, format_version=version, path=path)
    _check_version(path, raw, version, art)
    return art
