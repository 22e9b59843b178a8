#!/usr/bin/python3
"""Transfer benchmark (issue 6): AXFR time for N listings, the lag from a
change made with the CLI to a Knot secondary answering it (NOTIFY + transfer),
and queries per second of that secondary next to rblzoned's, with dnsperf.
A benchmark, not a test: never run from ctest. Everything on 127.0.0.1.

usage: bench/transfer/run.py [--size 1M] [--runs 3] [--seconds 10] [--keep]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BUILD_DIR", ROOT / "build"))
RBLZONE = BUILD / "cmd" / "rblzone"
RBLZONED = BUILD / "cmd" / "rblzoned"
ZONE = "bl.bench"
HOST = "127.0.0.1"


def size_arg(text: str) -> int:
    m = re.fullmatch(r"(\d+)([kKmM]?)", text)
    if not m:
        raise argparse.ArgumentTypeError("a count like 250k, 1M, 10M")
    return int(m.group(1)) * {"": 1, "k": 1000, "K": 1000, "m": 10**6, "M": 10**6}[m.group(2)]


def free_port() -> int:
    while True:
        with socket.socket() as t:
            t.bind((HOST, 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind((HOST, port))
                    return port
                except OSError:
                    continue


def v4(rng) -> str:
    while True:
        a = rng.randint(11, 223)
        if a not in (127, 100, 169, 172, 192, 198, 203):
            return f"{a}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"


def soa_serial(port):
    try:
        r = dns.query.udp(dns.message.make_query(ZONE, "SOA"), HOST, port=port, timeout=0.5)
        return r.answer[0][0].serial if r.answer else None
    except Exception:  # noqa: BLE001 - not up yet
        return None


def listed(port, addr):
    name = ".".join(reversed(addr.split("."))) + "." + ZONE
    try:
        r = dns.query.udp(dns.message.make_query(name, "A"), HOST, port=port, timeout=0.5)
        return r.rcode() == dns.rcode.NOERROR and bool(r.answer)
    except Exception:  # noqa: BLE001
        return False


def axfr_timing(port) -> tuple[float, float, float, int]:
    """One AXFR read raw over TCP (rblzoned closes its side after the last
    message): (seconds to the first message, longest gap between two
    messages, total seconds, messages)."""
    q = dns.message.make_query(ZONE, "AXFR").to_wire()
    t0 = time.monotonic()
    arrivals = []
    with socket.create_connection((HOST, port), timeout=600) as sock:
        sock.sendall(len(q).to_bytes(2, "big") + q)
        f = sock.makefile("rb", buffering=1 << 20)
        while True:
            head = f.read(2)
            if len(head) < 2:
                break
            body = f.read(int.from_bytes(head, "big"))
            arrivals.append(time.monotonic())
            if not body:
                break
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    return arrivals[0] - t0, max(gaps, default=0.0), arrivals[-1] - t0, len(arrivals)


def dnsperf(port, qfile, seconds) -> float:
    out = subprocess.run(["dnsperf", "-s", HOST, "-p", str(port), "-d", str(qfile), "-l",
                          str(seconds), "-c", "4", "-q", "200"], capture_output=True, text=True,
                         check=True).stdout
    return float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=size_arg, default=10**6)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--knot-workers", type=int, default=0,
                    help="Knot's udp-, tcp- and background-workers (0: Knot's defaults)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rblzone-xfr-bench-"))
    procs = []
    try:
        rng = random.Random(1)
        hosts = [v4(rng) for _ in range(a.size)]
        nets = [v4(rng).rsplit(".", 1)[0] + ".0/24" for _ in range(a.size // 100)]
        (work / "load.txt").write_text("\n".join(hosts + nets) + "\n")
        knot_port, port = free_port(), free_port()
        zones = work / "zones"
        zones.mkdir()
        (zones / f"{ZONE}.toml").write_text(
            f'name = "{ZONE}"\nkind = "ip"\n[transfer]\nallow = ["127.0.0.0/8"]\n'
            f'notify = ["{HOST}:{knot_port}"]\n')
        cli = [str(RBLZONE), "--data-dir", str(work / "data"), "--zones", str(zones)]
        t = time.monotonic()
        subprocess.run(cli + ["listing", "load", ZONE, str(work / "load.txt"), "--permanent",
                              "--force"], check=True, capture_output=True)
        print(f"listings: {a.size} hosts + {len(nets)} /24s, loaded in "
              f"{time.monotonic() - t:.1f} s")
        log = open(work / "rblzoned.log", "wb")
        procs.append(subprocess.Popen([str(RBLZONED), "--data-dir", str(work / "data"), "--zones",
                                       str(zones), "--dns-listen", f"{HOST}:{port}",
                                       "--http-listen", "", "--dns-threads", "1"],
                                      stdout=log, stderr=subprocess.STDOUT))
        while soa_serial(port) is None:
            time.sleep(0.05)

        axfr = []
        for _ in range(a.runs):
            t = time.monotonic()
            # Only kdig's closing statistics are kept: at 10M listings the
            # zone text is several GB.
            r = subprocess.run(f"kdig @{HOST} -p {port} +tcp +timeout=120 {ZONE} AXFR | tail -n 8",
                               shell=True, capture_output=True, text=True, check=True)
            axfr.append(time.monotonic() - t)
            m = re.search(r"Received (\d+) B \((\d+) messages, (\d+) records\)", r.stdout)
        print(f"AXFR to kdig: median {statistics.median(axfr):.2f} s of {[round(x, 2) for x in axfr]}"
              f" ({m.group(3)} records, {int(m.group(1)) / 1e6:.0f} MB, {m.group(2)} messages)")
        timing = [axfr_timing(port) for _ in range(a.runs)]
        print("AXFR read raw: first message after median "
              f"{statistics.median(t[0] for t in timing) * 1000:.0f} ms, longest gap between "
              f"messages median {statistics.median(t[1] for t in timing) * 1000:.0f} ms (max "
              f"{max(t[1] for t in timing) * 1000:.0f} ms), total median "
              f"{statistics.median(t[2] for t in timing):.2f} s, {timing[0][3]} messages")

        kd = work / "knot"
        w = a.knot_workers
        workers = (f"    udp-workers: {w}\n    tcp-workers: {w}\n    background-workers: {w}\n"
                   if w else "")
        (kd / "db").mkdir(parents=True)
        (kd / "knot.conf").write_text(f"""\
