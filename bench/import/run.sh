#!/usr/bin/env bash
# Import throughput: trap-log lines per second and Maildir messages per
# second through `rblzone import` (parse, policy, LMDB commit per 1000
# reports), each on a fresh data directory, RUNS times; prints every run and
# the median. Usage: bench/import/run.sh [BUILD_DIR] (default build).
# A benchmark, not a test: the machine is shared, so read medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
runs=${RUNS:-3}
lines=${LINES:-1000000}
messages=${MESSAGES:-20000}
work=$(mktemp -d /tmp/rblzone-import-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/zones"
cat > "$work/zones/bl.toml" <<'Z'
name = "bl.bench"
kind = "ip"
Z
/usr/bin/python3 bench/import/gen.py traplog "$work/traps.csv" "$lines" 50000
/usr/bin/python3 bench/import/gen.py maildir "$work/Maildir" "$messages" 5000

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() {  # what count args...
  local what=$1 count=$2; shift 2
  for i in $(seq "$runs"); do
    rm -rf "$work/data"
    local t0 t1
    t0=$(date +%s.%N)
    "$build/cmd/rblzone" --data-dir "$work/data" --zones "$work/zones" import --no-progress "$@" >/dev/null
    t1=$(date +%s.%N)
    echo "$what run $i: $(echo "$count / ($t1 - $t0)" | bc -l | xargs printf '%.0f')/s" >&2
    echo "$count / ($t1 - $t0)" | bc -l
  done | median | xargs printf "$what median: %.0f per second\n"
}
run "trap-log lines" "$lines" traplog bl.bench "$work/traps.csv"
run "Maildir messages" "$messages" maildir bl.bench "$work/Maildir" --trusted 10.1.0.0/16
