"""The frontier's results (trainer/experiments/frontier.py runs it): the points assembled from its
jobs' metrics and the measurements (weight bytes, geometric means, Pareto marks, paired comparisons
at equal bytes and equal width), frontier.md, frontier.png, and the report files written all or none.
"""
from __future__ import annotations

import json
import math
import os

import numpy as np

from cfcbase.artifact import write_artifact
from cfcbase.fileio import write_file_set
from codegen.export import KERNELS as TERNARY_KERNELS   # packed (the target table's kernel), code, ref

from .factorial_report import pyplot
from .stats import t_cdf, t_quantile

FORMAT_VERSION = 1                              # of frontier.json


SIGNIFICANT = 0.05          # a comparison names a winner below this p, else it is a tie


def verdict(better: bool, p: float, winner: str, loser: str) -> str:
    """A comparison in words: the winner's words (``winner`` if the first side is better, else
    ``loser``) when p < SIGNIFICANT, else "tied"."""
    if p >= SIGNIFICANT:
        return "tied"
    return winner if better else loser


def tally(outcomes) -> tuple:
    """(won, tied, lost) of comparisons given as (the first side better, p)."""
    outcomes = list(outcomes)
    won = sum(b and p < SIGNIFICANT for b, p in outcomes)
    lost = sum(not b and p < SIGNIFICANT for b, p in outcomes)
    return won, len(outcomes) - won - lost, lost


class Score:
    """What a frontier scores a model by, for one kind of head: a test metric per seed, a summary
    over the seeds, the paired difference of two points (ternary minus int8) and its words."""
    metric = ""             # per-seed keys val_<metric>, test_<metric>, teacher_test_<metric>
    summary_key = ""        # the point's summary over the seeds
    title = ""              # in tables and plots
    center_field = ""       # the summary's centre: the point's figure
    pair_key = ""           # an equal-bytes comparison's figure (its mean over the seeds)
    lower_better = True
    artifact_keys: tuple = ()   # an int8 model's metrics as its artifact records them

    def summarize(self, vals) -> dict:
        raise NotImplementedError

    def center(self, pt) -> float:
        """The point's figure (the summary's centre)."""
        return pt[self.summary_key][self.center_field]

    def brief_pair(self, q) -> str:
        """An equal-bytes comparison's figure in a few characters."""
        return self.contrast_text(q[self.pair_key])

    def diffs(self, a, b) -> np.ndarray:
        """Per seed, a's figure against b's (a minus b, on the comparison's scale)."""
        raise NotImplementedError

    def better(self, x: float, y: float) -> bool:
        """x strictly better than y."""
        return x < y if self.lower_better else x > y

    def test(self, seed_rec) -> float:
        return seed_rec[f"test_{self.metric}"]

    def verdict(self, q) -> str:
        """An equal-bytes comparison in words: who is better at p < 0.05, else tied."""
        return verdict(q["ternary_wins"], q["p"], f"ternary {self.better_col}", f"int8 {self.better_col}")


