// Tests for admin/pages: the public HTML pages, the assets, the security
// headers, the Origin check and the activity feed, driven through
// admin::handle() with constructed requests over a real store, no sockets.
#include "admin/pages.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "admin/assets.hpp"
#include "core/tokens.hpp"
#include "tests/unit/fixtures.hpp"
#include "tests/unit/temp_dir.hpp"

namespace rblzone::admin {
namespace {

using nlohmann::json;

constexpr std::int64_t kNow = 1700000000;  // 2023-11-14T22:13:20Z

using rblzone::testing::zone;

class Site {
 public:
  Site() {
    auto zen = zone("zen.test", core::ZoneKind::combined);
    zen.members = {"bl.test", "pbl.test"};
    zones_ = {zone("bl.test"), zone("pbl.test"), zone("rhsbl.test", core::ZoneKind::domain), zen};
    store_ = std::make_unique<core::Store>(dir_.path() / "data", [this] { return now_; });
    policy_ = std::make_unique<core::Policy>(*store_);
    catalog_ = zoneserver::ZoneCatalog::build(zones_, *store_);
    ctx_.store = store_.get();
    ctx_.policy = policy_.get();
    ctx_.catalog = [this] { return catalog_; };
    ctx_.clock = [this] { return now_; };
    store_->env().write([&](core::WriteTxn& txn) {
      desk_ = core::create_token(
          txn, core::TokenInfo{"desk", core::Role::desk, core::Trust::trusted, kNow, "test"});
      reporter_ = core::create_token(
          txn, core::TokenInfo{"feed", core::Role::reporter, core::Trust::trusted, kNow, "test"});
    });
  }

  void list(const std::string& zone_name, const std::string& subject, const std::string& reason,
            core::Source source = core::Source::manual, std::int64_t expires = 0) {
    core::Listing l;
    l.reason = reason;
    l.source = source;
    l.first_seen = l.last_seen = now_;
    l.expires = expires;
    store_->env().write([&](core::WriteTxn& txn) {
      const auto z = store_->ensure_zone(txn, zone_name);
      store_->put(txn, z, *core::parse_subject(subject), l, {"token:desk", "list", reason});
    });
  }

  Response send(http::verb method, const std::string& target, const std::string& body = {},
                const std::vector<std::pair<http::field, std::string>>& headers = {}) {
    Request req{method, target, 11};
    req.set(http::field::host, "127.0.0.1:8080");
    for (const auto& [f, v] : headers) req.set(f, v);
    req.body() = body;
    req.prepare_payload();
    return handle(req, ctx_, "192.0.2.200");
  }
  Response get(const std::string& target) { return send(http::verb::get, target); }

  RouterContext ctx_;
  std::int64_t now_ = kNow;
  std::string desk_, reporter_;

 private:
  rblzone::testing::TempDir dir_{"pages"};
  std::vector<core::ZoneConfig> zones_;
  std::unique_ptr<core::Store> store_;
  std::unique_ptr<core::Policy> policy_;
  std::shared_ptr<const zoneserver::ZoneCatalog> catalog_;
};

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

void check_page_headers(const Response& res) {
  CHECK(res[http::field::content_type] == "text/html; charset=utf-8");
  const std::string csp(res["Content-Security-Policy"]);
  CHECK(contains(csp, "default-src 'self'"));
  CHECK(contains(csp, "script-src 'self'"));
  CHECK_FALSE(contains(csp, "unsafe-inline"));
  CHECK(res["X-Content-Type-Options"] == "nosniff");
  CHECK(res["Referrer-Policy"] == "same-origin");
}

TEST_CASE("pages: escape_html escapes the five special characters and nothing else", "[pages]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", ""},
      {"plain text 1.2.3.4/24", "plain text 1.2.3.4/24"},
      {"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
      {"a&b", "a&amp;b"},
      {"\"quoted\" 'single'", "&quot;quoted&quot; &#39;single&#39;"},
      {"&amp;", "&amp;amp;"},
      {"caf\xc3\xa9", "caf\xc3\xa9"},
  };
  for (const auto& [in, want] : cases) {
    INFO(in);
    CHECK(pages::escape_html(in) == want);
  }
}

TEST_CASE("pages: escape_html turns bytes that are not UTF-8 into U+FFFD", "[pages]") {
  // A decoded path may hold any bytes (found by tests/integration/test_hostile.py:
  // /lookup/%FF%FE put raw 0xFF into a page served as UTF-8).
  const std::string r = "\xef\xbf\xbd";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\xff\xfe", r + r},
      {"a\xc3(", "a" + r + "("},            // a cut two-byte sequence
      {"\xc0\xaf", r + r},                  // an overlong '/'
      {"\xed\xa0\x80", r + r + r},          // a UTF-16 surrogate
      {"\xf4\x90\x80\x80", r + r + r + r},  // beyond U+10FFFF
      {"\xe2\x82", r + r},                  // cut at the end
      {"\xe2\x82\xac \xf0\x9f\x98\x80", "\xe2\x82\xac \xf0\x9f\x98\x80"},  // valid: kept
      {"<\x80>", "&lt;" + r + "&gt;"},
  };
  for (const auto& [in, want] : cases) {
    INFO(in);
    CHECK(pages::escape_html(in) == want);
  }
}

