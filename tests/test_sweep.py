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
from trainer import sweep
from trainer.errors import TrainerError

TINY = ["--set", "epochs=15", "--set", "teacher_epochs=30"]


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
    assert len(sweep.cells("sine", g)) == 12
    # without distillation alpha means nothing: those cells collapse into one per H
    assert len(sweep.cells("sine", sweep.parse_grid("distill=none; alpha=0.3,0.8; H=8,64"))) == 2
    # a union of blocks, without repeats; cells named by what differs from the defaults
    u = sweep.cells("sine", sweep.parse_grid("H=16,32 | ste=vanilla,shaped; beta=5,20"))
    dflt = sweep.defaults("sine")
    assert [sweep.cell_id(c, dflt) for c in u] == ["default", "H=32", "ste=shaped,beta=5", "ste=shaped"]
    for bad, msg in [("alpha=2", r"alpha='2': must be in \[0, 1\]"), ("gamma=1", "unknown knob 'gamma'"),
                     ("H=16,16", "repeats a value"), ("alpha", "is not KNOB=V1,V2"), ("", "--grid is empty"),
                     ("ste=fancy", "must be one of vanilla, shaped"), ("H=1", "must be in 2..128")]:
        with pytest.raises(TrainerError, match=msg):
            sweep.parse_grid(bad)


def test_schedules():
    s = dict(alpha=0.8, alpha_schedule="rise", beta=20.0, beta_schedule="linear")
    assert sweep.schedules(s) == ((0.375 * 0.8, 0.8), (1.0, 20.0))        # the seeds' 0.3 -> 0.8
    assert sweep.schedules(dict(s, alpha_schedule="fall", beta_schedule="const")) == ((0.8, 0.375 * 0.8), (20.0, 20.0))
    assert sweep.schedules(dict(s, alpha_schedule="const"))[0] == (0.8, 0.8)


def test_paired_comparison_statistics():
    rng = np.random.default_rng(1)
    base = 10 ** rng.normal(-4, 0.3, 10)
    cells = [{"id": "b", "seeds": [{"test_mse_washout": v} for v in base]},
             {"id": "same", "seeds": [{"test_mse_washout": v * 10 ** rng.normal(0, 0.01)} for v in base]},
             {"id": "worse", "seeds": [{"test_mse_washout": v * 10 ** (1 + rng.normal(0, 0.05))} for v in base]}]
    rows = {r["id"]: r for r in sweep.compare(cells, "b")}
    w = rows["worse"]
    assert w["ci95"][0] < w["mean_log10_diff"] < w["ci95"][1] and 0.9 < w["mean_log10_diff"] < 1.1
    assert w["p"] < 1e-8 and rows["same"]["p"] > 0.01
    # Holm: the smallest p times m, then monotone
    assert w["p_holm"] == pytest.approx(min(1, 2 * w["p"]))
    assert rows["same"]["p_holm"] >= w["p_holm"]
    # t quantile: the textbook 2.262 for 9 degrees of freedom
    assert sweep.t_quantile(0.975, 9) == pytest.approx(2.2622, abs=1e-4)


# ---- Ray: a cluster of the test's own, and no Ray process left behind -------------------------

def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_with(marker: bytes) -> list:
    """Pids whose environment holds `marker` (the HOME the Ray tests give every process they start)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                with open(f"/proc/{d}/environ", "rb") as f:
                    if marker in f.read():
                        out.append(int(d))
            except OSError:
                pass
    return out


@pytest.fixture
def ray_env(tmp_path):
    """An environment for Ray processes with a HOME of their own (no ~/.ray/auth_token of the
    user's); after the test no process with that HOME may be left."""
    pytest.importorskip("ray")
    import tempfile
    home = Path(tempfile.mkdtemp(prefix="rayhome", dir="/tmp"))     # short: Ray's socket paths have a limit
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), RAY_USAGE_STATS_ENABLED="0")
    yield env
    marker = f"HOME={home}".encode() + b"\0"
    left = processes_with(marker)
    for pid in left:                                   # ours: started under this HOME
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(home, ignore_errors=True)
    assert not left, f"Ray processes left behind: {left}"


