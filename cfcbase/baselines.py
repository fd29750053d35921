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


def class_baselines(xtr, ytr, x, K) -> dict:
    """{label: int64 [N]}: the classes the baselines fitted on (xtr, ytr) give the windows x.
    Windows of other lengths are compared as they are stored, zero after their last step, padded
    with zeros to the longest of both sets."""
    ytr = np.asarray(ytr, np.int64)
    T = max(xtr.shape[1], x.shape[1])
    xtr, x = (np.pad(a, ((0, 0), (0, T - a.shape[1]), (0, 0))) for a in (xtr, x))
    return {"nearest centroid": nearest_centroid(xtr, ytr, x, K), "1-NN": one_nn(xtr, ytr, x)}
