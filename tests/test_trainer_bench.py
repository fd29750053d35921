"""`python -m trainer bench`: runs with tiny repeats and prints its lines; no timed assertions."""
from __future__ import annotations

import re

import numpy as np
import pytest

from cfcbase import numerics
from trainer.experiments import bench
from trainer.cli import main

@pytest.fixture(autouse=True)
def _restore_thread_env(monkeypatch):
    """The bench CLI pins the BLAS/OpenMP thread variables; undo that after each test."""
    for k in numerics.THREAD_VARS:
        monkeypatch.setenv(k, "1")


TINY = ["--hidden", "4,8,12", "--repeats", "2", "--steps", "2", "--batch", "4"]


def test_bench_numpy_only_without_torch(monkeypatch, capsys):
    monkeypatch.setattr(bench, "_import_torch", lambda: None)
    assert main(["bench"] + TINY) == 0
    out = capsys.readouterr().out
    for h in (4, 8, 12):
        assert re.search(rf"^H={h}\s+numpy\s+[\d.]+\s+/\s+[\d.]+\s+/\s+[\d.]+ ms/epoch", out, re.M), out
    assert "growth exponent H=4->8: numpy" in out
    assert re.search(r"growth exponent in H .*: numpy -?[\d.]+$", out, re.M), out
    assert out.rstrip().endswith(bench.NO_TORCH)
    assert "torch/numpy" not in out


def test_bench_numpy_step_is_the_trainers_step():
    """One bench step = train.Adam on the clipped trainer gradient: the loss goes down."""
    s = bench.NumpyStep(bench.Problem(6, batch=8))
    l0 = s.loss()
    for _ in range(20):
        s.step()
    assert s.loss() < l0
    st = bench.NumpyStep(bench.Problem(6, batch=8, student=True))
    assert np.isfinite(st.step()).all()


@pytest.mark.parametrize("student", [False, True])
def test_bench_torch_ratio_and_same_loss(capsys, student):
    pytest.importorskip("torch")
    assert main(["bench"] + TINY + (["--student"] if student else [])) == 0
    out = capsys.readouterr().out
    for h in (4, 8, 12):
        m = re.search(rf"^H={h}\s+check at the same parameters: .* relative ([\d.e+-]+) \(ok.*"
                      rf"gradients max .* ([\d.e+-]+)$", out, re.M)
        assert m and float(m.group(1)) <= 1e-9 and float(m.group(2)) <= 1e-9, out
        assert re.search(rf"^H={h}\s+numpy .* \| torch .* \| torch/numpy \(median\) [\d.]+x$", out, re.M), out
    assert re.search(r"growth exponent in H .*: numpy -?[\d.]+, torch -?[\d.]+$", out, re.M), out
    assert bench.NO_TORCH not in out


def test_bench_bad_options(capsys):
    assert main(["bench", "--hidden", "16,x"]) == 2
    assert main(["bench", "--steps", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 2


def test_the_bench_pins_blas_threads_before_numpy_is_loaded():
    """`python -m trainer bench` runs on one BLAS thread: importing the trainer package sets the
    thread variables (cfcbase.numerics.single_thread) before anything has imported numpy."""
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k not in numerics.THREAD_VARS}
    code = ("import sys, trainer; loaded = 'numpy' in sys.modules; import os, trainer.experiments.bench; "
            "print(loaded, os.environ.get('OPENBLAS_NUM_THREADS'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and r.stdout.split() == ["False", "1"], r.stdout + r.stderr


def test_bench_memory_prints_the_peak_per_size_and_the_growth(capsys):
    """`bench --memory` trains a job pair per size in a fresh process and prints its peak and the
    growth per window beside the stated rate (no figure is asserted: a benchmark, not a test)."""
    assert main(["bench", "--memory", "40,80"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^N=40 .*: peak +[\d.]+ MiB \(a teacher, then 5 students\)$", out, re.M), out
    assert re.search(r"^peak memory grows by -?[\d.]+ KiB per training window .* the stated rate 4 x 8 T C \+ "
                     r"8 T M H = 116\.0 KiB \(T = 128, C = 9, M = 5 students, H = 16\)$", out, re.M), out
    assert main(["bench", "--memory", "40,x"]) == 2 and main(["bench", "--memory", "10"]) == 2


def test_bench_scale_prints_each_jobs_time_and_epochs_at_the_default_epochs(capsys):
    """`bench --scale` trains one job pair per size at the factorial's default epochs (36 training
    windows: the classifier's 600 and 300) and prints each job's time per epoch (no figure asserted
    but the epochs: a benchmark, not a test)."""
    assert main(["bench", "--scale", "40"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^N=40 +\(36 training windows of 128 steps x 9 channels, H=16\): teacher 600 epochs +[\d.]+ s "
                     r"\([\d.]+ s/epoch\), 5 students 300 epochs +[\d.]+ s \([\d.]+ s/epoch\); the pair [\d.]+ s$",
                     out, re.M), out
    assert main(["bench", "--scale", "40,x"]) == 2 and main(["bench", "--scale", "10"]) == 2
