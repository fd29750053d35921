"""Command line: ``python -m trainer {factorial,gradcheck,bench} ...`` (esptool style: main(argv))."""
from __future__ import annotations

import argparse
import math
import os
import sys

from .data_cli import data_options, data_task
from .errors import TrainerError


class _Parser(argparse.ArgumentParser):
    """argparse that raises TrainerError instead of printing usage and exiting."""

    def error(self, message):
        raise TrainerError(message)


def build_parser():
    from .configs import WIDTHS
    from .sweep import KNOBS
    fill = {"widths": ", ".join(map(str, WIDTHS)), "knobs": "; ".join(f"{k}: {v.help}" for k, v in KNOBS.items())}
    from cfcbase.version import version_line
    p = _Parser(prog="python -m trainer",
                description="Ternary CfC trainer: float teachers, the 2x2x2 ternary factorial, gradient check.")
    p.add_argument("--version", action="version", version=version_line(), help="print the version and exit")
    sub = p.add_subparsers(dest="cmd", metavar="{" + ",".join(COMMANDS) + "}", parser_class=_Parser)
    for name, (summary, description, options) in COMMANDS.items():
        options(sub.add_parser(name, help=summary, description=description.format(**fill)))
    return p


def _factorial_options(f):
    from .factorial import Settings
    from .quant import SCHEMES
    from cfcbase.tasks import TASKS
    d = Settings()
    from cfcbase.labelled import CLASSIFY_TASKS
    f.add_argument("--task", default="sine", metavar="TASK",
                   help=f"task: one of {', '.join(TASKS)}, or the synthetic classification task "
                   f"{', '.join(CLASSIFY_TASKS)} (default: sine)")
    data_options(f)
    f.add_argument("--seeds", type=int, default=d.seeds, metavar="N",
                   help=f"number of paired seeds 0..N-1; seed k uses the same data and teacher in every "
                   f"config (default: {d.seeds})")
    from .configs import TASK_DEFAULTS as TD
    per = lambda k: ", ".join(f"{t} {TD[t][k]}" for t in TD)  # noqa: E731
    f.add_argument("--epochs", type=int, default=None, metavar="N",
                   help=f"student (QAT) epochs per config; an epoch is one pass over the training set in "
                   f"minibatches of 32 sequences (default: {per('epochs')})")
    f.add_argument("--teacher-epochs", type=int, default=None, metavar="N",
                   help=f"float teacher epochs (default: {per('teacher_epochs')})")
    f.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="worker processes for independent jobs; results do not depend on it "
                   "(default: os.cpu_count())")
    f.add_argument("--out", default=None, metavar="DIR",
                   help="output directory (default: results/<task>/, with --data results/<file name>/)")
    f.add_argument("--lr", type=float, default=d.lr, metavar="X", help=f"student Adam LR (default: {d.lr:g})")
    f.add_argument("--teacher-lr", type=float, default=None, metavar="X",
                   help=f"teacher Adam LR (default: {per('teacher_lr')})")
    f.add_argument("--scheme", default=d.scheme, metavar="S",
                   help=f"per-row scale scheme: one of {', '.join(SCHEMES)} (default: {d.scheme}; "
                   "docs/training.md compares them)")
    f.add_argument("--transient-weight", type=float, default=d.transient_weight, metavar="X",
                   help="weight of the ambiguous steps t < 5 in the students' and coordinate search's task "
                   f"loss, in [0, 1] (default: {d.transient_weight:g}: they train on the washout steps; "
                   "teachers always use every step)")
    f.add_argument("--cs-sweeps", type=int, default=None, metavar="N",
                   help=f"max coordinate-search sweeps (default: {per('cs_sweeps')})")
    f.add_argument("--refit-epochs", type=int, default=None, metavar="N",
                   help="epochs of the refit after coordinate search on the best config: scales, biases, tau "
                   f"and readout trained with the trits fixed (default: {per('refit_epochs')})")
    from .classify_cli import add_options          # [classification hook]: --labelled, --pooling, ...
    add_options(f)


