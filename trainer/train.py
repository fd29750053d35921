"""Teacher and student training and PTQ (numpy); the coordinate search is in search.py, the
parameter vectors, Adam and the optimizer loop (``optimize``) that teachers, students and the
refit after coordinate search all run in optim.py.
"""
from __future__ import annotations

import time

import numpy as np

from cfcbase.cell import decay
from cfcbase.tasks import WASHOUT, load_split, metrics

from . import cell
from .configs import SHAPED_BETA
from .errors import TrainerError
from .optim import Params, linear, optimize
from .quant import (S_MIN, THR_RANGE, best_row_scales, dampening, inq_fraction, inq_grads, inq_mask, quantize,
                    shadow_grads, ternarize, threshold_grads, window)


# ---- effective (dequantized) cell parameters --------------------------------------------

def effective(p: Params, scheme="coupled"):
    """(W [M,2H,C], b, lam, w_o, b_o [M]) of the forward pass; for a student W = s_eff * trits."""
    if p.student:
        trits, s_eff, _ = quantize(p.V, p.s, scheme, _thr(p))
        W = s_eff[..., None] * trits
    else:
        W = p.W
    return W, p.b, p.lam, p.w_o, p.b_o[:, 0]


def _thr(p):
    """A student's learned per-row thresholds [M, 2H] (the sweep's knob thr=learned), or None."""
    return p.d if getattr(p, "thr", False) else None


def _tm(a):
    return np.ascontiguousarray(a.transpose(1, 0, 2))   # [N, T, I] -> [T, N, I]


def evaluate(eff, task, splits=("train", "val", "test")):
    """Per-model metrics (list of dicts) of stacked effective parameters on the splits."""
    M = eff[0].shape[0]
    out = [dict() for _ in range(M)]
    for sp in splits:
        x, y = load_split(task, sp)
        yp, _ = cell.predict(_tm(x), *eff)
        for m in range(M):
            out[m].update(metrics(yp[:, m, :].T, y, sp + "_"))
    return out


def _val_washout(eff, xT, yv, cache):
    """Per-model validation washout MSE [M] (time-major y [T, M, B]): cfcbase.tasks.washout_mse
    with the sum over (t, b) in an order that does not depend on M (cell.sum_tb)."""
    e = cell.forward(cache, xT, *eff)[WASHOUT:] - yv[WASHOUT:, None, :]
    return cell.sum_tb(e * e) / (e.shape[0] * e.shape[2])


CROP_LEN = 10
CROPS_PER_EPOCH = 288


def transient_crops(xT, yT, length=CROP_LEN, n_total=CROPS_PER_EPOCH):
    """Short windows of the training sequences, [length, n_off, N, I] and [length, n_off, N].

    Each crop starts from h = 0 at a new phase, so the ambiguous first steps are trained on
    more (x_0, y_0) pairs than the full sequences alone give (with 32 training sequences the
    teacher otherwise memorises the step-0 sign per sequence and the all-step test MSE sits
    well above the first-step floor). n_off offsets evenly spaced in [5, T - length], so that
    about n_total crops are seen per epoch (sine: 9 offsets 5, 10, ..., 40). Training data only.
    """
    T, N = xT.shape[:2]
    n_off = max(1, int(round(n_total / N)))
    offs = np.unique(np.linspace(5, T - length, n_off).round().astype(int))
    xc = np.stack([xT[o:o + length] for o in offs], axis=1)
    yc = np.stack([yT[o:o + length] for o in offs], axis=1)
    return xc, yc



class _Caches(dict):
    def get(self, T, M, B, I, H):
        k = (T, B)
        if k not in self:
            self[k] = cell.Cache(T, M, B, I, H)
        return self[k]


def _data(task):
    x, y = load_split(task, "train")
    xv, yv = load_split(task, "val")
    return _tm(x), _tm(y)[:, :, 0], _tm(xv), _tm(yv)[:, :, 0]



# ---- teacher ----------------------------------------------------------------------------

