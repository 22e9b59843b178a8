// rblzoned: the daemon. Parses arguments and config, opens the store, builds
// the zone catalog, starts the DNS server, the HTTP admin server and the
// sweeper, waits for signals.
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "admin/http_server.hpp"
#include "admin/router.hpp"
#include "cmd/daemon_log.hpp"
#include "cmd/daemon_reload.hpp"
#include "cmd/sd_notify.hpp"
#include "core/config.hpp"
#include "core/policy.hpp"
#include "core/store.hpp"
#include "zoneserver/notify.hpp"
#include "zoneserver/pdns_socket.hpp"
#include "zoneserver/server.hpp"
#include "zoneserver/zone_catalog.hpp"

namespace {

using namespace rblzone;

// Removes expired listings in batches so their history and journal entries
// are written; the DNS path already treats them as absent to the second.
std::size_t sweep_all(core::Store& store, const std::vector<core::ZoneConfig>& zones,
                      admin::LifecycleCounters& counters) {
  std::size_t total = 0;
  for (const auto& z : zones) {
    if (z.kind == core::ZoneKind::combined) continue;
    for (;;) {
      std::size_t removed = 0;
      store.env().write([&](core::WriteTxn& txn) {
        const auto ref = store.ensure_zone(txn, z.name);
        removed = store.sweep_expired(txn, ref, store.now(), 1000);
      });
      if (removed > 0) {
        counters.count_expired(z.name, removed);
        spdlog::info("zone {}: {} expired listings removed", z.name, removed);
      }
      total += removed;
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
  return total;
}

// Keeps reports and history within their zones' retention, a batch at a
// time so that no write transaction runs long.
void trim_all(core::Store& store, core::Policy& policy, const std::vector<core::ZoneConfig>& zones,
              std::map<std::string, std::string>& history_cursors) {
  for (const auto& z : zones) {
    if (z.kind == core::ZoneKind::combined) continue;
    store.env().write([&](core::WriteTxn& txn) {
      policy.trim_reports(txn, z, 1000);
      const auto ref = store.ensure_zone(txn, z.name);
      auto cursor = history_cursors[z.name];
      store.trim_history(txn, ref, store.now() - std::int64_t{z.policy.history_retention}, 1000,
                         cursor);
      history_cursors[z.name] = cursor;
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  // glibc gives each new thread its own malloc arena, up to eight per core,
  // and each keeps its high-water mark: with the HTTP handler pool that was
  // some 700 KB of resident memory appearing over the first minutes (+15%
  // of this daemon's heap), indistinguishable from a leak. Two arenas (the
  // threads' caches still take most small allocations without a lock) keep
  // it flat; MALLOC_ARENA_MAX in the environment still decides.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);

  CLI::App app{"rblzoned: the rblzone DNSBL daemon"};
  daemon::DaemonArgs args;
  bool check_only = false;
  app.add_option("--config", args.config_file, "daemon config file (TOML)");
  app.add_option("--data-dir", args.data_dir, "data directory (created if missing)");
  app.add_option("--zones", args.zones_dir, "directory of zone files (*.toml)");
  app.add_option("--dns-listen", args.dns_listen,
                 "DNS address ADDR:PORT (repeatable; '' turns DNS off)");
  app.add_option("--http-listen", args.http_listen, "HTTP address ADDR:PORT ('' turns HTTP off)");
  app.add_option("--pdns-socket", args.pdns_socket,
                 "PowerDNS remote backend unix socket PATH ('' turns it off)");
  app.add_option("--dns-threads", args.dns_threads, "UDP worker threads (0: one per core)");
  app.add_option("--log-level", args.log_level, "trace, debug, info, warn, error");
  app.add_flag("--check-config", check_only, "validate the config and zones, then exit");
  CLI11_PARSE(app, argc, argv);

  core::DaemonConfig cfg;
  std::vector<core::ZoneConfig> zones;
  try {
    cfg = daemon::resolve_config(args);
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
  daemon::setup_logging(cfg.log_level, daemon::logging_to_journal());
  const auto notifier = daemon::Notifier::from_environment();
  admin::DaemonHealth health;
  health.started = core::system_now();

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
      options.rrl = cfg.rrl;
      options.query_log = cfg.query_log;
      dns = std::make_unique<zoneserver::DnsServer>(store, catalog, options);
      dns->start();
      for (const auto& b : dns->bound()) spdlog::info("DNS listening on {} (UDP and TCP)", b);
    }

    std::unique_ptr<zoneserver::PdnsSocketServer> pdns;
    if (!cfg.pdns_socket.empty()) {
      zoneserver::PdnsSocketOptions options;
      options.path = cfg.pdns_socket;
      pdns = std::make_unique<zoneserver::PdnsSocketServer>(store, catalog, options);
      pdns->start();
      spdlog::info("PowerDNS remote backend on unix:{}", cfg.pdns_socket.string());
    }
    core::Policy policy(store);
    auto counters = std::make_shared<admin::LifecycleCounters>();

    // The catalog the HTTP router sees; swapped on SIGHUP.
    std::mutex catalog_mutex;
    auto http_catalog = catalog;

    // NOTIFY to the secondaries of zones that name some (docs/scale-out.md).
    zoneserver::Notifier dns_notify(store, [&] {
      std::lock_guard lock(catalog_mutex);
      return http_catalog;
    });
    if (cfg.dns_enabled) dns_notify.start();

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
      context.hot_subjects = [&dns] { return dns ? &dns->hot_subjects() : nullptr; };
      context.policy = &policy;
      context.counters = counters;
      context.limits = std::make_shared<admin::Limits>(
          cfg.http_public_per_minute, cfg.http_delist_per_hour, cfg.http_auth_failures_per_minute);
      context.health = &health;
      if (dns) {
        context.transfers = [&dns] { return dns->transfers(); };
        context.notifies = [&dns_notify] {
          return std::pair<std::uint64_t, std::uint64_t>{dns_notify.sent(),
                                                         dns_notify.acknowledged()};
        };
      }
      admin::HttpOptions options;
      options.listen = cfg.http_listen;
      options.handler_threads = cfg.http_threads;
      http = std::make_unique<admin::HttpServer>(
          options, [context](const admin::Request& req, std::string_view peer) {
            return admin::handle(req, context, peer);
          });
      http->start();
      spdlog::info("HTTP listening on {}", http->bound());
    }

    std::atomic<bool> running{true};
    std::mutex zones_mutex;
    std::thread sweeper([&] {
      std::map<std::string, std::string> history_cursors;
      std::uint64_t rounds = 0;
      while (running) {
        try {
          const auto current = [&] {
            std::lock_guard lock(zones_mutex);
            return zones;
          }();
          health.swept.fetch_add(sweep_all(store, current, *counters), std::memory_order_relaxed);
          health.last_sweep.store(store.now(), std::memory_order_relaxed);
          if (++rounds % 12 == 1) trim_all(store, policy, current, history_cursors);
          // Hand the heap's free pages back to the kernel: with several
          // threads allocating, freed memory is scattered over the arenas
          // and resident memory drifts up by the pages that free chunks
          // have touched (malloc_stats in a 10-minute soak: the bytes in
          // use flat, RssAnon +7%). After this, RssAnon follows what is
          // live, so a leak shows. A few hundred microseconds a round.
          malloc_trim(0);
        } catch (const std::exception& e) {
          health.sweep_errors.fetch_add(1, std::memory_order_relaxed);
          spdlog::error("sweeper: {}", e.what());
        }
        for (int i = 0; i < 50 && running; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
    });

    daemon::Reloader reloader(args, cfg, zones, store, dns.get(), health,
                              [&](auto next, const auto& fresh) {
                                if (pdns) pdns->set_catalog(next);
                                {
                                  std::lock_guard lock(catalog_mutex);
                                  http_catalog = next;
                                }
                                std::lock_guard lock(zones_mutex);
                                zones = fresh;
                              });
    // The watchdog pings while the store can still be read.
    daemon::WatchdogPinger watchdog(notifier, [&store] {
      try {
        auto txn = store.env().begin_read();
        return true;
      } catch (const std::exception&) {
        return false;
      }
    });
    notifier.ready("serving " + std::to_string(zones.size()) + " zones");

    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGHUP) {
        notifier.reloading();
        const bool ok = reloader.reload();
        notifier.ready(ok ? "reloaded" : "reload failed, running the previous config");
        continue;
      }
      spdlog::info("signal {}: stopping", sig);
      notifier.stopping();
      break;
    }
    running = false;
    sweeper.join();
    dns_notify.stop();
    if (http) http->stop();
    if (dns) dns->stop();
    if (pdns) pdns->stop();
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
  return 0;
}
