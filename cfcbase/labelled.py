"""Labelled windows for classification: the file formats, the splits, the scaling, the tasks.

    read_labelled(path)                -> Labelled: x [N, T, C], class indices y [N], class names
    LabelledSpec(train, test, val_fraction)
    build(spec)                        -> LabelledData: x and y per split, the scaling, sizes
    load_labelled(task, split)         -> (x float64 [N, T, I], y int64 [N]) of a classification task
    CLASSIFY_TASKS                     the pinned synthetic classification tasks ("waves3")

A classification task gives one label per window (case): K logits from the hidden state after
the window (docs/model.md, "Classification"). Two file formats (docs/model.md):

- UCR/UEA `.ts` (the format of timeseriesclassification.com, shipped in the `aeon` wheel): `#`
  comments, a header of `@problemName`, `@timeStamps`, `@missing`, `@univariate`,
  `@dimensions`, `@equalLength`, `@seriesLength`, `@classLabel true L1 L2 ...`, then `@data`
  and one case per line: the channels separated by `:`, the values of a channel by `,`, the
  label last.
- `.npz`: `X` real numbers [N, T, C], `y` [N] (integer class indices 0..K-1, or the class names
  as text), `classes` [K] the class names (text), optionally `channels` [C] (text).

Splits: the TRAIN file gives train and a stratified validation part (per class, a fixed
share VAL_FRACTION of its cases drawn with the fixed seed VAL_SEED; at least one when the class
has two or more, never all of them), the TEST file the test split. Scaling per channel is
fitted on the training part alone, as for a series (cfcbase.series: offset the mean, scale the
largest |v - offset|), so the training windows fill [-1, 1].

A file may come from anywhere: it is read within cfcbase.datafile's bounds (size on disk, line
length, values, magnitude) and the ones below (cases, channels, classes); every problem is one
SeriesError line naming the file and the line (or case) and what is at fault: a case of another
length, an unknown label, a missing or non-finite value, a class without a case.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from . import datafile
from .datafile import SeriesError, _q, resolve_path

MAX_CASES = 100_000            # cases (windows) per file
MAX_CHANNELS = 255             # the artifact's I
MAX_CLASSES = 32               # the artifact's K (the LOGITS reply carries up to 32 int32 logits)
MIN_CLASSES = 2
MAX_SERIES_LENGTH = 100_000    # steps per case (the artifact's seq_len bound)
VAL_FRACTION = 0.2             # of each class's TRAIN cases, for validation (--val-fraction)
VAL_SEED = 20_251              # the stratified split's fixed seed (never the training seed)
EXTENSIONS = (".ts", ".npz")
LABELLED_PREFIX = "labelled:"
SPLITS = ("train", "val", "test")


@dataclass
class Labelled:
    """One file's cases: x float64 [N, T, C], y int64 [N] (indices into classes), where each case
    is in the file (`lines`: its line for a .ts, None for an .npz: cases named by index)."""
    path: str
    x: np.ndarray
    y: np.ndarray
    classes: list
    channels: list
    lines: list | None = None
    class_line: int | None = None      # the .ts line declaring the classes
    problem: str | None = None         # @problemName

    def where(self, i) -> str:
        return f"line {self.lines[i]}" if self.lines is not None else f"case {i}"


def _bad(path, msg):
    raise SeriesError(f"{path}: {msg}")


# ---- .ts (UCR / UEA) ---------------------------------------------------------------------

_BOOL = {"true": True, "false": False}


def _lines(f, name):
    """(line number, text) of a text file, each line at most datafile.MAX_LINE characters and all
    of them at most datafile.MAX_FILE_BYTES characters."""
    n = chars = 0
    while True:
        line = f.readline(datafile.MAX_LINE + 1)
        if not line:
            return
        n += 1
        chars += len(line)
        if len(line) > datafile.MAX_LINE:
            _bad(name, f"line {n} is longer than {datafile.MAX_LINE} characters")
        if chars > datafile.MAX_FILE_BYTES:
            _bad(name, f"more than {datafile._mib(datafile.MAX_FILE_BYTES)} of text; files of at most "
                       f"{datafile._mib(datafile.MAX_FILE_BYTES)} are read")
        yield n, line.rstrip("\r\n")


def _ts_header(name, key, rest, n, head):
    """One @key line of a .ts header into head (refusing what this reader cannot take)."""
    words = rest.split()
    k = key.lower()

    def flag():
        if len(words) != 1 or words[0].lower() not in _BOOL:
            _bad(name, f"line {n}: @{key} takes true or false, got {rest.strip()!r:.40}")
        return _BOOL[words[0].lower()]

    def count(lo, hi):
        if len(words) != 1 or not words[0].isdigit() or not lo <= int(words[0]) <= hi:
            _bad(name, f"line {n}: @{key} takes an integer in {lo}..{hi}, got {rest.strip()!r:.40}")
        return int(words[0])
    if k == "problemname":
        head["problem"] = rest.strip()[:64]
    elif k == "timestamps":
        if flag():
            _bad(name, f"line {n}: @timeStamps true: cases with time stamps are not read (evenly spaced values only)")
    elif k == "missing":
        head["missing"] = flag()
    elif k == "univariate":
        head["univariate"] = flag()
    elif k == "dimensions":
        head["dimensions"] = count(1, MAX_CHANNELS)
    elif k == "equallength":
        head["equal_length"] = flag()
    elif k == "serieslength":
        head["series_length"] = count(1, MAX_SERIES_LENGTH)
    elif k == "classlabel":
        if not words or words[0].lower() not in _BOOL:
            _bad(name, f"line {n}: @classLabel takes true followed by the class labels, or false")
        if not _BOOL[words[0].lower()]:
            _bad(name, f"line {n}: @classLabel false: the cases carry no class label (not a classification set)")
        labels = words[1:]
        if len(labels) < MIN_CLASSES:
            _bad(name, f"line {n}: @classLabel names {len(labels)} class(es); a classifier needs at least {MIN_CLASSES}")
        if len(labels) > MAX_CLASSES:
            _bad(name, f"line {n}: @classLabel names {len(labels)} classes; at most {MAX_CLASSES} are supported")
        if len(set(labels)) != len(labels):
            dup = next(c for c in labels if labels.count(c) > 1)
            _bad(name, f"line {n}: @classLabel names class {_q(dup)} twice")
        head["classes"], head["class_line"] = labels, n
    elif k in ("targetlabel",):
        _bad(name, f"line {n}: @{key}: a regression set (a target value per case), not a classification set")
    # any other @key (a newer header field) is ignored


def read_ts(path) -> Labelled:
    """A UCR/UEA .ts file (see the module docstring), within the bounds."""
    from array import array
    shown, real = _open_checks(path, ".ts")
    head = {}
    flat = array("d")                 # every value, case after case ([C][T] each): 8 bytes a value
    labels, lines = [], []
    dims = length = None
    try:
        with open(real, encoding="utf-8-sig") as f:
            data = False
            for n, line in _lines(f, shown):
                s = line.strip()
                if not s or s.startswith("#"):
                    continue
                if not data:
                    if not s.startswith("@"):
                        _bad(shown, f"line {n}: expected a @key header line or @data before the cases")
                    key, _, rest = s[1:].partition(" ")
                    if key.lower() == "data":
                        if "classes" not in head:
                            _bad(shown, f"line {n}: @data before @classLabel: the file declares no class labels")
                        data = True
                    else:
                        _ts_header(shown, key, rest, n, head)
                    continue
                fields = s.split(":")
                if len(fields) < 2:
                    _bad(shown, f"line {n}: a case needs its channels and a label separated by ':'")
                label = fields[-1].strip()
                chans = fields[:-1]
                if dims is None:
                    dims = len(chans)
                    want = head.get("dimensions", 1 if head.get("univariate") else None)
                    if want is not None and dims != want:
                        _bad(shown, f"line {n}: {dims} channel(s), the header declares {want}")
                    if dims > MAX_CHANNELS:
                        _bad(shown, f"line {n}: {dims} channels; at most {MAX_CHANNELS} are read")
                elif len(chans) != dims:
                    _bad(shown, f"line {n}: {len(chans)} channel(s), the cases before it {dims}")
                for c, text in enumerate(chans):
                    vals = text.split(",")
                    if length is None:
                        length = len(vals)
                        want = head.get("series_length")
                        if want is not None and length != want:
                            _bad(shown, f"line {n}: channel {c} has {length} values, @seriesLength declares {want}")
                        if length > MAX_SERIES_LENGTH:
                            _bad(shown, f"line {n}: {length} values per channel; at most {MAX_SERIES_LENGTH} are read")
                    elif len(vals) != length:
                        _bad(shown, f"line {n}: channel {c} has {len(vals)} values, the cases before it {length} "
                                    f"(unequal lengths are not read: cut or resample the cases to one length)")
                    for j, v in enumerate(vals):
                        try:
                            fv = float(v)
                        except ValueError:
                            vs = v.strip()
                            what = "a missing value" if vs in ("?", "") else f"{_q(vs)} is not a number"
                            _bad(shown, f"line {n}: channel {c}, value {j}: {what}")
                        if not math.isfinite(fv):
                            _bad(shown, f"line {n}: channel {c}, value {j}: {v.strip()} (a missing or non-finite "
                                        f"value)")
                        if abs(fv) > datafile.MAX_ABS:
                            _bad(shown, f"line {n}: channel {c}, value {j}: {fv:g} is outside the accepted magnitude "
                                        f"|v| <= {datafile.MAX_ABS:g}")
                        flat.append(fv)
                    if len(flat) > datafile.MAX_VALUES:
                        _bad(shown, f"line {n}: more than {datafile.MAX_VALUES:,} values; larger files are not read")
                if label not in head["classes"]:
                    _bad(shown, f"line {n}: unknown label {_q(label)} (@classLabel on line {head['class_line']} "
                                f"declares: {', '.join(head['classes'])})")
                if len(labels) >= MAX_CASES:
                    _bad(shown, f"line {n}: more than {MAX_CASES:,} cases; larger files are not read")
                labels.append(head["classes"].index(label))
                lines.append(n)
            if not data:
                _bad(shown, "no @data line: not a .ts file")
    except UnicodeDecodeError:
        _bad(shown, "not a text file (bytes that are not UTF-8)")
    except MemoryError:
        _bad(shown, "out of memory while reading")
    except OSError as e:
        _bad(shown, f"cannot read ({e.strerror or e})")
    if not labels:
        _bad(shown, "no cases after @data")
    x = np.frombuffer(flat, np.float64).reshape(len(labels), dims, length).transpose(0, 2, 1)   # -> [N, T, C]
    return Labelled(shown, np.ascontiguousarray(x), np.asarray(labels, np.int64), list(head["classes"]),
                    [f"dim{c}" for c in range(dims)], lines, head["class_line"], head.get("problem"))


# ---- .npz ----------------------------------------------------------------------------------

def _open_checks(path, ext):
    path = os.fspath(path)
    real = resolve_path(path)
    if not os.path.exists(real):
        _bad(path, "no such file")
    if not os.path.isfile(real):
        _bad(path, "not a regular file")
    size = os.path.getsize(real)
    if size > datafile.MAX_FILE_BYTES:
        _bad(path, f"{size} bytes; files of at most {datafile._mib(datafile.MAX_FILE_BYTES)} are read")
    return path, real


def _npz_members(name, real) -> dict:
    """key -> (shape, dtype, ZipInfo) of every member, from the headers alone (nothing is
    decompressed before the declared sizes are within the bounds; no Python objects)."""
    import zipfile
    out = {}
    total = 0
    with zipfile.ZipFile(real) as z:
        infos = z.infolist()
        if len(infos) > 16:
            _bad(name, f"{len(infos)} arrays; a labelled .npz has X, y, classes and channels")
        for info in infos:
            if not info.filename.endswith(".npy"):
                _bad(name, f"member {_q(info.filename)} is not a .npy array")
            key = info.filename[:-4]
            total += info.file_size
            if info.file_size > datafile.MAX_FILE_BYTES or total > datafile.MAX_FILE_BYTES:
                _bad(name, f"key {_q(key)} declares {info.file_size} bytes uncompressed; at most "
                           f"{datafile._mib(datafile.MAX_FILE_BYTES)} in all are read")
            with z.open(info) as f:
                shape, _, dtype = datafile._npy_header(f, f"{name}: key {_q(key)}")
                offset = f.tell()
            if dtype.hasobject:
                _bad(name, f"key {_q(key)} holds Python objects; expected numbers or text")
            if offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > info.file_size:
                _bad(name, f"key {_q(key)} declares {shape} values of {dtype}, more than it holds")
            out[key] = (shape, dtype, info)
    return out


def read_npz(path) -> Labelled:
    """An .npz of X [N, T, C] real numbers, y [N] and classes [K] (see the module docstring)."""
    import struct
    import zipfile
    import zlib
    shown, real = _open_checks(path, ".npz")
    try:
        mem = _npz_members(shown, real)
        for k in ("X", "y", "classes"):
            if k not in mem:
                _bad(shown, f"no key {k!r} (a labelled .npz has X [N, T, C], y [N], classes [K])")
        (xs, xd, _), (ys, yd, _), (cs, cd, _) = mem["X"], mem["y"], mem["classes"]
        if len(xs) != 3 or not datafile._numeric(xd):
            _bad(shown, f"X: expected real numbers of shape [N, T, C], got {xd} of shape {xs}")
        N, T, C = xs
        if not (1 <= N <= MAX_CASES and 1 <= T <= MAX_SERIES_LENGTH and 1 <= C <= MAX_CHANNELS):
            _bad(shown, f"X: shape {xs}; at most {MAX_CASES:,} cases of {MAX_SERIES_LENGTH:,} steps and "
                        f"{MAX_CHANNELS} channels are read")
        if N * T * C > datafile.MAX_VALUES:
            _bad(shown, f"X: {N * T * C:,} values; at most {datafile.MAX_VALUES:,} are read")
        if cd.kind != "U" or len(cs) != 1:
            _bad(shown, f"classes: expected the class names as text [K], got {cd} of shape {cs}")
        if not MIN_CLASSES <= cs[0] <= MAX_CLASSES:
            _bad(shown, f"classes: {cs[0]} class(es); {MIN_CLASSES}..{MAX_CLASSES} are supported")
        if ys != (N,) or not (yd.kind in "iu" or yd.kind == "U"):
            _bad(shown, f"y: expected integer class indices or class names of shape ({N},), got {yd} of shape {ys}")
        if "channels" in mem and (mem["channels"][1].kind != "U" or mem["channels"][0] != (C,)):
            _bad(shown, f"channels: expected {C} names as text, got {mem['channels'][1]} of shape {mem['channels'][0]}")
        with zipfile.ZipFile(real) as z:
            def load(k):
                with z.open(mem[k][2]) as f:
                    return np.lib.format.read_array(f, allow_pickle=False)
            classes = [str(c) for c in load("classes")]
            y = load("y")
            channels = [str(c) for c in load("channels")] if "channels" in mem else [f"c{j}" for j in range(C)]
            x = np.asarray(load("X"), np.float64)
    except SeriesError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, ValueError, EOFError, KeyError,
            NotImplementedError, RuntimeError) as e:
        _bad(shown, f"not a readable NumPy file ({e})")
    except MemoryError:
        _bad(shown, "out of memory while reading")
    except OSError as e:
        _bad(shown, f"cannot read ({e.strerror or e})")
    if len(set(classes)) != len(classes):
        dup = next(c for c in classes if classes.count(c) > 1)
        _bad(shown, f"classes: class {_q(dup)} named twice")
    if y.dtype.kind == "U":
        idx = np.empty(N, np.int64)
        for i, v in enumerate(y):
            if str(v) not in classes:
                _bad(shown, f"case {i}: unknown label {_q(str(v))} (classes: {', '.join(classes)})")
            idx[i] = classes.index(str(v))
    else:
        idx = y.astype(np.int64)
        bad = (idx < 0) | (idx >= len(classes))
        if bad.any():
            i = int(np.argmax(bad))
            _bad(shown, f"case {i}: unknown label {int(y[i])} (class indices 0..{len(classes) - 1})")
    bad = ~np.isfinite(x)
    if bad.any():
        i, t, c = (int(v) for v in np.argwhere(bad)[0])
        _bad(shown, f"case {i}: X[{i}, {t}, {c}] is {x[i, t, c]} (a missing or non-finite value; "
                    f"{int(bad.sum())} in the file)")
    big = np.abs(x) > datafile.MAX_ABS
    if big.any():
        i, t, c = (int(v) for v in np.argwhere(big)[0])
        _bad(shown, f"case {i}: X[{i}, {t}, {c}] = {x[i, t, c]:g} is outside the accepted magnitude "
                    f"|v| <= {datafile.MAX_ABS:g}")
    return Labelled(shown, np.ascontiguousarray(x), idx, classes, channels)


def read_labelled(path) -> Labelled:
    """A labelled file (.ts or .npz) within the bounds; the class and channel names must be the
    safe text of cfcbase.text (they go into the artifact, the model header and reports)."""
    from .text import text_problem
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    if ext not in EXTENSIONS:
        _bad(p, f"not a labelled file (.ts, the UCR/UEA format, or .npz with X, y, classes)")
    lab = read_ts(p) if ext == ".ts" else read_npz(p)
    where = f"@classLabel on line {lab.class_line}" if lab.class_line else "classes"
    for c in lab.classes:
        why = text_problem(c)
        if why:
            _bad(p, f"{where}: class {_q(c)}: {why}")
    for c in lab.channels:
        why = text_problem(c)
        if why:
            _bad(p, f"channels: {_q(c)}: {why}")
    return lab


# ---- the task -------------------------------------------------------------------------------

@dataclass
class LabelledSpec:
    train: str
    test: str
    val_fraction: float = VAL_FRACTION


@dataclass
class LabelledData:
    spec: LabelledSpec
    classes: list
    channels: list
    offset: np.ndarray                           # per channel, fitted on the training part
    scale: np.ndarray
    x: dict = field(default_factory=dict)        # split -> float64 [N, T, C], scaled
    y: dict = field(default_factory=dict)        # split -> int64 [N]
    problem: str | None = None

    def sizes(self) -> str:
        return ", ".join(f"{s} {len(self.y[s])} ({', '.join(str(int(n)) for n in counts(self.y[s], len(self.classes)))})"
                         for s in SPLITS) + f" cases per class ({', '.join(self.classes)})"


def counts(y, K) -> np.ndarray:
    return np.bincount(np.asarray(y, np.int64), minlength=K)


def default_test_path(train: str) -> str | None:
    """The UCR convention: NAME_TRAIN.ext -> NAME_TEST.ext (None if the name does not follow it)."""
    head, _, tail = str(train).rpartition("/")
    stem, ext = os.path.splitext(tail)
    for a, b in (("_TRAIN", "_TEST"), ("_train", "_test")):
        if stem.endswith(a):
            return (head + "/" if head else "") + stem[: -len(a)] + b + ext
    return None


def stratified_split(y, K, val_fraction, seed=VAL_SEED):
    """(train indices, val indices) of the TRAIN file's cases, both in file order: per class,
    round(val_fraction * n) of its n cases (at least 1 when n >= 2, at most n - 1) drawn with a
    generator seeded by (seed, class index)."""
    tr, va = [], []
    for k in range(K):
        idx = np.flatnonzero(y == k)
        n = len(idx)
        v = min(max(int(round(val_fraction * n)), 1 if n >= 2 else 0), n - 1) if n else 0
        pick = np.random.default_rng([seed, k]).permutation(n)[:v]
        va += idx[pick].tolist()
        tr += np.delete(idx, pick).tolist()
    return np.array(sorted(tr), np.int64), np.array(sorted(va), np.int64)


def _check_spec(spec):
    f = spec.val_fraction
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not (0 < f < 1):
        raise SeriesError(f"--val-fraction must be a number in (0, 1), got {f!r}")


def build(spec: LabelledSpec) -> LabelledData:
    """Read both files, check they agree (classes, channels, length), split, scale."""
    _check_spec(spec)
    tr = read_labelled(spec.train)
    te = read_labelled(spec.test)
    if te.classes != tr.classes:
        where = f"line {te.class_line}" if te.class_line else "classes"
        _bad(te.path, f"{where}: classes {', '.join(te.classes)}; the TRAIN file {tr.path} declares "
                      f"{', '.join(tr.classes)} (the same names in the same order)")
    if te.x.shape[2] != tr.x.shape[2]:
        _bad(te.path, f"{te.where(0)}: {te.x.shape[2]} channel(s), the TRAIN file {tr.x.shape[2]}")
    if te.x.shape[1] != tr.x.shape[1]:
        _bad(te.path, f"{te.where(0)}: cases of {te.x.shape[1]} steps, the TRAIN file's {tr.x.shape[1]} "
                      f"(unequal lengths are not read)")
    K = len(tr.classes)
    n = counts(tr.y, K)
    for k in range(K):
        if n[k] == 0:
            where = f"@classLabel on line {tr.class_line}" if tr.class_line else "classes"
            _bad(tr.path, f"{where}: class {_q(tr.classes[k])} has no case in the file (every class needs "
                          f"training cases)")
    a, b = stratified_split(tr.y, K, spec.val_fraction)
    xtr = tr.x[a]
    offset = xtr.reshape(-1, xtr.shape[2]).mean(0)
    spread = np.abs(xtr - offset).reshape(-1, xtr.shape[2]).max(0)
    for j, s in enumerate(spread):
        if not s > 0:
            _bad(tr.path, f"channel {_q(tr.channels[j])} is constant over the training cases; it carries no "
                          f"signal (drop it)")
    out = LabelledData(spec, list(tr.classes), list(tr.channels), offset, spread, problem=tr.problem)
    from .series import MAX_SCALED
    for s, (src, idx) in {"train": (tr, a), "val": (tr, b), "test": (te, np.arange(len(te.y)))}.items():
        x = (src.x[idx] - offset) / spread
        far = ~(np.abs(x) <= MAX_SCALED)
        if far.any():
            i, t, c = (int(v) for v in np.argwhere(far)[0])
            _bad(src.path, f"{src.where(int(idx[i]))}: channel {c}, value {t}: {src.x[idx[i], t, c]:g} lies "
                           f"{abs(x[i, t, c]):.3g} times the training cases' range from their mean (at most "
                           f"{MAX_SCALED:g}; the scaling is fitted on the training cases)")
        out.x[s], out.y[s] = np.ascontiguousarray(x), src.y[idx].copy()
    if len(out.y["val"]) == 0:
        _bad(tr.path, "no class has two cases: nothing for the validation split")
    return out


# ---- task names ----------------------------------------------------------------------------

def spec_dict(spec: LabelledSpec) -> dict:
    return {"train": str(spec.train), "test": str(spec.test), "val_fraction": float(spec.val_fraction)}


def labelled_task(spec) -> str:
    d = spec if isinstance(spec, dict) else spec_dict(spec)
    return LABELLED_PREFIX + json.dumps(d, sort_keys=True, separators=(",", ":"))


def labelled_spec(task: str) -> LabelledSpec:
    d = json.loads(task[len(LABELLED_PREFIX):])
    return LabelledSpec(d["train"], d["test"], d["val_fraction"])


def is_labelled_task(task) -> bool:
    return isinstance(task, str) and task.startswith(LABELLED_PREFIX)


_DATA: dict = {}


def labelled_data(task: str) -> LabelledData:
    """The LabelledData of a labelled-file task (built once per process)."""
    if task not in _DATA:
        _DATA[task] = build(labelled_spec(task))
    return _DATA[task]


# ---- the pinned synthetic task ----------------------------------------------------------------

WAVES3_STEPS = 32
WAVES3_CLASSES = ("slow", "fast", "saw")
WAVES3_SIZES = {"train": 96, "val": 48, "test": 96}
_WAVES3_SEEDS = {"train": 40261, "val": 40262, "test": 40263}
CLASSIFY_TASKS = ("waves3",)


def _waves3(n, rng):
    """n cases of 32 steps, one input: a slow sine (period 14-20 steps), a fast one (5-8) or a
    sawtooth (period 10-16), random amplitude 0.5-1 and phase, Gaussian noise sd 0.1;
    classes in turn (balanced)."""
    y = np.arange(n) % 3
    t = np.arange(WAVES3_STEPS)[None, :]
    period = np.where(y == 0, rng.uniform(14, 20, n), np.where(y == 1, rng.uniform(5, 8, n), rng.uniform(10, 16, n)))
    phase = rng.uniform(0, 1, n)
    amp = rng.uniform(0.5, 1.0, n)
    u = t / period[:, None] + phase[:, None]
    sine = np.sin(2 * np.pi * u)
    saw = 2 * (u - np.floor(u + 0.5))
    x = amp[:, None] * np.where((y == 2)[:, None], saw, sine) + rng.normal(0, 0.1, (n, WAVES3_STEPS))
    return x[:, :, None], y.astype(np.int64)


_CACHE: dict = {}


def is_classify_task(task) -> bool:
    """A classification task: a pinned synthetic one (CLASSIFY_TASKS) or a labelled file's."""
    return task in CLASSIFY_TASKS or is_labelled_task(task)


