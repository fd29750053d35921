"""The sweep's reports: sweep.md (tables), sweep.png (the plot), and writing them with
sweep.json, all or none."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from cfcbase.fileio import write_file_set

from ...reports.factorial_report import pyplot
from .grid import KNOBS, fmt


# what the sweep's metric is called in its reports (sweep.json's "metric")
METRICS = {"test_mse_washout": ("test washout MSE", "washout MSE (steps t >= 5)", ".2e"),
           "test_ce": ("test CE", "cross-entropy (CE) of the softmax", ".3f")}


def markdown(result) -> str:
    key = result["metric"]
    short, long, f = METRICS[key]
    acc = "test_acc" in result["cells"][0]["seeds"][0]        # a classifier's accuracy beside its CE
    lines = [f"# Sweep: `{result['label']}`", "",
             f"Grid: {result['grid_spec']}. "
             f"Defaults: {', '.join(f'{k}={fmt(v)}' for k, v in result['defaults'].items())}. "
             f"Seeds {result['seeds'][0]}..{result['seeds'][-1]} (paired: seed k has the same data and, per "
             f"teacher setting, the same teacher in every cell). Metric: test {long}"
             + ("; test accuracy beside it." if acc else "."), "",
             "| cell | geo. mean | log10 mean ± sd | teacher geo. mean | vs teacher |"
             + (" accuracy % (mean) | teacher accuracy % |" if acc else ""),
             "|---|---|---|---|---|" + ("---|---|" if acc else "")]
    for c in result["cells"]:
        lw = np.log10([r[key] for r in c["seeds"]])
        tw = np.log10([r["teacher_" + key] for r in c["seeds"]])
        mark = " (baseline)" if c["id"] == result["baseline"] else ""
        extra = (f" {100 * np.mean([r['test_acc'] for r in c['seeds']]):.1f} | "
                 f"{100 * np.mean([r['teacher_test_acc'] for r in c['seeds']]):.1f} |") if acc else ""
        lines.append(f"| {c['id']}{mark} | {10 ** lw.mean():{f}} | {lw.mean():+.2f} ± {lw.std(ddof=1):.2f} | "
                     f"{10 ** tw.mean():{f}} | {10 ** (lw - tw).mean():.2f}x |{extra}")
    lines += ["", f"Paired against the baseline `{result['baseline']}`: mean difference of log10 {short} over seeds "
              "(negative = better than the baseline), 95% t interval, two-sided p and Holm-adjusted p over all "
              "comparisons.", "",
              "| cell | log10 diff | 95% CI | ratio | p | p (Holm) |", "|---|---|---|---|---|---|"]
    for r in result["comparisons"]:
        lines.append(f"| {r['id']} | {r['mean_log10_diff']:+.3f} | [{r['ci95'][0]:+.3f}, {r['ci95'][1]:+.3f}] | "
                     f"{10 ** r['mean_log10_diff']:.2f}x | {r['p']:.2g} | {r['p_holm']:.2g} |")
    every, cell = ("test accuracy %", lambda r: f"{100 * r['test_acc']:.1f}") if acc else (short, lambda r: f"{r[key]:{f}}")
    lines += ["", f"Every seed ({every}):", "", "| cell | " + " | ".join(f"seed {s}" for s in result["seeds"]) + " |",
              "|---|" + "---|" * len(result["seeds"])]
    for c in result["cells"]:
        lines.append(f"| {c['id']} | " + " | ".join(cell(r) for r in c["seeds"]) + " |")
    return "\n".join(lines) + "\n"


def _in_block(c: dict, block: dict, dflt: dict) -> bool:
    return all((c[k] in block[k] or c[k] == dflt[k]) if k in block else c[k] == dflt[k] for k in KNOBS)


def plot(result) -> bytes | None:
    """sweep.png as bytes (None without matplotlib): one panel per numeric knob a grid block
    varies (per-seed points, a line through the geometric means per setting of the block's
    other knobs), and student vs teacher quality."""
    plt = pyplot("sweep.png")
    if plt is None:
        return None
    dflt = result["defaults"]
    key = result["metric"]
    what = METRICS[key][0]
    panels = []
    for block in result["grid"]:
        for knob, vs in block.items():
            if isinstance(vs[0], (int, float)) and len(vs) > 1:
                panels.append((knob, block))
    panels.append(("teacher quality", None))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.8), squeeze=False)
    for ax, (knob, block) in zip(axes[0], panels):
        groups = {}
        for c in result["cells"]:
            if block is not None and not _in_block(c["settings"], block, dflt):
                continue
            others = [k for k in (block or {}) if k != knob]
            label = ", ".join(f"{k}={fmt(c['settings'][k])}" for k in others) or "all"
            if block is None:
                label = f"distill={c['settings']['distill']}"
            groups.setdefault(label, []).append(c)
        for gi, (label, cl) in enumerate(sorted(groups.items())):
            color = f"C{gi % 10}"
            if block is None:
                xs = [r["teacher_" + key] for c in cl for r in c["seeds"]]
                ys = [r[key] for c in cl for r in c["seeds"]]
                ax.scatter(xs, ys, s=10, color=color, alpha=0.6, label=label)
                continue
            by = {}
            for c in cl:
                by.setdefault(c["settings"][knob], []).extend(r[key] for r in c["seeds"])
            xs = sorted(by)
            for x in xs:
                ax.scatter([x] * len(by[x]), by[x], s=8, color=color, alpha=0.4)
            ax.plot(xs, [10 ** np.mean(np.log10(by[x])) for x in xs], "-o", color=color, ms=4, label=label)
        if knob in ("lr", "teacher_lr", "beta", "teacher_epochs", "H", "teacher quality"):
            ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(knob if block is not None else f"teacher {what}")
        ax.set_ylabel(f"student {what}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle(f"sweep {result['label']}: per-seed points, lines = geometric means")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_reports(out: Path, result: dict) -> None:
    """sweep.json, sweep.md and sweep.png, all or none (cfcbase.fileio.write_file_set)."""
    texts = {"sweep.json": json.dumps(result, indent=1, sort_keys=True) + "\n", "sweep.md": markdown(result)}
    writers = {name: (lambda f, t=t: f.write(t.encode())) for name, t in texts.items()}
    png = plot(result)
    writers["sweep.png"] = None if png is None else (lambda f: f.write(png))
    write_file_set(out, writers)
