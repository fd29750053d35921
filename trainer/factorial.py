"""The 2x2x2 factorial over paired seeds, its baselines and the reports.

Jobs (--jobs runs them in spawn worker processes, each as soon as what it needs is done):
  0. gradient check (in this process; aborts on failure)
  1. float teachers: one job per (width, seed)
  2. students: one job per (width, seed), after its teacher: the 4 QAT configs of that width
     plus the output-only distillation row, stacked, all starting from that seed's teacher;
     PTQ too
  3. coordinate search: one job per seed on config 1 (after its students) and on the best
     config (mean validation washout MSE over seeds, once every student is done); the refit
     after the search on the best config, one job per seed
Jobs are pure functions of their arguments and grouped the same way whatever --jobs is, so
the numbers do not depend on --jobs (BLAS/OpenMP threads are pinned to 1 in workers), and a
teacher trained alone is bit for bit the one trained in a stack of seeds (trainer/cell.py).
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

from cfcbase import numerics, tasks
from cfcbase.artifact import DATA_TASK, Artifact, write_artifact
from cfcbase.fileio import write_file_set

from . import gradcheck, search, stats, train, workers
from .configs import CONFIGS, SCHEME, SHAPED_BETA, STUDENT_LR, TRANSIENT_WEIGHT, WIDTHS, config_name, task_defaults
from .errors import TrainerError
from .report import _lg, markdown, plot

FORMAT_VERSION = 1                       # of factorial.json


# train.transient_crops cuts CROP_LEN steps from offsets 5 .. T - CROP_LEN of every window
MIN_TRAIN_SEQ_LEN = train.CROP_LEN + 5


@dataclass
class Settings:
    task: str = "sine"
    seeds: int = 5
    epochs: int | None = None             # student epochs (None: configs.TASK_DEFAULTS)
    teacher_epochs: int | None = None
    lr: float = STUDENT_LR
    transient_weight: float = TRANSIENT_WEIGHT
    teacher_lr: float | None = None       # None: configs.TASK_DEFAULTS
    scheme: str = SCHEME
    cs_sweeps: int | None = None
    refit_epochs: int | None = None       # after CS on the best config: float parameters, trits fixed
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    out: str = ""
    command: str = ""                     # how to regenerate (default: from task and seeds)


# ---- jobs (top-level functions: picklable for spawn workers) ---------------------------

def _log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def job_teachers(task, H, seeds, epochs, lr):
    p, info = train.train_teachers(task, H, list(seeds), epochs=epochs, lr=lr)
    ev = train.evaluate(train.effective(p), task)
    _log(f"teacher{'s' * (len(seeds) > 1)} H={H} seed={','.join(map(str, seeds))} done in {info['wall_s']:.1f} s: "
         "test washout MSE " + " ".join(f"{m['test_mse_washout']:.2e}" for m in ev))
    return {"H": H, "flat": p.flat, "metrics": ev, "wall_s": info["wall_s"]}


def job_students(task, H, seed, teacher_flat, epochs, lr, scheme, tw):
    teacher = train.Params(H, 1, tasks.n_inputs(task), flat=teacher_flat)
    variants = [(c, *CONFIGS[c][:2]) for c in CONFIGS if CONFIGS[c][2] == H]
    variants.append(("out", False, "out"))              # extra row: output-only distillation
    shaped = [v[1] for v in variants]
    distill = [("traj" if v[2] is True else (None if v[2] is False else v[2])) for v in variants]
    stack = teacher.take([0] * len(variants))
    p, infos, wall = train.train_students(task, stack, shaped, distill, epochs=epochs, lr=lr, scheme=scheme,
                                         beta=SHAPED_BETA, transient_w=tw)
    ev = train.evaluate(train.effective(p, scheme), task)
    runs = []
    for m, (cfg, sh, _) in enumerate(variants):
        model = train.frozen(p, m, scheme)
        runs.append({"config": cfg, "name": config_name(sh, distill[m], H), "seed": seed, "H": H,
                     "shaped": sh, "distill": distill[m], **ev[m], **infos[m],
                     "wall_s": wall / len(variants), "model": model})
    # PTQ of the teacher: no training at all
    q = train.ptq(teacher)
    pm = train.frozen(q, 0, "coupled")
    pev = train.evaluate(train.frozen_eff(pm), task)[0]
    runs.append({"config": "ptq", "name": f"ptq+H{H}", "seed": seed, "H": H, **pev,
                 "zero_frac": float(np.mean(pm["trits"] == 0)), "wall_s": 0.0, "model": pm})
    _log(f"students H={H} seed={seed} done in {wall:.1f} s: test washout "
         + " ".join(f"{r['name']}={r['test_mse_washout']:.2e}" for r in runs))
    return runs


def job_cs(task, seed, tag, run, sweeps, tw):
    """Coordinate search on one student (its row `run`): the row of the searched model."""
    # one line per sweep: progress during the longest jobs of the run
    m, info = search.coordinate_search(task, run["model"], max_sweeps=sweeps, transient_w=tw,
                                      log=lambda msg: _log(f"{run['name']} seed={seed}: {msg}"))
    ev = train.evaluate(train.frozen_eff(m), task)[0]
    _log(f"coordinate search on {run['name']} seed={seed}: test washout "
         f"{run['test_mse_washout']:.2e} -> {ev['test_mse_washout']:.2e}, {info['cs_loss_evals']} loss evals")
    return {"config": tag, "name": f"cs({run['name']})", "seed": seed, "H": run["H"],
            "from_config": run["config"], **ev, **info,
            "trit_change_frac": float(np.mean(m["trits"] != run["model"]["trits"])),
            "zero_frac": float(np.mean(m["trits"] == 0)), "model": m}


def job_refit(task, seed, cs_row, refit_epochs, lr, tw, teacher_flat):
    """The refit after coordinate search (its row `cs_row`): scales, biases, tau and readout
    trained with the trits fixed (LR lr / 3)."""
    m, H = cs_row["model"], cs_row["H"]
    teacher = train.Params(H, 1, tasks.n_inputs(task), flat=teacher_flat)
    p, infos, wall = train.train_students(task, teacher, [False], [None], epochs=refit_epochs, lr=lr / 3,
                                          transient_w=tw, freeze_trits=True, start=train.from_frozen([m], H))
    m2 = train.frozen(p, 0)
    assert np.array_equal(m2["trits"], m["trits"])
    ev2 = train.evaluate(train.frozen_eff(m2), task)[0]
    name = cs_row["name"].replace("cs(", "cs+refit(", 1)
    _log(f"refit after coordinate search on {name[9:-1]} seed={seed}: test washout "
         f"{cs_row['test_mse_washout']:.2e} -> {ev2['test_mse_washout']:.2e}")
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
    """Before any training (a classification factorial's too): --out writable, the clock started, the
    numerics' status logged, the gradient check passed. Returns (t0, numerics status, check's errors)."""
    check_out_dir(out)
    t0 = time.perf_counter()
    num = numerics.status()
    _log(numerics.describe(num))
    return t0, num, gradcheck.checked(_log)


def fill_defaults(st: Settings) -> None:
    """The settings left None take the task's defaults (configs.TASK_DEFAULTS). With --epochs E
    given and --cs-sweeps / --refit-epochs not, those scale with it, never above their
    defaults: sweeps max(1, round(S x E / E0)), refit epochs max(1, round(R x E / E0)) for the
    defaults E0 epochs, S sweeps, R refit epochs (a quick run is quick throughout)."""
    d = task_defaults(st.task)
    if st.epochs is not None and st.epochs > 0:
        for k in ("cs_sweeps", "refit_epochs"):
            if getattr(st, k) is None:
                setattr(st, k, min(d[k], max(1, round(d[k] * st.epochs / d["epochs"]))))
    for k, v in d.items():
        if getattr(st, k) is None:
            setattr(st, k, v)


def run(st: Settings):
    if not tasks.is_data_task(st.task) and st.task not in tasks.TASKS:
        raise TrainerError(f"unknown task {st.task!r} (known: {', '.join(tasks.TASKS)})")
    fill_defaults(st)
    for name in ("seeds", "epochs", "teacher_epochs", "jobs", "cs_sweeps", "refit_epochs"):
        if getattr(st, name) < 1:
            raise TrainerError(f"--{name.replace('_', '-')} must be positive, got {getattr(st, name)}")
    if not (0.0 <= st.transient_weight <= 1.0):
        raise TrainerError(f"--transient-weight must be in [0, 1], got {st.transient_weight}")
    for name in ("lr", "teacher_lr"):
        v = getattr(st, name)
        if not (math.isfinite(v) and v > 0):
            raise TrainerError(f"--{name.replace('_', '-')} must be a positive number, got {v}")
    out = st.out or os.path.join("results", st.task)
    if tasks.is_data_task(st.task):
        d = load_data(st.task)
        if d.spec.seq_len < MIN_TRAIN_SEQ_LEN:
            raise TrainerError(f"--seq-len must be at least {MIN_TRAIN_SEQ_LEN} for training (the teachers' "
                               f"transient crops are {train.CROP_LEN} steps from step 5), got {d.spec.seq_len}")
        _log(f"data {d.spec.path}: inputs {', '.join(d.inputs)} (I = {len(d.inputs)}), target {d.target} "
             f"{d.spec.horizon} row(s) ahead, windows of {d.spec.seq_len} steps; {d.sizes()}")
        for note in d.notes:
            _log(f"data: {note}")
    t0, num, gc = preflight(out)
    seeds = list(range(st.seeds))

    _log(f"factorial {tasks.label(st.task)}: {st.seeds} seeds, teacher {st.teacher_epochs} epochs, student {st.epochs} epochs, "
         f"scale scheme {st.scheme}, {st.jobs} job(s)")
    teachers, runs, best_cfg, val_mean = run_graph(st, seeds)
    result = assemble(st, seeds, teachers, runs, best_cfg, val_mean, gc, time.perf_counter() - t0)
    result["numerics"] = num
    wrote = write_factorial(out, result, runs, teachers)
    _log(f"factorial {tasks.label(st.task)} done in {time.perf_counter() - t0:.1f} s; wrote {out}/{wrote[0]}, "
         f"{', '.join(wrote[1:])}")
    return result


# Job priorities (the highest ready job runs first; only the wall time depends on them): the
# teachers and students are on the path to the best config's coordinate search, the longest
# jobs of the run; the searches on config 1 (ready early) fill idle workers.
PRIORITY = {"teacher": 50, "students": 40, "cs_best": 30, "refit": 20, "cs1": 10}


def run_graph(st, seeds):
    """Every job of the factorial, each started as soon as what it needs is done (teacher (H,
    seed) -> students (H, seed) -> coordinate search; the best config once all students are
    done). Jobs are pure functions of their arguments, so the results do not depend on
    --jobs or on the order they finish in. Returns (teachers {H: ...}, runs, best_cfg, val_mean)."""
    tch, stu, cs = {}, {}, {}
    state = {}
    H1 = CONFIGS[1][2]

    def teacher_job(H, s):
        return (PRIORITY["teacher"] + H / 100, ("teacher", H, s), job_teachers,
                (st.task, H, (s,), st.teacher_epochs, st.teacher_lr))

    def cs_job(tag, s, c):
        return (PRIORITY[tag], (tag, s), job_cs, (st.task, s, tag, state["by"][c, s] if tag == "cs_best"
                                                  else next(r for r in stu[H1, s] if r["config"] == 1),
                                                  st.cs_sweeps, st.transient_weight))

    def refit_job(s, row):
        H = row["H"]
        return (PRIORITY["refit"], ("refit", s), job_refit, (st.task, s, row, st.refit_epochs, st.lr,
                                                             st.transient_weight, tch[H, s]["flat"][0]))

    def on_done(key, res):
        kind, new = key[0], []
        if kind == "teacher":
            _, H, s = key
            tch[H, s] = res
            new.append((PRIORITY["students"] + H / 100, ("students", H, s), job_students,
                        (st.task, H, s, res["flat"][0], st.epochs, st.lr, st.scheme, st.transient_weight)))
        elif kind == "students":
            _, H, s = key
            stu[H, s] = res
            if H == H1:
                new.append(cs_job("cs1", s, 1))
            if len(stu) == len(WIDTHS) * len(seeds):                   # the best config on validation
                by = state["by"] = {(r["config"], r["seed"]): r for H in WIDTHS for s in seeds for r in stu[H, s]}
                val_mean = state["val_mean"] = {
                    c: float(np.mean([np.log10(by[c, s]["val_mse_washout"]) for s in seeds])) for c in CONFIGS}
                best = state["best"] = min(val_mean, key=val_mean.get)
                _log(f"best config on validation: {best} ({config_name(*CONFIGS[best][:2], CONFIGS[best][2])})")
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

    workers.run_graph([teacher_job(H, s) for H in WIDTHS[::-1] for s in seeds], st.jobs, on_done)
    teachers = {}
    for H in WIDTHS:
        rs = [tch[H, s] for s in seeds]
        teachers[H] = {"H": H, "flat": np.concatenate([r["flat"] for r in rs]),
                       "metrics": [r["metrics"][0] for r in rs], "wall_s": sum(r["wall_s"] for r in rs)}
    runs = [r for H in WIDTHS[::-1] for s in seeds for r in stu[H, s]]
    best = state["best"]
    for s in seeds:                                    # the rows in the order of the reports
        runs += [dict(cs["cs1", s], config="cs_best") if best == 1 else cs["cs_best", s], cs["refit", s]]
    runs += [cs["cs1", s] for s in seeds]
    return teachers, runs, best, state["val_mean"]


def load_data(task):
    """The task's SeriesData; bad data is one TrainerError line (before anything is written)."""
    from cfcbase.series import SeriesError
    try:
        return tasks.series_data(task)
    except SeriesError as e:
        raise TrainerError(str(e)) from None


