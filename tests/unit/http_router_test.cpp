// Tests for admin/router and admin/metrics: every endpoint and error class
// driven with constructed requests over a real store in a temp dir, no sockets.
#include <catch2/catch.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "admin/router.hpp"
#include "tests/unit/fixtures.hpp"
#include "tests/unit/temp_dir.hpp"

namespace rblzone::admin {
namespace {

using nlohmann::json;
using zoneserver::QueryStats;

constexpr std::int64_t kNow = 1700000000;  // 2023-11-14T22:13:20Z

using rblzone::testing::zone;

core::Listing listing(std::vector<std::uint32_t> codes, std::string reason,
                      std::int64_t expires = 0, std::uint8_t flags = 0) {
  auto l = rblzone::testing::listing(std::move(codes), std::move(reason), expires);
  l.flags = flags;
  l.source = core::Source::trap;
  l.first_seen = kNow - 3600;
  l.last_seen = kNow - 60;
  return l;
}

class World {
 public:
  World() {
    auto pbl = zone("pbl.test");
    pbl.default_code = 0x7f00000a;
    auto zen = zone("zen.test", core::ZoneKind::combined);
    zen.members = {"bl.test", "pbl.test"};
    zones_ = {zone("bl.test"), pbl, zone("rhsbl.test", core::ZoneKind::domain), zen};
    store_ = std::make_unique<core::Store>(dir_.path() / "data", [this] { return now_; });
    catalog_ = zoneserver::ZoneCatalog::build(zones_, *store_);
    ctx_.store = store_.get();
    ctx_.catalog = [this] { return catalog_; };
    ctx_.dns_stats = [this]() -> const DnsStats* { return dns_on_ ? &stats_ : nullptr; };
    ctx_.clock = [this] { return now_; };
    list("bl.test", "192.0.2.0/24", listing({}, "trap hits", kNow + 86400));
    list("bl.test", "192.0.2.9", listing({}, "", 0, core::kFlagExclusion));
    list("bl.test", "198.51.100.1", listing({0x7f000003}, "old", kNow - 1));
    list("bl.test", "127.0.0.1", listing({}, "must never show"));
    list("bl.test", "2001:db8::/32", listing({0x7f000004}, "v6 range"));
    list("pbl.test", "192.0.2.7", listing({}, "dynamic"));
    list("rhsbl.test", "spammer.example", listing({}, "exact domain"));
    list("rhsbl.test", "*.subtree.example", listing({}, "whole subtree", 0, core::kFlagSubtree));
  }

  void list(const std::string& zone_name, const char* subject, const core::Listing& l) {
    store_->env().write([&](core::WriteTxn& txn) {
      const auto z = store_->ensure_zone(txn, zone_name);
      store_->put(txn, z, *core::parse_subject(subject), l, {"test", "list", "test"});
    });
  }

  Response get(const std::string& target, http::verb method = http::verb::get) {
    Request req{method, target, 11};
    return handle(req, ctx_);
  }
  json get_json(const std::string& target, http::status want = http::status::ok) {
    const auto res = get(target);
    CHECK(res.result() == want);
    CHECK(res[http::field::content_type] == "application/json");
    return json::parse(res.body());
  }

  std::uint32_t serial(const std::string& name) {
    auto txn = store_->env().begin_read();
    return store_->serial(txn, std::string_view(name));
  }

  RouterContext ctx_;
  DnsStats stats_;
  bool dns_on_ = true;
  std::int64_t now_ = kNow;

