#!/usr/bin/env bash
# PowerDNS remote backend benchmark (not a test): dnsperf against rblzoned's
# native DNS and against pdns_server in front of the same rblzoned through the
# unix socket and the HTTP connector, one server at a time, all on 127.0.0.1.
# Prints a markdown table of queries per second (median of --runs runs).
#
#   bench/powerdns/run.sh [--runs 3] [--seconds 10] [--singles 100k] [--out DIR]
#
# Needs dnsperf, pdns-server, pdns-backend-remote (scripts/install-deps --test)
# and a build (BUILD_DIR, default build/). pdns runs with its packet and query
# caches off ("nocache": every query reaches the backend, 6 to 97 lookups
# each) and, for the unix connector, also with pdns's default caches.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=3 SECONDS_PER=10 SINGLES=100k CLIENTS=4 OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --seconds) SECONDS_PER=$2; shift 2 ;;
    --singles) SINGLES=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n 2,13p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

BUILD_DIR=${BUILD_DIR:-build}
RBLZONED=${RBLZONED:-$BUILD_DIR/cmd/rblzoned}
RBLZONE=${RBLZONE:-$BUILD_DIR/cmd/rblzone}
for tool in dnsperf pdns_server dig "$RBLZONED" "$RBLZONE"; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done

OUT=${OUT:-/tmp/rblzone-pdns-bench-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
DATA=$OUT/data
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The DNS benchmark's data generator, smaller: pdns is far slower than rblzoned.
/usr/bin/python3 bench/dns/gen_data.py --out "$DATA" --singles "$SINGLES" --cidrs 5k --v6 1k \
  --queries 50k >/dev/null
"$RBLZONE" --data-dir "$DATA/store" --zones "$DATA/zones" listing load bl.bench "$DATA/listings.txt" \
  >/dev/null

DNS_PORT=$(free_port) HTTP_PORT=$(free_port)
RBLZONED_PID=""
"$RBLZONED" --data-dir "$DATA/store" --zones "$DATA/zones" --dns-listen "127.0.0.1:$DNS_PORT" \
  --http-listen "127.0.0.1:$HTTP_PORT" --dns-threads 1 --pdns-socket "$OUT/pdns.sock" \
  >"$OUT/rblzoned.log" 2>&1 &
RBLZONED_PID=$!
pids+=($!)
for _ in $(seq 100); do
  dig @127.0.0.1 -p "$DNS_PORT" +short bl.bench SOA >/dev/null 2>&1 && break; sleep 0.1
done

PDNS_PID=""
start_pdns() {  # $1 connection string, $2 nocache|cache
  PDNS_PORT=$(free_port)
  mkdir -p "$OUT/ctl"
  local caches=(--cache-ttl=0 --query-cache-ttl=0 --negquery-cache-ttl=0)
  [ "$2" = cache ] && caches=()
  pdns_server --no-config --daemon=no --guardian=no --disable-syslog --write-pid=no \
    --socket-dir="$OUT/ctl" --local-address=127.0.0.1 --local-port="$PDNS_PORT" \
    --launch=remote --remote-connection-string="$1" --remote-dnssec=no --disable-axfr=yes \
    --security-poll-suffix= --loglevel=3 "${caches[@]}" >>"$OUT/pdns.log" 2>&1 &
  PDNS_PID=$!
  pids+=("$PDNS_PID")
  for _ in $(seq 100); do
    dig @127.0.0.1 -p "$PDNS_PORT" +short bl.bench SOA 2>/dev/null | grep -q . && return 0; sleep 0.1
  done
  echo "pdns_server did not start with $1" >&2; exit 1
}
stop_pdns() { kill "$PDNS_PID"; wait "$PDNS_PID" 2>/dev/null || true; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# $1 label, $2 port: appends "label run qps lost rblzoned-CPU-s pdns-CPU-s
# backend-lookups-per-query" to runs.tsv.
measure() {
  local log="$OUT/dnsperf-$1-$run.txt" r0 p0=0 b0=0 r1 p1=0 b1=0
  r0=$(cpu_ticks "$RBLZONED_PID")
  if [ -n "$PDNS_PID" ]; then
    p0=$(cpu_ticks "$PDNS_PID"); b0=$(pdns_control --socket-dir="$OUT/ctl" show backend-queries)
  fi
  dnsperf -s 127.0.0.1 -p "$2" -d "$DATA/queries.txt" -l "$SECONDS_PER" -c "$CLIENTS" -t 5 >"$log" 2>&1
  r1=$(cpu_ticks "$RBLZONED_PID")
  if [ -n "$PDNS_PID" ]; then
    p1=$(cpu_ticks "$PDNS_PID"); b1=$(pdns_control --socket-dir="$OUT/ctl" show backend-queries)
  fi
  local qps lost done hz
  qps=$(awk '/Queries per second:/ {print $4}' "$log")
  lost=$(awk '/Queries lost:/ {print $3}' "$log")
  done=$(awk '/Queries completed:/ {print $3}' "$log")
  hz=$(getconf CLK_TCK)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$run" "$qps" "$lost" \
    "$(awk -v a="$r0" -v b="$r1" -v h="$hz" 'BEGIN {printf "%.2f", (b - a) / h}')" \
    "$(awk -v a="$p0" -v b="$p1" -v h="$hz" 'BEGIN {printf "%.2f", (b - a) / h}')" \
    "$(awk -v a="$b0" -v b="$b1" -v n="$done" 'BEGIN {printf "%.1f", (b - a) / n}')" >>"$OUT/runs.tsv"
  echo "$1 run $run: $qps qps, lost $lost" >&2
}

: >"$OUT/runs.tsv"
for run in $(seq "$RUNS"); do
  measure native "$DNS_PORT"
  for conn in "unix-nocache|unix:path=$OUT/pdns.sock,timeout=2000|nocache" \
              "http-rest-nocache|http:url=http://127.0.0.1:$HTTP_PORT/pdns,timeout=2000|nocache" \
              "http-postjson-nocache|http:url=http://127.0.0.1:$HTTP_PORT/pdns,post=1,post_json=1,timeout=2000|nocache" \
              "unix-cache|unix:path=$OUT/pdns.sock,timeout=2000|cache"; do
    IFS='|' read -r label cs mode <<<"$conn"
    start_pdns "$cs" "$mode"
    measure "pdns-$label" "$PDNS_PORT"
    stop_pdns
    PDNS_PID=""
  done
done

/usr/bin/python3 - "$OUT/runs.tsv" <<'PY' | tee "$OUT/results.md"
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
order, qps, lost, rcpu, pcpu, calls = [], {}, {}, {}, {}, {}
for label, run, q, l, r, p, c in rows:
    if label not in qps:
        order.append(label)
        for d in (qps, lost, rcpu, pcpu, calls):
            d[label] = []
    qps[label].append(float(q)); lost[label].append(l)
    rcpu[label].append(float(r)); pcpu[label].append(float(p)); calls[label].append(float(c))
native = statistics.median(qps["native"])
print("| server | median qps | runs | vs native | rblzoned CPU-s | pdns CPU-s | backend lookups/query | lost |")
print("|---|---:|---|---:|---:|---:|---:|---|")
for label in order:
    m = statistics.median(qps[label])
    runs = ", ".join(f"{x:.0f}" for x in qps[label])
    med = lambda d: statistics.median(d[label])
    per = f"{med(calls):.1f}" if label != "native" else "-"
    print(f"| {label} | {m:.0f} | {runs} | {m / native * 100:.1f}% | {med(rcpu):.1f} | "
          f"{med(pcpu):.1f} | {per} | {', '.join(lost[label])} |")
PY
echo "results: $OUT" >&2
