// Tests for zoneserver/pdns_backend: the remote-backend methods driven with
// JSON values, no sockets, over a real store in a temp dir; each lookup is
// checked against what answer() says natively for the same name.
#include "zoneserver/pdns_backend.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "tests/unit/fixtures.hpp"
#include "tests/unit/temp_dir.hpp"
#include "tests/unit/wire_bytes.hpp"

namespace rblzone::zoneserver {
namespace {

using nlohmann::json;
constexpr std::int64_t kNow = 1700000000;

using rblzone::testing::listing;

core::ZoneConfig zone(const std::string& name, core::ZoneKind kind = core::ZoneKind::ip) {
  auto z = rblzone::testing::zone(name, kind);
  z.txt = "Listed: {reason} \"quoted\" back\\slash; see {url}";
  z.lookup_url = "https://example.org/lookup/$";
  return z;
}

class World {
 public:
  explicit World(std::vector<core::ZoneConfig> zones) {
    store_ = std::make_unique<core::Store>(dir_.path() / "data", [] { return kNow; });
    catalog_ = ZoneCatalog::build(zones, *store_);
    snapshot_ = std::make_unique<Snapshot>(*store_);
  }
  void list(const std::string& z, const char* subject, const core::Listing& l) {
    store_->env().write([&](core::WriteTxn& txn) {
      const auto ref = store_->ensure_zone(txn, z);
      store_->put(txn, ref, *core::parse_subject(subject), l, {"test", "list", "test"});
    });
  }
  void exclude(const std::string& z, const char* subject) {
    core::Listing l;
    l.flags = core::kFlagExclusion;
    list(z, subject, l);
  }
  json call(const json& request, std::int64_t now = kNow) {
    return pdns::handle(request, *catalog_, *snapshot_, now);
  }
  json lookup(const std::string& qname, const std::string& qtype = "ANY", std::int64_t now = kNow) {
    return call({{"method", "lookup"},
                 {"parameters",
                  {{"qname", qname},
                   {"qtype", qtype},
                   {"zone-id", 1},
                   {"local", "0.0.0.0"},
                   {"remote", "0.0.0.0"},
                   {"real-remote", "0.0.0.0/0"}}}},
                now);
  }
  // The native answer's rcode, A codes as text and TXT strings for qname.
  struct Native {
    unsigned rcode = 0;
    std::vector<std::string> a;
    std::vector<std::string> txt;
  };
  Native native(const std::string& qname, std::uint16_t qtype, std::int64_t now = kNow) {
    rblzone::testing::Bytes q;
    rblzone::testing::put16(q, 1);
    rblzone::testing::put16(q, 0);
    rblzone::testing::put16(q, 1);
    rblzone::testing::put16(q, 0);
    rblzone::testing::put16(q, 0);
    rblzone::testing::put16(q, 0);
    rblzone::testing::put_name(q, qname);
    rblzone::testing::put16(q, qtype);
    rblzone::testing::put16(q, wire::kClassIN);
    std::vector<std::uint8_t> buf(65535);
    wire::Writer w(buf.data(), buf.size());
    REQUIRE(snapshot_->renew());
    const auto o = answer(q.data(), q.size(), Client{{}, Transport::tcp}, *catalog_, *snapshot_,
                          now, {}, w, nullptr);
    snapshot_->reset();
    REQUIRE(o == Outcome::answer);
    Native n;
    wire::Reader r(buf.data(), w.size());
    r.u16();
    n.rcode = r.u16() & 0xfu;
    r.u16();
    const auto an = r.u16();
    r.u16();
    r.u16();
    wire::Name name;
    REQUIRE(wire::read_name(r, name));
    r.skip(4);
    for (unsigned i = 0; i < an; ++i) {
      REQUIRE(wire::read_name(r, name));
      const auto type = r.u16();
      r.skip(6);
      const auto len = r.u16();
      const auto* d = buf.data() + r.pos();
      if (type == wire::type::A) {
        n.a.push_back(std::to_string(d[0]) + "." + std::to_string(d[1]) + "." +
                      std::to_string(d[2]) + "." + std::to_string(d[3]));
      } else if (type == wire::type::TXT) {
        n.txt.emplace_back(reinterpret_cast<const char*>(d + 1), d[0]);
      }
      r.skip(len);
    }
    REQUIRE(r.ok());
    return n;
  }
  std::string text(std::string_view request) {
    return pdns::handle_text(request, *catalog_, *snapshot_, kNow);
  }
  core::ZoneId id(const std::string& name) const {
    for (const auto& z : catalog_->zones()) {
      if (z->config.name == name) return z->id;
    }
    FAIL("no zone " << name);
    return 0;
  }

