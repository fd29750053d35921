"""factorial.md, factorial.png and the results-page tables of a classification factorial
(trainer/classify_factorial.py's factorial.json)."""
from __future__ import annotations

import io

import numpy as np

from .configs import config_name
from .report import _rows, anova_section, effects_png, every_seed_table, pyplot


def _configs(result):
    W = result["widths"]
    return {i + 1: (bool(i & 1), bool((i >> 1) & 1), W[(i >> 2) & 1]) for i in range(8)}


def _gm(rows, k):
    return 10 ** np.mean([np.log10(max(r[k], 1e-300)) for r in rows])


def _pct(x):
    return f"{100 * x:.1f}"


def _line(label, rows, extra=""):
    acc = np.array([r["test_acc"] for r in rows])
    d = np.array([r.get("acc_vs_float", 0.0) for r in rows])
    lce = np.array([np.log10(r["test_ce"]) for r in rows])
    sd = lce.std(ddof=1) if len(lce) > 1 else 0.0
    fr = np.mean([r.get("flip_rate", np.nan) for r in rows])
    zf = np.mean([r.get("zero_frac", np.nan) for r in rows])
    wall = np.mean([r.get("wall_s", np.nan) for r in rows])
    f = lambda x, fmt: "-" if not np.isfinite(x) else format(x, fmt)  # noqa: E731
    delta = f"{100 * d.mean():+.1f}" if "acc_vs_float" in rows[0] else "-"
    return (f"| {label} | {rows[0]['H']} | {_pct(acc.mean())} ({_pct(acc.min())}-{_pct(acc.max())}) | {delta} | "
            f"{_gm(rows, 'val_ce'):.3f} | {_gm(rows, 'test_ce'):.3f} | {lce.mean():+.2f} ± {sd:.2f} | "
            f"{f(fr, '.4f')} | {f(zf, '.2f')} | {f(wall, '.1f')} |{extra}")


HEADER = ("| row | H | test accuracy % (mean, min-max over seeds) | vs float teacher (points) | val CE (geo.) | "
          "test CE (geo.) | log10 test CE | flip rate | zero | wall s |")


def factorial_table(result) -> str:
    o = [HEADER, "|---|---|---|---|---|---|---|---|---|---|"]
    cf = _configs(result)
    for c, (sh, tr, H) in cf.items():
        o.append(_line(f"{c}: {config_name(sh, 'traj' if tr else None, H)}", _rows(result, c)))
    for H in result["widths"]:
        o.append(_line("logit distillation (out)", [r for r in _rows(result, "out") if r["H"] == H]))
    for H in result["widths"]:
        o.append(_line("PTQ", [r for r in _rows(result, "ptq") if r["H"] == H]))
    bc = result["best_config_on_val"]
    for tag, lab in (("cs1", "CS on config 1"), ("cs_best", f"CS on best ({bc})"),
                     ("cs_refit", f"CS + refit on best ({bc})")):
        rows = _rows(result, tag)
        o.append(_line(f"{lab}, {np.mean([r['cs_loss_evals'] for r in rows]):.0f} loss evals", rows))
    for H in result["widths"]:
        o.append(_line("float teacher", [r for r in result["teachers"] if r["H"] == H]))
    return "\n".join(o) + "\n"


def _confusion(classes, conf) -> str:
    o = ["| true \\ predicted | " + " | ".join(classes) + " |", "|---|" + "---|" * len(classes)]
    for name, row in zip(classes, conf):
        o.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(o) + "\n"


def best_line(result) -> str:
    b = result["best"]
    w = b["weights_bytes"]
    return (f"`{b['name']}` seed {b['seed']}, H = {b['H']}: test accuracy {_pct(b['test_acc'])} % "
            f"({100 * b['acc_vs_teacher']:+.1f} points against its float teacher's {_pct(b['teacher_test_acc'])} %), "
            f"test CE {b['test_ce']:.3f}, validation CE {b['val_ce']:.4f}; weights {w['total']} bytes (trits "
            f"{w['trits']}, scales {w['scales']}, biases {w['biases']}, lambda {w['lambda']}, head {w['head']}).")


