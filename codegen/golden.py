"""The integer golden model: the executable specification of docs/fixed_point.md.

Every C kernel on every target must reproduce ``run_golden`` bit for bit. All arithmetic
here is on int64 numpy arrays with explicit rounding shifts; the comments give the C type
each quantity has on the device and why it cannot overflow there.
"""
from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass

import numpy as np

from .artifact import Artifact
from .errors import CodegenError
from .pack import pack_trits, row_bytes_for

# ---- formats (docs/fixed_point.md, section 1) -------------------------------------
IO_FRAC = 14          # x, h, y: int16 Q14
PRE_FRAC = 12         # pre-activations: int32 Q12
ACT_FRAC = 15         # gate and candidate: int16 Q15 (table outputs)
LAM_FRAC = 15         # lambda: int16 Q15
PRE_CLAMP = 1 << 20   # |pre| clamped to 256.0 (Q12) before the table: keeps int32 headroom

# ---- activation tables (section 4) -------------------------------------------------
TABLE_SIZE = 513                  # entries over [-8, +8], step 1/32
TABLE_STEP_SHIFT = 7              # 1/32 in Q12 is 2^7
TABLE_OFFSET = 8 << PRE_FRAC      # pre + 32768 maps -8.0 to index 0
TABLE_SPAN = (TABLE_SIZE - 1) << TABLE_STEP_SHIFT  # 65536: u >= span saturates to the last entry

MULTIPLIER_MIN, MULTIPLIER_MAX = 1 << 30, (1 << 31) - 1
SHIFT_MIN, SHIFT_MAX = 1, 62
BIAS_LIMIT = 1 << 19              # |bias| <= 128.0 in Q12
READOUT_SHIFT_MAX = 24


def _round_half_up(v: float) -> int:
    return int(math.floor(v + 0.5))


def sigmoid_table_q15() -> np.ndarray:
    """sigmoid at -8 + i/32, i = 0..512, as Q15, saturated to [0, 32767]."""
    vals = [_round_half_up(32768.0 / (1.0 + math.exp(-(-8.0 + i / 32.0)))) for i in range(TABLE_SIZE)]
    return np.clip(np.array(vals, np.int64), 0, 32767).astype(np.int16)


def tanh_table_q15() -> np.ndarray:
    """tanh at -8 + i/32, i = 0..512, as Q15, saturated to [-32767, 32767] (symmetric)."""
    vals = [_round_half_up(32768.0 * math.tanh(-8.0 + i / 32.0)) for i in range(TABLE_SIZE)]
    return np.clip(np.array(vals, np.int64), -32767, 32767).astype(np.int16)


def row_multiplier_shift(real: float) -> tuple[int, int]:
    """real ~= M * 2^-n with M in [2^30, 2^31), the multiplier rounded half up."""
    if not (real > 0 and math.isfinite(real)):
        raise CodegenError(f"row scale multiplier {real!r} is not a positive finite number")
    f, e = math.frexp(real)          # real = f * 2^e, f in [0.5, 1)
    M = _round_half_up(f * 2.0 ** 31)
    n = 31 - e
    if M == 1 << 31:                 # f rounded up to 1.0
        M, n = 1 << 30, n - 1
    if not SHIFT_MIN <= n <= SHIFT_MAX:
        raise CodegenError(f"row scale {real * 4.0!r} out of the fixed-point range (shift {n} not in 1..62)")
    return M, n


def lut_q15(table: np.ndarray, pre_q12) -> np.ndarray:
    """Table lookup with linear interpolation (section 4); pre Q12 -> Q15."""
    t = table.astype(np.int64)
    u = np.asarray(pre_q12, np.int64) + TABLE_OFFSET
    uc = np.clip(u, 0, TABLE_SPAN - 1)
    i = uc >> TABLE_STEP_SHIFT
    f = uc & ((1 << TABLE_STEP_SHIFT) - 1)
    y = t[i] + (((t[i + 1] - t[i]) * f + (1 << (TABLE_STEP_SHIFT - 1))) >> TABLE_STEP_SHIFT)
    return np.where(u >= TABLE_SPAN, t[TABLE_SIZE - 1], y)


