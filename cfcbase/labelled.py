"""Labelled windows for classification: the splits, the scaling, the tasks (the file formats:
cfcbase.labelled_files).

    read_labelled(path)                -> Labelled: x [N, T, C], class indices y [N], class names
                                          (cfcbase.labelled_files)
    LabelledSpec(train, test, val_fraction)
    build(spec)                        -> LabelledData: x and y per split, the scaling, sizes
    load_labelled(task, split)         -> (x float64 [N, T, I], y int64 [N]) of a classification task
    CLASSIFY_TASKS                     the pinned synthetic classification tasks ("waves3")

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

import json
import os
from dataclasses import dataclass, field

import numpy as np

from . import datafile
from .datafile import SeriesError, _q
from .labelled_files import _bad, read_labelled

VAL_FRACTION = 0.2             # of each class's TRAIN cases, for validation (--val-fraction)
VAL_SEED = 20_251              # the stratified split's fixed seed (never the training seed)
LABELLED_PREFIX = "labelled:"
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
    x: dict = field(default_factory=dict)        # split -> float64 [N, T, C], scaled
    y: dict = field(default_factory=dict)        # split -> int64 [N]
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
        _bad(te.path, f"{where}: classes {', '.join(te.classes)}; the TRAIN file {tr.path} declares "
                      f"{', '.join(tr.classes)} (the same names in the same order)")
    if te.x.shape[2] != tr.x.shape[2]:
        _bad(te.path, f"{te.where(0)}: {te.x.shape[2]} channel(s), the TRAIN file {tr.x.shape[2]}")
    if te.x.shape[1] != tr.x.shape[1]:
        _bad(te.path, f"{te.where(0)}: cases of {te.x.shape[1]} steps, the TRAIN file's {tr.x.shape[1]} "
                      f"(unequal lengths are not read)")
    K = len(tr.classes)
    n = counts(tr.y, K)
    for k in range(K):
        if n[k] == 0:
            where = f"@classLabel on line {tr.class_line}" if tr.class_line else "classes"
            _bad(tr.path, f"{where}: class {_q(tr.classes[k])} has no case in the file (every class needs "
                          f"training cases)")
    a, b = stratified_split(tr.y, K, spec.val_fraction)
    xtr = tr.x[a]
    offset = xtr.reshape(-1, xtr.shape[2]).mean(0)
    spread = np.abs(xtr - offset).reshape(-1, xtr.shape[2]).max(0)
    for j, s in enumerate(spread):
        if not s > 0:
            _bad(tr.path, f"channel {_q(tr.channels[j])} is constant over the training cases; it carries no "
                          f"signal (drop it)")
    out = LabelledData(spec, list(tr.classes), list(tr.channels), offset, spread, problem=tr.problem)
    from .series import MAX_SCALED
    for s, (src, idx) in {"train": (tr, a), "val": (tr, b), "test": (te, np.arange(len(te.y)))}.items():
        x = (src.x[idx] - offset) / spread
        far = ~(np.abs(x) <= MAX_SCALED)
        if far.any():
            i, t, c = (int(v) for v in np.argwhere(far)[0])
            _bad(src.path, f"{src.where(int(idx[i]))}: channel {c}, value {t}: {src.x[idx[i], t, c]:g} lies "
                           f"{abs(x[i, t, c]):.3g} times the training cases' range from their mean (at most "
                           f"{MAX_SCALED:g}; the scaling is fitted on the training cases)")
        out.x[s], out.y[s] = np.ascontiguousarray(x), src.y[idx].copy()
    if len(out.y["val"]) == 0:
        _bad(tr.path, "no class has two cases: nothing for the validation split")
    return out


# ---- task names ----------------------------------------------------------------------------

def spec_dict(spec: LabelledSpec) -> dict:
    return {"train": str(spec.train), "test": str(spec.test), "val_fraction": float(spec.val_fraction)}


def labelled_task(spec) -> str:
    d = spec if isinstance(spec, dict) else spec_dict(spec)
    return LABELLED_PREFIX + json.dumps(d, sort_keys=True, separators=(",", ":"))


def labelled_spec(task: str) -> LabelledSpec:
    d = json.loads(task[len(LABELLED_PREFIX):])
    return LabelledSpec(d["train"], d["test"], d["val_fraction"])


def is_labelled_task(task) -> bool:
    return isinstance(task, str) and task.startswith(LABELLED_PREFIX)


_DATA: dict = {}


def labelled_data(task: str) -> LabelledData:
    """The LabelledData of a labelled-file task (built once per process)."""
    if task not in _DATA:
        _DATA[task] = build(labelled_spec(task))
    return _DATA[task]


# ---- the pinned synthetic task ----------------------------------------------------------------

WAVES3_STEPS = 32
WAVES3_CLASSES = ("slow", "fast", "saw")
WAVES3_SIZES = {"train": 96, "val": 48, "test": 96}
_WAVES3_SEEDS = {"train": 40261, "val": 40262, "test": 40263}
CLASSIFY_TASKS = ("waves3",)


def _waves3(n, rng):
    """n cases of 32 steps, one input: a slow sine (period 14-20 steps), a fast one (5-8) or a
    sawtooth (period 10-16), random amplitude 0.5-1 and phase, Gaussian noise sd 0.1;
    classes in turn (balanced)."""
    y = np.arange(n) % 3
    t = np.arange(WAVES3_STEPS)[None, :]
    period = np.where(y == 0, rng.uniform(14, 20, n), np.where(y == 1, rng.uniform(5, 8, n), rng.uniform(10, 16, n)))
    phase = rng.uniform(0, 1, n)
    amp = rng.uniform(0.5, 1.0, n)
    u = t / period[:, None] + phase[:, None]
    sine = np.sin(2 * np.pi * u)
    saw = 2 * (u - np.floor(u + 0.5))
    x = amp[:, None] * np.where((y == 2)[:, None], saw, sine) + rng.normal(0, 0.1, (n, WAVES3_STEPS))
    return x[:, :, None], y.astype(np.int64)


_CACHE: dict = {}


def is_classify_task(task) -> bool:
    """A classification task: a pinned synthetic one (CLASSIFY_TASKS) or a labelled file's."""
    return task in CLASSIFY_TASKS or is_labelled_task(task)


