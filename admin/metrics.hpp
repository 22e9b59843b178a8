// The Prometheus exposition (text format 0.0.4) of the DNS counters and the
// store's size, for GET /metrics.
#pragma once

#include <string>

#include "admin/router.hpp"

namespace rblzone::admin {

// Sums `stats` over all workers (none when nullptr: every DNS counter is 0)
// and renders them with each zone's serial from `txn` and the store's size.
// Per-zone counters are named through `catalog` (a worker counts by catalog
// position, so right after a reload a query may be named by the new list).
std::string render_metrics(const zoneserver::ZoneCatalog& catalog, const DnsStats* stats,
                           core::Store& store, const core::ReadTxn& txn);

// Listings by zone and source, delist requests by status, and this
// process's report, expiry and authentication counters.
std::string render_lifecycle_metrics(const zoneserver::ZoneCatalog& catalog, core::Store& store,
                                     const core::ReadTxn& txn, const core::Policy* policy,
                                     const LifecycleCounters* counters);

}  // namespace rblzone::admin

#include "admin/daemon_health.hpp"

namespace rblzone::admin {

// The daemon's upkeep: reloads (count by result, time and result of the
// last), the sweeper (lag = seconds since its last finished pass, errors,
// listings removed) and the uptime, at `now` (unix seconds).
std::string render_daemon_metrics(const DaemonHealth& health, std::int64_t now);

// Zone transfers per (zone, secondary) and NOTIFY counters.
std::string render_xfr_metrics(const std::vector<zoneserver::TransferRecord>& transfers,
                               std::uint64_t notify_sent, std::uint64_t notify_acked);

}  // namespace rblzone::admin
