// The Prometheus exposition of the DNS counters and the store's size.
#include "admin/metrics.hpp"

#include <lmdb.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <string_view>

namespace rblzone::admin {
namespace {

using zoneserver::QueryStats;

struct Totals {
  std::uint64_t queries = 0;
  std::uint64_t dropped = 0;
  std::uint64_t listed = 0;
  std::uint64_t not_listed = 0;
  std::uint64_t refused_acl = 0;
  std::uint64_t truncated = 0;
  std::uint64_t rrl_dropped = 0;
  std::uint64_t rrl_slipped = 0;
  std::array<std::uint64_t, std::tuple_size_v<decltype(QueryStats::rcode)>> rcode{};
  std::array<std::uint64_t, QueryStats::kLatencyBuckets> latency{};
  std::vector<std::uint64_t> per_zone;
};

Totals sum(const DnsStats* stats, std::size_t zones) {
  Totals t;
  t.per_zone.assign(zones, 0);
  if (!stats) return t;
  constexpr auto r = std::memory_order_relaxed;
  for (const auto& s : *stats) {
    t.queries += s->queries.load(r);
    t.dropped += s->dropped.load(r);
    t.listed += s->listed.load(r);
    t.not_listed += s->not_listed.load(r);
    t.refused_acl += s->refused_acl.load(r);
    t.truncated += s->truncated.load(r);
    t.rrl_dropped += s->rrl_dropped.load(r);
    t.rrl_slipped += s->rrl_slipped.load(r);
    for (std::size_t i = 0; i < t.rcode.size(); ++i) t.rcode[i] += s->rcode[i].load(r);
    for (std::size_t i = 0; i < t.latency.size(); ++i) t.latency[i] += s->latency[i].load(r);
    for (std::size_t i = 0; i < zones && i < s->per_zone.size(); ++i) {
      t.per_zone[i] += s->per_zone[i].load(r);
    }
  }
  return t;
}

// Label values are zone names (letters, digits, '-', '_', '.'), but escape
// anyway as the format requires.
std::string label(std::string_view v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // `labels` is empty or `key="value",...` without braces.
  void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

constexpr std::array<std::string_view, 11> kRcodeNames = {
    "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
    "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};

}  // namespace

std::string render_metrics(const zoneserver::ZoneCatalog& catalog, const DnsStats* stats,
                           core::Store& store, const core::ReadTxn& txn) {
  const auto& zones = catalog.zones();
  const Totals t = sum(stats, zones.size());
  Writer w;

  w.family("rblzone_dns_queries_total", "counter", "DNS queries received (UDP and TCP).");
  w.sample("rblzone_dns_queries_total", "", t.queries);

  w.family("rblzone_dns_responses_total", "counter", "DNS responses sent, by RCODE.");
  for (std::size_t i = 0; i < t.rcode.size(); ++i) {
    // The common six always (a dashboard wants zeros); others once seen.
    if (i > 5 && t.rcode[i] == 0) continue;
    std::string name = i < kRcodeNames.size() ? std::string(kRcodeNames[i]) : std::to_string(i);
    if (i + 1 == t.rcode.size()) name += "+";  // the last counter also counts higher codes
    w.sample("rblzone_dns_responses_total", "rcode=\"" + name + "\"", t.rcode[i]);
  }

  w.family("rblzone_dns_listed_total", "counter", "Queries answered as listed.");
  w.sample("rblzone_dns_listed_total", "", t.listed);
  w.family("rblzone_dns_not_listed_total", "counter", "Queries answered as not listed.");
  w.sample("rblzone_dns_not_listed_total", "", t.not_listed);
  w.family("rblzone_dns_dropped_total", "counter", "Queries dropped without an answer.");
  w.sample("rblzone_dns_dropped_total", "", t.dropped);
  w.family("rblzone_dns_truncated_total", "counter", "UDP answers sent truncated (TC).");
  w.sample("rblzone_dns_truncated_total", "", t.truncated);
  w.family("rblzone_dns_rrl_dropped_total", "counter",
           "UDP answers not sent: the client prefix was over its response rate.");
  w.sample("rblzone_dns_rrl_dropped_total", "", t.rrl_dropped);
  w.family("rblzone_dns_rrl_slipped_total", "counter",
           "UDP answers over the response rate sent truncated (TC) instead.");
  w.sample("rblzone_dns_rrl_slipped_total", "", t.rrl_slipped);
  w.family("rblzone_dns_refused_acl_total", "counter", "Queries refused by a zone's access rules.");
  w.sample("rblzone_dns_refused_acl_total", "", t.refused_acl);

  w.family("rblzone_dns_zone_queries_total", "counter", "DNS queries per zone.");
  for (const auto& z : zones) {
    w.sample("rblzone_dns_zone_queries_total", "zone=\"" + label(z->config.name) + "\"",
             t.per_zone[z->index]);
  }

  // Bucket i counts queries under 2^i * 128 ns; the last one has no bound.
  w.family("rblzone_dns_query_duration_seconds", "histogram",
           "Time to answer a DNS query (no _sum: the workers keep only buckets).");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < t.latency.size(); ++i) {
    cumulative += t.latency[i];
    std::string le = "+Inf";
    if (i + 1 < t.latency.size()) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(std::uint64_t{128} << i) * 1e-9);
      le = buf;
    }
    w.sample("rblzone_dns_query_duration_seconds_bucket", "le=\"" + le + "\"", cumulative);
  }
  w.sample("rblzone_dns_query_duration_seconds_count", "", cumulative);

