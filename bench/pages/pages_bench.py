#!/usr/bin/python3
"""Latency of the pages against the JSON API in the same run (docs/performance.md).

Loads N listings into one zone with `rblzone listing load` (so N history
events), starts rblzoned on loopback, and times sequential keep-alive
requests from one client: the JSON lookup (the peer), the HTML lookup page
(all zones), and the console's activity feed (which reads the zone's whole
history). Prints the median and p90 in ms per endpoint for each run.

usage: bench/pages/pages_bench.py [--listings 100000] [--runs 3] [--bin build/cmd]
"""
import argparse
import http.client
import ipaddress
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ZONE = """name = "bl.test"
kind = "ip"
"""


def timed(conn, path, headers, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        r.read()
        out.append((time.perf_counter() - t) * 1000)
        assert r.status == 200, (path, r.status)
    out.sort()
    return statistics.median(out), out[int(len(out) * 0.9)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listings", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin", default="build/cmd")
    a = ap.parse_args()
    bin_dir = Path(a.bin).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "zones").mkdir()
        (tmp / "zones" / "bl.test.toml").write_text(ZONE)
        base = int(ipaddress.ip_address("11.0.0.0"))
        lines = "".join(f"{ipaddress.ip_address(base + i)} 127.0.0.2 bench listing\n"
                        for i in range(a.listings))
        cli = [str(bin_dir / "rblzone"), "--data-dir", str(tmp / "data"), "--zones",
               str(tmp / "zones")]
        loaded = subprocess.run(cli + ["listing", "load", "bl.test", "-"], input=lines,
                                text=True, check=True, capture_output=True)
        assert f"loaded {a.listings} listings" in loaded.stdout + loaded.stderr, loaded.stdout
        token = subprocess.run(cli + ["token", "create", "bench", "--role", "desk"], text=True,
                               check=True, capture_output=True).stdout.strip()
        (tmp / "d.toml").write_text("[http]\npublic_per_minute = 0\n")
        log = open(tmp / "log", "w")
        d = subprocess.Popen([str(bin_dir / "rblzoned"), "--config", str(tmp / "d.toml"),
                              "--data-dir", str(tmp / "data"), "--zones", str(tmp / "zones"),
                              "--dns-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                              "--dns-threads", "1"], stdout=log, stderr=subprocess.STDOUT)
        try:
            port = None
            for _ in range(200):
                m = re.search(r"HTTP listening on 127\.0\.0\.1:(\d+)", (tmp / "log").read_text())
                if m:
                    port = int(m.group(1))
                    break
                time.sleep(0.05)
            assert port, (tmp / "log").read_text()
            subject = str(ipaddress.ip_address(base + a.listings // 2))
            auth = {"Authorization": f"Bearer {token}"}
            print(f"{a.listings} listings/history events; median / p90 ms, sequential, keep-alive")
            for run in range(a.runs):
                conn = http.client.HTTPConnection("127.0.0.1", port)
                j = timed(conn, f"/api/v1/zones/bl.test/lookup/{subject}", {}, 500)
                h = timed(conn, f"/lookup/{subject}", {}, 500)
                act = timed(conn, "/api/v1/zones/bl.test/activity?limit=50&hours=24", auth, 10)
                conn.close()
                print(f"run {run + 1}: json lookup {j[0]:.3f} / {j[1]:.3f}   "
                      f"html lookup {h[0]:.3f} / {h[1]:.3f}   activity {act[0]:.1f} / {act[1]:.1f}")
        finally:
            d.terminate()
            d.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
