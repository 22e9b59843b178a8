// The admin HTTP request handler: routing, the read-only endpoints, and the
// JSON error helpers every error response comes from.
#include "admin/router.hpp"

#include <algorithm>
#include <ctime>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "admin/api.hpp"
#include "admin/metrics.hpp"
#include "admin/pages.hpp"
#include "admin/pdns_http.hpp"

namespace rblzone::admin {
namespace {

using core::IpPrefix;
using nlohmann::json;

// Beast 1.74 speaks boost::string_view.
boost::beast::string_view bsv(std::string_view s) {
  return {s.data(), s.size()};
}
std::string_view sv(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

constexpr std::string_view kJson = "application/json";

Response not_found(const Request& req) {
  return error_response(http::status::not_found, "not_found", "no such resource", req.version());
}

Response method_not_allowed(const Request& req, std::string_view allow) {
  auto res = error_response(
      http::status::method_not_allowed, "method_not_allowed",
      std::string(sv(req.method_string())) + " is not allowed here; use " + std::string(allow),
      req.version());
  res.set(http::field::allow, bsv(allow));
  return res;
}

Response bad_request(const Request& req, std::string_view code, std::string_view message) {
  return error_response(http::status::bad_request, code, message, req.version());
}

// The request target's path split at '/', each segment percent-decoded.
// A '/' inside a segment arrives as %2F and stays inside it.
std::optional<std::vector<std::string>> split_path(std::string_view target) {
  target = target.substr(0, target.find('?'));
  std::vector<std::string> out;
  if (target.empty() || target[0] != '/') return std::nullopt;
  target.remove_prefix(1);
  for (;;) {
    const auto slash = target.find('/');
    std::string seg;
    if (!percent_decode(target.substr(0, slash), seg)) return std::nullopt;
    out.push_back(std::move(seg));
    if (slash == std::string_view::npos) break;
    target.remove_prefix(slash + 1);
  }
  return out;
}

const zoneserver::CatalogZone* find_zone(const zoneserver::ZoneCatalog& catalog,
                                         std::string_view name) {
  return find_catalog_zone(catalog, name);
}

// --- GET /healthz --------------------------------------------------------------

Response healthz(const Request& req, const RouterContext& ctx) {
  try {
    auto txn = ctx.store->env().begin_read();
  } catch (const std::exception& e) {
    return error_response(http::status::service_unavailable, "store_unavailable",
                          std::string("the store cannot be read: ") + e.what(), req.version());
  }
  return json_response(http::status::ok, json{{"status", "ok"}}, req.version());
}

// --- GET /metrics ----------------------------------------------------------------

Response metrics(const Request& req, const RouterContext& ctx) {
  const auto catalog = ctx.catalog();
  auto txn = ctx.store->env().begin_read();
  Response res{http::status::ok, req.version()};
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.body() = render_metrics(*catalog, ctx.dns_stats ? ctx.dns_stats() : nullptr, *ctx.store, txn);
  res.body() += render_lifecycle_metrics(*catalog, *ctx.store, txn, ctx.policy, ctx.counters.get());
  if (ctx.transfers) {
    const auto [sent, acked] =
        ctx.notifies ? ctx.notifies() : std::pair<std::uint64_t, std::uint64_t>{};
    res.body() += render_xfr_metrics(ctx.transfers(), sent, acked);
  }
  if (ctx.health) res.body() += render_daemon_metrics(*ctx.health, ctx.clock());
  return res;
}

// --- GET /api/v1/zones -------------------------------------------------------------

Response zones(const Request& req, const RouterContext& ctx) {
  const auto catalog = ctx.catalog();
  std::vector<const zoneserver::CatalogZone*> sorted;
  for (const auto& z : catalog->zones()) sorted.push_back(z.get());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->config.name < b->config.name; });
  auto txn = ctx.store->env().begin_read();
  json out = json::array();
  for (const auto* z : sorted) {
    json j{{"name", z->config.name},
           {"kind", core::to_string(z->config.kind)},
           {"serial", ctx.store->serial(txn, std::string_view(z->config.name))}};
    if (z->config.kind == core::ZoneKind::combined) j["members"] = z->config.members;
    out.push_back(std::move(j));
  }
  return json_response(http::status::ok, out, req.version());
}

// --- GET /api/v1/zones/{zone}/lookup/{subject} ---------------------------------------

// What DNS would answer for a subject, and the listing that makes it so.
struct Verdict {
  std::vector<std::uint32_t> codes;
  std::optional<core::Listing> listing;  // the first source's (DNS's TXT source)
  std::string matched;
  bool test_point = false;
};

void add_codes(Verdict& v, const zoneserver::CatalogZone& src, const core::Listing& l,
               std::string matched) {
  if (l.codes.empty()) v.codes.push_back(src.config.default_code);
  v.codes.insert(v.codes.end(), l.codes.begin(), l.codes.end());
  if (!v.listing) {
    v.listing = l;
    v.matched = std::move(matched);
  }
}

// Each source's active match, as DNS matches it (core::active_match), after
// the RFC 5782 test points that DNS answers by itself.
void lookup_subject(const RouterContext& ctx, const core::ReadTxn& txn,
                    const zoneserver::CatalogZone& zone, const core::Subject& s, std::int64_t now,
                    Verdict& v) {
  const bool ip = core::kind_of(s) == core::SubjectKind::ip;
  if (ip ? !zone.ip_data : !zone.domain_data) return;
  if (core::is_test_point(s)) {
    const bool listed = ip ? std::get<IpPrefix>(s) == IpPrefix::v4(0x7f000002, 32)
                           : std::get<core::DomainName>(s).name == "test";
    if (listed) {
      v.codes.push_back(0x7f000002);
      v.test_point = true;
      v.matched = core::to_string(s);
    }
    return;
  }
  for (const auto* src : zone.sources) {
    if ((src->config.kind == core::ZoneKind::ip) != ip) continue;
    const core::ZoneRef ref{src->id, src->config.name};
    if (const auto m = core::active_match(*ctx.store, txn, ref, s, now)) {
      add_codes(v, *src, m->listing, core::to_string(m->matched));
    }
  }
}

// "hostmaster.bl.example.org" -> "hostmaster@bl.example.org".
std::string mailbox(const core::ZoneConfig& z) {
  std::string m = z.soa.rname.empty() ? "hostmaster." + z.name : z.soa.rname;
  if (!m.empty() && m.back() == '.') m.pop_back();
  if (const auto dot = m.find('.'); dot != std::string::npos) m[dot] = '@';
  return m;
}

Response lookup(const Request& req, const RouterContext& ctx, std::string_view zone_name,
                std::string_view subject_text) {
  const auto catalog = ctx.catalog();
  std::string lower(zone_name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!lower.empty() && lower.back() == '.') lower.pop_back();
  const auto* zone = find_zone(*catalog, lower);
  if (!zone) {
    return error_response(http::status::not_found, "unknown_zone",
                          "no zone named '" + std::string(zone_name) + "'", req.version());
  }
  std::string why;
  const auto subject = core::parse_subject(subject_text, &why);
  if (!subject) return bad_request(req, "bad_subject", why);

  const std::int64_t now = ctx.clock();
  Verdict v;
  {
    auto txn = ctx.store->env().begin_read();
    lookup_subject(ctx, txn, *zone, *subject, now, v);
  }
  std::sort(v.codes.begin(), v.codes.end());
  v.codes.erase(std::unique(v.codes.begin(), v.codes.end()), v.codes.end());

  const bool listed = !v.codes.empty();
  json codes = json::array();
  for (const auto c : v.codes) codes.push_back(core::code_to_string(c));
  // Only the operator's reason and the codes are public: never the source
  // (which trap, which reporter) nor the history.
  json out{{"zone", zone->config.name}, {"subject", core::to_string(*subject)},
           {"listed", listed},          {"codes", codes},
           {"reason", nullptr},         {"since", nullptr},
           {"expires", nullptr},        {"matched", nullptr},
           {"how_to_delist", nullptr}};
  if (v.test_point) {
    out["reason"] = "RFC 5782 test point";
    out["matched"] = v.matched;
    out["how_to_delist"] = "This is an RFC 5782 test point: it is always listed, by design.";
  } else if (v.listing) {
    out["reason"] = v.listing->reason;
    out["since"] = core::format_utc(v.listing->first_seen);
    if (!v.listing->permanent()) out["expires"] = core::format_utc(v.listing->expires);
    out["matched"] = v.matched;
    out["how_to_delist"] = "Fix the cause named in the reason, then ask the operators of " +
                           zone->config.name + " (" + mailbox(zone->config) + ") to delist " +
                           v.matched + ".";
  }
  return json_response(http::status::ok, out, req.version());
}

bool over_public_limit(const RouterContext& ctx, std::string_view peer) {
  return ctx.limits && !ctx.limits->public_requests.allow(peer);
}

Response too_many_requests(const Request& req) {
  auto res = error_response(http::status::too_many_requests, "too_many_requests",
                            "too many requests from this address; slow down", req.version());
  res.set(http::field::retry_after, "10");
  return res;
}

Response route(const Request& req, const RouterContext& ctx, std::string_view peer) {
  const auto target = sv(req.target());
  // Origin form only: "*" and absolute URLs name nothing here.
  if (!target.starts_with('/'))
    return bad_request(req, "bad_path", "the target must start with '/'");
  const auto path = split_path(target);
  if (!path) return bad_request(req, "bad_path", "the path has a malformed percent-encoding");
  const auto& p = *path;
  if (auto res = pages::route(req, ctx, p, peer)) return std::move(*res);
  const bool get = req.method() == http::verb::get;

  if (p.size() == 1 && p[0] == "healthz") {
    return get ? healthz(req, ctx) : method_not_allowed(req, "GET");
  }
  if (p.size() == 1 && p[0] == "metrics") {
    return get ? metrics(req, ctx) : method_not_allowed(req, "GET");
  }
  if (p.size() >= 3 && p[0] == "api" && p[1] == "v1" && p[2] == "zones") {
    if (p.size() == 3) {
      if (!get) return method_not_allowed(req, "GET");
      return over_public_limit(ctx, peer) ? too_many_requests(req) : zones(req, ctx);
    }
    if (p.size() == 6 && p[4] == "lookup") {
      if (!get) return method_not_allowed(req, "GET");
      return over_public_limit(ctx, peer) ? too_many_requests(req) : lookup(req, ctx, p[3], p[5]);
    }
  }
  if (auto res = api::route(req, ctx, p, peer)) return std::move(*res);
  return not_found(req);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    const int hi = i + 1 < in.size() ? hex_value(in[i + 1]) : -1;
    const int lo = i + 2 < in.size() ? hex_value(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) return false;
    const char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0') return false;
    out += c;
    i += 2;
  }
  return true;
}

