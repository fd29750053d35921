"""The gradient check of the classification head and its cross-entropy (trainer/gradcheck.py runs
these groups with its own): every parameter and pooling against central differences, the ternary
student and the shaped STE on the cross-entropy. The head's functions are looked up in
trainer/classify.py when the check runs, so that it checks what the trainer runs.
"""
from __future__ import annotations

import numpy as np

from cfcbase.cell import decay

from .quant import shadow_grads


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
    # looked up at call time (tests/test_classify.py patches classify.backward with a broken one)
    from .classify import POOLINGS, Cache, backward, forward, log_softmax, loss_and_grads
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
