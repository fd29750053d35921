"""Real series with the defaults, through the command lines: a date column, gaps, short series
(about 200 and 300 rows), every window length the argument check accepts, a trending series,
no --target, export and verify from another directory, the verdict against the baselines,
`trainer sweep --data`, --version. Training runs are tiny (2 epochs)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cfcbase.metrics import verdict
from cfcbase.artifact import load_artifact
from trainer.cli import main as trainer_main

REPO = Path(__file__).resolve().parents[1]
TINY = ["--seeds", "2", "--epochs", "2", "--teacher-epochs", "2", "--jobs", "1"]


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join("" if v is None else str(v) for v in r) + "\n")
    return Path(path)


def wave(n, seed=0, trend=0.0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.round(np.sin(2 * np.pi * t / 17) + 0.3 * np.sin(2 * np.pi * t / 7) + trend * t
                    + 0.05 * rng.normal(size=n), 6)


def factorial(args, out, capsys):
    """`python -m trainer factorial` in this process: (exit status, stdout lines, stderr)."""
    rc = trainer_main(["factorial", *map(str, args), "--out", str(out), *TINY])
    cap = capsys.readouterr()
    return rc, cap.out.strip().splitlines(), cap.err


def one_line_error(rc, err, out=None):
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    if out is not None:
        assert not Path(out).exists()
    return lines[0]


# ---- defaults that fit the data ----------------------------------------------------------

def test_a_date_column_is_skipped_by_default_and_refused_when_named(tmp_path, capsys):
    n = 400
    rows = [(f"2020-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}", "walk", 1958 + i, v) for i, v in enumerate(wave(n))]
    path = write_csv(tmp_path / "s.csv", ["date", "label", "year", "value"], rows)
    rc, out, err = factorial(["--data", path], tmp_path / "res", capsys)
    assert rc == 0, err
    assert ("no --inputs or --target: input and target value, the first column of numbers that is not a time stamp "
            "(skipped 'date': not numbers (row 2: '2020-01-01'); 'label': not numbers (row 2: 'walk'); 'year': never "
            "decreases: taken for a time stamp)") in err
    art = load_artifact(tmp_path / "res" / "best.npz")
    assert art.task.recorded["inputs"] == ["value"] and art.task.recorded["target"] == "value"
    for opts, where in ((["--inputs", "date,value"], "date"), (["--inputs", "value", "--target", "label"], "label")):
        rc, _, err = factorial(["--data", path, *opts], tmp_path / "no", capsys)
        line = one_line_error(rc, err, tmp_path / "no")
        assert line.endswith(f"s.csv: row 2, column '{where}': '{rows[0][0 if where == 'date' else 1]}' is not a "
                             f"number"), line


def gappy(tmp_path, gap=2, name="g.csv"):
    """400 rows of `v` (and a complete `w`): 2 empty cells at the start, an inner gap of `gap`
    rows from row 100, one at the end."""
    v = [float(x) for x in wave(400)]
    w = [float(x) for x in wave(400, seed=1)]
    cells = list(v)
    for i in [0, 1, 399] + list(range(100, 100 + gap)):
        cells[i] = None
    return write_csv(tmp_path / name, ["v", "w"], zip(cells, w)), np.array(v)


def test_gaps_are_filled_trimmed_or_refused_as_documented(tmp_path, capsys):
    path, v = gappy(tmp_path)
    rc, _, err = factorial(["--data", path, "--inputs", "v,w"], tmp_path / "res", capsys)
    assert rc == 0, err
    assert "gaps: dropped 2 at the start (rows 2-3) and 1 at the end (rows 401-401)" in err
    assert ("gaps: filled 2 missing value(s) of v by linear interpolation (1 gap(s), the longest 2 row(s) at rows "
            "102-103; at most --max-gap 4 are filled)") in err
    art = load_artifact(tmp_path / "res" / "best.npz")
    assert (art.task.recorded["gaps"], art.task.recorded["max_gap"]) == ("interpolate", 4)
    # what export and verify read (the artifact's task, its file found beside it) is the filled series
    d = art.task.series()
    assert d.rows["train"][0] == 2                              # file rows, after the two dropped
    filled = v[99] + (v[102] - v[99]) * np.array([1, 2]) / 3
    x = d.x["train"] * d.x_scaling.scale + d.x_scaling.offset    # windows back to back from row 2
    np.testing.assert_allclose(x[:, :, 0].ravel()[100 - 2:102 - 2], filled, rtol=0, atol=1e-12)

    long_path, _ = gappy(tmp_path, gap=6, name="long.csv")
    rc, _, err = factorial(["--data", long_path, "--inputs", "v,w"], tmp_path / "no", capsys)
    assert one_line_error(rc, err, tmp_path / "no").endswith(
        "long.csv: rows 102-107, column 'v': 6 consecutive missing values, more than --max-gap 4 fills (1 such "
        "gap(s); --max-gap 6 would interpolate them)")
    rc, _, err = factorial(["--data", long_path, "--inputs", "v,w", "--max-gap", "6"], tmp_path / "res6", capsys)
    assert rc == 0 and load_artifact(tmp_path / "res6" / "best.npz").task.recorded["max_gap"] == 6, err
    rc, _, err = factorial(["--data", path, "--inputs", "v,w", "--gaps", "refuse"], tmp_path / "no", capsys)
    assert one_line_error(rc, err, tmp_path / "no").endswith(
        "g.csv: row 2, column 'v': missing value (5 in the column; --gaps refuse; --gaps interpolate fills short gaps)")


@pytest.mark.parametrize("n, seq_len, windows, how", [
    (203, 29, "4/1/1", "no length of 15..50 gives 8/2/2 windows, so the largest giving every split one"),
    (309, 22, "9/2/2", "the largest of 15..50 giving at least 8 training, 2 validation and 2 test windows"),
])
def test_a_short_series_gets_a_window_length_that_fits(n, seq_len, windows, how, tmp_path, capsys):
    path = write_csv(tmp_path / "s.csv", ["year", "v"], zip(range(1700, 1700 + n), wave(n)))
    rc, _, err = factorial(["--data", path], tmp_path / "res", capsys)
    assert rc == 0, err
    assert f"seq-len {seq_len} (no --seq-len: {how}" in err and f"windows {windows}" in err
    assert load_artifact(tmp_path / "res" / "best.npz").task.recorded["seq_len"] == seq_len
    rc, _, err = factorial(["--data", path, "--seq-len", "50"], tmp_path / "no", capsys)
    largest = {203: 29, 309: 45}[n]
    assert f"or --seq-len {largest} at most (without --seq-len the length is chosen from the series)" in \
        one_line_error(rc, err, tmp_path / "no")


def test_every_seq_len_the_check_accepts_trains(tmp_path, capsys):
    """120 rows: blocks of 84 / 18 / 18 rows, so windows of 15 (the shortest that trains) to 17
    (the longest that leaves every block a window at horizon 1) are accepted, and they train."""
    path = write_csv(tmp_path / "s.csv", ["v"], zip(wave(120)))
    rc, _, err = factorial(["--data", path, "--seq-len", "14"], tmp_path / "no", capsys)
    assert "--seq-len must be at least 15 for training" in one_line_error(rc, err, tmp_path / "no")
    rc, _, err = factorial(["--data", path, "--seq-len", "18"], tmp_path / "no", capsys)
    assert "or --seq-len 17 at most" in one_line_error(rc, err, tmp_path / "no")
    for T in (15, 16, 17):
        rc, out, err = factorial(["--data", path, "--seq-len", T], tmp_path / f"res{T}", capsys)
        assert rc == 0, err
        assert load_artifact(tmp_path / f"res{T}" / "best.npz").task.recorded["seq_len"] == T


def test_without_target_the_first_input_is_recorded_and_export_and_verify_accept_it(tmp_path, capsys):
    from host.reference import load_reference
    path = write_csv(tmp_path / "s.csv", ["a", "b"], zip(wave(400), wave(400, seed=2)))
    rc, _, err = factorial(["--data", path, "--inputs", "b,a"], tmp_path / "res", capsys)
    assert rc == 0, err
    art = load_artifact(tmp_path / "res" / "best.npz")
    assert art.task.recorded["inputs"] == ["b", "a"] and art.task.recorded["target"] == "b"
    r = run([sys.executable, "-m", "codegen", "export", tmp_path / "res" / "best.npz", "--out", tmp_path / "gen"],
            cwd=REPO)
    assert r.returncode == 0 and "on the validation set" in r.stdout, r.stdout + r.stderr
    ref = load_reference(str(tmp_path / "res" / "best.npz"))
    assert ref.art.task.units()["target"] == "b" and ref.x.shape[2] == 2


# ---- trending series: differencing and the verdict ------------------------------------------

def test_a_trending_series_is_differenced_and_a_losing_model_says_so(tmp_path, capsys):
    path = write_csv(tmp_path / "trend.csv", ["level"], zip(wave(600, trend=0.05)))
    rc, out, err = factorial(["--data", path], tmp_path / "diff", capsys)
    assert rc == 0, err
    assert re.search(r"difference \(auto\): modelling the changes of target level \(a straight line explains \d+% "
                     r"of its variance over the training rows\), input level \(the target\)", err), err
    art = load_artifact(tmp_path / "diff" / "best.npz")
    assert art.task.recorded["difference"] == {"target": True, "inputs": ["level"]}
    assert "on the same test windows it is " in out[-1]

    rc, out, err = factorial(["--data", path, "--difference", "none"], tmp_path / "levels", capsys)
    assert rc == 0, err
    assert "note: the target level trends (a straight line explains" in err
    assert re.search(r"on the same test windows it is (better than AR\(6\) \(\S+x its MSE\) but )?WORSE than "
                     r"persistence \(\S+ times its MSE\).*docs/model.md, \"When the model loses to a baseline\", says "
                     r"what to try\); report in ", out[-1]), out[-1]
    md = (tmp_path / "levels" / "factorial.md").read_text()
    assert "the selected model is **" in md and "WORSE than persistence" in md
    # the baselines stay on the levels and on the same test windows: the same figures in target units
    a, b = (json.loads((tmp_path / d / "factorial.json").read_text()) for d in ("diff", "levels"))
    for name in ("persistence", "ar"):
        ua = a["baselines"][name]["test_mse_washout"] * a["data"]["target_scale"] ** 2
        ub = b["baselines"][name]["test_mse_washout"] * b["data"]["target_scale"] ** 2
        assert ua == pytest.approx(ub, rel=1e-9)
    assert a["data"]["rows"] == b["data"]["rows"] and a["data"]["windows"] == b["data"]["windows"]


def test_a_differenced_model_forecasts_levels_with_the_changes_error(tmp_path):
    """The model's target is the change over the horizon; the level forecast (level at the input's
    row + the change) has exactly the change's error, and persistence predicts a change of 0."""
    from cfcbase.series import SeriesSpec, build
    v = wave(500, trend=0.02)
    path = write_csv(tmp_path / "s.csv", ["v"], zip(v))
    d = build(SeriesSpec(str(path), horizon=3, seq_len=20, difference="target"))
    a0 = d.rows["test"][0]
    change = d.unscale_y(d.y["test"][0, :, 0])
    np.testing.assert_allclose(change, v[a0 + 3:a0 + 23] - v[a0:a0 + 20], atol=1e-12)
    pers = d.level_to_model(d.now["test"], "test")
    np.testing.assert_allclose(d.unscale_y(pers), 0.0, atol=1e-12)


