#!/usr/bin/env bash
# DNS benchmark: rblzoned vs rbldnsd vs a UDP-echo ceiling, same data, same
# dnsperf load, one server at a time, all on 127.0.0.1. See README.md.
# A benchmark, not a test: never run from ctest.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/dns/run.sh [options]
  --size N          single IPv4 listings: 1M (default), 10M, or any count (250k, 3000000)
  --runs N          repetitions; the table shows medians (default 3)
  --seconds N       measured dnsperf time per server and run (default 20)
  --warmup N        unmeasured dnsperf seconds before each measurement (default 3)
  --clients N       dnsperf -c (default 4)
  --dnsperf-threads N   dnsperf -T (default: dnsperf's own, one send + one receive thread)
  --threads N       worker threads for rblzoned (--dns-threads) and the ceiling (default 1);
                    rbldnsd is single-threaded whatever this says
  --queries N       queries in the query file (default 200k; half listed)
  --verify N|all    after the dig check, send the first N queries (default all) once and check
                    every answer against the generator's expectation; 0 skips it
  --servers LIST    comma-separated subset of ceiling,rbldnsd,rblzoned (default: all three)
  --rbldnsd-type T  rbldnsd dataset for IPv4: ip4trie (default) or ip4set
  --wait-idle N     before each measurement wait up to N s for the host to be idle (other
                    processes using < 0.15 cores over 1 s); default 0 = only measure and warn
  --pin             pin the server to CPU 1 and dnsperf to CPU 0 (taskset)
  --out DIR         results directory (default /tmp/rblzone-bench-results-SIZE-TIMESTAMP)
  --keep            keep the work directory (rblzoned's loaded data dir, ceiling binary)
environment: BUILD_DIR (default REPO/build), RBLZONED, RBLZONE (default BUILD_DIR/cmd/...),
             RBLZONED_ARGS (extra daemon arguments), BENCH_DATA_ROOT (default /tmp)
EOF
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
ZONE=bl.bench

SIZE=1M RUNS=3 DURATION=20 WARMUP=3 CLIENTS=4 DP_THREADS="" THREADS=1 QUERIES=200k
SERVERS="ceiling,rbldnsd,rblzoned" V4TYPE=ip4trie PIN=0 OUT="" KEEP=0 WAIT_IDLE=0 VERIFY=all
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --seconds) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --dnsperf-threads) DP_THREADS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --queries) QUERIES=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --verify) VERIFY=$2; shift 2 ;;
    --rbldnsd-type) V4TYPE=$2; shift 2 ;;
    --pin) PIN=1; shift ;;
    --wait-idle) WAIT_IDLE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$V4TYPE" in ip4trie|ip4set) ;; *) echo "run.sh: --rbldnsd-type ip4trie|ip4set" >&2; exit 2 ;; esac

BUILD_DIR=${BUILD_DIR:-$ROOT/build}
RBLZONED=${RBLZONED:-$BUILD_DIR/cmd/rblzoned}
RBLZONE=${RBLZONE:-$BUILD_DIR/cmd/rblzone}
RBLZONED_ARGS=${RBLZONED_ARGS:-}
DATA_ROOT=${BENCH_DATA_ROOT:-/tmp}

calc() { awk "BEGIN { printf \"%.3f\", $* }"; }
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

missing=""
for tool in dnsperf rbldnsd dig cc taskset; do
  command -v "$tool" >/dev/null 2>&1 || missing+=" $tool"
done
[ -z "$missing" ] || die "missing:$missing (apt-get install -y dnsperf rbldnsd bind9-dnsutils gcc util-linux)"
[ -x "$PY" ] || die "$PY is needed"

STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=${OUT:-/tmp/rblzone-bench-results-$SIZE-$STAMP}
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
WORK=$(mktemp -d /tmp/rblzone-bench-work.XXXXXX)
SERVER_PID=""

stop_server() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    # a zombie still answers kill -0; reap it
    if [ "$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" = Z ]; then break; fi
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  stop_server "$SERVER_PID"
  SERVER_PID=""
  if [ "$KEEP" = 1 ]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- ceiling
log "building the ceiling (cc -O2)"
cc -O2 -Wall -Wextra -pthread -o "$WORK/ceiling" "$ROOT/bench/ceiling/ceiling.c"

