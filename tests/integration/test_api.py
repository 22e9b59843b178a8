"""The admin API with tokens and the listing lifecycle, against a running
rblzoned: every auth failure, every write endpoint seen through DNS, the
delist flows, point-in-time history, the rate limits, and each class of bad
input leaving the store unchanged.

The lifecycle's timing rules (24 h expiry, escalation, decay, quota periods)
run on a simulated clock in tests/unit/policy_test.cpp; here time is real.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from harness import HOST, Cli, DaemonPool, a_values, api_call, qn, query, write_zones

ALLOW_ZONE = {
    "allow.test": """\
name = "allow.test"
kind = "ip"
allowlist = ["198.51.100.0/28"]
""",
}


def call(port, method, path, body=None, token=None, headers=None, raw=None):
    """One request on a fresh connection: (status, response, parsed JSON)."""
    return api_call(port, method, path, body, token, headers, raw, timeout=5)


def error(result, status, code):
    got, _, body = result
    assert got == status, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body


class Api:
    def __init__(self, daemon, cli):
        self.d = daemon
        self.cli = cli
        self.port = daemon.http_port
        self.tokens = {}
        for name, role, trust in [("admin", "admin", None), ("desk", "desk", None),
                                  ("traps", "importer", None), ("partner", "reporter", None),
                                  ("button", "reporter", "untrusted"), ("evil", "reporter", None),
                                  ("gone", "desk", None)]:
            args = ["token", "create", name, "--role", role] + (["--trust", trust] if trust else [])
            self.tokens[name] = cli.ok(*args).strip()

    def __call__(self, method, path, body=None, as_=None, **kw):
        return call(self.port, method, path, body, token=self.tokens.get(as_), **kw)

    def serial(self, zone="dnsbl.test"):
        return query(self.d.port, zone, "SOA").answer[0][0].serial

    def dns(self, address, zone="dnsbl.test"):
        return a_values(query(self.d.port, qn(address, zone)))


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    work = tmp_path_factory.mktemp("api")
    zones = write_zones(work / "zones", extra=ALLOW_ZONE)
    cli = Cli(work / "data", zones)
    cli.ok("zone", "list")
    # Every test here comes from 127.0.0.1: no per-client limits (they have
    # a daemon of their own below).
    config = work / "rblzoned.toml"
    config.write_text("[http]\npublic_per_minute = 0\ndelist_per_hour = 0\n"
                      "auth_failures_per_minute = 0\n")
    pool = DaemonPool(work)
    try:
        d = pool.start(http=True, config=config)
        yield Api(d, cli)
    finally:
        pool.close()


# --- tokens and roles -------------------------------------------------------------

def test_tokens_are_stored_hashed_and_listed_without_secrets(api):
    listed = api.cli.json("token", "list")
    assert {t["name"] for t in listed} >= {"admin", "desk", "traps"}
    assert all("token" not in t and "hash" not in t for t in listed)
    raw = b"".join(p.read_bytes() for p in api.cli.data_dir.iterdir() if p.is_file())
    for token in api.tokens.values():
        assert token.encode() not in raw
        assert token[4:].encode() not in raw


def test_whoami(api):
    status, _, body = api("GET", "/api/v1/whoami", as_="desk")
    assert status == 200 and body == {"actor": "token:desk", "role": "desk"}


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/api/v1/zones/dnsbl.test/listings", None),
    ("PUT", "/api/v1/zones/dnsbl.test/listings/203.0.113.1", {"reason": "x"}),
    ("DELETE", "/api/v1/zones/dnsbl.test/listings/203.0.113.1", {"reason": "x"}),
    ("POST", "/api/v1/zones/dnsbl.test/reports", {"subject": "203.0.113.1", "reason": "x"}),
    ("GET", "/api/v1/delist-requests?status=pending", None),
    ("POST", "/api/v1/delist-requests/abc/approve", {"reason": "x"}),
    ("GET", "/api/v1/zones/dnsbl.test/history/203.0.113.1", None),
    ("PUT", "/api/v1/zones/dnsbl.test/allowlist/203.0.113.1", {"reason": "x"}),
])
def test_every_protected_endpoint_needs_a_token(api, method, path, body):
    before = api.serial()
    result = api(method, path, body)
    error(result, 401, "unauthorized")
    assert result[1].getheader("WWW-Authenticate", "").startswith("Bearer")
    error(call(api.port, method, path, body, headers={"Authorization": "Basic dXNlcjpwdw=="}),
          401, "unauthorized")
    assert api.serial() == before


def test_unknown_and_revoked_tokens_get_401_wrong_roles_403(api):
    bad = "rbz_" + "0" * 64
    error(call(api.port, "GET", "/api/v1/whoami", token=bad), 401, "invalid_token")
    error(call(api.port, "GET", "/api/v1/whoami", token="short"), 401, "invalid_token")
    assert api("GET", "/api/v1/whoami", as_="gone")[0] == 200
    api.cli.ok("token", "revoke", "gone")
    error(api("GET", "/api/v1/whoami", as_="gone"), 401, "invalid_token")
    # 403: a valid token without the role.
    error(api("PUT", "/api/v1/zones/dnsbl.test/listings/203.0.113.2", {"reason": "x"},
              as_="partner"), 403, "forbidden")
    error(api("POST", "/api/v1/zones/dnsbl.test/reports", {"subject": "203.0.113.2", "reason": "x"},
              as_="desk"), 403, "forbidden")
    error(api("PUT", "/api/v1/zones/dnsbl.test/allowlist/203.0.113.2", {"reason": "x"},
              as_="desk"), 403, "forbidden")
    error(api("POST", "/api/v1/zones/dnsbl.test/reports",
              {"subject": "203.0.113.2", "reason": "x", "weight": 5}, as_="partner"),
          403, "forbidden")
    assert api.dns("203.0.113.2") == []


# --- the desk lists and removes; DNS follows ---------------------------------------------

def test_desk_lists_and_removes_and_dns_follows(api):
    path = "/api/v1/zones/dnsbl.test/listings/203.0.113.0%2F28"
    status, _, body = api("PUT", path, {"reason": "snowshoe <b>spam</b>", "code": "127.0.0.4",
                                        "duration": "7d"}, as_="desk")
    assert status == 201, body
    assert body["subject"] == "203.0.113.0/28" and body["codes"] == ["127.0.0.4"]
    assert api.dns("203.0.113.5") == ["127.0.0.4"]
    txt = query(api.d.port, qn("203.0.113.5", "dnsbl.test"), "TXT")
    assert "snowshoe <b>spam</b>" in txt.answer[0][0].strings[0].decode()
    # Update: 200, same subject.
    status, _, body = api("PUT", path, {"reason": "snowshoe", "permanent": True}, as_="desk")
    assert status == 200 and body["expires"] is None
    status, _, body = api("GET", path, as_="desk")
    assert status == 200 and body["reason"] == "snowshoe" and body["active"]
    status, _, body = api("GET", "/api/v1/zones/dnsbl.test/listings?source=manual&limit=10",
                          as_="desk")
    assert status == 200
    assert "203.0.113.0/28" in [l["subject"] for l in body["listings"]]
    # Remove needs a reason, then DNS says NXDOMAIN.
    error(api("DELETE", path, as_="desk"), 400, "missing_field")
    status, _, body = api("DELETE", path, {"reason": "cleaned up"}, as_="desk")
    assert status == 200
    assert api.dns("203.0.113.5") == []
    error(api("DELETE", path, {"reason": "again"}, as_="desk"), 404, "not_listed")


def test_broad_and_special_need_an_admin_override(api):
    error(api("PUT", "/api/v1/zones/dnsbl.test/listings/100.0.0.0%2F8", {"reason": "wide"},
              as_="desk"), 422, "needs_override")
    error(api("PUT", "/api/v1/zones/dnsbl.test/listings/100.0.0.0%2F8",
              {"reason": "wide", "override": True}, as_="desk"), 403, "forbidden")
    error(api("PUT", "/api/v1/zones/dnsbl.test/listings/127.0.0.2", {"reason": "x"},
              as_="admin"), 422, "test_point")
    status, _, _ = api("PUT", "/api/v1/zones/dnsbl.test/listings/100.0.0.0%2F8",
                       {"reason": "wide", "override": True, "duration": 60}, as_="admin")
    assert status == 201
    status, _, body = api("GET", "/api/v1/zones/dnsbl.test/history/100.0.0.0%2F8", as_="desk")
    assert "override" in body["events"][0]["reason"]
    api("DELETE", "/api/v1/zones/dnsbl.test/listings/100.0.0.0%2F8", {"reason": "test over"},
        as_="admin")


# --- reports --------------------------------------------------------------------------

def test_a_trap_hit_lists_at_once(api):
    status, _, body = api("POST", "/api/v1/zones/dnsbl.test/reports",
                          {"subject": "203.0.113.77", "reason": "trap hit",
                           "evidence": "Received: from [203.0.113.77]", "reporter": "trap-7"},
                          as_="traps")
    assert status == 202, body
    assert body["result"] == "listed"
    assert body["listing"]["source"] == "trap"
    assert api.dns("203.0.113.77") == ["127.0.0.3"]
    # A day from now, with nobody acting.
    expires = body["listing"]["expires"]
    assert expires is not None
    status, _, body = api("POST", "/api/v1/zones/dnsbl.test/reports",
                          {"subject": "203.0.113.77", "reason": "again"}, as_="traps")
    assert body["result"] == "extended"


def test_public_reports_alone_do_not_list(api):
    for i in range(15):  # one spam-button aggregator, one end user, many clicks
        status, _, body = api("POST", "/api/v1/zones/dnsbl.test/reports",
                              {"subject": "203.0.113.88", "reason": "spam", "reporter": "user1"},
                              as_="button")
        assert status == 202 and body["result"] == "recorded"
    assert body["window_weight"] == pytest.approx(0.1)
    assert api.dns("203.0.113.88") == []


def test_one_token_counts_once_whatever_users_it_names(api):
    for i in range(12):
        status, _, body = api("POST", "/api/v1/zones/dnsbl.test/reports",
                              {"subject": "203.0.113.89", "reason": "spam",
                               "reporter": f"user{i}"}, as_="button")
        assert body["result"] == "recorded", body
    assert api.dns("203.0.113.89") == []
    _, _, body = api("GET", "/api/v1/zones/dnsbl.test/reports/203.0.113.89", as_="desk")
    assert {r["detail"] for r in body["reports"]} == {f"user{i}" for i in range(12)}
    assert {r["reporter"] for r in body["reports"]} == {"token:button"}


def test_a_malicious_reporter_cannot_list_an_allowlisted_address(api):
    for _ in range(5):
        status, _, body = api("POST", "/api/v1/zones/allow.test/reports",
                              {"subject": "198.51.100.5", "reason": "lies"}, as_="evil")
        assert body["result"] == "allowlisted"
    assert api.dns("198.51.100.5", "allow.test") == []
    status, _, body = api("GET", "/api/v1/zones/allow.test/reports/198.51.100.5", as_="desk")
    assert status == 200
    assert len(body["reports"]) >= 1 and body["reports"][0]["allowlisted"]
    assert body["reports"][0]["reporter"] == "token:evil"


def test_allowlist_through_the_api(api):
    api("POST", "/api/v1/zones/dnsbl.test/reports", {"subject": "203.0.113.99", "reason": "t"},
        as_="traps")
    assert api.dns("203.0.113.99") == ["127.0.0.3"]
    status, _, _ = api("PUT", "/api/v1/zones/dnsbl.test/allowlist/203.0.113.96%2F30",
                       {"reason": "our outbound relays"}, as_="admin")
    assert status == 200
    assert api.dns("203.0.113.99") == []
    status, _, body = api("POST", "/api/v1/zones/dnsbl.test/reports",
                          {"subject": "203.0.113.99", "reason": "t"}, as_="traps")
    assert body["result"] == "allowlisted"
    error(api("PUT", "/api/v1/zones/dnsbl.test/listings/203.0.113.98", {"reason": "x"},
              as_="desk"), 409, "allowlisted")
    status, _, body = api("GET", "/api/v1/zones/dnsbl.test/allowlist", as_="desk")
    assert "203.0.113.96/30" in [e["subject"] for e in body["allowlist"]]
    status, _, _ = api("DELETE", "/api/v1/zones/dnsbl.test/allowlist/203.0.113.96%2F30",
                       {"reason": "moved"}, as_="admin")
    assert status == 200


# --- delist requests ---------------------------------------------------------------------

def delist(api, subject, zone="dnsbl.test"):
    return api("POST", f"/api/v1/zones/{zone}/delist-requests",
               {"subject": subject, "contact": "noc@customer.example",
                "explanation": "we fixed the compromised account"})


def test_self_service_delisting_removes_an_automatic_listing(api):
    api("POST", "/api/v1/zones/dnsbl.test/reports", {"subject": "203.0.113.111", "reason": "t"},
        as_="traps")
    assert api.dns("203.0.113.111") == ["127.0.0.3"]
    status, _, body = delist(api, "203.0.113.111")
    assert status == 201, body
    assert body["status"] == "approved" and body["self_service"]
    assert "contact" not in body and "explanation" not in body
    assert api.dns("203.0.113.111") == []
    status, _, pub = api("GET", f"/api/v1/delist-requests/{body['id']}")
    assert status == 200 and pub["status"] == "approved" and "contact" not in pub


def test_a_manual_listing_waits_for_the_desk_who_approves_or_denies(api):
    for subject in ("203.0.113.120", "203.0.113.121"):
        api("PUT", f"/api/v1/zones/dnsbl.test/listings/{subject}", {"reason": "manual"},
            as_="desk")
    _, _, first = delist(api, "203.0.113.120")
    _, _, second = delist(api, "203.0.113.121")
    assert first["status"] == second["status"] == "pending"
    assert delist(api, "203.0.113.120")[2]["id"] == first["id"]  # one pending per listing
    status, _, queue = api("GET", "/api/v1/delist-requests?status=pending", as_="desk")
    pending = {r["id"]: r for r in queue["requests"]}
    assert first["id"] in pending
    assert pending[first["id"]]["contact"] == "noc@customer.example"  # the desk sees it
    error(api("POST", f"/api/v1/delist-requests/{first['id']}/approve", {}, as_="desk"),
          400, "missing_field")
    status, _, done = api("POST", f"/api/v1/delist-requests/{first['id']}/approve",
                          {"reason": "fixed"}, as_="desk")
    assert status == 200 and done["status"] == "approved"
    assert api.dns("203.0.113.120") == []
    status, _, done = api("POST", f"/api/v1/delist-requests/{second['id']}/deny",
                          {"reason": "still sending"}, as_="desk")
    assert done["status"] == "denied"
    assert api.dns("203.0.113.121") == ["127.0.0.4"]
    _, _, pub = api("GET", f"/api/v1/delist-requests/{second['id']}")
    assert pub["status"] == "denied" and pub["decision_reason"] == "still sending"
    error(api("POST", f"/api/v1/delist-requests/{second['id']}/approve", {"reason": "x"},
              as_="desk"), 409, "not_pending")
    error(api("GET", "/api/v1/delist-requests/0000"), 404, "not_found")


def test_delisting_what_is_not_listed_says_so(api):
    status, _, body = delist(api, "203.0.113.222")
    assert status == 201 and body["status"] == "not_listed"
    error(delist(api, "127.0.0.2"), 422, "test_point")


# --- history ------------------------------------------------------------------------------

def test_was_it_listed_at_time_t_and_why(api):
    api("PUT", "/api/v1/zones/dnsbl.test/listings/203.0.113.128%2F25",
        {"reason": "hosting spam", "duration": "1h"}, as_="desk")
    during = int(time.time())
    time.sleep(1.1)
    api("DELETE", "/api/v1/zones/dnsbl.test/listings/203.0.113.128%2F25", {"reason": "fixed"},
        as_="desk")
    after = int(time.time()) + 1
    status, _, body = api("GET", f"/api/v1/zones/dnsbl.test/history/203.0.113.200?at={during}",
                          as_="desk")
    assert status == 200
    assert body["at"]["listed"] and body["at"]["matched"] == "203.0.113.128/25"
    assert body["at"]["listing"]["reason"] == "hosting spam"
    assert body["at"]["why"]["actor"] == "token:desk"
    status, _, body = api("GET", f"/api/v1/zones/dnsbl.test/history/203.0.113.200?at={after}",
                          as_="desk")
    assert not body["at"]["listed"]
    error(api("GET", "/api/v1/zones/dnsbl.test/history/203.0.113.200?at=yesterday", as_="desk"),
          400, "bad_query")


# --- bad input: a JSON error, the right status, nothing changed ---------------------------------

@pytest.mark.parametrize("raw,code", [
    ("{not json", "malformed_json"),
    ("[1, 2]", "bad_body"),
    ('{"reason": 42}', "bad_field"),
    ('{"reason": "x", "duration": "forever"}', "bad_field"),
    ('{"reason": "x", "permanent": "yes"}', "bad_field"),
    ('{"reason": "x", "colour": "red"}', "unknown_field"),
    ('{"reason": "x", "duration": "1h", "permanent": true}', "bad_field"),
    ('{"reason": "x", "code": "10.0.0.1"}', "bad_code"),
    ('{"reason": "\\ud800"}', None),
])
def test_bad_bodies_change_nothing(api, raw, code):
    before = api.serial()
    status, _, body = api("PUT", "/api/v1/zones/dnsbl.test/listings/203.0.113.240", raw=raw,
                          as_="desk", headers={"Content-Type": "application/json"})
    if code is None:  # a lone surrogate: refused or accepted, never a crash
        assert status in (200, 201, 400), body
        if status in (200, 201):
            api("DELETE", "/api/v1/zones/dnsbl.test/listings/203.0.113.240", {"reason": "x"},
                as_="desk")
        return
    assert status == 400, body
    assert body["error"]["code"] == code
    assert api.serial() == before
    assert api.dns("203.0.113.240") == []


@pytest.mark.parametrize("path,status,code", [
    ("/api/v1/zones/dnsbl.test/listings/203.0.113.999", 400, "bad_subject"),
    ("/api/v1/zones/dnsbl.test/listings/203.0.113.1%2F40", 400, "bad_subject"),
    ("/api/v1/zones/dnsbl.test/listings/bad..example", 400, "bad_subject"),
    ("/api/v1/zones/dnsbl.test/listings/spam.example", 422, "wrong_kind"),
    ("/api/v1/zones/nosuch.test/listings/203.0.113.1", 404, "unknown_zone"),
    ("/api/v1/zones/zen.test/listings/203.0.113.1", 422, "combined_zone"),
    ("/api/v1/zones/dnsbl.test/listings/203.0.113.1%zz", 400, "bad_path"),
])
def test_bad_subjects_and_zones_change_nothing(api, path, status, code):
    before = api.serial()
    error(api("PUT", path, {"reason": "x"}, as_="desk"), status, code)
    assert api.serial() == before


def test_a_wrong_content_type_and_an_oversized_body(api):
    before = api.serial()
    error(api("PUT", "/api/v1/zones/dnsbl.test/listings/203.0.113.241", raw="reason=x",
              as_="desk", headers={"Content-Type": "application/x-www-form-urlencoded"}),
          415, "unsupported_media_type")
    big = json.dumps({"reason": "x" * 70000})
    status, _, body = api("PUT", "/api/v1/zones/dnsbl.test/listings/203.0.113.241", raw=big,
                          as_="desk", headers={"Content-Type": "application/json"})
    assert status == 413 and body["error"]["code"] == "body_too_large"
    error(api("POST", "/api/v1/zones/dnsbl.test/reports",
              {"subject": "203.0.113.0/24", "reason": "x"}, as_="traps"), 400, "bad_subject")
    assert api.serial() == before


def test_a_slow_client_is_dropped_and_nothing_changes(api):
    before = api.serial()
    s = socket.create_connection((HOST, api.port), timeout=15)
    try:
        s.sendall(b"PUT /api/v1/zones/dnsbl.test/listings/203.0.113.242 HTTP/1.1\r\n"
                  b"Host: x\r\nAuthorization: Bearer " + api.tokens["desk"].encode() +
                  b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"rea")
        start = time.monotonic()
        assert s.recv(1024) == b""  # closed by the server's read timeout
        assert time.monotonic() - start < 14
    finally:
        s.close()
    assert api.serial() == before
    assert api.dns("203.0.113.242") == []


# --- metrics ---------------------------------------------------------------------------------

def test_metrics_cover_the_lifecycle(api):
    api("POST", "/api/v1/zones/dnsbl.test/reports", {"subject": "203.0.113.250", "reason": "t"},
        as_="traps")
    status, _, text = call(api.port, "GET", "/metrics")
    assert status == 200
    assert 'rblzone_listings{zone="dnsbl.test",source="trap"}' in text
    assert 'rblzone_reports_total{zone="dnsbl.test",outcome="listed"}' in text
    assert 'rblzone_delist_requests{status="pending"}' in text
    assert "rblzone_http_auth_failures_total" in text
    line = [l for l in text.splitlines()
            if l.startswith('rblzone_listings{zone="dnsbl.test",source="trap"}')][0]
    assert int(line.split()[-1]) >= 1


# --- rate limits (a daemon of their own, with low limits) --------------------------------------

@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    work = tmp_path_factory.mktemp("limited")
    zones = write_zones(work / "zones", names=["dnsbl.test"])
    config = work / "rblzoned.toml"
    config.write_text("[http]\npublic_per_minute = 5\ndelist_per_hour = 2\n"
                      "auth_failures_per_minute = 3\n")
    cli = Cli(work / "data", zones)
    token = cli.ok("token", "create", "desk", "--role", "desk").strip()
    pool = DaemonPool(work)
    try:
        d = pool.start(http=True, config=config, probe_zone="dnsbl.test")
        yield d, token
    finally:
        pool.close()


def test_delist_requests_are_rate_limited(limited):
    d, _ = limited
    statuses = [call(d.http_port, "POST", "/api/v1/zones/dnsbl.test/delist-requests",
                     {"subject": f"192.0.2.{i}", "contact": "a@b.example",
                      "explanation": "x"})[0] for i in range(4)]
    assert statuses[:2] == [201, 201]
    assert 429 in statuses[2:]


def test_public_endpoints_are_rate_limited_per_client(limited):
    d, _ = limited
    # The delist requests above took from the same bucket of 5.
    statuses = [call(d.http_port, "GET", "/api/v1/zones/dnsbl.test/lookup/192.0.2.1")[0]
                for _ in range(8)]
    assert set(statuses) == {200, 429}
    assert statuses.count(200) <= 5
    assert statuses[-1] == 429


def test_token_guessing_gets_only_401s_then_429(limited):
    d, token = limited
    results = [call(d.http_port, "GET", "/api/v1/whoami", token="rbz_" + f"{i:064x}")[0]
               for i in range(6)]
    assert set(results[:3]) == {401}
    assert results[-1] == 429
    # Even the right token waits now: guessing cannot be told apart from success.
    assert call(d.http_port, "GET", "/api/v1/whoami", token=token)[0] == 429
