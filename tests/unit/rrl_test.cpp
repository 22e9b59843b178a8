// Tests for zoneserver/rrl (response-rate limiting) and its [dns] rrl config:
// a burst over the rate is limited (drops and TC slips), other prefixes are
// not, the same /24 (IPv6 /56) shares one account, a paused prefix is
// forgiven, and the truncated form of a response keeps only the question.
#include "zoneserver/rrl.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/config.hpp"

namespace rblzone::zoneserver {
namespace {

using Verdict = ResponseRateLimiter::Verdict;

core::IpPrefix::Bytes addr(const char* text) {
  return core::IpPrefix::parse(text)->bytes();
}

struct Counts {
  int send = 0, slip = 0, drop = 0;
};

Counts burst(ResponseRateLimiter& rrl, const char* client, int n, std::int64_t now_ms) {
  Counts c;
  for (int i = 0; i < n; ++i) {
    switch (rrl.check(addr(client), now_ms)) {
      case Verdict::send:
        ++c.send;
        break;
      case Verdict::slip:
        ++c.slip;
        break;
      case Verdict::drop:
        ++c.drop;
        break;
    }
  }
  return c;
}

core::RrlConfig config(unsigned rps, unsigned window, unsigned slip) {
  core::RrlConfig c;
  c.responses_per_second = rps;
  c.window = window;
  c.slip = slip;
  return c;
}

TEST_CASE("rrl: a burst over the rate is limited, every slip-th answer truncated", "[rrl]") {
  ResponseRateLimiter rrl(config(10, 5, 2));
  const auto c = burst(rrl, "192.0.2.1", 110, 1000);
  CHECK(c.send == 10);  // one second's worth
  CHECK(c.slip == 50);  // of the 100 limited, every second one
  CHECK(c.drop == 50);
}

TEST_CASE("rrl: slip 0 drops everything over the rate, slip 1 truncates everything", "[rrl]") {
  ResponseRateLimiter none(config(5, 5, 0));
  auto c = burst(none, "192.0.2.1", 25, 0);
  CHECK(c.send == 5);
  CHECK(c.slip == 0);
  CHECK(c.drop == 20);
  ResponseRateLimiter all(config(5, 5, 1));
  c = burst(all, "192.0.2.1", 25, 0);
  CHECK(c.send == 5);
  CHECK(c.slip == 20);
  CHECK(c.drop == 0);
}

TEST_CASE("rrl: clients share their /24 or /56, other prefixes are not affected", "[rrl]") {
  ResponseRateLimiter rrl(config(10, 5, 2));
  CHECK(burst(rrl, "192.0.2.1", 50, 0).send == 10);
  CHECK(burst(rrl, "192.0.2.200", 10, 0).send == 0);  // same /24: same account
  CHECK(burst(rrl, "192.0.3.1", 10, 0).send == 10);   // next /24: its own
  CHECK(burst(rrl, "2001:db8:0:ff::1", 20, 0).send == 10);
  CHECK(burst(rrl, "2001:db8:0:1::2", 5, 0).send == 0);  // same /56
  CHECK(burst(rrl, "2001:db8:0:100::1", 5, 0).send == 5);
  CHECK(rrl.prefix_of(addr("192.0.2.77")) == addr("192.0.2.0"));
  CHECK(rrl.prefix_of(addr("2001:db8:0:ff:1:2:3:4")) == addr("2001:db8::"));

  auto wide = config(10, 5, 2);
  wide.ipv4_prefix = 32;
  ResponseRateLimiter per_host(wide);
  CHECK(burst(per_host, "192.0.2.1", 50, 0).send == 10);
  CHECK(burst(per_host, "192.0.2.2", 10, 0).send == 10);
}

TEST_CASE("rrl: the rate refills over time; a flood's debt lasts at most the window", "[rrl]") {
  ResponseRateLimiter rrl(config(10, 3, 2));
  CHECK(burst(rrl, "198.51.100.1", 10, 0).send == 10);
  // A steady 10/s is within the rate: one answer every 100 ms always sent.
  for (std::int64_t t = 100; t <= 5000; t += 100) {
    INFO(t);
    CHECK(rrl.check(addr("198.51.100.1"), t) == Verdict::send);
  }
  // After a second's pause a full burst again, then a flood runs up debt:
  // still limited half a second after it stops...
  CHECK(burst(rrl, "198.51.100.1", 1000, 6000).send == 10);
  CHECK(burst(rrl, "198.51.100.1", 1, 6500).send == 0);
  // ... and forgiven once the window (3 s) and a second have passed.
  CHECK(burst(rrl, "198.51.100.1", 10, 10500).send == 10);
}

TEST_CASE("rrl: a full table takes over the slot idle longest, never allocating", "[rrl]") {
  ResponseRateLimiter rrl(config(2, 5, 0), 4);  // 4 slots
  for (int i = 0; i < 64; ++i) {
    const std::string a = "10.0." + std::to_string(i) + ".1";
    CHECK(burst(rrl, a.c_str(), 3, i).send == 2);  // each new prefix starts with a full bucket
  }
}

TEST_CASE("rrl: the truncated response keeps the header and question, with TC", "[rrl]") {
  // id 0x1234, QR AA, 1 question, 1 answer, 0 ns, 1 additional.
  std::vector<std::uint8_t> msg = {0x12, 0x34, 0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 1,
                                   // 2.0.0.127.bl.test A IN
                                   1, '2', 1, '0', 1, '0', 3, '1', '2', '7', 2, 'b', 'l', 4, 't',
                                   'e', 's', 't', 0, 0, 1, 0, 1,
                                   // the answer: a pointer to the name, A IN ttl 900 127.0.0.2
                                   0xc0, 12, 0, 1, 0, 1, 0, 0, 3, 0x84, 0, 4, 127, 0, 0, 2,
                                   // OPT
                                   0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
  const std::size_t question_end = 12 + 19 + 4;
  const auto n = truncate_response(msg.data(), msg.size());
  CHECK(n == question_end);
  CHECK(msg[0] == 0x12);
  CHECK(msg[1] == 0x34);
  CHECK(msg[2] == (0x84 | 0x02));  // TC added, QR AA kept
  CHECK(msg[5] == 1);
  for (int i = 6; i < 12; ++i) CHECK(msg[static_cast<std::size_t>(i)] == 0);
  // No question (a FORMERR without one): the header alone.
  std::vector<std::uint8_t> bare = {0, 1, 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0};
  CHECK(truncate_response(bare.data(), bare.size()) == 12);
  CHECK(bare[2] == 0x82);
}

TEST_CASE("rrl: [dns] rrl config, off by default, bad values named", "[rrl][config]") {
  const auto d = core::parse_daemon_config("", "rblzoned.toml");
  CHECK(d.rrl.responses_per_second == 0);
  CHECK(d.rrl.window == 15);
  CHECK(d.rrl.slip == 2);
  CHECK(d.rrl.ipv4_prefix == 24);
  CHECK(d.rrl.ipv6_prefix == 56);
  const auto on = core::parse_daemon_config(
      "[dns]\nrrl = { responses_per_second = 20, window = 5, slip = 3, ipv6_prefix = 48 }\n",
      "rblzoned.toml");
  CHECK(on.rrl.responses_per_second == 20);
  CHECK(on.rrl.window == 5);
  CHECK(on.rrl.slip == 3);
  CHECK(on.rrl.ipv4_prefix == 24);
  CHECK(on.rrl.ipv6_prefix == 48);
  const auto table =
      core::parse_daemon_config("[dns.rrl]\nresponses_per_second = 7\n", "rblzoned.toml");
  CHECK(table.rrl.responses_per_second == 7);
  const auto error = [](const std::string& text) -> std::string {
    try {
      core::parse_daemon_config(text, "rblzoned.toml");
    } catch (const core::ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  };
  CHECK(error("[dns.rrl]\nslip = 11\n") ==
        "rblzoned.toml:2: dns.rrl.slip: an integer 0..10 (0: never slip), got 11");
  CHECK(error("[dns.rrl]\nwindow = 0\n") ==
        "rblzoned.toml:2: dns.rrl.window: an integer 1..3600 (seconds), got 0");
  CHECK(error("[dns.rrl]\nrate = 5\n").find("dns.rrl.rate: unknown key") != std::string::npos);
  CHECK(error("[dns]\nrrl = 5\n") == "rblzoned.toml:2: dns.rrl: a table, got 5");
}

}  // namespace
}  // namespace rblzone::zoneserver
