"""The sweep's log lines on stderr: timestamped, and jobs done / total with the ETA."""
from __future__ import annotations

import sys
import time


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] sweep: {msg}", file=sys.stderr, flush=True)


class Progress:
    def __init__(self, total):
        self.total, self.done, self.t0 = total, 0, time.perf_counter()

    def tick(self, what):
        self.done += 1
        el = time.perf_counter() - self.t0
        eta = el / self.done * (self.total - self.done)
        log(f"{self.done}/{self.total} jobs done ({what}); elapsed {el:.0f} s, ETA {eta:.0f} s")
