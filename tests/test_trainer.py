"""Trainer: tasks, gradient check (and its abort), CLI errors, determinism, best.npz."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from types import SimpleNamespace

from cfcbase.cell import decay
from cfcbase.metrics import forecast_metrics
from cfcbase.tasks import FORECAST_TASKS, SIZES, builtin
from trainer.cli import main
from trainer.model import cell, gradcheck, optim, quant, search, train
from trainer.model.heads import ReadoutHead, tm
from trainer.reports import stats


def head(task="sine"):
    return ReadoutHead(builtin(task))


def predict(xT, W, b, lam, w_o, b_o):
    """y [T, M, B] and the states of a readout model stack (as the trainer computes them)."""
    return train.outputs(head(), xT, (W, b, lam, SimpleNamespace(w_o=w_o, b_o=np.asarray(b_o)[:, None])))


def search_loss(yT, sw, B):
    return head().search_loss(yT, B, sw)

REPO = Path(__file__).resolve().parents[1]
TINY = ["--seeds", "2", "--epochs", "8", "--teacher-epochs", "12", "--cs-sweeps", "1", "--refit-epochs", "3"]


# ---- tasks --------------------------------------------------------------------------------

@pytest.mark.parametrize("task", FORECAST_TASKS)
def test_splits_shapes_sizes_and_determinism(task):
    for split, n in SIZES[task].items():
        x, y = builtin(task).split(split)
        assert x.shape == (n, 50, 1) and y.shape == (n, 50, 1)
        assert x.dtype == np.float64 and y.dtype == np.float64
        x2, y2 = builtin(task).split(split)
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
    xa, _ = builtin(task).split("train")
    xb, _ = builtin(task).split("val")
    assert not np.allclose(xa[:5, :5], xb[:5, :5])          # each split from its own seed


def test_sine_is_the_pinned_sine():
    x, y = builtin("sine").split("test")
    w = 2 * np.pi / 25
    phi = np.arcsin(np.clip(x[:, 0, 0], -1, 1))
    # target is the next sample: y_t = x_{t+1}, and sin(w t + phi) satisfies the AR(2) identity
    np.testing.assert_allclose(y[:, :-1], x[:, 1:], atol=1e-12)
    np.testing.assert_allclose(x[:, 2:, 0], 2 * np.cos(w) * x[:, 1:-1, 0] - x[:, :-2, 0], atol=1e-12)
    assert np.all(np.abs(x) <= 1) and phi.shape == (256,)


def test_sine_mix_inputs_noisy_targets_clean():
    x, y = builtin("sine-mix").split("train")
    noise = x[:, 1:, 0] - y[:, :-1, 0]
    assert 0.015 < noise.std() < 0.025
    assert np.abs(y).max() <= 1.0


def test_unknown_task_names_it():
    with pytest.raises(ValueError, match="'sawtooth'"):
        builtin("sawtooth")
    with pytest.raises(ValueError, match="'sine'"):
        builtin("sine").split("holdout")


def test_first_step_floor_and_baselines():
    f = builtin("sine").first_step_floor()
    assert f["step0_mse"] == pytest.approx(np.sin(2 * np.pi / 25) ** 2 / 2)
    assert f["all_step_floor"] == pytest.approx(f["step0_mse"] / 50)
    b = builtin("sine").baselines()
    assert b["ar2"]["test_mse_washout"] < 1e-20                     # sine is an exact AR(2)
    assert b["persistence"]["test_mse_washout"] > 1e-2
    fm = builtin("sine-mix").first_step_floor(n=50_000, bins=100)
    assert 0 < fm["step0_mse"] < 0.2


# ---- cell and quantizer ---------------------------------------------------------------------

def test_stacked_models_match_single_model_runs():
    rng = np.random.default_rng(3)
    M, H, T, B = 3, 4, 6, 5
    xT = rng.normal(size=(T, B, 1))
    W = rng.normal(size=(M, 2 * H, 1 + H))
    b, tau = rng.normal(size=(M, 2 * H)), rng.uniform(0.1, 1, (M, H))
    w_o, b_o = rng.normal(size=(M, H)), rng.normal(size=M)
    lam = decay(tau)
    y, hs = predict(xT, W, b, lam, w_o, b_o)
    for m in range(M):
        h = np.zeros((B, H))
        for t in range(T):
            z = np.concatenate([xT[t], h], 1)
            g = 1 / (1 + np.exp(-(z @ W[m, :H].T + b[m, :H])))
            c = np.tanh(z @ W[m, H:].T + b[m, H:])
            h = lam[m] * (1 - g) * h + g * c
            np.testing.assert_allclose(y[t, m], h @ w_o[m] + b_o[m], rtol=1e-12, atol=1e-12)


def test_coordinate_search_candidates_match_the_cell_forward():
    """The batched candidate losses of the coordinate search (one trit changed per candidate,
    inputs and hidden columns, both heads) equal the step-weighted train MSE of each changed
    model run through the cell's forward."""
    rng = np.random.default_rng(3)
    T, B, I, H = 12, 5, 1, 4
    xT = rng.normal(size=(T, B, I))
    yT = rng.normal(size=(T, B)) * 0.5
    m = {"trits": rng.integers(-1, 2, size=(2 * H, I + H)).astype(np.int8),
         "s": rng.uniform(0.3, 1.2, size=2 * H), "b": rng.normal(size=2 * H) * 0.3,
         "tau": rng.uniform(0.2, 2.0, size=H), "w_o": rng.normal(size=H), "b_o": 0.1}
    sw = train.step_weights(T, 0.3)
    for row in (1, H + 2):                                  # a gate row and a candidate row
        cols = np.repeat(np.arange(I + H), 2)
        old = m["trits"][row].astype(np.int64)
        alt = np.stack([(old + 2) % 3 - 1, (old + 3) % 3 - 1], 1).reshape(-1)
        L = search.candidate_losses(search_loss(yT, sw, B), xT, m, row, cols, alt.astype(np.float64))
        for k in range(len(cols)):
            mk = dict(m, trits=m["trits"].copy())
            mk["trits"][row, cols[k]] = alt[k]
            y, _ = train.outputs(head(), xT, train.frozen_eff(head(), mk))
            ref = np.mean(sw[:, None] * (y[:, 0] - yT) ** 2)
            assert L[k] == pytest.approx(ref, rel=1e-12), (row, k)


