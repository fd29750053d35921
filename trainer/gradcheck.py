"""Gradient validation: analytic BPTT vs float64 central differences (docs/training.md,
"Gradient check"; the factorial runs it before any training).

Every parameter group, with and without the distillation terms; max relative error
|analytic - numeric| / max(|analytic|, |numeric|, FLOOR) must stay below TOL.

Groups:
  teacher[...]            W, b, log_tau, w_o, b_o of the float cell (task loss, + trajectory
                          term, + output-only term, + per-step task weights)
  student-eff[...]        the ternary student w.r.t. its effective (dequantized) weights
                          W = s * trits and its scales s, trits held fixed (+ trajectory term)
  ste / shaped-ste        the chain rule from dL/dW_eff to the shadow weights V: checked on a
                          surrogate forward whose exact derivative is the estimator
                          (identity: W = s*T0 + (V - V0); shaped: W = s*T0 + s*(Phi(V/s) -
                          Phi(V0/s)) with Phi' = the smoothstep window; with the zero-boundary
                          window Phi0 added likewise)
  lsq-scale               the LSQ scale gradient on its surrogate W = s*T0 + (s - s0)*(T0 - u0)
  cls-...                 the classification head and its cross-entropy, both poolings, with the
                          distillation terms (trainer/classify.py, gradcheck_groups)
Models are stacked (M = 2) so the check also covers that models do not mix.
"""
from __future__ import annotations

import numpy as np

from cfcbase.cell import decay

from . import cell
from .quant import shadow_grads, window_antiderivative, window_zero_antiderivative

TOL = 1e-3
FLOOR = 1e-6
EPS = 1e-6


def _rel_err(a, n):
    return float(np.max(np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), FLOOR)))


def _numeric(f, x):
    g = np.zeros_like(x)
    flat, gf = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + EPS
        lp = f()
        flat[i] = old - EPS
        lm = f()
        flat[i] = old
        gf[i] = (lp - lm) / (2 * EPS)
    return g


class _Problem:
    """A small random problem: data, targets, a teacher trajectory, per-model parameters."""

    def __init__(self, seed=0, M=2, T=7, B=3, I=1, H=3):
        rng = np.random.default_rng(seed)
        self.M, self.T, self.B, self.I, self.H = M, T, B, I, H
        C = I + H
        self.xT = rng.normal(size=(T, B, I))
        self.y = rng.normal(size=(T, B)) * 0.5
        self.h_t = rng.normal(size=(T, M, B, H)) * 0.3
        self.y_t = rng.normal(size=(T, M, B)) * 0.5
        self.W = rng.normal(size=(M, 2 * H, C)) * 0.8
        self.b = rng.normal(size=(M, 2 * H)) * 0.3
        self.log_tau = np.log(rng.uniform(0.05, 1.0, (M, H)))
        self.w_o = rng.normal(size=(M, H))
        self.b_o = rng.normal(size=M)
        self.cache = cell.Cache(T, M, B, I, H)

    def loss(self, W, alpha=0.0, alpha_out=0.0, step_w=None):
        tau = np.exp(self.log_tau)
        lam = decay(tau)
        y = cell.forward(self.cache, self.xT, W, self.b, lam, self.w_o, self.b_o)
        L, dy, dh = cell.loss_and_grads(y, self.y, alpha=alpha, h=self.cache.h[1:], h_teacher=self.h_t,
                                        alpha_out=alpha_out, y_teacher=self.y_t, step_w=step_w)
        return float(np.sum(L)), dy, dh, lam, tau

    def grads(self, W, alpha=0.0, alpha_out=0.0, step_w=None):
        _, dy, dh, lam, tau = self.loss(W, alpha, alpha_out, step_w)
        dW, db, dlt, dwo, dbo = cell.backward(self.cache, self.xT, W, lam, tau, self.w_o, dy, dh)
        return {"W": dW, "b": db, "log_tau": dlt, "w_o": dwo, "b_o": dbo}


def run(log=None, seed=0, H=3, T=7, B=3):
    """Return {group: max relative error}; every value must be < TOL."""
    P = _Problem(seed=seed, H=H, T=T, B=B)
    out = {}
    # ---- teacher: every parameter group, three loss variants
    sw = np.linspace(0.1, 1.0, P.T)
    for tag, kw in (("task", {}), ("traj", {"alpha": 0.4}), ("out", {"alpha_out": 0.3}),
                    ("stepw+traj", {"alpha": 0.4, "step_w": sw})):
        an = P.grads(P.W, **kw)
        for name in ("W", "b", "log_tau", "w_o", "b_o"):
            x = P.W if name == "W" else getattr(P, name)
            num = _numeric(lambda: P.loss(P.W, **kw)[0], x)
            out[f"teacher[{name},{tag}]"] = _rel_err(an[name], num)
    # ---- student, effective weights and scales with trits held fixed
    rng = np.random.default_rng(seed + 1)
    M, R, C = P.W.shape
    T0 = rng.integers(-1, 2, size=(M, R, C)).astype(np.float64)
    s = rng.uniform(0.3, 1.5, (M, R))
    for tag, kw in (("task", {}), ("traj", {"alpha": 0.4})):
        Weff = s[..., None] * T0
        dW = P.grads(Weff, **kw)["W"]
        out[f"student-eff[W,{tag}]"] = _rel_err(dW, _numeric(lambda: P.loss(Weff, **kw)[0], Weff))
        ds_an = shadow_grads(dW, s[..., None] * T0, T0, s, "coupled", False, 1.0)[1]
        num = _numeric(lambda: P.loss(s[..., None] * T0, **kw)[0], s)
        out[f"student-eff[s,{tag}]"] = _rel_err(ds_an, num)
        for name in ("b", "log_tau", "w_o", "b_o"):
            an = P.grads(Weff, **kw)[name]
            num = _numeric(lambda: P.loss(s[..., None] * T0, **kw)[0], getattr(P, name))
            out[f"student-eff[{name},{tag}]"] = _rel_err(an, num)
    # ---- STE chain rules on their surrogates (trits T0 from V0; scales fixed)
    V0 = s[..., None] * rng.uniform(-1.3, 1.3, (M, R, C))
    T0 = np.sign(V0) * (np.abs(V0 / s[..., None]) > 0.5)
    beta = 2.5
    for tag, kw in (("task", {}), ("traj", {"alpha": 0.4})):
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
    # ---- the classification head and its cross-entropy (trainer/classify.py) [classification hook]
    from .classify import gradcheck_groups
    out.update(gradcheck_groups(_numeric, _rel_err, seed=seed, H=H, T=T, B=B))
    if log:
        worst = max(out, key=out.get)
        log(f"gradcheck: {len(out)} groups, max relative error {out[worst]:.2e} ({worst}), tolerance {TOL:g}")
    return out


def failures(result):
    return {k: v for k, v in result.items() if not v < TOL}
