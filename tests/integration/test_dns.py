"""rblzoned's DNS answers, black-box, one test (or table) per requirement in
docs dnsbl-requirements.md (R1..R45), plus live data, SIGHUP reload and a
dig smoke test. Clients: dnspython, raw sockets and dig, on 127.0.0.1.
"""

from __future__ import annotations

import ctypes.util
import ipaddress
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from conftest import LONG_DOMAIN
from harness import (HOST, NEGATIVE_TTL, RBLZONE, SOURCE_DIR, a_values, header, make, qn, query,
                     raw_udp, rev, send, txt_records, wait_until, write_zones)

A = dns.rdatatype.A
TXT = dns.rdatatype.TXT
SOA = dns.rdatatype.SOA
NS = dns.rdatatype.NS

V6 = "2001:db8:dead::25"
V6_NAME = "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.a.e.d.8.b.d.0.1.0.0.2"


# --- assertions ---------------------------------------------------------------

def zone_of(qname: str) -> str:
    for z in NEGATIVE_TTL:
        n = qname.lower().rstrip(".")
        if n == z or n.endswith("." + z):
            return z
    raise AssertionError(qname)


def assert_listed(r, codes=None):
    assert r.rcode() == dns.rcode.NOERROR, f"want NOERROR, got {dns.rcode.to_text(r.rcode())}\n{r}"
    assert r.flags & dns.flags.AA, f"AA not set\n{r}"
    got = a_values(r)
    assert got, f"no A record\n{r}"
    for a in got:
        ip = ipaddress.ip_address(a)
        assert ip in ipaddress.ip_network("127.0.0.0/8") and a != "127.0.0.1", f"bad code {a}"
    if codes is not None:
        assert got == sorted(codes), f"want codes {sorted(codes)}, got {got}"


def assert_negative(r, rcode, zone=None):
    """NXDOMAIN or NODATA: AA, empty answer, exactly the zone SOA in authority
    with TTL min(soa.ttl, soa.minimum), no NS (R18, R19, R20)."""
    qname = r.question[0].name.to_text()
    zone = zone or zone_of(qname)
    assert r.rcode() == rcode, (f"{qname}: want {dns.rcode.to_text(rcode)}, "
                                f"got {dns.rcode.to_text(r.rcode())}\n{r}")
    assert r.flags & dns.flags.AA, f"{qname}: AA not set\n{r}"
    assert not r.answer, f"{qname}: answer not empty\n{r}"
    assert len(r.authority) == 1 and r.authority[0].rdtype == SOA, f"{qname}: want one SOA\n{r}"
    soa = r.authority[0]
    assert soa.name.to_text().lower() == zone + ".", soa.name
    assert soa.ttl == NEGATIVE_TTL[zone], f"{qname}: SOA TTL {soa.ttl}, want {NEGATIVE_TTL[zone]}"
    assert len(soa) == 1


def assert_nxdomain(r, zone=None):
    assert_negative(r, dns.rcode.NXDOMAIN, zone)


def assert_nodata(r, zone=None):
    assert_negative(r, dns.rcode.NOERROR, zone)


def one_txt(r) -> str:
    recs = txt_records(r)
    assert len(recs) == 1, f"want exactly one TXT, got {len(recs)}\n{r}"
    strings = recs[0].strings
    assert len(strings) == 1, f"want one character-string, got {len(strings)}"
    s = strings[0]
    assert len(s) <= 255
    assert all(0x20 <= c < 0x7F for c in s), f"not printable ASCII: {s!r}"
    return s.decode("ascii")


# --- A. query names ---------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "02.0.0.127",      # leading zero
    "2.00.0.127",      # leading zero
    "2.0.0.0x7f",      # hex
    "2.0.0.256",       # out of range
    "0.2.0.0.127",     # a fifth label
    "2.0.0.127.127",   # a fifth label
    "1.02.0.192",      # leading zero on a listed address
])
def test_r01_noncanonical_ipv4_labels_nxdomain(served, name):
    assert_nxdomain(query(served.port, f"{name}.dnsbl.test"))


def test_r01_canonical_ipv4_listed(served):
    assert_listed(query(served.port, "2.0.0.127.dnsbl.test"), ["127.0.0.2"])
    assert_listed(query(served.port, "1.2.0.192.dnsbl.test"), ["127.0.0.2"])


@pytest.mark.parametrize("name", [V6_NAME, V6_NAME.upper(), "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.D.a.E.d.8.B.d.0.1.0.0.2"])
def test_r02_ipv6_nibbles_any_case(served, name):
    r = query(served.port, f"{name}.dnsbl.test", "ANY")
    assert_listed(r, ["127.0.0.2"])
    assert V6 in one_txt(r)


def test_r02_ipv6_malformed_nibbles_nxdomain(served):
    # 33 nibbles, a two-character label, and a non-hex nibble
    assert_nxdomain(query(served.port, f"0.{V6_NAME}.dnsbl.test"))
    assert_nxdomain(query(served.port, f"{V6_NAME.replace('5.2', '25', 1)}.dnsbl.test"))
    assert_nxdomain(query(served.port, f"{V6_NAME.replace('5', 'g', 1)}.dnsbl.test"))


@pytest.mark.parametrize("v4", ["192.0.2.1", "127.0.0.2", "192.0.2.7"])
def test_r03_v4_mapped_equals_ipv4(served, v4):
    mapped = rev(f"::ffff:{v4}")
    for zone in ("dnsbl.test", "zen.test"):
        plain = query(served.port, f"{rev(v4)}.{zone}", "ANY")
        nib = query(served.port, f"{mapped}.{zone}", "ANY")
        assert_listed(plain)
        assert_listed(nib)
        assert a_values(nib) == a_values(plain), zone
        assert one_txt(nib) == one_txt(plain), zone


def test_r03_v4_mapped_unlisted_nxdomain(served):
    assert_nxdomain(query(served.port, f"{rev('::ffff:192.0.2.99')}.dnsbl.test"))


def test_r04_shared_v4_v6_prefix_is_union(served):
    # 1.0.0.2 is IPv4 2.0.0.1 (not listed) and an ancestor of 2001::/16 (listed below)
    assert_nodata(query(served.port, "1.0.0.2.dnsbl.test"))
    # control: neither 3.0.0.1 nor anything in 3001::/16 is listed
    assert_nxdomain(query(served.port, "1.0.0.3.dnsbl.test"))


