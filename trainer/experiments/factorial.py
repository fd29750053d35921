"""The 2x2x2 factorial over paired seeds, its baselines and the reports, for every task and head.

Jobs (--jobs runs them in spawn worker processes, each as soon as what it needs is done):
  0. gradient check (in this process; aborts on failure)
  1. float teachers: one job per (width, seed)
  2. students: one job per (width, seed), after its teacher: the 4 QAT configs of that width
     plus the output-distillation row, stacked, all starting from that seed's teacher; PTQ too
  3. coordinate search: one job per seed on config 1 (after its students) and on the best
     config (the lowest mean log10 validation score over seeds, once every student is done); the
     refit after the search on the best config, one job per seed
Jobs are pure functions of their arguments and grouped the same way whatever --jobs is, so
the numbers do not depend on --jobs (BLAS/OpenMP threads are pinned to 1 in workers), and a
teacher trained alone is bit for bit the one trained in a stack of seeds (trainer/model/cell.py).

What depends on the model's head (the loss, what a row reports against its teacher, how the best
model is picked) is asked of the head (trainer.model.heads); what depends on the task (its data,
its baselines) of the task (cfcbase.task). The task crosses to the workers with its data.
"""
from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from cfcbase import numerics
from cfcbase.artifact import write_artifact
from cfcbase.errors import ArtifactError
from cfcbase.fileio import write_file_set
from codegen.errors import CodegenError
from codegen.export import export_model

from ..errors import TrainerError
from ..model import gradcheck, search, train
from ..model.heads import train_head
from ..model.params import Params
from ..reports import factorial_report, stats
from . import workers
from .configs import (BATCH, EPOCH_KEYS, REF_WINDOWS, SCHEME, STUDENT_LR, TRANSIENT_WEIGHT, config_name, configs,
                      epochs_for, task_defaults, widths)

FORMAT_VERSION = 1                       # of factorial.json


@dataclass
class Settings:
    task: object = None                   # a cfcbase.task.Task (resolved: its data read)
    seeds: int = 5
    epochs: int | None = None             # student epochs (None: configs.TASK_DEFAULTS)
    teacher_epochs: int | None = None
    lr: float = STUDENT_LR
    transient_weight: float = TRANSIENT_WEIGHT
    teacher_lr: float | None = None       # None: configs.TASK_DEFAULTS
    scheme: str = SCHEME
    cs_sweeps: int | None = None
    refit_epochs: int | None = None       # after CS on the best config: float parameters, trits fixed
    pooling: str | None = None            # a classifier's (None: trainer.model.heads.POOLING)
    budget: str = "quick"                 # configs.BUDGETS: a factor on the default epochs
    batch: int = BATCH                    # windows per minibatch of every training (teachers, students, refit)
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    out: str = ""
    command: str = ""                     # how to regenerate (default: from task and seeds)


# ---- jobs (top-level functions: picklable for spawn workers) ---------------------------

def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _scores(head, ev, key="test"):
    return " ".join(f"{m[f'{key}_{head.task.headline}']:.3g}" for m in ev)


def job_teachers(head, H, seeds, epochs, lr, batch=BATCH):
    p, info = train.train_teachers(head, H, list(seeds), epochs=epochs, lr=lr, batch=batch)
    ev = train.evaluate(head, train.effective(p))
    log(f"teacher{'s' * (len(seeds) > 1)} H={H} seed={','.join(map(str, seeds))} done in {info['wall_s']:.1f} s: "
        f"test {head.task.headline} {_scores(head, ev)}")
    return {"H": H, "flat": p.flat, "metrics": ev, "wall_s": info["wall_s"]}


def teacher_params(head, H, flat, M=1):
    return Params(H, M, head.task.I, head.rows(H), flat=flat)


