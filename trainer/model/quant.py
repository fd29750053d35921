"""Ternary quantizer with per-row scales, the STE variants and the scale schemes.

Shadow (float) weights V [R, C] (R = 2H rows: both heads), per-row scales s [R].
u = V / s_thr is the weight in threshold units; trit = sign(u) * (|u| > 0.5) (threshold 0.5
after per-row scaling: the quantizer of docs/training.md, "Ternary student"). The forward pass always uses the hard
ternary weights W_eff = s[:, None] * trits.

Scale schemes (docs/training.md has the measurements):
  coupled  s_thr = s, s learned; dL/ds = sum_c dL/dW_eff * trit (trits held fixed)
  lsq      s_thr = s, s learned; LSQ-style dL/ds = sum_c dL/dW_eff * (trit - u) inside the
           quantizer range |u| <= 1.5, trit outside (gradient of s * round(V / s) w.r.t. s with
           an STE for round)
  twn      threshold and magnitude from the shadow weights each step (TWN): delta = 0.7 *
           mean|V| per row, trits = sign(V) * (|V| > delta), s = mean of |V| over the
           non-zero trits; s is not a learned parameter (s_thr = 2 * delta)

STE for the shadow weights:
  ste      dL/dV = dL/dW_eff                               (identity)
  shaped   dL/dV = dL/dW_eff * 6 t (1 - t), t = beta (|u| - 0.5) + 1/2 clipped to [0, 1]:
           the smoothstep-derivative window centred on each decision boundary |u| = 0.5,
           width 1/beta in u; zero for weights that have committed (docs/training.md, "Ternary
           student"). With a zero-boundary beta0 > 0 (the sweep's knob beta_zero,
           docs/sweep.md) a second window is added, centred on
           u = 0 with width 1/beta0: dL/dV = dL/dW_eff * (window(u, beta) + window0(u, beta0)).
"""
from __future__ import annotations

import numpy as np

SCHEMES = ("coupled", "lsq", "twn")
# The shaped STE's window sharpness beta over the optimizer steps, (start, end), linear in
# between: a constant 20. The sweeps (docs/training.md) found an annealing 1 -> 20 (the sweep's
# beta_schedule=linear) not reliably better than the vanilla STE, and a constant beta ahead of
# annealing on both tasks.
SHAPED_BETA = (20.0, 20.0)
S_MIN = 1e-4
# int8 heads (trainer/int8.py): q = clip(round(V / s), -127, 127), W_eff = s * q; not a ternary scheme
INT8_SCHEME = "int8"
INT8_MAX = 127


def ternarize(u, d=None):
    """Hard ternary decision in threshold units: {-1, 0, +1} as float64; threshold 0.5, or per
    row d [..., R] (a learned threshold, the sweep's knob thr=learned)."""
    if d is not None:
        return np.sign(u) * (np.abs(u) > d[..., None])
    return np.sign(u) * (np.abs(u) > 0.5)


def window(u, beta, center=0.5):
    """Shaped-STE multiplier 6 t (1 - t), t = clip(beta (|u| - center) + 0.5, 0, 1); center: the
    decision boundary (0.5, or a learned threshold [..., R, 1])."""
    t = np.clip(beta * (np.abs(u) - center) + 0.5, 0.0, 1.0)
    return 6.0 * t * (1.0 - t)


def window_antiderivative(u, beta, center=0.5):
    """Phi with dPhi/du = window(u, beta): sign(u) * smoothstep(t) / beta (used by gradcheck)."""
    t = np.clip(beta * (np.abs(u) - center) + 0.5, 0.0, 1.0)
    return np.sign(u) * (3 * t * t - 2 * t ** 3) / beta


def window_zero(u, beta0):
    """The zero-boundary window 6 t (1 - t), t = clip(beta0 u + 0.5, 0, 1): centred on u = 0."""
    t = np.clip(beta0 * u + 0.5, 0.0, 1.0)
    return 6.0 * t * (1.0 - t)


def window_zero_antiderivative(u, beta0):
    """Phi0 with dPhi0/du = window_zero(u, beta0): smoothstep(t) / beta0 (used by gradcheck)."""
    t = np.clip(beta0 * u + 0.5, 0.0, 1.0)
    return (3 * t * t - 2 * t ** 3) / beta0


def twn_scales(V):
    """TWN: per-row threshold delta = 0.7 mean|V|, magnitude = mean |V| over |V| > delta."""
    a = np.abs(V)
    delta = 0.7 * a.mean(axis=-1)
    nz = a > delta[..., None]
    cnt = nz.sum(axis=-1)
    mag = np.where(cnt > 0, (a * nz).sum(axis=-1) / np.maximum(cnt, 1), delta)
    return np.maximum(mag, S_MIN), np.maximum(2.0 * delta, S_MIN)


def best_row_scales(W):
    """Per-row s minimising ||W_r - s * ternarize(W_r / s)||^2 (post-training quantization).

    For a given set of k largest |w| kept non-zero the optimal magnitude is their mean; try
    every k and keep the one with the smallest actual reconstruction error.
    """
    a = np.sort(np.abs(W), axis=-1)[..., ::-1]
    C = W.shape[-1]
    best_s = np.full(W.shape[:-1], S_MIN)
    best_e = np.full(W.shape[:-1], np.inf)
    cums = np.cumsum(a, axis=-1)
    for k in range(1, C + 1):
        s = np.maximum(cums[..., k - 1] / k, S_MIN)
        err = ((W - s[..., None] * ternarize(W / s[..., None])) ** 2).sum(axis=-1)
        better = err < best_e
        best_e = np.where(better, err, best_e)
        best_s = np.where(better, s, best_s)
    return best_s


