"""The target table (host/targets.py) against the CMake side (toolchain files, linker scripts,
the target list of CMakeLists.txt, CMakePresets.json); a corrupted row is caught by that check
and, for the chip's capacity, by the build, each with the figures. The bare-metal builds run in
the `qemu` tests (tests/test_host_qemu.py, tests/test_firmware_build.py)."""
from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from host import targets as T
from host.errors import BuildError

REPO = Path(__file__).resolve().parents[1]


def test_every_row_agrees_with_its_cmake_files():
    problems = [p for t in T.TABLE for p in T.check_cmake(t)] + T.check_project()
    assert problems == []


def test_the_table_has_the_targets_of_the_project():
    assert T.DEFAULT_TARGETS == ("native", "aarch64", "cortex-m4", "cortex-m3", "stm32f405", "nrf51",
                                 "cortex-m7", "cortex-m33", "lm3s6965")
    assert "cortex-m55" in T.KNOWN_TARGETS and "cortex-m55" not in T.DEFAULT_TARGETS
    nrf = T.TARGETS["nrf51"]
    assert (nrf.mcpu, nrf.flash_bytes, nrf.ram_bytes, nrf.qemu, nrf.pyocd) == ("cortex-m0", 256 * 1024,
                                                                                16 * 1024, "microbit", "nrf51")
    stm = T.TARGETS["stm32f405"]
    assert (stm.flash_origin, stm.uart_base, stm.cpu_hz, stm.qemu, stm.pyocd) == (0x08000000, 0x40011000,
                                                                                  16_000_000, "netduinoplus2",
                                                                                  "stm32f405rg")
    lm3s = T.TARGETS["lm3s6965"]
    assert (lm3s.mcpu, lm3s.uart_base, lm3s.flash_bytes, lm3s.ram_bytes, lm3s.qemu, lm3s.qemu_tick_hz, lm3s.pyocd) == (
        "cortex-m3", 0x4000C000, 256 * 1024, 64 * 1024, "lm3s6965evb", 12_500_000, None)
    assert all(T.TARGETS[t].fault_address is not None for t in T.BARE_METAL)


@pytest.mark.parametrize("field,value,expect", [
    ("ram_bytes", 8 * 1024, "nrf51.ld RAM at 0x20000000, 16384 B; the target table 0x20000000, 8192 B"),
    ("flash_origin", 0x0, "stm32f405.ld FLASH at 0x08000000, 1048576 B; the target table 0x00000000, 1048576 B"),
    ("uart_base", 0x40004000, "sets TRIX_UART_BASE 0x40011000, the target table 0x40004000"),
    ("mcpu", "cortex-m3", "sets TRIX_CPU cortex-m4, the target table cortex-m3"),
    ("qemu", "mps2-an386", "sets TRIX_QEMU_MACHINE netduinoplus2, the target table mps2-an386"),
    ("fault_address", 0x70000000, "sets TRIX_FAULT_ADDRESS 0xF0000000, the target table 0x70000000"),
])
def test_a_corrupted_row_is_refused_with_the_figures(field, value, expect):
    name = "nrf51" if field == "ram_bytes" else "stm32f405"
    bad = dataclasses.replace(T.TARGETS[name], **{field: value})
    problems = T.check_cmake(bad)
    assert any(expect in p for p in problems), problems


def test_a_preset_missing_from_the_table_or_the_presets_is_named(tmp_path, monkeypatch):
    presets = json.loads((REPO / "CMakePresets.json").read_text())
    presets["configurePresets"] = [p for p in presets["configurePresets"] if p["name"] != "nrf51"]
    fake = tmp_path / "repo"
    fake.mkdir()
    (fake / "CMakePresets.json").write_text(json.dumps(presets))
    (fake / "CMakeLists.txt").write_text((REPO / "CMakeLists.txt").read_text().replace(" nrf51 ", " "))
    monkeypatch.setattr(T, "REPO", fake)
    problems = T.check_project()
    assert any("TRIX_KNOWN_TARGETS" in p and "nrf51" in p for p in problems), problems
    assert any("no configure preset 'nrf51'" in p for p in problems), problems


