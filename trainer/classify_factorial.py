"""The factorial on a classification task (docs/training.md, "Classification"): the regression
factorial's stages and rows (trainer/factorial.py) with the classification head and the
cross-entropy (trainer/classify.py).

  0. gradient check (every group, the head's included; aborts on failure)
  1. float teachers: one job per width, the seeds stacked
  2. students: one job per (width, seed): the 4 QAT configs of that width (STE/shaped x
     none/trajectory distillation) and the logit-distillation row ("out"), stacked, from that
     seed's teacher; PTQ of the teacher
  3. coordinate search on the training cross-entropy, on config 1 and on the best config (lowest
     mean log10 validation cross-entropy over seeds); on the best config followed by the refit
  4. factorial.json / .md / .png and best.npz: the ternary model with the lowest validation
     cross-entropy over every ternary row and seed (never the test set)

The 2x2x2 ANOVA is on log10 test cross-entropy (seeds as blocks): continuous, defined for every
model, sensitive where the error rate is 0 on most seeds of a small test set; accuracy is
reported beside it. Seeds are paired as in the regression factorial: the splits come from fixed
seeds (cfcbase.labelled), seed k fixes the teacher and every student of seed k starts from it.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from cfcbase.labelled import CLASSIFY_TASKS, class_names, is_labelled_task, label, labelled_data, n_inputs

from . import classify as C
from . import classify_search as CS
from . import stats
from .configs import SCHEME, SHAPED_BETA, STUDENT_LR, config_name
from .errors import TrainerError
from .factorial import _log, preflight

FORMAT_VERSION = 1                     # of factorial.json
WIDTHS = (8, 16)                       # the width factor for classification: both under 1 kB of weights
CONFIGS = {i + 1: (bool(i & 1), bool((i >> 1) & 1), WIDTHS[(i >> 2) & 1]) for i in range(8)}
POOLING = "mean"                       # docs/training.md, "Classification": measured against "last"
# Defaults (docs/training.md, "Classification"): teachers at LR 3e-2 (1e-2 left them at 70-85 % on
# BasicMotions after 300 epochs), 600 epochs; students 300 epochs at the regression's 1e-2.
DEFAULTS = {"teacher_epochs": 600, "teacher_lr": 3e-2, "epochs": 300, "cs_sweeps": 2, "refit_epochs": 100}
TASK_DEFAULTS = {"waves3": {"teacher_epochs": 300, "teacher_lr": 3e-2, "epochs": 200, "cs_sweeps": 2,
                            "refit_epochs": 50}}


def _pool_map(fn, argslist, jobs):
    """[fn(*args) for args in argslist] on up to `jobs` worker processes."""
    from . import workers
    out = [None] * len(argslist)
    workers.run_jobs(fn, argslist, jobs, out.__setitem__)
    return out


def task_defaults(task):
    return TASK_DEFAULTS.get(task, DEFAULTS)


@dataclass
class ClsSettings:
    task: str = "waves3"
    seeds: int = 5
    epochs: int | None = None
    teacher_epochs: int | None = None
    lr: float = STUDENT_LR
    teacher_lr: float | None = None
    scheme: str = SCHEME
    cs_sweeps: int | None = None
    refit_epochs: int | None = None
    pooling: str = POOLING
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    out: str = ""
    command: str = ""


# ---- jobs ------------------------------------------------------------------------------------------

def job_teachers(task, H, seeds, epochs, lr, pooling):
    p, info = C.train_teachers(task, H, list(seeds), pooling, epochs=epochs, lr=lr)
    ev = C.evaluate(C.effective(p), task, pooling)
    _log(f"teachers H={H} done in {info['wall_s']:.1f} s: test accuracy "
         + " ".join(f"{m['test_acc']:.3f}" for m in ev))
    return {"H": H, "flat": p.flat, "metrics": ev, "wall_s": info["wall_s"]}


def _teacher(task, H, flat, M=1):
    return C.ClsParams(H, M, n_inputs(task), len(class_names(task)), flat=flat)


def job_students(task, H, seed, teacher_flat, epochs, lr, scheme, pooling):
    teacher = _teacher(task, H, teacher_flat)
    variants = [(c, *CONFIGS[c][:2]) for c in CONFIGS if CONFIGS[c][2] == H]
    variants.append(("out", False, "out"))              # the logit-distillation row
    shaped = [v[1] for v in variants]
    distill = [("traj" if v[2] is True else (None if v[2] is False else v[2])) for v in variants]
    stack = teacher.take([0] * len(variants))
    p, infos, wall = C.train_students(task, stack, shaped, distill, pooling, epochs=epochs, lr=lr, scheme=scheme,
                                      beta=SHAPED_BETA)
    ev = C.evaluate(C.effective(p, scheme), task, pooling)
    runs = []
    for m, (cfg, sh, _) in enumerate(variants):
        runs.append({"config": cfg, "name": config_name(sh, distill[m], H), "seed": seed, "H": H, "shaped": sh,
                     "distill": distill[m], **ev[m], **infos[m], "wall_s": wall / len(variants),
                     "model": CS.frozen(p, m, scheme)})
    q = C.ptq(teacher)
    pm = CS.frozen(q, 0)
    runs.append({"config": "ptq", "name": f"ptq+H{H}", "seed": seed, "H": H,
                 **C.evaluate(CS.frozen_eff(pm), task, pooling)[0], "zero_frac": float(np.mean(pm["trits"] == 0)),
                 "wall_s": 0.0, "model": pm})
    _log(f"students H={H} seed={seed} done in {wall:.1f} s: test accuracy "
         + " ".join(f"{r['name']}={r['test_acc']:.3f}" for r in runs))
    return runs


def job_cs(task, seed, tag, run, sweeps, pooling, refit_epochs=0, lr=0.0, teacher_flat=None):
    m, info = CS.coordinate_search(task, run["model"], pooling, max_sweeps=sweeps,
                                   log=lambda msg: _log(f"{run['name']} seed={seed}: {msg}"))
    ev = C.evaluate(CS.frozen_eff(m), task, pooling)[0]
    out = [{"config": tag, "name": f"cs({run['name']})", "seed": seed, "H": run["H"], "from_config": run["config"],
            **ev, **info, "trit_change_frac": float(np.mean(m["trits"] != run["model"]["trits"])),
            "zero_frac": float(np.mean(m["trits"] == 0)), "model": m}]
    _log(f"coordinate search on {run['name']} seed={seed}: test accuracy {run['test_acc']:.3f} -> "
         f"{ev['test_acc']:.3f}, {info['cs_loss_evals']} loss evals")
    if refit_epochs:
        m2, _, wall = CS.refit(task, _teacher(task, run["H"], teacher_flat), m, pooling, refit_epochs, lr / 3)
        ev2 = C.evaluate(CS.frozen_eff(m2), task, pooling)[0]
        out.append({"config": "cs_refit", "name": f"cs+refit({run['name']})", "seed": seed, "H": run["H"],
                    "from_config": run["config"], **ev2, "cs_loss_evals": info["cs_loss_evals"],
                    "zero_frac": float(np.mean(m2["trits"] == 0)), "wall_s": info["wall_s"] + wall, "model": m2})
        _log(f"refit after coordinate search on {run['name']} seed={seed}: test accuracy {ev['test_acc']:.3f} -> "
             f"{ev2['test_acc']:.3f}")
    return out


# ---- the run -----------------------------------------------------------------------------------

def check_task(task):
    """A classification task, its files read (bad data: one TrainerError line, before --out)."""
    from cfcbase.datafile import SeriesError
    if task not in CLASSIFY_TASKS and not is_labelled_task(task):
        raise TrainerError(f"unknown classification task {task!r} (known: {', '.join(CLASSIFY_TASKS)}, or "
                           f"--labelled FILE)")
    if is_labelled_task(task):
        try:
            return labelled_data(task)
        except SeriesError as e:
            raise TrainerError(str(e)) from None
    return None


def run(st: ClsSettings):
    d = check_task(st.task)
    for k, v in task_defaults(st.task).items():
        if getattr(st, k) is None:
            setattr(st, k, v)
    for name in ("seeds", "epochs", "teacher_epochs", "jobs", "cs_sweeps", "refit_epochs"):
        if getattr(st, name) < 1:
            raise TrainerError(f"--{name.replace('_', '-')} must be positive, got {getattr(st, name)}")
    for name in ("lr", "teacher_lr"):
        v = getattr(st, name)
        if not (math.isfinite(v) and v > 0):
            raise TrainerError(f"--{name.replace('_', '-')} must be a positive number, got {v}")
    if st.pooling not in C.POOLINGS:
        raise TrainerError(f"--pooling {st.pooling!r}: expected one of {', '.join(C.POOLINGS)}")
    if d is not None:
        _log(f"labelled {d.spec.train} / {d.spec.test}: {len(d.channels)} channel(s), {len(d.classes)} classes, "
             f"windows of {d.x['train'].shape[1]} steps; {d.sizes()}")
    out = st.out or os.path.join("results", label(st.task).lower())
    t0, num, gc = preflight(out)
    seeds = list(range(st.seeds))
    _log(f"factorial {label(st.task)} (classification, pooling {st.pooling}): {st.seeds} seeds, teacher "
         f"{st.teacher_epochs} epochs, student {st.epochs} epochs, {st.jobs} job(s)")
    T = _pool_map(job_teachers, [(st.task, H, seeds, st.teacher_epochs, st.teacher_lr, st.pooling)
                                 for H in WIDTHS[::-1]], st.jobs)
    teachers = {r["H"]: r for r in T}
    args = [(st.task, H, s, teachers[H]["flat"][s], st.epochs, st.lr, st.scheme, st.pooling)
            for H in WIDTHS[::-1] for s in seeds]
    runs = [r for rs in _pool_map(job_students, args, st.jobs) for r in rs]
    by = {(r["config"], r["seed"]): r for r in runs}
    val_mean = {c: float(np.mean([np.log10(by[c, s]["val_ce"]) for s in seeds])) for c in CONFIGS}
    best_cfg = min(val_mean, key=val_mean.get)
    _log(f"best config on validation: {best_cfg} ({config_name(*CONFIGS[best_cfg][:2], CONFIGS[best_cfg][2])})")
    H_best = CONFIGS[best_cfg][2]
    cs_args = [(st.task, s, "cs_best", by[best_cfg, s], st.cs_sweeps, st.pooling, st.refit_epochs, st.lr,
                teachers[H_best]["flat"][s]) for s in seeds]
    if best_cfg != 1:
        cs_args += [(st.task, s, "cs1", by[1, s], st.cs_sweeps, st.pooling) for s in seeds]
    cs = [r for rs in _pool_map(job_cs, cs_args, st.jobs) for r in rs]
    if best_cfg == 1:
        cs += [dict(r, config="cs1") for r in cs if r["config"] == "cs_best"]
    runs += cs
    result = assemble(st, seeds, teachers, runs, best_cfg, val_mean, gc, time.perf_counter() - t0)
    result["numerics"] = num
    write_factorial(out, result, runs, teachers)
    _log(f"factorial {label(st.task)} done in {time.perf_counter() - t0:.1f} s; wrote {out}/factorial.md, "
         f"factorial.json, factorial.png, best.npz")
    return result


def data_summary(task, pooling):
    d = labelled_data(task) if is_labelled_task(task) else None
    out = {"classes": class_names(task), "pooling": pooling, "channels": C.inputs(task)}
    if d is None:
        from cfcbase.labelled import load_labelled
        out["sizes"] = {s: int(len(load_labelled(task, s)[1])) for s in ("train", "val", "test")}
        return out
    from cfcbase.labelled import counts, spec_dict
    out.update(spec=spec_dict(d.spec), channel_names=d.channels, problem=d.problem, steps=int(d.x["train"].shape[1]),
               sizes={s: int(len(d.y[s])) for s in d.y},
               per_class={s: counts(d.y[s], len(d.classes)).tolist() for s in d.y}, description=d.sizes(),
               input_offset=d.offset.tolist(), input_scale=d.scale.tolist(),
               saturation={s: int((np.abs(d.x[s]) >= 2.0).sum()) for s in d.x})
    return out


def _clean(r):
    return {k: v for k, v in r.items() if k != "model"}


def assemble(st, seeds, teachers, runs, best_cfg, val_mean, gc, wall):
    teacher_rows = []
    for H in WIDTHS:
        for s in seeds:
            teacher_rows.append({"config": "teacher", "name": f"teacher+H{H}", "seed": s, "H": H,
                                 **teachers[H]["metrics"][s], "wall_s": teachers[H]["wall_s"] / len(seeds)})
    tacc = {(r["H"], r["seed"]): r for r in teacher_rows}
    clean = []
    for r in runs:
        c = _clean(r)
        t = tacc[r["H"], r["seed"]]
        c["acc_vs_float"] = r["test_acc"] - t["test_acc"]               # points / 100
        c["ce_vs_float"] = r["test_ce"] / t["test_ce"]
        clean.append(c)
    y = np.array([[np.log10(next(r for r in clean if r["config"] == c and r["seed"] == s)["test_ce"])
                   for c in CONFIGS] for s in seeds])
    anova = stats.anova_2x2x2(y)
    cand = [r for r in runs if r["config"] != "teacher"]
    best = min(cand, key=lambda r: (r["val_ce"], -r["val_acc"], str(r["config"]), r["seed"]))
    t = tacc[best["H"], best["seed"]]
    return {"format_version": FORMAT_VERSION, "kind": "classify", "task": st.task, "label": label(st.task),
            "seeds": seeds, "widths": list(WIDTHS), "data": data_summary(st.task, st.pooling),
            "settings": {k: getattr(st, k) for k in ("epochs", "teacher_epochs", "lr", "teacher_lr", "scheme",
                                                     "cs_sweeps", "refit_epochs", "pooling")},
            "command": st.command or f"python -m trainer factorial --task {st.task} --seeds {st.seeds}",
            "gradcheck_max_rel_err": max(gc.values()), "anova_metric": "log10 test cross-entropy",
            "teachers": teacher_rows, "runs": clean, "best_config_on_val": best_cfg,
            "val_log10_ce_mean": {str(k): v for k, v in val_mean.items()}, "anova": anova,
            "best": {"config": best["config"], "name": best["name"], "seed": best["seed"], "H": best["H"],
                     "val_ce": best["val_ce"], "val_acc": best["val_acc"], "test_ce": best["test_ce"],
                     "test_acc": best["test_acc"], "test_confusion": best["test_confusion"],
                     "teacher_test_acc": t["test_acc"], "teacher_test_ce": t["test_ce"],
                     "acc_vs_teacher": best["test_acc"] - t["test_acc"],
                     "weights_bytes": weights_bytes(best["H"], n_inputs(st.task), len(class_names(st.task)))},
            "wall_s": wall}


def weights_bytes(H, I, K) -> dict:
    """The model's constant data on the device without the shared activation tables
    (codegen.footprint.footprint, docs/codegen.md): packed trits, per-row scales, biases, lambda and
    the head (K x H int32 + K int64); the zero regression readout is counted apart."""
    rows, rb = 2 * H, -(-(I + H) // 4)
    parts = {"trits": rows * rb, "scales": rows * 5, "biases": rows * 4, "lambda": H * 2, "head": K * H * 4 + K * 8}
    return dict(parts, total=sum(parts.values()), zero_readout=H * 4 + 8)


# ---- outputs ------------------------------------------------------------------------------------

def best_artifact(task, run, teacher_flat, H, metrics, pooling, out="."):
    from cfcbase.artifact import Artifact
    from cfcbase.artifact_classify import LABELLED_TASK
    from .factorial import recorded_data_path
    m = run["model"]
    tp = _teacher(task, H, teacher_flat)
    W = tp.W[0]
    labelled = scaling = None
    art_task = task
    if is_labelled_task(task):
        d = labelled_data(task)
        labelled = {"train": recorded_data_path(d.spec.train, out), "test": recorded_data_path(d.spec.test, out),
                    "val_fraction": float(d.spec.val_fraction), "channels": list(d.channels),
                    "seq_len": int(d.x["train"].shape[1])}
        scaling = {"input_offset": d.offset, "input_scale": d.scale}
        art_task = LABELLED_TASK
    from cfcbase.cell import DT
    return Artifact(
        I=tp.I, H=H, dt=DT, trits_f=m["trits"][:H], trits_g=m["trits"][H:], scale_f=m["s"][:H], scale_g=m["s"][H:],
        b_f=m["b"][:H], b_g=m["b"][H:], tau=m["tau"], w_o=np.zeros(H), b_o=0.0, task=art_task, config=run["name"],
        metrics=metrics, teacher={"W_f": W[:H], "W_g": W[H:], "b_f": tp.b[0, :H], "b_g": tp.b[0, H:],
                                  "tau": tp.tau[0], "w_c": tp.w_c[0], "b_c": tp.b_c[0]},
        head={"classes": class_names(task), "w_c": m["w_c"], "b_c": m["b_c"], "pooling": pooling},
        labelled=labelled, scaling=scaling, format_version=3)


def write_factorial(out, result, runs, teachers):
    from cfcbase.artifact import write_artifact
    from cfcbase.fileio import write_file_set
    from .classify_report import markdown, plot
    b = result["best"]
    run = next(r for r in runs if r["config"] == b["config"] and r["seed"] == b["seed"] and r["H"] == b["H"]
               and r["name"] == b["name"])
    metrics = {"seed": b["seed"], "config": str(b["config"]), "val_ce": b["val_ce"], "val_acc": b["val_acc"],
               "test_ce": b["test_ce"], "test_acc": b["test_acc"], "teacher_test_acc": b["teacher_test_acc"],
               "selected_on": "val_ce"}
    art = best_artifact(result["task"], run, teachers[b["H"]]["flat"][b["seed"]], b["H"], metrics,
                        result["settings"]["pooling"], out)
    text = {"factorial.json": json.dumps(result, indent=1, sort_keys=True) + "\n", "factorial.md": markdown(result)}
    writers = {name: (lambda f, t=t: f.write(t.encode())) for name, t in text.items()}
    writers["best.npz"] = lambda f: write_artifact(art, f)
    png = plot(result)
    writers["factorial.png"] = None if png is None else (lambda f: f.write(png))
    write_file_set(out, writers)
