"""An installed trixcfc (its wheel, not editable) verifies a model from any directory: the
firmware sources travel in the wheel, the build trees go to the user's cache directory (never
into site-packages). pip runs with the machine's configuration (its index, no other network)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_verifies_from_another_directory(tmp_path, random_npz):
    if shutil.which("cc") is None:
        pytest.fail("no C compiler: run scripts/setup.sh")
    src = tmp_path / "src"                       # build from a copy: no build/ left in the checkout
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "results", "*.egg-info",
                                                             "__pycache__", ".pytest_cache", ".hypothesis"))
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, src])
    wheel, = wheels.glob("trixcfc-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    py = venv / "bin" / "python"
    _run([py, "-m", "pip", "install", "-q", wheel])
    site = Path(_run([py, "-c", "import host, os; print(os.path.dirname(os.path.dirname(host.__file__)))"],
                     cwd=tmp_path).stdout.strip())
    assert site != REPO and (site / "host" / "firmware_tree" / "CMakeLists.txt").is_file()
    before = sorted(p.relative_to(site) for p in site.rglob("*") if "__pycache__" not in p.parts)

    work = tmp_path / "elsewhere"
    work.mkdir()
    npz = random_npz(work / "model.npz")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    r = subprocess.run([py, "-m", "host", "verify", "--qemu", "--target", "native", "--model", npz,
                        "--sequences", "8"], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "verify: PASS: 1/1 targets" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
    assert "mismatches            0" in r.stdout
    trees = list((tmp_path / "cache" / "trixcfc" / "build").glob("native-*"))
    assert len(trees) == 1 and (trees[0] / "firmware" / "app" / "trix_fw").is_file(), r.stderr
    after = sorted(p.relative_to(site) for p in site.rglob("*") if "__pycache__" not in p.parts)
    assert after == before, set(after) ^ set(before)          # nothing written into site-packages
    assert sorted(p.name for p in work.iterdir()) == ["model.npz"]


def test_the_wheel_lists_every_package():
    """pyproject.toml names every directory with an __init__.py (subpackages such as
    trainer/sweep too): a package it does not name is left out of the wheel."""
    import tomllib
    listed = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = sorted(".".join(p.parent.relative_to(REPO).parts) for top in ("cfcbase", "trainer", "codegen", "host")
                   for p in (REPO / top).rglob("__init__.py"))
    assert sorted(listed) == found
