"""The runtime as a library in someone else's firmware: examples/step_loop and
examples/stream_classify (each its own CMake project, the core added with one add_subdirectory)
built for the nRF51 (Cortex-M0) and run under QEMU microbit; every output they print is checked
bit for bit against the golden model."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cfcbase.artifact import load_artifact
from codegen.golden import IntModel, run_golden
from host.build import cmake_program
from host.targets import TARGETS

REPO = Path(__file__).resolve().parents[1]
NPZ = REPO / "results" / "sine" / "best.npz"


def run_example(name, npz, tmp_path) -> str:
    """examples/<name> built for the nRF51 with the model of ``npz`` and run to its end under QEMU:
    what it printed."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} missing: run scripts/setup.sh")
    model = tmp_path / "model"
    r = subprocess.run([sys.executable, "-m", "codegen", "export", str(npz), "--out", str(model)], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    b = tmp_path / "build"
    cmake = cmake_program()
    r = subprocess.run([cmake, "-S", REPO / "examples" / name, "-B", b, f"-DTRIX_MODEL_DIR={model}",
                        f"-DCMAKE_TOOLCHAIN_FILE={REPO / 'cmake' / 'toolchain-nrf51.cmake'}"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([cmake, "--build", b, "-j", "2"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # the runner the docs give for a program that ends: its exit marker becomes the exit status
    r = subprocess.run([sys.executable, "-m", "host.qemu_run", "--target", "nrf51", "--timeout", "120",
                        str(b / name)], cwd=REPO, capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "*** trixcfc: exit 0" in r.stdout, r.stdout
    return r.stdout


@pytest.mark.qemu
def test_step_loop_example_on_nrf51_is_bit_exact(tmp_path):
    out = run_example("step_loop", NPZ, tmp_path)
    m = IntModel.from_artifact(load_artifact(NPZ))
    assert f"step_loop: model {m.hash_hex}, I=1 H={m.H}, kernel {TARGETS['nrf51'].kernel}" in out, out
    steps = [(int(a), int(x), int(y)) for a, x, y in re.findall(r"t=(\d+) x_q14=(-?\d+) y_q14=(-?\d+)", out)]
    assert [s[0] for s in steps] == list(range(50)), out
    x = np.array([s[1] for s in steps], np.int16).reshape(1, 50, 1)
    gold = run_golden(m, x)[0]
    assert [s[2] for s in steps] == [int(v) for v in gold]


@pytest.mark.qemu
def test_stream_classify_example_on_nrf51_decides_as_the_golden_model(tmp_path):
    """The BasicMotions classifier on the example's synthetic 6-channel signal: its 12 decisions
    (every 50 samples, the state carried on) are golden_stream's bit for bit."""
    from codegen.golden import golden_stream
    npz = REPO / "results" / "basicmotions" / "best.npz"
    out = run_example("stream_classify", npz, tmp_path)
    m = IntModel.from_artifact(load_artifact(npz))
    assert (f"stream_classify: model {m.hash_hex}, I={m.I} H={m.H} K={m.head.K}, kernel {TARGETS['nrf51'].kernel}, "
            f"a decision every 50 samples") in out, out
    got = re.findall(r"stream_classify: t=(\d+) class=(\d+) logits=([-0-9,]+)", out)
    assert [int(t) for t, _, _ in got] == list(range(50, 601, 50)), out
    # the example's sensor (main.c: read_sensor), in Python
    sine = np.floor(np.sin(2 * np.pi * np.arange(25) / 25) * 16384 + 0.5).astype(np.int64)
    t = np.arange(600)[:, None]
    c = np.arange(m.I)[None, :]
    v = sine[(t * (c + 1)) % 25]
    x = np.where((t // 200) % 2 == 0, v, np.trunc(v / 4)).astype(np.int16)     # C's / truncates
    lg, cls = golden_stream(m, x, 50)
    assert [int(k) for _, k, _ in got] == cls.tolist()
    assert [[int(v) for v in s.split(",")] for _, _, s in got] == lg.tolist()
