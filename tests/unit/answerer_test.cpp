// Tests for zoneserver/answerer: the whole query plan driven without sockets,
// over a real store in a temp dir and a catalog built from hand-made zones.
#include "zoneserver/answerer.hpp"

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "tests/unit/fixtures.hpp"
#include "tests/unit/temp_dir.hpp"
#include "tests/unit/wire_bytes.hpp"
#include "zoneserver/hot_subjects.hpp"
#include "zoneserver/zone_catalog.hpp"
#include "zoneserver/zone_content.hpp"

namespace rblzone::zoneserver {
namespace {

namespace fs = std::filesystem;
using rblzone::testing::Bytes;
using rblzone::testing::put16;
using rblzone::testing::put32;
using rblzone::testing::put8;
using rblzone::testing::put_name;
using wire::flag::AA;
using wire::flag::QR;
using wire::flag::RD;
using wire::flag::TC;

constexpr std::int64_t kNow = 1700000000;

using TempDir = rblzone::testing::TempDir;

// --- counting allocations -----------------------------------------------------

}  // namespace
}  // namespace rblzone::zoneserver

// Every allocation of this test binary goes through here; only the
// no-allocation test turns counting on. GCC cannot see that this operator
// delete pairs with this operator new (both malloc/free), hence the pragma.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<bool> g_count_allocations{false};
std::atomic<std::size_t> g_allocations{0};
}  // namespace

