"""``python -m trainer bench``: ms per epoch of the numpy trainer vs the same cell in PyTorch autograd.

An epoch here is one optimizer step on one batch: forward over T steps, the loss, BPTT
backward, per-model global-norm clip 1.0 and Adam, exactly the teacher (or student: coupled
scales, identity STE) step of trainer/train.py without the validation checks and crops.
One model (M = 1), I = 1, float64. The torch side (trainer/bench_torch.py) is the same
computation written with autograd; a check compares both losses at the same parameters.

Both sides run single-threaded: importing the trainer pins the BLAS/OpenMP thread variables
before numpy is imported (cfcbase.numerics.single_thread), torch.set_num_threads(1). Runs are interleaved (numpy, torch,
numpy, torch, ...), so a slow phase of a shared machine hits both sides alike.
torch is optional and imported lazily; without it the numpy figures are printed, then one line.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from cfcbase.stats import fit_exponent
from cfcbase.tasks import builtin

from ..model import cell, optim, train
from ..model.heads import ReadoutHead
from ..model.quant import S_MIN, quantize, shadow_grads
from . import bench_torch

NO_TORCH = "torch not installed: pip install torch==2.13.0"
LOSS_RTOL = 1e-9


def _import_torch():
    try:
        import torch                     # an optional peer, for this benchmark only
    except ImportError:
        return None
    return torch


class Problem:
    """Data and initial parameters shared by both sides: the sine task's training sequences
    tiled to `batch`, the teacher init of seed 0 (the student starts from it, as in train.py)."""

    def __init__(self, H, batch=32, student=False, seed=0):
        self.head = ReadoutHead(builtin("sine"))
        x, y = self.head.task.split("train")               # [N, T, I], [N, T, 1]
        idx = np.arange(batch) % x.shape[0]
        self.xT = np.ascontiguousarray(x[idx].transpose(1, 0, 2))   # [T, B, I]
        self.yT = np.ascontiguousarray(y[idx, :, 0].T)               # [T, B]
        self.H, self.student = H, student
        teachers = train.init_teachers(self.head, H, [seed], I=1)
        self.p0 = train.init_students(teachers) if student else teachers


class NumpyStep:
    """The trainer's own step (train.train_teachers / train_students inner loop)."""

    def __init__(self, prob: Problem, lr=1e-2, clip=1.0):
        self.prob, self.lr, self.clip = prob, lr, clip
        self.p = prob.p0.copy()
        self.g = self.p.zeros_like()
        self.adam = optim.Adam(self.p.flat.shape)
        T, B, I = prob.xT.shape
        self.cache = cell.Cache(T, 1, B, I, prob.H)

    def loss(self):
        W, b, lam, p = train.effective(self.p)
        cell.forward(self.cache, self.prob.xT, W, b, lam)
        y = self.prob.head.forward(self.cache, p)
        return float(self.prob.head.loss(y, self.prob.yT, np.ones(1))[0][0])

    def grads(self):
        """The unclipped gradient of the loss at the current parameters, flat [n] (Params order)."""
        self._grads_only = True
        try:
            self.step()
        finally:
            self._grads_only = False
        return self.g.flat[0].copy()

    _grads_only = False

    def step(self):
        p, g, xb, yb, head = self.p, self.g, self.prob.xT, self.prob.yT, self.prob.head
        if p.student:
            trits, s_eff, s_thr = quantize(p.V, p.s, "coupled")
            W = s_eff[..., None] * trits
        else:
            W = p.W
        tau, lam = p.tau, p.lam
        cell.forward(self.cache, xb, W, p.b, lam)
        L, dy = head.loss(head.forward(self.cache, p), yb, np.ones(1))
        dhead = head.backward(self.cache, p, dy, None)
        dW, db, dlt = cell.backward(self.cache, xb, W, lam, tau)
        if p.student:
            dV, ds = shadow_grads(dW, p.V, trits, s_thr, "coupled", False, 1.0)
            g.V[...] = dV; g.s[...] = ds  # noqa: E702
        else:
            g.W[...] = dW
        g.b[...] = db; g.log_tau[...] = dlt; g.w_o[...] = dhead["w_o"]; g.b_o[...] = dhead["b_o"]  # noqa: E702
        if self._grads_only:
            return L
        optim.clip_(g.flat, self.clip, "bench")
        self.adam.step(p.flat, g.flat, self.lr)
        if p.student:
            np.maximum(p.s, S_MIN, out=p.s)
        return L