# ---------------------------------------------------------------- data
DATA="$DATA_ROOT/rblzone-bench-data-$SIZE"
GEN_ARGS=(--singles "$SIZE" --cidrs 50k --v6 10k --queries "$QUERIES" --zone "$ZONE")
WANT_STAMP="$(sha256sum "$HERE/gen_data.py" | cut -d' ' -f1) ${GEN_ARGS[*]}"
if [ -f "$DATA/stamp" ] && [ "$(cat "$DATA/stamp")" = "$WANT_STAMP" ]; then
  log "data: cached in $DATA"
else
  log "data: generating into $DATA (${GEN_ARGS[*]})"
  rm -rf "$DATA.tmp.$$"
  t0=$(date +%s.%N)
  "$PY" "$HERE/gen_data.py" --out "$DATA.tmp.$$" "${GEN_ARGS[@]}" 2>"$WORK/gen.log" \
    || { cat "$WORK/gen.log" >&2; rm -rf "$DATA.tmp.$$"; die "gen_data.py failed"; }
  printf '%s\n' "$WANT_STAMP" >"$DATA.tmp.$$/stamp"
  rm -rf "$DATA"
  mv "$DATA.tmp.$$" "$DATA"
  log "data: generated in $(calc "$(date +%s.%N) - $t0") s"
fi
chmod -R a+rX "$DATA"  # rbldnsd reads it after dropping to its own user
read -r N_LISTINGS N_SINGLES N_QUERIES < <("$PY" -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(m["listings"], m["singles"], m["queries"])' "$DATA/meta.json")
LISTED_NAME=$(awk -F'\t' '$1 == "listed_single" { print $2; exit }' "$DATA/samples.tsv")

# ---------------------------------------------------------------- servers
IFS=, read -r -a WANT <<<"$SERVERS"
ACTIVE=()
SKIPPED=""
LOAD_NOTE=""
RBLZONED_THREADS_NOTE=""
for s in "${WANT[@]}"; do
  case "$s" in
    ceiling|rbldnsd) ACTIVE+=("$s") ;;
    rblzoned)
      if [ ! -x "$RBLZONED" ]; then
        log "rblzoned: SKIPPED, no binary at $RBLZONED (build it, or set RBLZONED=...)"
        SKIPPED+="rblzoned (no binary at $RBLZONED) "
        continue
      fi
      if [ ! -x "$RBLZONE" ]; then
        log "rblzoned: SKIPPED, no rblzone CLI at $RBLZONE to load the data (set RBLZONE=...)"
        SKIPPED+="rblzoned (no rblzone CLI at $RBLZONE) "
        continue
      fi
      mkdir -p "$WORK/rblzoned-data"
      log "rblzoned: loading $N_LISTINGS listings (rblzone listing load)"
      t0=$(date +%s.%N)
      if ! "$RBLZONE" --data-dir "$WORK/rblzoned-data" --zones "$DATA/zones" \
          listing load "$ZONE" "$DATA/listings.txt" >"$RESULTS/rblzone-load.log" 2>&1; then
        tail -20 "$RESULTS/rblzone-load.log" >&2
        log "rblzoned: SKIPPED, the load failed (see $RESULTS/rblzone-load.log)"
        SKIPPED+="rblzoned (load failed) "
        continue
      fi
      load_s=$(calc "$(date +%s.%N) - $t0")
      du_mb=$(du -sm "$WORK/rblzoned-data" | cut -f1)
      load_said=$(tail -1 "$RESULTS/rblzone-load.log")
      LOAD_NOTE="Load: \`rblzone listing load\` of $N_LISTINGS listings took $(printf '%.1f' "$load_s") s ($(printf '%.0f' "$(calc "$N_LISTINGS / $load_s")") listings/s; it said \"$load_said\"); data dir ${du_mb} MB. rbldnsd parses its text files at every start (its startup column)."
      log "rblzoned: loaded in $(printf '%.2f' "$load_s") s, data dir ${du_mb} MB"
      if "$RBLZONED" --help 2>&1 | grep -q -- '--dns-threads'; then
        RBLZONED_THREADS_NOTE="--dns-threads $THREADS"
      else
        RBLZONED_THREADS_NOTE="daemon default (no --dns-threads option)"
      fi
      ACTIVE+=("$s")
      ;;
    *) die "unknown server $s (ceiling, rbldnsd, rblzoned)" ;;
  esac