def _sweep_options(sw):
    from .sweep import PRESETS
    sw.add_argument("--task", default="sine", metavar="TASK",
                    help="task: sine, sine-mix, or the synthetic classification task waves3 (default: sine)")
    data_options(sw)
    from .classify_cli import add_sweep_options          # [classification hook]: --labelled FILE
    add_sweep_options(sw)
    sw.add_argument("--grid", default="factorial", metavar="SPEC",
                    help="KNOB=V1,V2,...; KNOB=... (the product of the values), blocks of those joined by "
                    "'|' (the union of their products), or a preset: "
                    + ", ".join(f"{k} = '{v}'" for k, v in PRESETS.items()) + " (default: factorial)")
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
    from .sweep import RAY_CONNECT_TIMEOUT
    sw.add_argument("--ray-timeout", type=float, default=RAY_CONNECT_TIMEOUT, metavar="S",
                    help="with --ray HOST:PORT: seconds to wait for the cluster to answer before giving up in one "
                    f"line (default: {RAY_CONNECT_TIMEOUT:g})")


def _frontier_options(f):
    from .frontier_cli import frontier_options
    frontier_options(f)


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


def _examples_options(ex):
    from .examples import EXAMPLES, VERIFY_TARGETS
    ex.add_argument("--only", default=None, metavar="NAMES",
                    help=f"comma-separated examples to run (default: all: {', '.join(EXAMPLES)})")
    ex.add_argument("--no-verify", action="store_true", help="train only; do not run host verify")
    ex.add_argument("--targets", default=VERIFY_TARGETS, metavar="LIST",
                    help=f"host verify's --target (default: {VERIFY_TARGETS})")


def _results_options(rs):
    rs.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 when either file is not what the results give")


# the commands, in the order --help lists them: name -> (its line there, its description, what adds its options)
COMMANDS = {
    "factorial": ("train teachers, the 8 ternary configs and baselines; write reports",
                  "Runs the gradient check, then float teachers (H={widths}) per seed, the 2x2x2 factorial "
                  "(shaped STE x trajectory distillation x width), output-only distillation, PTQ and greedy "
                  "coordinate search; writes factorial.json, factorial.md, factorial.png and best.npz (selected "
                  "on validation) to --out. Progress goes to stderr. A classification task (--labelled FILE or "
                  "--task waves3) trains classifiers the same way: widths 8 and 16, logit distillation, the "
                  "cross-entropy (docs/training.md, 'Classification').", _factorial_options),
    "gradcheck": ("analytic BPTT vs float64 central differences, every group",
                  "Checks every gradient group (teacher; student w.r.t. effective weights and scales, trits "
                  "fixed; STE, shaped STE and LSQ chain rules; with and without the distillation terms). Exit "
                  "status 1 if any relative error >= 1e-3.", _gradcheck_options),
    "bench": ("ms per epoch: numpy trainer vs the same cell in PyTorch autograd",
              "Times one epoch (forward + BPTT + clip + Adam on one batch) of the numpy trainer and of the "
              "same cell and loss in PyTorch autograd (optional: pip install torch==2.13.0), one thread each, "
              "runs interleaved; prints min/median/max ms and the torch/numpy ratio per H, a check that both "
              "compute the same loss and gradients, and with >= 2 widths the fitted growth exponent in H.",
              _bench_options),
    "sweep": ("a grid of student settings x paired seeds, resumable, local or Ray",
              "Trains one float teacher per (seed, teacher setting) and one ternary student per (grid cell, "
              "seed); every finished job is stored under OUT/jobs/ and reused by a rerun (keyed by its "
              "settings and the training code). Writes sweep.json, sweep.md (per-cell geometric means, paired "
              "comparisons with the baseline cell: 95% CI, Holm-adjusted p) and sweep.png. Progress goes to "
              "stderr. Knobs: {knobs}.", _sweep_options),
    "frontier": ("ternary against int8 on one task: MSE, bytes, flash, RAM, instructions; Pareto points",
                 "Trains, over paired seeds, float teachers at every width, ternary students (--ternary widths) and "
                 "int8 models (--int8 widths: per-row symmetric post-training quantization, int8 QAT where that "
                 "loses more than 10%), builds the firmware with one model of each point for every --targets "
                 "target and measures flash, RAM and instructions per cell step under QEMU. Writes frontier.json, "
                 "frontier.md, frontier.png (test washout MSE against weight bytes and against instructions, the "
                 "Pareto-optimal points marked) and the int8 models selected on validation (int8-H<n>.npz) to "
                 "--out; finished jobs are cached in --out/jobs. Progress goes to stderr.", _frontier_options),
    "examples": ("train and verify the worked examples: public series from a PyPI wheel",
                 "Runs, one after the other, for each worked example of docs/model.md (weekly CO2, yearly sunspots, "
                 "quarterly US macro data, shipped inside the statsmodels wheel: pip install --no-deps statsmodels) "
                 "`python -m trainer factorial --data pkg:... --inputs ... --target ... --out results/<name>` with "
                 "every other option at its default, then `python -m host verify --qemu --target "
                 "native,stm32f405,nrf51 --model results/<name>/best.npz --json results/<name>/verify.json`, then "
                 "`python -m trainer results` (the worked-examples table of docs/results.md). Minutes per example.",
                 _examples_options),
    "results": ("write docs/results.md and the README's results block from results/",
                "Renders docs/results.md (every task's factorial summary, main effects, baselines and sweep "
                "comparisons) and the README's headline table from the committed results/*/factorial.json and "
                "results/*/sweep/sweep.json of this checkout, with the technique sweeps "
                "(results/*/sweep-techniques/sweep.json) and the ternary-against-int8 frontiers "
                "(results/*/frontier/frontier.json) where committed.", _results_options),
}


