// The admin HTTP request handler: a pure function from (request, context) to
// response. It never touches a socket; the transport (http_server.hpp) reads
// a request, calls handle() and writes what comes back.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/daemon_health.hpp"
#include "admin/rate_limit.hpp"
#include "core/policy.hpp"
#include "core/store.hpp"
#include "zoneserver/answerer.hpp"
#include "zoneserver/server.hpp"
#include "zoneserver/zone_catalog.hpp"

namespace rblzone::admin {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

using DnsStats = std::vector<std::unique_ptr<zoneserver::QueryStats>>;

// Per-client limits (docs/configuration.md, [http]).
struct Limits {
  Limits(double public_per_minute, double delist_per_hour, double auth_failures_per_minute)
      : public_requests(public_per_minute, public_per_minute),
        delist_requests(delist_per_hour / 60.0, delist_per_hour),
        auth_failures(auth_failures_per_minute, auth_failures_per_minute) {}
  RateLimiter public_requests;
  RateLimiter delist_requests;
  RateLimiter auth_failures;
};

// Lifecycle counters of this process for /metrics.
class LifecycleCounters {
 public:
  void count_report(const std::string& zone, std::string_view outcome);
  void count_expired(const std::string& zone, std::size_t n);
  void count_auth_failure();
  std::map<std::pair<std::string, std::string>, std::uint64_t> reports() const;
  std::map<std::string, std::uint64_t> expired() const;
  std::uint64_t auth_failures() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> reports_;
  std::map<std::string, std::uint64_t> expired_;
  std::uint64_t auth_failures_ = 0;
};

// What the handler reads. Every function may be called from the HTTP thread
// at any time while the server runs, so each must be safe to call
// concurrently with the daemon's reloads.
struct RouterContext {
  core::Store* store = nullptr;  // outlives the server
  // The zones as currently configured (swapped on SIGHUP); never null.
  std::function<std::shared_ptr<const zoneserver::ZoneCatalog>()> catalog;
  // The DNS workers' counters, or nullptr when DNS is off. The vector must
  // outlive the server; its counters are read racily (relaxed atomics).
  std::function<const DnsStats*()> dns_stats;
  core::Clock clock = core::system_now;
  // The lifecycle rules over `store`; null: the write endpoints answer 503.
  core::Policy* policy = nullptr;
  // Zone transfers served and NOTIFY sent/acknowledged; unset: none shown.
  std::function<std::vector<zoneserver::TransferRecord>()> transfers;
  std::function<std::pair<std::uint64_t, std::uint64_t>()> notifies;
  std::shared_ptr<Limits> limits;               // null: no limits
  std::shared_ptr<LifecycleCounters> counters;  // null: not counted
  // The daemon's reload and sweeper figures for /metrics; null: not shown.
  const DaemonHealth* health = nullptr;
  // The DNS workers' tables of queried listed subjects, or nullptr when DNS
  // is off; as dns_stats, the vector outlives the server.
  std::function<const std::vector<std::unique_ptr<zoneserver::HotSubjects>>*()> hot_subjects;
};

// Answers one request. Never throws: a failure inside becomes a 500 JSON
// error. The response has its body and Content-Type set; the caller sets
// keep-alive and prepares the payload.
// `peer` is the client's address (for the per-client limits).
Response handle(const Request& req, const RouterContext& ctx, std::string_view peer = {});

Response json_response(http::status status, const nlohmann::json& body, unsigned version);
const zoneserver::CatalogZone* find_catalog_zone(const zoneserver::ZoneCatalog& catalog,
                                                 std::string_view name);

// The one JSON error shape: {"error": {"code": CODE, "message": MESSAGE}}.
// `code` is stable (clients match on it); `message` is for people.
Response error_response(http::status status, std::string_view code, std::string_view message,
                        unsigned version = 11);

// Percent-decodes one path segment. False for a '%' not followed by two hex
// digits, or for a decoded NUL.
bool percent_decode(std::string_view in, std::string& out);

}  // namespace rblzone::admin
