"""`python -m trainer examples`: the worked examples of docs/model.md, public series shipped inside
a PyPI wheel (statsmodels: `pip install --no-deps statsmodels`), each trained with the default
options beyond naming the data, inputs and target, then verified bit-exact under QEMU:

    python -m trainer factorial --data pkg:... --inputs ... --target ... --out results/<name>
    python -m host verify --qemu --target native,stm32f405,nrf51 --model results/<name>/best.npz \
        --json results/<name>/verify.json

one after the other (each factorial uses every core); the command then runs `python -m trainer
results`, which renders their table into docs/results.md from the files written
(trainer/reports/results_page.py).
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from ..errors import TrainerError


@dataclass(frozen=True)
class Example:
    data: str
    inputs: str
    target: str
    about: str

    @property
    def package(self) -> str:
        return self.data[len("pkg:"):].split("/", 1)[0]


EXAMPLES = {
    "co2": Example("pkg:statsmodels/datasets/co2/co2.csv", "co2", "co2",
                   "weekly atmospheric CO2 at Mauna Loa, 1958-2001, in ppm: a date column, 59 empty cells, a trend"),
    "sunspots": Example("pkg:statsmodels/datasets/sunspots/sunspots.csv", "SUNACTIVITY", "SUNACTIVITY",
                        "yearly sunspot numbers, 1700-2008: 309 rows, an 11-year cycle"),
    "macrodata": Example("pkg:statsmodels/datasets/macrodata/macrodata.csv", "realgdp,realcons,realinv", "realgdp",
                         "US quarterly macroeconomic data, 1959-2009: 203 rows, 14 columns; real GDP from real GDP, "
                         "consumption and investment, in billions of 2005 dollars"),
}
VERIFY_TARGETS = "native,stm32f405,nrf51"


def factorial_argv(name: str) -> list:
    e = EXAMPLES[name]
    return ["factorial", "--data", e.data, "--inputs", e.inputs, "--target", e.target,
            "--out", os.path.join("results", name)]


def verify_argv(name: str, targets: str = VERIFY_TARGETS) -> list:
    return ["verify", "--qemu", "--target", targets, "--model", os.path.join("results", name, "best.npz"),
            "--json", os.path.join("results", name, "verify.json")]


def _log(msg):
    print(f"examples: {msg}", file=sys.stderr, flush=True)


def run(only=None, verify=True, targets=VERIFY_TARGETS) -> int:
    """Every example of ``only`` (default all), each factorial and verify in a process of its own;
    the first failure's exit status, else 0."""
    names = list(EXAMPLES) if not only else only
    bad = [n for n in names if n not in EXAMPLES]
    if bad:
        raise TrainerError(f"--only: unknown example {bad[0]!r} (known: {', '.join(EXAMPLES)})")
    missing = sorted({EXAMPLES[n].package for n in names if importlib.util.find_spec(EXAMPLES[n].package) is None})
    if missing:
        raise TrainerError(f"the examples' data ship inside {', '.join(missing)}: pip install --no-deps "
                           f"{' '.join(missing)} (or pip install 'trixcfc[examples]')")
    for name in names:
        argv = factorial_argv(name)
        _log(f"{name}: python -m trainer {' '.join(argv)}")
        t0 = time.perf_counter()
        rc = subprocess.run([sys.executable, "-m", "trainer", *argv]).returncode
        if rc:
            return rc
        _log(f"{name}: factorial done in {time.perf_counter() - t0:.0f} s")
        if verify:
            argv = verify_argv(name, targets)
            _log(f"{name}: python -m host {' '.join(argv)}")
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "host", *argv])
            if r.returncode:
                return r.returncode
            _log(f"{name}: verify done in {time.perf_counter() - t0:.0f} s")
    return 0
