"""Float teachers, ternary (and int8) students and post-training quantization: one path for every
head (trainer.model.heads); the coordinate search is in search.py, the parameter vectors in
params.py, Adam and the optimizer loop (``optimize``) that teachers, students and the refit after
coordinate search all run in optim.py.

Per optimizer step:  cell.forward (the states)  ->  head.forward (outputs)  ->  head.loss
->  head.backward (dL/dh, + the trajectory term)  ->  cell.backward (dW, db, dlog_tau).
"""
from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np

from cfcbase.artifact import Artifact, Teacher
from cfcbase.cell import DT, decay
from cfcbase.formats import TERNARY
from cfcbase.metrics import WASHOUT

from ..errors import TrainerError
from . import cell
from .heads import CROP_LEN, tm
from .optim import linear, optimize
from .params import Params
from .quant import (S_MIN, SHAPED_BETA, THR_RANGE, best_row_scales, dampening, inq_fraction, inq_grads, inq_mask, quantize,
                    shadow_grads, ternarize, threshold_grads, window)

# ---- effective (dequantized) parameters -----------------------------------------------------

def effective(p: Params, scheme="coupled"):
    """(W [M, 2H, C], b [M, 2H], lam [M, H], p): the cell's parameters of the forward pass (a
    student's W = s_eff * trits, or int8 levels) and p itself, which holds the head's."""
    if p.student:
        trits, s_eff, _ = quantize(p.V, p.s, scheme, _thr(p))
        W = s_eff[..., None] * trits
    else:
        W = p.W
    return W, p.b, p.lam, p


def _thr(p):
    """A student's learned per-row thresholds [M, 2H] (the sweep's knob thr=learned), or None."""
    return p.d if getattr(p, "thr", False) else None


# Windows per forward pass outside the minibatches (validation, evaluation, the teachers'
# targets for distillation): a pass's caches hold about 48 T M B H bytes, so with B bounded the
# memory of training grows with the data only by the states kept per window, 8 T M H bytes
# (docs/training.md, "Memory"). A multiple of 8 windows: each pass's matrix products then tile
# as one pass over every window would, and give its bits (the pinned OpenBLAS kernels round the
# edge rows of a tile differently); the head's outputs are computed once from the states of
# every window, as one pass would.
FORWARD_CHUNK = 256


class _States:
    """The states of all N windows, as a head's forward reads them from a cache."""

    def __init__(self, T, M, N, H):
        self.T, self.M, self.B, self.H = T, M, N, H
        self.h = np.zeros((T + 1, M, N, H))          # h[0] = 0, as cell.Cache
        self.y = np.empty((T, M, N, 1))
        self.pooled = None
        self.lengths = None


def chunked(head, xT, eff, caches=None, out=None, states=False, n=None):
    """The head's outputs (``out``: a function of (head, cache, head parameters); default the
    head's forward) of all N windows of xT [T, N, I] (``n``: each window's steps, None: all T),
    running the cell forward in passes of at most FORWARD_CHUNK windows; with ``states`` also the
    states h [T, M, N, H]."""
    W, b, lam, hp = eff
    T, N, I = xT.shape
    M, H = W.shape[0], W.shape[2] - I
    caches = caches if caches is not None else _Caches()
    out = out or (lambda hd, cache, q: hd.forward(cache, q))
    if N <= FORWARD_CHUNK:
        cache = caches.get(T, M, N, I, H)
        cell.forward(cache, xT, W, b, lam)
        cache.lengths = n
        o = out(head, cache, hp).copy()
        return (o, cache.h[1:].copy()) if states else o
    full = _States(T, M, N, H)
    full.lengths = n
    for a in range(0, N, FORWARD_CHUNK):
        xc = np.ascontiguousarray(xT[:, a:a + FORWARD_CHUNK])
        cache = caches.get(T, M, xc.shape[1], I, H)
        cell.forward(cache, xc, W, b, lam)
        full.h[1:, :, a:a + xc.shape[1]] = cache.h[1:]
    o = out(head, full, hp).copy()
    return (o, full.h[1:]) if states else o


def outputs(head, xT, eff):
    """The head's outputs and the states [T, M, B, H] of inputs xT [T, B, I] (a readout: y
    [T, M, B]; a classifier: logits [M, B, K])."""
    return chunked(head, xT, eff, states=True)


def evaluate(head, eff, splits=("train", "val", "test")):
    """Per-model metrics (list of dicts) of stacked effective parameters on the task's splits."""
    M = eff[0].shape[0]
    out = [dict() for _ in range(M)]
    for sp in splits:
        x, y = head.task.split(sp)
        o = chunked(head, tm(x), eff, n=head.task.lengths(sp))
        for m in range(M):
            out[m].update(head.metrics(o, y, m, sp + "_"))
    return out