done
[ ${#ACTIVE[@]} -gt 0 ] || die "no server to benchmark"

SRV_PIN=() DP_PIN=()
if [ "$PIN" = 1 ]; then SRV_PIN=(taskset -c 1) DP_PIN=(taskset -c 0); fi
DP_OPTS=(-c "$CLIENTS" -Q 10000000)
# the measured dnsperf also reports its own CPU time: how much of the host the load generator takes
DP_MEASURED=("${DP_PIN[@]}")
[ ! -x /usr/bin/time ] || DP_MEASURED+=(/usr/bin/time -f '%U %S' -o "$WORK/dnsperf-time")
[ -z "$DP_THREADS" ] || DP_OPTS+=(-T "$DP_THREADS")

server_cmd() {  # server port -> CMD array
  local port=$2
  case "$1" in
    ceiling) CMD=("$WORK/ceiling" "$port" "$THREADS" 127.0.0.1) ;;
    rbldnsd)
      CMD=(rbldnsd -n -c 0 -b "127.0.0.1/$port" -w "$DATA/rbldnsd")
      [ "$(id -u)" != 0 ] || CMD+=(-u rbldns)
      CMD+=("$ZONE:$V4TYPE:v4.txt" "$ZONE:ip6trie:v6.txt") ;;
    rblzoned)
      CMD=("$RBLZONED" --data-dir "$WORK/rblzoned-data" --zones "$DATA/zones"
           --dns-listen "127.0.0.1:$port" --http-listen "")
      [[ "$RBLZONED_THREADS_NOTE" != --dns-threads* ]] || CMD+=(--dns-threads "$THREADS")
      # shellcheck disable=SC2206
      [ -z "$RBLZONED_ARGS" ] || CMD+=($RBLZONED_ARGS) ;;
  esac
}

label_of() {
  case "$1" in
    ceiling) echo "ceiling (UDP echo, recvmmsg/sendmmsg)" ;;
    rbldnsd) echo "rbldnsd $(rbldnsd -h 2>&1 | sed -n 's/.*version \([^ ]*\).*/\1/p' | head -1) ($V4TYPE + ip6trie)" ;;
    rblzoned) echo "rblzoned" ;;
  esac
}

threads_of() {
  case "$1" in
    ceiling) echo "$THREADS" ;;
    rbldnsd) echo "1" ;;
    rblzoned) if [[ "$RBLZONED_THREADS_NOTE" == --dns-threads* ]]; then echo "$THREADS"; else echo "default"; fi ;;
  esac
}

