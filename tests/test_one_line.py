"""Hostile and careless inputs end in one line naming the key or the file, through the command
lines: JSON numbers beyond a float, deeply nested JSON, an artifact entry of 300 million
characters (refused from its header, at a small peak), a data path that is a directory, a
pkg: path into the standard library, and an emulator that dies (its cause first)."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cfcbase.fileio import write_npz

REPO = Path(__file__).resolve().parents[1]


def run(*args, cwd=REPO, timeout=300):
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def one_line_error(r, *words):
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and lines and lines[-1].startswith("error: "), r.stderr[-2000:]
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    for w in words:
        assert w in lines[-1], lines[-1]
    return lines[-1]


def rewritten(src, dst, key, edit):
    """The committed artifact ``src`` with the JSON entry ``key`` rewritten as text by edit(text)."""
    raw = dict(np.load(src))
    raw[key] = np.str_(edit(str(raw[key])))
    with open(dst, "wb") as f:
        write_npz(f, raw)
    return dst


CLASSIFIER = REPO / "results" / "basicmotions" / "best.npz"
SERIES = REPO / "results" / "co2" / "best.npz"


@pytest.mark.parametrize("src, key, field, value, why", [
    (CLASSIFIER, "labelled_json", "val_fraction", "1" + "0" * 400, "integer of 401 digits (at most 18)"),
    (CLASSIFIER, "labelled_json", "val_fraction", "1e400", "number 1e400 is beyond a float"),
    (SERIES, "data_json", "fractions", "[0.7, 0.15, 1e400]", "number 1e400 is beyond a float"),
    (SERIES, "data_json", "fractions", "[0.7, 0.15, " + "[" * 20000 + "]" * 20000 + "]", "nested too deeply"),
])
def test_json_entries_beyond_a_float_or_nested_deeply_are_one_line(src, key, field, value, why, tmp_path):
    """Export and verify refuse them in one line naming the key (no OverflowError, no RecursionError)."""
    def edit(text):
        d = json.loads(text)
        return json.dumps(d).replace(f'"{field}": {json.dumps(d[field])}', f'"{field}": {value}')
    bad = rewritten(src, tmp_path / "bad.npz", key, edit)
    assert str(np.load(bad)[key]).count(value) == 1
    one_line_error(run("-m", "codegen", "export", bad, "--out", tmp_path / "gen"), f"bad.npz: {key}: ", why)
    one_line_error(run("-m", "host", "verify", "--qemu", "--target", "native", "--model", bad,
                       "--build-dir", tmp_path / "b"), f"bad.npz: {key}: ", why)
    assert not (tmp_path / "gen").exists() and not (tmp_path / "b").exists()


def test_an_entry_of_300_million_characters_is_refused_from_its_header_at_a_small_peak(tmp_path):
    """A 1.2 MB best.npz whose metrics_json holds 300 million characters (1.2 GB as numpy's
    UTF-32) is refused before the entry is read: one line, at a peak RSS under 200 MB."""
    n = 300_000_000
    raw = dict(np.load(SERIES))
    del raw["metrics_json"]
    bad = tmp_path / "huge.npz"
    with open(bad, "wb") as f:
        write_npz(f, raw)
    header = np.lib.format.header_data_from_array_1_0(np.str_("x"))
    header.update(descr=f"<U{n}", shape=())
    with zipfile.ZipFile(bad, "a", zipfile.ZIP_DEFLATED) as z, z.open("metrics_json.npy", "w", force_zip64=True) as m:
        np.lib.format.write_array_header_1_0(m, header)
        block = b" \0\0\0" * (1 << 20)
        for _ in range(n >> 20):
            m.write(block)
        m.write(b" \0\0\0" * (n - (n >> 20 << 20)))
    assert bad.stat().st_size < 2_000_000
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "sys.stderr.write(r.stderr); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    for cmd in (["-m", "codegen", "export", bad, "--out", tmp_path / "gen"],
                ["-m", "host", "verify", "--qemu", "--target", "native", "--model", bad, "--build-dir", tmp_path / "b"]):
        r = run("-c", probe, sys.executable, *cmd)
        peak_kib = int(r.stdout.strip())
        line = r.stderr.strip().splitlines()[-1]
        assert line.startswith("error: ") and "huge.npz: metrics_json: " in line and "Traceback" not in r.stderr, r.stderr
        assert "1,200,000,000 bytes" in line, line
        assert peak_kib < 200 * 1024, f"peak RSS {peak_kib} KiB"


def test_verify_data_that_is_a_directory_is_not_a_regular_file(tmp_path):
    one_line_error(run("-m", "host", "verify", "--qemu", "--target", "native", "--model", SERIES, "--data", tmp_path,
                       "--build-dir", tmp_path / "b"), f"{tmp_path}: not a regular file")


@pytest.mark.parametrize("path, words, hint", [
    ("pkg:os/x.csv", "'os' is a module of Python's standard library", False),
    ("pkg:json/x.csv", "'json' is a module of Python's standard library", False),
    ("pkg:no_such_package_here/x.csv", "Python package 'no_such_package_here' is not installed", True),
])
def test_a_pkg_path_names_what_is_wrong_and_pip_only_where_it_helps(path, words, hint, tmp_path):
    line = one_line_error(run("-m", "trainer", "factorial", "--data", path, "--out", tmp_path / "o"), words)
    assert ("pip install" in line) == hint, line


def test_a_dead_emulator_is_reported_by_its_cause_not_its_register_dump():
    """QEMU prints 'qemu: fatal: ...' and then a dozen register lines before it aborts: the
    message names the cause and counts the rest."""
    from host.process import Child
    script = ("import os, sys; sys.stderr.write(\"qemu-system-arm: info: QEMU waiting for connection\\n\"); "
              "sys.stderr.write(\"qemu: fatal: Lockup: can't escalate 3 to HardFault (current priority -1)\\n\\n\"); "
              "[sys.stderr.write(f'R{i:02d}=0000{i:04x} R{i + 1:02d}=deadbeef\\n') for i in range(14)]; "
              "sys.stderr.write('XPSR=41000003 -Z-- A handler\\n'); sys.stderr.flush(); os.abort()")
    c = Child([sys.executable, "-c", script])
    c.proc.wait(30)
    text = c.describe_exit()
    c.stop()
    assert "was killed by signal 6: qemu: fatal: Lockup: can't escalate 3 to HardFault" in text, text
    assert text.endswith("(and 15 more lines on its stderr)") and "\n" not in text and "info:" not in text, text


# ---- a classifier's files: pinned by their sha256; without one, only near the model --------------

def _ts(path, n=12, T=20, seed=0):
    rng = np.random.default_rng(seed)
    lines = ["@problemName Tiny", "@timeStamps false", "@missing false", "@univariate true", "@equalLength true",
             f"@seriesLength {T}", "@classLabel true a b", "@data"]
    for i in range(n):
        c = "ab"[i % 2]
        v = np.sin(np.arange(T) * (0.3 if c == "a" else 0.9) + rng.uniform(0, 6)) + rng.normal(0, 0.1, T)
        lines.append(",".join(f"{x:.4f}" for x in v) + ":" + c)
    Path(path).write_text("\n".join(lines) + "\n")


def test_a_classifiers_files_are_pinned_by_their_sha256(tmp_path):
    from cfcbase.artifact import load_artifact
    from cfcbase.table import file_sha256
    d = tmp_path / "data"
    d.mkdir()
    _ts(d / "Tiny_TRAIN.ts", seed=0)
    _ts(d / "Tiny_TEST.ts", seed=1)
    r = run("-m", "trainer", "factorial", "--labelled", d / "Tiny_TRAIN.ts", "--out", tmp_path / "res", "--seeds", "1",
            "--epochs", "2", "--teacher-epochs", "3", "--cs-sweeps", "1", "--refit-epochs", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    npz = tmp_path / "res" / "best.npz"
    rec = load_artifact(npz).task.recorded
    assert (rec["train_sha256"], rec["test_sha256"]) == (file_sha256(d / "Tiny_TRAIN.ts"), file_sha256(d / "Tiny_TEST.ts"))
    assert run("-m", "codegen", "export", npz, "--out", tmp_path / "gen").returncode == 0
    with open(d / "Tiny_TEST.ts", "a") as f:                 # the TEST file changes after the training
        f.write("0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0:a\n")
    one_line_error(run("-m", "codegen", "export", npz, "--out", tmp_path / "gen2"),
                   "Tiny_TEST.ts: the file changed since the model was trained", "pass --data FILE (a TEST file)")


def test_a_data_path_without_sha256_is_read_only_near_the_model(tmp_path):
    """A version-2 artifact written before data files were hashed names a file by a relative
    path: one that leads out of the model's directory and the current directory is not read."""
    src = SERIES
    raw = dict(np.load(src))
    d = json.loads(str(raw["data_json"]))
    del d["sha256"]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("co2\n" + "\n".join(str(i % 7) for i in range(400)) + "\n")
    model_dir = tmp_path / "a" / "b"
    model_dir.mkdir(parents=True)
    d["path"] = "../../outside/secret.csv"
    raw["data_json"] = np.str_(json.dumps(d, sort_keys=True))
    with open(model_dir / "m.npz", "wb") as f:
        write_npz(f, raw)
    work = tmp_path / "a"                                     # the current directory: not above outside/
    r = run("-m", "host", "verify", "--qemu", "--target", "native", "--model", model_dir / "m.npz",
            "--build-dir", tmp_path / "b", cwd=work)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "lies outside the model's directory and the current directory" in r.stderr.strip().splitlines()[-1], r.stderr


