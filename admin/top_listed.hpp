// GET /api/v1/stats/top-listed (docs/api.md): the listed subjects queried
// most over the DNS in the last 5 to 10 minutes, merged from every DNS
// worker's table (zoneserver/hot_subjects.hpp). The caller has already
// checked the desk's token.
#pragma once

#include <map>
#include <string>

#include "admin/router.hpp"

namespace rblzone::admin {

// `query`: the decoded query string (zone=NAME, limit=1..100).
Response top_listed(const Request& req, const RouterContext& ctx,
                    const std::map<std::string, std::string>& query);

}  // namespace rblzone::admin
