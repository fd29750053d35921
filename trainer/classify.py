"""The classification head: K logits from the hidden state, softmax cross-entropy, and every
training technique of the regression trainer on it (docs/training.md, "Classification").

    logits = w_c . pool(h) + b_c        w_c [K, H], b_c [K]
    pool   = h_{T-1}          ("last": the state after the window's last step)
           | mean_t h_t       ("mean": the mean state over the window's steps)
    L      = mean_b -log softmax(logits)[label]                                  (task loss)
             + the distillation terms below, weights as the regression trainer's

The cell itself is trainer/cell.py's (forward and BPTT unchanged): the head's gradient enters
BPTT as an extra dL/dh_t (at the last step, or 1/T of it at every step), as the trajectory
distillation term does. Teachers, QAT students (identity or shaped STE, coupled per-row
scales: trainer/quant.py), distillation (`traj`: the teacher's hidden trajectory; `out`: the
teacher's logits, soft cross-entropy at temperature 1), PTQ, greedy coordinate search on the
training cross-entropy and the refit with the trits fixed are the regression trainer's, with
this head and loss (trainer/train.py, trainer/search.py; the coordinate search and the refit:
trainer/classify_search.py; the gradient check: trainer/classify_gradcheck.py).

Parameters: one flat vector per model (as trainer/optim.py's Params), teacher W, b, log_tau,
w_c, b_c; student V, s, b, log_tau, w_c, b_c.
"""
from __future__ import annotations

import time

import numpy as np

from cfcbase.labelled import class_names, load_labelled, n_inputs

from . import cell, optim, train
from .configs import SHAPED_BETA
from .errors import TrainerError
from .optim import Params, linear, optimize
from .quant import S_MIN, quantize, shadow_grads

POOLINGS = ("last", "mean")


# ---- parameters ------------------------------------------------------------------------------

def layout(H, I, K, student=False):
    """trainer/optim.py's layout up to log_tau (the cell: the same names, shapes and offsets), then
    the head w_c [K, H], b_c [K] where the regression's readout w_o, b_o stands."""
    rows, _ = optim.layout(H, I, student)
    rows = rows[:-2]
    off = rows[-1][3]
    rows += [("w_c", (K, H), off, off + K * H), ("b_c", (K,), off + K * H, off + K * H + K)]
    return rows, off + K * H + K


class ClsParams:
    """M classifiers' parameters as one [M, n] array with named views (trainer/optim.Params's
    interface, which optim.optimize uses: flat, M, copy, zeros_like)."""
    tau, lam = Params.tau, Params.lam            # exp(log_tau) and its decay, as optim.Params'

    def __init__(self, H, M, I, K, student=False, flat=None):
        self.H, self.M, self.I, self.K, self.student = H, M, I, K, student
        self.spec, n = layout(H, I, K, student)
        self.flat = np.zeros((M, n)) if flat is None else np.array(flat, dtype=np.float64).reshape(M, n)
        for name, shape, a, b in self.spec:
            setattr(self, name, self.flat[:, a:b].reshape((M,) + shape))

    def _stack(self, M, flat=None):
        return ClsParams(self.H, M, self.I, self.K, self.student, flat)

    def copy(self):
        return self._stack(self.M, self.flat)

    def zeros_like(self):
        return self._stack(self.M)

    def take(self, idx):
        return self._stack(len(idx), self.flat[list(idx)])

    @property
    def n_cell(self):
        """Where the head starts in flat: before it the layout is optim.Params' (the cell)."""
        return self.spec[-2][2]


def cell_params(p: ClsParams) -> Params:
    """p's cell (W, or V and s; b, log_tau) as an optim.Params stack whose readout is zero."""
    q = Params(p.H, p.M, p.I, p.student)
    q.flat[:, :p.n_cell] = p.flat[:, :p.n_cell]
    return q


def with_head(q: Params, w_c, b_c) -> ClsParams:
    """The classifiers of optim.Params q's cell and the head w_c [M, K, H], b_c [M, K] (q's readout dropped)."""
    p = ClsParams(q.H, q.M, q.I, np.shape(w_c)[1], q.student)
    p.flat[:, :p.n_cell] = q.flat[:, :p.n_cell]
    p.w_c[...] = w_c
    p.b_c[...] = b_c
    return p


def effective(p: ClsParams, scheme="coupled"):
    """(W [M, 2H, C], b, lam, w_c, b_c) of the forward pass; a student's W = s_eff * trits."""
    if p.student:
        trits, s_eff, _ = quantize(p.V, p.s, scheme)
        W = s_eff[..., None] * trits
    else:
        W = p.W
    return W, p.b, p.lam, p.w_c, p.b_c


