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

import numpy as np

from cfcbase.cell import decay

from . import cell
from .quant import (THR_BETA, dampening, shadow_grads, threshold_grads, window_antiderivative,
                    window_zero_antiderivative)

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
        from .quant import window  # noqa: PLC0415
        an = dW * window(V0 / s[..., None], beta, d0[..., None])
        out[f"thr-shaped[V,{tag}]"] = _rel_err(an, _numeric(lambda: P.loss(sur(), **kw)[0], V))
    # oscillation dampening: the term's own gradient (it does not pass through the cell)
    V = V0.copy()
    an = dampening(V0, s, T0, 0.3)[1]
    out["damp[V]"] = _rel_err(an, _numeric(lambda: float(np.sum(dampening(V, s, T0, 0.3)[0])), V))
    # incremental quantization: W = where(mask, s T, V), exact (no surrogate)
    from .quant import inq_grads  # noqa: PLC0415
    mask = rng.random((M, R, C)) < 0.6
    for tag, kw in (("task", {}), ("traj", {"alpha": 0.4})):
        V, s_var = V0.copy(), s.copy()
        f = lambda: np.where(mask, s_var[..., None] * T0, V)                                    # noqa: E731
        dW = P.grads(f(), **kw)["W"]
        dV, ds = inq_grads(dW, mask, T0)
        out[f"inq[V,{tag}]"] = _rel_err(dV, _numeric(lambda: P.loss(f(), **kw)[0], V))
        out[f"inq[s,{tag}]"] = _rel_err(ds, _numeric(lambda: P.loss(f(), **kw)[0], s_var))
    # int8 (trainer/int8.py): straight-through inside |u| <= 127.5, LSQ scale gradient
    from .int8 import int8_grads  # noqa: PLC0415
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
    # ---- the classification head and its cross-entropy (trainer/classify_gradcheck.py) [classification hook]
    from .classify_gradcheck import gradcheck_groups
    out.update(gradcheck_groups(_numeric, _rel_err, seed=seed, H=H, T=T, B=B))
    if log:
        worst = max(out, key=out.get)
        log(f"gradcheck: {len(out)} groups, max relative error {out[worst]:.2e} ({worst}), tolerance {TOL:g}")
    return out


def failures(result):
    return {k: v for k, v in result.items() if not v < TOL}


def checked(log=None):
    """run(log=log); a group above TOL is a TrainerError (a factorial then trains nothing)."""
    from .errors import TrainerError
    gc = run(log=log)
    bad = failures(gc)
    if bad:
        k = max(bad, key=bad.get)
        raise TrainerError(f"gradient check failed: {len(bad)} group(s) above {TOL:g}, worst {k} "
                           f"relative error {bad[k]:.3g}; not training")
    return gc
