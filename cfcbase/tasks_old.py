"""The tasks of docs/model.md ("The tasks"), their baselines and the first-step floor.

Public API used by the trainer, codegen and host (keep it stable):
    TASKS                      tuple of task names
    load_split(task, split)    -> (x, y), float64 [N, T, 1] each: input x_t, target x_{t+1}
    WASHOUT                    headline metrics use steps t >= WASHOUT
    washout_mse(pred, target)  the MSE over those steps (every stage computes it with this)

Every split is generated from its own fixed seed, so the data never depends on the
training seed: seed k of the factorial sees the same data in every configuration.

A user's own series is a *data task*: the name `data:` + the JSON of its cfcbase.series
SeriesSpec (data_task(spec)), so that a spawned worker process rebuilds the same task from
its name alone; the file is read once per process (cached). Its x is [N, T, I].
"""
from __future__ import annotations

import json

import numpy as np

TASKS = ("sine", "sine-mix")
SPLITS = ("train", "val", "test")
T_STEPS = 50
WASHOUT = 5
SINE_W = 2 * np.pi / 25

SIZES = {"sine": {"train": 32, "val": 64, "test": 256},
         "sine-mix": {"train": 128, "val": 128, "test": 512}}
# one fixed seed per (task, split); never reused for anything else
_SEEDS = {("sine", "train"): 20261, ("sine", "val"): 20262, ("sine", "test"): 20263,
          ("sine-mix", "train"): 30261, ("sine-mix", "val"): 30262, ("sine-mix", "test"): 30263}


DATA_PREFIX = "data:"
AR_ORDER = WASHOUT + 1      # data tasks' AR(p): the whole history of every washout step lies in its window


def is_data_task(task: str) -> bool:
    return isinstance(task, str) and task.startswith(DATA_PREFIX)


def data_task(spec) -> str:
    """The task name of a cfcbase.series.SeriesSpec (or of its dict, spec_dict)."""
    d = spec if isinstance(spec, dict) else spec_dict(spec)
    return DATA_PREFIX + json.dumps(d, sort_keys=True, separators=(",", ":"))


def spec_dict(spec) -> dict:
    """A SeriesSpec as JSON-able fields (data_json of a version-2 artifact without its path and hash)."""
    return {"path": str(spec.path), "inputs": list(spec.inputs), "target": spec.target,
            "horizon": int(spec.horizon), "seq_len": None if spec.seq_len is None else int(spec.seq_len),
            "fractions": [float(f) for f in spec.fractions], "gaps": spec.gaps,
            "max_gap": None if spec.max_gap is None else int(spec.max_gap),
            "difference": (spec.difference if isinstance(spec.difference, str) else
                           {"target": bool(spec.difference["target"]), "inputs": list(spec.difference["inputs"])})}


def data_spec(task):
    """The SeriesSpec of a data task's name (or of a data_json dict). Fields that artifacts written
    before them lack take what those were trained with: gaps refused, levels (no differencing)."""
    from .series import SeriesSpec
    d = json.loads(task[len(DATA_PREFIX):]) if isinstance(task, str) else task
    return SeriesSpec(d["path"], tuple(d["inputs"]), d["target"], d["horizon"], d["seq_len"],
                      tuple(d["fractions"]), d.get("gaps", "refuse"), d.get("max_gap"),
                      d.get("difference", "none"))


def resolve_data_task(spec):
    """(task name, SeriesData) of a SeriesSpec whose defaults (inputs, seq_len, gaps, difference)
    are resolved from the file first: the name carries the resolved spec, so a worker process
    rebuilds the same data from it. SeriesError on bad data or options."""
    from .series import build
    d = build(spec)
    task = data_task(d.spec)
    _DATA[task] = d
    return task, d


_DATA: dict = {}


def series_data(task: str):
    """The cfcbase.series.SeriesData of a data task (built once per process)."""
    if task not in _DATA:
        from .series import build
        _DATA[task] = build(data_spec(task))
    return _DATA[task]


