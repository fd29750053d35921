"""Greedy coordinate search over the trits of a frozen ternary model: the factorial's
post-training baseline (docs/training.md, "Greedy coordinate search")."""
from __future__ import annotations

import time

import numpy as np

from cfcbase.cell import activations_, head_scale_rows, state_update_

from .train import _data, frozen_eff, step_weights


def candidate_losses(xT, yT, m, row, cols, new, step_w=None):
    """Train MSE (all steps) of K candidate models that each differ from m in one trit of
    the same row `row` (of the stacked [2H, C] head matrix): candidate k sets column
    cols[k] to new[k].

    Candidates are evaluated together: the batch dimension holds K copies of the training
    set, and candidate k adds (new_k - old_k) * s_row * z[:, cols_k] to the pre-activation
    of `row`. The heads sit on their own axis of one array, and the nonlinearities and the
    state update are the float reference's (cfcbase.cell), as in trainer/cell.py.
    """
    T, B, I = xT.shape
    W, b, lam, w_o, b_o = (a[0] for a in frozen_eff(m))
    R, C = W.shape
    H = R // 2
    K = len(cols)
    sc = head_scale_rows(H)
    Wh = W * sc[:, None]
    xa = xT @ Wh[:, :I].T + b * sc                           # [T, B, 2H], shared by all candidates
    WfT = np.ascontiguousarray(Wh[:H, I:].T)
    WgT = np.ascontiguousarray(Wh[H:, I:].T)
    delta = (new - m["trits"][row, cols]) * m["s"][row] * sc[row]   # [K]
    head, r = divmod(row, H)
    act = np.empty((2, K, B, H))
    af, ag = act[0], act[1]
    h = np.zeros((K, B, H))
    d = np.empty((K, B, H))
    tmp = np.empty((K, B, H))
    kidx = np.arange(K)
    xcols = cols < I
    err = np.zeros(K)
    lamf = np.ascontiguousarray(np.broadcast_to(lam, (K, B, H)))
    with np.errstate(over="ignore"):                         # exp -> inf: gate 0, cand -1
        for t in range(T):
            hz = np.where(xcols[:, None], xT[t][:, np.minimum(cols, I - 1)].T,
                          h[kidx, :, np.maximum(cols - I, 0)])       # z[:, cols_k] per candidate, [K, B]
            np.matmul(h, WfT, out=af)
            np.matmul(h, WgT, out=ag)
            af += xa[t, :, :H]
            ag += xa[t, :, H:]
            (ag if head else af)[:, :, r] += delta[:, None] * hz
            activations_(act)                                # af = gate, ag = cand
            state_update_(h, d, tmp, h, af, ag, lamf)
            e = h @ w_o + (b_o - yT[t])
            err += np.einsum("kb,kb->k", e, e) * (1.0 if step_w is None else step_w[t])
    return err / (T * B)


def coordinate_search(task, m, max_sweeps=10, transient_w=1.0, log=None):
    """Greedy coordinate search over the trits, scales fixed.

    A sweep visits every row of both heads; at each row the two other trit values of every
    weight in the row are evaluated at once (batched), and the best single change is kept if
    it lowers the training loss (all-step MSE, steps t < WASHOUT weighted transient_w). Sweeps repeat until one gains nothing or
    max_sweeps is reached. Returns (model, info with loss_evals and sweeps).
    """
    xT, yT, _, _ = _data(task)
    m = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in m.items()}
    R, C = m["trits"].shape
    sw = step_weights(xT.shape[0], transient_w)
    cur = float(candidate_losses(xT, yT, m, 0, np.array([0]), m["trits"][0, :1].astype(np.float64), sw)[0])
    evals, sweeps, changes = 1, 0, 0
    t0 = time.perf_counter()
    start = cur
    cols = np.repeat(np.arange(C), 2)
    for sweep in range(max_sweeps):
        sweeps += 1
        gained = 0
        for r in range(R):
            old = m["trits"][r].astype(np.int64)
            alt = np.stack([(old + 2) % 3 - 1, (old + 3) % 3 - 1], 1).reshape(-1)   # the two other trits
            L = candidate_losses(xT, yT, m, r, cols, alt.astype(np.float64), sw)
            evals += len(cols)
            k = int(np.argmin(L))
            if L[k] < cur * (1 - 1e-9):
                m["trits"][r, cols[k]] = alt[k]
                cur = float(L[k])
                changes += 1
                gained += 1
        if log:
            log(f"coordinate search sweep {sweeps}: train MSE {cur:.3e}, {gained} changes, {evals} loss evals")
        if not gained:
            break
    return m, {"cs_loss_evals": evals, "cs_sweeps": sweeps, "cs_changes": changes,
               "cs_train_mse_before": start, "cs_train_mse_after": cur,
               "wall_s": time.perf_counter() - t0}
