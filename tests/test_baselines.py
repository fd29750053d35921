"""The classic classification baselines (cfcbase.baselines) and `python -m trainer baselines`:
the DTW against the textbook recursion, windows of their own lengths, the command's record."""
import json

import numpy as np
import pytest

from cfcbase.baselines import dtw_distances, one_nn_dtw
from trainer.cli import main


def _dtw(a, b):
    """The textbook O(La Lb) recursion, one pair."""
    D = np.full((len(a) + 1, len(b) + 1), np.inf)
    D[0, 0] = 0.0
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            D[i, j] = ((a[i - 1] - b[j - 1]) ** 2).sum() + min(D[i - 1, j], D[i, j - 1], D[i - 1, j - 1])
    return D[-1, -1]


@pytest.mark.parametrize("block", [1 << 21, 50])        # one block, and a block per few windows
def test_dtw_is_the_textbook_recursion_on_each_windows_own_steps(monkeypatch, block):
    import cfcbase.baselines as bl
    monkeypatch.setattr(bl, "DTW_BLOCK", block)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 11, 3)), rng.normal(size=(5, 9, 3))
    la, lb = np.array([11, 1, 5, 8, 2, 11, 3]), np.array([9, 1, 4, 6, 9])
    d = dtw_distances(a, la, b, lb)
    want = np.array([[_dtw(a[i, :la[i]], b[j, :lb[j]]) for j in range(5)] for i in range(7)])
    bad = np.argwhere(~np.isclose(d, want, rtol=1e-12, atol=1e-12))
    assert not len(bad), [(tuple(ij), d[tuple(ij)], want[tuple(ij)]) for ij in bad[:3]]


def test_dtw_finds_a_shifted_copy_that_euclid_does_not():
    t = np.linspace(0, 1, 60)
    bump = lambda c: np.exp(-((t - c) / 0.05) ** 2)[:, None]  # noqa: E731
    train = np.stack([bump(0.3), np.zeros((60, 1)) + 0.3])   # class 0: a bump, class 1: a level
    x = bump(0.6)[None]                                       # the bump, later
    n = np.array([60])
    assert one_nn_dtw(train, np.array([0, 1]), np.array([60, 60]), x, n)[0] == 0
    assert ((x[0] - train[1]) ** 2).sum() < ((x[0] - train[0]) ** 2).sum()   # Euclid picks the level


def test_the_baselines_command_writes_its_record(tmp_path, capsys):
    assert main(["baselines", "--task", "waves3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rec = json.loads((tmp_path / "baselines.json").read_text())
    assert set(rec["baselines"]) == {"nearest centroid", "1-NN", "1-NN DTW", "1-NN DTW, train + val"}
    assert all(0.0 <= v["test_acc"] <= 1.0 for v in rec["baselines"].values())
    assert f"waves3: 1-NN DTW {100 * rec['baselines']['1-NN DTW']['test_acc']:.1f} %" in out
    assert rec["command"] == f"python -m trainer baselines --task waves3 --out {tmp_path}"


def test_a_forecasting_task_has_no_class_baselines(tmp_path, capsys):
    assert main(["baselines", "--task", "sine", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "forecasting task" in err
    assert not (tmp_path / "baselines.json").exists()
