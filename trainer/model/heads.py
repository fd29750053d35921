"""The heads in training (docs/training.md, "Heads"): what the trainer asks the model's head for,
one class per kind of cfcbase.heads head (train_head makes the one of a task).

    ReadoutHead      y_t = w_o . h_t + b_o per step; loss: the MSE of the steps (weighted per step:
                     the ambiguous steps t < WASHOUT may count less); output distillation: the MSE
                     to the teacher's y; checkpoints on the validation washout MSE
    ClassifierHead   logits = w_c v + b_c, v the states pooled over the window ("last" or "mean");
                     loss: the cross-entropy; output distillation: the cross-entropy to the
                     teacher's softmax; checkpoints on the validation cross-entropy

The cell (trainer.model.cell) computes the states and takes dL/dh back; a head owns the rest:
its parameters' rows, their initialization, its outputs and loss, dL/dh of its loss, its
parameters' gradients, its metrics and its share of the coordinate search's loss.

Shapes: M models, T steps, B windows, H units, K classes; the states h [T + 1, M, B, H] (h[0] = 0).
"""
from __future__ import annotations

import numpy as np

from cfcbase.heads import POOLINGS, Classifier, Readout
from cfcbase.metrics import WASHOUT, ce_and_accuracy, log_softmax

from ..errors import TrainerError
from .cell import sum_tb


def tm(a):
    """[N, T, ...] -> [T, N, ...] (time-major, contiguous)."""
    return np.ascontiguousarray(np.swapaxes(a, 0, 1))


CROP_LEN = 10
CROPS_PER_EPOCH = 288
MIN_TRAIN_SEQ_LEN = CROP_LEN + 5       # the crops start at step 5


def transient_crops(xT, yT, length=CROP_LEN, n_total=CROPS_PER_EPOCH):
    """Short windows of the training sequences, [length, n_off, N, I] and [length, n_off, N].

    Each crop starts from h = 0 at a new phase, so the ambiguous first steps are trained on
    more (x_0, y_0) pairs than the full sequences alone give (with 32 training sequences the
    teacher otherwise memorises the step-0 sign per sequence and the all-step test MSE sits
    well above the first-step floor). n_off offsets evenly spaced in [5, T - length], so that
    about n_total crops are seen per epoch (sine: 9 offsets 5, 10, ..., 40). Training data only;
    a forecast's teachers (a readout's targets per step).
    """
    T, N = xT.shape[:2]
    n_off = max(1, int(round(n_total / N)))
    offs = np.unique(np.linspace(5, T - length, n_off).round().astype(int))
    xc = np.stack([xT[o:o + length] for o in offs], axis=1)
    yc = np.stack([yT[o:o + length] for o in offs], axis=1)
    return xc, yc


