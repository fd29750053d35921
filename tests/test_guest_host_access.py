"""A bare-metal firmware cannot reach the host: QEMU is never started with semihosting, the one
channel through which a guest can ask the host to run a command (SYS_SYSTEM) or to open and
write a file (SYS_OPEN, SYS_WRITE).

The crafted firmware (tests/data/semihosting_probe/probe.c) tries exactly that, with paths in
this test's temporary directory, and keeps going after each attempt (its fault handler skips the
BKPT). It runs through the two ways the project starts QEMU on an image it is given: the ctest
emulator of the CMake toolchain (host/qemu_run.py) and `python -m host verify --firmware`.
Neither file may appear. (With `-semihosting-config enable=on,target=native` put back into
host.qemu.qemu_system_argv both appear, and the probe's exit code is 4: the test fails.)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from host.build import cmake_program
from host.qemu import qemu_system_argv
from host.targets import BARE_METAL

REPO = Path(__file__).resolve().parents[1]
PROBE = REPO / "tests" / "data" / "semihosting_probe"


def build_probe(target, tmp_path):
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} missing: run scripts/setup.sh")
    by_system, by_open = tmp_path / "created-by-SYS_SYSTEM", tmp_path / "created-by-SYS_OPEN"
    (tmp_path / "probe_paths.h").write_text(f'#define PROBE_SYSTEM_CMD "touch {by_system}"\n'
                                            f'#define PROBE_OPEN_PATH "{by_open}"\n')
    b = tmp_path / "build"
    r = subprocess.run([cmake_program(), "-S", PROBE, "-B", b, f"-DPROBE_PATHS_DIR={tmp_path}",
                        f"-DCMAKE_TOOLCHAIN_FILE={REPO / 'cmake' / f'toolchain-{target}.cmake'}",
                        f"-DPython3_EXECUTABLE={sys.executable}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([cmake_program(), "--build", b], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return b, (by_system, by_open)


def ctest_program():
    beside = Path(cmake_program()).parent / "ctest"
    return str(beside) if beside.is_file() else "ctest"


@pytest.mark.qemu
@pytest.mark.parametrize("target", ["cortex-m4", "nrf51"])
def test_crafted_firmware_cannot_create_host_files(target, tmp_path, host_cli):
    b, files = build_probe(target, tmp_path)

    # (a) the ctest emulator of the toolchain file, as for every test program of the project
    r = subprocess.run([ctest_program(), "--test-dir", b, "-V", "--timeout", "120"], capture_output=True, text=True,
                       timeout=300)
    out = r.stdout + r.stderr
    assert not [f for f in files if f.exists()], f"the guest created {[str(f) for f in files if f.exists()]}:\n{out}"
    assert "qemu_run.py" in out, out                         # it did go through the runner
    assert out.count("faulted, nothing reached the host") == 4, out   # all four calls were tried
    assert "*** trixcfc: exit 0" in out and r.returncode == 0, out

    # (b) verify given the image as the firmware to talk to: it tries the same, then ends; verify
    # stops with one error line (it does not speak the protocol) and no traceback
    r = host_cli("verify", "--qemu", "--target", target, "--firmware", b / "probe", "--timeout", "5", timeout=300)
    assert not [f for f in files if f.exists()], f"the guest created {[str(f) for f in files if f.exists()]}:\n" \
                                                 + r.stdout + r.stderr
    assert r.returncode == 2, r.stdout + r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {target}: "), r.stderr
    assert "the firmware exited with status 0" in errors[0] and "SYS_SYSTEM: faulted" in errors[0], errors[0]
    assert "Traceback" not in r.stderr, r.stderr


def test_no_qemu_command_line_enables_semihosting():
    """Every way the project starts qemu-system-arm: host.qemu.qemu_system_argv (verify, bench,
    the runner host/qemu_run.py, the tests; the toolchain's ctest emulator is the runner, which
    test (a) above sees in ctest's command line), and no CMake file of the project adds an option."""
    for t in BARE_METAL:
        for kw in ({}, {"monitor": "/tmp/m", "icount": True}, {"no_reboot": True, "icount": False}):
            argv = qemu_system_argv(t, "x.elf", "stdio", **kw)
            assert not [a for a in argv if "semihosting" in a], argv
    for f in (REPO / "cmake").glob("*.cmake"):
        code = [ln for ln in f.read_text().splitlines() if not ln.lstrip().startswith("#")]
        assert not [ln for ln in code if "semihosting" in ln], f


def _project_files():
    skip = {".git", ".venv", "build", "results", "__pycache__", ".pytest_cache", ".hypothesis"}
    for root, dirs, files in os.walk(REPO):
        dirs[:] = sorted(d for d in dirs if d not in skip and not d.endswith(".egg-info"))
        for name in sorted(files):
            yield Path(root) / name


def test_the_qemu_command_line_is_built_in_one_place():
    """The test above covers every qemu-system-arm command line only because there is one:
    host.qemu.qemu_system_argv. No other Python string `-kernel` anywhere in the project (its
    packages, tests, scripts), and no CMake or shell line that runs qemu-system-arm itself (the
    toolchain's ctest emulator is host/qemu_run.py, which calls qemu_system_argv)."""
    import io
    import tokenize
    hits = []
    for f in _project_files():
        rel = f.relative_to(REPO).as_posix()
        if f.suffix == ".py" and f != Path(__file__).resolve():       # (this file names it to look for it)
            for tok in tokenize.generate_tokens(io.StringIO(f.read_text()).readline):
                if tok.type == tokenize.STRING and tok.string.strip("rbuRBU").strip("'\"") == "-kernel":
                    hits.append(f"{rel}:{tok.start[0]}")
        elif f.suffix in (".cmake", ".sh") or f.name == "CMakeLists.txt":
            for i, line in enumerate(f.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if "qemu-system-arm" in code and "command -v" not in code:
                    hits.append(f"{rel}:{i}")
    assert [h.split(":")[0] for h in hits] == ["host/qemu.py"], hits
    assert "-kernel" in qemu_system_argv(BARE_METAL[0], "x.elf")
