"""A trained classifier as a frozen ternary model (trits, scales, biases, tau, head), the greedy
coordinate search over its trits on the training cross-entropy and the refit with the trits fixed
(docs/training.md, "Classification"; the factorial's steps after QAT: trainer/classify_factorial.py).
"""
from __future__ import annotations

import time

import numpy as np

from cfcbase.cell import activations_, decay, state_update_

from . import train
from .classify import ClsParams, _data, ce_and_accuracy, train_students, with_head
from .quant import quantize
from .search import scaled_heads


def frozen(p: ClsParams, m, scheme="coupled"):
    """Model m of a student stack as a frozen ternary classifier (trits, s, b, tau, w_c, b_c)."""
    trits, s_eff, _ = quantize(p.V[m], p.s[m], scheme)
    return {"trits": np.asarray(trits).astype(np.int8), "s": np.asarray(s_eff, np.float64).copy(),
            "b": p.b[m].copy(), "tau": p.tau[m].copy(), "w_c": p.w_c[m].copy(), "b_c": p.b_c[m].copy()}


def from_frozen(models, H):
    """A student stack of frozen classifiers: train.from_frozen's cell (V = s * trits), their heads."""
    cells = train.from_frozen([dict(m, w_o=np.zeros(H), b_o=0.0) for m in models], H)
    return with_head(cells, [m["w_c"] for m in models], [m["b_c"] for m in models])


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
    H, sc, Wh = scaled_heads(W)
    Kc = len(cols)
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
