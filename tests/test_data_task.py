"""A user's own series end to end: `trainer factorial --data`, the version-2 artifact, the
scaling constants in the model header, `host verify` on the model's own test block, and bad
data stopped with one line before anything is written."""
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cfcbase import table
from cfcbase.artifact import load_artifact, save_artifact, write_artifact
from cfcbase.errors import ArtifactError
from cfcbase.metrics import washout_mse
from cfcbase.series import SeriesError, SeriesSpec, read_table
from cfcbase.series_task import AR_ORDER
from cfcbase.tasks import series_task
from trainer.cli import main as trainer_main

REPO = Path(__file__).resolve().parents[1]
TRAINED = [REPO / "results" / t / "best.npz" for t in ("sine", "sine-mix")]


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def write_csv(path, header, rows):
    """A CSV of `rows` (numbers or text) under a header row (none for header=None)."""
    np.savetxt(path, np.array(list(rows), dtype=object), fmt="%s", delimiter=",",
               header=",".join(header) if header else "", comments="")
    return path


def two_input_csv(path, n=600):
    t = np.arange(n)
    a = np.sin(2 * np.pi * t / 23)
    b = 3 * np.cos(2 * np.pi * t / 17) + 10 + 0.5 * a
    return write_csv(path, ["time", "a", "b"], zip(t * 0.01, a, b))


# ---- the artifact -----------------------------------------------------------------------

@pytest.mark.parametrize("npz", TRAINED, ids=lambda p: p.parent.name)
def test_version_1_artifacts_load_unchanged(npz, tmp_path):
    art = load_artifact(npz)
    assert art.format_version == 1 and art.task.name in ("sine", "sine-mix") and art.task.scaling is None
    with open(tmp_path / "again.npz", "wb") as f:
        write_artifact(art, f, tmp_path / "again.npz")   # a built-in task: written as version 1, byte for byte
    assert (tmp_path / "again.npz").read_bytes() == npz.read_bytes()


def data_artifact(I=2, H=8, seed=3, data=None, **scaling):
    from codegen.testing import random_artifact, series_model
    return series_model(random_artifact(I, H, seed=seed), data, {
        "input_offset": np.arange(I) + 0.5, "input_scale": np.arange(I) + 2.0, "target_offset": -1.25,
        "target_scale": 3.5, **scaling})


