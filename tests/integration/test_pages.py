"""The public pages and the abuse-desk console in a real browser: Debian's
chromium, headless, driven by playwright-core (tests/browser/pages.mjs)
against rblzoned on loopback. Screenshots go to BUILD/test-output/pages/.

Needs /usr/bin/chromium, node and tests/browser/node_modules (`scripts/install-deps
--test` installs all three); when one is missing the test fails, it does not skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest

from harness import BIN_DIR, SOURCE_DIR, Cli, DaemonPool, a_values, qn, query, write_zones

BROWSER_DIR = SOURCE_DIR / "tests" / "browser"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
OUT = Path(os.environ.get("RBLZONE_TEST_OUTPUT", BIN_DIR.parent / "test-output")) / "pages"

ZONE = "dnsbl.test"
LISTED = "192.0.2.7"          # inside a manual /24: the desk decides its delisting
UNLISTED = "203.0.113.99"
XSS = "192.0.2.66"
XSS_REASON = "<script>window.__xss=1;alert(1)</script><img src=x onerror=alert(2)> & \"quotes\""
# Manual listings in another zone, each with a delist request waiting for
# the desk before the browser starts: more than the console's page of 100.
SEEDED = [f"198.51.100.{i}" for i in range(1, 102)]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    work = tmp_path_factory.mktemp("pages")
    zones = write_zones(work / "zones", names=["dnsbl.test", "pbl.test", "zen.test", "rhsbl.test"])
    cli = Cli(work / "data", zones)
    token = cli.ok("token", "create", "desk-alice", "--role", "desk").strip()
    cli.ok("listing", "add", ZONE, "192.0.2.0/24", "--reason", "spam from a compromised host",
           "--for", "24h")
    cli.ok("listing", "add", ZONE, XSS, "--reason", XSS_REASON, "--for", "24h")
    bulk = work / "seeded.txt"
    bulk.write_text("".join(f"{s} 127.0.0.10 policy block\n" for s in SEEDED))
    cli.ok("listing", "load", "pbl.test", bulk)
    config = work / "rblzoned.toml"
    config.write_text("[http]\npublic_per_minute = 0\ndelist_per_hour = 0\n"
                      "auth_failures_per_minute = 0\n")
    pool = DaemonPool(work)
    try:
        d = pool.start(http=True, config=config)
        for s in SEEDED:
            body = json.dumps({"subject": s, "contact": "noc@example.net", "explanation": "fixed"})
            req = urllib.request.Request(
                f"http://127.0.0.1:{d.http_port}/api/v1/zones/pbl.test/delist-requests",
                data=body.encode(), headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as res:
                assert json.load(res)["status"] == "pending"
        yield d, token
    finally:
        pool.close()


def test_browser_prerequisites_are_installed():
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: run scripts/install-deps --test"
    assert shutil.which("node"), "node is missing: run scripts/install-deps --test"
    assert (BROWSER_DIR / "node_modules" / "playwright-core").is_dir(), \
        "tests/browser/node_modules is missing: run scripts/install-deps --test (npm ci)"


def test_pages_in_a_real_browser(site):
    d, token = site
    if OUT.exists():
        shutil.rmtree(OUT)
    env = dict(os.environ, RBLZONE_URL=f"http://127.0.0.1:{d.http_port}",
               RBLZONE_DESK_TOKEN=token, RBLZONE_ZONE=ZONE, RBLZONE_LISTED=LISTED,
               RBLZONE_UNLISTED=UNLISTED, RBLZONE_XSS=XSS, RBLZONE_XSS_REASON=XSS_REASON,
               RBLZONE_OUT=str(OUT), CHROMIUM=str(CHROMIUM),
               RBLZONE_TOP="192.0.2.66=6,192.0.2.0/24=3", RBLZONE_PENDING=str(len(SEEDED)))
    # Listed subjects queried before the desk signs in, for the top-subjects
    # chart: the host listing 6 times, the /24 (through 3 of its addresses) 3.
    for _ in range(6):
        assert a_values(query(d.port, qn(XSS, ZONE))) == ["127.0.0.2"]
    for i in (7, 8, 9):
        assert a_values(query(d.port, qn(f"192.0.2.{i}", ZONE))) == ["127.0.0.2"]
    # Some DNS traffic while the console is open, for its queries-per-minute chart.
    stop = threading.Event()

    def traffic():
        while not stop.wait(0.02):
            query(d.port, qn(UNLISTED, ZONE))

    t = threading.Thread(target=traffic)
    t.start()
    try:
        r = subprocess.run(["node", str(BROWSER_DIR / "pages.mjs")], cwd=BROWSER_DIR, env=env,
                           capture_output=True, text=True, timeout=240)
    finally:
        stop.set()
        t.join()
    print(r.stdout)
    assert r.returncode == 0, f"browser test failed:\n{r.stdout}\n{r.stderr}"
    assert "all browser steps passed" in r.stdout
    for name in ["lookup-listed.png", "lookup-unlisted.png", "lookup-xss.png",
                 "delist-pending.png", "console-pending.png", "console-approved.png",
                 "delist-approved.png", "lookup-after-approval.png", "nojs-delist.png",
                 "console-top-listed.png"]:
        shot = OUT / name
        assert shot.is_file() and shot.stat().st_size > 1000, f"no screenshot {shot}"
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # DNS agrees with the page: the approved listing is gone.
    assert a_values(query(d.port, qn(LISTED, ZONE))) == []
    assert a_values(query(d.port, qn(XSS, ZONE))) == ["127.0.0.2"]
    # The token never reached the daemon's log (it travels in a header only).
    assert token not in d.log()
    assert token[8:] not in d.log()


def test_every_page_sends_the_security_headers(site):
    d, _ = site
    for path in ["/", "/lookup", f"/lookup/{LISTED}", "/delist", "/console",
                 "/assets/console.js", "/assets/style.css"]:
        with urllib.request.urlopen(f"http://127.0.0.1:{d.http_port}{path}", timeout=5) as res:
            h = res.headers
            csp = h["Content-Security-Policy"]
            assert csp and "default-src 'self'" in csp and "unsafe-inline" not in csp, path
            assert h["X-Content-Type-Options"] == "nosniff", path
            assert h["Referrer-Policy"] == "same-origin", path


def test_the_txt_answer_links_to_the_lookup_page(tmp_path):
    """The shipped zones' TXT answer links to /lookup/SUBJECT on the admin server."""
    zones = tmp_path / "zones"
    shutil.copytree(SOURCE_DIR / "zones", zones)
    cli = Cli(tmp_path / "data", zones)
    cli.ok("listing", "add", "bl.example.org", "203.0.113.0/24", "--reason", "trap hits")
    pool = DaemonPool(tmp_path)
    try:
        d = pool.start(probe_zone="bl.example.org")
        m = query(d.port, qn("203.0.113.7", "bl.example.org"), "TXT")
        texts = [b"".join(r.strings).decode() for rrset in m.answer for r in rrset]
        assert texts == ["Listed: trap hits; see http://127.0.0.1:8080/lookup/203.0.113.7"]
    finally:
        pool.close()