TEST_CASE("pages: url_encode keeps only unreserved characters", "[pages]") {
  CHECK(pages::url_encode("192.0.2.0/24") == "192.0.2.0%2F24");
  CHECK(pages::url_encode("*.spam.example") == "%2A.spam.example");
  CHECK(pages::url_encode("a b&c=d\"<") == "a%20b%26c%3Dd%22%3C");
  CHECK(pages::url_encode("2001:db8::1") == "2001%3Adb8%3A%3A1");
}

TEST_CASE("pages: the lookup page shows every zone's verdict, reason, dates, delist link",
          "[pages]") {
  Site s;
  s.list("bl.test", "192.0.2.0/24", "spam from this range", core::Source::trap, kNow + 86400);
  const auto res = s.get("/lookup/192.0.2.7");
  REQUIRE(res.result() == http::status::ok);
  check_page_headers(res);
  const auto& b = res.body();
  CHECK(contains(b, "192.0.2.7 is listed in 2 of 3 zones"));  // bl and zen; pbl not
  CHECK(contains(b, "data-zone=\"bl.test\""));
  CHECK(contains(b, "data-zone=\"zen.test\""));
  CHECK(contains(b, "data-zone=\"pbl.test\""));
  CHECK_FALSE(contains(b, "data-zone=\"rhsbl.test\""));  // an address is not asked of a domain zone
  CHECK(contains(b, "<code>127.0.0.2</code>: listed"));
  CHECK(contains(b, "spam from this range"));
  CHECK(contains(b, "2023-11-14T22:13:20Z"));  // since
  CHECK(contains(b, "2023-11-15T22:13:20Z"));  // until
  CHECK(contains(b, "/delist?zone=bl.test&amp;subject=192.0.2.0%2F24"));
  CHECK(contains(b, "hostmaster@bl.test"));
}

TEST_CASE("pages: the lookup page names a code's meaning from the zone's code names", "[pages]") {
  Site s;
  // list() writes no codes: this one goes through the API with a code name.
  const auto res = s.send(http::verb::put, "/api/v1/zones/bl.test/listings/198.51.100.9",
                          R"({"reason":"hits","code":"trap"})",
                          {{http::field::authorization, "Bearer " + s.desk_},
                           {http::field::content_type, "application/json"}});
  REQUIRE(res.result() == http::status::created);
  const auto page = s.get("/lookup/198.51.100.9").body();
  CHECK(contains(page, "<code>127.0.0.3</code>: sent mail to spam traps"));
}

TEST_CASE("pages: an unlisted subject reads not listed; CIDR and domains work", "[pages]") {
  Site s;
  s.list("rhsbl.test", "*.spam.example", "bad links");
  auto b = s.get("/lookup/203.0.113.9").body();
  CHECK(contains(b, "203.0.113.9 is not listed in any of 3 zones"));
  CHECK_FALSE(contains(b, "class=\"zone listed\""));
  // A CIDR as two path segments or one with %2F.
  CHECK(contains(s.get("/lookup/198.51.100.0/24").body(), "198.51.100.0/24 is not listed"));
  CHECK(contains(s.get("/lookup/198.51.100.0%2F24").body(), "198.51.100.0/24 is not listed"));
  b = s.get("/lookup/www.spam.example").body();
  CHECK(contains(b, "www.spam.example is listed in 1 of 1 zones"));
  CHECK(contains(b, "bad links"));
  CHECK(contains(b, "<code>*.spam.example</code>"));
}

