"""Zone transfer to real secondaries (issue 6): Knot and NSD pull rblzoned's
zones by AXFR/IXFR on loopback, follow NOTIFY after changes made through the
operator CLI (another process on the same data directory), follow expiry,
and answer exactly what rblzoned answers for a sample of 10k names.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import shutil
import tempfile
import subprocess
import random
import re
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from unittest import mock
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.xfr
import dns.zone
import pytest

from harness import HOST, RBLZONED, Cli, DaemonPool, qn, query, wait_until
from secondaries import Knot, Nsd, free_port

ZONES = ["bl.test", "pbl.test", "zen.test", "dbl.test"]
URL = "http://lookup.test/q/$"
TXT = "Listed: {reason} [{subject}] see {url}"


KNOT_SOURCE, NSD_SOURCE = "127.0.0.2", "127.0.0.3"


def zone_files(notify: list[int]) -> dict:
    transfer = ('[transfer]\nallow = ["127.0.0.0/8"]\nnotify = [' +
                ", ".join(f'"{HOST}:{p}"' for p in notify) + "]\n")
    common = f'txt = "{TXT}"\nlookup_url = "{URL}"\n'
    return {
        "bl.test": f'name = "bl.test"\nkind = "ip"\n{common}{transfer}',
        "pbl.test": f'name = "pbl.test"\nkind = "ip"\ndefault_code = "127.0.0.10"\n{common}'
                    f'{transfer}',
        "zen.test": f'name = "zen.test"\nkind = "combined"\nmembers = ["bl.test", "pbl.test"]\n'
                    f'{common}{transfer}',
        "dbl.test": f'name = "dbl.test"\nkind = "domain"\n{common}{transfer}',
    }


def v4(rng, lo=11, hi=223):
    """A random IPv4 address whose first octet has two or three digits (so no
    name of the octet tree is also a name of the nibble tree)."""
    while True:
        first = rng.randint(lo, hi)
        if first not in (127, 100, 169, 172, 192, 198, 203):
            return ipaddress.IPv4Address((first << 24) | rng.getrandbits(24))


def net(addr, length):
    return ipaddress.ip_network(f"{addr}/{length}", strict=False)


def build_fixture(rng):
    """Listing lines for `rblzone listing load`, per zone, and the sample."""
    lines = {"bl.test": [], "pbl.test": [], "dbl.test": []}
    nets = []   # listed prefixes, to sample inside
    hosts = []
    codes = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]

    def add(zone, subject, exclude=False):
        if exclude:
            lines[zone].append(f"!{subject}")
        else:
            lines[zone].append(f"{subject} {rng.choice(codes)} reason-{len(lines[zone])}")

    for length, count in [(8, 3), (16, 60), (24, 300), (12, 5), (19, 40), (23, 60), (26, 60),
                          (29, 40), (31, 20)]:
        for _ in range(count):
            n = net(v4(rng), length)
            add("bl.test", n)
            nets.append(n)
    for _ in range(2000):
        h = v4(rng)
        add("bl.test", h)
        hosts.append(h)
    # Inside listed prefixes: more specific listings and exclusions.
    for n in rng.sample(nets, 200):
        if n.prefixlen >= 31:
            continue
        sub = net(n.network_address + rng.randrange(n.num_addresses), rng.randint(n.prefixlen + 1,
                                                                                   32))
        add("bl.test", sub, exclude=rng.random() < 0.6)
        nets.append(sub)
    for length, count in [(32, 20), (48, 100), (56, 50), (50, 50), (64, 100), (126, 20)]:
        for _ in range(count):
            a = ipaddress.IPv6Address((0x2001 << 112) | (0xdb8 << 96) | rng.getrandbits(96))
            n = net(a, length)
            add("bl.test", n)
            nets.append(n)
    for _ in range(500):
        h = ipaddress.IPv6Address((0x2001 << 112) | (0xdb8 << 96) | rng.getrandbits(96))
        add("bl.test", h)
        hosts.append(h)
    for n in rng.sample([n for n in nets if n.version == 6 and n.prefixlen < 120], 60):
        sub = net(n.network_address + rng.randrange(min(n.num_addresses, 1 << 60)),
                  rng.choice([64, 100, 128]) if n.prefixlen < 64 else 128)
        add("bl.test", sub, exclude=True)
    # pbl.test overlaps bl.test, so the combined zone answers with both.
    for n in rng.sample(nets, 150):
        add("pbl.test", n if rng.random() < 0.5 else net(n.network_address, max(n.prefixlen - 4, 8)))
    for n in rng.sample(nets, 30):
        add("pbl.test", n, exclude=True)
    for h in rng.sample(hosts, 300):
        add("pbl.test", h)

    domains = []
    for i in range(400):
        d = f"s{rng.randrange(10**6)}.example{rng.randrange(20)}.com"
        domains.append(d)
        add("dbl.test", d if i % 3 else f"*.{d}")
    for d in rng.sample(domains, 80):
        add("dbl.test", f"deep.x.{d}", exclude=rng.random() < 0.5)

    sample_ip = []
    for _ in range(2500):
        sample_ip.append(rng.choice(hosts))
    for _ in range(4500):
        n = rng.choice(nets)
        sample_ip.append(n.network_address + rng.randrange(min(n.num_addresses, 1 << 64)))
    for _ in range(1500):
        sample_ip.append(v4(rng))
    for _ in range(500):
        sample_ip.append(ipaddress.IPv6Address((0x2001 << 112) | (0xdb8 << 96) |
                                               rng.getrandbits(96)))
    sample_ip += [ipaddress.ip_address(a) for a in ("127.0.0.2", "127.0.0.1", "::ffff:127.0.0.2")]
    names = []
    for a in sample_ip:
        names.append(qn(str(a), rng.choice(["bl.test", "zen.test", "pbl.test"])))
    for _ in range(1000):
        d = rng.choice(domains)
        names.append(rng.choice([d, f"a.{d}", f"deep.x.{d}", f"y.deep.x.{d}", f"x.{d}",
                                 f"other{rng.randrange(99)}.com"]) + ".dbl.test")
    names += ["test.dbl.test", "invalid.dbl.test"]
    return lines, names


def answer_of(port, name, qtype):
    """(listed?, sorted A, TXT strings) as a DNSBL client reads it; NXDOMAIN
    and NODATA are both "not listed"."""
    for attempt in range(5):
        try:
            r = query(port, name, qtype, timeout=2.0)
            break
        except dns.exception.Timeout:
            if attempt == 4:
                raise
    assert r.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN), (name, r)
    values = []
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.A:
            values += [x.address for x in rrset]
        elif rrset.rdtype == dns.rdatatype.TXT:
            values += [b"".join(x.strings).decode() for x in rrset]
    return tuple(sorted(values))


def expected_secondary_txt(name, text):
    """rblzoned's TXT as a secondary serves it: under a wildcard the "$" of the
    lookup URL is the listed prefix or domain (docs/scale-out.md), which the
    TXT also shows in [...]."""
    subject = text[text.index("[") + 1:text.index("]")]
    url_subject = text.rsplit("/q/", 1)[1]
    labels = name.split(".")
    wildcard = False
    if "/" in subject:  # a prefix: wildcard unless expanded into addresses
        length = int(subject.split("/")[1])
        wildcard = length <= 24 if ":" not in subject and "." in subject else length <= 124
    elif not subject[0].isdigit() and ":" not in subject:  # a domain listed as a subtree
        queried = ".".join(labels[:-2])
        wildcard = queried != subject and subject != "test"
    if wildcard:
        return text.rsplit("/q/", 1)[0] + "/q/" + subject
    assert url_subject, text
    return text


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    work = tmp_path_factory.mktemp("transfer")
    knot_port, nsd_port = free_port(), free_port()
    zones_dir = work / "zones"
    zones_dir.mkdir()
    for name, text in zone_files([knot_port, nsd_port]).items():
        (zones_dir / f"{name}.toml").write_text(text)
    cli = Cli(work / "data", zones_dir)
    rng = random.Random(6)
    lines, names = build_fixture(rng)
    for zone, zl in lines.items():
        f = work / f"{zone}.txt"
        f.write_text("\n".join(zl) + "\n")
        cli.ok("listing", "load", zone, f, "--force", "--permanent")
    pool = DaemonPool(work)
    daemon = pool.start(probe_zone="bl.test", http=True)
    # Each from its own address, so the daemon's log tells their transfers apart.
    knot = Knot(work, ZONES, daemon.port, knot_port, source=KNOT_SOURCE)
    nsd = Nsd(work, ZONES, daemon.port, nsd_port, source=NSD_SOURCE)
    try:
        knot.start()
        nsd.start()
        yield {"daemon": daemon, "cli": cli, "knot": knot, "nsd": nsd, "names": names}
    finally:
        knot.stop()
        nsd.stop()
        pool.close()


def serials(port):
    return {z: query(port, z, "SOA").answer[0][0].serial for z in ZONES}


def test_initial_axfr_matches_serials(fleet):
    want = serials(fleet["daemon"].port)
    for sec in (fleet["knot"], fleet["nsd"]):
        sec.wait_serials(want, 20)
    assert "transfer:" in fleet["daemon"].log()


def test_metrics_show_each_secondarys_last_transfer(fleet):
    import urllib.request
    want = serials(fleet["daemon"].port)
    for sec in (fleet["knot"], fleet["nsd"]):
        sec.wait_serials(want, 20)
    url = f"http://{HOST}:{fleet['daemon'].http_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    got = {}
    for line in text.splitlines():
        if line.startswith('rblzone_xfr_last_transfer_serial{zone="bl.test"'):
            got[line] = int(line.split()[-1])
    # Both secondaries (127.0.0.1 here) hold the current serial.
    assert got and max(got.values()) == want["bl.test"], (got, want)
    assert "rblzone_xfr_transfers_total{" in text
    assert int(re.search(r"^rblzone_xfr_notify_sent_total (\d+)", text, re.M).group(1)) >= 0


def test_axfr_refused_outside_allow_list_and_for_unknown_zone(fleet):
    port = fleet["daemon"].port
    m = dns.message.make_query("nosuch.test", "AXFR")
    r = dns.query.tcp(m, HOST, port=port, timeout=5)
    assert r.rcode() == dns.rcode.REFUSED
    # AXFR over UDP is not served.
    r = query(port, "bl.test", "AXFR")
    assert r.rcode() == dns.rcode.REFUSED


def test_axfr_by_dnspython_is_a_whole_zone(fleet):
    port = fleet["daemon"].port
    z = dns.zone.from_xfr(dns.query.xfr(HOST, "bl.test", port=port, timeout=30))
    soa = z.find_rdataset("@", "SOA")[0]
    assert soa.serial == serials(port)["bl.test"]
    assert z.find_rdataset("2.0.0.127", "A")[0].address == "127.0.0.2"


def compare(fleet, names, qtypes=("A", "TXT")):
    daemon = fleet["daemon"]
    secs = [fleet["knot"], fleet["nsd"]]
    jobs = [(n, t) for n in names for t in qtypes]

    def one(job):
        name, qtype = job
        ours = answer_of(daemon.port, name, qtype)
        theirs = [answer_of(s.port, name, qtype) for s in secs]
        return name, qtype, ours, theirs

    diffs = []
    listed = 0
    with ThreadPoolExecutor(8) as ex:
        for name, qtype, ours, theirs in ex.map(one, jobs):
            # Under a wildcard the "$" is the listed subject; a name that
            # exists on its own (an address some member lists more
            # specifically) keeps rblzoned's exact text. Either is faithful.
            accepted = {ours}
            if qtype == "TXT" and ours:
                accepted.add(tuple(sorted(expected_secondary_txt(name, t) for t in ours)))
            listed += bool(ours)
            for s, t in zip(secs, theirs):
                if t not in accepted:
                    diffs.append((s.name, name, qtype, ours, t))
    return diffs, listed


def test_secondaries_answer_as_rblzoned_for_10k_names(fleet):
    names = fleet["names"]
    assert len(names) >= 10000
    diffs, listed = compare(fleet, names)
    assert not diffs, f"{len(diffs)} differences, first: {diffs[:10]}"
    # The sample is not trivially all-listed or all-unlisted.
    assert 0.3 * 2 * len(names) < listed < 0.9 * 2 * len(names), listed


# How fast a change reaches a secondary is measured in bench/transfer (IXFR
# lag; the 2 s target is reported there). Here the propagation itself is
# asserted, with a bound generous enough for a loaded machine or a sanitizer
# build, and the lag observed is printed.
PROPAGATION_BOUND = 20.0

TRANSFER_LINE = re.compile(r"transfer: \d+ records in \d+ messages, \d+ ms, zone (\S+), "
                           r"secondary (\S+?)( \(incremental\)| \(refused\))?$", re.M)


def transfers_since(daemon, mark: int, zone: str) -> dict:
    """secondary address -> [incremental?] of each transfer of `zone` the
    daemon logged after log offset `mark`."""
    out: dict = {}
    for m in TRANSFER_LINE.finditer(daemon.log()[mark:]):
        if m.group(1) == zone and m.group(3) != " (refused)":
            out.setdefault(m.group(2), []).append(m.group(3) == " (incremental)")
    return out


def assert_incremental(daemon, mark: int, zones=("bl.test", "zen.test")):
    """Both secondaries followed each zone by IXFR only (no whole zone)."""
    for zone in zones:
        got = transfers_since(daemon, mark, zone)
        for source in (KNOT_SOURCE, NSD_SOURCE):
            assert got.get(source) and all(got[source]), (zone, source, got,
                                                          daemon.log()[mark:][-3000:])


def test_changes_propagate_by_notify(fleet):
    daemon, cli = fleet["daemon"], fleet["cli"]
    secs = [fleet["knot"], fleet["nsd"]]
    mark = len(daemon.log())
    addr = "45.67.89.10"
    name = qn(addr, "bl.test")
    combined = qn(addr, "zen.test")
    assert answer_of(daemon.port, name, "A") == ()
    cli.ok("listing", "add", "bl.test", addr, "--code", "127.0.0.4", "--reason", "new")
    t0 = time.monotonic()
    took = {}
    for s in secs:
        wait_until(lambda: answer_of(s.port, name, "A") == ("127.0.0.4",)
                   and answer_of(s.port, combined, "A") == ("127.0.0.4",), PROPAGATION_BOUND,
                   what=f"{s.name} lists {addr} in bl.test and zen.test")
        took[s.name] = time.monotonic() - t0
    # A wider change: a /16 with an exclusion inside.
    cli.ok("listing", "add", "bl.test", "45.68.0.0/16", "--reason", "range")
    cli.ok("listing", "add", "bl.test", "45.68.1.0/24", "--exclude")
    # Two changes within a second: the second NOTIFY is held back up to 1 s
    # (at most one a second per zone), then the 2 s apply.
    for s in secs:
        wait_until(lambda: answer_of(s.port, qn("45.68.2.3", "bl.test"), "A") == ("127.0.0.2",)
                   and answer_of(s.port, qn("45.68.1.3", "bl.test"), "A") == ()
                   and answer_of(s.port, qn("45.68.2.3", "zen.test"), "A") == ("127.0.0.2",)
                   and answer_of(s.port, qn("45.68.1.3", "zen.test"), "A") == (),
                   PROPAGATION_BOUND, what=f"{s.name} follows a /16 and its exclusion")
    # The other member of zen.test, in a later second than bl.test's changes
    # (within one second the members' relative order is not recorded, and the
    # IXFR would be a whole zone), then a removal.
    time.sleep(1.1)
    cli.ok("listing", "add", "pbl.test", "45.70.1.2", "--reason", "dynamic")
    for s in secs:
        wait_until(lambda: answer_of(s.port, qn("45.70.1.2", "zen.test"), "A") == ("127.0.0.10",),
                   PROPAGATION_BOUND, what=f"{s.name} lists pbl's 45.70.1.2 in zen.test")
    time.sleep(1.1)
    cli.ok("listing", "remove", "bl.test", addr)
    for s in secs:
        wait_until(lambda: answer_of(s.port, name, "A") == ()
                   and answer_of(s.port, combined, "A") == (), PROPAGATION_BOUND,
                   what=f"{s.name} delists")
    print(f"first change reached the secondaries in {took} s")
    want = serials(daemon.port)
    for s in secs:
        s.wait_serials(want, PROPAGATION_BOUND)
    # Both zones, the combined one too, followed by IXFR only: the members'
    # journals give the combined zone's difference.
    assert_incremental(daemon, mark)


def test_expiry_propagates(fleet):
    daemon, cli = fleet["daemon"], fleet["cli"]
    secs = [fleet["knot"], fleet["nsd"]]
    mark = len(daemon.log())
    time.sleep(1.1)  # a later second than the last test's changes
    addr = "45.67.89.11"
    name = qn(addr, "bl.test")
    combined = qn(addr, "zen.test")
    cli.ok("listing", "add", "bl.test", addr, "--for", "4s", "--reason", "short")
    for s in secs:
        wait_until(lambda: answer_of(s.port, name, "A") == ("127.0.0.2",)
                   and answer_of(s.port, combined, "A") == ("127.0.0.2",), PROPAGATION_BOUND,
                   what=f"{s.name} lists {addr}")
    wait_until(lambda: answer_of(daemon.port, name, "A") == (), PROPAGATION_BOUND, what="rblzoned expires it")
    # The sweeper (every 5 s) deletes it, which bumps the serial and notifies.
    for s in secs:
        wait_until(lambda: answer_of(s.port, name, "A") == ()
                   and answer_of(s.port, combined, "A") == (), PROPAGATION_BOUND,
                   what=f"{s.name} drops the expired {addr}")
    want = serials(daemon.port)
    for s in secs:
        s.wait_serials(want, PROPAGATION_BOUND)
    assert_incremental(daemon, mark)


def test_after_changes_still_no_difference(fleet):
    rng = random.Random(7)
    names = rng.sample(fleet["names"], 2000) + [qn("45.68.9.9", "zen.test"),
                                                qn("45.68.1.9", "bl.test")]
    diffs, _ = compare(fleet, names)
    assert not diffs, f"{len(diffs)} differences, first: {diffs[:10]}"


def test_rbldnsd_export_loads_and_answers_the_same(fleet, tmp_path):
    """`rblzone export --format rbldnsd` loaded by rbldnsd answers what
    rblzoned answers: the same A for every sampled name of every zone, and
    the same TXT in IP zones (rbldnsd's "$" is the queried address too)."""
    cli = fleet["cli"]
    specs = []
    # rbldnsd run by root drops to another user (here nobody), which must be
    # able to read its data: a world-readable temporary directory.
    data = Path(tempfile.mkdtemp(prefix="rblzone-rbldnsd-"))
    data.chmod(0o755)
    for zone in ZONES:
        f = data / f"{zone}.rbldnsd"
        f.write_text(cli.ok("export", "--format", "rbldnsd", zone))
        f.chmod(0o644)
        specs.append(f"{zone}:combined:{f.name}")
    port = free_port()
    log = open(tmp_path / "rbldnsd.log", "wb")
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen(["rbldnsd", "-n", *user, "-r", str(data), "-b", f"{HOST}/{port}",
                             *specs], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: answer_of_safe(port, qn("127.0.0.2", "bl.test")), 10,
                   what="rbldnsd answers")
        rng = random.Random(8)
        names = rng.sample(fleet["names"], 3000)
        daemon = fleet["daemon"]
        diffs = []
        with ThreadPoolExecutor(8) as ex:
            def one(name):
                out = []
                qtypes = ["A"] + (["TXT"] if name.endswith((".bl.test", ".pbl.test")) else [])
                for t in qtypes:
                    ours, theirs = answer_of(daemon.port, name, t), answer_of(port, name, t)
                    if ours != theirs:
                        out.append((name, t, ours, theirs))
                return out
            for d in ex.map(one, names):
                diffs += d
        assert not diffs, f"{len(diffs)} differences, first: {diffs[:10]}"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        shutil.rmtree(data)


def answer_of_safe(port, name):
    try:
        return answer_of(port, name, "A")
    except Exception:  # noqa: BLE001 - not up yet
        return None


def test_bind_export_is_the_transferred_zone(fleet):
    """`rblzone export --format bind` holds exactly the records AXFR sends."""
    import dns.zone
    cli, port = fleet["cli"], fleet["daemon"].port
    for zone in ("bl.test", "dbl.test", "zen.test"):
        text = cli.ok("export", zone)
        exported = dns.zone.from_text(text, origin=zone + ".", relativize=False)
        transferred = dns.zone.from_xfr(dns.query.xfr(HOST, zone + ".", port=port, timeout=30,
                                                      relativize=False),
                                        relativize=False)
        assert exported == transferred, zone


# --- TSIG (RFC 8945, hmac-sha256) -------------------------------------------

TSIG_NAME = "xfr-key.test"
TSIG_SECRET = base64.b64encode(os.urandom(32)).decode()
SIG_ZONES = ["sig.test", "dsig.test"]


def keyring(name=TSIG_NAME, secret=TSIG_SECRET):
    return dns.tsigkeyring.from_text({name: ("hmac-sha256", secret)})


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """rblzoned with two zones that require the key, Knot and NSD using it."""
    work = tmp_path_factory.mktemp("tsig")
    knot_port, nsd_port = free_port(), free_port()
    zones_dir = work / "zones"
    zones_dir.mkdir()
    (work / "xfr.key").write_text(TSIG_SECRET + "\n")
    notify = ", ".join(f'"{HOST}:{p}"' for p in (knot_port, nsd_port))
    transfer = (f'[transfer]\nallow = ["127.0.0.0/8"]\nnotify = [{notify}]\n'
                f'[transfer.tsig]\nkey = "{TSIG_NAME}"\n')
    (zones_dir / "sig.test.toml").write_text(
        f'name = "sig.test"\nkind = "ip"\n{transfer}secret = "{TSIG_SECRET}"\n')
    (zones_dir / "dsig.test.toml").write_text(
        f'name = "dsig.test"\nkind = "domain"\n{transfer}algorithm = "hmac-sha256"\n'
        f'secret_file = "{work / "xfr.key"}"\n')
    cli = Cli(work / "data", zones_dir)
    (work / "ip.txt").write_text("".join(f"10.1.{i}.{j}\n" for i in range(4) for j in range(1, 200))
                                 + "10.2.0.0/16\n")
    cli.ok("listing", "load", "sig.test", work / "ip.txt", "--force", "--permanent")
    cli.ok("listing", "add", "dsig.test", "spam.example")
    pool = DaemonPool(work)
    daemon = pool.start(probe_zone="sig.test")
    key = (TSIG_NAME, TSIG_SECRET)
    knot = Knot(work, SIG_ZONES, daemon.port, knot_port, key=key)
    nsd = Nsd(work, SIG_ZONES, daemon.port, nsd_port, key=key)
    try:
        knot.start()
        nsd.start()
        yield {"daemon": daemon, "cli": cli, "knot": knot, "nsd": nsd, "work": work}
    finally:
        knot.stop()
        nsd.stop()
        pool.close()


def sig_serials(port):
    return {z: query(port, z, "SOA").answer[0][0].serial for z in SIG_ZONES}


def test_tsig_secret_is_never_logged(signed):
    for text in (signed["daemon"].log(), signed["cli"].ok("zone", "list")):
        assert TSIG_SECRET not in text
        assert base64.b64decode(TSIG_SECRET).hex() not in text


def test_tsig_axfr_with_the_key_verifies_every_message(signed):
    port = signed["daemon"].port
    # dnspython checks the TSIG of every message, each chained to the one before.
    z = dns.zone.from_xfr(dns.query.xfr(HOST, "sig.test", port=port, timeout=30,
                                        keyring=keyring(), keyname=TSIG_NAME))
    assert z.find_rdataset("@", "SOA")[0].serial == sig_serials(port)["sig.test"]
    assert z.find_rdataset("1.1.1.10", "A")[0].address == "127.0.0.2"
    # Large enough to take many messages (each one signed).
    assert len(z.nodes) > 1000


def xfr_error(port, zone="sig.test", **kw):
    with pytest.raises(Exception) as e:
        list(dns.query.xfr(HOST, zone, port=port, timeout=10, **kw))
    return e.value


def test_tsig_axfr_without_key_wrong_key_or_wrong_secret_is_refused(signed):
    port = signed["daemon"].port
    e = xfr_error(port)
    assert isinstance(e, dns.xfr.TransferError) and e.rcode == dns.rcode.REFUSED, repr(e)
    e = xfr_error(port, keyring=keyring(secret=base64.b64encode(os.urandom(32)).decode()),
                  keyname=TSIG_NAME)
    assert isinstance(e, dns.tsig.PeerBadSignature), repr(e)
    e = xfr_error(port, keyring=keyring(name="other.key"), keyname="other.key")
    assert isinstance(e, dns.tsig.PeerBadKey), repr(e)
    log = signed["daemon"].log()
    assert "(TSIG error 16)" in log and "(TSIG error 17)" in log


def test_tsig_bad_time_gets_badtime(signed):
    port = signed["daemon"].port
    q = dns.message.make_query("sig.test", "AXFR")
    q.use_tsig(keyring(), TSIG_NAME)
    skewed = time.time() - 3600
    with mock.patch("time.time", return_value=skewed):
        wire = q.to_wire()
    r = raw_tcp(port, wire)
    assert r[3] & 0xF == dns.rcode.NOTAUTH
    with pytest.raises(dns.tsig.PeerBadTime):
        dns.message.from_wire(r, keyring=keyring(), request_mac=q.mac)
    # Within the fudge (300 s) is fine.
    q2 = dns.message.make_query("sig.test", "SOA")
    q2.use_tsig(keyring(), TSIG_NAME)
    with mock.patch("time.time", return_value=time.time() - 200):
        wire2 = q2.to_wire()
    r2 = dns.message.from_wire(raw_tcp(port, wire2), keyring=keyring(), request_mac=q2.mac)
    assert r2.rcode() == dns.rcode.NOERROR and r2.had_tsig


def raw_tcp(port, wire: bytes) -> bytes:
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(struct.pack("!H", len(wire)) + wire)
        n = struct.unpack("!H", recv_exact(s, 2))[0]
        return recv_exact(s, n)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        assert chunk, "connection closed"
        buf += chunk
    return buf


def test_tsig_signed_soa_query_gets_a_signed_answer_udp_and_tcp(signed):
    port = signed["daemon"].port
    for tcp in (False, True):
        q = dns.message.make_query("sig.test", "SOA")
        q.use_tsig(keyring(), TSIG_NAME)
        send_q = dns.query.tcp if tcp else dns.query.udp
        r = send_q(q, HOST, port=port, timeout=5)  # dnspython verifies the TSIG
        assert r.had_tsig and r.rcode() == dns.rcode.NOERROR
        assert r.answer[0][0].serial == sig_serials(port)["sig.test"]
        bad = dns.message.make_query("sig.test", "SOA")
        bad.use_tsig(keyring(secret=base64.b64encode(os.urandom(32)).decode()), TSIG_NAME)
        with pytest.raises(dns.tsig.PeerBadSignature):
            send_q(bad, HOST, port=port, timeout=5)
    # Unsigned public queries are answered as before.
    assert query(port, "sig.test", "SOA").rcode() == dns.rcode.NOERROR


def test_tsig_ixfr_with_the_key(signed):
    port, cli = signed["daemon"].port, signed["cli"]
    before = sig_serials(port)["sig.test"]
    cli.ok("listing", "add", "sig.test", "45.9.9.9")
    after = sig_serials(port)["sig.test"]
    assert after != before
    msgs = list(dns.query.xfr(HOST, "sig.test", rdtype=dns.rdatatype.IXFR, serial=before,
                              port=port, timeout=10, keyring=keyring(), keyname=TSIG_NAME))
    records = [rr for m in msgs for rrset in m.answer for rr in rrset]
    # Condensed IXFR: new SOA, old SOA, (removed), new SOA, added, new SOA.
    assert records[0].serial == after and records[1].serial == before
    assert len(records) < 20, len(records)
    assert all(m.had_tsig for m in msgs)


def test_tsig_knot_and_nsd_transfer_and_follow_signed_notify(signed):
    daemon, cli = signed["daemon"], signed["cli"]
    secs = [signed["knot"], signed["nsd"]]
    want = sig_serials(daemon.port)
    for s in secs:
        s.wait_serials(want, 30)
    addr = "45.7.7.7"
    cli.ok("listing", "add", "sig.test", addr, "--code", "127.0.0.4")
    cli.ok("listing", "add", "dsig.test", "more-spam.example")
    # Their SOA refresh is 300 s: following within the bound is NOTIFY's
    # doing, which they accept only signed with the key (their ACLs).
    for s in secs:
        wait_until(lambda: answer_of(s.port, qn(addr, "sig.test"), "A") == ("127.0.0.4",),
                   PROPAGATION_BOUND, what=f"{s.name} lists {addr}")
        wait_until(lambda: answer_of(s.port, "more-spam.example.dsig.test", "A") == ("127.0.0.2",),
                   PROPAGATION_BOUND, what=f"{s.name} lists more-spam.example")
    want = sig_serials(daemon.port)
    for s in secs:
        s.wait_serials(want, PROPAGATION_BOUND)
    log = daemon.log()
    assert "(incremental)" in log, log[-3000:]
    assert "without a valid TSIG" not in log, log[-3000:]


def test_tsig_check_config_reports_bad_keys(tmp_path):
    cases = {
        'secret = "not base64!"\n': "not valid base64",
        f'algorithm = "hmac-md5"\nsecret = "{TSIG_SECRET}"\n': "hmac-sha256",
        'secret_file = "missing.key"\n': "cannot open",
        f'secret = "{TSIG_SECRET}"\nsecret_file = "x"\n': "exactly one of secret",
    }
    for i, (body, expected) in enumerate(cases.items()):
        zones = tmp_path / f"zones{i}"
        zones.mkdir()
        (zones / "bl.test.toml").write_text(
            f'name = "bl.test"\n[transfer]\nallow = ["127.0.0.0/8"]\n[transfer.tsig]\n'
            f'key = "k"\n{body}')
        r = subprocess.run([str(RBLZONED), "--zones", str(zones), "--data-dir",
                            str(tmp_path / "data"), "--check-config"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode != 0, (body, r.stdout)
        assert expected in r.stderr and "transfer.tsig" in r.stderr, (body, r.stderr)
        assert "not base64!" not in r.stderr
    zones = tmp_path / "nokey"
    zones.mkdir()
    (zones / "bl.test.toml").write_text(
        f'name = "bl.test"\n[transfer.tsig]\nsecret = "{TSIG_SECRET}"\n')
    r = subprocess.run([str(RBLZONED), "--zones", str(zones), "--data-dir", str(tmp_path / "data"),
                        "--check-config"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "transfer.tsig.key" in r.stderr, r.stderr
    assert TSIG_SECRET not in r.stderr
