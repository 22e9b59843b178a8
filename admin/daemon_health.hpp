// What the daemon knows about its own upkeep (reloads, sweeps), written by
// the daemon's threads and read by GET /metrics and `rblzone status`.
// Plain relaxed atomics: each figure is read on its own.
#pragma once

#include <atomic>
#include <cstdint>

namespace rblzone::admin {

struct DaemonHealth {
  std::atomic<std::int64_t> started{0};  // unix seconds
  std::atomic<std::uint64_t> reloads_ok{0};
  std::atomic<std::uint64_t> reloads_failed{0};
  std::atomic<std::int64_t> last_reload{0};  // unix seconds of the last attempt (0: none)
  std::atomic<bool> last_reload_ok{true};
  std::atomic<std::int64_t> last_sweep{0};  // unix seconds of the last sweep that finished
  std::atomic<std::uint64_t> sweep_errors{0};
  std::atomic<std::uint64_t> swept{0};  // expired listings removed by the sweeper
};

}  // namespace rblzone::admin