# ---- the artifact finds its data from anywhere --------------------------------------------

@pytest.mark.qemu
def test_export_and_verify_from_another_directory_and_a_copied_artifact(tmp_path, capsys, monkeypatch):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for d in (a / "data", b, c):
        d.mkdir(parents=True)
    write_csv(a / "data" / "s.csv", ["t", "v"], zip(range(400), wave(400)))
    monkeypatch.chdir(a)
    rc, _, err = factorial(["--data", "data/s.csv"], "res", capsys)
    assert rc == 0, err
    assert load_artifact(a / "res" / "best.npz").task.recorded["path"] == "../data/s.csv"

    def export(model, *more):
        return run([sys.executable, "-m", "codegen", "export", model, "--out", b / "gen", *more], cwd=b)

    def verify(model, *more):
        return run([sys.executable, "-m", "host", "verify", "--qemu", "--target", "native", "--model", model,
                    "--build-dir", tmp_path / "build", *more], cwd=b)
    r = export(a / "res" / "best.npz")
    assert r.returncode == 0 and "on the validation set" in r.stdout, r.stdout + r.stderr
    r = verify(a / "res" / "best.npz")
    assert r.returncode == 0, r.stderr
    assert f"{a / 'data' / 's.csv'} test block" in r.stderr
    assert "verdict               the model is " in r.stdout and "baseline persistence" in r.stdout
    # the artifact copied elsewhere together with its data: found there
    shutil.copytree(a / "res", c / "res")
    shutil.copytree(a / "data", c / "data")
    r = verify(c / "res" / "best.npz")
    assert r.returncode == 0 and f"{c / 'data' / 's.csv'} test block" in r.stderr, r.stderr
    # changed: refused in one line naming --data FILE, before anything is built
    with open(c / "data" / "s.csv", "a") as f:
        f.write("400,0.5\n")
    for r in (verify(c / "res" / "best.npz"), export(c / "res" / "best.npz")):
        line = r.stderr.strip().splitlines()[-1]
        assert r.returncode == 2 and "the file changed since the model was trained" in line, r.stderr
        assert "pass --data FILE" in line
    r = verify(c / "res" / "best.npz", "--data", a / "data" / "s.csv")       # a copy of the original
    assert r.returncode == 0, r.stderr
    r = verify(a / "res" / "best.npz", "--data", c / "data" / "s.csv")       # another file, on request: noted
    assert r.returncode == 0 and "is not the file the model was trained on" in r.stderr, r.stderr
    # missing: verify refuses naming --data FILE; export measures its gate on synthetic inputs and says so
    (c / "data" / "s.csv").unlink()
    r = verify(c / "res" / "best.npz")
    line = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and line.startswith("error: the model's data: ../data/s.csv: no such file; looked for "
                                                 f"{c / 'data' / 's.csv'}"), r.stderr
    assert "pass --data FILE" in line
    r = export(c / "res" / "best.npz")
    assert r.returncode == 0 and "synthetic inputs" in r.stdout and "pass --data FILE" in r.stdout, r.stdout


