"""`python -m trainer frontier`: ternary against int8 on one task, through the whole pipeline
(docs/training.md, "Ternary against int8: the frontier").

For every point of the grid (ternary students at widths --ternary, int8 models at widths --int8,
the float teachers of every width as the reference) over paired seeds: test washout MSE (geometric
mean and the spread of log10 over seeds), weight bytes as the firmware stores them, and, per
--target, the firmware's flash and RAM and the instructions per cell step measured under QEMU
(BENCH over the serial protocol, as `python -m host verify` measures them). Writes frontier.json,
frontier.md and frontier.png into --out and marks the Pareto-optimal points (MSE against bytes,
MSE against instructions; trainer/frontier_report.py).

  float teachers   trainer/sweep's teacher job (the factorial's, seeds stacked), every width
  ternary students trainer/sweep's student job: the sweep cell of the factorial's defaults with
                   --ternary-set (default ste=shaped, the factorial's shaped STE) at that width
  int8 models      per-row symmetric post-training quantization of the teacher (trainer/int8.py);
                   where it loses more than 10% of validation washout MSE, int8 QAT from there, and
                   per seed the better of the two on validation (job_int8)

Every job goes through trainer/sweep's store (OUT/jobs/, keyed by settings and training code), so
a rerun with the same arguments computes only what is missing; the firmware builds are reused
from build/<target>-<model hash> as by `host verify`. Seed k uses the same data in every point;
teachers of one width are shared by the ternary and int8 points of that width.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cfcbase import numerics
from cfcbase.artifact import Artifact
from cfcbase.formats import INT8, TERNARY
from host.measure import measure
from host.qemu import check_tools
from host.targets import COUNTED

from ..errors import TrainerError
from ..model import int8 as I8
from ..model import train
from ..model.heads import train_head
from ..model.params import Params
from ..reports.frontier_report import SCORES, TERNARY_KERNELS, assemble, best_int8_seeds, write_reports
from .factorial import check_out_dir
from .sweep import jobs as sjobs
from .sweep.backends import LocalBackend
from .sweep.grid import KNOBS, canonical, cell_id, defaults
from .sweep.progress import Progress, log
from .sweep.store import Store

TERNARY_WIDTHS = (8, 16, 32, 64)
INT8_WIDTHS = (4, 8, 16, 32)
TARGETS = ("cortex-m4", "nrf51")
TERNARY_SET = {"ste": "shaped"}                 # the factorial's shaped STE (constant beta 20)
BENCH_STEPS = 200                               # BENCH steps per measurement


@dataclass
class FrontierSettings:
    task: object = None                         # a cfcbase.task.Task (resolved: its data read)
    seeds: int = 5
    ternary: tuple = TERNARY_WIDTHS
    int8: tuple = INT8_WIDTHS
    epochs: int | None = None                   # students and int8 QAT (None: the factorial's)
    teacher_epochs: int | None = None
    teacher_lr: float | None = None
    budget: str = "quick"                       # configs.BUDGETS: the default epochs' factor, both formats
    ternary_set: dict = field(default_factory=lambda: dict(TERNARY_SET))
    targets: tuple = TARGETS
    qemu: bool = True
    out: str = ""
    workers: int = os.cpu_count() or 1
    stack: int = 5
    command: str = ""
    build_root: str | None = None


# ---- jobs ---------------------------------------------------------------------------------

def job_int8(head, H: int, seeds: tuple, teacher_flat, epochs: int, lr: float) -> dict:
    """int8 models of a teacher stack: PTQ, and QAT where PTQ loses more than I8.PTQ_TOLERANCE of
    the teacher's validation score (the head's); per seed the better on validation. Returns the
    metrics per seed (with `qat` 0/1 and the PTQ figures) and the chosen models' parameters."""
    sjobs._quiet()
    val, test = f"val_{head.task.headline}", f"test_{head.task.headline}"
    teacher = Params(H, len(seeds), head.task.I, head.rows(H), flat=np.asarray(teacher_flat))
    tev = train.evaluate(head, train.effective(teacher), ("val",))
    p = I8.ptq(teacher)
    ev = train.evaluate(head, train.effective(p, I8.INT8_SCHEME))
    chosen = p.copy()
    qat = [0] * len(seeds)
    need = [e[val] > (1 + I8.PTQ_TOLERANCE) * t[val] for e, t in zip(ev, tev)]
    qev = None
    if any(need):
        q, _, _ = I8.train_int8(head, teacher, epochs, lr)
        qev = train.evaluate(head, train.effective(q, I8.INT8_SCHEME))
        for m in range(len(seeds)):
            if qev[m][val] < ev[m][val]:
                chosen.flat[m] = q.flat[m]
                qat[m] = 1
    out = []
    for m in range(len(seeds)):
        e = qev[m] if qat[m] else ev[m]
        out.append({**sjobs.scalars(e), "qat": qat[m], "qat_ran": int(qev is not None),
                    f"ptq_{val}": ev[m][val], f"ptq_{test}": ev[m][test],
                    f"qat_{test}": qev[m][test] if qev else ev[m][test]})
    return {"flat": chosen.flat.copy(), "metrics": out}


