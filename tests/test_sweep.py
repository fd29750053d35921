"""python -m trainer sweep: grid parsing, the same numbers on local processes and on Ray,
resuming after a kill, paired statistics, and agreement with the factorial's rows."""
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cfcbase import numerics
from cfcbase.tasks import builtin
from trainer.experiments import sweep
from trainer.reports import stats
from trainer.errors import TrainerError

TINY = ["--set", "epochs=15", "--set", "teacher_epochs=30"]
SINE = builtin("sine")


def run_cli(*args, timeout=600, env=None):
    env = dict(env or os.environ, PYTHONHASHSEED="0")
    return subprocess.run([sys.executable, "-m", "trainer", "sweep", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def numbers(path):
    r = json.loads((path / "sweep.json").read_text())
    return {(c["id"], s["seed"]): s["test_mse_washout"] for c in r["cells"] for s in c["seeds"]}


def test_grid_parsing_and_errors():
    g = sweep.parse_grid("distill=traj; alpha=0.3,0.8; alpha_schedule=const,rise,fall; H=8,64")
    assert g == [{"distill": ["traj"], "alpha": [0.3, 0.8], "alpha_schedule": ["const", "rise", "fall"], "H": [8, 64]}]
    assert len(sweep.cells(SINE, g)) == 12
    # without distillation alpha means nothing: those cells collapse into one per H
    assert len(sweep.cells(SINE, sweep.parse_grid("distill=none; alpha=0.3,0.8; H=8,64"))) == 2
    # a union of blocks, without repeats; cells named by what differs from the defaults
    u = sweep.cells(SINE, sweep.parse_grid("H=16,32 | ste=vanilla,shaped; beta=5,20"))
    dflt = sweep.defaults(SINE)
    assert [sweep.cell_id(c, dflt) for c in u] == ["default", "H=32", "ste=shaped,beta=5", "ste=shaped"]
    for bad, msg in [("alpha=2", r"alpha='2': must be in \[0, 1\]"), ("gamma=1", "unknown knob 'gamma'"),
                     ("H=16,16", "repeats a value"), ("alpha", "is not KNOB=V1,V2"), ("", "--grid is empty"),
                     ("ste=fancy", "must be one of vanilla, shaped"), ("H=1", "must be in 2..128")]:
        with pytest.raises(TrainerError, match=msg):
            sweep.parse_grid(bad)


def test_schedules():
    s = dict(alpha=0.8, alpha_schedule="rise", beta=20.0, beta_schedule="linear")
    assert sweep.schedules(s) == ((0.375 * 0.8, 0.8), (1.0, 20.0))        # the factorial's 0.3 -> 0.8
    assert sweep.schedules(dict(s, alpha_schedule="fall", beta_schedule="const")) == ((0.8, 0.375 * 0.8), (20.0, 20.0))
    assert sweep.schedules(dict(s, alpha_schedule="const"))[0] == (0.8, 0.8)


def test_paired_comparison_statistics():
    rng = np.random.default_rng(1)
    base = 10 ** rng.normal(-4, 0.3, 10)
    cells = [{"id": "b", "seeds": [{"test_mse_washout": v} for v in base]},
             {"id": "same", "seeds": [{"test_mse_washout": v * 10 ** rng.normal(0, 0.01)} for v in base]},
             {"id": "worse", "seeds": [{"test_mse_washout": v * 10 ** (1 + rng.normal(0, 0.05))} for v in base]}]
    rows = {r["id"]: r for r in stats.compare(cells, "b")}
    w = rows["worse"]
    assert w["ci95"][0] < w["mean_log10_diff"] < w["ci95"][1] and 0.9 < w["mean_log10_diff"] < 1.1
    assert w["p"] < 1e-8 and rows["same"]["p"] > 0.01
    # Holm: the smallest p times m, then monotone
    assert w["p_holm"] == pytest.approx(min(1, 2 * w["p"]))
    assert rows["same"]["p_holm"] >= w["p_holm"]
    # t quantile: the textbook 2.262 for 9 degrees of freedom
    assert stats.t_quantile(0.975, 9) == pytest.approx(2.2622, abs=1e-4)


# ---- Ray: a cluster of the test's own, and no Ray process left behind -------------------------

@pytest.mark.slow
def test_a_killed_sweep_reruns_only_the_missing_jobs(tmp_path):
    out = tmp_path / "s"
    args = ["--grid", "H=8,12; distill=none,traj", "--seeds", "2", "--stack", "1", *TINY, "--out", str(out),
            "--workers", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "trainer", "sweep", *args], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    jobs = out / "jobs"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:                  # 4 teachers + 8 students; kill after 6
        if jobs.is_dir() and len([p for p in jobs.iterdir() if not p.name.startswith(".")]) >= 6:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = sorted(p.name for p in jobs.iterdir() if not p.name.startswith("."))
    assert 6 <= len(stored) < 12, stored
    assert not (out / "sweep.json").exists()
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert f"{12 - len(stored)} to run ({len(stored)} cached" in r.stderr
    # the resumed result equals one computed in one go
    full = run_cli(*args[:-4], "--out", str(tmp_path / "full"), "--workers", "2")
    assert full.returncode == 0, full.stderr
    assert numbers(out) == numbers(tmp_path / "full")


def test_a_change_of_the_training_code_changes_every_key(tmp_path):
    import shutil
    from pathlib import Path
    root = Path(sweep.__file__).resolve().parents[3]
    for name in sweep.CODE_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / name, tmp_path / name)
    fp = sweep.code_fingerprint(tmp_path)
    assert fp == sweep.code_fingerprint()
    with open(tmp_path / "trainer" / "model" / "cell.py", "a") as f:
        f.write("# a comment\n")
    assert sweep.code_fingerprint(tmp_path) != fp
    assert sweep.job_key("student", {"seed": 0}, fp) != sweep.job_key("student", {"seed": 0}, sweep.code_fingerprint(tmp_path))


def test_cli_errors_are_one_line(tmp_path):
    for args, msg in [(["--grid", "gamma=1"], "unknown knob 'gamma'"),
                      (["--set", "epochs"], "expected KNOB=VALUE"),
                      (["--grid", "H=8,16", "--set", "H=8"], "--set H: the grid varies it already"),
                      (["--baseline", "nope"], "is not a cell of the grid"),
                      (["--seeds", "1"], "at least 2")]:
        r = run_cli(*args, "--out", str(tmp_path / "x"), timeout=60)
        assert r.returncode == 2 and msg in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)