def job_students(head, H, seed, teacher_flat, epochs, lr, scheme, tw, batch=BATCH):
    teacher = teacher_params(head, H, teacher_flat)
    variants = [(c, sh, tr) for c, (sh, tr, w) in configs(widths(head.task)).items() if w == H]
    variants.append(("out", False, "out"))              # extra row: output distillation
    shaped = [v[1] for v in variants]
    distill = [("traj" if v[2] is True else (None if v[2] is False else v[2])) for v in variants]
    stack = teacher.take([0] * len(variants))
    p, infos, wall = train.train_students(head, stack, shaped, distill, epochs=epochs, lr=lr, scheme=scheme,
                                          transient_w=tw, batch=batch)
    ev = train.evaluate(head, train.effective(p, scheme))
    runs = []
    for m, (cfg, sh, _) in enumerate(variants):
        runs.append({"config": cfg, "name": config_name(sh, distill[m], H), "seed": seed, "H": H,
                     "shaped": sh, "distill": distill[m], **ev[m], **infos[m],
                     "wall_s": wall / len(variants), "model": train.frozen(head, p, m, scheme)})
    # PTQ of the teacher: no training at all
    pm = train.frozen(head, train.ptq(teacher), 0, "coupled")
    pev = train.evaluate(head, train.frozen_eff(head, pm))[0]
    runs.append({"config": "ptq", "name": f"ptq+H{H}", "seed": seed, "H": H, **pev,
                 "zero_frac": float(np.mean(pm["trits"] == 0)), "wall_s": 0.0, "model": pm})
    log(f"students H={H} seed={seed} done in {wall:.1f} s: test {head.task.headline} "
        + " ".join(f"{r['name']}={r[f'test_{head.task.headline}']:.3g}" for r in runs))
    return runs


def job_cs(head, seed, tag, run, sweeps, tw):
    """Coordinate search on one student (its row `run`): the row of the searched model."""
    # one line per sweep: progress during the longest jobs of the run
    m, info = search.coordinate_search(head, run["model"], max_sweeps=sweeps, transient_w=tw,
                                       log=lambda msg: log(f"{run['name']} seed={seed}: {msg}"))
    ev = train.evaluate(head, train.frozen_eff(head, m))[0]
    key = f"test_{head.task.headline}"
    log(f"coordinate search on {run['name']} seed={seed}: test {head.task.headline} {run[key]:.3g} -> "
        f"{ev[key]:.3g}, {info['cs_loss_evals']} loss evals")
    return {"config": tag, "name": f"cs({run['name']})", "seed": seed, "H": run["H"],
            "from_config": run["config"], **ev, **info,
            "trit_change_frac": float(np.mean(m["trits"] != run["model"]["trits"])),
            "zero_frac": float(np.mean(m["trits"] == 0)), "model": m}


def job_refit(head, seed, cs_row, refit_epochs, lr, tw, teacher_flat, batch=BATCH):
    """The refit after coordinate search (its row `cs_row`): scales, biases, tau and the head
    trained with the trits fixed (LR lr / 3)."""
    m, H = cs_row["model"], cs_row["H"]
    teacher = teacher_params(head, H, teacher_flat)
    p, infos, wall = train.train_students(head, teacher, [False], [None], epochs=refit_epochs, lr=lr / 3,
                                          transient_w=tw, freeze_trits=True, start=train.from_frozen(head, [m], H),
                                          batch=batch)
    m2 = train.frozen(head, p, 0)
    if not np.array_equal(m2["trits"], m["trits"]):
        raise TrainerError("the refit after coordinate search changed a trit (it trains with the trits fixed)")
    ev2 = train.evaluate(head, train.frozen_eff(head, m2))[0]
    name = cs_row["name"].replace("cs(", "cs+refit(", 1)
    key = f"test_{head.task.headline}"
    log(f"refit after coordinate search on {name[9:-1]} seed={seed}: test {head.task.headline} "
        f"{cs_row[key]:.3g} -> {ev2[key]:.3g}")
    return {"config": "cs_refit", "name": name, "seed": seed, "H": H,
            "from_config": cs_row["from_config"], **ev2, "cs_loss_evals": cs_row["cs_loss_evals"],
            "cs_screened": cs_row["cs_screened"],
            "zero_frac": float(np.mean(m2["trits"] == 0)), "wall_s": cs_row["wall_s"] + wall, "model": m2}


# ---- the whole run ------------------------------------------------------------------------

def check_out_dir(out):
    try:
        os.makedirs(out, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".probe-", delete=True):
            pass
    except OSError as e:
        raise TrainerError(f"--out {out}: not writable ({e.strerror or e})")


def preflight(out):
    """Before any training: --out writable, the clock started, the numerics' status logged, the
    gradient check passed. Returns (t0, numerics status, check's errors)."""
    check_out_dir(out)
    t0 = time.perf_counter()
    num = numerics.status()
    log(numerics.describe(num))
    return t0, num, gradcheck.checked(log)


