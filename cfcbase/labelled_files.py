"""The labelled files (docs/model.md, "Classification") read into Labelled: x [N, T, C], class
indices y [N], class and channel names. Two file formats:

- UCR/UEA `.ts` (the format of timeseriesclassification.com, shipped in the `aeon` wheel): `#`
  comments, a header of `@problemName`, `@timeStamps`, `@missing`, `@univariate`,
  `@dimensions`, `@equalLength`, `@seriesLength`, `@classLabel true L1 L2 ...`, then `@data`
  and one case per line: the channels separated by `:`, the values of a channel by `,`, the
  label last.
- `.npz`: `X` real numbers [N, T, C], `y` [N] (integer class indices 0..K-1, or the class names
  as text), `classes` [K] the class names (text), optionally `channels` [C] (text).

A file is read within cfcbase.table's bounds and the ones below (cases, channels, classes,
steps); every problem is one SeriesError line naming the file and the line (or case). The
splits, the scaling and the tasks built on them: cfcbase.labelled.
"""
from __future__ import annotations

import math
import os
import struct
import zipfile
import zlib
from array import array
from dataclasses import dataclass

import numpy as np

from . import table
from .heads import K_RANGE, MAX_WINDOW
from .datafile_numpy import npy_header, numeric_dtype
from .table import SeriesError, mib, quote, resolve_path
from .text import text_problem

MAX_CASES = 100_000            # cases (windows) per file
MAX_CHANNELS = 255             # the artifact's I
MIN_CLASSES, MAX_CLASSES = K_RANGE   # the artifact's K (the LOGITS reply carries up to 32 int32 logits)
MAX_SERIES_LENGTH = MAX_WINDOW   # steps per case: the longest window a classifier pools (cfcbase.heads)
EXTENSIONS = (".ts", ".npz")


@dataclass
class Labelled:
    """One file's cases: x float64 [N, T, C] (T the longest case; a shorter case's steps past its
    length are 0), y int64 [N] (indices into classes), lengths int64 [N] (each case's steps), where
    each case is in the file (`lines`: its line for a .ts, None for an .npz: cases named by index)."""
    path: str
    x: np.ndarray
    y: np.ndarray
    classes: list
    channels: list
    lines: list | None = None
    class_line: int | None = None      # the .ts line declaring the classes
    problem: str | None = None         # @problemName
    lengths: np.ndarray | None = None  # None: every case has T steps

    def __post_init__(self):
        if self.lengths is None:
            self.lengths = np.full(len(self.y), self.x.shape[1], np.int64)

    def where(self, i) -> str:
        return f"line {self.lines[i]}" if self.lines is not None else f"case {i}"


def bad_file(path, msg):
    raise SeriesError(f"{path}: {msg}")


# ---- .ts (UCR / UEA) ---------------------------------------------------------------------

_BOOL = {"true": True, "false": False}


def _lines(f, name):
    """(line number, text) of a text file, each line at most table.MAX_LINE characters and all
    of them at most table.MAX_FILE_BYTES characters."""
    n = chars = 0
    while True:
        line = f.readline(table.MAX_LINE + 1)
        if not line:
            return
        n += 1
        chars += len(line)
        if len(line) > table.MAX_LINE:
            bad_file(name, f"line {n} is longer than {table.MAX_LINE} characters")
        if chars > table.MAX_FILE_BYTES:
            bad_file(name, f"more than {mib(table.MAX_FILE_BYTES)} of text; files of at most "
                       f"{mib(table.MAX_FILE_BYTES)} are read")
        yield n, line.rstrip("\r\n")