class MseScore(Score):
    """A forecaster: test washout MSE, geometric mean; compared as log10 ratios."""
    metric, summary_key, title, lower_better = "mse_washout", "mse", "test washout MSE", True
    center_field, pair_key = "geo_mean", "ratio"
    artifact_keys = ("val_mse_washout", "test_mse", "test_mse_washout")

    def summarize(self, vals) -> dict:
        return _summary(vals)

    def diffs(self, a, b):
        return np.log10([self.test(s) for s in a["seeds"]]) - np.log10([self.test(s) for s in b["seeds"]])

    def spread(self, pt) -> str:
        return f"{pt['mse']['geo_mean']:.3e} ({pt['mse']['log10_sd']:.2f})"

    def vs_float(self, vals, teach) -> float:
        return float(10 ** np.mean(np.log10(np.array(vals) / np.array(teach))))

    def mean_fields(self, mean) -> dict:
        return {"mean_log10_diff": mean, "ratio": float(10 ** mean)}

    def comparison(self, q) -> str:
        return f"test washout MSE ratio {q['ratio']:.2f}x (p {q['p']:.2g})"

    def table_figure(self, pt) -> str:
        return f"{pt['mse']['geo_mean']:.2e}"

    pair_words = "log10 difference"

    def pair_text(self, q) -> str:
        return (f"{q['ratio']:.2f}x ({q['mean_log10_diff']:+.3f} [{q['ci95'][0]:+.3f}, {q['ci95'][1]:+.3f}], "
                f"p {q['p']:.2g})")

    # two models of different families (the TFLM peer): their figures' ratio, Welch's t on log10
    contrast_key = "ratio"

    def center_of(self, vals) -> float:
        return _gm(vals)

    def contrast(self, a: float, b: float) -> float:
        return a / b

    def contrast_better(self, c: float) -> bool:
        return c < 1.0

    def scaled(self, vals):
        return np.log10(np.asarray(vals, np.float64))

    def figure(self, v: float) -> str:
        return f"{v:.3e}"

    def contrast_text(self, c: float) -> str:
        return f"{c:.2f}x"

    contrast_words = ("the ratio of geometric-mean test washout MSEs (below 1: trixcfc lower) and Welch's "
                      "two-sided p on log10 MSE")

    def contrast_phrase(self, c: float, other: str) -> str:
        return f"{c:.2f}x {other}'s MSE"

    def units(self, task):
        """A series' target units (its MSE in the target's own units), or None."""
        return task.units()

    def diff_text(self, q) -> str:
        """A comparison in a table: ratio | log10 diff | CI."""
        return (f"{q['ratio']:.2f}x | {q['mean_log10_diff']:+.3f} | [{q['ci95'][0]:+.3f}, {q['ci95'][1]:+.3f}]")

    def ptq_of(self, vals) -> str:
        return f"{_gm(vals):.3e}"

    def brief(self, v) -> str:
        return f"{v:.1e}"

    diff_head = "MSE ratio ternary / int8 | log10 diff | 95% CI"
    better_col, better_phrase, ptq_words, plot_scale = "lower", "a lower MSE", "geometric means", "log"
    center_words = "geometric means"
    summary_words = ("geometric mean over {n} paired seeds (log10 sd in brackets); \"vs float\": the paired ratio "
                     "to the float teacher of the same width and seed")
    diff_words = ("Mean difference of log10 test washout MSE over the paired seeds (ternary minus int8; negative: "
                  "ternary lower), its 95% t interval and two-sided p.")


class AccuracyScore(Score):
    """A classifier: test accuracy, mean over the seeds; compared as differences in points."""
    metric, summary_key, title, lower_better = "acc", "acc", "test accuracy", False
    center_field, pair_key = "mean", "mean_diff_points"
    artifact_keys = ("val_ce", "val_acc", "test_ce", "test_acc")

    def summarize(self, vals) -> dict:
        v = np.asarray(vals, np.float64)
        return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                "min": float(v.min()), "max": float(v.max())}

    def diffs(self, a, b):
        return 100.0 * (np.array([self.test(s) for s in a["seeds"]]) - np.array([self.test(s) for s in b["seeds"]]))

    def spread(self, pt) -> str:
        return f"{100 * pt['acc']['mean']:.1f} % ({100 * pt['acc']['sd']:.1f})"

    def vs_float(self, vals, teach) -> float:
        return float(100.0 * np.mean(np.array(vals) - np.array(teach)))

    def mean_fields(self, mean) -> dict:
        return {"mean_diff_points": mean}

    def comparison(self, q) -> str:
        return f"test accuracy ternary - int8 {q['mean_diff_points'] + 0.0:+.1f} points (p {q['p']:.2g})"

    def table_figure(self, pt) -> str:
        return f"{100 * pt['acc']['mean']:.1f} %"

    pair_words = "difference in points"

    def pair_text(self, q) -> str:
        return (f"{q['mean_diff_points'] + 0.0:+.1f} points ([{q['ci95'][0]:+.1f}, {q['ci95'][1]:+.1f}], "
                f"p {q['p']:.2g})")

    contrast_key = "diff"

    def center_of(self, vals) -> float:
        return float(np.mean(vals))

    def contrast(self, a: float, b: float) -> float:
        return 100.0 * (a - b)

    def contrast_better(self, c: float) -> bool:
        return c > 0.0

    def scaled(self, vals):
        return 100.0 * np.asarray(vals, np.float64)

    def figure(self, v: float) -> str:
        return f"{100 * v:.1f} %"

    def contrast_text(self, c: float) -> str:
        return f"{c + 0.0:+.1f} pts"

    contrast_words = ("the difference of mean test accuracies in points (above 0: trixcfc more accurate) and "
                      "Welch's two-sided p on the accuracies")

    def contrast_phrase(self, c: float, other: str) -> str:
        return f"{c + 0.0:+.1f} points against {other}"

    def units(self, task):
        return None             # an accuracy has no units

    def diff_text(self, q) -> str:
        return f"{q['mean_diff_points'] + 0.0:+.1f} pts | [{q['ci95'][0]:+.1f}, {q['ci95'][1]:+.1f}]"

    def ptq_of(self, vals) -> str:
        return f"{np.mean(vals):.3f}"

    def brief(self, v) -> str:
        return f"{100 * v:.0f}%"

    diff_head = "accuracy ternary - int8 | 95% CI"
    better_col, better_phrase, ptq_words, plot_scale = "more accurate", "a higher accuracy", "mean test cross-entropy", "linear"
    center_words = "means"
    summary_words = ("mean over {n} paired seeds (sd in brackets); \"vs float\": the mean difference in points "
                     "to the float teacher of the same width and seed")
    diff_words = ("Mean difference of test accuracy over the paired seeds in percentage points (ternary minus int8; "
                  "positive: ternary more accurate), its 95% t interval and two-sided p.")


