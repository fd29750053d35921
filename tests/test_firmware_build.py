"""Firmware build per target: every target configures and builds from a clean tree with
-Wall -Wextra -Werror through the top-level CMakeLists.txt and passes its ctest suite (the
core's kernel/cell tests, the C protocol test, the bench program, the no-heap check) natively or
under QEMU; the native build also under ASan/UBSan; the cortex-m4 footprint and instructions
per cell step for the reference and the DSP kernel.

Builds are shared within the session through the ``fw`` fixture (tests/conftest.py)."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from host.targets import BARE_METAL, KNOWN_TARGETS, TARGETS

REPO = Path(__file__).resolve().parents[1]


TARGET_PARAMS = [pytest.param(t, marks=() if t == "native" else pytest.mark.qemu) for t in KNOWN_TARGETS]


@pytest.mark.parametrize("target", TARGET_PARAMS)
def test_target_builds_with_werror_and_passes_ctest(fw, target):
    b = fw.build(target)
    commands = json.loads((b / "compile_commands.json").read_text())
    ours = [c for c in commands if "/firmware/" in c["file"]]
    assert ours
    for c in ours:   # every firmware source is compiled with -Wall -Wextra -Werror
        for flag in ("-Wall", "-Wextra", "-Werror"):
            assert flag in c["command"].split(), (c["file"], c["command"])
    out = fw.ctest(b)
    tests = set(re.findall(r"Test +#\d+: (\S+) \.+ +Passed", out))
    expected = {"test_kernels", "test_step", "test_proto", "test_proto_stress", "trix_bench"}
    if target != "aarch64":
        expected.add("trix_fw_no_heap")
    if TARGETS[target].bare_metal:
        expected |= {"test_stack", "test_fault"}
        assert "*** trixcfc: HardFault" in out and "*** trixcfc: exit 125" in out, out
        # every program's exit reset ended QEMU by itself (host/qemu_run.py did not have to stop it)
        assert "did not end within" not in out, out
        m = re.search(r"test_stack: \d+ replies, deepest stack use (\d+) bytes", out)
        assert m and int(m[1]) <= 1536, out
    assert expected <= tests, out
    assert any(f"test_step: kernel {k}," in out for k in fw.EXPECTED_KERNEL[target]) and "PASS" in out, out
    assert "test_proto: PASS" in out, out
    assert re.search(r"test_proto_stress: \d+ rounds, .* 0 malformed, .*: PASS", out), out
    if target == "cortex-m4":
        assert "(ref lut dsp dsp/lut s8-ref s8-c s8-smlad), runtime kernel dsp/lut, int8 runtime kernel s8-smlad" in out, out


def test_native_sanitizers(fw):
    """The whole native test suite built with -fsanitize=address,undefined (TRIX_SANITIZE=ON)."""
    b = fw.build("native", "-DTRIX_SANITIZE=ON")
    cache = (b / "CMakeCache.txt").read_text()
    assert "TRIX_SANITIZE:BOOL=ON" in cache
    out = fw.ctest(b)
    assert "test_proto: PASS" in out and "test_step: kernel ref" in out, out


@pytest.mark.qemu
@pytest.mark.parametrize("target", BARE_METAL)
def test_cortex_m_image_has_no_heap_and_is_a_kernel_image(fw, target):
    b = fw.build(target)
    elf = fw.elf(b)
    syms = fw.run(["arm-none-eabi-nm", elf]).stdout
    for name in ("malloc", "free", "_malloc_r", "_free_r", "_sbrk", "realloc", "calloc"):
        assert not re.search(rf"\s{re.escape(name)}$", syms, re.M), f"{name} linked into {elf}"
    origin = TARGETS[target].flash_origin          # where the chip fetches its vectors
    assert re.search(rf"^{origin:08x} [TtRr] trix_vectors$", syms, re.M), f"vector table not at 0x{origin:08x}"
    assert (b / "firmware" / "app" / "trix_fw.bin").is_file()


def footprint(fw, build):
    r = fw.run(["cmake", "--build", build, "--target", "footprint"])
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"footprint (\S+) model (0x[0-9a-f]+) \(I=(\d+) H=(\d+)\): flash (\d+) bytes, RAM (\d+) bytes "
                  r"\(incl\. (\d+) bytes stack\)", r.stdout)
    assert m, r.stdout
    return {"target": m[1], "hash": m[2], "I": int(m[3]), "H": int(m[4]), "flash": int(m[5]), "ram": int(m[6]),
            "stack": int(m[7]), "text": r.stdout}


@pytest.mark.qemu
def test_footprint_cortex_m4(fw):
    """Acceptance 4: `cmake --build <build> --target footprint` prints flash and RAM of trix_fw."""
    b = fw.build("cortex-m4")
    f = footprint(fw, b)
    assert f["target"] == "cortex-m4" and f["H"] == 16
    sizes = fw.run(["arm-none-eabi-size", "-A", "-d", fw.elf(b)]).stdout
    sec = {m[1]: int(m[2]) for m in re.finditer(r"^(\.\S+)\s+(\d+)\s+\d+", sizes, re.M)}
    assert f["flash"] == sum(sec.get(s, 0) for s in (".isr_vector", ".text", ".rodata", ".ARM.exidx",
                                                       ".ARM.extab", ".init_array", ".fini_array",
                                                       ".preinit_array", ".data"))
    assert f["ram"] == sec.get(".data", 0) + sec.get(".bss", 0) + sec[".stack"]
    assert 0 < f["flash"] < 64 * 1024 and 0 < f["ram"] < 32 * 1024, f
    print(f"\ncortex-m4 trix_fw (H=16): flash {f['flash']} B, RAM {f['ram']} B (stack {f['stack']} B)")


def bench(fw, build):
    r = fw.run(["cmake", "--build", build, "--target", "bench"], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    cal = re.search(r"= (\d+) ticks -> ([\d.]+) instructions/tick", r.stdout)
    per_step = re.search(r"instructions per cell step: ([\d.]+) \(kernel ([\w/]+)\)", r.stdout)
    assert cal and per_step, r.stdout
    return float(cal[2]), float(per_step[1]), per_step[2]


@pytest.mark.qemu
def test_instructions_per_step_cortex_m4_ref_and_dsp(fw):
    """Acceptance 5: `cmake --build <build> --target bench` (QEMU -icount shift=0, SysTick)."""
    dsp = bench(fw, fw.build("cortex-m4"))
    ref = bench(fw, fw.build("cortex-m4", "-DTRIX_FORCE_REF=ON"))
    assert dsp[2] == "dsp/lut" and ref[2] == "ref"
    for per_tick, _, _ in (dsp, ref):   # 25 MHz SysTick, 1 instruction = 1 ns: 40 per tick
        assert per_tick == pytest.approx(40.0, abs=0.01)
    assert 100 < dsp[1] < ref[1], (dsp, ref)
    print(f"\ncortex-m4 instructions per cell step: ref {ref[1]:.0f}, dsp {dsp[1]:.0f} "
          f"({ref[1] / dsp[1]:.2f}x)")


@pytest.mark.qemu
def test_lut_min_rows_option_cortex_m4(fw, tmp_path_factory):
    """-DTRIX_LUT_MIN_ROWS=0: SMLAD only, the table-lookup scratch leaves trix_fw's RAM; with a
    low threshold the H=16 model (32 rows) runs the lookup kernel and keeps it, sized for the
    model's rows: min(9, ROW_BYTES) tables of 688 B + 336 B (-DTRIX_LUT_GROUPS overrides it). Bad
    values stop the configure step with a message naming the option."""
    model_dir, art = fw.model()
    row_bytes = -(-(art.I + art.H) // 4)
    low = footprint(fw, fw.build("cortex-m4", "-DTRIX_LUT_MIN_ROWS=2"))
    off = footprint(fw, fw.build("cortex-m4", "-DTRIX_LUT_MIN_ROWS=0"))
    nine = footprint(fw, fw.build("cortex-m4", "-DTRIX_LUT_MIN_ROWS=2", "-DTRIX_LUT_GROUPS=9"))
    assert row_bytes < 9 and low["ram"] - off["ram"] == row_bytes * 688 + 336, (low["ram"], off["ram"], row_bytes)
    assert nine["ram"] - off["ram"] == 9 * 688 + 336, (nine["ram"], off["ram"])
    for bad in ("-DTRIX_LUT_MIN_ROWS=x", "-DTRIX_LUT_GROUPS=0"):
        r = fw.run(["cmake", "-S", REPO, "-B", tmp_path_factory.mktemp("fw-bad"), "-DTRIX_TARGET=cortex-m4",
                 f"-DTRIX_MODEL_DIR={model_dir}", f"-DPython3_EXECUTABLE={sys.executable}", bad])
        assert r.returncode != 0 and "TRIX_LUT_MIN_ROWS must be an integer" in r.stderr, r.stderr


def test_model_free_configure_and_build(fw, tmp_path):
    """`cmake -S . -B build` without a model (docs/firmware.md) configures, builds the
    model-free parts and passes their tests; trix_fw is left out."""
    b = tmp_path / "build"
    r = fw.run(["cmake", "-S", ".", "-B", b], cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no model" in r.stdout, r.stdout
    r = fw.run(["cmake", "--build", b, "-j", "2"])
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr
    assert not fw.elf(b).exists()
    out = fw.ctest(b)
    tests = set(re.findall(r"Test +#\d+: (\S+) \.+ +Passed", out))
    assert {"test_kernels", "test_proto", "test_proto_stress"} <= tests, out
