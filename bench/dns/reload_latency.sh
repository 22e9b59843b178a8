#!/usr/bin/env bash
# DNS latency while the server reloads its config (a benchmark, not a test).
#   bench/dns/reload_latency.sh [--listings 100000] [--rate 10000] [--seconds 20]
# Serves one IP zone of LISTINGS /32 listings with rblzoned (one UDP worker)
# and with rbldnsd (same data as an ip4set file, -f so it answers during a
# reload), sends dnsperf queries at a fixed rate, and reloads every 0.5 s
# (rblzoned: SIGHUP after changing the zone's TTL; rbldnsd: SIGHUP after
# touching its file). Prints latency percentiles, max and lost queries for a
# baseline run without reloads and for the run with them, per server.
set -euo pipefail
cd "$(dirname "$0")/../.."
listings=100000 rate=10000 seconds=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    --listings) listings="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    *) echo "usage: $0 [--listings N] [--rate QPS] [--seconds N]" >&2; exit 2 ;;
  esac
done
bin="${BUILD_DIR:-build}/cmd"
work=$(mktemp -d /tmp/rblzone-reload-latency-XXXXXX)
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/zones"
write_zone() { printf 'name = "bl.bench"\nkind = "ip"\nttl = %s\n' "$1" >"$work/zones/bl.bench.toml"; }
write_zone 900
# Listings 10.x.y.z (private space: --force), and queries: half listed, half not.
/usr/bin/python3 - "$listings" "$work" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
with open(f"{work}/listings.txt", "w") as l, open(f"{work}/rbldnsd.ip4set", "w") as r, \
        open(f"{work}/queries.txt", "w") as q:
    r.write(":127.0.0.2:Listed\n")
    for i in range(n):
        a, b, c = (i >> 16) & 255, (i >> 8) & 255, i & 255
        l.write(f"10.{a}.{b}.{c}\n")
        r.write(f"10.{a}.{b}.{c}\n")
    for i in range(0, 2 * n, max(1, 2 * n // 20000)):
        a, b, c = (i >> 16) & 255, (i >> 8) & 255, i & 255
        q.write(f"{c}.{b}.{a}.10.bl.bench A\n")
PY
"$bin/rblzone" --data-dir "$work/data" --zones "$work/zones" listing load bl.bench \
  "$work/listings.txt" --permanent --force >/dev/null

percentiles() {
  grep '^>' "$1" | awk '{print $NF}' | sort -g | awk '
    { v[NR] = $1 }
    END { if (NR == 0) { print "no answers"; exit }
          printf "answers %d  p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms", NR,
                 v[int(NR*0.5)]*1000, v[int(NR*0.99)]*1000, v[int(NR*0.999)]*1000, v[NR]*1000 }'
  echo "  $(grep -E 'Queries lost' "$1" | tr -s ' ')"
}
run_dnsperf() {
  dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -l "$1" -Q "$rate" -c 4 -v >"$2" 2>&1
}
wait_up() {
  for _ in $(seq 200); do
    dig @127.0.0.1 -p "$port" +short +time=1 +tries=1 "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server did not come up" >&2; exit 1
}
# Baseline, then the same with a reload every 0.5 s; $1 = name, $2 = reload command.
measure() {
  echo "$1 baseline: $rate queries/s for $seconds s"
  run_dnsperf "$seconds" "$work/base.txt"
  percentiles "$work/base.txt"
  echo "$1 with a reload every 0.5 s: $rate queries/s for $seconds s"
  run_dnsperf "$seconds" "$work/reload.txt" &
  local dp=$! n=0
  sleep 1
  while kill -0 "$dp" 2>/dev/null; do
    eval "$2"; n=$((n + 1)); sleep 0.5
  done
  wait "$dp" || true
  percentiles "$work/reload.txt"
  echo "  reloads sent: $n"
}

port=$(/usr/bin/python3 bench/dns/probe.py freeport)
"$bin/rblzoned" --data-dir "$work/data" --zones "$work/zones" --dns-listen "127.0.0.1:$port" \
  --http-listen "" --dns-threads 1 >"$work/rblzoned.log" 2>&1 &
pid=$!
wait_up bl.bench
ttl=900
measure rblzoned 'ttl=$((ttl == 900 ? 901 : 900)); write_zone $ttl; kill -HUP $pid'
echo "  rblzoned reloads applied: $(grep -c 'reloaded' "$work/rblzoned.log"), failed: $(grep -c 'reload failed' "$work/rblzoned.log" || true)"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""

port=$(/usr/bin/python3 bench/dns/probe.py freeport)
rbldnsd -n -f -q -b "127.0.0.1/$port" -w "$work" -p "$work/rbldnsd.pid" \
  bl.bench:ip4set:rbldnsd.ip4set >"$work/rbldnsd.log" 2>&1 &
pid=$!
wait_up 1.0.0.10.bl.bench
measure rbldnsd 'touch "$work/rbldnsd.ip4set"; kill -HUP $pid'
