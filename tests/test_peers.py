"""The TFLM peer benchmark (trainer/experiments/peers.py): its sizing, clustering, statistics and
report, and its refusals. The training and the TFLM run need tensorflow, a benchmark-only
dependency; what is tested here runs without it."""
import builtins
import json

import numpy as np
import pytest

from trainer.cli import main
from trainer.experiments import peers
from trainer.reports.peers_report import markdown


def test_gru_width_is_the_widest_that_fits():
    # 3H(I+H) + H*O weights; sine-mix (I = O = 1) at the frontier's ternary bytes
    assert peers.gru_weights(13, 1, 1) == 3 * 13 * 14 + 13 == 559
    assert [peers.gru_width(b, 1, 1) for b in (48, 160, 576, 2176)] == [3, 6, 13, 26]
    for b in (48, 160, 576, 2176, 5000):
        for I, O in ((1, 1), (3, 1), (9, 4)):
            H = peers.gru_width(b, I, O)
            assert H == 1 or peers.gru_weights(H, I, O) <= b
            assert peers.gru_weights(H + 1, I, O) > b


def test_kmeans_1d_gives_at_most_four_values_near_the_data():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(c, 0.01, 50) for c in (-1.0, -0.2, 0.3, 2.0)])
    idx = peers.kmeans_1d(v, 4)
    assert set(idx) == {0, 1, 2, 3}
    for k in range(4):           # each group is one of the four clumps
        assert np.ptp(v[idx == k]) < 0.2


def test_welch_p_separates_and_ties():
    a = np.array([1.0, 1.1, 0.9, 1.05, 0.95])
    assert peers.welch_p(a, a + 1.0) < 1e-5
    assert peers.welch_p(a, a[::-1]) > 0.99
    # the textbook value: t = -2.0, equal variances, df 8 -> p 0.0805
    x, y = np.array([0.0, 1, 2, 3, 4]), np.array([2.0, 3, 4, 5, 6])
    assert abs(peers.welch_p(x, y) - 0.0805) < 0.001


def _record(ternary_mse, gru_mse):
    points = []
    for H, b in ((8, 48), (32, 576)):
        for k, ram in (("packed", 9000), ("code", 3600)):
            points.append({"format": "ternary", "kernel": k, "H": H, "weight_bytes": b,
                           "seeds": [{"test_mse_washout": ternary_mse * (1 + 0.01 * s)} for s in range(3)],
                           "targets": {"nrf51": {"flash": 10000 + b, "ram": ram, "per_step": 1000.0}}})
    jobs = [{"H": H, "seed": s, "float_test": gru_mse * (1 + 0.02 * s), "int8_test": gru_mse * (1.1 + 0.02 * s),
             "lut2_test": gru_mse * (1.3 + 0.02 * s), "int8_flatbuffer": 6000, "int8_arena": 6500,
             "lut2_flatbuffer": 7000, "lut2_arena": 7400} for H in (3, 13) for s in range(3)]
    return {"dir": "results/x/frontier", "frontier": "python -m trainer frontier --task x", "label": "x",
            "epochs": 10, "finetune_epochs": 2, "seeds": 3, "I": 1, "O": 1, "readout_words": "a readout",
            "versions": {"tensorflow": "2.21.0", "keras": "3", "tflite-micro": "0", "numpy": "2"},
            "rows": peers.compare_rows(points, jobs, 1, 1)}


def test_report_says_who_is_lower_and_compares_ram():
    out = _record(ternary_mse=1e-3, gru_mse=4e-3)
    r = out["rows"][1]
    assert (r["ternary_H"], r["gru_H"], r["gru_weights"]) == (32, 13, 559)
    assert r["ratio_int8"] == pytest.approx(1e-3 * 1.01 / (4e-3 * 1.12), rel=0.01)
    md = markdown(out)
    assert "| 32 (576) |" in md and "| trixcfc better |" in md and "| TFLM better |" not in md
    assert "code, 10,576 / 3,600" in md                  # the least-RAM kernel of the point
    assert "3,600 vs 6,500: trixcfc less" in md
    md2 = markdown(_record(ternary_mse=4e-3, gru_mse=1e-3))
    assert "| TFLM better |" in md2 and "| trixcfc better |" not in md2