def n_inputs(task: str) -> int:
    """I, inputs per step."""
    return len(series_data(task).inputs) if is_data_task(task) else 1


def label(task: str) -> str:
    """A short name for titles: the task, or the data file's name."""
    if not is_data_task(task):
        return task
    d = json.loads(task[len(DATA_PREFIX):])
    return d["path"].rsplit("/", 1)[-1]


def artifact_task(art, data_path=None) -> str:
    """The task an artifact (cfcbase.artifact.Artifact) was trained on: its `task`, or for a
    version-2 artifact the data task of its spec: its file found relative to the artifact and
    checked against its hash (cfcbase.series.locate_data: DataNotFound, DataChanged), or
    ``data_path`` instead."""
    if art.data is None:
        return art.task
    from .series import locate_data
    d = {k: v for k, v in art.data.items() if k != "sha256"}
    d["path"] = locate_data(art, data_path)[0]
    return data_task(d)


def check_task(task: str) -> str:
    if is_data_task(task):
        return task
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r} (known: {', '.join(TASKS)})")
    return task


def _generate(task: str, n: int, rng: np.random.Generator):
    t = np.arange(T_STEPS + 1, dtype=np.float64)[None, :]
    if task == "sine":
        phi = rng.uniform(0.0, 2 * np.pi, (n, 1))
        s = np.sin(SINE_W * t + phi)
        x = s[:, :-1]
    else:
        w = rng.uniform(2 * np.pi / 40, 2 * np.pi / 10, (n, 1))
        amp = rng.uniform(0.5, 1.0, (n, 1))
        phi = rng.uniform(0.0, 2 * np.pi, (n, 1))
        s = amp * np.sin(w * t + phi)
        x = s[:, :-1] + rng.normal(0.0, 0.02, (n, T_STEPS))   # noisy inputs, clean targets
    return x[:, :, None].copy(), s[:, 1:, None].copy()


_CACHE: dict = {}


def load_split(task: str, split: str):
    """(x, y) float64 [N, T, 1]: x_t and the clean next sample; deterministic per (task, split)."""
    check_task(task)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} for task {task!r} (known: {', '.join(SPLITS)})")
    if is_data_task(task):
        d = series_data(task)
        return d.x[split].copy(), d.y[split].copy()
    key = (task, split)
    if key not in _CACHE:
        _CACHE[key] = _generate(task, SIZES[task][split], np.random.default_rng(_SEEDS[key]))
    x, y = _CACHE[key]
    return x.copy(), y.copy()


# ---- metrics ---------------------------------------------------------------------------

def washout_mse(pred, target, time_axis=1, axis=None):
    """Mean squared error over the steps t >= WASHOUT: time on ``time_axis`` (default: [N, T]
    arrays), averaged over ``axis`` (default all; an ndarray then, else a float)."""
    e = np.asarray(pred, np.float64) - np.asarray(target, np.float64)
    e = e * e
    keep = [slice(None)] * e.ndim
    keep[time_axis] = slice(WASHOUT, None)
    m = e[tuple(keep)].mean(axis=axis)
    return float(m) if axis is None else m


def metrics(pred, y, prefix=""):
    """MSE over all steps, washout MSE (t >= WASHOUT) and NMSE (washout MSE / target variance)."""
    pred = np.asarray(pred, np.float64).reshape(y.shape[0], y.shape[1])
    y2 = y.reshape(y.shape[0], y.shape[1])
    e = pred - y2
    mse_w = washout_mse(pred, y2)
    return {prefix + "mse": float((e * e).mean()), prefix + "mse_washout": mse_w,
            prefix + "nmse_washout": mse_w / float(y2[:, WASHOUT:].var())}


# ---- baselines -------------------------------------------------------------------------

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


