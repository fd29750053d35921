"""Gradient validation: analytic BPTT vs float64 central differences (docs/training.md,
"Gradient check"; the factorial runs it before any training).

Every parameter group, with and without the distillation terms; max relative error
|analytic - numeric| / max(|analytic|, |numeric|, FLOOR) must stay below TOL.

Groups, per head (trainer.model.heads: "teacher" the readout, "cls-last" / "cls-mean" the
classifier with either pooling), each on a small random problem of its own:
  <head>[...]             W, b, log_tau and the head's parameters of the float cell (task loss,
                          + trajectory term, + output-distillation term, + per-step task weights)
  <head>-student-eff[...] the ternary student w.r.t. its effective (dequantized) weights
                          W = s * trits and its scales s, trits held fixed (+ trajectory term)
  cls-*-shaped-ste[V]     the shaped STE's chain rule through the classifier's loss
Then the quantizers' chain rules, on the readout's problem:
  ste / shaped-ste        the chain rule from dL/dW_eff to the shadow weights V: checked on a
                          surrogate forward whose exact derivative is the estimator
                          (identity: W = s*T0 + (V - V0); shaped: W = s*T0 + s*(Phi(V/s) -
                          Phi(V0/s)) with Phi' = the smoothstep window; with the zero-boundary
                          window Phi0 added likewise)
  lsq-scale               the LSQ scale gradient on its surrogate W = s*T0 + (s - s0)*(T0 - u0)
  thr / thr-shaped        a learned per-row threshold d (the sweep's knob thr=learned): its gradient
                          on the surrogate W = s*T0 + s*sign(u0)*(S(t(d)) - S(t(d0)))/beta (S the
                          smoothstep, t(d) = beta(|u0| - d) + 1/2), and the shaped STE with its
                          window centred on d
  damp                    the oscillation-dampening term (knob damp) w.r.t. the shadow weights
  inq                     incremental quantization (knob inq): W = where(mask, s*T, V) w.r.t. V and s
  int8-ste / int8-lsq     the int8 scheme's chain rules (trainer/int8.py) on their surrogates, with
                          weights inside and outside the quantizer's range
Models are stacked (M = 2) so the check also covers that models do not mix.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from cfcbase.heads import POOLINGS

from ..errors import TrainerError
from . import cell
from .heads import ClassifierHead, ReadoutHead
from .params import Params
from .quant import (THR_BETA, dampening, inq_grads, int8_grads, shadow_grads, threshold_grads, window,
                    window_antiderivative, window_zero_antiderivative)

TOL = 1e-3
FLOOR = 1e-6
EPS = 1e-6


def _rel_err(a, n):
    return float(np.max(np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), FLOOR)))


def _numeric(f, x):
    """Central differences of f() with respect to every element of x, perturbed in place (x may be
    a view into a parameter vector)."""
    g = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + EPS
        lp = f()
        x[i] = old - EPS
        lm = f()
        x[i] = old
        g[i] = (lp - lm) / (2 * EPS)
    return g


class _Problem:
    """A small random problem for a head: data, targets, a teacher trajectory and outputs,
    per-model parameters (the cell's and the head's, in a Params stack)."""

    def __init__(self, head, seed=0, M=2, T=7, B=3, I=1, H=3, ragged=False):
        rng = np.random.default_rng([seed, 77, len(head.rows(H))])
        self.head, self.M, self.T, self.B, self.I, self.H = head, M, T, B, I, H
        C = I + H
        self.xT = rng.normal(size=(T, B, I))
        self.target = head.random_targets(rng, T, B, ragged) if ragged else head.random_targets(rng, T, B)
        self.h_t = rng.normal(size=(T, M, B, H)) * 0.3
        self.teacher = head.random_teacher(rng, T, M, B)
        self.p = Params(H, M, I, head.rows(H))
        self.p.W[...] = rng.normal(size=(M, 2 * H, C)) * 0.8
        self.p.b[...] = rng.normal(size=(M, 2 * H)) * 0.3
        self.p.log_tau[...] = np.log(rng.uniform(0.05, 1.0, (M, H)))
        for name, shape in head.rows(H):
            getattr(self.p, name)[...] = rng.normal(size=(M,) + shape)
        self.cache = cell.Cache(T, M, B, I, H)
        self.W = self.p.W

    def loss(self, W, alpha=0.0, alpha_out=0.0, step_w=None):
        p, M = self.p, self.M
        alpha, alpha_out = np.full(M, float(alpha)), np.full(M, float(alpha_out))
        cell.forward(self.cache, self.xT, W, p.b, p.lam)
        self.cache.lengths = self.head.lengths(self.target)
        out = self.head.forward(self.cache, p)
        L, dout = self.head.loss(out, self.target, 1.0 - alpha - alpha_out, alpha_out, self.teacher, step_w)
        dh = None
        if alpha.any():
            Lt, dh = cell.trajectory_term(self.cache.h[1:], self.h_t, alpha, self.B, self.cache.lengths)
            L = L + Lt
        return float(np.sum(L)), dout, dh

    def grads(self, W, alpha=0.0, alpha_out=0.0, step_w=None):
        _, dout, dh = self.loss(W, alpha, alpha_out, step_w)
        dhead = self.head.backward(self.cache, self.p, dout, dh)
        dW, db, dlt = cell.backward(self.cache, self.xT, W, self.p.lam, self.p.tau)
        return {"W": dW, "b": db, "log_tau": dlt, **dhead}


LOSSES = (("task", {}), ("traj", {"alpha": 0.4}), ("out", {"alpha_out": 0.3}))


def gradcheck_heads():
    """The heads the check covers, each on a small random problem of its own: (group prefix, head)."""
    stub = SimpleNamespace(K=3, classes=["a", "b", "c"], steps=50)     # a task as the heads see it
    return [("teacher", ReadoutHead(stub))] + [(f"cls-{pool}", ClassifierHead(stub, pool)) for pool in POOLINGS] + \
        [(f"cls-{pool}-ragged", ClassifierHead(stub, pool)) for pool in POOLINGS]


def _head_groups(prefix, P, seed):
    """Every parameter group of one head's problem P, with and without the distillation terms, and
    the student's effective weights and scales (trits held fixed)."""
    out = {}
    sw = np.linspace(0.1, 1.0, P.T)
    names = ["W", "b", "log_tau"] + [name for name, _ in P.head.rows(P.H)]
    for tag, kw in LOSSES + (("stepw+traj", {"alpha": 0.4, "step_w": sw}),):
        an = P.grads(P.W, **kw)
        for name in names:
            num = _numeric(lambda: P.loss(P.W, **kw)[0], getattr(P.p, name))
            out[f"{prefix}[{name},{tag}]"] = _rel_err(an[name], num)
    rng = np.random.default_rng([seed, 1])
    M, R, C = P.W.shape
    T0 = rng.integers(-1, 2, size=(M, R, C)).astype(np.float64)
    s = rng.uniform(0.3, 1.5, (M, R))
    W0 = P.W.copy()
    for tag, kw in LOSSES[:2]:
        Weff = s[..., None] * T0
        dW = P.grads(Weff, **kw)["W"]
        out[f"{prefix}-student-eff[W,{tag}]"] = _rel_err(dW, _numeric(lambda: P.loss(Weff, **kw)[0], Weff))
        ds_an = shadow_grads(dW, s[..., None] * T0, T0, s, "coupled", False, 1.0)[1]
        out[f"{prefix}-student-eff[s,{tag}]"] = _rel_err(ds_an, _numeric(lambda: P.loss(s[..., None] * T0, **kw)[0], s))
    P.W[...] = W0
    return out


