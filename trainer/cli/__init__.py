"""Command line: ``python -m trainer {factorial,gradcheck,bench,sweep,frontier,peers,examples,baselines,results} ...``
(esptool style: main(argv) over the Python API; every failure one `error:` line on stderr).

The options that name a task (--task, --data, --labelled and theirs) are the same for every
training command: trainer/cli/task_options.py turns them into a task, once.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

from cfcbase.version import version_line

from ..errors import TrainerError
from ..experiments import bench, bench_memory, examples, factorial
from ..experiments import sweep as sweep_
from ..experiments.configs import BUDGETS, REF_WINDOWS, TASK_DEFAULTS, WIDTHS
from ..model import gradcheck
from ..model.quant import SCHEMES
from ..reports import results_page
from ..reports.factorial_report import summary_line
from .frontier import frontier_options, run_frontier
from .peers import peers_options, run_peers
from .task_options import task_of, task_options


class _Parser(argparse.ArgumentParser):
    """argparse that raises TrainerError instead of printing usage and exiting."""

    def error(self, message):
        raise TrainerError(message)


def build_parser():
    fill = {"widths": ", ".join(map(str, WIDTHS)), "knobs": "; ".join(f"{k}: {v.help}" for k, v in sweep_.KNOBS.items())}
    p = _Parser(prog="python -m trainer",
                description="Ternary CfC trainer: float teachers, the 2x2x2 ternary factorial, gradient check.")
    p.add_argument("--version", action="version", version=version_line(), help="print the version and exit")
    sub = p.add_subparsers(dest="cmd", metavar="{" + ",".join(COMMANDS) + "}", parser_class=_Parser)
    for name, (summary, description, options, _) in COMMANDS.items():
        options(sub.add_parser(name, help=summary, description=description.format(**fill)))
    return p


def _per_task(key):
    return ", ".join(f"{t} {d[key]}" for t, d in TASK_DEFAULTS.items())


def _factorial_options(f):
    d = factorial.Settings()
    task_options(f)
    f.add_argument("--seeds", type=int, default=d.seeds, metavar="N",
                   help=f"number of paired seeds 0..N-1; seed k uses the same data and teacher in every "
                   f"config (default: {d.seeds})")
    f.add_argument("--epochs", type=int, default=None, metavar="N",
                   help=f"student (QAT) epochs per config; an epoch is one pass over the training set in "
                   f"minibatches of --batch windows (default: {_per_task('epochs')}; with more than {REF_WINDOWS} "
                   f"training windows N, times {REF_WINDOWS}/N: as many windows seen)")
    f.add_argument("--teacher-epochs", type=int, default=None, metavar="N",
                   help=f"float teacher epochs (default: {_per_task('teacher_epochs')}; scaled as --epochs)")
    f.add_argument("--budget", choices=tuple(BUDGETS), default="quick",
                   help="training budget: the default student and refit epochs (not the teachers') times "
                        + ", ".join(f"{k} {v}" for k, v in BUDGETS.items())
                        + " (default: quick; epochs given as options are kept)")
    f.add_argument("--batch", type=int, default=d.batch, metavar="B",
                   help=f"windows per minibatch of every training, teachers, students and refit (default: "
                   f"{d.batch}, measured against 128 and 512: docs/training.md, 'Time'; the default epochs are "
                   "sized for it)")
    f.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="worker processes for independent jobs; results do not depend on it "
                   "(default: os.cpu_count())")
    f.add_argument("--out", default=None, metavar="DIR",
                   help="output directory (default: results/<task>/, with --data results/<file name>/, with "
                   "--labelled results/<problem name>/)")
    f.add_argument("--lr", type=float, default=d.lr, metavar="X", help=f"student Adam LR (default: {d.lr:g})")
    f.add_argument("--teacher-lr", type=float, default=None, metavar="X",
                   help=f"teacher Adam LR (default: {_per_task('teacher_lr')})")
    f.add_argument("--scheme", default=d.scheme, metavar="S",
                   help=f"per-row scale scheme: one of {', '.join(SCHEMES)} (default: {d.scheme}; "
                   "docs/training.md compares them)")
    f.add_argument("--transient-weight", type=float, default=d.transient_weight, metavar="X",
                   help="weight of a forecast's ambiguous steps t < 5 in the students' and coordinate search's task "
                   f"loss, in [0, 1] (default: {d.transient_weight:g}: they train on the washout steps; "
                   "teachers always use every step)")
    f.add_argument("--cs-sweeps", type=int, default=None, metavar="N",
                   help=f"max coordinate-search sweeps (default: {_per_task('cs_sweeps')})")
    f.add_argument("--refit-epochs", type=int, default=None, metavar="N",
                   help="epochs of the refit after coordinate search on the best config: scales, biases, tau "
                   f"and the head trained with the trits fixed (default: {_per_task('refit_epochs')})")


def _sweep_options(sw):
    task_options(sw)
    sw.add_argument("--grid", default="factorial", metavar="SPEC",
                    help="KNOB=V1,V2,...; KNOB=... (the product of the values), blocks of those joined by "
                    "'|' (the union of their products), or a preset: "
                    + ", ".join(f"{k} = '{v}'" for k, v in sweep_.PRESETS.items()) + " (default: factorial)")
    sw.add_argument("--seeds", type=int, default=10, metavar="N", help="paired seeds 0..N-1 (default: 10)")
    sw.add_argument("--out", default=None, metavar="DIR",
                    help="output directory (default: results/<task>/sweep, with --data results/<file name>/sweep)")
    sw.add_argument("--baseline", default="", metavar="CELL",
                    help="cell to compare every other cell with, named by its knobs that differ from the "
                    "defaults, e.g. 'distill=traj,alpha=0.3' or 'default' (default: the first cell)")
    sw.add_argument("--set", action="append", default=[], metavar="KNOB=V",
                    help="a knob's value for every cell (repeatable), e.g. --set epochs=100")
    sw.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                    help="local worker processes, or CPUs of a local Ray instance (default: os.cpu_count())")
    sw.add_argument("--stack", type=int, default=5, metavar="N",
                    help="seeds trained side by side in one job, in chunks aligned to multiples of N, so "
                    "that more --seeds later only adds jobs (default: 5)")
    sw.add_argument("--dry-run", action="store_true",
                    help="print the cells and how many of their jobs are cached and how many would run, "
                    "then exit without training or writing anything")
    sw.add_argument("--ray", default=None, metavar="ADDRESS", nargs="?", const="local",
                    help="run the jobs on Ray: no value or 'local' starts a Ray instance of its own on 127.0.0.1 "
                    "(never another program's); 'auto' or HOST:PORT joins a running cluster (ray start --head; "
                    "a token-protected one needs RAY_AUTH_MODE=token and RAY_AUTH_TOKEN). Never make a Ray port "
                    "reachable from an untrusted network: Ray runs any code a client sends (docs/sweep.md). "
                    "Default: local processes")
    sw.add_argument("--ray-timeout", type=float, default=sweep_.RAY_CONNECT_TIMEOUT, metavar="S",
                    help="with --ray HOST:PORT: seconds to wait for the cluster to answer before giving up in one "
                    f"line (default: {sweep_.RAY_CONNECT_TIMEOUT:g})")


def _gradcheck_options(g):
    g.add_argument("--verbose", "-v", action="store_true", help="print every group's error")


def _bench_options(bn):
    bn.add_argument("--hidden", default="16,32", metavar="H,H,...",
                    help="comma-separated widths (default: 16,32; scaling: 8,16,32,64,128)")
    bn.add_argument("--repeats", type=int, default=7, metavar="N", help="interleaved repeats (default: 7)")
    bn.add_argument("--batch", type=int, default=32, metavar="B", help="sequences per batch (default: 32)")
    bn.add_argument("--steps", type=int, default=50, metavar="N",
                    help="epochs timed per repeat (default: 50)")
    bn.add_argument("--student", action="store_true",
                    help="the ternary student step (coupled scales, identity STE) instead of the teacher")
    bn.add_argument("--memory", default=None, metavar="N,N,...",
                    help="instead of the timing: the peak memory of training one factorial job pair (a teacher, "
                         "then its students, H = 16) on N labelled windows of 128 steps x 9 channels, per N in a "
                         "fresh process, and its growth per window beside the rate docs/training.md states")
    bn.add_argument("--scale", default=None, metavar="N,N,...",
                    help="instead of the timing: the wall time of one factorial job pair (a teacher, then its "
                         "students, H = 16, one core) at the default epochs for N labelled windows of 128 steps x 9 "
                         "channels (fewer epochs above 500 windows: docs/training.md), and its seconds per epoch")


def _examples_options(ex):
    ex.add_argument("--only", default=None, metavar="NAMES",
                    help=f"comma-separated examples to run (default: all: {', '.join(examples.EXAMPLES)})")
    ex.add_argument("--no-verify", action="store_true", help="train only; do not run host verify")
    ex.add_argument("--targets", default=examples.VERIFY_TARGETS, metavar="LIST",
                    help=f"host verify's --target (default: {examples.VERIFY_TARGETS})")


def _baselines_options(bl):
    task_options(bl, default="waves3")
    bl.add_argument("--out", default=None, metavar="DIR",
                    help="where baselines.json goes (default: the task's results directory, results/<set>)")


def _results_options(rs):
    rs.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 when either file is not what the results give")


# ---- the commands -----------------------------------------------------------------------------

def _positive(a, names):
    """The counts of the command line that must be positive, before any data is read."""
    for name in names:
        v = getattr(a, name, None)
        if v is not None and v < 1:
            raise TrainerError(f"--{name.replace('_', '-')} must be positive, got {v}")


def cmd_factorial(a):
    if a.scheme not in SCHEMES:
        raise TrainerError(f"unknown scale scheme {a.scheme!r} (known: {', '.join(SCHEMES)})")
    _positive(a, ("seeds", "epochs", "teacher_epochs", "jobs", "cs_sweeps", "refit_epochs", "batch"))
    task, out, argv = task_of(a)
    given = [f"--{k.replace('_', '-')} {getattr(a, k)}" for k in ("epochs", "teacher_epochs", "cs_sweeps",
                                                                   "refit_epochs") if getattr(a, k) is not None]
    if a.batch != factorial.Settings.batch:
        given.append(f"--batch {a.batch}")
    if a.budget != "quick":
        given.append(f"--budget {a.budget}")
    command = " ".join(["python -m trainer factorial"] + argv + given + [f"--seeds {a.seeds}"]
                       + ([f"--out {a.out}"] if a.out else []))
    st = factorial.Settings(task=task, command=command, seeds=a.seeds, epochs=a.epochs, teacher_epochs=a.teacher_epochs,
                            lr=a.lr, teacher_lr=a.teacher_lr, scheme=a.scheme, cs_sweeps=a.cs_sweeps, jobs=a.jobs,
                            transient_weight=a.transient_weight, refit_epochs=a.refit_epochs, pooling=a.pooling,
                            budget=a.budget, batch=a.batch, out=out)
    r = factorial.run(st)
    print(summary_line(r, st.out))
    return 0


def cmd_sweep(a):
    overrides = sweep_.parse_settings(a.set, "--set")
    _positive(a, ("workers",))
    if not (math.isfinite(a.ray_timeout) and a.ray_timeout > 0):
        raise TrainerError(f"--ray-timeout must be a positive number of seconds, got {a.ray_timeout}")
    task, out, _ = task_of(a, "sweep")
    st = sweep_.SweepSettings(task=task, grid=a.grid, seeds=a.seeds, out=out, baseline=a.baseline,
                              workers=a.workers, stack=a.stack, ray=a.ray, overrides=overrides,
                              ray_timeout=a.ray_timeout if a.ray not in (None, "local") else None)
    if a.dry_run:
        p = sweep_.Plan(st)
        print(p.summary())
        print("\n".join(f"  {cid}{' (baseline)' if cid == p.baseline else ''}" for cid in p.ids))
        return 0
    r = sweep_.run(st)
    key = r["metric"]
    best = min(r["cells"], key=lambda c: sum(math.log10(x[key]) for x in c["seeds"]))
    print(f"{r['label']}: {len(r['cells'])} cells x {len(r['seeds'])} seeds; lowest mean log10 "
          f"{key.replace('_', ' ')}: {best['id']}; report in {st.out}/sweep.md")
    return 0


def cmd_gradcheck(a):
    r = gradcheck.run()
    for k, v in r.items():
        if a.verbose or not v < gradcheck.TOL:
            print(f"{k:32s} {v:.2e}{'' if v < gradcheck.TOL else '  FAIL'}")
    worst = max(r, key=r.get)
    bad = gradcheck.failures(r)
    print(f"gradcheck: {len(r)} groups, max relative error {r[worst]:.2e} ({worst}), "
          f"tolerance {gradcheck.TOL:g}: {'FAIL' if bad else 'ok'}")
    return 1 if bad else 0


def _sizes(option, text):
    try:
        sizes = [int(n) for n in text.split(",")]
    except ValueError:
        raise TrainerError(f"{option}: comma-separated integers expected, got {text!r}") from None
    if min(sizes) < 20:
        raise TrainerError(f"{option}: at least 20 windows each (a tenth are held out for validation)")
    return sizes


def cmd_bench(a):
    if a.memory is not None:
        bench_memory.run(_sizes("--memory", a.memory), log=print)
        return 0
    if a.scale is not None:
        bench_memory.run_time(_sizes("--scale", a.scale), log=print)
        return 0
    try:
        hidden = [int(h) for h in a.hidden.split(",")]
    except ValueError:
        raise TrainerError(f"--hidden: comma-separated integers expected, got {a.hidden!r}") from None
    if min(hidden + [a.repeats, a.batch, a.steps]) < 1:
        raise TrainerError("--hidden, --repeats, --batch and --steps must be positive")
    bench.run(hidden=hidden, repeats=a.repeats, batch=a.batch, steps=a.steps, student=a.student)
    return 0


def cmd_examples(a):
    rc = examples.run([n.strip() for n in a.only.split(",")] if a.only else None, not a.no_verify, a.targets)
    if rc:
        return rc
    for f in results_page.write():
        print(f"wrote {f}", file=sys.stderr)
    return 0


def cmd_baselines(a):
    from ..experiments import class_baselines  # noqa: PLC0415  (only this command needs it)
    task, out, argv = task_of(a)
    command = " ".join(["python -m trainer baselines"] + argv + ([f"--out {a.out}"] if a.out else []))
    rec = class_baselines.run(task, out, command, progress=lambda m: print(m, file=sys.stderr))
    print("\n".join(class_baselines.lines(rec)))
    print(f"wrote {out}/baselines.json")
    return 0


def cmd_results(a):
    return results_page.main(a.check)


# the commands, in the order --help lists them: name -> (its line there, its description, what adds its
# options, what runs it)
COMMANDS = {
    "factorial": ("train teachers, the 8 ternary configs and baselines; write reports",
                  "Runs the gradient check, then float teachers per seed, the 2x2x2 factorial (shaped STE x "
                  "trajectory distillation x width: {widths} for the pinned forecasts), output distillation, PTQ and "
                  "greedy coordinate search; writes factorial.json, factorial.md, factorial.png and best.npz "
                  "(selected on validation) to --out. Progress goes to stderr. A classification task (--labelled "
                  "FILE or --task waves3) trains classifiers the same way: widths 8 and 16, logit distillation, the "
                  "cross-entropy (docs/training.md, 'Classification').", _factorial_options, cmd_factorial),
    "gradcheck": ("analytic BPTT vs float64 central differences, every group",
                  "Checks every gradient group (teacher; student w.r.t. effective weights and scales, trits "
                  "fixed; STE, shaped STE and LSQ chain rules; with and without the distillation terms; for the "
                  "readout and the classifier with both poolings). Exit status 1 if any relative error >= 1e-3.",
                  _gradcheck_options, cmd_gradcheck),
    "bench": ("ms per epoch: numpy trainer vs the same cell in PyTorch autograd",
              "Times one epoch (forward + BPTT + clip + Adam on one batch) of the numpy trainer and of the "
              "same cell and loss in PyTorch autograd (optional: pip install torch==2.13.0), one thread each, "
              "runs interleaved; prints min/median/max ms and the torch/numpy ratio per H, a check that both "
              "compute the same loss and gradients, and with >= 2 widths the fitted growth exponent in H.",
              _bench_options, cmd_bench),
    "sweep": ("a grid of student settings x paired seeds, resumable, local or Ray",
              "Trains one float teacher per (seed, teacher setting) and one ternary student per (grid cell, "
              "seed); every finished job is stored under OUT/jobs/ and reused by a rerun (keyed by its "
              "settings and the training code). Writes sweep.json, sweep.md (per-cell geometric means, paired "
              "comparisons with the baseline cell: 95% CI, Holm-adjusted p) and sweep.png. Progress goes to "
              "stderr. Knobs: {knobs}.", _sweep_options, cmd_sweep),
    "frontier": ("ternary against int8 on one task: MSE, bytes, flash, RAM, instructions; Pareto points",
                 "Trains, over paired seeds, float teachers at every width, ternary students (--ternary widths) and "
                 "int8 models (--int8 widths: per-row symmetric post-training quantization, int8 QAT where that "
                 "loses more than 10%), builds the firmware with one model of each point for every --targets "
                 "target and measures flash, RAM and instructions per cell step under QEMU. Writes frontier.json, "
                 "frontier.md, frontier.png (test washout MSE against weight bytes and against instructions, the "
                 "Pareto-optimal points marked) and the int8 models selected on validation (int8-H<n>.npz) to "
                 "--out; finished jobs are cached in --out/jobs. Progress goes to stderr.", frontier_options,
                 run_frontier),
    "peers": ("the TFLM peer of a frontier: a Keras GRU, int8 and 2-bit, in the TFLM interpreter (benchmark)",
              "Trains, for each ternary size of a committed frontier (DIR/frontier.json), a Keras GRU of at most "
              "those weight bytes on the same splits and seeds, converts one cell step to a fully int8 TFLite "
              "model (and a 2-bit LUT-compressed one) and runs it step by step in the TFLM interpreter: test "
              "washout MSE, flatbuffer bytes, the smallest arena. Writes DIR/peers.json and DIR/peers.md, the "
              "comparison with trixcfc's points in words; finished jobs are cached in DIR/peers-jobs. Needs "
              "pip install tensorflow==2.21.0 tflite-micro (not a dependency of the project).",
              peers_options, run_peers),
    "examples": ("train and verify the worked examples: public series from a PyPI wheel",
                 "Runs, one after the other, for each worked example of docs/model.md (weekly CO2, yearly sunspots, "
                 "quarterly US macro data, shipped inside the statsmodels wheel: pip install --no-deps statsmodels) "
                 "`python -m trainer factorial --data pkg:... --inputs ... --target ... --out results/<name>` with "
                 "every other option at its default, then `python -m host verify --qemu --target "
                 "native,stm32f405,nrf51 --model results/<name>/best.npz --json results/<name>/verify.json`, then "
                 "`python -m trainer results` (the worked-examples table of docs/results.md). Minutes per example.",
                 _examples_options, cmd_examples),
    "baselines": ("a labelled task's classic baselines: nearest centroid, 1-NN, 1-NN DTW",
                  "Classifies the test windows of a labelled task (--labelled FILE, or --task waves3) by the "
                  "nearest class centroid, the nearest training window (Euclidean) and the nearest training window "
                  "under dynamic time warping (full window; one warping path for all channels; windows of their own "
                  "lengths on their own steps), fitted on the factorial's training split, and the DTW also on the "
                  "training and validation windows together. Prints the test accuracies and writes baselines.json "
                  "(docs/model.md, 'The baselines'); `python -m trainer results` shows the DTW beside the committed "
                  "classifiers.", _baselines_options, cmd_baselines),
    "results": ("write docs/results.md and the README's results block from results/",
                "Renders docs/results.md (every task's factorial summary, main effects, baselines and sweep "
                "comparisons) and the README's headline table from the committed results/*/factorial.json and "
                "results/*/sweep/sweep.json of this checkout, with the technique sweeps "
                "(results/*/sweep-techniques/sweep.json) and the ternary-against-int8 frontiers "
                "(results/*/frontier/frontier.json) where committed.", _results_options, cmd_results),
}


def main(argv=None):
    try:
        a = build_parser().parse_args(argv)
        if a.cmd is None:
            raise TrainerError(f"missing command: {', '.join(COMMANDS)} (see --help)")
        return COMMANDS[a.cmd][3](a)
    except TrainerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
