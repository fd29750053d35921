#!/usr/bin/env bash
# Set up, then the whole pipeline end to end on the sine task:
#   train (factorial) -> export C headers -> verify bit-exact under QEMU on every target.
# The trained model goes to results/sine/best.npz (overwriting the committed one).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The venv first on PATH: its cmake (PyPI) and its python3 (with numpy) for anything the
# stages start, whether or not the caller activated it.
export PATH="$PWD/.venv/bin:$PATH"
PY=.venv/bin/python
$PY -m trainer factorial --task sine --out results/sine
$PY -m codegen export results/sine/best.npz --out build/generated
$PY -m host verify --qemu --target all --model results/sine/best.npz