@pytest.mark.slow
def test_the_factorial_preset_reproduces_the_factorials_rows(tmp_path):
    """The same students through both paths: the factorial stacks configs and seeds, the sweep
    trains one model per job, so the sums differ only in rounding."""
    from trainer.experiments.configs import CONFIGS
    fac = subprocess.run([sys.executable, "-m", "trainer", "factorial", "--task", "sine", "--seeds", "2",
                          "--epochs", "15", "--teacher-epochs", "30", "--cs-sweeps", "1", "--refit-epochs", "1",
                          "--out", str(tmp_path / "fac")], capture_output=True, text=True, timeout=600)
    assert fac.returncode == 0, fac.stderr
    sw = run_cli("--grid", "factorial", "--seeds", "2", *TINY,
                 "--out", str(tmp_path / "sw"))
    assert sw.returncode == 0, sw.stderr
    f = json.loads((tmp_path / "fac" / "factorial.json").read_text())
    got = numbers(tmp_path / "sw")
    cells = json.loads((tmp_path / "sw" / "sweep.json").read_text())["cells"]
    for c, (shaped, traj, H) in CONFIGS.items():
        want_settings = {"ste": "shaped" if shaped else "vanilla", "distill": "traj" if traj else "none", "H": H}
        cid = next(x["id"] for x in cells if all(x["settings"][k] == v for k, v in want_settings.items()))
        for seed in (0, 1):
            want = next(r for r in f["runs"] if r["config"] == c and r["seed"] == seed)["test_mse_washout"]
            assert got[cid, seed] == pytest.approx(want, rel=1e-9), (c, seed)


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("task,sub", [("sine", "sweep"), ("sine-mix", "sweep"), ("sine-mix", "sweep-techniques"),
                                      ("sine-mix", "sweep-length")])