@pytest.mark.parametrize("name,listed", [
    ("spammer.example", True),            # exact entry, the name itself
    ("host.spammer.example", False),      # exact entry does not cover hosts
    ("subtree.example", True),            # *.subtree.example: the domain ...
    ("host.subtree.example", True),       # ... and everything below it
    ("a.b.subtree.example", True),
    ("notsubtree.example", False),
    ("spammer.example.org", False),
    ("test", True),                       # R16 test point
    ("invalid", False),
])
def test_r05_domain_exact_vs_subtree(served, name, listed):
    r = query(served.port, f"{name}.rhsbl.test")
    if listed:
        assert_listed(r, ["127.0.0.2"])
    else:
        assert_nxdomain(r)


def test_r06_ip_query_in_domain_zone_is_no_listing_code(served):
    r = query(served.port, "2.0.0.127.rhsbl.test")
    for a in a_values(r):
        assert ipaddress.ip_address(a) not in ipaddress.ip_network("127.0.0.0/24"), a


@pytest.mark.parametrize("name,listed", [
    ("3.2.1.10", False),     # excluded
    ("4.2.1.10", True),      # inside 10.1.0.0/16
    ("0.0.1.10", True),
    ("255.255.1.10", True),
    ("0.0.2.10", False),     # outside
    ("x.3.2.1.10", False),   # no wildcard below a listed name
    ("x.4.2.1.10", False),
])
def test_r07_range_with_exclusion(served, name, listed):
    r = query(served.port, f"{name}.dnsbl.test")
    if listed:
        assert_listed(r, ["127.0.0.2"])
        assert r.answer[0].name.to_text() == f"{name}.dnsbl.test."
    else:
        assert_nxdomain(r)


# --- B. positive answers ------------------------------------------------------------

def test_r08_every_stored_listing_answers_codes_in_127_8(served):
    checked = 0
    for zone in ("dnsbl.test", "pbl.test"):
        for item in served.cli.listings(zone):
            if item["listing"]["exclusion"]:
                continue
            net = ipaddress.ip_network(item["subject"])
            for z in (zone, "zen.test"):
                r = query(served.port, qn(str(net.network_address), z))
                assert_listed(r)
                checked += 1
    assert checked >= 10


@pytest.mark.parametrize("zone,subject,codes", [
    ("dnsbl.test", "192.0.2.7", ["127.0.0.3"]),                 # --code trap
    ("pbl.test", "192.0.2.7", ["127.0.0.10"]),                  # the zone's default_code
    ("zen.test", "192.0.2.7", ["127.0.0.10", "127.0.0.3"]),     # union of the members
    ("dnsbl.test", "192.0.2.8", ["127.0.0.5"]),                 # --code 127.0.0.5
    ("zen.test", "192.0.2.8", ["127.0.0.5"]),
    ("zen.test", "127.0.0.2", ["127.0.0.2"]),                   # test point once, not per member
])
def test_r08_r09_codes(served, zone, subject, codes):
    r = query(served.port, qn(subject, zone))
    assert_listed(r, codes)
    for rrset in r.answer:
        assert rrset.ttl == (3600 if zone == "pbl.test" else 900)


@pytest.mark.parametrize("zone,subject,url", [
    ("dnsbl.test", "192.0.2.1", "http://lookup.test/q/192.0.2.1"),
    ("dnsbl.test", V6, f"http://lookup.test/q/{V6}"),
    ("pbl.test", "192.0.2.7", "http://lookup.test/pbl/192.0.2.7"),
    # a combined zone answers with its own txt/lookup_url (docs/configuration.md)
    ("zen.test", "192.0.2.7", "http://lookup.test/zen/192.0.2.7"),
    ("zen.test", "192.0.2.8", "http://lookup.test/zen/192.0.2.8"),
    ("zen.test", "127.0.0.2", "http://lookup.test/zen/127.0.0.2"),
    ("dnsbl.test", "127.0.0.2", "http://lookup.test/q/127.0.0.2"),
])
def test_r10_one_txt_with_address_and_url(served, zone, subject, url):
    for qtype in ("TXT", "ANY"):
        r = query(served.port, qn(subject, zone), qtype)
        assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
        text = one_txt(r)
        assert subject in text, text
        assert url in text, text


def test_r10_long_reason_cut_to_255(served):
    r = query(served.port, qn("192.0.2.20", "dnsbl.test"), "TXT")
    text = one_txt(r)
    assert len(text) == 255, len(text)
    assert text.startswith("Listed: rrrr"), text


def test_r10_domain_txt(served):
    text = one_txt(query(served.port, "host.subtree.example.rhsbl.test", "TXT"))
    assert "whole subtree" in text and "http://lookup.test/d/host.subtree.example" in text, text


def test_r12_any_is_minimal(served):
    name = qn("192.0.2.1", "dnsbl.test")
    r = query(served.port, name, "ANY")
    assert_listed(r, ["127.0.0.2"])
    assert sorted(rr.rdtype for rr in r.answer) == [A, TXT]
    for rrset in r.answer:
        assert rrset.name.to_text() == name + "."
    apex = query(served.port, "dnsbl.test", "ANY")
    assert apex.rcode() == dns.rcode.NOERROR and apex.flags & dns.flags.AA
    types = {rr.rdtype for rr in apex.answer}
    assert types and types <= {SOA, NS}, apex
    assert_nxdomain(query(served.port, qn("192.0.2.99", "dnsbl.test"), "ANY"))


# --- C. RFC 5782 test points --------------------------------------------------------

@pytest.mark.parametrize("zone", ["dnsbl.test", "pbl.test", "zen.test"])
def test_r13_r14_ipv4_test_points(served, zone):
    r = query(served.port, f"2.0.0.127.{zone}", "ANY")
    assert_listed(r, ["127.0.0.2"])
    one_txt(r)
    assert_nxdomain(query(served.port, f"1.0.0.127.{zone}"))


@pytest.mark.parametrize("zone", ["dnsbl.test", "zen.test"])
def test_r15_ipv6_test_points(served, zone):
    assert_listed(query(served.port, qn("::ffff:7f00:2", zone)), ["127.0.0.2"])
    assert_nxdomain(query(served.port, qn("::ffff:7f00:1", zone)))


def test_r16_domain_test_points(served):
    assert_listed(query(served.port, "test.rhsbl.test"), ["127.0.0.2"])
    assert_listed(query(served.port, "TEST.rhsbl.test"), ["127.0.0.2"])
    assert_nxdomain(query(served.port, "invalid.rhsbl.test"))


def one_line_error(r):
    lines = r.stderr.strip("\n").split("\n")
    return len(lines) == 1 and lines[0] != ""


