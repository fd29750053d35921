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
this head and loss (trainer/train.py, trainer/search.py).

Parameters: one flat vector per model (as trainer/optim.py's Params), teacher W, b, log_tau,
w_c, b_c; student V, s, b, log_tau, w_c, b_c.
"""
from __future__ import annotations

import time

import numpy as np

from cfcbase.cell import activations_, decay, head_scale_rows, state_update_
from cfcbase.labelled import class_names, load_labelled, n_inputs

from . import cell
from .configs import SHAPED_BETA
from .errors import TrainerError
from .optim import linear, optimize
from .quant import S_MIN, best_row_scales, quantize, shadow_grads

POOLINGS = ("last", "mean")


# ---- parameters ------------------------------------------------------------------------------

def layout(H, I, K, student=False):
    C = I + H
    spec = ([("V", (2 * H, C)), ("s", (2 * H,))] if student else [("W", (2 * H, C))])
    spec += [("b", (2 * H,)), ("log_tau", (H,)), ("w_c", (K, H)), ("b_c", (K,))]
    out, off = [], 0
    for name, shape in spec:
        n = int(np.prod(shape))
        out.append((name, shape, off, off + n))
        off += n
    return out, off


class ClsParams:
    """M classifiers' parameters as one [M, n] array with named views (trainer/optim.Params's
    interface, which optim.optimize uses: flat, M, copy, zeros_like)."""

    def __init__(self, H, M, I, K, student=False, flat=None):
        self.H, self.M, self.I, self.K, self.student = H, M, I, K, student
        self.spec, n = layout(H, I, K, student)
        self.flat = np.zeros((M, n)) if flat is None else np.array(flat, dtype=np.float64).reshape(M, n)
        for name, shape, a, b in self.spec:
            setattr(self, name, self.flat[:, a:b].reshape((M,) + shape))

    def copy(self):
        return ClsParams(self.H, self.M, self.I, self.K, self.student, self.flat)

    def zeros_like(self):
        return ClsParams(self.H, self.M, self.I, self.K, self.student)

    def take(self, idx):
        return ClsParams(self.H, len(idx), self.I, self.K, self.student, self.flat[list(idx)])

    @property
    def tau(self):
        return np.exp(self.log_tau)

    @property
    def lam(self):
        return decay(self.tau)


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
    p = ClsParams(H, len(seeds), I, K)
    C = I + H
    for m, seed in enumerate(seeds):
        rng = np.random.default_rng([seed, H, 1])
        p.W[m] = rng.normal(0.0, 1.0 / np.sqrt(C), (2 * H, C))
        p.b[m, :H] = 1.0                                   # gates start mostly open
        p.log_tau[m] = np.log(rng.uniform(0.3, 3.0, H))
        p.w_c[m] = rng.normal(0.0, 1.0 / np.sqrt(H), (K, H))
    return p


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
    """Students start from their teachers: shadow weights = W, per-row least-squares scales (= PTQ)."""
    p = ClsParams(teachers.H, teachers.M, teachers.I, teachers.K, student=True)
    p.V[...] = teachers.W
    p.s[...] = best_row_scales(teachers.W)
    if scheme == "twn":
        p.s[...] = quantize(p.V, p.s, "twn")[1]
    for k in ("b", "log_tau", "w_c", "b_c"):
        getattr(p, k)[...] = getattr(teachers, k)
    return p


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


def frozen(p: ClsParams, m, scheme="coupled"):
    """Model m of a student stack as a frozen ternary classifier (trits, s, b, tau, w_c, b_c)."""
    trits, s_eff, _ = quantize(p.V[m], p.s[m], scheme)
    return {"trits": np.asarray(trits).astype(np.int8), "s": np.asarray(s_eff, np.float64).copy(),
            "b": p.b[m].copy(), "tau": p.tau[m].copy(), "w_c": p.w_c[m].copy(), "b_c": p.b_c[m].copy()}


def from_frozen(models, H):
    p = ClsParams(H, len(models), models[0]["trits"].shape[1] - H, models[0]["w_c"].shape[0], student=True)
    for i, m in enumerate(models):
        p.V[i] = m["s"][:, None] * m["trits"]
        p.s[i] = m["s"]
        p.b[i] = m["b"]
        p.log_tau[i] = np.log(m["tau"])
        p.w_c[i] = m["w_c"]
        p.b_c[i] = m["b_c"]
    return p


def frozen_eff(m):
    """Stacked (M = 1) effective parameters of a frozen classifier."""
    W = m["s"][:, None] * m["trits"].astype(np.float64)
    return W[None], m["b"][None], decay(m["tau"])[None], m["w_c"][None], m["b_c"][None]


# ---- greedy coordinate search on the training cross-entropy ---------------------------------------

def candidate_losses(xT, labels, m, row, cols, new, pooling):
    """Training cross-entropy of K candidate classifiers that each differ from m in one trit of
    row `row` (candidate k sets column cols[k] to new[k]), evaluated together as
    trainer/search.candidate_losses evaluates the regression's (the batch axis holds K copies of
    the training set; candidate k adds (new_k - old_k) s_row z[:, cols_k] to the row's
    pre-activation)."""
    T, B, I = xT.shape
    W, b, lam, w_c, b_c = (a[0] for a in frozen_eff(m))
    R, C = W.shape
    H = R // 2
    Kc = len(cols)
    sc = head_scale_rows(H)
    Wh = W * sc[:, None]
    xa = xT @ Wh[:, :I].T + b * sc
    WfT = np.ascontiguousarray(Wh[:H, I:].T)
    WgT = np.ascontiguousarray(Wh[H:, I:].T)
    delta = (new - m["trits"][row, cols]) * m["s"][row] * sc[row]
    head, r = divmod(row, H)
    act = np.empty((2, Kc, B, H))
    af, ag = act[0], act[1]
    h = np.zeros((Kc, B, H))
    hsum = np.zeros((Kc, B, H))
    d = np.empty((Kc, B, H))
    tmp = np.empty((Kc, B, H))
    kidx = np.arange(Kc)
    xcols = cols < I
    lamf = np.ascontiguousarray(np.broadcast_to(lam, (Kc, B, H)))
    with np.errstate(over="ignore"):
        for t in range(T):
            hz = np.where(xcols[:, None], xT[t][:, np.minimum(cols, I - 1)].T,
                          h[kidx, :, np.maximum(cols - I, 0)])
            np.matmul(h, WfT, out=af)
            np.matmul(h, WgT, out=ag)
            af += xa[t, :, :H]
            ag += xa[t, :, H:]
            (ag if head else af)[:, :, r] += delta[:, None] * hz
            activations_(act)
            state_update_(h, d, tmp, h, af, ag, lamf)
            if pooling == "mean":
                hsum += h
    hp = h if pooling == "last" else hsum / T
    logits = hp @ w_c.T + b_c                                   # [Kc, B, K]
    return ce_and_accuracy(logits, labels)[0]


def coordinate_search(task, m, pooling, max_sweeps=3, log=None):
    """Greedy coordinate search over the trits (scales fixed) on the training cross-entropy, as
    trainer/search.coordinate_search: per row the best single trit change if it lowers the loss;
    sweeps until one gains nothing or max_sweeps."""
    xT, y, _, _ = _data(task)
    m = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in m.items()}
    R, C = m["trits"].shape
    cur = float(candidate_losses(xT, y, m, 0, np.array([0]), m["trits"][0, :1].astype(np.float64), pooling)[0])
    evals, sweeps, changes = 1, 0, 0
    t0 = time.perf_counter()
    start = cur
    cols = np.repeat(np.arange(C), 2)
    for _ in range(max_sweeps):
        sweeps += 1
        gained = 0
        for r in range(R):
            old = m["trits"][r].astype(np.int64)
            alt = np.stack([(old + 2) % 3 - 1, (old + 3) % 3 - 1], 1).reshape(-1)
            L = candidate_losses(xT, y, m, r, cols, alt.astype(np.float64), pooling)
            evals += len(cols)
            k = int(np.argmin(L))
            if L[k] < cur * (1 - 1e-9):
                m["trits"][r, cols[k]] = alt[k]
                cur = float(L[k])
                changes += 1
                gained += 1
        if log:
            log(f"coordinate search sweep {sweeps}: train CE {cur:.4f}, {gained} changes, {evals} loss evals")
        if not gained:
            break
    return m, {"cs_loss_evals": evals, "cs_sweeps": sweeps, "cs_changes": changes,
               "cs_train_ce_before": start, "cs_train_ce_after": cur, "wall_s": time.perf_counter() - t0}


def refit(task, teacher: ClsParams, m, pooling, epochs, lr):
    """The refit after coordinate search: scales, biases, tau and the head trained with the trits fixed."""
    p, infos, wall = train_students(task, teacher, [False], [None], pooling, epochs=epochs, lr=lr,
                                    freeze_trits=True, start=from_frozen([m], teacher.H))
    m2 = frozen(p, 0)
    assert np.array_equal(m2["trits"], m["trits"])
    return m2, infos[0], wall


def n_classes(task) -> int:
    return len(class_names(task))


def inputs(task) -> int:
    return n_inputs(task)


# ---- gradient check (trainer/gradcheck.py runs these groups with its own) ------------------------

def gradcheck_groups(numeric, rel_err, seed=0, H=3, T=7, B=3, I=2, K=3, M=2):
    """{group: max relative error} of the head and its loss against central differences
    (``numeric(f, x)``), on a small random problem of M stacked models:

      cls[P,POOL,LOSS]        P in W, b, log_tau, w_c, b_c; POOL last / mean; LOSS ce, + the
                              trajectory term (traj), + the logit-distillation term (out)
      cls-student[P,POOL]     the ternary student w.r.t. its effective weights s * trits and
                              its scales s, trits fixed (cross-entropy)
      cls-shaped-ste[V,POOL]  the shaped STE's chain rule on the cross-entropy, on its surrogate
                              (as trainer/gradcheck.py's shaped-ste groups)
    """
    from .quant import window_antiderivative
    rng = np.random.default_rng([seed, 77])
    C = I + H
    xT = rng.normal(size=(T, B, I))
    labels = rng.integers(0, K, B)
    h_t = rng.normal(size=(T, M, B, H)) * 0.3
    p_t = np.exp(log_softmax(rng.normal(size=(M, B, K))))
    P = {"W": rng.normal(size=(M, 2 * H, C)) * 0.8, "b": rng.normal(size=(M, 2 * H)) * 0.3,
         "log_tau": np.log(rng.uniform(0.05, 1.0, (M, H))), "w_c": rng.normal(size=(M, K, H)),
         "b_c": rng.normal(size=(M, K))}
    cache = Cache(T, M, B, I, H)

    def loss(W, pooling, kw):
        tau = np.exp(P["log_tau"])
        logits, hp = forward(cache, xT, W, P["b"], decay(tau), P["w_c"], P["b_c"], pooling)
        L, dlog, dh = loss_and_grads(logits, labels, h=cache.cell.h[1:], h_teacher=h_t, p_teacher=p_t, **kw)
        return float(np.sum(L)), dlog, dh, hp, tau

    def grads(W, pooling, kw):
        _, dlog, dh, hp, tau = loss(W, pooling, kw)
        g = backward(cache, xT, W, decay(tau), tau, P["w_c"], dlog, hp, pooling, dh)
        return dict(zip(("W", "b", "log_tau", "w_c", "b_c"), g))

    out = {}
    for pooling in POOLINGS:
        for tag, kw in (("ce", {}), ("traj", {"alpha": 0.4}), ("out", {"alpha_out": 0.3})):
            an = grads(P["W"], pooling, kw)
            for name in ("W", "b", "log_tau", "w_c", "b_c"):
                num = numeric(lambda: loss(P["W"], pooling, kw)[0], P[name])
                out[f"cls[{name},{pooling},{tag}]"] = rel_err(an[name], num)
        T0 = rng.integers(-1, 2, size=(M, 2 * H, C)).astype(np.float64)
        s = rng.uniform(0.3, 1.5, (M, 2 * H))
        Weff = s[..., None] * T0
        dW = grads(Weff, pooling, {})["W"]
        out[f"cls-student[W,{pooling}]"] = rel_err(dW, numeric(lambda: loss(Weff, pooling, {})[0], Weff))
        ds = shadow_grads(dW, Weff, T0, s, "coupled", False, 1.0)[1]
        out[f"cls-student[s,{pooling}]"] = rel_err(ds, numeric(lambda: loss(s[..., None] * T0, pooling, {})[0], s))
        V0 = s[..., None] * rng.uniform(-1.3, 1.3, (M, 2 * H, C))
        Tq = np.sign(V0) * (np.abs(V0 / s[..., None]) > 0.5)
        beta, V = 2.5, V0.copy()
        phi0 = window_antiderivative(V0 / s[..., None], beta)
        sur = lambda: s[..., None] * (Tq + window_antiderivative(V / s[..., None], beta) - phi0)  # noqa: E731
        an = shadow_grads(grads(sur(), pooling, {})["W"], V0, Tq, s, "coupled", True, beta)[0]
        out[f"cls-shaped-ste[V,{pooling}]"] = rel_err(an, numeric(lambda: loss(sur(), pooling, {})[0], V))
    return out
