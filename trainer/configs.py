"""The factorial's configurations: widths, the 2x2x2 table and the config names."""
from __future__ import annotations

WIDTHS = (16, 32)
# The shaped STE's window sharpness beta over the optimizer steps, (start, end), linear in
# between: a constant 20. The sweeps (docs/training.md) found the seeds' annealing 1 -> 20 not
# reliably better than the vanilla STE, and a constant beta ahead of annealing on both tasks.
SHAPED_BETA = (20.0, 20.0)
# config number -> (shaped STE, trajectory distillation, width): the seeds' table order
CONFIGS = {i + 1: (bool(i & 1), bool((i >> 1) & 1), WIDTHS[(i >> 2) & 1]) for i in range(8)}


def config_name(shaped, distill, H):
    return f"{'shaped' if shaped else 'ste'}+{distill or 'none'}+H{H}"
