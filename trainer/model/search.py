"""Greedy coordinate search over the trits of a frozen ternary model: the factorial's
post-training baseline (docs/training.md, "Greedy coordinate search"), on the training loss of
the model's head (trainer.model.heads: a readout's MSE of the steps, a classifier's cross-entropy
of its pooled states)."""
from __future__ import annotations

import time

import numpy as np

from cfcbase.cell import decay, head_scale_rows

from .heads import tm
from .train import step_weights

# Each row's alternatives are first scored in float32 (SCREEN_DTYPE); those within SCREEN_TIE
# (relative) of the lowest float32 loss, at most SCREEN_MAX, and only if that loss is within
# SCREEN_MARGIN of the current one, are evaluated in float64: the loss that decides. The
# largest float32 error measured on a candidate's loss is 1.2e-5 (relative; sine, H = 16, 32):
# while it stays below SCREEN_TIE / 2 the change made is the exhaustive search's.
SCREEN_DTYPE = np.float32
SCREEN_TIE = 5e-5
SCREEN_MAX = 8
SCREEN_MARGIN = 1e-4
# Sweeps stop when one lowers the training loss by less than this fraction (or not at all).
MIN_SWEEP_GAIN = 2e-3
# A candidate whose running loss passes the bound is dropped from the batch at these steps.
PRUNE_EVERY = 5


def scaled_heads(W):
    """(H, sc, Wh) of a stacked head matrix W [2H, C]: Wh = W with row r scaled by sc[r]
    (cfcbase.cell.head_scale_rows), as the candidates' pre-activations are computed."""
    H = W.shape[0] // 2
    sc = head_scale_rows(H)
    return H, sc, W * sc[:, None]


def candidate_losses(loss, xT, m, row, cols, new, dtype=np.float64, bound=np.inf):
    """The training loss (the head's search loss ``loss``: trainer.model.heads) of K candidate
    models that each differ from m in one trit of the same row `row` (of the stacked [2H, C] head
    matrix): candidate k sets column cols[k] to new[k].

    Candidates are evaluated together: the batch dimension holds K copies of the training
    set, and candidate k adds (new_k - old_k) * s_row * z[:, cols_k] to the pre-activation
    of `row`. The heads sit on their own axis of one array; the nonlinearities and the state
    update are the float reference's (cfcbase.cell.activations_, state_update_) op for op.

    dtype: float64 (exact: the decision) or float32 (the screen; the error sums stay float64).
    bound: a candidate whose running loss passes bound is of no interest: where the head's loss
    only grows step by step (a readout's squared errors) it leaves the batch at the next multiple
    of PRUNE_EVERY steps and gets +inf. Exact, since the sum of non-negative terms only grows; the
    others' numbers do not depend on who left.
    """
    T, B, I = xT.shape
    W = m["s"][:, None] * m["trits"].astype(np.float64)
    b, lam = m["b"], decay(m["tau"])
    H, sc, Wh = scaled_heads(W)
    K = len(cols)
    xa = (xT @ Wh[:, :I].T + b * sc).astype(dtype, copy=False)     # [T, B, 2H], shared by all candidates
    xa = np.ascontiguousarray(xa.reshape(T, B, 2, H).transpose(0, 2, 1, 3))[:, :, None]   # [T, 2, 1, B, H]
    WfT = np.ascontiguousarray(Wh[:H, I:].T, dtype=dtype)
    WgT = np.ascontiguousarray(Wh[H:, I:].T, dtype=dtype)
    xTd = xT.astype(dtype, copy=False)
    delta = ((new - m["trits"][row, cols]) * m["s"][row] * sc[row]).astype(dtype)   # [K]
    head, r = divmod(row, H)
    cols = np.asarray(cols)
    xcols = cols < I
    xc, hc = np.minimum(cols, I - 1), np.maximum(cols - I, 0)
    alive = np.arange(K)                                     # the candidates still in the batch
    loss.start(m, dtype, K)
    limit = bound * (T * B)
    num = np.array([1.0, 2.0], dtype)[:, None, None, None]

    def buffers(k):
        act = np.empty((2, k, B, H), dtype)
        return (act, act[0], act[1], np.empty((k, B, H), dtype), np.empty((k, B, H), dtype),
                np.ascontiguousarray(np.broadcast_to(lam.astype(dtype), (k, B, H))), np.ones((2, k, B, H), dtype),
                np.broadcast_to(num, (2, k, B, H)).copy())
    k = K
    act, af, ag, d, tmp, lamf, ones, nums = buffers(k)
    h = np.zeros((k, B, H), dtype)
    kidx = np.arange(k)
    with np.errstate(over="ignore"):                         # exp -> inf: gate 0, cand -1
        for t in range(T):
            hz = np.where(xcols[:, None], xTd[t][:, xc].T, h[kidx, :, hc])   # z[:, cols_k] per candidate, [k, B]
            np.matmul(h.reshape(k * B, H), WfT, out=af.reshape(k * B, H))
            np.matmul(h.reshape(k * B, H), WgT, out=ag.reshape(k * B, H))
            act += xa[t]
            (ag if head else af)[:, :, r] += delta[:, None] * hz
            np.exp(act, out=act)                             # cfcbase.cell.activations_
            act += ones
            np.divide(nums, act, out=act)                    # af = gate, ag = cand
            ag -= ones[1]
            np.multiply(h, lamf, out=h)                      # cfcbase.cell.state_update_ (in place)
            np.subtract(ag, h, out=d)
            np.multiply(af, d, out=tmp)
            h += tmp
            loss.step(t, h, k)
            if loss.prunable and (t + 1) % PRUNE_EVERY == 0 and t + 1 < T:
                keep = loss.running() <= limit
                if not keep.all():
                    sel = np.flatnonzero(keep)
                    alive, delta, h = alive[sel], delta[sel], h[sel]
                    loss.keep(sel)
                    xcols, xc, hc = xcols[sel], xc[sel], hc[sel]
                    k = len(sel)
                    if not k:
                        break
                    act, af, ag, d, tmp, lamf, ones, nums = buffers(k)
                    kidx = np.arange(k)
    out = np.full(K, np.inf)
    if k:
        out[alive] = loss.losses(T)
    out[out > bound] = np.inf
    return out