# ---- forward, loss, backward -------------------------------------------------------------------

class Cache:
    """trainer/cell.py's Cache for (T, M, B, I, H) and the zero regression readout it runs with."""

    def __init__(self, T, M, B, I, H):
        self.cell = cell.Cache(T, M, B, I, H)
        self.T, self.M, self.B, self.H = T, M, B, H
        self.w0, self.b0 = np.zeros((M, H)), np.zeros(M)


def pool(h, pooling):
    """h [T + 1, M, B, H] (h[0] = 0) -> the pooled state [M, B, H]."""
    if pooling == "last":
        return h[-1]
    if pooling == "mean":
        return h[1:].mean(axis=0)
    raise TrainerError(f"unknown pooling {pooling!r} (known: {', '.join(POOLINGS)})")


def forward(cache: Cache, xT, W, b, lam, w_c, b_c, pooling):
    """logits [M, B, K] and the pooled state [M, B, H]; the trajectory stays in cache.cell.h."""
    cell.forward(cache.cell, xT, W, b, lam, cache.w0, cache.b0)
    hp = pool(cache.cell.h, pooling)
    return np.matmul(hp, w_c.transpose(0, 2, 1)) + b_c[:, None, :], hp


def log_softmax(logits):
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def loss_and_grads(logits, labels, alpha=0.0, h=None, h_teacher=None, p_teacher=None, alpha_out=0.0):
    """Per-model loss [M], dL/dlogits [M, B, K] and dL/dh [T, M, B, H] (or None).

    L = (1 - alpha - alpha_out) * mean_b -log p[label]                 (cross-entropy)
        + alpha     * mean_{t,b} ||h - h_teacher||^2                       (trajectory distillation)
        + alpha_out * mean_b sum_k -p_teacher[k] log p[k]                  (logit distillation, T = 1)
    """
    M, B, K = logits.shape
    alpha = np.broadcast_to(np.asarray(alpha, np.float64), (M,))
    alpha_out = np.broadcast_to(np.asarray(alpha_out, np.float64), (M,))
    w_task = 1.0 - alpha - alpha_out
    logp = log_softmax(logits)
    p = np.exp(logp)
    rows = np.arange(B)
    L = w_task * (-logp[:, rows, labels]).mean(axis=1)
    onehot = np.zeros((B, K))
    onehot[rows, labels] = 1.0
    dlog = (w_task / B)[:, None, None] * (p - onehot)
    if np.any(alpha_out):
        L = L + alpha_out * (-(p_teacher * logp).sum(axis=-1)).mean(axis=1)
        dlog += (alpha_out / B)[:, None, None] * (p - p_teacher)
    dh = None
    if np.any(alpha):
        n = h.shape[0] * B
        dhh = h - h_teacher
        L = L + alpha * np.sum(dhh * dhh, axis=(0, 2, 3)) / n
        dh = (2.0 * alpha / n)[:, None, None] * dhh                      # [M] over [T, M, B, H]
    return L, dlog, dh


def backward(cache: Cache, xT, W, lam, tau, w_c, dlogits, hp, pooling, dh_ext=None):
    """BPTT of the head's loss: (dW [M, 2H, C], db [M, 2H], dlog_tau [M, H], dw_c [M, K, H], db_c [M, K])."""
    T = cache.T
    dhp = np.matmul(dlogits, w_c)                                  # [M, B, H]
    dh = np.zeros((T,) + dhp.shape) if dh_ext is None else dh_ext.copy()
    if pooling == "last":
        dh[-1] += dhp
    else:
        dh += dhp / T
    dy = np.zeros((T, cache.M, cache.B))
    dW, db, dlog_tau, _, _ = cell.backward(cache.cell, xT, W, lam, tau, cache.w0, dy, dh)
    dw_c = np.einsum("mbk,mbh->mkh", dlogits, hp)
    return dW, db, dlog_tau, dw_c, dlogits.sum(axis=1)


def predict(xT, W, b, lam, w_c, b_c, pooling):
    """logits [M, N, K] and states [T, M, N, H] of inputs xT [T, N, I]."""
    T, N, I = xT.shape
    c = Cache(T, W.shape[0], N, I, W.shape[2] - I)
    logits, _ = forward(c, xT, W, b, lam, w_c, b_c, pooling)
    return logits, c.cell.h[1:].copy()


# ---- metrics ------------------------------------------------------------------------------------

def ce_and_accuracy(logits, labels):
    """Per model: mean cross-entropy [M] and accuracy [M] of logits [M, N, K]."""
    logp = log_softmax(logits)
    rows = np.arange(len(labels))
    ce = (-logp[:, rows, labels]).mean(axis=1)
    acc = (np.argmax(logits, axis=-1) == labels[None, :]).mean(axis=1)
    return ce, acc