class ReadoutHead:
    """A forecast per step (see the module docstring)."""
    kind = "readout"
    TEACHER_ROW = 7          # the batch-order seeds of optimize(): teachers [H, 7, N], students [H, 8, N]

    K = 0

    def __init__(self, task, pooling=None):
        if pooling is not None:
            raise TrainerError(f"--pooling {pooling}: a forecast has no pooling (it is a classifier's option)")
        if task.steps < MIN_TRAIN_SEQ_LEN:
            raise TrainerError(f"--seq-len must be at least {MIN_TRAIN_SEQ_LEN} for training (the teachers' "
                               f"transient crops are {CROP_LEN} steps from step 5), got {task.steps}")
        self.task = task

    @staticmethod
    def options() -> dict:
        """The head's settings in a report (none)."""
        return {}

    @staticmethod
    def device_bytes(H) -> tuple:
        """(bytes counted in the model's weights, bytes reported apart) on the device."""
        return {"readout": H * 4 + 8}, {}

    def rows(self, H):
        return [("w_o", (H,)), ("b_o", (1,))]

    def init(self, p, m, rng, H):
        """w_o of teacher m from its seed's generator, after the cell's draws (b_o = 0)."""
        p.w_o[m] = rng.normal(0.0, 0.3 / np.sqrt(H), H)

    # ---- data -----------------------------------------------------------------------------------
    def targets(self, y, n=None):
        """A split's targets as training reads them: y [N, T, 1] -> [T, N] (a forecast's windows
        have all T steps: n is None)."""
        return tm(y)[:, :, 0]

    @staticmethod
    def take(targets, idx):
        return targets[:, idx]

    @staticmethod
    def lengths(targets):
        return None

    @staticmethod
    def take_teacher(out, idx):
        return out[:, :, idx]

    # ---- forward ----------------------------------------------------------------------------------
    def forward(self, cache, p):
        """y [T, M, B] (a view into cache.y) from the states in cache."""
        np.matmul(cache.h[1:], p.w_o[:, :, None], out=cache.y)
        y = cache.y[..., 0]
        y += p.b_o[:, 0][:, None]
        return y

    def teacher_outputs(self, cache, p):
        """What output distillation matches: the teacher's y [T, M, N]."""
        return self.forward(cache, p).copy()

    @staticmethod
    def teacher_crops(xT, yT):
        """The teachers' extra windows: the transient crops of the training sequences."""
        return transient_crops(xT, yT)

    @staticmethod
    def random_targets(rng, T, B):
        """A gradient check's targets [T, B] (trainer.model.gradcheck)."""
        return rng.normal(size=(T, B)) * 0.5

    @staticmethod
    def random_teacher(rng, T, M, B):
        return rng.normal(size=(T, M, B)) * 0.5

    # ---- loss --------------------------------------------------------------------------------------
    def loss(self, y, target, w_task, alpha_out=None, teacher=None, step_w=None):
        """Per-model loss [M] and dL/dy [T, M, B]:

        L = w_task * mean_{t,b} w_t (y - target)^2  +  alpha_out * mean_{t,b} (y - y_teacher)^2

        target [T, B] (shared) or [T, M, B]; w_task, alpha_out [M]; step_w [T] the per-step weights
        w_t of the task term (default 1)."""
        T, M, B = y.shape
        n = T * B
        e = y - (target[:, None, :] if target.ndim == 2 else target)
        if step_w is None:
            L = w_task * (sum_tb(e * e) / n)
            dy = (2.0 * w_task / n)[:, None] * e
        else:
            sw = np.asarray(step_w, np.float64)[:, None, None]
            L = w_task * (sum_tb(sw * e * e) / n)
            dy = (2.0 * w_task / n)[:, None] * sw * e
        if alpha_out is not None and alpha_out.any():
            eo = y - teacher
            L = L + alpha_out * (sum_tb(eo * eo) / n)
            dy += (2.0 * alpha_out / n)[:, None] * eo
        return L, dy

    # ---- backward ------------------------------------------------------------------------------------
    def backward(self, cache, p, dy, dh_traj) -> dict:
        """dL/dh_t of the readout (+ the trajectory term) into cache.dh(); returns the gradients of
        w_o and b_o, shaped as the parameters."""
        dhs = cache.dh()
        np.multiply(dy[..., None], p.w_o[:, None, :], out=dhs)
        if dh_traj is not None:
            dhs += dh_traj
        return {"w_o": np.einsum("tmbh,tmb->mh", cache.h[1:], dy), "b_o": sum_tb(dy)[:, None]}

    # ---- validation and metrics -------------------------------------------------------------------
    BATCH_AXIS = 2                         # of the outputs y [T, M, B]

    @staticmethod
    def val_score(y, yv):
        """Per-model validation washout MSE [M] of outputs y [T, M, B] (yv time-major [T, B]):
        cfcbase.metrics.washout_mse with the sum over (t, b) in an order that does not depend on M
        (cell.sum_tb)."""
        e = y[WASHOUT:] - yv[WASHOUT:, None, :]
        return sum_tb(e * e) / (e.shape[0] * e.shape[2])

    def metrics(self, out, y, m, prefix):
        """Model m's figures of outputs out [T, M, N] against a split's y [N, T, 1]."""
        return self.task.metrics(out[:, m, :].T, y, prefix)

    selection = "val_mse_washout"          # what picks the best model on validation
    SWEEP_EXTRAS = ("test_mse",)           # what a sweep records beside the headline

    @staticmethod
    def selection_key(r):
        return (r["val_mse_washout"],)

    # ---- the frozen model and the artifact -----------------------------------------------------------
    @staticmethod
    def frozen(p, m) -> dict:
        return {"w_o": p.w_o[m].copy(), "b_o": float(p.b_o[m, 0])}

    @staticmethod
    def thaw(p, i, model):
        p.w_o[i] = model["w_o"]
        p.b_o[i, 0] = model["b_o"]

    @staticmethod
    def frozen_eff(model):
        return {"w_o": model["w_o"][None], "b_o": np.array([[model["b_o"]]])}

    @staticmethod
    def float_head(model):
        """The cfcbase.heads head of a frozen model (or of a teacher's parameters)."""
        return Readout(np.asarray(model["w_o"], np.float64).copy(), float(model["b_o"]))

    # ---- the coordinate search's loss: the training MSE, step by step --------------------------------
    search_name, search_key, search_format = "MSE", "mse", ".3e"

    def search_loss(self, targets, B, step_w):
        return _StepErrors(targets, B, step_w)


