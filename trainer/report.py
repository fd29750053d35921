"""factorial.md and factorial.png from the assembled result (see factorial.assemble)."""
from __future__ import annotations

import io
import sys

import numpy as np

from cfcbase import tasks

from . import cell, train
from .configs import CONFIGS, WIDTHS, config_name


def _lg(x):
    return float(np.log10(x))


def _rows(result, config):
    return sorted([r for r in result["runs"] + result["teachers"] if r["config"] == config],
                  key=lambda r: (r["H"], r["seed"]))


def _line(result, label, rows, shaped="", distill="", width="", extra=""):
    lw = np.array([_lg(r["test_mse_washout"]) for r in rows])
    sd = lw.std(ddof=1) if len(lw) > 1 else 0.0
    vs_float = 10 ** np.mean([_lg(r["vs_float"]) for r in rows]) if "vs_float" in rows[0] else 1.0
    vs_base = _paired_any(result, rows)
    fr = np.mean([r.get("flip_rate", np.nan) for r in rows])
    zf = np.mean([r.get("zero_frac", np.nan) for r in rows])
    wall = np.mean([r.get("wall_s", np.nan) for r in rows])
    gm = lambda k: 10 ** np.mean([_lg(r[k]) for r in rows])  # noqa: E731
    f = lambda x, fmt: "-" if not np.isfinite(x) else format(x, fmt)  # noqa: E731
    return (f"| {label} | {shaped} | {distill} | {width} | {gm('train_mse'):.2e} | {gm('val_mse_washout'):.2e} | "
            f"{gm('test_mse'):.2e} | {gm('test_mse_washout'):.2e} | {lw.mean():+.2f} ± {sd:.2f} | "
            f"{vs_float:.2f}x | {f(vs_base, '.2f')}x | {f(fr, '.4f')} | {f(zf, '.2f')} | {f(wall, '.1f')} |{extra}")


def _paired_any(result, rows):
    """vs config 1 of the same seed (config 1 is H=16; used for H=32 rows too)."""
    ref = {r["seed"]: r["test_mse_washout"] for r in _rows(result, 1)}
    return 10 ** np.mean([_lg(r["test_mse_washout"] / ref[r["seed"]]) for r in rows])


def baseline_label(result, name):
    return f"AR({result['baselines'][name]['p']})" if name == "ar" else name


def baseline_mses(result) -> dict:
    """{label: test washout MSE} of the run's baselines (persistence, AR(2) or AR(p)), scaled units."""
    return {("AR(2)" if k == "ar2" else baseline_label(result, k)): v["test_mse_washout"]
            for k, v in result["baselines"].items() if k in ("persistence", "ar2", "ar")}


WHAT_TO_TRY = 'docs/model.md, "When the model loses to a baseline", says what to try'


def verdict_text(result) -> str:
    """The selected model against the baselines on the same test windows, in words."""
    v = tasks.verdict(result["best"]["test_mse_washout"], baseline_mses(result))
    return v + (f" ({WHAT_TO_TRY})" if "WORSE" in v else "")


def summary_line(result, out) -> str:
    """The factorial's last stdout line: the selected model, its teacher, the verdict."""
    b = result["best"]
    units = ""
    if "data" in result:
        d = result["data"]
        units = f" ({b['test_mse_washout'] * d['target_scale'] ** 2:.4g} in {d['target']}'s units, squared)"
    return (f"{tasks.label(result['task'])}: best ternary student {b['name']} seed {b['seed']}: test washout MSE "
            f"{b['test_mse_washout']:.3e}{units} = {b['ratio_vs_teacher']:.2f}x its float teacher; on the same test "
            f"windows it is {verdict_text(result)}; report in {out}")


def units_table(result):
    """A data task's headline figures in the target's own units: washout test MSE (geometric mean
    over seeds) of the best config's student rows, the float teachers and the baselines."""
    d = result["data"]
    k = d["target_scale"] ** 2                  # scaled MSE -> MSE in the target's units
    out = [f"| model | H | test washout MSE ({d['target']}, its units; geo. mean over "
           f"{len(result['seeds'])} seeds) | vs float teacher |", "|---|---|---|---|"]

    def line(label, rows):
        gm = 10 ** np.mean([_lg(r["test_mse_washout"]) for r in rows])
        vf = 10 ** np.mean([_lg(r["vs_float"]) for r in rows]) if "vs_float" in rows[0] else 1.0
        out.append(f"| {label} | {rows[0]['H']} | {gm * k:.4e} | {vf:.2f}x |")
    bc = result["best_config_on_val"]
    line(f"{bc}: {config_name(CONFIGS[bc][0], 'traj' if CONFIGS[bc][1] else None, CONFIGS[bc][2])}",
         _rows(result, bc))
    line(f"CS + refit on config {bc}", _rows(result, "cs_refit"))
    for H in WIDTHS:
        line("float teacher", [r for r in result["teachers"] if r["H"] == H])
    for name in ("persistence", "ar"):
        b = result["baselines"][name]
        out.append(f"| {baseline_label(result, name)} | - | {b['test_mse_washout'] * k:.4e} | - |")
    b = result["best"]
    out.append(f"\nBest ternary student (on validation): `{b['name']}` seed {b['seed']}, test washout MSE "
               f"{b['test_mse_washout'] * k:.4e} = {b['ratio_vs_teacher']:.2f}x its float teacher "
               f"({b['teacher_test_mse_washout'] * k:.4e}), in {d['target']}'s units; on the same test windows it "
               f"is {verdict_text(result)}.")
    return "\n".join(out) + "\n"


