"""Classification end to end: labelled files (.ts, .npz) and their refusals through the CLI, the
head's gradient check and its abort, the version-3 artifact, the golden logits against an
independent scalar implementation of docs/fixed_point.md section 12, and a 3-class synthetic
task trained, exported and verified bit-exact on native."""
from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cfcbase import labelled as L
from cfcbase.artifact import load_artifact, save_artifact
from cfcbase.cell import float_outputs
from cfcbase.table import SeriesError, beside, recorded_path
from cfcbase.tasks import builtin
from codegen.heads import dequantize_logits
from trainer.cli import main as trainer_main
from trainer.model import gradcheck
from trainer.model.heads import ClassifierHead

REPO = Path(__file__).resolve().parents[1]
TINY = ["--seeds", "2", "--epochs", "8", "--teacher-epochs", "12", "--cs-sweeps", "1", "--refit-epochs", "3"]


def ts_text(cases, classes=("a", "b", "c"), dims=2, length=6, header_extra=""):
    """A .ts file: cases = [(label, [[values of channel 0], [channel 1], ...]), ...]."""
    head = [f"# a comment", "@problemName Tiny", "@timeStamps false", "@missing false",
            f"@univariate {'true' if dims == 1 else 'false'}", f"@dimensions {dims}", "@equalLength true",
            f"@seriesLength {length}", "@classLabel true " + " ".join(classes)]
    if header_extra:
        head.append(header_extra)
    head.append("@data")
    lines = [":".join(",".join(str(v) for v in ch) for ch in chans) + ":" + lab for lab, chans in cases]
    return "\n".join(head + lines) + "\n"


def tiny_cases(n_per=4, classes=("a", "b", "c"), dims=2, length=6, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_per * len(classes)):
        k = i % len(classes)
        chans = (np.sin(np.arange(length) * (k + 1) / 2.0)[None, :] * (1 + rng.random((dims, 1)))
                 + 0.1 * rng.normal(size=(dims, length)) + 3 * k)
        out.append((classes[k], np.round(chans, 4).tolist()))
    return out


def write_pair(d: Path, train_cases, test_cases=None, **kw):
    (d / "Tiny_TRAIN.ts").write_text(ts_text(train_cases, **kw))
    (d / "Tiny_TEST.ts").write_text(ts_text(test_cases or tiny_cases(seed=1, **{k: v for k, v in kw.items()
                                                                              if k in ("classes", "dims", "length")}),
                                            **kw))
    return d / "Tiny_TRAIN.ts"


# ---- reading ------------------------------------------------------------------------------------

def test_ts_reader_splits_and_scaling(tmp_path):
    train = write_pair(tmp_path, tiny_cases(n_per=5))
    lab = L.read_labelled(train)
    assert lab.x.shape == (15, 6, 2) and lab.classes == ["a", "b", "c"] and lab.problem == "Tiny"
    assert lab.y.tolist() == [0, 1, 2] * 5 and lab.lines[0] == 11           # 10 header lines, then the cases
    d = L.build(L.LabelledSpec(str(train), L.default_test_path(str(train))))
    assert [len(d.y[s]) for s in L.SPLITS] == [12, 3, 12]                     # 1 of 5 per class for validation
    assert L.counts(d.y["val"], 3).tolist() == [1, 1, 1]
    xt = d.x["train"].reshape(-1, 2)
    np.testing.assert_allclose(xt.mean(0), 0, atol=1e-12)                    # fitted on the training part
    np.testing.assert_allclose(np.abs(xt).max(0), 1.0)
    again = L.build(L.LabelledSpec(str(train), str(tmp_path / "Tiny_TEST.ts")))
    assert np.array_equal(again.x["val"], d.x["val"])                        # the split's seed is fixed
    a, b = L.stratified_split(np.repeat(np.arange(3), 10), 3, 0.2)
    assert len(b) == 6 and not set(a) & set(b) and len(a) + len(b) == 30


def test_npz_reader_matches_the_ts_reader(tmp_path):
    train = write_pair(tmp_path, tiny_cases())
    ts = L.read_labelled(train)
    np.savez(tmp_path / "t.npz", X=ts.x, y=np.array(ts.classes)[ts.y], classes=np.array(ts.classes),
             channels=np.array(["ax", "ay"]))
    nz = L.read_labelled(tmp_path / "t.npz")
    assert np.array_equal(nz.x, ts.x) and np.array_equal(nz.y, ts.y) and nz.channels == ["ax", "ay"]
    np.savez(tmp_path / "i.npz", X=ts.x, y=ts.y, classes=np.array(ts.classes))      # integer labels
    assert np.array_equal(L.read_labelled(tmp_path / "i.npz").y, ts.y)


def test_basicmotions_from_the_aeon_wheel():
    pytest.importorskip("aeon")
    p = "pkg:aeon/datasets/data/BasicMotions/BasicMotions_TRAIN.ts"
    d = L.build(L.LabelledSpec(p, L.default_test_path(p)))
    assert d.classes == ["Standing", "Running", "Walking", "Badminton"]
    assert {s: d.x[s].shape for s in L.SPLITS} == {"train": (32, 100, 6), "val": (8, 100, 6), "test": (40, 100, 6)}


