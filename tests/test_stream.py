"""A classifier on a continuous signal (docs/fixed_point.md, section 12, "A stream"): one RESET, the
cell state carried on, a decision (DECIDE, trix_decide) every k steps over the steps since the
previous one. The golden model's decisions, the device's against them on random models (the
9-target check of a trained model is in test_classify), and what verify --stream refuses."""
from __future__ import annotations

import numpy as np
import pytest

from cfcbase.heads import MAX_WINDOW


def _decisions_by_hand(m, x, every):
    """The decisions of section 12 computed step by step: the cell run once from h = 0; per
    decision the last state (last) or the sum of the states since the previous decision, rounded
    half up after division by k (mean), then the head's logits."""
    from codegen.golden import cell_step_q14
    h = np.zeros((1, m.H), np.int16)
    out = []
    s = np.zeros(m.H, np.int64)
    for t in range(len(x) // every * every):
        h, _ = cell_step_q14(m, h, x[t:t + 1])
        s += h[0]
        if (t + 1) % every == 0:
            if m.head.pooling.name == "last":
                v = h[0].astype(np.int64)
            else:
                q, r = np.divmod(s, every)                 # floor division: r in [0, every)
                v = q + (2 * r >= every)
            out.append(m.head.logits(v[None])[0])
            s[:] = 0
    return np.array(out)


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_a_stream_carries_the_state_across_decisions(pooling):
    """golden_stream is the step-by-step computation above; its first decision is the window of
    the first k steps from h = 0, and later ones differ from windows run from h = 0 (so a device
    that resets between decisions cannot pass)."""
    from codegen.golden import IntModel, golden_outputs, golden_stream
    from codegen.testing import random_classifier, random_inputs_q14
    m = IntModel.from_artifact(random_classifier(2, 8, 4, seed=11, pooling=pooling, w_c_sd=3.0))
    x = random_inputs_q14(2, 1, 157, seed=6)[0]
    lg, cls = golden_stream(m, x, 13)
    assert lg.shape == (157 // 13, 4) and np.array_equal(cls, np.argmax(lg, 1))
    assert np.array_equal(lg, _decisions_by_hand(m, x, 13))
    from_reset, _ = golden_outputs(m, x[: 12 * 13].reshape(12, 13, 2))
    assert np.array_equal(lg[0], from_reset[0])
    assert not np.array_equal(lg[1:], from_reset[1:])


def test_golden_stream_refuses_what_the_device_cannot_do():
    from codegen.errors import CodegenError
    from codegen.golden import IntModel, golden_stream
    from codegen.testing import random_artifact, random_classifier
    m = IntModel.from_artifact(random_classifier(1, 4, 2, seed=1))
    x = np.zeros((10, 1), np.int16)
    for every in (0, MAX_WINDOW + 1):
        with pytest.raises(CodegenError, match=rf"a decision every {every} steps: expected 1 .. {MAX_WINDOW}"):
            golden_stream(m, x, every)
    assert golden_stream(m, x, 11)[0].shape == (0, 2)        # fewer steps than k: no decision
    with pytest.raises(CodegenError, match="need a classifier"):
        golden_stream(IntModel.from_artifact(random_artifact(1, 4, seed=1)), x, 5)


@pytest.mark.qemu
@pytest.mark.parametrize("target, pooling, every", [("native", "mean", 100), ("native", "last", 7),
                                                    ("nrf51", "mean", 7), ("nrf51", "last", 20)])
def test_random_classifiers_decide_a_stream_as_the_golden_model_on_the_device(target, pooling, every, tmp_path):
    """Random models, 700 steps, a decision every 7 steps (within one STEP frame) or 100 (across
    frames of 64), 20: every decision's logits, class and step count are the golden model's."""
    from codegen.golden import golden_stream
    from codegen.testing import random_classifier, random_inputs_q14
    from host.build import build
    from host.client import Client
    from host.model import model_of
    from host.qemu import launch
    model = model_of(random_classifier(3, 16, 5, seed=21, pooling=pooling, w_c_sd=3.0))
    x = random_inputs_q14(3, 1, 700, seed=8)[0]
    lg, cls = golden_stream(model.int_model, x, every)
    fw = build(target, model, tmp_path / "build")
    with launch(target, fw.elf) as link:
        c = Client(link, timeout=60, window=16)
        c.sync()
        c.hello()
        got, got_cls, steps = c.run_stream(x, every, 5)
    bad = np.argwhere(got != lg)
    assert len(bad) == 0, f"decision {bad[0][0]}, logit {bad[0][1]}: expected {lg[tuple(bad[0])]}, got {got[tuple(bad[0])]}"
    assert np.array_equal(got_cls, cls) and steps.tolist() == [every] * (700 // every)


@pytest.mark.qemu
def test_verify_stream_refuses_a_regression_model_and_a_bad_k_in_one_line(host_cli):
    """Before anything is built: the error is the last line, and one line."""
    r = host_cli("verify", "--qemu", "--target", "native", "--stream", "10")
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and "firmware" not in r.stderr, r.stderr
    assert last.startswith("error: --stream decides classes on a continuous signal; results/sine/best.npz is a "
                           "regression model"), r.stderr
    r = host_cli("verify", "--qemu", "--target", "native", "--model", "results/basicmotions/best.npz", "--stream", "0")
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and "firmware" not in r.stderr, r.stderr
    assert last.startswith("error: --stream 0: expected 1 .. 4000 steps between decisions (the stream has 4000 "
                           "steps"), r.stderr