def test_the_cell_forward_is_the_float_reference_bit_for_bit():
    """trainer.model.cell (the training forward, one step per call on preallocated views) and
    cfcbase.cell.predict (the float model that codegen and the host compare with) compute the
    same bits."""
    from cfcbase.cell import predict as reference
    rng = np.random.default_rng(5)
    T, B, H = 20, 7, 6
    xT = rng.normal(size=(T, B, 1))
    W = rng.normal(size=(1, 2 * H, 1 + H)) * 1.5
    b, lam = rng.normal(size=(1, 2 * H)), decay(rng.uniform(0.1, 2, (1, H)))
    w_o, b_o = rng.normal(size=(1, H)), rng.normal(size=1)
    y, _ = predict(xT, W, b, lam, w_o, b_o)
    np.testing.assert_array_equal(y[:, 0, :].T, reference(W[0], b[0], lam[0], w_o[0], b_o[0], xT.transpose(1, 0, 2)))


def test_a_model_trained_alone_is_the_same_model_in_a_stack():
    """Teachers and students: every model of a stack has the bits it has when trained alone
    (the factorial trains a teacher per seed, the sweep stacks them), minibatches included."""
    tp, tinfo = train.train_teachers(head("sine-mix"), 4, [0, 1, 2], epochs=3)
    sp, sinfo, _ = train.train_students(head(), tp.take([0, 1, 2]), [False, True, False], [None, None, "traj"],
                                        epochs=12, lr=1e-2, transient_w=0.0)
    for m, seed in enumerate([0, 1, 2]):
        t1, i1 = train.train_teachers(head("sine-mix"), 4, [seed], epochs=3)
        assert np.array_equal(t1.flat[0], tp.flat[m]) and i1["val_mse_washout_sel"][0] == tinfo["val_mse_washout_sel"][m]
        s1, j1, _ = train.train_students(head(), tp.take([m]), [m == 1], [[None, None, "traj"][m]], epochs=12, lr=1e-2,
                                         transient_w=0.0)
        assert np.array_equal(s1.flat[0], sp.flat[m]) and j1[0] == sinfo[m]


def _small_model(rng, H, I=1):
    return {"trits": rng.integers(-1, 2, size=(2 * H, I + H)).astype(np.int8),
            "s": rng.uniform(0.3, 1.2, size=2 * H), "b": rng.normal(size=2 * H) * 0.3,
            "tau": rng.uniform(0.2, 2.0, size=H), "w_o": rng.normal(size=H), "b_o": 0.1}


