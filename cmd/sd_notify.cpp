// sd_notify(3) without libsystemd: one datagram per message.
#include "cmd/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace rblzone::daemon {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read before threads start
  return v != nullptr ? v : "";
}

std::uint64_t monotonic_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000U +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000U;
}

}  // namespace

Notifier Notifier::from_environment() {
  std::optional<std::chrono::microseconds> watchdog;
  const std::string usec = env("WATCHDOG_USEC");
  const std::string pid = env("WATCHDOG_PID");
  std::uint64_t n = 0;
  const auto parsed = std::from_chars(usec.data(), usec.data() + usec.size(), n);
  // WATCHDOG_PID, when set, names the process that must ping: not a child.
  const bool ours = pid.empty() || pid == std::to_string(getpid());
  if (!usec.empty() && parsed.ec == std::errc() && parsed.ptr == usec.data() + usec.size() &&
      n > 0 && ours) {
    watchdog = std::chrono::microseconds(n);
  }
  return Notifier(env("NOTIFY_SOCKET"), watchdog);
}

Notifier::Notifier(std::string socket_path, std::optional<std::chrono::microseconds> watchdog)
    : socket_(std::move(socket_path)), watchdog_(watchdog) {
  // Only absolute paths and abstract names are valid (sd_notify(3)).
  if (!socket_.empty() && socket_[0] != '/' && socket_[0] != '@') socket_.clear();
  if (socket_.empty()) watchdog_.reset();
}

bool Notifier::notify(std::string_view message) const {
  if (socket_.empty()) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, socket_.data(), socket_.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size());
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const ssize_t sent = sendto(fd, message.data(), message.size(), MSG_NOSIGNAL,
                              reinterpret_cast<const sockaddr*>(&addr), len);
  close(fd);
  return sent == static_cast<ssize_t>(message.size());
}

bool Notifier::ready(std::string_view status) const {
  return notify("READY=1\nSTATUS=" + std::string(status) + "\nMAINPID=" + std::to_string(getpid()));
}

bool Notifier::reloading() const {
  return notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()));
}

bool Notifier::stopping() const {
  return notify("STOPPING=1");
}

bool Notifier::status(std::string_view status) const {
  return notify("STATUS=" + std::string(status));
}

WatchdogPinger::~WatchdogPinger() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  stopped_.notify_all();
  thread_.join();
}

}  // namespace rblzone::daemon
