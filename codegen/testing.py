"""Random artifacts in realistic ranges, for tests and for the kernel test vectors."""
from __future__ import annotations

import numpy as np

from cfcbase.artifact import Artifact, Teacher
from cfcbase.formats import FORMATS, TERNARY
from cfcbase.heads import Classifier, Readout
from cfcbase.series_task import SeriesTask, spec_of
from cfcbase.tasks import builtin

from .golden import quantize_input


def random_artifact(I: int, H: int, seed: int, zero_fraction: float = 0.4,
                    scale_range=(0.05, 0.8), bias_sd: float = 0.5,
                    tau_range=(0.05, 3.0), w_o_sd: float = 0.5, dt: float = 0.1,
                    task: str = "sine", formats=("ternary", "ternary")) -> Artifact:
    """A valid artifact with random trits, per-row scales, biases, tau, readout (version 1); with
    "int8" in ``formats`` (names or cfcbase.formats) that matrix gets random int8 weights over the
    whole range [-127, 127] (rows reaching +-127) and scales 1/64 of scale_range (weights of about
    the same size; version 4)."""
    rng = np.random.default_rng(seed)
    C = I + H

    def trits():
        nz = rng.random((H, C)) >= zero_fraction
        sign = np.where(rng.random((H, C)) < 0.5, -1, 1)
        return (nz * sign).astype(np.int8)

    def int8s():
        w = np.round(rng.normal(0, 50, (H, C))).clip(-127, 127)
        w[rng.random((H, C)) < zero_fraction / 4] = 0
        w[np.arange(H), rng.integers(0, C, H)] = np.where(rng.random(H) < 0.5, -127, 127)   # full scale
        return w.astype(np.int8)

    def scales():
        lo, hi = np.log(scale_range[0]), np.log(scale_range[1])
        return np.exp(rng.uniform(lo, hi, H))

    fmts = tuple(FORMATS[f] if isinstance(f, str) else f for f in formats)
    tf, tg = trits(), trits()
    sf, sg = scales(), scales()
    # an int8 matrix: values over the whole int8 range, scales 1/64 as large (weights of the same size)
    if fmts[0] is not TERNARY:
        tf, sf = int8s(), sf / 64
    if fmts[1] is not TERNARY:
        tg, sg = int8s(), sg / 64
    b_f, b_g = rng.normal(0, bias_sd, H), rng.normal(0, bias_sd, H)
    tau = rng.uniform(tau_range[0], tau_range[1], H)
    head = Readout(rng.normal(0, w_o_sd, H), float(rng.normal(0, 0.1)))
    teacher = Teacher(tf * sf[:, None], tg * sg[:, None], np.zeros(H), np.zeros(H), np.ones(H), Readout.zeros(H))
    return Artifact(
        I=I, H=H, dt=dt, weights_f=tf, weights_g=tg, scale_f=sf, scale_g=sg, b_f=b_f, b_g=b_g, tau=tau,
        head=head, task=builtin(task), teacher=teacher, formats=fmts,
        config=f"random-I{I}-H{H}-seed{seed}" + ("" if fmts == (TERNARY, TERNARY) else f"-{fmts[0]}-{fmts[1]}"),
        metrics={"seed": seed, "val_mse_washout": 0.0, "test_mse": 0.0, "test_mse_washout": 0.0,
                 "teacher_test_mse_washout": 0.0},
        path=f"<random I={I} H={H} seed={seed}>")


def random_inputs_q14(I: int, N: int, T: int, seed: int) -> np.ndarray:
    """Sine-like inputs with noise and occasional full-scale values, int16 Q14 [N, T, I]."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)[None, :, None]
    w = rng.uniform(2 * np.pi / 40, 2 * np.pi / 8, (N, 1, I))
    phi = rng.uniform(0, 2 * np.pi, (N, 1, I))
    amp = rng.uniform(0.3, 1.9, (N, 1, I))
    x = amp * np.sin(w * t + phi) + rng.normal(0, 0.05, (N, T, I))
    q = quantize_input(x)
    spikes = rng.random(q.shape) < 0.02     # exercise saturation of the input range
    q[spikes] = np.where(rng.random(int(spikes.sum())) < 0.5, -32768, 32767)
    return q


def random_classifier(I: int, H: int, K: int, seed: int, pooling: str = "mean", w_c_sd: float = 2.0,
                      task: str = "waves3", **kw) -> Artifact:
    """A valid classifier (cfcbase.artifact, version 3): random_artifact's cell with a random head
    of K classes instead of the regression readout."""
    art = random_artifact(I, H, seed, **kw)
    rng = np.random.default_rng([seed, K, 3])
    art.head = Classifier([f"class{k}" for k in range(K)], pooling, rng.normal(0, w_c_sd, (K, H)),
                          rng.normal(0, 0.5, K))
    art.teacher.head = art.head.zeros_like()
    art.task = builtin(task)
    art.config = f"random-I{I}-H{H}-K{K}-{pooling}-seed{seed}"
    art.path = f"<random classifier I={I} H={H} K={K} {pooling} seed={seed}>"
    return art


def series_model(art, record=None, scaling=None) -> Artifact:
    """``art`` as a model of a user's series (artifact version 2): its task the series ``record``
    (data_json: default a 20-step window of columns c0.. of x.csv) with ``scaling`` (default: none)."""
    record = record or {"path": "x.csv", "inputs": [f"c{i}" for i in range(art.I)], "target": "c0", "horizon": 1,
                        "seq_len": 20, "fractions": [0.7, 0.15, 0.15]}
    scaling = scaling or {"input_offset": np.zeros(art.I), "input_scale": np.ones(art.I), "target_offset": 0.0,
                          "target_scale": 1.0}
    art.task = SeriesTask(spec_of(record), record=record, scaling=scaling, artifact_path=art.path)
    return art
