"""Random artifacts in realistic ranges, for tests and for the kernel test vectors."""
from __future__ import annotations

import numpy as np

from cfcbase.artifact import Artifact

from .golden import quantize_input


def random_artifact(I: int, H: int, seed: int, zero_fraction: float = 0.4,
                    scale_range=(0.05, 0.8), bias_sd: float = 0.5,
                    tau_range=(0.05, 3.0), w_o_sd: float = 0.5, dt: float = 0.1,
                    task: str = "sine", formats=("ternary", "ternary")) -> Artifact:
    """A valid artifact with random trits, per-row scales, biases, tau, readout (format 1); with
    an "int8" in ``formats`` that head gets random int8 weights over the whole range [-127, 127]
    (rows reaching +-127) and scales 1/64 of scale_range (weights of about the same size; format 3)."""
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

    tf, tg = trits(), trits()
    sf, sg = scales(), scales()
    if formats[0] == "int8":
        tf, sf = int8s(), sf / 64
    if formats[1] == "int8":
        tg, sg = int8s(), sg / 64
    teacher = {"W_f": tf * sf[:, None], "W_g": tg * sg[:, None], "b_f": np.zeros(H), "b_g": np.zeros(H),
               "tau": np.ones(H), "w_o": np.zeros(H), "b_o": 0.0}
    return Artifact(
        I=I, H=H, dt=dt, trits_f=tf, trits_g=tg, scale_f=sf, scale_g=sg,
        b_f=rng.normal(0, bias_sd, H), b_g=rng.normal(0, bias_sd, H),
        tau=rng.uniform(tau_range[0], tau_range[1], H),
        w_o=rng.normal(0, w_o_sd, H), b_o=float(rng.normal(0, 0.1)),
        task=task, config=f"random-I{I}-H{H}-seed{seed}" + ("" if formats == ("ternary", "ternary")
                                                              else f"-{formats[0]}-{formats[1]}"),
        format_f=formats[0], format_g=formats[1],
        metrics={"seed": seed, "val_mse_washout": 0.0, "test_mse": 0.0, "test_mse_washout": 0.0,
                 "teacher_test_mse_washout": 0.0},
        teacher=teacher, path=f"<random I={I} H={H} seed={seed}>")


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
    """A valid format-3 classifier (cfcbase.artifact, version 3): random_artifact's cell with a
    random head of K classes instead of the regression readout."""
    art = random_artifact(I, H, seed, task=task, **kw)
    rng = np.random.default_rng([seed, K, 3])
    art.w_o, art.b_o = np.zeros(H), 0.0
    art.head = {"classes": [f"class{k}" for k in range(K)], "w_c": rng.normal(0, w_c_sd, (K, H)),
                "b_c": rng.normal(0, 0.5, K), "pooling": pooling}
    art.teacher = dict(art.teacher, w_c=np.zeros((K, H)), b_c=np.zeros(K))
    art.config = f"random-I{I}-H{H}-K{K}-{pooling}-seed{seed}"
    art.path = f"<random classifier I={I} H={H} K={K} {pooling} seed={seed}>"
    return art
