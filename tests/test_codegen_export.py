"""`python -m codegen export`: determinism, hash, bad input, C compilation, footprint."""
import json
import math
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cfcbase.artifact import artifact_arrays, load_artifact, save_artifact
from cfcbase.errors import ArtifactError
from codegen.cli import main
from codegen.export import export_model
from codegen.golden import IntModel
from codegen.testing import random_artifact

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def npz(tmp_path):
    p = tmp_path / "best.npz"
    save_artifact(random_artifact(1, 16, seed=3), p)
    return p


def export(npz_path, out, *extra):
    return main(["export", str(npz_path), "--out", str(out), *extra])


def test_export_twice_byte_identical(npz, tmp_path, capsys):
    assert export(npz, tmp_path / "a") == 0
    assert export(npz, tmp_path / "b") == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["trix_golden.h", "trix_model.h"]
    for n in names:
        assert (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes()
    text = (tmp_path / "a" / "trix_model.h").read_text()
    assert "GENERATED FILE - DO NOT EDIT" in text
    h = IntModel.from_artifact(load_artifact(npz)).hash
    assert f"#define TRIX_MODEL_HASH    UINT64_C(0x{h:016x})" in text


def test_prefix(npz, tmp_path, capsys):
    assert export(npz, tmp_path / "o", "--prefix", "mymodel") == 0
    text = (tmp_path / "o" / "mymodel_model.h").read_text()
    assert "MYMODEL_HIDDEN" in text and "mymodel_trits" in text


@pytest.mark.parametrize("prefix", ["1abc", "a-b", "int", "_x", "", "a b", "x" * 40])
def test_bad_prefix(npz, tmp_path, capsys, prefix):
    assert export(npz, tmp_path / "o", "--prefix", prefix) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "identifier" in err[0]
    assert not (tmp_path / "o").exists()


def _hash(art):
    return IntModel.from_artifact(art).hash


@pytest.mark.parametrize("field", ["weights_f", "weights_g", "scale_f", "scale_g", "b_f", "b_g", "tau", "w_o", "b_o"])
def test_any_single_change_changes_hash(field):
    base = random_artifact(2, 9, seed=11)
    h0 = _hash(base)
    for idx in (0, 4, 8):
        art = random_artifact(2, 9, seed=11)
        a = getattr(art.head if field in ("w_o", "b_o") else art, field)
        if field.startswith("weights"):
            r, c = idx, (idx * 3) % art.C
            a[r, c] = 1 if a[r, c] != 1 else -1
        elif field == "b_o":
            art.head.b_o = art.head.b_o + 1e-3
        else:
            a[idx] = a[idx] * 1.0001 + 1e-6
        assert _hash(art) != h0, (field, idx)
    assert _hash(random_artifact(2, 9, seed=11)) == h0   # and it is deterministic


def test_hash_hex_matches_int():
    m = IntModel.from_artifact(random_artifact(1, 4, seed=0))
    assert 0 <= m.hash < 2 ** 64 and int(m.hash_hex, 16) == m.hash and len(m.hash_hex) == 16


# ---- bad input: one clear line naming the problem, non-zero exit, --out untouched --------

def _write(tmp_path, arrays, name="bad.npz"):
    p = tmp_path / name
    np.savez(p, **arrays)
    return p


def _good_arrays():
    return artifact_arrays(random_artifact(1, 8, seed=5))


def _mutated(key, value=None, drop=False):
    def make(tmp_path):
        a = _good_arrays()
        if drop:
            del a[key]
        else:
            a[key] = value(a[key]) if callable(value) else value
        return _write(tmp_path, a)
    return make


def _not_npz(tmp_path):
    p = tmp_path / "notes.npz"
    p.write_text("this is not an archive\n")
    return p


def _truncated(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, **_good_arrays())
    data = good.read_bytes()
    p = tmp_path / "trunc.npz"
    p.write_bytes(data[: len(data) // 2])
    return p


def _truncated_member(tmp_path):
    # a valid zip whose member for trits_f is a truncated .npy
    p = tmp_path / "member.npz"
    good = tmp_path / "good2.npz"
    np.savez(good, **_good_arrays())
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(p, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "trits_f.npy":
                data = data[: len(data) - 20]
            zout.writestr(info, data)
    return p


def _set_trit(v):
    def f(a):
        a = a.copy()
        a[1, 1] = v
        return a
    return f


def _set_elem(i, v):
    def f(a):
        a = a.copy()
        a[i] = v
        return a
    return f


BAD_CASES = {
    "not-npz": (_not_npz, "not an npz"),
    "truncated": (_truncated, "not an npz"),
    "truncated-member": (_truncated_member, "trits_f"),
    "missing-key": (_mutated("scale_g", drop=True), "scale_g: missing key"),
    "missing-teacher": (_mutated("teacher_W_f", drop=True), "teacher_W_f: missing key"),
    "wrong-shape": (_mutated("b_f", lambda a: a[:-1]), "b_f: expected shape"),
    "wrong-trit-shape": (_mutated("trits_g", lambda a: a[:, :-1]), "trits_g: expected shape"),
    "wrong-dtype-trits": (_mutated("trits_f", lambda a: a.astype(np.float64)), "trits_f: expected int8"),
    "wrong-dtype-scale": (_mutated("scale_f", lambda a: np.ones(a.shape, np.int32)), "scale_f: expected float64"),
    "trit-of-2": (_mutated("trits_f", _set_trit(2)), "trits_f: trit at row 1, column 1 is 2"),
    "nan-scale": (_mutated("scale_f", _set_elem(3, np.nan)), "scale_f: contains NaN"),
    "zero-scale": (_mutated("scale_g", _set_elem(2, 0.0)), "scale_g: must be > 0"),
    "negative-scale": (_mutated("scale_f", _set_elem(0, -0.5)), "scale_f: must be > 0"),
    "negative-tau": (_mutated("tau", _set_elem(0, -1.0)), "tau: must be > 0"),
    "inf-bias": (_mutated("b_g", _set_elem(1, np.inf)), "b_g: contains NaN or infinity"),
    "version-5": (_mutated("format_version", np.int32(5)), "format_version: unknown format version 5"),
    "version-3-without-head": (_mutated("format_version", np.int32(3)), "K: missing key (format version 3 is a classifier)"),
    "version-4-without-formats": (_mutated("format_version", np.int32(4)), "format_f: missing key (format version 4)"),
    "version-2-without-data": (_mutated("format_version", np.int32(2)), "data_json: missing key (format version 2)"),
    "huge-bias": (_mutated("b_f", _set_elem(0, 1e6)), "b_f: bias"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_one_line_nonzero_nothing_written(case, tmp_path, capsys):
    make, expect = BAD_CASES[case]
    bad = make(tmp_path)
    out = tmp_path / "out"
    rc = export(bad, out)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert len(err) == 1, err
    assert err[0].startswith("error: ") and expect in err[0], err[0]
    assert str(bad) in err[0]                      # names the file
    assert not out.exists()


def test_bad_input_leaves_existing_out_untouched(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "trix_model.h").write_text("previous\n")
    rc = export(_mutated("trits_g", _set_trit(2))(tmp_path), out)
    assert rc != 0
    assert [p.name for p in out.iterdir()] == ["trix_model.h"]
    assert (out / "trix_model.h").read_text() == "previous\n"
    assert not list(tmp_path.glob(".codegen-*"))   # no temp dir left behind


def test_out_is_a_file(npz, tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("x")
    assert export(npz, out) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a directory" in err[0]
    assert out.read_text() == "x"


def test_missing_file(tmp_path, capsys):
    assert export(tmp_path / "nope.npz", tmp_path / "o") != 0
    assert "no such file" in capsys.readouterr().err


def test_cli_subprocess_exit_code_and_single_line(tmp_path):
    bad = _mutated("scale_f", _set_elem(3, np.nan))(tmp_path)
    r = subprocess.run([sys.executable, "-m", "codegen", "export", str(bad), "--out", str(tmp_path / "o")],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode != 0
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and "scale_f" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "o").exists()


def test_load_artifact_raises_artifact_error(tmp_path):
    with pytest.raises(ArtifactError):
        load_artifact(_not_npz(tmp_path))


# ---- footprint ----------------------------------------------------------------------

@pytest.mark.parametrize("I,H", [(1, 16), (1, 32), (3, 5)])
def test_footprint_two_bits_per_trit_plus_row_padding(tmp_path, capsys, I, H):
    p = tmp_path / "m.npz"
    save_artifact(random_artifact(I, H, seed=1), p)
    assert export(p, tmp_path / "o") == 0
    out = capsys.readouterr().out
    C = I + H
    trit_bytes = 2 * H * math.ceil(C / 4)
    assert f"trits    {trit_bytes:6d} bytes  = {2 * H * C} trits x 2 bits + {trit_bytes * 8 - 4 * H * C} bits" in out
    assert "2.000 per trit," in out and "log2(3) = 1.585 limit" in out
    assert f"{trit_bytes * 8 / (2 * H * C):.3f} with row padding" in out
    text = (tmp_path / "o" / "trix_model.h").read_text()
    body = text.split("trix_trits[TRIX_ROWS * TRIX_ROW_BYTES] = {")[1].split("};")[0]
    assert body.count("0x") == trit_bytes


# ---- generated headers compile ------------------------------------------------------

USE_ALL = r"""
#include "trix_model.h"
#include "trix_golden.h"
int use_all(void);
int use_all(void)
{
    long s = TRIX_INPUTS + TRIX_HIDDEN + TRIX_COLS + TRIX_COLS_PADDED + TRIX_READOUT_SHIFT;
    s += trix_trits[0] + trix_row_multiplier[0] + trix_row_shift[0] + trix_bias_q16[0] + trix_lam_q15[0];
    s += trix_w_o[0] + trix_sigmoid_q15[0] + trix_tanh_q15[0] + trix_golden_x[0] + trix_golden_y[0];
    s += (long)(TRIX_READOUT_BIAS & 1) + (long)(TRIX_MODEL_HASH == TRIX_GOLDEN_HASH);
    return (int)s;
}
"""

COMPILERS = {
    "gcc": ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"],
    "arm-none-eabi-gcc": ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-std=c99", "-Wall", "-Wextra",
                          "-Werror", "-pedantic"],
}


@pytest.mark.parametrize("compiler", sorted(COMPILERS))
def test_generated_headers_compile(npz, tmp_path, capsys, compiler):
    cmd = COMPILERS[compiler]
    if shutil.which(cmd[0]) is None:
        pytest.fail(f"{cmd[0]} not installed (scripts/setup.sh installs it)")
    out = tmp_path / "gen"
    assert export(npz, out) == 0
    src = tmp_path / "use.c"
    src.write_text(USE_ALL)
    core = REPO / "firmware" / "core"
    for c in (src, core / "trix_cfc.c"):
        r = subprocess.run(cmd + ["-O2", "-I", str(out), "-I", str(core), "-c", str(c), "-o", str(tmp_path / "x.o")],
                           capture_output=True, text=True)
        assert r.returncode == 0 and r.stderr == "", r.stderr


# ---- weights as code (--kernel code) -------------------------------------------------------

CODE_RUN = r"""
#include <stdio.h>
#include "trix_matvec_code.h"
#include "vectors.h"
int main(void)
{
    static int32_t acc[ROWS + 1];
    long bad = 0;
    int v, r;
    for (v = 0; v < NVEC; v++) {
        acc[ROWS] = 0x5A5A5A5A;
        trix_matvec_code(0, ROWS, 0, z + (long)v * ZLEN, acc);
        for (r = 0; r <= ROWS; r++) {
            const long want = r < ROWS ? want_acc[(long)v * ROWS + r] : 0x5A5A5A5A;
            if (acc[r] != want && bad++ < 5) printf("FAIL index=%ld expected=%ld got=%ld\n", (long)v * ROWS + r, want, (long)acc[r]);
        }
    }
    printf("%s %ld\n", bad ? "FAIL" : "PASS", bad);
    return bad != 0;
}
"""


def _code_model(I, H, seed, zero_fraction=0.4):
    return random_artifact(I, H, seed, zero_fraction=zero_fraction)


@pytest.mark.parametrize("I,H,zero_fraction", [(1, 1, 0.4), (1, 1, 1.0), (2, 5, 0.0), (3, 13, 0.4), (1, 32, 0.4)])
def test_code_kernel_computes_the_golden_matvec(tmp_path, capsys, I, H, zero_fraction):
    """`export --kernel code` writes <prefix>_matvec_code.h; compiled natively with the warnings of
    the firmware, its function gives matvec_golden on full-scale and random z (index, expected, got
    on a mismatch), and writes nothing past its rows. Shapes: one row pair, a model with no
    non-zero trit, a dense one, odd sizes, H = 32."""
    from codegen.codekernel import code_kernel
    from codegen.golden import matvec_golden
    art = _code_model(I, H, 7, zero_fraction)
    p = tmp_path / "m.npz"
    save_artifact(art, p)
    out = tmp_path / "o"
    assert export(p, out, "--kernel", "code", "--allow-lossy") == 0
    assert "weights as code: trix_matvec_code.h" in capsys.readouterr().out
    assert "#define TRIX_MODEL_MATVEC_CODE 1" in (out / "trix_model.h").read_text()
    m = IntModel.from_artifact(art)
    text = (out / "trix_matvec_code.h").read_text()
    ops = re.findall(r"^    a\d+ (?:[+-]?= -?v);$", text, re.M)
    assert len(ops) == int(np.count_nonzero(m.trits)) == code_kernel(m)["nnz"]
    rng = np.random.default_rng(0)
    z = np.zeros((5, m.cols_padded), np.int64)
    z[0, :m.C], z[1, :m.C] = 32767, -32768
    z[2:, :m.C] = rng.integers(-32768, 32768, (3, m.C))
    want = matvec_golden(m, z)
    (out / "vectors.h").write_text(
        f"#define ROWS {2 * m.H}\n#define ZLEN {m.cols_padded}\n#define NVEC 5\n"
        f"static const int16_t z[] = {{{', '.join(map(str, z.ravel()))}}};\n"
        f"static const int32_t want_acc[] = {{{', '.join(map(str, want.ravel()))}}};\n")
    (out / "run.c").write_text(CODE_RUN)
    exe = tmp_path / "run"
    r = subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", str(out),
                        str(out / "run.c"), "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0 and "PASS 0" in r.stdout, r.stdout


def test_code_kernel_is_only_numbers_and_deterministic(npz, tmp_path, capsys):
    """The generated kernel holds no text from the artifact (its fields are ints: the jinja
    finalize refuses anything else) and re-exports byte for byte; the default export writes no
    kernel and leaves TRIX_MODEL_MATVEC_CODE undefined."""
    from codegen.codekernel import code_kernel
    assert export(npz, tmp_path / "a", "--kernel", "code") == 0
    assert export(npz, tmp_path / "b", "--kernel", "code") == 0
    for f in ("trix_model.h", "trix_golden.h", "trix_matvec_code.h"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert export(npz, tmp_path / "c") == 0
    assert not (tmp_path / "c" / "trix_matvec_code.h").exists()
    assert "MATVEC_CODE" not in (tmp_path / "c" / "trix_model.h").read_text()
    k = code_kernel(IntModel.from_artifact(load_artifact(npz)))

    def leaves(v):
        if isinstance(v, dict):
            for x in v.values():
                yield from leaves(x)
        elif isinstance(v, list):
            for x in v:
                yield from leaves(x)
        else:
            yield v
    assert all(isinstance(v, (int, bool)) or type(v).__name__ == "CText" for v in leaves(k))
    text = (tmp_path / "a" / "trix_matvec_code.h").read_text()
    body = text.split("static void trix_matvec_code")[1]
    body = re.sub(r"/\*.*?\*/", "", body.split("#endif")[0], flags=re.S)
    asm = re.sub(r"/\*.*?\*/", "", text.split("__asm__(")[1].split("#else")[0], flags=re.S)   # the Thumb-2 body
    assert set(re.findall(r"[A-Za-z_.][\w.]*", asm)) <= {
        ".syntax", "unified", "n", "t", ".thumb", ".text", ".balign", ".global", ".hidden", ".type", "function",
        ".thumb_func", "trix_matvec_code", "push", "pop", "pc", "lr", "sp", "mov", "ldr", "ldrsh", "add", "sub", "rsb",
        "stmia", ".size", "."} | {f"r{i}" for i in range(15)}, asm
    assert set(re.findall(r"[A-Za-z_]\w*", body)) <= {"const", "uint8_t", "int", "int16_t", "int32_t", "trits", "rows",
                                                       "row_bytes", "z", "acc", "void", "v", "TRIX_CODE_BLOCK_END"} | {
        f"a{i}" for i in range(8)}


@pytest.mark.parametrize("compiler", sorted(COMPILERS))
def test_code_kernel_header_compiles(npz, tmp_path, capsys, compiler):
    cmd = COMPILERS[compiler]
    if shutil.which(cmd[0]) is None:
        pytest.fail(f"{cmd[0]} not installed (scripts/setup.sh installs it)")
    out = tmp_path / "gen"
    assert export(npz, out, "--kernel", "code") == 0
    core = REPO / "firmware" / "core"
    r = subprocess.run(cmd + ["-O2", "-I", str(out), "-I", str(core), "-c", str(core / "trix_cfc.c"),
                              "-o", str(tmp_path / "x.o")], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    nm = "arm-none-eabi-nm" if compiler.startswith("arm") else "nm"
    assert "trix_matvec_code" in subprocess.run([nm, str(tmp_path / "x.o")], capture_output=True, text=True).stdout


# ---- validation names the key; lossy models refused ---------------------------------------

def _export_err(art, tmp_path, capsys, *extra):
    p = tmp_path / "m.npz"
    save_artifact(art, p)
    rc = export(p, tmp_path / "o", *extra)
    return rc, capsys.readouterr(), p


def test_export_refuses_an_unknown_task(tmp_path, capsys):
    a = artifact_arrays(random_artifact(1, 8, seed=5))
    a["task"] = np.str_("cosine")
    p = _write(tmp_path, a)
    assert export(p, tmp_path / "o") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0] == (f"error: {p}: task: unknown task 'cosine' (known: sine, sine-mix, waves3, or "
                                        f"'data', 'labelled' with their entries)"), err
    assert not (tmp_path / "o").exists()


def test_scale_outside_the_multiplier_range_names_key_and_row(tmp_path, capsys):
    art = random_artifact(1, 8, seed=5)
    art.scale_f[3] = 1e-30
    rc, cap, p = _export_err(art, tmp_path, capsys)
    assert rc == 2 and cap.err.startswith(f"error: {p}: scale_f[3]: row scale 1e-30 out of the fixed-point range")


@pytest.mark.parametrize("scale,ok", [(68.5, False), (63.9, True), (61.0, True)])
def test_scale_limit_message_states_the_real_rule(tmp_path, capsys, scale, ok):
    """C = 66 columns (I = 1, H = 65), C + I = 67: scale 68.5 rounds down to 64, 67 * 64 = 4288
    >= 4096 is refused; 63.9 (67 * 32 = 2144) is carried, though 63.9 * 67 > 4096."""
    art = random_artifact(1, 65, seed=5)
    art.scale_g[3] = scale
    if ok:
        IntModel.from_artifact(art)
        return
    rc, cap, p = _export_err(art, tmp_path, capsys)
    assert rc == 2 and cap.err.strip() == (
        f"error: {p}: scale_g[3]: row 3 scale 68.5 too large for C + I = 67 (C = 66 columns + I = 1 inputs): "
        f"the requantization needs (C + I) * 2^floor(log2 scale) < 4096, here 67 * 64 = 4288")


def _lossy_biases():
    art = load_artifact(REPO / "results" / "sine" / "best.npz")
    art.b_f = np.full_like(art.b_f, 8.5)
    art.b_g = art.b_g.copy()
    art.b_g[::2] = -8.5
    return art


def test_export_reports_the_integer_vs_float_error_of_a_trained_model(tmp_path, capsys):
    rc, cap, _ = _export_err(load_artifact(REPO / "results" / "sine" / "best.npz"), tmp_path, capsys)
    assert rc == 0, cap.err
    line = [s for s in cap.out.splitlines() if s.startswith("integer vs float ternary")][0]
    # the report's own figures (the committed model moves when it is retrained), printed as documented
    r = export_model(load_artifact(REPO / "results" / "sine" / "best.npz")).lossy
    assert 0 < r["golden_vs_float_mse_washout"] < 1e-5 and 0 < r["max_abs_diff"] < 1e-2, r
    assert (f"on the validation set (64 x 50): washout MSE {r['golden_vs_float_mse_washout']:.3e} (bound 1e-05), max |diff| "
            f"{r['max_abs_diff']:.3e} (bound 1e-02)") in line
    assert "gate table 0, candidate table 0 of 102400 pre-activations each, readout 0 of 3200 outputs" in line


def test_export_refuses_a_lossy_model_unless_allowed(tmp_path, capsys):
    rc, cap, p = _export_err(_lossy_biases(), tmp_path, capsys)
    err = cap.err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith(
        f"error: {p}: the integer model is far from the float ternary model: washout MSE ")
    r = export_model(_lossy_biases(), allow_lossy=True).lossy
    assert r["golden_vs_float_mse_washout"] > 1e-5 and r["max_abs_diff"] > 1e-2, r
    sat = r
    assert min(sat["gate_table"], sat["cand_table"], sat["readout"]) > 1000, sat
    assert (f"washout MSE {r['golden_vs_float_mse_washout']:.3e} > 1e-05 and max |diff| {r['max_abs_diff']:.3e} > 1e-02 on the "
            f"validation set (saturated: gate table {sat['gate_table']}, candidate table {sat['cand_table']}, "
            f"readout {sat['readout']})") in err[0]
    assert "--allow-lossy" in err[0] and not (tmp_path / "o").exists()
    rc, cap, _ = _export_err(_lossy_biases(), tmp_path, capsys, "--allow-lossy")
    assert rc == 0 and f"washout MSE {r['golden_vs_float_mse_washout']:.3e} (bound 1e-05)" in cap.out
    assert f"readout {sat['readout']} of 3200" in cap.out
    assert (tmp_path / "o" / "trix_model.h").is_file()


@pytest.mark.parametrize("sign", [1, -1])
def test_one_output_far_off_is_refused_though_the_mse_is_small(sign, tmp_path, capsys):
    """The sine model with b_o moved so that its largest (smallest) output is 2.05 (-2.05): a
    few outputs clamp at the readout's [-2, 2), the washout MSE stays far under LOSSY_BOUND, the
    largest single difference (0.05) is over MAX_ABS_BOUND and is what the refusal names."""
    from cfcbase.cell import float_outputs
    from codegen.heads import LOSSY_BOUND, MAX_ABS_BOUND
    art = load_artifact(REPO / "results" / "sine" / "best.npz")
    x, _ = art.task.split("val")
    y = float_outputs(art, x)
    art.head.b_o += (2.05 - y.max()) if sign > 0 else (-2.05 - y.min())
    rc, cap, p = _export_err(art, tmp_path, capsys)
    err = cap.err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and not (tmp_path / "o").exists()
    m = re.search(r"far from the float ternary model: max \|diff\| (\S+) > 1e-02 on the validation set "
                  r"\(saturated: gate table 0, candidate table 0, readout (\d+)\)", err[0])
    assert m and "washout MSE" not in err[0], err[0]
    assert MAX_ABS_BOUND < float(m.group(1)) < 0.051 and 0 < int(m.group(2)) < 400
    rc, cap, _ = _export_err(art, tmp_path, capsys, "--allow-lossy")
    line = [s for s in cap.out.splitlines() if s.startswith("integer vs float ternary")][0]
    mse = float(re.search(r"washout MSE (\S+) ", line).group(1))
    assert rc == 0 and mse < LOSSY_BOUND and f"readout {m.group(2)} of 3200 outputs" in line


def _daphnet_without_its_data(w_o_factor=1.0):
    from codegen.testing import series_model
    art = load_artifact(REPO / "results" / "daphnet" / "best.npz")
    series_model(art, dict(art.task.recorded, path="no/such/dir/S06R02E0.csv"), art.task.scaling)
    art.head.w_o = art.head.w_o * w_o_factor
    return art


def test_a_data_model_without_its_file_is_measured_on_synthetic_inputs(tmp_path, capsys):
    rc, cap, p = _export_err(_daphnet_without_its_data(), tmp_path, capsys)
    assert rc == 0, cap.err
    line = [s for s in cap.out.splitlines() if s.startswith("integer vs float ternary")][0]
    assert line == (
        "integer vs float ternary on synthetic inputs (64 x 50): washout MSE 2.972e-08 (bound 1e-05), max |diff| "
        "1.073e-03 (bound 1e-02); saturated: gate table 1935, candidate table 0 of 102400 pre-activations each, "
        "readout 0 of 3200 outputs (smooth random sequences in [-1, 1], the scaled range of the training block, "
        "instead of the validation set: no/such/dir/S06R02E0.csv: no such file; looked for "
        f"{tmp_path}/no/such/dir/S06R02E0.csv, relative to the model {p}; pass --data FILE to read the data from "
        "another copy)")


def test_a_lossy_data_model_without_its_file_is_still_refused(tmp_path, capsys):
    """Readout weights x50: far off on its validation block, and on the synthetic inputs too; the
    missing file no longer lets it through as "not measured"."""
    rc, cap, p = _export_err(_daphnet_without_its_data(50.0), tmp_path, capsys)
    err = cap.err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and not (tmp_path / "o").exists(), cap
    assert err[0].startswith(f"error: {p}: the integer model is far from the float ternary model: washout MSE ")
    m = re.search(r" > 1e-05 and max \|diff\| \S+ > 1e-02 on synthetic inputs \(saturated: gate table 1935, "
                  r"candidate table 0, readout (\d+)\)", err[0])
    assert m and int(m.group(1)) > 100, err[0]
    rc, cap, _ = _export_err(_daphnet_without_its_data(50.0), tmp_path, capsys, "--allow-lossy")
    assert rc == 0 and "on synthetic inputs (64 x 50)" in cap.out


def test_synthetic_inputs_fill_the_scaled_training_range():
    from codegen.synthetic import synthetic_inputs
    x = synthetic_inputs(3, 50)
    assert x.shape == (64, 50, 3) and np.array_equal(x, synthetic_inputs(3, 50))
    assert x.min() == -1.0 and x.max() == 1.0                     # clipped at both ends
    assert 0.2 < np.mean(np.abs(x)) < 0.8 and np.abs(np.diff(x, axis=1)).max() < 0.75   # spread, smooth


@pytest.mark.parametrize("what", ["scale", "bias", "readout"])
def test_saturation_counts_each_clamp(what):
    """Each clamp counted where it happens, and only there."""
    from codegen.lossy import saturation_counts
    from codegen.golden import quantize_input
    art = load_artifact(REPO / "results" / "sine" / "best.npz")
    if what == "scale":
        art.scale_g = art.scale_g * 0 + 30.0
    elif what == "bias":
        art.b_f = art.b_f * 0 - 9.0
    else:
        art.head.b_o = 2.5
    x, _ = art.task.split("val")
    c = saturation_counts(IntModel.from_artifact(art), quantize_input(x))
    if what == "scale":      # the state it drives also moves the gates and y
        assert c["cand_table"] > 0
    elif what == "bias":
        assert c["gate_table"] == c["pre_per_head"] and c["cand_table"] == 0
    else:                    # b_o does not touch the state: only the readout clamps
        assert c["readout"] > 0 and c["gate_table"] == c["cand_table"] == 0


# ---- text from an artifact never becomes code -------------------------------------------

PAYLOAD = '*/ __attribute__((constructor)) static void p(void){system("touch %s");} /*'


def _v2(art, **record):
    from codegen.testing import series_model
    return series_model(art, dict({"path": "x.csv", "inputs": [f"c{i}" for i in range(art.I)], "target": "c0",
                                   "horizon": 1, "seq_len": 20, "fractions": [0.7, 0.15, 0.15]}, **record))


def _crafted(tmp_path, where):
    """An npz written directly (no save_artifact) whose `where` carries PAYLOAD, and the marker
    file the payload would create."""
    marker = tmp_path / "pwned"
    payload = PAYLOAD % marker
    art = random_artifact(2, 8, seed=5)
    if where in ("data_json: path", "data_json: inputs[1]"):
        _v2(art)
    a = artifact_arrays(art)
    if where in ("config", "task"):
        a[where] = np.str_(payload)
    else:
        d = dict(art.task.recorded)
        if where == "data_json: path":
            d["path"] = payload
        else:
            d["inputs"] = ["c0", payload]
        a["data_json"] = np.str_(json.dumps(d))
    return _write(tmp_path, a, "crafted.npz"), marker


CRAFTED = ("config", "task", "data_json: path", "data_json: inputs[1]")


def _refusal(p, key, marker):
    """The one line: the file, the key, and cfcbase.text's reason (the payload is too long for a
    name; a path may be longer: its first bad character)."""
    from cfcbase.text import NAME_MAX, PATH_MAX, text_problem
    why = text_problem(PAYLOAD % marker, PATH_MAX if key.endswith("path") else NAME_MAX)
    assert why.startswith("character '*' (U+002A) at position 0" if key.endswith("path")
                          else f"{len(PAYLOAD % marker)} characters")
    return f"error: {p}: {key}: {why}"


@pytest.mark.parametrize("where", CRAFTED)
def test_a_crafted_string_is_refused_by_export(where, tmp_path):
    bad, marker = _crafted(tmp_path, where)
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, "-m", "codegen", "export", str(bad), "--out", str(out)], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.splitlines() == [_refusal(bad, where, marker)], r.stderr
    assert not out.exists() and not marker.exists()


@pytest.mark.parametrize("where", CRAFTED)
def test_a_crafted_string_is_refused_by_verify(where, tmp_path, host_cli):
    bad, marker = _crafted(tmp_path, where)
    r = host_cli("verify", "--qemu", "--target", "native", "--model", bad, "--build-dir", tmp_path / "build")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and lines[-1] == _refusal(bad, where, marker) and "Traceback" not in r.stderr, r.stderr
    assert [ln for ln in lines if ln.startswith("error:")] == lines[-1:]
    assert "PASS" not in r.stdout and not marker.exists() and not (tmp_path / "build").exists()


@pytest.mark.parametrize("where", ["config", "task", "path", "inputs", "target"])
def test_codegen_checks_the_text_again(where):
    """Defence in depth: an Artifact that never went through load_artifact (built in memory)
    is refused by the C-text helper, naming the key."""
    from codegen.errors import CodegenError
    from codegen.export import render_model_files
    payload = PAYLOAD[:40]                       # within the length limit: refused for its "*"
    art = _v2(random_artifact(2, 8, seed=5), **({"inputs": ["c0", payload]} if where == "inputs" else
                                                {where: payload} if where in ("path", "target") else {}))
    if where == "config":
        art.config = payload
    elif where == "task":
        art.task.name = payload
    key = {"config": "config", "task": "task", "path": "data_json: path", "inputs": "data_json: inputs[1]",
           "target": "data_json: target"}[where]
    with pytest.raises(CodegenError, match=r"^" + re.escape(f"{art.path}: {key}: character '*' (U+002A) at position 0")):
        render_model_files(art, golden_x=np.zeros((1, 2, 2), np.int16))


@pytest.mark.parametrize("value", ["plain text", "0x1f", 1.5, True, None, np.int64(3)])
def test_a_template_field_that_skips_the_helpers_is_refused(value):
    from codegen.cliterals import CText
    from codegen.errors import CodegenError
    from codegen.export import template_env
    env = template_env()
    with pytest.raises(CodegenError, match="is not C text"):
        env.from_string("int x = {{ v }};").render(v=value)
    assert env.from_string("int x = {{ v }}; /* {{ n }} */").render(v=CText("0x1f"), n=7) == "int x = 0x1f; /* 7 */"


def test_c_string_and_comment_text_refuse_what_could_end_them():
    from codegen.cliterals import c_comment_text, c_string
    from codegen.errors import CodegenError
    assert c_string("sine:best.npz", "name") == '"sine:best.npz"'
    for bad in ('a"b', "a\\b", "a*/b", "a??/", "line\nbreak", "x" * 65, "caf\u00e9"):
        with pytest.raises(CodegenError, match=r"^name: "):
            c_string(bad, "name")
        with pytest.raises(CodegenError, match=r"^name: "):
            c_comment_text(bad, "name")


# ---- the clamp counts at their exact edges -----------------------------------------------

def _constant_preactivation_model(b_f, b_g, b_o=0.0, w_o=0.0):
    """All trits 0: every pre-activation is exactly its bias, whatever x and h (acc = 0)."""
    H = len(b_f)
    art = random_artifact(1, H, seed=7)
    art.weights_f = np.zeros_like(art.weights_f)
    art.weights_g = np.zeros_like(art.weights_g)
    art.b_f, art.b_g = np.array(b_f, np.float64), np.array(b_g, np.float64)
    art.head.w_o = np.full(H, float(w_o))
    art.head.b_o = float(b_o)
    return IntModel.from_artifact(art)


def test_table_clamps_are_counted_exactly_at_both_edges():
    """The tables carry u = pre + 8 in [0, TABLE_SPAN - 1] (Q16); u = TABLE_SPAN - 1 and u = 0
    are not clamped, u = TABLE_SPAN and u = -1 are."""
    from codegen.golden import PRE_FRAC, TABLE_OFFSET, TABLE_SPAN
    from codegen.lossy import saturation_counts
    q = 2.0 ** -PRE_FRAC
    top, bottom = (TABLE_SPAN - 1 - TABLE_OFFSET) * q, -TABLE_OFFSET * q        # 8 - 2^-16, -8
    assert (top, bottom) == (8.0 - q, -8.0)
    m = _constant_preactivation_model(b_f=[top, top + q, bottom, bottom - q, 0.0],
                                      b_g=[top + q, top + 2 * q, bottom - q, top, bottom])
    assert list(m.bias_q16[:5] + TABLE_OFFSET) == [TABLE_SPAN - 1, TABLE_SPAN, 0, -1, TABLE_OFFSET]
    x = np.zeros((3, 7, 1), np.int16)
    c = saturation_counts(m, x)
    assert c == {"gate_table": 2 * 3 * 7, "cand_table": 3 * 3 * 7, "readout": 0, "pre_per_head": 3 * 7 * 5,
                 "outputs": 3 * 7}


@pytest.mark.parametrize("b_o,clamped", [(2.0 - 2.0 ** -14, False), (2.0, True), (-2.0, False),
                                         (-2.0 - 2.0 ** -14, True)])
def test_readout_clamps_of_both_signs_are_counted(b_o, clamped):
    """h stays 0 (candidate bias 0: tanh 0 = 0), so every output is b_o: Q14 carries
    [-2, 2 - 2^-14]; 2.0 and -2 - 2^-14 saturate, every step of every sequence."""
    from codegen.golden import run_golden
    from codegen.lossy import saturation_counts
    m = _constant_preactivation_model(b_f=[0.5, -1.0, 2.0], b_g=[0.0, 0.0, 0.0], b_o=b_o, w_o=0.3)
    x = np.zeros((4, 6, 1), np.int16)
    y = run_golden(m, x)
    assert np.all(y == (32767 if b_o > 0 else -32768))
    c = saturation_counts(m, x)
    assert (c["readout"], c["gate_table"], c["cand_table"]) == ((4 * 6 if clamped else 0), 0, 0)


def test_verify_knows_the_allow_lossy_that_the_refusal_names(tmp_path, host_cli):
    """The lossy gate's message says "pass --allow-lossy": host verify has that option too, and with
    it streams the model (bit-exact with the golden model, the gate's figures still printed)."""
    p = tmp_path / "lossy.npz"
    save_artifact(_lossy_biases(), p)
    r = host_cli("verify", "--qemu", "--target", "native", "--model", p, "--sequences", "4",
                 "--build-dir", tmp_path / "b")
    assert r.returncode == 2 and "pass --allow-lossy" in r.stderr.strip().splitlines()[-1], r.stderr
    r = host_cli("verify", "--qemu", "--target", "native", "--model", p, "--sequences", "4", "--allow-lossy",
                 "--build-dir", tmp_path / "b")
    assert r.returncode == 0 and "verify: PASS: 1/1" in r.stdout and "(bound 1e-05)" in r.stderr, r.stdout + r.stderr