def confusion(pred, labels, K):
    """K x K counts: row = true class, column = predicted class."""
    c = np.zeros((K, K), np.int64)
    np.add.at(c, (np.asarray(labels), np.asarray(pred)), 1)
    return c


def metrics(logits, labels, K, prefix=""):
    """One model: cross-entropy, accuracy, error rate (and for the test split the confusion matrix)."""
    ce, acc = ce_and_accuracy(logits[None], labels)
    out = {prefix + "ce": float(ce[0]), prefix + "acc": float(acc[0]), prefix + "err": float(1.0 - acc[0])}
    if prefix == "test_":
        out["test_confusion"] = confusion(np.argmax(logits, -1), labels, K).tolist()
    return out


def _tm(x):
    return np.ascontiguousarray(x.transpose(1, 0, 2))     # [N, T, I] -> [T, N, I]


def evaluate(eff, task, pooling, splits=("train", "val", "test")):
    """Per-model metrics (list of dicts) of stacked effective parameters on the splits."""
    M = eff[0].shape[0]
    K = eff[3].shape[1]
    out = [dict() for _ in range(M)]
    for sp in splits:
        x, y = load_labelled(task, sp)
        logits, _ = predict(_tm(x), *eff, pooling)
        for m in range(M):
            out[m].update(metrics(logits[m], y, K, sp + "_"))
    return out


# ---- training -----------------------------------------------------------------------------------

def _data(task):
    x, y = load_labelled(task, "train")
    xv, yv = load_labelled(task, "val")
    return _tm(x), y, _tm(xv), yv


class _Caches(dict):
    def get(self, T, M, B, I, H):
        if (T, B) not in self:
            self[T, B] = Cache(T, M, B, I, H)
        return self[T, B]


def _val_ce(eff, xvT, yv, cache, pooling):
    logits, _ = forward(cache, xvT, *eff, pooling)
    return ce_and_accuracy(logits, yv)[0]


def init_teachers(H, seeds, I, K):
    """train.init_teachers' cell (W, b, log_tau), then per seed w_c drawn from the same generator
    after W and log_tau; b_c = 0."""
    w_c = np.zeros((len(seeds), K, H))
    for m, seed in enumerate(seeds):
        rng = np.random.default_rng([seed, H, 1])
        rng.standard_normal((2 * H, I + H)), rng.random(H)        # past train.init_teachers' draws of W, log_tau
        w_c[m] = rng.normal(0.0, 1.0 / np.sqrt(H), (K, H))
    return with_head(train.init_teachers(H, seeds, I), w_c, np.zeros((len(seeds), K)))


def train_teachers(task, H, seeds, pooling, epochs=300, lr=1e-2, clip=1.0, eval_every=10, batch=32, log=None):
    """Float teachers (one per seed, stacked): Adam, cosine LR, minibatches of `batch` cases;
    per model the checkpoint with the lowest validation cross-entropy, checked every eval_every
    steps."""
    if epochs < 1:
        raise TrainerError(f"teacher epochs must be positive, got {epochs}")
    xT, y, xvT, yv = _data(task)
    T, N, I = xT.shape
    K = len(class_names(task))
    p = init_teachers(H, seeds, I, K)
    M = p.M
    caches, vcache = _Caches(), Cache(xvT.shape[0], M, xvT.shape[1], I, H)

    def grad_(g, idx, step, nsteps):
        xb, yb = (xT, y) if len(idx) == N else (np.ascontiguousarray(xT[:, idx]), y[idx])
        tau, lam = p.tau, p.lam
        cache = caches.get(T, M, len(idx), I, H)
        logits, hp = forward(cache, xb, p.W, p.b, lam, p.w_c, p.b_c, pooling)
        _, dlog, _ = loss_and_grads(logits, yb)
        dW, db, dlt, dwc, dbc = backward(cache, xb, p.W, lam, tau, p.w_c, dlog, hp, pooling)
        g.W[...] = dW; g.b[...] = db; g.log_tau[...] = dlt; g.w_c[...] = dwc; g.b_c[...] = dbc  # noqa: E702

    def on_eval(step, nsteps, v):
        if log and step % 500 == 0:
            log(f"teachers H={H} step {step}/{nsteps}: val CE " + " ".join(f"{x:.3f}" for x in v))

    t0 = time.perf_counter()
    best, _ = optimize(p, grad_, N, epochs, lr, clip, batch, [H, 7, N],
                       lambda q: _val_ce(effective(q), xvT, yv, vcache, pooling), f"teacher H={H}", eval_every,
                       on_eval=on_eval)
    return best.p, {"val_ce_sel": best.val.tolist(), "wall_s": time.perf_counter() - t0}


