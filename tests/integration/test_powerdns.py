"""PowerDNS remote backend: Debian's pdns_server (pdns-backend-remote) in front
of rblzoned, over the unix socket connector and the three HTTP connector
modes. pdns runs on loopback with its packet and query caches off; every
answer it gives (queried with dig) is compared with rblzoned's native answer
for the same question. The protocol: docs/powerdns.md."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import SEED
from harness import HOST, Cli, Daemon, DaemonPool, free_port, qn, wait_until, write_zones

PDNS_SERVER = shutil.which("pdns_server") or "/usr/sbin/pdns_server"
PDNS_CONTROL = shutil.which("pdns_control") or "/usr/bin/pdns_control"
DIG = shutil.which("dig") or "/usr/bin/dig"

# The connectors, as an operator writes them in remote-connection-string
# ({sock} and {http} are filled in).
CONNECTORS = {
    "unix": "unix:path={sock},timeout=2000",
    "http-rest": "http:url=http://{http}/pdns,timeout=2000",
    "http-rest-suffix": "http:url=http://{http}/pdns,url-suffix=.json,timeout=2000",
    "http-post": "http:url=http://{http}/pdns,post=1,timeout=2000",
    "http-post-json": "http:url=http://{http}/pdns,post=1,post_json=1,timeout=2000",
}

# A sample of listed, unlisted, range, excluded, test-point, empty
# non-terminal, IPv6, domain and combined names (SEED is in conftest.py).
SAMPLE = [
    qn("192.0.2.1", "dnsbl.test"),        # listed
    qn("192.0.2.7", "dnsbl.test"),        # listed with the trap code
    qn("192.0.2.8", "dnsbl.test"),        # listed with an explicit code
    qn("192.0.2.2", "dnsbl.test"),        # unlisted, sibling of listed ones
    qn("198.51.100.9", "dnsbl.test"),     # unlisted, nothing near
    qn("10.1.200.3", "dnsbl.test"),       # inside a listed /16
    qn("10.1.2.3", "dnsbl.test"),         # excluded inside it
    qn("127.0.0.2", "dnsbl.test"),        # RFC 5782 test point: listed
    qn("127.0.0.1", "dnsbl.test"),        # RFC 5782 test point: never
    "2.0.192.dnsbl.test",                 # empty non-terminal
    "0.0.127.dnsbl.test",                 # the test point's ancestor
    "1.10.dnsbl.test",                    # the range's ancestor
    qn("2001:db8:dead::25", "dnsbl.test"),  # listed IPv6
    qn("2001:db8:dead::26", "dnsbl.test"),  # unlisted IPv6
    qn("::ffff:127.0.0.2", "dnsbl.test"),   # the IPv6 test point
    qn("192.0.2.7", "zen.test"),          # combined: both members' codes
    qn("192.0.2.1", "pbl.test"),          # unlisted in the other member
    "spammer.example.rhsbl.test",         # listed domain
    "www.spammer.example.rhsbl.test",     # below an exact listing
    "a.b.subtree.example.rhsbl.test",     # in a listed subtree
    "example.rhsbl.test",                 # ENT above listed domains
    "test.rhsbl.test",                    # domain test point
    "invalid.rhsbl.test",                 # domain test point: never
    "1.2.0.192.DnsBl.Test",               # case as asked
]
APEXES = ["dnsbl.test", "zen.test", "rhsbl.test", "pbl.test"]


# --- dig ---------------------------------------------------------------------------

def dig(port: int, name: str, qtype: str, tcp: bool = False) -> dict:
    """One dig query: status, flags, and the answer and authority sections
    as sorted (owner, ttl, type, rdata) lines, owners lowercased."""
    argv = [DIG, f"@{HOST}", "-p", str(port), "+norec", "+noall", "+comments", "+answer",
            "+authority", "+time=3", "+tries=1", name, qtype]
    if tcp:
        argv.append("+tcp")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=15).stdout
    m = re.search(r"status: (\w+)", out)
    assert m, f"dig {name} {qtype} got no answer:\n{out}"
    flags = re.search(r";; flags: ([a-z ]*);", out).group(1).split()
    sections = {"ANSWER": [], "AUTHORITY": []}
    current = None
    for line in out.splitlines():
        h = re.match(r";; (\w+) SECTION:", line)
        if h:
            current = h.group(1)
            continue
        if not line or line.startswith(";") or current not in sections:
            continue
        owner, ttl, cls, rtype, rdata = line.split(None, 4)
        sections[current].append((owner.lower(), int(ttl), cls, rtype, rdata))
    return {"status": m.group(1), "aa": "aa" in flags,
            "answer": sorted(sections["ANSWER"]), "authority": sorted(sections["AUTHORITY"])}


def same_as_native(native_port: int, pdns_port: int, name: str, qtype: str, tcp: bool = False):
    """pdns's answer must equal rblzoned's. The native server is asked before
    and after pdns: the sweeper may bump the zone's serial (in the SOA of
    negative answers) between two queries, so pdns must equal one of the two.
    rblzoned is asked over TCP: its UDP socket has SO_REUSEPORT, so another
    process of the same user on this host may share its UDP port."""
    before = dig(native_port, name, qtype, tcp=True)
    served = dig(pdns_port, name, qtype, tcp)
    after = dig(native_port, name, qtype, tcp=True) if served != before else before
    assert served in (before, after), f"{name} {qtype}: pdns {served} native {before} / {after}"
    return before


# --- pdns_server -------------------------------------------------------------------

class Pdns:
    """pdns_server in the foreground with its own socket dir, no config file,
    caches off, the remote backend on `connection`."""

    def __init__(self, workdir: Path, connection: str, connector: str = ""):
        self.connector = connector
        self.dir = Path(workdir)
        (self.dir / "ctl").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = self.dir / "pdns.log"
        self.argv = [
            PDNS_SERVER, "--no-config", "--daemon=no", "--guardian=no", "--disable-syslog",
            "--write-pid=no", f"--socket-dir={self.dir / 'ctl'}", f"--local-address={HOST}",
            f"--local-port={self.port}", "--launch=remote",
            f"--remote-connection-string={connection}", "--remote-dnssec=no",
            "--distributor-threads=2", "--receiver-threads=1", "--security-poll-suffix=",
            "--cache-ttl=0", "--query-cache-ttl=0", "--negquery-cache-ttl=0",
            "--zone-metadata-cache-ttl=0", "--disable-axfr=no", f"--allow-axfr-ips={HOST}/32",
            "--loglevel=6"]
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self):
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.dir)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"pdns_server exited {self.proc.returncode}:\n{self.log()}")
            try:
                return dig(self.port, "dnsbl.test", "SOA")["status"] == "NOERROR"
            except (AssertionError, AttributeError, subprocess.TimeoutExpired):
                return False
        wait_until(ready, 20.0, interval=0.1, what=f"pdns_server answering:\n{self.log()}")
        return self

    def control(self, *args) -> str:
        r = subprocess.run([PDNS_CONTROL, f"--socket-dir={self.dir / 'ctl'}", *args],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def backend_queries(self) -> int:
        return int(self.control("show", "backend-queries"))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class BackendDaemon(Daemon):
    """rblzoned with the HTTP server and the pdns unix socket on."""

    def __init__(self, *a, socket_path: Path, **kw):
        super().__init__(*a, http=True, **kw)
        self.socket_path = socket_path

    def argv(self):
        return super().argv() + ["--pdns-socket", str(self.socket_path)]


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    """rblzoned over the standard test zones and SEED, serving pdns."""
    work = tmp_path_factory.mktemp("pdns")
    cli = Cli(work / "data", write_zones(work / "zones"))
    for zone, subject, extra in SEED:
        cli.ok("listing", "add", zone, subject, *extra)
    pool = DaemonPool(work)
    d = BackendDaemon(work, cli.data_dir, cli.zones_dir, socket_path=work / "pdns.sock")
    pool.daemons.append(d)
    try:
        d.start()
        yield d, cli, work
    finally:
        pool.close()


@pytest.fixture(scope="module", params=list(CONNECTORS))
def pdns(request, backend, tmp_path_factory):
    d, cli, _ = backend
    connection = CONNECTORS[request.param].format(sock=d.socket_path, http=f"{HOST}:{d.http_port}")
    p = Pdns(tmp_path_factory.mktemp(f"pdns-{request.param}"), connection, request.param)
    try:
        yield p.start()
    finally:
        p.stop()
    # Nothing pdns sent made the backend fail or drop a connection.
    for bad in ("Unknown error while receiving data", "unacceptable HTTP status",
                "Cannot parse JSON", "timeout"):
        assert bad not in p.log(), f"pdns log has {bad!r}:\n{p.log()[-3000:]}"


# --- the same answers ------------------------------------------------------------------

@pytest.mark.parametrize("qtype", ["A", "TXT"])
def test_pdns_answers_as_the_native_server(pdns, backend, qtype):
    d, _, _ = backend
    for name in SAMPLE:
        assert same_as_native(d.port, pdns.port, name, qtype)["aa"]


def test_pdns_any_over_tcp_and_the_apex(pdns, backend):
    d, _, _ = backend
    for name in SAMPLE[:4]:
        same_as_native(d.port, pdns.port, name, "ANY", tcp=True)
    for apex in APEXES:
        for qtype in ("SOA", "NS", "A", "MX"):
            same_as_native(d.port, pdns.port, apex, qtype)
        assert dig(d.port, apex, "SOA", tcp=True)["answer"], apex


def test_pdns_refuses_names_not_ours(pdns, backend):
    d, _, _ = backend
    for name in ("example.com", "1.2.0.192.example.net"):
        assert dig(pdns.port, name, "A")["status"] == "REFUSED"
        assert dig(d.port, name, "A", tcp=True)["status"] == "REFUSED"


def test_pdns_zones_with_client_acls_are_not_offered(pdns, backend):
    """pdns passes no client address on its internal lookups, so a zone with
    an allow list or a required access key is refused as a whole, never served
    to clients the native server would refuse."""
    d, _, _ = backend
    for zone in ("acl.test", "aclcode.test", "dqs.test"):
        assert dig(pdns.port, qn("192.0.2.1", zone), "A")["status"] == "REFUSED", zone
    assert dig(pdns.port, qn("192.0.2.10", "k3y.dqs.test"), "A")["status"] == "REFUSED"
    assert dig(d.port, qn("192.0.2.10", "k3y.dqs.test"), "A", tcp=True)["status"] == "NOERROR"


def test_pdns_ent_answers_keep_the_nxdomain_walk_short(pdns):
    """With ENT answers pdns stops its wildcard walk at the closest existing
    ancestor: 8 backend lookups for an unlisted IPv4 sibling of the test
    point, not 13 (reference, section 6)."""
    before = pdns.backend_queries()
    assert dig(pdns.port, qn("127.0.0.3", "dnsbl.test"), "A")["status"] == "NXDOMAIN"
    assert pdns.backend_queries() - before == 8


def axfr(port: int, zone: str) -> list[tuple]:
    out = subprocess.run([DIG, f"@{HOST}", "-p", str(port), "+noall", "+answer", "+time=5",
                          "+tries=1", zone, "AXFR"], capture_output=True, text=True,
                         timeout=20).stdout
    records = []
    for line in out.splitlines():
        if line and not line.startswith(";"):
            owner, ttl, cls, rtype, rdata = line.split(None, 4)
            records.append((owner.lower(), int(ttl), cls, rtype, rdata))
    return records


def test_pdns_axfr_of_a_small_zone_of_single_names(pdns, backend):
    """pbl.test holds one address: pdns transfers it (SOA first and last), and
    every A and TXT in the transfer is what a query gets natively. Over the
    unix socket only: the HTTP connector never lists a zone."""
    d, _, _ = backend
    records = axfr(pdns.port, "pbl.test")
    if pdns.connector != "unix":
        assert not [r for r in records if r[3] in ("A", "TXT")]
        return
    assert records, "no transfer"
    assert records[0][3] == "SOA" and records[-1][3] == "SOA"
    body = records[1:-1]
    names = {r[0] for r in body if r[3] in ("A", "TXT")}
    assert names == {qn("192.0.2.7", "pbl.test") + ".", qn("127.0.0.2", "pbl.test") + ".",
                     qn("::ffff:127.0.0.2", "pbl.test") + "."}
    for name in names:
        for qtype in ("A", "TXT"):
            native = dig(d.port, name, qtype, tcp=True)["answer"]
            assert sorted(r for r in body if r[0] == name and r[3] == qtype) == native, name
    assert sorted(r for r in body if r[3] == "NS") == dig(d.port, "pbl.test", "NS", tcp=True)["answer"]


def test_pdns_axfr_refused_for_zones_with_ranges(pdns):
    """dnsbl.test holds CIDR ranges and exclusions: no finite list of names,
    so list answers false and pdns aborts after the SOA (never a wrong zone)."""
    records = axfr(pdns.port, "dnsbl.test")
    assert not [r for r in records if r[3] in ("A", "TXT")]


# --- changes and expiry ------------------------------------------------------------------

def test_pdns_sees_changes_at_once(pdns, backend):
    _, cli, _ = backend
    name = qn("198.18.7.7", "dnsbl.test")
    assert dig(pdns.port, name, "A")["status"] == "NXDOMAIN"
    cli.ok("listing", "add", "dnsbl.test", "198.18.7.7", "--code", "trap", "--reason", "new")
    try:
        r = dig(pdns.port, name, "A")
        assert r["status"] == "NOERROR"
        assert [a[4] for a in r["answer"]] == ["127.0.0.3"]
    finally:
        cli.ok("listing", "remove", "dnsbl.test", "198.18.7.7", "--reason", "test done")
    assert dig(pdns.port, name, "A")["status"] == "NXDOMAIN"


def test_pdns_expiry_to_the_second(pdns, backend):
    _, cli, _ = backend
    name = qn("198.18.8.8", "dnsbl.test")
    added = cli.json("listing", "add", "dnsbl.test", "198.18.8.8", "--for", "2s")
    expires = added["listing"]["expires"]
    assert dig(pdns.port, name, "A")["status"] == "NOERROR"
    while time.time() < expires - 0.4:
        assert dig(pdns.port, name, "A")["status"] == "NOERROR"
        time.sleep(0.05)
    wait_until(lambda: dig(pdns.port, name, "A")["status"] == "NXDOMAIN",
               max(0.0, expires + 1.2 - time.time()) + 0.05, what="NXDOMAIN after expiry")
    assert time.time() <= expires + 1.5


# --- the unix socket connector itself -------------------------------------------------------

def converse(sock: socket.socket, request: dict | bytes) -> dict:
    data = request if isinstance(request, bytes) else json.dumps(request).encode() + b"\n"
    sock.sendall(data)
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = sock.recv(65536)
        assert chunk, "the backend closed the connection"
        buf += chunk
    assert buf.count(b"\n") == 1, "one reply line per request"
    return json.loads(buf)


def lookup(name):
    return {"method": "lookup", "parameters": {"qname": name + ".", "qtype": "ANY",
                                               "zone-id": -1, "local": "0.0.0.0",
                                               "remote": "0.0.0.0", "real-remote": "0.0.0.0/0"}}


def test_socket_serves_many_connections_each_in_order(backend):
    d, _, _ = backend
    errors = []

    def client(i):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(10)
                s.connect(str(d.socket_path))
                assert converse(s, {"method": "initialize", "parameters": {}}) == {"result": True}
                for j in range(50):
                    last = (i * 50 + j) % 250 + 1
                    r = converse(s, lookup(qn(f"10.1.3.{last}", "dnsbl.test")))
                    assert [x["qname"] for x in r["result"]] == [qn(f"10.1.3.{last}", "dnsbl.test") + "."] * 2
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_socket_framing_split_writes_idle_and_garbage(backend):
    d, _, _ = backend
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(d.socket_path))
        # a request split over several writes, then two in one write
        body = json.dumps(lookup(qn("192.0.2.1", "dnsbl.test"))).encode()
        s.sendall(body[:10])
        time.sleep(0.1)
        s.sendall(body[10:] + b"\n")
        r = converse(s, b"")
        assert r["result"][0]["content"] == "127.0.0.2"
        s.sendall(json.dumps(lookup("dnsbl.test")).encode() + b"\n" +
                  json.dumps({"method": "getAllDomains", "parameters": {}}).encode() + b"\n")
        buf = b""
        while buf.count(b"\n") < 2:
            buf += s.recv(65536)
        first, second = (json.loads(x) for x in buf.splitlines())
        assert [x["qtype"] for x in first["result"]] == ["SOA", "NS", "NS"]
        zones = [x["zone"] for x in second["result"]]
        assert zones == ["dnsbl.test.", "pbl.test.", "rhsbl.test.", "zen.test."]
        # garbage is answered, not a reason to hang up; idleness neither
        for bad in (b"{not json\n", b"[]\n", b'{"method": 3}\n'):
            assert converse(s, bad)["result"] is False
        time.sleep(1.5)
        assert converse(s, {"method": "initialize", "parameters": {}}) == {"result": True}
    assert d.running()


def test_new_zone_after_sighup_and_rediscover(tmp_path):
    """docs/powerdns.md step 6: a zone added while both run (zone file, SIGHUP
    to rblzoned) is REFUSED by pdns until `pdns_control rediscover`, then
    served."""
    cli = Cli(tmp_path / "data", write_zones(tmp_path / "zones", names=["dnsbl.test"]))
    pool = DaemonPool(tmp_path)
    d = BackendDaemon(tmp_path, cli.data_dir, cli.zones_dir, socket_path=tmp_path / "pdns.sock")
    pool.daemons.append(d)
    p = None
    try:
        d.start()
        p = Pdns(tmp_path / "pdns", CONNECTORS["unix"].format(sock=d.socket_path, http=""),
                 "unix").start()
        name = qn("127.0.0.2", "new.test")
        assert dig(p.port, name, "A")["status"] == "REFUSED"
        (cli.zones_dir / "new.test.toml").write_text('name = "new.test"\nkind = "ip"\n')
        d.signal(signal.SIGHUP)
        wait_until(lambda: re.search(r"reloaded .*: 2 zones", d.log()), 10.0, what="reload")
        assert dig(p.port, name, "A")["status"] == "REFUSED"  # pdns's zone cache
        assert p.control("rediscover") == "Ok"
        r = wait_until(lambda: (lambda m: m if m["status"] == "NOERROR" else None)(
            dig(p.port, name, "A")), 5.0, what="the new zone served")
        assert [a[4] for a in r["answer"]] == ["127.0.0.2"]
    finally:
        if p:
            p.stop()
        pool.close()
