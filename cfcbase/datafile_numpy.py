"""The NumPy readers of cfcbase.datafile.read_table: a .npy of one or two dimensions (columns c0,
c1, ...) and an .npz of 1-D columns of one length, checked from their headers before anything is
read or decompressed (no zip bomb, no Python objects) within cfcbase.table's bounds (read there
at call time: table.MAX_*).
"""
from __future__ import annotations

import os
import struct
import zipfile
import zlib

import numpy as np

from . import table
from .table import SeriesError, Table, check_rows, mib, quote


def numeric_dtype(dtype) -> bool:
    return (np.issubdtype(dtype, np.number) or dtype == bool) and not np.issubdtype(dtype, np.complexfloating) \
        and not dtype.hasobject


def npy_header(f, name):
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
    if not numeric_dtype(dtype):
        kind = "Python objects" if dtype.hasobject else f"dtype {dtype}"
        raise SeriesError(f"{name}: {what} holds {kind}; expected real numbers")


def read_npy(name, real, pick) -> Table:
    with open(real, "rb") as f:
        shape, fortran, dtype = npy_header(f, name)
        offset = f.tell()
    _check_dtype(name, "the array", dtype)
    if len(shape) not in (1, 2):
        raise SeriesError(f"{name}: array of shape {shape}; expected [rows] or [rows, columns]")
    rows, ncols = shape[0], (shape[1] if len(shape) == 2 else 1)
    check_rows(name, rows, 1)
    if ncols > table.MAX_COLUMNS:
        raise SeriesError(f"{name}: {ncols} columns; at most {table.MAX_COLUMNS} are read")
    if ncols == 0:
        raise SeriesError(f"{name}: no columns")
    if offset + rows * ncols * dtype.itemsize > os.path.getsize(real):
        raise SeriesError(f"{name}: the file is shorter than its header declares ({shape}, {dtype})")
    a = np.load(real, mmap_mode="r", allow_pickle=False)
    a = a.reshape(rows, ncols)
    names = [f"c{j}" for j in range(ncols)]
    used = list(pick(names))
    check_rows(name, rows, len(used))
    data = {c: np.array(a[:, names.index(c)], np.float64) for c in used}
    del a

    def load(c):
        b = np.load(real, mmap_mode="r", allow_pickle=False).reshape(rows, ncols)
        return np.array(b[:, names.index(c)], np.float64)
    return Table(name, names, data, rows, loader=load)


def read_npz(name, real, pick) -> Table:
    """Every member's header is checked before any data is decompressed: 1-D real numbers (no
    Python objects), at most MAX_ROWS rows, a declared size within the member and all of them
    within MAX_FILE_BYTES (a zip bomb declares its size)."""
    try:
        with open(real, "rb") as f:
            end = zipfile._EndRecData(f)                    # the entry count, before parsing them all
        if end is not None and end[zipfile._ECD_ENTRIES_TOTAL] > table.MAX_COLUMNS:
            raise SeriesError(f"{name}: {end[zipfile._ECD_ENTRIES_TOTAL]} arrays; at most {table.MAX_COLUMNS} "
                              f"are read")
        with zipfile.ZipFile(real) as z:
            infos = z.infolist()
            if not infos:
                raise SeriesError(f"{name}: no arrays in the file")
            total = 0
            keys, heads = [], []
            for info in infos:
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                what = f"key {quote(key)}"
                if not info.filename.endswith(".npy"):
                    raise SeriesError(f"{name}: member {quote(info.filename)} is not a .npy array")
                total += info.file_size
                if info.file_size > table.MAX_FILE_BYTES or total > table.MAX_FILE_BYTES:
                    raise SeriesError(f"{name}: {what} declares {info.file_size} bytes uncompressed; at most "
                                      f"{mib(table.MAX_FILE_BYTES)} in all are read")
                with z.open(info) as f:
                    shape, fortran, dtype = npy_header(f, f"{name}: {what}")
                    offset = f.tell()
                _check_dtype(name, what, dtype)
                if len(shape) != 1:
                    raise SeriesError(f"{name}: {what} has shape {shape}; expected one 1-D column per key")
                check_rows(f"{name}: {what}", shape[0], 1)
                if offset + shape[0] * dtype.itemsize > info.file_size:
                    raise SeriesError(f"{name}: {what} declares {shape[0]} values of {dtype}, more than it holds")
                if heads and shape[0] != heads[0][0][0]:
                    raise SeriesError(f"{name}: {what} has {shape[0]} rows, key {quote(keys[0])} {heads[0][0][0]}")
                keys.append(key)
                heads.append((shape, info))
            used = list(pick(keys))
            check_rows(name, heads[0][0][0], len(used))
            data = {c: _npz_member(z, heads[keys.index(c)][1]) for c in used}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, ValueError, EOFError, KeyError,
            NotImplementedError, RuntimeError) as e:          # RuntimeError: an encrypted member
        if isinstance(e, SeriesError):
            raise
        raise SeriesError(f"{name}: not a readable NumPy file ({e})") from None

    def load(c):
        with zipfile.ZipFile(real) as z:
            return _npz_member(z, heads[keys.index(c)][1])
    return Table(name, keys, data, heads[0][0][0], loader=load)


def _npz_member(z, info) -> np.ndarray:
    with z.open(info) as f:
        return np.asarray(np.lib.format.read_array(f, allow_pickle=False), np.float64)
