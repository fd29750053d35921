"""The TFLM peer of a committed frontier (`python -m trainer peers DIR`): what a user would deploy
instead of trixcfc, measured on the same splits (benchmark only; needs tensorflow and tflite-micro,
which are not dependencies of the project: `pip install tensorflow==2.21.0 tflite-micro`).

The peer is a Keras GRU (reset_after, the Keras default) with a Dense readout (of every step's
state for a forecast; of the window's last state for a classifier: PEER_HEADS), trained in float
on the frontier's task and seeds for the frontier's student epochs, at the widths whose int8 weight
bytes come closest to the frontier's ternary points from below. It is deployed the way a
microcontroller runs a recurrent model step by step, which is also how trixcfc's firmware runs:
one cell step as a TFLite graph

    [z r n]_x = x W + b_x,  [z r n]_h = h U + b_h
    z = sigmoid(z_x + z_h),  r = sigmoid(r_x + r_h),  n = tanh(n_x + r * n_h)
    h' = z * h + (1 - z) * n,  y = h' W_o + b_o

converted to a fully int8 TFLite model (post-training quantization calibrated on training states)
and run in the TFLM interpreter (`tflite_micro.runtime`) once per step, the state output
requantized to the state input's scale between steps (one multiply per element on a device).
Reported per width: the frontier's test score (washout MSE, or accuracy) of the float GRU and of
TFLM int8, the flatbuffer bytes,
the smallest arena TFLM accepts, and the same model with TFLM's 2-bit LUT compression: each weight
row clustered to 4 values (1-D k-means) and fine-tuned with the clusters held, then compressed
(`tflite_micro.tensorflow.lite.micro.compression`, DECODE operators in the graph).
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import importlib
import inspect
import json
import multiprocessing
import os
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np

from cfcbase.fileio import atomic_write, write_file_set
from cfcbase.metrics import washout_mse
from cfcbase.tasks import task_from_key

from ..errors import TrainerError
from ..reports.frontier_report import SCORES
from ..reports.peers_report import markdown
from ..reports.stats import t_cdf
from .class_baselines import window_steps

BATCH = 32
LR = 1e-2
EVAL_EVERY = 10                 # epochs between validation checks (the best one is kept)
CALIBRATION_STEPS = 400         # (window, step) samples of the representative data set
CLUSTERS = 4                    # the 2-bit LUT: 4 values per weight row
ARENA_MAX = 1 << 20


def _tf():
    """tensorflow and tflite_micro.runtime, or one line saying how to install them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
            import tensorflow as tf  # noqa: PLC0415  (benchmark-only dependency, imported when run)
            from tflite_micro.python.tflite_micro import runtime  # noqa: PLC0415
    except ImportError as e:
        raise TrainerError(f"the TFLM peer needs tensorflow and tflite-micro ({e.name} is missing): "
                           "pip install tensorflow==2.21.0 tflite-micro") from None
    try:        # one thread per job (jobs run side by side) and the same numbers on every rerun
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.experimental.enable_op_determinism()
    except RuntimeError:        # already set in this process
        pass
    return tf, runtime


def versions() -> dict:
    tf, _ = _tf()
    return {"tensorflow": tf.__version__, "tflite-micro": version("tflite-micro"),
            "keras": version("keras"), "numpy": np.__version__}


def gru_weights(H: int, I: int, O: int) -> int:
    """Weights of a GRU of width H with I inputs and an O-output Dense readout (biases apart, as the
    frontier counts trixcfc's weight bytes)."""
    return 3 * H * (I + H) + H * O


def gru_width(weight_bytes: int, I: int, O: int) -> int:
    """The widest GRU whose int8 weights take at most weight_bytes (at least 1)."""
    H = 1
    while gru_weights(H + 1, I, O) <= weight_bytes:
        H += 1
    return H


def _f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