 private:
  rblzone::testing::TempDir dir_;
  std::unique_ptr<core::Store> store_;
  std::shared_ptr<const ZoneCatalog> catalog_;
  std::unique_ptr<Snapshot> snapshot_;
};

// The TXT content as pdns wants it back in presentation form: unquoted.
std::string unquote(const std::string& content) {
  REQUIRE(content.size() >= 2);
  REQUIRE(content.front() == '"');
  REQUIRE(content.back() == '"');
  std::string out;
  for (std::size_t i = 1; i + 1 < content.size(); ++i) {
    if (content[i] == '\\') ++i;
    out += content[i];
  }
  return out;
}

std::unique_ptr<World> standard() {
  auto combined = zone("zen.test", core::ZoneKind::combined);
  combined.members = {"dnsbl.test", "dbl.test"};
  auto keyed = zone("keyed.test");
  keyed.access.keys = {"k3y"};
  auto restricted = zone("private.test");
  restricted.access.allow = {*core::IpPrefix::parse("192.0.2.0/24")};
  auto p = std::make_unique<World>(std::vector<core::ZoneConfig>{
      zone("dnsbl.test"), zone("dbl.test", core::ZoneKind::domain), combined, keyed, restricted});
  World& w = *p;
  w.list("dnsbl.test", "192.0.2.0/24", listing({0x7f000002}, "spam run"));
  w.exclude("dnsbl.test", "192.0.2.7");
  w.list("dnsbl.test", "203.0.113.7", listing({0x7f000002, 0x7f000003}, "trap"));
  w.list("dnsbl.test", "198.18.0.1", listing({0x7f000004}, "soon gone", kNow + 10));
  w.list("dnsbl.test", "2001:db8::/32", listing({0x7f000005}, "v6 range"));
  w.list("dbl.test", "bad.example", listing({0x7f000002}, "phish"));
  w.list("keyed.test", "192.0.2.1", listing({0x7f000002}, "keyed"));
  w.list("private.test", "192.0.2.1", listing({0x7f000002}, "private"));
  return p;
}

std::string v6name(const char* addr, const std::string& zone_name) {
  const auto b = core::IpPrefix::parse(addr)->bytes();
  std::string out;
  static const char* hex = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out += hex[b[static_cast<std::size_t>(i)] & 0xf];
    out += '.';
    out += hex[b[static_cast<std::size_t>(i)] >> 4];
    out += '.';
  }
  return out + zone_name;
}

TEST_CASE("pdns lookup gives the native answer for every kind of name", "[pdns]") {
  const auto world = standard();
  World& w = *world;
  const std::vector<std::string> names = {
      "3.2.0.192.dnsbl.test.",      // in a listed range
      "7.2.0.192.dnsbl.test.",      // excluded inside it
      "7.113.0.203.dnsbl.test.",    // two codes
      "8.113.0.203.dnsbl.test.",    // unlisted
      "1.0.18.198.dnsbl.test.",     // expires later
      "2.0.0.127.dnsbl.test.",      // test point: listed
      "1.0.0.127.dnsbl.test.",      // test point: never
      "2.0.192.dnsbl.test.",        // empty non-terminal
      "0.0.127.dnsbl.test.",        // the test point's ancestor
      "9.9.9.dnsbl.test.",          // nothing beneath
      "3.2.0.192.zen.test.",        // combined
      "bad.example.dbl.test.",      // domain
      "www.bad.example.dbl.test.",  // not listed as a subtree
      "example.dbl.test.",          // ENT above a listed domain
      "test.dbl.test.",             // domain test point
      "invalid.dbl.test.",          // domain test point: never
      "bad.example.zen.test.",      // combined, domain member
      "1.2.0.192.k3y.keyed.test.",  // access key stripped
      "1.2.0.192.keyed.test.",      // keys optional: works without
      v6name("2001:db8::1", "dnsbl.test."),
      v6name("2001:db9::1", "dnsbl.test."),
      "8.b.d.0.1.0.0.2.dnsbl.test.",  // a v6 ENT
      "3.2.0.192.DnsBl.TEST.",        // case as asked
  };
  for (const auto& name : names) {
    INFO(name);
    const auto native = w.native(name, wire::type::ANY);
    const json reply = w.lookup(name);
    REQUIRE(reply.contains("result"));
    const json& result = reply["result"];
    if (native.rcode == wire::rcode::NXDOMAIN) {
      CHECK(result == false);
      continue;
    }
    REQUIRE(native.rcode == wire::rcode::NOERROR);
    REQUIRE(result.is_array());
    if (native.a.empty() && native.txt.empty()) {  // NODATA: an ENT record
      REQUIRE(result.size() == 1);
      CHECK(result[0]["qtype"] == "ENT");
      CHECK(result[0]["qname"] == name);
      continue;
    }
    std::vector<std::string> a, txt;
    for (const auto& r : result) {
      CHECK(r["qname"] == name);
      CHECK(r["ttl"] == 900);
      CHECK(r["domain_id"].is_number());
      CHECK(r["auth"] == 1);
      if (r["qtype"] == "A") a.push_back(r["content"]);
      if (r["qtype"] == "TXT") txt.push_back(unquote(r["content"]));
    }
    CHECK(a == native.a);
    CHECK(txt == native.txt);
  }
}

TEST_CASE("pdns lookup: the TXT is quoted and escaped as in a zone file", "[pdns]") {
  const auto world = standard();
  World& w = *world;
  const json r = w.lookup("7.113.0.203.dnsbl.test.", "TXT")["result"];
  REQUIRE(r.size() == 1);
  CHECK(r[0]["content"] ==
        "\"Listed: trap \\\"quoted\\\" back\\\\slash; see "
        "https://example.org/lookup/203.0.113.7\"");
}

TEST_CASE("pdns lookup: a specific qtype gets only that type", "[pdns]") {
  const auto world = standard();
  World& w = *world;
  const std::string n = "7.113.0.203.dnsbl.test.";
  const json a = w.lookup(n, "A")["result"];
  REQUIRE(a.size() == 2);
  CHECK(a[0]["qtype"] == "A");
  CHECK(a[1]["qtype"] == "A");
  CHECK(w.lookup(n, "TXT")["result"].size() == 1);
  CHECK(w.lookup(n, "MX")["result"] == false);
  CHECK(w.lookup(n, "SOA")["result"] == false);
  CHECK(w.lookup("2.0.192.dnsbl.test.", "SOA")["result"] == false);  // ENT only for ANY
  CHECK(w.lookup("2.0.192.dnsbl.test.", "A")["result"] == false);
}

TEST_CASE("pdns lookup: the apex has SOA and NS with the zone's id", "[pdns]") {
  const auto world = standard();
  World& w = *world;
  const json r = w.lookup("dnsbl.test.")["result"];
  REQUIRE(r.size() == 2);
  CHECK(r[0]["qtype"] == "SOA");
  CHECK(r[0]["qname"] == "dnsbl.test.");
  CHECK(r[0]["ttl"] == 300);
  CHECK(r[0]["domain_id"] == w.id("dnsbl.test"));
  const std::string soa = r[0]["content"];
  CHECK(soa.starts_with("ns1.dnsbl.test. hostmaster.dnsbl.test. "));
  CHECK(soa.ends_with(" 300 60 172800 60"));
  CHECK(r[1]["qtype"] == "NS");
  CHECK(r[1]["content"] == "ns1.dnsbl.test.");
  CHECK(r[1]["ttl"] == 86400);
  CHECK(w.lookup("dnsbl.test.", "SOA")["result"].size() == 1);
  CHECK(w.lookup("DNSBL.test.", "NS")["result"][0]["qname"] == "DNSBL.test.");
  CHECK(w.lookup("dnsbl.test.", "A")["result"] == false);
}

TEST_CASE("pdns lookup: expiry to the second and changes at once", "[pdns]") {
  const auto world = standard();
  World& w = *world;
  const std::string n = "1.0.18.198.dnsbl.test.";
  CHECK(w.lookup(n, "A", kNow + 9)["result"][0]["content"] == "127.0.0.4");
  CHECK(w.lookup(n, "A", kNow + 10)["result"] == false);
  CHECK(w.lookup("9.0.18.198.dnsbl.test.", "ANY")["result"] == false);
  w.list("dnsbl.test", "198.18.0.9", listing({0x7f000003}, "new"));
  CHECK(w.lookup("9.0.18.198.dnsbl.test.", "A")["result"][0]["content"] == "127.0.0.3");
}

TEST_CASE("pdns lookup: false for names not ours, wildcards and garbage", "[pdns]") {
  const auto world = standard();
  World& w = *world;
  for (const char* n : {"example.com.", ".", "", "*.0.0.127.dnsbl.test.", "a..dnsbl.test.",
                        "1.2.0.192.private.test.", "private.test."}) {
    INFO(n);
    CHECK(w.lookup(n)["result"] == false);
  }
  CHECK(w.call({{"method", "lookup"}, {"parameters", {{"qname", 5}}}})["result"] == false);
  CHECK(w.call({{"method", "lookup"}})["result"] == false);
}

TEST_CASE("pdns getAllDomains and getDomainInfo list the offered zones", "[pdns]") {
  const auto world = standard();
  World& w = *world;
  const json all =
      w.call({{"method", "getAllDomains"}, {"parameters", {{"include_disabled", true}}}});
  REQUIRE(all["result"].is_array());
  std::vector<std::string> names;
  for (const auto& d : all["result"]) {
    names.push_back(d["zone"]);
    CHECK(d["kind"] == "native");
    CHECK(d["serial"].is_number());
    CHECK(d["serial"] == d["notified_serial"]);
    CHECK(d["masters"] == json::array());
  }
  // private.test has a client ACL pdns could not enforce: not offered.
  CHECK(names == std::vector<std::string>{"dbl.test.", "dnsbl.test.", "keyed.test.", "zen.test."});
  const json info =
      w.call({{"method", "getDomainInfo"}, {"parameters", {{"name", "DNSBL.test."}}}});
  CHECK(info["result"]["zone"] == "dnsbl.test.");
  CHECK(info["result"]["id"] == w.id("dnsbl.test"));
  CHECK(w.call({{"method", "getDomainInfo"},
                {"parameters", {{"name", "x.dnsbl.test."}}}})["result"] == false);
  CHECK(w.call({{"method", "getDomainInfo"},
                {"parameters", {{"name", "private.test."}}}})["result"] == false);
}

TEST_CASE("pdns: initialize, metadata, and false for everything else", "[pdns]") {
  const auto world = standard();
  World& w = *world;
  CHECK(w.call({{"method", "initialize"}, {"parameters", {{"path", "/x"}}}})["result"] == true);
  CHECK(w.call({{"method", "getAllDomainMetadata"},
                {"parameters", {{"name", "dnsbl.test."}}}})["result"] == json::object());
  CHECK(w.call({{"method", "getDomainMetadata"},
                {"parameters", {{"name", "dnsbl.test."}, {"kind", "ALSO-NOTIFY"}}}})["result"] ==
        json::array());
  for (const char* m : {"list", "searchRecords", "startTransaction", "feedRecord", "setNotified",
                        "getDomainKeys", "directBackendCmd", "nonsense"}) {
    INFO(m);
    const json r = w.call({{"method", m}, {"parameters", {{"domain_id", 1}}}});
    CHECK(r["result"] == false);
  }
  CHECK(w.call(json::array())["result"] == false);
  CHECK(w.call({{"method", 7}})["result"] == false);
}

TEST_CASE("pdns list: a small zone of names in one reply, else false", "[pdns]") {
  const auto world = standard();
  World& w = *world;
  auto list = [&](const std::string& zone_name, std::int64_t now = kNow) {
    return w.call({{"method", "list"},
                   {"parameters",
                    {{"domain_id", w.id(zone_name)},
                     {"include_disabled", false},
                     {"zonename", zone_name + "."}}}},
                  now);
  };
  const json r = list("dbl.test")["result"];
  REQUIRE(r.is_array());
  std::vector<std::string> got;
  for (const auto& rec : r) {
    CHECK(rec["domain_id"] == w.id("dbl.test"));
    got.push_back(rec["qname"].get<std::string>() + " " + rec["qtype"].get<std::string>() + " " +
                  rec["content"].get<std::string>().substr(0, 9));
  }
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<std::string>{
                   "bad.example.dbl.test. A 127.0.0.2",
                   "bad.example.dbl.test. TXT \"Listed: ",
                   "dbl.test. NS ns1.dbl.t",
                   "dbl.test. SOA ns1.dbl.t",
                   "test.dbl.test. A 127.0.0.2",
                   "test.dbl.test. TXT \"Listed: ",
               });
  // Ranges and exclusions have no finite list of names; pdns then aborts the AXFR.
  CHECK(list("dnsbl.test")["result"] == false);
  CHECK(list("private.test")["result"] == false);
  // A zone of single addresses: its names, the test points, and expiry applies.
  World single({zone("one.test")});
  single.list("one.test", "192.0.2.9", listing({0x7f000003}, "x", kNow + 5));
  single.list("one.test", "2001:db8::9", listing({0x7f000003}, "y"));
  auto names = [&](std::int64_t now) {
    std::vector<std::string> out;
    const json res = single.call({{"method", "list"}, {"parameters", {{"zonename", "one.test."}}}},
                                 now)["result"];
    for (const auto& rec : res) {
      if (rec["qtype"] == "A") out.push_back(rec["qname"]);
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  const std::string v6 = v6name("2001:db8::9", "one.test.");
  const std::string v6_test = v6name("::ffff:127.0.0.2", "one.test.");
  std::vector<std::string> before = {"2.0.0.127.one.test.", "9.2.0.192.one.test.", v6, v6_test};
  std::vector<std::string> after = {"2.0.0.127.one.test.", v6, v6_test};
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  CHECK(names(kNow) == before);
  CHECK(names(kNow + 5) == after);
}

TEST_CASE("pdns handle_text: one JSON object in, one out; garbage gets false", "[pdns]") {
  const auto world = standard();
  World& w = *world;
  CHECK(w.text(R"({"method": "initialize", "parameters": {"path": "/x", "timeout": "2000"}})") ==
        R"({"result":true})");
  for (const char* bad :
       {"", "{", "[1,2]", "null", "\"lookup\"", "{\"method\": \"lookup\"", "\xff\xfe"}) {
    INFO(bad);
    const json r = json::parse(w.text(bad));
    CHECK(r["result"] == false);
    CHECK(r["log"].is_array());
  }
  const json r = json::parse(w.text(
      R"({"method": "lookup", "parameters": {"local": "127.0.0.1", "qname": "2.0.0.127.dnsbl.test.", "qtype": "ANY", "real-remote": "127.0.0.1/32", "remote": "127.0.0.1", "zone-id": 1}})"));
  CHECK(r["result"][0]["content"] == "127.0.0.2");
}

}  // namespace
}  // namespace rblzone::zoneserver