CODE_FUNCTIONS = (job_int8,)


# ---- the plan -----------------------------------------------------------------------------

def _chunks(n, stack):
    return [tuple(range(a, min(a + stack, n))) for a in range(0, n, stack)]


class Plan:
    """The jobs of a frontier: teachers per (width, chunk of seeds), ternary students, int8 models."""

    def __init__(self, st: FrontierSettings):
        self.st = st
        self.head = train_head(st.task)
        self.task_key = st.task.key()
        d = dict(defaults(st.task, st.budget))
        for k, v in (("epochs", st.epochs), ("teacher_epochs", st.teacher_epochs), ("teacher_lr", st.teacher_lr)):
            if v is not None:
                d[k] = v
        self.dflt = d
        for k, v in st.ternary_set.items():
            if k not in KNOBS or k in ("H", "epochs", "teacher_epochs", "teacher_lr"):
                raise TrainerError(f"--ternary-set {k}: not a student knob here (knobs: "
                                   f"{', '.join(k for k in KNOBS if k not in ('H', 'epochs', 'teacher_epochs', 'teacher_lr'))})")
        self.recipe = cell_id(canonical(dict(d, **st.ternary_set), d), d)
        code = sjobs.code_fingerprint() + "|" + hashlib.sha256(
            "".join(inspect.getsource(f) for f in CODE_FUNCTIONS).encode()).hexdigest()[:12]
        self.code = code + ("|" + numerics.fingerprint() if numerics.fingerprint() else "")
        self.out = Path(st.out)
        self.store = Store(self.out, self.code, self.head)
        self.parts = _chunks(st.seeds, st.stack)
        self.widths = sorted(set(st.ternary) | set(st.int8))

    def teacher(self, H, part):
        ts = {"task": self.task_key, "seeds": list(part), "H": H, "teacher_epochs": self.dflt["teacher_epochs"],
              "teacher_lr": self.dflt["teacher_lr"]}
        return ts, sjobs.job_key("teacher", ts, self.code)

    def student(self, H, part):
        c = canonical(dict(self.dflt, **self.st.ternary_set, H=H), self.dflt)
        ss = {"task": self.task_key, "seeds": list(part), **c}
        return c, ss, sjobs.job_key("student", ss, self.code)

    def int8(self, H, part):
        s8 = {"task": self.task_key, "seeds": list(part), "H": H, "epochs": self.dflt["epochs"],
              "lr": self.dflt["lr"], "teacher_epochs": self.dflt["teacher_epochs"],
              "teacher_lr": self.dflt["teacher_lr"], "ptq_tolerance": I8.PTQ_TOLERANCE}
        return s8, sjobs.job_key("int8", s8, self.code)


def _run_jobs(fn, argslist, workers, on_done):
    if argslist:
        LocalBackend(workers).run(fn, argslist, on_done)


