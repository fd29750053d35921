"""The classic baselines a model is judged against (docs/model.md, "The baselines").

Forecasts: persistence (y_t = x_t) and a least-squares autoregression, AR(2) on a pinned task's
input or AR(p) on a series' own past levels (cfcbase.series). Classes: the nearest class centroid
and the nearest training window (1-NN, Euclidean), both on the windows as the model sees them
(scaled), fitted on the training split only.
"""
from __future__ import annotations

import numpy as np


# ---- forecasts --------------------------------------------------------------------------------

def persistence_predict(x):
    """y_t = x_t."""
    return x[:, :, 0].copy()


def _ar2_design(x):
    x2 = x[:, :, 0]
    prev = np.concatenate([x2[:, :1], x2[:, :-1]], 1)      # x_{-1} := x_0
    return np.stack([x2, prev, np.ones_like(x2)], -1)


def ar2_fit(x, y):
    """Least-squares y_t = a x_t + b x_{t-1} + c on the training steps t >= 1."""
    A = _ar2_design(x)[:, 1:].reshape(-1, 3)
    coef, *_ = np.linalg.lstsq(A, y[:, 1:, 0].reshape(-1), rcond=None)
    return coef


def ar2_predict(coef, x):
    return _ar2_design(x) @ coef


def ar_design(v, p):
    """[N, T, p + 1]: v_t, v_{t-1}, ..., v_{t-p+1} (v_{<0} := v_0) and 1, for v [N, T]."""
    cols = [np.concatenate([np.repeat(v[:, :1], k, 1), v[:, :v.shape[1] - k]], 1) for k in range(p)]
    return np.stack(cols + [np.ones_like(v)], -1)


def ar_fit(v, y, p):
    """Least squares y_t = sum_k a_k v_{t-k} + c over the steps t >= p - 1 (full history)."""
    A = ar_design(v, p)[:, p - 1:].reshape(-1, p + 1)
    coef, *_ = np.linalg.lstsq(A, y[:, p - 1:].reshape(-1), rcond=None)
    return coef


# ---- classes ------------------------------------------------------------------------------------

NN_CHUNK = 256                          # test windows per distance block (bounds the memory)


def _flat(x):
    return np.asarray(x, np.float64).reshape(len(x), -1)


def nearest_centroid(xtr, ytr, x, K):
    """The class of each window x [N, T, I] whose class's mean training window is nearest
    (Euclidean; every class has training windows)."""
    a = _flat(xtr)
    cent = np.stack([a[ytr == k].mean(0) for k in range(K)])
    b = _flat(x)
    d = (b * b).sum(1)[:, None] - 2 * b @ cent.T + (cent * cent).sum(1)[None, :]
    return np.argmin(d, 1)


def one_nn(xtr, ytr, x):
    """The class of each window's nearest training window (Euclidean; the first on a tie)."""
    a = _flat(xtr)
    aa = (a * a).sum(1)
    b = _flat(x)
    out = np.empty(len(b), np.int64)
    for i in range(0, len(b), NN_CHUNK):
        c = b[i:i + NN_CHUNK]
        d = (c * c).sum(1)[:, None] - 2 * c @ a.T + aa[None, :]
        out[i:i + NN_CHUNK] = ytr[np.argmin(d, 1)]
    return out


def pad_steps(a, T):
    """Windows a [N, t, I] zero-padded to T >= t steps."""
    return np.pad(a, ((0, 0), (0, T - a.shape[1]), (0, 0)))


def class_baselines(xtr, ytr, x, K) -> dict:
    """{label: int64 [N]}: the classes the baselines fitted on (xtr, ytr) give the windows x.
    Windows of other lengths are compared as they are stored, zero after their last step, padded
    with zeros to the longest of both sets."""
    ytr = np.asarray(ytr, np.int64)
    T = max(xtr.shape[1], x.shape[1])
    xtr, x = (pad_steps(a, T) for a in (xtr, x))
    return {"nearest centroid": nearest_centroid(xtr, ytr, x, K), "1-NN": one_nn(xtr, ytr, x)}