# ---- bad labelled files: one line through the CLI, nothing written -------------------------------

def _bad_ts(tmp_path, kind):
    cases = tiny_cases()
    if kind == "unequal":
        cases[5] = (cases[5][0], [ch[:5] for ch in cases[5][1]])
        return write_pair(tmp_path, cases), "Tiny_TRAIN.ts: line 16: channel 0 has 5 values, @seriesLength declares 6"
    if kind == "unknown-label":
        cases[3] = ("z", cases[3][1])
        return write_pair(tmp_path, cases), "Tiny_TRAIN.ts: line 14: unknown label 'z' (@classLabel on line 9"
    if kind == "nan":
        text = ts_text(cases).splitlines()
        text[14] = text[14].replace(str(cases[4][1][1][2]), "NaN", 1)
        (tmp_path / "Tiny_TRAIN.ts").write_text("\n".join(text) + "\n")
        (tmp_path / "Tiny_TEST.ts").write_text(ts_text(tiny_cases(seed=1)))
        return tmp_path / "Tiny_TRAIN.ts", "Tiny_TRAIN.ts: line 15: channel 1, value 2: NaN (a missing or non-finite"
    if kind == "missing":
        text = ts_text(cases).splitlines()
        text[12] = text[12].replace(str(cases[2][1][0][0]), "?", 1)
        (tmp_path / "Tiny_TRAIN.ts").write_text("\n".join(text) + "\n")
        (tmp_path / "Tiny_TEST.ts").write_text(ts_text(tiny_cases(seed=1)))
        return tmp_path / "Tiny_TRAIN.ts", "Tiny_TRAIN.ts: line 13: channel 0, value 0: a missing value"
    if kind == "empty-class":
        return (write_pair(tmp_path, [c for c in cases if c[0] != "b"]),
                "Tiny_TRAIN.ts: @classLabel on line 9: class 'b' has no case in the file")
    if kind == "test-unequal":
        test = tiny_cases(seed=1)
        test[2] = (test[2][0], [ch + [0.5] for ch in test[2][1]])
        return write_pair(tmp_path, cases, test), "Tiny_TEST.ts: line 13: channel 0 has 7 values, @seriesLength declares 6"
    if kind == "npz-label":
        ts = L.read_labelled(write_pair(tmp_path, cases))
        y = ts.y.copy()
        y[7] = 9
        np.savez(tmp_path / "Tiny_TRAIN.npz", X=ts.x, y=y, classes=np.array(ts.classes))
        np.savez(tmp_path / "Tiny_TEST.npz", X=ts.x, y=ts.y, classes=np.array(ts.classes))
        return tmp_path / "Tiny_TRAIN.npz", "Tiny_TRAIN.npz: case 7: unknown label 9 (class indices 0..2)"
    if kind == "npz-nan":
        ts = L.read_labelled(write_pair(tmp_path, cases))
        x = ts.x.copy()
        x[4, 3, 1] = np.nan
        np.savez(tmp_path / "Tiny_TRAIN.npz", X=x, y=ts.y, classes=np.array(ts.classes))
        np.savez(tmp_path / "Tiny_TEST.npz", X=ts.x, y=ts.y, classes=np.array(ts.classes))
        return tmp_path / "Tiny_TRAIN.npz", "Tiny_TRAIN.npz: case 4: X[4, 3, 1] is nan"
    raise ValueError(kind)


BAD = ["unequal", "unknown-label", "nan", "missing", "empty-class", "test-unequal", "npz-label", "npz-nan"]


@pytest.mark.parametrize("kind", BAD)
def test_bad_labels_one_line_through_the_cli(kind, tmp_path, capsys):
    d = tmp_path / "data"
    d.mkdir()
    train, want = _bad_ts(d, kind)
    out = tmp_path / "out"
    rc = trainer_main(["factorial", "--labelled", str(train), "--out", str(out), "--jobs", "1"] + TINY)
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: ") and want in lines[0], cap.err
    assert not out.exists()                                   # refused before --out is made
    with pytest.raises(SeriesError) as e:                     # the reader's own line, the same
        L.build(L.LabelledSpec(str(train), L.default_test_path(str(train))))
    assert want in str(e.value) and lines[0] == f"error: {e.value}"


# ---- the gradient check covers the head, and aborts the factorial ---------------------------------

def test_gradcheck_covers_the_head_and_its_loss():
    r = gradcheck.run(H=2, T=4, B=2)
    groups = [k for k in r if k.startswith("cls")]
    for g in ("cls-last[W,task]", "cls-mean[w_c,task]", "cls-mean[b_c,out]", "cls-last[log_tau,traj]",
              "cls-mean-student-eff[s,task]", "cls-last-shaped-ste[V]", "cls-last-ragged[W,traj]",
              "cls-mean-ragged[w_c,out]", "cls-mean-ragged-shaped-ste[V]"):
        assert g in groups, groups
    assert len(groups) == 100 and gradcheck.failures(r) == {}, r


def _broken_head_backward(orig):
    def wrong(*a, **k):
        d = orig(*a, **k)
        return dict(d, w_c=d["w_c"] * 1.01)            # a 1% error in the head's weight gradient
    return wrong