def init_students(teachers: ClsParams, scheme="coupled"):
    """Students start from their teachers as train.init_students' do (shadow weights = W, per-row
    least-squares scales = PTQ), with the teachers' head."""
    return with_head(train.init_students(cell_params(teachers), scheme), teachers.w_c, teachers.b_c)


def ptq(teachers: ClsParams):
    return init_students(teachers, "coupled")


def train_students(task, teachers: ClsParams, shaped, distill, pooling, epochs=300, lr=1e-2, scheme="coupled",
                   clip=1.0, beta=SHAPED_BETA, alpha=(0.3, 0.8), beta_zero=0.0, freeze_trits=False, start=None,
                   eval_every=10, batch=32):
    """QAT of M ternary classifiers, student m from teachers model m (as train.train_students):
    shaped per-model bools; distill per model None, "traj" (the teacher's hidden trajectory) or
    "out" (the teacher's logits); alpha (start, end) the distillation weight, beta the shaped
    STE's sharpness; checkpoint on the validation cross-entropy (hard ternary forward).
    freeze_trits: the refit after coordinate search (scales, biases, tau, head)."""
    if epochs < 1:
        raise TrainerError(f"student epochs must be positive, got {epochs}")
    xT, y, xvT, yv = _data(task)
    T, N, I = xT.shape
    H, M = teachers.H, teachers.M
    shaped = np.asarray(shaped, bool)
    traj = np.array([d == "traj" for d in distill], np.float64)
    outd = np.array([d == "out" for d in distill], np.float64)
    t_logits, h_t = predict(xT, *effective(teachers), pooling)
    t_soft = np.exp(log_softmax(t_logits))
    p = init_students(teachers, scheme) if start is None else start.copy()
    caches, vcache = _Caches(), Cache(xvT.shape[0], M, xvT.shape[1], I, H)
    trits0 = quantize(p.V, p.s, scheme)[0]
    flips = np.zeros(M)
    cur = {"trits": trits0}

    def grad_(g, idx, step, nsteps):
        full = len(idx) == N
        xb, yb = (xT, y) if full else (np.ascontiguousarray(xT[:, idx]), y[idx])
        hb, pb = (h_t, t_soft) if full else (h_t[:, :, idx], t_soft[:, idx])
        bt = linear(beta[0], beta[1], step, nsteps)
        al = linear(alpha[0], alpha[1], step, nsteps)
        trits, s_eff, s_thr = quantize(p.V, p.s, scheme)
        flips[...] += np.count_nonzero(trits != cur["trits"], axis=(1, 2))
        cur["trits"] = trits
        W = s_eff[..., None] * trits
        tau, lam = p.tau, p.lam
        cache = caches.get(T, M, len(idx), I, H)
        logits, hp = forward(cache, xb, W, p.b, lam, p.w_c, p.b_c, pooling)
        _, dlog, dh = loss_and_grads(logits, yb, alpha=al * traj, h=cache.cell.h[1:], h_teacher=hb,
                                     p_teacher=pb, alpha_out=al * outd)
        dW, db, dlt, dwc, dbc = backward(cache, xb, W, lam, tau, p.w_c, dlog, hp, pooling, dh)
        dV, ds = shadow_grads(dW, p.V, trits, s_thr, scheme, shaped, bt, beta_zero)
        if freeze_trits:
            dV[...] = 0.0
        g.V[...] = dV; g.s[...] = ds; g.b[...] = db; g.log_tau[...] = dlt  # noqa: E702
        g.w_c[...] = dwc; g.b_c[...] = dbc  # noqa: E702

    def after_step():
        np.maximum(p.s, S_MIN, out=p.s)
        if freeze_trits:
            np.multiply(p.s[..., None], trits0, out=p.V)

    t0 = time.perf_counter()
    best, nsteps = optimize(p, grad_, N, epochs, lr, clip, batch, [H, 8, N],
                            lambda q: _val_ce(effective(q, scheme), xvT, yv, vcache, pooling), f"student H={H}",
                            eval_every, after_step=after_step)
    final = quantize(best.p.V, best.p.s, scheme)[0]
    n = trits0[0].size
    info = [{"val_ce_sel": float(best.val[m]), "flip_rate": float(flips[m] / (n * nsteps)),
             "trit_change_frac": float(np.mean(final[m] != trits0[m])),
             "zero_frac": float(np.mean(final[m] == 0))} for m in range(M)]
    return best.p, info, time.perf_counter() - t0


def n_classes(task) -> int:
    return len(class_names(task))


def inputs(task) -> int:
    return n_inputs(task)