class RayHead:
    """`ray start --head --block` on free ports with its own temp dir, stopped by killing the
    processes it started (never `ray stop`, which stops every Ray on the machine)."""

    def __init__(self, env, auth_token=None):
        import tempfile
        self.temp = tempfile.mkdtemp(prefix="rayh", dir="/tmp")
        self.port = free_port()
        self.env = dict(env)
        if auth_token:
            self.env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=auth_token)
        else:
            self.env["RAY_AUTH_MODE"] = "disabled"
        ports = []
        for opt in ("--dashboard-port", "--dashboard-agent-listen-port",
                    "--dashboard-agent-grpc-port", "--metrics-export-port", "--runtime-env-agent-port"):
            ports += [opt, str(free_port())]
        ray = str(Path(sys.executable).parent / "ray")
        self.log = open(Path(self.temp) / "start.log", "wb")
        self.proc = subprocess.Popen([ray, "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
                                      "--port", str(self.port), "--temp-dir", self.temp, "--num-cpus", "1",
                                      "--include-dashboard=false", "--disable-usage-stats", *ports],
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while b"Ray runtime started" not in (Path(self.temp) / "start.log").read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                said = (Path(self.temp) / "start.log").read_text()[-2000:]
                self.stop()
                raise RuntimeError(f"ray start failed: {said}")
            time.sleep(0.2)
        self.address = f"127.0.0.1:{self.port}"

    def stop(self):
        pids = [self.proc.pid] + descendants(self.proc.pid)
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and any(alive(p) for p in pids):
                time.sleep(0.2)
        self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.temp, ignore_errors=True)


def descendants(pid) -> list:
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
            except OSError:
                pass
    out, todo = [], list(kids.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def alive(pid) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def ray_head(ray_env):
    heads = []

    def start(auth_token=None):
        heads.append(RayHead(ray_env, auth_token))
        return heads[-1]
    yield start
    for h in heads:
        h.stop()


@pytest.mark.slow
@pytest.mark.parametrize("other_cluster", [False, True], ids=["alone", "beside-another-cluster"])
def test_local_and_ray_give_identical_numbers(tmp_path, other_cluster, ray_env, ray_head):
    """--ray starts a Ray instance of its own, also when another cluster runs on the machine and
    RAY_ADDRESS names it (it used to join that cluster and fail with a ValueError)."""
    grid = "distill=none,traj"
    a = run_cli("--grid", grid, "--seeds", "2", *TINY, "--out", str(tmp_path / "local"), "--workers", "2")
    assert a.returncode == 0, a.stderr
    env = dict(ray_env)
    if other_cluster:
        env["RAY_ADDRESS"] = ray_head().address             # a 1-CPU cluster started by someone else
    b = run_cli("--grid", grid, "--seeds", "2", *TINY, "--out", str(tmp_path / "ray"), "--ray", "--workers", "2",
                env=env)
    assert b.returncode == 0, b.stderr
    assert "backend: ray (local instance, 2 CPUs)" in b.stderr
    assert "Traceback" not in b.stderr and "WARNING" not in b.stderr, b.stderr
    assert numbers(tmp_path / "local") == numbers(tmp_path / "ray")
    assert (tmp_path / "local" / "sweep.json").read_bytes() == (tmp_path / "ray" / "sweep.json").read_bytes()
    assert (tmp_path / "local" / "sweep.md").is_file() and (tmp_path / "local" / "sweep.png").is_file()


def test_an_unreachable_ray_address_is_one_line_within_30_s(tmp_path, ray_env):
    port = free_port()                                      # closed again: nothing listens there
    t0 = time.monotonic()
    r = run_cli("--grid", "distill=none", "--seeds", "2", *TINY, "--out", str(tmp_path / "s"),
                "--ray", f"127.0.0.1:{port}", env=ray_env, timeout=60)
    assert time.monotonic() - t0 < 30
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1] == (f"error: --ray 127.0.0.1:{port}: cannot connect to 127.0.0.1:{port} (Connection refused); "
                         f"is a Ray head running there (ray start --head --port {port})?"), r.stderr
    assert len(lines) == 2 and "Traceback" not in r.stderr        # the plan's summary line, then the error
    assert not (tmp_path / "s").exists()
    for bad in ("nohost", "a:b", "1.2.3.4:99999", "ray://x:1"):
        r = run_cli("--grid", "distill=none", "--seeds", "2", "--out", str(tmp_path / "s"), "--ray", bad,
                    env=ray_env, timeout=60)
        assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith(f"error: --ray {bad!r}: expected "
                                                                                   "local, auto or HOST:PORT"), r.stderr


