// Tests for core/listing: the version-1 value layout round-trips, the
// zero-copy view reads the same fields, and damaged values are rejected.
#include "core/listing.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace rblzone::core {
namespace {

Listing sample() {
  Listing l;
  l.codes = {0x7f000002, 0x7f000003};
  l.flags = kFlagSubtree;
  l.source = Source::trap;
  l.first_seen = 1700000000;
  l.last_seen = 1700000123;
  l.expires = 1700086400;
  l.offences = 7;
  l.reason = "spam trap hit";
  return l;
}

std::vector<Listing> samples() {
  std::vector<Listing> out;
  out.push_back(Listing{});  // all defaults: no codes, permanent, empty reason
  out.push_back(sample());
  Listing ex;
  ex.flags = kFlagExclusion;
  ex.source = Source::manual;
  ex.reason = "customer";
  out.push_back(ex);
  Listing big = sample();
  big.codes.clear();
  for (std::uint32_t i = 0; i < 255; ++i) big.codes.push_back(0x7f000000 | i);
  big.reason = std::string(0xffff, 'r');
  big.first_seen = -5;  // before the epoch still round-trips
  big.last_seen = INT64_MAX;
  big.expires = INT64_MIN;
  big.offences = UINT32_MAX;
  big.source = Source::import;
  out.push_back(big);
  Listing binary = sample();
  binary.reason = std::string("a\0b\xff", 4);
  binary.source = Source::report;
  out.push_back(binary);
  return out;
}

}  // namespace

TEST_CASE("Listing encodes to the documented version-1 layout", "[listing]") {
  const std::string v = sample().encode();
  const std::string expected =
      std::string("\x01\x02\x00\x02", 4) +                  // version, flags, source, ncodes
      std::string("\x7f\x00\x00\x02\x7f\x00\x00\x03", 8) +  // codes
      std::string("\x00\x00\x00\x00\x65\x53\xf1\x00", 8) +  // first_seen 1700000000
      std::string("\x00\x00\x00\x00\x65\x53\xf1\x7b", 8) +  // last_seen
      std::string("\x00\x00\x00\x00\x65\x55\x42\x80", 8) +  // expires 1700086400
      std::string("\x00\x00\x00\x07", 4) +                  // offences
      std::string("\x00\x0d", 2) + "spam trap hit";
  CHECK(v == expected);
}

TEST_CASE("Listing round-trips through encode and decode", "[listing]") {
  for (const auto& l : samples()) {
    INFO("codes " << l.codes.size() << " reason " << l.reason.size());
    const auto d = Listing::decode(l.encode());
    REQUIRE(d.has_value());
    CHECK(*d == l);
  }
}

TEST_CASE("ListingView reads the same fields as decode", "[listing]") {
  for (const auto& l : samples()) {
    const std::string v = l.encode();
    ListingView view;
    REQUIRE(view.parse(v));
    CHECK(view.flags() == l.flags);
    CHECK(view.exclusion() == l.exclusion());
    CHECK(view.expires() == l.expires);
    CHECK(view.source() == l.source);
    CHECK(view.reason() == l.reason);
    REQUIRE(view.code_count() == l.codes.size());
    for (std::size_t i = 0; i < l.codes.size(); ++i) CHECK(view.code(i) == l.codes[i]);
    // The view points into the value, it does not copy it.
    if (!l.reason.empty()) {
      CHECK(view.reason().data() >= v.data());
      CHECK(view.reason().data() + view.reason().size() == v.data() + v.size());
    }
  }
}

TEST_CASE("Listing and ListingView agree on activity, to the second", "[listing]") {
  struct Case {
    std::int64_t expires;
    std::int64_t now;
    bool active;
  };
  const std::vector<Case> cases = {
      {0, 0, true},        {0, INT64_MAX, true}, {1000, 999, true},
      {1000, 1000, false}, {1000, 1001, false},  {1000, -1, true},
  };
  for (const auto& c : cases) {
    INFO("expires " << c.expires << " now " << c.now);
    Listing l;
    l.expires = c.expires;
    CHECK(l.permanent() == (c.expires == 0));
    CHECK(l.active_at(c.now) == c.active);
    const auto v = l.encode();
    ListingView view;
    REQUIRE(view.parse(v));
    CHECK(view.active_at(c.now) == c.active);
  }
}

TEST_CASE("truncated values and other versions are rejected", "[listing]") {
  for (const auto& l : samples()) {
    const std::string v = l.encode();
    for (std::size_t n = 0; n < v.size(); ++n) {
      const std::string_view cut(v.data(), n);
      ListingView view;
      if (view.parse(cut) || Listing::decode(cut)) {
        FAIL_CHECK("a value cut to " << n << " of " << v.size() << " bytes was accepted");
      }
    }
    for (const int version : {0, 2, 255}) {
      std::string other = v;
      other[0] = static_cast<char>(version);
      ListingView view;
      CHECK_FALSE(view.parse(other));
      CHECK_FALSE(Listing::decode(other).has_value());
    }
  }
}

TEST_CASE("encode caps what the layout cannot hold", "[listing]") {
  Listing l;
  for (std::uint32_t i = 0; i < 300; ++i) l.codes.push_back(0x7f000000 | (i & 0xff));
  l.reason = std::string(70000, 'x');
  const auto d = Listing::decode(l.encode());
  REQUIRE(d.has_value());
  CHECK(d->codes.size() == 255);
  CHECK(d->reason.size() == 0xffff);
}

TEST_CASE("sources and codes parse and format", "[listing]") {
  for (const auto s : {Source::trap, Source::report, Source::manual, Source::import}) {
    CHECK(parse_source(to_string(s)) == s);
  }
  CHECK_FALSE(parse_source("Trap").has_value());
  CHECK_FALSE(parse_source("").has_value());

  struct Case {
    const char* text;
    bool ok;
    std::uint32_t code;
  };
  const std::vector<Case> cases = {
      {"127.0.0.2", true, 0x7f000002},
      {"127.0.0.10", true, 0x7f00000a},
      {"127.255.255.254", true, 0x7ffffffe},
      {"128.0.0.2", false, 0},
      {"10.0.0.2", false, 0},
      {"127.0.0", false, 0},
      {"", false, 0},
      {"listed", false, 0},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const auto code = parse_code(c.text);
    REQUIRE(code.has_value() == c.ok);
    if (c.ok) {
      CHECK(*code == c.code);
      CHECK(code_to_string(*code) == c.text);
    }
  }
}

}  // namespace rblzone::core
