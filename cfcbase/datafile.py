"""Reading a user's data file within fixed bounds: a CSV with a header row, a .npy or an .npz.

    read_table(path, use=None)              -> Table: column names, the used columns as float64
    resolve_path(path)                      -> the file a path names (pkg:PACKAGE/PATH too)

The file is a CSV with a header row (one column per channel; UTF-8, a byte-order mark is
dropped) or a NumPy file: `.npy` with a 1-D or 2-D array (columns named c0, c1, ...), or
`.npz` whose arrays are 1-D columns of one length (named by their keys). Rows are time steps,
evenly spaced. Only the columns the task uses are converted to numbers (a CSV is streamed:
memory is about 8 bytes per used value); the others may hold anything.

A file from anywhere is read within fixed bounds (docs/model.md): MAX_FILE_BYTES on disk (and
an .npz's arrays uncompressed, checked from their headers before anything is decompressed:
no zip bomb, no Python objects), MAX_ROWS rows, MAX_COLUMNS columns, MAX_CELL characters per
CSV cell; a used column's values must be finite with |v| <= MAX_ABS, its name safe text
(cfcbase.text).

A path `pkg:PACKAGE/RELATIVE/PATH` names a file shipped inside an installed Python package
(found with importlib.util.find_spec, without importing the package), so an artifact that
names it works on any machine where the package is installed.

Every problem raises SeriesError with one line naming the file and the row, column or key.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np


class SeriesError(ValueError):
    """Bad data: the message is one line naming the file and what is at fault."""


# What is read from a data file, at most (docs/model.md, "Your own data"): the bounds keep a
# hostile or broken file from taking unbounded memory or time, and keep the scaling finite.
MAX_FILE_BYTES = 256 * 2 ** 20    # the file on disk; an .npz's arrays also uncompressed
MAX_ROWS = 1_000_000              # time steps (data rows)
MAX_COLUMNS = 1000
MAX_CELL = 1024                   # characters in one CSV cell
MAX_LINE = MAX_COLUMNS * (MAX_CELL + 3)   # characters in one CSV line: what the two above allow
MAX_VALUES = 16_000_000           # rows x used columns: 128 MB as float64
MAX_ABS = 1e15                    # |value| in a used column


def _mib(n) -> str:
    return f"{n / 2 ** 20:.0f} MiB" if n >= 2 ** 20 else f"{n} bytes"


def _show(value, limit=40) -> str:
    """A cell or a name from the file as it may appear in a one-line message: safe text as is,
    anything else quoted (repr escapes control characters), long ones cut."""
    from .text import is_safe_text
    s = str(value)
    short = s if len(s) <= limit else s[:limit] + "..."
    return short if is_safe_text(s, limit) else repr(short)


def _q(value, limit=40) -> str:
    """A name or cell from the file, quoted for a one-line message (control characters escaped)."""
    s = str(value)
    return repr(s if len(s) <= limit else s[:limit] + "...")


def _names(names, limit=20) -> str:
    shown = ", ".join(_show(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} columns)" if len(names) > limit else "")


@dataclass
class Table:
    """A file's column names and the columns read as numbers (float64): the ones the task uses
    (read_table's `use`), so that columns it does not use (a timestamp, a label) may hold
    anything. `line` maps a row to the file's line for messages (CSV), or None (NumPy: rows
    are named by their index)."""
    path: str
    names: list
    data: dict                  # column name -> float64 [rows]
    rows: int
    line: object = None         # int array [rows] (CSV) or None

    def row(self, i) -> int:
        return int(self.line[i]) if self.line is not None else int(i)

    def column(self, name) -> np.ndarray:
        if name not in self.data:
            raise SeriesError(f"{self.path}: column {_q(name)} was not read as numbers")
        return self.data[name]

    @property
    def values(self) -> np.ndarray:
        """Every column as numbers, float64 [rows, columns] (read_table without `use`)."""
        return np.stack([self.column(n) for n in self.names], 1)

    def check(self, name) -> None:
        """Every value of a column finite and within MAX_ABS; else one line naming the first row."""
        c = self.data[name]
        bad = ~np.isfinite(c)
        if bad.any():
            i = int(np.argmax(bad))
            raise SeriesError(f"{self.path}: row {self.row(i)}, column {_q(name)}: {c[i]} "
                              f"({int(bad.sum())} non-finite value(s) in the column)")
        big = np.abs(c) > MAX_ABS
        if big.any():
            i = int(np.argmax(big))
            raise SeriesError(f"{self.path}: row {self.row(i)}, column {_q(name)}: {c[i]:g} is outside the "
                              f"accepted magnitude |v| <= {MAX_ABS:g} ({int(big.sum())} value(s) in the column)")


PKG_PREFIX = "pkg:"


def resolve_path(path) -> str:
    """The file a path names: as is, or for `pkg:PACKAGE/REL/PATH` inside the installed package."""
    path = os.fspath(path)
    if not path.startswith(PKG_PREFIX):
        return path
    pkg, _, rel = path[len(PKG_PREFIX):].partition("/")
    import importlib.util
    try:
        spec = importlib.util.find_spec(pkg) if pkg.isidentifier() else None
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise SeriesError(f"{path}: Python package {pkg!r} is not installed (pip install --no-deps {pkg})")
    for root in spec.submodule_search_locations:
        full = os.path.join(root, rel)
        if os.path.isfile(full):
            return full
    raise SeriesError(f"{path}: no file {rel!r} in the installed package {pkg!r} "
                      f"({', '.join(spec.submodule_search_locations)})")


def read_table(path, use=None) -> Table:
    """Read a data file within the bounds above. ``use(names)`` gets the header's column names
    and returns the ones to read as numbers (it may raise SeriesError); without it every column
    is read. The used columns are checked (finite, |v| <= MAX_ABS). Every problem is one
    SeriesError line naming the file (and the row and column)."""
    path = os.fspath(path)
    shown, real = path, resolve_path(path)
    if not os.path.exists(real):
        raise SeriesError(f"{shown}: no such file")
    if not os.path.isfile(real):
        raise SeriesError(f"{shown}: not a regular file")
    ext = os.path.splitext(real)[1].lower()
    if ext not in (".csv", ".npy", ".npz"):
        raise SeriesError(f"{shown}: not a CSV (.csv) or NumPy (.npy, .npz) file")
    size = os.path.getsize(real)
    if size > MAX_FILE_BYTES:
        raise SeriesError(f"{shown}: {size} bytes; data files of at most {_mib(MAX_FILE_BYTES)} are read")
    pick = use or (lambda names: list(names))
    try:
        if ext == ".csv":
            t = _read_csv(shown, real, pick)
        elif ext == ".npy":
            t = _read_npy(shown, real, pick)
        else:
            t = _read_npz(shown, real, pick)
    except MemoryError:
        raise SeriesError(f"{shown}: out of memory while reading") from None
    except OSError as e:
        raise SeriesError(f"{shown}: cannot read ({e.strerror or e})") from None
    for name in t.data:
        t.check(name)
    return t


def _max_rows(n_used) -> int:
    return min(MAX_ROWS, MAX_VALUES // max(n_used, 1))


def _rows_limit(n_used) -> str:
    return (f"at most {MAX_ROWS:,} rows and {MAX_VALUES:,} values in the used columns ({n_used}) are read")


def _check_rows(name, rows, n_used) -> None:
    if rows > _max_rows(n_used):
        raise SeriesError(f"{name}: {rows:,} rows; {_rows_limit(n_used)}")


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


class _Lines:
    """The lines of a text file for csv.reader, each at most MAX_LINE characters and all of them
    at most MAX_FILE_BYTES characters (a file whose size on disk says nothing, such as a pipe
    behind a symlink, is bounded too); `n` counts the lines read."""

    def __init__(self, f, name):
        self.f, self.name, self.n, self.chars = f, name, 0, 0

    def __iter__(self):
        return self

    def __next__(self):
        line = self.f.readline(MAX_LINE + 1)
        if not line:
            raise StopIteration
        self.n += 1
        self.chars += len(line)
        if len(line) > MAX_LINE:
            raise SeriesError(f"{self.name}: line {self.n} is longer than {MAX_LINE} characters (at most "
                              f"{MAX_COLUMNS} columns of {MAX_CELL} characters)")
        if self.chars > MAX_FILE_BYTES:
            raise SeriesError(f"{self.name}: more than {_mib(MAX_FILE_BYTES)} of text; data files of at most "
                              f"{_mib(MAX_FILE_BYTES)} are read")
        return line


def _header(name, r) -> list:
    header = [c.strip() for c in r]
    if all(_is_number(c) for c in header):
        raise SeriesError(f"{name}: the first row is all numbers; a header row naming the columns is required")
    if len(header) > MAX_COLUMNS:
        raise SeriesError(f"{name}: {len(header)} columns; at most {MAX_COLUMNS} are read")
    if any(not c for c in header):
        raise SeriesError(f"{name}: column {header.index('') + 1} of the header row has no name")
    if len(set(header)) != len(header):
        dup = next(c for c in header if header.count(c) > 1)
        raise SeriesError(f"{name}: column name {_q(dup)} appears twice in the header row")
    return header


def _read_csv(name, real, pick) -> Table:
    """Streams the rows: only the used columns are kept, converted to float64 as they are read
    (an unused column may hold any text of at most MAX_CELL characters). A UTF-8 byte-order
    mark is dropped."""
    from array import array
    old_limit = csv.field_size_limit(MAX_CELL)
    lines = None
    try:
        with open(real, newline="", encoding="utf-8-sig") as f:
            lines = _Lines(f, name)
            reader = csv.reader(lines)
            header = used = cols = where = None
            n = 0
            for r in reader:
                if not any(c.strip() for c in r):
                    continue                                  # blank lines
                if header is None:
                    header = _header(name, r)
                    used = list(pick(header))
                    idx = [header.index(c) for c in used]
                    max_rows = _max_rows(len(used))
                    cols = [array("d") for _ in used]
                    where = array("q")
                    continue
                if len(r) != len(header):
                    raise SeriesError(f"{name}: row {reader.line_num} has {len(r)} fields, the header {len(header)}")
                n += 1
                if n > max_rows:
                    raise SeriesError(f"{name}: more than {max_rows:,} rows; {_rows_limit(len(used))}")
                for col, j in zip(cols, idx):
                    v = r[j]
                    try:
                        col.append(float(v))
                    except ValueError:
                        v = v.strip()
                        raise SeriesError(f"{name}: row {reader.line_num}, column {_q(header[j])}: "
                                          f"{_q(v)} is not a number") from None
                where.append(reader.line_num)
    except UnicodeDecodeError:
        at = f" (line {lines.n + 1})" if lines is not None and lines.n else ""
        raise SeriesError(f"{name}: not a text CSV file (bytes that are not UTF-8{at})") from None
    except csv.Error as e:
        line = lines.n if lines is not None else 0
        why = (f"a cell longer than {MAX_CELL} characters" if "field larger than field limit" in str(e)
               else f"not valid CSV ({e})")
        raise SeriesError(f"{name}: row {line}: {why}") from None
    finally:
        csv.field_size_limit(old_limit)
    if header is None:
        raise SeriesError(f"{name}: empty file")
    data = {c: np.frombuffer(col, np.float64) for c, col in zip(used, cols)}
    return Table(name, header, data, n, np.frombuffer(where, np.int64))


def _numeric(dtype) -> bool:
    return (np.issubdtype(dtype, np.number) or dtype == bool) and not np.issubdtype(dtype, np.complexfloating) \
        and not dtype.hasobject


def _npy_header(f, name):
    """(shape, fortran_order, dtype) of a .npy stream, read without its data."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            return fmt.read_array_header_1_0(f)
        if version == (2, 0):
            return fmt.read_array_header_2_0(f)
        return fmt._read_array_header(f, version)          # 3.0: no public reader
    except (ValueError, EOFError, SyntaxError, TypeError, AttributeError) as e:
        raise SeriesError(f"{name}: not a readable NumPy file ({e})") from None


