// The HTML pages (docs/pages.md): the public lookup and delist pages,
// rendered on the server so they work without JavaScript; the abuse-desk
// console (a static page whose script calls the JSON API); the embedded
// assets; the console's activity feed endpoint; and the Origin check that
// guards every state-changing request. Each handler is a function from
// request to response; every value put into HTML goes through escape_html.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/router.hpp"

namespace rblzone::admin::pages {

// Routes the page paths (/, /lookup..., /delist..., /console, /assets/...,
// /api/v1/zones/{zone}/activity) and refuses a state-changing request
// (anything but GET, HEAD, OPTIONS) on any path whose Origin header is
// present and not this server's. nullopt: not a page path, let the API
// route it. `path` is the percent-decoded path (router.cpp split_path).
std::optional<Response> route(const Request& req, const RouterContext& ctx,
                              const std::vector<std::string>& path, std::string_view peer);

// The one HTML escaping function: & < > " ' become entities, so the result
// is safe as element text and inside a quoted attribute; bytes that are not
// well-formed UTF-8 become U+FFFD (the pages are served as UTF-8).
std::string escape_html(std::string_view text);

// Percent-encodes everything but RFC 3986 unreserved characters, for a path
// segment or a query value.
std::string url_encode(std::string_view text);

// True when the request carries an Origin header that does not name this
// server (scheme http or https with the request's Host), or is "null".
bool foreign_origin(const Request& req);

// Sets Content-Security-Policy, X-Content-Type-Options, Referrer-Policy and
// X-Frame-Options (the values are in docs/pages.md).
void set_security_headers(Response& res);

}  // namespace rblzone::admin::pages