def test_candidate_losses_bound_and_float32_screen():
    """A bound drops the candidates past it (+inf) and leaves the others' numbers as they are
    without it; the float32 screen is within 1e-5 of the float64 losses."""
    rng = np.random.default_rng(4)
    T, B, I, H = 30, 6, 2, 5
    xT = rng.normal(size=(T, B, I))
    m = _small_model(rng, H, I)
    y, _ = train.outputs(head(), xT, train.frozen_eff(head(), m))
    yT = y[:, 0] + rng.normal(size=(T, B)) * 1e-3         # the model's own output: losses far apart
    sw = train.step_weights(T, 0.0)
    cols = np.repeat(np.arange(I + H), 2)
    old = m["trits"][3].astype(np.int64)
    alt = np.stack([(old + 2) % 3 - 1, (old + 3) % 3 - 1], 1).reshape(-1).astype(np.float64)
    full = search.candidate_losses(search_loss(yT, sw, B), xT, m, 3, cols, alt)
    bound = np.median(full)
    partial = search.candidate_losses(search_loss(yT[:10], sw[:10], B), xT[:10], m, 3, cols, alt) * 10 / T
    assert np.any(partial > bound)                        # some leave the batch at step 10, others stay
    cut = search.candidate_losses(search_loss(yT, sw, B), xT, m, 3, cols, alt, bound=bound)
    assert 0 < np.sum(np.isfinite(cut)) < len(cols)
    np.testing.assert_array_equal(cut, np.where(full > bound, np.inf, full))
    f32 = search.candidate_losses(search_loss(yT, sw, B), xT, m, 3, cols, alt, dtype=np.float32)
    assert np.max(np.abs(f32 - full) / full) < 1e-5


def _exhaustive_search(m, sweeps, min_gain):
    """The greedy search without the screen: every alternative of a row in float64."""
    xT, yT, _, _ = train._data(head())
    m = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in m.items()}
    loss = search_loss(yT, train.step_weights(xT.shape[0], 0.0), xT.shape[1])
    C = m["trits"].shape[1]
    cols = np.repeat(np.arange(C), 2)
    cur = float(search.candidate_losses(loss, xT, m, 0, cols[:1], m["trits"][0, :1].astype(np.float64))[0])
    for _ in range(sweeps):
        before = cur
        for r in range(len(m["trits"])):
            old = m["trits"][r].astype(np.int64)
            alt = np.stack([(old + 2) % 3 - 1, (old + 3) % 3 - 1], 1).reshape(-1)
            L = search.candidate_losses(loss, xT, m, r, cols, alt.astype(np.float64))
            k = int(np.argmin(L))
            if L[k] < cur * (1 - 1e-9):
                m["trits"][r, cols[k]], cur = alt[k], float(L[k])
        if before - cur < min_gain * before:
            break
    return m["trits"], cur


def test_coordinate_search_screen_keeps_the_exhaustive_choices_and_stops_by_its_rule():
    """The float32 screen changes which candidates are evaluated in float64, not which change
    is made: the same trits as the exhaustive greedy search; and the sweeps stop at the first
    one that gains less than min_gain."""
    t, _ = train.train_teachers(head(), 4, [0], epochs=30)
    m0 = train.frozen(head(), train.ptq(t), 0)
    m, info = search.coordinate_search(head(), m0, max_sweeps=6, transient_w=0.0, min_gain=0.02)
    trits, cur = _exhaustive_search(m0, 6, 0.02)
    np.testing.assert_array_equal(m["trits"], trits)
    assert info["cs_train_mse_after"] == cur and info["cs_changes"] > 5
    assert info["cs_loss_evals"] < info["cs_screened"] / 4
    mse = [info["cs_train_mse_before"]] + info["cs_sweep_train_mse"]
    gains = [(a - b) / a for a, b in zip(mse, mse[1:])]
    assert len(gains) == info["cs_sweeps"] and all(g >= 0.02 for g in gains[:-1])
    assert gains[-1] < 0.02 or info["cs_sweeps"] == 6


def test_quantizer_threshold_and_window():
    u = np.array([-1.2, -0.51, -0.49, 0.0, 0.49, 0.51, 2.0])
    np.testing.assert_array_equal(quant.ternarize(u), [-1, -1, 0, 0, 0, 1, 1])
    assert quant.window(np.array([0.5]), 20.0)[0] == pytest.approx(1.5)     # 6 t (1 - t) at t = 1/2
    assert quant.window(np.array([0.5 + 0.6 / 20]), 20.0)[0] == 0.0         # outside width 1/beta
    assert quant.window(np.array([0.0, 1.0]), 1.0).tolist() == [0.0, 0.0]
    W = np.array([[0.9, -1.1, 0.05, 0.0, 1.0]])
    s = quant.best_row_scales(W)
    assert s[0] == pytest.approx(1.0)


# ---- gradient check -------------------------------------------------------------------------

def test_gradcheck_small_sizes_every_group():
    r = gradcheck.run(H=2, T=4, B=2)
    assert len(r) >= 30
    for group in ("teacher[W,task]", "teacher[log_tau,traj]", "teacher-student-eff[s,traj]", "ste[V,task]",
                  "shaped-ste[V,traj]", "lsq-scale[s,task]"):
        assert group in r
    assert gradcheck.failures(r) == {}, r


def _broken_backward(orig):
    def wrong(*args):
        dW, db, dlam = orig(*args)
        return dW, db, dlam * 1.01                 # a 1% error in the tau gradient
    return wrong


