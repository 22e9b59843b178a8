// Tests for core/store (and the LMDB layer under it): key order, longest-
// prefix and suffix match, history/journal/serial on every change, expiry,
// reopening, error messages, and durability across processes and SIGKILL.
#include "core/store.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "core/schema.hpp"
#include "tests/unit/temp_dir.hpp"

namespace rblzone::core {
namespace {

namespace fs = std::filesystem;

// The typed-transaction rules (STYLE 3), checked by the compiler.
static_assert(!std::is_copy_constructible_v<ReadTxn> && !std::is_copy_assignable_v<ReadTxn>);
static_assert(!std::is_copy_constructible_v<WriteTxn> && !std::is_copy_assignable_v<WriteTxn>);
static_assert(std::is_move_constructible_v<ReadTxn> && std::is_move_constructible_v<WriteTxn>);
static_assert(std::is_base_of_v<ReadTxn, WriteTxn> && std::has_virtual_destructor_v<ReadTxn>);
static_assert(!std::is_copy_constructible_v<Cursor>);

using TempDir = rblzone::testing::TempDir;

Subject subject(const char* text) {
  const auto s = parse_subject(text);
  if (!s) throw std::invalid_argument(std::string("bad subject in test: ") + text);
  return *s;
}

IpPrefix::Bytes addr(const char* text) {
  const auto p = IpPrefix::parse(text);
  if (!p) throw std::invalid_argument(std::string("bad address in test: ") + text);
  return p->bytes();
}

Listing listed(std::uint32_t code, std::int64_t expires = 0, std::string reason = "test") {
  Listing l;
  l.codes = {code};
  l.expires = expires;
  l.reason = std::move(reason);
  return l;
}

Listing exclusion() {
  Listing l;
  l.flags = kFlagExclusion;
  l.reason = "excluded";
  return l;
}

std::size_t count_listings(Store& store, const ReadTxn& txn, const ZoneRef& z) {
  std::size_t n = 0;
  store.for_each(txn, z, [&](const Subject&, const Listing&) {
    ++n;
    return true;
  });
  return n;
}

struct Fixture {
  TempDir dir;
  std::int64_t now = 1000;
  Store store{dir.path() / "data", [this] { return now; }};
  ZoneRef z1, z2, z3;

  Fixture() {
    store.env().write([&](WriteTxn& txn) {
      z1 = store.ensure_zone(txn, "one.test");
      z2 = store.ensure_zone(txn, "two.test");
      z3 = store.ensure_zone(txn, "three.test");
    });
  }

  void put(const ZoneRef& z, const char* text, const Listing& l,
           const Change& why = {"test", "list", "because"}) {
    store.env().write([&](WriteTxn& txn) { store.put(txn, z, subject(text), l, why); });
  }
  std::optional<Listing> remove(const ZoneRef& z, const char* text,
                                const Change& why = {"test", "delist", "because"}) {
    std::optional<Listing> out;
    store.env().write([&](WriteTxn& txn) { out = store.remove(txn, z, subject(text), why); });
    return out;
  }

  // "PREFIX CODE" of the longest active match, or "none".
  std::string match(const ZoneRef& z, const char* address, std::int64_t at) {
    auto txn = store.env().begin_read();
    Cursor c(txn, txn.dbs().ip);
    const auto m = match_ip(c, z.id, addr(address), at);
    if (!m) return "none";
    std::string out = m->prefix.to_string();
    for (std::size_t i = 0; i < m->listing.code_count(); ++i) {
      out += " " + code_to_string(m->listing.code(i));
    }
    return out;
  }
  std::string match(const ZoneRef& z, const char* address) { return match(z, address, now); }

  bool range_exists(const ZoneRef& z, const char* range) {
    auto txn = store.env().begin_read();
    Cursor c(txn, txn.dbs().ip);
    return ip_range_exists(c, z.id, *IpPrefix::parse(range));
  }

  // "LABELS CODE" of the longest listed suffix, or "none".
  std::string match_name(const ZoneRef& z, const char* name, std::int64_t at) {
    auto txn = store.env().begin_read();
    Cursor c(txn, txn.dbs().domain);
    const auto m = match_domain(c, domain_key(z.id, name), at);
    if (!m) return "none";
    std::string out = std::to_string(m->matched_labels);
    for (std::size_t i = 0; i < m->listing.code_count(); ++i) {
      out += " " + code_to_string(m->listing.code(i));
    }
    return out;
  }
  std::string match_name(const ZoneRef& z, const char* name) { return match_name(z, name, now); }

  bool subtree_exists(const ZoneRef& z, const char* name) {
    auto txn = store.env().begin_read();
    Cursor c(txn, txn.dbs().domain);
    return domain_subtree_exists(c, domain_key(z.id, name));
  }