cpu_ticks() {  # utime + stime of the whole process (all its threads), in clock ticks
  local s
  s=$(<"/proc/$1/stat")
  s=${s##*) }
  # shellcheck disable=SC2086
  set -- $s
  echo $(( ${12} + ${13} ))
}
CLK_TCK=$(getconf CLK_TCK)

host_busy_ticks() {  # all CPUs: busy (user nice system irq softirq steal) and total, in ticks
  awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}

background_cores() {  # cores busy over the next second while no benchmark process runs
  local h0 t0 h1 t1
  read -r h0 t0 < <(host_busy_ticks)
  sleep 1
  read -r h1 t1 < <(host_busy_ticks)
  calc "$(nproc) * ($h1 - $h0) / ($t1 - $t0)"
}

wait_quiet() {  # prints the background load finally seen
  local bg waited=0
  bg=$(background_cores)
  while [ "$waited" -lt "$WAIT_IDLE" ] && awk "BEGIN { exit !($bg >= 0.15) }"; do
    [ "$waited" != 0 ] || log "host busy (${bg} cores used by other processes); waiting up to ${WAIT_IDLE} s"
    sleep 1
    waited=$((waited + 2))
    bg=$(background_cores)
  done
  if awk "BEGIN { exit !($bg >= 0.15) }"; then
    log "warning: the host is not idle (${bg} cores used by other processes); figures will be noisy"
  fi
  echo "$bg"
}

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

sanity_check() {  # server port -> prints ok or FAIL(n)
  local server=$1 port=$2 kind name out status a fails=0
  while IFS=$'\t' read -r kind name; do
    out=$(dig @127.0.0.1 -p "$port" "$name" A +tries=2 +time=2 +noall +comments +answer 2>&1 || true)
    status=$(sed -n 's/.*status: \([A-Z]*\).*/\1/p' <<<"$out" | head -1)
    a=$(awk '!/^;/ && $4 == "A" { print $5 }' <<<"$out" | sort | tr '\n' ' ')
    case "$kind" in
      listed_*) if [ "$status" = NOERROR ] && [ "$a" = "127.0.0.2 " ]; then r=ok; else r=WRONG; fails=$((fails + 1)); fi ;;
      *) if [ "$status" = NXDOMAIN ] && [ -z "$a" ]; then r=ok; else r=WRONG; fails=$((fails + 1)); fi ;;
    esac
    log "  dig $server $kind $name -> ${status:-no answer} ${a}[$r]"
  done <"$DATA/samples.tsv"
  local verdict="ok"
  [ $fails = 0 ] || verdict="dig FAIL($fails)"
  if [ "$VERIFY" != 0 ]; then
    log "  verifying $([ "$VERIFY" = all ] && echo every || echo the first "$VERIFY") query of queries.txt against its expected answer"
    if "$PY" "$HERE/probe.py" verify --port "$port" --expected "$DATA/expected.tsv" \
        --limit "$([ "$VERIFY" = all ] && echo 0 || echo "$VERIFY")" >"$RESULTS/verify-$server.txt" 2>&1; then
      sed 's/^/    /' "$RESULTS/verify-$server.txt" >&2
    else
      sed 's/^/    /' "$RESULTS/verify-$server.txt" >&2
      [ "$verdict" = ok ] && verdict="verify FAIL" || verdict+=", verify FAIL"
    fi
  fi
  echo "$verdict"
}

printf 'server\trun\tlabel\tthreads\tstartup_s\tcpu_s\tdnsperf_cpu_s\thost_cores\tbackground_cores\trss_kb\thwm_kb\tanon_kb\tsanity\tdnsperf\terror\n' >"$RESULTS/runs.tsv"
# dig check results, filled once per server by bench_one (printf -v)
# shellcheck disable=SC2034
SANITY_rbldnsd="" SANITY_rblzoned=""

