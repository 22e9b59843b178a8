"""Shared helpers for the integration tests: where the binaries are, the zone
files the tests serve, the operator CLI, the daemon, and DNS query helpers.

Everything runs on 127.0.0.1 in a fresh temporary directory; every process
started here is stopped by the fixture that started it (conftest.py).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import re
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

SOURCE_DIR = Path(os.environ.get("RBLZONE_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BIN_DIR = Path(os.environ.get("RBLZONE_BIN_DIR", SOURCE_DIR / "build" / "cmd"))
RBLZONE = BIN_DIR / "rblzone"
RBLZONED = BIN_DIR / "rblzoned"
HOST = "127.0.0.1"

# How long a daemon may take to come up or to stop; generous for slow CI.
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

# --- zone files -----------------------------------------------------------------

# The zones the DNS tests serve. Negative TTLs differ per zone so R18 can tell
# min(soa.ttl, soa.minimum) from either value alone.
ZONE_FILES = {
    "dnsbl.test": """\
name = "dnsbl.test"
kind = "ip"
ttl = 900
ns = ["ns1.dnsbl.test", "ns2.dnsbl.test"]
txt = "Listed: {reason}; see {url}"
lookup_url = "http://lookup.test/q/$"

[soa]
ttl = 300
minimum = 60
""",
    "pbl.test": """\
name = "pbl.test"
kind = "ip"
ttl = 3600
default_code = "127.0.0.10"
txt = "$ should use its provider's relay; see {url}"
lookup_url = "http://lookup.test/pbl/$"

[soa]
ttl = 30
minimum = 120
""",
    "zen.test": """\
name = "zen.test"
kind = "combined"
members = ["dnsbl.test", "pbl.test"]
ttl = 900
txt = "Listed: {reason}; see {url}"
lookup_url = "http://lookup.test/zen/$"
""",
    "rhsbl.test": """\
name = "rhsbl.test"
kind = "domain"
ttl = 900
txt = "Domain listed: {reason}; see {url}"
lookup_url = "http://lookup.test/d/$"
""",
    # R45: only 10/8 may query; 127.0.0.1 is refused with a DNS REFUSED.
    "acl.test": """\
name = "acl.test"
kind = "ip"

[access]
allow = ["10.0.0.0/8"]
""",
    # R45: the same, but refused clients get an A in 127.255.255.0/24.
    "aclcode.test": """\
name = "aclcode.test"
kind = "ip"

[access]
allow = ["10.0.0.0/8"]
refused_code = "127.255.255.254"
""",
    # R45: DQS-style access key in the query name, required.
    "dqs.test": """\
name = "dqs.test"
kind = "ip"