def run(log=None, seed=0, H=3, T=7, B=3):
    """Return {group: max relative error}; every value must be < TOL."""
    out = {}
    problems = [(prefix, _Problem(head, seed=seed, H=H, T=T, B=B, ragged=prefix.endswith("-ragged")))
                for prefix, head in gradcheck_heads()]
    for prefix, P in problems:
        out.update(_head_groups(prefix, P, seed))
    # the quantizers' chain rules, on the forecast's problem (they do not depend on the head)
    P = problems[0][1]
    rng = np.random.default_rng(seed + 1)
    M, R, C = P.W.shape
    s = rng.uniform(0.3, 1.5, (M, R))
    V0 = s[..., None] * rng.uniform(-1.3, 1.3, (M, R, C))
    T0 = np.sign(V0) * (np.abs(V0 / s[..., None]) > 0.5)       # trits T0 from V0; scales fixed
    beta = 2.5
    for tag, kw in (("task", {}), ("traj", {"alpha": 0.4})):
        out.update(_ternary_groups(P, rng, s, V0, T0, beta, tag, kw))
    out.update(_technique_groups(P, rng, s, V0, T0))
    out.update(_int8_groups(P, rng, s))
    for prefix, Pc in problems[1:]:
        out.update(_classifier_ste_groups(prefix, Pc, rng, s, beta))
    if log:
        worst = max(out, key=out.get)
        log(f"gradcheck: {len(out)} groups, max relative error {out[worst]:.2e} ({worst}), tolerance {TOL:g}")
    return out