def data_line(result) -> str:
    d = result["data"]
    if "spec" not in d:
        sizes = ", ".join(f"{s} {d['sizes'][s]}" for s in ("train", "val", "test"))
        return (f"Data: the pinned synthetic task `{result['task']}` (cfcbase/labelled.py), classes "
                f"{', '.join(d['classes'])}; {sizes} windows.")
    sp = d["spec"]
    return (f"Data: `{sp['train']}` (train and a stratified validation share of {sp['val_fraction']:g}, fixed seed) "
            f"and `{sp['test']}` (test); {d['channels']} channel(s), windows of {d['steps']} steps, "
            f"{len(d['classes'])} classes; {d['description']}. Scaling per channel fitted on the training cases "
            f"(offset the mean, scale the largest |v - offset|); values at |v| >= 2 (saturated on the device): "
            + ", ".join(f"{s} {n}" for s, n in d["saturation"].items()) + ".")


def markdown(result) -> str:
    o = io.StringIO()
    p = lambda *a: print(*a, file=o)  # noqa: E731
    st, seeds = result["settings"], result["seeds"]
    p(f"# Factorial: `{result['label']}` (classification)\n")
    p(f"Regenerate: `{result['command']}` (teacher {st['teacher_epochs']} epochs at LR {st['teacher_lr']:g}, student "
      f"{st['epochs']} epochs at LR {st['lr']:g}, {st['cs_sweeps']} coordinate-search sweeps, refit "
      f"{st['refit_epochs']} epochs, pooling `{st['pooling']}`; wall {result['wall_s']:.0f} s on the machine that "
      f"wrote this).\n")
    p(data_line(result) + "\n")
    p(f"Metrics on the test windows: accuracy, and the cross-entropy (CE, natural log) of the softmax of the logits. "
      f"Means over the {len(seeds)} paired seeds {seeds}: accuracy as a mean (min-max), CE as a geometric mean, "
      f"log10 CE as mean ± sd (ddof 1). \"vs float teacher\": the mean over seeds of the student's test accuracy "
      f"minus its own float teacher's, in points. Flip rate: trit changes per weight per optimizer step; zero: the "
      f"fraction of zero trits.\n")
    p(f"Gradient check before training: max relative error {result['gradcheck_max_rel_err']:.2e} (tolerance 1e-3).\n")
    p("## Float teachers\n")
    p("| H | seed | val CE | test CE | test accuracy % |")
    p("|---|---|---|---|---|")
    for r in result["teachers"]:
        p(f"| {r['H']} | {r['seed']} | {r['val_ce']:.4f} | {r['test_ce']:.4f} | {_pct(r['test_acc'])} |")
    p("")
    p("## Factorial (over seeds)\n")
    p(factorial_table(result))
    p("## Every seed: test accuracy %\n")
    every_seed_table(p, result, _configs(result), "logit distillation", "test_acc", _pct)
    anova_section(p, result["anova"], result["anova_metric"], "test CE")
    b = result["best"]
    p("## Best ternary classifier (selected on validation CE)\n")
    p(best_line(result) + " Written to `best.npz`.\n")
    p("Its test confusion matrix (float ternary model):\n")
    p(_confusion(result["data"]["classes"], b["test_confusion"]))
    return o.getvalue()


def plot(result):
    """factorial.png as bytes (None without matplotlib): test accuracy per row and seed, and
    the 2x2x2 effects on log10 test CE."""
    plt = pyplot()
    if plt is None:
        return None
    cf = _configs(result)
    groups = [(str(c), _rows(result, c)) for c in cf]
    groups += [(f"out H{H}", [r for r in _rows(result, "out") if r["H"] == H]) for H in result["widths"]]
    groups += [(f"PTQ H{H}", [r for r in _rows(result, "ptq") if r["H"] == H]) for H in result["widths"]]
    groups += [("CS 1", _rows(result, "cs1")), ("CS best", _rows(result, "cs_best")),
               ("CS+refit", _rows(result, "cs_refit"))]
    groups += [(f"teacher H{H}", [r for r in result["teachers"] if r["H"] == H]) for H in result["widths"]]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4))
    ax = axes[0]
    for i, (lab, rows) in enumerate(groups):
        acc = [100 * r["test_acc"] for r in rows]
        ax.scatter([i] * len(acc), acc, s=12, alpha=0.6, color="tab:red" if "teacher" in lab else "tab:blue")
        ax.plot([i - 0.3, i + 0.3], [np.mean(acc)] * 2, "k-", lw=1)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([g[0] for g in groups], rotation=60, fontsize=7)
    ax.set_ylabel("test accuracy %")
    ax.set_title(f"{result['label']}: test accuracy per seed (lines: means)")
    return effects_png(plt, fig, axes[1], result, "effect on log10 test CE")


def summary_table(result) -> str:
    """The results page's table of a classification factorial."""
    return factorial_table(result) + "\nBest ternary classifier (on validation): " + best_line(result) + "\n"
