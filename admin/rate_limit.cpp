#include "admin/rate_limit.hpp"

#include <boost/asio/ip/address.hpp>

namespace rblzone::admin {

RateLimiter::RateLimiter(double per_minute, double burst, std::size_t max_clients)
    : per_second_(per_minute / 60.0), burst_(burst), max_clients_(max_clients) {}

double RateLimiter::clock_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string RateLimiter::client_key(std::string_view address) {
  boost::system::error_code ec;
  const auto a = boost::asio::ip::make_address(std::string(address), ec);
  if (ec || !a.is_v6()) return std::string(address);
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  auto bytes = v6.to_bytes();
  for (std::size_t i = 8; i < 16; ++i) bytes[i] = 0;
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

RateLimiter::Bucket& RateLimiter::refill_(const std::string& key, double now) {
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_clients_) {
      // Forget clients whose bucket is full again; if none, start over.
      std::erase_if(buckets_, [&](const auto& kv) {
        return kv.second.tokens + (now - kv.second.at) * per_second_ >= burst_;
      });
      if (buckets_.size() >= max_clients_) buckets_.clear();
    }
    it = buckets_.emplace(key, Bucket{burst_, now}).first;
  }
  auto& b = it->second;
  b.tokens = std::min(burst_, b.tokens + (now - b.at) * per_second_);
  b.at = now;
  return b;
}

bool RateLimiter::allow(std::string_view client, double now) {
  if (per_second_ <= 0) return true;
  std::lock_guard lock(mutex_);
  auto& b = refill_(client_key(client), now);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

bool RateLimiter::exhausted(std::string_view client, double now) {
  if (per_second_ <= 0) return false;
  std::lock_guard lock(mutex_);
  return refill_(client_key(client), now).tokens < 1;
}

}  // namespace rblzone::admin