def test_r13_r17_test_points_survive_cli_attempts(env, pool):
    """The CLI refuses to list the negative test points and to delist or
    exclude the positive ones; whatever happened, DNS keeps them."""
    attempts = [
        ("listing", "add", "dnsbl.test", "127.0.0.1"),
        ("listing", "add", "dnsbl.test", "127.0.0.1", "--force"),
        ("listing", "add", "dnsbl.test", "127.0.0.0/24", "--force"),
        ("listing", "add", "dnsbl.test", "::ffff:127.0.0.1", "--force"),
        ("listing", "remove", "dnsbl.test", "127.0.0.2"),
        ("listing", "add", "dnsbl.test", "127.0.0.2", "--exclude", "--force"),
        ("listing", "add", "dnsbl.test", "::ffff:127.0.0.2", "--exclude", "--force"),
        ("listing", "add", "rhsbl.test", "invalid"),
        ("listing", "remove", "rhsbl.test", "test"),
        ("listing", "add", "rhsbl.test", "test", "--exclude"),
    ]
    results = [(a, env.run(*a)) for a in attempts]
    d = pool.start(env.data_dir, env.zones_dir)
    assert_listed(query(d.port, "2.0.0.127.dnsbl.test"), ["127.0.0.2"])
    assert_listed(query(d.port, qn("::ffff:7f00:2", "dnsbl.test")), ["127.0.0.2"])
    assert_nxdomain(query(d.port, "1.0.0.127.dnsbl.test"))
    assert_nxdomain(query(d.port, qn("::ffff:7f00:1", "dnsbl.test")))
    assert_listed(query(d.port, "test.rhsbl.test"), ["127.0.0.2"])
    assert_nxdomain(query(d.port, "invalid.rhsbl.test"))
    accepted = [(" ".join(a), r.returncode, r.stdout.strip()) for a, r in results
                if r.returncode != 2 or not one_line_error(r)]
    assert not accepted, f"want exit 2 with one line on stderr, got: {accepted}"


# --- D. negative answers ------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "1.0.0.127.dnsbl.test", "99.2.0.192.dnsbl.test", "1.0.0.127.pbl.test",
    "99.2.0.192.zen.test", "nothing.example.rhsbl.test",
])
def test_r18_nxdomain_with_negative_ttl_soa(served, name):
    r = query(served.port, name)
    assert_nxdomain(r)
    soa = r.authority[0][0]
    z = zone_of(name)
    assert soa.mname.to_text() == f"ns1.{z}." and soa.rname.to_text() == f"hostmaster.{z}."
    assert soa.minimum == {"dnsbl.test": 60, "pbl.test": 120}.get(z, 60)


@pytest.mark.parametrize("name,qtype", [
    ("2.0.0.127.dnsbl.test", "AAAA"),
    ("1.2.0.192.dnsbl.test", "AAAA"),
    ("1.2.0.192.dnsbl.test", "MX"),
    ("7.2.0.192.zen.test", "NS"),
    ("spammer.example.rhsbl.test", "AAAA"),
])
def test_r19_listed_name_other_type_nodata(served, name, qtype):
    assert_nodata(query(served.port, name, qtype))


@pytest.mark.parametrize("name", [
    "0.0.127.dnsbl.test", "0.127.dnsbl.test", "127.dnsbl.test",
    "2.0.192.dnsbl.test", "0.192.dnsbl.test", "192.dnsbl.test",   # above 192.0.2.1
    "1.10.dnsbl.test", "10.dnsbl.test",                             # above 10.1.0.0/16
    "0.0.127.zen.test", "2.0.192.pbl.test", "2.0.192.zen.test",
    "example.rhsbl.test",                                            # above spammer.example
    f"{LONG_DOMAIN.split('.', 3)[3]}.rhsbl.test",                    # above the long domain
])
def test_r20_empty_non_terminals_nodata(served, name):
    assert_nodata(query(served.port, name))


def test_r20_every_prefix_of_a_listed_ipv6_is_nodata(served):
    labels = V6_NAME.split(".")
    for n in range(1, 32):
        name = ".".join(labels[32 - n:]) + ".dnsbl.test"
        assert_nodata(query(served.port, name))


@pytest.mark.parametrize("name", ["9.9.9.dnsbl.test", "8.dnsbl.test", "f.f.f.f.dnsbl.test",
                                  "3.2.1.dnsbl.test", "nothing.rhsbl.test"])
def test_r20_no_listing_below_nxdomain(served, name):
    assert_nxdomain(query(served.port, name))


@pytest.mark.parametrize("name", ["dnsbl.test", "2.0.0.127.dnsbl.test", "0.0.127.dnsbl.test",
                                  "rhsbl.test", "spammer.example.rhsbl.test"])
def test_r21_unknown_type_nodata(served, name):
    assert_nodata(query(served.port, name, "TYPE666"))


@pytest.mark.parametrize("edns", [False, True])
@pytest.mark.parametrize("tcp", [False, True])
def test_r22_apex_soa_ns(served, edns, tcp):
    r = query(served.port, "dnsbl.test", "SOA", edns=edns, tcp=tcp)
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA, r
    assert len(r.answer) == 1 and r.answer[0].rdtype == SOA and len(r.answer[0]) == 1
    soa = r.answer[0]
    assert soa.ttl == 300
    assert soa[0].mname.to_text() == "ns1.dnsbl.test." and soa[0].minimum == 60
    r = query(served.port, "dnsbl.test", "NS", edns=edns, tcp=tcp)
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA, r
    assert len(r.answer) == 1 and r.answer[0].rdtype == NS
    assert sorted(x.target.to_text() for x in r.answer[0]) == ["ns1.dnsbl.test.", "ns2.dnsbl.test."]
    assert r.answer[0].ttl == 86400


@pytest.mark.parametrize("qtype", ["A", "TXT", "AAAA", "MX"])
def test_r22_apex_other_types_nodata(served, qtype):
    assert_nodata(query(served.port, "dnsbl.test", qtype))
    assert_nodata(query(served.port, "zen.test", qtype))


# --- E. protocol -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["example.com", "test", ".", "xdnsbl.test",
                                  "2.0.0.127.dnsbl.test.example", "dnsbl.tes"])
def test_r23_out_of_zone_refused(served, name):
    for edns in (False, True):
        r = query(served.port, name, edns=edns)
        assert r.rcode() == dns.rcode.REFUSED, r
        assert not r.flags & dns.flags.AA, r
        assert not r.answer and not r.authority and not r.additional, r


