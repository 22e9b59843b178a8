// The daemon's side of systemd's service protocol: sd_notify(3) messages
// (READY, RELOADING, STOPPING, WATCHDOG, STATUS) sent as datagrams to
// $NOTIFY_SOCKET, and the watchdog pinger for WatchdogSec=.
//
// Written directly rather than linking libsystemd: the protocol is one
// datagram of "KEY=VALUE\n" lines to a unix socket (a name starting with '@'
// is in the abstract namespace), stable since systemd 209, and this keeps the
// daemon free of a library it would use for ~40 lines. Outside systemd
// (no NOTIFY_SOCKET) every call is a no-op.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace rblzone::daemon {

class Notifier {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment.
  static Notifier from_environment();
  Notifier() = default;  // disabled
  explicit Notifier(std::string socket_path,
                    std::optional<std::chrono::microseconds> watchdog = std::nullopt);

  bool enabled() const { return !socket_.empty(); }
  // The watchdog interval systemd asked for (WatchdogSec=), if any.
  std::optional<std::chrono::microseconds> watchdog() const { return watchdog_; }

  // Sends one message ("READY=1\nSTATUS=..."). Returns false (and changes
  // nothing) when disabled or when the socket cannot be reached; the daemon
  // runs on either way.
  bool notify(std::string_view message) const;

  bool ready(std::string_view status) const;
  bool reloading() const;  // RELOADING=1 with MONOTONIC_USEC (systemd 253+ wants it)
  bool stopping() const;
  bool status(std::string_view status) const;

 private:
  std::string socket_;
  std::optional<std::chrono::microseconds> watchdog_;
};

// Sends WATCHDOG=1 every half watchdog interval from its own thread while
// `alive()` returns true (a stuck daemon stops pinging and systemd restarts
// it). Does nothing when the notifier has no watchdog.
class WatchdogPinger {
 public:
  template <class Alive>
  WatchdogPinger(const Notifier& notifier, Alive alive) : notifier_(notifier) {
    if (!notifier_.watchdog()) return;
    thread_ = std::thread([this, alive] { run([&] { return alive(); }); });
  }
  ~WatchdogPinger();
  WatchdogPinger(const WatchdogPinger&) = delete;
  WatchdogPinger& operator=(const WatchdogPinger&) = delete;

 private:
  template <class F>
  void run(F alive) {
    const auto period = *notifier_.watchdog() / 2;
    std::unique_lock lock(mutex_);
    while (!stop_) {
      if (alive()) notifier_.notify("WATCHDOG=1");
      stopped_.wait_for(lock, period, [this] { return stop_; });
    }
  }

  const Notifier& notifier_;
  std::mutex mutex_;
  std::condition_variable stopped_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace rblzone::daemon