def test_the_chip_capacity_refuses_an_image_that_does_not_fit():
    nrf = T.TARGETS["nrf51"]
    T.check_fits(nrf, 11236, 10324)                      # the trained model's image fits
    with pytest.raises(BuildError) as e:
        T.check_fits(dataclasses.replace(nrf, ram_bytes=8 * 1024), 11236, 10324)
    assert "nrf51: trix_fw does not fit" in str(e.value) and "RAM 10324 B > 8192 B" in str(e.value)


@pytest.mark.parametrize("name", ["nrf51", "stm32f405"])
def test_the_capacity_check_is_exact_at_the_chip_size(name):
    """An image of exactly the chip's flash and RAM fits; one byte more of either does not."""
    t = T.TARGETS[name]
    T.check_fits(t, t.flash_bytes, t.ram_bytes)
    for flash, ram, over in ((t.flash_bytes + 1, t.ram_bytes, f"flash {t.flash_bytes + 1} B > {t.flash_bytes} B"),
                             (t.flash_bytes, t.ram_bytes + 1, f"RAM {t.ram_bytes + 1} B > {t.ram_bytes} B")):
        with pytest.raises(BuildError) as e:
            T.check_fits(t, flash, ram)
        assert str(e.value).startswith(f"{name}: trix_fw does not fit the {t.board}: {over} (target table"), str(e.value)


@pytest.mark.qemu
def test_build_refuses_a_model_too_big_for_the_chip_row(tmp_path, monkeypatch):
    """The nRF51 row with 8 KB of RAM: the build of the committed model (10 KB of RAM with the
    lookup tables and the stack) stops with the figures, naming the row."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("arm-none-eabi-gcc missing: run scripts/setup.sh")
    from host import build as B
    from host.model import load_model
    model = load_model(REPO / "results" / "sine" / "best.npz")
    small = dataclasses.replace(T.TARGETS["nrf51"], ram_bytes=8 * 1024)
    monkeypatch.setitem(T.TARGETS, "nrf51", small)
    with pytest.raises(BuildError) as e:
        B.build("nrf51", model, build_root=tmp_path)
    msg = str(e.value)
    assert "nrf51: trix_fw" in msg and "does not fit" in msg and "> 8192 B" in msg, msg
    # the same build with the real row passes
    monkeypatch.setitem(T.TARGETS, "nrf51", dataclasses.replace(small, ram_bytes=16 * 1024))
    fw = B.build("nrf51", model, build_root=tmp_path)
    assert fw.elf.is_file()


def test_cli_choices_come_from_the_table():
    r = subprocess.run([sys.executable, "-m", "host", "flash", "--help"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0
    for name in T.BARE_METAL:
        assert name in r.stdout
    assert "stm32f405rg" in r.stdout and "nrf51 nrf51" in r.stdout


def _bench(target, build_root):
    r = subprocess.run([sys.executable, "-m", "host", "bench", "--qemu", "--target", target, "--hidden", "32",
                        "--build-dir", str(build_root)], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 4 and f[1] == "32" and f[3].isdigit():
            rows[f[0]] = int(f[3])
    return rows, r.stdout


@pytest.mark.qemu
def test_cortex_m0_runtime_kernel_is_a_third_of_the_reference(tmp_path):
    """nRF51 (Cortex-M0) at H = 32: the runtime kernel (lut, the table lookup in Thumb-1) needs at
    most a third of the reference kernel's instructions per matrix-vector product; the test
    model's weights-as-code kernel, measured beside them, fewer still."""
    rows, out = _bench("nrf51", tmp_path)
    assert T.TARGETS["nrf51"].kernel == "lut" and set(rows) == {"ref", "lut", "code"}, out
    assert 3 * rows["lut"] <= rows["ref"] and rows["code"] < rows["lut"], out
    assert "H=32: runtime kernel lut" in out
    print(f"\nnrf51 H=32: lut {rows['lut']} / ref {rows['ref']} = {rows['lut'] / rows['ref']:.3f}")