# ---- 1-NN under dynamic time warping (the classic baseline of time-series classification) ------

DTW_BLOCK = 1 << 21                     # pairs x steps of one diagonal block (memory: ~10 such arrays)


def dtw_distances(a, la, b, lb) -> np.ndarray:
    """[Na, Nb] DTW distances between the windows a [Na, Ta, I] (lengths la) and b [Nb, Tb, I]
    (lengths lb): the least sum of squared Euclidean step distances over the monotone alignments
    of a window's own steps (full window, no band; multivariate: the dependent DTW, one warping
    path for all channels).

        D[i, j] = |a_i - b_j|^2 + min(D[i-1, j], D[i, j-1], D[i-1, j-1]),  D[-1, -1] = 0

    Every pair is computed side by side, one anti-diagonal i + j = k of the table at a time (each
    needs only the two before it); a pair's distance is read at its own last steps
    (la - 1, lb - 1), which the padded steps after them cannot reach."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    la, lb = np.asarray(la, np.int64), np.asarray(lb, np.int64)
    Na, Ta, _ = a.shape
    Nb, Tb, _ = b.shape
    out = np.full((Na, Nb), np.inf)
    step = max(1, DTW_BLOCK // max(1, Nb * Ta))
    rows = np.arange(Ta)
    bb = (b * b).sum(-1)                                         # [Nb, Tb]
    for s in range(0, Na, step):
        ac, lc = a[s:s + step], la[s:s + step]
        n = len(ac)
        aa = (ac * ac).sum(-1)                                   # [n, Ta]
        ends = lc[:, None] + lb[None, :] - 2                     # the diagonal of each pair's end
        prev2 = np.full((n, Nb, Ta), np.inf)                     # diagonal k - 2, by row i
        prev1 = np.full((n, Nb, Ta), np.inf)                     # diagonal k - 1
        for k in range(int(ends.max()) + 1):
            lo, hi = max(0, k - Tb + 1), min(k, Ta - 1) + 1      # the rows i with 0 <= k - i < Tb
            r = rows[lo:hi]
            j = k - r
            cost = aa[:, None, lo:hi] - 2 * np.einsum("nti,mti->nmt", ac[:, lo:hi], b[:, j]) + bb[None, :, j]
            cost = np.maximum(cost, 0.0)
            if k == 0:
                best = np.zeros((n, Nb, 1))
            else:
                # (i-1, j) and (i-1, j-1) sit one row up on diagonals k-1 and k-2; (i, j-1) on k-1
                up = prev1[:, :, lo - 1:hi - 1] if lo > 0 else np.concatenate(
                    [np.full((n, Nb, 1), np.inf), prev1[:, :, :hi - 1]], 2)
                diag = prev2[:, :, lo - 1:hi - 1] if lo > 0 else np.concatenate(
                    [np.full((n, Nb, 1), np.inf), prev2[:, :, :hi - 1]], 2)
                best = np.minimum(np.minimum(up, prev1[:, :, lo:hi]), diag)
            cur = np.full((n, Nb, Ta), np.inf)
            cur[:, :, lo:hi] = cost + best
            hit = np.nonzero(ends == k)
            if len(hit[0]):
                out[s + hit[0], hit[1]] = cur[hit[0], hit[1], lc[hit[0]] - 1]
            prev2, prev1 = prev1, cur
    return out


def one_nn_dtw(xtr, ytr, ltr, x, lx) -> np.ndarray:
    """The class of each window x (lengths lx) whose nearest training window under DTW
    (dtw_distances) is of that class (the first on a tie)."""
    d = dtw_distances(x, lx, xtr, ltr)
    return np.asarray(ytr, np.int64)[np.argmin(d, axis=1)]