def fill_defaults(st: Settings) -> None:
    """The settings left None take the task's defaults (configs.TASK_DEFAULTS), their epochs scaled
    down for a training set of more than configs.REF_WINDOWS windows (configs.epochs_for). With --epochs E
    given and --cs-sweeps / --refit-epochs not, those scale with it, never above their
    defaults: sweeps max(1, round(S x E / E0)), refit epochs max(1, round(R x E / E0)) for the
    defaults E0 epochs, S sweeps, R refit epochs (a quick run is quick throughout)."""
    d = task_defaults(st.task, st.budget)
    n_train = len(st.task.split("train")[0])
    if n_train > REF_WINDOWS:
        d.update({k: epochs_for(d[k], n_train) for k in EPOCH_KEYS})
        log(f"{n_train:,} training windows: default epochs scaled by {REF_WINDOWS:,}/{n_train:,} to see as many "
            f"windows as {REF_WINDOWS:,} would (teacher {d['teacher_epochs']}, student {d['epochs']}, refit "
            f"{d['refit_epochs']}; epochs given as options are kept)")
    if st.epochs is not None and st.epochs > 0:
        for k in ("cs_sweeps", "refit_epochs"):
            if getattr(st, k) is None:
                setattr(st, k, min(d[k], max(1, round(d[k] * st.epochs / d["epochs"]))))
    for k, v in d.items():
        if getattr(st, k) is None:
            setattr(st, k, v)


def check_settings(st: Settings) -> None:
    fill_defaults(st)
    for name in ("seeds", "epochs", "teacher_epochs", "jobs", "cs_sweeps", "refit_epochs", "batch"):
        if getattr(st, name) < 1:
            raise TrainerError(f"--{name.replace('_', '-')} must be positive, got {getattr(st, name)}")
    if not (0.0 <= st.transient_weight <= 1.0):
        raise TrainerError(f"--transient-weight must be in [0, 1], got {st.transient_weight}")
    for name in ("lr", "teacher_lr"):
        v = getattr(st, name)
        if not (math.isfinite(v) and v > 0):
            raise TrainerError(f"--{name.replace('_', '-')} must be a positive number, got {v}")


def run(st: Settings):
    task = st.task
    head = train_head(task, st.pooling)
    check_settings(st)
    out = st.out or task.default_out()
    for line in task.data_lines():
        log(line)
    t0, num, gc = preflight(out)
    seeds = list(range(st.seeds))
    log(f"factorial {task.label()} ({head.kind}): {st.seeds} seeds, teacher {st.teacher_epochs} epochs, student "
        f"{st.epochs} epochs, scale scheme {st.scheme}, {st.jobs} job(s)")
    teachers, runs, best_cfg, val_mean, collapsed = run_graph(st, head, seeds)
    best, passed = exported_best(head, runs, teachers)
    result = assemble(st, head, seeds, teachers, runs, best_cfg, val_mean, gc, time.perf_counter() - t0, best)
    result.update(passed_over=passed, collapsed_teachers=collapsed)
    result["numerics"] = num
    wrote = write_factorial(out, head, result, runs, teachers)
    log(f"factorial {task.label()} done in {time.perf_counter() - t0:.1f} s; wrote {out}/{wrote[0]}, "
        f"{', '.join(wrote[1:])}")
    return result


# Job priorities (the highest ready job runs first; only the wall time depends on them): the
# teachers and students are on the path to the best config's coordinate search, the longest
# jobs of the run; the searches on config 1 (ready early) fill idle workers.
PRIORITY = {"teacher": 50, "students": 40, "cs_best": 30, "refit": 20, "cs1": 10}