def _ts_header(name, key, rest, n, head):
    """One @key line of a .ts header into head (refusing what this reader cannot take)."""
    words = rest.split()
    k = key.lower()

    def flag():
        if len(words) != 1 or words[0].lower() not in _BOOL:
            bad_file(name, f"line {n}: @{key} takes true or false, got {rest.strip()!r:.40}")
        return _BOOL[words[0].lower()]

    def count(lo, hi, why=""):
        if len(words) != 1 or not words[0].isdigit() or not lo <= int(words[0]) <= hi:
            bad_file(name, f"line {n}: @{key} takes an integer in {lo}..{hi}{why}, got {rest.strip()!r:.40}")
        return int(words[0])
    if k == "problemname":
        head["problem"] = rest.strip()[:64]
    elif k == "timestamps":
        if flag():
            bad_file(name, f"line {n}: @timeStamps true: cases with time stamps are not read (evenly spaced values only)")
    elif k == "missing":
        head["missing"] = flag()
    elif k == "univariate":
        head["univariate"] = flag()
    elif k == "dimensions":
        head["dimensions"] = count(1, MAX_CHANNELS)
    elif k == "equallength":
        head["equal_length"] = flag()
    elif k == "serieslength":
        head["series_length"] = count(1, MAX_SERIES_LENGTH, " (the longest window a classifier pools)")
    elif k == "classlabel":
        if not words or words[0].lower() not in _BOOL:
            bad_file(name, f"line {n}: @classLabel takes true followed by the class labels, or false")
        if not _BOOL[words[0].lower()]:
            bad_file(name, f"line {n}: @classLabel false: the cases carry no class label (not a classification set)")
        labels = words[1:]
        if len(labels) < MIN_CLASSES:
            bad_file(name, f"line {n}: @classLabel names {len(labels)} class(es); a classifier needs at least {MIN_CLASSES}")
        if len(labels) > MAX_CLASSES:
            bad_file(name, f"line {n}: @classLabel names {len(labels)} classes; at most {MAX_CLASSES} are supported")
        if len(set(labels)) != len(labels):
            dup = next(c for c in labels if labels.count(c) > 1)
            bad_file(name, f"line {n}: @classLabel names class {quote(dup)} twice")
        head["classes"], head["class_line"] = labels, n
    elif k in ("targetlabel",):
        bad_file(name, f"line {n}: @{key}: a regression set (a target value per case), not a classification set")
    # any other @key (a newer header field) is ignored


def read_ts(path) -> Labelled:
    """A UCR/UEA .ts file (see the module docstring), within the bounds."""
    shown, real = _open_checks(path, ".ts")
    head = {}
    flat = array("d")                 # every value, case after case ([C][T] each): 8 bytes a value
    labels, lines, lengths = [], [], []
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
                        bad_file(shown, f"line {n}: expected a @key header line or @data before the cases")
                    key, _, rest = s[1:].partition(" ")
                    if key.lower() == "data":
                        if "classes" not in head:
                            bad_file(shown, f"line {n}: @data before @classLabel: the file declares no class labels")
                        data = True
                    else:
                        _ts_header(shown, key, rest, n, head)
                    continue
                fields = s.split(":")
                if len(fields) < 2:
                    bad_file(shown, f"line {n}: a case needs its channels and a label separated by ':'")
                label = fields[-1].strip()
                chans = fields[:-1]
                if dims is None:
                    dims = len(chans)
                    want = head.get("dimensions", 1 if head.get("univariate") else None)
                    if want is not None and dims != want:
                        bad_file(shown, f"line {n}: {dims} channel(s), the header declares {want}")
                    if dims > MAX_CHANNELS:
                        bad_file(shown, f"line {n}: {dims} channels; at most {MAX_CHANNELS} are read")
                elif len(chans) != dims:
                    bad_file(shown, f"line {n}: {len(chans)} channel(s), the cases before it {dims}")
                case_len = None
                for c, text in enumerate(chans):
                    vals = text.split(",")
                    if case_len is None:
                        case_len = len(vals)
                        want = head.get("series_length")
                        if want is not None and case_len != want:
                            bad_file(shown, f"line {n}: channel {c} has {case_len} values, @seriesLength declares {want}")
                        if case_len > MAX_SERIES_LENGTH:
                            bad_file(shown, f"line {n}: {case_len} values per channel; at most {MAX_SERIES_LENGTH:,} "
                                              "are read (the longest window a classifier pools)")
                        if length is not None and case_len != length and head.get("equal_length", True):
                            bad_file(shown, f"line {n}: channel {c} has {case_len} values, the cases before it {length} "
                                        f"(the header does not declare @equalLength false)")
                        length = case_len if length is None else length
                    elif len(vals) != case_len:
                        bad_file(shown, f"line {n}: channel {c} has {len(vals)} values, channel 0 of the case "
                                    f"{case_len} (the channels of a case have one length)")
                    for j, v in enumerate(vals):
                        try:
                            fv = float(v)
                        except ValueError:
                            vs = v.strip()
                            what = "a missing value" if vs in ("?", "") else f"{quote(vs)} is not a number"
                            bad_file(shown, f"line {n}: channel {c}, value {j}: {what}")
                        if not math.isfinite(fv):
                            bad_file(shown, f"line {n}: channel {c}, value {j}: {v.strip()} (a missing or non-finite "
                                        f"value)")
                        if abs(fv) > table.MAX_ABS:
                            bad_file(shown, f"line {n}: channel {c}, value {j}: {fv:g} is outside the accepted magnitude "
                                        f"|v| <= {table.MAX_ABS:g}")
                        flat.append(fv)
                    if len(flat) > table.MAX_VALUES:
                        bad_file(shown, f"line {n}: more than {table.MAX_VALUES:,} values; larger files are not read")
                if label not in head["classes"]:
                    bad_file(shown, f"line {n}: unknown label {quote(label)} (@classLabel on line {head['class_line']} "
                                f"declares: {', '.join(head['classes'])})")
                if len(labels) >= MAX_CASES:
                    bad_file(shown, f"line {n}: more than {MAX_CASES:,} cases; larger files are not read")
                labels.append(head["classes"].index(label))
                lines.append(n)
                lengths.append(case_len)
            if not data:
                bad_file(shown, "no @data line: not a .ts file")
    except UnicodeDecodeError:
        bad_file(shown, "not a text file (bytes that are not UTF-8)")
    except MemoryError:
        bad_file(shown, "out of memory while reading")
    except OSError as e:
        bad_file(shown, f"cannot read ({e.strerror or e})")
    if not labels:
        bad_file(shown, "no cases after @data")
    n = np.asarray(lengths, np.int64)
    values = np.frombuffer(flat, np.float64)
    if (n == n[0]).all():
        x = values.reshape(len(labels), dims, int(n[0])).transpose(0, 2, 1)     # -> [N, T, C]
    else:                                   # cases of their own lengths: padded with 0 to the longest
        x = np.zeros((len(labels), int(n.max()), dims))
        start = np.concatenate([[0], np.cumsum(n * dims)])
        for i, k in enumerate(n):
            x[i, :k] = values[start[i]:start[i + 1]].reshape(dims, k).T
    return Labelled(shown, np.ascontiguousarray(x), np.asarray(labels, np.int64), list(head["classes"]),
                    [f"dim{c}" for c in range(dims)], lines, head["class_line"], head.get("problem"), n)


