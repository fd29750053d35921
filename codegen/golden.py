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

from cfcbase.artifact import Artifact
from cfcbase.cell import decay
from cfcbase.formats import INT8, TERNARY
from cfcbase.heads import MAX_WINDOW

from .errors import CodegenError
from .heads import int_head
from .pack import pack_int8_rows, pack_trits, row_bytes_for

# ---- formats (docs/fixed_point.md, section 1) -------------------------------------
IO_FRAC = 14          # x, y: int16 Q14 (pinned by the protocol)
Q14_ONE = 1 << IO_FRAC   # 16384: 1.0 in x and y (TRIX_Q14_ONE of firmware/core/trix_cfc.h)
STATE_FRAC = 15       # h: int16 Q15 (|h| < 1 always; one more bit than Q14 halves the state noise)
PRE_FRAC = 16         # pre-activations: int32 Q16

# ---- activation tables (section 4) -------------------------------------------------
TABLE_STEP_LOG2 = 6               # table step 2^-6 = 1/64
TABLE_SIZE = (16 << TABLE_STEP_LOG2) + 1   # 1025 entries over [-8, +8]
TABLE_STEP_SHIFT = PRE_FRAC - TABLE_STEP_LOG2
TABLE_OFFSET = 8 << PRE_FRAC      # pre + 8.0 maps -8.0 to index 0
TABLE_SPAN = (TABLE_SIZE - 1) << TABLE_STEP_SHIFT  # 16.0: u is clamped to [0, span - 1]

MULTIPLIER_MIN, MULTIPLIER_MAX = 1 << 30, (1 << 31) - 1
SHIFT_MIN, SHIFT_MAX = 1, 62
BIAS_LIMIT = 128 << PRE_FRAC       # |bias| <= 128.0
READOUT_SHIFT_MAX = 40


def _round_half_up(v: float) -> int:
    return int(math.floor(v + 0.5))


def sigmoid_table_q15() -> np.ndarray:
    """sigmoid at -8 + i/64, i = 0..1024, as Q15, saturated to [0, 32767]."""
    vals = [_round_half_up(32768.0 / (1.0 + math.exp(-(-8.0 + i / float(1 << TABLE_STEP_LOG2))))) for i in range(TABLE_SIZE)]
    return np.clip(np.array(vals, np.int64), 0, 32767).astype(np.int16)


def tanh_table_q15() -> np.ndarray:
    """tanh at -8 + i/64, i = 0..1024, as Q15, saturated to [-32767, 32767] (symmetric)."""
    vals = [_round_half_up(32768.0 * math.tanh(-8.0 + i / float(1 << TABLE_STEP_LOG2))) for i in range(TABLE_SIZE)]
    return np.clip(np.array(vals, np.int64), -32767, 32767).astype(np.int16)


def row_multiplier_shift(real: float) -> tuple[int, int]:
    """real ~= M * 2^-n with M in [2^30, 2^31), the multiplier rounded half up."""
    if not (real > 0 and math.isfinite(real)):
        raise CodegenError(f"row scale multiplier {float(real)!r} is not a positive finite number")
    f, e = math.frexp(real)          # real = f * 2^e, f in [0.5, 1)
    M = _round_half_up(f * 2.0 ** 31)
    n = 31 - e
    if M == 1 << 31:                 # f rounded up to 1.0
        M, n = 1 << 30, n - 1
    if not SHIFT_MIN <= n <= SHIFT_MAX:
        raise CodegenError(f"row scale {float(real) / 2.0!r} out of the fixed-point range (shift {n} not in 1..62)")
    return M, n


def _row_multiplier_shift_at(art, r: int, scale: float) -> tuple[int, int]:
    """row_multiplier_shift of row r's scale (Q15 -> Q16: x2), the error naming key and row."""
    try:
        return row_multiplier_shift(scale * 2.0 ** (PRE_FRAC - STATE_FRAC))
    except CodegenError as e:
        key = "scale_f" if r < art.H else "scale_g"
        raise CodegenError(f"{art.path}: {key}[{r % art.H}]: {e}") from e


