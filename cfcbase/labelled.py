"""Labelled windows for classification: the splits, the scaling, the tasks (the file formats:
cfcbase.labelled_files).

    read_labelled(path)                -> Labelled: x [N, T, C], class indices y [N], class names
                                          (cfcbase.labelled_files)
    LabelledSpec(train, test, val_fraction)
    build(spec)                        -> LabelledData: x and y per split, the scaling, sizes

The task of such files is cfcbase.labelled_task.LabelledTask.

A classification task gives one label per window (case): K logits from the hidden state after
the window (docs/model.md, "Classification"). Two file formats (docs/model.md), read by
cfcbase.labelled_files: UCR/UEA `.ts` and `.npz`.

Splits: the TRAIN file gives train and a stratified validation part (per class, a fixed
share VAL_FRACTION of its cases drawn with the fixed seed VAL_SEED; at least one when the class
has two or more, never all of them), the TEST file the test split. Scaling per channel is
fitted on the training part alone, as for a series (cfcbase.series: offset the mean, scale the
largest |v - offset|), so the training windows fill [-1, 1].

A file may come from anywhere: it is read within cfcbase.datafile's bounds (size on disk, line
length, values, magnitude) and cfcbase.labelled_files' (cases, channels, classes); every problem
is one SeriesError line naming the file and the line (or case) and what is at fault: a case of
another length, an unknown label, a missing or non-finite value, a class without a case.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .table import SeriesError, quote
from .labelled_files import bad_file, read_labelled
from .series import MAX_SCALED

VAL_FRACTION = 0.2             # of each class's TRAIN cases, for validation (--val-fraction)
VAL_SEED = 20_251              # the stratified split's fixed seed (never the training seed)
SPLITS = ("train", "val", "test")


# ---- the task -------------------------------------------------------------------------------

@dataclass
class LabelledSpec:
    train: str
    test: str
    val_fraction: float = VAL_FRACTION


@dataclass
class LabelledData:
    spec: LabelledSpec
    classes: list
    channels: list
    offset: np.ndarray                           # per channel, fitted on the training part
    scale: np.ndarray
    x: dict = field(default_factory=dict)        # split -> float64 [N, T, C], scaled (0 past a case's length)
    y: dict = field(default_factory=dict)        # split -> int64 [N]
    lengths: dict = field(default_factory=dict)  # split -> int64 [N]: each window's steps
    problem: str | None = None

    def sizes(self) -> str:
        return ", ".join(f"{s} {len(self.y[s])} ({', '.join(str(int(n)) for n in counts(self.y[s], len(self.classes)))})"
                         for s in SPLITS) + f" cases per class ({', '.join(self.classes)})"


def counts(y, K) -> np.ndarray:
    return np.bincount(np.asarray(y, np.int64), minlength=K)


def default_test_path(train: str) -> str | None:
    """The UCR convention: NAME_TRAIN.ext -> NAME_TEST.ext (None if the name does not follow it)."""
    head, _, tail = str(train).rpartition("/")
    stem, ext = os.path.splitext(tail)
    for a, b in (("_TRAIN", "_TEST"), ("_train", "_test")):
        if stem.endswith(a):
            return (head + "/" if head else "") + stem[: -len(a)] + b + ext
    return None


def stratified_split(y, K, val_fraction, seed=VAL_SEED):
    """(train indices, val indices) of the TRAIN file's cases, both in file order: per class,
    round(val_fraction * n) of its n cases (at least 1 when n >= 2, at most n - 1) drawn with a
    generator seeded by (seed, class index)."""
    tr, va = [], []
    for k in range(K):
        idx = np.flatnonzero(y == k)
        n = len(idx)
        v = min(max(int(round(val_fraction * n)), 1 if n >= 2 else 0), n - 1) if n else 0
        pick = np.random.default_rng([seed, k]).permutation(n)[:v]
        va += idx[pick].tolist()
        tr += np.delete(idx, pick).tolist()
    return np.array(sorted(tr), np.int64), np.array(sorted(va), np.int64)


def _check_spec(spec):
    f = spec.val_fraction
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not (0 < f < 1):
        raise SeriesError(f"--val-fraction must be a number in (0, 1), got {f!r}")


def build(spec: LabelledSpec) -> LabelledData:
    """Read both files, check they agree (classes, channels, length), split, scale."""
    _check_spec(spec)
    tr = read_labelled(spec.train)
    te = read_labelled(spec.test)
    if te.classes != tr.classes:
        where = f"line {te.class_line}" if te.class_line else "classes"
        bad_file(te.path, f"{where}: classes {', '.join(te.classes)}; the TRAIN file {tr.path} declares "
                      f"{', '.join(tr.classes)} (the same names in the same order)")
    if te.x.shape[2] != tr.x.shape[2]:
        bad_file(te.path, f"{te.where(0)}: {te.x.shape[2]} channel(s), the TRAIN file {tr.x.shape[2]}")
    K = len(tr.classes)
    n = counts(tr.y, K)
    for k in range(K):
        if n[k] == 0:
            where = f"@classLabel on line {tr.class_line}" if tr.class_line else "classes"
            bad_file(tr.path, f"{where}: class {quote(tr.classes[k])} has no case in the file (every class needs "
                          f"training cases)")
    a, b = stratified_split(tr.y, K, spec.val_fraction)
    valid = np.arange(tr.x.shape[1])[None, :] < tr.lengths[a][:, None]     # the training cases' own steps
    xtr = tr.x[a][valid]                                                     # [steps, C]
    offset = xtr.mean(0)
    spread = np.abs(xtr - offset).max(0)
    for j, s in enumerate(spread):
        if not s > 0:
            bad_file(tr.path, f"channel {quote(tr.channels[j])} is constant over the training cases; it carries no "
                          f"signal (drop it)")
    out = LabelledData(spec, list(tr.classes), list(tr.channels), offset, spread, problem=tr.problem)
    for s, (src, idx) in {"train": (tr, a), "val": (tr, b), "test": (te, np.arange(len(te.y)))}.items():
        n = src.lengths[idx]
        past = np.arange(src.x.shape[1])[None, :] >= n[:, None]
        x = (src.x[idx] - offset) / spread
        x[past] = 0.0                                  # padding stays 0 (not data: never read as a step)
        far = ~(np.abs(x) <= MAX_SCALED)
        if far.any():
            i, t, c = (int(v) for v in np.argwhere(far)[0])
            bad_file(src.path, f"{src.where(int(idx[i]))}: channel {c}, value {t}: {src.x[idx[i], t, c]:g} lies "
                           f"{abs(x[i, t, c]):.3g} times the training cases' range from their mean (at most "
                           f"{MAX_SCALED:g}; the scaling is fitted on the training cases)")
        out.x[s], out.y[s], out.lengths[s] = np.ascontiguousarray(x), src.y[idx].copy(), n.copy()
    if len(out.y["val"]) == 0:
        bad_file(tr.path, "no class has two cases: nothing for the validation split")
    return out


# ---- the spec as best.npz records it ----------------------------------------------------------

def spec_dict(spec: LabelledSpec) -> dict:
    return {"train": str(spec.train), "test": str(spec.test), "val_fraction": float(spec.val_fraction)}