def init_teachers(H, seeds, I=1):
    p = Params(H, len(seeds), I)
    C = I + H
    for m, seed in enumerate(seeds):
        rng = np.random.default_rng([seed, H, 1])
        p.W[m] = rng.normal(0.0, 1.0 / np.sqrt(C), (2 * H, C))
        p.b[m, :H] = 1.0                                   # gates start mostly open
        p.log_tau[m] = np.log(rng.uniform(0.3, 3.0, H))
        p.w_o[m] = rng.normal(0.0, 0.3 / np.sqrt(H), H)
    return p


def train_teachers(task, H, seeds, epochs=2000, lr=1e-2, clip=1.0, eval_every=10, crop_weight=1.0,
                   batch=32, log=None):
    """Float teachers (one per seed, stacked): Adam, cosine LR over all steps, minibatches of
    `batch` sequences (sine: the whole training set, one step per epoch); per model the
    checkpoint with the best validation washout MSE, checked every eval_every steps.

    Loss: MSE over all steps of the training sequences + crop_weight * MSE over the
    transient crops of the same sequences (see transient_crops)."""
    if epochs < 1:
        raise TrainerError(f"teacher epochs must be positive, got {epochs}")
    xT, yT, xvT, yvT = _data(task)
    T, N, I = xT.shape
    p = init_teachers(H, seeds, I)
    M = p.M
    caches, vcache = _Caches(), cell.Cache(T, M, xvT.shape[1], I, H)
    if crop_weight:
        xc_all, yc_all = transient_crops(xT, yT)

    def grad_(g, idx, step, nsteps):
        xb, yb = (xT, yT) if len(idx) == N else (np.ascontiguousarray(xT[:, idx]), yT[:, idx])
        tau, lam = p.tau, p.lam
        cache = caches.get(T, M, len(idx), I, H)
        y = cell.forward(cache, xb, p.W, p.b, lam, p.w_o, p.b_o[:, 0])
        L, dy, _ = cell.loss_and_grads(y, yb)
        dW, db, dlt, dwo, dbo = cell.backward(cache, xb, p.W, lam, tau, p.w_o, dy)
        if crop_weight:
            xc = np.ascontiguousarray(xc_all[:, :, idx].reshape(CROP_LEN, -1, I))
            yc = yc_all[:, :, idx].reshape(CROP_LEN, -1)
            ccache = caches.get(CROP_LEN, M, xc.shape[1], I, H)
            y = cell.forward(ccache, xc, p.W, p.b, lam, p.w_o, p.b_o[:, 0])
            _, dy, _ = cell.loss_and_grads(y, yc)
            dy *= crop_weight
            grads = cell.backward(ccache, xc, p.W, lam, tau, p.w_o, dy)
            dW += grads[0]; db += grads[1]; dlt += grads[2]; dwo += grads[3]; dbo += grads[4]  # noqa: E702
        g.W[...] = dW; g.b[...] = db; g.log_tau[...] = dlt; g.w_o[...] = dwo; g.b_o[:, 0] = dbo  # noqa: E702

    def on_eval(step, nsteps, v):
        if log and step % 500 == 0:
            log(f"teachers H={H} step {step}/{nsteps}: val washout MSE " + " ".join(f"{x:.2e}" for x in v))

    t0 = time.perf_counter()
    best, _ = optimize(p, grad_, N, epochs, lr, clip, batch, [H, 7, N],   # the same batch order for every seed
                       lambda q: _val_washout(effective(q), xvT, yvT, vcache), f"teacher H={H}",
                       eval_every, on_eval=on_eval)
    return best.p, {"val_mse_washout_sel": best.val.tolist(), "wall_s": time.perf_counter() - t0}


# ---- student ----------------------------------------------------------------------------

def init_students(teachers: Params, scheme="coupled"):
    """Students start from their teachers: shadow weights = W, per-row least-squares scales."""
    p = Params(teachers.H, teachers.M, teachers.I, student=True)
    p.V[...] = teachers.W
    p.s[...] = best_row_scales(teachers.W)
    if scheme == "twn":
        p.s[...] = quantize(p.V, p.s, "twn")[1]
    for k in ("b", "log_tau", "w_o", "b_o"):
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