  std::uint32_t serial(const ZoneRef& z) {
    auto txn = store.env().begin_read();
    return store.serial(txn, z);
  }
  std::vector<HistoryEvent> history(const ZoneRef& z, const char* text) {
    auto txn = store.env().begin_read();
    return store.history(txn, z, subject(text));
  }
  std::vector<JournalEntry> journal_since(const ZoneRef& z, std::uint32_t s) {
    auto txn = store.env().begin_read();
    return store.journal_since(txn, z, s);
  }
  std::optional<Listing> get(const ZoneRef& z, const char* text) {
    auto txn = store.env().begin_read();
    return store.get(txn, z, subject(text));
  }
  std::size_t count(const ZoneRef& z) {
    auto txn = store.env().begin_read();
    return count_listings(store, txn, z);
  }
};

constexpr std::uint32_t c2 = 0x7f000002, c3 = 0x7f000003, c4 = 0x7f000004, c5 = 0x7f000005;

// Runs `body` in a child process; its return value is the exit status.
pid_t spawn(const std::function<int()>& body) {
  const pid_t pid = fork();
  if (pid == 0) {
    int rc = 100;
    try {
      rc = body();
    } catch (...) {
      rc = 101;
    }
    _exit(rc);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status)
                           : 1000 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

bool write_u32(int fd, std::uint32_t v) {
  return ::write(fd, &v, sizeof v) == static_cast<ssize_t>(sizeof v);
}
bool read_u32(int fd, std::uint32_t& v) {
  std::size_t got = 0;
  auto* p = reinterpret_cast<char*>(&v);  // NOLINT
  while (got < sizeof v) {
    const ssize_t n = ::read(fd, p + got, sizeof v - got);
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

// Writes `count` /32 listings 10.<tag>.x.y in one transaction.
void put_batch(Store& store, std::uint32_t tag, std::uint32_t first, std::uint32_t count) {
  store.env().write([&](WriteTxn& txn) {
    const auto z = store.ensure_zone(txn, "one.test");
    for (std::uint32_t i = first; i < first + count; ++i) {
      store.put(txn, z, IpPrefix::v4(10u << 24 | tag << 16 | i, 32), listed(c2),
                {"child", "list", "batch"});
    }
  });
}

}  // namespace

// --- keys ----------------------------------------------------------------------

TEST_CASE("ip_key layout is zone, address, length", "[store]") {
  const std::string k = ip_key(0x0102, *IpPrefix::parse("192.0.2.0/24"));
  REQUIRE(k.size() == kIpKeySize);
  const std::string expected = std::string("\x01\x02", 2) +
                               std::string("\0\0\0\0\0\0\0\0\0\0\xff\xff\xc0\x00\x02\x00", 16) +
                               std::string(1, static_cast<char>(120));
  CHECK(k == expected);
  char raw[kIpKeySize];
  make_ip_key(raw, 0x0102, IpPrefix::parse("192.0.2.0/24")->bytes(), 120);
  CHECK(std::string(raw, kIpKeySize) == k);
}

TEST_CASE("ip_key order is address then length; an enclosing prefix sorts first", "[store]") {
  const std::vector<const char*> texts = {
      "::/0",           "::1",          "2001:db8::/32",   "2001:db8::/48",
      "2001:db8::",     "2001:db8::1",  "2001:db8:1::/48", "2001:db9::/32",
      "fe80::/10",      "0.0.0.0/0",    "0.0.0.0/8",       "10.0.0.0/8",
      "10.0.0.0/16",    "10.0.0.0",     "10.0.0.1",        "10.1.0.0/16",
      "10.1.2.0/24",    "10.1.2.3",     "10.1.2.4",        "10.255.255.255",
      "11.0.0.0/8",     "192.0.2.0/24", "192.0.2.0/25",    "192.0.2.128/25",
      "255.255.255.255"};
  std::vector<IpPrefix> prefixes;
  for (const auto* t : texts) prefixes.push_back(*IpPrefix::parse(t));

  // Byte order of the keys == (address, length) order.
  auto by_value = prefixes;
  std::sort(by_value.begin(), by_value.end(), [](const IpPrefix& a, const IpPrefix& b) {
    return a.bytes() != b.bytes() ? a.bytes() < b.bytes() : a.length() < b.length();
  });
  auto by_key = prefixes;
  std::sort(by_key.begin(), by_key.end(),
            [](const IpPrefix& a, const IpPrefix& b) { return ip_key(7, a) < ip_key(7, b); });
  CHECK(by_key == by_value);

  for (const auto& a : prefixes) {
    for (const auto& b : prefixes) {
      if (a == b || !a.contains(b)) continue;
      INFO(a.to_string() << " encloses " << b.to_string());
      CHECK(ip_key(7, a) < ip_key(7, b));
    }
    // Zone first: every key of zone 1 before every key of zone 2.
    for (const auto& b : prefixes) CHECK(ip_key(1, a) < ip_key(2, b));
  }
}

TEST_CASE("domain_key reverses labels so a subtree is a key prefix", "[store]") {
  using namespace std::string_literals;
  const std::string expected =
      "\x01\x02"
      "example\0spammer\0host\0"s;
  CHECK(domain_key(0x0102, "host.spammer.example") == expected);
  CHECK(domain_key(1, "Host.SPAMMER.example") == domain_key(1, "host.spammer.example"));
  CHECK(domain_key(1, "example") == std::string("\0\x01"
                                                "example\0",
                                                10));

  const std::string parent = domain_key(1, "spammer.example");
  struct Case {
    const char* name;
    bool inside;
  };
  const std::vector<Case> cases = {
      {"spammer.example", true},       {"www.spammer.example", true},
      {"a.b.c.spammer.example", true}, {"xspammer.example", false},
      {"spammer.examplex", false},     {"spammerx.example", false},
      {"spam.example", false},         {"example", false},
      {"spammer.example.org", false},  {"www.spammer.other", false},
  };
  std::set<std::string> keys;
  for (const auto& c : cases) {
    INFO(c.name);
    const std::string k = domain_key(1, c.name);
    CHECK((k.substr(0, parent.size()) == parent) == c.inside);
    CHECK((domain_key(2, c.name).substr(0, parent.size()) == parent) == false);
    keys.insert(k);
  }
  // The subtree is one contiguous run of keys.
  bool seen = false, ended = false;
  for (const auto& k : keys) {
    const bool inside = k.substr(0, parent.size()) == parent;
    if (inside) {
      CHECK_FALSE(ended);
      seen = true;
    } else if (seen) {
      ended = true;
    }
  }
  CHECK(seen);
}

TEST_CASE("listing_key picks the layout by subject kind", "[store]") {
  CHECK(listing_key(3, subject("192.0.2.1")) == ip_key(3, *IpPrefix::parse("192.0.2.1")));
  CHECK(listing_key(3, subject("*.spammer.example")) == domain_key(3, "spammer.example"));
  CHECK(listing_key(3, subject("spammer.example")) == domain_key(3, "spammer.example"));
}

// --- longest-prefix match ----------------------------------------------------

TEST_CASE_METHOD(Fixture, "match_ip finds the longest of nested prefixes", "[store]") {
  put(z1, "10.0.0.0/8", listed(c2));
  put(z1, "10.1.0.0/16", listed(c3));
  put(z1, "10.1.2.0/24", listed(c4));
  put(z1, "10.1.2.3", listed(c5));
  struct Case {
    const char* query;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"10.1.2.3", "10.1.2.3 127.0.0.5"},
      {"10.1.2.2", "10.1.2.0/24 127.0.0.4"},
      {"10.1.2.4", "10.1.2.0/24 127.0.0.4"},
      {"10.1.2.0", "10.1.2.0/24 127.0.0.4"},
      {"10.1.2.255", "10.1.2.0/24 127.0.0.4"},
      {"10.1.1.255", "10.1.0.0/16 127.0.0.3"},
      {"10.1.3.0", "10.1.0.0/16 127.0.0.3"},
      {"10.1.0.0", "10.1.0.0/16 127.0.0.3"},
      {"10.1.255.255", "10.1.0.0/16 127.0.0.3"},
      {"10.0.255.255", "10.0.0.0/8 127.0.0.2"},
      {"10.2.0.0", "10.0.0.0/8 127.0.0.2"},
      {"10.0.0.0", "10.0.0.0/8 127.0.0.2"},
      {"10.255.255.255", "10.0.0.0/8 127.0.0.2"},
      {"9.255.255.255", "none"},
      {"11.0.0.0", "none"},
      {"0.0.0.0", "none"},
      {"255.255.255.255", "none"},
      {"::ffff:10.1.2.3", "10.1.2.3 127.0.0.5"},  // the v4-mapped form is the same address
      {"::ffff:10.9.9.9", "10.0.0.0/8 127.0.0.2"},
      {"::a01:203", "none"},  // v4-compatible is not IPv4
      {"2001:db8::1", "none"},
  };
  for (const auto& c : cases) {
    INFO(c.query);
    CHECK(match(z1, c.query) == c.expected);
  }
}

TEST_CASE_METHOD(Fixture, "match_ip with /0, host and /128 listings", "[store]") {
  put(z1, "0.0.0.0/0", listed(c2));
  put(z1, "198.51.100.7", listed(c3));
  put(z2, "::/0", listed(c4));
  put(z2, "2001:db8::1/128", listed(c5));
  put(z3, "2001:db8::1", listed(c5));
  struct Case {
    const ZoneRef* zone;
    const char* query;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {&z1, "8.8.8.8", "0.0.0.0/0 127.0.0.2"},
      {&z1, "0.0.0.0", "0.0.0.0/0 127.0.0.2"},
      {&z1, "255.255.255.255", "0.0.0.0/0 127.0.0.2"},
      {&z1, "198.51.100.7", "198.51.100.7 127.0.0.3"},
      {&z1, "198.51.100.6", "0.0.0.0/0 127.0.0.2"},
      {&z1, "198.51.100.8", "0.0.0.0/0 127.0.0.2"},
      {&z1, "2001:db8::1", "none"},  // IPv4 /0 is IPv4 only
      {&z1, "::", "none"},
      {&z2, "2001:db8::1", "2001:db8::1 127.0.0.5"},
      {&z2, "2001:db8::", "::/0 127.0.0.4"},
      {&z2, "2001:db8::2", "::/0 127.0.0.4"},
      {&z2, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0 127.0.0.4"},
      {&z2, "::", "::/0 127.0.0.4"},
      {&z3, "2001:db8::1", "2001:db8::1 127.0.0.5"},
      {&z3, "2001:db8::0", "none"},
      {&z3, "2001:db8::2", "none"},
      {&z3, "2001:db8::1:0", "none"},
  };
  for (const auto& c : cases) {
    INFO(c.zone->name << " " << c.query);
    CHECK(match(*c.zone, c.query) == c.expected);
  }
}

TEST_CASE_METHOD(Fixture, "match_ip walks back past many longer siblings", "[store]") {
  put(z1, "10.0.0.0/8", listed(c2));
  put(z1, "2001:db8::/32", listed(c2));
  store.env().write([&](WriteTxn& txn) {
    // Every /32 of 10.5.5.0/24 but .100, and 1000 /32s right below 10.7.3.233.
    for (std::uint32_t i = 0; i < 256; ++i) {
      if (i == 100) continue;
      store.put(txn, z1, IpPrefix::v4(0x0a050500 | i, 32), listed(c3), {"t", "list", ""});
    }
    for (std::uint32_t i = 0; i < 1000; ++i) {
      store.put(txn, z1, IpPrefix::v4(0x0a0703e9 - 1000 + i, 32), listed(c4), {"t", "list", ""});
    }
    // Sibling /64s and /128s inside the v6 /32.
    for (std::uint8_t i = 0; i < 200; ++i) {
      IpPrefix::Bytes b = addr("2001:db8:0:1::");
      b[7] = i;
      store.put(txn, z1, IpPrefix(b, 64), listed(c3), {"t", "list", ""});
      b[15] = 1;
      store.put(txn, z1, IpPrefix(b, 128), listed(c4), {"t", "list", ""});
    }
    // Listings in a longer prefix that is not a sibling line: /31s, /30s, /25.
    store.put(txn, z1, *IpPrefix::parse("10.6.0.0/31"), listed(c5), {"t", "list", ""});
    store.put(txn, z1, *IpPrefix::parse("10.6.0.4/30"), listed(c5), {"t", "list", ""});
    store.put(txn, z1, *IpPrefix::parse("10.6.0.128/25"), listed(c5), {"t", "list", ""});
  });
  struct Case {
    const char* query;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"10.5.5.100", "10.0.0.0/8 127.0.0.2"},
      {"10.5.5.99", "10.5.5.99 127.0.0.3"},
      {"10.5.5.101", "10.5.5.101 127.0.0.3"},
      {"10.5.6.0", "10.0.0.0/8 127.0.0.2"},
      {"10.5.4.255", "10.0.0.0/8 127.0.0.2"},
      {"10.7.3.233", "10.0.0.0/8 127.0.0.2"},  // just after the 1000 siblings
      {"10.7.3.232", "10.7.3.232 127.0.0.4"},
      {"10.7.0.0", "10.0.0.0/8 127.0.0.2"},
      {"10.7.255.255", "10.0.0.0/8 127.0.0.2"},
      {"10.6.0.1", "10.6.0.0/31 127.0.0.5"},
      {"10.6.0.2", "10.0.0.0/8 127.0.0.2"},
      {"10.6.0.3", "10.0.0.0/8 127.0.0.2"},
      {"10.6.0.7", "10.6.0.4/30 127.0.0.5"},
      {"10.6.0.127", "10.0.0.0/8 127.0.0.2"},
      {"10.6.0.200", "10.6.0.128/25 127.0.0.5"},
      {"2001:db8:0:1::1", "2001:db8:0:1::1 127.0.0.4"},
      {"2001:db8:0:1::2", "2001:db8:0:1::/64 127.0.0.3"},
      {"2001:db8:0:1:ffff::", "2001:db8:0:1::/64 127.0.0.3"},
      {"2001:db8:0:c8::1", "2001:db8::/32 127.0.0.2"},  // 0xc8 = 200: past the last sibling
      {"2001:db8:1::", "2001:db8::/32 127.0.0.2"},
      {"2001:db9::", "none"},
  };
  for (const auto& c : cases) {
    INFO(c.query);
    CHECK(match(z1, c.query) == c.expected);
  }
}

TEST_CASE_METHOD(Fixture, "exclusions stop a shorter match", "[store]") {
  put(z1, "192.0.2.0/24", listed(c2));
  put(z1, "192.0.2.5", exclusion());
  put(z1, "10.0.0.0/8", listed(c2));
  put(z1, "10.1.0.0/16", exclusion());
  put(z1, "10.1.2.0/24", listed(c3));
  put(z1, "10.1.2.128/25", exclusion());
  put(z1, "10.1.2.200", listed(c4));
  struct Case {
    const char* query;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"192.0.2.5", "none"},
      {"192.0.2.4", "192.0.2.0/24 127.0.0.2"},
      {"192.0.2.6", "192.0.2.0/24 127.0.0.2"},
      {"10.1.2.3", "10.1.2.0/24 127.0.0.3"},  // listed inside the excluded /16
      {"10.1.3.3", "none"},                   // excluded /16
      {"10.1.0.0", "none"},
      {"10.2.0.1", "10.0.0.0/8 127.0.0.2"},
      {"10.1.2.129", "none"},                  // excluded /25 inside a listed /24
      {"10.1.2.200", "10.1.2.200 127.0.0.4"},  // listed inside that exclusion
      {"10.1.2.127", "10.1.2.0/24 127.0.0.3"},
  };
  for (const auto& c : cases) {
    INFO(c.query);
    CHECK(match(z1, c.query) == c.expected);
  }
}

TEST_CASE_METHOD(Fixture, "zones are isolated", "[store]") {
  put(z1, "192.0.2.0/24", listed(c2));
  put(z2, "192.0.2.0/24", listed(c3));
  put(z1, "10.0.0.0/8", listed(c2));
  put(z2, "10.1.0.0/16", listed(c3));
  put(z3, "0.0.0.0/0", exclusion());  // zone 3: nothing listed
  struct Case {
    const ZoneRef* zone;
    const char* query;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {&z1, "192.0.2.1", "192.0.2.0/24 127.0.0.2"},
      {&z2, "192.0.2.1", "192.0.2.0/24 127.0.0.3"},
      {&z3, "192.0.2.1", "none"},
      {&z1, "10.1.0.1", "10.0.0.0/8 127.0.0.2"},
      {&z2, "10.1.0.1", "10.1.0.0/16 127.0.0.3"},
      {&z2, "10.2.0.1", "none"},  // zone 1's /8 must not leak
      {&z2, "10.0.0.1", "none"},
  };
  for (const auto& c : cases) {
    INFO(c.zone->name << " " << c.query);
    CHECK(match(*c.zone, c.query) == c.expected);
  }
  ZoneRef unknown{99, "unknown.test"};
  CHECK(match(unknown, "192.0.2.1") == "none");
  CHECK(count(z1) == 2);
  CHECK(count(z2) == 2);
  CHECK(count(z3) == 1);
}

TEST_CASE_METHOD(Fixture, "expiry is exact to the second and falls back to a shorter prefix",
                 "[store]") {
  put(z1, "192.0.2.0/24", listed(c2));
  put(z1, "192.0.2.1", listed(c3, 2000));
  put(z2, "198.51.100.1", listed(c3, 2000));
  struct Case {
    const ZoneRef* zone;
    const char* query;
    std::int64_t at;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {&z1, "192.0.2.1", 1000, "192.0.2.1 127.0.0.3"},
      {&z1, "192.0.2.1", 1999, "192.0.2.1 127.0.0.3"},
      {&z1, "192.0.2.1", 2000, "192.0.2.0/24 127.0.0.2"},
      {&z1, "192.0.2.1", 2001, "192.0.2.0/24 127.0.0.2"},
      {&z2, "198.51.100.1", 1999, "198.51.100.1 127.0.0.3"},
      {&z2, "198.51.100.1", 2000, "none"},
  };
  for (const auto& c : cases) {
    INFO(c.zone->name << " " << c.query << " at " << c.at);
    CHECK(match(*c.zone, c.query, c.at) == c.expected);
  }
}

TEST_CASE_METHOD(Fixture, "nesting is found whatever the order of writes and removes", "[store]") {
  // Innermost first, so every put must re-parent what is already inside it.
  put(z1, "10.1.2.3", listed(c5));
  put(z1, "10.1.2.0/24", listed(c4));
  put(z1, "10.1.0.0/16", listed(c3));
  put(z1, "10.0.0.0/8", listed(c2));
  put(z1, "10.1.2.128/25", listed(c5));  // between the /24 and nothing
  put(z1, "10.1.3.7", listed(c5));
  struct Step {
    const char* remove;  // nullptr: no change before the checks
    std::vector<std::pair<const char*, const char*>> checks;
  };
  const std::vector<Step> steps = {
      {nullptr,
       {{"10.1.2.3", "10.1.2.3 127.0.0.5"},
        {"10.1.2.4", "10.1.2.0/24 127.0.0.4"},
        {"10.1.2.200", "10.1.2.128/25 127.0.0.5"},
        {"10.1.3.8", "10.1.0.0/16 127.0.0.3"},
        {"10.2.0.0", "10.0.0.0/8 127.0.0.2"}}},
      {"10.1.2.0/24",
       {{"10.1.2.3", "10.1.2.3 127.0.0.5"},
        {"10.1.2.4", "10.1.0.0/16 127.0.0.3"},
        {"10.1.2.200", "10.1.2.128/25 127.0.0.5"},
        {"10.1.3.7", "10.1.3.7 127.0.0.5"}}},
      {"10.1.0.0/16",
       {{"10.1.2.4", "10.0.0.0/8 127.0.0.2"},
        {"10.1.2.200", "10.1.2.128/25 127.0.0.5"},
        {"10.1.2.3", "10.1.2.3 127.0.0.5"},
        {"10.1.3.8", "10.0.0.0/8 127.0.0.2"}}},
      {"10.0.0.0/8",
       {{"10.1.2.4", "none"},
        {"10.1.2.200", "10.1.2.128/25 127.0.0.5"},
        {"10.1.2.3", "10.1.2.3 127.0.0.5"},
        {"10.1.3.8", "none"}}},
  };
  for (const auto& step : steps) {
    if (step.remove) REQUIRE(remove(z1, step.remove).has_value());
    for (const auto& [query, expected] : step.checks) {
      INFO("after removing " << (step.remove ? step.remove : "nothing") << ": " << query);
      CHECK(match(z1, query) == expected);
    }
  }
  // And back, outermost last but one.
  put(z1, "10.1.0.0/16", listed(c3));
  put(z1, "0.0.0.0/0", listed(c2));
  CHECK(match(z1, "10.1.2.4") == "10.1.0.0/16 127.0.0.3");
  CHECK(match(z1, "10.2.0.0") == "0.0.0.0/0 127.0.0.2");
  CHECK(match(z1, "10.1.2.3") == "10.1.2.3 127.0.0.5");
  CHECK(match(z1, "2001:db8::") == "none");
}

// A brute-force model of one zone's IP listings: the spec of match_ip,
// ip_range_exists and the stored parent lengths, written the slow way.
struct IpModel {
  std::map<std::string, std::pair<IpPrefix, Listing>> entries;  // by ip_key

