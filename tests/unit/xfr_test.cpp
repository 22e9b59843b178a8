// Tests for zoneserver/zone_content and zoneserver/xfr: which records the
// listings become (wildcards, expansions, stop names), and the AXFR/IXFR
// message streams, over a real store in a temp dir, without sockets.
#include "zoneserver/xfr.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/unit/temp_dir.hpp"
#include "tests/unit/wire_bytes.hpp"
#include "zoneserver/zone_content.hpp"

namespace rblzone::zoneserver {
namespace {

using rblzone::testing::Bytes;
using rblzone::testing::put16;
using rblzone::testing::put32;
using rblzone::testing::put_name;

constexpr std::int64_t kNow = 1700000000;

core::ZoneConfig zone_config(const std::string& name, core::ZoneKind kind) {
  core::ZoneConfig z;
  z.name = name;
  z.kind = kind;
  z.ns = {"ns1." + name};
  z.soa.mname = z.ns.front();
  z.soa.rname = "hostmaster." + name;
  z.txt = "{reason} [{subject}] $";
  z.transfer.allow = {*core::IpPrefix::parse("127.0.0.0/8")};
  return z;
}

struct Fixture {
  rblzone::testing::TempDir dir{"xfr"};
  core::Store store{dir.path() / "data", [] { return kNow; }};
  std::shared_ptr<const ZoneCatalog> catalog;

  Fixture() {
    auto bl = zone_config("bl.test", core::ZoneKind::ip);
    auto dbl = zone_config("dbl.test", core::ZoneKind::domain);
    auto pbl = zone_config("pbl.test", core::ZoneKind::ip);
    pbl.default_code = 0x7f00000a;
    auto zen = zone_config("zen.test", core::ZoneKind::combined);
    zen.members = {"bl.test", "pbl.test"};
    catalog = ZoneCatalog::build({bl, dbl, pbl, zen}, store);
  }

  void put(const std::string& zone, const std::string& subject, std::uint32_t code,
           std::uint8_t flags = 0, std::int64_t expires = 0) {
    core::Listing l;
    if (code) l.codes = {code};
    l.flags = flags;
    l.expires = expires;
    l.reason = "r";
    store.env().write([&](core::WriteTxn& txn) {
      const auto ref = store.ensure_zone(txn, zone);
      store.put(txn, ref, *core::parse_subject(subject), l, core::Change{"test", "list", ""});
    });
  }

  const CatalogZone& zone(const std::string& name) const {
    for (const auto& z : catalog->zones()) {
      if (z->config.name == name) return *z;
    }
    FAIL("no zone " << name);
    throw;
  }

