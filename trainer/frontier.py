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

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cfcbase import tasks
from cfcbase.artifact import DATA_TASK, Artifact

from . import int8 as I8
from . import train
from .errors import TrainerError
from .sweep import jobs as sjobs
from .sweep.grid import KNOBS, canonical, cell_id, defaults
from .sweep.progress import Progress, log
from .sweep.store import Store

FORMAT_VERSION = 1                              # of frontier.json
TERNARY_WIDTHS = (8, 16, 32, 64)
INT8_WIDTHS = (4, 8, 16, 32)
TARGETS = ("cortex-m4", "nrf51")
TERNARY_SET = {"ste": "shaped"}                 # the factorial's shaped STE (constant beta 20)
BENCH_STEPS = 200                               # BENCH steps per measurement


@dataclass
class FrontierSettings:
    task: str = "sine-mix"
    seeds: int = 5
    ternary: tuple = TERNARY_WIDTHS
    int8: tuple = INT8_WIDTHS
    epochs: int | None = None                   # students and int8 QAT (None: the factorial's)
    teacher_epochs: int | None = None
    teacher_lr: float | None = None
    ternary_set: dict = field(default_factory=lambda: dict(TERNARY_SET))
    targets: tuple = TARGETS
    qemu: bool = True
    out: str = ""
    workers: int = os.cpu_count() or 1
    stack: int = 5
    command: str = ""
    build_root: str | None = None


# ---- jobs ---------------------------------------------------------------------------------

def job_int8(task: str, H: int, seeds: tuple, teacher_flat, epochs: int, lr: float) -> dict:
    """int8 models of a teacher stack: PTQ, and QAT where PTQ loses more than I8.PTQ_TOLERANCE of
    the teacher's validation washout MSE; per seed the better on validation. Returns the metrics per
    seed (with `qat` 0/1 and the PTQ figures) and the chosen models' parameters (student layout)."""
    sjobs._quiet()
    I = tasks.n_inputs(task)
    teacher = train.Params(H, len(seeds), I, flat=np.asarray(teacher_flat))
    tev = train.evaluate(train.effective(teacher), task, ("val",))
    p = I8.ptq(teacher)
    ev = train.evaluate(train.effective(p, I8.INT8_SCHEME), task)
    chosen = p.copy()
    qat = [0] * len(seeds)
    need = [e["val_mse_washout"] > (1 + I8.PTQ_TOLERANCE) * t["val_mse_washout"] for e, t in zip(ev, tev)]
    qev = None
    if any(need):
        q, _, _ = I8.train_int8(task, teacher, epochs, lr)
        qev = train.evaluate(train.effective(q, I8.INT8_SCHEME), task)
        for m in range(len(seeds)):
            if qev[m]["val_mse_washout"] < ev[m]["val_mse_washout"]:
                chosen.flat[m] = q.flat[m]
                qat[m] = 1
    out = []
    for m in range(len(seeds)):
        e = qev[m] if qat[m] else ev[m]
        out.append({**e, "qat": qat[m], "qat_ran": int(qev is not None),
                    "ptq_val_mse_washout": ev[m]["val_mse_washout"], "ptq_test_mse_washout": ev[m]["test_mse_washout"],
                    "qat_test_mse_washout": qev[m]["test_mse_washout"] if qev else ev[m]["test_mse_washout"]})
    return {"flat": chosen.flat.copy(), "metrics": out}


CODE_FUNCTIONS = (job_int8,)


# ---- the plan -----------------------------------------------------------------------------

def _chunks(n, stack):
    return [tuple(range(a, min(a + stack, n))) for a in range(0, n, stack)]