class _StepErrors:
    """The running squared error of K candidates, step by step (it only grows: a candidate past a
    bound can leave early); the loss: its mean over the steps and windows."""
    prunable = True

    def __init__(self, targets, B, step_w):
        self.yT, self.B = targets, B
        self.sw = np.ones(targets.shape[0]) if step_w is None else np.asarray(step_w, np.float64)

    def start(self, model, dtype, K):
        self.w_o = model["w_o"].astype(dtype, copy=False)
        self.y_off = model["b_o"] - self.yT                     # [T, B]
        self.err = np.zeros(K)

    def step(self, t, h, k):
        if self.sw[t]:
            e = (h.reshape(k * self.B, -1) @ self.w_o).reshape(k, self.B) + self.y_off[t]
            self.err += np.einsum("kb,kb->k", e, e) * self.sw[t]

    def running(self):
        return self.err

    def keep(self, sel):
        self.err = self.err[sel]

    def losses(self, T):
        return self.err / (T * self.B)


POOLING = "mean"        # a classifier's default pooling (docs/training.md, "Classification": measured)


class ClassifierHead:
    """K logits per window of the pooled states (see the module docstring)."""
    kind = "classifier"
    TEACHER_ROW = 7

    def __init__(self, task, pooling=None):
        pooling = pooling or POOLING
        if pooling not in POOLINGS:
            raise TrainerError(f"unknown pooling {pooling!r} (known: {', '.join(POOLINGS)})")
        self.task, self.pooling, self.K = task, POOLINGS[pooling], task.K

    def options(self) -> dict:
        return {"pooling": self.pooling.name}

    def device_bytes(self, H) -> tuple:
        """The K x H int32 weights and K int64 biases; the zero readout (int32 [H] + int64) apart."""
        return {"head": self.K * H * 4 + self.K * 8}, {"zero_readout": H * 4 + 8}

    def rows(self, H):
        return [("w_c", (self.K, H)), ("b_c", (self.K,))]

    def init(self, p, m, rng, H):
        """w_c of teacher m from its seed's generator, after the cell's draws (b_c = 0)."""
        p.w_c[m] = rng.normal(0.0, 1.0 / np.sqrt(H), (self.K, H))

    # ---- data -----------------------------------------------------------------------------------
    @staticmethod
    def targets(y, n=None):
        """The windows' labels and their steps (``n`` int [N]; None: every window has all T)."""
        return Labels(np.asarray(y, np.int64), None if n is None else np.asarray(n, np.int64))

    @staticmethod
    def take(targets, idx):
        return targets[idx]

    @staticmethod
    def lengths(targets):
        """Each window's steps of a batch's targets, or None (all T)."""
        return targets.n

    @staticmethod
    def take_teacher(out, idx):
        return out[:, idx]

    # ---- forward ----------------------------------------------------------------------------------
    def pool(self, h, n=None):
        """h [T + 1, M, B, H] (h[0] = 0) -> the pooled state [M, B, H] of each window's own steps
        (``n`` int [B]; None: all T)."""
        return self.pooling.pool(h[1:], n)

    def forward(self, cache, p):
        """logits [M, B, K] of the pooled states (kept in cache.pooled for backward); the windows'
        steps are cache.lengths (set from the batch's targets; None: all T)."""
        cache.pooled = self.pool(cache.h, cache.lengths)
        return np.matmul(cache.pooled, p.w_c.transpose(0, 2, 1)) + p.b_c[:, None, :]

    def teacher_outputs(self, cache, p):
        """What output distillation matches: the teacher's softmax [M, N, K]."""
        return np.exp(log_softmax(self.forward(cache, p)))

    @staticmethod
    def teacher_crops(xT, y):
        """A window's class needs the whole window: no crops."""
        return None

    def random_targets(self, rng, T, B, ragged=False):
        """A gradient check's labels [B] (trainer.model.gradcheck); ``ragged``: windows of their own
        lengths in 1..T, one of them all T."""
        n = None
        if ragged:
            n = rng.integers(1, T + 1, B)
            n[0] = T
        return Labels(rng.integers(0, self.K, B), n)

    def random_teacher(self, rng, T, M, B):
        return np.exp(log_softmax(rng.normal(size=(M, B, self.K))))

    # ---- loss ---------------------------------------------------------------------------------------
    def loss(self, logits, labels, w_task, alpha_out=None, teacher=None, step_w=None):
        """Per-model loss [M] and dL/dlogits [M, B, K]:

        L = w_task * mean_b -log p[label]  +  alpha_out * mean_b sum_k -p_teacher[k] log p[k]"""
        M, B, K = logits.shape
        labels = labels.y
        logp = log_softmax(logits)
        pr = np.exp(logp)
        rows = np.arange(B)
        L = w_task * (-logp[:, rows, labels]).mean(axis=1)
        onehot = np.zeros((B, K))
        onehot[rows, labels] = 1.0
        dlog = (w_task / B)[:, None, None] * (pr - onehot)
        if alpha_out is not None and np.any(alpha_out):
            L = L + alpha_out * (-(teacher * logp).sum(axis=-1)).mean(axis=1)
            dlog += (alpha_out / B)[:, None, None] * (pr - teacher)
        return L, dlog

    # ---- backward -------------------------------------------------------------------------------------
    def backward(self, cache, p, dlogits, dh_traj) -> dict:
        """dL/dh_t through the pooling (+ the trajectory term) into cache.dh(); returns the
        gradients of w_c and b_c."""
        dhp = np.matmul(dlogits, p.w_c)                                  # [M, B, H]
        dh = cache.dh()
        if dh_traj is None:
            dh[...] = 0.0
        else:
            np.copyto(dh, dh_traj)
        self.pooling.pool_backward(dh, dhp, cache.T, cache.lengths)
        return {"w_c": np.einsum("mbk,mbh->mkh", dlogits, cache.pooled), "b_c": dlogits.sum(axis=1)}

    # ---- validation and metrics -------------------------------------------------------------------------
    BATCH_AXIS = 1                         # of the logits [M, B, K]

    @staticmethod
    def val_score(logits, yv):
        return ce_and_accuracy(logits, yv.y)[0]

    def metrics(self, out, y, m, prefix):
        return self.task.metrics(out[m], y, prefix)

    selection = "val_ce"
    SWEEP_EXTRAS = ("test_acc",)

    @staticmethod
    def selection_key(r):
        return (r["val_ce"], -r["val_acc"])

    # ---- the frozen model and the artifact -------------------------------------------------------------
    @staticmethod
    def frozen(p, m) -> dict:
        return {"w_c": p.w_c[m].copy(), "b_c": p.b_c[m].copy()}

    @staticmethod
    def thaw(p, i, model):
        p.w_c[i] = model["w_c"]
        p.b_c[i] = model["b_c"]

    @staticmethod
    def frozen_eff(model):
        return {"w_c": model["w_c"][None], "b_c": model["b_c"][None]}

    def float_head(self, model):
        return Classifier(list(self.task.classes), self.pooling, np.asarray(model["w_c"], np.float64).copy(),
                          np.asarray(model["b_c"], np.float64).copy())

    # ---- the coordinate search's loss: the training cross-entropy at the end of the windows ----------
    search_name, search_key, search_format = "CE", "ce", ".4f"

    def search_loss(self, targets, B, step_w):
        return _PooledCE(self, targets, B)


