"""The figures every stage reports, computed one way (docs/model.md, "The metrics").

A forecast (a readout: one output per step) is scored on the steps t >= WASHOUT, the headline
being the washout MSE (the first steps are ambiguous: from x_0 alone the direction of a sine is
unknown); a classifier (one class per window) by its cross-entropy and accuracy. The trainer,
`codegen accuracy` and `host verify` all call these, so equal outputs give bit-identical figures.
"""
from __future__ import annotations

import numpy as np

WASHOUT = 5                 # headline forecast metrics use the steps t >= WASHOUT
EXACT_MSE = 1e-20           # scaled units: a baseline below this is exact up to float64 rounding


# ---- forecasts ------------------------------------------------------------------------------

def washout_mse(pred, target, time_axis=1, axis=None):
    """Mean squared error over the steps t >= WASHOUT: time on ``time_axis`` (default: [N, T]
    arrays), averaged over ``axis`` (default all; an ndarray then, else a float)."""
    e = np.asarray(pred, np.float64) - np.asarray(target, np.float64)
    e = e * e
    keep = [slice(None)] * e.ndim
    keep[time_axis] = slice(WASHOUT, None)
    m = e[tuple(keep)].mean(axis=axis)
    return float(m) if axis is None else m


def forecast_metrics(pred, y, prefix=""):
    """MSE over all steps, washout MSE (t >= WASHOUT) and NMSE (washout MSE / target variance)."""
    pred = np.asarray(pred, np.float64).reshape(y.shape[0], y.shape[1])
    y2 = y.reshape(y.shape[0], y.shape[1])
    e = pred - y2
    mse_w = washout_mse(pred, y2)
    return {prefix + "mse": float((e * e).mean()), prefix + "mse_washout": mse_w,
            prefix + "nmse_washout": mse_w / float(y2[:, WASHOUT:].var())}


def _ratio(r) -> str:
    return f"{r:.2f}" if 0.01 <= r < 1000 else f"{r:.2e}"


def verdict(model_mse: float, baselines: dict) -> str:
    """The model's MSE against the baselines' ({label: MSE}, the same data), in words: "better than
    persistence (0.31x its MSE) and AR(6) (0.52x its MSE)", "WORSE than persistence (4.60 times its
    MSE) and AR(6) (5.60 times its MSE)", or "better than persistence (0.80x its MSE) but WORSE than
    AR(2) (1.30 times its MSE)". A baseline whose MSE is at float64 rounding level (AR(2) on the
    noise-free sine: a sinusoid obeys an exact 2-term recurrence) is named as exact, not as a
    ratio of 1e23."""
    better = [f"{k} ({_ratio(model_mse / v)}x its MSE)" for k, v in baselines.items() if v > 0 and model_mse <= v]
    worse = [f"{k} ({_ratio(model_mse / v)} times its MSE)" if v > EXACT_MSE
             else f"{k} (exact here up to rounding: MSE {v:.1e})"
             for k, v in baselines.items() if not (v > 0 and model_mse <= v)]
    parts = ([f"better than {' and '.join(better)}"] if better else []) + \
            ([f"WORSE than {' and '.join(worse)}"] if worse else [])
    return " but ".join(parts)


# ---- classifiers ----------------------------------------------------------------------------

def log_softmax(logits):
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def ce_and_accuracy(logits, labels):
    """Per model: mean cross-entropy [M] and accuracy [M] of logits [M, N, K]."""
    logp = log_softmax(logits)
    rows = np.arange(len(labels))
    ce = (-logp[:, rows, labels]).mean(axis=1)
    acc = (np.argmax(logits, axis=-1) == labels[None, :]).mean(axis=1)
    return ce, acc


def confusion(pred, labels, K) -> np.ndarray:
    """K x K counts: row = true class, column = predicted class."""
    c = np.zeros((K, K), np.int64)
    np.add.at(c, (np.asarray(labels, np.int64), np.asarray(pred, np.int64)), 1)
    return c


def class_metrics(logits, labels, K, prefix=""):
    """One model's logits [N, K]: cross-entropy, accuracy, error rate (and for the test split the
    confusion matrix)."""
    ce, acc = ce_and_accuracy(logits[None], labels)
    out = {prefix + "ce": float(ce[0]), prefix + "acc": float(acc[0]), prefix + "err": float(1.0 - acc[0])}
    if prefix == "test_":
        out["test_confusion"] = confusion(np.argmax(logits, -1), labels, K).tolist()
    return out


def class_verdict(acc: float, baselines: dict) -> str:
    """A classifier's accuracy against the baselines' ({label: accuracy}, the same windows), in
    words: "better than nearest centroid (+12.5 points) and 1-NN (+3.0 points)", "better than
    nearest centroid (+4.2 points) but WORSE than 1-NN (-6.7 points)", or "as good as ... (+0.0 points)"."""
    def pts(v):
        return f"{100 * (acc - v):+.1f} points"
    groups = (("better than", [f"{k} ({pts(v)})" for k, v in baselines.items() if acc > v]),
              ("as good as", [f"{k} ({pts(v)})" for k, v in baselines.items() if acc == v]),
              ("WORSE than", [f"{k} ({pts(v)})" for k, v in baselines.items() if acc < v]))
    return " but ".join(f"{word} {' and '.join(items)}" for word, items in groups if items)