@pytest.mark.parametrize("content, why", [
    (bytes(range(256)) * 8, "not a text CSV file (bytes that are not UTF-8)"),
    (b"co2\n1\n2\nabc\n", "row 4, column 'co2': 'abc' is not a number"),
])
def test_verify_data_that_cannot_be_read_is_one_line(content, why, tmp_path):
    (tmp_path / "x.csv").write_bytes(content)
    one_line_error(run("-m", "host", "verify", "--qemu", "--target", "native", "--model", SERIES, "--data",
                       tmp_path / "x.csv", "--build-dir", tmp_path / "b"), f"x.csv: {why}")


def test_a_data_file_that_cannot_be_read_is_one_line_from_verify(tmp_path, monkeypatch, capsys):
    """A file the OS refuses to read (as a user without the permission: root reads anything, so
    the refusal is simulated where the file is first opened, to hash it)."""
    import cfcbase.series_file as F
    from host.cli import main
    (tmp_path / "x.csv").write_text("co2\n1\n")

    def refuse(path):
        raise F.SeriesError(f"{path}: cannot read (Permission denied)")
    monkeypatch.setattr(F, "file_sha256", refuse)
    F._sha256.cache_clear()
    rc = main(["verify", "--qemu", "--target", "native", "--model", str(SERIES), "--data", str(tmp_path / "x.csv"),
               "--build-dir", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].endswith(f"{tmp_path / 'x.csv'}: cannot read (Permission denied)"), err


def test_verify_data_larger_than_any_data_file_is_not_hashed(tmp_path):
    big = tmp_path / "big.csv"
    with open(big, "wb") as f:                               # sparse: no disk space, 300 MB long
        f.truncate(300 * 2 ** 20)
    one_line_error(run("-m", "host", "verify", "--qemu", "--target", "native", "--model", SERIES, "--data", big,
                       "--build-dir", tmp_path / "b"), "big.csv: 314,572,800 bytes; data files of at most 256 MiB")