def data_summary(task):
    """What a data task's report says about its data: spec, sizes, scaling, saturations."""
    from cfcbase.series import data_sha256, values_past_q14
    d = tasks.series_data(task)
    return {"spec": tasks.spec_dict(d.spec), "inputs": d.inputs, "target": d.target,
            "rows": {s: list(r) for s, r in d.rows.items()},
            "windows": {s: int(d.x[s].shape[0]) for s in d.x}, "sizes": d.sizes(),
            "input_offset": d.x_scaling.offset.tolist(), "input_scale": d.x_scaling.scale.tolist(),
            "target_offset": float(d.y_scaling.offset[0]), "target_scale": float(d.y_scaling.scale[0]),
            "level_offset": float(d.level_scaling.offset[0]), "level_scale": float(d.level_scaling.scale[0]),
            "difference": d.spec.difference, "gaps": d.gaps, "notes": d.notes,
            "sha256": data_sha256(d.spec.path), "saturation": values_past_q14(d)}


def assemble(st, seeds, teachers, runs, best_cfg, val_mean, gc, wall):
    floor = tasks.first_step_floor(st.task)
    base = tasks.baselines(st.task)
    teacher_rows = []
    for H in WIDTHS:
        for s in seeds:
            m = teachers[H]["metrics"][s]
            teacher_rows.append({"config": "teacher", "name": f"teacher+H{H}", "seed": s, "H": H, **m,
                                 "all_step_over_floor": m["test_mse"] / floor["all_step_floor"] if floor else None,
                                 "wall_s": teachers[H]["wall_s"] / len(seeds)})
    tw = {(r["H"], r["seed"]): r["test_mse_washout"] for r in teacher_rows}
    clean = []
    for r in runs:
        c = {k: v for k, v in r.items() if k != "model"}
        c["vs_float"] = r["test_mse_washout"] / tw[r["H"], r["seed"]]
        clean.append(c)
    y = np.array([[_lg(next(r for r in clean if r["config"] == c and r["seed"] == s)["test_mse_washout"])
                   for c in CONFIGS] for s in seeds])
    anova = stats.anova_2x2x2(y)
    # best ternary student: lowest validation washout MSE over every ternary model
    cand = [r for r in runs if r["config"] != "teacher"]
    best = min(cand, key=lambda r: (r["val_mse_washout"], str(r["config"]), r["seed"]))
    extra = {"data": data_summary(st.task)} if tasks.is_data_task(st.task) else {}
    return {"format_version": FORMAT_VERSION, "task": st.task, "seeds": seeds, **extra,
            "settings": {k: getattr(st, k) for k in ("epochs", "teacher_epochs", "lr", "teacher_lr",
                                                     "scheme", "cs_sweeps", "transient_weight",
                                                     "refit_epochs")},
            "command": st.command or f"python -m trainer factorial --task {st.task} --seeds {st.seeds}",
            "gradcheck_max_rel_err": max(gc.values()), "first_step_floor": floor, "baselines": base,
            "teachers": teacher_rows, "runs": clean, "best_config_on_val": best_cfg,
            "val_log10_washout_mean": {str(k): v for k, v in val_mean.items()},
            "anova": anova,
            "best": {"config": best["config"], "name": best["name"], "seed": best["seed"], "H": best["H"],
                     "val_mse_washout": best["val_mse_washout"], "test_mse": best["test_mse"],
                     "test_mse_washout": best["test_mse_washout"],
                     "teacher_test_mse_washout": tw[best["H"], best["seed"]],
                     "ratio_vs_teacher": best["test_mse_washout"] / tw[best["H"], best["seed"]]},
            "wall_s": wall}


