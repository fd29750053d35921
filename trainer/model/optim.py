"""The optimizer side of training: Adam, the cosine learning rate, the per-model gradient clip,
minibatches, and the one optimizer loop (``optimize``) that teachers, students and the refit
after coordinate search all run, on the flat parameter vectors of trainer.model.params.
"""
from __future__ import annotations

import numpy as np

from ..errors import TrainerError


class Adam:
    def __init__(self, shape, b1=0.9, b2=0.999, eps=1e-8):
        self.m, self.v, self.t = np.zeros(shape), np.zeros(shape), 0
        self.b1, self.b2, self.eps = b1, b2, eps

    def step(self, theta, g, lr):
        self.t += 1
        self.m *= self.b1
        self.m += (1 - self.b1) * g
        self.v *= self.b2
        self.v += (1 - self.b2) * g * g
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        theta -= (lr / c1) * self.m / (np.sqrt(self.v / c2) + self.eps)


def cosine_lr(lr0, e, epochs, floor=0.01):
    return lr0 * (floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * e / max(epochs - 1, 1))))


def linear(a, b, e, epochs):
    return a + (b - a) * e / max(epochs - 1, 1)


def clip_(g, max_norm, what="training"):
    """Per-model global-norm clip of g [M, n] in place; TrainerError on NaN/inf."""
    n = np.sqrt(np.einsum("mn,mn->m", g, g))
    if not np.all(np.isfinite(n)):
        raise TrainerError(f"{what} diverged: gradient is NaN or infinite (try a smaller learning rate)")
    g *= np.minimum(1.0, max_norm / np.maximum(n, 1e-300))[:, None]
    return n


def minibatches(N, batch, rng):
    """Index arrays of one epoch: all of range(N) in order when it fits one batch, else a
    seeded permutation cut into batches of at most `batch` (n_batches of them)."""
    if N <= batch:
        return [np.arange(N)]
    perm = rng.permutation(N)
    return [perm[i:i + batch] for i in range(0, N, batch)]


def n_batches(N, batch):
    """len(minibatches(N, batch, rng)), without drawing from rng."""
    return 1 if N <= batch else -(-N // batch)


class _Best:
    """Per-model checkpoint with the lowest validation washout MSE."""

    def __init__(self, p):
        self.p, self.val = p.copy(), np.full(p.M, np.inf)

    def update(self, p, v, what):
        if not np.all(np.isfinite(v)):
            raise TrainerError(f"{what} diverged to NaN (validation MSE is not finite)")
        better = v < self.val
        self.val = np.where(better, v, self.val)
        self.p.flat[better] = p.flat[better]
        return better


def optimize(p, grad_, N, epochs, lr, clip, batch, order_seed, validate, what, eval_every=10,
             after_step=None, on_eval=None):
    """The one optimizer loop (teachers, students, the refit after coordinate search).

    Per epoch the N training sequences in minibatches of `batch` (order from the seed
    order_seed, the same for every model of the stack); per optimizer step grad_(g, idx, step,
    nsteps) fills the gradient g (a Params shaped like p) for the sequences idx, then the
    per-model global-norm clip, Adam at the cosine LR over all nsteps steps, and after_step()
    (in-place projections of p). Every eval_every steps and at the last one validate(p) gives
    the per-model validation MSE [M]; the best checkpoint per model is kept, and
    on_eval(step, nsteps, v) is told. Returns (the _Best checkpoint, nsteps)."""
    g = p.zeros_like()
    adam = Adam(p.flat.shape)
    best = _Best(p)
    nsteps = epochs * n_batches(N, batch)
    rng = np.random.default_rng(order_seed)
    step = 0
    for _ in range(epochs):
        for idx in minibatches(N, batch, rng):
            grad_(g, idx, step, nsteps)
            clip_(g.flat, clip, what)
            adam.step(p.flat, g.flat, cosine_lr(lr, step, nsteps))
            if after_step:
                after_step()
            step += 1
            if step % eval_every == 0 or step == nsteps:
                v = validate(p)
                best.update(p, v, f"{what} (step {step})")
                if on_eval:
                    on_eval(step, nsteps, v)
    return best, nsteps