def _data_ar(d):
    """AR(p) coefficients on the target's levels: its own last p values at the input's row -> its
    level at the target's row, least squares over the training block."""
    return ar_fit(d.now["train"], d.ylev["train"], AR_ORDER)


def data_baselines(task: str) -> dict:
    """A data task's persistence (the target's level at the input's row) and AR(p) on the target's
    own past levels (fitted on the training block) on the test block, as level forecasts; their
    metrics in the model's scaled units (a differenced model: its change's units, where a level
    forecast's error is its change's error)."""
    d = series_data(task)
    y = d.y["test"]
    coef = _data_ar(d)
    return {"persistence": metrics(d.level_to_model(d.now["test"], "test"), y, "test_"),
            "ar": dict(metrics(d.level_to_model(ar_design(d.now["test"], AR_ORDER) @ coef, "test"), y, "test_"),
                       p=AR_ORDER, coef=[float(c) for c in coef])}


def baseline_predictions(task: str, split: str = "test") -> dict:
    """The baselines' forecasts of a split in the model's units, {label: float64 [N, T]}:
    persistence and AR(2) (pinned tasks) or AR(p) (data tasks: level forecasts, data_baselines)."""
    if is_data_task(task):
        d = series_data(task)
        ar = ar_design(d.now[split], AR_ORDER) @ _data_ar(d)
        return {"persistence": d.level_to_model(d.now[split], split), f"AR({AR_ORDER})": d.level_to_model(ar, split)}
    xtr, ytr = load_split(task, "train")
    x, _ = load_split(task, split)
    return {"persistence": persistence_predict(x), "AR(2)": ar2_predict(ar2_fit(xtr, ytr), x)}


def baselines(task: str) -> dict:
    """Persistence and AR(2) (fitted on train) on the test split; data tasks: data_baselines."""
    if is_data_task(task):
        return data_baselines(task)
    xtr, ytr = load_split(task, "train")
    x, y = load_split(task, "test")
    coef = ar2_fit(xtr, ytr)
    return {"persistence": metrics(persistence_predict(x), y, "test_"),
            "ar2": dict(metrics(ar2_predict(coef, x), y, "test_"), coef=[float(c) for c in coef])}


def _ratio(r) -> str:
    return f"{r:.2f}" if 0.01 <= r < 1000 else f"{r:.2e}"


EXACT_MSE = 1e-20                      # scaled units: a baseline below this is exact up to float64 rounding


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


def first_step_floor(task: str, n: int = 400_000, bins: int = 400) -> dict:
    """The MSE floor from the ambiguous first step: from x_0 alone the phase direction is unknown.

    Step-0 Bayes error E[(y_0 - E[y_0 | x_0])^2]; since later steps can in principle be
    predicted (exactly for `sine`), the all-step MSE floor is that error / T.
    `sine`: analytic, sin(w)^2 / 2 (E[y_0|x_0] = x_0 cos w). `sine-mix`: Monte Carlo with a
    binned conditional mean (also a lower bound only: w and A stay uncertain a few steps).
    """
    check_task(task)
    if is_data_task(task):
        return None                      # unknown for a user's series
    if task == "sine":
        step0 = float(np.sin(SINE_W) ** 2 / 2)
        how = "analytic sin(w)^2/2"
    else:
        rng = np.random.default_rng(777)
        x, y = _generate(task, n, rng)
        x0, y0 = x[:, 0, 0], y[:, 0, 0]
        edges = np.quantile(x0, np.linspace(0, 1, bins + 1))
        idx = np.clip(np.searchsorted(edges, x0, side="right") - 1, 0, bins - 1)
        cnt = np.bincount(idx, minlength=bins)
        mean = np.bincount(idx, y0, minlength=bins) / np.maximum(cnt, 1)
        step0 = float(np.mean((y0 - mean[idx]) ** 2))
        how = f"Monte Carlo, {n} sequences, {bins}-bin conditional mean"
    return {"step0_mse": step0, "all_step_floor": step0 / T_STEPS, "how": how}