@pytest.mark.parametrize("name,rdclass", [("version.bind", "CH"), ("id.server", "CH"),
                                          ("dnsbl.test", "CH"), ("2.0.0.127.dnsbl.test", "HS")])
def test_r23_r34_other_classes_refused(served, name, rdclass):
    m = dns.message.make_query(name, "TXT", rdclass, flags=0)
    r = send(served.port, m)
    assert r.rcode() == dns.rcode.REFUSED, dns.rcode.to_text(r.rcode())
    assert not r.flags & dns.flags.AA
    assert not r.answer and not r.authority


@pytest.mark.parametrize("qtype", ["AXFR", "IXFR"])
@pytest.mark.parametrize("tcp", [False, True])
def test_r40_transfers_refused_until_offered(served, qtype, tcp):
    """docs/dns.md: AXFR/IXFR are REFUSED (not offered yet); over UDP R40 allows
    NOTIMP, FORMERR or REFUSED."""
    m = make("dnsbl.test", qtype)
    if qtype == "IXFR":
        m.authority.append(dns.rrset.from_text("dnsbl.test.", 0, "IN", "SOA",
                                               "ns1.dnsbl.test. hostmaster.dnsbl.test. 1 1 1 1 1"))
    wire = m.to_wire()
    if tcp:
        with socket.create_connection((HOST, served.port), timeout=3) as s:
            s.sendall(struct.pack("!H", len(wire)) + wire)
            r = read_frame(s)
    else:
        resp = raw_udp(served.port, wire)
        assert resp is not None
        r = dns.message.from_wire(resp)
    assert r.rcode() in (dns.rcode.REFUSED, dns.rcode.NOTIMP, dns.rcode.FORMERR), r
    assert not r.answer, "a zone transfer was served"


def raw_query(qname="dnsbl.test", qtype="SOA", edns=False) -> bytearray:
    return bytearray(make(qname, qtype, edns=edns, qid=0x4242).to_wire())


@pytest.mark.parametrize("edns", [False, True])
def test_r24_unknown_opcode_notimp(served, edns):
    q = raw_query(edns=edns)
    q[2] = (15 << 3) | 0x01  # opcode 15, RD
    q[3] = 0x30              # AD, CD set in the query
    resp = raw_udp(served.port, bytes(q))
    assert resp is not None, "no reply to opcode 15"
    qid, flags, *_ = header(resp)
    assert qid == 0x4242
    assert flags & 0x8000, "QR"
    assert (flags >> 11) & 0xF == 15, f"opcode not echoed: {flags:#06x}"
    assert flags & 0xF == dns.rcode.NOTIMP, f"rcode {flags & 0xF}"
    for bit, name in ((0x0400, "AA"), (0x0100, "RD"), (0x0080, "RA"), (0x0020, "AD"),
                      (0x0010, "CD"), (0x0040, "Z")):
        assert not flags & bit, f"{name} set on NOTIMP: {flags:#06x}"
    assert len(resp) <= max(len(q), 512)
    # dnspython cannot parse opcode 15: check the OPT by hand (R29)
    *_, ar = header(resp)
    assert ar == (1 if edns else 0), f"OPT iff asked: ARCOUNT {ar}"
    if edns:
        assert resp[-11:-8] == b"\x00\x00\x29" and resp[-5] == 0, f"not an OPT v0: {resp.hex()}"


@pytest.mark.parametrize("opcode", [4, 5])
def test_r24_notify_update_notimp_or_refused(served, opcode):
    q = raw_query()
    q[2] = opcode << 3
    resp = raw_udp(served.port, bytes(q))
    assert resp is not None
    _, flags, *_ = header(resp)
    assert (flags >> 11) & 0xF == opcode
    assert flags & 0xF in (dns.rcode.NOTIMP, dns.rcode.REFUSED)
    assert not flags & 0x0480, "AA/RA set"


OPT = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)


def _malformed():
    q = bytes(raw_query())
    hdr = q[:12]
    body = q[12:]
    qid = b"\x42\x42"
    yield "qdcount0", struct.pack("!HHHHHH", 0x4242, 0, 0, 0, 0, 0), "formerr"
    yield "qdcount0+opt", struct.pack("!HHHHHH", 0x4242, 0, 0, 0, 0, 1) + OPT, "formerr"
    yield "two-opts", hdr[:10] + b"\x00\x02" + body + OPT + OPT, "formerr"
    yield "opt-in-answer", hdr[:6] + b"\x00\x01" + hdr[8:] + body + OPT, "formerr"
    yield "opt-in-authority", hdr[:8] + b"\x00\x01" + hdr[10:] + body + OPT, "formerr"
    yield "qdcount2", hdr[:4] + b"\x00\x02" + hdr[6:] + body + body, "formerr"  # docs/dns.md: FORMERR
    yield "qdcount-lies", hdr[:4] + b"\x00\x05" + hdr[6:] + body, "formerr"
    yield "trailing-bytes", q + b"\x00\x00\x00", "formerr"
    yield "truncated-name", hdr + b"\x05dnsbl\x04te", "formerr-or-drop"
    yield "no-qtype", hdr + body[:-4], "formerr-or-drop"
    yield "label-too-long", hdr + b"\x50" + b"a" * 80 + b"\x00\x00\x01\x00\x01", "formerr-or-drop"
    yield "pointer-loop", hdr + b"\xc0\x0c\x00\x01\x00\x01", "formerr-or-drop"
    yield "empty", b"", "drop"
    yield "one-byte", b"\x00", "drop"
    yield "short-header", qid + b"\x01\x00\x00\x01\x00", "drop"
    yield "eleven-ff", b"\xff" * 11, "drop"
    yield "garbage-512", bytes(range(256)) * 2, "formerr-or-drop"
    yield "garbage-ff", b"\xff" * 40, "formerr-or-drop"
    yield "ascii", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "formerr-or-drop"


MALFORMED = list(_malformed())


