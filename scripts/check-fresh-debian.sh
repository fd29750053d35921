#!/usr/bin/env bash
# The README's two commands on a truly fresh Debian 12, as a new user would run them.
#
# Builds a minbase Debian 12 (bookworm) root with debootstrap, adds only `python3 git
# ca-certificates` (what a stock cloud image has), gives pip the same package index as this
# machine (its pip configuration and PIP_* settings, with any local directories they name
# bind-mounted read-only), clones this repository into the root and runs, in a clean
# environment inside it:
#     ./scripts/test.sh        then        ./scripts/pipeline.sh
# printing each one's exit code and wall time. Mounts and processes inside the root are
# cleaned up on every exit path (success, failure, Ctrl-C); the root is deleted unless --keep.
#
# Opt-in: it takes minutes (the Debian packages, the test suite, a whole training run), needs
# root (debootstrap, chroot, mount) and is not part of scripts/test.sh.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/check-fresh-debian.sh [options]
  --rev REV          commit to clone and test (default: HEAD of this checkout)
  --only WHICH       run only `test` (scripts/test.sh) or `pipeline` (scripts/pipeline.sh)
  --mirror URL       Debian mirror for debootstrap (default: the first one apt uses here)
  --workdir DIR      where to build the root (default: a new directory under /var/tmp)
  --keep             keep the root afterwards (its path is printed)
  -h, --help         this text
EOF
}

REPO=$(cd "$(dirname "$0")/.." && pwd)
REV=HEAD
ONLY=""
MIRROR=""
WORK=""
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rev) REV="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --mirror) MIRROR="$2"; shift 2 ;;
    --workdir) WORK="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "check-fresh-debian: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$ONLY" in ""|test|pipeline) ;; *) echo "check-fresh-debian: --only takes test or pipeline, not '$ONLY'" >&2; exit 2 ;; esac
say() { echo "check-fresh-debian: $*" >&2; }

[ "$(id -u)" -eq 0 ] || { say "needs root (debootstrap, chroot and mount); run it with sudo"; exit 1; }
COMMIT=$(git -C "$REPO" rev-parse --verify "$REV^{commit}") || { say "no commit '$REV' in $REPO"; exit 2; }
if ! command -v debootstrap >/dev/null; then
  say "installing debootstrap"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
