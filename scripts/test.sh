#!/usr/bin/env bash
# Set up (see scripts/setup.sh) and run every test: host-only and QEMU.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not qemu".
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh || exit 1
.venv/bin/python -m pytest -ra "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
