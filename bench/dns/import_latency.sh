#!/usr/bin/env bash
# DNS latency while a bulk import runs (a benchmark, not a test).
#   bench/dns/import_latency.sh [--size 1M] [--rate 20000] [--seconds 40]
# Serves an empty bl.bench zone with rblzoned (one UDP worker), sends dnsperf
# queries at a fixed rate (not flat out, so latency is the server's, not
# dnsperf's queue), and after 3 s loads SIZE listings into the same data
# directory with `rblzone listing load` from another process. Prints the
# latency percentiles and maximum of every answered query, for a baseline run
# without import and for the run with it, and how long the import took.
# Uses the data of bench/dns/run.sh (run it once first for the size).
set -euo pipefail
cd "$(dirname "$0")/../.."
size=1M rate=20000 seconds=40
while [[ $# -gt 0 ]]; do
  case "$1" in
    --size) size="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    *) echo "usage: $0 [--size 1M] [--rate QPS] [--seconds N]" >&2; exit 2 ;;
  esac
done
data="${BENCH_DATA_ROOT:-/tmp}/rblzone-bench-data-$size"
[[ -f "$data/listings.txt" ]] || { echo "no data in $data: run bench/dns/run.sh --size $size first" >&2; exit 2; }
bin="${BUILD_DIR:-build}/cmd"
work=$(mktemp -d /tmp/rblzone-import-latency-XXXXXX)
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port=$(/usr/bin/python3 bench/dns/probe.py freeport)
"$bin/rblzoned" --data-dir "$work/data" --zones "$data/zones" --dns-listen "127.0.0.1:$port" \
  --http-listen "" --dns-threads 1 >"$work/rblzoned.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  dig @127.0.0.1 -p "$port" +short +time=1 +tries=1 bl.bench SOA >/dev/null 2>&1 && break
  sleep 0.1
done

# Latency of every answer, from dnsperf -v ("> RCODE name type latency").
percentiles() {
  grep '^>' "$1" | awk '{print $NF}' | sort -g | awk '
    { v[NR] = $1 }
    END { if (NR == 0) { print "no answers"; exit }
          printf "answers %d  p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms\n",
                 NR, v[int(NR*0.5)]*1000, v[int(NR*0.99)]*1000, v[int(NR*0.999)]*1000, v[NR]*1000 }'
}
run_dnsperf() {
  dnsperf -s 127.0.0.1 -p "$port" -d "$data/queries.txt" -l "$1" -Q "$rate" -c 4 -v >"$2" 2>&1
}

echo "baseline, no import: $rate queries/s for 10 s"
run_dnsperf 10 "$work/base.txt"
percentiles "$work/base.txt"
grep -E "Queries lost" "$work/base.txt" || true

echo "with a $size-listing import starting after 3 s: $rate queries/s for $seconds s"
run_dnsperf "$seconds" "$work/import.txt" &
dp=$!
sleep 3
start=$(date +%s.%N)
"$bin/rblzone" --data-dir "$work/data" --zones "$data/zones" listing load bl.bench "$data/listings.txt"
end=$(date +%s.%N)
wait "$dp"
awk -v a="$start" -v b="$end" 'BEGIN { printf "import took %.1f s\n", b - a }'
percentiles "$work/import.txt"
grep -E "Queries lost" "$work/import.txt" || true