def lut_q15(table: np.ndarray, pre_q16) -> np.ndarray:
    """Table lookup with linear interpolation (section 4); pre Q16 -> Q15."""
    t = table.astype(np.int64)
    u = np.asarray(pre_q16, np.int64) + TABLE_OFFSET
    uc = np.clip(u, 0, TABLE_SPAN - 1)
    i = uc >> TABLE_STEP_SHIFT
    f = uc & ((1 << TABLE_STEP_SHIFT) - 1)
    # u clamped to the last interval saturates too: both tables are flat there (|t[i+1]-t[i]|
    # <= 1), so t[1023] + round(d * 1023/1024) == t[1024]; one USAT on the device
    return t[i] + (((t[i + 1] - t[i]) * f + (1 << (TABLE_STEP_SHIFT - 1))) >> TABLE_STEP_SHIFT)


def _readout(path, w_o, b_o) -> tuple:
    """(s, w_o_q int64 [H], b_o_q) of the per-step readout (section 7): s the most fractional bits
    in [1, READOUT_SHIFT_MAX] that fit int32 weights and the int64 bias."""
    wmax = float(np.max(np.abs(w_o)))
    s = READOUT_SHIFT_MAX
    while s >= 1 and (_round_half_up(wmax * 2.0 ** s) > (1 << 31) - 1
                      or abs(_round_half_up(b_o * 2.0 ** (STATE_FRAC + s))) >= 1 << 62):
        s -= 1
    if s < 1:
        raise CodegenError(f"{path}: w_o: readout weights/bias outside the fixed-point range "
                           f"(max |w_o| {wmax!r}, b_o {b_o!r})")
    return s, np.array([_round_half_up(w * 2.0 ** s) for w in w_o], np.int64), _round_half_up(b_o * 2.0 ** (STATE_FRAC + s))


