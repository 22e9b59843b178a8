// Response-rate limiting (see rrl.hpp).
#include "zoneserver/rrl.hpp"

#include <algorithm>
#include <cstring>

namespace rblzone::zoneserver {
namespace {

constexpr std::int64_t kMilli = 1000;  // balance units per response
constexpr std::size_t kProbe = 4;      // slots looked at before one is taken over

std::size_t round_up_pow2(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

std::uint64_t hash(const core::IpPrefix::Bytes& b) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (const auto c : b) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h ^ (h >> 29);
}

bool is_v4_mapped(const core::IpPrefix::Bytes& b) {
  static constexpr std::uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(b.data(), kPrefix, sizeof kPrefix) == 0;
}

void mask_bits(core::IpPrefix::Bytes& b, unsigned keep) {
  for (unsigned i = 0; i < b.size(); ++i) {
    const unsigned bit = i * 8;
    if (bit >= keep) {
      b[i] = 0;
    } else if (keep - bit < 8) {
      b[i] = static_cast<std::uint8_t>(b[i] & (0xff << (8 - (keep - bit))));
    }
  }
}

}  // namespace

ResponseRateLimiter::ResponseRateLimiter(const core::RrlConfig& config, std::size_t buckets)
    : config_(config), table_(round_up_pow2(std::max<std::size_t>(buckets, kProbe))) {
  mask_ = table_.size() - 1;
}

core::IpPrefix::Bytes ResponseRateLimiter::prefix_of(const core::IpPrefix::Bytes& client) const {
  auto key = client;
  mask_bits(key, is_v4_mapped(client) ? 96u + config_.ipv4_prefix : config_.ipv6_prefix);
  return key;
}

ResponseRateLimiter::Verdict ResponseRateLimiter::check(const core::IpPrefix::Bytes& client,
                                                        std::int64_t now_ms) {
  const auto key = prefix_of(client);
  const std::int64_t rate = config_.responses_per_second;
  const std::int64_t cap = rate * kMilli;  // a second's worth of burst
  const std::int64_t floor = -rate * kMilli * config_.window;
  const std::size_t start = static_cast<std::size_t>(hash(key)) & mask_;

  // The prefix's bucket, else the first free slot, else the one idle longest.
  Bucket* b = nullptr;
  Bucket* victim = nullptr;
  for (std::size_t i = 0; i < kProbe; ++i) {
    Bucket& c = table_[(start + i) & mask_];
    if (c.used && c.key == key) {
      b = &c;
      break;
    }
    if (!c.used) {
      if (!victim || victim->used) victim = &c;
    } else if (!victim || (victim->used && c.last_ms < victim->last_ms)) {
      victim = &c;
    }
  }
  if (!b) {
    b = victim;
    b->used = true;
    b->key = key;
    b->balance = cap;
    b->last_ms = now_ms;
    b->limited = 0;
  }

  // Credit the time since the last response (capped at one second's worth),
  // then debit this one. A flood runs the balance negative, down to
  // `window` seconds of debt, so a prefix that keeps flooding stays limited
  // and one that stops is forgiven within `window` seconds.
  const std::int64_t elapsed = std::max<std::int64_t>(0, now_ms - b->last_ms);
  b->last_ms = std::max(b->last_ms, now_ms);
  const std::int64_t credit =
      std::min<std::int64_t>(elapsed, (config_.window + 1) * kMilli) * rate;  // rate/1000 per ms
  b->balance = std::min(cap, b->balance + credit);
  b->balance = std::max(floor, b->balance - kMilli);
  if (b->balance >= 0) return Verdict::send;
  ++b->limited;
  if (config_.slip > 0 && b->limited % config_.slip == 0) return Verdict::slip;
  return Verdict::drop;
}

std::size_t truncate_response(std::uint8_t* msg, std::size_t size) {
  constexpr std::size_t kHeader = 12;
  if (size < kHeader) return size;
  const unsigned qd = (static_cast<unsigned>(msg[4]) << 8) | msg[5];
  std::size_t end = kHeader;
  if (qd == 1) {
    // Our own response: the question is a well-formed name, then type and class.
    std::size_t p = kHeader;
    while (p < size && msg[p] != 0 && (msg[p] & 0xc0) == 0) p += 1u + msg[p];
    p += (p < size && (msg[p] & 0xc0) == 0xc0) ? 2 : 1;
    if (p + 4 <= size) end = p + 4;
  }
  msg[2] |= 0x02;  // TC
  msg[5] = end > kHeader ? 1 : 0;
  msg[4] = 0;
  std::memset(msg + 6, 0, 6);  // no answer, authority nor additional records
  return end;
}

}  // namespace rblzone::zoneserver
