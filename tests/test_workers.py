"""A killed trainer takes its worker processes with it, silently."""
import os
import signal
import subprocess
import sys
import time

import pytest


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d))
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def is_worker(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
        return b"spawn_main" in cmd
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("command", [
    ["factorial", "--task", "sine", "--seeds", "2", "--epochs", "3000", "--teacher-epochs", "3000", "--jobs", "2"],
    ["sweep", "--task", "sine", "--grid", "H=8,12", "--seeds", "2", "--set", "teacher_epochs=3000", "--workers", "2"],
])
def test_sigkill_of_the_trainer_leaves_no_worker(tmp_path, command):
    proc = subprocess.Popen([sys.executable, "-m", "trainer", *command, "--out", str(tmp_path / "out")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(workers) < 2:     # both workers busy with a teacher job
        workers = [p for p in children(proc.pid) if is_worker(p)]
        time.sleep(0.1)
    assert len(workers) == 2, "the workers never started"
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(p) for p in workers):
        time.sleep(0.1)
    assert not [p for p in workers if alive(p)], "workers outlived their parent"
    # everything that shared the parent's stderr is gone: EOF, and nothing was printed on the way out
    err = proc.stderr.read().decode()
    assert "Traceback" not in err and "leaked" not in err, err[-2000:]


def _graph(n_workers):
    """A graph whose jobs make jobs: each (a, b) -> a * b; a product below 100 makes two more.
    Returns the results by key and the order on_done saw the keys in."""
    import operator
    from trainer.experiments import workers
    results, order = {}, []

    def on_done(key, res):
        results[key] = res
        order.append(key)
        if res >= 100:
            return []
        return [(1, key + ("x",), operator.mul, (res, 3)), (2, key + ("y",), operator.mul, (res, 5))]
    workers.run_graph([(0, ("a",), operator.mul, (2, 3)), (0, ("b",), operator.mul, (7, 1)),
                       (5, ("c",), operator.mul, (50, 50))], n_workers, on_done)
    return results, order


def test_run_graph_same_results_any_workers_and_priority_order():
    r1, order = _graph(1)
    r2, _ = _graph(2)
    assert r1 == r2 and len(r1) == 3 + 2 * 7 + 2 * 3
    assert r1[("a", "y", "x")] == 2 * 3 * 5 * 3
    # in this process: the highest priority first, the earliest given among equals
    assert order[:4] == [("c",), ("a",), ("a", "y"), ("a", "y", "y")]


def test_run_graph_raises_the_first_failure():
    import operator
    from trainer.experiments import workers
    for n in (1, 2):
        with pytest.raises(ZeroDivisionError):
            workers.run_graph([(0, "ok", operator.mul, (2, 3)), (0, "bad", operator.truediv, (1, 0))], n,
                              lambda key, res: [])