TEST_CASE("pages: the RFC 5782 test point is listed and not delistable", "[pages]") {
  Site s;
  const auto b = s.get("/lookup/127.0.0.2").body();
  CHECK(contains(b, "RFC 5782 test point"));
  CHECK_FALSE(contains(b, "/delist?"));
}

TEST_CASE("pages: a reason holding markup is shown as text", "[pages]") {
  Site s;
  const std::string evil = "<script>alert('x')</script><img src=x onerror=alert(1)>";
  s.list("bl.test", "192.0.2.66", evil);
  const auto b = s.get("/lookup/192.0.2.66").body();
  CHECK_FALSE(contains(b, "<script>alert"));
  CHECK_FALSE(contains(b, "<img src=x"));
  CHECK(contains(b, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;img src=x"));
  // The subject itself is echoed escaped when it is not a subject.
  const auto bad = s.get("/lookup/%3Cb%3Ex");
  CHECK(bad.result() == http::status::bad_request);
  CHECK(contains(bad.body(), "&lt;b&gt;x"));
  CHECK_FALSE(contains(bad.body(), "<b>x"));
}

TEST_CASE("pages: traps and reporters never show on the public pages", "[pages]") {
  Site s;
  const auto res = s.send(http::verb::post, "/api/v1/zones/bl.test/reports",
                          R"({"subject":"192.0.2.44","reason":"hit trap spamtrap-7@x",)"
                          R"("reporter":"secret-trap-42"})",
                          {{http::field::authorization, "Bearer " + s.reporter_},
                           {http::field::content_type, "application/json"}});
  REQUIRE(res.result() == http::status::accepted);
  const auto b = s.get("/lookup/192.0.2.44").body();
  CHECK(contains(b, "is listed in"));
  CHECK_FALSE(contains(b, "secret-trap-42"));
  CHECK_FALSE(contains(b, "spamtrap-7"));
  CHECK_FALSE(contains(b, "token:feed"));
}

TEST_CASE("pages: the lookup form redirects a query to the subject's page", "[pages]") {
  Site s;
  auto res = s.get("/lookup?q=+192.0.2.0%2F24+");
  CHECK(res.result() == http::status::see_other);
  CHECK(res[http::field::location] == "/lookup/192.0.2.0%2F24");
  res = s.get("/lookup");
  CHECK(res.result() == http::status::ok);
  check_page_headers(res);
  CHECK(contains(res.body(), "<form class=\"lookup\" method=\"get\" action=\"/lookup\">"));
  CHECK(s.get("/").result() == http::status::ok);
}

TEST_CASE("pages: the delist form creates a request and its status page shows it", "[pages]") {
  Site s;
  s.list("bl.test", "192.0.2.0/24", "manual listing");
  const auto form = s.get("/delist?zone=bl.test&subject=192.0.2.0%2F24");
  CHECK(form.result() == http::status::ok);
  CHECK(contains(form.body(), "<option value=\"bl.test\" selected>"));
  CHECK_FALSE(contains(form.body(), "<option value=\"zen.test\""));
  CHECK(contains(form.body(), "value=\"192.0.2.0/24\""));

  const auto res = s.send(
      http::verb::post, "/delist",
      "zone=bl.test&subject=192.0.2.7&contact=postmaster%40example.net&explanation=fixed+it%21",
      {{http::field::content_type, "application/x-www-form-urlencoded"},
       {http::field::origin, "http://127.0.0.1:8080"}});
  REQUIRE(res.result() == http::status::see_other);
  const std::string location(res[http::field::location]);
  REQUIRE(location.starts_with("/delist/"));
  const auto status = s.get(location);
  REQUIRE(status.result() == http::status::ok);
  check_page_headers(status);
  CHECK(contains(status.body(), "id=\"status\">pending</span>"));
  CHECK(contains(status.body(), "192.0.2.0/24"));
  // Private fields stay private.
  CHECK_FALSE(contains(status.body(), "postmaster@example.net"));
  CHECK_FALSE(contains(status.body(), "fixed it!"));
  CHECK_FALSE(contains(status.body(), "192.0.2.200"));
}

TEST_CASE("pages: a bad delist form is shown again with the error and the values escaped",
          "[pages]") {
  Site s;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"zone=nope.test&subject=192.0.2.1&contact=a&explanation=b", "Choose one of the zones"},
      {"zone=zen.test&subject=192.0.2.1&contact=a&explanation=b", "combines other zones"},
      {"zone=bl.test&subject=%3Cscript%3E&contact=a&explanation=b", "not an IP address"},
      {"zone=bl.test&subject=192.0.2.1&contact=&explanation=b", "Give a contact"},
      {"zone=bl.test&subject=192.0.2.1&contact=a&explanation=+", "Give an explanation"},
      {"zone=bl.test&subject=127.0.0.2&contact=a&explanation=b", "test point"},
  };
  for (const auto& [body, message] : cases) {
    INFO(body);
    const auto res = s.send(http::verb::post, "/delist", body,
                            {{http::field::content_type, "application/x-www-form-urlencoded"}});
    CHECK((res.result() == http::status::bad_request ||
           res.result() == http::status::unprocessable_entity));
    CHECK(contains(res.body(), message));
    CHECK_FALSE(contains(res.body(), "<script>"));
  }
  const auto json_body =
      s.send(http::verb::post, "/delist", "{}", {{http::field::content_type, "application/json"}});
  CHECK(json_body.result() == http::status::unsupported_media_type);
  CHECK(s.get("/delist/deadbeef").result() == http::status::not_found);
}

