"""Reading a user's data file within fixed bounds: a CSV with a header row, a .npy or an .npz.

    read_table(path, use=None, default=False) -> Table: column names, the used columns as float64
    resolve_path(path)                      -> the file a path names (pkg:PACKAGE/PATH too)
    file_sha256(path)                       -> the hex sha256 of the file a path names

The file is a CSV with a header row (one column per channel; UTF-8, a byte-order mark is
dropped) or a NumPy file: `.npy` with a 1-D or 2-D array (columns named c0, c1, ...), or
`.npz` whose arrays are 1-D columns of one length (named by their keys). Rows are time steps,
evenly spaced. Only the columns the task uses are converted to numbers (a CSV is streamed:
memory is about 8 bytes per used value); the others may hold anything.

A missing value is an empty CSV cell or a NaN (a CSV cell `nan`, a NaN in a NumPy file): it is
read as NaN and left to cfcbase.series (filled or refused there, in one place). Infinity is
refused.

With ``default=True`` the reader also finds the default input column: the first column that
holds numbers (every cell a number or missing) and is not a time stamp (a column whose values
never decrease, such as a year, a date written as 19580329 or a row counter); the columns
skipped on the way are listed with the reason (Table.skipped).

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
import math
import os
from array import array
from dataclasses import dataclass, field

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
    data: dict                  # column name -> float64 [rows]; NaN: a missing value
    rows: int
    line: object = None         # int array [rows] (CSV) or None
    default: str | None = None  # read_table(default=True): the default input column
    skipped: list = field(default_factory=list)   # [(column, why)] passed over for the default
    loader: object = None       # NumPy files: name -> float64 [rows] of a column not read yet

    def missing(self, name) -> np.ndarray:
        """bool [rows]: where a used column has no value."""
        return np.isnan(self.column(name))

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
        """Every value of a column (a missing one aside) finite and within MAX_ABS; else one line
        naming the first row."""
        c = self.data[name]
        bad = np.isinf(c)
        if bad.any():
            i = int(np.argmax(bad))
            raise SeriesError(f"{self.path}: row {self.row(i)}, column {_q(name)}: {c[i]} "
                              f"({int(bad.sum())} infinite value(s) in the column)")
        big = np.abs(c) > MAX_ABS                     # False for a missing value (NaN)
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


def read_table(path, use=None, default=False) -> Table:
    """Read a data file within the bounds above. ``use(names)`` gets the header's column names
    and returns the ones to read as numbers (it may raise SeriesError); without it every column
    is read. ``default``: also find the default input column (Table.default, Table.skipped; the
    module's docstring). The used columns are checked (finite or missing, |v| <= MAX_ABS). Every
    problem is one SeriesError line naming the file (and the row and column)."""
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
            t = _read_csv(shown, real, pick, default)
        elif ext == ".npy":
            t = _read_npy(shown, real, pick)
        else:
            t = _read_npz(shown, real, pick)
    except MemoryError:
        raise SeriesError(f"{shown}: out of memory while reading") from None
    except OSError as e:
        raise SeriesError(f"{shown}: cannot read ({e.strerror or e})") from None
    if default and ext != ".csv":
        _default_numpy(t)
    for name in t.data:
        t.check(name)
    return t


def file_sha256(path) -> str:
    """The hex sha256 of the file ``path`` names (pkg:PACKAGE/PATH too), read in chunks."""
    import hashlib
    h = hashlib.sha256()
    try:
        with open(resolve_path(path), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        raise SeriesError(f"{path}: cannot read ({e.strerror or e})") from None
    return h.hexdigest()


def _trend_free(v) -> str | None:
    """Why a numeric column is not a default input (a time stamp, constant, no values), or None."""
    v = v[~np.isnan(v)]
    if not len(v):
        return "no values"
    d = np.diff(v)
    if not (d != 0).any():
        return "constant"
    if not (d < 0).any():
        return "never decreases: taken for a time stamp"
    return None


def _choose_default(t: Table, numeric: dict) -> None:
    """Table.default and Table.skipped from {name: values or the reason it is not numbers}, in
    column order: the first numeric column that is neither a time stamp nor constant; when every
    numeric column is one of those, the last numeric one (a time stamp comes first)."""
    last = None
    for name in t.names:
        if name not in numeric:
            break
        v = numeric[name]
        why = v if isinstance(v, str) else _trend_free(v)
        if why is None:
            t.default = name
            t.data[name] = v
            return
        t.skipped.append((name, why))
        if not isinstance(v, str) and why != "no values":
            last = (name, v)
    if last is None:
        raise SeriesError(f"{t.path}: no column holds numbers ({'; '.join(f'{_show(n)}: {w}' for n, w in t.skipped)})")
    t.skipped = [s for s in t.skipped if s[0] != last[0]]
    t.default = last[0]
    t.data[last[0]] = last[1]


def _default_numpy(t: Table) -> None:
    """The default input of a NumPy file: every column is numbers; the same rule as a CSV's."""
    if t.default is not None:
        return
    numeric = {}
    for name in t.names:
        v = t.data.get(name)
        if v is None:
            import zipfile
            import zlib
            try:
                v = t.loader(name)
            except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError) as e:
                raise SeriesError(f"{t.path}: not a readable NumPy file ({e})") from None
        numeric[name] = v
        if _trend_free(v) is None:
            break
    _choose_default(t, numeric)


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