@dataclass
class IntModel:
    """The integer parameters the device runs (what codegen writes into the headers)."""
    I: int
    H: int
    row_bytes: int
    trits: np.ndarray            # int8 [2H, C]: gate rows 0..H-1, candidate rows H..2H-1
    packed: np.ndarray           # uint8 [2H, row_bytes]
    row_multiplier: np.ndarray   # int32 [2H], in [2^30, 2^31)
    row_shift: np.ndarray        # int8 [2H], in [1, 62]
    bias_q12: np.ndarray         # int32 [2H]
    lam_q15: np.ndarray          # int16 [H], in [0, 32767]
    w_o_q: np.ndarray            # int16 [H], readout weights scaled by 2^readout_shift
    readout_shift: int           # in [1, 24]
    b_o_q: int                   # int64, readout bias in Q(14 + readout_shift)
    sigmoid_q15: np.ndarray      # int16 [513]
    tanh_q15: np.ndarray         # int16 [513]
    source_bytes: bytes = b""    # the float parameters the model came from (hashed too)

    @property
    def C(self) -> int:
        return self.I + self.H

    @property
    def cols_padded(self) -> int:
        """Length of the z buffer the kernels read: row_bytes * 4 (zeros past C)."""
        return self.row_bytes * 4

    @classmethod
    def from_artifact(cls, art: Artifact) -> "IntModel":
        I, H = art.I, art.H
        trits = np.concatenate([art.trits_f, art.trits_g]).astype(np.int8)
        row_bytes = row_bytes_for(I + H)
        scales = np.concatenate([art.scale_f, art.scale_g])
        mult, shift = zip(*(row_multiplier_shift(s * 2.0 ** (PRE_FRAC - IO_FRAC)) for s in scales))
        biases = np.concatenate([art.b_f, art.b_g])
        bias_q12 = np.array([_round_half_up(b * 2.0 ** PRE_FRAC) for b in biases], np.int64)
        if np.any(np.abs(bias_q12) > BIAS_LIMIT):
            i = int(np.argmax(np.abs(bias_q12)))
            key = "b_f" if i < H else "b_g"
            raise CodegenError(f"{art.path}: {key}: bias {biases[i]!r} outside the fixed-point range |b| <= 128")
        lam = np.exp(-art.dt / art.tau)
        lam_q15 = np.array([min(_round_half_up(v * 32768.0), 32767) for v in lam], np.int64)
        wmax = float(np.max(np.abs(art.w_o)))
        s = READOUT_SHIFT_MAX
        while s >= 1 and _round_half_up(wmax * 2.0 ** s) > 32767:
            s -= 1
        if s < 1:
            raise CodegenError(f"{art.path}: w_o: readout weight {wmax!r} outside the fixed-point range (< 16383)")
        w_o_q = np.array([_round_half_up(w * 2.0 ** s) for w in art.w_o], np.int64)
        b_o_q = _round_half_up(art.b_o * 2.0 ** (IO_FRAC + s))
        if abs(b_o_q) >= 1 << 62:
            raise CodegenError(f"{art.path}: b_o: readout bias {art.b_o!r} outside the fixed-point range")
        src = b"".join(np.ascontiguousarray(a, dtype="<f8").tobytes() for a in (
            art.scale_f, art.scale_g, art.b_f, art.b_g, art.tau, art.w_o, np.float64(art.b_o), np.float64(art.dt)))
        return cls(I=I, H=H, row_bytes=row_bytes, trits=trits, packed=pack_trits(trits, row_bytes),
                   row_multiplier=np.array(mult, np.int32), row_shift=np.array(shift, np.int8),
                   bias_q12=bias_q12.astype(np.int32), lam_q15=lam_q15.astype(np.int16),
                   w_o_q=w_o_q.astype(np.int16), readout_shift=s, b_o_q=int(b_o_q),
                   sigmoid_q15=sigmoid_table_q15(), tanh_q15=tanh_table_q15(), source_bytes=src)

    # ---- identity -------------------------------------------------------------------
    def canonical_bytes(self) -> bytes:
        """Everything the device computes with, little-endian, plus the float source."""
        parts = [b"trixcfc-model-v1", struct.pack("<iiiiq", self.I, self.H, self.row_bytes,
                                                  self.readout_shift, self.b_o_q)]
        for a, dt in ((self.packed, "u1"), (self.row_multiplier, "<i4"), (self.row_shift, "i1"),
                      (self.bias_q12, "<i4"), (self.lam_q15, "<i2"), (self.w_o_q, "<i2"),
                      (self.sigmoid_q15, "<i2"), (self.tanh_q15, "<i2")):
            parts.append(np.ascontiguousarray(a, dtype=dt).tobytes())
        parts.append(self.source_bytes)
        return b"".join(parts)

    @property
    def hash(self) -> int:
        """64-bit model hash (BLAKE2b-64 of canonical_bytes, read little-endian)."""
        return int.from_bytes(hashlib.blake2b(self.canonical_bytes(), digest_size=8).digest(), "little")

    @property
    def hash_hex(self) -> str:
        return f"{self.hash:016x}"