def int8_row_scales(W):
    """int8: per-row symmetric scales max |W_r| / 127 (at least S_MIN)."""
    return np.maximum(np.abs(W).max(axis=-1) / INT8_MAX, S_MIN)


def quantize_int8(W, s=None):
    """int8: (q as float64 in [-127, 127], s) of W [..., R, C], per-row symmetric rounding."""
    s = int8_row_scales(W) if s is None else s
    return np.clip(np.round(W / s[..., None]), -INT8_MAX, INT8_MAX), s


def int8_grads(dW, u, q):
    """int8: dL/dW_eff [M, R, C] -> (dL/dV, dL/ds) for W_eff = s * clip(round(V / s)), u = V / s:
    straight-through inside the range |u| <= 127.5 (zero outside), LSQ's scale gradient."""
    inside = np.abs(u) <= INT8_MAX + 0.5
    dV = np.where(inside, dW, 0.0)
    ds = (dW * np.where(inside, q - u, q)).sum(axis=-1)
    return dV, ds


def quantize(V, s, scheme, d=None):
    """(trits [R, C], s_eff [R], s_thr [R]) for shadow weights V and learned scales s (with the
    int8 scheme: int8 levels in place of trits); d: learned per-row thresholds (coupled only)."""
    if d is not None:
        return ternarize(V / s[..., None], d), s, s
    if scheme == INT8_SCHEME:
        return np.clip(np.round(V / s[..., None]), -INT8_MAX, INT8_MAX), s, s
    if scheme == "twn":
        mag, thr = twn_scales(V)
        return ternarize(V / thr[..., None]), mag, thr
    return ternarize(V / s[..., None]), s, s


def shadow_grads(dW, V, trits, s_thr, scheme, shaped, beta, beta_zero=0.0):
    """Map dL/dW_eff [M, R, C] to (dL/dV [M, R, C], dL/ds [M, R]).

    shaped: bool or per-model bool array [M] (shaped STE where true, identity elsewhere).
    beta_zero > 0 adds the zero-boundary window to the shaped STE.
    """
    u = V / s_thr[..., None]
    if scheme == INT8_SCHEME:
        return int8_grads(dW, u, trits)
    shaped = np.asarray(shaped, bool)
    w = window(u, beta)
    if beta_zero > 0:
        w += window_zero(u, beta_zero)
    if shaped.ndim == 0:
        dV = dW * w if shaped else dW.copy()
    else:
        dV = dW * np.where(shaped[:, None, None], w, 1.0)
    if scheme == "coupled":
        ds = (dW * trits).sum(axis=-1)
    elif scheme == "lsq":
        ds = (dW * np.where(np.abs(u) <= 1.5, trits - u, trits)).sum(axis=-1)
    else:
        ds = np.zeros(V.shape[:-1])
    return dV, ds


# ---- the techniques of the sweep's knobs thr and damp (docs/training.md, "Techniques") ----------

THR_BETA = 20.0            # sharpness of the window that carries a learned threshold's gradient
THR_RANGE = (0.05, 1.5)    # a learned threshold stays inside (in units of the row's scale)


def threshold_grads(dW, u, s, d, beta=THR_BETA):
    """dL/dd [M, R] of a learned per-row threshold d: W = s sign(u) [|u| > d]; through the
    smoothstep window around the boundary, dW/dd = -s sign(u) 6 t (1 - t),
    t = clip(beta (|u| - d) + 1/2, 0, 1) (gradcheck: thr[d])."""
    t = np.clip(beta * (np.abs(u) - d[..., None]) + 0.5, 0.0, 1.0)
    return -(dW * np.sign(u) * 6.0 * t * (1.0 - t)).sum(axis=-1) * s


def dampening(V, s, trits, weight):
    """Oscillation dampening (Nagel et al. 2022): weight * mean over the weights of (u - trit)^2,
    u = V / s, the trit held fixed; returns (its value per model [M], dL/dV) (gradcheck: damp[V])."""
    u = V / s[..., None]
    e = u - trits
    n = e.shape[-1] * e.shape[-2]
    return weight * (e * e).sum(axis=(-1, -2)) / n, (2.0 * weight / n) * e / s[..., None]


# ---- incremental quantization (INQ, Zhou et al. 2017; the sweep's knob inq) ---------------------

def inq_fraction(stage, stages):
    """Share of each row's weights quantized (and frozen) in stage 0..stages-1: 1/2, 3/4, 7/8, ...,
    and every weight in the last stage."""
    return 1.0 if stage >= stages - 1 else 1.0 - 0.5 ** (stage + 1)


def inq_mask(V, s, mask, fraction):
    """The mask grown to `fraction` of each row: the unmasked weights farthest from the ternary
    decision boundary (| |u| - 1/2 | largest, u = V / s: the most confident) join first."""
    u = np.abs(V / s[..., None])
    conf = np.where(mask, np.inf, np.abs(u - 0.5))
    C = V.shape[-1]
    k = int(np.ceil(fraction * C - 1e-9))
    order = np.argsort(-conf, axis=-1, kind="stable")
    new = np.zeros_like(mask)
    np.put_along_axis(new, order[..., :k], True, axis=-1)
    return new | mask


def inq_grads(dW, mask, trits):
    """W = where(mask, s * trits, V): dL/dV = dL/dW on the float (unmasked) weights, 0 on the
    quantized ones; dL/ds = sum over the quantized weights of dL/dW * trit (gradcheck: inq)."""
    return np.where(mask, 0.0, dW), (dW * np.where(mask, trits, 0.0)).sum(axis=-1)
