// Tests for admin/pdns_http: the three request layouts of pdns's HTTP
// connector (REST, post=1, post=1,post_json=1) turned into backend calls,
// through the router's handle(), with no sockets.
#include "admin/pdns_http.hpp"

#include <catch2/catch.hpp>
#include <cctype>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/unit/temp_dir.hpp"

namespace rblzone::admin {
namespace {

using nlohmann::json;
constexpr std::int64_t kNow = 1700000000;

class World {
 public:
  World() {
    core::ZoneConfig z;
    z.file = "bl.test.toml";
    z.name = "bl.test";
    store_ = std::make_unique<core::Store>(dir_.path() / "data", [] { return kNow; });
    catalog_ = zoneserver::ZoneCatalog::build({z}, *store_);
    ctx_.store = store_.get();
    ctx_.catalog = [this] { return catalog_; };
    ctx_.dns_stats = []() -> const DnsStats* { return nullptr; };
    ctx_.clock = [] { return kNow; };
    store_->env().write([&](core::WriteTxn& txn) {
      const auto ref = store_->ensure_zone(txn, "bl.test");
      core::Listing l;
      l.codes = {0x7f000003};
      l.reason = "trap";
      store_->put(txn, ref, *core::parse_subject("192.0.2.1"), l, {"test", "list", "test"});
    });
  }
  // The reply body, after checking the status and content type.
  json call(http::verb method, const std::string& target, const std::string& body = "",
            const std::string& content_type = "",
            const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    Request req{method, target, 11};
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    const Response res = handle(req, ctx_);
    CHECK(res.result() == http::status::ok);
    CHECK(res[http::field::content_type] == "application/json");
    return json::parse(res.body());
  }

 private:
  testing::TempDir dir_;
  std::unique_ptr<core::Store> store_;
  std::shared_ptr<const zoneserver::ZoneCatalog> catalog_;
  RouterContext ctx_;
};

std::string encode(std::string_view s) {  // as YaHTTP: everything but alphanumerics
  std::string out;
  for (const unsigned char c : s) {
    if (std::isalnum(c)) {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02x", c);
      out += hex;
    }
  }
  return out;
}

const std::string kName = "1.2.0.192.bl.test.";

TEST_CASE("pdns http: REST lookups, percent-decoded, with the header parameters", "[pdns]") {
  World w;
  const json r = w.call(http::verb::get, "/pdns/lookup/" + encode(kName) + "/ANY", "", "",
                        {{"X-RemoteBackend-zone-id", "1"},
                         {"x-remotebackend-remote", "127.0.0.1"},
                         {"X-RemoteBackend-real-remote", "127.0.0.1/32"}});
  REQUIRE(r["result"].size() == 2);
  CHECK(r["result"][0]["qname"] == kName);
  CHECK(r["result"][0]["content"] == "127.0.0.3");
  CHECK(r["result"][1]["qtype"] == "TXT");
  CHECK(w.call(http::verb::get, "/pdns/lookup/" + encode(kName) + "/TXT")["result"].size() == 1);
  CHECK(w.call(http::verb::get, "/pdns/lookup/" + encode("2.0.192.bl.test.") +
                                    "/ANY")["result"][0]["qtype"] == "ENT");
  CHECK(w.call(http::verb::get,
               "/pdns/lookup/" + encode("2.2.0.192.bl.test.") + "/ANY")["result"] == false);
  // A hand-written name with literal dots and its trailing dot works too.
  CHECK(w.call(http::verb::get, "/pdns/getDomainInfo/bl.test.")["result"]["zone"] == "bl.test.");
}

TEST_CASE("pdns http: the url-suffix is dropped before routing", "[pdns]") {
  World w;
  const json all = w.call(http::verb::get, "/pdns/getAllDomains.json?includeDisabled=true");
  REQUIRE(all["result"].is_array());
  CHECK(all["result"][0]["zone"] == "bl.test.");
  CHECK(w.call(http::verb::get, "/pdns/lookup/" + encode(kName) + "/ANY.json")["result"].size() ==
        2);
  CHECK(w.call(http::verb::get, "/pdns/getDomainInfo/" + encode("bl.test.") +
                                    ".json")["result"]["zone"] == "bl.test.");
  CHECK(w.call(http::verb::get, "/pdns/getDomainMetadata/" + encode("bl.test.") + "/" +
                                    encode("ALSO-NOTIFY") + ".json")["result"] == json::array());
  CHECK(w.call(http::verb::get, "/pdns/getAllDomainMetadata/" + encode("bl.test."))["result"] ==
        json::object());
}

TEST_CASE("pdns http: post=1 and post=1,post_json=1", "[pdns]") {
  World w;
  const json params = {{"qname", kName}, {"qtype", "A"}, {"zone-id", 1}};
  const json form = w.call(http::verb::post, "/pdns/lookup", "parameters=" + encode(params.dump()),
                           "application/x-www-form-urlencoded; charset=utf-8");
  REQUIRE(form["result"].size() == 1);
  CHECK(form["result"][0]["content"] == "127.0.0.3");
  const json whole =
      w.call(http::verb::post, "/pdns", json{{"method", "lookup"}, {"parameters", params}}.dump(),
             "text/javascript; charset=utf-8");
  REQUIRE(whole["result"].size() == 1);
  CHECK(whole["result"][0]["content"] == "127.0.0.3");
}

TEST_CASE("pdns http: everything else and garbage get result false", "[pdns]") {
  World w;
  CHECK(w.call(http::verb::patch, "/pdns/setNotified/1", "serial=2024010101.000000",
               "application/x-www-form-urlencoded")["result"] == false);
  CHECK(w.call(http::verb::get, "/pdns/searchRecords?pattern=x&maxResults=1")["result"] == false);
  CHECK(w.call(http::verb::get, "/pdns/lookup/%zz/ANY")["result"] == false);
  CHECK(w.call(http::verb::get, "/pdns")["result"] == false);
  CHECK(w.call(http::verb::post, "/pdns", "{not json", "text/javascript")["result"] == false);
  CHECK(w.call(http::verb::post, "/pdns/lookup", "parameters=%7b",
               "application/x-www-form-urlencoded")["result"] == false);
  CHECK(w.call(http::verb::get, "/pdns/list/x/" + encode("bl.test."))["result"] == false);
}

TEST_CASE("pdns http: no list over HTTP, even for a zone the socket would list", "[pdns]") {
  World w;
  CHECK(w.call(http::verb::get, "/pdns/list/1/" + encode("bl.test."))["result"] == false);
  CHECK(
      w.call(http::verb::post, "/pdns",
             json{{"method", "list"}, {"parameters", {{"domain_id", 1}, {"zonename", "bl.test."}}}}
                 .dump(),
             "text/javascript")["result"] == false);
}

TEST_CASE("pdns http: only /pdns and below is the connector's", "[pdns]") {
  CHECK(is_pdns_target("/pdns"));
  CHECK(is_pdns_target("/pdns/lookup/x/ANY"));
  CHECK(is_pdns_target("/pdns?x=1"));
  CHECK_FALSE(is_pdns_target("/pdnsx"));
  CHECK_FALSE(is_pdns_target("/api/v1/zones"));
}

}  // namespace
}  // namespace rblzone::admin
