#!/usr/bin/python3
"""Crash consistency: SIGKILL rblzoned and a running importer at random
moments while they write, restart, and check that every acknowledged change
is there and that the store's parts agree. See docs/reliability.md.

    RBLZONE_BIN_DIR=build/cmd /usr/bin/python3 tests/reliability/crash.py --rounds 500

Each round, on one data directory kept across rounds:

1. start rblzoned (HTTP on), check what the previous round left (below),
   take an AXFR of api.test;
2. run, concurrently: three API writers, each owning 40 addresses of
   api.test (PUT with a unique reason and a random code, DELETE, a delist
   request approved by the desk; writer 0 also asks self-service removal of
   trap listings in traps.test); a trap-log writer appending one new address
   a line (some lines written in two parts); an importer loop running
   `rblzone import traplog traps.test LOG --batch 3` again and again;
3. SIGKILL the daemon and the importer, each at its own random moment in
   0.15..1.0 s.

What counts as acknowledged:
- an API change: its 2xx response. A request that got no response (the
  daemon died) may or may not have happened: both states are accepted, and
  the state seen after the restart becomes the new known state.
- the importer: a run that exited 0 acknowledges every line that was
  complete in the log before that run started. A killed run acknowledges
  nothing, but its committed cursor (read from the store) is what the next
  run resumes from, so we check the cursor against the reports: exactly one
  report per line before it, none after.

Checks after each restart (any failure raises AssertionError):
- `rblzone status` opens the store; `rblzone check` agrees with the API;
- every acknowledged API change is the subject's state (or a later
  unacknowledged one is), via the API, history's last listing event, and DNS;
- the committed import cursor covers every acknowledged line and never moves
  back; reports in traps.test == lines before it; every line before it is
  listed (unless delisted by an acknowledged self-service request), none
  after it, in the store and in DNS;
- per zone: journal's last serial == the zone's serial == the SOA serial
  DNS serves; replaying the whole journal gives exactly the stored listings
  (subjects and bytes); the API's listing list is the stored set;
- IXFR of api.test from the serial before the round, applied to the AXFR
  taken then, equals a fresh AXFR, whose names are the stored listings.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.xfr  # noqa: E402
import dns.zone  # noqa: E402

import common  # noqa: E402
from common import Failure, NoAnswer, call, trap_subject  # noqa: E402

harness = common.harness

API_ZONE = "api.test"
TRAP_ZONE = "traps.test"
WRITERS = 3
SUBJECTS_PER_WRITER = 40
CODES = ["127.0.0.2", "127.0.0.4"]
TRAP_CODE = "127.0.0.3"
LISTED = "listed"  # a trap listing's state in the model (its reason is the policy's)


def api_subject(writer: int, i: int) -> str:
    return f"60.{writer + 1}.{i // 200}.{i % 200 + 1}"


class Model:
    """What the store may hold. For each API subject the states an
    acknowledged history allows: [last acknowledged] + unacknowledged later
    ones. State: None (not listed) or (reason, code)."""

    def __init__(self):
        self.api: dict[str, list] = {api_subject(w, i): [None] for w in range(WRITERS)
                                     for i in range(SUBJECTS_PER_WRITER)}
        self.touched: set[str] = set()
        self.lines_written = 0  # complete lines in the log
        self.lines_acked = 0  # lines an importer run that exited 0 covered
        self.cursor_line = 0  # the committed cursor seen at the last check
        self.checked_line = 0  # trap lines checked in DNS so far
        self.trap_delisted: dict[str, list] = {}  # subject -> acceptable [LISTED|None]
        self.acked = 0  # acknowledged API changes in this round
        self.errors: list[str] = []
        self.lock = threading.Lock()


class Round:
    def __init__(self, run: "Run", rng: random.Random):
        self.run = run
        self.rng = rng
        self.stop = threading.Event()
        self.importer_lock = threading.Lock()
        self.importer_proc: subprocess.Popen | None = None
        self.importer_stopped = False

    # --- API writers ------------------------------------------------------------------

    def api_writer(self, w: int, seed: int):
        rng = random.Random(seed)
        m = self.run.model
        port = self.run.daemon.http_port
        desk = self.run.tokens["desk"]
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                pick = rng.random()
                if w == 0 and pick < 0.1:
                    self.self_delist(rng, port)
                    continue
                subject = api_subject(w, rng.randrange(SUBJECTS_PER_WRITER))
                with m.lock:
                    m.touched.add(subject)
                path = f"/api/v1/zones/{API_ZONE}/listings/{subject}"
                if pick < 0.55:
                    state = (f"r{self.run.round}-w{w}-{n}", rng.choice(CODES))
                    self.change(subject, state, lambda: call(
                        port, "PUT", path, {"reason": state[0], "code": state[1]}, desk),
                        {200, 201}, set())
                elif pick < 0.8:
                    self.change(subject, None, lambda: call(
                        port, "DELETE", path, {"reason": f"gone r{self.run.round}"}, desk),
                        {200}, {404})
                else:
                    st, body = call(port, "POST", f"/api/v1/zones/{API_ZONE}/delist-requests",
                                    {"subject": subject, "contact": "noc@example.net",
                                     "explanation": "fixed"})
                    if st not in (200, 201):
                        self.fail(f"delist request {subject}: {st} {body}")
                        return
                    if body["status"] != "pending":
                        if body["status"] != "not_listed":
                            self.fail(f"delist request {subject}: {body}")
                        continue
                    rid = body["id"]
                    self.change(subject, None, lambda: call(
                        port, "POST", f"/api/v1/delist-requests/{rid}/approve",
                        {"reason": "approved"}, desk), {200}, {409})
        except NoAnswer:
            return  # the daemon died under us; the model already holds both outcomes

    def change(self, subject, state, send, ok_codes, refused_codes):
        """One write: its state is possible from the moment it is sent, and the
        only one once acknowledged."""
        m = self.run.model
        with m.lock:
            before = list(m.api[subject])
            if state not in m.api[subject]:
                m.api[subject].append(state)
        try:
            st, body = send()
        except NoAnswer:
            raise
        with m.lock:
            if st in ok_codes:
                m.api[subject] = [state]
                m.acked += 1
            elif st in refused_codes:
                m.api[subject] = before
            else:
                m.api[subject] = before
                self.fail(f"{subject}: unexpected {st} {body}")

    def self_delist(self, rng, port):
        m = self.run.model
        with m.lock:
            candidates = [trap_subject(i) for i in range(min(m.cursor_line, m.lines_written))]
            candidates = [s for s in candidates if s not in m.trap_delisted]
            if not candidates:
                return
            subject = rng.choice(candidates)
            m.trap_delisted[subject] = [LISTED, None]
        st, body = call(port, "POST", f"/api/v1/zones/{TRAP_ZONE}/delist-requests",
                        {"subject": subject, "contact": "noc@example.net", "explanation": "fixed"})
        with m.lock:
            if st == 201 and body.get("status") == "approved" and body.get("self_service"):
                m.trap_delisted[subject] = [None]
                m.acked += 1
            else:
                self.fail(f"self-service delist {subject}: {st} {body}")

    def fail(self, what):
        with self.run.model.lock:
            self.run.model.errors.append(f"round {self.run.round}: {what}")
        self.stop.set()

    # --- trap log writer and importer ---------------------------------------------------

    def log_writer(self, seed: int):
        rng = random.Random(seed)
        m = self.run.model
        with open(self.run.log, "a") as f:
            while not self.stop.is_set():
                line = f"{int(time.time())},{trap_subject(m.lines_written)},trap-{rng.randrange(4)},e\n"
                if rng.random() < 0.3:  # a line being written: the importer must leave it
                    cut = rng.randrange(1, len(line) - 1)
                    f.write(line[:cut])
                    f.flush()
                    time.sleep(rng.uniform(0.001, 0.03))
                    f.write(line[cut:])
                else:
                    f.write(line)
                f.flush()
                with m.lock:
                    m.lines_written += 1
                time.sleep(rng.uniform(0.01, 0.06))

    def importer_loop(self):
        m = self.run.model
        while True:
            with self.importer_lock:
                if self.importer_stopped:
                    return
                with m.lock:
                    covers = m.lines_written
                self.importer_proc = subprocess.Popen(
                    self.run.cli.argv("import", "traplog", TRAP_ZONE, self.run.log, "--batch", "3",
                                      "--no-progress", as_json=True),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                proc = self.importer_proc
            out, err = proc.communicate()
            if proc.returncode == -signal.SIGKILL:
                return
            if proc.returncode != 0:
                self.fail(f"importer exited {proc.returncode}: {err[-2000:]}")
                return
            with m.lock:
                m.lines_acked = max(m.lines_acked, covers)
            time.sleep(0.02)

    def kill_importer(self):
        with self.importer_lock:
            self.importer_stopped = True
            if self.importer_proc is not None and self.importer_proc.poll() is None:
                self.importer_proc.kill()

    def run_writers(self):
        rng = self.rng
        threads = [threading.Thread(target=self.api_writer, args=(w, rng.randrange(1 << 30)))
                   for w in range(WRITERS)]
        threads.append(threading.Thread(target=self.log_writer, args=(rng.randrange(1 << 30),)))
        threads.append(threading.Thread(target=self.importer_loop))
        t_daemon, t_importer = rng.uniform(0.15, 1.0), rng.uniform(0.15, 1.0)
        for t in threads:
            t.start()
        start = time.monotonic()
        for at, what in sorted([(t_daemon, "daemon"), (t_importer, "importer")]):
            time.sleep(max(0.0, start + at - time.monotonic()))
            if what == "daemon":
                self.run.daemon.proc.kill()
            else:
                self.kill_importer()
        self.run.daemon.proc.wait()
        self.stop.set()
        for t in threads:
            t.join(30)
            if t.is_alive():
                raise Failure(f"round {self.run.round}: a writer thread hangs")


class Run:
    def __init__(self, workdir: Path, seed: int, verbose: bool = False):
        self.workdir = Path(workdir)
        self.rng = random.Random(seed)
        self.seed = seed
        self.verbose = verbose
        self.zones = harness.write_zones(self.workdir / "zones", names=[], extra={
            API_ZONE: common.ip_zone(API_ZONE), TRAP_ZONE: common.ip_zone(TRAP_ZONE)})
        self.data = self.workdir / "data"
        self.config = self.workdir / "rblzoned.toml"
        self.config.write_text(common.DAEMON_CONFIG)
        self.cli = harness.Cli(self.data, self.zones)
        self.tokens = {"desk": self.cli.ok("token", "create", "desk", "--role", "desk").strip()}
        self.log = self.workdir / "traps.csv"
        self.log.write_text("")
        self.model = Model()
        self.daemon: harness.Daemon | None = None
        self.round = 0
        self.before_zone: dns.zone.Zone | None = None
        self.stats = {"rounds": 0, "api_acked": 0, "api_checked": 0, "trap_lines_acked": 0,
                      "trap_lines_checked": 0, "journal_entries": 0, "seconds": 0.0}

    def start_daemon(self):
        self.daemon = harness.Daemon(self.workdir, self.data, self.zones, config=self.config,
                                     http=True, probe_zone=API_ZONE)
        self.daemon.start()

    # --- checks ---------------------------------------------------------------------

    def check(self):
        m, d = self.model, self.daemon
        if m.errors:
            raise Failure("\n".join(m.errors))
        r = self.cli.run("status", as_json=True)
        if r.returncode != 0:
            raise Failure(f"rblzone status: rc {r.returncode}: {r.stderr}")
        status = json.loads(r.stdout)
        ids = common.zone_ids(self.data)
        for zone in (API_ZONE, TRAP_ZONE):
            zid, serial = ids[zone]
            soa = harness.query(d.port, zone, "SOA").answer[0][0].serial
            shown = {z["name"]: z["serial"] for z in status["store"]["zones"]}[zone]
            if not soa == shown == serial:
                raise Failure(f"{zone}: serial in store {serial}, status {shown}, SOA {soa}")
            entries = common.journal(self.data, zid)
            stored = common.ip_listings(self.data, zid)
            if entries and entries[-1][0] != serial:
                raise Failure(f"{zone}: journal ends at {entries[-1][0]}, zone serial {serial}")
            replayed = common.replay(entries)
            if replayed != stored:
                raise Failure(f"{zone}: journal replay != stored listings: only in journal "
                              f"{sorted(set(replayed) - set(stored))[:10]}, only stored "
                              f"{sorted(set(stored) - set(replayed))[:10]}, differing "
                              f"{[s for s in stored if s in replayed and replayed[s] != stored[s]][:10]}")
            if set(self.api_list(zone)) != set(stored):
                raise Failure(f"{zone}: API listing list != stored listings")
            self.stats["journal_entries"] = max(self.stats["journal_entries"], len(entries))
            if zone == API_ZONE:
                self.check_api(stored)
            else:
                self.check_traps(zid, stored)
        self.check_ixfr(set(common.ip_listings(self.data, ids[API_ZONE][0])))

    def api_list(self, zone):
        out, after = [], None
        while True:
            path = f"/api/v1/zones/{zone}/listings?limit=1000" + (f"&after={after}" if after else "")
            st, body = call(self.daemon.http_port, "GET", path, token=self.tokens["desk"])
            if st != 200:
                raise Failure(f"GET {path}: {st} {body}")
            out += [x["subject"] for x in body["listings"]]
            after = body["next"]
            if after is None:
                return out

    def check_api(self, stored):
        m, port, desk = self.model, self.daemon.http_port, self.tokens["desk"]
        for subject, states in m.api.items():
            if subject not in m.touched and len(states) == 1:
                expect_listed = states[0] is not None
                if (subject in stored) != expect_listed:
                    raise Failure(f"{subject} (untouched) stored {subject in stored}, "
                                  f"model {states}")
        for subject in sorted(m.touched):
            st, body = call(port, "GET", f"/api/v1/zones/{API_ZONE}/listings/{subject}", token=desk)
            if st == 200:
                seen = (body["reason"], body["codes"][0])
            elif st == 404:
                seen = None
            else:
                raise Failure(f"GET listing {subject}: {st} {body}")
            if seen not in m.api[subject]:
                raise Failure(f"round {self.round}: {subject} is {seen}, acknowledged history "
                              f"allows only {m.api[subject]}")
            if (seen is not None) != (subject in stored):
                raise Failure(f"{subject}: API says {seen}, store has it: {subject in stored}")
            m.api[subject] = [seen]
            self.check_history(API_ZONE, subject, body if st == 200 else None)
            ans = harness.query(self.daemon.port, harness.qn(subject, API_ZONE))
            got = harness.a_values(ans) if ans.rcode() == dns.rcode.NOERROR else None
            if got != ([seen[1]] if seen else None):
                raise Failure(f"{subject}: DNS {dns.rcode.to_text(ans.rcode())} {got}, API {seen}")
            self.stats["api_checked"] += 1
        # The CLI's own lookup for one of them.
        if m.touched:
            subject = sorted(m.touched)[0]
            rc = self.cli.run("check", API_ZONE, subject).returncode
            if rc != (0 if m.api[subject][0] else 1):
                raise Failure(f"rblzone check {subject}: rc {rc}, model {m.api[subject]}")
        m.touched.clear()

    def check_history(self, zone, subject, listing):
        st, body = call(self.daemon.http_port, "GET", f"/api/v1/zones/{zone}/history/{subject}",
                        token=self.tokens["desk"])
        if st != 200:
            raise Failure(f"history {subject}: {st} {body}")
        changes = [e for e in body["events"] if e["before"] is not None or e["after"] is not None]
        last = changes[-1]["after"] if changes else None
        if listing is None:
            if last is not None:
                raise Failure(f"{zone} {subject}: not listed, history's last event "
                              f"{changes[-1]}")
        else:
            want = {k: v for k, v in listing.items() if k not in ("active", "subject", "zone",
                                                                  "offence_score")}
            if last != want:
                raise Failure(f"{zone} {subject}: listing {want}, history's last event "
                              f"{changes[-1] if changes else None}")

    def check_traps(self, zid, stored):
        m = self.model
        cursor = common.import_cursor(self.data, zid)
        line = cursor["line"] if cursor else 0
        if line < m.lines_acked:
            raise Failure(f"import cursor at line {line}, runs that exited 0 covered "
                          f"{m.lines_acked} lines")
        if line < m.cursor_line:
            raise Failure(f"import cursor moved back from {m.cursor_line} to {line}")
        if line > m.lines_written:
            raise Failure(f"import cursor at line {line}, only {m.lines_written} written")
        reports = common.aux_count(self.data, b"r" + zid.to_bytes(2, "big"))
        if reports != line:
            raise Failure(f"{reports} reports stored for {line} lines before the cursor "
                          "(each line is one report: counted twice or lost)")
        for subject, states in list(m.trap_delisted.items()):
            seen = LISTED if subject in stored else None
            if seen not in states:
                raise Failure(f"{TRAP_ZONE} {subject}: {seen}, acknowledged {states}")
            m.trap_delisted[subject] = [seen]
        want = {trap_subject(i) for i in range(line)} - {
            s for s, st in m.trap_delisted.items() if st == [None]}
        if want != set(stored):
            raise Failure(f"{TRAP_ZONE}: stored listings differ from lines before the cursor: "
                          f"missing {sorted(want - set(stored))[:10]}, extra "
                          f"{sorted(set(stored) - want)[:10]}")
        m.cursor_line = line
        for i in range(m.checked_line, m.lines_written):
            subject = trap_subject(i)
            listed = subject in want
            ans = harness.query(self.daemon.port, harness.qn(subject, TRAP_ZONE))
            got = harness.a_values(ans) if ans.rcode() == dns.rcode.NOERROR else None
            if got != ([TRAP_CODE] if listed else None):
                raise Failure(f"{TRAP_ZONE} line {i} {subject}: DNS {got}, listed {listed}")
            if listed:
                st, body = call(self.daemon.http_port, "GET",
                                f"/api/v1/zones/{TRAP_ZONE}/listings/{subject}",
                                token=self.tokens["desk"])
                self.check_history(TRAP_ZONE, subject, body if st == 200 else None)
            self.stats["trap_lines_checked"] += 1
        m.checked_line = m.lines_written
        self.stats["trap_lines_acked"] = m.lines_acked

    def take_zone(self) -> dns.zone.Zone:
        return dns.zone.from_xfr(dns.query.xfr(harness.HOST, API_ZONE, port=self.daemon.port,
                                               timeout=10, lifetime=30))

    def check_ixfr(self, stored):
        fresh = self.take_zone()
        # RFC 5782 test points (127.0.0.2, ::ffff:7f00:2) are in every IP zone.
        points = {harness.rev("127.0.0.2"), harness.rev("::ffff:7f00:2")}
        names = {n.to_text() for n in fresh.nodes} - points - {"@"}
        # An IPv4 listing is served under its v4-mapped IPv6 name too.
        want = {harness.rev(s) for s in stored} | {harness.rev(f"::ffff:{s}") for s in stored}
        if names != want:
            raise Failure(f"AXFR names {sorted(names - want)[:5]} extra, "
                          f"{sorted(want - names)[:5]} missing")
        if self.before_zone is not None:
            z = self.before_zone
            q, _ = dns.xfr.make_query(z)
            dns.query.inbound_xfr(harness.HOST, z, q, port=self.daemon.port, timeout=10,
                                  lifetime=30)
            if z != fresh:
                a = set(z.to_text().splitlines())
                b = set(fresh.to_text().splitlines())
                raise Failure(f"IXFR result != AXFR: only IXFR {sorted(a - b)[:5]}, "
                              f"only AXFR {sorted(b - a)[:5]}")
        self.before_zone = fresh

    # --- the run ----------------------------------------------------------------------

    def checked(self):
        try:
            self.check()
        except Failure as e:
            raise Failure(f"after round {self.round - 1}: {e}") from None

    def run(self, rounds: int, report=print):
        t0 = time.monotonic()
        try:
            for self.round in range(1, rounds + 1):
                self.start_daemon()
                self.checked()
                self.model.acked = 0
                Round(self, self.rng).run_writers()
                self.stats["api_acked"] += self.model.acked
                self.stats["rounds"] += 1
                if self.verbose or self.round % 50 == 0:
                    report(f"round {self.round}: {self.stats}")
            self.round = rounds + 1
            self.start_daemon()
            self.checked()
        finally:
            if self.daemon is not None and self.daemon.running():
                rc = self.daemon.stop()
                if rc != 0:
                    raise Failure(f"rblzoned exited {rc} after SIGTERM:\n{self.daemon.log()[-3000:]}")
        self.stats["seconds"] = round(time.monotonic() - t0, 1)
        return self.stats


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--workdir", help="keep the data here (default: a temporary directory)")
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args(argv)
    seed = a.seed if a.seed is not None else int.from_bytes(os.urandom(4), "big")
    print(f"crash: {a.rounds} rounds, seed {seed}, binaries {harness.BIN_DIR}", flush=True)
    with tempfile.TemporaryDirectory(prefix="rblzone-crash-") as tmp:
        work = Path(a.workdir) if a.workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        try:
            stats = Run(work, seed, a.verbose).run(a.rounds, lambda s: print(s, flush=True))
        except Failure as e:
            print(f"FAILED (seed {seed}): {e}", flush=True)
            return 1
    print(f"crash: ok {json.dumps(stats)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
