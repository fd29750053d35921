"""The factorial's configurations: widths, the 2x2x2 table and the config names."""
from __future__ import annotations

WIDTHS = (16, 32)
# config number -> (shaped STE, trajectory distillation, width): the seeds' table order
CONFIGS = {i + 1: (bool(i & 1), bool((i >> 1) & 1), WIDTHS[(i >> 2) & 1]) for i in range(8)}


def config_name(shaped, distill, H):
    return f"{'shaped' if shaped else 'ste'}+{distill or 'none'}+H{H}"
