#!/usr/bin/env bash
# Import throughput: trap-log lines per second and Maildir messages per
# second through `rblzone import` (parse, policy, LMDB commit per batch),
# each on a fresh data directory, RUNS times; prints every run and the
# medians, by wall clock and by CPU time (user + system: what the run would
# take alone on one core, when the machine is shared).
# Usage: bench/import/run.sh [BUILD_DIR] [RBLZONE_BINARY]
#   BUILD_DIR defaults to build; RBLZONE_BINARY to BUILD_DIR/cmd/rblzone (give
#   an older binary to compare). BATCH=N passes --batch N.
# A benchmark, not a test: the machine is shared, so read medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
bin=${2:-$build/cmd/rblzone}
runs=${RUNS:-3}
lines=${LINES:-1000000}
messages=${MESSAGES:-20000}
batch=()
if [ -n "${BATCH:-}" ]; then batch=(--batch "$BATCH"); fi
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
  : > "$work/rates"
  for i in $(seq "$runs"); do
    rm -rf "$work/data"
    local t0 t1 cpu
    t0=$(date +%s.%N)
    /usr/bin/time -f '%U %S' -o "$work/cpu" \
      "$bin" --data-dir "$work/data" --zones "$work/zones" import --no-progress "${batch[@]}" "$@" >/dev/null
    t1=$(date +%s.%N)
    cpu=$(awk '{print $1 + $2}' "$work/cpu")
    local wall_rate cpu_rate
    wall_rate=$(echo "$count / ($t1 - $t0)" | bc -l)
    cpu_rate=$(echo "$count / $cpu" | bc -l)
    printf '%s run %d: %.0f/s wall, %.0f/s CPU (%.2f s user+sys), load %s\n' "$what" "$i" \
      "$wall_rate" "$cpu_rate" "$cpu" "$(cut -d' ' -f1 /proc/loadavg)" >&2
    echo "$wall_rate $cpu_rate" >> "$work/rates"
  done
  printf '%s median: %.0f per second wall, %.0f per second of CPU\n' "$what" \
    "$(cut -d' ' -f1 "$work/rates" | median)" "$(cut -d' ' -f2 "$work/rates" | median)"
}
run "trap-log lines" "$lines" traplog bl.bench "$work/traps.csv"
run "Maildir messages" "$messages" maildir bl.bench "$work/Maildir" --trusted 10.1.0.0/16