def _sweep(a):
    from .sweep import Plan, SweepSettings, parse_settings, run
    overrides = parse_settings(a.set, "--set")
    if a.workers < 1:
        raise TrainerError(f"--workers must be positive, got {a.workers}")
    if not (math.isfinite(a.ray_timeout) and a.ray_timeout > 0):
        raise TrainerError(f"--ray-timeout must be a positive number of seconds, got {a.ray_timeout}")
    if a.data is not None:
        if a.labelled is not None:
            raise TrainerError("--data (a series to forecast) and --labelled (windows to classify) exclude each other")
        _check_sizes(a)
        task, out, _ = data_task(a, sweep=True)
    else:
        from .classify_cli import sweep_task            # [classification hook]: --labelled FILE
        task, task_dir = sweep_task(a)
        out = a.out or os.path.join("results", task_dir, "sweep")
    st = SweepSettings(task=task, grid=a.grid, seeds=a.seeds, out=out,
                       baseline=a.baseline, workers=a.workers, stack=a.stack, ray=a.ray, overrides=overrides,
                       ray_timeout=a.ray_timeout if a.ray not in (None, "local") else None)
    if a.dry_run:
        p = Plan(st)
        print(p.summary())
        print("\n".join(f"  {cid}{' (baseline)' if cid == p.baseline else ''}" for cid in p.ids))
        return 0
    r = run(st)
    key = r.get("metric", "test_mse_washout")       # a classifier: test_ce [classification hook]
    best = min(r["cells"], key=lambda c: sum(math.log10(x[key]) for x in c["seeds"]))
    what = "test CE" if key == "test_ce" else "test washout MSE"
    from .classify_cli import task_label
    print(f"{task_label(r['task'])}: {len(r['cells'])} cells x {len(r['seeds'])} seeds; lowest mean log10 {what}: "
          f"{best['id']}; report in {st.out}/sweep.md")
    return 0


