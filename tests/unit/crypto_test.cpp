#include "core/crypto.hpp"

#include <catch2/catch.hpp>

using namespace rblzone::core;

TEST_CASE("sha256 and hmac_sha256 match the published test vectors") {
  CHECK(to_hex(sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  CHECK(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("random_bytes differ and constant_time_equal compares whole strings") {
  const auto a = random_bytes(32);
  const auto b = random_bytes(32);
  CHECK(a.size() == 32);
  CHECK(a != b);
  CHECK(constant_time_equal(a, a));
  CHECK_FALSE(constant_time_equal(a, b));
  CHECK_FALSE(constant_time_equal("abc", "abcd"));
  CHECK(to_hex(std::string_view("\x00\xff", 2)) == "00ff");
}
