// NOTIFY (RFC 1996) to each zone's configured secondaries: a thread that
// notices serial changes by itself (any process may write the store),
// sends at most one NOTIFY a second per zone, and retries each secondary
// with backoff until it acknowledges.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "core/store.hpp"
#include "zoneserver/zone_catalog.hpp"

namespace rblzone::zoneserver {

struct NotifyOptions {
  unsigned poll_ms = 200;           // how often serials are read
  unsigned min_interval_ms = 1000;  // per zone, between two NOTIFY rounds
  unsigned retry_ms = 2000;         // first retry; doubles up to max_retry_ms
  unsigned max_retry_ms = 60000;
};

class Notifier {
 public:
  using CatalogSource = std::function<std::shared_ptr<const ZoneCatalog>()>;
  Notifier(core::Store& store, CatalogSource catalog, NotifyOptions options = {});
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Opens the sockets and starts the thread. Throws std::runtime_error.
  void start();
  void stop();

  // NOTIFY messages sent and acknowledged so far (for tests and metrics).
  std::uint64_t sent() const { return sent_.load(); }
  std::uint64_t acknowledged() const { return acked_.load(); }

 private:
  void run_();

  core::Store& store_;
  CatalogSource catalog_;
  NotifyOptions options_;
  std::atomic<bool> running_{false};
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> acked_{0};
  int fd4_ = -1;
  int fd6_ = -1;
  std::thread thread_;
};

// The NOTIFY message for `zone` at `serial` (question: the apex SOA; answer:
// the SOA's serial as a hint).
std::string notify_message(const CatalogZone& zone, std::uint16_t id, std::uint32_t serial);

}  // namespace rblzone::zoneserver
