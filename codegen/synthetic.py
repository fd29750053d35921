"""Synthetic inputs for a model whose data file cannot be read: the lossy gate and the golden
vectors still run, on smooth random sequences in the range the scaling gives the training
windows (docs/fixed_point.md, "Lossy models")."""
from __future__ import annotations

import numpy as np

from cfcbase.series import RANGE_FILL

# Synthetic inputs for a model whose data file is absent (synthetic_inputs).
SYNTHETIC_SEED = 20_261
SYNTHETIC_SEQUENCES = 64
SYNTHETIC_STEPS_MAX = 1000


def synthetic_inputs(I: int, T: int, n: int = SYNTHETIC_SEQUENCES, seed: int = SYNTHETIC_SEED) -> np.ndarray:
    """float64 [n, T, I] smooth random sequences filling the scaled training range
    [-RANGE_FILL, RANGE_FILL] (cfcbase.series: the training block fills it by construction): per
    sequence and channel three sines of random period (8 .. 80 steps), amplitude and phase plus a
    random walk, clipped to the range. Deterministic (fixed seed)."""
    rng = np.random.default_rng(seed)
    t = np.arange(T, dtype=np.float64)[None, :, None]
    x = np.zeros((n, T, I))
    for _ in range(3):
        w = rng.uniform(2 * np.pi / 80, 2 * np.pi / 8, (n, 1, I))
        x += rng.uniform(0.1, 0.5, (n, 1, I)) * np.sin(w * t + rng.uniform(0, 2 * np.pi, (n, 1, I)))
    x += np.cumsum(rng.normal(0.0, 0.05, (n, T, I)), axis=1)
    return np.clip(x * RANGE_FILL, -RANGE_FILL, RANGE_FILL)


def synthetic_steps(art) -> int:
    """Steps per synthetic sequence: the model's windows, at most SYNTHETIC_STEPS_MAX."""
    return max(2, min(int(art.task.steps), SYNTHETIC_STEPS_MAX))