def train_all(p: Plan) -> None:
    """Every job of the plan that the store lacks: teachers first, then students and int8 models."""
    st = p.st
    todo_t = [(H, part) for H in p.widths for part in p.parts
              if p.store.load("teacher", p.teacher(H, part)[1], p.teacher(H, part)[0]) is None]
    todo_s = [(H, part) for H in st.ternary for part in p.parts
              if p.store.load("student", p.student(H, part)[2], p.student(H, part)[1]) is None]
    todo_8 = [(H, part) for H in st.int8 for part in p.parts
              if p.store.load("int8", p.int8(H, part)[1], p.int8(H, part)[0]) is None]
    n_jobs = len(p.widths) * len(p.parts) + (len(st.ternary) + len(st.int8)) * len(p.parts)
    todo = len(todo_t) + len(todo_s) + len(todo_8)
    log(f"frontier {st.task.label()}: ternary H = {', '.join(map(str, st.ternary))} ({p.recipe}), int8 H = "
        f"{', '.join(map(str, st.int8))}, float teachers H = {', '.join(map(str, p.widths))}; {st.seeds} seeds in "
        f"stacks of {st.stack}; {n_jobs} jobs, {todo} to run ({n_jobs - todo} cached in {p.store.dir})")
    prog = Progress(todo)
    sc = SCORES[st.task.head_kind]

    def said(what, H, part, res):
        """A finished job in the progress line: each seed's test figure (* where int8 ran QAT)."""
        prog.tick(f"{what} H={H} seeds {part[0]}-{part[-1]}: {sc.title}: "
                  + " ".join(sc.brief(sc.test(m)) + ("*" if m.get("qat") else "") for m in res["metrics"]))

    def t_done(i, res):
        H, part = todo_t[i]
        ts, k = p.teacher(H, part)
        p.store.put("teacher", k, ts, res)
        said("teachers", H, part, res)
    _run_jobs(sjobs.job_teacher, [(p.head, H, p.dflt["teacher_epochs"], p.dflt["teacher_lr"], part)
                                  for H, part in todo_t], st.workers, t_done)

    def tflat(H, part):
        return p.store.get("teacher", p.teacher(H, part)[1])["flat"]

    def s_done(i, res):
        H, part = todo_s[i]
        _, ss, k = p.student(H, part)
        p.store.put("student", k, ss, res)
        said("ternary", H, part, res)

    def i_done(i, res):
        H, part = todo_8[i - len(todo_s)]
        s8, k = p.int8(H, part)
        p.store.put("int8", k, s8, res)
        said("int8", H, part, res)

    args = [(sjobs.job_student, (p.head, p.student(H, part)[0], part, tflat(H, part))) for H, part in todo_s]
    args += [(job_int8, (p.head, H, part, tflat(H, part), p.dflt["epochs"], p.dflt["lr"])) for H, part in todo_8]
    _run_jobs(_call, args, st.workers, lambda i, res: (s_done if i < len(todo_s) else i_done)(i, res))


def _call(fn, args):
    """fn(*args): one backend call for two kinds of job."""
    return fn(*args)


# ---- the models measured on the targets --------------------------------------------------

def int8_artifact(p: Plan, H: int, seed: int) -> Artifact:
    """The int8 model of (width, seed) as an artifact (version 4)."""
    part = next(c for c in p.parts if seed in c)
    res = p.store.get("int8", p.int8(H, part)[1])
    m = part.index(seed)
    q = Params(H, len(part), p.st.task.I, p.head.rows(H), student=True, flat=res["flat"])
    fz = I8.frozen_int8(p.head, q, m)
    met = res["metrics"][m]
    how = "qat" if met["qat"] else "ptq"
    sc = SCORES[p.st.task.head_kind]
    metrics = {"seed": seed, "config": f"int8-{how}+H{H}", **{k: met[k] for k in sc.artifact_keys},
               f"teacher_test_{sc.metric}": _teacher_metrics(p, H, seed)[f"test_{sc.metric}"],
               "selected_on": f"val_{p.st.task.headline}"}
    return train.artifact_of(p.head, fz, _teacher_flat(p, H, seed), H, f"int8-{how}+H{H}", metrics, (INT8, INT8))