def _time(fn, steps):
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) * 1e3 / steps


def _stats(v):
    return min(v), statistics.median(v), max(v)


def run(hidden=(16, 32), repeats=7, batch=32, steps=50, student=False, warmup=5, out=print,
        torch_module="auto"):
    """Prints the table; returns {H: {"numpy": [ms...], "torch": [ms...] or None, ...}}."""
    torch = _import_torch() if torch_module == "auto" else torch_module
    bt = None
    if torch is not None:
        bt = bench_torch
        torch.set_num_threads(1)
    which = "student (coupled, identity STE)" if student else "teacher"
    out(f"bench: {which} cell, B={batch}, T=50, M=1, float64, one thread each; an epoch = forward + BPTT "
        f"+ clip + Adam on one batch; {repeats} interleaved repeats x {steps} epochs after {warmup} warm-up")
    res = {}
    for H in hidden:
        prob = Problem(H, batch, student)
        npx = NumpyStep(prob)
        r = {"numpy": [], "torch": None}
        tx = None
        if bt is not None:
            tx = bt.TorchStep(torch, prob)
            ln, lt = npx.loss(), tx.loss()
            rel = abs(ln - lt) / max(abs(ln), 1e-300)
            gn, gt = npx.grads(), tx.grads()
            grel = float(abs(gn - gt).max() / abs(gn).max())
            r["loss_numpy"], r["loss_torch"], r["loss_rel"], r["grad_rel"] = ln, lt, rel, grel
            out(f"H={H:<4d} check at the same parameters: loss numpy {ln:.15e} torch {lt:.15e} "
                f"relative {rel:.1e} ({'ok' if rel <= LOSS_RTOL else 'MISMATCH'}, tolerance {LOSS_RTOL:g}); "
                f"gradients max |numpy - torch| / max |numpy| {grel:.1e}")
            r["torch"] = []
            _time(tx.step, warmup)
        _time(npx.step, warmup)
        for _ in range(repeats):
            r["numpy"].append(_time(npx.step, steps))
            if tx is not None:
                r["torch"].append(_time(tx.step, steps))
        a = _stats(r["numpy"])
        line = f"H={H:<4d} numpy {a[0]:8.3f} / {a[1]:8.3f} / {a[2]:8.3f} ms/epoch (min/median/max)"
        if tx is not None:
            b = _stats(r["torch"])
            r["ratio"] = b[1] / a[1]
            line += (f" | torch {b[0]:8.3f} / {b[1]:8.3f} / {b[2]:8.3f}"
                     f" | torch/numpy (median) {r['ratio']:.2f}x")
        out(line)
        res[H] = r
    if len(hidden) >= 2:
        hs = list(hidden)
        for h0, h1 in (zip(hs, hs[1:]) if len(hs) >= 3 else ()):
            ex = [(k, fit_exponent([h0, h1], [statistics.median(res[h][k]) for h in (h0, h1)]))
                  for k in ("numpy", "torch") if res[h0][k]]
            out(f"growth exponent H={h0}->{h1}: " + ", ".join(f"{k} {e:.2f}" for k, e in ex))
        s = f"growth exponent in H (least-squares fit of log median ms/epoch vs log H, H={hs[0]}..{hs[-1]}): " \
            f"numpy {fit_exponent(hs, [statistics.median(res[h]['numpy']) for h in hs]):.2f}"
        if bt is not None:
            s += f", torch {fit_exponent(hs, [statistics.median(res[h]['torch']) for h in hs]):.2f}"
        out(s)
    if torch is None:
        out(NO_TORCH)
    return res