class _Candidates:
    """While a CSV streams: the columns that may still turn out to be the default input (the
    first one of numbers that is neither a time stamp nor constant), each kept as numbers until
    a cell is not one. A column after the first that is numbers and has decreased can never be
    the default and is dropped, so typically one to three columns are kept."""

    def __init__(self, header, taken):
        self.header = header
        self.alive = [j for j in range(len(header)) if header[j] not in taken]
        self.vals = {j: array("d") for j in self.alive}
        self.last = {j: math.nan for j in self.alive}
        self.down = set()
        self.why = {}                               # column -> why it is not numbers
        self.taken = taken

    def row(self, r, line, max_values):
        for j in list(self.alive):
            v = r[j]
            try:
                x = float(v)
            except ValueError:
                if v.strip():
                    self.why[j] = f"not numbers (row {line}: {_q(v.strip())})"
                    self.alive.remove(j)
                    del self.vals[j]
                    continue
                x = math.nan
            if x < self.last[j]:
                self.down.add(j)
            if x == x:
                self.last[j] = x
            self.vals[j].append(x)
        for k, j in enumerate(self.alive):        # the first numbers that went down: the rest cannot win
            if j in self.down:
                for jj in self.alive[k + 1:]:
                    del self.vals[jj]
                self.alive = self.alive[:k + 1]
                break
        if sum(len(v) for v in self.vals.values()) > max_values:
            raise SeriesError(f"more than {max_values:,} values in the columns that may be the default input; "
                              f"name the input columns with --inputs")

    def finish(self, t: Table) -> None:
        numeric = {}
        for j, name in enumerate(self.header):
            if name in self.taken:
                numeric[name] = t.data[name]
            elif j in self.why:
                numeric[name] = self.why[j]
            elif j in self.vals:
                numeric[name] = np.frombuffer(self.vals[j], np.float64)
            else:
                break                                 # dropped: an earlier column wins
        _choose_default(t, numeric)


def _cell(v, name, line, column) -> float:
    """A used CSV cell as a number; an empty cell is missing (NaN)."""
    try:
        return float(v)
    except ValueError:
        v = v.strip()
        if not v:
            return math.nan
        raise SeriesError(f"{name}: row {line}, column {_q(column)}: {_q(v)} is not a number") from None


def _read_csv(name, real, pick, default=False) -> Table:
    """Streams the rows: only the used columns are kept, converted to float64 as they are read
    (an unused column may hold any text of at most MAX_CELL characters; an empty used cell is a
    missing value, NaN). A UTF-8 byte-order mark is dropped. ``default``: _Candidates too."""
    old_limit = csv.field_size_limit(MAX_CELL)
    lines = None
    cand = None
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
                    if default:
                        cand = _Candidates(header, set(used))
                    continue
                if len(r) != len(header):
                    raise SeriesError(f"{name}: row {reader.line_num} has {len(r)} fields, the header {len(header)}")
                n += 1
                if n > max_rows:
                    raise SeriesError(f"{name}: more than {max_rows:,} rows; {_rows_limit(len(used))}")
                for col, j in zip(cols, idx):
                    col.append(_cell(r[j], name, reader.line_num, header[j]))
                if cand is not None:
                    try:
                        cand.row(r, reader.line_num, MAX_VALUES - n * len(used))
                    except SeriesError as e:
                        raise SeriesError(f"{name}: {e}") from None
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
    t = Table(name, header, data, n, np.frombuffer(where, np.int64))
    if cand is not None:
        cand.finish(t)
    return t


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

    def load(c):
        b = np.load(real, mmap_mode="r", allow_pickle=False).reshape(rows, ncols)
        return np.array(b[:, names.index(c)], np.float64)
    return Table(name, names, data, rows, loader=load)


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
            data = {c: _npz_member(z, heads[keys.index(c)][1]) for c in used}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, ValueError, EOFError, KeyError,
            NotImplementedError, RuntimeError) as e:          # RuntimeError: an encrypted member
        if isinstance(e, SeriesError):
            raise
        raise SeriesError(f"{name}: not a readable NumPy file ({e})") from None

    def load(c):
        import zipfile
        with zipfile.ZipFile(real) as z:
            return _npz_member(z, heads[keys.index(c)][1])
    return Table(name, keys, data, heads[0][0][0], loader=load)


def _npz_member(z, info) -> np.ndarray:
    with z.open(info) as f:
        return np.asarray(np.lib.format.read_array(f, allow_pickle=False), np.float64)
