"""factorial.md, factorial.png, the last line of `trainer factorial` and the results page's sections
from a factorial's result (trainer/experiments/factorial.py's factorial.json).

What a report says depends on the model's head; each kind has its report class, chosen in
REPORTS by the result's "head":

    ForecastReport     washout MSE (geometric means, log10 mean ± sd), vs the float teacher as a
                       ratio, the first-step floor, persistence and AR(p), a series' units
    ClassifierReport   test accuracy (mean, min-max) and cross-entropy, vs the float teacher in
                       points, the confusion matrix, nearest centroid and 1-NN

The rest (the every-seed table, the ANOVA section, the effects plot) is shared.
"""
from __future__ import annotations

import io
import sys

import numpy as np

from cfcbase.metrics import WASHOUT, class_verdict, verdict

from ..experiments.configs import config_name, configs
from ..model import train
from ..model.heads import tm
from ..model.params import Params

WHAT_TO_TRY = 'docs/model.md, "When the model loses to a baseline", says what to try'


def lg(x):
    return float(np.log10(max(x, 1e-300)))


def rows_of(result, config):
    return sorted([r for r in result["runs"] + result["teachers"] if r["config"] == config],
                  key=lambda r: (r["H"], r["seed"]))


def _fmt(x, fmt):
    return "-" if not np.isfinite(x) else format(x, fmt)


def _means(rows):
    """(flip rate, zero fraction, wall seconds): means over rows, NaN where a row has none."""
    return tuple(np.mean([r.get(k, np.nan) for r in rows]) for k in ("flip_rate", "zero_frac", "wall_s"))


def versus_teacher(head, row, teacher, best=False) -> dict:
    """A row's figures against its own float teacher (REPORTS by the head's kind)."""
    return REPORTS[head.kind].versus_teacher(row, teacher, best)


def best_record(head, best, teacher) -> dict:
    """factorial.json's "best" of the selected row and its teacher's row (without the weight bytes)."""
    rep = REPORTS[head.kind]
    return {"config": best["config"], "name": best["name"], "seed": best["seed"], "H": best["H"],
            **{k: best[k] for k in rep.BEST_KEYS}, **{f"teacher_{k}": teacher[k] for k in rep.TEACHER_KEYS},
            **rep.versus_teacher(best, teacher, best=True)}


def artifact_metrics(head, b) -> dict:
    """What best.npz records of the selected model (its metrics_json)."""
    keys = REPORTS[head.kind].ARTIFACT_KEYS
    return {"seed": b["seed"], "config": str(b["config"]), **{k: b[k] for k in keys if k in b},
            "selected_on": head.selection}


# ---- shared sections ------------------------------------------------------------------------------

def anova_section(p, a, metric, what):
    """factorial.md's 2x2x2 ANOVA section (a: stats.anova_2x2x2's result) on `metric`, whose
    estimates are differences of mean log10 `what`."""
    p(f"## 2x2x2 ANOVA on {metric} (seeds as blocks)\n")
    p(f"Estimate: mean log10 {what} at the high level minus at the low level (negative = the technique "
      "lowers the error; for interactions the usual +/- product contrast).\n")
    p("| effect | estimate (Δ log10) | SS | F(1, %d) | p |" % a["df_error"])
    p("|---|---|---|---|---|")
    for r in a["effects"]:
        F = "-" if r["F"] is None else f"{r['F']:.2f}"
        pv = "-" if r["p"] is None else f"{r['p']:.3g}"
        p(f"| {r['effect']} | {r['estimate']:+.3f} | {r['ss']:.3f} | {F} | {pv} |")
    p(f"| seed blocks | | {a['ss_seed_blocks']:.3f} (df {a['df_seed_blocks']}) | | |")
    p(f"| error | | {a['ss_error']:.3f} (df {a['df_error']}) | | |")
    p("")


def every_seed_table(p, result, out_label, key, fmt):
    """factorial.md's table of every seed's `key` (formatted by fmt): a row per config and per
    width of the other rows (out_label: the output distillation's)."""
    seeds = result["seeds"]
    cf = configs(result["widths"])
    p("| row | " + " | ".join(f"seed {s}" for s in seeds) + " |")
    p("|---|" + "---|" * len(seeds))
    labels = [(c, config_name(cf[c][0], "traj" if cf[c][1] else None, cf[c][2])) for c in cf]
    labels += [("out", out_label), ("ptq", "PTQ"), ("cs1", "CS on config 1"), ("cs_best", "CS on best"),
               ("cs_refit", "CS + refit on best"), ("teacher", "float teacher")]
    for c, lab in labels:
        rows = rows_of(result, c)
        for H in sorted({r["H"] for r in rows}):
            by = {r["seed"]: r[key] for r in rows if r["H"] == H}
            tag = lab if isinstance(c, int) else f"{lab} H{H}"
            p(f"| {tag} | " + " | ".join(fmt(by[s]) for s in seeds) + " |")
    p("")