SCORES = {"readout": MseScore(), "classifier": AccuracyScore()}     # by cfcbase task.head_kind


def score_of(r: dict) -> Score:
    """The Score of a frontier.json (a forecaster's when it names none: the first format)."""
    return SCORES[r.get("head", "readout")]


def weight_bytes(fmt: str, I: int, H: int) -> int:
    """Bytes of weights as the firmware stores them (both heads): ternary 2 bits per trit with rows
    padded to whole bytes, int8 one byte per weight with rows padded to 4 columns, float32 4."""
    C = I + H
    rb = -(-C // 4)
    return {"ternary": 2 * H * rb, "int8": 2 * H * 4 * rb, "float": 2 * H * C * 4}[fmt]


def _summary(vals) -> dict:
    lg = np.log10(np.asarray(vals, np.float64))
    return {"geo_mean": float(10 ** lg.mean()), "log10_mean": float(lg.mean()),
            "log10_sd": float(lg.std(ddof=1)) if len(lg) > 1 else 0.0,
            "min": float(np.min(vals)), "max": float(np.max(vals))}


def pareto(points, x, score: Score) -> set:
    """Indices of the points no other point dominates in (x, lower better; the score)."""
    out = set()
    for i, a in enumerate(points):
        ax, ay = a[x], score.center(a)
        if ax is None:
            continue
        if not any(b[x] is not None and b[x] <= ax and not score.better(ay, score.center(b))
                   and (b[x] < ax or score.better(score.center(b), ay)) for j, b in enumerate(points) if j != i):
            out.add(i)
    return out


def assemble(st, rows: dict, teachers: dict, measured: dict, recipe: dict, settings: dict, wall: float) -> dict:
    """frontier.json of the settings ``st``: ``rows`` {(format, H): every seed's metrics},
    ``teachers`` {H: every seed's teacher metrics}, ``measured`` {(format, H, kernel): {target: flash,
    RAM, instructions}} (kernel: codegen export's, TERNARY_KERNELS for ternary, packed for int8),
    ``recipe`` and ``settings`` as the report states them. A ternary width is a point per kernel."""
    I = st.task.I
    seeds = list(range(st.seeds))
    points = []
    sc = SCORES[st.task.head_kind]
    m, sel = sc.metric, st.task.headline      # the score; the metric models are selected on

    def add(fmt, H, per_seed, extra=None, kernel=None):
        teach = [t[f"test_{m}"] for t in teachers[H]]
        vals = [r[f"test_{m}"] for r in per_seed]
        pt = {"format": fmt, "H": H, "weights": 2 * H * (I + H), "weight_bytes": weight_bytes(fmt, I, H),
              "seeds": [{"seed": s, **{f"val_{k}": r[f"val_{k}"] for k in dict.fromkeys((sel, m))},
                         f"test_{m}": r[f"test_{m}"], f"teacher_test_{m}": t, **(extra(r) if extra else {})}
                        for s, r, t in zip(seeds, per_seed, teach)],
              sc.summary_key: sc.summarize(vals), "vs_float": sc.vs_float(vals, teach),
              "targets": measured.get((fmt, H, kernel or "packed"), {})}
        if kernel is not None:
            pt["kernel"] = kernel
        points.append(pt)

    for H in sorted(teachers):
        add("float", H, teachers[H])
    for H in st.ternary:
        for k in TERNARY_KERNELS:       # the same model, bit for bit, run by each kernel
            add("ternary", H, rows["ternary", H], kernel=k)
    for H in st.int8:
        add("int8", H, rows["int8", H], lambda r: {"qat": r["qat"], f"ptq_test_{sel}": r[f"ptq_test_{sel}"]},
            kernel="packed")
    deploy = [pt for pt in points if pt["format"] != "float"]
    for pt in deploy:
        for t in st.targets:
            pt.setdefault("targets", {}).setdefault(t, {})
    # bytes: the packed models (another kernel stores the same weights); RAM and instructions: every kernel
    packed = [pt for pt in deploy if pt.get("kernel") == "packed"]
    on_bytes = pareto(packed, "weight_bytes", sc)
    for i, pt in enumerate(packed):
        pt["pareto_bytes"] = i in on_bytes
    for i, pt in enumerate(deploy):
        pt.setdefault("pareto_bytes", False)
        for t in st.targets:
            for key, field in (("pareto_instructions", "per_step"), ("pareto_ram", "ram")):
                for q in deploy:
                    q["_x"] = q["targets"].get(t, {}).get(field)
                pt.setdefault(key, {})[t] = i in pareto(deploy, "_x", sc) and pt["_x"] is not None
    for q in deploy:
        q.pop("_x", None)
    deploy = packed
    # equal bytes: ternary at 2H against int8 at H (about the same bytes: 2 bits against 8 per weight)
    pairs = []
    for H in st.int8:
        if 2 * H in st.ternary:
            t = next(q for q in deploy if q["format"] == "ternary" and q["H"] == 2 * H)
            e = next(q for q in deploy if q["format"] == "int8" and q["H"] == H)
            d = sc.diffs(t, e)
            pairs.append({"ternary_H": 2 * H, "int8_H": H, "ternary_bytes": t["weight_bytes"],
                          "int8_bytes": e["weight_bytes"], **_paired(d, sc),
                          "ternary_wins": bool(sc.better(d.mean(), 0.0))})
    same = []
    for H in sorted(set(st.ternary) & set(st.int8)):
        t = next(q for q in deploy if q["format"] == "ternary" and q["H"] == H)
        e = next(q for q in deploy if q["format"] == "int8" and q["H"] == H)
        same.append({"H": H, **_paired(sc.diffs(t, e), sc)})
    extra = {}
    u = sc.units(st.task)
    if u is not None:
        extra["data"] = {"spec": st.task.key()["spec"], "inputs": list(st.task.spec.inputs), "target": u["target"],
                         "target_scale": float(u["scale"])}
    if st.task.head_kind != "readout":         # a forecaster's record reads as before
        extra.update(head=st.task.head_kind, selected_on=sel)
    return {"format_version": FORMAT_VERSION, "task": st.task.name, "task_key": st.task.key(), "label": st.task.label(),
            **extra, "seeds": seeds, "command": st.command, "recipe": recipe, "settings": settings,
            "points": points, "equal_bytes": pairs, "equal_width": same, "wall_s": wall}


def _paired(d, sc: Score) -> dict:
    """The paired comparison of the per-seed differences d: a forecaster's as the mean log10
    difference and its ratio, a classifier's as the mean difference in points."""
    n = len(d)
    mean, sd = float(np.mean(d)), float(np.std(d, ddof=1)) if n > 1 else 0.0
    se = sd / math.sqrt(n) if n > 1 else 0.0
    if se > 0:
        t = mean / se
        pv = 2 * min(t_cdf(t, n - 1), 1 - t_cdf(t, n - 1))
        q = t_quantile(0.975, n - 1)
    else:
        pv, q = (0.0 if mean else 1.0), 0.0
    return {**sc.mean_fields(mean), "ci95": [mean - q * se, mean + q * se], "p": float(pv)}


def markdown(r: dict) -> str:
    sc = score_of(r)
    unit = ""
    k = 1.0
    if "data" in r:
        k = r["data"]["target_scale"] ** 2
        unit = f" (scaled units; x {k:.4g} for {r['data']['target']} units²)"
    tg = r["settings"]["targets"]
    what = sc.summary_words.format(n=len(r["seeds"]))
    lines = [f"# Ternary against int8: `{r['label']}`", "",
             f"Regenerate: `{r['command']}`. Every number: `frontier.json`; the plot: `frontier.png`.", "",
             f"{sc.title[0].upper() + sc.title[1:]}{unit}: {what}. Weight bytes as the "
             "firmware stores them (ternary 2 bits per trit, int8 1 byte per weight, rows padded; float: float32, "
             "the reference, not deployed). Flash and RAM: `trix_fw` with the model; instructions per cell step: "
             f"BENCH under QEMU (`-icount shift=0`, {r['settings']['bench_steps']} steps). P: Pareto-optimal "
             "(no other ternary or int8 point has both fewer bytes / instructions / bytes of RAM and "
             f"{sc.better_phrase}). "
             "Each ternary width is one model run by three kernels (`codegen export --kernel`, bit-identical "
             "outputs): the target table's (packed trits, a lookup table in RAM), `code` (the weights compiled "
             "into adds and subtracts) and `ref` (the portable reference, no table).", "",
             f"Ternary students: sweep cell `{r['recipe']['ternary']}` (docs/sweep.md). int8: {r['recipe']['int8']}.",
             ""]
    head = f"| format | H | weights | weight bytes | {sc.title} | vs float | P bytes |"
    sep = "|---|---|---|---|---|---|---|"
    for t in tg:
        head += f" {t} insns/step | P | {t} flash / RAM | P RAM |"
        sep += "---|---|---|---|"
    lines += [head, sep]
    order = {"ternary": 0, "int8": 1, "float": 2}
    for pt in sorted(r["points"], key=lambda q: (order[q["format"]], q["H"], kernel_order(q))):
        row = (f"| {point_label(pt)} | {pt['H']} | {pt['weights']:,} | {pt['weight_bytes']:,} | {sc.spread(pt)} "
               f"| {sc.contrast_text(pt['vs_float'])} | {'P' if pt.get('pareto_bytes') else ''} |")
        for t in tg:
            mt = pt.get("targets", {}).get(t) or {}
            ins = f"{mt['per_step']:,.0f}" if mt.get("per_step") is not None else "-"
            fr = f"{mt['flash']:,} / {mt['ram']:,}" if mt.get("flash") is not None else "-"
            row += (f" {ins} | {'P' if pt.get('pareto_instructions', {}).get(t) else ''} | {fr} | "
                    f"{'P' if pt.get('pareto_ram', {}).get(t) else ''} |")
        lines.append(row)
    if r["equal_bytes"]:
        lines += ["", "## At equal weight bytes: ternary at 2H against int8 at H", "", sc.diff_words, "",
                  f"| ternary H (bytes) | int8 H (bytes) | {sc.diff_head} | p | {sc.better_col} |",
                  "|---|---|" + "---|" * (sc.diff_head.count("|") + 1) + "---|---|"]
        for q in r["equal_bytes"]:
            lines.append(f"| {q['ternary_H']} ({q['ternary_bytes']:,}) | {q['int8_H']} ({q['int8_bytes']:,}) | "
                         f"{sc.diff_text(q)} | {q['p']:.2g} | {'ternary' if q['ternary_wins'] else 'int8'} |")
    if r["equal_width"]:
        lines += ["", "## At equal width", "", f"| H | {sc.diff_head} | p |",
                  "|---|" + "---|" * (sc.diff_head.count("|") + 1) + "---|"]
        for q in r["equal_width"]:
            lines.append(f"| {q['H']} | {sc.diff_text(q)} | {q['p']:.2g} |")
    i8 = [pt for pt in r["points"] if pt["format"] == "int8"]
    if i8:
        m = r.get("selected_on", sc.metric)     # job_int8 records PTQ by the metric models are selected on
        lines += ["", f"int8 post-training quantization against the float teacher ({sc.ptq_words}): " + ", ".join(f"H = {pt['H']}: PTQ {sc.ptq_of([s[f'ptq_test_{m}'] for s in pt['seeds']])}, "
                                          f"QAT on {sum(s['qat'] for s in pt['seeds'])} of {len(pt['seeds'])} seeds"
                                          for pt in i8) + "."]
    lines += ["", f"Wall time of this run: {r['wall_s']:.0f} s (cached jobs and builds cost nothing)."]
    return "\n".join(lines) + "\n"


def kernel_order(pt) -> int:
    k = pt.get("kernel", "packed")
    return TERNARY_KERNELS.index(k) if k in TERNARY_KERNELS else 0


def point_label(pt) -> str:
    """A point's format, and for a ternary model run by another kernel than the target table's, the kernel."""
    k = pt.get("kernel", "packed")
    return pt["format"] if k == "packed" else f"{pt['format']}, {k} kernel"


def _gm(v):
    return float(10 ** np.mean(np.log10(v)))


def plot(path, r, collect):
    plt = pyplot("frontier.png")
    if plt is None:
        return
    sc = score_of(r)
    t0 = r["settings"]["targets"][0] if r["settings"]["targets"] else None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    style = {"ternary": ("tab:blue", "o"), "int8": ("tab:red", "s"), "float": ("0.5", "^")}
    for ax, x, xl in ((axes[0], "bytes", "weight bytes (both heads, as stored)"),
                      (axes[1], "insns", f"instructions per cell step ({t0}, QEMU)")):
        for fmt, (col, mk) in style.items():
            pts = sorted((q for q in r["points"] if q["format"] == fmt and q.get("kernel", "packed") == "packed"),
                         key=lambda q: q["H"])
            xs, ys = [], []
            for q in pts:
                xv = q["weight_bytes"] if x == "bytes" else (q.get("targets", {}).get(t0) or {}).get("per_step")
                if xv is None:
                    continue
                xs.append(xv)
                ys.append(sc.center(q))
                ax.scatter([xv] * len(q["seeds"]), [sc.test(s) for s in q["seeds"]], s=8, color=col,
                           alpha=0.3, marker=mk)
                on = q.get("pareto_bytes") if x == "bytes" else q.get("pareto_instructions", {}).get(t0)
                if on:
                    ax.scatter([xv], [sc.center(q)], s=140, facecolors="none", edgecolors="k")
                ax.annotate(f"H{q['H']}", (xv, sc.center(q)), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
            if xs:
                ax.plot(xs, ys, marker=mk, color=col, ls="--" if fmt == "float" else "-",
                        label=fmt + (" (reference, float32)" if fmt == "float" else ""))
        ax.set_xscale("log")
        ax.set_yscale(sc.plot_scale)
        ax.set_xlabel(xl)
        ax.set_ylabel(sc.title)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(f"{r['label']}: ternary against int8 ({sc.center_words} over {len(r['seeds'])} seeds; "
                 "circled: Pareto-optimal)", fontsize=10)
    fig.tight_layout()

    def write(f):
        fig.savefig(f, format="png", dpi=110, metadata={"Software": None})
    collect(path, write)
    plt.close(fig)


def best_int8_seeds(r: dict) -> dict:
    """{H: the seed} of the int8 model selected on validation at every int8 width."""
    sel = f"val_{r.get('selected_on', 'mse_washout')}"
    return {pt["H"]: min(pt["seeds"], key=lambda s: (s[sel], s["seed"]))["seed"]
            for pt in r["points"] if pt["format"] == "int8"}


def write_reports(out, r: dict, int8_models: dict) -> None:
    """frontier.json, frontier.md, frontier.png and per int8 width the model selected on validation
    (``int8_models`` {H: artifact}: int8-H<n>.npz, artifact version 4), all or none
    (cfcbase.fileio.write_file_set)."""
    writers = {"frontier.json": lambda f: f.write((json.dumps(r, indent=1, sort_keys=True) + "\n").encode()),
               "frontier.md": lambda f: f.write(markdown(r).encode()), "frontier.png": None}
    for H, art in int8_models.items():
        name = f"int8-H{H}.npz"
        writers[name] = lambda f, a=art, n=name: write_artifact(a, f, os.path.join(out, n))

    def collect(path, write):
        writers[os.path.basename(path)] = write
    plot(os.path.join(out, "frontier.png"), r, collect)
    write_file_set(out, writers)
