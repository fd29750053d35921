"""The CSV reader of cfcbase.datafile.read_table: a header row, then one row per time step, streamed
line by line within cfcbase.datafile's bounds (read there at call time: table.MAX_*); only the
used columns are converted to numbers, and with ``default=True`` the default input column is found
on the way (cfcbase.datafile's docstring).
"""
from __future__ import annotations

import csv
import math
from array import array

import numpy as np

from . import table
from .table import SeriesError, Table, choose_default, max_rows, mib, quote, rows_limit


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
        line = self.f.readline(table.MAX_LINE + 1)
        if not line:
            raise StopIteration
        self.n += 1
        self.chars += len(line)
        if len(line) > table.MAX_LINE:
            raise SeriesError(f"{self.name}: line {self.n} is longer than {table.MAX_LINE} characters (at most "
                              f"{table.MAX_COLUMNS} columns of {table.MAX_CELL} characters)")
        if self.chars > table.MAX_FILE_BYTES:
            raise SeriesError(f"{self.name}: more than {mib(table.MAX_FILE_BYTES)} of text; data files of at most "
                              f"{mib(table.MAX_FILE_BYTES)} are read")
        return line


def _header(name, r) -> list:
    header = [c.strip() for c in r]
    if all(_is_number(c) for c in header):
        raise SeriesError(f"{name}: the first row is all numbers; a header row naming the columns is required")
    if len(header) > table.MAX_COLUMNS:
        raise SeriesError(f"{name}: {len(header)} columns; at most {table.MAX_COLUMNS} are read")
    named = [c for c in header if c]
    if not named:
        raise SeriesError(f"{name}: the header row names no column")
    if len(set(named)) != len(named):
        dup = next(c for c in named if named.count(c) > 1)
        raise SeriesError(f"{name}: column name {quote(dup)} appears twice in the header row")
    return header        # a column without a name (pandas writes its index so) is read only if asked for: never


class _Candidates:
    """While a CSV streams: the columns that may still turn out to be the default input (the
    first one of numbers that is neither a time stamp nor constant), each kept as numbers until
    a cell is not one. A column after the first that is numbers and has decreased can never be
    the default and is dropped, so typically one to three columns are kept."""

    def __init__(self, header, taken):
        self.header = header
        self.alive = [j for j in range(len(header)) if header[j] and header[j] not in taken]
        self.vals = {j: array("d") for j in self.alive}
        self.last = {j: math.nan for j in self.alive}
        self.down = set()
        # column -> why it is not numbers (or cannot be named: an index column pandas wrote)
        self.why = {j: "no name in the header row" for j in range(len(header)) if not header[j]}
        self.taken = taken

    def row(self, r, line, max_values):
        for j in list(self.alive):
            v = r[j]
            try:
                x = float(v)
            except ValueError:
                if v.strip():
                    self.why[j] = f"not numbers (row {line}: {quote(v.strip())})"
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
        choose_default(t, numeric)


def _cell(v, name, line, column) -> float:
    """A used CSV cell as a number; an empty cell is missing (NaN)."""
    try:
        return float(v)
    except ValueError:
        v = v.strip()
        if not v:
            return math.nan
        raise SeriesError(f"{name}: row {line}, column {quote(column)}: {quote(v)} is not a number") from None


def read_csv(name, real, pick, default=False) -> Table:
    """Streams the rows: only the used columns are kept, converted to float64 as they are read
    (an unused column may hold any text of at most MAX_CELL characters; an empty used cell is a
    missing value, NaN). A UTF-8 byte-order mark is dropped. ``default``: _Candidates too."""
    old_limit = csv.field_size_limit(table.MAX_CELL)
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
                    row_cap = max_rows(len(used))
                    cols = [array("d") for _ in used]
                    where = array("q")
                    if default:
                        cand = _Candidates(header, set(used))
                    continue
                if len(r) != len(header):
                    raise SeriesError(f"{name}: row {reader.line_num} has {len(r)} fields, the header {len(header)}")
                n += 1
                if n > row_cap:
                    raise SeriesError(f"{name}: more than {row_cap:,} rows; {rows_limit(len(used))}")
                for col, j in zip(cols, idx):
                    col.append(_cell(r[j], name, reader.line_num, header[j]))
                if cand is not None:
                    try:
                        cand.row(r, reader.line_num, table.MAX_VALUES - n * len(used))
                    except SeriesError as e:
                        raise SeriesError(f"{name}: {e}") from None
                where.append(reader.line_num)
    except UnicodeDecodeError:
        at = f" (line {lines.n + 1})" if lines is not None and lines.n else ""
        raise SeriesError(f"{name}: not a text CSV file (bytes that are not UTF-8{at})") from None
    except csv.Error as e:
        line = lines.n if lines is not None else 0
        why = (f"a cell longer than {table.MAX_CELL} characters" if "field larger than field limit" in str(e)
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
