"""`python -m trainer sweep --ray`: its own local instance beside another cluster, the same numbers
as local processes, one line within the bound for an unreachable or silent address, token
authentication. Every Ray process a test starts has a HOME of its own and is stopped by it."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TINY = ["--set", "epochs=15", "--set", "teacher_epochs=30"]


def run_cli(*args, timeout=600, env=None):
    env = dict(env or os.environ, PYTHONHASHSEED="0")
    return subprocess.run([sys.executable, "-m", "trainer", "sweep", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def numbers(path):
    r = json.loads((path / "sweep.json").read_text())
    return {(c["id"], s["seed"]): s["test_mse_washout"] for c in r["cells"] for s in c["seeds"]}


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
    """A port that accepts connections and never answers (not Ray): stopped at --ray-timeout (default
    RAY_CONNECT_TIMEOUT, 30 s; 4 here, the same watchdog)."""
    import socket
    srv = socket.socket()
    srv.bind(("0.0.0.0", 0))
    srv.listen(64)
    port = srv.getsockname()[1]
    try:
        r = run_cli("--grid", "distill=none", "--seeds", "2", *TINY, "--out", str(tmp_path / "s"),
                    "--ray", f"127.0.0.1:{port}", "--ray-timeout", "4", env=ray_env, timeout=120)
    finally:
        srv.close()
    assert r.returncode == 2, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: --ray 127.0.0.1:{port}: no answer from Ray at 127.0.0.1:{port} within 4 s "
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