  w.family("rblzone_zone_serial", "gauge", "The zone's SOA serial.");
  for (const auto& z : zones) {
    w.sample("rblzone_zone_serial", "zone=\"" + label(z->config.name) + "\"",
             store.serial(txn, std::string_view(z->config.name)));
  }

  MDB_envinfo info{};
  MDB_stat stat{};
  mdb_env_info(store.env().handle(), &info);
  mdb_env_stat(store.env().handle(), &stat);
  w.family("rblzone_store_map_bytes", "gauge", "Size of the LMDB map (address space reserved).");
  w.sample("rblzone_store_map_bytes", "", info.me_mapsize);
  // Pages 0..last are in use (data, free list and the two meta pages).
  w.family("rblzone_store_used_bytes", "gauge", "Bytes of the LMDB map in use.");
  w.sample("rblzone_store_used_bytes", "",
           (static_cast<std::uint64_t>(info.me_last_pgno) + 1) * stat.ms_psize);
  // Per mille, as the Writer prints integers: alert well before 1000 (MDB_MAP_FULL).
  w.family("rblzone_store_map_used_permille", "gauge", "Share of the LMDB map in use, per mille.");
  w.sample("rblzone_store_map_used_permille", "",
           info.me_mapsize == 0 ? 0
                                : (static_cast<std::uint64_t>(info.me_last_pgno) + 1) *
                                      stat.ms_psize * 1000 / info.me_mapsize);
  return w.take();
}

std::string render_daemon_metrics(const DaemonHealth& health, std::int64_t now) {
  constexpr auto r = std::memory_order_relaxed;
  const auto age = [now](std::int64_t t) {
    return t <= 0 || t > now ? std::uint64_t{0} : static_cast<std::uint64_t>(now - t);
  };
  Writer w;
  w.family("rblzone_uptime_seconds", "gauge", "Seconds since the daemon started.");
  w.sample("rblzone_uptime_seconds", "", age(health.started.load(r)));

  w.family("rblzone_config_reloads_total", "counter", "Config reloads (SIGHUP), by result.");
  w.sample("rblzone_config_reloads_total", "result=\"success\"", health.reloads_ok.load(r));
  w.sample("rblzone_config_reloads_total", "result=\"failure\"", health.reloads_failed.load(r));
  w.family("rblzone_config_last_reload_successful", "gauge",
           "1 when the last reload was applied (or none was tried), 0 when it was refused.");
  w.sample("rblzone_config_last_reload_successful", "", health.last_reload_ok.load(r) ? 1 : 0);
  w.family("rblzone_config_last_reload_timestamp_seconds", "gauge",
           "Unix time of the last reload attempt (0: none).");
  w.sample("rblzone_config_last_reload_timestamp_seconds", "",
           static_cast<std::uint64_t>(std::max<std::int64_t>(0, health.last_reload.load(r))));

  const auto last_sweep = health.last_sweep.load(r);
  w.family("rblzone_sweeper_last_success_timestamp_seconds", "gauge",
           "Unix time the sweeper last finished a pass over every zone (0: not yet).");
  w.sample("rblzone_sweeper_last_success_timestamp_seconds", "",
           static_cast<std::uint64_t>(std::max<std::int64_t>(0, last_sweep)));
  // Expired listings are already absent from DNS; the lag says how long their
  // removal (history, journal for IXFR) may be behind.
  w.family("rblzone_sweeper_lag_seconds", "gauge",
           "Seconds since the sweeper last finished a pass (since start if none has).");
  w.sample("rblzone_sweeper_lag_seconds", "",
           age(last_sweep > 0 ? last_sweep : health.started.load(r)));
  w.family("rblzone_sweeper_errors_total", "counter", "Sweeper passes that failed.");
  w.sample("rblzone_sweeper_errors_total", "", health.sweep_errors.load(r));
  w.family("rblzone_sweeper_removed_total", "counter", "Expired listings removed by the sweeper.");
  w.sample("rblzone_sweeper_removed_total", "", health.swept.load(r));
  return w.take();
}

}  // namespace rblzone::admin

