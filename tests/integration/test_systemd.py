"""Production plumbing, tried as systemd and an operator would: the sd_notify
protocol on a socket the test owns, the journal log format, reloads of the
config and zones (good and bad) while queries run, `cmake --install` into a
DESTDIR, and the installed units checked by systemd-analyze.

PID 1 here is not systemd, so the units are verified, not started; the daemon
is started the way the unit starts it (same arguments, same environment
variables systemd would set).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import dns.rcode
import pytest

from harness import (BIN_DIR, HOST, RBLZONED, SOURCE_DIR, Cli, Daemon, a_values, qn, query,
                     wait_until, write_zones)

UNITS = ["rblzoned.service", "rblzoned-dns.service", "rblzoned-admin.service",
         "rblzone-import@.service"]


# --- sd_notify ------------------------------------------------------------------

class NotifySocket:
    """A unix datagram socket in the abstract namespace, as $NOTIFY_SOCKET."""

    def __init__(self):
        self.name = f"@rblzone-pytest-{os.getpid()}-{time.monotonic_ns()}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.messages: list[tuple[float, str]] = []

    def next(self, timeout=10.0, skip_watchdog=True) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no notification in {timeout}s; got {self.messages}")
            self.sock.settimeout(left)
            msg = self.sock.recv(4096).decode()
            self.messages.append((time.monotonic(), msg))
            if skip_watchdog and msg == "WATCHDOG=1":
                continue
            return msg

    def close(self):
        self.sock.close()


@pytest.fixture
def notify(monkeypatch):
    s = NotifySocket()
    monkeypatch.setenv("NOTIFY_SOCKET", s.name)
    yield s
    s.close()


def test_notify_ready_after_bind_reload_stop_and_watchdog(tmp_path, pool, notify, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    zones = write_zones(tmp_path / "zones")
    d = Daemon(tmp_path, tmp_path / "data", zones, http=True)
    pool.daemons.append(d)
    with open(d.log_path, "wb") as out:
        d.proc = subprocess.Popen(d.argv(), stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, cwd=tmp_path)
    ready = notify.next()
    assert ready.startswith("READY=1\n"), ready
    assert f"MAINPID={d.proc.pid}" in ready
    assert "STATUS=serving 7 zones" in ready
    # READY means bound: DNS (UDP and TCP) and HTTP answer at once, no retry.
    port = int(re.search(r"DNS listening on 127\.0\.0\.1:(\d+)", d.log()).group(1))
    http_port = int(re.search(r"HTTP listening on 127\.0\.0\.1:(\d+)", d.log()).group(1))
    assert query(port, "dnsbl.test", "SOA", timeout=1).rcode() == dns.rcode.NOERROR
    assert query(port, "dnsbl.test", "SOA", tcp=True, timeout=1).rcode() == dns.rcode.NOERROR
    with urllib.request.urlopen(f"http://{HOST}:{http_port}/healthz", timeout=2) as r:
        assert r.status == 200

    # The watchdog: WATCHDOG=1 every 100 ms (half of WATCHDOG_USEC).
    start = time.monotonic()
    pings = 0
    while time.monotonic() - start < 1.0:
        if notify.next(timeout=2, skip_watchdog=False) == "WATCHDOG=1":
            pings += 1
    assert 5 <= pings <= 15, pings

    d.signal(signal.SIGHUP)
    assert notify.next().startswith("RELOADING=1\nMONOTONIC_USEC=")
    after = notify.next()
    assert after.startswith("READY=1\n") and "STATUS=reloaded" in after, after

    # A reload that fails still ends in READY=1, with a status saying so.
    (zones / "broken.toml").write_text('name = "broken.test"\nkind = "bogus"\n')
    d.signal(signal.SIGHUP)
    assert notify.next().startswith("RELOADING=1")
    failed = notify.next()
    assert "READY=1" in failed and "reload failed" in failed, failed

    d.signal(signal.SIGTERM)
    assert notify.next() == "STOPPING=1"
    assert d.proc.wait(10) == 0


def test_no_notify_socket_runs_as_before(tmp_path, pool, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    write_zones(tmp_path / "zones")
    d = pool.start()
    assert query(d.port, "dnsbl.test", "SOA").rcode() == dns.rcode.NOERROR


# --- logs -----------------------------------------------------------------------

def test_journal_format_has_priorities_and_no_timestamps(tmp_path, pool, monkeypatch):
    write_zones(tmp_path / "zones")
    config = tmp_path / "rblzoned.toml"
    config.write_text('data_dir = "data"\nzones_dir = "zones"\n')
    d = Daemon(tmp_path, None, None, config=config)
    d.log_path.write_bytes(b"")
    st = os.stat(d.log_path)
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    pool.daemons.append(d)
    d.start()
    config.write_text('data_dir = "data-elsewhere"\nzones_dir = "zones"\n')
    d.signal(signal.SIGHUP)
    wait_until(lambda: "needs a restart" in d.log(), 10, what="restart warning")
    lines = [l for l in d.log().splitlines() if l]
    assert lines, d.log()
    for line in lines:
        assert re.match(r"<[2-7]>", line), f"no sd-daemon priority: {line!r}"
        assert not re.search(r"\d{4}-\d\d-\d\d", line), f"timestamp under the journal: {line!r}"
    assert any(l.startswith("<6>DNS listening on") for l in lines)
    assert any(l.startswith("<4>reload: data_dir changed") for l in lines), lines


def test_plain_log_has_utc_time_and_level(tmp_path, pool, monkeypatch):
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    write_zones(tmp_path / "zones")
    d = pool.start()
    line = next(l for l in d.log().splitlines() if "DNS listening" in l)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info DNS listening", line), line


# --- reload ---------------------------------------------------------------------

def metric(http_port, name) -> float:
    with urllib.request.urlopen(f"http://{HOST}:{http_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert m, f"{name} not in /metrics"
    return float(m.group(1))


def test_reload_applies_live_settings_and_keeps_restart_ones(tmp_path, pool):
    write_zones(tmp_path / "zones")
    Cli(tmp_path / "data", tmp_path / "zones").ok("listing", "add", "dnsbl.test", "192.0.2.1")
    config = tmp_path / "rblzoned.toml"
    base = 'data_dir = "data"\nzones_dir = "zones"\nlog_level = "info"\n'
    config.write_text(base)
    d = pool.start(data_dir=None, zones_dir=None, defaults=True, config=config, http=True)
    query(d.port, qn("192.0.2.1", "dnsbl.test"))
    assert "query from" not in d.log()

    # Live: query_log and log level. Restart-only: data_dir and the TCP timeout.
    config.write_text('data_dir = "data2"\nzones_dir = "zones"\nlog_level = "debug"\n'
                      '[dns]\nquery_log = true\ntcp_idle_timeout = "3s"\n')
    d.signal(signal.SIGHUP)
    wait_until(lambda: "settings changed: log_level,dns.query_log" in d.log(), 10, what="reload")
    log = d.log()
    assert "reload: data_dir changed" in log and "needs a restart" in log
    assert "reload: dns.tcp_idle_timeout changed" in log
    r = query(d.port, qn("192.0.2.1", "dnsbl.test"))
    assert a_values(r) == ["127.0.0.2"], "the running data dir must be kept"
    wait_until(lambda: "query from 127.0.0.1" in d.log(), 5, what="query log line")
    assert not (tmp_path / "data2").exists()
    assert metric(d.http_port, 'rblzone_config_reloads_total{result="success"}') == 1
    assert metric(d.http_port, "rblzone_config_last_reload_successful") == 1

    # A config that does not parse: nothing changes, the reason is logged.
    config.write_text(base + 'log_level = "loud"\n')
    d.signal(signal.SIGHUP)
    wait_until(lambda: "reload failed, keeping the running config" in d.log(), 10,
               what="reload failure")
    assert "rblzoned.toml" in d.log().split("reload failed")[-1].splitlines()[0]
    assert metric(d.http_port, 'rblzone_config_reloads_total{result="failure"}') == 1
    assert metric(d.http_port, "rblzone_config_last_reload_successful") == 0
    assert metric(d.http_port, "rblzone_config_last_reload_timestamp_seconds") > 0
    assert a_values(query(d.port, qn("192.0.2.1", "dnsbl.test"))) == ["127.0.0.2"]
    # Still in query-log mode: the failed reload did not reset live settings.
    before = d.log().count("query from")
    query(d.port, qn("192.0.2.1", "dnsbl.test"))
    wait_until(lambda: d.log().count("query from") > before, 5, what="query log still on")


class QueryLoop:
    """Threads asking a listed and an unlisted name over UDP, recording every
    answer that is not a valid one (timeout, error, wrong rcode)."""

    def __init__(self, port, threads=3):
        self.port = port
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.count = 0
        self.ttls: set[int] = set()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self):
        listed = qn("192.0.2.1", "dnsbl.test")
        unlisted = qn("192.0.2.99", "dnsbl.test")
        while not self.stop.is_set():
            for name, want in ((listed, dns.rcode.NOERROR), (unlisted, dns.rcode.NXDOMAIN)):
                try:
                    r = query(self.port, name, timeout=2.0)
                    ok = r.rcode() == want and (want != dns.rcode.NOERROR or
                                                a_values(r) == ["127.0.0.2"])
                    with self.lock:
                        self.count += 1
                        if want == dns.rcode.NOERROR and r.answer:
                            self.ttls.add(r.answer[0].ttl)
                        if not ok:
                            self.failures.append(f"{name}: {r}")
                except Exception as e:  # noqa: BLE001 - any failure is recorded
                    with self.lock:
                        self.failures.append(f"{name}: {type(e).__name__}: {e}")

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(10)


def test_reload_under_load_drops_no_query(tmp_path, pool):
    zones = write_zones(tmp_path / "zones", ["dnsbl.test", "pbl.test"])
    Cli(tmp_path / "data", zones).ok("listing", "add", "dnsbl.test", "192.0.2.1")
    d = pool.start(zones_dir=zones)
    dnsperf_input = tmp_path / "dnsperf.txt"
    dnsperf_input.write_text(f"{qn('192.0.2.1', 'dnsbl.test')} A\n"
                             f"{qn('192.0.2.99', 'dnsbl.test')} A\n")
    perf = subprocess.Popen(["dnsperf", "-s", HOST, "-p", str(d.port), "-d", str(dnsperf_input),
                             "-l", "8", "-Q", "2000", "-t", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with QueryLoop(d.port) as loop:
            wait_until(lambda: loop.count > 50, 10, what="queries flowing")
            # Good: a new zone and a new TTL.
            text = (zones / "dnsbl.test.toml").read_text().replace("ttl = 900", "ttl = 1234")
            (zones / "dnsbl.test.toml").write_text(text)
            (zones / "fresh.test.toml").write_text('name = "fresh.test"\nkind = "ip"\n')
            d.signal(signal.SIGHUP)
            wait_until(lambda: 1234 in loop.ttls, 10, what="the new TTL")
            soa = query(d.port, "fresh.test", "SOA")
            assert soa.rcode() == dns.rcode.NOERROR and soa.answer, "the new zone answers"
            # Bad: an invalid zone file; the old config keeps running.
            (zones / "broken.toml").write_text('name = "broken.test"\nttl = "soon"\n')
            d.signal(signal.SIGHUP)
            wait_until(lambda: "reload failed" in d.log(), 10, what="reload refused")
            assert "broken.toml" in d.log()
            assert query(d.port, "fresh.test", "SOA").answer, "the running zones stay"
            # Remove a zone: it stops answering (REFUSED: not ours).
            (zones / "broken.toml").unlink()
            (zones / "fresh.test.toml").unlink()
            d.signal(signal.SIGHUP)
            wait_until(lambda: query(d.port, "fresh.test", "SOA").rcode() == dns.rcode.REFUSED,
                       10, what="the removed zone refused")
            count_at_end = loop.count
        assert count_at_end > 100
        assert not loop.failures, f"{len(loop.failures)} failed of {loop.count}: {loop.failures[:5]}"
    finally:
        out, _ = perf.communicate(timeout=30)
    sent = int(re.search(r"Queries sent:\s+(\d+)", out).group(1))
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
    assert sent > 1000, out
    assert lost == 0, out
    assert "reloaded" in d.log()


# --- install and units ------------------------------------------------------------

@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`cmake --install` of the build that made the binaries, into a DESTDIR."""
    root = tmp_path_factory.mktemp("destdir")
    build = BIN_DIR.parent
    r = subprocess.run(["cmake", "--install", str(build)], env={**os.environ, "DESTDIR": str(root)},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    prefix = Path(re.search(r"CMAKE_INSTALL_PREFIX:PATH=(.*)",
                            (build / "CMakeCache.txt").read_text()).group(1))
    return root, root / prefix.relative_to("/")


def test_install_layout(installed):
    root, prefix = installed
    for exe in ("rblzoned", "rblzone"):
        assert os.access(prefix / "bin" / exe, os.X_OK), exe
    conf = root / "etc" / "rblzone"
    assert (conf / "rblzoned.toml").is_file()
    shipped = sorted(p.name for p in (SOURCE_DIR / "zones").glob("*.toml"))
    assert sorted(p.name for p in (conf / "zones").glob("*.toml")) == shipped
    assert 'zones_dir = "/etc/rblzone/zones"' in (conf / "rblzoned.toml").read_text()
    for unit in UNITS + ["rblzone-import@.timer"]:
        text = (prefix / "lib/systemd/system" / unit).read_text()
        assert "@RBLZONE" not in text, unit
    assert (prefix / "lib/sysusers.d/rblzone.conf").read_text().startswith("#")
    assert (prefix / "share/doc/rblzone/install.md").is_file()
    assert (prefix / "share/doc/rblzone/grafana-rblzone.json").is_file()


def test_install_keeps_the_operators_config(installed, tmp_path):
    root, _ = installed
    conf = root / "etc" / "rblzone" / "rblzoned.toml"
    edited = conf.read_text() + "\n# edited by the operator\n"
    conf.write_text(edited)
    r = subprocess.run(["cmake", "--install", str(BIN_DIR.parent)],
                       env={**os.environ, "DESTDIR": str(root)}, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Keeping" in r.stdout
    assert conf.read_text() == edited


class InstalledDaemon(Daemon):
    def __init__(self, exe: Path, *a, **kw):
        super().__init__(*a, **kw)
        self.exe = exe

    def argv(self):
        a = super().argv()
        return [str(self.exe)] + a[1:]


def test_installed_daemon_starts_from_installed_config(installed, tmp_path, pool):
    root, prefix = installed
    conf = root / "etc" / "rblzone"
    # The unit's ExecStartPre, with the zones the installed config names.
    check = subprocess.run([str(prefix / "bin/rblzoned"), "--config", str(conf / "rblzoned.toml"),
                            "--zones", str(conf / "zones"), "--check-config"],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    assert "configuration OK: 4 zones" in check.stdout
    # The unit's ExecStart, with the ports and data dir a test may use.
    d = InstalledDaemon(prefix / "bin/rblzoned", tmp_path, tmp_path / "data", conf / "zones",
                        config=conf / "rblzoned.toml", probe_zone="bl.example.org", http=True)
    pool.daemons.append(d)
    d.start()
    cli = [str(prefix / "bin/rblzone"), "--config", str(conf / "rblzoned.toml"),
           "--data-dir", str(tmp_path / "data"), "--zones", str(conf / "zones")]
    subprocess.run(cli + ["listing", "add", "bl.example.org", "192.0.2.55"], check=True,
                   capture_output=True, timeout=30)
    assert a_values(query(d.port, qn("192.0.2.55", "bl.example.org"))) == ["127.0.0.2"]


def systemd_root(root: Path) -> Path:
    """The DESTDIR plus what `systemd-analyze --root` needs of the host: its
    own units (sysinit.target, ...) and /bin/kill for ExecReload."""
    units = root / "usr/lib/systemd/system"
    if not units.exists():
        shutil.copytree("/usr/lib/systemd/system", units, symlinks=True)
        (root / "bin").mkdir(exist_ok=True)
        shutil.copy2(shutil.which("kill"), root / "bin/kill")
    return root


@pytest.mark.parametrize("unit", UNITS + ["rblzone-import@.timer"])
def test_units_verify(installed, unit):
    root, prefix = installed
    systemd_root(root)
    path = prefix / "lib/systemd/system" / unit
    r = subprocess.run(["systemd-analyze", "verify", f"--root={root}", str(path)],
                       capture_output=True, text=True, timeout=60)
    # verify exits 0 on many warnings ("Unknown key", "ignoring"): any output fails.
    assert r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(), r.stderr + r.stdout


def test_verify_catches_a_broken_unit(installed, tmp_path):
    root, prefix = installed
    systemd_root(root)
    broken = prefix / "lib/systemd/system/rblzoned-broken.service"
    broken.write_text((prefix / "lib/systemd/system/rblzoned.service").read_text()
                      .replace("Type=notify", "Type=notifyy"))
    try:
        r = subprocess.run(["systemd-analyze", "verify", f"--root={root}", str(broken)],
                           capture_output=True, text=True, timeout=60)
    finally:
        broken.unlink()
    assert "Failed to parse service type" in r.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_units_exposure_at_most_2(installed, unit):
    root, prefix = installed
    systemd_root(root)
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", f"--root={root}",
                        str(prefix / "lib/systemd/system" / unit)],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.0, r.stdout


def test_units_run_unprivileged(installed):
    _, prefix = installed
    for unit in UNITS:
        text = (prefix / "lib/systemd/system" / unit).read_text()
        assert "User=rblzone" in text and "NoNewPrivileges=yes" in text, unit
        assert "ProtectSystem=strict" in text and "StateDirectory=rblzone" in text, unit
    main = (prefix / "lib/systemd/system/rblzoned.service").read_text()
    assert "Type=notify" in main and "WatchdogSec=" in main
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in main
    assert re.search(r"ExecStartPre=\S+/rblzoned .*--check-config", main)
    # systemctl reload checks first, then signals.
    assert re.search(r"ExecReload=\S+/rblzoned .*--check-config\nExecReload=/bin/kill -HUP \$MAINPID",
                     main)
    admin = (prefix / "lib/systemd/system/rblzoned-admin.service").read_text()
    assert "AmbientCapabilities" not in admin and "CapabilityBoundingSet=\n" in admin


# --- metrics and status -------------------------------------------------------------

def test_metrics_and_status_show_the_service(tmp_path, pool):
    zones = write_zones(tmp_path / "zones", ["dnsbl.test", "pbl.test", "zen.test"])
    cli = Cli(tmp_path / "data", zones)
    cli.ok("listing", "add", "dnsbl.test", "192.0.2.1", "--source", "trap")
    cli.ok("listing", "add", "dnsbl.test", "192.0.2.2")
    cli.ok("listing", "add", "dnsbl.test", "192.0.2.3", "--exclude")
    cli.ok("listing", "add", "pbl.test", "192.0.2.0/24", "--source", "import")
    d = pool.start(zones_dir=zones, http=True)
    for _ in range(5):
        query(d.port, qn("192.0.2.1", "dnsbl.test"))
        query(d.port, qn("192.0.2.99", "dnsbl.test"))
    # The sweeper runs at start: its lag is fresh.
    wait_until(lambda: metric(d.http_port, "rblzone_sweeper_last_success_timestamp_seconds") > 0,
               10, what="a finished sweep")
    assert metric(d.http_port, "rblzone_sweeper_lag_seconds") < 10
    assert metric(d.http_port, "rblzone_uptime_seconds") >= 0
    assert metric(d.http_port, "rblzone_store_used_bytes") > 0
    assert 0 <= metric(d.http_port, "rblzone_store_map_used_permille") <= 1000

    url = f"http://{HOST}:{d.http_port}"
    s = json_status(cli, "--url", url)
    by_zone = {z["name"]: z for z in s["store"]["zones"]}
    assert by_zone["dnsbl.test"]["listed"] == 2
    assert by_zone["dnsbl.test"]["excluded"] == 1
    assert by_zone["dnsbl.test"]["listed_by_source"] == {"trap": 1, "manual": 1}
    assert by_zone["pbl.test"]["listed_by_source"] == {"import": 1}
    assert by_zone["dnsbl.test"]["serial"] > 0
    assert s["store"]["store_used_bytes"] > 0
    daemon = s["daemon"]
    assert daemon["dns_queries"] >= 10
    assert daemon["dns_responses"]["NXDOMAIN"] >= 5
    assert daemon["dns_responses"]["NOERROR"] >= 5
    assert daemon["dns_latency_p99_seconds"] > 0
    assert daemon["last_reload_ok"] is True

    table = cli.ok("status", "--url", url)
    assert re.search(r"^dnsbl\.test\s+ip\s+\d+\s+2\s+1\s+0\s+manual=1 trap=1$", table, re.M), table
    assert re.search(r"^dns\s+\d+ queries;.* NXDOMAIN \d+", table, re.M), table

    # A daemon that is not there: exit 3, the store part still shown, the reason said.
    r = cli.run("status", "--url", "http://127.0.0.1:1")
    assert r.returncode == 3
    assert "dnsbl.test" in r.stdout and "cannot connect" in r.stderr
    r = cli.run("status", "--url", "ftp://x")
    assert r.returncode == 2 and "http://" in r.stderr


def json_status(cli, *args):
    import json
    r = cli.run("status", *args, as_json=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_grafana_dashboard_covers_every_metric(tmp_path, pool):
    import json
    dashboard = json.loads((SOURCE_DIR / "docs/grafana-rblzone.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))
    write_zones(tmp_path / "zones")
    d = pool.start(http=True)
    with urllib.request.urlopen(f"http://{HOST}:{d.http_port}/metrics", timeout=5) as r:
        families = re.findall(r"^# TYPE (\S+) ", r.read().decode(), re.M)
    assert len(families) > 15
    # The lifecycle's and the transfers' names, from the other parts of the daemon.
    families += ["rblzone_listings", "rblzone_reports_total", "rblzone_delist_requests",
                 "rblzone_expired_total", "rblzone_xfr_"]
    missing = [f for f in families if f not in exprs]
    assert not missing, f"not on the dashboard: {missing}"


def free_port53_address() -> str:
    """A loopback address where UDP and TCP port 53 are free (as root here)."""
    for last in range(1, 250):
        addr = f"127.53.0.{last}"
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
                    socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                u.bind((addr, 53))
                t.bind((addr, 53))
            return addr
        except OSError:
            continue
    raise AssertionError("no 127.53.0.x address with port 53 free")


def test_installed_daemon_runs_as_the_unit_runs_it(installed, notify):
    """The unit's conditions without systemd: the installed binaries and config,
    an unprivileged user holding only CAP_NET_BIND_SERVICE, no new privileges,
    port 53, $NOTIFY_SOCKET; the operator's CLI as the same user; dig as peer."""
    import pwd
    import tempfile
    root, prefix = installed
    nobody = pwd.getpwnam("nobody")
    base = Path(tempfile.mkdtemp(prefix="rblzone-unit-", dir="/tmp"))
    proc = None
    try:
        base.chmod(0o755)
        shutil.copytree(prefix / "bin", base / "bin")
        shutil.copytree(root / "etc/rblzone", base / "etc")
        state = base / "state"  # what StateDirectory=rblzone makes: owned by the user, 0750
        state.mkdir(mode=0o750)
        os.chown(state, nobody.pw_uid, nobody.pw_gid)
        addr = free_port53_address()
        config = base / "etc/rblzoned.toml"
        text = config.read_text()
        text = re.sub(r'^data_dir = .*$', f'data_dir = "{state}"', text, flags=re.M)
        text = re.sub(r'^zones_dir = .*$', f'zones_dir = "{base}/etc/zones"', text, flags=re.M)
        text = re.sub(r'^listen = \[.*\].*$', f'listen = ["{addr}:53"]', text, flags=re.M)
        text = re.sub(r'^listen = "127.0.0.1:8080"', 'listen = "127.0.0.1:0"', text, flags=re.M)
        config.write_text(text)
        as_unit = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                   "--clear-groups", "--no-new-privs", "--inh-caps=-all,+net_bind_service",
                   "--ambient-caps=-all,+net_bind_service",
                   "--bounding-set=-all,+net_bind_service"]
        rblzoned = [str(base / "bin/rblzoned"), "--config", str(config)]
        rblzone = [str(base / "bin/rblzone"), "--config", str(config)]
        # ExecStartPre.
        r = subprocess.run(as_unit + rblzoned + ["--check-config"], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        # The operator lists an address, as the service's user (docs/install.md).
        r = subprocess.run(as_unit + rblzone + ["listing", "add", "bl.example.org", "192.0.2.9",
                                                "--reason", "install test"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        log = base / "rblzoned.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(as_unit + rblzoned, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd="/")
        ready = notify.next(timeout=15)
        assert ready.startswith("READY=1"), ready + log.read_text()
        status = Path(f"/proc/{proc.pid}/status").read_text()
        uid = re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)
        cap_eff = int(re.search(r"^CapEff:\s+([0-9a-f]+)", status, re.M).group(1), 16)
        assert int(uid) == nobody.pw_uid
        assert cap_eff == 1 << 10, hex(cap_eff)  # CAP_NET_BIND_SERVICE only
        dig = subprocess.run(["dig", f"@{addr}", "-p", "53", "+short", "+norec",
                              "9.2.0.192.bl.example.org", "A"],
                             capture_output=True, text=True, timeout=15)
        assert dig.stdout.split() == ["127.0.0.2"], dig.stdout + dig.stderr
        txt = subprocess.run(["dig", f"@{addr}", "+short", "+tcp", "9.2.0.192.bl.example.org",
                              "TXT"], capture_output=True, text=True, timeout=15)
        assert "install test" in txt.stdout
        proc.send_signal(signal.SIGHUP)
        assert notify.next().startswith("RELOADING=1")
        assert notify.next().startswith("READY=1")
        proc.send_signal(signal.SIGTERM)
        assert notify.next() == "STOPPING=1"
        assert proc.wait(10) == 0, log.read_text()
        # Everything the daemon wrote belongs to the service's user.
        assert {p.stat().st_uid for p in state.rglob("*")} == {nobody.pw_uid}
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)


def test_logs_never_hold_tokens_or_request_bodies(tmp_path, pool):
    write_zones(tmp_path / "zones")
    config = tmp_path / "rblzoned.toml"
    config.write_text('data_dir = "data"\nzones_dir = "zones"\nlog_level = "trace"\n'
                      '[dns]\nquery_log = true\n')
    d = pool.start(data_dir=None, zones_dir=None, defaults=True, config=config, http=True)
    token = "rbz_SECRET_TOKEN_0123456789abcdef"
    body = '{"subject": "192.0.2.1", "reason": "BODY_SECRET_abcdef"}'
    paths = ["/api/v1/zones/dnsbl.test/reports", "/api/v1/zones/dnsbl.test/listings",
             "/api/v1/tokens", "/metrics", "/nowhere"]
    for path in paths:
        for method in ("POST", "PUT", "GET"):
            req = urllib.request.Request(f"http://{HOST}:{d.http_port}{path}",
                                         data=body.encode() if method != "GET" else None,
                                         method=method,
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
            try:
                urllib.request.urlopen(req, timeout=5).read()
            except urllib.error.HTTPError as e:
                assert e.code < 500, f"{method} {path}: {e.code}"
    # A malformed request too: the parser's error must not echo it.
    with socket.create_connection((HOST, d.http_port), timeout=5) as s:
        s.sendall(f"POST /x HTTP/1.1\r\nAuthorization: Bearer {token}\r\nContent-Length: "
                  f"zz\r\n\r\n{body}".encode())
        s.recv(4096)
    query(d.port, qn("192.0.2.1", "dnsbl.test"))
    wait_until(lambda: "query from" in d.log(), 5, what="the query log (logging is on)")
    log = d.log()
    assert token not in log and "SECRET" not in log, log[-2000:]


def test_sysusers_creates_the_service_user(installed, tmp_path):
    root, prefix = installed
    target = tmp_path / "root"
    shutil.copytree(prefix / "lib/sysusers.d", target / prefix.relative_to(root) / "lib/sysusers.d")
    (target / "etc").mkdir()
    r = subprocess.run(["systemd-sysusers", f"--root={target}"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    user = next(l for l in (target / "etc/passwd").read_text().splitlines()
                if l.startswith("rblzone:"))
    _, _, uid, gid, _, home, shell = user.split(":")
    assert int(uid) < 1000, "a system user"
    assert home == "/var/lib/rblzone" and shell.endswith("nologin"), user
    assert any(l.startswith(f"rblzone:x:{gid}:") for l in (target / "etc/group").read_text().splitlines())