TEST_CASE("pages: state-changing requests with a foreign Origin are refused everywhere",
          "[pages]") {
  Site s;
  s.list("bl.test", "192.0.2.0/24", "manual listing");
  const std::vector<std::string> origins = {"http://evil.example", "null", "http://127.0.0.1:8081",
                                            "https://127.0.0.1"};
  for (const auto& origin : origins) {
    INFO(origin);
    auto res = s.send(http::verb::delete_, "/api/v1/zones/bl.test/listings/192.0.2.0%2F24",
                      R"({"reason":"csrf"})",
                      {{http::field::authorization, "Bearer " + s.desk_},
                       {http::field::content_type, "application/json"},
                       {http::field::origin, origin}});
    CHECK(res.result() == http::status::forbidden);
    CHECK(contains(res.body(), "foreign_origin"));
    res = s.send(http::verb::post, "/delist",
                 "zone=bl.test&subject=192.0.2.1&contact=a&explanation=b",
                 {{http::field::content_type, "application/x-www-form-urlencoded"},
                  {http::field::origin, origin}});
    CHECK(res.result() == http::status::forbidden);
  }
  // Still listed: nothing above acted.
  CHECK(contains(s.get("/lookup/192.0.2.1").body(), "is listed in"));
  // Same origin, or no Origin at all (curl), acts.
  auto res = s.send(http::verb::delete_, "/api/v1/zones/bl.test/listings/192.0.2.0%2F24",
                    R"({"reason":"ok"})",
                    {{http::field::authorization, "Bearer " + s.desk_},
                     {http::field::content_type, "application/json"},
                     {http::field::origin, "http://127.0.0.1:8080"}});
  CHECK(res.result() == http::status::ok);
  // A GET with a foreign Origin is only a read.
  res = s.send(http::verb::get, "/lookup/192.0.2.1", {}, {{http::field::origin, "http://x"}});
  CHECK(res.result() == http::status::ok);
}

TEST_CASE("pages: every embedded asset is served with its type and the headers", "[pages]") {
  Site s;
  REQUIRE(pages::escape_html("x") == "x");
  const std::vector<std::pair<std::string, std::string>> want = {
      {"style.css", "text/css; charset=utf-8"},
      {"console.js", "text/javascript; charset=utf-8"},
      {"chart.js", "text/javascript; charset=utf-8"},
      {"console.html", "text/html; charset=utf-8"}};
  REQUIRE(embedded_assets().size() == want.size());
  for (const auto& [name, type] : want) {
    INFO(name);
    const auto res = s.get("/assets/" + name);
    CHECK(res.result() == http::status::ok);
    CHECK(res[http::field::content_type] == type);
    CHECK(res["X-Content-Type-Options"] == "nosniff");
    CHECK_FALSE(res.body().empty());
  }
  const auto console = s.get("/console");
  check_page_headers(console);
  CHECK(contains(console.body(), "<script src=\"/assets/console.js\""));
  // No inline script: every <script> has a src.
  const auto& b = console.body();
  for (auto pos = b.find("<script"); pos != std::string::npos; pos = b.find("<script", pos + 1)) {
    CHECK(b.compare(pos, 12, "<script src=") == 0);
  }
  CHECK(s.get("/assets/nope.js").result() == http::status::not_found);
  CHECK(s.get("/assets/..%2Fpages.cpp").result() == http::status::not_found);
}