server:
    rundir: "{kd}"
    listen: {HOST}@{knot_port}
{workers}    # Knot's defaults otherwise: rblzoned streams the AXFR (no long silence),
    # so the default tcp-remote-io-timeout (5 s) is enough at any size.
log:
  - target: stdout
    any: info
database:
    storage: "{kd / 'db'}"
remote:
  - id: primary
    address: {HOST}@{port}
acl:
  - id: notify
    address: 127.0.0.0/8
    action: notify
template:
  - id: default
    storage: "{kd}"
    zonefile-sync: -1
    zonefile-load: none
    journal-content: none
    semantic-checks: off
zone:
  - domain: {ZONE}
    master: primary
    acl: notify
""")
        t = time.monotonic()
        procs.append(subprocess.Popen(["knotd", "-c", str(kd / "knot.conf")],
                                      stdout=open(kd / "knot.log", "wb"), stderr=subprocess.STDOUT))
        want = soa_serial(port)
        while soa_serial(knot_port) != want:
            time.sleep(0.05)
        print(f"Knot initial transfer (start to serving): {time.monotonic() - t:.2f} s")

        lags = []
        for i in range(5):
            addr = f"45.{i}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            t = time.monotonic()
            subprocess.run(cli + ["listing", "add", ZONE, addr], check=True, capture_output=True)
            while not listed(knot_port, addr):
                time.sleep(0.01)
            lags.append(time.monotonic() - t)
            time.sleep(1.2)  # past the 1 s NOTIFY coalescing, so each change is measured alone
        print(f"change -> Knot answers (CLI add, NOTIFY, IXFR, Knot applies): median "
              f"{statistics.median(lags):.2f} s of {[round(x, 2) for x in lags]}")
        knot_log = (kd / "knot.log").read_text(errors="replace")
        print("Knot's own 'zone updated' times (s), the first is the AXFR: " + ", ".join(
            re.findall(r"zone updated, ([\d.]+) seconds", knot_log)))

        qfile = work / "queries.txt"
        names = []
        for i in range(100000):
            addr = rng.choice(hosts) if i % 2 else v4(rng)
            names.append(".".join(reversed(addr.split("."))) + f".{ZONE} A")
        qfile.write_text("\n".join(names) + "\n")
        qps = {"rblzoned": [], "knot": []}
        for _ in range(a.runs):
            qps["rblzoned"].append(dnsperf(port, qfile, a.seconds))
            qps["knot"].append(dnsperf(knot_port, qfile, a.seconds))
        for k, v in qps.items():
            print(f"qps {k}: median {statistics.median(v):.0f} of {[round(x) for x in v]}")
    finally:
        for p in procs:
            p.terminate()
            p.wait(120)
        if a.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