def run_graph(st, head, seeds):
    """Every job of the factorial, each started as soon as what it needs is done (teacher (H,
    seed) -> students (H, seed) -> coordinate search; the best config once all students are
    done). Jobs are pure functions of their arguments, so the results do not depend on
    --jobs or on the order they finish in. Returns (teachers {H: ...}, runs, best_cfg, val_mean)."""
    tch, stu, cs = {}, {}, {}
    state = {}
    W = widths(st.task)
    cf = configs(W)
    H1 = cf[1][2]
    val_key = f"val_{st.task.headline}"

    def teacher_job(H, s):
        return (PRIORITY["teacher"] + H / 100, ("teacher", H, s), job_teachers,
                (head, H, (s,), st.teacher_epochs, st.teacher_lr, st.batch))

    def cs_job(tag, s, c):
        return (PRIORITY[tag], (tag, s), job_cs, (head, s, tag, state["by"][c, s] if tag == "cs_best"
                                                  else next(r for r in stu[H1, s] if r["config"] == 1),
                                                  st.cs_sweeps, st.transient_weight))

    def refit_job(s, row):
        H = row["H"]
        return (PRIORITY["refit"], ("refit", s), job_refit, (head, s, row, st.refit_epochs, st.lr,
                                                             st.transient_weight, tch[H, s]["flat"][0], st.batch))

    def on_done(key, res):
        kind, new = key[0], []
        if kind == "teacher":
            _, H, s = key
            tch[H, s] = res
            why = head.task.collapse(res["metrics"][0])
            if why:
                state.setdefault("collapsed", []).append({"H": H, "seed": s, "why": why})
                log(f"warning: the float teacher H={H} seed {s} learned nothing: {why}. Its students learn from it; "
                    f"try more --teacher-epochs, another --teacher-lr, or more training windows")
            new.append((PRIORITY["students"] + H / 100, ("students", H, s), job_students,
                        (head, H, s, res["flat"][0], st.epochs, st.lr, st.scheme, st.transient_weight,
                         st.batch)))
        elif kind == "students":
            _, H, s = key
            stu[H, s] = res
            if H == H1:
                new.append(cs_job("cs1", s, 1))
            if len(stu) == len(W) * len(seeds):                       # the best config on validation
                by = state["by"] = {(r["config"], r["seed"]): r for H in W for s in seeds for r in stu[H, s]}
                val_mean = state["val_mean"] = {
                    c: float(np.mean([np.log10(by[c, s][val_key]) for s in seeds])) for c in cf}
                best = state["best"] = min(val_mean, key=val_mean.get)
                log(f"best config on validation: {best} ({config_name(*cf[best][:2], cf[best][2])})")
                if best != 1:
                    new += [cs_job("cs_best", s, best) for s in seeds]
                else:                                                  # the same search: refit what is done
                    new += [refit_job(s, dict(cs["cs1", s], config="cs_best")) for s in seeds if ("cs1", s) in cs]
        elif kind in ("cs1", "cs_best"):
            cs[key] = res
            if kind == "cs_best" or state.get("best") == 1:
                new.append(refit_job(key[1], dict(res, config="cs_best")))
        else:
            cs[key] = res
        return new

    workers.run_graph([teacher_job(H, s) for H in W[::-1] for s in seeds], st.jobs, on_done)
    teachers = {}
    for H in W:
        rs = [tch[H, s] for s in seeds]
        teachers[H] = {"H": H, "flat": np.concatenate([r["flat"] for r in rs]),
                       "metrics": [r["metrics"][0] for r in rs], "wall_s": sum(r["wall_s"] for r in rs)}
    runs = [r for H in W[::-1] for s in seeds for r in stu[H, s]]
    best = state["best"]
    for s in seeds:                                    # the rows in the order of the reports
        runs += [dict(cs["cs1", s], config="cs_best") if best == 1 else cs["cs_best", s], cs["refit", s]]
    runs += [cs["cs1", s] for s in seeds]
    return teachers, runs, best, state["val_mean"], state.get("collapsed", [])


def selection_order(head, runs) -> list:
    """The quantized models, best first: the lowest validation score over every row and seed (never
    the test set), ties by config and seed."""
    cand = [r for r in runs if r["config"] != "teacher"]
    return sorted(cand, key=lambda r: (*head.selection_key(r), str(r["config"]), r["seed"]))


def exported_best(head, runs, teachers) -> tuple:
    """(the best model that `codegen export` accepts, the better ones it refuses with why): the
    factorial never hands on a model the next command refuses (its lossy gate: docs/codegen.md).
    TrainerError when none exports."""
    passed = []
    for r in selection_order(head, runs):
        art = train.artifact_of(head, r["model"], teachers[r["H"]]["flat"][r["seed"]], r["H"], r["name"], {})
        try:
            export_model(art)
        except (CodegenError, ArtifactError) as e:
            why = str(e).replace("<memory>: ", "")
            passed.append({"config": r["config"], "name": r["name"], "seed": r["seed"], "H": r["H"], "why": why})
            log(f"passed over {r['name']} seed {r['seed']} (the best on validation after {len(passed) - 1} others): "
                f"export refuses it: {why}")
            continue
        return r, passed
    raise TrainerError(f"no trained model exports; the best on validation, {passed[0]['name']} seed "
                       f"{passed[0]['seed']}: {passed[0]['why']}")