def load_labelled(task: str, split: str):
    """(x float64 [N, T, I], y int64 [N]) of a classification task's split (copies)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} for task {task!r} (known: {', '.join(SPLITS)})")
    if is_labelled_task(task):
        d = labelled_data(task)
        return d.x[split].copy(), d.y[split].copy()
    if task not in CLASSIFY_TASKS:
        raise ValueError(f"unknown classification task {task!r} (known: {', '.join(CLASSIFY_TASKS)})")
    if (task, split) not in _CACHE:
        _CACHE[task, split] = _waves3(WAVES3_SIZES[split], np.random.default_rng(_WAVES3_SEEDS[split]))
    x, y = _CACHE[task, split]
    return x.copy(), y.copy()


def class_names(task: str) -> list:
    return list(labelled_data(task).classes) if is_labelled_task(task) else list(WAVES3_CLASSES)


def n_inputs(task: str) -> int:
    return len(labelled_data(task).channels) if is_labelled_task(task) else 1


def channel_names(task: str) -> list:
    return list(labelled_data(task).channels) if is_labelled_task(task) else ["x"]


def label(task: str) -> str:
    """A short name: the pinned task's, or the TRAIN file's problem (its name without _TRAIN)."""
    if not is_labelled_task(task):
        return task
    d = json.loads(task[len(LABELLED_PREFIX):])
    stem = os.path.splitext(d["train"].rsplit("/", 1)[-1])[0]
    return stem[:-6] if stem.upper().endswith("_TRAIN") else stem


# ---- a classifier's own data (cfcbase.artifact, version 3) ------------------------------------------

def artifact_file(art, p: str) -> str:
    """A labelled classifier's file as the artifact records it (docs/artifact.md): pkg:PACKAGE/PATH,
    or relative to the artifact's directory (a file written before paths were relative to it:
    the current directory)."""
    if p.startswith(datafile.PKG_PREFIX) or art.path == "<memory>":
        return p
    beside = os.path.normpath(os.path.join(os.path.dirname(art.path), p))
    return beside if os.path.exists(beside) or not os.path.exists(p) else p


def artifact_task(art, test_path=None) -> str:
    """The classification task of a classifier artifact: its pinned task, or for task `labelled`
    the task of its files (``test_path`` instead of its TEST file)."""
    if art.labelled is None:
        return art.task
    d = art.labelled
    return labelled_task({"train": artifact_file(art, d["train"]), "test": str(test_path or artifact_file(art, d["test"])),
                          "val_fraction": d["val_fraction"]})


def artifact_windows(art, split, test_path=None):
    """(x float64 [N, T, I] scaled as the model's inputs, y int64 [N], where they came from) of a
    classifier artifact's split. For a labelled file the test split is the TEST file (or
    ``test_path``) alone, scaled with the artifact's scaling (no TRAIN file needed); the
    validation split is rebuilt from both files. The file's classes and channels must be the
    artifact's (one SeriesError line otherwise)."""
    if art.labelled is None:
        x, y = load_labelled(art.task, split)
        return x, y, f"{art.task} {split} set (cfcbase.labelled)"
    d = art.labelled
    sc = art.scaling
    if split == "test":
        lab = read_labelled(test_path or artifact_file(art, d["test"]))
        raw = lab.x
        if lab.classes != art.head["classes"]:
            _bad(lab.path, f"classes {', '.join(lab.classes)}; the model's are {', '.join(art.head['classes'])}")
    else:
        ld = labelled_data(artifact_task(art, test_path))
        if ld.classes != art.head["classes"]:
            _bad(d["train"], f"classes {', '.join(ld.classes)}; the model's are {', '.join(art.head['classes'])}")
        raw, lab = ld.x[split] * ld.scale + ld.offset, None
        y = ld.y[split]
    if raw.shape[2] != art.I:
        _bad(test_path or d["test"], f"{raw.shape[2]} channel(s), the model I = {art.I}")
    x = (raw - sc["input_offset"]) / sc["input_scale"]
    if lab is not None:
        y = lab.y
        return x, y.copy(), f"{lab.path} ({len(y)} windows of {x.shape[1]} steps)"
    return x, y.copy(), f"{d['train']} {split} split ({len(y)} windows of {x.shape[1]} steps)"
