#!/usr/bin/env bash
# The classification worked example (docs/model.md, "Classification"): BasicMotions (a smart
# watch's 3-axis accelerometer and gyroscope, 4 activities) from the aeon wheel, offline:
#   train (the classification factorial) -> export C headers -> verify on every target,
# writing results/basicmotions/ (factorial.json/md/png, best.npz, verify.json).
# --univariate also runs the univariate UCR example, ItalyPowerDemand, into results/italypowerdemand/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
PY=.venv/bin/python
# The data only: the .ts files ship inside the aeon wheel (its dependencies are not needed).
$PY -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('aeon') is None)" \
    || .venv/bin/pip install --no-deps aeon
examples=(BasicMotions)
[ "${1:-}" = "--univariate" ] && examples+=(ItalyPowerDemand)
for name in "${examples[@]}"; do
    out=results/$(echo "$name" | tr '[:upper:]' '[:lower:]')
    $PY -m trainer factorial --labelled "pkg:aeon/datasets/data/$name/${name}_TRAIN.ts" --out "$out"
    $PY -m codegen export "$out/best.npz" --out "build/$name"
    $PY -m host verify --qemu --target all --model "$out/best.npz" --json "$out/verify.json"
done