def test_gradcheck_sees_an_injected_error(monkeypatch):
    monkeypatch.setattr(cell, "param_grads", _broken_backward(cell.param_grads))
    bad = gradcheck.failures(gradcheck.run(H=2, T=4, B=2))
    assert any("log_tau" in k for k in bad), bad


def test_factorial_aborts_when_the_gradient_is_wrong(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cell, "param_grads", _broken_backward(cell.param_grads))
    rc = main(["factorial", "--out", str(tmp_path), "--jobs", "1"] + TINY)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert err[-1].startswith("error: gradient check failed")
    assert not (tmp_path / "best.npz").exists() and not (tmp_path / "factorial.json").exists()


def test_gradcheck_command(capsys):
    assert main(["gradcheck"]) == 0
    assert "max relative error" in capsys.readouterr().out


# ---- CLI errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("argv, pattern", [
    (["factorial", "--task", "sawtooth"], "unknown task 'sawtooth'"),
    (["factorial", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["factorial", "--seeds", "0"], "--seeds must be positive"),
    (["factorial", "--epochs", "-3"], "--epochs must be positive"),
    (["factorial", "--jobs", "0"], "--jobs must be positive"),
    (["factorial", "--seeds", "two"], "invalid int value"),
    (["factorial", "--scheme", "magic"], "unknown scale scheme"),
    (["nonsense"], "invalid choice"),
    ([], "missing command"),
])
def test_bad_input_one_error_line(argv, pattern, capsys, tmp_path):
    if argv and argv[0] == "factorial":
        argv = argv + ["--out", str(tmp_path)]
    rc = main(argv)
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert rc != 0
    assert len(lines) == 1 and lines[0].startswith("error: ") and pattern in lines[0], cap.err
    assert cap.out == ""


def test_unwritable_out(tmp_path, capsys):
    f = tmp_path / "a_file"
    f.write_text("x")
    rc = main(["factorial", "--out", str(f / "sub")] + TINY)
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(lines) == 1 and re.match(r"error: --out .*not writable", lines[0])


def test_divergence_to_nan_is_one_error_line(tmp_path, capsys):
    rc = main(["factorial", "--out", str(tmp_path), "--jobs", "1", "--teacher-lr", "1e300"] + TINY)
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if not re.match(r"\[\d\d:\d\d:\d\d\] ", ln)]  # progress
    assert rc != 0 and len(lines) == 1 and lines[0].startswith("error: ") and "diverged" in lines[0], err
    assert not (tmp_path / "best.npz").exists()


def test_training_error_types_are_trainer_errors():
    from trainer.errors import TrainerError
    with pytest.raises(TrainerError):
        train.train_teachers(head(), 4, [0], epochs=0)
    g = np.array([[np.nan, 1.0]])
    with pytest.raises(TrainerError, match="NaN"):
        optim.clip_(g, 1.0)


# ---- determinism, outputs, best.npz --------------------------------------------------------

