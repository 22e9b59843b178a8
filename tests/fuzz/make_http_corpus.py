#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_http (tests/fuzz/corpus/http): one raw
HTTP/1.1 request per file, covering every route, the write endpoints with
JSON bodies under each role's placeholder token ("Bearer @desk" ...), and
hostile shapes (bad percent-encoding, traversal, bad UTF-8, bad JSON)."""
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "http")


def req(method, target, body=None, token=None, headers=()):
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1:8080"]
    if token:
        lines.append(f"Authorization: Bearer @{token}")
    lines.extend(headers)
    data = b""
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


Z = "/api/v1/zones"
SEEDS = {
    "healthz": req("GET", "/healthz"),
    "metrics": req("GET", "/metrics"),
    "zones": req("GET", Z),
    "lookup_v4": req("GET", Z + "/bl.test/lookup/192.0.2.7"),
    "lookup_v6_pct": req("GET", Z + "/bl.test/lookup/2001%3Adb8%3A%3A1"),
    "lookup_domain": req("GET", Z + "/rhsbl.test/lookup/www.spammer.example"),
    "lookup_combined": req("GET", Z + "/zen.test/lookup/192.0.2.0%2F24"),
    "whoami": req("GET", "/api/v1/whoami", token="desk"),
    "whoami_bad": req("GET", "/api/v1/whoami", headers=["Authorization: Bearer rbz_00"]),
    "listings": req("GET", Z + "/bl.test/listings?limit=2&after=192.0.2.0%2F24&source=trap",
                    token="desk"),
    "listing_get": req("GET", Z + "/bl.test/listings/192.0.2.0%2F24", token="desk"),
    "listing_put": req("PUT", Z + "/bl.test/listings/203.0.113.0%2F24",
                       {"reason": "fuzz", "duration": "7d", "code": "desk"}, token="desk"),
    "listing_put_perm": req("PUT", Z + "/rhsbl.test/listings/%2A.evil.example",
                            {"reason": "x", "permanent": True, "exclusion": False},
                            token="admin"),
    "listing_put_override": req("PUT", Z + "/bl.test/listings/10.0.0.0%2F8",
                                {"reason": "x", "override": True, "duration": 60}, token="admin"),
    "listing_delete": req("DELETE", Z + "/bl.test/listings/192.0.2.0%2F24",
                          {"reason": "fixed"}, token="desk"),
    "report": req("POST", Z + "/bl.test/reports",
                  {"subject": "192.0.2.99", "reason": "trap", "reporter": "mx1",
                   "evidence": "Received: from x", "time": "2023-11-14T20:00:00Z", "weight": 2},
                  token="importer"),
    "report_reporter": req("POST", Z + "/rhsbl.test/reports",
                           {"subject": "bad.example", "reason": "spam", "time": 1699990000},
                           token="reporter"),
    "reports_get": req("GET", Z + "/bl.test/reports/192.0.2.99", token="desk"),
    "delist_post": req("POST", Z + "/bl.test/delist-requests",
                       {"subject": "192.0.2.7", "contact": "a@b.example",
                        "explanation": "fixed it"}),
    "delist_get": req("GET", "/api/v1/delist-requests/0123456789abcdef01234567"),
    "delist_list": req("GET", "/api/v1/delist-requests?status=pending", token="desk"),
    "delist_approve": req("POST", "/api/v1/delist-requests/0123456789abcdef01234567/approve",
                          {"reason": "ok"}, token="desk"),
    "history": req("GET", Z + "/bl.test/history/192.0.2.0%2F24?at=2023-11-14T00:00:00Z",
                   token="desk"),
    "allowlist": req("GET", Z + "/bl.test/allowlist", token="desk"),
    "allowlist_put": req("PUT", Z + "/bl.test/allowlist/198.51.100.7", {"reason": "partner"},
                         token="admin"),
    "allowlist_delete": req("DELETE", Z + "/bl.test/allowlist/198.51.100.7",
                            {"reason": "gone"}, token="admin"),
    "activity": req("GET", Z + "/bl.test/activity?days=7", token="desk"),
    "page_index": req("GET", "/"),
    "page_lookup": req("GET", "/lookup/192.0.2.7"),
    "page_lookup_query": req("GET", "/lookup?q=spammer.example"),
    "page_delist_form": req("GET", "/delist"),
    "page_delist_post": req("POST", "/delist",
                            b"zone=bl.test&subject=192.0.2.7&contact=a%40b&explanation=fixed",
                            headers=["Content-Type: application/x-www-form-urlencoded"]),
    "page_console": req("GET", "/console"),
    "asset": req("GET", "/assets/style.css"),
    "asset_traversal": req("GET", "/assets/..%2F..%2Fetc%2Fpasswd"),
    "traversal_dots": req("GET", "/assets/../../etc/passwd"),
    "pdns_lookup": req("GET", "/pdns/lookup/2.0.0.127.bl.test./ANY"),
    "pdns_domains": req("GET", "/pdns/getAllDomains"),
    "pdns_post_json": req("POST", "/pdns", {"method": "lookup",
                                            "parameters": {"qname": "bl.test.", "qtype": "SOA"}}),
    "pdns_post_form": req("POST", "/pdns/lookup",
                          b"parameters=%7B%22qname%22%3A%22bl.test.%22%2C%22qtype%22%3A%22NS%22%7D",
                          headers=["Content-Type: application/x-www-form-urlencoded"]),
    "bad_pct": req("GET", Z + "/bl.test/lookup/%zz"),
    "bad_nul": req("GET", Z + "/bl.test/lookup/%00"),
    "bad_utf8": req("GET", Z + "/bl.test/lookup/%C3%28%FF"),
    "bad_json": req("PUT", Z + "/bl.test/listings/192.0.2.1", b'{"reason": "x",', token="desk"),
    "json_utf8": req("POST", Z + "/bl.test/reports",
                     b'{"subject":"192.0.2.1","reason":"\xff\xfe"}', token="reporter"),
    "json_deep": req("POST", Z + "/bl.test/reports", b"[" * 200 + b"]" * 200, token="reporter"),
    "absolute_target": req("GET", "http://evil.example/healthz"),
    "star_target": req("OPTIONS", "*"),
    "chunked": b"POST /api/v1/zones/bl.test/delist-requests HTTP/1.1\r\nHost: x\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n",
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(SEEDS)} seeds to {OUT}")
