"""A data file as the readers see it: the bounds of what is read, the Table they return, the
names of files inside installed packages (pkg:PACKAGE/PATH) and beside an artifact, and the
helpers that put a file's names and cells into one-line messages (docs/model.md, "Your own data").

cfcbase.datafile reads a series' file (CSV, .npy, .npz: cfcbase.datafile_csv, cfcbase.datafile_numpy),
cfcbase.labelled_files a labelled one (.ts, .npz); both within these bounds. The bounds are read
at call time (tests lower them).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np

from .text import is_safe_text


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


def mib(n) -> str:
    return f"{n / 2 ** 20:.0f} MiB" if n >= 2 ** 20 else f"{n} bytes"


def show(value, limit=40) -> str:
    """A cell or a name from the file as it may appear in a one-line message: safe text as is,
    anything else quoted (repr escapes control characters), long ones cut."""
    s = str(value)
    short = s if len(s) <= limit else s[:limit] + "..."
    return short if is_safe_text(s, limit) else repr(short)


def quote(value, limit=40) -> str:
    """A name or cell from the file, quoted for a one-line message (control characters escaped)."""
    s = str(value)
    return repr(s if len(s) <= limit else s[:limit] + "...")


def show_names(names, limit=20) -> str:
    shown = ", ".join(show(n) for n in names[:limit])
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
            raise SeriesError(f"{self.path}: column {quote(name)} was not read as numbers")
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
            raise SeriesError(f"{self.path}: row {self.row(i)}, column {quote(name)}: {c[i]} "
                              f"({int(bad.sum())} infinite value(s) in the column)")
        big = np.abs(c) > MAX_ABS                     # False for a missing value (NaN)
        if big.any():
            i = int(np.argmax(big))
            raise SeriesError(f"{self.path}: row {self.row(i)}, column {quote(name)}: {c[i]:g} is outside the "
                              f"accepted magnitude |v| <= {MAX_ABS:g} ({int(big.sum())} value(s) in the column)")


PKG_PREFIX = "pkg:"


def beside(artifact_path: str, p: str) -> str:
    """A relative path an artifact at ``artifact_path`` records (docs/artifact.md), as a path from
    the current directory: relative to the artifact's directory (an artifact in memory, whose
    path starts with "<": the current one)."""
    base = os.path.dirname(artifact_path) if not artifact_path.startswith("<") else ""
    return os.path.normpath(os.path.join(base, p))


def recorded_path(path, out) -> str:
    """A data file as an artifact written into ``out`` records it: pkg:PACKAGE/PATH as given, a file
    relative to ``out`` (docs/artifact.md: export and verify find it from the artifact's directory)."""
    path = str(path)
    if path.startswith(PKG_PREFIX):
        return path
    return os.path.relpath(os.path.abspath(path), os.path.abspath(out))


def resolve_path(path) -> str:
    """The file a path names: as is, or for `pkg:PACKAGE/REL/PATH` inside the installed package."""
    path = os.fspath(path)
    if not path.startswith(PKG_PREFIX):
        return path
    pkg, _, rel = path[len(PKG_PREFIX):].partition("/")
    try:
        spec = importlib.util.find_spec(pkg) if pkg.isidentifier() else None
    except (ImportError, ValueError):
        spec = None
    if pkg in sys.stdlib_module_names:
        raise SeriesError(f"{path}: {pkg!r} is a module of Python's standard library, which holds no data files; "
                          f"pkg:PACKAGE/PATH names a file inside an installed package such as aeon or statsmodels")
    if spec is None:
        hint = f" (pip install --no-deps {pkg})" if pkg.isidentifier() else ""
        raise SeriesError(f"{path}: Python package {pkg!r} is not installed{hint}")
    if not spec.submodule_search_locations:
        raise SeriesError(f"{path}: {pkg!r} is a module, not a package with data files")
    for root in spec.submodule_search_locations:
        full = os.path.join(root, rel)
        if os.path.isfile(full):
            return full
    raise SeriesError(f"{path}: no file {rel!r} in the installed package {pkg!r} "
                      f"({', '.join(spec.submodule_search_locations)})")


def file_sha256(path) -> str:
    """The hex sha256 of the file ``path`` names (pkg:PACKAGE/PATH too), read in chunks."""
    h = hashlib.sha256()
    try:
        with open(resolve_path(path), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        raise SeriesError(f"{path}: cannot read ({e.strerror or e})") from None
    return h.hexdigest()


def trend_free(v) -> str | None:
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


def choose_default(t: Table, numeric: dict) -> None:
    """Table.default and Table.skipped from {name: values or the reason it is not numbers}, in
    column order: the first numeric column that is neither a time stamp nor constant; when every
    numeric column is one of those, the last numeric one (a time stamp comes first)."""
    last = None
    for name in t.names:
        if name not in numeric:
            break
        v = numeric[name]
        why = v if isinstance(v, str) else trend_free(v)
        if why is None:
            t.default = name
            t.data[name] = v
            return
        t.skipped.append((name, why))
        if not isinstance(v, str) and why != "no values":
            last = (name, v)
    if last is None:
        raise SeriesError(f"{t.path}: no column holds numbers ({'; '.join(f'{show(n)}: {w}' for n, w in t.skipped)})")
    t.skipped = [s for s in t.skipped if s[0] != last[0]]
    t.default = last[0]
    t.data[last[0]] = last[1]


def default_numpy(t: Table) -> None:
    """The default input of a NumPy file: every column is numbers; the same rule as a CSV's."""
    if t.default is not None:
        return
    numeric = {}
    for name in t.names:
        v = t.data.get(name)
        if v is None:
            try:
                v = t.loader(name)
            except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError) as e:
                raise SeriesError(f"{t.path}: not a readable NumPy file ({e})") from None
        numeric[name] = v
        if trend_free(v) is None:
            break
    choose_default(t, numeric)


def max_rows(n_used) -> int:
    return min(MAX_ROWS, MAX_VALUES // max(n_used, 1))


def rows_limit(n_used) -> str:
    return (f"at most {MAX_ROWS:,} rows and {MAX_VALUES:,} values in the used columns ({n_used}) are read")


def check_rows(name, rows, n_used) -> None:
    if rows > max_rows(n_used):
        raise SeriesError(f"{name}: {rows:,} rows; {rows_limit(n_used)}")