@dataclass
class IntModel:
    """The integer parameters the device runs (what codegen writes into the headers)."""
    I: int
    H: int
    row_bytes: int
    trits: np.ndarray            # int8 [2H, C]: the integer weights (trits, or int8 for an int8 head),
                                 # gate rows 0..H-1, candidate rows H..2H-1
    packed: np.ndarray           # uint8 [ternary rows, row_bytes]: the ternary heads' rows, packed
    row_multiplier: np.ndarray   # int32 [2H], in [2^30, 2^31)
    row_shift: np.ndarray        # int8 [2H], in [1, 62]
    bias_q16: np.ndarray         # int32 [2H]
    lam_q15: np.ndarray          # int16 [H], in [0, 32767]
    w_o_q: np.ndarray            # int32 [H], readout weights scaled by 2^readout_shift
    readout_shift: int           # in [1, 40]
    b_o_q: int                   # int64, readout bias in Q(15 + readout_shift)
    sigmoid_q15: np.ndarray      # int16 [TABLE_SIZE]
    tanh_q15: np.ndarray         # int16 [TABLE_SIZE]
    source_bytes: bytes = b""    # the float parameters the model came from (hashed too)
    head: object = None          # codegen.heads: IntReadout or IntClassifier (docs/fixed_point.md, 12)
    formats: tuple = (TERNARY, TERNARY)       # cfcbase.formats of the gate's and the candidate's matrix
    weights_s8: np.ndarray | None = None      # int8 [int8 rows, 4 row_bytes]: the int8 heads' rows,
                                              # CMSIS-NN order (pack.pack_int8_rows); None: no int8 head

    @property
    def C(self) -> int:
        return self.I + self.H

    @property
    def wmax(self) -> int:
        """The largest |weight| any row of the model may hold: 1 (ternary only) or 127."""
        return max(f.wmax for f in self.formats)

    def row_wmax(self, r: int) -> int:
        return self.formats[0 if r < self.H else 1].wmax

    @property
    def cols_padded(self) -> int:
        """Length of the z buffer the kernels read: row_bytes * 4 (zeros past C)."""
        return self.row_bytes * 4

    @classmethod
    def from_artifact(cls, art: Artifact) -> "IntModel":
        I, H = art.I, art.H
        values = np.concatenate([art.weights_f, art.weights_g]).astype(np.int8)
        formats = tuple(art.formats)
        row_bytes = row_bytes_for(I + H)
        scales = np.concatenate([art.scale_f, art.scale_g])
        mult, shift = zip(*(_row_multiplier_shift_at(art, r, s) for r, s in enumerate(scales)))
        # The device evaluates the rounding shift as SMULL on (acc << L), L = max(0, 33 - n),
        # plus a 32-bit rounding shift of the high word (docs/fixed_point.md, section 3); that
        # is exact iff max|acc15| * 2^L fits int32, with max|acc15| = (C + I) * 32768.
        # With 2s = M * 2^-n, 2^(29 - n) is the scale rounded down to a power of two (up to the
        # rounding of M), so the rule reads (C + I) * max(2^floor(log2 scale), 1/16) < 4096.
        # A row whose format holds |w| <= wmax (127 for int8) multiplies max|acc15| by wmax
        # (section 2a): the same rule with (C + I) * wmax * ... < 4096.
        for r, n in enumerate(shift):
            wm = formats[0 if r < H else 1].wmax
            if (I + H + I) * 32768 * wm << max(0, 33 - n) >= 1 << 31:
                key = "scale_f" if r < H else "scale_g"
                p2 = 2.0 ** max(29 - n, -4)
                times = f" * {wm}" if wm > 1 else ""
                raise CodegenError(f"{art.path}: {key}[{r % H}]: row {r % H} scale {float(scales[r])!r} too large for "
                                   f"C + I = {I + H + I} (C = {I + H} columns + I = {I} inputs): the requantization "
                                   f"needs (C + I){times} * 2^floor(log2 scale) < 4096, here {I + H + I}{times} * "
                                   f"{p2:g} = {(I + H + I) * wm * p2:g}")
        biases = np.concatenate([art.b_f, art.b_g])
        bias_q16 = np.array([_round_half_up(b * 2.0 ** PRE_FRAC) for b in biases], np.int64)
        if np.any(np.abs(bias_q16) > BIAS_LIMIT):
            i = int(np.argmax(np.abs(bias_q16)))
            key = "b_f" if i < H else "b_g"
            raise CodegenError(f"{art.path}: {key}: bias {float(biases[i])!r} outside the fixed-point range |b| <= 128")
        lam = decay(art.tau, art.dt)
        lam_q15 = np.array([min(_round_half_up(v * 32768.0), 32767) for v in lam], np.int64)
        w_o, b_o = art.head.device_readout()
        s, w_o_q, b_o_q = _readout(art.path, w_o, b_o)
        src = b"".join(np.ascontiguousarray(a, dtype="<f8").tobytes() for a in (
            art.scale_f, art.scale_g, art.b_f, art.b_g, art.tau, w_o, np.float64(b_o), np.float64(art.dt)))
        sc = art.task.scaling
        if sc is not None:               # the input (and target) scaling is part of the model's identity
            src += b"".join(np.ascontiguousarray(sc[k], dtype="<f8").tobytes() for k in (
                "input_offset", "input_scale", "target_offset", "target_scale") if k in sc)
            dt, dx = art.task.differenced
            if dt or any(dx):            # and what its channels mean (nothing added for levels: older hashes stay)
                src += b"differenced" + bytes([int(dt)] + [int(v) for v in dx])
        rows = {f: [values[m * H:(m + 1) * H] for m, g in enumerate(formats) if g is f] for f in (TERNARY, INT8)}
        tern = np.concatenate(rows[TERNARY]) if rows[TERNARY] else np.zeros((0, I + H), np.int8)
        return cls(I=I, H=H, row_bytes=row_bytes, trits=values,
                   packed=pack_trits(tern, row_bytes) if len(tern) else np.zeros((0, row_bytes), np.uint8),
                   formats=formats,
                   weights_s8=pack_int8_rows(np.concatenate(rows[INT8]), row_bytes * 4) if rows[INT8] else None,
                   row_multiplier=np.array(mult, np.int32), row_shift=np.array(shift, np.int8),
                   bias_q16=bias_q16.astype(np.int32), lam_q15=lam_q15.astype(np.int16),
                   w_o_q=w_o_q.astype(np.int32), readout_shift=s, b_o_q=int(b_o_q),
                   sigmoid_q15=sigmoid_table_q15(), tanh_q15=tanh_table_q15(), source_bytes=src,
                   head=int_head(art))

    # ---- identity -------------------------------------------------------------------
    def canonical_bytes(self) -> bytes:
        """Everything the device computes with, little-endian, plus the float source."""
        parts = [b"trixcfc-model-v1", struct.pack("<iiiiq", self.I, self.H, self.row_bytes,
                                                  self.readout_shift, self.b_o_q)]
        for a, dt in ((self.packed, "u1"), (self.row_multiplier, "<i4"), (self.row_shift, "i1"),
                      (self.bias_q16, "<i4"), (self.lam_q15, "<i2"), (self.w_o_q, "<i4"),
                      (self.sigmoid_q15, "<i2"), (self.tanh_q15, "<i2")):
            parts.append(np.ascontiguousarray(a, dtype=dt).tobytes())
        if self.weights_s8 is not None:   # section 2a: the formats and the int8 rows (a ternary model: as before)
            parts.append(b"int8-heads" + bytes(f.code for f in self.formats))
            parts.append(np.ascontiguousarray(self.weights_s8, dtype="i1").tobytes())
        parts.append(self.source_bytes)
        parts.append(self.head.canonical_bytes())       # a readout's: nothing (it is in the cell's)
        return b"".join(parts)

    @property
    def hash(self) -> int:
        """64-bit model hash (BLAKE2b-64 of canonical_bytes, read little-endian)."""
        return int.from_bytes(hashlib.blake2b(self.canonical_bytes(), digest_size=8).digest(), "little")

    @property
    def hash_hex(self) -> str:
        return f"{self.hash:016x}"


