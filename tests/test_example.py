"""The runtime as a library in someone else's firmware: examples/step_loop (its own CMake project,
the core added with one add_subdirectory) built for the nRF51 (Cortex-M0) and run under QEMU
microbit; every output it prints is checked bit for bit against the golden model."""
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


@pytest.mark.qemu
def test_step_loop_example_on_nrf51_is_bit_exact(tmp_path):
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} missing: run scripts/setup.sh")
    model = tmp_path / "model"
    r = subprocess.run([sys.executable, "-m", "codegen", "export", str(NPZ), "--out", str(model)], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    b = tmp_path / "build"
    cmake = cmake_program()
    r = subprocess.run([cmake, "-S", REPO / "examples" / "step_loop", "-B", b, f"-DTRIX_MODEL_DIR={model}",
                        f"-DCMAKE_TOOLCHAIN_FILE={REPO / 'cmake' / 'toolchain-nrf51.cmake'}"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([cmake, "--build", b, "-j", "2"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # the runner the docs give for a program that ends: its exit marker becomes the exit status
    r = subprocess.run([sys.executable, "-m", "host.qemu_run", "--target", "nrf51", "--timeout", "120",
                        str(b / "step_loop")], cwd=REPO, capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "*** trixcfc: exit 0" in r.stdout, r.stdout
    m = IntModel.from_artifact(load_artifact(NPZ))
    assert f"step_loop: model {m.hash_hex}, I=1 H={m.H}, kernel {TARGETS['nrf51'].kernel}" in r.stdout, r.stdout
    steps = [(int(a), int(x), int(y)) for a, x, y in re.findall(r"t=(\d+) x_q14=(-?\d+) y_q14=(-?\d+)", r.stdout)]
    assert [s[0] for s in steps] == list(range(50)), r.stdout
    x = np.array([s[1] for s in steps], np.int16).reshape(1, 50, 1)
    gold = run_golden(m, x)[0]
    assert [s[2] for s in steps] == [int(v) for v in gold]