def assemble(st, head, seeds, teachers, runs, best_cfg, val_mean, gc, wall, best=None):
    """factorial.json (docs/training.md, "The factorial's report"): every row of every seed against its
    own teacher, the 2x2x2 ANOVA on the log10 test headline (a forecast's washout MSE, a
    classifier's cross-entropy), the best model on validation and the baselines."""
    task = st.task
    W = widths(task)
    key = f"test_{task.headline}"
    floor = task.first_step_floor()
    teacher_rows = []
    for H in W:
        for s in seeds:
            m = teachers[H]["metrics"][s]
            row = {"config": "teacher", "name": f"teacher+H{H}", "seed": s, "H": H, **m,
                   "wall_s": teachers[H]["wall_s"] / len(seeds)}
            if floor is not None:
                row["all_step_over_floor"] = m["test_mse"] / floor["all_step_floor"]
            teacher_rows.append(row)
    tw = {(r["H"], r["seed"]): r for r in teacher_rows}
    clean = []
    for r in runs:
        c = {k: v for k, v in r.items() if k != "model"}
        c.update(factorial_report.versus_teacher(head, r, tw[r["H"], r["seed"]]))
        clean.append(c)
    y = np.array([[np.log10(max(next(r for r in clean if r["config"] == c and r["seed"] == s)[key], 1e-300))
                   for c in configs(W)] for s in seeds])
    anova = stats.anova_2x2x2(y)
    best = best or selection_order(head, runs)[0]      # the best that exports (exported_best)
    b = dict(factorial_report.best_record(head, best, tw[best["H"], best["seed"]]),
             weights_bytes=weights_bytes(best["H"], task.I, head))
    return {"format_version": FORMAT_VERSION, "head": head.kind, "task": task.name, "label": task.label(),
            "task_key": task.key(), "seeds": seeds, "widths": list(W), "data": task.summary(),
            "settings": {k: getattr(st, k) for k in ("epochs", "teacher_epochs", "lr", "teacher_lr", "scheme",
                                                     "cs_sweeps", "transient_weight", "refit_epochs", "budget")}
            | ({"batch": st.batch} if st.batch != BATCH else {})    # recorded when not the default
            | head.options(),
            "command": st.command or f"python -m trainer factorial --task {task.name} --seeds {st.seeds}",
            "gradcheck_max_rel_err": max(gc.values()), "first_step_floor": floor, "baselines": task.baselines(),
            "teachers": teacher_rows, "runs": clean, "best_config_on_val": best_cfg,
            f"val_log10_{task.headline}_mean": {str(k): v for k, v in val_mean.items()},
            "anova_metric": factorial_report.REPORTS[head.kind].ANOVA_METRIC, "anova": anova, "best": b, "wall_s": wall}


def weights_bytes(H, I, head) -> dict:
    """The model's constant data on the device without the shared activation tables
    (codegen.footprint, docs/codegen.md): packed trits, per-row scales, biases, lambda and the
    head's (trainer.model.heads: a readout's weights and bias; a classifier's K x H head, with its
    zero readout counted apart)."""
    rows, rb = 2 * H, -(-(I + H) // 4)
    parts = {"trits": rows * rb, "scales": rows * 5, "biases": rows * 4, "lambda": H * 2}
    counted, apart = head.device_bytes(H)
    parts.update(counted)
    return dict(parts, total=sum(parts.values()), **apart)


# ---- outputs --------------------------------------------------------------------------------

def write_factorial(out, head, result, runs, teachers):
    """factorial.json, factorial.md, best.npz and factorial.png, all or none (fileio.write_file_set):
    a failure anywhere leaves --out as it was, and a reused --out never mixes the sets. Returns
    the names of the files written (factorial.png only when drawn)."""
    b = result["best"]
    run = next(r for r in runs if r["config"] == b["config"] and r["seed"] == b["seed"]
               and r["H"] == b["H"] and r["name"] == b["name"])
    metrics = factorial_report.artifact_metrics(head, b)
    art = train.artifact_of(head, run["model"], teachers[b["H"]]["flat"][b["seed"]], b["H"], run["name"], metrics)
    text = {"factorial.json": json.dumps(result, indent=1, sort_keys=True) + "\n",
            "factorial.md": factorial_report.markdown(result)}
    writers = {name: (lambda f, t=t: f.write(t.encode())) for name, t in text.items()}
    writers["best.npz"] = lambda f: write_artifact(art, f, os.path.join(out, "best.npz"))
    png = factorial_report.plot(head, result, run, teachers)
    writers["factorial.png"] = None if png is None else (lambda f: f.write(png))
    write_file_set(out, writers)
    return [name for name in ("factorial.md", "factorial.json", "factorial.png", "best.npz") if writers.get(name)]