# ---- the cell step ---------------------------------------------------------------------

def matvec_golden(m: IntModel, z) -> np.ndarray:
    """The kernels' job: acc = T z for both heads, int16 [..., >= C] -> int32 [..., 2H]."""
    z = np.asarray(z, np.int64)
    return (z[..., : m.C] @ m.trits.astype(np.int64).T).astype(np.int32)


def accumulate_q15(m: IntModel, x_q14, h_q15) -> np.ndarray:
    """Section 2: T [2x ; h] in Q15 = kernel(T, [x_q14 ; h_q15]) + T_x x_q14 (int32)."""
    x = np.asarray(x_q14, np.int64)
    acc = matvec_golden(m, np.concatenate([x, np.asarray(h_q15, np.int64)], axis=-1)).astype(np.int64)
    return acc + x @ m.trits[:, : m.I].astype(np.int64).T


def preactivation_q16(m: IntModel, acc) -> np.ndarray:
    """Per-row requantisation (section 3): ((acc*M + 2^(n-1)) >> n) + bias."""
    acc = np.asarray(acc, np.int64)
    M = m.row_multiplier.astype(np.int64)
    n = m.row_shift.astype(np.int64)
    pre = ((acc * M + (np.int64(1) << (n - 1))) >> n) + m.bias_q16.astype(np.int64)
    return pre   # |pre| < 2^30 + 2^23 by the codegen range checks: no clamp needed


# ---- how the device evaluates sections 3 and 4 (docs/fixed_point.md, section 3a) ---------
# Not a change of the arithmetic: constants derived from the model that let the device compute
# the same values with fewer instructions. device_u / device_lut_q15 model that C arithmetic
# (int32 operations) and tests/test_golden.py checks them against preactivation_q16 / lut_q15.

