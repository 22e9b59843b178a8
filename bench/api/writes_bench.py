#!/usr/bin/python3
"""Admin API write throughput by number of concurrent clients (docs/performance.md).

Starts rblzoned on loopback over one empty zone, then for each client count
C runs C threads, each on its own kept-alive connection, PUTting listings of
new addresses as fast as the answers come for --seconds, and prints the
acknowledged PUTs a second (every answer must be 2xx). Every write is synced
before its answer, so one client gets one sync per request; with group
commit (docs/store.md) concurrent clients share syncs and the rate grows
with C until the CPU, not the disk, is the limit. --bin OTHER runs another
build the same way in the same invocation, for a before/after ratio.

usage: bench/api/writes_bench.py [--clients 1,4,16] [--seconds 5] [--runs 3]
                                 [--bin build/cmd] [--bin OTHER ...]
"""
import argparse
import http.client
import ipaddress
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ZONE = 'name = "bl.test"\nkind = "ip"\n'


def start(bin_dir: Path, tmp: Path):
    (tmp / "zones").mkdir()
    (tmp / "zones" / "bl.test.toml").write_text(ZONE)
    cli = [str(bin_dir / "rblzone"), "--data-dir", str(tmp / "data"), "--zones", str(tmp / "zones")]
    token = subprocess.run(cli + ["token", "create", "bench", "--role", "desk"], text=True,
                           check=True, capture_output=True).stdout.strip()
    (tmp / "d.toml").write_text("[http]\npublic_per_minute = 0\n")
    log = open(tmp / "log", "w")
    d = subprocess.Popen([str(bin_dir / "rblzoned"), "--config", str(tmp / "d.toml"),
                          "--data-dir", str(tmp / "data"), "--zones", str(tmp / "zones"),
                          "--dns-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                          "--dns-threads", "1"],
                         stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        m = re.search(r"HTTP listening on 127\.0\.0\.1:(\d+)", (tmp / "log").read_text())
        if m:
            return d, int(m.group(1)), token
        time.sleep(0.05)
    d.kill()
    raise RuntimeError((tmp / "log").read_text())


def run(port, token, clients, seconds, first):
    """C clients PUT for `seconds`; returns acknowledged PUTs a second."""
    counts = [0] * clients
    errors = []
    stop = time.monotonic() + seconds

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        n = 0
        while time.monotonic() < stop:
            subject = ipaddress.ip_address(first + i * 1_000_000 + n)
            conn.request("PUT", f"/api/v1/zones/bl.test/listings/{subject}",
                         body=json.dumps({"reason": "bench"}), headers=headers)
            r = conn.getresponse()
            r.read()
            if r.status not in (200, 201):
                errors.append(r.status)
                return
            n += 1
        counts[i] = n
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    if errors:
        raise RuntimeError(f"non-2xx answers: {errors[:5]}")
    return sum(counts) / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin", action="append", default=None)
    a = ap.parse_args()
    bins = [Path(b).resolve() for b in (a.bin or ["build/cmd"])]
    clients = [int(c) for c in a.clients.split(",")]
    print(f"acknowledged PUTs a second, {a.seconds:g} s each, median of {a.runs} (all runs)")
    for bin_dir in bins:
        with tempfile.TemporaryDirectory() as tmp:
            d, port, token = start(bin_dir, Path(tmp))
            try:
                first = int(ipaddress.ip_address("11.0.0.0"))
                for c in clients:
                    rates = []
                    for _ in range(a.runs):
                        rates.append(run(port, token, c, a.seconds, first))
                        first += 16_000_000
                    print(f"{bin_dir}: {c:3d} clients: {statistics.median(rates):8.0f}  "
                          f"({', '.join(f'{r:.0f}' for r in rates)})")
            finally:
                d.terminate()
                d.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