# ---- outputs --------------------------------------------------------------------------------

def recorded_data_path(path, out) -> str:
    """The data file as best.npz in ``out`` records it: pkg:PACKAGE/PATH as given, a file relative
    to ``out`` (docs/artifact.md: export and verify find it from the artifact's directory)."""
    from cfcbase.datafile import PKG_PREFIX
    path = str(path)
    if path.startswith(PKG_PREFIX):
        return path
    return os.path.relpath(os.path.abspath(path), os.path.abspath(out))


def best_artifact(task, run, teacher_flat, H, metrics, out=".") -> Artifact:
    """The best.npz (docs/artifact.md) of a frozen student run and the float teacher it came from."""
    m = run["model"]
    tp = train.Params(H, 1, tasks.n_inputs(task), flat=teacher_flat)
    W = tp.W[0]
    data = scaling = None
    if tasks.is_data_task(task):
        from cfcbase.series import data_sha256
        d = tasks.series_data(task)
        # the spec as resolved (the defaults filled in), the file relative to the artifact, its hash
        data = dict(tasks.spec_dict(d.spec), path=recorded_data_path(d.spec.path, out), inputs=list(d.inputs),
                    target=d.target, sha256=data_sha256(d.spec.path))
        task = DATA_TASK
        scaling = {"input_offset": d.x_scaling.offset, "input_scale": d.x_scaling.scale,
                   "target_offset": float(d.y_scaling.offset[0]), "target_scale": float(d.y_scaling.scale[0])}
    return Artifact(
        data=data, scaling=scaling,
        I=tp.I, H=H, dt=train.cell.DT, trits_f=m["trits"][:H], trits_g=m["trits"][H:],
        scale_f=m["s"][:H], scale_g=m["s"][H:], b_f=m["b"][:H], b_g=m["b"][H:], tau=m["tau"],
        w_o=m["w_o"], b_o=m["b_o"], task=task, config=run["name"], metrics=metrics,
        teacher={"W_f": W[:H], "W_g": W[H:], "b_f": tp.b[0, :H], "b_g": tp.b[0, H:], "tau": tp.tau[0],
                 "w_o": tp.w_o[0], "b_o": tp.b_o[0, 0]})