  // Every entry containing `a`, longest first.
  std::vector<const std::pair<IpPrefix, Listing>*> containing(const IpPrefix::Bytes& a) const {
    std::vector<const std::pair<IpPrefix, Listing>*> out;
    for (const auto& [k, e] : entries) {
      if (e.first.contains(a)) out.push_back(&e);
    }
    std::sort(out.begin(), out.end(),
              [](const auto* x, const auto* y) { return x->first.length() > y->first.length(); });
    return out;
  }
  // The entry that answers at `at`, from containing(); nullptr: not listed.
  static const std::pair<IpPrefix, Listing>* match(
      const std::vector<const std::pair<IpPrefix, Listing>*>& containing, std::int64_t at) {
    for (const auto* e : containing) {
      if (e->second.exclusion()) return nullptr;
      if (e->second.active_at(at)) return e;
    }
    return nullptr;
  }
  bool range_exists(const IpPrefix& r) const {
    for (const auto& [k, e] : entries) {
      if (r.contains(e.first) || e.first.contains(r)) return true;
    }
    return false;
  }
  int parent_of(const IpPrefix& p) const {
    int best = schema::kNoParent;
    for (const auto& [k, e] : entries) {
      if (e.first != p && e.first.contains(p) &&
          (best == schema::kNoParent || e.first.length() > best)) {
        best = e.first.length();
      }
    }
    return best;
  }
};

TEST_CASE("random puts and removes agree with a brute-force model", "[store]") {
  TempDir dir;
  Store store(dir.path() / "data", [] { return std::int64_t{1000}; });
  ZoneRef zones[2];
  store.env().write([&](WriteTxn& txn) {
    zones[0] = store.ensure_zone(txn, "a.test");
    zones[1] = store.ensure_zone(txn, "b.test");
  });
  IpModel models[2];
  std::mt19937 rng(20240611);
  auto next = [&rng] { return static_cast<std::uint32_t>(rng()); };
  // Prefixes in and around 10.0.0.0/23, nested in every way.
  const std::uint8_t lengths[] = {0, 8, 16, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 32, 32};
  auto random_prefix = [&] {
    const std::uint8_t len = lengths[next() % std::size(lengths)];
    return IpPrefix::v4(0x0a000000u | (next() % 512u), len);
  };
  std::vector<IpPrefix> probes_ranges;
  for (const auto len : lengths) {
    for (std::uint32_t x = 0; x < 512; x += 37)
      probes_ranges.push_back(IpPrefix::v4(0x0a000000u | x, len));
  }
  probes_ranges.push_back(*IpPrefix::parse("10.0.2.0/24"));
  probes_ranges.push_back(*IpPrefix::parse("11.0.0.0/8"));

  for (int round = 0; round < 30; ++round) {
    store.env().write([&](WriteTxn& txn) {
      for (int op = 0; op < 20; ++op) {
        const int zi = static_cast<int>(next() % 2);
        const IpPrefix p = random_prefix();
        auto& model = models[zi];
        const std::string k = ip_key(zones[zi].id, p);
        if (next() % 10 < 7) {
          Listing l = listed(0x7f000000u | (next() % 200u + 2u));
          const auto kind = next() % 10;
          if (kind < 2) {
            l = exclusion();
          } else if (kind < 5) {
            l.expires = 1001 + static_cast<std::int64_t>(next() % 2);
          }
          store.put(txn, zones[zi], p, l, {"rand", "list", ""});
          model.entries[k] = {p, l};
        } else {
          const bool had = model.entries.erase(k) > 0;
          CHECK(store.remove(txn, zones[zi], p, {"rand", "delist", ""}).has_value() == had);
        }
      }
    });

    auto txn = store.env().begin_read();
    for (int zi = 0; zi < 2; ++zi) {
      const auto& model = models[zi];
      const ZoneId id = zones[zi].id;
      Cursor c(txn, txn.dbs().ip);
      for (std::uint32_t x = 0; x < 520; ++x) {
        const auto a = IpPrefix::v4(0x0a000000u | x, 32).bytes();
        const auto containing = model.containing(a);
        for (const std::int64_t at : {1000, 1001, 1002}) {
          const auto m = match_ip(c, id, a, at);
          const auto* want = IpModel::match(containing, at);
          const bool same = m ? want && m->prefix == want->first &&
                                    m->listing.code_count() == want->second.codes.size() &&
                                    m->listing.code(0) == want->second.codes[0]
                              : want == nullptr;
          if (!same) {
            FAIL_CHECK("round " << round << " zone " << zi << " " << IpPrefix(a, 128).to_string()
                                << " at " << at << ": got " << (m ? m->prefix.to_string() : "none")
                                << ", want " << (want ? want->first.to_string() : "none"));
          }
        }
      }
      for (const auto& r : probes_ranges) {
        if (ip_range_exists(c, id, r) != model.range_exists(r)) {
          FAIL_CHECK("round " << round << " zone " << zi << " range " << r.to_string());
        }
      }
      // The stored parent byte of every entry is exact (schema.hpp).
      std::size_t stored = 0;
      const std::string zp = ip_key(id, IpPrefix()).substr(0, 2);
      for (bool ok = c.seek(zp); ok && c.key().substr(0, 2) == zp; ok = c.next()) {
        ++stored;
        IpPrefix::Bytes b{};
        std::memcpy(b.data(), c.key().data() + 2, 16);
        const IpPrefix p(b, static_cast<std::uint8_t>(c.key()[18]));
        REQUIRE(!c.value().empty());
        const int parent = static_cast<std::uint8_t>(c.value()[0]);
        if (parent != model.parent_of(p)) {
          FAIL_CHECK("round " << round << " zone " << zi << " " << p.to_string() << ": parent "
                              << parent << ", want " << model.parent_of(p));
        }
      }
      CHECK(stored == model.entries.size());
    }
  }
}

TEST_CASE_METHOD(Fixture, "an expired exclusion is absent like any expired listing", "[store]") {
  // Answers must not depend on whether the sweeper has run yet: after the
  // sweep the exclusion is gone and the /24 applies, so it must apply from
  // the second the exclusion expires.
  put(z1, "192.0.2.0/24", listed(c2));
  Listing ex = exclusion();
  ex.expires = 2000;
  put(z1, "192.0.2.5", ex);
  put(z1, "*.example", listed(c2));
  put(z1, "host.example", ex);
  CHECK(match(z1, "192.0.2.5", 1999) == "none");
  CHECK(match_name(z1, "host.example", 1999) == "none");
  CHECK(match(z1, "192.0.2.5", 2000) == "192.0.2.0/24 127.0.0.2");
  CHECK(match_name(z1, "host.example", 2000) == "1 127.0.0.2");
  store.env().write([&](WriteTxn& txn) { store.sweep_expired(txn, z1, 2000, 100); });
  CHECK(match(z1, "192.0.2.5", 2000) == "192.0.2.0/24 127.0.0.2");
  CHECK(match_name(z1, "host.example", 2000) == "1 127.0.0.2");
}

TEST_CASE_METHOD(Fixture, "ip_range_exists finds prefixes below and around", "[store]") {
  put(z1, "10.1.2.0/24", listed(c2));
  put(z1, "2001:db8:1::/48", exclusion());  // an exclusion also makes names exist
  struct Case {
    const ZoneRef* zone;
    const char* range;
    bool exists;
  };
  const std::vector<Case> cases = {
      {&z1, "10.1.0.0/16", true},  // something below
      {&z1, "10.0.0.0/8", true},       {&z1, "0.0.0.0/0", true},
      {&z1, "10.1.2.0/24", true},    // itself
      {&z1, "10.1.2.128/25", true},  // inside a listed prefix
      {&z1, "10.1.2.3", true},         {&z1, "10.1.3.0/24", false},
      {&z1, "10.1.1.0/24", false},     {&z1, "10.2.0.0/16", false},
      {&z1, "11.0.0.0/8", false},      {&z1, "9.0.0.0/8", false},
      {&z1, "2001:db8::/32", true},    {&z1, "2001:db8:1:2::/64", true},
      {&z1, "2001:db8:2::/48", false}, {&z2, "10.0.0.0/8", false},  // other zones see nothing
      {&z2, "0.0.0.0/0", false},       {&z2, "10.1.2.0/24", false},
  };
  for (const auto& c : cases) {
    INFO(c.zone->name << " " << c.range);
    CHECK(range_exists(*c.zone, c.range) == c.exists);
  }
}

// --- domains -----------------------------------------------------------------

TEST_CASE_METHOD(Fixture, "match_domain: exact vs subtree, longest suffix, exclusions", "[store]") {
  put(z1, "spammer.example", listed(c2));
  put(z1, "*.bad.example", listed(c3));
  put(z1, "*.evil.example", listed(c4));
  put(z1, "good.evil.example", exclusion());
  put(z1, "*.fine.evil.example", exclusion());
  put(z2, "*.example", listed(c5));
  put(z2, "*.bad.example", listed(c3));
  put(z2, "old.example", listed(c2, 2000));
  put(z2, "*.stale.example", listed(c4, 2000));
  struct Case {
    const ZoneRef* zone;
    const char* name;
    std::int64_t at;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {&z1, "spammer.example", 1000, "2 127.0.0.2"},
      {&z1, "SPAMMER.example", 1000, "2 127.0.0.2"},
      {&z1, "www.spammer.example", 1000, "none"},  // exact only
      {&z1, "example", 1000, "none"},
      {&z1, "bad.example", 1000, "2 127.0.0.3"},  // a subtree includes its apex
      {&z1, "www.bad.example", 1000, "2 127.0.0.3"},
      {&z1, "a.b.c.bad.example", 1000, "2 127.0.0.3"},
      {&z1, "notbad.example", 1000, "none"},
      {&z1, "bad.example.org", 1000, "none"},
      {&z1, "good.evil.example", 1000, "none"},           // excluded
      {&z1, "x.good.evil.example", 1000, "2 127.0.0.4"},  // the exclusion is exact only
      {&z1, "fine.evil.example", 1000, "none"},
      {&z1, "a.fine.evil.example", 1000, "none"},  // subtree exclusion
      {&z1, "other.evil.example", 1000, "2 127.0.0.4"},
      {&z2, "x.bad.example", 1000, "2 127.0.0.3"},  // longest suffix wins
      {&z2, "bad.example", 1000, "2 127.0.0.3"},
      {&z2, "x.other.example", 1000, "1 127.0.0.5"},
      {&z2, "example", 1000, "1 127.0.0.5"},
      {&z2, "spammer.example", 1000, "1 127.0.0.5"},
      {&z2, "old.example", 1999, "2 127.0.0.2"},
      {&z2, "old.example", 2000, "1 127.0.0.5"},  // expired: the parent subtree applies
      {&z2, "a.stale.example", 1999, "2 127.0.0.4"},
      {&z2, "a.stale.example", 2000, "1 127.0.0.5"},
      {&z3, "spammer.example", 1000, "none"},
      {&z3, "www.bad.example", 1000, "none"},
  };
  for (const auto& c : cases) {
    INFO(c.zone->name << " " << c.name << " at " << c.at);
    CHECK(match_name(*c.zone, c.name, c.at) == c.expected);
  }
}

TEST_CASE_METHOD(Fixture, "domain_subtree_exists", "[store]") {
  put(z1, "host.spammer.example", listed(c2));
  put(z1, "*.bad.example", exclusion());
  struct Case {
    const ZoneRef* zone;
    const char* name;
    bool exists;
  };
  const std::vector<Case> cases = {
      {&z1, "host.spammer.example", true},
      {&z1, "spammer.example", true},
      {&z1, "example", true},
      {&z1, "bad.example", true},
      {&z1, "www.host.spammer.example", false},
      {&z1, "spam.example", false},
      {&z1, "pammer.example", false},
      {&z1, "ost.spammer.example", false},
      {&z1, "example.org", false},
      {&z1, "x.bad.example", false},
      {&z2, "example", false},
      {&z2, "spammer.example", false},
  };
  for (const auto& c : cases) {
    INFO(c.zone->name << " " << c.name);
    CHECK(subtree_exists(*c.zone, c.name) == c.exists);
  }
}

// --- changes: history, journal, serial -----------------------------------------

TEST_CASE_METHOD(Fixture, "ensure_zone assigns ids once and a serial from the clock", "[store]") {
  CHECK(z1.id == 1);
  CHECK(z2.id == 2);
  CHECK(z3.id == 3);
  CHECK(serial(z1) == 1000);
  now = 5000;
  ZoneRef again, fresh;
  store.env().write([&](WriteTxn& txn) {
    again = store.ensure_zone(txn, "one.test");
    fresh = store.ensure_zone(txn, "four.test");
  });
  CHECK(again.id == z1.id);
  CHECK(fresh.id == 4);
  CHECK(serial(fresh) == 5000);
  CHECK(serial(z1) == 1000);
  auto txn = store.env().begin_read();
  CHECK(store.find_zone(txn, "four.test")->id == 4);
  CHECK_FALSE(store.find_zone(txn, "five.test").has_value());
}

TEST_CASE_METHOD(Fixture, "every put and remove records history, journal and a serial bump",
                 "[store]") {
  const std::uint32_t s0 = serial(z1);
  const std::uint32_t other0 = serial(z2);

  now = 1100;
  Listing first = listed(c2, 5000, "first");
  put(z1, "192.0.2.1", first, {"cli:alice", "list", "seen in trap"});
  CHECK(serial(z1) == s0 + 1);

  now = 1200;
  Listing second = listed(c3, 0, "second");
  std::optional<Listing> replaced;
  store.env().write([&](WriteTxn& txn) {
    replaced = store.put(txn, z1, subject("192.0.2.1"), second, {"cli:bob", "update", "worse"});
  });
  REQUIRE(replaced.has_value());
  CHECK(*replaced == first);
  CHECK(serial(z1) == s0 + 2);

  now = 1300;
  const auto removed = remove(z1, "192.0.2.1", {"cli:carol", "delist", "cleaned up"});
  REQUIRE(removed.has_value());
  CHECK(*removed == second);
  CHECK(serial(z1) == s0 + 3);
  CHECK_FALSE(get(z1, "192.0.2.1").has_value());

  // Removing what is not there changes nothing.
  now = 1400;
  CHECK_FALSE(remove(z1, "192.0.2.1").has_value());
  CHECK_FALSE(remove(z1, "192.0.2.2").has_value());
  CHECK(serial(z1) == s0 + 3);

  const auto h = history(z1, "192.0.2.1");
  REQUIRE(h.size() == 3);
  CHECK(h[0].time == 1100);
  CHECK(h[0].subject == "192.0.2.1");
  CHECK(h[0].actor == "cli:alice");
  CHECK(h[0].action == "list");
  CHECK(h[0].reason == "seen in trap");
  CHECK_FALSE(h[0].before.has_value());
  REQUIRE(h[0].after.has_value());
  CHECK(*h[0].after == first);

  CHECK(h[1].time == 1200);
  CHECK(h[1].actor == "cli:bob");
  CHECK(h[1].action == "update");
  REQUIRE(h[1].before.has_value());
  CHECK(*h[1].before == first);
  REQUIRE(h[1].after.has_value());
  CHECK(*h[1].after == second);

  CHECK(h[2].time == 1300);
  CHECK(h[2].actor == "cli:carol");
  CHECK(h[2].action == "delist");
  CHECK(h[2].reason == "cleaned up");
  REQUIRE(h[2].before.has_value());
  CHECK(*h[2].before == second);
  CHECK_FALSE(h[2].after.has_value());
  CHECK(h[0].seq < h[1].seq);
  CHECK(h[1].seq < h[2].seq);

  const auto j = journal_since(z1, s0);
  REQUIRE(j.size() == 3);
  CHECK(j[0].serial == s0 + 1);
  CHECK(j[0].time == 1100);
  CHECK_FALSE(j[0].removed);
  CHECK(j[0].subject == "192.0.2.1");
  REQUIRE(j[0].listing.has_value());
  CHECK(*j[0].listing == first);
  CHECK(j[1].serial == s0 + 2);
  REQUIRE(j[1].listing.has_value());
  CHECK(*j[1].listing == second);
  CHECK(j[2].serial == s0 + 3);
  CHECK(j[2].removed);
  CHECK_FALSE(j[2].listing.has_value());
  CHECK(journal_since(z1, s0 + 2).size() == 1);
  CHECK(journal_since(z1, s0 + 3).empty());

  // Another zone's serial, journal and history are untouched.
  CHECK(serial(z2) == other0);
  CHECK(journal_since(z2, 0).empty());
  CHECK(history(z2, "192.0.2.1").empty());
}

TEST_CASE_METHOD(Fixture, "a domain and its subtree form share one listing and one history",
                 "[store]") {
  const std::uint32_t s0 = serial(z1);
  put(z1, "*.Spammer.Example", listed(c2), {"a", "list", "r1"});
  put(z1, "spammer.example", listed(c3), {"a", "update", "r2"});  // same row, now exact only
  CHECK(serial(z1) == s0 + 2);
  const auto l = get(z1, "spammer.example");
  REQUIRE(l.has_value());
  CHECK((l->flags & kFlagSubtree) == 0);
  CHECK(l->codes == std::vector<std::uint32_t>{c3});
  CHECK(match_name(z1, "www.spammer.example") == "none");
  for (const char* s : {"*.spammer.example", "spammer.example", ".SPAMMER.example"}) {
    INFO(s);
    const auto h = history(z1, s);
    REQUIRE(h.size() == 2);
    CHECK(h[0].reason == "r1");
    REQUIRE(h[0].after.has_value());
    CHECK((h[0].after->flags & kFlagSubtree) != 0);
    CHECK(h[1].reason == "r2");
    REQUIRE(h[1].before.has_value());
    CHECK((h[1].before->flags & kFlagSubtree) != 0);
  }
  // Names that share a prefix of bytes do not share history.
  put(z1, "spammer.examplex", listed(c2));
  put(z1, "x.spammer.example", listed(c2));
  CHECK(history(z1, "spammer.example").size() == 2);
  CHECK(history(z1, "spammer.examplex").size() == 1);
  CHECK(history(z1, "x.spammer.example").size() == 1);
  // The journal keeps each change's subject as written.
  const auto j = journal_since(z1, s0);
  REQUIRE(j.size() == 4);
  CHECK(j[0].subject == "*.spammer.example");
  CHECK(j[1].subject == "spammer.example");
}

TEST_CASE_METHOD(Fixture, "IP history is per prefix", "[store]") {
  put(z1, "192.0.2.0/24", listed(c2));
  put(z1, "192.0.2.0/25", listed(c2));
  put(z1, "192.0.2.0", listed(c2));
  put(z1, "192.0.2.0", listed(c3));
  put(z2, "192.0.2.0/24", listed(c2));
  CHECK(history(z1, "192.0.2.0/24").size() == 1);
  CHECK(history(z1, "192.0.2.0/25").size() == 1);
  CHECK(history(z1, "192.0.2.0").size() == 2);
  CHECK(history(z1, "::ffff:192.0.2.0").size() == 2);
  CHECK(history(z2, "192.0.2.0/24").size() == 1);
  CHECK(history(z3, "192.0.2.0/24").empty());
}

TEST_CASE_METHOD(Fixture, "a write that throws persists nothing", "[store]") {
  const std::uint32_t s0 = serial(z1);
  CHECK_THROWS_AS(store.env().write([&](WriteTxn& txn) {
    store.put(txn, z1, subject("192.0.2.1"), listed(c2), {"t", "list", ""});
    throw std::runtime_error("abort");
  }),
                  std::runtime_error);
  CHECK_FALSE(get(z1, "192.0.2.1").has_value());
  CHECK(serial(z1) == s0);
  CHECK(history(z1, "192.0.2.1").empty());
  CHECK(journal_since(z1, 0).empty());
}

TEST_CASE_METHOD(Fixture, "for_each visits a zone's listings with their subjects", "[store]") {
  put(z1, "192.0.2.0/24", listed(c2));
  put(z1, "2001:db8::/32", listed(c3));
  put(z1, "*.spammer.example", listed(c4));
  put(z1, "host.example", exclusion());
  put(z2, "198.51.100.1", listed(c5));
  std::set<std::string> seen;
  auto txn = store.env().begin_read();
  store.for_each(txn, z1, [&](const Subject& s, const Listing&) {
    seen.insert(to_string(s));
    return true;
  });
  CHECK(seen == std::set<std::string>{"192.0.2.0/24", "2001:db8::/32", "*.spammer.example",
                                      "host.example"});
  std::size_t visited = 0;
  store.for_each(txn, z1, [&](const Subject&, const Listing&) { return ++visited < 2; });
  CHECK(visited == 2);
}

// --- expiry --------------------------------------------------------------------

TEST_CASE_METHOD(Fixture, "sweep_expired removes only expired listings and keeps history",
                 "[store]") {
  put(z1, "192.0.2.1", listed(c2, 1500));
  put(z1, "192.0.2.2", listed(c2, 2000));
  put(z1, "192.0.2.3", listed(c2));  // permanent
  put(z1, "*.spammer.example", listed(c3, 1500));
  put(z2, "192.0.2.1", listed(c2, 1500));  // another zone: not this sweep's business
  const std::uint32_t s0 = serial(z1);

  now = 1499;
  std::size_t removed = 99;
  store.env().write([&](WriteTxn& txn) { removed = store.sweep_expired(txn, z1, now, 100); });
  CHECK(removed == 0);
  CHECK(serial(z1) == s0);

  now = 1500;
  store.env().write([&](WriteTxn& txn) { removed = store.sweep_expired(txn, z1, now, 100); });
  CHECK(removed == 2);
  CHECK(serial(z1) == s0 + 2);
  CHECK_FALSE(get(z1, "192.0.2.1").has_value());
  CHECK_FALSE(get(z1, "*.spammer.example").has_value());
  CHECK(get(z1, "192.0.2.2").has_value());
  CHECK(get(z1, "192.0.2.3").has_value());
  CHECK(get(z2, "192.0.2.1").has_value());

  for (const char* s : {"192.0.2.1", "*.spammer.example"}) {
    INFO(s);
    const auto h = history(z1, s);
    REQUIRE(h.size() == 2);
    CHECK(h[0].action == "list");
    CHECK(h[1].action == "expire");
    CHECK(h[1].actor == "sweeper");
    CHECK(h[1].time == 1500);
    REQUIRE(h[1].before.has_value());
    CHECK(h[1].before->expires == 1500);
    CHECK_FALSE(h[1].after.has_value());
  }
  const auto j = journal_since(z1, s0);
  REQUIRE(j.size() == 2);
  CHECK(j[0].removed);
  CHECK(j[1].removed);

  store.env().write([&](WriteTxn& txn) { removed = store.sweep_expired(txn, z1, now, 100); });
  CHECK(removed == 0);
  CHECK(serial(z1) == s0 + 2);
}

TEST_CASE_METHOD(Fixture, "sweep_expired honours its limit and skips renewed listings", "[store]") {
  put(z1, "192.0.2.1", listed(c2, 1500));
  put(z1, "192.0.2.2", listed(c2, 1600));
  put(z1, "192.0.2.3", listed(c2, 1700));
  put(z1, "192.0.2.4", listed(c2, 1500));
  put(z1, "192.0.2.4", listed(c2, 9000));  // renewed: the old expiry must not remove it
  put(z1, "192.0.2.5", listed(c2, 1500));
  put(z1, "192.0.2.5", listed(c2));  // made permanent

  now = 2000;
  std::size_t removed = 0;
  store.env().write([&](WriteTxn& txn) { removed = store.sweep_expired(txn, z1, now, 2); });
  CHECK(removed == 2);
  CHECK(count(z1) == 3);
  store.env().write([&](WriteTxn& txn) { removed = store.sweep_expired(txn, z1, now, 2); });
  CHECK(removed == 1);
  CHECK(count(z1) == 2);
  CHECK(get(z1, "192.0.2.4").has_value());
  CHECK(get(z1, "192.0.2.5").has_value());
  CHECK(history(z1, "192.0.2.4").size() == 2);  // list, update: no expire
  CHECK(history(z1, "192.0.2.5").size() == 2);
}

// --- the environment ----------------------------------------------------------

TEST_CASE("a reopened store keeps its data", "[store]") {
  TempDir dir;
  const auto path = dir.path() / "data";
  std::uint32_t s = 0;
  {
    Store store(path, [] { return std::int64_t{1000}; });
    store.env().write([&](WriteTxn& txn) {
      const auto z = store.ensure_zone(txn, "one.test");
      store.put(txn, z, subject("192.0.2.0/24"), listed(c3, 0, "kept"), {"t", "list", "r"});
      store.put(txn, z, subject("*.spammer.example"), listed(c4), {"t", "list", "r"});
    });
    auto txn = store.env().begin_read();
    s = store.serial(txn, *store.find_zone(txn, "one.test"));
  }
  Store store(path, [] { return std::int64_t{2000}; });
  auto txn = store.env().begin_read();
  const auto z = store.find_zone(txn, "one.test");
  REQUIRE(z.has_value());
  CHECK(store.serial(txn, *z) == s);
  const auto l = store.get(txn, *z, subject("192.0.2.0/24"));
  REQUIRE(l.has_value());
  CHECK(l->reason == "kept");
  CHECK(store.get(txn, *z, subject("*.spammer.example")).has_value());
  CHECK(store.history(txn, *z, subject("192.0.2.0/24")).size() == 1);
  CHECK(count_listings(store, txn, *z) == 2);
}

TEST_CASE("another format version is refused with the path in the message", "[store]") {
  TempDir dir;
  const auto path = dir.path() / "data";
  {
    Store store(path);
    auto txn = store.env().begin_read();
    const std::string current = std::to_string(schema::kFormatVersion);
    const auto format = txn.get(txn.dbs().meta, schema::kFormatKey);
    REQUIRE(format.has_value());
    CHECK(*format == current);
  }
  {
    Store store(path);
    store.env().write([](WriteTxn& txn) { txn.put(txn.dbs().meta, schema::kFormatKey, "999"); });
  }
  try {
    Store store(path);
    FAIL("opened a store of format 999");
  } catch (const StoreError& e) {
    CHECK_THAT(e.what(), Catch::Contains(path.string()));
    CHECK_THAT(e.what(), Catch::Contains("999"));
  }
}

TEST_CASE("a corrupt data file is refused with the path, and left as it was", "[store]") {
  TempDir dir;
  const auto path = dir.path() / "data";
  fs::create_directories(path);
  const std::string garbage(64 * 1024, '\x5a');
  std::ofstream(path / "data.mdb", std::ios::binary) << garbage;
  try {
    Store store(path);
    FAIL("opened a data.mdb full of garbage");
  } catch (const StoreError& e) {
    CHECK_THAT(e.what(), Catch::Contains(path.string()));
    CHECK_THAT(e.what(), Catch::Contains("not a valid LMDB file"));
  }
  std::ifstream in(path / "data.mdb", std::ios::binary);
  const std::string after((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(after == garbage);  // nothing overwritten: the operator can still recover it
}

TEST_CASE("a data directory that cannot be created or used names the path", "[store]") {
  TempDir dir;
  const auto file = dir.path() / "file";
  std::ofstream(file) << "not a directory\n";
  struct Case {
    fs::path path;
  };
  const std::vector<Case> cases = {{file / "data"}, {file}, {file / "a" / "b"}};
  for (const auto& c : cases) {
    INFO(c.path.string());
    try {
      Store store(c.path);
      FAIL_CHECK("opened a store at " << c.path.string());
    } catch (const StoreError& e) {
      CHECK_THAT(e.what(), Catch::Contains(c.path.string()));
    }
  }
}

TEST_CASE("two processes writing at once lose nothing", "[store]") {
  TempDir dir;
  const auto path = dir.path() / "data";
  int start[2];
  REQUIRE(pipe(start) == 0);
  std::vector<pid_t> children;
  for (std::uint32_t tag = 1; tag <= 2; ++tag) {
    children.push_back(spawn([&, tag] {
      close(start[1]);
      char go = 0;
      if (::read(start[0], &go, 1) < 0) return 3;  // EOF: the parent says go
      Store store(path, [] { return std::int64_t{1000}; });
      for (std::uint32_t i = 0; i < 300; ++i) put_batch(store, tag, i, 1);
      return 0;
    }));
  }
  close(start[0]);
  close(start[1]);
  for (const auto pid : children) CHECK(wait_exit(pid) == 0);

  Store store(path, [] { return std::int64_t{1000}; });
  auto txn = store.env().begin_read();
  const auto z = store.find_zone(txn, "one.test");
  REQUIRE(z.has_value());
  CHECK(count_listings(store, txn, *z) == 600);
  CHECK(store.serial(txn, *z) == 1000 + 600);
  CHECK(store.journal_since(txn, *z, 1000).size() == 600);
}

TEST_CASE("a writer killed mid-transaction leaves every committed batch and no partial one",
          "[store]") {
  TempDir dir;
  const auto path = dir.path() / "data";
  constexpr std::uint32_t kBatches = 8;
  constexpr std::uint32_t kMidway = 0xffffffff;
  int acks[2];
  REQUIRE(pipe(acks) == 0);
  const pid_t pid = spawn([&] {
    close(acks[0]);
    Store store(path, [] { return std::int64_t{1000}; });
    for (std::uint32_t b = 0; b < kBatches; ++b) {
      put_batch(store, 1, b * 100, 100);
      if (!write_u32(acks[1], b + 1)) return 3;
    }
    store.env().write([&](WriteTxn& txn) {
      const auto z = store.ensure_zone(txn, "one.test");
      for (std::uint32_t i = 0; i < 1000000; ++i) {
        store.put(txn, z, IpPrefix::v4(0x0b000000 | i, 32), listed(c2), {"child", "list", "big"});
        if (i == 2000 && !write_u32(acks[1], kMidway)) throw std::runtime_error("pipe");
      }
    });
    return 0;
  });
  close(acks[1]);
  std::uint32_t acked = 0;
  bool midway = false;
  for (std::uint32_t v = 0; !midway && read_u32(acks[0], v);) {
    if (v == kMidway) {
      midway = true;
    } else {
      acked = v;
    }
  }
  REQUIRE(midway);
  REQUIRE(kill(pid, SIGKILL) == 0);
  CHECK(wait_exit(pid) == 1000 + SIGKILL);
  close(acks[0]);
  CHECK(acked == kBatches);

  Store store(path, [] { return std::int64_t{1000}; });
  {
    auto txn = store.env().begin_read();
    const auto z = store.find_zone(txn, "one.test");
    REQUIRE(z.has_value());
    CHECK(count_listings(store, txn, *z) == 100 * kBatches);
    CHECK(store.serial(txn, *z) == 1000 + 100 * kBatches);
  }
  // The writer lock the dead process held is recovered.
  put_batch(store, 2, 0, 1);
  auto txn = store.env().begin_read();
  CHECK(count_listings(store, txn, *store.find_zone(txn, "one.test")) == 100 * kBatches + 1);
}

TEST_CASE("a writer killed between commits leaves exactly its committed batches", "[store]") {
  TempDir dir;
  const auto path = dir.path() / "data";
  constexpr std::uint32_t kMaxBatches = 60;
  int acks[2];
  REQUIRE(pipe(acks) == 0);
  const pid_t pid = spawn([&] {
    close(acks[0]);
    Store store(path, [] { return std::int64_t{1000}; });
    for (std::uint32_t b = 0; b < kMaxBatches; ++b) {
      put_batch(store, 1, b * 100, 100);
      if (!write_u32(acks[1], b + 1)) return 3;
    }
    return 0;
  });
  close(acks[1]);
  std::uint32_t acked = 0;
  for (std::uint32_t v = 0; acked < 3 && read_u32(acks[0], v);) acked = v;
  REQUIRE(acked == 3);
  kill(pid, SIGKILL);
  const int status = wait_exit(pid);
  CHECK((status == 1000 + SIGKILL || status == 0));
  // Acks written before the kill are still in the pipe.
  for (std::uint32_t v = 0; read_u32(acks[0], v);) acked = v;
  close(acks[0]);

  Store store(path, [] { return std::int64_t{1000}; });
  auto txn = store.env().begin_read();
  const auto z = store.find_zone(txn, "one.test");
  REQUIRE(z.has_value());
  const std::size_t n = count_listings(store, txn, *z);
  INFO("acknowledged batches " << acked << ", listings " << n);
  CHECK(n % 100 == 0);
  CHECK(n >= 100 * std::size_t{acked});
  CHECK(n <= 100 * std::size_t{acked + 1});  // at most one committed but not yet acknowledged
  CHECK(store.serial(txn, *z) == 1000 + n);
}

TEST_CASE("the map grows on demand: no MDB_MAP_FULL while the disk has room", "[store]") {
  TempDir dir;
  constexpr std::size_t kSmallMap = std::size_t{1} << 20;  // 1 MiB
  Store store(
      dir.path(), [] { return std::int64_t{1000}; }, kSmallMap);
  REQUIRE(store.env().map_size() == kSmallMap);
  ZoneRef z;
  store.env().write([&](WriteTxn& txn) { z = store.ensure_zone(txn, "dnsbl.test"); });
  Listing l;
  l.codes = {0x7f000002};
  l.reason = std::string(400, 'r');
  // About 8 MB of listings and history: several growths, each transaction
  // rerun whole after its MapFull.
  for (std::uint32_t batch = 0; batch < 10; ++batch) {
    REQUIRE_NOTHROW(store.env().write([&](WriteTxn& txn) {
      for (std::uint32_t i = 0; i < 1000; ++i) {
        store.put(txn, z, IpPrefix::v4(0xc6120000 + batch * 1000 + i, 32), l, {"t", "list", "r"});
      }
    }));
  }
  CHECK(store.env().map_size() > kSmallMap);
  auto txn = store.env().begin_read();
  std::size_t n = 0;
  store.for_each(txn, z, [&](const Subject&, const Listing&) { return ++n, true; });
  CHECK(n == 10000);
  CHECK(store.serial(txn, z) == 1000 + 10000);
}

}  // namespace rblzone::core
