"""The admin HTTP interface (read-only part) against a running rblzoned:
the endpoints, their JSON errors, keep-alive, the read timeout, the header and
body limits, SIGHUP reload and a clean stop with connections open.

Only http.client and raw sockets: no third-party HTTP client.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import time

import pytest

from harness import HOST, Cli, DaemonPool, a_values, qn, query, wait_until, write_zones

SEED = [
    ("dnsbl.test", "192.0.2.0/24", ["--reason", "trap hits", "--code", "trap"]),
    ("dnsbl.test", "192.0.2.9", ["--exclude"]),
    ("pbl.test", "192.0.2.7", ["--reason", "dynamic range"]),
    ("rhsbl.test", "*.subtree.example", ["--reason", "whole subtree", "--permanent"]),
]

READ_TIMEOUT = 10.0  # the server's default (admin/http_server.hpp)


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    work = tmp_path_factory.mktemp("http")
    cli = Cli(work / "data", write_zones(work / "zones"))
    for zone, subject, extra in SEED:
        cli.ok("listing", "add", zone, subject, *extra)
    p = DaemonPool(work)
    try:
        yield p.start(http=True)
    finally:
        p.close()


def request(port, method, path, body=None, headers=None):
    """One request on a fresh connection: (status, headers, parsed JSON or text)."""
    c = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read().decode()
        if r.getheader("Content-Type", "").startswith("application/json"):
            return r.status, r, json.loads(data)
        return r.status, r, data
    finally:
        c.close()


def get(port, path):
    return request(port, "GET", path)


def assert_error(result, status, code):
    got_status, _, body = result
    assert got_status == status, body
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)


def test_startup_logs_the_bound_port(web):
    assert web.http_port and web.http_port > 0
    assert f"HTTP listening on 127.0.0.1:{web.http_port}" in web.log()


def test_healthz(web):
    status, r, body = get(web.http_port, "/healthz")
    assert status == 200
    assert body == {"status": "ok"}


def test_zone_list(web):
    status, _, body = get(web.http_port, "/api/v1/zones")
    assert status == 200
    names = [z["name"] for z in body]
    assert names == sorted(names)
    by_name = {z["name"]: z for z in body}
    assert by_name["dnsbl.test"]["kind"] == "ip"
    assert by_name["rhsbl.test"]["kind"] == "domain"
    assert by_name["zen.test"]["kind"] == "combined"
    assert by_name["zen.test"]["members"] == ["dnsbl.test", "pbl.test"]
    assert "members" not in by_name["dnsbl.test"]
    assert all(isinstance(z["serial"], int) and z["serial"] > 0 for z in body)


def test_lookup_listed_address(web):
    status, _, body = get(web.http_port, "/api/v1/zones/dnsbl.test/lookup/192.0.2.55")
    assert status == 200
    assert body["listed"] is True
    assert body["codes"] == ["127.0.0.3"]
    assert body["matched"] == "192.0.2.0/24"
    assert body["reason"] == "trap hits"
    assert body["since"].endswith("Z")
    assert body["expires"].endswith("Z")
    assert body["how_to_delist"]
    # The listing's source (a trap here) is never revealed.
    assert "source" not in body and "trap\"" not in json.dumps(body).replace("trap hits", "")


@pytest.mark.parametrize("zone,subject,listed,codes,matched", [
    ("dnsbl.test", "192.0.2.9", False, [], None),                       # excluded
    ("dnsbl.test", "203.0.113.1", False, [], None),
    ("dnsbl.test", "192.0.2.0%2F24", True, ["127.0.0.3"], "192.0.2.0/24"),  # CIDR: exact
    ("dnsbl.test", "192.0.2.0%2F25", False, [], None),
    ("dnsbl.test", "127.0.0.2", True, ["127.0.0.2"], "127.0.0.2"),      # RFC 5782 test points
    ("dnsbl.test", "127.0.0.1", False, [], None),
    ("zen.test", "192.0.2.7", True, ["127.0.0.3", "127.0.0.10"], "192.0.2.0/24"),  # union
    ("rhsbl.test", "a.subtree.example", True, ["127.0.0.2"], "*.subtree.example"),
    ("rhsbl.test", "TEST", True, ["127.0.0.2"], "test"),
    ("rhsbl.test", "INVALID", False, [], None),
])
def test_lookup_answers_what_dns_answers(web, zone, subject, listed, codes, matched):
    status, _, body = get(web.http_port, f"/api/v1/zones/{zone}/lookup/{subject}")
    assert status == 200
    assert body["listed"] is listed
    assert body["codes"] == codes
    assert body["matched"] == matched
    if not listed:
        assert body["reason"] is None and body["expires"] is None
    if "%" not in subject and zone != "rhsbl.test":  # an address: DNS agrees
        assert a_values(query(web.port, qn(subject, zone), "A")) == sorted(codes)


def test_lookup_permanent_has_null_expiry(web):
    _, _, body = get(web.http_port, "/api/v1/zones/rhsbl.test/lookup/x.subtree.example")
    assert body["listed"] is True and body["expires"] is None


def test_errors_are_json(web):
    p = web.http_port
    assert_error(get(p, "/api/v1/zones/nope.test/lookup/192.0.2.1"), 404, "unknown_zone")
    assert_error(get(p, "/api/v1/zones/dnsbl.test/lookup/192.0.2.1%2F33"), 400, "bad_subject")
    assert_error(get(p, "/api/v1/zones/dnsbl.test/lookup/bad..name"), 400, "bad_subject")
    assert_error(get(p, "/api/v1/zones/dnsbl.test/lookup/192.0.2.1%2"), 400, "bad_path")
    assert_error(get(p, "/api/v1/zones/dnsbl.test/lookup/%zz"), 400, "bad_path")
    assert_error(get(p, "/no/such/path"), 404, "not_found")
    result = request(p, "POST", "/api/v1/zones", body=b"{}")
    assert_error(result, 405, "method_not_allowed")
    assert result[1].getheader("Allow") == "GET"
    assert_error(request(p, "DELETE", "/healthz"), 405, "method_not_allowed")


def test_metrics_count_dns_queries(web):
    for _ in range(3):
        query(web.port, "55.2.0.192.dnsbl.test", "A")
    status, r, text = get(web.http_port, "/metrics")
    assert status == 200
    assert r.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = int(value)
    assert values["rblzone_dns_queries_total"] >= 3
    assert values["rblzone_dns_listed_total"] >= 3
    assert values['rblzone_dns_zone_queries_total{zone="dnsbl.test"}'] >= 3
    assert values['rblzone_dns_responses_total{rcode="NOERROR"}'] >= 3
    assert values["rblzone_dns_query_duration_seconds_count"] >= 3
    assert values['rblzone_dns_query_duration_seconds_bucket{le="+Inf"}'] == \
        values["rblzone_dns_query_duration_seconds_count"]
    assert values['rblzone_zone_serial{zone="dnsbl.test"}'] > 0
    assert values["rblzone_store_used_bytes"] > 0
    assert values["rblzone_store_map_bytes"] >= values["rblzone_store_used_bytes"]


def test_keep_alive_two_requests_one_connection(web):
    c = http.client.HTTPConnection(HOST, web.http_port, timeout=5)
    try:
        c.request("GET", "/healthz")
        r = c.getresponse()
        assert r.status == 200 and not r.will_close
        r.read()
        first = c.sock
        local = first.getsockname()
        c.request("GET", "/api/v1/zones")
        r = c.getresponse()
        assert r.status == 200
        r.read()
        assert c.sock is first and c.sock.getsockname() == local
    finally:
        c.close()


def recv_all(s: socket.socket) -> bytes:
    """Reads until the server closes (or resets) the connection."""
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data


def test_slow_client_is_dropped_after_the_read_timeout(web):
    with socket.create_connection((HOST, web.http_port), timeout=READ_TIMEOUT + 4) as s:
        start = time.monotonic()
        s.sendall(b"GET /heal")  # half a request line, then nothing
        data = recv_all(s)
        elapsed = time.monotonic() - start
    assert data == b""
    assert READ_TIMEOUT - 1 <= elapsed <= READ_TIMEOUT + 3
    assert get(web.http_port, "/healthz")[0] == 200


def test_oversized_header_gets_431_or_a_close(web):
    with socket.create_connection((HOST, web.http_port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n")
        data = recv_all(s)
    assert data == b"" or data.startswith(b"HTTP/1.1 431 ")
    assert get(web.http_port, "/healthz")[0] == 200


def test_oversized_body_gets_413_or_a_close(web):
    with socket.create_connection((HOST, web.http_port), timeout=5) as s:
        s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        data = recv_all(s)
    assert data == b"" or data.startswith(b"HTTP/1.1 413 ")
    if data:
        assert b'"body_too_large"' in data
    assert get(web.http_port, "/healthz")[0] == 200


def test_malformed_request_gets_400(web):
    with socket.create_connection((HOST, web.http_port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/9.x\r\n\r\n")
        data = recv_all(s)
    assert data == b"" or data.startswith(b"HTTP/1.1 400 ")


# --- daemons of their own ---------------------------------------------------------------

@pytest.fixture
def fresh(tmp_path):
    cli = Cli(tmp_path / "data", write_zones(tmp_path / "zones", ["dnsbl.test"]))
    p = DaemonPool(tmp_path)
    yield p, cli
    p.close()


def test_sighup_updates_the_zones_the_api_sees(fresh):
    p, cli = fresh
    d = p.start(http=True)
    names = lambda: [z["name"] for z in get(d.http_port, "/api/v1/zones")[2]]  # noqa: E731
    assert names() == ["dnsbl.test"]
    assert_error(get(d.http_port, "/api/v1/zones/rhsbl.test/lookup/a.example"), 404, "unknown_zone")
    write_zones(cli.zones_dir, ["rhsbl.test"])
    d.signal(signal.SIGHUP)
    wait_until(lambda: names() == ["dnsbl.test", "rhsbl.test"], 5, what="reloaded zone list")
    assert get(d.http_port, "/api/v1/zones/rhsbl.test/lookup/TEST")[2]["listed"] is True


def test_stops_cleanly_with_connections_open(fresh):
    p, _ = fresh
    d = p.start(http=True)
    idle = socket.create_connection((HOST, d.http_port))
    half = socket.create_connection((HOST, d.http_port))
    half.sendall(b"GET /healthz HTTP/1.1\r\nHo")
    try:
        assert d.stop() == 0  # the pool checks the same at teardown
    finally:
        idle.close()
        half.close()


def test_empty_http_listen_turns_http_off(fresh):
    p, _ = fresh
    d = p.start()  # the harness passes --http-listen ""
    assert d.http_port is None
    assert "HTTP listening" not in d.log()