class Plan:
    """The jobs of a frontier: teachers per (width, chunk of seeds), ternary students, int8 models."""

    def __init__(self, st: FrontierSettings):
        self.st = st
        d = dict(defaults(st.task))
        for k, v in (("epochs", st.epochs), ("teacher_epochs", st.teacher_epochs), ("teacher_lr", st.teacher_lr)):
            if v is not None:
                d[k] = v
        self.dflt = d
        for k, v in st.ternary_set.items():
            if k not in KNOBS or k in ("H", "epochs", "teacher_epochs", "teacher_lr"):
                raise TrainerError(f"--ternary-set {k}: not a student knob here (knobs: "
                                   f"{', '.join(k for k in KNOBS if k not in ('H', 'epochs', 'teacher_epochs', 'teacher_lr'))})")
        self.recipe = cell_id(canonical(dict(d, **st.ternary_set), d), d)
        import inspect  # noqa: PLC0415
        code = sjobs.code_fingerprint() + "|" + __import__("hashlib").sha256(
            "".join(inspect.getsource(f) for f in CODE_FUNCTIONS).encode()).hexdigest()[:12]
        from cfcbase import numerics  # noqa: PLC0415
        self.code = code + ("|" + numerics.fingerprint() if numerics.fingerprint() else "")
        self.out = Path(st.out)
        self.store = Store(self.out, self.code)
        self.parts = _chunks(st.seeds, st.stack)
        self.widths = sorted(set(st.ternary) | set(st.int8))

    def teacher(self, H, part):
        ts = {"task": self.st.task, "seeds": list(part), "H": H, "teacher_epochs": self.dflt["teacher_epochs"],
              "teacher_lr": self.dflt["teacher_lr"]}
        return ts, sjobs.job_key("teacher", ts, self.code)

    def student(self, H, part):
        c = canonical(dict(self.dflt, **self.st.ternary_set, H=H), self.dflt)
        ss = {"task": self.st.task, "seeds": list(part), **c}
        return c, ss, sjobs.job_key("student", ss, self.code)

    def int8(self, H, part):
        s8 = {"task": self.st.task, "seeds": list(part), "H": H, "epochs": self.dflt["epochs"],
              "lr": self.dflt["lr"], "teacher_epochs": self.dflt["teacher_epochs"],
              "teacher_lr": self.dflt["teacher_lr"], "ptq_tolerance": I8.PTQ_TOLERANCE}
        return s8, sjobs.job_key("int8", s8, self.code)


def _run_jobs(fn, argslist, workers, on_done):
    from .sweep.backends import LocalBackend  # noqa: PLC0415
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
    log(f"frontier {tasks.label(st.task)}: ternary H = {', '.join(map(str, st.ternary))} ({p.recipe}), int8 H = "
        f"{', '.join(map(str, st.int8))}, float teachers H = {', '.join(map(str, p.widths))}; {st.seeds} seeds in "
        f"stacks of {st.stack}; {n_jobs} jobs, {todo} to run ({n_jobs - todo} cached in {p.store.dir})")
    prog = Progress(todo)

    def t_done(i, res):
        H, part = todo_t[i]
        ts, k = p.teacher(H, part)
        p.store.put("teacher", k, ts, res)
        prog.tick(f"teachers H={H} seeds {part[0]}-{part[-1]}: test washout "
                  + " ".join(f"{m['test_mse_washout']:.1e}" for m in res["metrics"]))
    _run_jobs(sjobs.job_teacher, [(st.task, H, p.dflt["teacher_epochs"], p.dflt["teacher_lr"], part)
                                  for H, part in todo_t], st.workers, t_done)

    def tflat(H, part):
        return p.store.get("teacher", p.teacher(H, part)[1])["flat"]

    def s_done(i, res):
        H, part = todo_s[i]
        _, ss, k = p.student(H, part)
        p.store.put("student", k, ss, res)
        prog.tick(f"ternary H={H} seeds {part[0]}-{part[-1]}: test washout "
                  + " ".join(f"{m['test_mse_washout']:.1e}" for m in res["metrics"]))

    def i_done(i, res):
        H, part = todo_8[i - len(todo_s)]
        s8, k = p.int8(H, part)
        p.store.put("int8", k, s8, res)
        prog.tick(f"int8 H={H} seeds {part[0]}-{part[-1]}: test washout "
                  + " ".join(f"{m['test_mse_washout']:.1e}{'*' if m['qat'] else ''}" for m in res["metrics"]))

    args = [(sjobs.job_student, (st.task, p.student(H, part)[0], part, tflat(H, part))) for H, part in todo_s]
    args += [(job_int8, (st.task, H, part, tflat(H, part), p.dflt["epochs"], p.dflt["lr"])) for H, part in todo_8]
    _run_jobs(_call, args, st.workers, lambda i, res: (s_done if i < len(todo_s) else i_done)(i, res))