def test_version_2_round_trip_and_identity(tmp_path):
    art = data_artifact()
    save_artifact(art, tmp_path / "m.npz")
    back = load_artifact(tmp_path / "m.npz")
    assert back.format_version == 2 and back.task.recorded == art.task.recorded
    for k in ("input_offset", "input_scale"):
        np.testing.assert_array_equal(back.task.scaling[k], art.task.scaling[k])
    assert (back.task.scaling["target_offset"], back.task.scaling["target_scale"]) == (-1.25, 3.5)
    # the scaling is part of the model's identity (hash), not of its arithmetic
    from codegen.golden import IntModel
    other = data_artifact(target_scale=3.6)
    a, b = IntModel.from_artifact(art), IntModel.from_artifact(other)
    assert a.hash != b.hash and np.array_equal(a.w_o_q, b.w_o_q)
    # a version-2 model whose data spec does not match I is refused with one line, as it is written
    art = data_artifact(data=dict(art.task.recorded, inputs=["c0"]))
    with pytest.raises(ArtifactError, match=r"bad.npz: data_json: 1 inputs named, I = 2"):
        save_artifact(art, tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


def test_model_header_carries_the_scaling(tmp_path):
    from codegen.export import render_model_files
    art = data_artifact(input_offset=np.array([0.1, -7.0]), target_scale=0.1 + 0.2)
    h = render_model_files(art, golden_x=np.zeros((1, 3, 2), np.int16))["trix_model.h"].decode()
    assert "#define TRIX_HAS_SCALING   1" in h
    assert "#define TRIX_INPUT_OFFSET_INIT  { 0.1, -7.0 }" in h
    assert "#define TRIX_INPUT_SCALE_INIT   { 2.0, 3.0 }" in h
    assert f"#define TRIX_TARGET_SCALE  {0.1 + 0.2!r}" in h       # round-trips exactly
    sine = load_artifact(TRAINED[0])
    assert "SCALING" not in render_model_files(sine)["trix_model.h"].decode()


# ---- a version-2 artifact is validated: data_json and the scaling -------------------------

def v2_npz(tmp_path, task=None, name="m.npz", **changes):
    """A version-2 npz written directly (np.savez of the raw keys, as a hostile file would be):
    data_json fields, scaling arrays or other keys replaced by ``changes``."""
    from cfcbase.artifact import artifact_arrays
    art = data_artifact()
    a = artifact_arrays(art)
    d = dict(art.task.recorded)
    for k, v in changes.items():
        if k in d or k in ("sha256", "gaps", "max_gap", "difference", "unknown"):
            d[k] = v
        else:
            a[k] = np.asarray(v, np.float64)
    a["data_json"] = np.str_(json.dumps(d))
    if task is not None:
        a["task"] = np.str_(task)
    p = tmp_path / name
    np.savez(p, **a)
    return p


BAD_V2 = {   # the five kinds a hostile or broken file had passed with, through both CLIs
    "horizon": (dict(horizon=-4), "data_json: horizon -4 is not an integer in 1..10000"),
    "fractions": (dict(fractions=[0.9, 0.9, 0.9]),
                  "data_json: fractions [0.9, 0.9, 0.9] must be three finite numbers > 0 (train, val, test) "
                  "adding up to 1"),
    "absolute-path": (dict(path="/etc/passwd"), "data_json: path '/etc/passwd' must be relative or pkg:PACKAGE/PATH"),
    "tiny-scale": (dict(input_scale=[2.0, 1e-300]),
                   "input_scale: 1e-300 (element 1) must be in [1e-15, 1e+15]: beyond it the Q14 quantization of "
                   "(v - offset) / scale overflows or loses every bit"),
    "huge-scale": (dict(input_scale=[1e300, 3.0]),
                   "input_scale: 1e+300 (element 0) must be in [1e-15, 1e+15]: beyond it the Q14 quantization of "
                   "(v - offset) / scale overflows or loses every bit"),
    "version-2-sine": (dict(task="sine"),
                       "data_json: task 'sine' is a pinned task: it has no data file or scaling"),
}


@pytest.mark.parametrize("case", sorted(BAD_V2))
def test_bad_version_2_refused_by_export(case, tmp_path):
    changes, why = BAD_V2[case]
    p = v2_npz(tmp_path, **changes)
    out = tmp_path / "out"
    r = run([sys.executable, "-m", "codegen", "export", p, "--out", out], cwd=REPO)
    assert r.returncode == 2 and r.stderr.splitlines() == [f"error: {p}: {why}"], r.stderr
    assert not out.exists()


@pytest.mark.parametrize("case", sorted(BAD_V2))
def test_bad_version_2_refused_by_verify(case, tmp_path, host_cli):
    changes, why = BAD_V2[case]
    p = v2_npz(tmp_path, **changes)
    r = host_cli("verify", "--qemu", "--target", "native", "--model", p, "--build-dir", tmp_path / "build")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and lines[-1] == f"error: {p}: {why}" and "Traceback" not in r.stderr, r.stderr
    assert [ln for ln in lines if ln.startswith("error:")] == lines[-1:] and "--horizon" not in r.stderr
    assert not (tmp_path / "build").exists()


@pytest.mark.parametrize("changes,why", [
    (dict(horizon=True), "data_json: horizon True is not an integer in 1..10000"),
    (dict(horizon=10001), "data_json: horizon 10001 is not an integer in 1..10000"),
    (dict(horizon=1.0), "data_json: field 'horizon' missing or not a int"),
    (dict(seq_len=1), "data_json: seq_len 1 is not an integer in 2..100000"),
    (dict(seq_len=100001), "data_json: seq_len 100001 is not an integer in 2..100000"),
    (dict(fractions=[0.5, 0.5]), "data_json: fractions [0.5, 0.5] must be three"),
    (dict(fractions=[0.5, 0.5, 0.0]), "data_json: fractions [0.5, 0.5, 0.0] must be three"),
    (dict(fractions=[0.7, 0.15, float("nan")]), "data_json: not a JSON object (NaN is not a number an artifact may hold)"),
    (dict(fractions=[0.7, 0.15, 0.15 + 2e-9]), "data_json: fractions"),
    (dict(fractions=[0.7, 0.15, True]), "data_json: fractions [0.7, 0.15, True] must be three"),
    (dict(inputs=[]), "data_json: inputs: no input column named"),
    (dict(inputs=["a", "a"]), "data_json: inputs: column 'a' named twice"),
    (dict(inputs=["a", "b;c*"]), "data_json: inputs[1]: character '*' (U+002A) at position 3 is not allowed"),
    (dict(target="t\n"), "data_json: target: character '\\n' (U+000A) at position 1 is not allowed"),
    (dict(path="pkg:aeon/../../../etc/x.csv"), "data_json: path 'pkg:aeon/../../../etc/x.csv': expected pkg:PACKAGE/PATH"),
    (dict(path="pkg:not-a-package/x.csv"), "data_json: path 'pkg:not-a-package/x.csv': expected pkg:PACKAGE/PATH"),
    (dict(path="notes.txt"), "data_json: path 'notes.txt': not a .csv, .npy, .npz file"),
    (dict(path=""), "data_json: path '' must be relative or pkg:PACKAGE/PATH"),
    (dict(path="a" * 509 + ".csv"), "data_json: path: 513 characters, at most 512 allowed"),
    (dict(sha256="ab" * 31 + "AB"), "data_json: sha256 '" + "ab" * 31 + "AB' is not 64 lowercase hexadecimal digits"),
    (dict(sha256=1), "data_json: field 'sha256' is not a str"),
    (dict(gaps="fill"), "data_json: gaps 'fill' is not one of interpolate, refuse"),
    (dict(max_gap=-1), "data_json: max_gap -1 is not an integer in 0..1000000"),
    (dict(max_gap=True), "data_json: max_gap True is not an integer in 0..1000000"),
    (dict(difference={"target": True}), 'data_json: difference: expected {"target": true or false, "inputs": [input'),
    (dict(difference={"target": 1, "inputs": []}), 'data_json: difference: expected {"target"'),
    (dict(difference={"target": True, "inputs": ["zz"]}),
     "data_json: difference: inputs ['zz'] must be distinct names out of inputs"),
    (dict(difference={"target": True, "inputs": ["c0", "c0"]}), "data_json: difference: inputs ['c0', 'c0'] must"),
    (dict(unknown=1), "data_json: unknown field 'unknown'"),
    (dict(input_offset=[0.0, -1.5e15]), "input_offset: -1500000000000000.0 (element 1) must be at most 1e+15 in magnitude"),
    (dict(target_offset=np.inf), "target_offset: contains NaN or infinity"),
    (dict(target_scale=1e16), "target_scale: 1e+16 must be in [1e-15, 1e+15]"),
    (dict(tau=np.full(8, 2e6)), "tau: 2000000.0 (element 0) is outside [1e-06, 1e+06]"),
    (dict(b_o=-2e6), "b_o: -2000000.0 is outside [-1e+06, 1e+06]"),
    (dict(teacher_W_g=np.full((8, 10), 1e7)), "teacher_W_g: 10000000.0 (element 0) is outside [-1e+06, 1e+06]"),
])
def test_version_2_rules(changes, why, tmp_path):
    from cfcbase.errors import ArtifactError
    p = v2_npz(tmp_path, **changes)
    with pytest.raises(ArtifactError) as e:
        load_artifact(p)
    assert str(e.value).startswith(f"{p}: {why}"), str(e.value)


def test_version_2_bounds_are_inclusive(tmp_path):
    p = v2_npz(tmp_path, horizon=10000, seq_len=2, fractions=[0.8, 0.1, 0.1], path="pkg:aeon/d/x.NPZ",
               sha256="0123456789abcdef" * 4, gaps="refuse", max_gap=1_000_000,
               difference={"target": False, "inputs": ["a b"]},
               inputs=["a b", "c_d-e.f,g:h;i+j=k(l)[m]/n@o%p#q"], input_offset=[1e15, -1e15],
               input_scale=[1e-15, 1e15], tau=np.full(8, 1e6), b_o=1e6)
    art = load_artifact(p)
    assert art.task.recorded["horizon"] == 10000 and art.task.scaling["input_scale"][0] == 1e-15


# ---- tasks and baselines ------------------------------------------------------------------

def test_a_series_task_crosses_to_a_worker_with_its_data(tmp_path):
    """The task is read once, where the command starts, and crosses to a spawned worker (pickled)
    with its data: the worker computes on the same windows without the file."""
    import pickle
    path = two_input_csv(tmp_path / "s.csv")
    task = series_task(SeriesSpec(str(path), ("a", "b"), "b", 2, 20))
    assert task.I == 2 and task.label() == "s.csv"
    x, y = task.split("val")
    assert x.shape == (4, 20, 2) and y.shape == (4, 20, 1)
    (tmp_path / "task.pickle").write_bytes(pickle.dumps(task))
    path.unlink()
    code = ("import pickle, sys, numpy as np; t = pickle.load(open(sys.argv[1], 'rb')); x, y = t.split('val'); "
            "print(float(np.sum(x)), float(np.sum(y)))")
    r = run([sys.executable, "-c", code, tmp_path / "task.pickle"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [repr(float(np.sum(x))), repr(float(np.sum(y)))]


def test_baselines_of_a_data_task(tmp_path):
    n = 800
    v = np.sin(2 * np.pi * np.arange(n) / 31)        # a linear recurrence: AR(p >= 2) is exact
    path = write_csv(tmp_path / "s.csv", ["v"], zip(v))
    task = series_task(SeriesSpec(str(path), ("v",), "v", 3, 25))
    b = task.baselines()
    assert b["ar"]["p"] == AR_ORDER and b["ar"]["test_mse_washout"] < 1e-20
    # persistence: the target's value at the input's row, 3 rows behind the target
    d = task.series()
    a0 = d.rows["test"][0]
    np.testing.assert_allclose(d.unscale_y(d.now["test"][0]), v[a0:a0 + 25], atol=1e-12)
    y = d.y["test"][:, :, 0]
    assert b["persistence"]["test_mse_washout"] == pytest.approx(washout_mse(d.now["test"], y))
    assert b["persistence"]["test_mse_washout"] > 0.01


def test_package_paths(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "mydatapkg"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    two_input_csv(pkg / "data" / "s.csv", n=50)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    t = read_table("pkg:mydatapkg/data/s.csv")
    assert t.path == "pkg:mydatapkg/data/s.csv" and t.names == ["time", "a", "b"]
    with pytest.raises(SeriesError, match=r"^pkg:mydatapkg/nope.csv: no file 'nope.csv' in the installed package"):
        read_table("pkg:mydatapkg/nope.csv")
    with pytest.raises(SeriesError, match=r"^pkg:nosuchpkg_x/a.csv: Python package 'nosuchpkg_x' is not installed"):
        read_table("pkg:nosuchpkg_x/a.csv")


# ---- bad data through the CLI: one line, exit 2, nothing written ------------------------

def _flat(tmp):
    n = 300
    return write_csv(tmp / "s.csv", ["a", "flat"], zip(np.sin(np.arange(n)), np.ones(n))), ["--inputs", "a,flat"]


def _nan(tmp):
    rows = [(np.sin(i), np.cos(i)) for i in range(300)]
    rows[123] = (rows[123][0], "inf")
    return write_csv(tmp / "s.csv", ["a", "b"], rows), ["--inputs", "a,b"]


def _ab_rows(n=300):
    return [[round(float(np.sin(i / 3)), 6), round(float(np.cos(i / 5)), 6)] for i in range(n)]


def _ab_csv(tmp, edit=lambda rows: None, header=("a", "b")):
    """s.csv with columns a, b (300 rows), edited in place by `edit(rows)`, used as --inputs a,b."""
    rows = _ab_rows()
    edit(rows)
    return write_csv(tmp / "s.csv", list(header), rows), ["--inputs", ",".join(header)]


def _set(i, j, v):
    def edit(rows):
        rows[i][j] = v
    return edit


def _long_cell(tmp):                            # 200 kB in a column the task does not use
    rows = [[f"t{i}", a, b] for i, (a, b) in enumerate(_ab_rows())]
    rows[10][0] = "x" * 200_000
    return write_csv(tmp / "s.csv", ["time", "a", "b"], rows), ["--inputs", "a,b"]


def _npz_object(tmp):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array([1.0, None, "x"], dtype=object), allow_pickle=True)
    import zipfile
    with zipfile.ZipFile(tmp / "s.npz", "w") as z:
        z.writestr("a.npy", buf.getvalue())
    return tmp / "s.npz", []


def _npz_corrupt(tmp):
    """A valid compressed .npz with bytes in the middle of its first array's deflate stream changed."""
    np.savez_compressed(tmp / "s.npz", a=np.sin(np.arange(300) / 3), b=np.cos(np.arange(300) / 5))
    b = bytearray((tmp / "s.npz").read_bytes())
    b[200:260] = bytes(60)
    (tmp / "s.npz").write_bytes(bytes(b))
    return tmp / "s.npz", ["--inputs", "a,b"]


def _npz_truncated(tmp):
    np.savez(tmp / "s.npz", a=np.sin(np.arange(300) / 3), b=np.cos(np.arange(300) / 5))
    b = (tmp / "s.npz").read_bytes()
    (tmp / "s.npz").write_bytes(b[:len(b) // 2])
    return tmp / "s.npz", ["--inputs", "a,b"]


def npz_bomb(path, n_values=225_000_000, key="a"):
    """A zip bomb: an .npz whose one member, KEY.npy, is a valid deflate stream of n_values
    float64 zeros (1.8 GB uncompressed) that takes 1.8 MB on disk. Built from one compressed
    block of 1 MiB of zeros repeated (after a full flush every such block compresses to the
    same bytes), so nothing large is ever allocated. The CRC is left 0: a reader that refuses
    the member from its header never reaches the end where it would be checked."""
    import zlib
    h = io.BytesIO()
    np.lib.format.write_array_header_1_0(h, {"descr": "<f8", "fortran_order": False, "shape": (n_values,)})
    head = h.getvalue()
    size = len(head) + 8 * n_values
    chunk = 1 << 20
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = co.compress(head + bytes(chunk - len(head))) + co.flush(zlib.Z_FULL_FLUSH)
    block = co.compress(bytes(chunk)) + co.flush(zlib.Z_FULL_FLUSH)
    n, rest = divmod(size, chunk)
    data = first + block * (n - 1) + co.compress(bytes(rest)) + co.flush()
    name = f"{key}.npy".encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, 0, len(data), size, len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, 0, len(data), size,
                          len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    Path(path).write_bytes(local + data + central + end)
    return Path(path)


def _unreadable(tmp):
    """A file that exists but cannot be read: mode 000, or for root (who may read it anyway) a
    link to /proc/self/mem, whose first page is never mapped (EIO)."""
    if os.geteuid() != 0:
        p, _ = _ab_csv(tmp)
        p.chmod(0)
        return p, ["--inputs", "a,b"]
    if not os.path.exists("/proc/self/mem"):
        pytest.skip("needs Linux's /proc/self/mem as an unreadable file for root")
    (tmp / "s.csv").symlink_to("/proc/self/mem")
    return tmp / "s.csv", ["--inputs", "a,b"]


def _quiet_test_block(tmp):                     # the target constant over the test rows 255-299
    def edit(rows):
        for r in rows[255:]:
            r[0] = 0.5
    return _ab_csv(tmp, edit)


def _far_from_training(tmp):                    # a training range of 1e-9, then 10 in the validation rows
    def edit(rows):
        for r in rows:
            r[0] = r[0] * 1e-9
        rows[220][0] = 10
    return _ab_csv(tmp, edit)


BAD_DATA = {
    "magnitude-1e30": (lambda tmp: _ab_csv(tmp, _set(10, 0, "1e30")),
                       r"s.csv: row 12, column 'a': 1e\+30 is outside the accepted magnitude \|v\| <= 1e\+15"),
    "overflow-1e300": (lambda tmp: _ab_csv(tmp, lambda rows: [r.__setitem__(1, f"{(-1) ** i}e300")
                                                              for i, r in enumerate(rows[40:60])]),
                       r"s.csv: row 42, column 'b': 1e\+300 is outside the accepted magnitude \|v\| <= 1e\+15 "
                       r"\(20 value\(s\) in the column\)"),
    "cell-200kB": (_long_cell, r"s.csv: row 12: a cell longer than 1024 characters"),
    "npz-object": (_npz_object, r"s.npz: key 'a' holds Python objects; expected real numbers"),
    "npz-corrupt": (_npz_corrupt, r"s.npz: not a readable NumPy file \("),
    "npz-truncated": (_npz_truncated, r"s.npz: not a readable NumPy file \(File is not a zip file\)"),
    "npz-zip-bomb": (lambda tmp: (npz_bomb(tmp / "s.npz"), []),
                     r"s.npz: key 'a' declares 1800000128 bytes uncompressed; at most 256 MiB in all are read"),
    "unreadable": (_unreadable, r"s.csv: cannot read \((Input/output error|Permission denied)\)"),
    "unsafe-column-name": (lambda tmp: _ab_csv(tmp, header=("a", "b*/")),
                           r"s.csv: column 'b\*/' \(an input\): character '\*' \(U\+002A\) at position 1 is not "
                           r"allowed"),
    "nmse-undefined": (_quiet_test_block, r"s.csv: the target column 'a' does not vary over the test windows "
                                          r"\(rows 255-299, steps t >= 5\); its NMSE is undefined"),
    "far-from-training": (_far_from_training, r"s.csv: row 222, column 'a': 10 lies 9.97e\+09 times the training "
                                              r"rows' range from their mean \(at most 1e\+06"),

    "missing-column": (lambda tmp: (two_input_csv(tmp / "s.csv"), ["--inputs", "a,zz"]),
                       r"s.csv: no column 'zz' for --inputs \(columns: time, a, b\)"),
    "non-numeric": (lambda tmp: (write_csv(tmp / "s.csv", ["a", "b"], [(i, "x" if i == 7 else i) for i in range(300)]),
                                 ["--inputs", "a,b"]),
                    r"s.csv: row 9, column 'b': 'x' is not a number"),
    "nan-inf": (_nan, r"s.csv: row 125, column 'b': inf \(1 infinite value\(s\) in the column\)"),
    "constant": (_flat, r"s.csv: column 'flat' is constant over the training rows 0-209"),
    "too-few-rows": (lambda tmp: (two_input_csv(tmp / "s.csv", n=100), ["--seq-len", "50"]),
                     r"s.csv: 100 rows give the val block 15 rows, fewer than one window"),
    "header-less": (lambda tmp: (write_csv(tmp / "s.csv", None, [(i, i * i) for i in range(300)]), []),
                    r"s.csv: the first row is all numbers; a header row naming the columns is required"),
    "not-csv-or-numpy": (lambda tmp: ((tmp / "s.xlsx").write_bytes(b"PK\x03\x04") and tmp / "s.xlsx", []),
                         r"s.xlsx: not a CSV \(.csv\) or NumPy \(.npy, .npz\) file"),
    "unreadable-npy": (lambda tmp: ((tmp / "s.npy").write_bytes(b"not numpy") and tmp / "s.npy", []),
                       r"s.npy: not a readable NumPy file"),
}


@pytest.mark.parametrize("case", sorted(BAD_DATA))
@pytest.mark.parametrize("out_exists", [False, True], ids=["new-out", "old-out"])
def test_bad_data_one_line_nothing_written(case, out_exists, tmp_path, capsys):
    import re
    make, expect = BAD_DATA[case]
    path, opts = make(tmp_path)
    out = tmp_path / "out"
    if out_exists:
        out.mkdir()
        (out / "best.npz").write_bytes(b"previous")
    rc = trainer_main(["factorial", "--data", str(path), "--seq-len", "10", *opts, "--out", str(out), "--jobs", "1"])
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, cap.err
    assert lines[0].startswith(f"error: {path}: "), lines[0]
    assert re.search(expect, lines[0]), lines[0]
    if out_exists:
        assert [p.name for p in out.iterdir()] == ["best.npz"] and (out / "best.npz").read_bytes() == b"previous"
    else:
        assert not out.exists()


def _one_line_error(rc, cap, out):
    lines = cap.err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), cap.err
    assert not out.exists()
    return lines[0]


@pytest.mark.parametrize("bound, value, expect", [
    ("MAX_ROWS", 250, r"s.csv: more than 250 rows; at most 250 rows and 16,000,000 values in the used columns \(2\) "
                      r"are read"),
    ("MAX_VALUES", 500, r"s.csv: more than 250 rows; at most 1,000,000 rows and 500 values in the used columns "
                        r"\(2\) are read"),
    ("MAX_FILE_BYTES", 1000, r"s.csv: \d+ bytes; data files of at most 1000 bytes are read"),
])
def test_the_documented_bounds_are_enforced(bound, value, expect, tmp_path, capsys, monkeypatch):
    """The bounds of docs/model.md, lowered here so that a small file crosses them."""
    import re
    monkeypatch.setattr(table, bound, value)
    path, opts = _ab_csv(tmp_path)
    out = tmp_path / "out"
    rc = trainer_main(["factorial", "--data", str(path), *opts, "--seq-len", "20", "--out", str(out), "--jobs", "1"])
    line = _one_line_error(rc, capsys.readouterr(), out)
    assert re.search(expect, line), line


def test_a_window_too_short_for_training_is_one_line(tmp_path, capsys):
    path, opts = _ab_csv(tmp_path)
    out = tmp_path / "out"
    rc = trainer_main(["factorial", "--data", str(path), *opts, "--seq-len", "14", "--out", str(out), "--jobs", "1"])
    line = _one_line_error(rc, capsys.readouterr(), out)
    assert line == ("error: --seq-len must be at least 15 for training (the teachers' transient crops are 10 steps "
                    "from step 5), got 14")


VERIFY_BAD = ["cell-200kB", "overflow-1e300", "npz-object", "npz-zip-bomb", "unreadable"]


def test_verify_refuses_bad_data_in_one_line(tmp_path, host_cli):
    """A data model whose data file is replaced by a bad one: `verify --data BAD` exits 2 with
    one line naming the file, before anything is built."""
    import re
    spec = {"path": "s.csv", "inputs": ["a", "b"], "target": "a", "horizon": 1, "seq_len": 20,
            "fractions": [0.7, 0.15, 0.15]}
    save_artifact(data_artifact(I=2, H=8, data=spec), tmp_path / "m.npz")
    for case in VERIFY_BAD:
        make, expect = BAD_DATA[case]
        d = tmp_path / case
        d.mkdir()
        path, _ = make(d)
        r = host_cli("verify", "--qemu", "--target", "native", "--model", tmp_path / "m.npz", "--data", path,
                     "--build-dir", tmp_path / "build", timeout=60)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and "Traceback" not in r.stderr, (case, r.stderr)
        assert lines[-1].startswith(f"error: the model's data: {path}: "), (case, r.stderr)
        assert re.search(expect, lines[-1]), (case, lines[-1])
    assert not (tmp_path / "build").exists()


# ---- end to end: train, export, verify on native -------------------------------------------

@pytest.mark.qemu
@pytest.mark.slow
def test_two_input_csv_trains_exports_and_verifies_bit_exact(tmp_path, host_cli, capsys, monkeypatch):
    monkeypatch.chdir(REPO)                  # where host_cli runs
    path = two_input_csv(tmp_path / "sensor.csv")
    rel = "../sensor.csv"                    # recorded relative to the artifact's directory
    out = tmp_path / "res"
    rc = trainer_main(["factorial", "--data", str(path), "--inputs", "a,b", "--target", "b", "--horizon", "2",
                       "--seq-len", "20", "--seeds", "2", "--epochs", "3", "--teacher-epochs", "6",
                       "--cs-sweeps", "1", "--refit-epochs", "2", "--jobs", "1", "--out", str(out)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "train rows 0-419 (20 windows), val rows 420-509 (4 windows), test rows 510-599 (4 windows)" in cap.err
    art = load_artifact(out / "best.npz")
    assert art.format_version == 2 and art.I == 2 and art.task.name == "data"
    assert art.task.recorded == {"path": rel, "inputs": ["a", "b"], "target": "b", "horizon": 2, "seq_len": 20,
                        "fractions": [0.7, 0.15, 0.15], "gaps": "interpolate", "max_gap": 6,
                        "difference": {"target": False, "inputs": []},
                        "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    raw = np.loadtxt(path, delimiter=",", skiprows=1)[:420]
    np.testing.assert_allclose(art.task.scaling["input_offset"], raw[:, 1:].mean(0))
    assert art.task.scaling["target_offset"] == pytest.approx(raw[:, 2].mean())
    report = json.loads((out / "factorial.json").read_text())
    assert report["data"]["saturation"]["train"] == {"inputs": 0, "target": 0}
    md = (out / "factorial.md").read_text()
    assert "In the target's own units" in md and "| AR(6) | - |" in md

    gen = tmp_path / "gen"
    r = run([sys.executable, "-m", "codegen", "export", out / "best.npz", "--out", gen], cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "#define TRIX_INPUTS        2" in (gen / "trix_model.h").read_text()
    assert "#define TRIX_HAS_SCALING   1" in (gen / "trix_model.h").read_text()

    j = tmp_path / "v.json"
    r = host_cli("verify", "--qemu", "--target", "native", "--model", out / "best.npz",
                 "--build-dir", tmp_path / "build", "--json", j)
    assert r.returncode == 0, r.stderr
    assert "mismatches            0 (bit-exact with the golden model)" in r.stdout
    assert "4 sequences x 20 steps" in r.stdout and "sensor.csv test block, rows 510-599" in r.stderr
    v = json.loads(j.read_text())
    t = v["targets"][0]
    assert t["mismatches"] == 0 and t["steps"] == 80
    u = t["target_units"]
    k = art.task.scaling["target_scale"] ** 2
    assert u["mse_vs_truth"]["washout"] == pytest.approx(t["mse_vs_truth"]["washout"] * k)
    assert set(u["baselines"]) == {"persistence", "AR(6)"}
    assert "MSE in target units" in r.stdout and "baseline AR(6)" in r.stdout
    assert v["saturation"]["input_values"] == 4 * 20 * 2

    # --data reads the test block from another copy of the file
    copy = tmp_path / "copy.csv"
    copy.write_bytes(path.read_bytes())
    path.unlink()
    r = host_cli("verify", "--qemu", "--target", "native", "--model", out / "best.npz", "--build-dir",
                 tmp_path / "build")
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith(
        f"error: the model's data: {rel}: no such file; looked for {path}, relative to the model ")
    assert "pass --data FILE" in r.stderr
    r = host_cli("verify", "--qemu", "--target", "native", "--model", out / "best.npz", "--build-dir",
                 tmp_path / "build", "--data", copy)
    assert r.returncode == 0 and "copy.csv test block" in r.stderr, r.stderr


def test_verify_counts_saturations(tmp_path, monkeypatch):
    from host.verify import load_reference
    monkeypatch.chdir(tmp_path)                          # the artifact names its data file relative
    n = 300
    v = np.zeros(n)
    v[:210] = np.sin(np.arange(210) / 3)
    v[210:] = 4.0 * np.sin(np.arange(90) / 3)           # val and test swing 4x the training range
    write_csv(tmp_path / "saturations.csv", ["v", "w"], zip(v, np.cos(np.arange(n) / 5)))
    spec = {"path": "saturations.csv", "inputs": ["v", "w"], "target": "v", "horizon": 1, "seq_len": 10,
            "fractions": [0.7, 0.15, 0.15]}
    from cfcbase.series_task import spec_of
    d = series_task(spec_of(spec)).series()
    sc = {"input_offset": d.x_scaling.offset, "input_scale": d.x_scaling.scale,
          "target_offset": float(d.y_scaling.offset[0]), "target_scale": float(d.y_scaling.scale[0])}
    art = data_artifact(I=2, H=8, data=spec, **sc)
    art.scale_f, art.scale_g = art.scale_f * 1e-3, art.scale_g * 1e-3
    art.b_f[:], art.b_g[:] = 0.0, 0.0
    save_artifact(art, tmp_path / "m.npz")
    ref = load_reference(tmp_path / "m.npz")
    s = ref.saturation
    x, y = d.x["test"], d.y["test"][:, :, 0]
    assert s["inputs"] == np.count_nonzero(np.abs(x) >= 2) > 0
    assert s["target"] == np.count_nonzero(np.abs(y) >= 2) > 0
    assert s["pre_clamped"] == 0 and s["pre_values"] == x.shape[0] * 10 * 16
    art.b_f[:] = 20.0                                     # every gate pre-activation past the table
    save_artifact(art, tmp_path / "m.npz")
    from host.model import load_model                     # verify would refuse it: the lossy gate
    lossy = load_model(tmp_path / "m.npz", allow_lossy=True)
    assert load_reference(lossy).saturation["pre_clamped"] == x.shape[0] * 10 * 8


def test_committed_daphnet_model(tmp_path):
    """The README's worked example: a version-2 artifact naming a file inside the aeon wheel."""
    import importlib.util
    art = load_artifact(REPO / "results" / "daphnet" / "best.npz")
    assert art.format_version == 2 and art.I == 3 and art.task.spec.target == "ankle_vert"
    assert art.task.spec.path == "pkg:aeon/datasets/data/Daphnet_S06R02E0/S06R02E0.csv"
    if importlib.util.find_spec("aeon") is None:
        pytest.skip("aeon is not installed (pip install --no-deps aeon)")
    r = run([sys.executable, "-m", "codegen", "accuracy", REPO / "results" / "daphnet" / "best.npz"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "task S06R02E0.csv, test set 21x50" in r.stdout
    assert "float ternary 1.3991e-02, golden integer 1.4046e-02" in r.stdout
