#!/usr/bin/env bash
# The classification worked examples (docs/model.md, "Classification"), offline from the aeon
# wheel: BasicMotions (a smart watch's 3-axis accelerometer and gyroscope, 4 activities) and,
# with --univariate, ItalyPowerDemand (a day's 24 hourly electricity demands, winter or summer;
# pooling `last`, which measured better there: docs/training.md, "Classification"). Each:
#   train (the classification factorial) -> export C headers -> verify on every target,
# writing results/<name>/ (factorial.json/md/png, best.npz, verify.json).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
PY=.venv/bin/python
# The data only: the .ts files ship inside the aeon wheel (its dependencies are not needed).
$PY -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('aeon') is None)" \
    || .venv/bin/pip install --no-deps aeon
run() {   # NAME OUT [factorial options...]
    local name=$1 out=$2
    shift 2
    $PY -m trainer factorial --labelled "pkg:aeon/datasets/data/$name/${name}_TRAIN.ts" "$@" --out "$out"
    $PY -m codegen export "$out/best.npz" --out "build/$name"
    $PY -m host verify --qemu --target all --model "$out/best.npz" --json "$out/verify.json"
}
run BasicMotions results/basicmotions
if [ "${1:-}" = "--univariate" ]; then
    run ItalyPowerDemand results/italypowerdemand --pooling last
fi
