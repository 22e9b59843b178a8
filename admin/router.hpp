// The admin HTTP request handler: a pure function from (request, context) to
// response. It never touches a socket; the transport (http_server.hpp) reads
// a request, calls handle() and writes what comes back.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "admin/daemon_health.hpp"
#include "core/store.hpp"
#include "zoneserver/answerer.hpp"
#include "zoneserver/zone_catalog.hpp"

namespace rblzone::admin {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

using DnsStats = std::vector<std::unique_ptr<zoneserver::QueryStats>>;

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
  // The daemon's reload and sweeper figures for /metrics; null: not shown.
  const DaemonHealth* health = nullptr;
};

// Answers one request. Never throws: a failure inside becomes a 500 JSON
// error. The response has its body and Content-Type set; the caller sets
// keep-alive and prepares the payload.
Response handle(const Request& req, const RouterContext& ctx);

// The one JSON error shape: {"error": {"code": CODE, "message": MESSAGE}}.
// `code` is stable (clients match on it); `message` is for people.
Response error_response(http::status status, std::string_view code, std::string_view message,
                        unsigned version = 11);

// Percent-decodes one path segment. False for a '%' not followed by two hex
// digits, or for a decoded NUL.
bool percent_decode(std::string_view in, std::string& out);

}  // namespace rblzone::admin