bench_one() {  # server run
  local server=$1 run=$2 port res startup bg c0 c1 h0 h1 t0 t1 host cpu dp_cpu rss hwm anon sanity out err="" any=()
  port=$("$PY" "$HERE/probe.py" freeport)
  server_cmd "$server" "$port"
  res="$WORK/startup-$server-$run"
  rm -f "$res"
  [ "$server" != ceiling ] || any=(--any)
  bg=$(wait_quiet)
  log "$server run $run: starting on 127.0.0.1:$port: ${CMD[*]}"
  "${SRV_PIN[@]}" "$PY" "$HERE/probe.py" start --port "$port" --name "$LISTED_NAME" \
    --result "$res" --timeout 600 "${any[@]}" -- "${CMD[@]}" \
    >>"$RESULTS/$server.log" 2>&1 &
  SERVER_PID=$!
  while [ ! -s "$res" ]; do sleep 0.02; done
  startup=$(cat "$res")
  if [[ "$startup" == FAIL* ]]; then
    log "$server run $run: $startup (log: $RESULTS/$server.log)"
    tail -5 "$RESULTS/$server.log" >&2 || true
    stop_server "$SERVER_PID"; SERVER_PID=""
    printf '%s\t%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n' "$server" "$run" "$(label_of "$server")" \
      "$(threads_of "$server")" "did not start" >>"$RESULTS/runs.tsv"
    return 0
  fi
  log "$server run $run: answering after ${startup} s (pid $SERVER_PID)"
  if [ "$server" = ceiling ]; then
    sanity=n/a
  else
    local var="SANITY_$server"
    if [ -z "${!var}" ]; then
      log "$server: correctness check (listed -> 127.0.0.2, unlisted -> NXDOMAIN)"
      printf -v "$var" '%s' "$(sanity_check "$server" "$port")"
      log "$server: correctness check: ${!var}"
    fi
    sanity=${!var}
  fi
  if [ "$WARMUP" != 0 ]; then
    "${DP_PIN[@]}" dnsperf -s 127.0.0.1 -p "$port" -d "$DATA/queries.txt" "${DP_OPTS[@]}" \
      -l "$WARMUP" >/dev/null 2>&1 || true
  fi
  out="dnsperf-$server-$run.txt"
  c0=$(cpu_ticks "$SERVER_PID")
  read -r h0 t0 < <(host_busy_ticks)
  rm -f "$WORK/dnsperf-time"
  "${DP_MEASURED[@]}" dnsperf -s 127.0.0.1 -p "$port" -d "$DATA/queries.txt" "${DP_OPTS[@]}" \
    -l "$DURATION" >"$RESULTS/$out" 2>&1 || err="dnsperf failed"
  c1=$(cpu_ticks "$SERVER_PID")
  read -r h1 t1 < <(host_busy_ticks)
  host=$(calc "$(nproc) * ($h1 - $h0) / ($t1 - $t0)")
  dp_cpu=-
  [ ! -s "$WORK/dnsperf-time" ] || dp_cpu=$(tail -1 "$WORK/dnsperf-time" | awk '{ printf "%.3f", $1 + $2 }')
  cpu=$(calc "($c1 - $c0) / $CLK_TCK")
  rss=$(status_kb "$SERVER_PID" VmRSS); hwm=$(status_kb "$SERVER_PID" VmHWM)
  anon=$(status_kb "$SERVER_PID" RssAnon)
  stop_server "$SERVER_PID"; SERVER_PID=""
  log "$server run $run: $(grep -E 'Queries per second' "$RESULTS/$out" | tr -s ' ') ; $(grep -E 'Response codes' "$RESULTS/$out" | tr -s ' ') ; server CPU ${cpu} s; RSS ${rss} kB"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$run" "$(label_of "$server")" \
    "$(threads_of "$server")" "$startup" "$cpu" "$dp_cpu" "$host" "$bg" "$rss" "$hwm" "${anon:--}" "$sanity" "$out" "$err" \
    >>"$RESULTS/runs.tsv"
}

for run in $(seq "$RUNS"); do
  for s in "${ACTIVE[@]}"; do bench_one "$s" "$run"; done
done

# ---------------------------------------------------------------- report
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem_gb=$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
kinds=$("$PY" -c '
import json, sys
k = json.load(open(sys.argv[1]))["query_kinds"]
t = sum(k.values())
print(", ".join(f"{n} {v / t:.1%}" for n, v in k.items()))' "$DATA/meta.json")
THREADS_NOTE="ceiling $THREADS, rbldnsd 1 (single-threaded by design)"
[ -z "$RBLZONED_THREADS_NOTE" ] || THREADS_NOTE+=", rblzoned $RBLZONED_THREADS_NOTE"
THREADS_NOTE+="; the host has $(nproc) cores and dnsperf shares them"
{
  echo "DATA_DESC=$N_SINGLES single IPv4 + 50000 IPv4 CIDR (/16–/30) + 10000 IPv6 /64 = $N_LISTINGS listings"
  echo "MACHINE=$(nproc) cores ($cpu_model), ${mem_gb} GiB, Linux $(uname -r), $(dnsperf -h 2>&1 | sed -n 's/^Version /dnsperf /p')"
  echo "DNSPERF_CMD=dnsperf -s 127.0.0.1 -p PORT -d queries.txt ${DP_OPTS[*]} -l $DURATION"
  echo "WARMUP=$WARMUP"
  echo "RUNS=$RUNS"
  echo "QUERIES_DESC=$N_QUERIES A queries, shuffled: $kinds"
  echo "PIN=$([ "$PIN" = 1 ] && echo 'server on CPU 1, dnsperf on CPU 0' || echo none)"
  echo "THREADS_NOTE=$THREADS_NOTE"
  echo "LOAD_NOTE=$LOAD_NOTE"
  echo "SKIPPED=$SKIPPED"
} >"$RESULTS/info.env"
"$PY" "$HERE/report.py" "$RESULTS" | tee "$RESULTS/results.md"
log "results: $RESULTS/results.md (raw: runs.tsv, dnsperf-*.txt, *.log)"