def write_factorial(out, result, runs, teachers):
    """factorial.json, factorial.md, best.npz and factorial.png, all or none (fileio.write_file_set):
    a failure anywhere leaves --out as it was, and a reused --out never mixes the sets. Returns
    the names of the files written (factorial.png only when drawn)."""
    b = result["best"]
    run = next(r for r in runs if r["config"] == b["config"] and r["seed"] == b["seed"]
               and r["H"] == b["H"] and r["name"] == b["name"])
    metrics = {"seed": b["seed"], "config": str(b["config"]), "val_mse_washout": b["val_mse_washout"],
               "test_mse": b["test_mse"], "test_mse_washout": b["test_mse_washout"],
               "teacher_test_mse_washout": b["teacher_test_mse_washout"], "selected_on": "val_mse_washout"}
    art = best_artifact(result["task"], run, teachers[b["H"]]["flat"][b["seed"]], b["H"], metrics, out)
    text = {"factorial.json": json.dumps(result, indent=1, sort_keys=True) + "\n", "factorial.md": markdown(result)}
    writers = {name: (lambda f, t=t: f.write(t.encode())) for name, t in text.items()}
    writers["best.npz"] = lambda f: write_artifact(art, f)
    writers["factorial.png"] = None                     # unless the plot is drawn

    def collect(path, write):
        writers[os.path.basename(path)] = write
    plot(os.path.join(out, "factorial.png"), result, run, teachers, collect)
    write_file_set(out, writers)
    return [name for name in ("factorial.md", "factorial.json", "factorial.png", "best.npz") if writers.get(name)]