def test_the_committed_sweep_is_this_codes_and_the_docs_command(task, sub, tmp_path):
    """results/<task>/<sub>/ (the knob sweep, the technique sweep) was computed by this training
    code: its settings, rerun, find every job in the committed cache and write the same sweep.json
    and sweep.md; and the command in docs/training.md asks for exactly that grid, seeds and baseline."""
    from trainer.cli import build_parser
    src = ROOT / "results" / task / sub
    committed = json.loads((src / "sweep.json").read_text())
    shutil.copytree(src / "jobs", tmp_path / "jobs")
    st = sweep.settings_of(committed, tmp_path)
    st.workers = 1
    todo_t, todo_s = sweep.Plan(st).todo()
    assert not todo_t and not todo_s, (
        f"results/{task}/sweep is not this training code's: {len(todo_t)} teacher and {len(todo_s)} student "
        "jobs would be recomputed; rerun the sweep command in docs/training.md and commit the result")
    sweep.run(st)
    if numerics.status()["pinned"]:
        # the statistics are recomputed here from the cached metrics: on the pinned numerics
        # (cfcbase.numerics) they are the committed bytes on any x86-64-v3 CPU
        for name in ("sweep.json", "sweep.md"):
            assert (tmp_path / name).read_bytes() == (src / name).read_bytes(), f"{name} differs from results/{task}/sweep"
    else:
        # elsewhere (aarch64, a CPU below x86-64-v3) log10, the t distribution and the means may
        # round differently in the last bits: the same numbers to 1e-12 relative
        new, old = json.loads((tmp_path / "sweep.json").read_text()), committed
        assert _same_numbers(new, old, 1e-12), f"sweep.json differs from results/{task}/sweep beyond 1e-12"

    doc = (ROOT / "docs" / "training.md").read_text().splitlines()
    cmds = [line for line in doc if line.startswith(f"python -m trainer sweep --task {task} ")
            and (f"--out results/{task}/{sub}" in line if sub != "sweep" else "--out" not in line)]
    assert len(cmds) == 1, cmds
    a = build_parser().parse_args(shlex.split(cmds[0])[3:])
    assert (a.out or f"results/{task}/sweep") == f"results/{task}/{sub}"
    overrides = {k: v for k, v in (i.split("=", 1) for i in a.set)}
    assert {k: sweep.KNOBS[k].parse(v) for k, v in overrides.items()} == (st.overrides or {})
    assert json.loads(json.dumps(sweep.parse_grid(a.grid))) == committed["grid"]
    assert (a.seeds, a.baseline, a.stack) == (len(committed["seeds"]), committed["baseline"], committed["stack"])


def _same_numbers(a, b, rtol) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_numbers(a[k], b[k], rtol) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same_numbers(x, y, rtol) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=rtol, abs_tol=0.0)
    return a == b


