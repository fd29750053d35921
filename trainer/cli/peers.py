"""`python -m trainer peers`: its options and its run (the peer itself: trainer/experiments/peers.py)."""
from __future__ import annotations

import os
import sys

from ..errors import TrainerError
from ..reports.peers_report import in_words


def peers_options(f):
    f.add_argument("frontier", metavar="DIR",
                   help="a frontier's directory (its frontier.json: the task, seeds, epochs and ternary sizes), "
                        "e.g. results/sine-mix/frontier; peers.json and peers.md are written there")
    f.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="seeds 0..N-1 of every GRU width (default: the frontier's)")
    f.add_argument("--epochs", type=int, default=None, metavar="N",
                   help="GRU training epochs (default: the frontier's student epochs)")
    f.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="worker processes (default: os.cpu_count()); results do not depend on it")


def run_peers(a) -> int:
    from ..experiments import peers  # noqa: PLC0415  (imports nothing heavy; tensorflow only when run)
    for k in ("seeds", "epochs", "workers"):
        v = getattr(a, k)
        if v is not None and v < 1:
            raise TrainerError(f"--{k} must be positive")
    out = peers.run(a.frontier, a.seeds, a.epochs, a.workers, progress=lambda m: print(m, file=sys.stderr))
    print(f"{out['label']}: " + in_words(out))
    print(f"report in {a.frontier}/peers.md")
    return 0