def _check_dtype(name, what, dtype):
    if not _numeric(dtype):
        kind = "Python objects" if dtype.hasobject else f"dtype {dtype}"
        raise SeriesError(f"{name}: {what} holds {kind}; expected real numbers")


def _read_npy(name, real, pick) -> Table:
    with open(real, "rb") as f:
        shape, fortran, dtype = _npy_header(f, name)
        offset = f.tell()
    _check_dtype(name, "the array", dtype)
    if len(shape) not in (1, 2):
        raise SeriesError(f"{name}: array of shape {shape}; expected [rows] or [rows, columns]")
    rows, ncols = shape[0], (shape[1] if len(shape) == 2 else 1)
    _check_rows(name, rows, 1)
    if ncols > MAX_COLUMNS:
        raise SeriesError(f"{name}: {ncols} columns; at most {MAX_COLUMNS} are read")
    if ncols == 0:
        raise SeriesError(f"{name}: no columns")
    if offset + rows * ncols * dtype.itemsize > os.path.getsize(real):
        raise SeriesError(f"{name}: the file is shorter than its header declares ({shape}, {dtype})")
    a = np.load(real, mmap_mode="r", allow_pickle=False)
    a = a.reshape(rows, ncols)
    names = [f"c{j}" for j in range(ncols)]
    used = list(pick(names))
    _check_rows(name, rows, len(used))
    data = {c: np.array(a[:, names.index(c)], np.float64) for c in used}
    del a
    return Table(name, names, data, rows)


