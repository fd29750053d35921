#!/usr/bin/env bash
# Set up (see scripts/setup.sh) and run every test: host-only and QEMU.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not qemu", or -n 0 for one process.
# The tests run in parallel, one worker per CPU core (pytest-xdist), a test file per worker at
# a time, so that a file's shared fixtures are made once.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh || exit 1
# The venv first on PATH: its cmake (PyPI) and its python3 (with numpy) for anything the
# tests start (CMake runs `python3 -m codegen vectors`), activated or not.
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/python -m pytest -n auto --dist loadfile -ra "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