# ---- .npz ----------------------------------------------------------------------------------

def _open_checks(path, ext):
    path = os.fspath(path)
    real = resolve_path(path)
    if not os.path.exists(real):
        bad_file(path, "no such file")
    if not os.path.isfile(real):
        bad_file(path, "not a regular file")
    size = os.path.getsize(real)
    if size > table.MAX_FILE_BYTES:
        bad_file(path, f"{size} bytes; files of at most {mib(table.MAX_FILE_BYTES)} are read")
    return path, real


def _npz_members(name, real) -> dict:
    """key -> (shape, dtype, ZipInfo) of every member, from the headers alone (nothing is
    decompressed before the declared sizes are within the bounds; no Python objects)."""
    out = {}
    total = 0
    with zipfile.ZipFile(real) as z:
        infos = z.infolist()
        if len(infos) > 16:
            bad_file(name, f"{len(infos)} arrays; a labelled .npz has X, y, classes and channels")
        for info in infos:
            if not info.filename.endswith(".npy"):
                bad_file(name, f"member {quote(info.filename)} is not a .npy array")
            key = info.filename[:-4]
            total += info.file_size
            if info.file_size > table.MAX_FILE_BYTES or total > table.MAX_FILE_BYTES:
                bad_file(name, f"key {quote(key)} declares {info.file_size} bytes uncompressed; at most "
                           f"{mib(table.MAX_FILE_BYTES)} in all are read")
            with z.open(info) as f:
                shape, _, dtype = npy_header(f, f"{name}: key {quote(key)}")
                offset = f.tell()
            if dtype.hasobject:
                bad_file(name, f"key {quote(key)} holds Python objects; expected numbers or text")
            if offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > info.file_size:
                bad_file(name, f"key {quote(key)} declares {shape} values of {dtype}, more than it holds")
            out[key] = (shape, dtype, info)
    return out


