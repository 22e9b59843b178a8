// The console's "top queried listed subjects" (see top_listed.hpp).
#include "admin/top_listed.hpp"

#include "core/listing.hpp"

namespace rblzone::admin {

using json = nlohmann::json;

Response top_listed(const Request& req, const RouterContext& ctx,
                    const std::map<std::string, std::string>& query) {
  std::size_t limit = 10;
  if (const auto it = query.find("limit"); it != query.end() && !it->second.empty()) {
    const auto& text = it->second;
    const bool digits =
        text.size() <= 3 && text.find_first_not_of("0123456789") == std::string::npos;
    const unsigned long v = digits ? std::stoul(text) : 0;
    if (v < 1 || v > 100) {
      return error_response(http::status::bad_request, "bad_query", "limit is 1..100",
                            req.version());
    }
    limit = v;
  }
  const auto catalog = ctx.catalog();
  std::optional<core::ZoneId> zone;
  if (const auto it = query.find("zone"); it != query.end() && !it->second.empty()) {
    const auto* z = find_catalog_zone(*catalog, it->second);
    if (!z) {
      return error_response(http::status::not_found, "unknown_zone",
                            "no zone named '" + it->second + "'", req.version());
    }
    zone = z->id;
  }
  const auto name_of = [&](core::ZoneId id) -> json {
    for (const auto& z : catalog->zones()) {
      if (z->id == id) return z->config.name;
    }
    return nullptr;  // removed by a reload since it was counted
  };
  const std::int64_t now = ctx.clock();
  const auto* tables = ctx.hot_subjects ? ctx.hot_subjects() : nullptr;
  const std::int64_t interval = tables && !tables->empty() && tables->front()
                                    ? tables->front()->interval()
                                    : zoneserver::HotSubjects::kDefaultInterval;
  json items = json::array();
  if (tables) {
    for (const auto& e : zoneserver::top_subjects(*tables, now, limit, zone)) {
      items.push_back({{"zone", name_of(e.zone)},
                       {"listed_in", name_of(e.source)},
                       {"subject", e.subject},
                       {"count", e.count},
                       {"error", e.error}});
    }
  }
  // The figures cover the current interval and the one before it.
  const std::int64_t since = (now / interval - 1) * interval;
  return json_response(http::status::ok,
                       json{{"dns", tables != nullptr},
                            {"since", core::format_utc(since)},
                            {"until", core::format_utc(now)},
                            {"interval_seconds", interval},
                            {"subjects", items}},
                       req.version());
}

}  // namespace rblzone::admin