class ForecastPeer:
    """A value per step: the Dense readout of every step's state, trained on the MSE over all
    steps (as trixcfc's trainer), selected and scored on the washout MSE."""
    kind = "readout"
    words = "a Dense readout of every step's state"

    def outputs(self, task) -> int:
        y = task.split("train")[1]
        return y.shape[2] if y.ndim == 3 else 1

    def targets(self, y):
        return _f32(y if y.ndim == 3 else y[..., None])

    def loss(self, tf, out, y, last):
        return tf.reduce_mean(tf.square(out - y))

    def val_score(self, pred, y, last) -> float:
        """Lower is better."""
        return washout_mse(pred[..., 0], y[..., 0])

    def test_score(self, pred, y, last) -> float:
        return washout_mse(pred[..., 0], y[..., 0])


class ClassifierPeer:
    """A class per window, the Keras GRU classifier: the Dense readout of the window's last
    state, trained on the cross-entropy, selected on the validation cross-entropy, scored by the
    test accuracy (windows of their own lengths end at their own last step)."""
    kind = "classifier"
    words = "a Dense readout of the window's last state (the Keras GRU classifier)"

    def outputs(self, task) -> int:
        return task.K

    def targets(self, y):
        return np.asarray(y, np.int32)

    def loss(self, tf, out, y, last):
        logits = tf.gather(out, last, axis=1, batch_dims=1)
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))

    @staticmethod
    def _last(pred, last):
        return pred[np.arange(len(last)), last]

    def val_score(self, pred, y, last) -> float:
        z = self._last(pred, last).astype(np.float64)
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(y)), y].mean())

    def test_score(self, pred, y, last) -> float:
        return float(np.mean(self._last(pred, last).argmax(axis=1) == y))


PEER_HEADS = {"readout": ForecastPeer(), "classifier": ClassifierPeer()}   # by cfcbase task.head_kind


def _data(task, head):
    """{split: (x float32 [N, T, I], targets, the index of each window's last step [N])}."""
    out = {}
    for s in ("train", "val", "test"):
        x, y = task.split(s)
        out[s] = (_f32(x), head.targets(y), (window_steps(task, s) - 1).astype(np.int32))
    return out


class Gru:
    """A Keras GRU + Dense of width H (float), trained with Adam on the peer head's loss."""

    def __init__(self, tf, head, H, I, O, seed):
        tf.keras.utils.set_random_seed(seed)
        self.tf, self.H, self.head = tf, H, head
        self.gru = tf.keras.layers.GRU(H, return_sequences=True)
        self.dense = tf.keras.layers.Dense(O)
        inp = tf.keras.Input((None, I))
        self.states = tf.keras.Model(inp, self.gru(inp))
        self.model = tf.keras.Model(inp, self.dense(self.gru(inp)))
        self.opt = tf.keras.optimizers.Adam(LR, clipnorm=1.0)
        self.projection = None          # (indices per weight) while fine-tuning with clusters held

        @tf.function
        def step(x, y, last):
            with tf.GradientTape() as tape:
                loss = head.loss(tf, self.model(x, training=True), y, last)
            g = tape.gradient(loss, self.model.trainable_variables)
            self.opt.apply_gradients(zip(g, self.model.trainable_variables))
            return loss

        self._step, self._pred = step, tf.function(lambda x: self.model(x))

    def predict(self, x):
        return self._pred(x).numpy()

    def weights(self) -> dict:
        W, U, b = (v.numpy() for v in self.gru.weights)
        Wo, bo = (v.numpy() for v in self.dense.weights)
        return {"W": W, "U": U, "b_x": b[0], "b_h": b[1], "W_o": Wo, "b_o": bo}

    def matrices(self):
        return [self.gru.weights[0], self.gru.weights[1], self.dense.weights[0]]

    def fit(self, data, epochs, seed):
        xtr, ytr, ltr = data["train"]
        xva, yva, lva = data["val"]
        rng = np.random.default_rng(seed)
        best, best_w = np.inf, None
        for ep in range(epochs):
            order = rng.permutation(len(xtr))
            for k in range(0, len(xtr), BATCH):
                j = order[k:k + BATCH]
                self._step(xtr[j], ytr[j], ltr[j])
                if self.projection is not None:
                    self._project()
            if ep % EVAL_EVERY == EVAL_EVERY - 1 or ep == epochs - 1:
                v = self.head.val_score(self.predict(xva), yva, lva)
                if np.isfinite(v) and v < best:
                    best, best_w = v, [w.numpy() for w in self.model.weights]
        if best_w is not None:
            for w, v in zip(self.model.weights, best_w):
                w.assign(v)
        return best

    # ---- 2-bit clustering (TFLM's LUT compression needs at most 4 values per row) -------------
    def cluster(self):
        """Each output row of every weight matrix (a column of Keras' [in, out] kernel) to
        CLUSTERS values by 1-D k-means; the assignment is then held while fine-tuning."""
        self.projection = []
        for var in self.matrices():
            w = var.numpy()
            idx = np.zeros(w.shape, np.int64)
            for c in range(w.shape[1]):
                idx[:, c] = kmeans_1d(w[:, c], CLUSTERS)
            self.projection.append(idx)
        self._project()

    def _project(self):
        for var, idx in zip(self.matrices(), self.projection):
            w = var.numpy()
            out = np.empty_like(w)
            for c in range(w.shape[1]):
                for k in range(CLUSTERS):
                    m = idx[:, c] == k
                    if m.any():
                        out[m, c] = w[m, c].mean()
            var.assign(out)