def test_dry_run_counts_and_writes_nothing(tmp_path):
    out = tmp_path / "s"
    r = run_cli("--grid", "H=8,12; distill=none,traj", "--seeds", "2", *TINY, "--out", str(out), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "4 cells x 2 seeds in stacks of 5; 2 teacher and 4 student jobs, 6 to run (0 cached" in r.stdout
    assert "H=8 (baseline)" in r.stdout and "distill=traj" in r.stdout
    assert not out.exists()


# ---- the cache trusts only what it wrote ------------------------------------------------------

def tiny_settings(out):
    return sweep.SweepSettings(task=SINE, grid="distill=none,traj", seeds=2, out=str(out), workers=1,
                               overrides={"epochs": 15, "teacher_epochs": 30})


@pytest.fixture(scope="module")
def clean_sweep(tmp_path_factory):
    """A tiny sweep computed from scratch: 1 teacher and 2 student jobs, and its sweep.json."""
    out = tmp_path_factory.mktemp("clean") / "s"
    sweep.run(tiny_settings(out))
    return out


def tampered_rerun(clean, tmp_path, capsys, tamper):
    """Copy the clean sweep, tamper with its jobs (tamper(plan, jobs dir)), rerun it: returns the
    log; the rerun's sweep.json must be the clean one, byte for byte, and a third run must find
    every job (the bad files were replaced)."""
    out = tmp_path / "s"
    shutil.copytree(clean, out)
    (out / "sweep.json").unlink()
    plan = sweep.Plan(tiny_settings(out))
    tamper(plan, out / "jobs")
    capsys.readouterr()
    sweep.run(tiny_settings(out))
    err = capsys.readouterr().err
    assert (out / "sweep.json").read_bytes() == (clean / "sweep.json").read_bytes()
    assert sweep.Plan(tiny_settings(out)).todo() == ([], [])
    return err


def student_files(plan):
    return [plan.store.path("student", k) for k in plan.students]


def test_a_planted_job_with_settings_not_its_names_is_recomputed(clean_sweep, tmp_path, capsys):
    def plant(plan, jobs):
        p = student_files(plan)[0]
        rec = json.loads(p.read_text())
        rec["settings"]["epochs"] = 600                    # another job's settings, under this name
        rec["metrics"][0]["test_mse_washout"] = 1e-12
        rec["digest"] = sweep.job_digest("student", rec["key"], rec["metrics"])   # consistent in itself
        p.write_text(json.dumps(rec))
    err = tampered_rerun(clean_sweep, tmp_path, capsys, plant)
    assert "its settings and code do not hash to its name; recomputing" in err
    assert "1 to run (2 cached" in err


def test_an_edited_metric_is_recomputed(clean_sweep, tmp_path, capsys):
    def edit(plan, jobs):
        p = student_files(plan)[1]
        p.write_text(p.read_text().replace('"test_mse_washout": ', '"test_mse_washout": 1e-12, "x": ', 1))
    err = tampered_rerun(clean_sweep, tmp_path, capsys, edit)
    assert "its content does not match its digest (edited or damaged); recomputing" in err


@pytest.mark.parametrize("name, value, why", [
    ("test_mse_washout", float("nan"), "seed 0: test_mse_washout = nan, not a finite positive number"),
    ("val_mse_washout", -1.0, "seed 0: val_mse_washout = -1.0, not a finite positive number"),
    ("flip_rate", float("inf"), "seed 0: flip_rate = inf, not a finite number"),
])
def test_a_job_whose_metrics_are_not_finite_is_recomputed(clean_sweep, tmp_path, capsys, name, value, why):
    """A record consistent in itself (its digest recomputed) with a metric that is NaN, infinite
    or (a headline MSE) not positive is no result: recomputed."""
    def plant(plan, jobs):
        p = student_files(plan)[0]
        rec = json.loads(p.read_text())
        rec["metrics"][0][name] = value
        rec["digest"] = sweep.job_digest("student", rec["key"], rec["metrics"])
        p.write_text(json.dumps(rec))
    err = tampered_rerun(clean_sweep, tmp_path, capsys, plant)
    assert f"{why}; recomputing" in err, err


def test_swapped_job_files_are_both_recomputed(clean_sweep, tmp_path, capsys):
    def swap(plan, jobs):
        a, b = student_files(plan)
        ta, tb = a.read_bytes(), b.read_bytes()
        a.write_bytes(tb)
        b.write_bytes(ta)
    err = tampered_rerun(clean_sweep, tmp_path, capsys, swap)
    assert err.count("not the job its name says; recomputing") == 2
    assert "2 to run (1 cached" in err


def test_a_json_list_is_recomputed(clean_sweep, tmp_path, capsys):
    def lst(plan, jobs):
        student_files(plan)[0].write_text("[1, 2, 3]\n")
    err = tampered_rerun(clean_sweep, tmp_path, capsys, lst)
    assert "not a job record (a JSON list); recomputing" in err


def test_a_truncated_teacher_is_recomputed(clean_sweep, tmp_path, capsys):
    def cut(plan, jobs):
        (p,) = [plan.store.path("teacher", k) for k in plan.teachers]
        p.write_bytes(p.read_bytes()[:1000])
    err = tampered_rerun(clean_sweep, tmp_path, capsys, cut)
    assert "unreadable (BadZipFile: File is not a zip file); recomputing" in err
    assert "1 to run (2 cached" in err


def test_the_docs_knob_table_is_knobs():
    """docs/sweep.md lists every knob of KNOBS, in order, with its default: a number or word, or
    the factorial's per-task figures (configs.TASK_DEFAULTS) for a knob whose default is None."""
    from trainer.experiments.configs import TASK_DEFAULTS
    from trainer.experiments.sweep.grid import fmt
    rows = [line.split("|")[1:5] for line in (ROOT / "docs" / "sweep.md").read_text().splitlines()
            if line.startswith("| `")]
    assert [r[0].strip().strip("`") for r in rows] == list(sweep.KNOBS)
    for (name, _, default, _), (k, knob) in zip(rows, sweep.KNOBS.items()):
        if knob.default is None:
            want = "the factorial's (" + ", ".join(f"`{t}` {fmt(TASK_DEFAULTS[t][k])}" for t in ("sine", "sine-mix")) + ")"
        else:
            want = f"`{knob.default}`" if isinstance(knob.default, str) else fmt(knob.default)
        assert default.strip() == want, (k, default)
