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
S_MIN = 1e-4


def ternarize(u):
    """Hard ternary decision in threshold units: {-1, 0, +1} as float64."""
    return np.sign(u) * (np.abs(u) > 0.5)


def window(u, beta):
    """Shaped-STE multiplier 6 t (1 - t), t = clip(beta (|u| - 0.5) + 0.5, 0, 1)."""
    t = np.clip(beta * (np.abs(u) - 0.5) + 0.5, 0.0, 1.0)
    return 6.0 * t * (1.0 - t)


def window_antiderivative(u, beta):
    """Phi with dPhi/du = window(u, beta): sign(u) * smoothstep(t) / beta (used by gradcheck)."""
    t = np.clip(beta * (np.abs(u) - 0.5) + 0.5, 0.0, 1.0)
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


def quantize(V, s, scheme):
    """(trits [R, C], s_eff [R], s_thr [R]) for shadow weights V and learned scales s."""
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