@pytest.mark.slow
def test_a_silent_ray_address_is_one_line_within_the_bound(tmp_path, ray_env):
    """A port that accepts connections and never answers (not Ray): stopped at RAY_CONNECT_TIMEOUT."""
    import socket
    srv = socket.socket()
    srv.bind(("0.0.0.0", 0))
    srv.listen(64)
    port = srv.getsockname()[1]
    try:
        t0 = time.monotonic()
        r = run_cli("--grid", "distill=none", "--seeds", "2", *TINY, "--out", str(tmp_path / "s"),
                    "--ray", f"127.0.0.1:{port}", env=ray_env, timeout=120)
        took = time.monotonic() - t0
    finally:
        srv.close()
    assert r.returncode == 2 and took < sweep.RAY_CONNECT_TIMEOUT + 15, (took, r.stderr)
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: --ray 127.0.0.1:{port}: no answer from Ray at 127.0.0.1:{port} within 30 s "
                           "(Ray's messages: "), r.stderr
    assert len(r.stderr.strip().splitlines()) == 2 and not (tmp_path / "s").exists()
    os.unlink(last.rsplit("Ray's messages: ", 1)[1].rstrip(")"))


@pytest.mark.slow
def test_a_cluster_with_token_authentication(tmp_path, ray_env, ray_head):
    """Without the token: one line naming what to set; with RAY_AUTH_MODE=token and the token:
    the same numbers as local processes."""
    import secrets
    token = secrets.token_hex(32)
    head = ray_head(auth_token=token)
    args = ["--grid", "distill=none,traj", "--seeds", "2", *TINY]
    t0 = time.monotonic()
    r = run_cli(*args, "--out", str(tmp_path / "no"), "--ray", head.address, env=ray_env, timeout=120)
    assert r.returncode == 2 and time.monotonic() - t0 < 30, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[-1] == (
        f"error: --ray {head.address}: the Ray cluster at {head.address} requires token authentication and refused "
        "this client: set RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN (or in the file "
        "RAY_AUTH_TOKEN_PATH names, default ~/.ray/auth_token; `ray get-auth-token` on the head prints it)"), r.stderr
    assert not (tmp_path / "no").exists()
    wrong = run_cli(*args, "--out", str(tmp_path / "wrong"), "--ray", head.address, timeout=120,
                    env=dict(ray_env, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32)))
    assert wrong.returncode == 2 and "requires token authentication and refused" in wrong.stderr, wrong.stderr
    ok = run_cli(*args, "--out", str(tmp_path / "ok"), "--ray", head.address, timeout=300,
                 env=dict(ray_env, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token))
    assert ok.returncode == 0, ok.stderr
    assert f"backend: ray ({head.address}, 1 CPUs)" in ok.stderr and "Traceback" not in ok.stderr
    local = run_cli(*args, "--out", str(tmp_path / "local"), "--workers", "2")
    assert local.returncode == 0, local.stderr
    assert (tmp_path / "ok" / "sweep.json").read_bytes() == (tmp_path / "local" / "sweep.json").read_bytes()


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
    root = Path(sweep.__file__).resolve().parents[1]
    for name in sweep.CODE_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / name, tmp_path / name)
    fp = sweep.code_fingerprint(tmp_path)
    assert fp == sweep.code_fingerprint()
    with open(tmp_path / "trainer" / "cell.py", "a") as f:
        f.write("# a comment\n")
    assert sweep.code_fingerprint(tmp_path) != fp
    assert sweep._key("student", {"seed": 0}, fp) != sweep._key("student", {"seed": 0}, sweep.code_fingerprint(tmp_path))


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
    from trainer.factorial import CONFIGS
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


@pytest.mark.parametrize("task", ["sine", "sine-mix"])
def test_the_committed_sweep_is_this_codes_and_the_docs_command(task, tmp_path):
    """results/<task>/sweep/ was computed by this training code: its settings, rerun, find every
    job in the committed cache and write the same sweep.json and sweep.md; and the command in
    docs/training.md asks for exactly that grid, seeds and baseline."""
    from trainer.cli import build_parser
    src = ROOT / "results" / task / "sweep"
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
    cmds = [line for line in doc if line.startswith(f"python -m trainer sweep --task {task} ")]
    assert len(cmds) == 1, cmds
    a = build_parser().parse_args(shlex.split(cmds[0])[3:])
    assert json.loads(json.dumps(sweep.parse_grid(a.grid))) == committed["grid"]
    assert (a.seeds, a.baseline, a.stack, a.set) == (len(committed["seeds"]), committed["baseline"],
                                                    committed["stack"], [])


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
    return sweep.SweepSettings(task="sine", grid="distill=none,traj", seeds=2, out=str(out), workers=1,
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