  // owner text -> "TYPE rdata" strings.
  std::map<std::string, std::set<std::string>> records(const std::string& name) {
    std::map<std::string, std::set<std::string>> out;
    const core::ReadTxn txn = store.env().begin_read();
    zone_records(zone(name), store, txn, kNow, [&](const ZoneRecord& r) {
      std::string v;
      if (r.type == wire::type::A) {
        v = "A " +
            core::code_to_string((std::uint32_t{static_cast<std::uint8_t>(r.rdata[0])} << 24) |
                                 static_cast<std::uint8_t>(r.rdata[3]));
      } else if (r.type == wire::type::TXT) {
        v = "TXT " + std::string(r.rdata.substr(1));
      } else if (r.type == kPlaceholderType) {
        v = "HINFO";
      } else if (r.type == wire::type::NS) {
        v = "NS";
      }
      out[owner_text(r.owner)].insert(v);
      return true;
    });
    return out;
  }
};

TEST_CASE("octet-aligned prefixes are wildcards, others expand", "[xfr]") {
  Fixture f;
  f.put("bl.test", "192.0.2.0/24", 0x7f000003);
  f.put("bl.test", "198.51.100.0/23", 0x7f000004);
  f.put("bl.test", "203.0.113.0/30", 0x7f000005);
  const auto r = f.records("bl.test");
  CHECK(r.at("*.2.0.192") ==
        std::set<std::string>{"A 127.0.0.3", "TXT r [192.0.2.0/24] 192.0.2.0/24"});
  CHECK(r.count("*.100.51.198") == 1);
  CHECK(r.count("*.101.51.198") == 1);
  for (const std::string host : {"0.113.0.203", "1.113.0.203", "2.113.0.203", "3.113.0.203"}) {
    const std::string addr = "203.0.113." + host.substr(0, 1);
    CHECK(r.at(host) == std::set<std::string>{"A 127.0.0.5", "TXT r [203.0.113.0/30] " + addr});
  }
  CHECK(r.count("4.113.0.203") == 0);
  // Test points, in both trees.
  CHECK(r.at("2.0.0.127").count("A 127.0.0.2") == 1);
  CHECK(r.count("1.0.0.127") == 0);
  CHECK(r.at("@") == std::set<std::string>{"NS"});
}

TEST_CASE("exclusions and deeper listings under a wildcard stop it", "[xfr]") {
  Fixture f;
  f.put("bl.test", "10.20.0.0/16", 0x7f000002);
  f.put("bl.test", "10.20.30.40", 0x7f000005);
  f.put("bl.test", "10.20.7.0/24", 0, core::kFlagExclusion);
  f.put("bl.test", "10.20.8.9", 0, core::kFlagExclusion);
  const auto r = f.records("bl.test");
  CHECK(r.count("*.20.10") == 1);
  // The /24 holding the host would otherwise be an empty non-terminal that
  // hides the /16's wildcard from its other addresses.
  CHECK(r.at("*.30.20.10").count("A 127.0.0.2") == 1);
  CHECK(r.at("40.30.20.10").count("A 127.0.0.5") == 1);
  CHECK(r.at("7.20.10") == std::set<std::string>{"HINFO"});
  CHECK(r.count("*.7.20.10") == 0);
  CHECK(r.at("9.8.20.10") == std::set<std::string>{"HINFO"});
  CHECK(r.at("*.8.20.10").count("A 127.0.0.2") == 1);
}

TEST_CASE("expired listings are absent; expiry in the future is not", "[xfr]") {
  Fixture f;
  f.put("bl.test", "192.0.2.1", 0x7f000002, 0, kNow);
  f.put("bl.test", "192.0.2.2", 0x7f000002, 0, kNow + 1);
  const auto r = f.records("bl.test");
  CHECK(r.count("1.2.0.192") == 0);
  CHECK(r.count("2.2.0.192") == 1);
}

TEST_CASE("domains: exact names, subtrees as wildcards, exclusions", "[xfr]") {
  Fixture f;
  f.put("dbl.test", "spam.example", 0x7f000002);
  f.put("dbl.test", "*.sub.example", 0x7f000003, core::kFlagSubtree);
  f.put("dbl.test", "a.b.sub.example", 0x7f000004);
  f.put("dbl.test", "x.sub.example", 0, core::kFlagExclusion);
  const auto r = f.records("dbl.test");
  CHECK(r.at("spam.example").count("A 127.0.0.2") == 1);
  CHECK(r.count("*.spam.example") == 0);
  CHECK(r.at("*.sub.example").count("TXT r [sub.example] sub.example") == 1);
  CHECK(r.at("b.sub.example").count("A 127.0.0.3") == 1);  // listed via the subtree
  CHECK(r.at("*.b.sub.example").count("A 127.0.0.3") == 1);
  CHECK(r.at("a.b.sub.example").count("A 127.0.0.4") == 1);
  CHECK(r.count("x.sub.example") == 0);  // exists as the parent of its wildcard
  CHECK(r.at("*.x.sub.example").count("A 127.0.0.3") == 1);
  CHECK(r.at("test").count("A 127.0.0.2") == 1);
}

TEST_CASE("a combined zone answers with its members' codes and their serial sum", "[xfr]") {
  Fixture f;
  f.put("bl.test", "192.0.2.0/24", 0x7f000003);
  f.put("pbl.test", "192.0.2.0/24", 0);
  const auto r = f.records("zen.test");
  CHECK(r.at("*.2.0.192").count("A 127.0.0.3") == 1);
  CHECK(r.at("*.2.0.192").count("A 127.0.0.10") == 1);
  const core::ReadTxn txn = f.store.env().begin_read();
  CHECK(zone_serial(f.zone("zen.test"), f.store, txn) ==
        f.store.serial(txn, "bl.test") + f.store.serial(txn, "pbl.test"));
}

Bytes xfr_query(std::uint16_t qtype, const char* name, std::optional<std::uint32_t> serial = {}) {
  Bytes q;
  put16(q, 0x1234);
  put16(q, 0);
  put16(q, 1);
  put16(q, 0);
  put16(q, serial ? 1 : 0);
  put16(q, 0);
  put_name(q, name);
  put16(q, qtype);
  put16(q, 1);
  if (serial) {
    put_name(q, name);
    put16(q, wire::type::SOA);
    put16(q, 1);
    put32(q, 0);
    Bytes rdata;
    put_name(rdata, "a");
    put_name(rdata, "b");
    put32(rdata, *serial);
    for (int i = 0; i < 4; ++i) put32(rdata, 0);
    put16(q, static_cast<std::uint16_t>(rdata.size()));
    q.insert(q.end(), rdata.begin(), rdata.end());
  }
  return q;
}

struct Sent {
  std::vector<Bytes> messages;
  MessageSink sink() {
    return [this](const std::uint8_t* d, std::size_t n) {
      messages.emplace_back(d, d + n);
      return true;
    };
  }
  int rcode(std::size_t i = 0) const { return messages.at(i)[3] & 0xf; }
  std::uint16_t ancount(std::size_t i) const {
    return static_cast<std::uint16_t>((messages.at(i)[6] << 8) | messages.at(i)[7]);
  }
};

Client client(std::uint32_t v4) {
  return Client{core::IpPrefix::v4(v4, 32).bytes(), Transport::tcp};
}

TEST_CASE("AXFR: SOA first and last, to allowed clients only", "[xfr]") {
  Fixture f;
  f.store.env().write([&](core::WriteTxn& txn) {  // one commit: 3000 would take half a minute
    const auto ref = f.store.ensure_zone(txn, "bl.test");
    core::Listing l;
    l.codes = {0x7f000002};
    l.reason = "r";
    for (int i = 0; i < 3000; ++i) {
      const auto a = core::parse_subject("10.0." + std::to_string(i / 250) + "." +
                                         std::to_string(i % 250 + 1));
      f.store.put(txn, ref, *a, l, core::Change{"test", "list", ""});
    }
  });
  const Bytes q = xfr_query(wire::type::AXFR, "bl.test");
  Sent sent;
  const auto st = serve_transfer(q.data(), q.size(), client(0x7f000001), *f.catalog, f.store, kNow,
                                 sent.sink());
  CHECK_FALSE(st.refused);
  REQUIRE(sent.messages.size() > 1);  // 6000+ records do not fit one message
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < sent.messages.size(); ++i) {
    CHECK(sent.rcode(i) == 0);
    CHECK(sent.messages[i].size() <= 65535);
    total += sent.ancount(i);
  }
  CHECK(total == st.records);
  // The first record after the question is the SOA (type at offset 12+q+2).
  const std::size_t first_rr = q.size();
  CHECK(sent.messages.front()[first_rr + 2] == 0);
  CHECK(sent.messages.front()[first_rr + 3] == wire::type::SOA);