Response error_response(http::status status, std::string_view code, std::string_view message,
                        unsigned version) {
  return json_response(
      status, json{{"error", {{"code", std::string(code)}, {"message", std::string(message)}}}},
      version);
}

Response json_response(http::status status, const json& body, unsigned version) {
  Response res{status, version};
  res.set(http::field::content_type, bsv(kJson));
  res.set(http::field::cache_control, "no-store");
  // A decoded path may hold any bytes: never fail on invalid UTF-8.
  res.body() = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return res;
}

const zoneserver::CatalogZone* find_catalog_zone(const zoneserver::ZoneCatalog& catalog,
                                                 std::string_view name) {
  for (const auto& z : catalog.zones()) {
    if (z->config.name == name) return z.get();
  }
  return nullptr;
}

void LifecycleCounters::count_report(const std::string& zone, std::string_view outcome) {
  std::lock_guard lock(mutex_);
  ++reports_[{zone, std::string(outcome)}];
}
void LifecycleCounters::count_expired(const std::string& zone, std::size_t n) {
  std::lock_guard lock(mutex_);
  expired_[zone] += n;
}
void LifecycleCounters::count_auth_failure() {
  std::lock_guard lock(mutex_);
  ++auth_failures_;
}
std::map<std::pair<std::string, std::string>, std::uint64_t> LifecycleCounters::reports() const {
  std::lock_guard lock(mutex_);
  return reports_;
}
std::map<std::string, std::uint64_t> LifecycleCounters::expired() const {
  std::lock_guard lock(mutex_);
  return expired_;
}
std::uint64_t LifecycleCounters::auth_failures() const {
  std::lock_guard lock(mutex_);
  return auth_failures_;
}

Response handle(const Request& req, const RouterContext& ctx, std::string_view peer) {
  if (is_pdns_target(sv(req.target()))) return handle_pdns(req, ctx);
  try {
    return route(req, ctx, peer);
  } catch (const std::exception& e) {
    return error_response(http::status::internal_server_error, "internal", e.what(), req.version());
  } catch (...) {
    return error_response(http::status::internal_server_error, "internal", "unexpected failure",
                          req.version());
  }
}

}  // namespace rblzone::admin