def _ternary_groups(P, rng, s, V0, T0, beta, tag, kw) -> dict:
    """The ternary STEs on their surrogates: identity, shaped, shaped with the zero-boundary
    window, the LSQ scale, the learned threshold and the shaped STE centred on it."""
    out = {}
    M, R, C = P.W.shape
    V = V0.copy()
    sur = lambda: s[..., None] * T0 + (V - V0)                                   # noqa: E731
    dW = P.grads(sur(), **kw)["W"]
    an = shadow_grads(dW, V0, T0, s, "coupled", False, beta)[0]
    out[f"ste[V,{tag}]"] = _rel_err(an, _numeric(lambda: P.loss(sur(), **kw)[0], V))
    phi0 = window_antiderivative(V0 / s[..., None], beta)
    sur = lambda: s[..., None] * (T0 + window_antiderivative(V / s[..., None], beta) - phi0)  # noqa: E731
    dW = P.grads(sur(), **kw)["W"]
    an = shadow_grads(dW, V0, T0, s, "coupled", True, beta)[0]
    out[f"shaped-ste[V,{tag}]"] = _rel_err(an, _numeric(lambda: P.loss(sur(), **kw)[0], V))
    # with the zero-boundary window: Phi + Phi0
    beta0 = 1.5
    phi00 = window_zero_antiderivative(V0 / s[..., None], beta0)
    sur = lambda: s[..., None] * (T0 + window_antiderivative(V / s[..., None], beta) - phi0  # noqa: E731
                                   + window_zero_antiderivative(V / s[..., None], beta0) - phi00)
    dW = P.grads(sur(), **kw)["W"]
    an = shadow_grads(dW, V0, T0, s, "coupled", True, beta, beta0)[0]
    out[f"shaped-ste+zero[V,{tag}]"] = _rel_err(an, _numeric(lambda: P.loss(sur(), **kw)[0], V))
    # LSQ scale gradient: dW/ds = T0 - u0 inside |u0| <= 1.5
    s_var = s.copy()
    u0 = V0 / s[..., None]
    slope = np.where(np.abs(u0) <= 1.5, T0 - u0, T0)
    sur = lambda: s[..., None] * T0 + (s_var - s)[..., None] * slope              # noqa: E731
    dW = P.grads(sur(), **kw)["W"]
    an = shadow_grads(dW, V0, T0, s, "lsq", False, beta)[1]
    out[f"lsq-scale[s,{tag}]"] = _rel_err(an, _numeric(lambda: P.loss(sur(), **kw)[0], s_var))
    # learned threshold d (per row): W(d) = s T0 + s sign(u0) (S(t(d)) - S(t(d0))) / beta
    d0 = rng.uniform(0.3, 0.8, (M, R))
    d = d0.copy()
    T0d = np.sign(u0) * (np.abs(u0) > d0[..., None])

    def smooth(dd):
        t = np.clip(THR_BETA * (np.abs(u0) - dd[..., None]) + 0.5, 0.0, 1.0)
        return 3 * t * t - 2 * t ** 3
    sur = lambda: s[..., None] * (T0d + np.sign(u0) * (smooth(d) - smooth(d0)) / THR_BETA)   # noqa: E731
    dW = P.grads(sur(), **kw)["W"]
    an = threshold_grads(dW, u0, s, d0)
    out[f"thr[d,{tag}]"] = _rel_err(an, _numeric(lambda: P.loss(sur(), **kw)[0], d))
    # the shaped STE with its window centred on the learned threshold
    V = V0.copy()
    phid = window_antiderivative(V0 / s[..., None], beta, d0[..., None])
    sur = lambda: s[..., None] * (T0d + window_antiderivative(V / s[..., None], beta, d0[..., None]) - phid)  # noqa: E731
    dW = P.grads(sur(), **kw)["W"]
    an = dW * window(V0 / s[..., None], beta, d0[..., None])
    out[f"thr-shaped[V,{tag}]"] = _rel_err(an, _numeric(lambda: P.loss(sur(), **kw)[0], V))
    return out