  Sent refused;
  const auto r = serve_transfer(q.data(), q.size(), client(0x0a000001), *f.catalog, f.store, kNow,
                                refused.sink());
  CHECK(r.refused);
  REQUIRE(refused.messages.size() == 1);
  CHECK(refused.rcode() == wire::rcode::REFUSED);

  const Bytes other = xfr_query(wire::type::AXFR, "x.bl.test");
  Sent not_apex;
  serve_transfer(other.data(), other.size(), client(0x7f000001), *f.catalog, f.store, kNow,
                 not_apex.sink());
  CHECK(not_apex.rcode() == wire::rcode::REFUSED);
}

TEST_CASE("IXFR: the SOA alone when current, the journal's difference, or the whole zone",
          "[xfr]") {
  Fixture f;
  f.put("bl.test", "192.0.2.1", 0x7f000002);
  const auto serial_now = [&] {
    const core::ReadTxn txn = f.store.env().begin_read();
    return f.store.serial(txn, "bl.test");
  };
  const std::uint32_t s1 = serial_now();
  const Bytes current = xfr_query(wire::type::IXFR, "bl.test", s1);
  Sent a;
  serve_transfer(current.data(), current.size(), client(0x7f000001), *f.catalog, f.store, kNow,
                 a.sink());
  REQUIRE(a.messages.size() == 1);
  CHECK(a.ancount(0) == 1);

  // Changes since s1: a new address, and 192.0.2.1's code changed.
  f.put("bl.test", "192.0.2.9", 0x7f000004);
  f.put("bl.test", "192.0.2.1", 0x7f000003);
  const Bytes since = xfr_query(wire::type::IXFR, "bl.test", s1);
  Sent b;
  const auto st = serve_transfer(since.data(), since.size(), client(0x7f000001), *f.catalog,
                                 f.store, kNow, b.sink());
  CHECK(st.incremental);
  // SOA new, SOA s1, -A of .1, SOA new, +A of .1, +A +TXT of .9, SOA new, the
  // addresses in both trees (their ::ffff: nibble names too). The TXT of .1
  // does not show the code, so it is unchanged and not sent.
  CHECK(st.records == 2 + 2 + 1 + 2 + 4 + 1);

  // A serial the journal does not reach back to: the whole zone.
  const Bytes old = xfr_query(wire::type::IXFR, "bl.test", s1 - 5);
  Sent c;
  const auto whole = serve_transfer(old.data(), old.size(), client(0x7f000001), *f.catalog, f.store,
                                    kNow, c.sink());
  CHECK_FALSE(whole.incremental);
  CHECK(whole.records > st.records);

  const Bytes bad = xfr_query(wire::type::IXFR, "bl.test");  // no SOA in authority
  Sent d;
  serve_transfer(bad.data(), bad.size(), client(0x7f000001), *f.catalog, f.store, kNow, d.sink());
  CHECK(d.rcode() == wire::rcode::FORMERR);
}

// The records of the zone, sorted, with `old` standing in for the store.
std::vector<std::string> packed(Fixture& f, const ListingOverrides* old, const ZoneRegions* only) {
  std::vector<std::string> out;
  const core::ReadTxn txn = f.store.env().begin_read();
  zone_records(
      f.zone("bl.test"), f.store, txn, kIgnoreExpiry,
      [&](const ZoneRecord& r) {
        out.push_back(owner_text(r.owner) + " " + std::to_string(r.type) + " " +
                      std::string(r.rdata));
        return true;
      },
      old, only);
  std::sort(out.begin(), out.end());
  return out;
}

TEST_CASE("an IXFR region holds exactly the records the changes touch", "[xfr]") {
  Fixture f;
  std::mt19937 rng(5);
  const auto rnd = [&](unsigned n) { return static_cast<unsigned>(rng() % n); };
  const auto v4 = [&] {
    return std::to_string(11 + rnd(3)) + "." + std::to_string(rnd(3)) + "." +
           std::to_string(rnd(4)) + "." + std::to_string(rnd(256));
  };
  for (int i = 0; i < 300; ++i) f.put("bl.test", v4(), 0x7f000002 + rnd(3));
  for (int i = 0; i < 30; ++i) {
    const auto a = v4();
    const unsigned len = 16 + rnd(17);
    const auto net =
        core::IpPrefix::v4(core::IpPrefix::parse(a)->v4_addr(), static_cast<std::uint8_t>(len));
    f.put("bl.test", net.to_string(), 0x7f000003, rnd(3) == 0 ? core::kFlagExclusion : 0);
  }
  for (int round = 0; round < 20; ++round) {
    // Remember what the subjects are now, change them, and compare the
    // difference over the regions with the difference over the whole zone.
    ListingOverrides old;
    std::vector<std::string> subjects;
    for (int i = 0; i < 3; ++i) {
      const auto a = core::IpPrefix::parse(v4());
      const std::uint8_t len = static_cast<std::uint8_t>(rnd(2) ? 32 : 20 + rnd(13));
      subjects.push_back(core::IpPrefix::v4(a->v4_addr(), len).to_string());
    }
    {
      const core::ReadTxn txn = f.store.env().begin_read();
      const auto ref = *f.store.find_zone(txn, "bl.test");
      for (const auto& text : subjects) {
        const auto subject = *core::parse_subject(text);
        old.emplace(core::listing_key(ref.id, subject),
                    ListingOverride{subject, f.store.get(txn, ref, subject)});
      }
    }
    for (const auto& text : subjects) {
      if (rnd(3) == 0) {
        f.store.env().write([&](core::WriteTxn& txn) {
          const auto ref = f.store.ensure_zone(txn, "bl.test");
          f.store.remove(txn, ref, *core::parse_subject(text), core::Change{"t", "delist", ""});
        });
      } else {
        f.put("bl.test", text, 0x7f000002 + rnd(4), rnd(4) == 0 ? core::kFlagExclusion : 0);
      }
    }
    std::optional<ZoneRegions> regions;
    {
      const core::ReadTxn txn = f.store.env().begin_read();
      regions = change_regions(f.zone("bl.test"), txn, old);
    }
    REQUIRE(regions);
    const auto diff = [](const std::vector<std::string>& a, const std::vector<std::string>& b) {
      std::vector<std::string> out;
      std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
      return out;
    };
    const auto full_before = packed(f, &old, nullptr);
    const auto full_after = packed(f, nullptr, nullptr);
    const auto part_before = packed(f, &old, &*regions);
    const auto part_after = packed(f, nullptr, &*regions);
    CHECK(diff(full_before, full_after) == diff(part_before, part_after));
    CHECK(diff(full_after, full_before) == diff(part_after, part_before));
    CHECK(part_after.size() < full_after.size());
  }
}

TEST_CASE("serial arithmetic follows RFC 1982", "[xfr]") {
  CHECK(serial_at_or_after(5, 5));
  CHECK(serial_at_or_after(6, 5));
  CHECK_FALSE(serial_at_or_after(5, 6));
  CHECK(serial_at_or_after(1, 0xffffffffu));
}

}  // namespace
}  // namespace rblzone::zoneserver

