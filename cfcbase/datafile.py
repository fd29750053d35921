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

Every problem raises SeriesError with one line naming the file and the row, column or key. The
readers themselves: cfcbase.datafile_csv and cfcbase.datafile_numpy; the bounds, the Table and
the paths: cfcbase.table.
"""
from __future__ import annotations

import os

from . import table
from .datafile_csv import read_csv
from .datafile_numpy import read_npy, read_npz
from .table import SeriesError, Table, default_numpy, mib, resolve_path


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
    if size > table.MAX_FILE_BYTES:
        raise SeriesError(f"{shown}: {size} bytes; data files of at most {mib(table.MAX_FILE_BYTES)} are read")
    pick = use or (lambda names: list(names))
    try:
        if ext == ".csv":
            t = read_csv(shown, real, pick, default)
        elif ext == ".npy":
            t = read_npy(shown, real, pick)
        else:
            t = read_npz(shown, real, pick)
    except MemoryError:
        raise SeriesError(f"{shown}: out of memory while reading") from None
    except OSError as e:
        raise SeriesError(f"{shown}: cannot read ({e.strerror or e})") from None
    if default and ext != ".csv":
        default_numpy(t)
    for name in t.data:
        t.check(name)
    return t
