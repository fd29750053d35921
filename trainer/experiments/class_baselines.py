"""`python -m trainer baselines`: the classic baselines of a labelled task on its test windows,
the figures a classifier is judged against (docs/model.md, "The baselines"):

  nearest centroid   the class whose mean training window is nearest (Euclidean)
  1-NN               the class of the nearest training window (Euclidean, as the factorial reports)
  1-NN DTW           the class of the nearest training window under dynamic time warping (full
                     window; several channels: one warping path for all, cfcbase.baselines)

each fitted on the factorial's training split (the windows the models learn from) and, for the
DTW, also on the training and validation windows together (every window of the training file, as
a benchmark archive's own split is used). Windows of their own lengths are compared on their own
steps by the DTW. Writes OUT/baselines.json (default: the task's results directory).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from cfcbase.baselines import one_nn_dtw, pad_steps
from cfcbase.fileio import atomic_write

from ..errors import TrainerError


def window_steps(task, split) -> np.ndarray:
    """Each window's own steps, int64 [N] (every window's T where the task has one length)."""
    x, _ = task.split(split)
    n = task.lengths(split)
    return np.full(len(x), x.shape[1], np.int64) if n is None else np.asarray(n, np.int64)


def run(task, out: str, command: str, progress=print) -> dict:
    """The baselines of a task (RUNS by its head): a classifier's test accuracies, written to
    out/baselines.json."""
    runner = RUNS.get(task.head_kind)
    if runner is None:
        raise TrainerError(f"baselines: {task.label()} is a forecasting task; its baselines (persistence, AR(p)) "
                           "are in its factorial's report")
    return runner(task, out, command, progress)


def run_classifier(task, out: str, command: str, progress=print) -> dict:
    xtr, ytr = task.split("train")
    xva, yva = task.split("val")
    x, y = task.split("test")
    ltr, lva, lx = (window_steps(task, s) for s in ("train", "val", "test"))
    res = {k: {"test_acc": v["test_acc"], "fit_on": "train"} for k, v in task.baselines().items()}
    t0 = time.perf_counter()
    progress(f"baselines: 1-NN DTW of {len(x)} test windows against {len(xtr)} training windows "
             f"(up to {x.shape[1]} x {xtr.shape[1]} steps)")
    pred = one_nn_dtw(xtr, ytr, ltr, x, lx)
    res["1-NN DTW"] = {"test_acc": float(np.mean(pred == y)), "fit_on": "train",
                       "seconds": round(time.perf_counter() - t0, 1)}
    t0 = time.perf_counter()
    T = max(xtr.shape[1], xva.shape[1])
    xall = np.concatenate([pad_steps(xtr, T), pad_steps(xva, T)])
    pred = one_nn_dtw(xall, np.concatenate([ytr, yva]), np.concatenate([ltr, lva]), x, lx)
    res["1-NN DTW, train + val"] = {"test_acc": float(np.mean(pred == y)), "fit_on": "train+val",
                                    "seconds": round(time.perf_counter() - t0, 1)}
    rec = {"command": command, "task_key": task.key(), "label": task.label(),
           "windows": {"train": int(len(xtr)), "val": int(len(xva)), "test": int(len(x))}, "baselines": res}
    path = Path(out) / "baselines.json"
    Path(out).mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write((json.dumps(rec, indent=1, sort_keys=True) + "\n").encode()))
    return rec


RUNS = {"classifier": run_classifier}        # by cfcbase task.head_kind


def lines(rec: dict) -> list:
    """The record in words: one line per baseline."""
    w = rec["windows"]
    return [f"{rec['label']}: {k} {100 * v['test_acc']:.1f} % of {w['test']} test windows (fitted on "
            f"{w['train'] if v['fit_on'] == 'train' else w['train'] + w['val']} windows: {v['fit_on']})"
            for k, v in rec["baselines"].items()]