def coordinate_search(head, m, max_sweeps=10, transient_w=1.0, log=None, min_gain=MIN_SWEEP_GAIN):
    """Greedy coordinate search over the trits, scales fixed.

    A sweep visits every row of both heads. At each row the two other trit values of every
    weight in the row are scored at once in float32 (batched; candidates past the current loss
    by more than SCREEN_MARGIN leave the batch early), those within SCREEN_TIE of the lowest
    float32 loss are evaluated in float64, and the best single change is kept if it lowers the
    training loss (the head's: a forecast's all-step MSE, steps t < WASHOUT weighted
    transient_w; a classifier's cross-entropy). Sweeps repeat until one lowers the loss by less than
    the fraction min_gain, or max_sweeps is reached. Returns (model, info: cs_loss_evals (float64
    evaluations), cs_screened (float32), cs_sweeps, cs_changes, cs_sweep_train_loss (the training
    loss after each sweep), ...).
    """
    x, y = head.task.split("train")
    xT = tm(x)
    loss = head.search_loss(head.targets(y, head.task.lengths("train")), xT.shape[1], step_weights(xT.shape[0], transient_w))
    m = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in m.items()}
    R, C = m["trits"].shape
    cur = float(candidate_losses(loss, xT, m, 0, np.array([0]), m["trits"][0, :1].astype(np.float64))[0])
    evals, screened, sweeps, changes = 1, 0, 0, 0
    t0 = time.perf_counter()
    start, per_sweep = cur, []
    cols = np.repeat(np.arange(C), 2)
    for sweep in range(max_sweeps):
        sweeps += 1
        gained, before = 0, cur
        for r in range(R):
            old = m["trits"][r].astype(np.int64)
            alt = np.stack([(old + 2) % 3 - 1, (old + 3) % 3 - 1], 1).reshape(-1)   # the two other trits
            S = candidate_losses(loss, xT, m, r, cols, alt.astype(np.float64), SCREEN_DTYPE, cur * (1 + SCREEN_MARGIN))
            screened += len(cols)
            order = np.argsort(S, kind="stable")[:SCREEN_MAX]
            if not np.isfinite(S[order[0]]):
                continue                                     # nothing within the margin of the current loss
            # the candidates within float32's error of the lowest, in column order (ties broken as the
            # exhaustive search breaks them)
            pick = np.sort(order[S[order] <= S[order[0]] * (1 + SCREEN_TIE)])
            L = candidate_losses(loss, xT, m, r, cols[pick], alt[pick].astype(np.float64), bound=cur)
            evals += len(pick)
            k = int(np.argmin(L))
            if L[k] < cur * (1 - 1e-9):
                m["trits"][r, cols[pick[k]]] = alt[pick[k]]
                cur = float(L[k])
                changes += 1
                gained += 1
        per_sweep.append(cur)
        if log:
            log(f"coordinate search sweep {sweeps}: train {head.search_name} {cur:{head.search_format}}, {gained} "
                f"changes, {evals} loss evals (+ {screened} screened)")
        if before - cur < min_gain * before:
            break
    return m, {"cs_loss_evals": evals, "cs_screened": screened, "cs_sweeps": sweeps, "cs_changes": changes,
               f"cs_train_{head.search_key}_before": start, f"cs_train_{head.search_key}_after": cur,
               f"cs_sweep_train_{head.search_key}": per_sweep,
               "wall_s": time.perf_counter() - t0}