# ---- the sweep on a data file --------------------------------------------------------------

def test_sweep_data_keys_its_jobs_by_the_spec_and_the_file(tmp_path, capsys):
    path = write_csv(tmp_path / "s.csv", ["v"], zip(wave(300)))
    args = ["sweep", "--data", str(path), "--grid", "H=4,6", "--set", "epochs=2", "--set", "teacher_epochs=2",
            "--seeds", "2", "--stack", "2", "--workers", "1", "--out", str(tmp_path / "sw")]
    assert trainer_main(args) == 0, capsys.readouterr().err
    cap = capsys.readouterr()
    assert "s.csv: 2 cells x 2 seeds" in cap.out
    assert "seq-len" in cap.err and "(0 cached" in cap.err
    assert json.loads((tmp_path / "sw" / "sweep.json").read_text())["cells"][0]["seeds"][0]["test_mse_washout"] > 0
    assert trainer_main(args + ["--dry-run"]) == 0
    assert "0 to run (4 cached" in capsys.readouterr().out
    with open(path, "a") as f:                      # the same spec, another file content
        f.write("0.125\n")
    assert trainer_main(args + ["--dry-run"]) == 0
    assert "4 to run (0 cached" in capsys.readouterr().out
    assert trainer_main(args[:-2] + ["--horizon", "2", "--out", str(tmp_path / "sw"), "--dry-run"]) == 0
    assert "4 to run (0 cached" in capsys.readouterr().out


