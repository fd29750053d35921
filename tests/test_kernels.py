"""Every matvec kernel on every target, ternary and int8, bit for bit against the golden model:
builds firmware/tests (test_kernels: 28 random ternary models and 12 with int8 heads incl.
sizes not multiples of 4/8/16, plus the trained models when committed; test_step: the
public API on an exported model, ternary and int8) per target and runs it natively or under QEMU."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS_SRC = REPO / "firmware" / "tests"
CORE_SRC = REPO / "firmware" / "core"
TRAINED = [REPO / "results" / t / "best.npz" for t in ("sine", "sine-mix")]


def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    return r


def need(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing {' '.join(missing)}: run scripts/setup.sh")


@pytest.fixture(scope="module")
def generated(tmp_path_factory, random_npz):
    """Kernel/cell vectors and one exported model (the trained one when committed)."""
    base = tmp_path_factory.mktemp("gen")
    vec, model = base / "vectors", base / "model"
    r = run([sys.executable, "-m", "codegen", "vectors", "--out", vec], cwd=REPO)
    assert r.returncode == 0, r.stderr
    trained = [p for p in TRAINED if p.is_file()]
    if trained:
        npz = trained[0]
    else:
        npz = random_npz(base / "random.npz")
    r = run([sys.executable, "-m", "codegen", "export", npz, "--out", model], cwd=REPO)
    assert r.returncode == 0, r.stderr
    text = (vec / "test_vectors.h").read_text()
    assert text.count('"random') >= 20 and text.count('"random-int8') >= 10
    return vec, model


@pytest.fixture(scope="module")
def generated_int8(tmp_path_factory, generated):
    """The same vectors with an int8 model exported (both heads int8: the committed frontier's
    int8 model when there is one, else a random one)."""
    from codegen.testing import random_artifact
    from cfcbase.artifact import save_artifact
    vec, _ = generated
    base = tmp_path_factory.mktemp("gen-int8")
    model = base / "model"
    committed = sorted((REPO / "results").glob("*/frontier/int8-*.npz"))
    if committed:
        npz = committed[0]
    else:
        npz = base / "int8.npz"
        save_artifact(random_artifact(1, 16, seed=3, formats=("int8", "int8")), npz)
    r = run([sys.executable, "-m", "codegen", "export", npz, "--out", model, "--allow-lossy"], cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "#define TRIX_FORMAT_F      1" in (model / "trix_model.h").read_text()
    return vec, model


@pytest.fixture(scope="module")
def generated_code(tmp_path_factory, generated, random_npz):
    """The same vectors with the model exported as weights as code (--kernel code)."""
    vec, _ = generated
    base = tmp_path_factory.mktemp("gen-code")
    model = base / "model"
    trained = [p for p in TRAINED if p.is_file()]
    npz = trained[0] if trained else random_npz(base / "random.npz")
    r = run([sys.executable, "-m", "codegen", "export", npz, "--out", model, "--kernel", "code"], cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert (model / "trix_matvec_code.h").is_file()
    return vec, model


@pytest.fixture(scope="module")
def generated_classifier(tmp_path_factory, generated):
    """The same vectors with a classifier exported as the model (the committed BasicMotions one
    when present, else a random one): test_step then checks every golden window's logits."""
    vec, _ = generated
    base = tmp_path_factory.mktemp("gen-cls")
    npz = REPO / "results" / "basicmotions" / "best.npz"
    if not npz.is_file():
        from cfcbase.artifact import save_artifact
        from codegen.testing import random_classifier
        npz = base / "cls.npz"
        save_artifact(random_classifier(1, 16, 3, seed=5), npz)
    r = run([sys.executable, "-m", "codegen", "export", npz, "--out", base / "model"], cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "TRIX_GOLDEN_CLASSES" in (base / "model" / "trix_golden.h").read_text()
    return vec, base / "model"


def cmake_build(src, build, *defs):
    need("cmake")
    r = run(["cmake", "-S", src, "-B", build, f"-DPython3_EXECUTABLE={sys.executable}", *defs])
    assert r.returncode == 0, r.stdout + r.stderr
    r = run(["cmake", "--build", build, "-j", "2"])
    assert r.returncode == 0, r.stdout + r.stderr


def check_output(r, kernels):
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "FAIL" not in out and "PASS" in out, out
    for k in kernels:   # each named kernel was compiled in and checked
        assert k in out.split("kernels (")[1].split(")")[0].split(), out
    if kernels:          # both cell steps with every kernel, the row check, and the models' code kernels
        assert "x 2 cell steps (step step_ref)" in out and "rounds of the row check" in out, out
        m = re.search(r"and weights as code \(code\) on (\d+) models", out)
        assert m and int(m[1]) >= 20, out
        m = re.search(r"logits and class of every sequence of (\d+) classifiers", out)   # the head, section 12
        assert m and int(m[1]) >= 6, out
    return out


def _vec_defs(generated, werror="-Werror"):
    vec, model = generated
    return [f"-DTRIX_VECTORS_DIR={vec}", f"-DTRIX_MODEL_DIR={model}", f"-DCMAKE_C_FLAGS={werror} -O2"]


def test_native(generated, tmp_path):
    b = tmp_path / "native"
    cmake_build(TESTS_SRC, b, *_vec_defs(generated))
    out = check_output(run([b / "test_kernels"]), ["ref", "lut", "s8-ref", "s8-c"])
    assert "models x 4 kernels (ref lut s8-ref s8-c)" in out
    assert re.search(r"int8 runtime kernel s8-c on (\d+) models with an int8 head", out)
    check_output(run([b / "test_step"]), [])


def test_native_int8_model(generated_int8, tmp_path):
    """A model with int8 heads through the public API: the runtime int8 kernel, bit-exact."""
    b = tmp_path / "native-int8"
    cmake_build(TESTS_SRC, b, *_vec_defs(generated_int8))
    assert "test_step: kernel s8-c," in check_output(run([b / "test_step"]), [])


def test_native_sanitizers(generated, tmp_path):
    b = tmp_path / "asan"
    cmake_build(TESTS_SRC, b, *_vec_defs(generated, "-Werror -fsanitize=address,undefined -fno-sanitize-recover=all"),
                "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined")
    check_output(run([b / "test_kernels"]), ["ref", "lut"])
    check_output(run([b / "test_step"]), [])


def test_native_code_kernel(generated_code, tmp_path):
    """A model exported with --kernel code: the runtime kernel is its generated function."""
    b = tmp_path / "native-code"
    cmake_build(TESTS_SRC, b, *_vec_defs(generated_code))
    assert "test_step: kernel code," in check_output(run([b / "test_step"]), [])


def test_native_classifier_step_and_logits(generated_classifier, tmp_path):
    b = tmp_path / "native-cls"
    cmake_build(TESTS_SRC, b, *_vec_defs(generated_classifier))
    out = check_output(run([b / "test_step"]), [])
    assert "test_step: kernel ref, 8 sequences" in out


def test_native_force_ref_kernel_name(generated, tmp_path):
    b = tmp_path / "forceref"
    cmake_build(TESTS_SRC, b, *_vec_defs(generated), "-DTRIX_FORCE_REF=ON")
    assert "kernel ref" in check_output(run([b / "test_step"]), [])


def _platform_toolchain(target):
    tc = REPO / "cmake" / f"toolchain-{target}.cmake"
    return tc if tc.is_file() and (REPO / "CMakeLists.txt").is_file() else None


def _build_with_platform(target, generated, tmp_path, *defs):
    """Top-level build (platform engineer's CMakeLists.txt + toolchain + trix_add_test)."""
    tc = _platform_toolchain(target)
    b = tmp_path / target
    cmake_build(REPO, b, f"-DCMAKE_TOOLCHAIN_FILE={tc}", *_vec_defs(generated)[:2], *defs)
    r = run(["ctest", "--test-dir", b, "-R", "^test_(kernels|step)$", "--output-on-failure", "-V"])
    return r


@pytest.mark.qemu
def test_aarch64_neon(generated, tmp_path):
    need("aarch64-linux-gnu-gcc", "qemu-aarch64")
    if _platform_toolchain("aarch64"):
        r = _build_with_platform("aarch64", generated, tmp_path)
        out = check_output(r, ["ref", "lut", "neon", "s8-neon"])
        assert "(ref lut neon s8-ref s8-c s8-neon)" in out
        return
    # Until the platform lands: the same sources, compiled directly (static, no platform code).
    vec, model = generated
    exe = tmp_path / "test_kernels_aarch64"
    srcs = [TESTS_SRC / "test_kernels.c"] + sorted(CORE_SRC.glob("trix_matvec_*.c")) + [CORE_SRC / "trix_cell.c"]
    cc = ["aarch64-linux-gnu-gcc", "-static", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic",
          "-I", CORE_SRC, "-I", vec]
    r = run(cc + srcs + ["-o", exe])
    assert r.returncode == 0, r.stderr
    out = check_output(run(["qemu-aarch64", exe], timeout=300), ["ref", "lut", "neon"])
    assert "(ref lut neon), runtime kernel neon" in out
    exe2 = tmp_path / "test_step_aarch64"
    r = run(cc + ["-I", model, TESTS_SRC / "test_step.c", CORE_SRC / "trix_cfc.c"] + srcs[1:] + ["-o", exe2])
    assert r.returncode == 0, r.stderr
    assert "kernel neon" in check_output(run(["qemu-aarch64", exe2], timeout=300), [])


@pytest.mark.qemu
@pytest.mark.parametrize("target,kernels", [
    ("cortex-m4", "(ref lut dsp dsp/lut s8-ref s8-c s8-smlad), runtime kernel dsp/lut, int8 runtime kernel s8-smlad"),
    ("cortex-m3", "(ref lut s8-ref s8-c), runtime kernel lut, int8 runtime kernel s8-c"),
    ("cortex-m55", "(ref lut dsp dsp/lut mve s8-ref s8-c s8-smlad), runtime kernel dsp/lut, int8 runtime kernel "
                   "s8-smlad"),
    ("nrf51", "(ref lut s8-ref s8-c), runtime kernel lut, int8 runtime kernel s8-c")])
def test_cortex_m(generated, tmp_path, target, kernels):
    need("arm-none-eabi-gcc", "qemu-system-arm")
    if not _platform_toolchain(target):
        pytest.skip(f"cmake/toolchain-{target}.cmake and the top-level CMakeLists.txt (platform) not in the tree yet")
    r = _build_with_platform(target, generated, tmp_path)
    out = check_output(r, [])
    assert kernels in out, out


def test_dsp_kernel_compiles_for_cortex_m4_without_warnings(tmp_path):
    """The DSP path is selected by __ARM_FEATURE_DSP (cortex-m4) and not on cortex-m3."""
    need("arm-none-eabi-gcc")
    for cpu, expect in (("cortex-m4", True), ("cortex-m3", False)):
        obj = tmp_path / f"dsp-{cpu}.o"
        r = run(["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
                 "-pedantic", "-c", CORE_SRC / "trix_matvec_dsp.c", "-o", obj])
        assert r.returncode == 0, r.stderr
        nm = run(["arm-none-eabi-nm", obj]).stdout
        assert ("trix_matvec_dsp" in nm) == expect, (cpu, nm)


@pytest.mark.qemu
@pytest.mark.parametrize("target", ["cortex-m4", "nrf51"])
def test_cortex_m_code_kernel(generated_code, tmp_path, target):
    """The weights-as-code model under QEMU: test_step runs the generated kernel bit-exact."""
    need("arm-none-eabi-gcc", "qemu-system-arm")
    r = _build_with_platform(target, generated_code, tmp_path)
    out = check_output(r, ["ref", "lut"])
    assert "test_step: kernel code," in out, out


@pytest.mark.qemu
@pytest.mark.parametrize("target", ["cortex-m4", "nrf51"])
def test_cortex_m_classifier(generated_classifier, tmp_path, target):
    """A classifier under QEMU: test_step checks every golden window's logits and class through
    trix_logits() (the mean's division on the M4's SDIV and the M0's library call)."""
    need("arm-none-eabi-gcc", "qemu-system-arm")
    r = _build_with_platform(target, generated_classifier, tmp_path)
    out = check_output(r, ["ref", "lut"])
    assert "test_step: kernel" in out and "PASS" in out, out


@pytest.mark.parametrize("target,kernel", [("cortex-m4", "s8-smlad"), ("nrf51", "s8-c"), ("aarch64", "s8-neon")])
def test_int8_model_on_target(generated_int8, tmp_path, target, kernel):
    """A model with int8 heads under QEMU: test_step runs the target's int8 kernel bit-exact."""
    need("qemu-aarch64" if target == "aarch64" else "qemu-system-arm")
    r = _build_with_platform(target, generated_int8, tmp_path)
    out = check_output(r, [])
    assert f"test_step: kernel {kernel}," in out, out


@pytest.mark.qemu
@pytest.mark.parametrize("target", ["cortex-m3", "nrf51"])
def test_lut_kernel_in_two_byte_chunks(generated, tmp_path, target):
    """-DTRIX_LUT_GROUPS=2: the lookup kernel's assembly (Thumb-2 loops on the M3, the Thumb-1
    table build on the M0) in passes of 2 bytes that add into acc; still bit-exact on every model."""
    need("arm-none-eabi-gcc", "qemu-system-arm")
    r = _build_with_platform(target, generated, tmp_path, "-DTRIX_LUT_GROUPS=2")
    assert "(ref lut s8-ref s8-c), runtime kernel lut" in check_output(r, ["ref", "lut"])


@pytest.mark.qemu
def test_an_export_kernel_chosen_for_ram_runs_bit_exact_and_needs_no_lookup_table(tmp_path, host_cli):
    """verify --kernel ref and --kernel code (codegen export's) on the nRF51 and the Cortex-M4, the
    committed sine model: bit-exact, HELLO names the kernel that ran, and neither links the lookup
    tables, so each needs less RAM than the target table's lut kernels (the sizes are printed)."""
    import json
    ram = {}
    for kernel in ("packed", "ref", "code"):
        js = tmp_path / f"{kernel}.json"
        r = host_cli("verify", "--qemu", "--target", "nrf51,cortex-m4", "--kernel", kernel, "--json", js,
                     "--build-dir", tmp_path / "b", timeout=600)
        assert r.returncode == 0 and "verify: PASS: 2/2 targets" in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
        for t in json.loads(js.read_text())["targets"]:
            assert t["mismatches"] == 0 and t["export_kernel"] == kernel
            assert t["kernel"] == {"packed": t["expected_kernel"], "ref": "ref", "code": "code"}[kernel], t
            ram[t["target"], kernel] = t["footprint"]["ram"]
    for target in ("nrf51", "cortex-m4"):
        assert ram[target, "ref"] < ram[target, "packed"] and ram[target, "code"] < ram[target, "packed"], ram
