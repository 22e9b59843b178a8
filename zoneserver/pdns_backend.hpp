// The PowerDNS remote-backend protocol (pdns 4.7, JSON): one request object
// plus a read snapshot and the zone catalog in, one reply object out. No I/O:
// the unix socket connector (pdns_socket.hpp) and the HTTP connector
// (admin/pdns_http.hpp) only frame messages and call handle().
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "zoneserver/answerer.hpp"
#include "zoneserver/zone_catalog.hpp"

namespace rblzone::zoneserver::pdns {

struct BackendOptions {
  // `list` (AXFR through pdns) answers only zones with at most this many
  // records; bigger zones get false (transfer from rblzoned's own AXFR).
  // 0: `list` always answers false.
  std::size_t list_max_records = 2000;
};

// True when pdns may serve the zone. Zones with client ACLs or required
// access keys are hidden: pdns's internal lookups carry no client address
// and its caches ignore the client, so the policy could not be enforced.
bool zone_offered(const CatalogZone& zone);

// Answers one request {"method": M, "parameters": {...}}. The reply always
// holds "result" (false for unknown methods, bad parameters and names not
// ours), except when the store cannot be read: then it holds only "log", so
// pdns answers SERVFAIL rather than "not listed". Never throws. The
// snapshot is renewed for the request and reset before returning; `now` is
// unix seconds.
nlohmann::json handle(const nlohmann::json& request, const ZoneCatalog& catalog, Snapshot& snapshot,
                      std::int64_t now, const BackendOptions& options = {});

// The same from and to text (one JSON object; no trailing newline added).
// Text that is not a JSON object gets {"result": false, "log": [why]}.
std::string handle_text(std::string_view request, const ZoneCatalog& catalog, Snapshot& snapshot,
                        std::int64_t now, const BackendOptions& options = {});

// The one serialisation of replies: compact, invalid UTF-8 replaced.
std::string dump(const nlohmann::json& reply);

}  // namespace rblzone::zoneserver::pdns
