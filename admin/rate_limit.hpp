// Per-client token buckets for the public endpoints and for failed
// authentication. A client is its address (IPv6 by its /64, where one
// subscriber usually sits). Thread-safe; memory bounded.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rblzone::admin {

class RateLimiter {
 public:
  // `per_minute` tokens refill per minute up to `burst`. 0 turns it off.
  RateLimiter(double per_minute, double burst, std::size_t max_clients = 100000);

  // Takes one token for `client`; false when it has none left.
  bool allow(std::string_view client) { return allow(client, clock_seconds()); }
  bool allow(std::string_view client, double now_seconds);
  // True when `client` has no token left (without taking one).
  bool exhausted(std::string_view client, double now_seconds);
  bool exhausted(std::string_view client) { return exhausted(client, clock_seconds()); }

  static double clock_seconds();
  // "2001:db8:1:2:3:4:5:6" -> "2001:db8:1:2::/64"; IPv4 unchanged.
  static std::string client_key(std::string_view address);

 private:
  struct Bucket {
    double tokens;
    double at;
  };
  Bucket& refill_(const std::string& key, double now);

  double per_second_;
  double burst_;
  std::size_t max_clients_;
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace rblzone::admin
