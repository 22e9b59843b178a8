// The JSON API's authenticated and state-changing endpoints (docs/api.md):
// listings, reports, delist requests, history, allowlist. Each is a
// function from (request, context, path arguments) to a response; the
// router picks one. Every change goes through core::Policy.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "admin/router.hpp"

namespace rblzone::admin::api {

// Routes /api/v1/... paths that are not the public read-only ones; nullopt
// when the path is not one of them.
std::optional<Response> route(const Request& req, const RouterContext& ctx,
                              const std::vector<std::string>& path, std::string_view peer);

// The desk endpoints' token check for the pages' JSON endpoints (the
// console's activity feed, top-listed): the 401/403/429 this API sends, or
// nullopt for a desk or admin token.
std::optional<Response> require_desk(const Request& req, const RouterContext& ctx,
                                     std::string_view peer);

}  // namespace rblzone::admin::api
