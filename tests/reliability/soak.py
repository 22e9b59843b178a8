#!/usr/bin/python3
"""Load and soak: dnsperf at 80% of rblzoned's measured maximum for a while,
as the API adds and removes listings and an importer runs; then no server
error, no lost update, resident memory stable, latency reported. See
docs/reliability.md.

    RBLZONE_BIN_DIR=build/cmd /usr/bin/python3 tests/reliability/soak.py --seconds 600

1. Start rblzoned (2 DNS threads, HTTP on) over soak.test (API churn) and
   traps.test (importer), both empty.
2. Measure the maximum: dnsperf without a rate limit for --measure seconds
   (or take --max-qps). Target: --load (0.8) x that.
3. For --seconds, concurrently:
   - dnsperf -Q target -v over 10 000 names (listed and not, both zones),
     every answer's rcode and latency folded into a histogram by awk;
   - two API clients, each on its own kept-alive connection: one PUTs
     --changes (100) addresses a second, the next of a pool of 5 000 each
     time (each PUT's reason unique), the other DELETEs each 5 s after its
     PUT, as many a second; every acknowledged (2xx) change is recorded;
   - a trap-log writer (20 lines a second, new addresses) and
     `rblzone import traplog traps.test LOG --watch`;
   - every 2 s: /proc/PID/status of rblzoned (VmRSS, RssAnon, RssFile).
4. Checks: dnsperf saw no SERVFAIL, REFUSED or other server error; the API
   never answered 5xx; every address's last acknowledged change is what
   the store, the API's listing list and DNS show; the importer (stopped
   with SIGTERM once its cursor has caught up) reported every line once;
   RssAnon's median over the last window is within 5% of its median over
   the first window after a 10 s warm-up (window: 60 s, or a third of the
   rest for short runs). p50/p99/p99.9 latency and the lost queries are
   reported, not asserted.

RSS: LMDB maps the store read-only from its file, so the pages DNS touches
count in RssFile (page cache, shared, reclaimable); RssAnon (heap, stacks,
the zone catalog's own memory) is what a leak grows, so that is the figure
asserted on. VmRSS = RssAnon + RssFile + RssShmem is reported too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dns.rcode  # noqa: E402

import common  # noqa: E402
from common import Failure, NoAnswer, call, trap_subject  # noqa: E402

harness = common.harness

API_ZONE = "soak.test"
TRAP_ZONE = "traps.test"
POOL = 5000
LIVE = 500  # listings alive at once: each is removed 500 ticks (5 s) after its add
# Connections per direction: the daemon commits (and syncs) each write before
# it answers, so one client waiting for each answer in turn measures its own
# round trip more than the daemon. Ticks are dealt round-robin.
WRITERS = 3
WARMUP = 10.0
SAMPLE_EVERY = 2.0

# Fold dnsperf -v's "> RCODE name type latency" lines into rcode counts and
# a latency histogram of 10 us buckets (the last one: 1 s and over); every
# other line (its statistics) passes through.
AWK = r"""
/^> / { rc[$2]++; b = int($5 * 100000); if (b > 100000) b = 100000; h[b]++; next }
{ print }
END { for (r in rc) print "RCODE", r, rc[r]; for (b in h) print "HIST", b, h[b] }
"""


def pool_subject(i: int) -> str:
    return f"60.{i // 62500 + 1}.{i // 250 % 250}.{i % 250 + 1}"


def dnsperf_argv(port, qfile, seconds, qps=None, clients=4):
    a = ["dnsperf", "-s", harness.HOST, "-p", str(port), "-d", str(qfile), "-l", str(seconds),
         "-c", str(clients), "-q", "200", "-t", "2"]
    if qps:
        a += ["-Q", str(int(qps)), "-v"]
    return a


def parse_stats(text: str) -> dict:
    out = {}
    for key, pat in [("sent", r"Queries sent:\s+(\d+)"), ("completed", r"Queries completed:\s+(\d+)"),
                     ("lost", r"Queries lost:\s+(\d+)"), ("qps", r"Queries per second:\s+([\d.]+)")]:
        m = re.search(pat, text)
        if not m:
            raise Failure(f"dnsperf output without '{key}':\n{text[-2000:]}")
        out[key] = float(m.group(1))
    return out


def percentile(hist: dict[int, int], q: float) -> float:
    """Seconds: the upper edge of the bucket holding the q-th quantile."""
    total = sum(hist.values())
    want = q * total
    seen = 0
    for b in sorted(hist):
        seen += hist[b]
        if seen >= want:
            return (b + 1) / 100000
    return float("nan")


class Soak:
    def __init__(self, workdir: Path, seconds: float, load: float, changes: int, max_qps,
                 measure: float, seed: int):
        self.workdir = Path(workdir)
        self.seconds, self.load, self.changes = seconds, load, changes
        self.max_qps, self.measure = max_qps, measure
        self.rng = random.Random(seed)
        self.zones = harness.write_zones(self.workdir / "zones", names=[], extra={
            API_ZONE: common.ip_zone(API_ZONE), TRAP_ZONE: common.ip_zone(TRAP_ZONE)})
        self.data = self.workdir / "data"
        self.config = self.workdir / "rblzoned.toml"
        self.config.write_text(common.DAEMON_CONFIG)
        self.cli = harness.Cli(self.data, self.zones)
        self.desk = self.cli.ok("token", "create", "desk", "--role", "desk").strip()
        self.log = self.workdir / "traps.csv"
        self.log.write_text("")
        self.stop = threading.Event()
        self.model: dict[str, tuple | None] = {}  # subject -> acknowledged state
        self.unsure: set[str] = set()  # a request got no answer (must not happen)
        self.errors: list[str] = []
        self.api_acked = 0
        self.api_requests = 0
        self.lock = threading.Lock()
        self.added: set[int] = set()  # add ticks done
        self.removed: set[int] = set()  # remove ticks done
        self.start = 0.0
        self.api_latencies: list[float] = []
        self.lines = 0
        self.samples: list[tuple[float, dict]] = []
        self.result: dict = {}

    def queries(self) -> Path:
        q = self.workdir / "queries.txt"
        names = []
        for i in range(10000):
            if i % 2:
                names.append(harness.qn(pool_subject(self.rng.randrange(POOL)), API_ZONE))
            else:
                names.append(harness.qn(trap_subject(self.rng.randrange(20 * int(self.seconds) + 50)),
                                        TRAP_ZONE))
        q.write_text("".join(f"{n} A\n" for n in names))
        return q

    # --- load ---------------------------------------------------------------------------

    def api_adder(self, first: int):
        """Adds ticks first, first + WRITERS, ...: `changes` adds a second over
        all the adders, tick n listing pool address n % POOL; an address comes
        round again only once the removal of its previous add is done."""
        session = common.Session(self.daemon.http_port, self.desk)
        n = first
        while not self.stop.is_set():
            self.pace(n)
            while n >= POOL and (n - POOL) not in self.removed and not self.stop.is_set():
                time.sleep(0.001)
            state = (f"soak-{n}", "127.0.0.4")
            self.request(session, pool_subject(n % POOL), state, "PUT",
                         {"reason": state[0], "code": state[1]}, {200, 201})
            self.added.add(n)
            n += WRITERS

    def api_remover(self, first: int):
        """Removes ticks first, first + WRITERS, ...: `changes` removes a
        second, on their own connections: tick k removes what add k listed,
        LIVE ticks later, once that add is done."""
        session = common.Session(self.daemon.http_port, self.desk)
        k = first
        while not self.stop.is_set():
            self.pace(k + LIVE)
            while k not in self.added and not self.stop.is_set():
                time.sleep(0.001)
            if self.stop.is_set():
                return
            self.request(session, pool_subject(k % POOL), None, "DELETE",
                         {"reason": f"soak-del-{k}"}, {200})
            self.removed.add(k)
            k += WRITERS

    def pace(self, tick):
        due = self.start + tick / self.changes
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)

    def request(self, session, subject, state, method, body, ok):
        path = f"/api/v1/zones/{API_ZONE}/listings/{subject}"
        t0 = time.monotonic()
        try:
            st, resp = session(method, path, body)
        except NoAnswer as e:
            with self.lock:
                self.unsure.add(subject)
                self.errors.append(f"no answer: {e}")
            return
        with self.lock:
            self.api_latencies.append(time.monotonic() - t0)
            self.api_requests += 1
            if st in ok:
                self.model[subject] = state
                self.api_acked += 1
            else:
                self.errors.append(f"{method} {subject}: {st} {resp}")

    def log_writer(self):
        with open(self.log, "a") as f:
            while not self.stop.is_set():
                f.write(f"{int(time.time())},{trap_subject(self.lines)},trap-1,e\n")
                f.flush()
                self.lines += 1
                time.sleep(0.05)

    def sampler(self, t0):
        while not self.stop.wait(SAMPLE_EVERY):
            self.samples.append((time.monotonic() - t0, common.proc_status(self.daemon.proc.pid)))

    # --- the run ------------------------------------------------------------------------

    def run(self, report=print) -> dict:
        self.daemon = harness.Daemon(self.workdir, self.data, self.zones, config=self.config,
                                     http=True, probe_zone=API_ZONE, threads=2)
        self.daemon.start()
        watcher = None
        try:
            qfile = self.queries()
            if not self.max_qps:
                r = subprocess.run(dnsperf_argv(self.daemon.port, qfile, self.measure),
                                   capture_output=True, text=True, timeout=self.measure + 60)
                self.max_qps = parse_stats(r.stdout)["qps"]
            target = int(self.load * self.max_qps)
            report(f"soak: max {self.max_qps:.0f} q/s, load {target} q/s for {self.seconds} s")
            # Its output goes to a file: a summary a run, more than a pipe holds.
            self.watch_out = self.workdir / "import-watch.out"
            with open(self.watch_out, "w") as wo:
                watcher = subprocess.Popen(
                    self.cli.argv("import", "traplog", TRAP_ZONE, self.log, "--watch", "--batch",
                                  "50", "--no-progress", as_json=True),
                    stdout=wo, stderr=subprocess.STDOUT, text=True)
            perf = subprocess.Popen(
                f"{' '.join(dnsperf_argv(self.daemon.port, qfile, self.seconds, target))}"
                f" | awk '{AWK}'", shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True)
            t0 = time.monotonic()
            self.start = t0
            threads = [threading.Thread(target=f, args=(i,))
                       for f in (self.api_adder, self.api_remover) for i in range(WRITERS)]
            threads.append(threading.Thread(target=self.log_writer))
            threads.append(threading.Thread(target=self.sampler, args=(t0,)))
            for t in threads:
                t.start()
            out, err = perf.communicate(timeout=self.seconds + 120)
            elapsed = time.monotonic() - t0
            self.stop.set()
            for t in threads:
                t.join(30)
            self.result["elapsed"] = round(elapsed, 1)
            self.check_dnsperf(out, err, target)
            self.check_memory()
            self.check_importer(watcher)
            watcher = None
            self.check_updates()
        finally:
            self.stop.set()
            if watcher is not None and watcher.poll() is None:
                watcher.kill()
                watcher.wait()
            rc = self.daemon.stop()
            if rc != 0:
                self.errors.append(f"rblzoned exited {rc} after SIGTERM:\n{self.daemon.log()[-2000:]}")
        if self.errors:
            raise Failure("\n".join(self.errors[:20]) + f"\nfigures: {json.dumps(self.result)}")
        return self.result

    def check_dnsperf(self, out, err, target):
        stats = parse_stats(out)
        rcodes, hist = {}, {}
        for line in out.splitlines():
            f = line.split()
            if f[:1] == ["RCODE"]:
                rcodes[f[1]] = int(f[2])
            elif f[:1] == ["HIST"]:
                hist[int(f[1])] = int(f[2])
        bad = {k: v for k, v in rcodes.items() if k not in ("NOERROR", "NXDOMAIN")}
        lat = sorted(self.api_latencies)
        self.result.update({
            "max_qps": round(self.max_qps), "target_qps": target, "achieved_qps": stats["qps"],
            "sent": int(stats["sent"]), "completed": int(stats["completed"]),
            "lost": int(stats["lost"]), "rcodes": rcodes,
            "p50_ms": round(percentile(hist, 0.5) * 1000, 2),
            "p99_ms": round(percentile(hist, 0.99) * 1000, 2),
            "p999_ms": round(percentile(hist, 0.999) * 1000, 2),
            "api_requests": self.api_requests, "api_acked": self.api_acked,
            "api_per_second": round(self.api_requests / self.result["elapsed"], 1),
            # Against the schedule: `changes` adds a second from the start,
            # removes from LIVE ticks later; "behind" is what the clients
            # had not yet sent when the run ended.
            "api_adds_per_second": round(len(self.added) / self.result["elapsed"], 1),
            "api_removes_per_second": round(
                len(self.removed) / max(self.result["elapsed"] - LIVE / self.changes, 1), 1),
            "api_adds_behind": max(0, int(self.result["elapsed"] * self.changes) - len(self.added)),
            "api_p99_ms": round(lat[int(0.99 * (len(lat) - 1))] * 1000, 1) if lat else None,
        })
        if bad:
            self.errors.append(f"dnsperf saw server errors: {bad}")
        if sum(rcodes.values()) != stats["completed"]:
            self.errors.append(f"dnsperf: {sum(rcodes.values())} answers folded, "
                               f"{stats['completed']} completed")
        if not rcodes.get("NOERROR") or not rcodes.get("NXDOMAIN"):
            self.errors.append(f"dnsperf: expected both listed and unlisted answers: {rcodes}")

    def check_importer(self, watcher):
        zid = common.zone_ids(self.data)[TRAP_ZONE][0]
        lines = self.lines

        def caught_up():
            c = common.import_cursor(self.data, zid)
            return c is not None and c["line"] >= lines
        try:
            harness.wait_until(caught_up, 60, interval=0.5, what="the importer to catch up")
        except AssertionError as e:
            c = common.import_cursor(self.data, zid)
            self.errors.append(f"{e}: cursor {c}, {lines} lines, importer running: "
                               f"{watcher.poll() is None}")
        watcher.send_signal(signal.SIGTERM)
        watcher.wait(timeout=30)
        if watcher.returncode != 0:
            self.errors.append(f"importer --watch exited {watcher.returncode}: "
                               f"{self.watch_out.read_text()[-2000:]}")
        cursor = common.import_cursor(self.data, zid)["line"]
        reports = common.aux_count(self.data, b"r" + zid.to_bytes(2, "big"))
        stored = common.ip_listings(self.data, zid)
        want = {trap_subject(i) for i in range(cursor)}
        self.result.update({"trap_lines": lines, "trap_reports": reports})
        if not (cursor == lines == reports) or set(stored) != want:
            self.errors.append(f"importer: {lines} lines, cursor {cursor}, reports {reports}, "
                               f"{len(stored)} listed (want {len(want)})")

    def check_updates(self):
        if self.unsure:
            self.errors.append(f"{len(self.unsure)} API requests got no answer")
        d = self.daemon
        zid = common.zone_ids(self.data)[API_ZONE][0]
        stored = common.ip_listings(self.data, zid)
        listed = {s for s, st in self.model.items() if st is not None}
        if set(stored) != listed:
            self.errors.append(f"lost updates: stored-only {sorted(set(stored) - listed)[:10]}, "
                               f"acknowledged-only {sorted(listed - set(stored))[:10]}")
        api = []
        after = None
        while True:
            path = f"/api/v1/zones/{API_ZONE}/listings?limit=1000" + (f"&after={after}" if after else "")
            st, body = call(d.http_port, "GET", path, token=self.desk)
            if st != 200:
                raise Failure(f"GET {path}: {st}")
            api += [(x["subject"], x["reason"]) for x in body["listings"]]
            after = body["next"]
            if after is None:
                break
        want = {(s, st[0]) for s, st in self.model.items() if st is not None}
        if set(api) != want:
            self.errors.append(f"API listing list != acknowledged: {sorted(set(api) ^ want)[:10]}")
        wrong = []
        for subject, st in self.model.items():
            ans = harness.query(d.port, harness.qn(subject, API_ZONE))
            got = harness.a_values(ans) if ans.rcode() == dns.rcode.NOERROR else None
            if got != ([st[1]] if st else None):
                wrong.append((subject, st, got))
        if wrong:
            self.errors.append(f"DNS differs from acknowledged changes: {wrong[:10]}")
        self.result["subjects_checked"] = len(self.model)

    def check_memory(self):
        s = self.samples
        window = min(60.0, (self.seconds - WARMUP) / 3)
        end = s[-1][0] if s else 0
        first = [x["RssAnon"] for t, x in s if WARMUP <= t < WARMUP + window]
        last = [x["RssAnon"] for t, x in s if t >= end - window]
        if len(first) < 3 or len(last) < 3:
            self.errors.append(f"too few RSS samples: {len(first)}, {len(last)}")
            return
        a, b = statistics.median(first), statistics.median(last)
        growth = (b - a) / a
        self.result.update({
            "rss_anon_kib_first": a, "rss_anon_kib_last": b, "rss_anon_growth_pct":
            round(100 * growth, 2), "rss_window_s": round(window, 1),
            "rss_file_kib_last": s[-1][1]["RssFile"], "vm_rss_kib_last": s[-1][1]["VmRSS"],
            "vm_hwm_kib": s[-1][1]["VmHWM"], "rss_samples": len(s)})
        if abs(growth) > 0.05:
            self.errors.append(f"RssAnon median {a} KiB in the first window after warm-up, "
                               f"{b} KiB in the last: {100 * growth:+.1f}% (limit 5%)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=600)
    p.add_argument("--load", type=float, default=0.8, help="fraction of the maximum (0.8)")
    p.add_argument("--max-qps", type=float, default=None, help="skip the measurement")
    p.add_argument("--measure", type=float, default=5, help="seconds of the max measurement")
    p.add_argument("--changes", type=int, default=100, help="API adds (and removes) a second")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--json", help="write the figures here too")
    a = p.parse_args(argv)
    seed = a.seed if a.seed is not None else int.from_bytes(os.urandom(4), "big")
    with tempfile.TemporaryDirectory(prefix="rblzone-soak-") as tmp:
        try:
            result = Soak(Path(tmp), a.seconds, a.load, a.changes, a.max_qps, a.measure,
                          seed).run(lambda s: print(s, flush=True))
        except Failure as e:
            print(f"FAILED (seed {seed}): {e}", flush=True)
            return 1
    print(f"soak: ok {json.dumps(result)}", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