fi
if [ -z "$MIRROR" ]; then
  # the mirror apt uses here: deb822 sources first, then the one-line format
  MIRROR=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2; exit}')
  [ -n "$MIRROR" ] || MIRROR=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2; exit}')
  [ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
fi

if [ -z "$WORK" ]; then WORK=$(mktemp -d /var/tmp/trix-fresh-debian.XXXXXX); else mkdir -p "$WORK"; fi
ROOT="$WORK/root"
MOUNTED=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # every process whose root is the chroot (QEMU, firmware, pytest workers)
  local p
  for p in /proc/[0-9]*; do
    if [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ]; then kill -KILL "${p#/proc/}" 2>/dev/null || true; fi
  done
  local i
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
    umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" 2>/dev/null || say "could not unmount ${MOUNTED[i]}"
  done
  if [ "$KEEP" -eq 1 ]; then say "root kept at $ROOT"
  elif [ -d "$WORK" ]; then
    # only delete when nothing is mounted below any more
    if ! grep -qs " $ROOT" /proc/mounts; then rm -rf "$WORK"; else say "mounts left below $ROOT; not deleting it"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bind() {  # bind SRC DST [ro]
  mkdir -p "$2"
  mount --bind "$1" "$2"
  MOUNTED+=("$2")
  if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}

T0=$(date +%s)
say "debootstrap --variant=minbase bookworm $ROOT $MIRROR"
debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 \
  || { tail -20 "$WORK/debootstrap.log" >&2; say "debootstrap failed (log above)"; exit 1; }

mkdir -p "$ROOT/proc" "$ROOT/sys"
mount -t proc proc "$ROOT/proc"; MOUNTED+=("$ROOT/proc")
mount -t sysfs sysfs "$ROOT/sys"; MOUNTED+=("$ROOT/sys")
bind /dev "$ROOT/dev"
bind /dev/pts "$ROOT/dev/pts"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
cp /etc/hosts "$ROOT/etc/hosts" 2>/dev/null || true
# How this machine reaches Debian's registry (proxy, validity checks of a snapshot mirror)
for f in /etc/apt/apt.conf.d/*; do
  if grep -qsE 'Acquire::|Proxy' "$f"; then cp "$f" "$ROOT/etc/apt/apt.conf.d/"; fi
done

# How this machine reaches PyPI: pip's configuration files and PIP_* variables, and the
# local directories they name (find-links, file:// indexes, certificates), read-only.
pip_env=()
pip_paths=()
for f in /etc/pip.conf "${XDG_CONFIG_HOME:-$HOME/.config}/pip/pip.conf" "$HOME/.pip/pip.conf" ${PIP_CONFIG_FILE:-}; do
  [ -f "$f" ] || continue
  case "$f" in
    /etc/*) dst="$ROOT$f" ;;
    *) dst="$ROOT/root/.config/pip/pip.conf" ;;
  esac
  mkdir -p "$(dirname "$dst")"
  if [ -f "$dst" ] && [ "$dst" = "$ROOT/root/.config/pip/pip.conf" ]; then cat "$f" >> "$dst"; else cp "$f" "$dst"; fi
  pip_paths+=($(grep -oE '(file://)?/[^ ,"]+' "$f" | sed 's|^file://||'))
done
while IFS='=' read -r name value; do
  [ "$name" = PIP_CONFIG_FILE ] && continue
  pip_env+=("$name=$value")
  pip_paths+=($(printf '%s\n' "$value" | grep -oE '(file://)?/[^ ,"]+' | sed 's|^file://||' || true))
done < <(env | grep -E '^PIP_[A-Z_]+=' || true)
# pip's CA bundle: the root's own ca-certificates lacks any CA this machine adds (a proxy's),
# so the file this machine's pip uses is copied in and named by PIP_CERT.
cert="${PIP_CERT:-}"
if [ -z "$cert" ]; then
  for f in /etc/pip.conf "${XDG_CONFIG_HOME:-$HOME/.config}/pip/pip.conf" "$HOME/.pip/pip.conf" ${PIP_CONFIG_FILE:-}; do
    c=$(sed -nE 's/^[[:space:]]*cert[[:space:]]*=[[:space:]]*//p' "$f" 2>/dev/null | tail -1)
    [ -n "$c" ] && cert="$c"
  done
fi
if [ -n "$cert" ] && [ -f "$cert" ]; then
  mkdir -p "$ROOT/etc/trix-fresh-debian"
  cp "$cert" "$ROOT/etc/trix-fresh-debian/pip-cert.pem"
  mapfile -t pip_env < <(printf '%s\n' "${pip_env[@]}" | grep -v '^PIP_CERT=' || true)
  pip_env+=("PIP_CERT=/etc/trix-fresh-debian/pip-cert.pem")
  say "pip: using this machine's CA bundle $cert"
fi
declare -A seen=()
for p in "${pip_paths[@]}"; do
  # the directory a path lives in, for files (certificates) and index subpaths alike
  while [ -n "$p" ] && [ ! -e "$p" ]; do p=$(dirname "$p"); done
  [ -d "$p" ] || continue
  # a PEP 503 index (DIR/simple) links its files as ../../files/...: mount the index's parent
  [ "$(basename "$p")" = simple ] && p=$(dirname "$p")
  case "$p" in /|/etc|/etc/*|/usr|/usr/*|/root|/home) continue ;; esac   # the root has its own
  [ -n "${seen[$p]:-}" ] && continue
  seen[$p]=1
  say "pip: bind-mounting $p read-only"
  bind "$p" "$ROOT$p" ro
done

in_root() {  # a clean environment: what a new user's login shell has, plus pip's settings
  chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${pip_env[@]}" "$@"
}

say "adding python3 git ca-certificates"
in_root apt-get update -q > "$WORK/apt.log" 2>&1 \
  && in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
       python3 git ca-certificates >> "$WORK/apt.log" 2>&1 \
  || { tail -20 "$WORK/apt.log" >&2; say "apt-get in the root failed (log above)"; exit 1; }
say "root ready in $(( $(date +%s) - T0 )) s"

git clone -q "$REPO" "$ROOT/root/trixcfc"
git -C "$ROOT/root/trixcfc" checkout -q "$COMMIT"
say "cloned $COMMIT into the root"

results=()
failed=0
run_step() {  # run_step NAME: ./scripts/NAME.sh in the clone, output to the terminal and a log
  local name=$1 t rc
  say "running ./scripts/$name.sh (log: $WORK/$name.log)"
  t=$(date +%s)
  # in the background and waited for, so that INT/TERM reach the trap (and its clean-up) at once
  set +e
  in_root bash -c "cd /root/trixcfc && ./scripts/$name.sh" > >(tee "$WORK/$name.log") 2>&1 &
  wait $!
  rc=$?
  set -e
  t=$(( $(date +%s) - t ))
  results+=("./scripts/$name.sh: exit $rc in $((t / 60)) min $((t % 60)) s")
  [ "$rc" -eq 0 ] || failed=1
}
[ "$ONLY" = pipeline ] || run_step test
[ "$ONLY" = test ] || run_step pipeline

echo
echo "fresh Debian 12 (minbase + python3 git ca-certificates), commit ${COMMIT:0:12}:"
printf '  %s\n' "${results[@]}"
exit "$failed"