def activity(d, token, zone, query):
    req = urllib.request.Request(
        f"http://127.0.0.1:{d.http_port}/api/v1/zones/{zone}/activity?{query}",
        headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.load(res)


def test_the_activity_feed_is_the_newest_in_commit_order_across_restarts(tmp_path):
    """The console's feed comes from the history's commit-order index: the
    newest events whatever their subjects' key order, for a combined zone
    too, and with the events the CLI wrote while the daemon was stopped."""
    zones = write_zones(tmp_path / "zones", names=["dnsbl.test", "pbl.test", "zen.test"])
    cli = Cli(tmp_path / "data", zones)
    token = cli.ok("token", "create", "desk-bob", "--role", "desk").strip()
    # Subjects in an order unlike their key order (a /24 step of 7, IPv6 in between).
    subjects = [f"198.51.100.{(i * 7) % 12 + 1}" for i in range(12)]
    subjects[5] = "2001:db8::5"
    for i, s in enumerate(subjects):
        cli.ok("listing", "add", "dnsbl.test", s, "--reason", f"r{i}", "--for", "24h")
    pool = DaemonPool(tmp_path)
    try:
        d = pool.start(http=True)
        feed = activity(d, token, "dnsbl.test", "limit=4&hours=2")
        assert [e["reason"] for e in feed["events"]] == ["r11", "r10", "r9", "r8"]
        assert [e["subject"] for e in feed["events"]] == subjects[11:7:-1]
        assert "truncated" not in feed
        manual = feed["listings"]["by_source"]["manual"]
        assert len(manual) == 3 and manual[-1] == 12, manual
        d.stop()
        cli.ok("listing", "add", "pbl.test", "203.0.113.0/24", "--reason", "while stopped")
        cli.ok("listing", "remove", "dnsbl.test", subjects[0], "--reason", "cleaned")
        d = pool.start(http=True)
        zen = activity(d, token, "zen.test", "limit=3")
        assert [e["reason"] for e in zen["events"]] == ["cleaned", "while stopped", "r11"]
        assert [e["subject"] for e in zen["events"]] == [
            f"dnsbl.test: {subjects[0]}", "pbl.test: 203.0.113.0/24", f"dnsbl.test: {subjects[11]}"]
        assert zen["events"][0]["listed"] is False
        assert zen["listings"]["by_source"]["manual"][-1] == 12  # 12 - 1 + 1
    finally:
        pool.close()