namespace rblzone::zoneserver {
namespace {

// Records of a transfer's messages as "owner|type|rdata" strings, in order
// (owners are relative labels then a pointer to the apex, as Stream writes).
std::vector<std::string> stream_records(const std::vector<Bytes>& messages) {
  std::vector<std::string> out;
  for (const auto& m : messages) {
    std::size_t p = 12;
    while (m[p] != 0) p += 1u + m[p];  // the question's name
    p += 5;
    const std::size_t an = (std::size_t{m[6]} << 8) | m[7];
    for (std::size_t i = 0; i < an; ++i) {
      const std::size_t start = p;
      while (m[p] < 0xc0) p += 1u + m[p];
      const std::string owner(m.begin() + static_cast<std::ptrdiff_t>(start),
                              m.begin() + static_cast<std::ptrdiff_t>(p));
      p += 2;
      const unsigned type = (unsigned{m[p]} << 8) | m[p + 1];
      const std::size_t rdlen = (std::size_t{m[p + 8]} << 8) | m[p + 9];
      p += 10;
      out.push_back(owner + "|" + std::to_string(type) + "|" +
                    std::string(m.begin() + static_cast<std::ptrdiff_t>(p),
                                m.begin() + static_cast<std::ptrdiff_t>(p + rdlen)));
      p += rdlen;
    }
  }
  return out;
}

bool is_soa(const std::string& r) {
  return r.rfind("|6|") != std::string::npos && r.substr(0, r.find('|')).empty();
}

// Applies a condensed IXFR (new SOA, old SOA, removed..., new SOA, added...,
// new SOA) to a zone body; nullopt when the stream is not that shape.
std::optional<std::multiset<std::string>> apply_ixfr(std::multiset<std::string> zone,
                                                     const std::vector<std::string>& ixfr) {
  if (ixfr.size() < 4 || !is_soa(ixfr[0]) || !is_soa(ixfr[1]) || !is_soa(ixfr.back())) {
    return std::nullopt;
  }
  std::size_t i = 2;
  for (; i < ixfr.size() && !is_soa(ixfr[i]); ++i) {
    const auto it = zone.find(ixfr[i]);
    if (it == zone.end()) return std::nullopt;  // removes what is not there
    zone.erase(it);
  }
  if (i + 1 >= ixfr.size() || ixfr[i] != ixfr[0]) return std::nullopt;
  for (++i; i + 1 < ixfr.size(); ++i) {
    if (is_soa(ixfr[i])) return std::nullopt;  // one difference only (condensed)
    zone.insert(ixfr[i]);
  }
  return zone;
}

TEST_CASE("IXFR of a combined zone: its members' changes as a difference", "[xfr]") {
  rblzone::testing::TempDir dir{"xfr-combined"};
  std::int64_t now = 1000;
  core::Store store{dir.path() / "data", [&now] { return now; }};
  auto bl = zone_config("bl.test", core::ZoneKind::ip);
  auto pbl = zone_config("pbl.test", core::ZoneKind::ip);
  pbl.default_code = 0x7f00000a;
  auto zen = zone_config("zen.test", core::ZoneKind::combined);
  zen.members = {"bl.test", "pbl.test"};
  const auto catalog = ZoneCatalog::build({bl, pbl, zen}, store);
  const auto put = [&](const std::string& zone, const std::string& subject, std::uint32_t code,
                       std::int64_t expires = 0) {
    core::Listing l;
    l.codes = {code};
    l.reason = "r";
    l.expires = expires;
    store.env().write([&](core::WriteTxn& txn) {
      store.put(txn, store.ensure_zone(txn, zone), *core::parse_subject(subject), l,
                core::Change{"test", "list", ""});
    });
    ++now;  // one change a second
  };
  const auto remove = [&](const std::string& zone, const std::string& subject) {
    store.env().write([&](core::WriteTxn& txn) {
      store.remove(txn, store.ensure_zone(txn, zone), *core::parse_subject(subject),
                   core::Change{"test", "delist", ""});
    });
    ++now;
  };
  const auto zen_serial = [&] {
    const core::ReadTxn txn = store.env().begin_read();
    for (const auto& z : catalog->zones()) {
      if (z->config.name == "zen.test") return zone_serial(*z, store, txn);
    }
    FAIL("no zen.test");
    return 0u;
  };
  const auto transfer = [&](std::optional<std::uint32_t> have, TransferStats* st = nullptr) {
    const Bytes q = xfr_query(have ? wire::type::IXFR : wire::type::AXFR, "zen.test", have);
    Sent sent;
    const auto s =
        serve_transfer(q.data(), q.size(), client(0x7f000001), *catalog, store, now, sent.sink());
    if (st) *st = s;
    return stream_records(sent.messages);
  };
  const auto body = [](std::vector<std::string> records) {  // the zone without its SOA
    std::erase_if(records, is_soa);
    return std::multiset<std::string>(records.begin(), records.end());
  };

  // Enough listings that the changed regions are a small part of the zone.
  store.env().write([&](core::WriteTxn& txn) {
    core::Listing l;
    l.codes = {0x7f000002};
    l.reason = "r";
    for (int i = 0; i < 300; ++i) {
      store.put(
          txn, store.ensure_zone(txn, i % 2 ? "bl.test" : "pbl.test"),
          *core::parse_subject(std::to_string(11 + i % 40) + ".1." + std::to_string(i / 40) + ".7"),
          l, core::Change{"test", "list", ""});
    }
  });
  ++now;
  put("bl.test", "192.0.2.1", 0x7f000002);
  put("pbl.test", "192.0.2.0/24", 0x7f00000a);
  put("bl.test", "198.51.100.9", 0x7f000002, now + 3);  // expires soon
  const std::uint32_t s1 = zen_serial();
  const auto zone_s1 = body(transfer(std::nullopt));

  // Changes in both members, a removal, and an expiry swept.
  put("pbl.test", "192.0.2.1", 0x7f00000b);
  put("bl.test", "192.0.2.7", 0x7f000003);
  remove("bl.test", "192.0.2.1");
  now += 5;
  store.env().write([&](core::WriteTxn& txn) {
    CHECK(store.sweep_expired(txn, store.ensure_zone(txn, "bl.test"), now, 100) == 1);
  });
  const std::uint32_t s2 = zen_serial();
  REQUIRE(s2 == s1 + 4);
  TransferStats st;
  const auto ixfr = transfer(s1, &st);
  CHECK(st.incremental);
  const auto zone_s2 = body(transfer(std::nullopt));
  CHECK(zone_s2 != zone_s1);
  const auto applied = apply_ixfr(zone_s1, ixfr);
  REQUIRE(applied);
  CHECK(*applied == zone_s2);
  CHECK(ixfr.size() < 40);  // the difference, not the zone
  CHECK(zone_s2.size() > 1000);

  // From the serial before the last change only, too.
  TransferStats last;
  const auto one = transfer(s2 - 1, &last);
  CHECK(last.incremental);
  CHECK(one.size() < ixfr.size());

  // A change no region confines (a /8 in one member): the whole zone.
  put("pbl.test", "10.0.0.0/8", 0x7f00000a);
  TransferStats wide;
  const auto whole = transfer(s2, &wide);
  CHECK_FALSE(wide.incremental);
  REQUIRE(!whole.empty());
  CHECK(is_soa(whole.front()));
  CHECK(is_soa(whole.back()));
  CHECK(body(whole) == body(transfer(std::nullopt)));
}

// A zone of many random listings: IP (prefixes, exclusions, expired), and
// domains, in plain and combined zones.
void fill_random(Fixture& f, int n, std::uint32_t seed) {
  // One write transaction for all (a commit each would take minutes).
  std::vector<std::pair<std::string, core::Subject>> subjects;
  std::vector<core::Listing> listings;
  const auto put = [&](const std::string& zone, const std::string& subject, std::uint32_t code,
                       std::uint8_t flags, std::int64_t expires) {
    core::Listing l;
    l.codes = {code};
    l.flags = flags;
    l.expires = expires;
    l.reason = "r";
    subjects.emplace_back(zone, *core::parse_subject(subject));
    listings.push_back(l);
  };
  std::mt19937 rng(seed);
  const auto rnd = [&](unsigned k) { return static_cast<unsigned>(rng() % k); };
  for (int i = 0; i < n; ++i) {
    const unsigned kind = rnd(10);
    const std::uint8_t flags = rnd(8) == 0 ? core::kFlagExclusion : 0;
    const std::int64_t expires = rnd(10) == 0 ? kNow - 1 : 0;
    const std::uint32_t code = 0x7f000002 + rnd(4);
    if (kind < 5) {
      const auto a = core::IpPrefix::v4(static_cast<std::uint32_t>(rng()), 32);
      const unsigned len = rnd(3) == 0 ? 8 + rnd(25) : 32;
      put(rnd(2) ? "bl.test" : "pbl.test",
          core::IpPrefix::v4(a.v4_addr(), static_cast<std::uint8_t>(len)).to_string(), code, flags,
          expires);
    } else if (kind < 7) {
      core::IpPrefix::Bytes b{};
      for (auto& x : b) x = static_cast<std::uint8_t>(rng());
      b[0] = static_cast<std::uint8_t>(0x20 | (b[0] & 1));
      put(rnd(2) ? "bl.test" : "pbl.test",
          core::IpPrefix(b, static_cast<std::uint8_t>(rnd(2) ? 128 : 16 + rnd(100))).to_string(),
          code, flags, expires);
    } else {
      static const char* const kTld[] = {"example", "test", "invalid", "com"};
      std::string name = std::string(1, static_cast<char>('a' + rnd(6))) + "." + kTld[rnd(4)];
      if (rnd(2)) name = std::string(1, static_cast<char>('a' + rnd(6))) + "." + name;
      const bool subtree = rnd(3) == 0;
      put("dbl.test", subtree ? "*." + name : name, code,
          static_cast<std::uint8_t>(flags | (subtree ? core::kFlagSubtree : 0)), expires);
    }
  }
  f.store.env().write([&](core::WriteTxn& txn) {
    for (std::size_t i = 0; i < subjects.size(); ++i) {
      const auto ref = f.store.ensure_zone(txn, subjects[i].first);
      f.store.put(txn, ref, subjects[i].second, listings[i], core::Change{"test", "list", ""});
    }
  });
}

std::vector<std::string> record_list(Fixture& f, const std::string& zone,
                                     const ListingOverrides* overrides) {
  std::vector<std::string> out;
  const core::ReadTxn txn = f.store.env().begin_read();
  zone_records(
      f.zone(zone), f.store, txn, kNow,
      [&](const ZoneRecord& r) {
        out.push_back(owner_text(r.owner) + " " + std::to_string(r.type) + " " +
                      std::string(r.rdata));
        return true;
      },
      overrides);
  return out;
}

TEST_CASE("streamed records are the collected records, in the same order", "[xfr]") {
  for (const std::uint32_t seed : {1u, 2u, 3u}) {
    Fixture f;
    fill_random(f, 1500, seed);
    const ListingOverrides none;  // non-null: the collecting path
    for (const std::string zone : {"bl.test", "pbl.test", "zen.test", "dbl.test"}) {
      INFO(zone << " seed " << seed);
      const auto streamed = record_list(f, zone, nullptr);
      const auto collected = record_list(f, zone, &none);
      CHECK(streamed.size() > 10);
      CHECK(streamed == collected);
    }
  }
}

TEST_CASE("AXFR streams: the first records go out after a few listings, at any size", "[xfr]") {
  for (const int n : {2000, 20000}) {
    Fixture f;
    f.store.env().write([&](core::WriteTxn& txn) {
      const auto ref = f.store.ensure_zone(txn, "bl.test");
      core::Listing l;
      l.codes = {0x7f000002};
      l.reason = "r";
      for (int i = 0; i < n; ++i) {
        const auto a = core::IpPrefix::v4(0x0a000000u + static_cast<std::uint32_t>(i) * 7u, 32);
        f.store.put(txn, ref, a, l, core::Change{"test", "list", ""});
      }
    });
    const Bytes q = xfr_query(wire::type::AXFR, "bl.test");
    const std::uint64_t start = listings_read();
    std::vector<std::uint64_t> read_at;  // listings read when each message went out
    std::uint64_t records = 0;
    const auto st = serve_transfer(q.data(), q.size(), client(0x7f000001), *f.catalog, f.store,
                                   kNow, [&](const std::uint8_t* d, std::size_t) {
                                     read_at.push_back(listings_read() - start);
                                     records += (std::uint64_t{d[6]} << 8) | d[7];
                                     return true;
                                   });
    INFO("n = " << n);
    REQUIRE(read_at.size() > 10);
    CHECK(records == st.records);
    CHECK(st.records > static_cast<std::uint64_t>(4 * n));  // A and TXT, in both trees
    // The first message (SOA and the first records) after at most a message's
    // worth of listings, and every later one after at most that many more.
    CHECK(read_at.front() <= 1000);
    for (std::size_t i = 1; i < read_at.size(); ++i) CHECK(read_at[i] - read_at[i - 1] <= 1000);
    CHECK(read_at.back() == static_cast<std::uint64_t>(2 * n));  // each tree reads them once
  }
}

}  // namespace
}  // namespace rblzone::zoneserver