class Labels:
    """A classifier's targets: each window's class y int64 [N] and its steps n int64 [N] (None:
    every window has all T); indexing takes windows."""

    def __init__(self, y, n=None):
        self.y, self.n = y, n

    def __getitem__(self, idx):
        return Labels(self.y[idx], None if self.n is None else self.n[idx])

    def __len__(self):
        return len(self.y)


class _PooledCE:
    """The pooled state of K candidates, step by step; the loss: the training cross-entropy of
    their logits (known only at the end: no candidate leaves early)."""
    prunable = False

    def __init__(self, head, targets, B):
        self.head, self.labels, self.n, self.B = head, targets.y, targets.n, B

    def start(self, model, dtype, K):
        self.w_c, self.b_c = model["w_c"], model["b_c"]
        self.acc = None
        self.K = K

    def step(self, t, h, k):
        self.acc = self.head.pooling.add(self.acc, h, t, self.n)

    def running(self):
        return np.zeros(self.K)

    def keep(self, sel):
        pass

    def losses(self, T):
        hp = self.head.pooling.result(self.acc, T, self.n)
        logits = np.asarray(hp, np.float64) @ self.w_c.T + self.b_c                  # [K, B, classes]
        return ce_and_accuracy(logits, self.labels)[0]


TRAIN_HEADS = {"readout": ReadoutHead, "classifier": ClassifierHead}


def train_head(task, pooling=None):
    """The training head of a task (cfcbase.task: its head_kind); ``pooling`` a classifier's."""
    return TRAIN_HEADS[task.head_kind](task, pooling)
