"""Shared fixtures and helpers of the test suite.

    REPO, TRAINED    the checkout and its committed models
    run(cmd)         subprocess.run with text output captured, every argument str()-ed
    random_npz       a function (path, I, H, seed) -> path: a saved random artifact
    fw               session-wide firmware builds: fw.build(target, *cmake options) (one build
                     tree per target and options per session), fw.model() (headers + artifact
                     of the model they are built with), fw.elf(build), fw.command(target, elf),
                     fw.ctest(build), fw.need(target), fw.run(cmd), fw.EXPECTED_KERNEL
    host_cli         a function (*args, env=None, timeout=HANG_GUARD_S) running `python -m host`
                     from the checkout, as a user would
    HANG_GUARD_S     how long a test waits for a command that should take seconds to a minute:
                     a guard against a hang, never a speed test (a loaded machine is slow)
Test modules import nothing from each other; what they share is here.
"""
from __future__ import annotations

from cfcbase import numerics

numerics.pin()     # before anything imports numpy: the suite computes as `python -m trainer` does

import fcntl  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from host.targets import KNOWN_TARGETS, TARGETS

REPO = Path(__file__).resolve().parents[1]
TRAINED = [REPO / "results" / t / "best.npz" for t in ("sine", "sine-mix")]
DEBIAN_PACKAGES = ("gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm qemu-user gcc-aarch64-linux-gnu "
                   "libc6-dev-arm64-cross")


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def save_random_artifact(path, I=1, H=16, seed=42):
    from cfcbase.artifact import save_artifact
    from codegen.testing import random_artifact
    save_artifact(random_artifact(I, H, seed=seed), path)
    return Path(path)


@pytest.fixture(scope="session")
def random_npz():
    return save_random_artifact


HANG_GUARD_S = 1200


@pytest.fixture(scope="session")
def host_cli():
    def host(*args, env=None, timeout=HANG_GUARD_S):
        try:
            return subprocess.run([sys.executable, "-m", "host", *map(str, args)], cwd=REPO, env=env,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"`python -m host {' '.join(map(str, args))}` still running after {timeout} s: "
                        f"the hang guard fired (not a speed limit); its output so far: {e.stdout!r:.800} {e.stderr!r:.800}")
    return host


class Firmware:
    """Builds of the top-level CMake project, shared by the firmware tests of a session."""

    TOOLS = {t: (["cc"] if t == "native" else ["aarch64-linux-gnu-gcc", "qemu-aarch64"] if t == "aarch64"
                 else ["arm-none-eabi-gcc", "qemu-system-arm"]) for t in KNOWN_TARGETS}
    # Runtime kernel per target, from the target table (cortex-m55 is an optional target; its
    # Helium kernel is compiled and tested but the SMLAD/lookup pair needs fewer instructions).
    EXPECTED_KERNEL = {t: (TARGETS[t].kernel,) for t in KNOWN_TARGETS}

    def __init__(self, tmp_path_factory):
        self.tmp = tmp_path_factory
        self._cache: dict = {}

    def need(self, target):
        missing = [t for t in self.TOOLS[target] + ["cmake", "ctest"] if shutil.which(t) is None]
        if missing:
            pytest.fail(f"missing {' '.join(missing)}: run scripts/setup.sh (Debian packages {DEBIAN_PACKAGES})")

    def shared(self, name):
        """(directory, lock file) for what every test process of the session shares: with
        pytest-xdist the workers' temp roots sit side by side, so their parent is common."""
        base = self.tmp.getbasetemp()
        root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
        (root / "shared").mkdir(exist_ok=True)
        return root / "shared" / name, root / "shared" / (name + ".lock")

    def _once(self, name, make):
        """make(directory) once per session across every worker; a failed make is retried by
        the next caller (only a completed one leaves its .done mark)."""
        d, lock = self.shared(name)
        with open(lock, "w") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            if not (d / ".done").is_file():
                shutil.rmtree(d, ignore_errors=True)
                d.mkdir(parents=True)
                make(d)
                (d / ".done").touch()
        return d

    def model(self):
        """(model_dir, artifact): the trained H=16 sine model when committed, else a random I=1, H=16 one."""
        if "model" not in self._cache:
            from cfcbase.artifact import load_artifact
            trained = [p for p in TRAINED if p.is_file()]
            npz = trained[0] if trained and load_artifact(trained[0]).H == 16 else None

            def export(d):
                src = npz or save_random_artifact(d / "random-h16.npz")
                r = run([sys.executable, "-m", "codegen", "export", src, "--out", d / "model"], cwd=REPO)
                assert r.returncode == 0, r.stdout + r.stderr
            d = self._once("fw-model", export)
            self._cache["model"] = (d / "model", load_artifact(npz or d / "random-h16.npz"))
        return self._cache["model"]

    def build(self, target, *options):
        """Configure + build the top-level project for target (once per session, shared by the
        test processes of the session)."""
        key = (target,) + options
        if key not in self._cache:
            self.need(target)
            model_dir, _ = self.model()

            def make(b):
                r = run(["cmake", "-S", REPO, "-B", b, f"-DTRIX_TARGET={target}", f"-DTRIX_MODEL_DIR={model_dir}",
                         "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON", f"-DPython3_EXECUTABLE={sys.executable}", *options])
                assert r.returncode == 0, r.stdout + r.stderr
                r = run(["cmake", "--build", b, "-j", "2"])
                assert r.returncode == 0, r.stdout + r.stderr
            self._cache[key] = self._once("fw-" + "-".join(k.replace("=", "_").lstrip("-D") for k in key), make)
        return self._cache[key]

    run = staticmethod(run)

    @staticmethod
    def elf(build):
        return build / "firmware" / "app" / "trix_fw"

    def command(self, target, elf, icount=False):
        """How to run trix_fw with the protocol on stdin/stdout (pipe)."""
        if target == "native":
            return [str(elf)]
        if target == "aarch64":
            return ["qemu-aarch64", str(elf)]
        from host.qemu import qemu_system_argv        # the project's one qemu-system-arm command line
        return qemu_system_argv(target, elf, "stdio", icount=icount)

    @staticmethod
    def ctest(build):
        r = run(["ctest", "--test-dir", build, "--output-on-failure", "-V", "--timeout", "300"])
        assert r.returncode == 0, r.stdout[-6000:] + r.stderr
        return r.stdout


@pytest.fixture(scope="session")
def fw(tmp_path_factory):
    return Firmware(tmp_path_factory)
