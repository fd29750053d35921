"""Building the firmware for a target and a model.

Sources: the checkout this package runs from (CMakeLists.txt beside host/), else the copy of
CMakeLists.txt, cmake/ and firmware/ that an installed trixcfc carries in host/firmware_tree/
(setup.py puts it into the wheel). Build trees: --build-dir, else build/ of the checkout, else
$XDG_CACHE_HOME/trixcfc/build (~/.cache/trixcfc/build): never inside the installed package.

<build root>/<target>-<modelhash>/ holds one CMake build tree per (target, model):
  model/           the model's headers, rendered once per run by codegen in this process
                   (host.model; rewritten only when their bytes change, so an unchanged model
                   never triggers a recompile)
  firmware/app/trix_fw   the firmware (ELF; the -kernel image on Cortex-M)
  host-build.log   the last configure/build output
Configure runs when the tree has no CMakeCache.txt (or no Makefile: an earlier configure failed); `cmake --build --target trix_fw` always
runs (a no-op when nothing changed), so what is missing is built and the rest reused.
Flash and RAM come from `arm-none-eabi-size -A` (Cortex-M: the rule of
cmake/trix_footprint.cmake) or `size` (native / aarch64: Berkeley text+data and data+bss); a
Cortex-M trix_fw larger than the chip's flash or RAM (host/targets.py) is refused with the figures.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cfcbase.fileio import atomic_write

from .errors import BuildError, SetupError
from .qemu import check_tools
from .targets import check_fits
from .targets import get as get_target

REPO = Path(__file__).resolve().parents[1]
INSTALLED_TREE = Path(__file__).resolve().parent / "firmware_tree"     # written by setup.py into the wheel


def _is_source_tree(d: Path) -> bool:
    return (d / "CMakeLists.txt").is_file() and (d / "firmware" / "core").is_dir()


def source_dir() -> Path:
    """The CMake source tree: the checkout, else the copy installed with the package."""
    for d in (REPO, INSTALLED_TREE):
        if _is_source_tree(d):
            return d
    raise SetupError(f"firmware sources not found: {REPO} is not a trixcfc checkout and the package has no "
                     f"{INSTALLED_TREE.name}/ (reinstall trixcfc from its wheel or sdist, or run from a checkout)")


def default_build_root() -> Path:
    """build/ of the checkout; for an installed package a per-user cache directory."""
    if _is_source_tree(REPO):
        return REPO / "build"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "trixcfc" / "build"


@dataclass
class Firmware:
    target: str
    elf: Path
    build_dir: Path | None
    model_hash: str           # hex, what HELLO must report
    built: bool = False       # False: reused as it was


def cmake_program() -> str:
    """cmake next to this Python (the PyPI package in .venv) or on PATH."""
    beside = Path(sys.executable).parent / "cmake"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("cmake")
    if not found:
        raise SetupError("cmake not found: pip install cmake (a project dependency; scripts/setup.sh installs it)")
    return found


def _run(cmd, log_path: Path, what: str, cwd=None):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd)
    with open(log_path, "a") as f:
        f.write(f"$ {' '.join(str(c) for c in cmd)}\n{r.stdout}{r.stderr}\n")
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-12:])
        raise BuildError(f"{what} failed (exit {r.returncode}; full log {log_path}):\n{tail}")
    return r


def write_headers(model, model_dir: Path) -> bool:
    """The model's headers (host.model.Model: rendered once per run) into model_dir, each file
    replaced (atomically) only when its bytes differ, so an unchanged model never triggers a
    recompile. Returns True when something changed."""
    model_dir.mkdir(parents=True, exist_ok=True)
    changed = False
    for name, data in sorted(model.headers.items()):
        dst = model_dir / name
        if dst.is_file() and dst.read_bytes() == data:
            continue
        atomic_write(dst, lambda f, d=data: f.write(d))
        changed = True
    return changed


# CMake targets the host builds, and where each one's ELF lands in the tree.
PROGRAMS = {"trix_fw": Path("firmware/app/trix_fw"),
            "bench_kernels": Path("firmware/tests/bench_kernels")}   # instruction-count bench image


def build(target: str, model, build_root: Path | None = None, log=None,
          extra_cmake_args=(), program: str = "trix_fw") -> Firmware:
    """Configure (if needed) and build `program` (trix_fw, or the bench_kernels image) for
    target with the headers of `model` (host.model.Model)."""
    check_tools([target], build=True, run=False)
    cmake = cmake_program()
    build_root = Path(build_root) if build_root else default_build_root()
    bdir = build_root / f"{target}-{model.tree_name}"
    bdir.mkdir(parents=True, exist_ok=True)
    with open(bdir / ".host-lock", "w") as lock:
        try:                          # two verify runs on the same tree take turns
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            if log:
                log(f"{target}: waiting for another build of {bdir}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_locked(target, model, bdir, cmake, log, extra_cmake_args, program)


def _build_locked(target, model, bdir: Path, cmake, log, extra_cmake_args, program: str = "trix_fw") -> Firmware:
    log_path = bdir / "host-build.log"
    log_path.write_text("")
    elf = bdir / PROGRAMS[program]
    existed = elf.is_file()
    write_headers(model, bdir / "model")
    if not (bdir / "CMakeCache.txt").is_file() or not any((bdir / f).is_file() for f in ("Makefile", "build.ninja")):
        if log:
            log(f"{target}: configuring {bdir}")
        # Python3_EXECUTABLE: any codegen step CMake runs uses this interpreter (the venv's, with
        # numpy), not whichever python3 comes first on PATH.
        _run([cmake, "-S", source_dir(), "-B", bdir, f"-DTRIX_TARGET={target}", f"-DTRIX_MODEL_DIR={bdir / 'model'}",
              f"-DPython3_EXECUTABLE={sys.executable}", *extra_cmake_args], log_path,
             f"cmake configure for {target}")
    if log and not existed:
        log(f"{target}: building {program}")
    before = elf.stat().st_mtime_ns if existed else None
    _run([cmake, "--build", bdir, "--target", program, "-j", str(max(2, os.cpu_count() or 2))], log_path,
         f"cmake --build for {target}")
    if not elf.is_file():
        raise BuildError(f"{target}: the build did not produce {elf} (log {log_path})")
    built = before is None or elf.stat().st_mtime_ns != before
    if program == "trix_fw":         # the chip of the target table must hold the image
        fp = footprint(target, elf)
        check_fits(get_target(target), fp["flash"], fp["ram"], what=f"trix_fw ({elf})")
    return Firmware(target, elf, bdir, model.hash_hex, built)


def footprint(target: str, elf) -> dict:
    """{'flash': bytes, 'ram': bytes, 'how': str} of the firmware image."""
    t = get_target(target)
    if t.bare_metal:
        size = shutil.which("arm-none-eabi-size")
        if not size:
            raise SetupError("arm-none-eabi-size not found: install the Debian package binutils-arm-none-eabi "
                             "(comes with gcc-arm-none-eabi)")
        out = subprocess.run([size, "-A", "-d", str(elf)], capture_output=True, text=True, check=True).stdout
        flash = ram = stack = 0
        for m in re.finditer(r"^(\.[A-Za-z0-9_.]+)\s+(\d+)\s+(\d+)", out, re.M):
            name, sz, addr = m[1], int(m[2]), int(m[3])
            if re.match(r"\.(debug|comment|ARM\.attributes|stab)", name) or sz == 0:
                continue
            if not t.ram_origin <= addr < t.ram_origin + t.ram_bytes:
                flash += sz
            else:
                ram += sz
                if name == ".data":
                    flash += sz
                if name == ".stack":
                    stack = sz
        return {"flash": flash, "ram": ram, "stack": stack, "flash_capacity": t.flash_bytes,
                "ram_capacity": t.ram_bytes,
                "how": "arm-none-eabi-size: flash = code region + .data image, RAM = .data + .bss + stack"}
    size = (shutil.which("aarch64-linux-gnu-size") if target == "aarch64" else None) or shutil.which("size")
    if not size:
        return {"flash": None, "ram": None, "stack": None, "how": "size not found"}
    out = subprocess.run([size, str(elf)], capture_output=True, text=True)
    m = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)", out.stdout, re.M)
    if out.returncode != 0 or not m:
        return {"flash": None, "ram": None, "stack": None, "how": f"size failed: {out.stderr.strip()}"}
    text, data, bss = int(m[1]), int(m[2]), int(m[3])
    what = "static binary incl. libc" if target == "aarch64" else "dynamically linked"
    return {"flash": text + data, "ram": data + bss, "stack": None,
            "how": f"size (Berkeley): text+data / data+bss of a Linux process image ({what}), no stack"}
