"""scripts/setup.sh decides whether a virtual environment is usable by running its pip, and
recreates one that an interrupted setup left broken (bin/python present, pip missing)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SETUP = REPO / "scripts" / "setup.sh"


def check_venv(path) -> int:
    return subprocess.run(["bash", str(SETUP), "--check-venv", str(path)], capture_output=True).returncode


def make_broken_venv(path: Path) -> None:
    """What `python3 -m venv` leaves where ensurepip is missing or the call was interrupted."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    assert (path / "bin" / "python").is_file()


def test_check_venv_rejects_a_venv_without_pip(tmp_path):
    make_broken_venv(tmp_path / "venv")
    assert check_venv(tmp_path / "venv") == 1


def test_check_venv_rejects_a_missing_venv(tmp_path):
    assert check_venv(tmp_path / "nothing-here") == 1


def test_check_venv_accepts_a_venv_whose_pip_runs(tmp_path):
    if sys.prefix != sys.base_prefix:
        venv = Path(sys.prefix)              # the venv these tests run in
    else:
        venv = tmp_path / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    assert check_venv(venv) == 0


def test_setup_rejects_unknown_arguments():
    r = subprocess.run(["bash", str(SETUP), "--frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown argument '--frobnicate'" in r.stderr


@pytest.mark.slow
def test_setup_recreates_a_broken_venv(tmp_path):
    venv = tmp_path / "venv"
    make_broken_venv(venv)
    env = dict(os.environ, TRIX_VENV=str(venv), TRIX_EXTRAS="test",   # the lighter extras: the recreation is the point
               TRIX_DATA_WHEELS="")
    r = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "has no working pip" in r.stderr and "recreating" in r.stderr
    assert check_venv(venv) == 0
    # and the project is installed in it: the three stages import
    subprocess.run([str(venv / "bin" / "python"), "-c", "import trainer, codegen, host"], check=True,
                   cwd=tmp_path)