// Every non-aligned form is replaced, so that no allocation made by one
// runtime (a sanitizer's) is freed by another.
namespace {
void* counted_malloc(std::size_t n) noexcept {
  if (g_count_allocations.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  return std::malloc(n == 0 ? 1 : n);
}
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted_malloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_malloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return counted_malloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return counted_malloc(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace rblzone::zoneserver {
namespace {

// --- building queries ---------------------------------------------------------

struct Edns {
  unsigned udp = 1232;
  unsigned version = 0;
  bool dnssec_ok = false;
};

struct QuerySpec {
  std::string name;
  unsigned qtype = wire::type::A;
  unsigned qclass = wire::kClassIN;
  unsigned flags = RD;
  std::optional<Edns> edns;
  unsigned qdcount = 1;
};

Bytes make_query(const QuerySpec& s) {
  Bytes b;
  put16(b, 0x4242);
  put16(b, s.flags);
  put16(b, s.qdcount);
  put16(b, 0);
  put16(b, 0);
  put16(b, s.edns ? 1 : 0);
  for (unsigned i = 0; i < s.qdcount; ++i) {
    put_name(b, s.name);
    put16(b, s.qtype);
    put16(b, s.qclass);
  }
  if (s.edns) {
    put8(b, 0);
    put16(b, wire::type::OPT);
    put16(b, s.edns->udp);
    put16(b, s.edns->version);
    put16(b, s.edns->dnssec_ok ? 0x8000 : 0);
    put16(b, 0);
  }
  return b;
}

QuerySpec spec(std::string name, unsigned qtype = wire::type::A, unsigned qclass = wire::kClassIN) {
  QuerySpec s;
  s.name = std::move(name);
  s.qtype = qtype;
  s.qclass = qclass;
  return s;
}

Bytes make_query(std::string name, unsigned qtype = wire::type::A) {
  return make_query(spec(std::move(name), qtype));
}

// --- reading responses ----------------------------------------------------------

std::string text_of(const wire::Name& n) {  // case as on the wire
  std::string s;
  for (std::size_t i = 0; i < n.labels; ++i) {
    if (i) s.push_back('.');
    s.append(n.label(i));
  }
  return s;
}

struct Record {
  std::string owner;
  std::uint16_t type = 0;
  std::uint16_t cls = 0;
  std::uint32_t ttl = 0;
  std::size_t rdata_at = 0;
  Bytes rdata;
};

struct Soa {
  std::string mname, rname;
  std::uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
};

struct Message {
  Bytes raw;
  std::uint16_t id = 0, flags = 0, qd = 0, an = 0, ns = 0, ar = 0;
  std::string qname;
  std::uint16_t qtype = 0, qclass = 0;
  std::vector<Record> answer, authority, additional;

  unsigned rcode() const { return flags & 0xfu; }
  bool has(std::uint16_t bit) const { return (flags & bit) != 0; }

  std::vector<std::uint32_t> a_records() const {
    std::vector<std::uint32_t> out;
    for (const auto& r : answer) {
      if (r.type != wire::type::A) continue;
      REQUIRE(r.rdata.size() == 4);
      out.push_back(std::uint32_t{r.rdata[0]} << 24 | std::uint32_t{r.rdata[1]} << 16 |
                    std::uint32_t{r.rdata[2]} << 8 | r.rdata[3]);
    }
    return out;
  }
  std::vector<std::string> txt_records() const {
    std::vector<std::string> out;
    for (const auto& r : answer) {
      if (r.type != wire::type::TXT) continue;
      REQUIRE(!r.rdata.empty());
      REQUIRE(std::size_t{r.rdata[0]} + 1 == r.rdata.size());
      out.emplace_back(r.rdata.begin() + 1, r.rdata.end());
    }
    return out;
  }
  Soa soa(const Record& r) const {
    REQUIRE(r.type == wire::type::SOA);
    wire::Reader rd(raw.data(), raw.size());
    rd.seek(r.rdata_at);
    wire::Name m, n;
    REQUIRE(wire::read_name(rd, m));
    REQUIRE(wire::read_name(rd, n));
    Soa s;
    s.mname = m.to_string();
    s.rname = n.to_string();
    s.serial = rd.u32();
    s.refresh = rd.u32();
    s.retry = rd.u32();
    s.expire = rd.u32();
    s.minimum = rd.u32();
    REQUIRE(rd.ok());
    REQUIRE(rd.pos() == r.rdata_at + r.rdata.size());
    return s;
  }
};

Message decode(const Bytes& raw) {
  Message m;
  m.raw = raw;
  wire::Reader r(raw.data(), raw.size());
  m.id = r.u16();
  m.flags = r.u16();
  m.qd = r.u16();
  m.an = r.u16();
  m.ns = r.u16();
  m.ar = r.u16();
  REQUIRE(r.ok());
  REQUIRE(m.qd <= 1);
  if (m.qd == 1) {
    wire::Name n;
    REQUIRE(wire::read_name(r, n));
    m.qname = text_of(n);
    m.qtype = r.u16();
    m.qclass = r.u16();
  }
  auto section = [&](std::vector<Record>& out, std::uint16_t count) {
    for (std::uint16_t i = 0; i < count; ++i) {
      Record rec;
      wire::Name n;
      REQUIRE(wire::read_name(r, n));
      rec.owner = text_of(n);
      rec.type = r.u16();
      rec.cls = r.u16();
      rec.ttl = r.u32();
      const std::uint16_t len = r.u16();
      rec.rdata_at = r.pos();
      REQUIRE(r.ok());
      REQUIRE(r.remaining() >= len);
      rec.rdata.assign(raw.begin() + static_cast<std::ptrdiff_t>(r.pos()),
                       raw.begin() + static_cast<std::ptrdiff_t>(r.pos() + len));
      r.skip(len);
      out.push_back(std::move(rec));
    }
  };
  section(m.answer, m.an);
  section(m.authority, m.ns);
  section(m.additional, m.ar);
  REQUIRE(r.ok());
  REQUIRE(r.pos() == raw.size());  // nothing after the counted records
  return m;
}

// --- the world: store, catalog, snapshot -------------------------------------------

using rblzone::testing::listing;
using rblzone::testing::zone;

core::Listing exclusion() {
  core::Listing l;
  l.flags = core::kFlagExclusion;
  return l;
}

core::IpPrefix::Bytes ip(const char* text) {
  return core::IpPrefix::parse(text)->bytes();
}

Client udp_from(const char* addr = "192.0.2.200") {
  return Client{ip(addr), Transport::udp};
}

class World {
 public:
  explicit World(const std::vector<core::ZoneConfig>& zones) {
    store_ = std::make_unique<core::Store>(dir_.path() / "data", [this] { return clock_; });
    catalog_ = ZoneCatalog::build(zones, *store_);
    snapshot_ = std::make_unique<Snapshot>(*store_);
  }

  struct Entry {
    std::string zone;
    const char* subject;
    core::Listing listing;
  };
  // Writes all of them in one transaction.
  void list(const std::vector<Entry>& entries) {
    store_->env().write([&](core::WriteTxn& txn) {
      for (const auto& e : entries) {
        const auto z = store_->ensure_zone(txn, e.zone);
        store_->put(txn, z, *core::parse_subject(e.subject), e.listing, {"test", "list", "test"});
      }
    });
  }
  void list(const std::string& zone_name, const char* subject, const core::Listing& l) {
    list({{zone_name, subject, l}});
  }

  std::uint32_t serial(const std::string& zone_name) {
    auto txn = store_->env().begin_read();
    for (const auto& z : catalog_->zones()) {  // a combined zone: its members' sum
      if (z->config.name == zone_name) return zone_serial(*z, *store_, txn);
    }
    return store_->serial(txn, *store_->find_zone(txn, zone_name));
  }

  struct Reply {
    Outcome outcome;
    Message msg;
  };

  // Allocations made by `rounds` passes of answer() over `queries` on one
  // renewed snapshot, after a warm-up pass (the steady state of a worker),
  // each listed answer counted in `hot` as the server does. The clock moves
  // a minute per pass, so the hot table also changes interval (and clears).
  std::size_t steady_state_allocations(const std::vector<Bytes>& queries, int rounds,
                                       HotSubjects& hot) {
    REQUIRE(snapshot_->renew());
    std::vector<std::uint8_t> buf(65535);
    QueryStats stats(catalog_->zones().size());
    Matched matched;
    std::int64_t now = kNow;
    auto pass = [&] {
      for (const auto& q : queries) {
        wire::Writer w(buf.data(), buf.size());
        answer(q.data(), q.size(), udp_from(), *catalog_, *snapshot_, kNow, {}, w, &stats,
               &matched);
        hot.count(matched, now);
      }
      now += 60;
    };
    pass();
    g_allocations = 0;
    g_count_allocations = true;
    for (int i = 0; i < rounds; ++i) pass();
    g_count_allocations = false;
    snapshot_->reset();
    return g_allocations.load();
  }
  // What answer() says it matched for `query`.
  Matched matched(const Bytes& query, const Client& client = udp_from()) {
    REQUIRE(snapshot_->renew());
    std::vector<std::uint8_t> buf(65535);
    wire::Writer w(buf.data(), buf.size());
    Matched m;
    m.listed = true;  // answer() must clear it when nothing matched
    answer(query.data(), query.size(), client, *catalog_, *snapshot_, kNow, {}, w, nullptr, &m);
    snapshot_->reset();
    return m;
  }
  core::ZoneId zone_id(const std::string& name) const {
    for (const auto& z : catalog_->zones()) {
      if (z->config.name == name) return z->id;
    }
    FAIL("no zone " << name);
    return 0;
  }
  Reply ask(const Bytes& query, const Client& client = udp_from(), std::int64_t now = kNow,
            AnswerOptions options = {}, QueryStats* stats = nullptr) {
    return ask_with(*snapshot_, true, query, client, now, options, stats);
  }
  // With a snapshot that was never renewed: the store "cannot be read".
  Reply ask_unrenewed(const Bytes& query) {
    Snapshot fresh(*store_);
    return ask_with(fresh, false, query, udp_from(), kNow, {}, nullptr);
  }

 private:
  Reply ask_with(Snapshot& snap, bool renew, const Bytes& query, const Client& client,
                 std::int64_t now, const AnswerOptions& options, QueryStats* stats) {
    if (renew) REQUIRE(snap.renew());
    std::vector<std::uint8_t> buf(65535);
    wire::Writer w(buf.data(), buf.size());
    const auto outcome =
        answer(query.data(), query.size(), client, *catalog_, snap, now, options, w, stats);
    if (renew) snap.reset();
    Reply reply{outcome, {}};
    if (outcome == Outcome::answer) {
      REQUIRE(w.size() >= wire::kHeaderSize);
      reply.msg = decode(Bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(w.size())));
      CHECK(reply.msg.id == 0x4242);
      CHECK(reply.msg.has(QR));
    }
    return reply;
  }

  TempDir dir_;
  std::int64_t clock_ = kNow - 100;
  std::unique_ptr<core::Store> store_;
  std::shared_ptr<const ZoneCatalog> catalog_;
  std::unique_ptr<Snapshot> snapshot_;
};

constexpr std::uint32_t c2 = 0x7f000002, c3 = 0x7f000003, c4 = 0x7f000004, c10 = 0x7f00000a;

std::vector<core::ZoneConfig> standard_zones() {
  auto dnsbl = zone("dnsbl.test");
  dnsbl.txt = "$ {reason} {url} {subject} {code} {nope}";
  dnsbl.lookup_url = "https://rbl.example/q/$";
  dnsbl.ttl = 900;
  dnsbl.soa.ttl = 300;
  dnsbl.soa.minimum = 60;
  auto rhsbl = zone("rhsbl.test", core::ZoneKind::domain);
  rhsbl.soa.ttl = 30;
  rhsbl.soa.minimum = 3600;
  rhsbl.ttl = 600;
  rhsbl.ns = {"a.ns.example", "b.ns.example"};
  auto dnsbl2 = zone("dnsbl2.test");
  auto zen = zone("zen.test", core::ZoneKind::combined);
  zen.members = {"dnsbl.test", "dnsbl2.test"};
  zen.txt = "zen: $ {reason} {subject} {code}";
  auto deny = zone("deny.test");
  deny.access.allow = {*core::IpPrefix::parse("10.0.0.0/8"),
                       *core::IpPrefix::parse("2001:db8::/32")};
  deny.access.deny = {*core::IpPrefix::parse("10.9.0.0/16")};
  auto code = zone("code.test");
  code.access.allow = {*core::IpPrefix::parse("10.0.0.0/8")};
  code.access.refused_code = 0x7ffffffe;
  auto keyed = zone("key.test");
  keyed.access.keys = {"s3cret"};
  keyed.access.require_key = true;
  return {dnsbl, rhsbl, dnsbl2, zen, deny, code, keyed};
}

// The standard zones and their data.
class StandardWorld : public World {
 public:
  StandardWorld() : World(standard_zones()) {
    std::vector<Entry> e = {
        {"dnsbl.test", "192.0.2.0/24", listing({c2}, "spam seen")},
        {"dnsbl.test", "192.0.2.5", exclusion()},
        {"dnsbl.test", "203.0.113.7", listing({c2, c3})},
        {"dnsbl.test", "2001:db8::/32", listing({c4}, "v6 spam")},
        {"dnsbl.test", "198.51.100.9", listing({c2}, "brief", kNow + 10)},
        {"dnsbl.test", "127.0.0.0/8", listing({c3}, "must not hide the test points")},
        {"dnsbl.test", "198.18.0.0/15", listing({}, "no code")},
        {"dnsbl2.test", "192.0.2.0/24", listing({c10}, "second list")},
        {"rhsbl.test", "*.spammer.example", listing({c2}, "phish")},
        {"rhsbl.test", "a.b.example", listing({c3})},
        {"rhsbl.test", "invalid", listing({c3}, "must not list the test point")},
    };
    for (const char* z : {"deny.test", "code.test", "key.test"}) {
      e.push_back({z, "192.0.2.0/24", listing({c2}, "acl")});
    }
    list(e);
  }
};

// "3.2.0.192" for 192.0.2.3.
const char* const kListed = "3.2.0.192";

}  // namespace

TEST_CASE("a listed IPv4 address gets A records", "[answerer]") {
  StandardWorld w;
  struct Case {
    const char* name;
    std::vector<std::uint32_t> codes;
  };
  const std::vector<Case> cases = {
      {"3.2.0.192.dnsbl.test", {c2}},
      {"255.2.0.192.dnsbl.test", {c2}},
      {"7.113.0.203.dnsbl.test", {c2, c3}},
      {"1.0.18.198.dnsbl.test", {c2}},    // no code stored: the zone's default
      {"3.2.0.192.zen.test", {c2, c10}},  // a combined zone gathers its members' codes
  };
  for (const auto& c : cases) {
    INFO(c.name);
    QueryStats stats;
    const auto r = w.ask(make_query(c.name), udp_from(), kNow, {}, &stats);
    REQUIRE(r.outcome == Outcome::answer);
    const auto& m = r.msg;
    CHECK(m.rcode() == wire::rcode::NOERROR);
    CHECK(m.has(AA));
    CHECK(m.has(RD));  // echoed
    CHECK_FALSE(m.has(TC));
    CHECK(m.qd == 1);
    CHECK(m.qname == c.name);
    CHECK(m.qtype == wire::type::A);
    CHECK(m.ns == 0);
    CHECK(m.ar == 0);
    CHECK(m.a_records() == c.codes);
    for (const auto& rr : m.answer) {
      CHECK(rr.owner == c.name);
      CHECK(rr.cls == wire::kClassIN);
      CHECK(rr.ttl == 900);
    }
    CHECK(stats.listed.load() == 1);
    CHECK(stats.queries.load() == 1);
  }
}

TEST_CASE("TXT answers expand the zone's template", "[answerer]") {
  StandardWorld w;
  struct Case {
    const char* name;
    const char* text;
  };
  const std::vector<Case> cases = {
      {"3.2.0.192.dnsbl.test",
       "192.0.2.3 spam seen https://rbl.example/q/192.0.2.3 192.0.2.0/24 127.0.0.2 {nope}"},
      {"7.113.0.203.dnsbl.test",
       "203.0.113.7 listed https://rbl.example/q/203.0.113.7 203.0.113.7 127.0.0.2 {nope}"},
      {"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.dnsbl.test",
       "2001:db8::1 v6 spam https://rbl.example/q/2001:db8::1 2001:db8::/32 127.0.0.4 {nope}"},
      // A combined zone answers with its own template, filled from the member
      // that matched first.
      {"3.2.0.192.zen.test", "zen: 192.0.2.3 spam seen 192.0.2.0/24 127.0.0.2"},
      // The default template.
      {"www.spammer.example.rhsbl.test",
       "Listed: phish; see http://127.0.0.1:8080/lookup/www.spammer.example"},
      {"a.b.example.rhsbl.test", "Listed: listed; see http://127.0.0.1:8080/lookup/a.b.example"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const auto r = w.ask(make_query(c.name, wire::type::TXT));
    CHECK(r.msg.rcode() == wire::rcode::NOERROR);
    CHECK(r.msg.a_records().empty());
    CHECK(r.msg.txt_records() == std::vector<std::string>{c.text});
  }
}

TEST_CASE("TXT text is printable and cut at 255 bytes", "[answerer]") {
  auto zones = standard_zones();
  zones[0].txt = "{reason}";
  World w(zones);
  w.list("dnsbl.test", "192.0.2.1", listing({c2}, std::string(300, 'x')));
  w.list("dnsbl.test", "192.0.2.2", listing({c2}, std::string("a\tb\nc\x01\x7f", 7)));
  auto r = w.ask(make_query("1.2.0.192.dnsbl.test", wire::type::TXT));
  CHECK(r.msg.txt_records() == std::vector<std::string>{std::string(255, 'x')});
  r = w.ask(make_query("2.2.0.192.dnsbl.test", wire::type::TXT));
  CHECK(r.msg.txt_records() == std::vector<std::string>{"a?b?c??"});
}

TEST_CASE("ANY gets both the A records and the TXT", "[answerer]") {
  StandardWorld w;
  const auto r = w.ask(make_query("7.113.0.203.dnsbl.test", wire::type::ANY));
  CHECK(r.msg.a_records() == std::vector<std::uint32_t>{c2, c3});
  CHECK(r.msg.txt_records().size() == 1);
  CHECK(r.msg.an == 3);
}

TEST_CASE("NXDOMAIN and NODATA carry the SOA with the negative TTL", "[answerer]") {
  StandardWorld w;
  struct Case {
    const char* name;
    unsigned qtype;
    unsigned rcode;
    const char* apex;
    std::uint32_t ttl;  // min(SOA TTL, SOA MINIMUM)
    std::uint32_t minimum;
  };
  const std::vector<Case> cases = {
      {"9.9.9.9.dnsbl.test", wire::type::A, wire::rcode::NXDOMAIN, "dnsbl.test", 60, 60},
      {"5.2.0.192.dnsbl.test", wire::type::A, wire::rcode::NXDOMAIN, "dnsbl.test", 60,
       60},  // excluded
      {"5.2.0.192.dnsbl.test", wire::type::TXT, wire::rcode::NXDOMAIN, "dnsbl.test", 60, 60},
      {"good.example.rhsbl.test", wire::type::A, wire::rcode::NXDOMAIN, "rhsbl.test", 30, 3600},
      {"www.a.b.example.rhsbl.test", wire::type::A, wire::rcode::NXDOMAIN, "rhsbl.test", 30, 3600},
      {"not-an-address.dnsbl.test", wire::type::A, wire::rcode::NXDOMAIN, "dnsbl.test", 60, 60},
      {"1.2.3.4.5.dnsbl.test", wire::type::A, wire::rcode::NXDOMAIN, "dnsbl.test", 60, 60},
      {"01.2.0.192.dnsbl.test", wire::type::A, wire::rcode::NXDOMAIN, "dnsbl.test", 60, 60},
      {"256.2.0.192.dnsbl.test", wire::type::A, wire::rcode::NXDOMAIN, "dnsbl.test", 60, 60},
      // Empty non-terminals: something is listed below the name.
      {"2.0.192.dnsbl.test", wire::type::A, wire::rcode::NOERROR, "dnsbl.test", 60, 60},
      {"0.192.dnsbl.test", wire::type::A, wire::rcode::NOERROR, "dnsbl.test", 60, 60},
      {"192.dnsbl.test", wire::type::TXT, wire::rcode::NOERROR, "dnsbl.test", 60, 60},
      {"8.b.d.0.1.0.0.2.dnsbl.test", wire::type::A, wire::rcode::NOERROR, "dnsbl.test", 60, 60},
      {"example.rhsbl.test", wire::type::A, wire::rcode::NOERROR, "rhsbl.test", 30, 3600},
      {"b.example.rhsbl.test", wire::type::TXT, wire::rcode::NOERROR, "rhsbl.test", 30, 3600},
      {"2.0.192.zen.test", wire::type::A, wire::rcode::NOERROR, "zen.test", 60, 60},
      {"3.2.0.193.dnsbl.test", wire::type::A, wire::rcode::NXDOMAIN, "dnsbl.test", 60, 60},
      {"193.dnsbl.test", wire::type::A, wire::rcode::NXDOMAIN, "dnsbl.test", 60, 60},
      // Listed, but no record of the asked type.
      {"3.2.0.192.dnsbl.test", wire::type::AAAA, wire::rcode::NOERROR, "dnsbl.test", 60, 60},
      {"3.2.0.192.dnsbl.test", 15u /* MX */, wire::rcode::NOERROR, "dnsbl.test", 60, 60},
      // The apex has no A.
      {"dnsbl.test", wire::type::A, wire::rcode::NOERROR, "dnsbl.test", 60, 60},
  };
  for (const auto& c : cases) {
    INFO(c.name << " type " << c.qtype);
    QueryStats stats;
    const auto r = w.ask(make_query(c.name, c.qtype), udp_from(), kNow, {}, &stats);
    const auto& m = r.msg;
    CHECK(m.rcode() == c.rcode);
    CHECK(m.has(AA));
    CHECK(m.an == 0);
    REQUIRE(m.ns == 1);
    const auto& rr = m.authority[0];
    CHECK(rr.owner == c.apex);
    CHECK(rr.type == wire::type::SOA);
    CHECK(rr.ttl == c.ttl);
    const auto soa = m.soa(rr);
    CHECK(soa.mname == std::string("ns1.") + c.apex);
    CHECK(soa.rname == std::string("hostmaster.") + c.apex);
    CHECK(soa.serial == w.serial(c.apex));
    CHECK(soa.minimum == c.minimum);
    CHECK(soa.refresh == 300);
    CHECK(soa.retry == 60);
    CHECK(soa.expire == 172800);
    if (c.rcode == wire::rcode::NXDOMAIN) CHECK(stats.not_listed.load() == 1);
  }
}

TEST_CASE("expiry follows the clock passed in, to the second", "[answerer]") {
  StandardWorld w;
  const auto q = make_query("9.100.51.198.dnsbl.test");
  CHECK(w.ask(q, udp_from(), kNow + 9).msg.a_records() == std::vector<std::uint32_t>{c2});
  CHECK(w.ask(q, udp_from(), kNow + 10).msg.rcode() == wire::rcode::NXDOMAIN);
}

TEST_CASE("RFC 5782 test points answer whatever the store holds", "[answerer]") {
  StandardWorld w;
  World empty(standard_zones());
  struct Case {
    const char* name;
    unsigned rcode;
    std::vector<std::uint32_t> codes;
  };
  const std::vector<Case> cases = {
      {"2.0.0.127.dnsbl.test", wire::rcode::NOERROR, {c2}},  // not 127.0.0.3 from 127/8
      {"1.0.0.127.dnsbl.test", wire::rcode::NXDOMAIN, {}},
      {"2.0.0.127.zen.test", wire::rcode::NOERROR, {c2}},
      {"1.0.0.127.zen.test", wire::rcode::NXDOMAIN, {}},
      {"test.rhsbl.test", wire::rcode::NOERROR, {c2}},
      {"TEST.rhsbl.test", wire::rcode::NOERROR, {c2}},
      {"invalid.rhsbl.test", wire::rcode::NXDOMAIN, {}},
      {"INVALID.rhsbl.test", wire::rcode::NXDOMAIN, {}},
  };
  for (World* world : std::vector<World*>{&w, &empty}) {
    for (const auto& c : cases) {
      INFO(c.name << (world == &empty ? " (empty store)" : " (full store)"));
      const auto r = world->ask(make_query(c.name));
      CHECK(r.msg.rcode() == c.rcode);
      CHECK(r.msg.a_records() == c.codes);
    }
    const auto txt = world->ask(make_query("2.0.0.127.dnsbl.test", wire::type::TXT));
    REQUIRE(txt.msg.txt_records().size() == 1);
    CHECK_THAT(txt.msg.txt_records()[0], Catch::Contains("RFC 5782 test point"));
  }
}

TEST_CASE("the apex answers SOA and NS", "[answerer]") {
  StandardWorld w;
  auto r = w.ask(make_query("dnsbl.test", wire::type::SOA));
  CHECK(r.msg.rcode() == wire::rcode::NOERROR);
  CHECK(r.msg.has(AA));
  REQUIRE(r.msg.an == 1);
  CHECK(r.msg.ns == 0);
  CHECK(r.msg.answer[0].owner == "dnsbl.test");
  CHECK(r.msg.answer[0].ttl == 300);  // the SOA's own TTL
  const auto soa = r.msg.soa(r.msg.answer[0]);
  CHECK(soa.mname == "ns1.dnsbl.test");
  CHECK(soa.rname == "hostmaster.dnsbl.test");
  const std::uint32_t serial = w.serial("dnsbl.test");
  CHECK(soa.serial == serial);
  CHECK(soa.minimum == 60);

  r = w.ask(make_query("dnsbl.test", wire::type::NS));
  REQUIRE(r.msg.an == 1);
  CHECK(r.msg.answer[0].type == wire::type::NS);
  CHECK(r.msg.answer[0].ttl == 86400);
  {
    wire::Reader rd(r.msg.raw.data(), r.msg.raw.size());
    rd.seek(r.msg.answer[0].rdata_at);
    wire::Name n;
    REQUIRE(wire::read_name(rd, n));
    CHECK(n.to_string() == "ns1.dnsbl.test");
  }

  r = w.ask(make_query("rhsbl.test", wire::type::NS));
  REQUIRE(r.msg.an == 2);
  std::vector<std::string> ns;
  for (const auto& rr : r.msg.answer) {
    wire::Reader rd(r.msg.raw.data(), r.msg.raw.size());
    rd.seek(rr.rdata_at);
    wire::Name n;
    REQUIRE(wire::read_name(rd, n));
    ns.push_back(n.to_string());
  }
  CHECK(ns == std::vector<std::string>{"a.ns.example", "b.ns.example"});

  r = w.ask(make_query("dnsbl.test", wire::type::ANY));
  REQUIRE(r.msg.an == 2);
  CHECK(r.msg.answer[0].type == wire::type::SOA);
  CHECK(r.msg.answer[1].type == wire::type::NS);

  // A change bumps the serial the next snapshot answers with.
  w.list("dnsbl.test", "203.0.113.99", listing({c2}));
  r = w.ask(make_query("dnsbl.test", wire::type::SOA));
  CHECK(r.msg.soa(r.msg.answer[0]).serial == serial + 1);
}

TEST_CASE("REFUSED outside our zones and for what we do not serve", "[answerer]") {
  StandardWorld w;
  struct Case {
    const char* what;
    QuerySpec spec;
  };
  std::vector<Case> cases;
  cases.push_back({"another domain", spec("example.com")});
  cases.push_back({"the parent of a zone", spec("test")});
  cases.push_back({"a zone-like suffix", spec("3.2.0.192.xdnsbl.test")});
  cases.push_back({"the root", spec("")});
  cases.push_back({"class CH", spec("3.2.0.192.dnsbl.test", wire::type::A, wire::kClassCH)});
  cases.push_back({"AXFR", spec("dnsbl.test", wire::type::AXFR)});
  cases.push_back({"IXFR", spec("dnsbl.test", wire::type::IXFR)});
  for (const auto& c : cases) {
    INFO(c.what);
    const auto r = w.ask(make_query(c.spec));
    CHECK(r.msg.rcode() == wire::rcode::REFUSED);
    CHECK_FALSE(r.msg.has(AA));
    CHECK(r.msg.qd == 1);
    CHECK(r.msg.qname == c.spec.name);
    CHECK(r.msg.an + r.msg.ns + r.msg.ar == 0);
  }
  // Class ANY is answered like IN.
  const auto any =
      w.ask(make_query(spec(kListed + std::string(".dnsbl.test"), wire::type::A, wire::kClassANY)));
  CHECK(any.msg.a_records() == std::vector<std::uint32_t>{c2});
}

TEST_CASE("malformed queries: FORMERR, NOTIMP or nothing", "[answerer]") {
  StandardWorld w;
  {
    auto s = spec("3.2.0.192.dnsbl.test");
    s.qdcount = 2;
    const auto q = make_query(s);
    const auto r = w.ask(q);
    REQUIRE(r.outcome == Outcome::answer);
    CHECK(r.msg.rcode() == wire::rcode::FORMERR);
    CHECK(r.msg.qd == 0);  // never echo what we could not parse
    CHECK(r.msg.an + r.msg.ns + r.msg.ar == 0);
    CHECK(r.msg.raw.size() <= q.size());
  }
  {
    auto s = spec("dnsbl.test");
    s.flags = 15u << 11 | RD;
    const auto r = w.ask(make_query(s));
    CHECK(r.msg.rcode() == wire::rcode::NOTIMP);
    CHECK(((r.msg.flags >> 11) & 0xf) == 15);  // the opcode echoed
    CHECK_FALSE(r.msg.has(AA));
    CHECK_FALSE(r.msg.has(RD));
    CHECK(r.msg.qd == 1);
    CHECK(r.msg.qname == "dnsbl.test");
  }
  {
    auto s = spec("3.2.0.192.dnsbl.test");
    s.flags = QR;
    QueryStats stats;
    CHECK(w.ask(make_query(s), udp_from(), kNow, {}, &stats).outcome == Outcome::drop);
    CHECK(stats.dropped.load() == 1);
  }
  {
    // No question but an OPT: the FORMERR carries an OPT too, and is no larger.
    auto s = spec("");
    s.qdcount = 0;
    s.edns = Edns{1232, 0, false};
    const auto q = make_query(s);
    const auto r = w.ask(q);
    CHECK(r.msg.rcode() == wire::rcode::FORMERR);
    CHECK(r.msg.qd == 0);
    CHECK(r.msg.ar == 1);
    CHECK(r.msg.raw.size() <= q.size());
  }
  CHECK(w.ask(Bytes(11, 0)).outcome == Outcome::drop);
  CHECK(w.ask(Bytes{}).outcome == Outcome::drop);
}

TEST_CASE("EDNS: the OPT is echoed, DO kept, BADVERS for version 1", "[answerer]") {
  StandardWorld w;
  auto s = spec("3.2.0.192.dnsbl.test");
  s.edns = Edns{4096, 0, true};
  auto r = w.ask(make_query(s));
  CHECK(r.msg.rcode() == wire::rcode::NOERROR);
  CHECK(r.msg.a_records() == std::vector<std::uint32_t>{c2});
  REQUIRE(r.msg.ar == 1);
  const auto& opt = r.msg.additional[0];
  CHECK(opt.type == wire::type::OPT);
  CHECK(opt.owner.empty());
  CHECK((opt.ttl & 0x8000) != 0);  // DO echoed
  CHECK((opt.ttl >> 24) == 0);

  s.edns = Edns{4096, 1, false};
  r = w.ask(make_query(s));
  CHECK(r.msg.rcode() == 0);  // the low four bits of BADVERS (16)
  REQUIRE(r.msg.ar == 1);
  CHECK(r.msg.additional[0].type == wire::type::OPT);
  CHECK((r.msg.additional[0].ttl >> 24) == 1);  // the high bits: 16 >> 4
  CHECK(r.msg.an == 0);
  CHECK(r.msg.ns == 0);  // no SOA with BADVERS
  CHECK(r.msg.qd == 1);
}

TEST_CASE("the OPT advertises the configured UDP payload size", "[answerer]") {
  StandardWorld w;
  auto s = spec("3.2.0.192.dnsbl.test");
  s.edns = Edns{4096, 0, false};
  for (const std::uint16_t configured : {std::uint16_t{1232}, std::uint16_t{1400}}) {
    INFO("edns_udp_size " << configured);
    AnswerOptions options;
    options.edns_udp_size = configured;
    const auto r = w.ask(make_query(s), udp_from(), kNow, options);
    REQUIRE(r.msg.ar == 1);
    CHECK(r.msg.additional[0].cls == configured);
  }
}

TEST_CASE("a UDP answer that does not fit is truncated to the question", "[answerer]") {
  // 16 member zones each listing the address with its own code, and a long
  // reason: ANY needs 16 A records and a ~250-byte TXT, more than 512 bytes.
  std::vector<core::ZoneConfig> zones;
  auto big = zone("big.test", core::ZoneKind::combined);
  big.txt = "{reason}";
  for (int i = 0; i < 16; ++i) {
    auto m = zone("m" + std::to_string(i) + ".test");
    big.members.push_back(m.name);
    zones.push_back(m);
  }
  zones.push_back(big);
  World w(zones);
  std::vector<World::Entry> entries;
  for (std::uint32_t i = 0; i < 16; ++i) {
    entries.push_back({"m" + std::to_string(i) + ".test", "192.0.2.1",
                       listing({0x7f000010 + i}, std::string(240, 'r'))});
  }
  w.list(entries);
  const std::string name = "1.2.0.192.big.test";

  QueryStats stats;
  auto r = w.ask(make_query(name, wire::type::ANY), udp_from(), kNow, {}, &stats);
  CHECK(r.msg.has(TC));
  CHECK(r.msg.rcode() == wire::rcode::NOERROR);
  CHECK(r.msg.qd == 1);
  CHECK(r.msg.qname == name);
  CHECK(r.msg.an == 0);  // never a partial RRset
  CHECK(r.msg.ns == 0);
  CHECK(r.msg.raw.size() <= 512);
  CHECK(stats.truncated.load() == 1);

  // Only the A records fit in 512.
  r = w.ask(make_query(name, wire::type::A));
  CHECK_FALSE(r.msg.has(TC));
  CHECK(r.msg.a_records().size() == 16);
  CHECK(r.msg.raw.size() <= 512);

  // TCP and a large enough EDNS buffer get everything.
  r = w.ask(make_query(name, wire::type::ANY), Client{ip("192.0.2.200"), Transport::tcp});
  CHECK_FALSE(r.msg.has(TC));
  CHECK(r.msg.a_records().size() == 16);
  CHECK(r.msg.txt_records() == std::vector<std::string>{std::string(240, 'r')});
  auto s = spec(name, wire::type::ANY);
  s.edns = Edns{1232};
  r = w.ask(make_query(s));
  CHECK_FALSE(r.msg.has(TC));
  CHECK(r.msg.an == 17);
  CHECK(r.msg.ar == 1);
  CHECK(r.msg.raw.size() <= 1232);

  // An EDNS buffer below 512 still means 512; a truncated EDNS answer keeps its OPT.
  s.edns = Edns{100};
  r = w.ask(make_query(s));
  CHECK(r.msg.has(TC));
  CHECK(r.msg.ar == 1);
  CHECK(r.msg.raw.size() <= 512);
}

TEST_CASE("the case of the question is preserved in question and answers", "[answerer]") {
  StandardWorld w;
  const std::string listed = "3.2.0.192.DnSbL.TeSt";
  const auto q = make_query(listed, wire::type::ANY);
  auto r = w.ask(q);
  CHECK(r.msg.qname == listed);
  // The question section is the query's bytes.
  CHECK(Bytes(r.msg.raw.begin() + 12, r.msg.raw.begin() + static_cast<std::ptrdiff_t>(q.size())) ==
        Bytes(q.begin() + 12, q.end()));
  REQUIRE(r.msg.an == 2);
  for (const auto& rr : r.msg.answer) CHECK(rr.owner == listed);

  r = w.ask(make_query("9.9.9.9.DNSBL.test"));
  CHECK(r.msg.qname == "9.9.9.9.DNSBL.test");
  REQUIRE(r.msg.ns == 1);
  CHECK(r.msg.authority[0].owner == "DNSBL.test");

  r = w.ask(make_query("WWW.Spammer.Example.RhSbL.test", wire::type::TXT));
  CHECK(r.msg.qname == "WWW.Spammer.Example.RhSbL.test");
  REQUIRE(r.msg.an == 1);
  CHECK(r.msg.answer[0].owner == "WWW.Spammer.Example.RhSbL.test");
  // "$" is the subject, lowercased.
  CHECK(r.msg.txt_records() ==
        std::vector<std::string>{
            "Listed: phish; see http://127.0.0.1:8080/lookup/www.spammer.example"});
}

TEST_CASE("SERVFAIL when the snapshot is not valid", "[answerer]") {
  StandardWorld w;
  const auto r = w.ask_unrenewed(make_query("3.2.0.192.dnsbl.test"));
  REQUIRE(r.outcome == Outcome::answer);
  CHECK(r.msg.rcode() == wire::rcode::SERVFAIL);
  CHECK_FALSE(r.msg.has(AA));
  CHECK(r.msg.an == 0);
  CHECK(r.msg.qd == 1);
}

TEST_CASE("access control: allow, deny, keys and the refused code", "[answerer]") {
  StandardWorld w;
  struct Case {
    const char* client;
    const char* name;
    unsigned qtype;
    unsigned rcode;
    std::vector<std::uint32_t> codes;
  };
  const std::vector<Case> cases = {
      {"10.1.1.1", "3.2.0.192.deny.test", wire::type::A, wire::rcode::NOERROR, {c2}},
      {"2001:db8::53", "3.2.0.192.deny.test", wire::type::A, wire::rcode::NOERROR, {c2}},
      {"198.51.100.1", "3.2.0.192.deny.test", wire::type::A, wire::rcode::REFUSED, {}},
      {"10.9.0.1", "3.2.0.192.deny.test", wire::type::A, wire::rcode::REFUSED, {}},  // deny wins
      {"2001:db9::1", "3.2.0.192.deny.test", wire::type::A, wire::rcode::REFUSED, {}},
      {"198.51.100.1", "deny.test", wire::type::SOA, wire::rcode::REFUSED, {}},
      {"198.51.100.1", "2.0.0.127.deny.test", wire::type::A, wire::rcode::REFUSED, {}},
      {"198.51.100.1", "3.2.0.192.dnsbl.test", wire::type::A, wire::rcode::NOERROR, {c2}},
      // A refused client of a zone with refused_code gets that code, not the data...
      {"198.51.100.1", "3.2.0.192.code.test", wire::type::A, wire::rcode::NOERROR, {0x7ffffffe}},
      {"198.51.100.1", "9.9.9.9.code.test", wire::type::A, wire::rcode::NOERROR, {0x7ffffffe}},
      // ...but the test point still answers, so monitoring sees the list alive.
      {"198.51.100.1", "2.0.0.127.code.test", wire::type::A, wire::rcode::NOERROR, {c2}},
      {"10.0.0.1", "3.2.0.192.code.test", wire::type::A, wire::rcode::NOERROR, {c2}},
      // Keys: the label before the zone.
      {"198.51.100.1", "3.2.0.192.s3cret.key.test", wire::type::A, wire::rcode::NOERROR, {c2}},
      {"198.51.100.1", "3.2.0.192.S3CRET.key.test", wire::type::A, wire::rcode::NOERROR, {c2}},
      {"198.51.100.1", "3.2.0.192.key.test", wire::type::A, wire::rcode::REFUSED, {}},
      {"198.51.100.1", "3.2.0.192.wrong.key.test", wire::type::A, wire::rcode::REFUSED, {}},
      {"198.51.100.1", "9.9.9.9.s3cret.key.test", wire::type::A, wire::rcode::NXDOMAIN, {}},
  };
  for (const auto& c : cases) {
    INFO("client " << c.client << " asks " << c.name);
    QueryStats stats;
    const auto r = w.ask(make_query(c.name, c.qtype), udp_from(c.client), kNow, {}, &stats);
    CHECK(r.msg.rcode() == c.rcode);
    CHECK(r.msg.a_records() == c.codes);
    CHECK(r.msg.has(AA) == (c.rcode != wire::rcode::REFUSED));
    if (c.rcode == wire::rcode::REFUSED) CHECK(stats.refused_acl.load() == 1);
  }
  const auto txt =
      w.ask(make_query("3.2.0.192.code.test", wire::type::TXT), udp_from("198.51.100.1"));
  REQUIRE(txt.msg.txt_records().size() == 1);
  CHECK_THAT(txt.msg.txt_records()[0], Catch::Contains("refused"));
  CHECK_THAT(txt.msg.txt_records()[0], !Catch::Contains("192.0.2"));
}

TEST_CASE("answering does not allocate in the steady state", "[answerer]") {
  StandardWorld w;
  std::vector<Bytes> queries;
  for (const char* name :
       {"3.2.0.192.dnsbl.test", "5.2.0.192.dnsbl.test", "9.9.9.9.dnsbl.test", "0.0.127.dnsbl.test",
        "2.0.0.127.dnsbl.test", "3.2.0.192.zen.test", "x.spammer.example.rhsbl.test",
        "nothing.example.rhsbl.test", "dnsbl.test", "example.com"}) {
    queries.push_back(make_query(name));
    queries.push_back(make_query(name, wire::type::TXT));
  }
  QuerySpec edns = spec("7.113.0.203.dnsbl.test", wire::type::ANY);
  edns.edns = Edns{};
  queries.push_back(make_query(edns));
  queries.push_back(Bytes{0x00, 0x01, 0x02});  // garbage
  HotSubjects hot(600);
  CHECK(w.steady_state_allocations(queries, 50, hot) == 0);
  std::vector<HotSubject> seen;
  hot.collect(kNow + 51 * 60, seen);
  CHECK_FALSE(seen.empty());  // the counter was really in the loop

  // The counter itself sees allocations (so the zero above means something).
  g_allocations = 0;
  g_count_allocations = true;
  auto probe = std::make_unique<std::string>(100, 'x');
  g_count_allocations = false;
  CHECK(g_allocations.load() >= 1);
}

}  // namespace rblzone::zoneserver

namespace rblzone::zoneserver {

TEST_CASE("answer() says which listing a listed answer matched", "[answerer][hot_subjects]") {
  StandardWorld w;
  SECTION("an address under a listed prefix: the prefix, not the address") {
    const auto m = w.matched(make_query("3.2.0.192.dnsbl.test", wire::type::TXT));
    CHECK(m.listed);
    CHECK(m.ip);
    CHECK(m.prefix.to_string() == "192.0.2.0/24");
    CHECK(m.zone == w.zone_id("dnsbl.test"));
    CHECK(m.source == w.zone_id("dnsbl.test"));
  }
  SECTION("a combined zone: queried there, listed in a member") {
    const auto m = w.matched(make_query("7.113.0.203.zen.test"));
    CHECK(m.listed);
    CHECK(m.prefix.to_string() == "203.0.113.7");
    CHECK(m.zone == w.zone_id("zen.test"));
    CHECK(m.source == w.zone_id("dnsbl.test"));
  }
  SECTION("a domain under a wildcard listing: the listed domain") {
    const auto m = w.matched(make_query("x.y.spammer.example.rhsbl.test"));
    CHECK(m.listed);
    CHECK_FALSE(m.ip);
    CHECK(std::string(m.domain, m.domain_size) == "spammer.example");
    CHECK(m.zone == w.zone_id("rhsbl.test"));
  }
  SECTION("nothing to count") {
    for (const char* name : {"9.9.9.9.dnsbl.test", "2.0.0.127.dnsbl.test", "test.rhsbl.test",
                             "dnsbl.test", "5.2.0.192.dnsbl.test", "nothing.example.rhsbl.test"}) {
      INFO(name);
      CHECK_FALSE(w.matched(make_query(name)).listed);
    }
    // Refused by the zone's access rules: not counted either.
    CHECK_FALSE(w.matched(make_query("3.2.0.192.deny.test"), udp_from("192.0.2.1")).listed);
    CHECK(w.matched(make_query("3.2.0.192.deny.test"), udp_from("10.1.2.3")).listed);
  }
}

}  // namespace rblzone::zoneserver
