// The DNS transports: UDP workers (one SO_REUSEPORT socket each, batched
// recvmmsg/sendmmsg, one renewed read transaction each) and a TCP listener
// (length-framed, pipelined, idle timeout, connection cap). They decode
// nothing themselves: bytes go to answer() and its result goes back.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/store.hpp"
#include "zoneserver/answerer.hpp"
#include "zoneserver/hot_subjects.hpp"
#include "zoneserver/zone_catalog.hpp"

namespace rblzone::zoneserver {

struct ServerOptions {
  std::vector<std::string> listen = {"127.0.0.1:5300"};  // "ADDR:PORT", "[V6]:PORT"
  unsigned threads = 0;                                  // UDP workers; 0 = one per core
  std::uint16_t edns_udp_size = 1232;
  unsigned tcp_max_connections = 256;
  unsigned tcp_idle_timeout_ms = 10000;
  bool query_log = false;
  core::RrlConfig rrl;  // UDP response-rate limiting; off by default
};

struct TransferStats;

// The last transfer to one secondary of one zone, for /metrics.
struct TransferRecord {
  std::string zone;
  std::string secondary;       // the client's address
  std::int64_t last_time = 0;  // unix seconds
  std::uint32_t last_serial = 0;
  bool last_incremental = false;
  std::uint64_t transfers = 0;  // served (not refused)
  std::uint64_t refused = 0;
  std::uint64_t failed = 0;  // ended by an error or a vanished secondary
};

class DnsServer {
 public:
  DnsServer(core::Store& store, std::shared_ptr<const ZoneCatalog> catalog, ServerOptions options,
            core::Clock clock = core::system_now);
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // Binds every address (UDP and TCP) and starts the threads. Throws
  // std::runtime_error naming the address when a bind fails.
  void start();
  void stop();

  // The addresses actually bound ("127.0.0.1:5300"), after start().
  const std::vector<std::string>& bound() const { return bound_; }

  // Swaps the zone catalog; queries already running finish with the old one.
  void set_catalog(std::shared_ptr<const ZoneCatalog> catalog);
  // Turns the per-query log line on or off (a reload may change it).
  void set_query_log(bool on) { query_log_.store(on, std::memory_order_relaxed); }

  // Serves an AXFR/IXFR on its own thread with a blocking socket `fd`
  // (which it closes), so a long transfer never stalls the TCP listener.
  // stop() waits for running transfers to end. Called by the TCP sessions.
  void start_transfer(int fd, std::vector<std::uint8_t> query, const Client& client);

  // Zone transfers served so far, one record per (zone, secondary).
  std::vector<TransferRecord> transfers() const;

  // Counters summed over all workers and the TCP listener.
  const std::vector<std::unique_ptr<QueryStats>>& stats() const { return stats_; }
  // The listed subjects each worker (and the TCP listener) counted, for
  // top_subjects(). Filled by start(); read from any thread.
  const std::vector<std::unique_ptr<HotSubjects>>& hot_subjects() const { return hot_; }

 private:
  struct Tcp;
  void udp_worker_(int fd, QueryStats& stats, HotSubjects& hot);
  void log_transfer_(const TransferStats& st, const Client& client, bool ok);

  core::Store& store_;
  std::shared_ptr<const ZoneCatalog> catalog_;  // accessed with std::atomic_load/store
  ServerOptions options_;
  core::Clock clock_;
  std::atomic<bool> running_{false};
  std::atomic<bool> query_log_{false};
  std::vector<int> udp_fds_;
  std::vector<std::thread> threads_;
  std::vector<std::unique_ptr<QueryStats>> stats_;
  std::vector<std::unique_ptr<HotSubjects>> hot_;
  std::vector<std::string> bound_;
  std::unique_ptr<Tcp> tcp_;
  mutable std::mutex transfer_log_mutex_;
  std::map<std::pair<std::string, std::string>, TransferRecord> transfer_log_;
  std::mutex transfers_mutex_;
  std::condition_variable transfers_done_;
  std::vector<int> transfer_fds_;  // sockets of running transfers, guarded by transfers_mutex_
};

}  // namespace rblzone::zoneserver