TABLE_SPAN_BITS = 20                 # u = pre + 8.0 in Q16, clamped to [0, 2^20 - 1]
ROW_REQUANT_WORDS = 3                # per row: M, K, s (int32 each)


def pre_shift(m: IntModel) -> int:
    """Lg: the largest L with (C + I) * 32768 * wmax * 2^L < 2^31 (wmax 1 for a ternary model, 127
    with an int8 head), so acc15 * 2^Lg fits int32 for every acc15 of the model. The range check
    of from_artifact makes max(0, 33 - n) fit for every row, so Lg >= 33 - n and n + Lg >= 33 on
    every row."""
    bound = acc15_bound(m)
    L = 0
    while bound << (L + 1) < 1 << 31:
        L += 1
    return L


def row_requant(m: IntModel) -> np.ndarray:
    """int32 [2H, 3], per row (M, K, s) with K = 2 * (bias + 2^19) + 1 and s = min(n + Lg - 33, 31):

        u = clamp(pre + 8.0, 0, 2^20 - 1) = clamp(((hi >> s) + K) >> 1, 0, 2^20 - 1),
        hi = (int32)(((int64)(acc15 << Lg) * M) >> 32)

    With N = n + Lg >= 33: pre + 2^19 = floor((acc15 2^Lg M + K 2^(N-1)) / 2^N), and since K is an
    integer the floor can be taken in steps: floor(x / 2^32) (the high word), then / 2^(N - 33),
    then (+ K) / 2. |hi| < 2^30, so for N - 33 >= 31 the shift gives 0 or -1 as any larger one
    would (hence the clamp to 31). |K| < 2^25: nothing overflows int32."""
    Lg = pre_shift(m)
    n = m.row_shift.astype(np.int64)
    s = np.minimum(n + Lg - 33, 31)
    if np.any(s < 0):                 # from_artifact's range check rules this out
        raise CodegenError(f"row shift {int(n.min())} below 33 - Lg = {33 - Lg}")
    K = 2 * (m.bias_q16.astype(np.int64) + (TABLE_OFFSET)) + 1
    return np.stack([m.row_multiplier.astype(np.int64), K, s], axis=1).astype(np.int32)


def acc15_bound(m: IntModel) -> int:
    """max |acc15| over every input and state: (C + I) * 32768 * wmax (x counted twice in Q15;
    wmax = 1 ternary, 127 with an int8 head, section 2a)."""
    return (m.C + m.I) * 32768 * m.wmax


def _i32(v):
    """Wrap to int32 as the device's registers would (numpy int64 in, int64 out)."""
    v = np.asarray(v, np.int64)
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def device_u(m: IntModel, acc15, rows=None) -> np.ndarray:
    """The device's requantisation (row_requant) for acc15 [..., len(rows)] -> u in [0, 2^20 - 1]:
    the table index of section 4 (clamp(pre + 8.0 in Q16)). Every step is an int32 operation and
    checked not to wrap."""
    rr = row_requant(m).astype(np.int64)
    if rows is not None:
        rr = rr[np.asarray(rows)]
    acc = np.asarray(acc15, np.int64)
    a = acc << pre_shift(m)
    assert np.array_equal(_i32(a), a), "acc15 << Lg wraps"
    hi = (a * rr[..., 0]) >> 32                              # SMMUL / SMULL high word (exact)
    v = (hi >> rr[..., 2]) + rr[..., 1]
    assert np.array_equal(_i32(v), v), "(hi >> s) + K wraps"
    return np.clip(v >> 1, 0, (1 << TABLE_SPAN_BITS) - 1)   # USAT #20, ASR #1