[access]
keys = ["k3y"]
require_key = true
""",
}

# SOA TTL in negative answers: min(soa.ttl, soa.minimum); the defaults are 300/60.
NEGATIVE_TTL = {"dnsbl.test": 60, "pbl.test": 30, "zen.test": 60, "rhsbl.test": 60,
                "acl.test": 60, "aclcode.test": 60, "dqs.test": 60}


def free_port() -> int:
    """A port free on HOST for both UDP and TCP right now (the peers the
    tests start, knotd, nsd and pdns_server, bind both)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind((HOST, 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind((HOST, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def write_zones(directory: Path, names=None, extra: dict | None = None) -> Path:
    """Writes the named zone files (all by default) plus `extra` {name: toml}."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in names if names is not None else ZONE_FILES:
        (directory / f"{name}.toml").write_text(ZONE_FILES[name])
    for name, text in (extra or {}).items():
        (directory / f"{name}.toml").write_text(text)
    return directory


# --- names ------------------------------------------------------------------------

def rev(address: str) -> str:
    """The DNSBL query label sequence for an address (no zone): reversed octets
    for IPv4, reversed nibbles for IPv6 (RFC 5782)."""
    ptr = ipaddress.ip_address(address).reverse_pointer
    return ptr.rsplit(".", 2)[0]


def qn(address: str, zone: str) -> str:
    return f"{rev(address)}.{zone}"


# --- the operator CLI -------------------------------------------------------------

class Cli:
    """Runs `rblzone --data-dir D --zones Z ...`."""

    def __init__(self, data_dir: Path, zones_dir: Path):
        self.data_dir = Path(data_dir)
        self.zones_dir = Path(zones_dir)

    def argv(self, *args, as_json=False):
        base = [str(RBLZONE), "--data-dir", str(self.data_dir), "--zones", str(self.zones_dir)]
        if as_json:
            base.append("--json")
        return base + [str(a) for a in args]

    def run(self, *args, as_json=False, stdin=None, timeout=60) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args, as_json=as_json), input=stdin, capture_output=True,
                              text=True, timeout=timeout)

    def ok(self, *args, as_json=False) -> str:
        r = self.run(*args, as_json=as_json)
        assert r.returncode == 0, f"rblzone {' '.join(map(str, args))}: rc {r.returncode}: {r.stderr}"
        return r.stdout

    def json(self, *args):
        return json.loads(self.ok(*args, as_json=True))

    def listings(self, zone: str):
        return self.json("listing", "list", zone, "--limit", "1000000")


# --- the daemon -------------------------------------------------------------------

class Daemon:
    """One rblzoned process on 127.0.0.1, port picked by the kernel."""

    def __init__(self, workdir: Path, data_dir: Path, zones_dir: Path, config: Path | None = None,
                 threads: int = 2, probe_zone: str = "dnsbl.test", ready_over_tcp: bool = False,
                 setpriv=None, http: bool = False):
        self.http = http  # True: the admin HTTP server on 127.0.0.1, port picked by the kernel
        self.http_port: int | None = None
        self.workdir = Path(workdir)
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.zones_dir = None if zones_dir is None else Path(zones_dir)
        self.config = config
        self.threads = threads
        self.probe_zone = probe_zone
        self.ready_over_tcp = ready_over_tcp
        self.setpriv = setpriv or []
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.log_path = self.workdir / f"rblzoned-{id(self):x}.log"
        self.returncode: int | None = None

    def argv(self):
        a = [str(RBLZONED)]
        if self.data_dir is not None:  # None: the embedded default, relative to workdir
            a += ["--data-dir", str(self.data_dir)]
        if self.zones_dir is not None:
            a += ["--zones", str(self.zones_dir)]
        a += ["--dns-listen", f"{HOST}:0", "--http-listen", f"{HOST}:0" if self.http else "",
              "--dns-threads", str(self.threads)]
        if self.config:
            a += ["--config", str(self.config)]
        return list(self.setpriv) + a

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self):
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.workdir)
        deadline = time.monotonic() + START_TIMEOUT
        while self.port is None:
            log = self.log()
            m = re.search(r"DNS listening on 127\.0\.0\.1:(\d+)", log)
            h = re.search(r"HTTP listening on 127\.0\.0\.1:(\d+)", log)
            if m and (h or not self.http):
                self.port = int(m.group(1))
                self.http_port = int(h.group(1)) if h else None
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"rblzoned exited {self.proc.returncode} at start:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"rblzoned did not report its port:\n{self.log()}")
            time.sleep(0.02)
        # Ready when it answers the apex SOA.
        while True:
            try:
                r = query(self.port, self.probe_zone, "SOA", tcp=self.ready_over_tcp, timeout=0.5)
                if r.rcode() == dns.rcode.NOERROR and r.answer:
                    return self
            except (dns.exception.Timeout, ConnectionError, OSError):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"rblzoned exited {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"rblzoned does not answer SOA {self.probe_zone}:\n{self.log()}")
            time.sleep(0.02)

    def signal(self, sig):
        assert self.proc is not None and self.proc.poll() is None, "rblzoned is not running"
        self.proc.send_signal(sig)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM and wait; returns the exit status (None if it had to be killed)."""
        if self.proc is None or self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.returncode = None
                return None
        self.returncode = self.proc.returncode
        return self.returncode


class DaemonPool:
    """Starts daemons for one fixture and stops them all at its end, reporting
    any that did not exit 0 after SIGTERM."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.daemons: list[Daemon] = []

    def start(self, data_dir=None, zones_dir=None, *, defaults=False, workdir=None, **kw) -> Daemon:
        """defaults=True: no --data-dir/--zones, as the quick start runs it."""
        if not defaults:
            data_dir = data_dir or self.workdir / "data"
            zones_dir = zones_dir or self.workdir / "zones"
        d = Daemon(workdir or self.workdir, data_dir, zones_dir, **kw)
        self.daemons.append(d)
        return d.start()

    def close(self):
        problems = []
        for d in reversed(self.daemons):
            if d.proc is None:
                continue
            rc = d.stop()
            if rc != 0:
                problems.append(f"rblzoned exited {rc} after SIGTERM (None: killed after "
                                f"{STOP_TIMEOUT}s):\n{d.log()[-3000:]}")
        self.daemons.clear()
        assert not problems, "\n".join(problems)


# --- DNS ------------------------------------------------------------------------

def make(qname, qtype="A", *, edns=False, payload=1232, rd=False, dnssec=False, options=None,
         ednsflags=0, version=0, qid=None):
    """A query; RD clear unless asked (as `dig +norec`), no EDNS unless asked."""
    m = dns.message.make_query(qname, qtype, flags=(dns.flags.RD if rd else 0), id=qid)
    if edns:
        m.use_edns(version, ednsflags=ednsflags | (dns.flags.DO if dnssec else 0), payload=payload,
                   options=options or [])
    return m


def query(port, qname, qtype="A", *, tcp=False, timeout=2.0, **kw) -> dns.message.Message:
    m = make(qname, qtype, **kw)
    return send(port, m, tcp=tcp, timeout=timeout)


def send(port, m: dns.message.Message, *, tcp=False, timeout=2.0) -> dns.message.Message:
    if tcp:
        return dns.query.tcp(m, HOST, port=port, timeout=timeout)
    return dns.query.udp(m, HOST, port=port, timeout=timeout)


def raw_udp(port, packet: bytes, timeout=1.0) -> bytes | None:
    """Sends one datagram; returns the reply or None if none came in `timeout`."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (HOST, port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def section_values(msg, section, rdtype):
    out = []
    for rrset in section:
        if rrset.rdtype == rdtype:
            out.extend(rrset)
    return out


def a_values(msg) -> list[str]:
    return sorted(r.address for r in section_values(msg, msg.answer, dns.rdatatype.A))


def txt_records(msg) -> list:
    return section_values(msg, msg.answer, dns.rdatatype.TXT)


def rcode_text(msg) -> str:
    return dns.rcode.to_text(msg.rcode())


def header(packet: bytes):
    """(id, flags, qdcount, ancount, nscount, arcount) of a raw message."""
    return struct.unpack("!HHHHHH", packet[:12])


def api_call(port, method, path, body=None, token=None, headers=None, raw=None, timeout=10):
    """One HTTP request on a fresh connection: (status, response, parsed JSON
    or text). `body` is sent as JSON; `raw` as it is."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = raw
    if body is not None:
        data = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    c = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read().decode()
        is_json = r.getheader("Content-Type", "").startswith("application/json")
        return r.status, r, (json.loads(text) if is_json and text.strip() else text)
    finally:
        c.close()


def wait_until(predicate, timeout, interval=0.02, what="condition"):
    """Bounded polling: returns the first truthy value of predicate(), or fails."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")
        time.sleep(interval)
