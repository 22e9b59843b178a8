"""The desk's list of delist requests at scale, against a running rblzoned:
250 requests through the public endpoint, then pages of 100/100/50 that
follow `next`, the `total` from the counters, bad `limit`/`before`, and the
per-status counts in /metrics.

The index's order and its rebuild for an older store are covered on many
more requests in tests/unit/delist_index_test.cpp.
"""

from __future__ import annotations

import urllib.parse

import pytest

from harness import Cli, DaemonPool, api_call, write_zones

ZONE = "dnsbl.test"
MANUAL = [f"198.51.100.{i}" for i in range(1, 101)]      # wait for the desk
AUTOMATIC = [f"203.0.113.{i}" for i in range(1, 21)]     # self-service, at once
UNLISTED = [f"192.0.2.{i}" for i in range(100, 230)]     # not_listed


def call(port, method, path, body=None, token=None):
    """One request on a fresh connection: (status, parsed JSON or text)."""
    status, _, parsed = api_call(port, method, path, body, token)
    return status, parsed


def newest_first(requests):
    """created descending, then id ascending: the list's documented order."""
    by_id = sorted(requests, key=lambda r: r["id"])
    return sorted(by_id, key=lambda r: r["created"], reverse=True)  # stable: ids stay ascending


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    work = tmp_path_factory.mktemp("delist-pages")
    zones = write_zones(work / "zones", names=["dnsbl.test"])
    cli = Cli(work / "data", zones)
    bulk = work / "manual.txt"
    bulk.write_text("".join(f"{s} 127.0.0.4 listed by the desk\n" for s in MANUAL))
    cli.ok("listing", "load", ZONE, bulk)
    tokens = {name: cli.ok("token", "create", name, "--role", role).strip()
              for name, role in [("desk", "desk"), ("traps", "importer")]}
    # Every request here comes from 127.0.0.1: no per-client limits.
    config = work / "rblzoned.toml"
    config.write_text("[http]\npublic_per_minute = 0\ndelist_per_hour = 0\n"
                      "auth_failures_per_minute = 0\n")
    pool = DaemonPool(work)
    try:
        d = pool.start(http=True, config=config)
        port = d.http_port
        for s in AUTOMATIC:
            status, body = call(port, "POST", f"/api/v1/zones/{ZONE}/reports",
                                {"subject": s, "reason": "trap"}, tokens["traps"])
            assert status == 202 and body["result"] == "listed", body
        made = []
        for s in MANUAL + AUTOMATIC + UNLISTED:
            status, body = call(port, "POST", f"/api/v1/zones/{ZONE}/delist-requests",
                                {"subject": s, "contact": "noc@customer.example",
                                 "explanation": "fixed"})
            assert status == 201, body
            made.append(body)
        yield port, tokens["desk"], made
    finally:
        pool.close()


def page(port, token, query):
    status, body = call(port, "GET", "/api/v1/delist-requests?" + query, token=token)
    assert status == 200, body
    return body


def test_the_requests_are_made_as_expected(desk):
    _, _, made = desk
    assert len(made) == 250
    assert len({r["id"] for r in made}) == 250
    statuses = [r["status"] for r in made]
    assert statuses.count("pending") == 100
    assert statuses.count("approved") == 20
    assert statuses.count("not_listed") == 130


def test_pages_of_100_follow_next_to_the_end(desk):
    port, token, made = desk
    got, sizes, query = [], [], "limit=100"
    while True:
        body = page(port, token, query)
        assert set(body) == {"requests", "next", "total"}
        assert body["total"] == 250
        sizes.append(len(body["requests"]))
        got += body["requests"]
        if body["next"] is None:
            break
        assert isinstance(body["next"], str) and body["next"]
        query = "limit=100&before=" + urllib.parse.quote(body["next"], safe="")
        assert len(sizes) < 10
    assert sizes == [100, 100, 50]
    assert [r["id"] for r in got] == [r["id"] for r in newest_first(made)]
    # The request objects are the desk's view, as before: private fields too.
    assert got[0]["contact"] == "noc@customer.example" and "requester" in got[0]


def test_the_default_page_is_100_and_a_status_has_its_own_total(desk):
    port, token, made = desk
    body = page(port, token, "")
    assert len(body["requests"]) == 100 and body["total"] == 250 and body["next"]
    pending = page(port, token, "status=pending&limit=60")
    assert pending["total"] == 100
    assert len(pending["requests"]) == 60
    rest = page(port, token, "status=pending&limit=60&before=" +
                urllib.parse.quote(pending["next"], safe=""))
    assert len(rest["requests"]) == 40 and rest["next"] is None
    want = [r["id"] for r in newest_first([r for r in made if r["status"] == "pending"])]
    assert [r["id"] for r in pending["requests"] + rest["requests"]] == want
    assert all(r["status"] == "pending" for r in pending["requests"] + rest["requests"])
    approved = page(port, token, "status=approved&limit=1000")
    assert approved["total"] == 20 and len(approved["requests"]) == 20
    assert approved["next"] is None


def test_a_decision_moves_a_request_between_statuses(desk):
    port, token, _ = desk
    first = page(port, token, "status=pending&limit=1")["requests"][0]
    status, body = call(port, "POST", f"/api/v1/delist-requests/{first['id']}/deny",
                        {"reason": "still sending"}, token)
    assert status == 200, body
    assert page(port, token, "status=pending&limit=1")["total"] == 99
    denied = page(port, token, "status=denied")
    assert denied["total"] == 1 and [r["id"] for r in denied["requests"]] == [first["id"]]
    assert page(port, token, "limit=1")["total"] == 250
    status, text = call(port, "GET", "/metrics")
    assert status == 200
    counts = {}
    for line in text.splitlines():
        if line.startswith("rblzone_delist_requests{"):
            counts[line.split('"')[1]] = int(line.split()[-1])
    assert counts == {"pending": 99, "approved": 20, "denied": 1, "not_listed": 130}


@pytest.mark.parametrize("query,what", [
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=abc", "limit"), ("limit=-1", "limit"),
    ("limit=", "limit"), ("limit=10x", "limit"),
    ("before=garbage", "before"), ("before=12.", "before"), ("before=.abc", "before"),
    ("before=x.abc", "before"), ("before=12.a%20b", "before"), ("status=open", "status"),
])
def test_bad_paging_is_a_400_that_says_why(desk, query, what):
    port, token, _ = desk
    status, body = call(port, "GET", "/api/v1/delist-requests?" + query, token=token)
    assert status == 400, body
    assert body["error"]["code"] == "bad_query"
    assert what in body["error"]["message"]


def test_the_list_is_for_the_desk_only(desk):
    port, _, _ = desk
    status, body = call(port, "GET", "/api/v1/delist-requests?limit=10")
    assert status == 401, body