namespace rblzone::admin {

std::string render_lifecycle_metrics(const zoneserver::ZoneCatalog& catalog, core::Store& store,
                                     const core::ReadTxn& txn, const core::Policy* policy,
                                     const LifecycleCounters* counters) {
  Writer w;
  w.family("rblzone_listings", "gauge",
           "Listings stored, by zone and source (expired but not yet swept included).");
  for (const auto& z : catalog.zones()) {
    if (z->config.kind == core::ZoneKind::combined) continue;
    const auto ref = store.find_zone(txn, z->config.name);
    const auto counts = ref ? store.counts(txn, *ref) : std::array<std::uint64_t, 4>{};
    for (std::size_t i = 0; i < counts.size(); ++i) {
      w.sample("rblzone_listings",
               "zone=\"" + label(z->config.name) + "\",source=\"" +
                   std::string(core::to_string(static_cast<core::Source>(i))) + "\"",
               counts[i]);
    }
  }
  if (policy) {
    // From the counters every write keeps: O(1) however many are on record.
    std::map<std::string, std::uint64_t> by_status;
    for (const auto status : {"pending", "approved", "denied", "not_listed"}) {
      by_status[status] = policy->delist_count(txn, std::string_view(status));
    }
    w.family("rblzone_delist_requests", "gauge", "Delist requests on record, by status.");
    for (const auto& [status, n] : by_status) {
      w.sample("rblzone_delist_requests", "status=\"" + label(status) + "\"", n);
    }
  }
  if (counters) {
    w.family("rblzone_reports_total", "counter",
             "Reports received through this server's API, by zone and outcome.");
    for (const auto& [key, n] : counters->reports()) {
      w.sample("rblzone_reports_total",
               "zone=\"" + label(key.first) + "\",outcome=\"" + label(key.second) + "\"", n);
    }
    w.family("rblzone_expired_total", "counter",
             "Expired listings removed by this process's sweeper, by zone.");
    for (const auto& [zone, n] : counters->expired()) {
      w.sample("rblzone_expired_total", "zone=\"" + label(zone) + "\"", n);
    }
    w.family("rblzone_http_auth_failures_total", "counter",
             "Requests refused with 401 (missing, unknown or revoked token).");
    w.sample("rblzone_http_auth_failures_total", "", counters->auth_failures());
  }
  return w.take();
}

}  // namespace rblzone::admin

namespace rblzone::admin {

std::string render_xfr_metrics(const std::vector<zoneserver::TransferRecord>& transfers,
                               std::uint64_t notify_sent, std::uint64_t notify_acked) {
  Writer w;
  const auto labels = [](const zoneserver::TransferRecord& r) {
    return "zone=\"" + label(r.zone) + "\",secondary=\"" + label(r.secondary) + "\"";
  };
  w.family("rblzone_xfr_transfers_total", "counter",
           "Zone transfers (AXFR and IXFR) served, by zone and secondary.");
  for (const auto& r : transfers) w.sample("rblzone_xfr_transfers_total", labels(r), r.transfers);
  w.family("rblzone_xfr_refused_total", "counter",
           "Transfer requests refused (not allowed, or not a zone of ours).");
  for (const auto& r : transfers) w.sample("rblzone_xfr_refused_total", labels(r), r.refused);
  w.family("rblzone_xfr_failed_total", "counter",
           "Transfers ended by an error or a secondary that went away.");
  for (const auto& r : transfers) w.sample("rblzone_xfr_failed_total", labels(r), r.failed);
  w.family("rblzone_xfr_last_transfer_timestamp_seconds", "gauge",
           "Unix time of the last transfer served to the secondary (0: none).");
  for (const auto& r : transfers) {
    w.sample("rblzone_xfr_last_transfer_timestamp_seconds", labels(r),
             static_cast<std::uint64_t>(r.last_time));
  }
  w.family("rblzone_xfr_last_transfer_serial", "gauge",
           "The zone serial the secondary last received.");
  for (const auto& r : transfers)
    w.sample("rblzone_xfr_last_transfer_serial", labels(r), r.last_serial);
  w.family("rblzone_xfr_notify_sent_total", "counter", "NOTIFY messages sent to secondaries.");
  w.sample("rblzone_xfr_notify_sent_total", "", notify_sent);
  w.family("rblzone_xfr_notify_acknowledged_total", "counter",
           "NOTIFY messages the secondaries acknowledged.");
  w.sample("rblzone_xfr_notify_acknowledged_total", "", notify_acked);
  return w.take();
}

}  // namespace rblzone::admin
