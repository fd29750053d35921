#!/usr/bin/env bash
# One-time (idempotent) setup for a fresh Debian 12 machine:
#   - the cross toolchains and QEMU from Debian (only when missing),
#   - a virtual environment in .venv with trixcfc and its test extra.
# Re-running it is cheap: every step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

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
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${need_apt[*]}" >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import trainer, codegen, host, numpy, jinja2, serial, pytest, hypothesis" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.trixcfc-installed ]; then
  echo "setup: installing trixcfc into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test,plot]'
  touch .venv/.trixcfc-installed
fi
