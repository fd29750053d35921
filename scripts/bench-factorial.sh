#!/usr/bin/env bash
# Benchmark (not a test): `python -m trainer factorial --task sine` with this checkout's code and
# with the code of another revision, alternating, on the same machine in one run.
#   ./scripts/bench-factorial.sh OLD_REV [ROUNDS]     (ROUNDS: pairs of runs, default 1)
# Prints each run's wall time and, at the end, the median of each and their ratio. The runs'
# reports go to a temporary directory (printed); the checkout's results/ is not touched. Run it
# on an otherwise idle machine: the times are wall-clock with --jobs = the cores.
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: $0 OLD_REV [ROUNDS]}
rounds=${2:-1}
PY="$PWD/.venv/bin/python"
[ -x "$PY" ] || { echo "error: no .venv: run ./scripts/setup.sh first" >&2; exit 1; }
tmp=$(mktemp -d /tmp/bench-factorial.XXXXXX)
git worktree add -q --detach "$tmp/old" "$old"
trap 'git worktree remove --force "$tmp/old" >/dev/null 2>&1 || true' EXIT
echo "reports in $tmp; old = $(git -C "$tmp/old" log -1 --format='%h %s' | cut -c1-70)"
run() {   # name, directory
    local s e
    s=$(date +%s.%N)
    (cd "$2" && "$PY" -m trainer factorial --task sine --seeds 5 --out "$tmp/out-$1-$r" >"$tmp/$1-$r.log" 2>&1) \
        || { echo "error: the $1 run failed; its log: $tmp/$1-$r.log" >&2; exit 1; }
    e=$(date +%s.%N)
    echo "$1 round $r: $(echo "$e - $s" | bc) s" | tee -a "$tmp/times"
}
for r in $(seq 1 "$rounds"); do
    run old "$tmp/old"
    run new "$PWD"
done
"$PY" - "$tmp/times" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    name, _, _, secs, _ = line.split()
    t.setdefault(name, []).append(float(secs))
o, n = statistics.median(t["old"]), statistics.median(t["new"])
print(f"median over {len(t['new'])} round(s): old {o:.1f} s, new {n:.1f} s, new/old {n / o:.2f}")
PY
