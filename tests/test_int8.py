"""int8 heads through the pipeline: the version-4 artifact (docs/artifact.md), the golden model and
the headers (docs/fixed_point.md, 2a), the trainer's int8 PTQ / QAT (trainer/int8.py) and the
frontier command (trainer/frontier.py)."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cfcbase.artifact import load_artifact, save_artifact, write_artifact
from cfcbase.formats import INT8, TERNARY
from cfcbase.errors import ArtifactError
from codegen.export import export_model, render_model_files
from codegen.golden import IntModel, matvec_golden, run_golden
from codegen.pack import INT8_ORDER, pack_int8_rows, unpack_int8_rows
from codegen.testing import random_artifact, random_inputs_q14

REPO = Path(__file__).resolve().parents[1]


def _int8(I=1, H=8, seed=0, formats=("int8", "int8")):
    return random_artifact(I, H, seed, formats=formats)


# ---- artifact, version 4 ------------------------------------------------------------------------

@pytest.mark.parametrize("formats", [("int8", "int8"), ("ternary", "int8"), ("int8", "ternary")])
def test_version_3_round_trip(formats, tmp_path):
    art = _int8(2, 5, 1, formats)
    save_artifact(art, tmp_path / "m.npz")
    back = load_artifact(tmp_path / "m.npz")
    assert back.format_version == 4 and tuple(map(str, back.formats)) == formats
    for h in "fg":
        assert np.array_equal(getattr(back, f"weights_{h}"), getattr(art, f"weights_{h}"))
    keys = set(np.load(tmp_path / "m.npz").files)
    for h, fmt in zip("fg", formats):
        assert (f"weights_{h}" in keys) == (fmt == "int8") and (f"trits_{h}" in keys) == (fmt == "ternary")
    buf = io.BytesIO()
    write_artifact(back, buf, tmp_path / "m.npz")
    assert buf.getvalue() == (tmp_path / "m.npz").read_bytes()          # written again byte for byte


def test_ternary_models_are_still_version_1_and_2_byte_for_byte():
    for task in ("sine", "sine-mix", "daphnet"):
        p = REPO / "results" / task / "best.npz"
        if not p.is_file():
            continue
        art = load_artifact(p)
        assert art.format_version in (1, 2) and tuple(map(str, art.formats)) == ("ternary", "ternary")
        buf = io.BytesIO()
        write_artifact(art, buf, p)
        assert buf.getvalue() == p.read_bytes(), task


def _raw(art):
    from cfcbase.artifact import artifact_arrays
    return artifact_arrays(art)


BAD = {
    "int8 weight -128": (lambda d: d["weights_g"].__setitem__((0, 0), -128),
                         "weights_g: int8 weight at row 0, column 0 is -128, not in [-127, 127]"),
    "unknown format": (lambda d: d.__setitem__("format_f", np.str_("int4")),
                       "format_f: unknown weight format 'int4' (known: ternary, int8)"),
    "format not a string": (lambda d: d.__setitem__("format_g", np.int32(1)),
                            "format_g: expected a unicode scalar"),
    "missing weights": (lambda d: d.pop("weights_f"), "weights_f: missing key"),
    "a format in version 2": (lambda d: d.__setitem__("format_version", np.int32(2)),
                              "format_f: a weight format needs format version 4, the file is version 2"),
    "ternary-only version 4": (lambda d: (d.__setitem__("format_f", np.str_("ternary")),
                                          d.__setitem__("format_g", np.str_("ternary")),
                                          d.__setitem__("trits_f", np.zeros((8, 9), np.int8)),
                                          d.__setitem__("trits_g", np.zeros((8, 9), np.int8))),
                               "format version 4 is for int8 heads"),
    "int8 weights of another dtype": (lambda d: d.__setitem__("weights_f", d["weights_f"].astype(np.int16)),
                                      "weights_f: expected int8, got dtype int16"),
    "int8 weights of another shape": (lambda d: d.__setitem__("weights_g", d["weights_g"][:, :4]),
                                      "weights_g: expected shape (8, 9), got (8, 4)"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_version_3_is_refused_in_one_line_naming_the_key(case, tmp_path):
    d = _raw(_int8())
    change, why = BAD[case]
    change(d)
    np.savez(tmp_path / "bad.npz", **d)
    with pytest.raises(ArtifactError) as e:
        load_artifact(tmp_path / "bad.npz")
    msg = str(e.value)
    assert why in msg and "\n" not in msg, msg
    r = subprocess.run([sys.executable, "-m", "codegen", "export", tmp_path / "bad.npz", "--out", tmp_path / "o"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and why in r.stderr and not (tmp_path / "o").exists()


# ---- golden model and headers ------------------------------------------------------------------

def test_int8_rows_are_stored_in_cmsis_nn_order():
    w = np.arange(1, 11, dtype=np.int8).reshape(1, 10)
    p = pack_int8_rows(w, 12)
    assert INT8_ORDER == (0, 2, 1, 3)
    assert p.tolist() == [[1, 3, 2, 4, 5, 7, 6, 8, 9, 0, 10, 0]]
    assert np.array_equal(unpack_int8_rows(p, 10), w)


def test_int8_golden_matvec_and_hash():
    art = _int8(3, 9, 2)
    m = IntModel.from_artifact(art)
    z = np.random.default_rng(0).integers(-32768, 32768, (5, m.cols_padded)).astype(np.int16)
    z[:, m.C:] = 0
    want = z[:, : m.C].astype(np.int64) @ np.concatenate([art.weights_f, art.weights_g]).astype(np.int64).T
    assert np.array_equal(matvec_golden(m, z), want)
    # the int8 weights are part of the model's identity; a ternary model's hash is what it was
    art2 = _int8(3, 9, 2)
    art2.weights_g = art2.weights_g.copy()
    art2.weights_g[0, 0] = art2.weights_g[0, 0] + (1 if art2.weights_g[0, 0] < 127 else -1)
    assert IntModel.from_artifact(art2).hash != m.hash
    # a ternary model's hash as the code before int8 heads computed it (a fixed random model, so
    # that retraining the committed models does not move it)
    from codegen.testing import random_artifact
    assert IntModel.from_artifact(random_artifact(2, 9, seed=3)).hash_hex == "db50ad2c478287e0"


def test_int8_range_check_counts_127():
    """A row scale a ternary row carries is refused for an int8 row: |w| <= 127 (section 2a)."""
    art = _int8(1, 40, 0)
    art.scale_g = art.scale_g.copy()
    art.scale_g[3] = 2.0
    from codegen.errors import CodegenError
    with pytest.raises(CodegenError, match=r"scale_g\[3\].*\(C \+ I\) \* 127 \* 2\^floor\(log2 scale\) < 4096"):
        IntModel.from_artifact(art)
    art.formats = (art.formats[0], TERNARY)
    art.weights_g = np.sign(art.weights_g).astype(np.int8)
    IntModel.from_artifact(art)                         # carried as a ternary row


@pytest.mark.parametrize("compiler", ["gcc", "arm-none-eabi-gcc"])
def test_int8_headers_compile_and_code_kernel_is_refused(compiler, tmp_path):
    if shutil.which(compiler) is None:
        pytest.fail(f"missing {compiler}: run scripts/setup.sh")
    art = _int8(1, 16, 4)
    files = render_model_files(art)
    text = files["trix_model.h"].decode()
    assert "#define TRIX_FORMAT_F      1" in text and "trix_weights[TRIX_ROWS * TRIX_COLS_PADDED] TRIX_ALIGN4" in text
    assert "static const uint8_t trix_trits" not in text
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "t.c").write_text('#include "trix_model.h"\n#include "trix_golden.h"\n'
                                  "int main(void) { return trix_weights[0] + trix_golden_y[0]; }\n")
    flags = ["-mcpu=cortex-m4", "-mthumb", "-c"] if compiler.startswith("arm") else []
    r = subprocess.run([compiler, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", *flags, "-I", tmp_path,
                        tmp_path / "t.c", "-o", tmp_path / "t.o"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    from codegen.errors import CodegenError
    with pytest.raises(CodegenError, match="weights as code is for ternary models"):
        render_model_files(art, kernel="code")


def test_int8_golden_runs_and_the_lossy_gate_covers_int8(tmp_path):
    """A PTQ int8 model of the committed model's teacher is within the gate; the same with a
    scale 100 times too large is refused (the gate is the same for every format)."""
    from trainer.model.quant import quantize_int8
    art = load_artifact(REPO / "results" / "sine" / "best.npz")
    t = art.teacher
    q, s = quantize_int8(np.concatenate([t.W_f, t.W_g]))
    H = art.H
    art.weights_f, art.weights_g = q[:H].astype(np.int8), q[H:].astype(np.int8)
    art.scale_f, art.scale_g = s[:H], s[H:]
    art.b_f, art.b_g, art.tau, art.head = t.b_f, t.b_g, t.tau, t.head
    art.formats = (INT8, INT8)
    ex = export_model(art)
    assert ex.lossy["golden_vs_float_mse_washout"] < 1e-7
    y = run_golden(ex.model, random_inputs_q14(1, 2, 10, 0))
    assert y.shape == (2, 10)
    art.scale_g = art.scale_g * 100
    from codegen.errors import CodegenError
    with pytest.raises(CodegenError, match="far from the float"):
        export_model(art)


# ---- trainer --------------------------------------------------------------------------------------

def test_int8_ptq_is_per_row_symmetric():
    from trainer.model.quant import quantize_int8
    W = np.random.default_rng(0).normal(size=(6, 9))
    q, s = quantize_int8(W)
    assert np.allclose(s, np.abs(W).max(axis=1) / 127)
    assert q.min() >= -127 and q.max() <= 127 and (np.abs(q).max(axis=1) == 127).all()
    assert np.abs(W - s[:, None] * q).max() <= s.max() / 2 + 1e-12


def test_frontier_tiny_run_is_resumable_and_writes_its_reports(tmp_path, capsys):
    """A tiny frontier without QEMU: the reports and the int8 models, Pareto marks; a rerun finds
    every job in the cache and writes the same frontier.json (wall time aside)."""
    from trainer.cli import main
    out = tmp_path / "fr"
    argv = ["frontier", "--task", "sine", "--seeds", "2", "--ternary", "4,8", "--int8", "4", "--epochs", "2",
            "--teacher-epochs", "3", "--no-qemu", "--workers", "1", "--out", str(out)]
    assert main(argv) == 0
    r = json.loads((out / "frontier.json").read_text())
    assert {(p["format"], p["H"]) for p in r["points"]} == {("float", 4), ("float", 8), ("ternary", 4),
                                                             ("ternary", 8), ("int8", 4)}
    assert r["equal_bytes"][0]["ternary_H"] == 8 and r["equal_bytes"][0]["int8_H"] == 4
    assert any(p.get("pareto_bytes") for p in r["points"])
    # each ternary width once per kernel; the bytes' Pareto marks only on the packed models
    assert sorted(p["kernel"] for p in r["points"] if p["format"] == "ternary" and p["H"] == 8) == ["code", "packed",
                                                                                                    "ref"]
    assert not any(p.get("pareto_bytes") for p in r["points"] if p.get("kernel") in ("code", "ref"))
    assert tuple(map(str, load_artifact(out / "int8-H4.npz").formats)) == ("int8", "int8")
    md = (out / "frontier.md").read_text()
    assert "At equal weight bytes" in md and "| ternary | 8 | 144 | 48 |" in md
    assert "| ternary, ref kernel | 8 | 144 | 48 |" in md and "| ternary, code kernel | 4 |" in md
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "5 jobs, 0 to run (5 cached" in err, err
    r2 = json.loads((out / "frontier.json").read_text())
    r.pop("wall_s"), r2.pop("wall_s")
    assert r == r2


def test_frontier_refuses_bad_options_in_one_line(capsys):
    from trainer.cli import main
    for argv, why in ((["frontier", "--task", "nope", "--no-qemu"], "unknown task 'nope'"),
                      (["frontier", "--ternary", "8,x", "--no-qemu"], "--ternary: comma-separated integers"),
                      (["frontier", "--ternary-set", "zzz=1", "--no-qemu"], "--ternary-set 'zzz=1'"),
                      (["frontier", "--targets", "native", "--seeds", "2"], "--targets native")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and why in err, err


def test_a_classifier_frontier_scores_accuracy(tmp_path, capsys):
    """The frontier of a classification task: accuracy per point (mean over seeds, higher better),
    the equal-bytes comparison in points, the int8 model selected on the validation cross-entropy."""
    from trainer.cli import main
    from trainer.reports.frontier_report import best_int8_seeds, pareto, score_of
    out = tmp_path / "fr"
    argv = ["frontier", "--task", "waves3", "--seeds", "2", "--ternary", "4,8", "--int8", "4", "--epochs", "2",
            "--teacher-epochs", "3", "--no-qemu", "--workers", "1", "--out", str(out)]
    assert main(argv) == 0
    assert "test accuracy ternary - int8" in capsys.readouterr().out
    r = json.loads((out / "frontier.json").read_text())
    assert (r["head"], r["selected_on"]) == ("classifier", "ce")
    sc = score_of(r)
    for p in r["points"]:
        accs = [s["test_acc"] for s in p["seeds"]]
        assert p["acc"]["mean"] == pytest.approx(np.mean(accs)) and "mse" not in p
        assert all(0.0 <= a <= 1.0 for a in accs) and all("val_ce" in s for s in p["seeds"])
    q = r["equal_bytes"][0]
    t8 = next(p for p in r["points"] if p["format"] == "ternary" and p["H"] == 8 and p["kernel"] == "packed")
    i4 = next(p for p in r["points"] if p["format"] == "int8")
    assert q["mean_diff_points"] == pytest.approx(100 * (t8["acc"]["mean"] - i4["acc"]["mean"]))
    assert q["ternary_wins"] == (q["mean_diff_points"] > 0)
    # higher is better: the more accurate of two points of equal bytes is the Pareto one
    a, b = dict(t8, acc={"mean": 0.9}), dict(t8, acc={"mean": 0.5})
    assert pareto([a, b], "weight_bytes", sc) == {0}
    assert best_int8_seeds(r) == {4: min(i4["seeds"], key=lambda s: (s["val_ce"], s["seed"]))["seed"]}
    art = load_artifact(out / "int8-H4.npz")
    assert art.metrics["selected_on"] == "val_ce" and "test_acc" in art.metrics
    md = (out / "frontier.md").read_text()
    assert "| test accuracy | vs float |" in md and "accuracy ternary - int8" in md and " % (" in md
