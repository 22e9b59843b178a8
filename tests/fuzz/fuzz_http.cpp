// Fuzz target: the admin HTTP request handler (admin/router handle()) over a
// real store in a temp dir. The fuzz bytes are one HTTP/1.1 request, parsed
// by Beast with the server's header and body limits (admin/http_server);
// every request the server would hand to the router goes through handle():
// paths, query strings, headers, JSON bodies, the pages and the PowerDNS
// endpoint. An Authorization value "Bearer @admin" (or @desk, @reporter,
// @importer) is replaced with a valid token of that role, so the write
// endpoints are reached with their JSON bodies. The store keeps what the
// writes did from one input to the next (a real server does too).
//
// Invariants: handle() never throws nor answers 500 (bad input is a 4xx),
// every status is a real one, a JSON response parses as JSON, and every
// JSON or text body is well-formed UTF-8.
#include <unistd.h>

#include <boost/beast/http/parser.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "admin/router.hpp"
#include "core/policy.hpp"
#include "core/store.hpp"
#include "core/tokens.hpp"
#include "zoneserver/zone_catalog.hpp"

namespace {

using namespace rblzone;
namespace http = boost::beast::http;

constexpr std::int64_t kNow = 1700000000;

core::ZoneConfig zone(const std::string& name, core::ZoneKind kind) {
  core::ZoneConfig z;
  z.file = name + ".toml";
  z.name = name;
  z.kind = kind;
  z.ns = {"ns1." + name};
  z.allowlist = {"198.51.100.0/24"};
  return z;
}

struct Fixture {
  std::filesystem::path dir;
  std::vector<core::ZoneConfig> zones;
  std::unique_ptr<core::Store> store;
  std::unique_ptr<core::Policy> policy;
  std::shared_ptr<const zoneserver::ZoneCatalog> catalog;
  admin::RouterContext ctx;
  std::map<std::string, std::string> tokens;  // "@role" -> token

  Fixture() {
    // Each write endpoint commits (fsync): on tmpfs when there is one.
    const bool shm = std::filesystem::is_directory("/dev/shm");
    std::string tmpl = shm ? "/dev/shm/rblzone-fuzz-http-XXXXXX" : "/tmp/rblzone-fuzz-http-XXXXXX";
    dir = mkdtemp(tmpl.data());
    auto zen = zone("zen.test", core::ZoneKind::combined);
    zen.members = {"bl.test", "rhsbl.test"};
    zen.allowlist.clear();
    zones = {zone("bl.test", core::ZoneKind::ip), zone("rhsbl.test", core::ZoneKind::domain), zen};
    store = std::make_unique<core::Store>(dir, [] { return kNow; });
    policy = std::make_unique<core::Policy>(*store);
    catalog = zoneserver::ZoneCatalog::build(zones, *store);
    ctx.store = store.get();
    ctx.policy = policy.get();
    ctx.catalog = [this] { return catalog; };
    ctx.dns_stats = []() -> const admin::DnsStats* { return nullptr; };
    ctx.clock = [] { return kNow; };
    ctx.counters = std::make_shared<admin::LifecycleCounters>();
    store->env().write([&](core::WriteTxn& txn) {
      for (const auto role :
           {core::Role::admin, core::Role::desk, core::Role::reporter, core::Role::importer}) {
        const std::string name(core::to_string(role));
        tokens["Bearer @" + name] =
            "Bearer " +
            core::create_token(
                txn, core::TokenInfo{name, role, core::default_trust(role), kNow, "fuzz"});
      }
      const auto bl = store->ensure_zone(txn, "bl.test");
      const auto rhs = store->ensure_zone(txn, "rhsbl.test");
      core::Listing l;
      l.reason = "fuzz";
      l.source = core::Source::trap;
      l.first_seen = l.last_seen = kNow - 60;
      store->put(txn, bl, *core::parse_subject("192.0.2.0/24"), l, {"fuzz", "list", "fuzz"});
      store->put(txn, bl, *core::parse_subject("2001:db8::/32"), l, {"fuzz", "list", "fuzz"});
      store->put(txn, rhs, *core::parse_subject("spammer.example"), l, {"fuzz", "list", "fuzz"});
    });
  }
  ~Fixture() { std::filesystem::remove_all(dir); }
};

// Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80                 ? 1
                    : c >= 0xc2 && c <= 0xdf ? 2
                    : c >= 0xe0 && c <= 0xef ? 3
                    : c >= 0xf0 && c <= 0xf4 ? 4
                                             : 0;
    if (n == 0 || i + n > s.size()) return false;
    std::uint32_t cp = n == 1 ? c : c & (0x7fu >> n);
    for (std::size_t k = 1; k < n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture f;
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.header_limit(8 * 1024);  // admin::HttpOptions' defaults
  parser.body_limit(64 * 1024);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return 0;  // the server answers 400 itself
  auto req = parser.release();
  const auto auth = req.find(http::field::authorization);
  if (auth != req.end()) {
    const auto it = f.tokens.find(std::string(auth->value()));
    if (it != f.tokens.end()) req.set(http::field::authorization, it->second);
  }
  const auto res = admin::handle(req, f.ctx, "192.0.2.77");
  const auto status = res.result_int();
  if (status < 200 || status > 599 || status == 500) std::abort();
  const auto type = res.find(http::field::content_type);
  if (type != res.end() && type->value().starts_with("application/json")) {
    if (!nlohmann::json::accept(res.body())) std::abort();
  }
  // JSON and every text/* page are served as UTF-8: never a stray byte.
  if (type != res.end() &&
      (type->value().starts_with("application/json") || type->value().starts_with("text/"))) {
    if (!valid_utf8(res.body())) std::abort();
  }
  return 0;
}
