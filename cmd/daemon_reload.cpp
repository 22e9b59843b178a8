// Reload: the new config and zones are read and built completely before
// anything running is touched, so a bad file changes nothing.
#include "cmd/daemon_reload.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace rblzone::daemon {

core::DaemonConfig resolve_config(const DaemonArgs& args) {
  core::DaemonConfig cfg;
  if (!args.config_file.empty()) cfg = core::load_daemon_config(args.config_file);
  if (!args.data_dir.empty()) cfg.data_dir = args.data_dir;
  if (!args.zones_dir.empty()) cfg.zones_dir = args.zones_dir;
  if (!args.dns_listen.empty()) {
    cfg.dns_listen.clear();
    for (const auto& d : args.dns_listen) {
      if (!d.empty()) cfg.dns_listen.push_back(d);
    }
    cfg.dns_enabled = !cfg.dns_listen.empty();
  }
  if (args.http_listen) {
    cfg.http_listen = *args.http_listen;
    cfg.http_enabled = !args.http_listen->empty();
  }
  if (args.dns_threads) cfg.dns_threads = args.dns_threads;
  if (args.pdns_socket) cfg.pdns_socket = *args.pdns_socket;
  if (!args.log_level.empty()) cfg.log_level = args.log_level;
  return cfg;
}

ConfigChanges compare_config(const core::DaemonConfig& running, const core::DaemonConfig& next) {
  ConfigChanges c;
  const auto live = [&](bool differs, const char* key) {
    if (differs) c.live.emplace_back(key);
  };
  const auto restart = [&](bool differs, const char* key) {
    if (differs) c.need_restart.emplace_back(key);
  };
  live(running.log_level != next.log_level, "log_level");
  live(running.query_log != next.query_log, "dns.query_log");
  live(running.zones_dir != next.zones_dir, "zones_dir");
  // Sockets, threads and the open store belong to the process.
  restart(running.data_dir != next.data_dir, "data_dir");
  restart(running.dns_enabled != next.dns_enabled, "dns.enabled");
  restart(running.dns_listen != next.dns_listen, "dns.listen");
  restart(running.dns_threads != next.dns_threads, "dns.threads");
  restart(running.pdns_socket != next.pdns_socket, "pdns.socket");
  restart(running.edns_udp_size != next.edns_udp_size, "dns.edns_udp_size");
  restart(running.tcp_max_connections != next.tcp_max_connections, "dns.tcp_max_connections");
  restart(running.tcp_idle_timeout_ms != next.tcp_idle_timeout_ms, "dns.tcp_idle_timeout");
  restart(running.rrl != next.rrl, "dns.rrl");
  restart(running.http_enabled != next.http_enabled, "http.enabled");
  restart(running.http_listen != next.http_listen, "http.listen");
  return c;
}

core::DaemonConfig merge_live(const core::DaemonConfig& running, const core::DaemonConfig& next) {
  core::DaemonConfig out = running;
  out.log_level = next.log_level;
  out.query_log = next.query_log;
  out.zones_dir = next.zones_dir;
  return out;
}

ZoneChanges compare_zones(const std::vector<core::ZoneConfig>& running,
                          const std::vector<core::ZoneConfig>& next) {
  std::set<std::string> before;
  std::set<std::string> after;
  for (const auto& z : running) before.insert(z.name);
  for (const auto& z : next) after.insert(z.name);
  ZoneChanges c;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(c.added));
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(c.removed));
  return c;
}

Reloader::Reloader(DaemonArgs args, core::DaemonConfig running, std::vector<core::ZoneConfig> zones,
                   core::Store& store, zoneserver::DnsServer* dns, admin::DaemonHealth& health,
                   Publish publish)
    : args_(std::move(args)),
      running_(std::move(running)),
      zones_(std::move(zones)),
      store_(store),
      dns_(dns),
      health_(health),
      publish_(std::move(publish)) {}

bool Reloader::reload() {
  constexpr auto r = std::memory_order_relaxed;
  health_.last_reload.store(store_.now(), r);
  const std::string source =
      args_.config_file.empty() ? std::string("the command line") : args_.config_file;
  core::DaemonConfig next;
  std::vector<core::ZoneConfig> zones;
  std::shared_ptr<const zoneserver::ZoneCatalog> catalog;
  try {
    next = resolve_config(args_);
    zones = core::load_zones(next.zones_dir);
    catalog = zoneserver::ZoneCatalog::build(zones, store_);
  } catch (const std::exception& e) {
    health_.reloads_failed.fetch_add(1, r);
    health_.last_reload_ok.store(false, r);
    spdlog::error("reload failed, keeping the running config and {} zones: {}", zones_.size(),
                  e.what());
    return false;
  }

  const auto changes = compare_config(running_, next);
  const auto zone_changes = compare_zones(zones_, zones);
  if (next.log_level != running_.log_level) {
    spdlog::set_level(spdlog::level::from_str(next.log_level));
  }
  if (dns_) {
    dns_->set_query_log(next.query_log);
    dns_->set_catalog(catalog);
  }
  publish_(catalog, zones);
  for (const auto& key : changes.need_restart) {
    spdlog::warn("reload: {} changed in {}: needs a restart, the running value is kept", key,
                 source);
  }
  const auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out.empty() ? std::string("-") : out;
  };
  spdlog::info("reloaded {}: {} zones (added {}, removed {}), settings changed: {}", source,
               zones.size(), join(zone_changes.added), join(zone_changes.removed),
               join(changes.live));
  running_ = merge_live(running_, next);
  zones_ = std::move(zones);
  health_.reloads_ok.fetch_add(1, r);
  health_.last_reload_ok.store(true, r);
  return true;
}

}  // namespace rblzone::daemon