def _validation(head, eff, xvT, yv, caches):
    return head.val_score(chunked(head, xvT, eff, caches, n=head.lengths(yv)), yv)


class _Caches(dict):
    def get(self, T, M, B, I, H):
        k = (T, B)
        if k not in self:
            self[k] = cell.Cache(T, M, B, I, H)
        return self[k]


def validation_cadence(eval_every: int, n_val: int, batch: int) -> int:
    """Optimizer steps between validations: ``eval_every``, or as many steps as the validation
    split has batches when that is more. A validation is a forward pass over n_val windows; at
    most one per n_val training windows (each a forward and a backward pass) keeps it a bounded
    share of the training time at any N, where a fixed cadence made an epoch's cost grow with N
    squared. The same cadence as before for n_val <= 10 batches (every committed task)."""
    return max(eval_every, -(-n_val // batch))


def _data(head):
    """(xT, targets, xvT, validation targets) of the task's training and validation splits."""
    x, y = head.task.split("train")
    xv, yv = head.task.split("val")
    return tm(x), head.targets(y, head.task.lengths("train")), tm(xv), head.targets(yv, head.task.lengths("val"))


def _step(head, cache, xb, W, p, lam, tau, target, w_task, alpha=None, alpha_out=None, teacher=None, h_teacher=None,
          step_w=None):
    """One forward and backward pass of a batch: (dW, db, dlog_tau, the head's gradients)."""
    cell.forward(cache, xb, W, p.b, lam)
    cache.lengths = head.lengths(target)
    out = head.forward(cache, p)
    _, dout = head.loss(out, target, w_task, alpha_out, teacher, step_w)
    dh = None
    if alpha is not None and alpha.any():
        dh = cell.trajectory_term(cache.h[1:], h_teacher, alpha, xb.shape[1], cache.lengths)[1]
    dhead = head.backward(cache, p, dout, dh)
    return (*cell.backward(cache, xb, W, lam, tau), dhead)


def _set(g, dW_name, dW, db, dlt, dhead):
    getattr(g, dW_name)[...] = dW
    g.b[...] = db
    g.log_tau[...] = dlt
    for k, v in dhead.items():
        getattr(g, k)[...] = v


# ---- teachers ---------------------------------------------------------------------------------

def init_teachers(head, H, seeds, I=1):
    p = Params(H, len(seeds), I, head.rows(H))
    C = I + H
    for m, seed in enumerate(seeds):
        rng = np.random.default_rng([seed, H, 1])
        p.W[m] = rng.normal(0.0, 1.0 / np.sqrt(C), (2 * H, C))
        p.b[m, :H] = 1.0                                   # gates start mostly open
        p.log_tau[m] = np.log(rng.uniform(0.3, 3.0, H))
        head.init(p, m, rng, H)
    return p


def train_teachers(head, H, seeds, epochs=2000, lr=1e-2, clip=1.0, eval_every=10, crop_weight=1.0,
                   batch=32, log=None):
    """Float teachers (one per seed, stacked): Adam, cosine LR over all steps, minibatches of
    `batch` windows (sine: the whole training set, one step per epoch); per model the checkpoint
    with the best validation score (the head's), checked every eval_every steps.

    Loss: the head's task loss; a forecast's teachers add crop_weight * the loss of the transient
    crops of the same sequences (see transient_crops)."""
    if epochs < 1:
        raise TrainerError(f"teacher epochs must be positive, got {epochs}")
    xT, yT, xvT, yvT = _data(head)
    T, N, I = xT.shape
    p = init_teachers(head, H, seeds, I)
    M = p.M
    ones = np.ones(M)
    caches, vcaches = _Caches(), _Caches()
    crops = head.teacher_crops(xT, yT) if crop_weight else None

    def grad_(g, idx, step, nsteps):
        xb, yb = (xT, yT) if len(idx) == N else (np.ascontiguousarray(xT[:, idx]), head.take(yT, idx))
        tau, lam = p.tau, p.lam
        dW, db, dlt, dhead = _step(head, caches.get(T, M, len(idx), I, H), xb, p.W, p, lam, tau, yb, ones)
        if crops is not None:
            xc = np.ascontiguousarray(crops[0][:, :, idx].reshape(CROP_LEN, -1, I))
            yc = crops[1][:, :, idx].reshape(CROP_LEN, -1)
            ccache = caches.get(CROP_LEN, M, xc.shape[1], I, H)
            cell.forward(ccache, xc, p.W, p.b, lam)
            _, dy = head.loss(head.forward(ccache, p), yc, ones)
            dy *= crop_weight
            dc = head.backward(ccache, p, dy, None)
            grads = cell.backward(ccache, xc, p.W, lam, tau)
            dW += grads[0]; db += grads[1]; dlt += grads[2]  # noqa: E702
            for k in dhead:
                dhead[k] += dc[k]
        _set(g, "W", dW, db, dlt, dhead)

    def on_eval(step, nsteps, v):
        if log and step % 500 == 0:
            log(f"teachers H={H} step {step}/{nsteps}: validation {head.selection} " + " ".join(f"{x:.3g}" for x in v))

    t0 = time.perf_counter()
    best, _ = optimize(p, grad_, N, epochs, lr, clip, batch, [H, 7, N],   # the same batch order for every seed
                       lambda q: _validation(head, effective(q), xvT, yvT, vcaches), f"teacher H={H}",
                       validation_cadence(eval_every, xvT.shape[1], batch), on_eval=on_eval)
    return best.p, {f"{head.selection}_sel": best.val.tolist(), "wall_s": time.perf_counter() - t0}


# ---- students ---------------------------------------------------------------------------------

def init_students(teachers: Params, scheme="coupled"):
    """Students start from their teachers: shadow weights = W, per-row least-squares scales."""
    p = teachers.like(student=True)
    p.V[...] = teachers.W
    p.s[...] = best_row_scales(teachers.W)
    if scheme == "twn":
        p.s[...] = quantize(p.V, p.s, "twn")[1]
    for k in ["b", "log_tau"] + [name for name, _ in teachers.head_rows]:
        getattr(p, k)[...] = getattr(teachers, k)
    return p


def ptq(teachers: Params):
    """Post-training quantization: per-row least-squares scales, trits = ternarize(W / s)."""
    return init_students(teachers, "coupled")


def step_weights(T, transient_w):
    """Task-loss weight per step: transient_w for the ambiguous steps t < WASHOUT, else 1."""
    w = np.ones(T)
    w[:WASHOUT] = transient_w
    return w


class _StudentRule:
    """How a student stack's float shadow weights V (and row scales s) give the forward weights of
    an optimizer step, and how dL/dW returns to them: the straight-through estimator (shaped or
    identity per model) and the techniques (docs/training.md, "Techniques"): a learned ternary
    threshold per row (thr_learn), oscillation dampening (damp), incremental quantization in K
    stages (inq), frozen trits (the refit after coordinate search). It counts the trit flips."""

    def __init__(self, p, scheme, shaped, beta, beta_zero, thr_learn, damp, inq, freeze_trits):
        self.p, self.scheme, self.shaped = p, scheme, np.asarray(shaped, bool)
        self.beta, self.beta_zero = beta, beta_zero
        self.thr_learn, self.damp, self.inq, self.freeze_trits = thr_learn, damp, inq, freeze_trits
        self.trits0 = quantize(p.V, p.s, scheme, _thr(p))[0]
        self.prev = self.trits0                          # the trits of the previous step
        self.flips = np.zeros(p.M)
        if inq:
            self.mask = np.zeros(p.V.shape, bool)         # the quantized (frozen) weights
            self.T = np.zeros(p.V.shape)
            self.stage = -1

    def weights(self, step, nsteps):
        """(W [M, 2H, C], trits, s_thr) of this step; an incremental quantization's new stage
        quantizes and freezes more weights first."""
        p = self.p
        if self.inq:
            stage = min(self.inq - 1, step * self.inq // nsteps)
            if stage != self.stage:                       # a new stage: more weights quantized and frozen
                new = inq_mask(p.V, p.s, self.mask, inq_fraction(stage, self.inq))
                self.T = np.where(self.mask, self.T, ternarize(p.V / p.s[..., None]))
                self.mask, self.stage = new, stage
                np.copyto(p.V, p.s[..., None] * self.T, where=new)
        trits, s_eff, s_thr = quantize(p.V, p.s, self.scheme, _thr(p))
        self.flips[...] += np.count_nonzero(trits != self.prev, axis=(1, 2))
        self.prev = trits
        W = s_eff[..., None] * trits if not self.inq else np.where(self.mask, p.s[..., None] * self.T, p.V)
        return W, trits, s_thr

    def backward(self, g, dW, trits, s_thr, step, nsteps):
        """dL/dV, dL/ds (and dL/d of the thresholds) from dL/dW, into g."""
        p = self.p
        bt = linear(self.beta[0], self.beta[1], step, nsteps)
        if self.inq:
            dV, ds = inq_grads(dW, self.mask, self.T)
        elif self.thr_learn:
            u = p.V / s_thr[..., None]
            dV = dW * np.where(self.shaped[:, None, None], window(u, bt, p.d[..., None]), 1.0)
            ds = (dW * trits).sum(axis=-1)
            g.d[...] = threshold_grads(dW, u, s_thr, p.d)
        else:
            dV, ds = shadow_grads(dW, p.V, trits, s_thr, self.scheme, self.shaped, bt, self.beta_zero)
        if self.damp:
            dV += dampening(p.V, s_thr, trits, self.damp)[1]
        if self.freeze_trits:
            dV[...] = 0.0
        g.s[...] = ds
        return dV

    def after_step(self):
        p = self.p
        np.maximum(p.s, S_MIN, out=p.s)
        if self.thr_learn:
            np.clip(p.d, *THR_RANGE, out=p.d)
        if self.inq:                                      # the quantized weights stay exactly on their trits
            np.copyto(p.V, p.s[..., None] * self.T, where=self.mask)
        if self.freeze_trits:                             # keep u = V / s exactly on the trits
            np.multiply(p.s[..., None], self.trits0, out=p.V)

    def checkpoints(self) -> bool:
        """Whether the model is quantized yet (an incremental quantization: its last stage)."""
        return not self.inq or self.stage >= self.inq - 1

    def info(self, best, head, nsteps) -> list:
        """Per model: its validation score, the flip rate, the trits changed since the start and the zeros."""
        final = quantize(best.p.V, best.p.s, self.scheme, _thr(best.p))[0]
        n = self.trits0[0].size
        return [{f"{head.selection}_sel": float(best.val[m]), "flip_rate": float(self.flips[m] / (n * nsteps)),
                 "trit_change_frac": float(np.mean(final[m] != self.trits0[m])),
                 "zero_frac": float(np.mean(final[m] == 0))} for m in range(len(final))]


def _with_thresholds(p: Params) -> Params:
    """The same student stack with learned thresholds d = 0.5, last in the layout."""
    q = p.like(thr=True)
    q.flat[:, :p.flat.shape[1]] = p.flat
    q.d[...] = 0.5
    return q


def train_students(head, teachers: Params, shaped, distill, epochs=1000, lr=3e-3,
                   scheme="coupled", clip=1.0, beta=SHAPED_BETA, alpha=(0.3, 0.8), beta_zero=0.0,
                   transient_w=1.0, freeze_trits=False, start=None, eval_every=10, batch=32,
                   log=None, thr_learn=False, damp=0.0, inq=0):
    """QAT of M quantized students, student m from teachers model m (a stack of M).

    shaped: per-model bools (shaped STE vs identity STE); distill: per-model None, "traj"
    (trajectory distillation) or "out" (output distillation: the teacher's outputs, the head's
    kind). beta and alpha are (start, end) pairs, linear over the optimizer steps: the shaped
    STE's window sharpness (window width 1/beta; default SHAPED_BETA, docs/training.md) and the
    distillation weight (default 0.3 -> 0.8); beta_zero > 0 adds the zero-boundary window of that
    (constant) sharpness to the shaped STE. Per model the checkpoint with the best validation
    score (the head's; hard quantized forward) is kept.
    transient_w weighs a forecast's task error of steps t < WASHOUT (see step_weights).
    freeze_trits: only scales, biases, tau and the head learn (the refit after coordinate search).
    start: a student Params stack to start from instead of the teachers (init_students).
    Minibatches of `batch` windows as for the teachers; beta, alpha and the LR follow the
    optimizer step; validation every eval_every steps.
    Techniques (_StudentRule; the sweep's knobs): thr_learn, a learned ternary threshold per row
    (init 0.5; the shaped STE's window is centred on it); damp > 0, oscillation dampening of that
    weight (quant.dampening) added to the loss; inq = K > 0, incremental quantization in K stages
    (quant.inq_mask: 1/2, 3/4, ... of each row's weights quantized and frozen, the others float,
    all in the last stage; checkpoints from the last stage only).
    """
    if epochs < 1:
        raise TrainerError(f"student epochs must be positive, got {epochs}")
    xT, yT, xvT, yvT = _data(head)
    T, N, I = xT.shape
    H, M = teachers.H, teachers.M
    traj = np.array([d == "traj" for d in distill], np.float64)
    outd = np.array([d == "out" for d in distill], np.float64)
    # what distillation matches: the teachers' outputs and states on every training window
    t_out, h_t = chunked(head, xT, effective(teachers), out=lambda hd, c, q: hd.teacher_outputs(c, q), states=True,
                         n=head.lengths(yT))
    sw = None if transient_w == 1.0 else step_weights(T, transient_w)
    p = init_students(teachers, scheme) if start is None else start.copy()
    if thr_learn:
        p = _with_thresholds(p)
    rule = _StudentRule(p, scheme, shaped, beta, beta_zero, thr_learn, damp, inq, freeze_trits)
    caches, vcaches = _Caches(), _Caches()

    def grad_(g, idx, step, nsteps):
        full = len(idx) == N
        xb, yb = (xT, yT) if full else (np.ascontiguousarray(xT[:, idx]), head.take(yT, idx))
        hb, tb = (h_t, t_out) if full else (h_t[:, :, idx], head.take_teacher(t_out, idx))
        al = linear(alpha[0], alpha[1], step, nsteps)
        W, trits, s_thr = rule.weights(step, nsteps)
        a_traj, a_out = al * traj, al * outd
        dW, db, dlt, dhead = _step(head, caches.get(T, M, len(idx), I, H), xb, W, p, p.lam, p.tau, yb,
                                   1.0 - a_traj - a_out, a_traj, a_out, tb, hb, sw)
        dV = rule.backward(g, dW, trits, s_thr, step, nsteps)
        _set(g, "V", dV, db, dlt, dhead)

    def validate(q):
        if not rule.checkpoints():                    # not a quantized model yet: no checkpoint
            return np.full(M, 1e300)
        return _validation(head, effective(q, scheme), xvT, yvT, vcaches)

    t0 = time.perf_counter()
    best, nsteps = optimize(p, grad_, N, epochs, lr, clip, batch, [H, 8, N],   # same order for every seed and config
                            validate, f"student H={H}", validation_cadence(eval_every, xvT.shape[1], batch),
                            after_step=rule.after_step)
    return best.p, rule.info(best, head, nsteps), time.perf_counter() - t0


# ---- frozen models: a trained student as the values the artifact stores ------------------------------

def frozen(head, p: Params, m, scheme="coupled", trits=None, s=None):
    """Model m of a stack as a frozen model dict: trits (or int8 levels), s, b, tau and the
    head's parameters. For a teacher stack (PTQ) pass trits and s explicitly."""
    if trits is None:
        tr, s_eff, _ = quantize(p.V[m], p.s[m], scheme, None if _thr(p) is None else p.d[m])
        trits, s = tr, s_eff
    return {"trits": np.asarray(trits).astype(np.int8), "s": np.asarray(s, np.float64).copy(),
            "b": p.b[m].copy(), "tau": p.tau[m].copy(), **head.frozen(p, m)}


def from_frozen(head, models, H):
    """A student Params stack whose trits and scales are the frozen models' (V = s * trits)."""
    I = models[0]["trits"].shape[1] - H
    p = Params(H, len(models), I, head.rows(H), student=True)
    for i, m in enumerate(models):
        p.V[i] = m["s"][:, None] * m["trits"]
        p.s[i] = m["s"]
        p.b[i] = m["b"]
        p.log_tau[i] = np.log(m["tau"])
        head.thaw(p, i, m)
    return p


def frozen_eff(head, m):
    """Stacked (M = 1) effective parameters of a frozen model (as effective gives them)."""
    W = m["s"][:, None] * m["trits"].astype(np.float64)
    return W[None], m["b"][None], decay(m["tau"])[None], SimpleNamespace(**head.frozen_eff(m))


def artifact_of(head, model, teacher_flat, H, config, metrics, formats=(TERNARY, TERNARY)) -> Artifact:
    """The best.npz (docs/artifact.md) of a frozen model (frozen(): its values in ``formats``) and of
    the float teacher it came from (its flat parameters)."""
    tp = Params(H, 1, head.task.I, head.rows(H), flat=teacher_flat)
    Wt = tp.W[0]
    teacher = Teacher(Wt[:H], Wt[H:], tp.b[0, :H], tp.b[0, H:], tp.tau[0], head.float_head(head.frozen(tp, 0)))
    m = model
    return Artifact(I=tp.I, H=H, dt=DT, weights_f=m["trits"][:H].astype(np.int8),
                    weights_g=m["trits"][H:].astype(np.int8), scale_f=m["s"][:H], scale_g=m["s"][H:], b_f=m["b"][:H],
                    b_g=m["b"][H:], tau=m["tau"], head=head.float_head(m), task=head.task, teacher=teacher,
                    formats=tuple(formats), config=config, metrics=metrics)