def _numbers(obj, path=""):
    """Every number in a JSON tree except wall-clock timings, with its path."""
    if isinstance(obj, dict):
        for k, v in sorted(obj.items()):
            if k not in ("wall_s",):
                yield from _numbers(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path, obj


def _factorial_cli(out, jobs):
    """`python -m trainer factorial` TINY in a fresh process whose environment has none of the
    pinning variables (cfcbase.numerics.PIN): only the trainer's own pinning applies."""
    import subprocess
    import sys
    from cfcbase import numerics
    env = {k: v for k, v in os.environ.items() if k not in numerics.PIN_VARS + (numerics.MARK,)}
    r = subprocess.run([sys.executable, "-m", "trainer", "factorial", "--out", str(out), "--jobs", str(jobs)] + TINY,
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.mark.slow
def test_tiny_factorial_is_deterministic_and_independent_of_jobs_and_cpu_dispatch(written, tmp_path):
    """The same artifacts from the module's tiny factorial (`written`: this process, one job, the
    CPU dispatch pinned in the environment before numpy was imported) and from a fresh
    `python -m trainer factorial` with two workers and every pinning variable removed from its
    environment, so that only the trainer's own pinning can make the two agree. On a CPU with
    more than x86-64-v3 (AVX-512) an unpinned run would use other numpy loops and OpenBLAS
    kernels and differ in the last bits, then in the model."""
    a, b = written[0], tmp_path / "b"
    rb = _factorial_cli(b, 2)
    ja = json.loads((a / "factorial.json").read_text())
    jb = json.loads((b / "factorial.json").read_text())
    na, nb = list(_numbers(ja)), list(_numbers(jb))
    assert len(na) > 500
    assert na == nb                                        # bit for bit (JSON keeps repr precision)
    assert (a / "best.npz").read_bytes() == (b / "best.npz").read_bytes()
    from cfcbase import numerics
    if numerics.cpu_level() == numerics.REQUIRED_LEVEL:
        assert ja["numerics"]["pinned"] and jb["numerics"]["pinned"], (ja["numerics"], jb["numerics"])
        assert set(jb["numerics"]["source"].values()) == {"trixcfc"}, jb["numerics"]   # the trainer pinned itself
        assert "numerics: pinned to x86-64-v3" in rb.stderr
    md = (a / "factorial.md").read_text()
    for needle in ("## Factorial (mean over seeds)", "ANOVA", "PTQ", "CS on config 1", "loss evals", "CS + refit",
                   "First-step floor", "| seed 0 | seed 1 |", "vs float", "vs baseline", "persistence", "AR(2)"):
        assert needle in md, needle
    assert len(ja["runs"]) == 2 * (2 * 6) + 2 * 3          # 2 seeds x 2 widths x (4 QAT + out + PTQ) + 3 CS rows
    for r in ja["runs"]:
        for k in ("train_mse", "val_mse", "test_mse", "test_mse_washout", "test_nmse_washout", "zero_frac"):
            assert k in r
    assert all("cs_loss_evals" in r for r in ja["runs"] if str(r["config"]).startswith("cs"))
    assert "best ternary student" in rb.stdout
    # progress during the minutes-long coordinate search: one line per sweep (from the workers)
    assert re.search(r"ste\+none\+H\d+ seed=\d+: coordinate search sweep 1: train MSE \d", rb.stderr), rb.stderr


def test_every_worker_process_is_pinned():
    """Spawned workers (workers.run_jobs) compute with the pinned dispatch: their environment
    carries the variables, marked as the trainer's own (cfcbase.numerics)."""
    from cfcbase import numerics
    from trainer.experiments import workers
    if numerics.cpu_level() != numerics.REQUIRED_LEVEL:
        pytest.skip(f"this CPU is {numerics.cpu_level()}: nothing is pinned below {numerics.REQUIRED_LEVEL}")
    got = []
    workers.run_jobs(numerics.status, [(), ()], 2, lambda i, st: got.append(st))
    assert len(got) == 2
    for st in got:
        assert st["pinned"], numerics.describe(st)
        assert set(st["source"].values()) <= {"trixcfc", "user"}, st
        # the trainer's value, or the user's own where the user set one (respected, not replaced)
        assert st["env"] == {k: os.environ[k] if st["source"][k] == "user" else v
                             for k, v in numerics.PIN.items()}, st


def _artifact_keys():
    text = (REPO / "docs" / "artifact.md").read_text()
    keys = set()
    for row in re.findall(r"^\| `([^|]+)` \| (?:int8|int32|float64|unicode) \|", text, flags=re.M):   # the key tables
        keys.update(k.strip(" `") for k in row.split(","))
    return keys


@pytest.fixture(scope="module")
def tiny_out(written):
    return written[0]


def test_best_npz_schema_round_trip(tiny_out):
    path = tiny_out / "best.npz"
    with np.load(path, allow_pickle=False) as z:
        files = set(z.files)
        from cfcbase.artifact import FORMAT_KEYS
        from cfcbase.heads import Classifier
        from cfcbase.labelled_task import LabelledTask
        from cfcbase.series_task import SeriesTask
        V2_KEYS = SeriesTask.RECORD_KEYS
        documented = _artifact_keys()
        assert set(V2_KEYS) <= documented                   # the version-2 keys are documented too
        v3 = set(Classifier.FILE_KEYS + LabelledTask.RECORD_KEYS)   # and a classifier's (version 3)
        v4 = set(FORMAT_KEYS) | {"weights_f", "weights_g"}  # and int8 matrices' (version 4)
        assert v3 <= documented and v4 <= documented, (v3 | v4) - documented
        assert documented - set(V2_KEYS) - v3 - v4 <= files, documented - set(V2_KEYS) - v3 - v4 - files
        assert not (set(V2_KEYS) | v4) & files               # a sine model is a version-1 file
        H, I = int(z["H"]), int(z["I"])
        assert z["format_version"] == 1 and z["format_version"].dtype == np.int32
        assert z["trits_f"].dtype == np.int8 and z["trits_f"].shape == (H, I + H)
        assert set(np.unique(z["trits_g"])) <= {-1, 0, 1}
        assert np.all(z["scale_f"] > 0) and np.all(z["tau"] > 0)
        m = json.loads(str(z["metrics_json"]))
        assert {"seed", "val_mse_washout", "test_mse", "test_mse_washout", "teacher_test_mse_washout"} <= set(m)
        # the stored model reproduces its recorded test washout MSE
        x, y = builtin(str(z["task"])).split("test")
        mm = {"trits": np.concatenate([z["trits_f"], z["trits_g"]]), "s": np.concatenate([z["scale_f"], z["scale_g"]]),
              "b": np.concatenate([z["b_f"], z["b_g"]]), "tau": z["tau"], "w_o": z["w_o"], "b_o": float(z["b_o"])}
        yp, _ = train.outputs(head(), tm(x), train.frozen_eff(head(), mm))
        assert forecast_metrics(yp[:, 0].T, y)["mse_washout"] == pytest.approx(m["test_mse_washout"], rel=1e-12)
    from cfcbase.artifact import load_artifact
    art = load_artifact(path)
    assert art.H == H and art.task.name == "sine"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One tiny factorial; what it handed to write_factorial, and the files it wrote."""
    from trainer.experiments import factorial
    out = tmp_path_factory.mktemp("written")
    seen = {}
    orig = factorial.write_factorial

    def spy(o, hd, result, runs, teachers):
        seen.update(head=hd, result=result, runs=runs, teachers=teachers)
        return orig(o, hd, result, runs, teachers)
    factorial.write_factorial = spy
    try:
        assert main(["factorial", "--out", str(out), "--jobs", "1"] + TINY) == 0
    finally:
        factorial.write_factorial = orig
    return out, seen


OUTPUTS = ("best.npz", "factorial.json", "factorial.md", "factorial.png")


def _snapshot(d):
    return {n: (d / n).read_bytes() for n in OUTPUTS if (d / n).exists()}


def test_outputs_are_all_or_nothing(written, tmp_path, monkeypatch):
    import shutil
    from trainer.experiments import factorial
    from trainer.reports import factorial_report
    src, seen = written
    assert set(_snapshot(src)) == set(OUTPUTS)
    out = tmp_path / "out"
    shutil.copytree(src, out)
    before = _snapshot(out)
    result = dict(seen["result"], command="a new run")     # a different factorial.json / .md

    def exploding_write(f, arrays):                        # best.npz fails half-way
        f.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")
    from cfcbase import artifact
    monkeypatch.setattr(artifact, "write_npz", exploding_write)
    with pytest.raises(OSError, match="disk full"):
        factorial.write_factorial(str(out), seen["head"], result, seen["runs"], seen["teachers"])
    assert _snapshot(out) == before                        # not one file changed, none left over
    assert sorted(os.listdir(out)) == sorted(os.listdir(src))
    monkeypatch.undo()

    # a reused --out where this run draws no plot: the old plot goes with the old tables
    monkeypatch.setattr(factorial_report, "plot", lambda *a, **k: None)
    factorial.write_factorial(str(out), seen["head"], result, seen["runs"], seen["teachers"])
    after = _snapshot(out)
    assert "factorial.png" not in after
    assert after["factorial.json"] != before["factorial.json"] and b"a new run" in after["factorial.json"]
    assert sorted(os.listdir(out)) == sorted(set(os.listdir(src)) - {"factorial.png"})


def test_best_npz_write_is_atomic(tiny_out, monkeypatch):
    from cfcbase import artifact
    path = tiny_out / "best.npz"
    before = path.read_bytes()
    art = artifact.load_artifact(path)

    def exploding_write(f, arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")
    monkeypatch.setattr(artifact, "write_npz", exploding_write)
    with pytest.raises(OSError):
        artifact.save_artifact(art, path)
    assert path.read_bytes() == before                    # the old file is untouched
    assert [p for p in os.listdir(tiny_out) if p.endswith(".tmp")] == []


def test_best_npz_bytes_depend_on_the_arrays_only(tmp_path):
    """write_npz: np.load gives the arrays back, and the same arrays give the same bytes
    (no timestamp, no zip64 records that differ between Python patch releases)."""
    from cfcbase.fileio import write_npz
    arrays = {"trits_f": np.array([[1, 0, -1]], np.int8), "b_o": np.float64(0.25),
              "metrics_json": np.str_('{"a": 1}')}
    paths = [tmp_path / "a.npz", tmp_path / "b.npz"]
    for p in paths:
        with open(p, "wb") as f:
            write_npz(f, arrays)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    back = np.load(paths[0])
    assert sorted(back.files) == sorted(arrays)
    for k, v in arrays.items():
        assert back[k].dtype == np.asarray(v).dtype and np.array_equal(back[k], v)
    assert b"\x01\x00\x08\x00" not in paths[0].read_bytes()[:64]     # no zip64 extra field in the header


# ---- statistics ----------------------------------------------------------------------------

def test_f_distribution_tail():
    # F(1, d) tail equals the two-sided t tail: P(|t_d| > sqrt(F)); d = 1: Cauchy, closed form
    for F in (0.5, 2.0, 10.0):
        assert stats.f_sf(F, 1, 1) == pytest.approx(1 - 2 / np.pi * np.arctan(np.sqrt(F)), rel=1e-10)
    assert stats.f_sf(3.2, 1, 28) == pytest.approx(0.084463374776846, rel=1e-9)


def test_anova_recovers_a_planted_effect():
    rng = np.random.default_rng(0)
    i = np.arange(8)
    y = rng.normal(0, 0.05, (6, 8)) + 0.5 * ((i >> 2) & 1) + rng.normal(0, 1, (6, 1))   # width + seed blocks
    a = {r["effect"]: r for r in stats.anova_2x2x2(y)["effects"]}
    assert a["C width"]["estimate"] == pytest.approx(0.5, abs=0.05)
    assert a["C width"]["p"] < 1e-6 and a["A shaped"]["p"] > 1e-3


def test_refit_keeps_the_trits_fixed():
    """The refit after coordinate search trains scales/biases/tau/readout only, even with a
    large LR that moves the scales a lot (u = V / s must stay on the trits)."""
    t, _ = train.train_teachers(head(), 4, [0], epochs=5)
    m = train.frozen(head(), train.ptq(t), 0)
    m["s"] = m["s"] * 0.05                           # small scales: an LR of 0.1 could double them
    p, _, _ = train.train_students(head(), t, [False], [None], epochs=20, lr=0.1, freeze_trits=True,
                                   start=train.from_frozen(head(), [m], 4))
    m2 = train.frozen(head(), p, 0)
    np.testing.assert_array_equal(m2["trits"], m["trits"])
    assert not np.allclose(m2["s"], m["s"])


def test_numpy_avx512_is_read_from_its_dispatch_targets_not_the_cpu_flags():
    """numpy 2.3+ names its AVX-512 loops X86_V4, AVX512_ICL, AVX512_SPR; NPY_DISABLE_CPU_FEATURES
    turns those off while the raw flags (AVX512F, ...) stay True. The status reads the targets:
    on an AVX-512 CPU the pinned process is pinned, and one with X86_V4 left on is not."""
    from cfcbase.numerics import numpy_avx512_loops
    dispatch = ["X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"]
    pinned = {"X86_V3": True, "X86_V4": False, "AVX512_ICL": False, "AVX512_SPR": False, "AVX512F": True,
              "AVX512BW": True, "AVX512_SKX": False}
    assert not numpy_avx512_loops(pinned, dispatch)
    assert numpy_avx512_loops(dict(pinned, X86_V4=True), dispatch)
    assert numpy_avx512_loops(dict(pinned, AVX512_ICL=True), dispatch)
    # numpy 1.x / 2.0-2.2 name them AVX512F, AVX512_SKX, ...
    assert numpy_avx512_loops({"AVX2": True, "AVX512F": True, "AVX512_SKX": True}, ["AVX2", "AVX512F", "AVX512_SKX"])
    assert not numpy_avx512_loops({"AVX2": True, "AVX512F": False, "AVX512_SKX": False}, ["AVX2", "AVX512F", "AVX512_SKX"])


CHUNKS_PROBE = """
import sys
import trainer  # first: it pins numpy's dispatch before numpy loads
import numpy as np
from cfcbase import numerics
from cfcbase.tasks import builtin
from trainer.model import train
from trainer.model.heads import tm, train_head
assert numerics.status()["pinned"]
hd = train_head(builtin(sys.argv[1]))
p = train.init_teachers(hd, 8, [0, 1], hd.task.I)
x, y = hd.task.split("train")
xT, eff = tm(x), train.effective(p)
yv = hd.targets(y) if hd.kind == "classifier" else tm(y)[..., 0]
teach = lambda h_, c, q: h_.teacher_outputs(c, q)
assert train.FORWARD_CHUNK % 8 == 0
runs = []
for chunk in (train.FORWARD_CHUNK, 8, 24, 40):
    train.FORWARD_CHUNK = chunk
    o, h = train.chunked(hd, xT, eff, states=True)
    runs.append((o, h, train.chunked(hd, xT, eff, out=teach), hd.val_score(o, yv)))
N = xT.shape[1]
assert N > 24 and (N % 24 or N % 40)    # a partial last pass too
print(all(np.array_equal(a, b) for r in runs[1:] for a, b in zip(runs[0], r)))
"""


@pytest.mark.parametrize("task", ["sine", "waves3"])
def test_forward_passes_in_chunks_give_the_same_bits(task):
    """Validation, evaluation and the distillation targets run the cell forward in passes of at
    most FORWARD_CHUNK windows (so training's memory is bounded per window): on the pinned
    numerics (cfcbase.numerics; a fresh process, since the test process loaded numpy first) and
    with passes of a multiple of 8 windows (the matrix products then tile as in one pass) the
    outputs, the states and the validation score are the bits of one pass over every window."""
    import os
    import subprocess
    import sys

    from cfcbase.numerics import MARK, PIN_VARS
    # the probe runs pinned even where the user overrides the dispatch (an override wins by design)
    env = {k: v for k, v in os.environ.items() if k not in PIN_VARS and k != MARK}
    r = subprocess.run([sys.executable, "-c", CHUNKS_PROBE, task], capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).resolve().parents[1], env=env)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stdout + r.stderr


def test_validation_and_epochs_follow_the_size_of_the_data():
    """Validation at most once per validation split's worth of training windows (the committed
    tasks, n_val <= 320, keep every 10 steps); the default epochs shrink above REF_WINDOWS training
    windows so a run sees as many windows, and epochs given as options are kept."""
    from types import SimpleNamespace

    from trainer.experiments.configs import REF_WINDOWS, TASK_DEFAULTS, epochs_for
    from trainer.experiments.factorial import Settings, fill_defaults
    from trainer.model.train import validation_cadence
    assert [validation_cadence(10, n, 32) for n in (8, 320, 321, 3200)] == [10, 10, 11, 100]
    assert REF_WINDOWS == 500 and epochs_for(600, 500) == 600 and epochs_for(600, 501) == 599
    assert epochs_for(600, 9000) == 33 and epochs_for(3, 10 ** 6) == 1

    def task(n):
        return SimpleNamespace(preset="labelled", split=lambda s: (np.zeros((n, 4, 1)), np.zeros(n)))
    d = TASK_DEFAULTS["labelled"]
    st = Settings(task=task(400))
    fill_defaults(st)
    assert (st.teacher_epochs, st.epochs, st.refit_epochs) == (d["teacher_epochs"], d["epochs"], d["refit_epochs"])
    st = Settings(task=task(9000))
    fill_defaults(st)
    assert (st.teacher_epochs, st.epochs, st.refit_epochs) == (33, 17, 6)
    st = Settings(task=task(9000), epochs=40)
    fill_defaults(st)
    assert (st.teacher_epochs, st.epochs) == (33, 40)


def test_the_full_budget_multiplies_the_students_default_epochs_and_keeps_given_ones():
    from types import SimpleNamespace

    from trainer.experiments.configs import BUDGETS, TASK_DEFAULTS
    from trainer.experiments.factorial import Settings, fill_defaults
    from trainer.experiments.sweep.grid import defaults
    task = SimpleNamespace(preset="sine-mix", split=lambda s: (np.zeros((128, 4, 1)), np.zeros(128)))
    d, f = TASK_DEFAULTS["sine-mix"], BUDGETS["full"]
    assert BUDGETS["quick"] == 1 and f > 1
    st = Settings(task=task, budget="full")
    fill_defaults(st)
    assert (st.teacher_epochs, st.epochs, st.refit_epochs, st.cs_sweeps) == (
        d["teacher_epochs"], d["epochs"] * f, d["refit_epochs"] * f, d["cs_sweeps"])
    st = Settings(task=task, budget="full", epochs=7)
    fill_defaults(st)
    assert (st.teacher_epochs, st.epochs) == (d["teacher_epochs"], 7)
    assert defaults(task, "full")["epochs"] == d["epochs"] * f and defaults(task)["epochs"] == d["epochs"]


def test_the_batch_option_reaches_every_training_and_is_recorded(tmp_path, monkeypatch, capsys):
    """--batch B: the teachers, the students and the refit train in minibatches of B windows;
    factorial.json records it and the command to regenerate names it (the default is not
    recorded, so the committed runs read as before); a batch below 1 is one line."""
    from trainer.cli import main
    from trainer.experiments.configs import BATCH
    from trainer.model import train
    seen = []
    for name in ("train_teachers", "train_students"):
        real = getattr(train, name)

        def spy(*a, _real=real, _name=name, **k):
            seen.append((_name, k.get("batch"), k.get("freeze_trits", False)))
            return _real(*a, **k)
        monkeypatch.setattr(train, name, spy)
    out = tmp_path / "f"
    assert main(["factorial", "--task", "sine", *TINY, "--batch", "8", "--jobs", "1", "--out", str(out)]) == 0
    assert {b for _, b, _ in seen} == {8}
    assert {(n, f) for n, _, f in seen} == {("train_teachers", False), ("train_students", False),
                                           ("train_students", True)}            # the refit trains with trits fixed
    r = json.loads((out / "factorial.json").read_text())
    assert r["settings"]["batch"] == 8 and " --batch 8 " in r["command"] + " "
    seen.clear()
    out2 = tmp_path / "g"
    assert main(["factorial", "--task", "sine", *TINY, "--jobs", "1", "--out", str(out2)]) == 0
    assert {b for _, b, _ in seen} == {BATCH}
    r2 = json.loads((out2 / "factorial.json").read_text())
    assert "batch" not in r2["settings"] and "--batch" not in r2["command"]
    capsys.readouterr()
    assert main(["factorial", "--task", "sine", *TINY, "--batch", "0", "--out", str(tmp_path / "h")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --batch must be positive, got 0" and not (tmp_path / "h").exists()
