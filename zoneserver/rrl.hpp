// Response-rate limiting (RRL) for UDP answers, in the spirit of BIND's and
// Knot's: each client prefix (/24 IPv4, /56 IPv6 by default) has a token
// bucket; over its rate a response is dropped, or every `slip`-th one is
// sent truncated (TC=1, question only) so a real resolver behind a spoofed
// flood retries over TCP and still gets its answer. It makes rblzone a poor
// reflector: a spoofed victim receives at most `responses_per_second`
// answers a second (plus the small slips) however many queries are sent.
//
// One limiter per UDP worker, so no lock: a fixed-size hashed table
// allocated once; check() never allocates. With N workers a prefix may get
// up to N times the rate (the kernel spreads a client's queries over the
// SO_REUSEPORT sockets by its 4-tuple), as with Knot's per-thread tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/config.hpp"
#include "core/subject.hpp"

namespace rblzone::zoneserver {

class ResponseRateLimiter {
 public:
  enum class Verdict { send, slip, drop };

  // `config.responses_per_second` must be > 0 (0 means: build no limiter).
  // `buckets` is rounded up to a power of two.
  explicit ResponseRateLimiter(const core::RrlConfig& config, std::size_t buckets = 16384);

  // Charges one response to `client`'s prefix at `now_ms` (any monotonic
  // milliseconds) and says what to do with it.
  Verdict check(const core::IpPrefix::Bytes& client, std::int64_t now_ms);

  // The key a client is accounted under: its address masked to the prefix.
  core::IpPrefix::Bytes prefix_of(const core::IpPrefix::Bytes& client) const;

 private:
  struct Bucket {
    core::IpPrefix::Bytes key{};
    std::int64_t balance = 0;  // thousandths of a response
    std::int64_t last_ms = 0;
    std::uint32_t limited = 0;  // responses limited so far (for the slip)
    bool used = false;
  };
  core::RrlConfig config_;
  std::vector<Bucket> table_;
  std::size_t mask_ = 0;
};

// Turns the response in msg[0, size) into its truncated form in place: the
// header with TC=1 and no records, and the question if it had one. Returns
// the new size (12 + the question's length).
std::size_t truncate_response(std::uint8_t* msg, std::size_t size);

}  // namespace rblzone::zoneserver
