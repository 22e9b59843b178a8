#!/usr/bin/python3
"""AXFR timing of one or more rblzoned binaries on the same data: the time to
the first message, the longest gap between two messages (what a secondary's
TCP I/O timeout sees) and the total, read raw over TCP. Used to compare a
build with the one before it on a data directory kept by run.py --keep.
A benchmark, not a test. Everything on 127.0.0.1.

usage: bench/transfer/axfr_gap.py --work DIR [--runs 3] BIN [BIN ...]
  DIR: a run.py --keep directory (data/, zones/); BIN: rblzoned binaries
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import HOST, axfr_timing, free_port, soa_serial  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("bins", nargs="+")
    a = ap.parse_args()
    results = {b: [] for b in a.bins}
    for _ in range(a.runs):  # interleaved, so the machine's load hits both alike
        for b in a.bins:
            port = free_port()
            p = subprocess.Popen([b, "--data-dir", str(a.work / "data"), "--zones",
                                  str(a.work / "zones"), "--dns-listen", f"{HOST}:{port}",
                                  "--http-listen", "", "--dns-threads", "1"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                while soa_serial(port) is None:
                    time.sleep(0.05)
                results[b].append(axfr_timing(port))
            finally:
                p.terminate()
                p.wait(60)
    for b, r in results.items():
        print(f"{b}: first message median {statistics.median(x[0] for x in r) * 1000:.0f} ms, "
              f"longest gap median {statistics.median(x[1] for x in r):.2f} s "
              f"(runs {[round(x[1], 2) for x in r]}), total median "
              f"{statistics.median(x[2] for x in r):.2f} s, {r[0][3]} messages")


if __name__ == "__main__":
    sys.exit(main())