 private:
  rblzone::testing::TempDir dir_{"http"};
  std::vector<core::ZoneConfig> zones_;
  std::unique_ptr<core::Store> store_;
  std::shared_ptr<const zoneserver::ZoneCatalog> catalog_;
};

void check_error(const Response& res, http::status status, const std::string& code) {
  INFO(res.body());
  CHECK(res.result() == status);
  CHECK(res[http::field::content_type] == "application/json");
  const auto j = json::parse(res.body());
  REQUIRE(j.contains("error"));
  CHECK(j["error"]["code"] == code);
  CHECK(j["error"]["message"].is_string());
  CHECK(j["error"].size() == 2);
}

std::string lookup(const std::string& zone_name, const std::string& subject) {
  return "/api/v1/zones/" + zone_name + "/lookup/" + subject;
}

TEST_CASE("http router: healthz answers ok when the store can be read", "[http]") {
  World w;
  const auto j = w.get_json("/healthz");
  CHECK(j == json{{"status", "ok"}});
}

TEST_CASE("http router: the zone list names every configured zone, sorted", "[http]") {
  World w;
  const auto j = w.get_json("/api/v1/zones");
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 4);
  CHECK(j[0] == json{{"name", "bl.test"}, {"kind", "ip"}, {"serial", w.serial("bl.test")}});
  CHECK(j[1]["name"] == "pbl.test");
  CHECK(j[2] ==
        json{{"name", "rhsbl.test"}, {"kind", "domain"}, {"serial", w.serial("rhsbl.test")}});
  CHECK(j[3]["name"] == "zen.test");
  CHECK(j[3]["kind"] == "combined");
  CHECK(j[3]["members"] == json{"bl.test", "pbl.test"});
  CHECK_FALSE(j[0].contains("members"));
}

TEST_CASE("http router: an address inside a listed prefix is listed, with the public fields only",
          "[http]") {
  World w;
  const auto j = w.get_json(lookup("bl.test", "192.0.2.7"));
  CHECK(j["zone"] == "bl.test");
  CHECK(j["subject"] == "192.0.2.7");
  CHECK(j["listed"] == true);
  CHECK(j["codes"] == json{"127.0.0.2"});  // no codes: the zone's default
  CHECK(j["reason"] == "trap hits");
  CHECK(j["since"] == "2023-11-14T21:13:20Z");
  CHECK(j["expires"] == "2023-11-15T22:13:20Z");
  CHECK(j["matched"] == "192.0.2.0/24");
  CHECK(j["how_to_delist"].is_string());
  // Traps and reporters are never revealed.
  const auto body = w.get(lookup("bl.test", "192.0.2.7")).body();
  CHECK(body.find("source") == std::string::npos);
  CHECK(body.find("trap\"") == std::string::npos);
  CHECK_FALSE(j.contains("offences"));
}

TEST_CASE("http router: lookups answer what DNS would", "[http]") {
  World w;
  struct Row {
    std::string zone;
    std::string subject;  // as in the path
    bool listed;
    json codes;
    json matched;
  };
  const std::vector<Row> rows = {
      {"bl.test", "192.0.2.9", false, json::array(), nullptr},     // exclusion
      {"bl.test", "198.51.100.1", false, json::array(), nullptr},  // expired
      {"bl.test", "203.0.113.1", false, json::array(), nullptr},   // nothing
      {"bl.test", "2001:db8::25", true, {"127.0.0.4"}, "2001:db8::/32"},
      {"bl.test", "2001%3Adb8%3A%3A25", true, {"127.0.0.4"}, "2001:db8::/32"},
      {"bl.test", "192.0.2.0%2F24", true, {"127.0.0.2"}, "192.0.2.0/24"},  // CIDR: exact
      {"bl.test", "192.0.2.0%2f24", true, {"127.0.0.2"}, "192.0.2.0/24"},
      {"bl.test", "192.0.2.0%2F25", false, json::array(), nullptr},   // not stored as such
      {"bl.test", "127.0.0.2", true, {"127.0.0.2"}, "127.0.0.2"},     // RFC 5782 test point
      {"bl.test", "127.0.0.1", false, json::array(), nullptr},        // never, even if stored
      {"bl.test", "spammer.example", false, json::array(), nullptr},  // wrong kind
      {"pbl.test", "192.0.2.7", true, {"127.0.0.10"}, "192.0.2.7"},
      {"zen.test",
       "192.0.2.7",
       true,
       {"127.0.0.2", "127.0.0.10"},
       "192.0.2.0/24"},  // union, numeric order
      {"zen.test", "192.0.2.8", true, {"127.0.0.2"}, "192.0.2.0/24"},
      {"zen.test", "203.0.113.1", false, json::array(), nullptr},
      {"rhsbl.test", "spammer.example", true, {"127.0.0.2"}, "spammer.example"},
      {"rhsbl.test", "SPAMMER.example", true, {"127.0.0.2"}, "spammer.example"},
      {"rhsbl.test", "www.spammer.example", false, json::array(), nullptr},  // exact only
      {"rhsbl.test", "a.b.subtree.example", true, {"127.0.0.2"}, "*.subtree.example"},
      {"rhsbl.test", "%2A.subtree.example", true, {"127.0.0.2"}, "*.subtree.example"},
      {"rhsbl.test", "*.spammer.example", false, json::array(), nullptr},
      {"rhsbl.test", "TEST", true, {"127.0.0.2"}, "test"},
      {"rhsbl.test", "invalid", false, json::array(), nullptr},
      {"BL.test", "192.0.2.7", true, {"127.0.0.2"}, "192.0.2.0/24"},
  };
  for (const auto& r : rows) {
    INFO(r.zone << " " << r.subject);
    const auto j = w.get_json(lookup(r.zone, r.subject));
    CHECK(j["listed"] == r.listed);
    CHECK(j["codes"] == r.codes);
    CHECK(j["matched"] == r.matched);
    if (!r.listed) {
      CHECK(j["reason"].is_null());
      CHECK(j["how_to_delist"].is_null());
    }
  }
}

TEST_CASE("http router: a permanent listing has a null expiry; expiry follows the clock",
          "[http]") {
  World w;
  CHECK(w.get_json(lookup("rhsbl.test", "spammer.example"))["expires"].is_null());
  w.now_ = kNow + 86400;  // the /24 expires now
  CHECK(w.get_json(lookup("bl.test", "192.0.2.7"))["listed"] == false);
}

TEST_CASE("http router: every error is a JSON error with a stable code", "[http]") {
  World w;
  check_error(w.get(lookup("nope.test", "192.0.2.1")), http::status::not_found, "unknown_zone");
  check_error(w.get(lookup("bl.test", "192.0.2.1%2F33")), http::status::bad_request, "bad_subject");
  check_error(w.get(lookup("bl.test", "bad..name")), http::status::bad_request, "bad_subject");
  check_error(w.get(lookup("bl.test", "%ff%fe")), http::status::bad_request, "bad_subject");
  for (const char* bad : {"%", "%2", "%zz", "%2G", "%00", "a%"}) {
    INFO(bad);
    check_error(w.get(lookup("bl.test", bad)), http::status::bad_request, "bad_path");
  }
  check_error(w.get("/nope"), http::status::not_found, "not_found");
  check_error(w.get("/api/v1/zones/bl.test"), http::status::not_found, "not_found");
  check_error(w.get("/api/v1/zones/bl.test/lookup"), http::status::not_found, "not_found");
  check_error(w.get("*"), http::status::bad_request, "bad_path");
  for (const char* target :
       {"/healthz", "/metrics", "/api/v1/zones", "/api/v1/zones/bl.test/lookup/192.0.2.1"}) {
    INFO(target);
    const auto res = w.get(target, http::verb::post);
    check_error(res, http::status::method_not_allowed, "method_not_allowed");
    CHECK(res[http::field::allow] == "GET");
  }
  w.ctx_.catalog = []() -> std::shared_ptr<const zoneserver::ZoneCatalog> {
    throw std::runtime_error("boom");
  };
  check_error(w.get("/api/v1/zones"), http::status::internal_server_error, "internal");
  check_error(error_response(http::status::payload_too_large, "body_too_large", "big"),
              http::status::payload_too_large, "body_too_large");
}

TEST_CASE("http router: a query string does not change the route", "[http]") {
  World w;
  CHECK(w.get_json("/healthz?verbose=1") == json{{"status", "ok"}});
}

TEST_CASE("http router: percent_decode", "[http]") {
  struct Row {
    const char* in;
    bool ok;
    std::string out;
  };
  const std::vector<Row> rows = {
      {"", true, ""},         {"abc", true, "abc"}, {"a%2Fb", true, "a/b"}, {"a%2fb", true, "a/b"},
      {"%41%42", true, "AB"}, {"a+b", true, "a+b"}, {"%", false, ""},       {"%4", false, ""},
      {"%4g", false, ""},     {"%g4", false, ""},   {"%00", false, ""},     {"x%2", false, ""},
  };
  for (const auto& r : rows) {
    INFO(r.in);
    std::string out;
    CHECK(percent_decode(r.in, out) == r.ok);
    if (r.ok) CHECK(out == r.out);
  }
}

std::string line_of(const std::string& body, const std::string& prefix) {
  const auto at = body.find("\n" + prefix);
  if (at == std::string::npos) return "";
  const auto end = body.find('\n', at + 1);
  return body.substr(at + 1, end - at - 1);
}

TEST_CASE("http router: metrics sum every worker's counters in the Prometheus text format",
          "[http]") {
  World w;
  for (int i = 0; i < 2; ++i) w.stats_.push_back(std::make_unique<QueryStats>(8));
  auto& a = *w.stats_[0];
  auto& b = *w.stats_[1];
  a.queries = 5;
  b.queries = 7;
  a.listed = 3;
  b.not_listed = 4;
  a.dropped = 1;
  b.truncated = 2;
  a.refused_acl = 6;
  a.rcode[0] = 4;
  b.rcode[3] = 8;
  a.count_latency(100);       // < 128 ns: bucket 0
  b.count_latency(1000);      // < 1024 ns: bucket 3
  b.count_latency(1u << 31);  // beyond every bound: +Inf only
  a.per_zone[0] = 2;
  b.per_zone[0] = 3;

  const auto res = w.get("/metrics");
  CHECK(res.result() == http::status::ok);
  CHECK(res[http::field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
  const std::string body = "\n" + res.body();
  CHECK(line_of(body, "rblzone_dns_queries_total ") == "rblzone_dns_queries_total 12");
  CHECK(line_of(body, "rblzone_dns_listed_total ") == "rblzone_dns_listed_total 3");
  CHECK(line_of(body, "rblzone_dns_not_listed_total ") == "rblzone_dns_not_listed_total 4");
  CHECK(line_of(body, "rblzone_dns_dropped_total ") == "rblzone_dns_dropped_total 1");
  CHECK(line_of(body, "rblzone_dns_truncated_total ") == "rblzone_dns_truncated_total 2");
  CHECK(line_of(body, "rblzone_dns_refused_acl_total ") == "rblzone_dns_refused_acl_total 6");
  CHECK(line_of(body, "rblzone_dns_responses_total{rcode=\"NOERROR\"}") ==
        "rblzone_dns_responses_total{rcode=\"NOERROR\"} 4");
  CHECK(line_of(body, "rblzone_dns_responses_total{rcode=\"NXDOMAIN\"}") ==
        "rblzone_dns_responses_total{rcode=\"NXDOMAIN\"} 8");
  CHECK(line_of(body, "rblzone_dns_responses_total{rcode=\"SERVFAIL\"}") ==
        "rblzone_dns_responses_total{rcode=\"SERVFAIL\"} 0");
  CHECK(line_of(body, "rblzone_dns_query_duration_seconds_bucket{le=\"1.28e-07\"}") ==
        "rblzone_dns_query_duration_seconds_bucket{le=\"1.28e-07\"} 1");
  CHECK(line_of(body, "rblzone_dns_query_duration_seconds_bucket{le=\"5.12e-07\"}") ==
        "rblzone_dns_query_duration_seconds_bucket{le=\"5.12e-07\"} 1");
  CHECK(line_of(body, "rblzone_dns_query_duration_seconds_bucket{le=\"1.024e-06\"}") ==
        "rblzone_dns_query_duration_seconds_bucket{le=\"1.024e-06\"} 2");
  CHECK(line_of(body, "rblzone_dns_query_duration_seconds_bucket{le=\"0.536870912\"}") ==
        "rblzone_dns_query_duration_seconds_bucket{le=\"0.536870912\"} 2");
  CHECK(line_of(body, "rblzone_dns_query_duration_seconds_bucket{le=\"+Inf\"}") ==
        "rblzone_dns_query_duration_seconds_bucket{le=\"+Inf\"} 3");
  CHECK(line_of(body, "rblzone_dns_query_duration_seconds_count") ==
        "rblzone_dns_query_duration_seconds_count 3");
  CHECK(line_of(body, "# TYPE rblzone_dns_query_duration_seconds ") ==
        "# TYPE rblzone_dns_query_duration_seconds histogram");
  // Per-zone counters are named through the catalog: index 0 is one zone.
  std::size_t zone_lines = 0;
  std::uint64_t zone_total = 0;
  for (std::size_t at = body.find("\nrblzone_dns_zone_queries_total{"); at != std::string::npos;
       at = body.find("\nrblzone_dns_zone_queries_total{", at + 1)) {
    ++zone_lines;
    const auto end = body.find('\n', at + 1);
    zone_total +=
        std::stoull(body.substr(body.rfind(' ', end) + 1, end - body.rfind(' ', end) - 1));
  }
  CHECK(zone_lines == 4);
  CHECK(zone_total == 5);
  CHECK(line_of(body, "rblzone_zone_serial{zone=\"bl.test\"}") ==
        "rblzone_zone_serial{zone=\"bl.test\"} " + std::to_string(w.serial("bl.test")));
  CHECK_FALSE(line_of(body, "rblzone_store_map_bytes ").empty());
  const auto used = line_of(body, "rblzone_store_used_bytes ");
  REQUIRE_FALSE(used.empty());
  CHECK(std::stoull(used.substr(used.rfind(' ') + 1)) > 0);
}

TEST_CASE("http router: metrics without DNS report zero DNS counters", "[http]") {
  World w;
  w.dns_on_ = false;
  const std::string body = "\n" + w.get("/metrics").body();
  CHECK(line_of(body, "rblzone_dns_queries_total ") == "rblzone_dns_queries_total 0");
  CHECK(line_of(body, "rblzone_dns_query_duration_seconds_count") ==
        "rblzone_dns_query_duration_seconds_count 0");
  CHECK_FALSE(line_of(body, "rblzone_zone_serial{zone=\"zen.test\"}").empty());
}

}  // namespace
}  // namespace rblzone::admin