def read_npz(path) -> Labelled:
    """An .npz of X [N, T, C] real numbers, y [N] and classes [K] (see the module docstring)."""
    shown, real = _open_checks(path, ".npz")
    try:
        mem = _npz_members(shown, real)
        for k in ("X", "y", "classes"):
            if k not in mem:
                bad_file(shown, f"no key {k!r} (a labelled .npz has X [N, T, C], y [N], classes [K])")
        (xs, xd, _), (ys, yd, _), (cs, cd, _) = mem["X"], mem["y"], mem["classes"]
        if len(xs) != 3 or not numeric_dtype(xd):
            bad_file(shown, f"X: expected real numbers of shape [N, T, C], got {xd} of shape {xs}")
        N, T, C = xs
        if not (1 <= N <= MAX_CASES and 1 <= T <= MAX_SERIES_LENGTH and 1 <= C <= MAX_CHANNELS):
            bad_file(shown, f"X: shape {xs}; at most {MAX_CASES:,} cases of {MAX_SERIES_LENGTH:,} steps (the longest "
                        f"window a classifier pools) and {MAX_CHANNELS} channels are read")
        if N * T * C > table.MAX_VALUES:
            bad_file(shown, f"X: {N * T * C:,} values; at most {table.MAX_VALUES:,} are read")
        if cd.kind != "U" or len(cs) != 1:
            bad_file(shown, f"classes: expected the class names as text [K], got {cd} of shape {cs}")
        if not MIN_CLASSES <= cs[0] <= MAX_CLASSES:
            bad_file(shown, f"classes: {cs[0]} class(es); {MIN_CLASSES}..{MAX_CLASSES} are supported")
        if ys != (N,) or not (yd.kind in "iu" or yd.kind == "U"):
            bad_file(shown, f"y: expected integer class indices or class names of shape ({N},), got {yd} of shape {ys}")
        if "lengths" in mem and (mem["lengths"][1].kind not in "iu" or mem["lengths"][0] != (N,)):
            bad_file(shown, f"lengths: expected each case's steps as {N} integers, got {mem['lengths'][1]} of shape "
                        f"{mem['lengths'][0]}")
        if "channels" in mem and (mem["channels"][1].kind != "U" or mem["channels"][0] != (C,)):
            bad_file(shown, f"channels: expected {C} names as text, got {mem['channels'][1]} of shape {mem['channels'][0]}")
        with zipfile.ZipFile(real) as z:
            def load(k):
                with z.open(mem[k][2]) as f:
                    return np.lib.format.read_array(f, allow_pickle=False)
            classes = [str(c) for c in load("classes")]
            y = load("y")
            channels = [str(c) for c in load("channels")] if "channels" in mem else [f"c{j}" for j in range(C)]
            x = np.asarray(load("X"), np.float64)
            lengths = load("lengths").astype(np.int64) if "lengths" in mem else np.full(N, T, np.int64)
    except SeriesError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, ValueError, EOFError, KeyError,
            NotImplementedError, RuntimeError) as e:
        bad_file(shown, f"not a readable NumPy file ({e})")
    except MemoryError:
        bad_file(shown, "out of memory while reading")
    except OSError as e:
        bad_file(shown, f"cannot read ({e.strerror or e})")
    if len(set(classes)) != len(classes):
        dup = next(c for c in classes if classes.count(c) > 1)
        bad_file(shown, f"classes: class {quote(dup)} named twice")
    if y.dtype.kind == "U":
        idx = np.empty(N, np.int64)
        for i, v in enumerate(y):
            if str(v) not in classes:
                bad_file(shown, f"case {i}: unknown label {quote(str(v))} (classes: {', '.join(classes)})")
            idx[i] = classes.index(str(v))
    else:
        idx = y.astype(np.int64)
        bad = (idx < 0) | (idx >= len(classes))
        if bad.any():
            i = int(np.argmax(bad))
            bad_file(shown, f"case {i}: unknown label {int(y[i])} (class indices 0..{len(classes) - 1})")
    short = np.flatnonzero((lengths < 1) | (lengths > T))
    if len(short):
        i = int(short[0])
        bad_file(shown, f"case {i}: lengths[{i}] = {int(lengths[i])} steps; a case has 1..{T} (X's steps)")
    past = np.arange(T)[None, :] >= lengths[:, None]
    x[past] = 0.0                                  # a case's steps past its length are not data
    bad = ~np.isfinite(x)
    if bad.any():
        i, t, c = (int(v) for v in np.argwhere(bad)[0])
        bad_file(shown, f"case {i}: X[{i}, {t}, {c}] is {x[i, t, c]} (a missing or non-finite value; "
                    f"{int(bad.sum())} in the file)")
    big = np.abs(x) > table.MAX_ABS
    if big.any():
        i, t, c = (int(v) for v in np.argwhere(big)[0])
        bad_file(shown, f"case {i}: X[{i}, {t}, {c}] = {x[i, t, c]:g} is outside the accepted magnitude "
                    f"|v| <= {table.MAX_ABS:g}")
    return Labelled(shown, np.ascontiguousarray(x), idx, classes, channels, lengths=lengths)


def read_labelled(path) -> Labelled:
    """A labelled file (.ts or .npz) within the bounds; the class and channel names must be the
    safe text of cfcbase.text (they go into the artifact, the model header and reports)."""
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    if ext not in EXTENSIONS:
        bad_file(p, "not a labelled file (.ts, the UCR/UEA format, or .npz with X, y, classes)")
    lab = read_ts(p) if ext == ".ts" else read_npz(p)
    where = f"@classLabel on line {lab.class_line}" if lab.class_line else "classes"
    for c in lab.classes:
        why = text_problem(c)
        if why:
            bad_file(p, f"{where}: class {quote(c)}: {why}")
    for c in lab.channels:
        why = text_problem(c)
        if why:
            bad_file(p, f"channels: {quote(c)}: {why}")
    return lab