def kmeans_1d(v: np.ndarray, k: int, iters: int = 50) -> np.ndarray:
    """Cluster indices of the values v into k groups (Lloyd's iterations from the quantiles)."""
    centers = np.quantile(v, (np.arange(k) + 0.5) / k)
    for _ in range(iters):
        idx = np.abs(v[:, None] - centers[None, :]).argmin(1)
        new = np.array([v[idx == j].mean() if (idx == j).any() else centers[j] for j in range(k)])
        if np.allclose(new, centers):
            break
        centers = new
    return np.abs(v[:, None] - centers[None, :]).argmin(1)


@contextlib.contextmanager
def _quiet_fd2():
    """The C-level stderr silenced (TFLite's converter and TFLM print there)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def step_flatbuffer(tf, w: dict, calibration) -> bytes:
    """One GRU step (module docstring) as a fully int8 TFLite flatbuffer; inputs (x, h), outputs
    (h', y); calibrated on (x_t, h_{t-1}) pairs of the training windows."""
    H = w["U"].shape[0]
    I = w["W"].shape[0]
    c = {k: tf.constant(_f32(v)) for k, v in w.items()}

    class Step(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, I], tf.float32, name="x"),
                                      tf.TensorSpec([1, H], tf.float32, name="h")])
        def __call__(self, x, h):
            gx = tf.matmul(x, c["W"]) + c["b_x"]
            gh = tf.matmul(h, c["U"]) + c["b_h"]
            z = tf.sigmoid(gx[:, :H] + gh[:, :H])
            r = tf.sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
            n = tf.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
            h2 = z * h + (1.0 - z) * n
            return {"h_next": h2, "y": tf.matmul(h2, c["W_o"]) + c["b_o"]}

    step = Step()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([step.__call__.get_concrete_function()], step)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ({"x": x, "h": h} for x, h in calibration)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with _quiet_fd2():
        return bytes(conv.convert())


def calibration_pairs(gru: Gru, x: np.ndarray, seed: int) -> list:
    """(x_t, h_{t-1}) of CALIBRATION_STEPS random (window, step) positions of x."""
    hs = gru.states.predict(x, verbose=0)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(CALIBRATION_STEPS):
        n, t = int(rng.integers(len(x))), int(rng.integers(x.shape[1]))
        h = np.zeros((1, gru.H), np.float32) if t == 0 else hs[n:n + 1, t - 1]
        out.append((_f32(x[n:n + 1, t]), _f32(h)))
    return out


def compress_2bit(fb: bytes) -> bytes:
    """The flatbuffer with every int8 weight matrix LUT-compressed to 2-bit indices, a table of
    4 values per output row (each row must hold at most 4 values: Gru.cluster)."""
    # the package's `compress` name is a function, not the module: import the modules by name
    base = "tflite_micro.tensorflow.lite.micro.compression."
    compress, model_editor, spec = (importlib.import_module(base + m) for m in ("compress", "model_editor", "spec"))
    model = model_editor.read(fb)
    g = model.subgraphs[0]
    specs = []
    for i, t in enumerate(g.tensors):
        a = t.array if t.buffer is not None and t.buffer.data else None
        if a is not None and a.ndim == 2 and a.dtype == np.int8 and a.size > 1:
            specs.append(spec.Tensor(subgraph=0, tensor=i, compression=[
                spec.LookUpTableCompression(index_bitwidth=2, mode=spec.PerChannel(axis=0))]))
    # a readout row of a few bytes grows with its table ("expansion" warnings): the report counts it
    with open(os.devnull, "w") as null, warnings.catch_warnings(), contextlib.redirect_stdout(null), \
            contextlib.redirect_stderr(null):
        warnings.simplefilter("ignore")
        return bytes(compress.compress(fb, specs))