@pytest.mark.qemu
@pytest.mark.parametrize("target", ["cortex-m7", "cortex-m33"])
def test_m7_m33_runtime_kernel_is_the_fastest_measured(tmp_path, target):
    """At H = 32 (2H = 64 rows) the runtime kernel dsp/lut runs the table-lookup kernel, the
    fastest packed kernel measured there (against ref, dsp = SMLAD and the dense int8 SMLAD
    baseline); its dispatch (one compare and a tail call) costs a few instructions per call. A
    model exported as weights as code (the test model's own kernel) needs fewer still."""
    rows, out = _bench(target, tmp_path)
    assert T.TARGETS[target].kernel == "dsp/lut" and {"ref", "lut", "dsp", "dsp/lut", "dense-s8-smlad",
                                                      "code"} <= set(rows)
    packed = {k: v for k, v in rows.items() if k != "code"}
    assert rows["lut"] == min(packed.values()) and rows["dsp/lut"] - rows["lut"] <= 10, out
    assert rows["code"] < rows["lut"], out


@pytest.mark.qemu
@pytest.mark.parametrize("target", ["stm32f405", "nrf51"])
def test_flash_builds_the_chip_image_and_ends_with_one_line(tmp_path, target, monkeypatch, capsys):
    """`host flash --target stm32f405|nrf51`: the chip's image is built (vectors at the chip's
    flash) and, with no probe, the run ends with one line: how to install pyOCD when it is
    missing; "no debug probe found" (a stand-in pyOCD that finds none) when it is there."""
    row = T.TARGETS[target]
    r = subprocess.run([sys.executable, "-m", "host", "flash", "--target", target, "--build-dir", str(tmp_path)],
                       capture_output=True, text=True, cwd=REPO, timeout=600)
    assert f"flash: {target} image " in r.stderr and f"flash at 0x{row.flash_origin:08x}" in r.stderr, r.stderr
    (elf,) = tmp_path.glob(f"{target}-*/firmware/app/trix_fw")
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    assert f"{row.flash_origin:08x} R trix_vectors" in nm or f"{row.flash_origin:08x} r trix_vectors" in nm
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and lines[-1].startswith("error: ") and sum(ln.startswith("error:") for ln in lines) == 1
    try:
        import pyocd  # noqa: F401
        assert "no debug probe found" in lines[-1], lines[-1]
    except ImportError:
        assert "pyOCD is not installed" in lines[-1] and "pip install" in lines[-1], lines[-1]

    # with pyOCD present and no probe attached (pyOCD's ConnectHelper answers None)
    import types
    seen = {}

    class ConnectHelper:
        @staticmethod
        def session_with_chosen_probe(unique_id=None, blocking=True, options=None):
            seen.update(options or {})
            return None

    helpers = types.ModuleType("pyocd.core.helpers")
    helpers.ConnectHelper = ConnectHelper
    programmer = types.ModuleType("pyocd.flash.file_programmer")
    programmer.FileProgrammer = object
    for name, mod in (("pyocd", types.ModuleType("pyocd")), ("pyocd.core", types.ModuleType("pyocd.core")),
                      ("pyocd.core.helpers", helpers), ("pyocd.flash", types.ModuleType("pyocd.flash")),
                      ("pyocd.flash.file_programmer", programmer)):
        monkeypatch.setitem(sys.modules, name, mod)
    from host.cli import main
    assert main(["flash", "--target", target, "--firmware", str(elf)]) == 2
    assert seen == {"target_override": row.pyocd}
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: no debug probe found"), err


def test_flash_for_a_chip_pyocd_does_not_know_is_one_line(tmp_path):
    """The LM3S6965 row has no pyOCD target type: `host flash` names the tool that writes the image
    and --pyocd-target, in one line, without trying pyOCD."""
    row = T.TARGETS["lm3s6965"]
    assert row.pyocd is None and row.flash_tool
    elf = tmp_path / "trix_fw"
    elf.write_bytes(b"\x7fELF")
    r = subprocess.run([sys.executable, "-m", "host", "flash", "--target", "lm3s6965", "--firmware", str(elf)],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "pyOCD has no target type for the TI Stellaris LM3S6965" in lines[0] and row.flash_tool in lines[0], lines
    assert "--pyocd-target" in lines[0] and "pyOCD is not installed" not in r.stderr, r.stderr