def effects_line(result) -> str:
    eff = result["anova"]["effects"]
    main = [e for e in eff if " " in e["effect"]]              # "A shaped", "B traj", "C width"
    inter = [e for e in eff if " " not in e["effect"]]         # "AB", ..., "ABC"
    big = max(inter, key=lambda e: abs(e["estimate"])) if inter else None
    return (f"Main effects on {result['anova_metric']} (2x2x2 ANOVA, seeds as blocks; estimate, p): "
            + ", ".join(f"{e['effect']} {e['estimate']:+.2f} (p {e['p']:.2g})" for e in main)
            + (f"; largest interaction {big['effect']} {big['estimate']:+.2f} (p {big['p']:.2g})." if big else "."))


def pyplot(what="factorial.png"):
    """matplotlib.pyplot on the Agg backend, or None (and a line on stderr naming the plot ``what``
    that is skipped) without matplotlib."""
    try:
        import matplotlib                   # an optional dependency (trixcfc[plot])
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: skipping {what} (pip install 'trixcfc[plot]')", file=sys.stderr)
        return None
    return plt


def effects_png(plt, fig, ax, result, ylabel):
    """The 2x2x2 effects of result["anova"] as bars on ax (y axis `ylabel`), then the whole
    figure as PNG bytes (the figure closed)."""
    eff = result["anova"]["effects"]
    ax.bar([e["effect"] for e in eff], [e["estimate"] for e in eff], color="tab:gray")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel(ylabel)
    ax.set_title("2x2x2 effects (negative = lower error)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _header(p, result, title):
    st = result["settings"]
    p(f"# Factorial: `{result['label']}`{title}\n")
    p(f"Regenerate: `{result['command']}` (teacher {st['teacher_epochs']} epochs at LR {st['teacher_lr']:g}, student "
      f"{st['epochs']} epochs at LR {st['lr']:g}, scale scheme `{st['scheme']}`, {st['cs_sweeps']} coordinate-search "
      f"sweeps, refit {st['refit_epochs']} epochs{', pooling `' + st['pooling'] + '`' if 'pooling' in st else ''}; "
      f"wall {result['wall_s']:.0f} s on the machine that wrote this).\n")
    for c in result.get("collapsed_teachers", []):
        p(f"**Warning:** the float teacher H={c['H']} seed {c['seed']} learned nothing: {c['why']}.\n")
    for r in result.get("passed_over", []):
        p(f"Passed over as the model to hand on: {r['name']} seed {r['seed']}, better on validation, which "
          f"`codegen export` refuses: {r['why']}.\n")


# ---- a forecast ---------------------------------------------------------------------------------

class ForecastReport:
    """The report of a readout's factorial (see the module docstring)."""
    TITLE = ""
    ANOVA_METRIC = "log10 washout test MSE"
    BEST_KEYS = ("val_mse_washout", "test_mse", "test_mse_washout")
    TEACHER_KEYS = ("test_mse_washout",)
    ARTIFACT_KEYS = ("val_mse_washout", "test_mse", "test_mse_washout", "teacher_test_mse_washout")
    HEADLINE = ["| task | selected ternary model | test washout MSE | vs its float teacher | best baseline |",
                "|---|---|---|---|---|"]

    @staticmethod
    def versus_teacher(row, teacher, best=False) -> dict:
        r = row["test_mse_washout"] / teacher["test_mse_washout"]
        return {"ratio_vs_teacher": r} if best else {"vs_float": r}

    @staticmethod
    def _paired(result, rows):
        """vs config 1 of the same seed (config 1 is the narrower width; used for the wider rows too)."""
        ref = {r["seed"]: r["test_mse_washout"] for r in rows_of(result, 1)}
        return 10 ** np.mean([lg(r["test_mse_washout"] / ref[r["seed"]]) for r in rows])

    @classmethod
    def _line(cls, result, label, rows, shaped="", distill="", width="", extra=""):
        lw = np.array([lg(r["test_mse_washout"]) for r in rows])
        sd = lw.std(ddof=1) if len(lw) > 1 else 0.0
        vs_float = 10 ** np.mean([lg(r["vs_float"]) for r in rows]) if "vs_float" in rows[0] else 1.0
        fr, zf, wall = _means(rows)
        gm = lambda k: 10 ** np.mean([lg(r[k]) for r in rows])  # noqa: E731
        return (f"| {label} | {shaped} | {distill} | {width} | {gm('train_mse'):.2e} | {gm('val_mse_washout'):.2e} | "
                f"{gm('test_mse'):.2e} | {gm('test_mse_washout'):.2e} | {lw.mean():+.2f} ± {sd:.2f} | "
                f"{vs_float:.2f}x | {_fmt(cls._paired(result, rows), '.2f')}x | {_fmt(fr, '.4f')} | {_fmt(zf, '.2f')} | "
                f"{_fmt(wall, '.1f')} |{extra}")

    @staticmethod
    def baseline_label(result, name):
        return f"AR({result['baselines'][name]['p']})" if name == "ar" else {"ar2": "AR(2)"}.get(name, name)

    @classmethod
    def baseline_mses(cls, result) -> dict:
        """{label: test washout MSE} of the run's baselines (persistence, AR(2) or AR(p)), scaled units."""
        return {cls.baseline_label(result, k): v["test_mse_washout"] for k, v in result["baselines"].items()}

    @classmethod
    def verdict_text(cls, result) -> str:
        """The selected model against the baselines on the same test windows, in words."""
        v = verdict(result["best"]["test_mse_washout"], cls.baseline_mses(result))
        return v + (f" ({WHAT_TO_TRY})" if "WORSE" in v else "")

    @classmethod
    def summary_line(cls, result, out) -> str:
        """The factorial's last stdout line: the selected model, its teacher, the verdict."""
        b = result["best"]
        units = ""
        if result.get("data"):
            d = result["data"]
            units = f" ({b['test_mse_washout'] * d['target_scale'] ** 2:.4g} in {d['target']}'s units, squared)"
        return (f"{result['label']}: best ternary student {b['name']} seed {b['seed']}: test washout MSE "
                f"{b['test_mse_washout']:.3e}{units} = {b['ratio_vs_teacher']:.2f}x its float teacher; on the same "
                f"test windows it is {cls.verdict_text(result)}; report in {out}")

    @classmethod
    def units_table(cls, result):
        """A series' headline figures in the target's own units: washout test MSE (geometric mean
        over seeds) of the best config's student rows, the float teachers and the baselines."""
        d = result["data"]
        k = d["target_scale"] ** 2                  # scaled MSE -> MSE in the target's units
        out = [f"| model | H | test washout MSE ({d['target']}, its units; geo. mean over "
               f"{len(result['seeds'])} seeds) | vs float teacher |", "|---|---|---|---|"]

        def line(label, rows):
            gm = 10 ** np.mean([lg(r["test_mse_washout"]) for r in rows])
            vf = 10 ** np.mean([lg(r["vs_float"]) for r in rows]) if "vs_float" in rows[0] else 1.0
            out.append(f"| {label} | {rows[0]['H']} | {gm * k:.4e} | {vf:.2f}x |")
        cf = configs(result["widths"])
        bc = result["best_config_on_val"]
        line(f"{bc}: {config_name(cf[bc][0], 'traj' if cf[bc][1] else None, cf[bc][2])}", rows_of(result, bc))
        line(f"CS + refit on config {bc}", rows_of(result, "cs_refit"))
        for H in result["widths"]:
            line("float teacher", [r for r in result["teachers"] if r["H"] == H])
        for name in ("persistence", "ar"):
            b = result["baselines"][name]
            out.append(f"| {cls.baseline_label(result, name)} | - | {b['test_mse_washout'] * k:.4e} | - |")
        b = result["best"]
        out.append(f"\nBest ternary student (on validation): `{b['name']}` seed {b['seed']}, test washout MSE "
                   f"{b['test_mse_washout'] * k:.4e} = {b['ratio_vs_teacher']:.2f}x its float teacher "
                   f"({b['teacher_test_mse_washout'] * k:.4e}), in {d['target']}'s units; on the same test windows it "
                   f"is {cls.verdict_text(result)}.")
        return "\n".join(out) + "\n"

    @classmethod
    def _data_section(cls, p, result):
        d = result["data"]
        sp = d["spec"]
        p(f"Data: `{sp['path']}`, inputs {', '.join(d['inputs'])} (I = {len(d['inputs'])}), target "
          f"`{d['target']}` {sp['horizon']} row(s) ahead, windows of {sp['seq_len']} steps; {d['sizes']}. "
          f"Scaling fitted on the training block: inputs offset "
          f"{', '.join(f'{v:.6g}' for v in d['input_offset'])}, scale {', '.join(f'{v:.6g}' for v in d['input_scale'])}; "
          f"target offset {d['target_offset']:.6g}, scale {d['target_scale']:.6g}. Every MSE below is in scaled "
          f"units (target / scale); in the target's own units multiply by scale^2 = {d['target_scale'] ** 2:.6g}. "
          f"Values past the device's Q14 range |v| >= 2 (saturated on the device): "
          + "; ".join(f"{s} {c['inputs']} input / {c['target']} target" for s, c in d["saturation"].items()) + ".\n")
        df = sp.get("difference")
        if isinstance(df, dict) and (df["target"] or df["inputs"]):
            what = ("the target (the model forecasts its change over the horizon; a level forecast is the level at "
                    "the input's row plus it, so its error is the change's error)" if df["target"] else "not the target")
            p(f"Differenced: {what}; inputs {', '.join(df['inputs']) or 'none'} (their change from the row before). "
              f"The target scaling above is the change's; its levels: offset {d['level_offset']:.6g}, scale "
              f"{d['level_scale']:.6g}.\n")
        if d.get("notes"):
            p("What the defaults chose:\n")
            for note in d["notes"]:
                p(f"- {note}")
            p("")
        p("In the target's own units:\n")
        p(cls.units_table(result))

    @classmethod
    def markdown(cls, result):
        o = io.StringIO()
        p = lambda *a: print(*a, file=o)  # noqa: E731
        seeds = result["seeds"]
        fl = result["first_step_floor"]
        _header(p, result, "")
        if result.get("data"):
            cls._data_section(p, result)
        p(f"Headline metric: washout test MSE (steps t >= {WASHOUT}) on the {result['label']} test split. Means are "
          f"over the {len(seeds)} paired seeds {seeds}: geometric means of MSEs, mean ± sd (ddof 1) of log10 "
          f"washout MSE. \"vs float\": geometric mean over seeds of student / its own float teacher; "
          f"\"vs baseline\": the same against config 1 of the same seed. Flip rate: trit changes per weight "
          f"per optimizer step; zero: fraction of zero trits.\n")
        p(f"Gradient check before training: max relative error {result['gradcheck_max_rel_err']:.2e} "
          f"(tolerance 1e-3).\n")
        if fl:
            p(f"First-step floor ({fl['how']}): step-0 MSE {fl['step0_mse']:.4e}, so all-step MSE >= "
              f"{fl['all_step_floor']:.4e} (step-0 error / T).\n")
        p("## Float teachers\n")
        p("| H | seed | test MSE (all steps) | all-step / floor | test washout MSE | test NMSE (washout) |")
        p("|---|---|---|---|---|---|")
        for r in result["teachers"]:
            ratio = "-" if r.get("all_step_over_floor") is None else f"{r['all_step_over_floor']:.3f}"
            p(f"| {r['H']} | {r['seed']} | {r['test_mse']:.3e} | {ratio} | "
              f"{r['test_mse_washout']:.3e} | {r['test_nmse_washout']:.3e} |")
        p("")
        p("## Factorial (mean over seeds)\n")
        p("| config | shaped STE | traj. distill | width | train MSE | val washout | test MSE | test washout "
          "| log10 washout | vs float | vs baseline | flip rate | zero | wall s |")
        p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for c, (sh, tr, H) in configs(result["widths"]).items():
            p(cls._line(result, str(c), rows_of(result, c), "yes" if sh else "no", "yes" if tr else "no", H))
        for tag, label, sh, dist in (("out", "out-distill", "no", "output only"), ("ptq", "PTQ", "-", "-")):
            for H in result["widths"]:
                p(cls._line(result, label, [r for r in rows_of(result, tag) if r["H"] == H], sh, dist, H))
        for tag, label in (("cs1", "CS on config 1"), ("cs_best", f"CS on best ({result['best_config_on_val']})"),
                           ("cs_refit", f"CS + refit on best ({result['best_config_on_val']})")):
            rows = rows_of(result, tag)
            ev = np.mean([r["cs_loss_evals"] for r in rows])
            sc = f" + {np.mean([r['cs_screened'] for r in rows]):.0f} screened" if "cs_screened" in rows[0] else ""
            p(cls._line(result, f"{label}, {ev:.0f}{sc} loss evals", rows, "-", "-", rows[0]["H"]))
        for H in result["widths"]:
            p(cls._line(result, "float teacher", [r for r in result["teachers"] if r["H"] == H], "-", "-", H))
        for name, b in result["baselines"].items():
            p(f"| {cls.baseline_label(result, name)} | - | - | - | - | - | {b['test_mse']:.2e} | "
              f"{b['test_mse_washout']:.2e} | {lg(b['test_mse_washout']):+.2f} | - | - | - | - | - |")
        p("")
        p("## Every seed: test washout MSE\n")
        every_seed_table(p, result, "out-distill", "test_mse_washout", lambda v: f"{v:.2e}")
        anova_section(p, result["anova"], "log10 washout test MSE", "MSE")
        b = result["best"]
        p("## Best ternary student (selected on validation washout MSE)\n")
        p(f"`{b['name']}` seed {b['seed']}: val washout {b['val_mse_washout']:.3e}, test washout "
          f"{b['test_mse_washout']:.3e}, its float teacher {b['teacher_test_mse_washout']:.3e}: "
          f"**{b['ratio_vs_teacher']:.2f}x the teacher**. Written to `best.npz`.\n")
        base = ", ".join(f"{k} {v:.3e}" for k, v in cls.baseline_mses(result).items())
        p(f"Against the baselines on the same test windows ({base}): the selected model is "
          f"**{cls.verdict_text(result)}**.")
        return o.getvalue()

    @staticmethod
    def plot(head, result, run, teachers):
        """factorial.png as bytes (None without matplotlib): the best student and its teacher on two
        test sequences, and the 2x2x2 effects on log10 washout MSE."""
        plt = pyplot()
        if plt is None:
            return None
        b = result["best"]
        x, y = head.task.split("test")
        xT = tm(x[:3])
        tp = Params(b["H"], 1, head.task.I, head.rows(b["H"]), flat=teachers[b["H"]]["flat"][b["seed"]])
        yt, _ = train.outputs(head, xT, train.effective(tp))
        ys, _ = train.outputs(head, xT, train.frozen_eff(head, run["model"]))
        fig, axes = plt.subplots(1, 2, figsize=(12, 4))
        ax = axes[0]
        t = np.arange(x.shape[1])
        for n in range(min(2, x.shape[0])):
            ax.plot(t, y[n, :, 0], "k-", lw=1, label="truth" if n == 0 else None)
            ax.plot(t, yt[:, 0, n], "b--", lw=1, label=f"float teacher H{b['H']}" if n == 0 else None)
            ax.plot(t, ys[:, 0, n], "r:", lw=1.5, label=f"best student {b['name']}" if n == 0 else None)
        ax.axvline(WASHOUT - 0.5, color="gray", lw=0.5)
        ax.set_title(f"{result['label']}: test sequence{'s 0-1' if x.shape[0] > 1 else ' 0'}, predictions vs truth")
        ax.set_xlabel("step t")
        ax.legend(fontsize=8)
        return effects_png(plt, fig, axes[1], result, "effect on log10 washout test MSE")

    @classmethod
    def summary_table(cls, result):
        """The compact mean table of the results page (the same numbers as factorial.md)."""
        o = io.StringIO()
        p = lambda *a: print(*a, file=o)  # noqa: E731
        p("| row | H | test washout MSE (geo. mean) | log10 mean ± sd | vs float | vs config 1 |")
        p("|---|---|---|---|---|---|")

        def line(label, rows):
            lw = np.array([lg(r["test_mse_washout"]) for r in rows])
            sd = lw.std(ddof=1) if len(lw) > 1 else 0.0
            vf = 10 ** np.mean([lg(r["vs_float"]) for r in rows]) if "vs_float" in rows[0] else 1.0
            p(f"| {label} | {rows[0]['H']} | {10 ** lw.mean():.2e} | {lw.mean():+.2f} ± {sd:.2f} | {vf:.2f}x | "
              f"{cls._paired(result, rows):.2f}x |")
        for c, (sh, tr, H) in configs(result["widths"]).items():
            line(f"{c}: {config_name(sh, 'traj' if tr else None, H)}", rows_of(result, c))
        for tag, lab in (("out", "output-only distill"), ("ptq", "PTQ")):
            for H in result["widths"]:
                line(lab, [r for r in rows_of(result, tag) if r["H"] == H])
        line("CS on config 1", rows_of(result, "cs1"))
        line(f"CS on best config ({result['best_config_on_val']})", rows_of(result, "cs_best"))
        line(f"CS + refit on best config ({result['best_config_on_val']})", rows_of(result, "cs_refit"))
        for H in result["widths"]:
            line("float teacher", [r for r in result["teachers"] if r["H"] == H])
        b = result["best"]
        p(f"\nBest ternary student (on validation): `{b['name']}` seed {b['seed']}, test washout MSE "
          f"{b['test_mse_washout']:.2e} = {b['ratio_vs_teacher']:.2f}x its float teacher "
          f"({b['teacher_test_mse_washout']:.2e}).")
        return o.getvalue()

    @classmethod
    def section(cls, name, result) -> list:
        """The results page's lines of this factorial (after its title and command)."""
        lines = []
        if result.get("data"):
            dd = result["data"]
            lines += [f"Data: `{dd['spec']['path']}`, inputs {', '.join(dd['inputs'])}, target `{dd['target']}` "
                      f"{dd['spec']['horizon']} row(s) ahead, windows of {dd['spec']['seq_len']} steps; {dd['sizes']}.",
                      "", "In the target's own units:", "", cls.units_table(result).rstrip(), "",
                      "In scaled units:", ""]
        b = result["baselines"]
        lines += [cls.summary_table(result).rstrip(), "", effects_line(result), "",
                  "Baselines, test washout MSE in scaled units: "
                  + ", ".join(f"{cls.baseline_label(result, k)} {v['test_mse_washout']:.2e}" for k, v in b.items())
                  + ".", ""]
        cf = configs(result["widths"])
        bc = result["best_config_on_val"]
        lines += [f"Best config on validation: {bc} ({config_name(*cf[bc][:2], cf[bc][2])}).", ""]
        return lines

    @classmethod
    def headline_row(cls, name, r) -> str:
        b = r["best"]
        d = r.get("data")
        k = d["target_scale"] ** 2 if d else 1.0
        unit = f" ({d['target']} units²)" if d else ""
        base = min((v, k_) for k_, v in cls.baseline_mses(r).items())
        return (f"| `{name}` | `{b['name']}` seed {b['seed']}, H = {b['H']} | {b['test_mse_washout'] * k:.2e}{unit} | "
                f"{b['ratio_vs_teacher']:.2f}x | {base[1]} {base[0] * k:.2e} |")


# ---- a classifier --------------------------------------------------------------------------------

def _pct(x):
    return f"{100 * x:.1f}"


class ClassifierReport:
    """The report of a classifier's factorial (see the module docstring)."""
    TITLE = " (classification)"
    ANOVA_METRIC = "log10 test cross-entropy"
    BEST_KEYS = ("val_ce", "val_acc", "test_ce", "test_acc", "test_confusion")
    TEACHER_KEYS = ("test_acc", "test_ce")
    ARTIFACT_KEYS = ("val_ce", "val_acc", "test_ce", "test_acc", "teacher_test_acc")
    HEADLINE = ["| classification task | selected ternary classifier | test accuracy | vs its float teacher (same seed) "
                "| best config on validation, over the seeds | weights | vs the baselines (same test windows) |",
                "|---|---|---|---|---|---|---|"]
    HEADER = ("| row | H | test accuracy % (mean, min-max over seeds) | vs float teacher (points) | val CE (geo.) | "
              "test CE (geo.) | log10 test CE | flip rate | zero | wall s |")

    @staticmethod
    def versus_teacher(row, teacher, best=False) -> dict:
        d = row["test_acc"] - teacher["test_acc"]
        return {"acc_vs_teacher": d} if best else {"acc_vs_float": d, "ce_vs_float": row["test_ce"] / teacher["test_ce"]}

    @staticmethod
    def _line(label, rows):
        acc = np.array([r["test_acc"] for r in rows])
        d = np.array([r.get("acc_vs_float", 0.0) for r in rows])
        lce = np.array([lg(r["test_ce"]) for r in rows])
        sd = lce.std(ddof=1) if len(lce) > 1 else 0.0
        fr, zf, wall = _means(rows)
        gm = lambda k: 10 ** np.mean([lg(r[k]) for r in rows])  # noqa: E731
        delta = f"{100 * d.mean():+.1f}" if "acc_vs_float" in rows[0] else "-"
        return (f"| {label} | {rows[0]['H']} | {_pct(acc.mean())} ({_pct(acc.min())}-{_pct(acc.max())}) | {delta} | "
                f"{gm('val_ce'):.3f} | {gm('test_ce'):.3f} | {lce.mean():+.2f} ± {sd:.2f} | "
                f"{_fmt(fr, '.4f')} | {_fmt(zf, '.2f')} | {_fmt(wall, '.1f')} |")

    @classmethod
    def factorial_table(cls, result) -> str:
        o = [cls.HEADER, "|---|---|---|---|---|---|---|---|---|---|"]
        for c, (sh, tr, H) in configs(result["widths"]).items():
            o.append(cls._line(f"{c}: {config_name(sh, 'traj' if tr else None, H)}", rows_of(result, c)))
        for tag, lab in (("out", "logit distillation (out)"), ("ptq", "PTQ")):
            for H in result["widths"]:
                o.append(cls._line(lab, [r for r in rows_of(result, tag) if r["H"] == H]))
        bc = result["best_config_on_val"]
        for tag, lab in (("cs1", "CS on config 1"), ("cs_best", f"CS on best ({bc})"),
                         ("cs_refit", f"CS + refit on best ({bc})")):
            rows = rows_of(result, tag)
            o.append(cls._line(f"{lab}, {np.mean([r['cs_loss_evals'] for r in rows]):.0f} loss evals", rows))
        for H in result["widths"]:
            o.append(cls._line("float teacher", [r for r in result["teachers"] if r["H"] == H]))
        return "\n".join(o) + "\n"

    @staticmethod
    def verdict_text(result) -> str:
        v = class_verdict(result["best"]["test_acc"], {k: b["test_acc"] for k, b in result["baselines"].items()})
        return v + (f" ({WHAT_TO_TRY})" if "WORSE" in v else "")

    @classmethod
    def best_line(cls, result) -> str:
        b = result["best"]
        w = b["weights_bytes"]
        return (f"`{b['name']}` seed {b['seed']}, H = {b['H']}: test accuracy {_pct(b['test_acc'])} % "
                f"({100 * b['acc_vs_teacher']:+.1f} points against its float teacher's {_pct(b['teacher_test_acc'])} %), "
                f"test CE {b['test_ce']:.3f}, validation CE {b['val_ce']:.4f}; weights {w['total']} bytes (trits "
                f"{w['trits']}, scales {w['scales']}, biases {w['biases']}, lambda {w['lambda']}, head {w['head']}); "
                f"on the same test windows it is {cls.verdict_text(result)}.")

    @staticmethod
    def data_line(result) -> str:
        d = result["data"]
        if "spec" not in d:
            sizes = ", ".join(f"{s} {d['sizes'][s]}" for s in ("train", "val", "test"))
            return (f"Data: the pinned synthetic task `{result['task']}` (cfcbase/tasks.py), classes "
                    f"{', '.join(d['classes'])}; {sizes} windows.")
        sp = d["spec"]
        return (f"Data: `{sp['train']}` (train and a stratified validation share of {sp['val_fraction']:g}, fixed "
                f"seed) and `{sp['test']}` (test); {d['channels']} channel(s), windows of {d['steps']} steps, "
                f"{len(d['classes'])} classes; {d['description']}. Scaling per channel fitted on the training cases "
                f"(offset the mean, scale the largest |v - offset|); values at |v| >= 2 (saturated on the device): "
                + ", ".join(f"{s} {n}" for s, n in d["saturation"].items()) + ".")

    @classmethod
    def summary_line(cls, result, out) -> str:
        b = result["best"]
        return (f"{result['label']}: best ternary classifier {b['name']} seed {b['seed']}: test accuracy "
                f"{100 * b['test_acc']:.1f}% ({100 * b['acc_vs_teacher']:+.1f} points against its float teacher), "
                f"weights {b['weights_bytes']['total']} bytes; on the same test windows it is {cls.verdict_text(result)}; "
                f"report in {out}")

    @classmethod
    def markdown(cls, result) -> str:
        o = io.StringIO()
        p = lambda *a: print(*a, file=o)  # noqa: E731
        seeds = result["seeds"]
        _header(p, result, " (classification)")
        p(cls.data_line(result) + "\n")
        p(f"Metrics on the test windows: accuracy, and the cross-entropy (CE, natural log) of the softmax of the "
          f"logits. Means over the {len(seeds)} paired seeds {seeds}: accuracy as a mean (min-max), CE as a geometric "
          f"mean, log10 CE as mean ± sd (ddof 1). \"vs float teacher\": the mean over seeds of the student's test "
          f"accuracy minus its own float teacher's, in points. Flip rate: trit changes per weight per optimizer step; "
          f"zero: the fraction of zero trits.\n")
        p(f"Gradient check before training: max relative error {result['gradcheck_max_rel_err']:.2e} (tolerance "
          f"1e-3).\n")
        p("## Float teachers\n")
        p("| H | seed | val CE | test CE | test accuracy % |")
        p("|---|---|---|---|---|")
        for r in result["teachers"]:
            p(f"| {r['H']} | {r['seed']} | {r['val_ce']:.4f} | {r['test_ce']:.4f} | {_pct(r['test_acc'])} |")
        p("")
        p("## Factorial (over seeds)\n")
        p(cls.factorial_table(result))
        p("Baselines on the test windows (fitted on the training windows): "
          + ", ".join(f"{k} {_pct(v['test_acc'])} %" for k, v in result["baselines"].items()) + ".\n")
        p("## Every seed: test accuracy %\n")
        every_seed_table(p, result, "logit distillation", "test_acc", _pct)
        anova_section(p, result["anova"], result["anova_metric"], "test CE")
        b = result["best"]
        p("## Best ternary classifier (selected on validation CE)\n")
        p(cls.best_line(result) + " Written to `best.npz`.\n")
        p("Its test confusion matrix (float ternary model):\n")
        classes = result["data"]["classes"]
        p("| true \\ predicted | " + " | ".join(classes) + " |")
        p("|---|" + "---|" * len(classes))
        for name, row in zip(classes, b["test_confusion"]):
            p(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
        return o.getvalue()

    @staticmethod
    def plot(head, result, run, teachers):
        """factorial.png as bytes (None without matplotlib): test accuracy per row and seed, and
        the 2x2x2 effects on log10 test CE."""
        plt = pyplot()
        if plt is None:
            return None
        cf = configs(result["widths"])
        groups = [(str(c), rows_of(result, c)) for c in cf]
        groups += [(f"out H{H}", [r for r in rows_of(result, "out") if r["H"] == H]) for H in result["widths"]]
        groups += [(f"PTQ H{H}", [r for r in rows_of(result, "ptq") if r["H"] == H]) for H in result["widths"]]
        groups += [("CS 1", rows_of(result, "cs1")), ("CS best", rows_of(result, "cs_best")),
                   ("CS+refit", rows_of(result, "cs_refit"))]
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

    @classmethod
    def section(cls, name, result) -> list:
        e = result["anova"]["effects"]
        main = [x for x in e if " " in x["effect"]]
        return [cls.data_line(result), "", cls.factorial_table(result).rstrip(), "",
                "Best ternary classifier (on validation): " + cls.best_line(result), "",
                f"Main effects on {result['anova_metric']} (2x2x2 ANOVA, seeds as blocks; estimate, p): "
                + ", ".join(f"{x['effect']} {x['estimate']:+.2f} (p {x['p']:.2g})" for x in main) + ".", ""]

    @classmethod
    def headline_row(cls, name, r) -> str:
        b = r["best"]
        bc = r["best_config_on_val"]
        rows = [x for x in r["runs"] if x["config"] == bc]
        acc = sum(x["test_acc"] for x in rows) / len(rows)
        dv = sum(x["acc_vs_float"] for x in rows) / len(rows)
        base = ", ".join(f"{k} {_pct(v['test_acc'])} %" for k, v in r["baselines"].items())
        return (f"| `{name}` ({len(r['data']['classes'])} classes) | `{b['name']}` seed {b['seed']}, H = {b['H']} | "
                f"{100 * b['test_acc']:.1f} % | {100 * b['acc_vs_teacher']:+.1f} points | `{rows[0]['name']}`: "
                f"{100 * acc:.1f} %, {100 * dv:+.1f} points over {len(rows)} seeds | {b['weights_bytes']['total']} B | "
                f"{base} |")


REPORTS = {"readout": ForecastReport, "classifier": ClassifierReport}


def markdown(result) -> str:
    return REPORTS[result["head"]].markdown(result)


def plot(head, result, run, teachers):
    return REPORTS[head.kind].plot(head, result, run, teachers)


def summary_line(result, out) -> str:
    return REPORTS[result["head"]].summary_line(result, out)