class TflmStep:
    """The TFLM interpreter on a step flatbuffer, run over windows step by step."""

    def __init__(self, runtime, fb: bytes, arena: int = ARENA_MAX):
        # tflite-micro: a benchmark-only dependency, imported when run
        from tflite_micro.tensorflow.lite.micro.compression import model_editor  # noqa: PLC0415
        self.it = runtime.Interpreter.from_bytes(fb, arena_size=arena)
        ins = [self.it.get_input_details(i) for i in range(2)]
        outs = [self.it.get_output_details(i) for i in range(2)]
        # which input is the state, which output the prediction: by the graph's tensor names
        # (the interpreter's details carry none), e.g. "serving_default_h:0", "StatefulPartitionedCall:1"
        g = model_editor.read(fb).subgraphs[0]
        in_names = [t.name or "" for t in g.inputs]
        self.x_in, self.h_in = (0, 1) if in_names[0].split(":")[0].endswith("_x") else (1, 0)
        # outputs are named "<call>:k", k the place of the key in the sorted keys ("h_next", "y")
        which = [sorted(("h_next", "y"))[int((t.name or ":-1").rsplit(":", 1)[1])] for t in g.outputs]
        self.y_out, self.h_out = which.index("y"), which.index("h_next")
        q = lambda d: (float(d["quantization_parameters"]["scales"][0]),  # noqa: E731
                       int(d["quantization_parameters"]["zero_points"][0]))
        self.qx, self.qh = q(ins[self.x_in]), q(ins[self.h_in])
        self.qy, self.qh2 = q(outs[self.y_out]), q(outs[self.h_out])
        self.H = int(ins[self.h_in]["shape"][1])

    @staticmethod
    def _quant(v, sz):
        s, z = sz
        return np.clip(np.round(v / s) + z, -128, 127).astype(np.int8)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Predictions [N, T, O] for windows x [N, T, I], each from h = 0."""
        N, T, _ = x.shape
        ys = []
        for n in range(N):
            h = self._quant(np.zeros((1, self.H)), self.qh)
            row = []
            for t in range(T):
                self.it.set_input(self._quant(x[n:n + 1, t], self.qx), self.x_in)
                self.it.set_input(h, self.h_in)
                self.it.invoke()
                y = self.it.get_output(self.y_out).astype(np.float64)
                h2 = self.it.get_output(self.h_out).astype(np.float64)
                row.append((y - self.qy[1]) * self.qy[0])
                h = self._quant((h2 - self.qh2[1]) * self.qh2[0], self.qh)
            ys.append(np.concatenate(row, 0))
        return np.stack(ys)


def smallest_arena(runtime, fb: bytes, x0: np.ndarray) -> int:
    """The smallest arena (bytes, to 16) with which TFLM allocates and invokes the model."""
    def fits(n):
        try:
            with _quiet_fd2():       # TFLM reports each failed allocation on the C stderr
                TflmStep(runtime, fb, n).run(x0)
            return True
        except (RuntimeError, ValueError):
            return False
    lo, hi = 16, 4096
    while not fits(hi):
        lo, hi = hi, hi * 2
        if hi > ARENA_MAX:
            raise TrainerError(f"the TFLM model does not run in a {ARENA_MAX}-byte arena")
    while hi - lo > 16:
        mid = (lo + hi) // 2 // 16 * 16
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


def job(task_key: dict, H: int, seed: int, epochs: int, finetune: int) -> dict:
    """One GRU width and seed: float, TFLM int8 and TFLM int8 with 2-bit LUT weights."""
    tf, runtime = _tf()
    task = task_from_key(task_key)
    head = PEER_HEADS[task.head_kind]
    data = _data(task, head)
    I, O = data["train"][0].shape[2], head.outputs(task)
    xte, yte, lte = data["test"]
    score = lambda pred: head.test_score(pred, yte, lte)  # noqa: E731
    t0 = time.time()
    gru = Gru(tf, head, H, I, O, seed)
    val = gru.fit(data, epochs, seed)
    rec = {"H": H, "seed": seed, "weights": gru_weights(H, I, O), "float_val": float(val),
           "float_test": float(score(gru.predict(xte)))}
    fb = step_flatbuffer(tf, gru.weights(), calibration_pairs(gru, data["train"][0], seed))
    rec.update(int8_test=float(score(TflmStep(runtime, fb).run(xte))), int8_flatbuffer=len(fb),
               int8_arena=smallest_arena(runtime, fb, xte[:1, :2]))
    gru.cluster()
    gru.fit(data, finetune, seed + 1)
    fb2 = compress_2bit(step_flatbuffer(tf, gru.weights(), calibration_pairs(gru, data["train"][0], seed)))
    rec.update(lut2_test=float(score(TflmStep(runtime, fb2).run(xte))), lut2_flatbuffer=len(fb2),
               lut2_arena=smallest_arena(runtime, fb2, xte[:1, :2]), seconds=time.time() - t0)
    return rec


# ---- the run: every (width, seed) job, cached, then the report -----------------------------------

def _frontier(dir_: Path) -> dict:
    path = dir_ / "frontier.json"
    try:
        fr = json.loads(path.read_text())
        return {"task_key": dict(fr["task_key"]), "epochs": int(fr["settings"]["epochs"]),
                "seeds": len(next(p for p in fr["points"] if p["format"] == "ternary")["seeds"]),
                "points": list(fr["points"]), "command": str(fr["command"]), "label": str(fr["label"]),
                "data": fr.get("data")}
    except FileNotFoundError:
        raise TrainerError(f"{path}: no frontier there (python -m trainer frontier writes it)") from None
    except (ValueError, KeyError, TypeError, StopIteration) as e:
        raise TrainerError(f"{path}: not a frontier record ({type(e).__name__}: {e})") from None


def _job_path(cache: Path, task_key: dict, H: int, seed: int, epochs: int, finetune: int) -> Path:
    # the source of what computes a job's numbers: editing the report keeps the cache
    source = "".join(inspect.getsource(f) for f in (job, Gru, kmeans_1d, step_flatbuffer, calibration_pairs,
                                                    compress_2bit, TflmStep, smallest_arena, _data))
    blob = json.dumps({"task": task_key, "H": H, "seed": seed, "epochs": epochs, "finetune": finetune,
                       "constants": [BATCH, LR, EVAL_EVERY, CALIBRATION_STEPS, CLUSTERS], "source": source},
                      sort_keys=True)
    return cache / f"gru-H{H}-s{seed}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}.json"


def run(frontier_dir, seeds: int | None = None, epochs: int | None = None, workers: int = 1,
        progress=print) -> dict:
    """Train and measure the peer for the frontier in frontier_dir; write peers.json and peers.md
    there (finished jobs cached under frontier_dir/peers-jobs)."""
    d = Path(frontier_dir)
    fr = _frontier(d)
    _tf()
    seeds = fr["seeds"] if seeds is None else seeds
    epochs = fr["epochs"] if epochs is None else epochs
    finetune = max(1, epochs // 4)
    task = task_from_key(fr["task_key"])
    head = PEER_HEADS[task.head_kind]
    I, O = task.I, head.outputs(task)
    sc = SCORES[task.head_kind]
    byte_points = sorted({p["weight_bytes"] for p in fr["points"] if p["format"] == "ternary"})
    widths = sorted({gru_width(b, I, O) for b in byte_points})
    cache = d / "peers-jobs"
    cache.mkdir(exist_ok=True)
    todo, recs = [], {}
    for H in widths:
        for s in range(seeds):
            p = _job_path(cache, fr["task_key"], H, s, epochs, finetune)
            if p.exists():
                recs[(H, s)] = json.loads(p.read_text())
            else:
                todo.append((H, s, p))
    t0 = time.time()
    progress(f"peers: {len(todo)} of {len(widths) * seeds} GRU jobs to run (widths {widths}, {epochs} epochs, "
             f"{workers} workers)")
    with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as ex:
        futs = {ex.submit(job, fr["task_key"], H, s, epochs, finetune): (H, s, p) for H, s, p in todo}
        for i, f in enumerate(cf.as_completed(futs)):
            H, s, p = futs[f]
            rec = f.result()
            atomic_write(p, lambda f, r=rec: f.write(json.dumps(r).encode()))
            recs[(H, s)] = rec
            progress(f"peers: [{i + 1}/{len(todo)}] H={H} seed {s}: {sc.title}: float "
                     f"{sc.figure(rec['float_test'])}, TFLM int8 {sc.figure(rec['int8_test'])}, 2-bit "
                     f"{sc.figure(rec['lut2_test'])} ({rec['seconds']:.0f} s, {time.time() - t0:.0f} s in all)")
    jobs = [recs[(H, s)] for H in widths for s in range(seeds)]
    out = {"dir": str(frontier_dir), "frontier": fr["command"], "label": fr["label"], "task_key": fr["task_key"],
           "head": task.head_kind, "readout_words": head.words, "epochs": epochs, "finetune_epochs": finetune,
           "seeds": seeds, "versions": versions(), "I": I, "O": O, "jobs": jobs,
           "rows": compare_rows(fr["points"], jobs, I, O, task.head_kind)}
    if fr["data"]:
        out["data"] = fr["data"]            # a series' MSE is in scaled units: the report says so
    write_file_set(d, {"peers.json": lambda f: f.write((json.dumps(out, indent=1, sort_keys=True) + "\n").encode()),
                       "peers.md": lambda f: f.write(markdown(out).encode())})
    return out


def welch_p(a, b) -> float:
    """Two-sided p of Welch's t test on two samples (the peer's seeds are not paired with trixcfc's)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    t = (a.mean() - b.mean()) / np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return float(2 * min(t_cdf(t, int(max(1, round(df)))), 1 - t_cdf(t, int(max(1, round(df))))))