def device_lut_q15(table: np.ndarray, u) -> np.ndarray:
    """Section 4 from u as the DSP cores compute it: one SMLAD of the pair t[i], t[i + 1] with
    (1024 - f, f) and 512, then >> 10; (1024 - f) t0 + f t1 = 1024 t0 + f (t1 - t0), so this is
    lut_q15 exactly."""
    t = table.astype(np.int64)
    u = np.asarray(u, np.int64)
    i, f = u >> TABLE_STEP_SHIFT, u & ((1 << TABLE_STEP_SHIFT) - 1)
    step = 1 << TABLE_STEP_SHIFT
    return ((step - f) * t[i] + f * t[i + 1] + step // 2) >> TABLE_STEP_SHIFT


def cell_step_q14(m: IntModel, h_q15, x_q14):
    """One step for a batch: h int16 Q15 [N, H], x int16 Q14 [N, I] -> (h_new Q15 [N, H], y Q14 [N])."""
    h = np.asarray(h_q15, np.int64)
    pre = preactivation_q16(m, accumulate_q15(m, x_q14, h))
    g = lut_q15(m.sigmoid_q15, pre[..., : m.H])          # Q15 in [0, 32767]
    c = lut_q15(m.tanh_q15, pre[..., m.H:])              # Q15 in [-32767, 32767]
    lam = m.lam_q15.astype(np.int64)
    d = (lam * (32768 - g) + (1 << 14)) >> 15            # lam*(1-g), Q15 in [0, 32767]
    acc30 = d * h + g * c                                # Q30, |.| < 2^31 - 2^16
    h_new = np.clip((acc30 + (1 << 14)) >> 15, -32768, 32767)
    s = m.readout_shift
    acc_y = h_new @ m.w_o_q.astype(np.int64) + m.b_o_q   # Q(15+s), int64
    y = np.clip((acc_y + (1 << s)) >> (s + 1), -32768, 32767)
    return h_new.astype(np.int16), y.astype(np.int16)


def run_golden(m: IntModel, x_q14, return_states: bool = False):
    """Run sequences from h = 0: x int16 Q14 [N, T, I] -> y int16 Q14 [N, T] (and h Q15 [N, T, H])."""
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


def golden_outputs(m: IntModel, x_q14, n=None):
    """What the device answers for windows x int16 Q14 [N, T, I] from h = 0 (``n``: each window's
    steps, None: all T; a classifier's window ends there): a readout's y int16 Q14 [N, T]; a
    classifier's (logits int32 [N, K] Q16, class int64 [N]) (codegen.heads)."""
    ys, hs = run_golden(m, x_q14, return_states=True)
    return m.head.outputs(ys, hs, n)


def golden_stream(m: IntModel, x_q14, every: int):
    """What a classifier decides on a continuous stream (docs/fixed_point.md, section 12, "A stream"):
    x int16 Q14 [T, I] stepped from h = 0 once, never reset, with a decision (DECIDE, trix_decide)
    after every ``every`` steps that pools the steps since the previous decision ->
    (logits int32 [D, K] Q16, class int64 [D]) of the D = T // every decisions, in order."""
    if m.head.K == 0:
        raise CodegenError("a stream's decisions need a classifier; this model has a regression readout")
    if not 1 <= every <= MAX_WINDOW:
        raise CodegenError(f"a decision every {every} steps: expected 1 .. {MAX_WINDOW} (the longest window)")
    x = np.asarray(x_q14, np.int16)
    D = x.shape[0] // every
    _, hs = run_golden(m, x[None, : D * every], return_states=True)
    # the states after each step, cut into the decisions' windows; the state itself runs on
    return m.head.outputs(None, hs[0].reshape(D, every, m.H))


# ---- float side ----------------------------------------------------------------------

def quantize_input(x_float) -> np.ndarray:
    """float -> int16 Q14: round half up, saturate to [-32768, 32767] (range [-2, 2))."""
    v = np.floor(np.asarray(x_float, np.float64) * Q14_ONE + 0.5)
    return np.clip(v, -32768, 32767).astype(np.int16)


def dequantize_output(y_q14) -> np.ndarray:
    return np.asarray(y_q14, np.float64) / Q14_ONE