@pytest.mark.parametrize("name,packet,want", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_r25_malformed_formerr_or_silence(served, name, packet, want):
    resp = raw_udp(served.port, packet, timeout=0.5)
    if resp is None:
        assert want != "formerr", f"{name}: no reply, want FORMERR"
    else:
        assert want != "drop", f"{name}: replied to garbage: {resp.hex()}"
        assert len(resp) <= len(packet), f"{name}: amplification {len(resp)} > {len(packet)}"
        qid, flags, *_ = header(resp)
        assert qid == struct.unpack("!H", packet[:2])[0]
        assert flags & 0x8000 and flags & 0xF == dns.rcode.FORMERR, f"{name}: flags {flags:#06x}"
    # the server is still there
    assert query(served.port, "dnsbl.test", "SOA").rcode() == dns.rcode.NOERROR


def test_r26_no_reply_to_responses(served):
    """Sends a QR=1 message and then a normal query from the same socket;
    UDP replies come back in order, so the sentinel's reply arriving first
    (and nothing else queued behind it) means the response got none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2.0)
        for qtype in ("SOA", "A"):
            bad = raw_query("2.0.0.127.dnsbl.test", qtype)
            bad[0:2] = b"\x66\x66"
            bad[2] |= 0x84  # QR, AA: a response
            s.sendto(bytes(bad), (HOST, served.port))
            good = raw_query("dnsbl.test", "SOA")
            good[0:2] = b"\x77\x77"
            s.sendto(bytes(good), (HOST, served.port))
            got = s.recv(65535)
            assert got[:2] == b"\x77\x77", f"reply to a QR=1 message: {got.hex()}"
        s.setblocking(False)
        with pytest.raises(BlockingIOError):
            s.recv(65535)


@pytest.mark.parametrize("name,qtype", [
    ("2.0.0.127.DnSbL.TeSt", "A"),
    ("2.0.0.127.DnSbL.TeSt", "TXT"),
    ("5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.D.a.E.d.8.B.d.0.1.0.0.2.dNsBl.TEST", "ANY"),
    ("SpAmMeR.ExAmPlE.rHsBl.TeSt", "A"),
    ("HoSt.SuBtReE.eXaMpLe.RhSbL.tEsT", "ANY"),
    ("DnSbL.TeSt", "SOA"),
])
def test_r27_case_echoed(served, name, qtype):
    q = make(name, qtype, qid=0x2727)
    wire = q.to_wire()  # no EDNS: everything after the header is the question
    resp = raw_udp(served.port, wire)
    assert resp is not None
    assert resp[12:len(wire)] == wire[12:], "question not echoed byte for byte"
    for r in (dns.message.from_wire(resp), send(served.port, q, tcp=True)):
        assert r.answer, r
        assert r.question[0].name.to_text() == name + "."
        for rrset in r.answer:
            assert rrset.name.to_text() == name + ".", f"owner {rrset.name} not in the query's case"


@pytest.mark.parametrize("name,qtype", [
    ("2.0.0.127.dnsbl.test", "A"), ("1.0.0.127.dnsbl.test", "A"), ("0.0.127.dnsbl.test", "A"),
    ("dnsbl.test", "SOA"), ("dnsbl.test", "TYPE666"), ("spammer.example.rhsbl.test", "TXT"),
])
@pytest.mark.parametrize("rd", [False, True])
@pytest.mark.parametrize("edns", [False, True])
def test_r28_header_bits(served, name, qtype, rd, edns):
    q = raw_query(name, qtype, edns=edns)
    if rd:
        q[2] |= 0x01
    resp = raw_udp(served.port, bytes(q))
    assert resp is not None
    _, flags, qd, *_ = header(resp)
    assert flags & 0x8000, "QR"
    assert (flags >> 11) & 0xF == 0, "opcode"
    assert flags & 0x0400, "AA"
    assert bool(flags & 0x0100) == rd, "RD not copied"
    assert not flags & 0x0080, "RA"
    assert not flags & 0x0040, "Z"
    assert not flags & 0x0020, "AD"
    assert not flags & 0x0200, "TC"
    assert qd == 1


CASES_R29 = [
    ("2.0.0.127.dnsbl.test", "A", dns.rcode.NOERROR),
    ("1.0.0.127.dnsbl.test", "A", dns.rcode.NXDOMAIN),
    ("0.0.127.dnsbl.test", "A", dns.rcode.NOERROR),
    ("example.com", "A", dns.rcode.REFUSED),
    ("dnsbl.test", "SOA", dns.rcode.NOERROR),
    ("1.2.0.192.acl.test", "A", dns.rcode.REFUSED),
]


@pytest.mark.parametrize("name,qtype,rcode", CASES_R29)
@pytest.mark.parametrize("tcp", [False, True])
def test_r29_opt_iff_asked(served, name, qtype, rcode, tcp):
    r = query(served.port, name, qtype, tcp=tcp)
    assert r.rcode() == rcode
    assert r.edns == -1, "OPT without being asked"
    for payload in (512, 1232, 4096):
        r = query(served.port, name, qtype, edns=True, payload=payload, tcp=tcp)
        assert r.rcode() == rcode
        assert r.edns == 0, "no OPT v0 in the reply"
        assert r.payload == 1232, f"advertised {r.payload}"
        assert not r.additional, r  # dnspython keeps the OPT out of this list


@pytest.mark.parametrize("name", ["qdcount0+opt", "two-opts"])
def test_r29_opt_on_formerr(served, name):
    """A FORMERR to a query that carries a well-formed OPT in its additional
    section carries an OPT too (RFC 6891 §7: a request with OPT gets one)."""
    q = bytes(raw_query())
    packet = {
        "qdcount0+opt": struct.pack("!HHHHHH", 0x4242, 0, 0, 0, 0, 1) + OPT,
        "two-opts": q[:10] + b"\x00\x02" + q[12:] + OPT + OPT,
    }[name]
    resp = raw_udp(served.port, packet)
    assert resp is not None, "no reply"
    _, flags, qd, an, ns, ar = header(resp)
    assert flags & 0xF == dns.rcode.FORMERR, f"rcode {flags & 0xF}"
    assert ar == 1, f"FORMERR without OPT: {resp.hex()}"
    assert resp[-11:-8] == b"\x00\x00\x29" and resp[-5] == 0, resp.hex()
    assert len(resp) <= len(packet)


@pytest.mark.parametrize("name", ["dnsbl.test", "2.0.0.127.dnsbl.test", "1.0.0.127.dnsbl.test"])
@pytest.mark.parametrize("tcp", [False, True])
def test_r30_unknown_edns_version_badvers(served, name, tcp):
    m = make(name, "SOA", edns=True, version=1)
    wire = m.to_wire()
    assert wire[-11 + 6] == 1, "dnspython did not send EDNS version 1"
    r = send(served.port, m, tcp=tcp)
    assert r.rcode() == dns.rcode.BADVERS, dns.rcode.to_text(r.rcode())
    assert r.flags & 0xF == 0, "header rcode must be 0 (BADVERS is extended rcode 1)"
    assert r.edns == 0, f"OPT version {r.edns}"
    assert not r.answer and not r.authority, r


def test_r31_unknown_option_not_echoed(served):
    r = query(served.port, "dnsbl.test", "SOA", edns=True,
              options=[dns.edns.GenericOption(100, b"\x01\x02\x03")])
    assert r.rcode() == dns.rcode.NOERROR and r.answer
    assert r.edns == 0 and list(r.options) == [], r.options


def test_r31_unknown_flags_not_echoed(served):
    r = query(served.port, "dnsbl.test", "SOA", edns=True, ednsflags=0x0080)
    assert r.rcode() == dns.rcode.NOERROR and r.answer
    assert r.edns == 0 and r.ednsflags & 0xFFFF == 0, f"{r.ednsflags:#x}"


def test_r31_do_bit(served):
    r = query(served.port, "dnsbl.test", "SOA", edns=True, dnssec=True)
    assert r.rcode() == dns.rcode.NOERROR and r.answer
    assert r.ednsflags & dns.flags.DO, "DO not copied (RFC 3225)"
    assert r.ednsflags & 0x7FFF == 0
    r = query(served.port, "dnsbl.test", "SOA", edns=True)
    assert not r.ednsflags & dns.flags.DO


LONG_NAME = f"{LONG_DOMAIN}.rhsbl.test"


@pytest.mark.parametrize("kw", [dict(), dict(edns=True, payload=512), dict(edns=True, payload=100)],
                         ids=["noedns", "edns512", "edns100"])
@pytest.mark.parametrize("qtype", ["TXT", "ANY"])
def test_r32_truncation(served, kw, qtype):
    q = make(LONG_NAME, qtype, **kw)
    resp = raw_udp(served.port, q.to_wire())
    assert resp is not None
    _, flags, *_ = header(resp)
    assert len(resp) <= 512, len(resp)
    assert flags & 0x0200, f"TC not set for a {qtype} answer over 512 bytes"
    r = dns.message.from_wire(resp)
    # never a silently shortened RRset
    for rrset in r.answer:
        assert rrset.rdtype != TXT or len(rrset[0].strings[0]) == 255
    # over TCP: the whole answer
    full = send(served.port, q, tcp=True)
    assert not full.flags & dns.flags.TC
    if qtype == "ANY":
        assert_listed(full, ["127.0.0.2"])
    assert len(one_txt(full)) == 255
    assert len(full.to_wire()) > 512


def test_r32_fits_without_tc(served):
    r = query(served.port, LONG_NAME, "A")  # 280 bytes: fits in 512
    assert not r.flags & dns.flags.TC
    assert_listed(r, ["127.0.0.2"])
    r = query(served.port, LONG_NAME, "ANY", edns=True, payload=1232)
    assert not r.flags & dns.flags.TC
    assert_listed(r, ["127.0.0.2"])
    assert len(one_txt(r)) == 255


def test_r33_tcp_every_type(served):
    for name, qtype in (("2.0.0.127.dnsbl.test", "A"), ("2.0.0.127.dnsbl.test", "TXT"),
                        ("dnsbl.test", "SOA"), ("dnsbl.test", "NS"), ("1.0.0.127.dnsbl.test", "A"),
                        ("dnsbl.test", "TYPE666"), ("example.com", "A")):
        u = query(served.port, name, qtype)
        t = query(served.port, name, qtype, tcp=True)
        assert t.rcode() == u.rcode() and t.answer == u.answer and t.authority == u.authority


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def tcp_frame(m: dns.message.Message) -> bytes:
    w = m.to_wire()
    return struct.pack("!H", len(w)) + w


def read_frame(sock) -> dns.message.Message:
    (n,) = struct.unpack("!H", read_exact(sock, 2))
    return dns.message.from_wire(read_exact(sock, n))


def test_r33_tcp_pipelining(served):
    names = [("2.0.0.127.dnsbl.test", "A"), ("1.0.0.127.dnsbl.test", "A"),
             ("1.2.0.192.dnsbl.test", "TXT"), ("dnsbl.test", "SOA"), ("spammer.example.rhsbl.test", "A")]
    queries = [make(n, t, qid=1000 + i) for i, (n, t) in enumerate(names)]
    with socket.create_connection((HOST, served.port), timeout=3) as s:
        s.sendall(b"".join(tcp_frame(q) for q in queries))  # all at once, one segment
        got = {}
        for _ in queries:
            r = read_frame(s)
            got[r.id] = r
        # then more on the same connection, one at a time
        for i in range(3):
            s.sendall(tcp_frame(make("dnsbl.test", "SOA", qid=2000 + i)))
            assert read_frame(s).id == 2000 + i
    assert sorted(got) == [1000 + i for i in range(len(names))]
    assert got[1000].rcode() == dns.rcode.NOERROR and a_values(got[1000]) == ["127.0.0.2"]
    assert got[1001].rcode() == dns.rcode.NXDOMAIN
    assert "spam seen" in one_txt(got[1002])


def daemon_with_config(tmp_path, pool, dns_section):
    cfg = tmp_path / "rblzoned.toml"
    cfg.write_text(f"[dns]\n{dns_section}\n[http]\nenabled = false\n")
    write_zones(tmp_path / "zones", ["dnsbl.test"])
    return pool.start(config=cfg)


def test_r33_tcp_idle_timeout(tmp_path, pool):
    d = daemon_with_config(tmp_path, pool, 'tcp_idle_timeout = "500ms"\n')
    with socket.create_connection((HOST, d.port), timeout=5) as s:
        s.sendall(tcp_frame(make("dnsbl.test", "SOA", qid=7)))
        assert read_frame(s).id == 7
        t0 = time.monotonic()
        try:
            got = s.recv(1)
        except ConnectionResetError:
            got = b""
        idle = time.monotonic() - t0
    assert got == b"", "server sent data on an idle connection"
    assert 0.3 <= idle <= 3.0, f"closed after {idle:.2f}s idle, want about 0.5s"


def test_r33_tcp_connection_cap(tmp_path, pool):
    d = daemon_with_config(tmp_path, pool, 'tcp_max_connections = 2\ntcp_idle_timeout = "30s"\n')
    port = d.port

    def works(s, qid):
        s.sendall(tcp_frame(make("dnsbl.test", "SOA", qid=qid)))
        return read_frame(s).id == qid

    a = socket.create_connection((HOST, port), timeout=3)
    b = socket.create_connection((HOST, port), timeout=3)
    try:
        assert works(a, 1) and works(b, 2)
        with socket.create_connection((HOST, port), timeout=3) as c:
            try:
                c.sendall(tcp_frame(make("dnsbl.test", "SOA", qid=3)))
                over = c.recv(2)
            except (ConnectionResetError, BrokenPipeError):
                over = b""
            assert over == b"", "a third connection was served with tcp_max_connections = 2"
        a.close()

        def fresh_works():
            with socket.create_connection((HOST, port), timeout=3) as c2:
                try:
                    return works(c2, 4)
                except OSError:
                    return False
        wait_until(fresh_works, 3.0, what="a new connection served after one closed")
        assert works(b, 5), "the surviving connection stopped working"
    finally:
        a.close()
        b.close()


# --- F. failure --------------------------------------------------------------------

# Holds every free slot of an LMDB environment's reader table until stdin closes.
READER_HOG = r"""
import ctypes, sys
lib = ctypes.CDLL(sys.argv[2])
env = ctypes.c_void_p()
assert lib.mdb_env_create(ctypes.byref(env)) == 0
lib.mdb_env_set_maxdbs(env, 16)
MDB_NOTLS, MDB_RDONLY, MDB_READERS_FULL = 0x200000, 0x20000, -30790
rc = lib.mdb_env_open(env, sys.argv[1].encode(), MDB_NOTLS | MDB_RDONLY, 0o640)
assert rc == 0, rc
txns = []
while True:
    t = ctypes.c_void_p()
    rc = lib.mdb_txn_begin(env, None, MDB_RDONLY, ctypes.byref(t))
    if rc != 0:
        break
    txns.append(t)
print("full" if rc == MDB_READERS_FULL else f"error {rc}", len(txns), flush=True)
sys.stdin.read()
for t in txns:
    lib.mdb_txn_abort(t)
lib.mdb_env_close(env)
"""


def test_r36_store_failure_servfail(env, pool, tmp_path):
    """R36 asks for an unreadable data directory. The tests run as root, which
    ignores permissions, and an open LMDB environment keeps its descriptors and
    map anyway, so chmod would change nothing. An honest store read failure
    instead: another process takes every slot of the LMDB reader table, so the
    daemon's next read transaction fails (MDB_READERS_FULL). The daemon must
    then answer SERVFAIL (AA=0) or nothing, never NXDOMAIN nor a listing, and
    recover once the slots are free."""
    liblmdb = ctypes.util.find_library("lmdb")
    if not liblmdb:
        pytest.skip("liblmdb shared library not found for the reader-table hog")
    env.ok("listing", "add", "dnsbl.test", "192.0.2.1")
    # One UDP worker, warmed up over TCP only, so its first read transaction
    # is begun after the table is full.
    d = pool.start(env.data_dir, env.zones_dir, threads=1, ready_over_tcp=True)
    hog = subprocess.Popen([sys.executable, "-c", READER_HOG, str(env.data_dir), liblmdb],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        status = hog.stdout.readline().split()
        assert status and status[0] == "full", f"reader hog: {status}"
        for tcp in (True, False):
            for name in ("1.2.0.192.dnsbl.test", "9.9.9.9.dnsbl.test", "2.0.0.127.dnsbl.test"):
                try:
                    r = query(d.port, name, tcp=tcp, timeout=1.0)
                except (dns.exception.Timeout, ConnectionError, EOFError):
                    continue  # silence is allowed
                assert r.rcode() == dns.rcode.SERVFAIL, (
                    f"{name} tcp={tcp}: store unreadable, got {dns.rcode.to_text(r.rcode())}\n{r}")
                assert not r.flags & dns.flags.AA, "AA on SERVFAIL"
                assert not r.answer
    finally:
        hog.stdin.close()
        hog.wait(10)
    for tcp in (True, False):
        r = wait_until(lambda: (lambda m: m if m.rcode() == dns.rcode.NOERROR else None)(
            query(d.port, "1.2.0.192.dnsbl.test", tcp=tcp)), 3.0, what="recovery")
        assert_listed(r, ["127.0.0.2"])


def test_r37_expiry_to_the_second(env, pool):
    d = pool.start(env.data_dir, env.zones_dir)
    name = qn("192.0.2.37", "dnsbl.test")
    added = env.json("listing", "add", "dnsbl.test", "192.0.2.37", "--for", "2s")
    expires = added["listing"]["expires"]
    assert_listed(query(d.port, name))
    # listed up to shortly before the expiry second ...
    while time.time() < expires - 0.3:
        assert_listed(query(d.port, name))
        time.sleep(0.05)
    # ... and NXDOMAIN from the expiry second on, long before the sweeper's pass
    r = wait_until(lambda: (lambda m: m if m.rcode() != dns.rcode.NOERROR else None)(
        query(d.port, name)), max(0.0, expires + 1.2 - time.time()) + 0.05,
        what="NXDOMAIN after expiry")
    assert_nxdomain(r)
    assert time.time() <= expires + 1.5


# --- I. access ----------------------------------------------------------------------

def test_r45_acl_refused(served):
    for name in ("2.0.0.127.acl.test", "1.2.0.192.acl.test", "1.0.0.127.acl.test"):
        r = query(served.port, name)
        assert r.rcode() == dns.rcode.REFUSED, r
        assert not r.answer


def test_r45_acl_refused_code(served):
    for name in ("1.2.0.192.aclcode.test", "9.9.9.9.aclcode.test"):
        r = query(served.port, name, "ANY")
        assert r.rcode() == dns.rcode.NOERROR, r
        assert a_values(r) == ["127.255.255.254"], r
        txt = one_txt(r)
        assert txt
        r = query(served.port, name)
        assert a_values(r) == ["127.255.255.254"]


def test_r46_test_points_under_refused_code(served):
    assert_listed(query(served.port, "2.0.0.127.aclcode.test"), ["127.0.0.2"])


def test_r45_access_key(served):
    assert_listed(query(served.port, "2.0.0.127.k3y.dqs.test"), ["127.0.0.2"])
    assert_listed(query(served.port, "10.2.0.192.k3y.dqs.test"), ["127.0.0.2"])
    assert "keyed" in one_txt(query(served.port, "10.2.0.192.k3y.dqs.test", "TXT"))
    assert_nxdomain(query(served.port, "11.2.0.192.k3y.dqs.test"))
    for name in ("2.0.0.127.dqs.test", "10.2.0.192.dqs.test", "10.2.0.192.wrong.dqs.test"):
        r = query(served.port, name)
        assert r.rcode() == dns.rcode.REFUSED, f"{name}: {dns.rcode.to_text(r.rcode())}"
        assert not r.answer


# --- live data, serial, reload, dig ---------------------------------------------------

def test_live_add_and_remove_within_1s(env, pool):
    """A change made with the CLI while the daemon runs is answered within 1 s
    (no reload), and so is its removal (R55)."""
    d = pool.start(env.data_dir, env.zones_dir)
    name = qn("192.0.2.55", "dnsbl.test")
    v6 = qn("2001:db8::55", "zen.test")
    assert_nxdomain(query(d.port, name))
    assert_nxdomain(query(d.port, v6))
    env.ok("listing", "add", "dnsbl.test", "192.0.2.55", "--code", "desk")
    wait_until(lambda: a_values(query(d.port, name)) == ["127.0.0.4"], 1.0, what="listing visible")
    env.ok("listing", "add", "dnsbl.test", "2001:db8::55")
    wait_until(lambda: a_values(query(d.port, v6)) == ["127.0.0.2"], 1.0,
               what="v6 listing visible through zen.test")
    env.ok("listing", "remove", "dnsbl.test", "192.0.2.55")
    wait_until(lambda: query(d.port, name).rcode() == dns.rcode.NXDOMAIN, 1.0, what="delisting visible")
    assert_nxdomain(query(d.port, name))


def serial(port, zone):
    r = query(port, zone, "SOA")
    return r.answer[0][0].serial


def test_r38_serial_increases_on_change(env, pool):
    d = pool.start(env.data_dir, env.zones_dir)

    def newer(a, b):  # RFC 1982: b is after a
        return 0 < ((b - a) % 2**32) < 2**31

    s0 = serial(d.port, "dnsbl.test")
    env.ok("listing", "add", "dnsbl.test", "192.0.2.56")
    s1 = wait_until(lambda: (lambda s: s if newer(s0, s) else None)(serial(d.port, "dnsbl.test")), 1.0,
                    what="serial after add")
    env.ok("listing", "remove", "dnsbl.test", "192.0.2.56")
    wait_until(lambda: newer(s1, serial(d.port, "dnsbl.test")), 1.0, what="serial after remove")


NEW_ZONE = 'name = "new.test"\nkind = "ip"\n'


def test_sighup_reload(env, pool):
    d = pool.start(env.data_dir, env.zones_dir)
    r = query(d.port, "2.0.0.127.new.test")
    assert r.rcode() == dns.rcode.REFUSED, "new.test served before it exists"
    (env.zones_dir / "new.test.toml").write_text(NEW_ZONE)
    env.ok("listing", "add", "new.test", "192.0.2.77")
    d.signal(signal.SIGHUP)
    wait_until(lambda: query(d.port, "new.test", "SOA").rcode() == dns.rcode.NOERROR, 3.0,
               what="new zone answering after SIGHUP")
    assert_listed(query(d.port, qn("192.0.2.77", "new.test")), ["127.0.0.2"])
    assert_listed(query(d.port, "2.0.0.127.dnsbl.test"), ["127.0.0.2"])

    # A broken zone file: the reload fails and the running zones keep answering.
    log_before = d.log().count("reload")
    (env.zones_dir / "new.test.toml").write_text(NEW_ZONE + 'ttl = "not a number"\n')
    (env.zones_dir / "broken.test.toml").write_text('name = "broken.test"\nkind = \n')
    d.signal(signal.SIGHUP)
    wait_until(lambda: d.log().count("reload") > log_before, 3.0, what="reload attempt logged")
    assert "reload failed" in d.log(), d.log()
    assert d.running()
    assert_listed(query(d.port, qn("192.0.2.77", "new.test")), ["127.0.0.2"])
    assert_listed(query(d.port, "2.0.0.127.dnsbl.test"), ["127.0.0.2"])
    assert query(d.port, "broken.test", "SOA").rcode() == dns.rcode.REFUSED


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig not installed")
def test_dig_smoke_quick_start(tmp_path, pool):
    """The README's quick start: rblzoned on its embedded defaults (zones/ and
    data/ in the working directory; here zones/ links to the repository's
    example zones), listings made with the CLI, asked with dig +short."""
    (tmp_path / "zones").symlink_to(SOURCE_DIR / "zones", target_is_directory=True)
    d = pool.start(defaults=True, workdir=tmp_path, probe_zone="bl.example.org")

    def rblzone(*args):
        r = subprocess.run([str(RBLZONE), "--data-dir", "data", *args], cwd=tmp_path,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, (args, r.stderr)
        return r.stdout

    def dig(*args):
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(d.port), "+norec", "+short", "+time=2",
                              "+tries=1", *args], capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, out.stderr
        return out.stdout.split("\n")[:-1]

    assert dig("2.0.0.127.bl.example.org", "A") == ["127.0.0.2"]
    assert dig("1.0.0.127.bl.example.org", "A") == []
    assert dig("7.113.0.203.bl.example.org", "A") == []
    rblzone("listing", "add", "bl.example.org", "203.0.113.0/24", "--reason", "spam trap hits", "--for", "24h")
    rblzone("listing", "add", "bl.example.org", "203.0.113.5", "--exclude")
    wait_until(lambda: dig("7.113.0.203.bl.example.org", "A") == ["127.0.0.2"], 1.0,
               what="listing answered without reload")
    assert dig("+tcp", "7.113.0.203.bl.example.org", "A") == ["127.0.0.2"]
    txt = dig("7.113.0.203.bl.example.org", "TXT")
    assert len(txt) == 1 and "spam trap hits" in txt[0] and "/lookup/203.0.113.7" in txt[0], txt
    assert dig("5.113.0.203.bl.example.org", "A") == []  # excluded
    status = subprocess.run(["dig", "@127.0.0.1", "-p", str(d.port), "+norec", "5.113.0.203.bl.example.org"],
                            capture_output=True, text=True, timeout=10).stdout
    assert "status: NXDOMAIN" in status and " aa" in status, status
    assert dig("7.113.0.203.zen.example.org", "A") == ["127.0.0.2"]
    assert dig("2.0.0.127.pbl.example.org", "A") == ["127.0.0.2"]
    assert dig("test.dbl.example.org", "A") == ["127.0.0.2"]
    soa = dig("bl.example.org", "SOA")
    assert len(soa) == 1 and soa[0].startswith("ns1.bl.example.org. "), soa
    assert "203.0.113.0/24" in rblzone("check", "bl.example.org", "203.0.113.7")
    assert "spam trap hits" in rblzone("history", "bl.example.org", "203.0.113.0/24")
    assert (tmp_path / "data").is_dir()