def _read_npz(name, real, pick) -> Table:
    """Every member's header is checked before any data is decompressed: 1-D real numbers (no
    Python objects), at most MAX_ROWS rows, a declared size within the member and all of them
    within MAX_FILE_BYTES (a zip bomb declares its size)."""
    import struct
    import zipfile
    import zlib
    try:
        with open(real, "rb") as f:
            end = zipfile._EndRecData(f)                    # the entry count, before parsing them all
        if end is not None and end[zipfile._ECD_ENTRIES_TOTAL] > MAX_COLUMNS:
            raise SeriesError(f"{name}: {end[zipfile._ECD_ENTRIES_TOTAL]} arrays; at most {MAX_COLUMNS} are read")
        with zipfile.ZipFile(real) as z:
            infos = z.infolist()
            if not infos:
                raise SeriesError(f"{name}: no arrays in the file")
            total = 0
            keys, heads = [], []
            for info in infos:
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                what = f"key {_q(key)}"
                if not info.filename.endswith(".npy"):
                    raise SeriesError(f"{name}: member {_q(info.filename)} is not a .npy array")
                total += info.file_size
                if info.file_size > MAX_FILE_BYTES or total > MAX_FILE_BYTES:
                    raise SeriesError(f"{name}: {what} declares {info.file_size} bytes uncompressed; at most "
                                      f"{_mib(MAX_FILE_BYTES)} in all are read")
                with z.open(info) as f:
                    shape, fortran, dtype = _npy_header(f, f"{name}: {what}")
                    offset = f.tell()
                _check_dtype(name, what, dtype)
                if len(shape) != 1:
                    raise SeriesError(f"{name}: {what} has shape {shape}; expected one 1-D column per key")
                _check_rows(f"{name}: {what}", shape[0], 1)
                if offset + shape[0] * dtype.itemsize > info.file_size:
                    raise SeriesError(f"{name}: {what} declares {shape[0]} values of {dtype}, more than it holds")
                if heads and shape[0] != heads[0][0][0]:
                    raise SeriesError(f"{name}: {what} has {shape[0]} rows, key {_q(keys[0])} {heads[0][0][0]}")
                keys.append(key)
                heads.append((shape, info))
            used = list(pick(keys))
            _check_rows(name, heads[0][0][0], len(used))
            data = {}
            for c in used:
                with z.open(heads[keys.index(c)][1]) as f:
                    data[c] = np.asarray(np.lib.format.read_array(f, allow_pickle=False), np.float64)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, ValueError, EOFError, KeyError,
            NotImplementedError, RuntimeError) as e:          # RuntimeError: an encrypted member
        if isinstance(e, SeriesError):
            raise
        raise SeriesError(f"{name}: not a readable NumPy file ({e})") from None
    return Table(name, keys, data, heads[0][0][0])