# ---- small things of the command lines -------------------------------------------------------

@pytest.mark.parametrize("cli", ["trainer", "codegen", "host"])
def test_every_cli_has_a_version(cli):
    from cfcbase.version import package_version
    r = run([sys.executable, "-m", cli, "--version"], cwd=REPO)
    assert r.returncode == 0 and r.stdout.strip() == f"trixcfc {package_version()}", r.stdout + r.stderr
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", package_version())


@pytest.mark.parametrize("argv", [["factorial"], ["sweep"], ["examples"], ["results"], ["gradcheck"], ["bench"], []])
def test_every_trainer_command_explains_its_options(argv, capsys):
    with pytest.raises(SystemExit) as e:
        trainer_main([*argv, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "usage: python -m trainer" in out
    if argv in (["factorial"], ["sweep"]):
        for opt in ("--data", "--inputs", "--target", "--seq-len", "--gaps", "--max-gap", "--difference"):
            assert opt in out


def test_quick_runs_scale_the_search_and_the_refit():
    from cfcbase.tasks import builtin
    from trainer.experiments.configs import task_defaults
    from trainer.experiments.factorial import Settings, fill_defaults
    SINE_MIX = builtin("sine-mix")
    d = task_defaults(SINE_MIX)
    st = Settings(task=SINE_MIX, epochs=30)
    fill_defaults(st)
    assert (st.cs_sweeps, st.refit_epochs) == (max(1, round(d["cs_sweeps"] * 30 / d["epochs"])),
                                               max(1, round(d["refit_epochs"] * 30 / d["epochs"])))
    assert (st.cs_sweeps, st.refit_epochs) == (1, 5)
    st = Settings(task=SINE_MIX, epochs=30, cs_sweeps=2)
    fill_defaults(st)
    assert (st.cs_sweeps, st.refit_epochs) == (2, 5)
    st = Settings(task=SINE_MIX, epochs=10 * d["epochs"])
    fill_defaults(st)
    assert (st.cs_sweeps, st.refit_epochs) == (d["cs_sweeps"], d["refit_epochs"])      # never above the defaults
    st = Settings(task=SINE_MIX)
    fill_defaults(st)
    assert (st.cs_sweeps, st.refit_epochs) == (d["cs_sweeps"], d["refit_epochs"])


def test_the_summary_lists_factorial_png_only_when_drawn(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)          # import matplotlib -> ImportError
    path = write_csv(tmp_path / "s.csv", ["v"], zip(wave(300)))
    rc, _, err = factorial(["--data", path], tmp_path / "res", capsys)
    assert rc == 0, err
    done = [ln for ln in err.splitlines() if " done in " in ln and "wrote" in ln]
    assert done and done[-1].endswith("factorial.json, best.npz") and "factorial.png" not in done[-1], err
    assert not (tmp_path / "res" / "factorial.png").exists()


def test_the_verdict_in_words():
    assert verdict(1.0, {"persistence": 4.0, "AR(6)": 2.0}) == \
        "better than persistence (0.25x its MSE) and AR(6) (0.50x its MSE)"
    assert verdict(4.6, {"persistence": 1.0, "AR(6)": 4.6 / 5.6}) == \
        "WORSE than persistence (4.60 times its MSE) and AR(6) (5.60 times its MSE)"
    assert verdict(1.3, {"persistence": 2.0, "AR(2)": 1.0}) == \
        "better than persistence (0.65x its MSE) but WORSE than AR(2) (1.30 times its MSE)"
    # a baseline exact up to rounding (AR(2) on the noise-free sine) is named so, not as a 1e24 ratio
    assert verdict(1e-6, {"AR(2)": 1.4e-30}) == "WORSE than AR(2) (exact here up to rounding: MSE 1.4e-30)"
    assert verdict(1e-6, {"AR(2)": 1e-19}) == "WORSE than AR(2) (1.00e+13 times its MSE)"


def test_a_column_without_a_name_is_passed_over_not_refused(tmp_path, capsys):
    """pandas' to_csv writes its index as a column with an empty header cell: a column nobody can
    name, so never an input; the file trains, with --inputs and with the default input."""
    path = tmp_path / "p.csv"
    path.write_text(",value,other\n" + "".join(f"{i},{v:.5f},{i % 3}\n" for i, v in enumerate(wave(400))))
    rc, _, err = factorial(["--data", str(path), "--inputs", "value"], tmp_path / "r1", capsys)
    assert rc == 0, err
    rc, _, err = factorial(["--data", str(path)], tmp_path / "r2", capsys)
    assert rc == 0, err
    assert "input and target value, the first column of numbers that is not a time stamp (skipped column 1: no name " \
           "in the header row)" in err


def test_a_series_too_short_for_the_fractions_is_told_the_fractions_that_fit(tmp_path, capsys):
    """100 rows: the default 15 % blocks hold no 16-row window; the message names the split that
    does, and that split trains. 40 rows: no three blocks of one window; it says so."""
    path = write_csv(tmp_path / "s.csv", ["v"], ((v,) for v in wave(100)))
    rc, _, err = factorial(["--data", path], tmp_path / "r", capsys)
    assert rc == 2 and "100 rows are too few" in err and "need at least 107 rows with --fractions 0.7,0.15,0.15, or " \
        "--fractions 0.6,0.2,0.2 fits these 100 rows" in err, err
    rc, _, err = factorial(["--data", path, "--fractions", "0.6,0.2,0.2"], tmp_path / "r", capsys)
    assert rc == 0, err
    path = write_csv(tmp_path / "t.csv", ["v"], ((v,) for v in wave(40)))
    rc, _, err = factorial(["--data", path], tmp_path / "r2", capsys)
    assert rc == 2 and "40 rows hold no three blocks of one 16-row window each" in err, err