def compare_rows(points, jobs, I, O, kind: str = "readout") -> list:
    """Per ternary weight size of the frontier: trixcfc's ternary point (each kernel's flash, RAM
    and instructions on each measured target) against the widest GRU of at most those bytes, by
    the frontier's score (frontier_report.SCORES[kind]: the MSE's ratio, the accuracy's points)."""
    sc = SCORES[kind]
    key, ck = sc.summary_key, sc.contrast_key
    rows = []
    for b in sorted({p["weight_bytes"] for p in points if p["format"] == "ternary"}):
        tern = [p for p in points if p["format"] == "ternary" and p["weight_bytes"] == b]
        H = gru_width(b, I, O)
        g = [j for j in jobs if j["H"] == H]
        t_vals = [sc.test(s) for s in tern[0]["seeds"]]
        row = {"ternary_H": tern[0]["H"], "ternary_bytes": b, f"ternary_{key}": sc.center_of(t_vals), "gru_H": H,
               "gru_weights": gru_weights(H, I, O), "targets": {}}
        for fmt in ("float", "int8", "lut2"):
            v = [j[f"{fmt}_test"] for j in g]
            row[f"gru_{fmt}_{key}"] = sc.center_of(v)
            row[f"{ck}_{fmt}"] = sc.contrast(row[f"ternary_{key}"], row[f"gru_{fmt}_{key}"])
            row[f"p_{fmt}"] = welch_p(sc.scaled(t_vals), sc.scaled(v))
        for fmt in ("int8", "lut2"):
            row[f"gru_{fmt}_flatbuffer"] = max(j[f"{fmt}_flatbuffer"] for j in g)
            row[f"gru_{fmt}_arena"] = max(j[f"{fmt}_arena"] for j in g)
        for target in tern[0]["targets"]:
            ks = [(p["targets"][target], p.get("kernel", "packed")) for p in tern if target in p["targets"]]
            row["targets"][target] = {k: {"flash": m["flash"], "ram": m["ram"], "per_step": m["per_step"]}
                                      for m, k in ks}
        rows.append(row)
    return rows