def test_a_classifier_peer_is_compared_in_points_of_accuracy():
    points = [{"format": "ternary", "kernel": "packed", "H": 8, "weight_bytes": 80,
               "seeds": [{"test_acc": a} for a in (0.90, 0.92, 0.91)], "targets": {}}]
    jobs = [{"H": 1, "seed": s, "float_test": 0.80 + 0.01 * s, "int8_test": 0.70 + 0.01 * s,
             "lut2_test": 0.95 + 0.01 * s, "int8_flatbuffer": 6000, "int8_arena": 6500, "lut2_flatbuffer": 7000,
             "lut2_arena": 7400} for s in range(3)]
    assert peers.gru_width(80, 12, 9) == 1                 # 3 * 1 * 13 + 9 = 48; H = 2 takes 102
    [r] = peers.compare_rows(points, jobs, 12, 9, "classifier")
    assert r["ternary_acc"] == pytest.approx(0.91) and r["gru_int8_acc"] == pytest.approx(0.71)
    assert r["diff_int8"] == pytest.approx(20.0) and r["p_int8"] < 0.01
    assert r["diff_lut2"] == pytest.approx(-5.0)
    out = {"dir": "d", "frontier": "f", "label": "x", "epochs": 1, "finetune_epochs": 1, "seeds": 3,
           "head": "classifier", "readout_words": "a readout of the last state", "rows": [r],
           "versions": {"tensorflow": "2.21.0", "keras": "3", "tflite-micro": "0", "numpy": "2"}}
    md = markdown(out)
    assert "| 91.0 % |" in md and "| +20.0 pts |" in md and "| trixcfc better |" in md
    assert "+20.0 points against the TFLM int8 GRU (trixcfc better" in md


def test_the_peer_heads_score_as_trixcfc_does():
    fc, cl = peers.PEER_HEADS["readout"], peers.PEER_HEADS["classifier"]
    y = np.zeros((2, 10, 1), np.float32)
    pred = y.copy()
    pred[:, :5] = 9.0                                       # the washout steps are not scored
    assert fc.val_score(pred, y, None) == 0.0 and fc.test_score(pred + 1.0, y, None) == pytest.approx(1.0)
    logits = np.zeros((3, 4, 2), np.float32)
    last = np.array([3, 1, 0])                              # each window's own last step
    logits[0, 3, 1] = logits[1, 1, 0] = logits[2, 0, 1] = 5.0
    logits[0, 0, 0] = 9.0                                   # not the last step of window 0
    labels = np.array([1, 0, 0])
    assert cl.test_score(logits, labels, last) == pytest.approx(2 / 3)
    ce = cl.val_score(logits, labels, last)
    assert ce == pytest.approx((2 * np.log1p(np.exp(-5.0)) + np.log1p(np.exp(5.0))) / 3)


def test_a_directory_without_a_frontier_is_one_line(tmp_path, capsys):
    assert main(["peers", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "frontier.json" in err and "no frontier" in err
    (tmp_path / "frontier.json").write_text(json.dumps({"points": []}))
    assert main(["peers", str(tmp_path)]) == 2
    assert "not a frontier record" in capsys.readouterr().err


def test_without_tensorflow_the_command_says_what_to_install(tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_tf(name, *a, **k):
        if name.startswith(("tensorflow", "tflite_micro")):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tf)
    (tmp_path / "frontier.json").write_text((
        __import__("pathlib").Path(__file__).resolve().parents[1] / "results/sine-mix/frontier/frontier.json"
    ).read_text())
    assert main(["peers", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install tensorflow==2.21.0 tflite-micro" in err
    assert not (tmp_path / "peers.json").exists() and not (tmp_path / "peers-jobs").exists()
