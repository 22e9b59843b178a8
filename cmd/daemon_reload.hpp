// The daemon's configuration as the command line and the config file give
// it, and the reload (SIGHUP, `systemctl reload`): read both again, apply
// what can change live, keep the rest and say it needs a restart. A config
// or zone that does not load leaves everything as it was.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admin/daemon_health.hpp"
#include "core/config.hpp"
#include "core/store.hpp"
#include "zoneserver/server.hpp"
#include "zoneserver/zone_catalog.hpp"

namespace rblzone::daemon {

// The command line; each option set here wins over the config file.
struct DaemonArgs {
  std::string config_file;
  std::string data_dir;
  std::string zones_dir;
  std::vector<std::string> dns_listen;  // "" entries: DNS off
  std::optional<std::string> http_listen;
  std::optional<std::string> pdns_socket;  // "": off
  unsigned dns_threads = 0;
  std::string log_level;
};

// The config file (or the defaults) with the command line applied. Throws
// core::ConfigError.
core::DaemonConfig resolve_config(const DaemonArgs& args);

// What differs between the running config and a freshly read one.
struct ConfigChanges {
  std::vector<std::string> live;          // applied now: "log_level", "query_log", "zones_dir"
  std::vector<std::string> need_restart;  // kept as running: "dns.listen", "data_dir", ...
};
ConfigChanges compare_config(const core::DaemonConfig& running, const core::DaemonConfig& next);

// `running` with every live setting taken from `next`.
core::DaemonConfig merge_live(const core::DaemonConfig& running, const core::DaemonConfig& next);

// Zone names added and removed between two zone lists.
struct ZoneChanges {
  std::vector<std::string> added;
  std::vector<std::string> removed;
};
ZoneChanges compare_zones(const std::vector<core::ZoneConfig>& running,
                          const std::vector<core::ZoneConfig>& next);

class Reloader {
 public:
  // Hands the new catalog and zones to the parts of the daemon that read
  // them (HTTP, sweeper); called only for a reload that succeeded.
  using Publish = std::function<void(std::shared_ptr<const zoneserver::ZoneCatalog>,
                                     const std::vector<core::ZoneConfig>&)>;

  Reloader(DaemonArgs args, core::DaemonConfig running, std::vector<core::ZoneConfig> zones,
           core::Store& store, zoneserver::DnsServer* dns, admin::DaemonHealth& health,
           Publish publish);

  // Reads the config and zones again and applies them. Returns false (and
  // logs why) when they do not load: the running config stays.
  bool reload();

  const core::DaemonConfig& running() const { return running_; }

 private:
  DaemonArgs args_;
  core::DaemonConfig running_;
  std::vector<core::ZoneConfig> zones_;
  core::Store& store_;
  zoneserver::DnsServer* dns_;
  admin::DaemonHealth& health_;
  Publish publish_;
};

}  // namespace rblzone::daemon