def train_students(task, teachers: Params, shaped, distill, epochs=1000, lr=3e-3,
                   scheme="coupled", clip=1.0, beta=SHAPED_BETA, alpha=(0.3, 0.8), beta_zero=0.0,
                   transient_w=1.0, freeze_trits=False, start=None, eval_every=10, batch=32,
                   log=None, thr_learn=False, damp=0.0, inq=0):
    """QAT of M ternary students, student m from teachers model m (a stack of M).

    shaped: per-model bools (shaped STE vs identity STE); distill: per-model None, "traj"
    (trajectory distillation) or "out" (output-only distillation). beta and alpha are (start,
    end) pairs, linear over the optimizer steps: the shaped STE's window sharpness (window
    width 1/beta; default configs.SHAPED_BETA, docs/training.md) and the distillation weight
    (default 0.3 -> 0.8); beta_zero > 0 adds the zero-boundary window of that (constant)
    sharpness to the shaped STE. Per model the
    checkpoint with the best validation washout MSE (hard ternary forward) is kept.
    transient_w weighs the task error of steps t < WASHOUT (see step_weights).
    freeze_trits: only scales, biases, tau and readout learn (the refit after coordinate search).
    start: a student Params stack to start from instead of the teachers (init_students).
    Minibatches of `batch` sequences as for the teachers; beta, alpha and the LR follow the
    optimizer step; validation every eval_every steps.
    Techniques (docs/training.md, "Techniques"; the sweep's knobs): thr_learn, a learned ternary
    threshold per row (init 0.5; the shaped STE's window is centred on it); damp > 0, oscillation
    dampening of that weight (quant.dampening) added to the loss; inq = K > 0, incremental
    quantization in K stages (quant.inq_mask: 1/2, 3/4, ... of each row's weights quantized and
    frozen, the others float, all in the last stage; checkpoints from the last stage only).
    """
    if epochs < 1:
        raise TrainerError(f"student epochs must be positive, got {epochs}")
    xT, yT, xvT, yvT = _data(task)
    T, N, I = xT.shape
    H, M = teachers.H, teachers.M
    shaped = np.asarray(shaped, bool)
    traj = np.array([d == "traj" for d in distill], np.float64)
    outd = np.array([d == "out" for d in distill], np.float64)
    y_t, h_t = cell.predict(xT, *effective(teachers))
    sw = None if transient_w == 1.0 else step_weights(T, transient_w)
    p = init_students(teachers, scheme) if start is None else start.copy()
    if thr_learn:                                   # the same student with thresholds d = 0.5, last in the layout
        q = Params(H, M, I, student=True, thr=True)
        q.flat[:, :p.flat.shape[1]] = p.flat
        q.d[...] = 0.5
        p = q
    caches, vcache = _Caches(), cell.Cache(T, M, xvT.shape[1], I, H)
    trits0 = quantize(p.V, p.s, scheme, _thr(p))[0]
    flips = np.zeros(M)
    cur = {"trits": trits0}                          # the trits of the previous step
    if inq:
        cur["mask"] = np.zeros(p.V.shape, bool)      # the quantized (frozen) weights
        cur["T"] = np.zeros(p.V.shape)
        cur["stage"] = -1

    def grad_(g, idx, step, nsteps):
        full = len(idx) == N
        xb, yb = (xT, yT) if full else (np.ascontiguousarray(xT[:, idx]), yT[:, idx])
        hb, ytb = (h_t, y_t) if full else (h_t[:, :, idx], y_t[:, :, idx])
        bt = linear(beta[0], beta[1], step, nsteps)
        al = linear(alpha[0], alpha[1], step, nsteps)
        if inq:
            stage = min(inq - 1, step * inq // nsteps)
            if stage != cur["stage"]:                 # a new stage: more weights quantized and frozen
                new = inq_mask(p.V, p.s, cur["mask"], inq_fraction(stage, inq))
                cur["T"] = np.where(cur["mask"], cur["T"], ternarize(p.V / p.s[..., None]))
                cur["mask"], cur["stage"] = new, stage
                np.copyto(p.V, p.s[..., None] * cur["T"], where=new)
        trits, s_eff, s_thr = quantize(p.V, p.s, scheme, _thr(p))
        flips[...] += np.count_nonzero(trits != cur["trits"], axis=(1, 2))
        cur["trits"] = trits
        W = s_eff[..., None] * trits if not inq else np.where(cur["mask"], p.s[..., None] * cur["T"], p.V)
        tau, lam = p.tau, p.lam
        cache = caches.get(T, M, len(idx), I, H)
        y = cell.forward(cache, xb, W, p.b, lam, p.w_o, p.b_o[:, 0])
        L, dy, dh = cell.loss_and_grads(y, yb, alpha=al * traj, h=cache.h[1:], h_teacher=hb,
                                        alpha_out=al * outd, y_teacher=ytb, step_w=sw)
        dW, db, dlt, dwo, dbo = cell.backward(cache, xb, W, lam, tau, p.w_o, dy, dh)
        if inq:
            dV, ds = inq_grads(dW, cur["mask"], cur["T"])
        elif thr_learn:
            u = p.V / s_thr[..., None]
            dV = dW * np.where(shaped[:, None, None], window(u, bt, p.d[..., None]), 1.0)
            ds = (dW * trits).sum(axis=-1)
            g.d[...] = threshold_grads(dW, u, s_thr, p.d)
        else:
            dV, ds = shadow_grads(dW, p.V, trits, s_thr, scheme, shaped, bt, beta_zero)
        if damp:
            dV += dampening(p.V, s_thr, trits, damp)[1]
        if freeze_trits:
            dV[...] = 0.0
        g.V[...] = dV; g.s[...] = ds; g.b[...] = db; g.log_tau[...] = dlt  # noqa: E702
        g.w_o[...] = dwo; g.b_o[:, 0] = dbo  # noqa: E702

    def after_step():
        np.maximum(p.s, S_MIN, out=p.s)
        if thr_learn:
            np.clip(p.d, *THR_RANGE, out=p.d)
        if inq:                                       # the quantized weights stay exactly on their trits
            np.copyto(p.V, p.s[..., None] * cur["T"], where=cur["mask"])
        if freeze_trits:                              # keep u = V / s exactly on the trits
            np.multiply(p.s[..., None], trits0, out=p.V)

    t0 = time.perf_counter()
    def validate(q):
        if inq and cur["stage"] < inq - 1:            # not a ternary model yet: no checkpoint
            return np.full(M, 1e300)
        return _val_washout(effective(q, scheme), xvT, yvT, vcache)

    best, nsteps = optimize(p, grad_, N, epochs, lr, clip, batch, [H, 8, N],   # same order for every seed and config
                            validate, f"student H={H}", eval_every, after_step=after_step)
    final = quantize(best.p.V, best.p.s, scheme, _thr(best.p))[0]
    n = trits0[0].size
    info = [{"val_mse_washout_sel": float(best.val[m]), "flip_rate": float(flips[m] / (n * nsteps)),
             "trit_change_frac": float(np.mean(final[m] != trits0[m])),
             "zero_frac": float(np.mean(final[m] == 0))} for m in range(M)]
    return best.p, info, time.perf_counter() - t0


def frozen(p: Params, m, scheme="coupled", trits=None, s=None):
    """Model m of a stack as a frozen ternary model dict (trits, s, b, tau, w_o, b_o).

    For a teacher stack (PTQ) pass trits and s explicitly."""
    if trits is None:
        tr, s_eff, _ = quantize(p.V[m], p.s[m], scheme, None if _thr(p) is None else p.d[m])
        trits, s = tr, s_eff
    return {"trits": np.asarray(trits).astype(np.int8), "s": np.asarray(s, np.float64).copy(),
            "b": p.b[m].copy(), "tau": p.tau[m].copy(), "w_o": p.w_o[m].copy(),
            "b_o": float(p.b_o[m, 0])}


def from_frozen(models, H):
    """A student Params stack whose trits and scales are the frozen models' (V = s * trits)."""
    p = Params(H, len(models), models[0]["trits"].shape[1] - H, student=True)
    for i, m in enumerate(models):
        p.V[i] = m["s"][:, None] * m["trits"]
        p.s[i] = m["s"]
        p.b[i] = m["b"]
        p.log_tau[i] = np.log(m["tau"])
        p.w_o[i] = m["w_o"]
        p.b_o[i, 0] = m["b_o"]
    return p


def frozen_eff(m):
    """Stacked (M = 1) effective parameters of a frozen model."""
    W = m["s"][:, None] * m["trits"].astype(np.float64)
    return (W[None], m["b"][None], decay(m["tau"])[None], m["w_o"][None],
            np.array([m["b_o"]]))