TEST_CASE("pages: the activity feed needs a desk token and lists events newest first", "[pages]") {
  Site s;
  s.now_ = kNow - 7200;
  s.list("bl.test", "192.0.2.1", "first", core::Source::trap);
  s.now_ = kNow - 1800;
  s.list("bl.test", "192.0.2.2", "second", core::Source::manual);
  s.list("bl.test", "2001:db8::/32", "third", core::Source::import);
  s.now_ = kNow;

  CHECK(s.get("/api/v1/zones/bl.test/activity").result() == http::status::unauthorized);
  const auto reporter = s.send(http::verb::get, "/api/v1/zones/bl.test/activity", {},
                               {{http::field::authorization, "Bearer " + s.reporter_}});
  CHECK(reporter.result() == http::status::forbidden);
  const auto auth = std::vector<std::pair<http::field, std::string>>{
      {http::field::authorization, "Bearer " + s.desk_}};
  CHECK(s.send(http::verb::get, "/api/v1/zones/nope.test/activity", {}, auth).result() ==
        http::status::not_found);
  CHECK(s.send(http::verb::get, "/api/v1/zones/bl.test/activity?limit=0", {}, auth).result() ==
        http::status::bad_request);

  const auto res = s.send(http::verb::get, "/api/v1/zones/bl.test/activity?hours=3", {}, auth);
  REQUIRE(res.result() == http::status::ok);
  const auto j = json::parse(res.body());
  REQUIRE(j["events"].size() == 3);
  CHECK(j["events"][0]["subject"] == "2001:db8::/32");
  CHECK(j["events"][0]["source"] == "import");
  CHECK(j["events"][1]["subject"] == "192.0.2.2");
  CHECK(j["events"][2]["subject"] == "192.0.2.1");
  CHECK(j["events"][2]["reason"] == "first");
  CHECK(j["events"][2]["time"] == core::format_utc(kNow - 7200));
  // Points at now-3h, -2h, -1h, now: the trap listing from -2h on, the
  // others from -30 min.
  const auto& by = j["listings"]["by_source"];
  CHECK(j["listings"]["times"].size() == 4);
  CHECK(by["trap"] == json{0, 1, 1, 1});
  CHECK(by["manual"] == json{0, 0, 0, 1});
  CHECK(by["import"] == json{0, 0, 0, 1});
  CHECK(by["report"] == json{0, 0, 0, 0});

  // The combined zone sums its members and names them.
  const auto zen = json::parse(
      s.send(http::verb::get, "/api/v1/zones/zen.test/activity?hours=1", {}, auth).body());
  CHECK(zen["events"].size() == 3);
  CHECK(zen["events"][0]["subject"] == "bl.test: 2001:db8::/32");
}

}  // namespace
}  // namespace rblzone::admin

namespace rblzone::core {
namespace {

TEST_CASE("store: zone_history returns one zone's events with their subjects", "[pages][store]") {
  rblzone::testing::TempDir dir{"zone-history"};
  std::int64_t now = 1700000000;
  Store store(dir.path() / "data", [&] { return now; });
  Listing l;
  l.reason = "r";
  Listing subtree = l;
  subtree.flags = kFlagSubtree;
  store.env().write([&](WriteTxn& txn) {
    const auto a = store.ensure_zone(txn, "a.test");
    const auto b = store.ensure_zone(txn, "b.test");
    store.put(txn, a, *parse_subject("192.0.2.0/24"), l, {"t", "list", "one"});
    store.put(txn, a, *parse_subject("2001:db8::1"), l, {"t", "list", "two"});
    store.put(txn, a, *parse_subject("*.spam.example"), subtree, {"t", "list", "three"});
    store.put(txn, a, *parse_subject("ham.example"), l, {"t", "list", "four"});
    store.remove(txn, a, *parse_subject("192.0.2.0/24"), {"t", "delist", "five"});
    store.put(txn, b, *parse_subject("198.51.100.1"), l, {"t", "list", "other zone"});
  });
  auto txn = store.env().begin_read();
  const auto a = *store.find_zone(txn, "a.test");
  const auto events = store.zone_history(txn, a, 100);
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& e : events) got.emplace_back(e.subject, e.reason);
  std::sort(got.begin(), got.end());
  const std::vector<std::pair<std::string, std::string>> want = {{"*.spam.example", "three"},
                                                                 {"192.0.2.0/24", "five"},
                                                                 {"192.0.2.0/24", "one"},
                                                                 {"2001:db8::1", "two"},
                                                                 {"ham.example", "four"}};
  CHECK(got == want);
  CHECK(store.zone_history(txn, a, 2).size() == 2);  // the cap
  // Sequence numbers are distinct and the removal's event is after the put.
  std::uint64_t put_seq = 0, del_seq = 0;
  for (const auto& e : events) {
    if (e.reason == "one") put_seq = e.seq;
    if (e.reason == "five") del_seq = e.seq;
  }
  CHECK(put_seq < del_seq);
}

}  // namespace
}  // namespace rblzone::core