def _technique_groups(P, rng, s, V0, T0) -> dict:
    """Oscillation dampening (its own term: it does not pass through the cell) and incremental
    quantization, W = where(mask, s T, V): exact, no surrogate."""
    out = {}
    M, R, C = P.W.shape
    V = V0.copy()
    an = dampening(V0, s, T0, 0.3)[1]
    out["damp[V]"] = _rel_err(an, _numeric(lambda: float(np.sum(dampening(V, s, T0, 0.3)[0])), V))
    mask = rng.random((M, R, C)) < 0.6
    for tag, kw in (("task", {}), ("traj", {"alpha": 0.4})):
        V, s_var = V0.copy(), s.copy()
        f = lambda: np.where(mask, s_var[..., None] * T0, V)                                    # noqa: E731
        dW = P.grads(f(), **kw)["W"]
        dV, ds = inq_grads(dW, mask, T0)
        out[f"inq[V,{tag}]"] = _rel_err(dV, _numeric(lambda: P.loss(f(), **kw)[0], V))
        out[f"inq[s,{tag}]"] = _rel_err(ds, _numeric(lambda: P.loss(f(), **kw)[0], s_var))
    return out


def _int8_groups(P, rng, s) -> dict:
    """int8 (trainer.model.int8): straight-through inside |u| <= 127.5, the LSQ scale gradient."""
    out = {}
    M, R, C = P.W.shape
    si = s / 60.0
    V8 = si[..., None] * rng.uniform(-140.0, 140.0, (M, R, C))      # some beyond the range
    u8 = V8 / si[..., None]
    Q0 = np.clip(np.round(u8), -127, 127)
    inside = np.abs(u8) <= 127.5
    for tag, kw in (("task", {}), ("traj", {"alpha": 0.4})):
        V = V8.copy()
        sur = lambda: si[..., None] * Q0 + np.where(inside, V - V8, 0.0)                         # noqa: E731
        dW = P.grads(sur(), **kw)["W"]
        out[f"int8-ste[V,{tag}]"] = _rel_err(int8_grads(dW, u8, Q0)[0], _numeric(lambda: P.loss(sur(), **kw)[0], V))
        s_var = si.copy()
        slope = np.where(inside, Q0 - u8, Q0)
        sur = lambda: si[..., None] * Q0 + (s_var - si)[..., None] * slope                        # noqa: E731
        dW = P.grads(sur(), **kw)["W"]
        out[f"int8-lsq[s,{tag}]"] = _rel_err(int8_grads(dW, u8, Q0)[1], _numeric(lambda: P.loss(sur(), **kw)[0], s_var))
    return out


def _classifier_ste_groups(prefix, Pc, rng, s, beta) -> dict:
    """The shaped STE's chain rule through a classifier's loss."""
    M, R, C = Pc.W.shape
    V0c = s[..., None] * rng.uniform(-1.3, 1.3, (M, R, C))
    Tq = np.sign(V0c) * (np.abs(V0c / s[..., None]) > 0.5)
    V = V0c.copy()
    phi0 = window_antiderivative(V0c / s[..., None], beta)
    sur = lambda: s[..., None] * (Tq + window_antiderivative(V / s[..., None], beta) - phi0)  # noqa: E731
    an = shadow_grads(Pc.grads(sur())["W"], V0c, Tq, s, "coupled", True, beta)[0]
    return {f"{prefix}-shaped-ste[V]": _rel_err(an, _numeric(lambda: Pc.loss(sur())[0], V))}


def failures(result):
    return {k: v for k, v in result.items() if not v < TOL}


def checked(log=None):
    """run(log=log); a group above TOL is a TrainerError (a factorial then trains nothing)."""
    gc = run(log=log)
    bad = failures(gc)
    if bad:
        k = max(bad, key=bad.get)
        raise TrainerError(f"gradient check failed: {len(bad)} group(s) above {TOL:g}, worst {k} "
                           f"relative error {bad[k]:.3g}; not training")
    return gc
