"""Statistics in numpy (no scipy): the 2x2x2 factorial ANOVA with seeds as blocks, and the
sweep's paired comparisons (t intervals, Holm-adjusted p).

ANOVA response: log10 washout test MSE. Factors A = shaped STE, B = trajectory distillation,
C = width 32; the seeds are paired (seed k: same data and teacher in every config), so
the seed enters as a block. Every effect has one degree of freedom; the error term has
7 (n - 1) degrees of freedom. The effect estimate is the usual contrast: mean response at
the high level minus mean at the low level (for interactions: the +/- product contrast).
"""
from __future__ import annotations

import math

import numpy as np

def _signs():
    """+/-1 per cell (config 1..8: index i -> A = i & 1, B = (i >> 1) & 1, C = (i >> 2) & 1)."""
    i = np.arange(8)
    a, b, c = (2 * (i & 1) - 1), (2 * ((i >> 1) & 1) - 1), (2 * ((i >> 2) & 1) - 1)
    return {"A shaped": a, "B traj": b, "C width": c, "AB": a * b, "AC": a * c, "BC": b * c,
            "ABC": a * b * c}


def _betacf(a, b, x, itmax=300, eps=1e-15):
    """Continued fraction for the incomplete beta (Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, itmax + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c
        c = c if abs(c) > tiny else tiny
        de = d * c
        h *= de
        if abs(de - 1) < eps:
            break
    return h


def betainc(a, b, x):
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1 - math.exp(lbt) * _betacf(b, a, 1 - x) / b


def f_sf(F, d1, d2):
    """P(F(d1, d2) > F)."""
    if not np.isfinite(F):
        return 0.0
    if F <= 0:
        return 1.0
    return betainc(d2 / 2, d1 / 2, d2 / (d2 + d1 * F))


def anova_2x2x2(y):
    """y [n_seeds, 8] (config order 1..8). Returns {effects: [...], blocks, error} dicts."""
    y = np.asarray(y, np.float64)
    n = y.shape[0]
    grand = y.mean()
    cell_mean = y.mean(axis=0)
    sst = float(((y - grand) ** 2).sum())
    ssb = float(8 * ((y.mean(axis=1) - grand) ** 2).sum())
    rows, ss_eff = [], 0.0
    for name, sg in _signs().items():
        contrast = float(sg @ cell_mean)
        ss = n * contrast ** 2 / 8
        ss_eff += ss
        rows.append({"effect": name, "estimate": contrast / 4, "ss": ss})
    sse = max(sst - ss_eff - ssb, 0.0)
    dfe = 7 * (n - 1)
    mse = sse / dfe if dfe > 0 else float("nan")
    for r in rows:
        if dfe > 0 and mse > 0:
            r["F"] = r["ss"] / mse
            r["p"] = f_sf(r["F"], 1, dfe)
        else:
            r["F"] = r["p"] = None
    return {"effects": rows, "ss_seed_blocks": ssb, "df_seed_blocks": n - 1, "ss_error": sse,
            "df_error": dfe, "ss_total": sst}


# ---- paired comparisons (the sweep) ------------------------------------------------------

def t_cdf(t: float, df: int) -> float:
    """Student's t CDF from the regularized incomplete beta."""
    x = df / (df + t * t)
    tail = 0.5 * betainc(df / 2.0, 0.5, x)
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: int) -> float:
    lo, hi = -1e3, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def compare(cells_out, baseline, key="test_mse_washout") -> list:
    """Paired differences of log10 test washout MSE (or of another metric, `key`), cell -
    baseline, per seed: mean, 95% CI (t), two-sided p, Holm-adjusted p over all comparisons."""
    base = next(c for c in cells_out if c["id"] == baseline)
    b = np.log10([r[key] for r in base["seeds"]])
    rows = []
    for c in cells_out:
        if c["id"] == baseline:
            continue
        d = np.log10([r[key] for r in c["seeds"]]) - b
        n = len(d)
        mean, sd = float(d.mean()), float(d.std(ddof=1))
        se = sd / math.sqrt(n)
        q = t_quantile(0.975, n - 1)
        if se > 0:
            t = mean / se
            p = 2 * min(t_cdf(t, n - 1), 1 - t_cdf(t, n - 1))
        else:
            p = 0.0 if mean != 0 else 1.0
        rows.append({"id": c["id"], "mean_log10_diff": mean, "ci95": [mean - q * se, mean + q * se],
                     "p": float(p)})
    # Holm: sort p ascending, p_adj(i) = max over j <= i of min(1, (m - j) p_j)
    m = len(rows)
    run = 0.0
    for j, r in enumerate(sorted(rows, key=lambda r: r["p"])):
        run = max(run, min(1.0, (m - j) * r["p"]))
        r["p_holm"] = run
    return rows