namespace rblzone::admin {

TEST_CASE("pages: top listed subjects, named by zone, for the desk only", "[pages][hot_subjects]") {
  Site s;
  const auto auth = std::vector<std::pair<http::field, std::string>>{
      {http::field::authorization, "Bearer " + s.desk_}};
  const auto path = std::string("/api/v1/stats/top-listed");

  // No DNS server: an empty answer that says so.
  auto res = s.send(http::verb::get, path, {}, auth);
  REQUIRE(res.result() == http::status::ok);
  CHECK(json::parse(res.body())["dns"] == false);
  CHECK(json::parse(res.body())["subjects"].empty());

  const auto id = [&](const std::string& name) {
    return find_catalog_zone(*s.ctx_.catalog(), name)->id;
  };
  std::vector<std::unique_ptr<zoneserver::HotSubjects>> tables;
  tables.push_back(std::make_unique<zoneserver::HotSubjects>());
  zoneserver::Matched m;
  m.listed = true;
  m.ip = true;
  m.prefix = *core::IpPrefix::parse("192.0.2.0/24");
  m.zone = m.source = id("bl.test");
  for (int i = 0; i < 3; ++i) tables[0]->count(m, kNow);
  m.zone = id("zen.test");
  tables[0]->count(m, kNow);
  m.ip = false;
  m.zone = m.source = id("rhsbl.test");
  std::snprintf(m.domain, sizeof m.domain, "%s", "<b>spam.example");
  m.domain_size = std::strlen(m.domain);
  for (int i = 0; i < 2; ++i) tables[0]->count(m, kNow);
  s.ctx_.hot_subjects = [&tables] { return &tables; };

  CHECK(s.get(path).result() == http::status::unauthorized);
  CHECK(s.send(http::verb::get, path, {}, {{http::field::authorization, "Bearer " + s.reporter_}})
            .result() == http::status::forbidden);
  res = s.send(http::verb::get, path, {}, auth);
  REQUIRE(res.result() == http::status::ok);
  CHECK(res[http::field::content_type] == "application/json");
  auto body = json::parse(res.body());
  CHECK(body["dns"] == true);
  CHECK(body["interval_seconds"] == 300);
  CHECK(body["since"] == "2023-11-14T22:05:00Z");  // the previous 300 s interval's start
  CHECK(body["until"] == "2023-11-14T22:13:20Z");
  const json want = json::parse(R"([
    {"zone":"bl.test","listed_in":"bl.test","subject":"192.0.2.0/24","count":3,"error":0},
    {"zone":"rhsbl.test","listed_in":"rhsbl.test","subject":"<b>spam.example","count":2,"error":0},
    {"zone":"zen.test","listed_in":"bl.test","subject":"192.0.2.0/24","count":1,"error":0}])");
  CHECK(body["subjects"] == want);

  body = json::parse(s.send(http::verb::get, path + "?zone=zen.test&limit=5", {}, auth).body());
  REQUIRE(body["subjects"].size() == 1);
  CHECK(body["subjects"][0]["zone"] == "zen.test");
  body = json::parse(s.send(http::verb::get, path + "?limit=1", {}, auth).body());
  CHECK(body["subjects"].size() == 1);
  for (const char* bad : {"?limit=0", "?limit=101", "?limit=1x", "?limit=1000000"}) {
    INFO(bad);
    CHECK(s.send(http::verb::get, path + bad, {}, auth).result() == http::status::bad_request);
  }
  CHECK(s.send(http::verb::get, path + "?zone=nope.test", {}, auth).result() ==
        http::status::not_found);
  CHECK(s.send(http::verb::post, path, "{}", auth).result() == http::status::method_not_allowed);
}

}  // namespace rblzone::admin