def load_labelled(task: str, split: str):
    """(x float64 [N, T, I], y int64 [N]) of a classification task's split (copies)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} for task {task!r} (known: {', '.join(SPLITS)})")
    if is_labelled_task(task):
        d = labelled_data(task)
        return d.x[split].copy(), d.y[split].copy()
    if task not in CLASSIFY_TASKS:
        raise ValueError(f"unknown classification task {task!r} (known: {', '.join(CLASSIFY_TASKS)})")
    if (task, split) not in _CACHE:
        _CACHE[task, split] = _waves3(WAVES3_SIZES[split], np.random.default_rng(_WAVES3_SEEDS[split]))
    x, y = _CACHE[task, split]
    return x.copy(), y.copy()


def class_names(task: str) -> list:
    return list(labelled_data(task).classes) if is_labelled_task(task) else list(WAVES3_CLASSES)


def n_inputs(task: str) -> int:
    return len(labelled_data(task).channels) if is_labelled_task(task) else 1


def channel_names(task: str) -> list:
    return list(labelled_data(task).channels) if is_labelled_task(task) else ["x"]


def label(task: str) -> str:
    """A short name: the pinned task's, or the TRAIN file's problem (its name without _TRAIN)."""
    if not is_labelled_task(task):
        return task
    d = json.loads(task[len(LABELLED_PREFIX):])
    stem = os.path.splitext(d["train"].rsplit("/", 1)[-1])[0]
    return stem[:-6] if stem.upper().endswith("_TRAIN") else stem


# ---- a classifier's own data (cfcbase.artifact, version 3) ------------------------------------------

def artifact_file(art, p: str) -> str:
    """A labelled classifier's file as the artifact records it (docs/artifact.md): pkg:PACKAGE/PATH,
    or relative to the artifact's directory (a file written before paths were relative to it:
    the current directory)."""
    if p.startswith(datafile.PKG_PREFIX) or art.path == "<memory>":
        return p
    beside = datafile.beside_artifact(art, p)
    return beside if os.path.exists(beside) or not os.path.exists(p) else p


def artifact_task(art, test_path=None) -> str:
    """The classification task of a classifier artifact: its pinned task, or for task `labelled`
    the task of its files (``test_path`` instead of its TEST file)."""
    if art.labelled is None:
        return art.task
    d = art.labelled
    return labelled_task({"train": artifact_file(art, d["train"]), "test": str(test_path or artifact_file(art, d["test"])),
                          "val_fraction": d["val_fraction"]})


def artifact_windows(art, split, test_path=None):
    """(x float64 [N, T, I] scaled as the model's inputs, y int64 [N], where they came from) of a
    classifier artifact's split. For a labelled file the test split is the TEST file (or
    ``test_path``) alone, scaled with the artifact's scaling (no TRAIN file needed); the
    validation split is rebuilt from both files. The file's classes and channels must be the
    artifact's (one SeriesError line otherwise)."""
    if art.labelled is None:
        x, y = load_labelled(art.task, split)
        return x, y, f"{art.task} {split} set (cfcbase.labelled)"
    d = art.labelled
    sc = art.scaling
    if split == "test":
        lab = read_labelled(test_path or artifact_file(art, d["test"]))
        raw = lab.x
        if lab.classes != art.head["classes"]:
            _bad(lab.path, f"classes {', '.join(lab.classes)}; the model's are {', '.join(art.head['classes'])}")
    else:
        ld = labelled_data(artifact_task(art, test_path))
        if ld.classes != art.head["classes"]:
            _bad(d["train"], f"classes {', '.join(ld.classes)}; the model's are {', '.join(art.head['classes'])}")
        raw, lab = ld.x[split] * ld.scale + ld.offset, None
        y = ld.y[split]
    if raw.shape[2] != art.I:
        _bad(test_path or d["test"], f"{raw.shape[2]} channel(s), the model I = {art.I}")
    x = (raw - sc["input_offset"]) / sc["input_scale"]
    if lab is not None:
        y = lab.y
        return x, y.copy(), f"{lab.path} ({len(y)} windows of {x.shape[1]} steps)"
    return x, y.copy(), f"{d['train']} {split} split ({len(y)} windows of {x.shape[1]} steps)"