def _data_section(p, result):
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
    p(units_table(result))


def markdown(result):
    o = io.StringIO()
    p = lambda *a: print(*a, file=o)  # noqa: E731
    task, seeds, st = result["task"], result["seeds"], result["settings"]
    fl = result["first_step_floor"]
    p(f"# Factorial: `{tasks.label(task)}`\n")
    p(f"Regenerate: `{result['command']}` (teacher {st['teacher_epochs']} epochs, student {st['epochs']} "
      f"epochs, scale scheme `{st['scheme']}`; wall {result['wall_s']:.0f} s on the machine that wrote this).\n")
    if "data" in result:
        _data_section(p, result)
    p(f"Headline metric: washout test MSE (steps t >= {tasks.WASHOUT}) on the {tasks.label(task)} test split. Means are "
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
        ratio = "-" if r["all_step_over_floor"] is None else f"{r['all_step_over_floor']:.3f}"
        p(f"| {r['H']} | {r['seed']} | {r['test_mse']:.3e} | {ratio} | "
          f"{r['test_mse_washout']:.3e} | {r['test_nmse_washout']:.3e} |")
    p("")
    p("## Factorial (mean over seeds)\n")
    p("| config | shaped STE | traj. distill | width | train MSE | val washout | test MSE | test washout "
      "| log10 washout | vs float | vs baseline | flip rate | zero | wall s |")
    p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c, (sh, tr, H) in CONFIGS.items():
        p(_line(result, str(c), _rows(result, c), "yes" if sh else "no", "yes" if tr else "no", H))
    for H in WIDTHS:
        rows = [r for r in _rows(result, "out") if r["H"] == H]
        p(_line(result, "out-distill", rows, "no", "output only", H))
    for H in WIDTHS:
        rows = [r for r in _rows(result, "ptq") if r["H"] == H]
        p(_line(result, "PTQ", rows, "-", "-", H))
    for tag, label in (("cs1", "CS on config 1"), ("cs_best", f"CS on best ({result['best_config_on_val']})"),
                       ("cs_refit", f"CS + refit on best ({result['best_config_on_val']})")):
        rows = _rows(result, tag)
        ev = np.mean([r["cs_loss_evals"] for r in rows])
        sc = f" + {np.mean([r['cs_screened'] for r in rows]):.0f} screened" if "cs_screened" in rows[0] else ""
        p(_line(result, f"{label}, {ev:.0f}{sc} loss evals", rows, "-", "-", rows[0]["H"]))
    for H in WIDTHS:
        rows = [r for r in result["teachers"] if r["H"] == H]
        p(_line(result, "float teacher", rows, "-", "-", H))
    for name in ("persistence", "ar2", "ar"):
        if name not in result["baselines"]:
            continue
        b = result["baselines"][name]
        p(f"| {baseline_label(result, name)} | - | - | - | - | - | {b['test_mse']:.2e} | {b['test_mse_washout']:.2e} | "
          f"{_lg(max(b['test_mse_washout'], 1e-300)):+.2f} | - | - | - | - | - |")
    p("")
    p("## Every seed: test washout MSE\n")
    every_seed_table(p, result, CONFIGS, "out-distill", "test_mse_washout", lambda v: f"{v:.2e}")
    anova_section(p, result["anova"], "log10 washout test MSE", "MSE")
    b = result["best"]
    p("## Best ternary student (selected on validation washout MSE)\n")
    p(f"`{b['name']}` seed {b['seed']}: val washout {b['val_mse_washout']:.3e}, test washout "
      f"{b['test_mse_washout']:.3e}, its float teacher {b['teacher_test_mse_washout']:.3e}: "
      f"**{b['ratio_vs_teacher']:.2f}x the teacher**. Written to `best.npz`.\n")
    base = ", ".join(f"{k} {v:.3e}" for k, v in baseline_mses(result).items())
    p(f"Against the baselines on the same test windows ({base}): the selected model is "
      f"**{verdict_text(result)}**.")
    return o.getvalue()


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


def every_seed_table(p, result, configs, out_label, key, fmt):
    """factorial.md's table of every seed's `key` (formatted by fmt): a row per config of
    `configs` ({config: (shaped, traj, H)}) and per width of the other rows (out_label: the
    output-only distillation's)."""
    seeds = result["seeds"]
    p("| row | " + " | ".join(f"seed {s}" for s in seeds) + " |")
    p("|---|" + "---|" * len(seeds))
    labels = [(c, config_name(configs[c][0], "traj" if configs[c][1] else None, configs[c][2])) for c in configs]
    labels += [("out", out_label), ("ptq", "PTQ"), ("cs1", "CS on config 1"), ("cs_best", "CS on best"),
               ("cs_refit", "CS + refit on best"), ("teacher", "float teacher")]
    for c, lab in labels:
        rows = _rows(result, c)
        for H in sorted({r["H"] for r in rows}):
            by = {r["seed"]: r[key] for r in rows if r["H"] == H}
            tag = lab if isinstance(c, int) else f"{lab} H{H}"
            p(f"| {tag} | " + " | ".join(fmt(by[s]) for s in seeds) + " |")
    p("")


def pyplot():
    """matplotlib.pyplot on the Agg backend, or None (and a line on stderr) without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("factorial: matplotlib is not installed: skipping factorial.png "
              "(pip install 'trixcfc[plot]')", file=sys.stderr)
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


def plot(path, result, run, teachers, atomic_write):
    plt = pyplot()
    if plt is None:
        return False
    task, b = result["task"], result["best"]
    x, y = tasks.load_split(task, "test")
    xT = train._tm(x[:3])
    tp = train.Params(b["H"], 1, tasks.n_inputs(task), flat=teachers[b["H"]]["flat"][b["seed"]])
    yt, _ = cell.predict(xT, *train.effective(tp))
    ys, _ = cell.predict(xT, *train.frozen_eff(run["model"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    ax = axes[0]
    t = np.arange(x.shape[1])
    for n in range(min(2, x.shape[0])):
        ax.plot(t, y[n, :, 0], "k-", lw=1, label="truth" if n == 0 else None)
        ax.plot(t, yt[:, 0, n], "b--", lw=1, label=f"float teacher H{b['H']}" if n == 0 else None)
        ax.plot(t, ys[:, 0, n], "r:", lw=1.5, label=f"best student {b['name']}" if n == 0 else None)
    ax.axvline(tasks.WASHOUT - 0.5, color="gray", lw=0.5)
    ax.set_title(f"{tasks.label(task)}: test sequence{'s 0-1' if x.shape[0] > 1 else ' 0'}, predictions vs truth")
    ax.set_xlabel("step t")
    ax.legend(fontsize=8)
    png = effects_png(plt, fig, axes[1], result, "effect on log10 washout test MSE")
    atomic_write(path, lambda f: f.write(png))
    return True


def summary_table(result):
    """The compact mean table for README.md (same numbers as factorial.md)."""
    o = io.StringIO()
    p = lambda *a: print(*a, file=o)  # noqa: E731
    p("| row | H | test washout MSE (geo. mean) | log10 mean ± sd | vs float | vs config 1 |")
    p("|---|---|---|---|---|---|")

    def line(label, rows):
        lw = np.array([_lg(r["test_mse_washout"]) for r in rows])
        sd = lw.std(ddof=1) if len(lw) > 1 else 0.0
        vf = 10 ** np.mean([_lg(r["vs_float"]) for r in rows]) if "vs_float" in rows[0] else 1.0
        p(f"| {label} | {rows[0]['H']} | {10 ** lw.mean():.2e} | {lw.mean():+.2f} ± {sd:.2f} | {vf:.2f}x | "
          f"{_paired_any(result, rows):.2f}x |")
    for c, (sh, tr, H) in CONFIGS.items():
        line(f"{c}: {config_name(sh, 'traj' if tr else None, H)}", _rows(result, c))
    for tag, lab in (("out", "output-only distill"), ("ptq", "PTQ")):
        for H in WIDTHS:
            line(lab, [r for r in _rows(result, tag) if r["H"] == H])
    line("CS on config 1", _rows(result, "cs1"))
    line(f"CS on best config ({result['best_config_on_val']})", _rows(result, "cs_best"))
    line(f"CS + refit on best config ({result['best_config_on_val']})", _rows(result, "cs_refit"))
    for H in WIDTHS:
        line("float teacher", [r for r in result["teachers"] if r["H"] == H])
    b = result["best"]
    p(f"\nBest ternary student (on validation): `{b['name']}` seed {b['seed']}, test washout MSE "
      f"{b['test_mse_washout']:.2e} = {b['ratio_vs_teacher']:.2f}x its float teacher "
      f"({b['teacher_test_mse_washout']:.2e}).")
    return o.getvalue()