def _call(fn, args):
    """fn(*args): one backend call for two kinds of job."""
    return fn(*args)


# ---- the models measured on the targets --------------------------------------------------

def _artifact(task, H, levels, s, b, tau, w_o, b_o, fmt, config, metrics, teacher_flat) -> Artifact:
    """An artifact (docs/artifact.md) of one model of the frontier and the teacher it came from."""
    I = tasks.n_inputs(task)
    tp = train.Params(H, 1, I, flat=teacher_flat)
    W = tp.W[0]
    data = scaling = None
    art_task = task
    if tasks.is_data_task(task):
        from .factorial import recorded_data_path  # noqa: PLC0415
        d = tasks.series_data(task)
        data = dict(tasks.spec_dict(d.spec), path=recorded_data_path(d.spec.path), inputs=list(d.inputs),
                    target=d.target)
        art_task = DATA_TASK
        scaling = {"input_offset": d.x_scaling.offset, "input_scale": d.x_scaling.scale,
                   "target_offset": float(d.y_scaling.offset[0]), "target_scale": float(d.y_scaling.scale[0])}
    return Artifact(
        data=data, scaling=scaling, I=I, H=H, dt=train.cell.DT,
        trits_f=levels[:H].astype(np.int8), trits_g=levels[H:].astype(np.int8), scale_f=s[:H], scale_g=s[H:],
        b_f=b[:H], b_g=b[H:], tau=tau, w_o=w_o, b_o=float(b_o), task=art_task, config=config, metrics=metrics,
        format_f=fmt, format_g=fmt,
        teacher={"W_f": W[:H], "W_g": W[H:], "b_f": tp.b[0, :H], "b_g": tp.b[0, H:], "tau": tp.tau[0],
                 "w_o": tp.w_o[0], "b_o": tp.b_o[0, 0]})


def int8_artifact(p: Plan, H: int, seed: int) -> Artifact:
    """The int8 model of (width, seed) as an artifact (version 4)."""
    part = next(c for c in p.parts if seed in c)
    res = p.store.get("int8", p.int8(H, part)[1])
    m = part.index(seed)
    q = train.Params(H, len(part), tasks.n_inputs(p.st.task), student=True, flat=res["flat"])
    fz = I8.frozen_int8(q, m)
    met = res["metrics"][m]
    how = "qat" if met["qat"] else "ptq"
    metrics = {"seed": seed, "config": f"int8-{how}+H{H}", "val_mse_washout": met["val_mse_washout"],
               "test_mse": met["test_mse"], "test_mse_washout": met["test_mse_washout"],
               "teacher_test_mse_washout": _teacher_metrics(p, H, seed)["test_mse_washout"],
               "selected_on": "val_mse_washout"}
    return _artifact(p.st.task, H, fz["trits"], fz["s"], fz["b"], fz["tau"], fz["w_o"], fz["b_o"], "int8",
                     f"int8-{how}+H{H}", metrics, _teacher_flat(p, H, seed))


def ternary_shape_artifact(p: Plan, H: int, seed: int = 0) -> Artifact:
    """A ternary model of width H for the measurements (its cost depends on the shape only): the
    post-training quantization of the seed's teacher."""
    tflat = _teacher_flat(p, H, seed)
    tp = train.Params(H, 1, tasks.n_inputs(p.st.task), flat=tflat)
    fz = train.frozen(train.ptq(tp), 0, "coupled")
    return _artifact(p.st.task, H, fz["trits"], fz["s"], fz["b"], fz["tau"], fz["w_o"], fz["b_o"], "ternary",
                     f"ptq+H{H}", {"seed": seed}, tflat)


def _teacher_flat(p, H, seed):
    part = next(c for c in p.parts if seed in c)
    return p.store.get("teacher", p.teacher(H, part)[1])["flat"][part.index(seed)]


