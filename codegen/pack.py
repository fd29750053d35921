"""2-bit trit packing, the weight format every kernel consumes.

Encoding (docs/codegen.md, "Footprint"): 0 -> 0b00, +1 -> 0b01, -1 -> 0b10; 0b11 is
invalid. Four trits per byte, trit j of a row at bits 2*(j % 4) of byte j // 4 (LSB
first). Each row starts on a byte boundary and is padded with zero trits to a whole byte
(ROW_ALIGN_BYTES = 1): storage is exactly 2 bits per trit plus < 1 byte per row. Every
kernel walks a row byte by byte (a byte = 4 trits = one LUT index), so wider alignment would
only cost flash (at H=16, I=1: 5 bytes per row instead of 8 with 4-byte alignment).
"""
from __future__ import annotations

import numpy as np

from .errors import CodegenError

ROW_ALIGN_BYTES = 1
TRITS_PER_BYTE = 4

# code for trit value t is ENCODE[t + 1]
_ENCODE = np.array([0b10, 0b00, 0b01], dtype=np.uint8)
# value for code c is DECODE[c]; 0b11 has no value (checked separately)
_DECODE = np.array([0, 1, -1, 0], dtype=np.int8)


def row_bytes_for(cols: int, align: int = ROW_ALIGN_BYTES) -> int:
    """Bytes per packed row: ceil(cols / 4) rounded up to a multiple of ``align``."""
    if cols < 1:
        raise CodegenError(f"cannot pack rows of {cols} trits")
    natural = -(-cols // TRITS_PER_BYTE)
    return -(-natural // align) * align


def pack_trits(trits, row_bytes: int | None = None) -> np.ndarray:
    """Pack a 2-D array of trits in {-1, 0, +1} into uint8 [rows, row_bytes].

    ``row_bytes`` defaults to ``row_bytes_for(cols)``; it must hold at least ceil(cols/4)
    bytes. Padding trits are 0 (code 0b00).
    """
    t = np.asarray(trits)
    if t.ndim != 2:
        raise CodegenError(f"trits must be 2-D, got shape {t.shape}")
    if not np.issubdtype(t.dtype, np.integer):
        raise CodegenError(f"trits must be integers, got dtype {t.dtype}")
    rows, cols = t.shape
    if cols < 1:
        raise CodegenError("cannot pack rows of 0 trits")
    bad = (t < -1) | (t > 1)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise CodegenError(f"trit at row {r}, column {c} is {int(t[r, c])}, not in {{-1, 0, +1}}")
    natural = -(-cols // TRITS_PER_BYTE)
    if row_bytes is None:
        row_bytes = row_bytes_for(cols)
    if row_bytes < natural:
        raise CodegenError(f"row_bytes {row_bytes} too small for {cols} trits (need {natural})")
    codes = np.zeros((rows, row_bytes * TRITS_PER_BYTE), dtype=np.uint8)
    codes[:, :cols] = _ENCODE[t.astype(np.int64) + 1]
    codes = codes.reshape(rows, row_bytes, TRITS_PER_BYTE)
    shifts = np.array([0, 2, 4, 6], dtype=np.uint8)
    return np.bitwise_or.reduce(codes << shifts, axis=2).astype(np.uint8)


def unpack_trits(packed, cols: int) -> np.ndarray:
    """Inverse of pack_trits: uint8 [rows, row_bytes] -> int8 [rows, cols].

    Raises CodegenError on the invalid code 0b11 anywhere in the row (padding included) and
    on non-zero padding trits, so a corrupted weight blob cannot load silently.
    """
    p = np.asarray(packed)
    if p.ndim != 2 or p.dtype != np.uint8:
        raise CodegenError(f"packed trits must be uint8 [rows, row_bytes], got {p.dtype} {p.shape}")
    rows, row_bytes = p.shape
    if cols < 1 or cols > row_bytes * TRITS_PER_BYTE:
        raise CodegenError(f"cannot unpack {cols} trits from rows of {row_bytes} bytes")
    shifts = np.array([0, 2, 4, 6], dtype=np.uint8)
    codes = ((p[:, :, None] >> shifts) & 0b11).reshape(rows, row_bytes * TRITS_PER_BYTE)
    invalid = codes == 0b11
    if invalid.any():
        r, j = np.argwhere(invalid)[0]
        raise CodegenError(
            f"invalid trit code 0b11 at row {r}, trit {j} (byte {j // 4}, bits {2 * (j % 4)}..{2 * (j % 4) + 1})")
    if (codes[:, cols:] != 0).any():
        r, j = np.argwhere(codes[:, cols:] != 0)[0]
        raise CodegenError(f"non-zero padding trit at row {r}, trit {cols + j}")
    return _DECODE[codes[:, :cols]].astype(np.int8)


# ---- int8 rows (docs/fixed_point.md, section 2a) ------------------------------------------
# Per group of four columns the bytes are stored (w0, w2, w1, w3), the order CMSIS-NN's s8 x s16
# kernels use: on ARMv7E-M one LDR of the group and SXTB16 / SXTB16 ROR #8 give the int16 pairs
# (w0, w1) and (w2, w3) that SMLAD multiplies with the input pairs (z0, z1), (z2, z3) as they lie
# in z. Rows are padded with zero weights to cols4 columns (4 row_bytes: the length of z).
INT8_ORDER = (0, 2, 1, 3)          # byte k of a group holds column INT8_ORDER[k]


def pack_int8_rows(w, cols4: int) -> np.ndarray:
    """int8 [rows, cols] in [-127, 127] -> int8 [rows, cols4], zero-padded, CMSIS-NN byte order."""
    w = np.asarray(w)
    rows, cols = w.shape
    if cols4 % 4 or cols4 < cols:
        raise CodegenError(f"int8 rows of {cols} columns cannot be padded to {cols4}")
    if w.size and (w.min() < -127 or w.max() > 127):
        r, c = np.argwhere((w < -127) | (w > 127))[0]
        raise CodegenError(f"int8 weight at row {r}, column {c} is {int(w[r, c])}, not in [-127, 127]")
    padded = np.zeros((rows, cols4), np.int8)
    padded[:, :cols] = w
    return padded.reshape(rows, cols4 // 4, 4)[:, :, list(INT8_ORDER)].reshape(rows, cols4)


def unpack_int8_rows(packed, cols: int) -> np.ndarray:
    """Inverse of pack_int8_rows (the order is its own inverse)."""
    p = np.asarray(packed, np.int8)
    rows, cols4 = p.shape
    return p.reshape(rows, cols4 // 4, 4)[:, :, list(INT8_ORDER)].reshape(rows, cols4)[:, :cols]