def _factorial(a):
    from .factorial import Settings, run
    from .quant import SCHEMES
    from cfcbase.tasks import TASKS
    from . import classify_cli                     # [classification hook]
    if classify_cli.is_classification(a):
        if a.scheme not in SCHEMES:
            raise TrainerError(f"unknown scale scheme {a.scheme!r} (known: {', '.join(SCHEMES)})")
        return classify_cli.factorial(a)
    if a.pooling is not None:
        raise TrainerError("--pooling is an option of a classification task (--labelled FILE or --task waves3)")
    if a.data is None and a.task not in TASKS:
        raise TrainerError(f"unknown task {a.task!r} (known: {', '.join(TASKS)})")
    if a.scheme not in SCHEMES:
        raise TrainerError(f"unknown scale scheme {a.scheme!r} (known: {', '.join(SCHEMES)})")
    _check_sizes(a)
    if a.data is not None:
        task, out, command = data_task(a)
    else:
        task, out, command = a.task, os.path.join("results", a.task), ""
    st = Settings(task=task, command=command, seeds=a.seeds, epochs=a.epochs, teacher_epochs=a.teacher_epochs, lr=a.lr,
                  teacher_lr=a.teacher_lr, scheme=a.scheme, cs_sweeps=a.cs_sweeps, jobs=a.jobs,
                  transient_weight=a.transient_weight, refit_epochs=a.refit_epochs,
                  out=a.out or out)
    r = run(st)
    from .report import summary_line
    print(summary_line(r, st.out))
    return 0


def _check_sizes(a):
    """The counts of the command line that must be positive, before any data is read."""
    for name in ("seeds", "epochs", "teacher_epochs", "jobs", "cs_sweeps", "refit_epochs", "max_gap"):
        v = getattr(a, name, None)
        if v is not None and v < (0 if name == "max_gap" else 1):
            raise TrainerError(f"--{name.replace('_', '-')} must be {'at least 0' if name == 'max_gap' else 'positive'}, "
                               f"got {v}")


def _gradcheck(a):
    from . import gradcheck
    r = gradcheck.run()
    for k, v in r.items():
        if a.verbose or not v < gradcheck.TOL:
            print(f"{k:28s} {v:.2e}{'' if v < gradcheck.TOL else '  FAIL'}")
    worst = max(r, key=r.get)
    bad = gradcheck.failures(r)
    print(f"gradcheck: {len(r)} groups, max relative error {r[worst]:.2e} ({worst}), "
          f"tolerance {gradcheck.TOL:g}: {'FAIL' if bad else 'ok'}")
    return 1 if bad else 0


def _bench(a):
    from . import bench
    try:
        hidden = [int(h) for h in a.hidden.split(",")]
    except ValueError:
        raise TrainerError(f"--hidden: comma-separated integers expected, got {a.hidden!r}") from None
    if min(hidden + [a.repeats, a.batch, a.steps]) < 1:
        raise TrainerError("--hidden, --repeats, --batch and --steps must be positive")
    bench.run(hidden=hidden, repeats=a.repeats, batch=a.batch, steps=a.steps, student=a.student)
    return 0


def main(argv=None):
    try:
        cmd = (sys.argv[1:] if argv is None else argv)[:1]
        if cmd == ["bench"]:
            from .bench import pin_threads
            pin_threads()                             # before numpy is imported
        elif cmd in (["factorial"], ["gradcheck"]):   # one BLAS thread for what runs in this process
            from .workers import THREAD_ENV           # (--jobs 1): at these sizes more threads only wait
            for k, v in THREAD_ENV.items():
                os.environ.setdefault(k, v)
        a = build_parser().parse_args(argv)
        if a.cmd is None:
            raise TrainerError(f"missing command: {', '.join(COMMANDS)} (see --help)")
        if a.cmd == "bench":
            return _bench(a)
        if a.cmd == "sweep":
            return _sweep(a)
        if a.cmd == "frontier":
            from .frontier_cli import frontier
            return frontier(a)
        if a.cmd == "results":
            from . import results_page
            return results_page.main(a.check)
        if a.cmd == "examples":
            from . import examples
            return examples.run([n.strip() for n in a.only.split(",")] if a.only else None, not a.no_verify,
                                a.targets)
        return _factorial(a) if a.cmd == "factorial" else _gradcheck(a)
    except TrainerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