def _teacher_metrics(p, H, seed):
    part = next(c for c in p.parts if seed in c)
    return p.store.get("teacher", p.teacher(H, part)[1])["metrics"][part.index(seed)]


def measure(art: Artifact, target: str, build_root=None) -> dict:
    """Flash and RAM of trix_fw with this model, and instructions per cell step by BENCH under QEMU."""
    import tempfile  # noqa: PLC0415

    from host.build import build, footprint  # noqa: PLC0415
    from host.client import Client  # noqa: PLC0415
    from host.model import load_model  # noqa: PLC0415
    from host.qemu import check_tools, launch  # noqa: PLC0415
    from host.verify import instructions  # noqa: PLC0415
    from cfcbase.artifact import save_artifact  # noqa: PLC0415
    check_tools([target], build=True, run=True)
    with tempfile.TemporaryDirectory(prefix="frontier-") as d:
        path = os.path.join(d, "model.npz")
        save_artifact(art, path)
        model = load_model(path, allow_lossy=True)
    fw = build(target, model, build_root)
    fp = footprint(target, fw.elf)
    with launch(target, fw.elf) as link:
        c = Client(link, timeout=60.0)
        c.sync()
        h = c.hello()
        b = c.bench(BENCH_STEPS)
    ins = instructions(target, b, emulated=True)
    return {"flash": fp["flash"], "ram": fp["ram"], "per_step": ins["per_step"], "unit": ins["unit"],
            "kernel": h.kernel, "model_hash": h.hash_hex}


# ---- the command ---------------------------------------------------------------------------

def run(st: FrontierSettings) -> dict:
    t0 = time.perf_counter()
    if not tasks.is_data_task(st.task) and st.task not in tasks.TASKS:
        raise TrainerError(f"unknown task {st.task!r} (known: {', '.join(tasks.TASKS)})")
    if st.seeds < 2:
        raise TrainerError(f"--seeds must be at least 2 (paired comparisons), got {st.seeds}")
    for name, ws in (("--ternary", st.ternary), ("--int8", st.int8)):
        if not ws or any(not 1 <= h <= 128 for h in ws):
            raise TrainerError(f"{name}: widths in 1..128 expected, got {', '.join(map(str, ws)) or 'none'}")
    from .factorial import check_out_dir  # noqa: PLC0415
    if tasks.is_data_task(st.task):
        from .factorial import load_data  # noqa: PLC0415
        load_data(st.task)
    if st.qemu:
        from host.qemu import check_tools  # noqa: PLC0415
        from host.targets import KNOWN_TARGETS, TARGETS as TABLE  # noqa: PLC0415
        bad = [t for t in st.targets if t not in KNOWN_TARGETS or TABLE[t].count != "instructions"]
        if bad:
            raise TrainerError(f"--targets {', '.join(bad)}: instructions are counted on the bare-metal targets "
                               f"only ({', '.join(t for t in KNOWN_TARGETS if TABLE[t].count == 'instructions')})")
        check_tools(list(st.targets), build=True, run=True)
    check_out_dir(st.out)
    p = Plan(st)
    train_all(p)
    measured = {}
    if st.qemu:
        shapes = [("ternary", H) for H in st.ternary] + [("int8", H) for H in st.int8]
        prog = Progress(len(shapes) * len(st.targets))
        for fmt, H in shapes:
            art = ternary_shape_artifact(p, H) if fmt == "ternary" else int8_artifact(p, H, 0)
            for t in st.targets:
                mt = measure(art, t, st.build_root)
                measured.setdefault((fmt, H), {})[t] = mt
                prog.tick(f"{t} {fmt} H={H}: {mt['per_step']:,.0f} instructions per step, flash {mt['flash']:,} B, "
                          f"RAM {mt['ram']:,} B (kernel {mt['kernel']})")
    from .frontier_report import assemble, write_reports  # noqa: PLC0415
    r = assemble(p, measured, time.perf_counter() - t0)
    write_reports(p, r)
    log(f"frontier done in {r['wall_s']:.0f} s; wrote {p.out}/frontier.json, frontier.md, frontier.png and the "
        f"int8 models int8-H*.npz")
    return r