# ---- the cell step ---------------------------------------------------------------------

def matvec_golden(m: IntModel, z_q14) -> np.ndarray:
    """acc = T z for both heads: int16 [..., C] -> int32 [..., 2H] (adds and subtracts only)."""
    z = np.asarray(z_q14, np.int64)
    return (z[..., : m.C] @ m.trits.astype(np.int64).T).astype(np.int32)


def preactivation_q12(m: IntModel, acc) -> np.ndarray:
    """Per-row requantisation (section 3): ((acc*M + 2^(n-1)) >> n) + bias, clamped."""
    acc = np.asarray(acc, np.int64)
    M = m.row_multiplier.astype(np.int64)
    n = m.row_shift.astype(np.int64)
    pre = ((acc * M + (np.int64(1) << (n - 1))) >> n) + m.bias_q12.astype(np.int64)
    return np.clip(pre, -PRE_CLAMP, PRE_CLAMP)


def cell_step_q14(m: IntModel, h_q14, x_q14):
    """One step for a batch: h int16 [N, H], x int16 [N, I] -> (h_new [N, H], y [N]) int16."""
    h = np.asarray(h_q14, np.int64)
    z = np.concatenate([np.asarray(x_q14, np.int64), h], axis=-1)
    pre = preactivation_q12(m, matvec_golden(m, z))
    g = lut_q15(m.sigmoid_q15, pre[..., : m.H])          # Q15 in [0, 32767]
    c = lut_q15(m.tanh_q15, pre[..., m.H:])              # Q15 in [-32767, 32767]
    lam = m.lam_q15.astype(np.int64)
    d = (lam * (32768 - g) + (1 << 14)) >> 15            # lam*(1-g), Q15 in [0, 32767]
    acc29 = d * h + ((g * c + 1) >> 1)                   # Q29, |.| < 1.5 * 2^30
    h_new = np.clip((acc29 + (1 << 14)) >> 15, -32768, 32767)
    s = m.readout_shift
    acc_y = h_new @ m.w_o_q.astype(np.int64) + m.b_o_q   # Q(14+s), int64
    y = np.clip((acc_y + (1 << (s - 1))) >> s, -32768, 32767)
    return h_new.astype(np.int16), y.astype(np.int16)


def run_golden(m: IntModel, x_q14, return_states: bool = False):
    """Run sequences from h = 0: x int16 [N, T, I] -> y int16 [N, T] (and h [N, T, H])."""
    x = np.asarray(x_q14)
    if x.dtype != np.int16:
        raise CodegenError(f"golden inputs must be int16 Q14, got {x.dtype}")
    if x.ndim != 3 or x.shape[2] != m.I:
        raise CodegenError(f"golden inputs must have shape [N, T, {m.I}], got {x.shape}")
    N, T, _ = x.shape
    h = np.zeros((N, m.H), np.int16)
    ys = np.zeros((N, T), np.int16)
    hs = np.zeros((N, T, m.H), np.int16)
    for t in range(T):
        h, ys[:, t] = cell_step_q14(m, h, x[:, t, :])
        hs[:, t] = h
    return (ys, hs) if return_states else ys


# ---- float side ----------------------------------------------------------------------

def quantize_input(x_float) -> np.ndarray:
    """float -> int16 Q14: round half up, saturate to [-32768, 32767] (range [-2, 2))."""
    v = np.floor(np.asarray(x_float, np.float64) * (1 << IO_FRAC) + 0.5)
    return np.clip(v, -32768, 32767).astype(np.int16)


def dequantize_output(y_q14) -> np.ndarray:
    return np.asarray(y_q14, np.float64) / (1 << IO_FRAC)


def float_ternary_predict(art: Artifact, x_float) -> np.ndarray:
    """The float ternary cell of docs/artifact.md: x [N, T, I] -> y [N, T] (float64)."""
    x = np.asarray(x_float, np.float64)
    N, T, _ = x.shape
    Wf = art.scale_f[:, None] * art.trits_f.astype(np.float64)
    Wg = art.scale_g[:, None] * art.trits_g.astype(np.float64)
    lam = np.exp(-art.dt / art.tau)
    h = np.zeros((N, art.H))
    y = np.zeros((N, T))
    for t in range(T):
        z = np.concatenate([x[:, t, :], h], axis=1)
        g = 1.0 / (1.0 + np.exp(-(z @ Wf.T + art.b_f)))
        c = np.tanh(z @ Wg.T + art.b_g)
        h = lam * (1.0 - g) * h + g * c
        y[:, t] = h @ art.w_o + art.b_o
    return y
