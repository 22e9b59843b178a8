// Tests for core/subject: strict parsing and canonical formatting of
// addresses, prefixes and domains; containment; special-purpose space.
#include "core/subject.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace rblzone::core {
namespace {

IpPrefix ip(const char* text) {
  const auto p = IpPrefix::parse(text);
  REQUIRE(p.has_value());
  return *p;
}

IpPrefix::Bytes bytes_of(const char* text) {
  return ip(text).bytes();
}

}  // namespace

TEST_CASE("IpPrefix::parse accepts addresses and prefixes and formats them canonically",
          "[subject]") {
  struct Case {
    const char* text;
    const char* canonical;
    int length;  // stored length (IPv4 lives at 96 + v4 length)
    bool v4;
    int family_length;  // the length the user wrote (or implied)
  };
  const std::vector<Case> cases = {
      {"192.0.2.1", "192.0.2.1", 128, true, 32},
      {"192.0.2.1/32", "192.0.2.1", 128, true, 32},
      {"192.0.2.0/24", "192.0.2.0/24", 120, true, 24},
      {"10.0.0.0/8", "10.0.0.0/8", 104, true, 8},
      {"0.0.0.0/0", "0.0.0.0/0", 96, true, 0},
      {"255.255.255.255", "255.255.255.255", 128, true, 32},
      {"2001:db8::1", "2001:db8::1", 128, false, 128},
      {"2001:DB8::1", "2001:db8::1", 128, false, 128},
      {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1", 128, false, 128},
      {"2001:db8::/32", "2001:db8::/32", 32, false, 32},
      {"2001:db8::/128", "2001:db8::", 128, false, 128},
      {"::/0", "::/0", 0, false, 0},
      {"::1", "::1", 128, false, 128},
      {"fe80::/10", "fe80::/10", 10, false, 10},
      // v4-mapped IPv6 is canonicalised to IPv4
      {"::ffff:192.0.2.1", "192.0.2.1", 128, true, 32},
      {"::FFFF:c000:0201", "192.0.2.1", 128, true, 32},
      {"::ffff:192.0.2.0/120", "192.0.2.0/24", 120, true, 24},
      {"::ffff:0.0.0.0/96", "0.0.0.0/0", 96, true, 0},
  };
  for (const auto& c : cases) {
    INFO("input " << c.text);
    std::string error;
    const auto p = IpPrefix::parse(c.text, &error);
    REQUIRE(p.has_value());
    CHECK(error.empty());
    CHECK(p->to_string() == c.canonical);
    CHECK(int{p->length()} == c.length);
    CHECK(p->is_v4() == c.v4);
    CHECK(int{p->family_length()} == c.family_length);
    CHECK(p->is_host() == (c.length == 128));
    // The canonical form parses back to the same prefix.
    const auto again = IpPrefix::parse(p->to_string());
    REQUIRE(again.has_value());
    CHECK(*again == *p);
  }
}

TEST_CASE("IpPrefix::parse rejects bad input with a message", "[subject]") {
  struct Case {
    const char* text;
    const char* message_part;
  };
  const std::vector<Case> cases = {
      {"", "not an IP address"},
      {"192.0.2.0/33", "0..32"},
      {"2001:db8::/129", "0..128"},
      {"192.0.2.1/24", "host bits set"},
      {"2001:db8::1/32", "host bits set"},
      {"10.1.0.0/8", "host bits set"},
      {"garbage", "not an IPv4 address"},
      {"192.0.2", "not an IPv4 address"},
      {"192.0.2.256", "not an IPv4 address"},
      {"192.0.2.1.5", "not an IPv4 address"},
      {"2001:db8:::1", "not an IPv6 address"},
      {"2001:db8::g", "not an IPv6 address"},
      {"192.0.2.0/", "bad prefix length"},
      {"192.0.2.0/x", "bad prefix length"},
      {"192.0.2.0/24x", "bad prefix length"},
      {"192.0.2.0/1000", "bad prefix length"},
      {"192.0.2.0/-1", "0..32"},
      {"/24", "not an IP address"},
      {" 192.0.2.1", "not an IPv4 address"},
  };
  for (const auto& c : cases) {
    INFO("input '" << c.text << "'");
    std::string error;
    CHECK_FALSE(IpPrefix::parse(c.text, &error).has_value());
    CHECK_THAT(error, Catch::Contains(c.message_part));
  }
  // No error sink is fine too.
  CHECK_FALSE(IpPrefix::parse("nope").has_value());
}

TEST_CASE("IpPrefix keeps host bits zero and builds IPv4 in the mapped range", "[subject]") {
  const IpPrefix masked(bytes_of("192.0.2.77"), 120);
  CHECK(masked.to_string() == "192.0.2.0/24");
  CHECK(masked == ip("192.0.2.0/24"));

  const IpPrefix v4 = IpPrefix::v4(0xc0000201, 32);
  CHECK(v4 == ip("192.0.2.1"));
  CHECK(v4.v4_addr() == 0xc0000201u);
  CHECK(IpPrefix::v4(0xc00002ff, 24) == ip("192.0.2.0/24"));
  CHECK(IpPrefix::v4(0, 0) == ip("0.0.0.0/0"));
}

TEST_CASE("IpPrefix::contains", "[subject]") {
  struct Case {
    const char* outer;
    const char* inner;
    bool contains;
  };
  const std::vector<Case> cases = {
      {"10.0.0.0/8", "10.1.2.3", true},
      {"10.0.0.0/8", "10.1.0.0/16", true},
      {"10.0.0.0/8", "10.0.0.0/8", true},
      {"10.1.0.0/16", "10.0.0.0/8", false},  // shorter is never inside longer
      {"10.0.0.0/8", "11.0.0.0", false},
      {"192.0.2.0/24", "192.0.2.255", true},
      {"192.0.2.0/24", "192.0.3.0", false},
      {"0.0.0.0/0", "203.0.113.9", true},
      {"0.0.0.0/0", "2001:db8::1", false},  // IPv4 /0 is only the mapped range
      {"::/0", "2001:db8::1", true},
      {"::/0", "192.0.2.1", true},  // every IPv4 is inside ::ffff:0:0/96
      {"2001:db8::/32", "2001:db8:ffff::1", true},
      {"2001:db8::/32", "2001:db9::1", false},
      {"192.0.2.1", "192.0.2.1", true},
      {"192.0.2.1", "192.0.2.2", false},
  };
  for (const auto& c : cases) {
    INFO(c.outer << " contains " << c.inner);
    CHECK(ip(c.outer).contains(ip(c.inner)) == c.contains);
    if (ip(c.inner).is_host()) CHECK(ip(c.outer).contains(ip(c.inner).bytes()) == c.contains);
  }
}

TEST_CASE("common_prefix_bits", "[subject]") {
  struct Case {
    const char* a;
    const char* b;
    int bits;
  };
  const std::vector<Case> cases = {
      {"192.0.2.1", "192.0.2.1", 128},
      {"192.0.2.0", "192.0.2.1", 127},
      {"192.0.2.0", "192.0.2.128", 120},
      {"192.0.2.5", "192.0.2.3", 125},  // 101 vs 011
      {"10.0.0.0", "11.0.0.0", 103},
      {"0.0.0.0", "128.0.0.0", 96},
      {"::", "8000::", 0},
      {"::", "::1", 127},
      {"2001:db8::", "2001:db9::", 31},
      {"::", "192.0.2.1", 80},  // the mapped range starts with 80 zero bits
  };
  for (const auto& c : cases) {
    INFO(c.a << " vs " << c.b);
    CHECK(common_prefix_bits(bytes_of(c.a), bytes_of(c.b)) == c.bits);
    CHECK(common_prefix_bits(bytes_of(c.b), bytes_of(c.a)) == c.bits);
  }
}

TEST_CASE("DomainName::parse accepts names and subtree forms", "[subject]") {
  struct Case {
    const char* text;
    const char* name;
    bool subtree;
    const char* canonical;
  };
  const std::vector<Case> cases = {
      {"spammer.example", "spammer.example", false, "spammer.example"},
      {"spammer.example.", "spammer.example", false, "spammer.example"},
      {"SPAMMER.Example", "spammer.example", false, "spammer.example"},
      {"*.spammer.example", "spammer.example", true, "*.spammer.example"},
      {".spammer.example", "spammer.example", true, "*.spammer.example"},
      {"*.Spammer.Example.", "spammer.example", true, "*.spammer.example"},
      {"xn--bcher-kva.example", "xn--bcher-kva.example", false, "xn--bcher-kva.example"},
      {"_dmarc.example", "_dmarc.example", false, "_dmarc.example"},
      {"a-b.c9.example", "a-b.c9.example", false, "a-b.c9.example"},
      {"localhost", "localhost", false, "localhost"},
  };
  for (const auto& c : cases) {
    INFO("input " << c.text);
    std::string error;
    const auto d = DomainName::parse(c.text, &error);
    REQUIRE(d.has_value());
    CHECK(d->name == c.name);
    CHECK(d->subtree == c.subtree);
    CHECK(d->to_string() == c.canonical);
    CHECK(DomainName::parse(d->to_string()) == d);
  }
}

TEST_CASE("DomainName::parse enforces label and name lengths", "[subject]") {
  const std::string l63(63, 'a');
  const std::string l64(64, 'a');
  CHECK(DomainName::parse(l63 + ".example").has_value());
  std::string error;
  CHECK_FALSE(DomainName::parse(l64 + ".example", &error).has_value());
  CHECK_THAT(error, Catch::Contains("63"));

  // 253 characters is the longest name; with a trailing dot it is 254.
  const std::string n253 = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b');
  REQUIRE(n253.size() == 253);
  CHECK(DomainName::parse(n253).has_value());
  CHECK(DomainName::parse(n253 + ".").has_value());
  CHECK(DomainName::parse("*." + n253).has_value());
  const std::string n254 = l63 + "." + l63 + "." + l63 + "." + std::string(62, 'b');
  REQUIRE(n254.size() == 254);
  error.clear();
  CHECK_FALSE(DomainName::parse(n254, &error).has_value());
  CHECK_THAT(error, Catch::Contains("253"));
}

TEST_CASE("DomainName::parse rejects bad names", "[subject]") {
  struct Case {
    const char* text;
    const char* message_part;
  };
  const std::vector<Case> cases = {
      {"", "1..253"},
      {".", "1..253"},
      {"*.", "1..253"},
      {"a..b", "empty label"},
      {"..example", "empty label"},
      {"example..", "empty label"},
      {"spam mer.example", "invalid character"},
      {"spammer.example/24", "invalid character"},
      {"*spammer.example", "invalid character"},
      {"a.*.example", "invalid character"},
      {"caf\xc3\xa9.example", "invalid character"},
      {"spammer!.example", "invalid character"},
  };
  for (const auto& c : cases) {
    INFO("input '" << c.text << "'");
    std::string error;
    CHECK_FALSE(DomainName::parse(c.text, &error).has_value());
    CHECK_THAT(error, Catch::Contains(c.message_part));
  }
}

TEST_CASE("parse_subject tells addresses from domains", "[subject]") {
  struct Case {
    const char* text;
    bool ok;
    SubjectKind kind;
    const char* canonical;
  };
  const std::vector<Case> cases = {
      {"192.0.2.1", true, SubjectKind::ip, "192.0.2.1"},
      {"192.0.2.0/24", true, SubjectKind::ip, "192.0.2.0/24"},
      {"2001:db8::/32", true, SubjectKind::ip, "2001:db8::/32"},
      {"::ffff:192.0.2.1", true, SubjectKind::ip, "192.0.2.1"},
      {"spammer.example", true, SubjectKind::domain, "spammer.example"},
      {"*.Spammer.Example", true, SubjectKind::domain, "*.spammer.example"},
      {"192.0.2", false, SubjectKind::ip, ""},    // IP-looking: never a domain
      {"1.2.3.4.5", false, SubjectKind::ip, ""},  // likewise
      {"192.0.2.1/24", false, SubjectKind::ip, ""},
      {"example/24", false, SubjectKind::ip, ""},
      {"", false, SubjectKind::ip, ""},
  };
  for (const auto& c : cases) {
    INFO("input '" << c.text << "'");
    std::string error;
    const auto s = parse_subject(c.text, &error);
    REQUIRE(s.has_value() == c.ok);
    if (!c.ok) {
      CHECK_FALSE(error.empty());
      continue;
    }
    CHECK(kind_of(*s) == c.kind);
    CHECK(to_string(*s) == c.canonical);
  }
}

TEST_CASE("is_special_purpose", "[subject]") {
  struct Case {
    const char* text;
    bool special;
  };
  const std::vector<Case> cases = {
      {"10.0.0.0/8", true},   {"10.1.2.3", true},
      {"172.16.5.4", true},   {"172.32.0.1", false},
      {"192.168.1.1", true},  {"127.0.0.2", true},
      {"169.254.1.1", true},  {"100.64.0.1", true},
      {"224.0.0.1", true},    {"255.255.255.255", true},
      {"0.1.2.3", true},      {"0.0.0.0/0", true},  // overlaps every range
      {"8.0.0.0/6", true},                          // contains 10.0.0.0/8
      {"8.8.8.8", false},     {"1.1.1.1", false},
      {"192.0.2.1", false},   {"203.0.113.0/24", false},
      {"11.0.0.0/8", false},  {"fe80::1", true},
      {"fc00::1", true},      {"fd12:3456::1", true},
      {"::1", true},          {"::/0", true},
      {"2001:db8::1", false}, {"2a00:1450::/32", false},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(is_special_purpose(ip(c.text)) == c.special);
  }
}

TEST_CASE("no public IPv4 address is special because ::/8 holds the mapped range", "[subject]") {
  // Every /8 of IPv4 outside the special ranges, probed at its first, middle and last address.
  const std::vector<std::uint32_t> special_firsts = {
      0, 10, 127, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239};
  for (std::uint32_t a = 1; a < 224; ++a) {
    if (a == 10 || a == 127) continue;
    for (const std::uint32_t low : {0x000001u, 0x808080u, 0xfffffeu}) {
      const std::uint32_t addr = a << 24 | low;
      const auto p = IpPrefix::v4(addr, 32);
      const bool in_known_range = (addr >> 22) == (100u << 2 | 1u)        // 100.64/10
                                  || (addr >> 16) == (169u << 8 | 254u)   // 169.254/16
                                  || (addr >> 20) == (172u << 4 | 1u)     // 172.16/12
                                  || (addr >> 16) == (192u << 8 | 168u);  // 192.168/16
      INFO(p.to_string());
      CHECK(is_special_purpose(p) == in_known_range);
    }
  }
  for (const auto a : special_firsts) CHECK(is_special_purpose(IpPrefix::v4(a << 24 | 5, 32)));
}

}  // namespace rblzone::core
