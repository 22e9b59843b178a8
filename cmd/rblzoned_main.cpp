// rblzoned: the daemon. Parses arguments and config, opens the store, builds
// the zone catalog, starts the DNS server, the HTTP admin server and the
// sweeper, waits for signals.
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "admin/http_server.hpp"
#include "admin/router.hpp"
#include "core/config.hpp"
#include "core/store.hpp"
#include "zoneserver/notify.hpp"
#include "zoneserver/server.hpp"
#include "zoneserver/zone_catalog.hpp"

namespace {

using namespace rblzone;

// Removes expired listings in batches so their history and journal entries
// are written; the DNS path already treats them as absent to the second.
void sweep_all(core::Store& store, const std::vector<core::ZoneConfig>& zones) {
  for (const auto& z : zones) {
    if (z.kind == core::ZoneKind::combined) continue;
    for (;;) {
      std::size_t removed = 0;
      store.env().write([&](core::WriteTxn& txn) {
        const auto ref = store.ensure_zone(txn, z.name);
        removed = store.sweep_expired(txn, ref, store.now(), 1000);
      });
      if (removed > 0) spdlog::info("zone {}: {} expired listings removed", z.name, removed);
      if (removed < 1000) break;
    }
    // The journal IXFR draws on, trimmed by count and age ([transfer]).
    std::size_t trimmed = 0;
    store.env().write([&](core::WriteTxn& txn) {
      const auto ref = store.ensure_zone(txn, z.name);
      trimmed = store.trim_journal(txn, ref, z.transfer.journal_max_entries,
                                   store.now() - z.transfer.journal_max_age, 100000);
    });
    if (trimmed > 0) spdlog::debug("zone {}: {} journal entries trimmed", z.name, trimmed);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rblzoned: the rblzone DNSBL daemon"};
  std::string config_file;
  std::string data_dir;
  std::string zones_dir;
  std::vector<std::string> dns_listen;
  std::optional<std::string> http_listen;
  unsigned dns_threads = 0;
  bool check_only = false;
  std::string log_level;
  app.add_option("--config", config_file, "daemon config file (TOML)");
  app.add_option("--data-dir", data_dir, "data directory (created if missing)");
  app.add_option("--zones", zones_dir, "directory of zone files (*.toml)");
  app.add_option("--dns-listen", dns_listen, "DNS address ADDR:PORT (repeatable; '' turns DNS off)");
  app.add_option("--http-listen", http_listen, "HTTP address ADDR:PORT ('' turns HTTP off)");
  app.add_option("--dns-threads", dns_threads, "UDP worker threads (0: one per core)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
  app.add_flag("--check-config", check_only, "validate the config and zones, then exit");
  CLI11_PARSE(app, argc, argv);

  core::DaemonConfig cfg;
  std::vector<core::ZoneConfig> zones;
  try {
    if (!config_file.empty()) cfg = core::load_daemon_config(config_file);
    if (!data_dir.empty()) cfg.data_dir = data_dir;
    if (!zones_dir.empty()) cfg.zones_dir = zones_dir;
    if (!dns_listen.empty()) {
      cfg.dns_listen.clear();
      for (const auto& d : dns_listen) {
        if (!d.empty()) cfg.dns_listen.push_back(d);
      }
      cfg.dns_enabled = !cfg.dns_listen.empty();
    }
    if (http_listen) {
      cfg.http_listen = *http_listen;
      cfg.http_enabled = !http_listen->empty();
    }
    if (dns_threads) cfg.dns_threads = dns_threads;
    if (!log_level.empty()) cfg.log_level = log_level;
    zones = core::load_zones(cfg.zones_dir);
  } catch (const std::exception& e) {
    std::cerr << "rblzoned: " << e.what() << "\n";
    return 2;
  }
  if (check_only) {
    std::cout << "configuration OK: " << zones.size() << " zones from " << cfg.zones_dir.string()
              << "\n";
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));

  // Signals are taken by sigwait below, never by the worker threads.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    core::Store store(cfg.data_dir);
    auto catalog = zoneserver::ZoneCatalog::build(zones, store);
    spdlog::info("store {} open, {} zones", cfg.data_dir.string(), zones.size());

    std::unique_ptr<zoneserver::DnsServer> dns;
    if (cfg.dns_enabled) {
      zoneserver::ServerOptions options;
      options.listen = cfg.dns_listen;
      options.threads = cfg.dns_threads;
      options.edns_udp_size = cfg.edns_udp_size;
      options.tcp_max_connections = cfg.tcp_max_connections;
      options.tcp_idle_timeout_ms = cfg.tcp_idle_timeout_ms;
      options.query_log = cfg.query_log;
      dns = std::make_unique<zoneserver::DnsServer>(store, catalog, options);
      dns->start();
      for (const auto& b : dns->bound()) spdlog::info("DNS listening on {} (UDP and TCP)", b);
    }

    // The catalog the HTTP router sees; swapped on SIGHUP.
    std::mutex catalog_mutex;
    auto http_catalog = catalog;
    std::unique_ptr<admin::HttpServer> http;
    if (cfg.http_enabled) {
      admin::RouterContext context;
      context.store = &store;
      context.catalog = [&] {
        std::lock_guard lock(catalog_mutex);
        return http_catalog;
      };
      context.dns_stats = [&dns]() -> const admin::DnsStats* {
        return dns ? &dns->stats() : nullptr;
      };
      admin::HttpOptions options;
      options.listen = cfg.http_listen;
      http = std::make_unique<admin::HttpServer>(
          options, [context](const admin::Request& req) { return admin::handle(req, context); });
      http->start();
      spdlog::info("HTTP listening on {}", http->bound());
    }

    // NOTIFY to the secondaries of zones that name some (docs/scale-out.md).
    zoneserver::Notifier notifier(store, [&] {
      std::lock_guard lock(catalog_mutex);
      return http_catalog;
    });
    if (cfg.dns_enabled) notifier.start();

    std::atomic<bool> running{true};
    std::mutex zones_mutex;
    std::thread sweeper([&] {
      while (running) {
        try {
          const auto current = [&] {
            std::lock_guard lock(zones_mutex);
            return zones;
          }();
          sweep_all(store, current);
        } catch (const std::exception& e) {
          spdlog::error("sweeper: {}", e.what());
        }
        for (int i = 0; i < 50 && running; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
    });

    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGHUP) {
        try {
          auto fresh = core::load_zones(cfg.zones_dir);
          auto next = zoneserver::ZoneCatalog::build(fresh, store);
          if (dns) dns->set_catalog(next);
          {
            std::lock_guard lock(catalog_mutex);
            http_catalog = next;
          }
          std::lock_guard lock(zones_mutex);
          zones = fresh;
          spdlog::info("reloaded {} zones", zones.size());
        } catch (const std::exception& e) {
          spdlog::error("reload failed, keeping the running config: {}", e.what());
        }
        continue;
      }
      spdlog::info("signal {}: stopping", sig);
      break;
    }
    running = false;
    sweeper.join();
    notifier.stop();
    if (http) http->stop();
    if (dns) dns->stop();
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
  return 0;
}
