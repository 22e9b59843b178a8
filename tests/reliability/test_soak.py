"""CI run of the soak driver (soak.py) for 60 s: dnsperf at 80% of the
measured maximum while the API adds and removes 100 listings a second and
an importer runs; no server error, no lost update, RssAnon stable within
5%. ctest registers it for the normal build only (sanitizers change both
speed and memory). The long mode is `soak.py --seconds 600`.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import soak  # noqa: E402

SECONDS = float(os.environ.get("RBLZONE_SOAK_SECONDS", "60"))


def test_soak(tmp_path):
    seed = random.randrange(1 << 32)
    print(f"seed {seed}")
    result = soak.Soak(tmp_path, SECONDS, 0.8, 100, None, 5, seed).run()
    print(result)
    assert result["completed"] > 0 and result["api_acked"] > 0 and result["trap_reports"] > 0
    assert not [k for k in result["rcodes"] if k not in ("NOERROR", "NXDOMAIN")]
    assert abs(result["rss_anon_growth_pct"]) <= 5
