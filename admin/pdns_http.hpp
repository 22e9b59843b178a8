// The PowerDNS remote backend's HTTP connector on the admin server, under
// /pdns: pdns_server's `remote-connection-string=http:url=http://HOST:PORT/pdns`
// in its three modes (REST, post=1, post=1,post_json=1). A pure function
// from request to response, like the router; the protocol itself is
// zoneserver/pdns_backend.hpp.
#pragma once

#include <string_view>

#include "admin/router.hpp"

namespace rblzone::admin {

inline constexpr std::string_view kPdnsPrefix = "/pdns";

// True for "/pdns", "/pdns/..." and "/pdns?...".
bool is_pdns_target(std::string_view target);

// Answers one remote-backend request. The body is always a JSON reply with
// "result" (200), or, when the store cannot be read, 503 with no "result"
// so pdns answers SERVFAIL. Never throws.
Response handle_pdns(const Request& req, const RouterContext& ctx);

}  // namespace rblzone::admin