def ternary_shape_artifact(p: Plan, H: int, seed: int = 0) -> Artifact:
    """A ternary model of width H for the measurements (its cost depends on the shape only): the
    post-training quantization of the seed's teacher."""
    tflat = _teacher_flat(p, H, seed)
    tp = Params(H, 1, p.st.task.I, p.head.rows(H), flat=tflat)
    fz = train.frozen(p.head, train.ptq(tp), 0, "coupled")
    return train.artifact_of(p.head, fz, tflat, H, f"ptq+H{H}", {"seed": seed}, (TERNARY, TERNARY))


def int8_shape_artifact(p: Plan, H: int) -> Artifact:
    """An int8 model of width H for the measurements: seed 0's."""
    return int8_artifact(p, H, 0)


def _teacher_flat(p, H, seed):
    part = next(c for c in p.parts if seed in c)
    return p.store.get("teacher", p.teacher(H, part)[1])["flat"][part.index(seed)]


def _teacher_metrics(p, H, seed):
    part = next(c for c in p.parts if seed in c)
    return p.store.get("teacher", p.teacher(H, part)[1])["metrics"][part.index(seed)]


# ---- the command ---------------------------------------------------------------------------

def run(st: FrontierSettings) -> dict:
    t0 = time.perf_counter()
    if st.seeds < 2:
        raise TrainerError(f"--seeds must be at least 2 (paired comparisons), got {st.seeds}")
    for name, ws in (("--ternary", st.ternary), ("--int8", st.int8)):
        if not ws or any(not 1 <= h <= 128 for h in ws):
            raise TrainerError(f"{name}: widths in 1..128 expected, got {', '.join(map(str, ws)) or 'none'}")
    if st.qemu:
        bad = [t for t in st.targets if t not in COUNTED]
        if bad:
            raise TrainerError(f"--targets {', '.join(bad)}: instructions are counted on the bare-metal targets "
                               f"only ({', '.join(COUNTED)})")
        check_tools(list(st.targets), build=True, run=True)
    check_out_dir(st.out)
    p = Plan(st)
    train_all(p)
    measured = {}
    if st.qemu:
        shapes = [("ternary", H, k, ternary_shape_artifact) for H in st.ternary for k in TERNARY_KERNELS] + \
                 [("int8", H, "packed", int8_shape_artifact) for H in st.int8]
        prog = Progress(len(shapes) * len(st.targets))
        for fmt, H, kernel, shape_artifact in shapes:
            art = shape_artifact(p, H)
            for t in st.targets:
                mt = measure(art, t, st.build_root, BENCH_STEPS, kernel=kernel)
                measured.setdefault((fmt, H, kernel), {})[t] = mt
                prog.tick(f"{t} {fmt} H={H} ({kernel}): {mt['per_step']:,.0f} instructions per step, flash "
                          f"{mt['flash']:,} B, RAM {mt['ram']:,} B (kernel {mt['kernel']})")
    seeds = range(st.seeds)
    rows = {("ternary", H): [m for part in p.parts for m in p.store.get("student", p.student(H, part)[2])["metrics"]]
            for H in st.ternary}
    rows.update({("int8", H): [m for part in p.parts for m in p.store.get("int8", p.int8(H, part)[1])["metrics"]]
                 for H in st.int8})
    recipe = {"ternary": p.recipe, "int8": (f"per-row symmetric PTQ of the teacher; QAT ({p.dflt['epochs']} epochs, "
                                            f"LR {p.dflt['lr']:g}) where PTQ loses more than "
                                            f"{100 * I8.PTQ_TOLERANCE:.0f}% of the validation score")}
    settings = {"teacher_epochs": p.dflt["teacher_epochs"], "teacher_lr": p.dflt["teacher_lr"],
                "epochs": p.dflt["epochs"], "lr": p.dflt["lr"], "stack": st.stack, "targets": list(st.targets),
                "bench_steps": BENCH_STEPS, "budget": st.budget}
    r = assemble(st, rows, {H: [_teacher_metrics(p, H, s) for s in seeds] for H in p.widths}, measured, recipe,
                 settings, time.perf_counter() - t0)
    write_reports(p.out, r, {H: int8_artifact(p, H, s) for H, s in best_int8_seeds(r).items()})
    log(f"frontier done in {r['wall_s']:.0f} s; wrote {p.out}/frontier.json, frontier.md, frontier.png and the "
        f"int8 models int8-H*.npz")
    return r
