"""The console's "top queried listed subjects": queries through the real
daemon's UDP and TCP paths (dnspython) are counted per matched listing (the
prefix or the listed domain, not the queried name) and per queried zone, and
GET /api/v1/stats/top-listed ranks them. The sketch's own properties
(exactness, heavy hitters under churn, the window, concurrent readers) are in
tests/unit/hot_subjects_test.cpp.
"""

from __future__ import annotations

import http.client
import json

import pytest

from harness import HOST, Cli, DaemonPool, a_values, qn, query, write_zones

PATH = "/api/v1/stats/top-listed"


def call(port, path, token=None, method="GET"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    c = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        c.request(method, path, headers=headers)
        r = c.getresponse()
        text = r.read().decode()
        return r.status, (json.loads(text) if text.strip() else None)
    finally:
        c.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    work = tmp_path_factory.mktemp("top")
    zones = write_zones(work / "zones", names=["dnsbl.test", "pbl.test", "zen.test", "rhsbl.test"])
    cli = Cli(work / "data", zones)
    desk = cli.ok("token", "create", "desk-bob", "--role", "desk").strip()
    reporter = cli.ok("token", "create", "trap-1", "--role", "reporter").strip()
    cli.ok("listing", "add", "dnsbl.test", "192.0.2.0/24", "--reason", "spam", "--for", "24h")
    cli.ok("listing", "add", "dnsbl.test", "203.0.113.7", "--reason", "spam", "--for", "24h")
    cli.ok("listing", "add", "pbl.test", "198.51.100.0/24", "--reason", "dynamic", "--for", "24h")
    cli.ok("listing", "add", "rhsbl.test", "*.spammer.example", "--reason", "phish", "--for", "24h")
    pool = DaemonPool(work)
    try:
        d = pool.start(http=True)
        yield d, desk, reporter
    finally:
        pool.close()


def test_queries_of_listed_subjects_are_ranked_by_listing(site):
    d, desk, _ = site
    # Before any query: an empty ranking, not an error.
    status, body = call(d.http_port, PATH, desk)
    assert status == 200, body
    assert body["subjects"] == []
    assert body["dns"] is True
    assert body["interval_seconds"] == 300

    # 9 addresses inside 192.0.2.0/24: one subject, the prefix.
    for i in range(1, 10):
        assert a_values(query(d.port, qn(f"192.0.2.{i}", "dnsbl.test"))) == ["127.0.0.2"]
    # 7 names under *.spammer.example: the listed domain, 4 of them over TCP.
    for i in range(7):
        r = query(d.port, f"h{i}.mx.spammer.example.rhsbl.test", tcp=i < 4)
        assert a_values(r) == ["127.0.0.2"]
    # 5 for one address, over TCP and UDP, A and TXT.
    for i in range(5):
        assert query(d.port, qn("203.0.113.7", "dnsbl.test"), "TXT" if i % 2 else "A",
                     tcp=i < 2).answer
    # 3 through the combined zone: counted for zen.test, listed in dnsbl.test.
    for i in range(3):
        assert "127.0.0.2" in a_values(query(d.port, qn("192.0.2.200", "zen.test")))
    # 2 in pbl.test.
    for i in range(2):
        assert a_values(query(d.port, qn("198.51.100.20", "pbl.test"))) == ["127.0.0.10"]
    # Not counted: unlisted addresses, the RFC 5782 test point, the apex.
    for i in range(20):
        assert a_values(query(d.port, qn(f"203.0.113.{100 + i}", "dnsbl.test"))) == []
        query(d.port, qn("127.0.0.2", "dnsbl.test"))
    query(d.port, "dnsbl.test", "SOA")

    status, body = call(d.http_port, PATH, desk)
    assert status == 200, body
    got = [(s["zone"], s["listed_in"], s["subject"], s["count"], s["error"])
           for s in body["subjects"]]
    assert got == [
        ("dnsbl.test", "dnsbl.test", "192.0.2.0/24", 9, 0),
        ("rhsbl.test", "rhsbl.test", "spammer.example", 7, 0),
        ("dnsbl.test", "dnsbl.test", "203.0.113.7", 5, 0),
        ("zen.test", "dnsbl.test", "192.0.2.0/24", 3, 0),
        ("pbl.test", "pbl.test", "198.51.100.0/24", 2, 0),
    ]
    assert body["since"] < body["until"]

    # limit and zone narrow it.
    status, body = call(d.http_port, PATH + "?limit=2", desk)
    assert [s["subject"] for s in body["subjects"]] == ["192.0.2.0/24", "spammer.example"]
    status, body = call(d.http_port, PATH + "?zone=zen.test&limit=100", desk)
    assert [(s["zone"], s["subject"], s["count"]) for s in body["subjects"]] == [
        ("zen.test", "192.0.2.0/24", 3)]

    # More queries move a subject up.
    for i in range(10):
        query(d.port, qn("198.51.100.21", "pbl.test"))
    status, body = call(d.http_port, PATH + "?limit=1", desk)
    assert [(s["subject"], s["count"]) for s in body["subjects"]] == [("198.51.100.0/24", 12)]


def test_the_ranking_needs_a_desk_token_and_good_parameters(site):
    d, desk, reporter = site
    status, body = call(d.http_port, PATH)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = call(d.http_port, PATH, "not-a-token")
    assert status == 401 and body["error"]["code"] == "invalid_token"
    status, body = call(d.http_port, PATH, reporter)
    assert status == 403 and body["error"]["code"] == "forbidden"
    for bad in ["limit=0", "limit=101", "limit=x", "limit=-1", "limit=99999999"]:
        status, body = call(d.http_port, f"{PATH}?{bad}", desk)
        assert status == 400 and body["error"]["code"] == "bad_query", bad
    status, body = call(d.http_port, PATH + "?zone=nope.test", desk)
    assert status == 404 and body["error"]["code"] == "unknown_zone"
    status, body = call(d.http_port, PATH, desk, method="POST")
    assert status == 405
    # The per-subject figures stay out of /metrics (unbounded label values).
    c = http.client.HTTPConnection(HOST, d.http_port, timeout=5)
    c.request("GET", "/metrics")
    metrics = c.getresponse().read().decode()
    c.close()
    assert "192.0.2.0/24" not in metrics