def test_an_error_in_the_head_gradient_aborts_the_factorial(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(ClassifierHead, "backward", _broken_head_backward(ClassifierHead.backward))
    bad = gradcheck.failures(gradcheck.run(H=2, T=4, B=2))
    assert bad and all(k.startswith("cls") and "w_c" in k for k in bad), bad
    rc = trainer_main(["factorial", "--task", "waves3", "--out", str(tmp_path), "--jobs", "1"] + TINY)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("error: gradient check failed") and "w_c" in err[-1]
    assert not (tmp_path / "best.npz").exists() and not (tmp_path / "factorial.json").exists()


# ---- the version-3 artifact ------------------------------------------------------------------------

def test_version_3_round_trip_and_hash(tmp_path):
    from codegen.golden import IntModel
    from codegen.testing import random_classifier
    art = random_classifier(2, 8, 4, seed=3)
    save_artifact(art, tmp_path / "c.npz")
    back = load_artifact(tmp_path / "c.npz")
    assert back.format_version == 3 and back.head.classes == art.head.classes
    assert np.array_equal(back.head.w_c, art.head.w_c) and back.head.pooling.name == "mean"
    w_o, b_o = back.head.device_readout()
    assert not np.any(w_o) and b_o == 0.0
    with np.load(tmp_path / "c.npz") as z:
        assert "w_o" not in z.files and int(z["format_version"]) == 3
    h = IntModel.from_artifact(back).hash
    back.head.w_c[1, 2] += 1e-9                                  # any head parameter is part of the identity
    assert IntModel.from_artifact(back).hash != h


@pytest.mark.parametrize("change, why", [
    ({"K": np.int32(40)}, "K: classes must be in 2..32"),
    ({"class_names": np.array(["a", "b*/", "c"])}, "class_names: class 1: character '*'"),
    ({"pooling": np.str_("max")}, "pooling: expected one of last, mean"),
    ({"w_c": np.zeros((3, 5))}, "w_c: expected float64 of shape (3, 6)"),
    ({"w_o": np.zeros(6)}, "w_o: a classifier (key K) carries no regression readout"),
    ({"format_version": np.int32(2)}, "format_version: a classifier (key K) is a format version 3 file"),
    ({"task": np.str_("sine")}, "task: task 'sine' trains a readout; this file carries a classifier (key K)"),
])
def test_bad_version_3_refused_in_one_line(change, why, tmp_path, capsys):
    from codegen.cli import main as codegen_main
    from codegen.testing import random_classifier
    save_artifact(random_classifier(1, 6, 3, seed=1), tmp_path / "ok.npz")
    with np.load(tmp_path / "ok.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(change)
    np.savez(tmp_path / "bad.npz", **arrays)
    rc = codegen_main(["export", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "gen")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and why in err[0], err
    assert not (tmp_path / "gen").exists()


# ---- the golden logits against section 12 as written --------------------------------------------

def _section_12(head, hs):
    """An independent scalar implementation of docs/fixed_point.md section 12 (Python ints)."""
    N, T, H = hs.shape
    logits, classes = [], []
    for n in range(N):
        if head.pooling.name == "last":
            v = [int(hs[n, T - 1, i]) for i in range(H)]
        else:
            v = []
            for i in range(H):
                S = sum(int(hs[n, t, i]) for t in range(T))
                q, r = divmod(S, T)                   # floor division, 0 <= r < T
                v.append(q + (1 if 2 * r >= T else 0))
        row = []
        for k in range(head.K):
            acc = int(head.b_q[k]) + sum(int(head.w_q[k, i]) * v[i] for i in range(H))
            lg = (acc + (1 << (head.shift - 2))) >> (head.shift - 1)
            row.append(max(-(1 << 31), min((1 << 31) - 1, lg)))
        logits.append(row)
        classes.append(max(range(head.K), key=lambda k: (row[k], -k)))
    return np.array(logits), np.array(classes)


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_golden_logits_are_section_12(pooling):
    from codegen.golden import IntModel, golden_outputs, run_golden
    from codegen.testing import random_classifier, random_inputs_q14
    for seed, (I, H, K) in enumerate([(1, 5, 3), (3, 16, 7), (6, 8, 32)]):
        m = IntModel.from_artifact(random_classifier(I, H, K, seed=seed, pooling=pooling, w_c_sd=3.0))
        x = random_inputs_q14(I, 12, 17, seed=seed)
        lg, cls = golden_outputs(m, x)
        want, want_cls = _section_12(m.head, run_golden(m, x, return_states=True)[1])
        assert np.array_equal(lg, want) and np.array_equal(cls, want_cls)
    # rounding of the mean: ties go up, negative sums floor first
    hs = np.array([[[-3], [-2]], [[3], [2]], [[-1], [0]], [[-32768], [-32768]]], np.int16)
    assert m.head.pooled(hs).ravel().tolist() == ([-2, 3, 0, -32768] if pooling == "mean" else [-2, 2, 0, -32768])


def test_integer_logits_follow_the_float_ternary_ones():
    from codegen.golden import IntModel, golden_outputs, quantize_input
    from codegen.testing import random_classifier
    art = random_classifier(1, 16, 3, seed=4)
    x, _ = builtin("waves3").split("val")
    lg, _ = golden_outputs(IntModel.from_artifact(art), quantize_input(x))
    assert np.max(np.abs(dequantize_logits(lg) - float_outputs(art, x))) < 5e-3


# ---- the 3-class synthetic task end to end ---------------------------------------------------------

def test_three_class_task_trains_exports_and_verifies_bit_exact_on_native(tmp_path, host_cli, capsys):
    out = tmp_path / "w3"
    assert trainer_main(["factorial", "--task", "waves3", "--out", str(out), "--jobs", "1"] + TINY) == 0
    assert "best ternary classifier" in capsys.readouterr().out
    r = json.loads((out / "factorial.json").read_text())
    assert r["head"] == "classifier" and r["data"]["classes"] == ["slow", "fast", "saw"]
    assert len(r["runs"]) == 2 * (2 * 6) + 2 * 3 and r["anova_metric"] == "log10 test cross-entropy"
    art = load_artifact(out / "best.npz")
    assert art.format_version == 3 and art.head.pooling.name == "mean" and art.metrics["selected_on"] == "val_ce"
    assert art.metrics["test_acc"] == r["best"]["test_acc"]
    md = (out / "factorial.md").read_text()
    for needle in ("## Factorial (over seeds)", "ANOVA on log10 test cross-entropy", "logit distillation", "PTQ",
                   "CS + refit on best", "confusion matrix", "| true \\ predicted | slow | fast | saw |"):
        assert needle in md, needle
    res = host_cli("verify", "--qemu", "--target", "native", "--model", out / "best.npz", "--json", tmp_path / "v.json",
                   "--build-dir", tmp_path / "build")
    assert res.returncode == 0, res.stdout + res.stderr
    for needle in ("logits                0 mismatches of 288 (bit-exact with the golden model); classes 0 mismatches",
                   "accuracy", "on the device", "per-class recall      slow", "confusion matrix",
                   "time/window", "verify: PASS: 1/1 targets bit-exact over 96 x 32 steps and their 96 windows' logits"):
        assert needle in res.stdout, (needle, res.stdout)
    v = json.loads((tmp_path / "v.json").read_text())["targets"][0]["classify"]
    assert v["logit_mismatches"] == 0 and v["accuracy"] == pytest.approx(r["best"]["test_acc"])
    assert sum(map(sum, v["confusion"])) == 96


@pytest.mark.slow
def test_classification_factorial_is_deterministic_and_independent_of_jobs(tmp_path):
    """The same factorial.json numbers and best.npz bytes from --jobs 1 and --jobs 2."""
    outs = []
    for jobs in (1, 2):
        out = tmp_path / f"j{jobs}"
        r = subprocess.run([sys.executable, "-m", "trainer", "factorial", "--task", "waves3", "--out", str(out),
                            "--jobs", str(jobs)] + TINY, cwd=REPO, capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0, r.stderr[-3000:]
        outs.append(out)
    a, b = (json.loads((o / "factorial.json").read_text()) for o in outs)
    for r in (a, b):
        r.pop("wall_s")
        r.pop("command")                                   # names its own --out
        for row in r["runs"] + r["teachers"]:
            row.pop("wall_s", None)
    assert a == b
    assert (outs[0] / "best.npz").read_bytes() == (outs[1] / "best.npz").read_bytes()


CLASSIFIERS = [d for d in sorted((REPO / "results").iterdir())
               if (d / "factorial.json").is_file() and '"head": "classifier"' in (d / "factorial.json").read_text()]


@pytest.mark.parametrize("d", CLASSIFIERS, ids=lambda d: d.name)
def test_committed_classifier_and_its_verify_report(d):
    """results/<name>/ of a classification task: best.npz is the factorial's selected model, and
    verify.json (python -m host verify --qemu --target all ... --json) found it bit-exact on
    every target with the accuracy the golden model gives on its test windows (each its own
    steps). The integer model's class differs from the float ternary model's (whose accuracy the
    factorial reports) only on windows whose two largest float logits lie within twice the largest
    |integer - float| logit difference verify measured: the only place a difference can flip it."""
    from codegen.golden import IntModel
    from host.targets import DEFAULT_TARGETS
    r = json.loads((d / "factorial.json").read_text())
    art = load_artifact(d / "best.npz")
    b = r["best"]
    assert art.format_version == 3 and art.config == b["name"] and art.metrics["test_acc"] == b["test_acc"]
    assert b["weights_bytes"]["total"] <= 2048        # the widths 8 and 16 keep every committed set under 2 kB
    v = json.loads((d / "verify.json").read_text())
    assert v["passed"] and v["model_hash"] == IntModel.from_artifact(art).hash_hex
    assert [t["target"] for t in v["targets"]] == list(DEFAULT_TARGETS)
    for t in v["targets"]:
        c = t["classify"]
        assert t["mismatches"] == 0 and c["logit_mismatches"] == 0 and c["class_mismatches"] == 0, t["target"]
        assert c["accuracy"] == c["golden_accuracy"], t["target"]
    from cfcbase.cell import float_outputs
    from codegen.golden import golden_outputs, quantize_input
    x, y = art.task.split("test")
    n = art.task.lengths("test")
    _, cls = golden_outputs(IntModel.from_artifact(art), quantize_input(x), n)
    assert float(np.mean(cls == y)) == v["targets"][0]["classify"]["accuracy"]
    fl = float_outputs(art, x, n)
    assert float(np.mean(np.argmax(fl, 1) == y)) == pytest.approx(b["test_acc"])
    top2 = np.sort(fl, 1)[:, -2:]
    d = v["targets"][0]["classify"]["max_abs_logit_diff_vs_float"]
    flipped = np.flatnonzero(np.argmax(fl, 1) != cls)
    assert np.all(top2[flipped, 1] - top2[flipped, 0] <= 2 * d + 1e-12), (flipped, d)


def test_a_classifiers_files_are_found_relative_to_its_artifact(tmp_path, monkeypatch):
    """The TRAIN/TEST paths best.npz records are relative to its directory (as a data model's
    file): a results directory copied elsewhere with its files, read from any current directory,
    finds them by their sha256; a file recorded without one (written before) is read only inside
    the model's or the current directory, where a file written before (relative to the current
    directory) is still found."""
    from cfcbase.labelled_task import LabelledTask
    from cfcbase.table import file_sha256
    out, data = tmp_path / "results" / "x", tmp_path / "data"
    out.mkdir(parents=True)
    data.mkdir()
    (data / "P_TEST.ts").write_text("")
    rec = recorded_path(data / "P_TEST.ts", out)
    assert rec == "../../data/P_TEST.ts"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    def task(path, **record):
        return LabelledTask(L.LabelledSpec(path, path), record=record, scaling={}, artifact_path=str(out / "best.npz"))
    found = task(rec, test_sha256=file_sha256(data / "P_TEST.ts"))._file("test")
    assert Path(found).resolve() == (data / "P_TEST.ts").resolve()
    assert Path(beside(str(out / "best.npz"), rec)).resolve() == (data / "P_TEST.ts").resolve()
    with pytest.raises(SeriesError, match="lies outside the model's directory and the current directory"):
        task(rec)._file("test")
    (elsewhere / "old_TEST.ts").write_text("")                 # recorded relative to the current directory
    assert task("old_TEST.ts")._file("test") == "old_TEST.ts"


# ---- the window limit: MAX_WINDOW steps, the same on the device and in the golden model ----------

def device_windows(target, model, x, tmp_path):
    """The host.client.Client that streamed the windows x (int16 [N, T, I]) through the firmware
    of ``model`` (host.model.Model) on ``target``: its window_logits, window_class, window_steps."""
    from host.build import build
    from host.client import Client
    from host.qemu import launch
    fw = build(target, model, tmp_path / "build")
    with launch(target, fw.elf) as link:
        c = Client(link, timeout=60, window=16)
        c.sync()
        c.hello()
        c.run_sequences(x, classes=model.int_model.head.K)
    return c


@pytest.mark.qemu
def test_a_tie_between_logits_goes_to_the_first_class_on_the_device(tmp_path):
    """Classes 0 and 1 with the same weights and bias (the largest): their logits tie on every
    window; the class is the first, 0, as section 12 and the golden model say."""
    from codegen.golden import golden_outputs
    from codegen.testing import random_classifier, random_inputs_q14
    from host.model import model_of
    art = random_classifier(1, 8, 3, seed=2)
    art.head.w_c[1] = art.head.w_c[0]
    art.head.b_c[:2] = 3.0
    model = model_of(art)
    x = random_inputs_q14(1, 6, 30, seed=3)
    lg, cls = golden_outputs(model.int_model, x)
    assert np.all(lg[:, 0] == lg[:, 1]) and np.all(lg[:, 0] > lg[:, 2]) and cls.tolist() == [0] * 6
    c = device_windows("native", model, x, tmp_path)
    assert c.window_class.tolist() == [0] * 6 and np.array_equal(c.window_logits, lg)


@functools.lru_cache(maxsize=None)
def _long_window(pooling):
    """(the model, x int16 [1, 66000, 1], golden logits, classes, the live state's logits) of a
    window of MAX_WINDOW + 465 steps (the golden run takes seconds: once per pooling)."""
    from cfcbase.heads import MAX_WINDOW
    from codegen.golden import run_golden
    from codegen.testing import random_classifier
    from host.model import model_of
    model = model_of(random_classifier(1, 8, 3, seed=7, pooling=pooling, w_c_sd=3.0))
    T = MAX_WINDOW + 465
    rng = np.random.default_rng(5)
    x = np.round(8000 * np.sin(np.arange(T) / 40.0 + rng.normal(0, 0.3, T))).astype(np.int16)[None, :, None]
    ys, hs = run_golden(model.int_model, x, return_states=True)
    lg, cls = model.int_model.head.outputs(ys, hs)
    live = model.int_model.head.logits(hs[:, -1] if pooling == "last" else model.int_model.head.pooled(hs))
    return model, x, lg, cls, live


@pytest.mark.qemu
@pytest.mark.parametrize("target, pooling", [("native", "last"), ("cortex-m3", "last"), ("native", "mean")])
def test_a_window_past_the_limit_gives_the_golden_logits_on_the_device(target, pooling, tmp_path):
    """A window of MAX_WINDOW + 465 steps (66,000): the device keeps the window as it was after
    its MAX_WINDOW-th step, as the golden model pools it; its logits and class are the golden
    model's bit for bit (the live state after 66,000 steps gives other logits: checked too, so
    the window is long enough to tell)."""
    from cfcbase.heads import MAX_WINDOW
    model, x, lg, cls, live = _long_window(pooling)
    if pooling == "last":
        assert not np.array_equal(live, lg)           # the state at step 66,000 is not the one pooled
    c = device_windows(target, model, x, tmp_path)
    assert c.window_steps.tolist() == [MAX_WINDOW]
    assert c.window_logits[0].tolist() == lg[0].tolist(), (c.window_logits[0], lg[0])
    assert int(c.window_class[0]) == int(cls[0])


def test_training_refuses_windows_longer_than_the_device_pools(tmp_path):
    """A labelled file of 70,000-step cases is refused in one line before training."""
    from cfcbase.heads import MAX_WINDOW
    T = MAX_WINDOW + 1
    rng = np.random.default_rng(0)
    cases = [(c, [list(np.round(rng.normal(size=T), 3))]) for c in "abab"]
    (tmp_path / "long_TRAIN.ts").write_text(ts_text(cases, classes=("a", "b"), dims=1, length=T))
    r = subprocess.run([sys.executable, "-m", "trainer", "factorial", "--labelled", str(tmp_path / "long_TRAIN.ts"),
                        "--out", str(tmp_path / "out")] + TINY, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"@seriesLength takes an integer in 1..65535 (the longest window a classifier pools), got '{T}'" in r.stderr
    # a file that does not declare its length: the case itself
    (tmp_path / "long_TRAIN.ts").write_text(ts_text(cases, classes=("a", "b"), dims=1, length=T).replace(
        "@equalLength true\n@seriesLength 65536\n", "@equalLength true\n"))
    r = subprocess.run([sys.executable, "-m", "trainer", "factorial", "--labelled", str(tmp_path / "long_TRAIN.ts"),
                        "--out", str(tmp_path / "out")] + TINY, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"{T} values per channel; at most 65,535 are read (the longest window a classifier pools)" in r.stderr
    assert not (tmp_path / "out").exists()


# ---- the labelled .npz reader's bounds, at their edges --------------------------------------------

def _npz_with(path, members):
    """An .npz whose members are (name, dtype, shape, zero-filled): written streaming, so a member
    of hundreds of MB costs a small file (zeros compress) and no memory."""
    import zipfile
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, dtype, shape, data in members:
            with z.open(name + ".npy", "w", force_zip64=True) as m:
                np.lib.format.write_array_header_1_0(m, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                         "shape": shape})
                if data is not None:
                    m.write(np.ascontiguousarray(data).tobytes())
                else:
                    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
                    block = bytes(1 << 20)
                    for _ in range(n >> 20):
                        m.write(block)
                    m.write(bytes(n - (n >> 20 << 20)))
    return path


@pytest.mark.parametrize("T, itemsize, why", [
    (62746, 2, "X: 16,000,230 values; at most 16,000,000 are read"),               # past the value bound, 32 MB
    (62745, 2, None),                                                               # within it: read
])
def test_the_labelled_npz_value_bound_is_exact(T, itemsize, why, tmp_path):
    from cfcbase.table import MAX_VALUES
    assert (T - 1) * 255 <= MAX_VALUES < T * 255 or why is None
    p = _npz_with(tmp_path / "v_TRAIN.npz", [("X", f"<f{itemsize}", (1, T, 255), None),
                                             ("y", "<i8", (1,), np.zeros(1, np.int64)),
                                             ("classes", "<U1", (2,), np.array(["a", "b"]))])
    if why is None:
        assert L.read_labelled(p).x.shape == (1, T, 255)
        return
    r = subprocess.run([sys.executable, "-m", "trainer", "factorial", "--labelled", str(p), "--labelled-test", str(p),
                        "--out", str(tmp_path / "o")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and why in r.stderr, r.stderr


def test_the_labelled_npz_zip_bomb_bound_is_its_declared_size(tmp_path):
    """A member declaring 300 MB uncompressed (a 0.3 MB file) is refused from its zip header, before
    anything is decompressed: the bound is MAX_FILE_BYTES of arrays in all."""
    from cfcbase.table import MAX_FILE_BYTES
    n = 300 * 2 ** 20
    assert MAX_FILE_BYTES < n + 128 < 8 * MAX_FILE_BYTES
    p = _npz_with(tmp_path / "b_TRAIN.npz", [("X", "<u1", (1, 65535, 4800), None)])
    assert p.stat().st_size < 2_000_000
    r = subprocess.run([sys.executable, "-m", "trainer", "factorial", "--labelled", str(p), "--labelled-test", str(p),
                        "--out", str(tmp_path / "o")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"key 'X' declares {65535 * 4800 + 128:,}".replace(",", "") in r.stderr.replace(",", "") and \
        "at most 256 MiB in all are read" in r.stderr, r.stderr


def test_a_model_of_33_classes_is_not_written(tmp_path):
    """What export would refuse is refused on write (cfcbase.artifact validates before it writes)."""
    from cfcbase.errors import ArtifactError
    from codegen.testing import random_classifier
    with pytest.raises(ArtifactError, match=r"K: classes must be in 2\.\.32, got 33"):
        save_artifact(random_classifier(1, 4, 33, seed=0), tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()
    save_artifact(random_classifier(1, 4, 32, seed=0), tmp_path / "m.npz")


# ---- what the factorial hands on ------------------------------------------------------------------

def test_the_factorial_hands_on_the_best_model_that_exports(tmp_path, monkeypatch, capsys):
    """The best model on validation is refused by export's lossy gate (simulated): the factorial
    saves the next best, says which it passed over and why, and best.npz exports; when every
    model is refused, it stops with the reason and writes nothing."""
    from codegen.errors import CodegenError
    from trainer.experiments import factorial
    real = factorial.export_model
    calls = []

    def first_refused(art, **kw):
        calls.append(art.config)
        if len(calls) == 1:
            raise CodegenError("<memory>: the integer model is far from the float ternary model: simulated")
        return real(art, **kw)
    monkeypatch.setattr(factorial, "export_model", first_refused)
    out = tmp_path / "w3"
    assert trainer_main(["factorial", "--task", "waves3", "--out", str(out), "--jobs", "1"] + TINY) == 0
    err = capsys.readouterr().err
    r = json.loads((out / "factorial.json").read_text())
    [p] = r["passed_over"]
    assert p["name"] == calls[0] and p["why"] == "the integer model is far from the float ternary model: simulated"
    assert r["best"]["name"] == calls[1] != calls[0] and "export refuses it: the integer model is far" in err
    assert "Passed over as the model to hand on" in (out / "factorial.md").read_text()
    assert subprocess.run([sys.executable, "-m", "codegen", "export", str(out / "best.npz"), "--out",
                           str(tmp_path / "gen")], cwd=REPO, capture_output=True).returncode == 0

    def all_refused(art, **kw):
        raise CodegenError("<memory>: the integer model is far from the float ternary model: simulated")
    monkeypatch.setattr(factorial, "export_model", all_refused)
    assert trainer_main(["factorial", "--task", "waves3", "--out", str(tmp_path / "none"), "--jobs", "1"] + TINY) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: no trained model exports; the best on validation, ") and "simulated" in err[-1]
    assert not (tmp_path / "none" / "best.npz").exists()


def test_a_teacher_that_learned_nothing_is_reported_in_words():
    task = builtin("waves3")
    conf = [[3, 0, 0], [4, 0, 0], [5, 0, 0]]
    why = task.collapse({"test_confusion": conf, "test_ce": 1.0986})
    assert why == ("it gives one class, 'slow', for every test window (test cross-entropy 1.099; ln K = 1.099 is "
                   "what guessing scores)")
    assert task.collapse({"test_confusion": [[3, 0, 0], [0, 4, 0], [5, 0, 0]], "test_ce": 0.9}) is None
    assert builtin("sine").collapse({"test_nmse_washout": 1.02}).startswith("its test washout NMSE is 1.020")
    assert builtin("sine").collapse({"test_nmse_washout": 0.3}) is None


# ---- windows of their own lengths -------------------------------------------------------------

def ragged_cases(n_per=6, classes=("a", "b", "c"), dims=2, seed=0, lo=5, hi=14):
    """Cases of lengths lo..hi, the same kinds of signal as tiny_cases."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_per * len(classes)):
        k = i % len(classes)
        T = int(rng.integers(lo, hi + 1))
        chans = (np.sin(np.arange(T) * (k + 1) / 2.0)[None, :] * (1 + rng.random((dims, 1)))
                 + 0.1 * rng.normal(size=(dims, T)) + 3 * k)
        out.append((classes[k], np.round(chans, 4).tolist()))
    return out


def ragged_ts(cases, classes=("a", "b", "c"), dims=2):
    head = ["@problemName Ragged", "@timeStamps false", "@missing false", "@univariate false",
            f"@dimensions {dims}", "@equalLength false", "@classLabel true " + " ".join(classes), "@data"]
    lines = [":".join(",".join(str(v) for v in ch) for ch in chans) + ":" + lab for lab, chans in cases]
    return "\n".join(head + lines) + "\n"


def test_windows_of_their_own_lengths_are_read_padded_and_scaled_on_their_steps(tmp_path):
    train, test = ragged_cases(seed=0), ragged_cases(seed=1, lo=4, hi=16)
    (tmp_path / "R_TRAIN.ts").write_text(ragged_ts(train))
    (tmp_path / "R_TEST.ts").write_text(ragged_ts(test))
    lab = L.read_labelled(tmp_path / "R_TRAIN.ts")
    n = [len(c[1][0]) for c in train]
    assert lab.lengths.tolist() == n and lab.x.shape == (len(train), max(n), 2)
    for i, (_, chans) in enumerate(train):
        assert np.array_equal(lab.x[i, :n[i]].T, np.array(chans)) and not lab.x[i, n[i]:].any()
    # the same cases as an .npz with lengths, NaN past them
    x = np.full((len(train), max(n), 2), np.nan)
    for i, (_, chans) in enumerate(train):
        x[i, :n[i]] = np.array(chans).T
    np.savez(tmp_path / "r.npz", X=x, y=np.array(lab.classes)[lab.y], classes=np.array(lab.classes),
             lengths=np.array(n))
    nz = L.read_labelled(tmp_path / "r.npz")
    assert np.array_equal(nz.x, lab.x) and nz.lengths.tolist() == n
    d = L.build(L.LabelledSpec(str(tmp_path / "R_TRAIN.ts"), str(tmp_path / "R_TEST.ts")))
    steps = np.concatenate([d.x["train"][i, :k] for i, k in enumerate(d.lengths["train"])])
    np.testing.assert_allclose(steps.mean(0), 0, atol=1e-12)                 # scaled on the windows' own steps
    np.testing.assert_allclose(np.abs(steps).max(0), 1.0)
    assert d.x["test"].shape[1] == max(len(c[1][0]) for c in test) and all(not d.x[s][i, k:].any() for s in L.SPLITS
                                              for i, k in enumerate(d.lengths[s]))
    # lengths past X's steps, and a file that says its cases are equal, are refused
    np.savez(tmp_path / "bad.npz", X=x, y=lab.y, classes=np.array(lab.classes), lengths=np.array(n) + 20)
    with pytest.raises(SeriesError, match=r"bad.npz: case 0: lengths\[0\] = \d+ steps; a case has 1..14"):
        L.read_labelled(tmp_path / "bad.npz")
    (tmp_path / "E_TRAIN.ts").write_text(ragged_ts(train).replace("@equalLength false", "@equalLength true"))
    with pytest.raises(SeriesError, match=r"E_TRAIN.ts: line \d+: channel 0 has \d+ values, the cases before it \d+ "
                                          r"\(the header does not declare @equalLength false\)"):
        L.read_labelled(tmp_path / "E_TRAIN.ts")


def test_the_golden_logits_of_a_window_are_those_of_its_own_steps():
    """golden_outputs with lengths n: each window's logits are those of its first n steps run
    alone (the padding after them changes nothing), for both poolings."""
    from codegen.golden import IntModel, golden_outputs
    from codegen.testing import random_classifier, random_inputs_q14
    rng = np.random.default_rng(3)
    for pooling in ("last", "mean"):
        m = IntModel.from_artifact(random_classifier(2, 8, 4, seed=5, pooling=pooling, w_c_sd=3.0))
        x = random_inputs_q14(2, 6, 20, seed=4)
        n = rng.integers(1, 21, 6)
        lg, cls = golden_outputs(m, x, n)
        for i in range(6):
            alone, c1 = golden_outputs(m, x[i:i + 1, :n[i]])
            assert np.array_equal(lg[i], alone[0]) and cls[i] == c1[0], (pooling, i)


@pytest.mark.qemu
def test_windows_of_their_own_lengths_train_export_and_verify_bit_exact_on_every_target(tmp_path, host_cli):
    """Unequal windows through the CLI: trained, exported and verified on all 9 targets, each window
    from RESET and all of them as one stream decided every 9 steps (the state carried on)."""
    d = tmp_path / "data"
    d.mkdir()
    (d / "R_TRAIN.ts").write_text(ragged_ts(ragged_cases(seed=0)))
    (d / "R_TEST.ts").write_text(ragged_ts(ragged_cases(n_per=4, seed=1, lo=4, hi=16)))
    out = tmp_path / "r"
    r = subprocess.run([sys.executable, "-m", "trainer", "factorial", "--labelled", str(d / "R_TRAIN.ts"), "--out",
                        str(out), "--jobs", "1"] + TINY, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    art = load_artifact(out / "best.npz")
    x, y = art.task.split("test")
    n = art.task.lengths("test")
    assert n is not None and x.shape[1] == n.max() > n.min()
    assert f"windows of {min(n.min(), 5)}..{max(n.max(), 14)} steps" in r.stderr, r.stderr[-3000:]
    # as windows, and as one stream of all of them (one RESET) with a decision every 9 steps
    r = host_cli("verify", "--qemu", "--target", "all", "--model", out / "best.npz", "--json", tmp_path / "v.json",
                 "--build-dir", tmp_path / "b", "--stream", "9", timeout=900)
    assert r.returncode == 0 and "verify: PASS: 9/9 targets" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
    v = json.loads((tmp_path / "v.json").read_text())
    for t in v["targets"]:
        c = t["classify"]
        assert (t["mismatches"], c["logit_mismatches"], c["class_mismatches"], c["window_step_mismatches"]) == (0,) * 4
        assert t["steps"] == int(n.sum()) and c["shortest_window"] == int(n.min())
        st = t["stream"]
        assert (st["logit_mismatches"], st["class_mismatches"], st["step_mismatches"]) == (0, 0, 0), st
        assert (st["steps"], st["decisions"], st["logits"]) == (int(n.sum()), int(n.sum()) // 9,
                                                                int(n.sum()) // 9 * len(art.head.classes))
    assert f"as one stream, {int(n.sum()) // 9} decisions every 9 steps, accuracy" in r.stdout, r.stdout
    assert (f"verify: PASS: 9/9 targets bit-exact over {len(n)} windows of {int(n.min())}..{int(n.max())} steps "
            f"({int(n.sum())} in all)") in r.stdout, r.stdout
