// Tests for core/config: zone and daemon TOML files, their defaults, every
// key, the file:line of each rejected value, durations, and load_zones.
#include "core/config.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "tests/unit/temp_dir.hpp"

namespace rblzone::core {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr std::uint32_t v4(std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
  return a << 24 | b << 16 | c << 8 | d;
}

ZoneConfig zone(const std::string& text) {
  return parse_zone_config(text, "zone.toml");
}

std::string zone_error(const std::string& text) {
  try {
    parse_zone_config(text, "zone.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string daemon_error(const std::string& text) {
  try {
    parse_daemon_config(text, "rblzoned.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

using TempDir = rblzone::testing::TempDir;

struct ErrorCase {
  const char* toml;
  const char* message_start;
};

}  // namespace

TEST_CASE("a minimal zone gets every default", "[config]") {
  const ZoneConfig z = zone("name = \"bl.example.org\"\nkind = \"ip\"\n");
  const ZoneConfig d;
  CHECK(z.file == "zone.toml");
  CHECK(z.name == "bl.example.org");
  CHECK(z.kind == ZoneKind::ip);
  CHECK(z.ttl == 900);
  CHECK(z.ns_ttl == 86400);
  CHECK(z.ns == std::vector<std::string>{"ns1.bl.example.org"});
  CHECK(z.soa.mname == "ns1.bl.example.org");
  CHECK(z.soa.rname == "hostmaster.bl.example.org");
  CHECK(z.soa.ttl == 300);
  CHECK(z.soa.refresh == 300);
  CHECK(z.soa.retry == 60);
  CHECK(z.soa.expire == 172800);
  CHECK(z.soa.minimum == 60);
  CHECK(z.codes == std::map<std::string, std::uint32_t>{{"listed", v4(127, 0, 0, 2)},
                                                        {"trap", v4(127, 0, 0, 3)},
                                                        {"desk", v4(127, 0, 0, 4)},
                                                        {"reports", v4(127, 0, 0, 5)},
                                                        {"repeat", v4(127, 0, 0, 10)}});
  CHECK(z.default_code == v4(127, 0, 0, 2));
  CHECK(z.txt == d.txt);
  CHECK(z.lookup_url == d.lookup_url);
  CHECK(z.members.empty());
  CHECK(z.allowlist.empty());
  CHECK(z.policy.threshold == 1.0);
  CHECK(z.policy.window == 48 * 3600);
  CHECK(z.policy.trap_weight == 1.0);
  CHECK(z.policy.trusted_weight == 1.0);
  CHECK(z.policy.public_weight == 0.1);
  CHECK(z.policy.base_duration == 24 * 3600);
  CHECK(z.policy.factor == 2.0);
  CHECK(z.policy.max_duration == 30 * 24 * 3600);
  CHECK(z.policy.half_life == 30 * 24 * 3600);
  CHECK(z.policy.self_delist_quota == 3);
  CHECK(z.policy.self_delist_period == 90 * 24 * 3600);
  CHECK(z.access.allow.empty());
  CHECK(z.access.deny.empty());
  CHECK(z.access.keys.empty());
  CHECK_FALSE(z.access.require_key);
  CHECK_FALSE(z.access.refused_code.has_value());
}

TEST_CASE("kind defaults to ip and names are normalised", "[config]") {
  const ZoneConfig z = zone("name = \"BL.Example.ORG.\"\nns = [\"NS.Example.NET.\"]\n");
  CHECK(z.kind == ZoneKind::ip);
  CHECK(z.name == "bl.example.org");
  CHECK(z.ns == std::vector<std::string>{"ns.example.net"});
  CHECK(z.soa.mname == "ns.example.net");
}

TEST_CASE("every zone key is parsed", "[config]") {
  const ZoneConfig z = zone(R"(
name = "dbl.example.org"
kind = "domain"
ttl = 600
ns_ttl = 3600
ns = ["a.ns.example.net", "b.ns.example.net"]
txt = "$ listed ({code}) for {reason} as {subject}; see {url}"
lookup_url = "https://rbl.example.org/lookup/$"
default_code = "127.0.1.2"
allowlist = ["example.org", "*.example.net", "Example.COM"]

[codes]
phish = "127.0.1.4"
trap = "127.0.1.3"

[soa]
mname = "master.example.net"
rname = "dns-admin@example.org"
ttl = 600
refresh = 1200
retry = 120
expire = 86400
minimum = 30

[policy]
threshold = 2
window = "12h"
trap_weight = 1.5
trusted_weight = 0.5
public_weight = 0.05
base_duration = 7200
factor = 3
max_duration = "7d"
half_life = "15d"
self_delist_quota = 0
self_delist_period = "30d"

[access]
allow = ["192.0.2.0/24", "2001:db8::/32"]
deny = ["192.0.2.128/25"]
keys = ["abc123", "customer-2"]
require_key = true
refused_code = "127.255.255.254"
)");
  CHECK(z.name == "dbl.example.org");
  CHECK(z.kind == ZoneKind::domain);
  CHECK(z.ttl == 600);
  CHECK(z.ns_ttl == 3600);
  CHECK(z.ns == std::vector<std::string>{"a.ns.example.net", "b.ns.example.net"});
  CHECK(z.txt == "$ listed ({code}) for {reason} as {subject}; see {url}");
  CHECK(z.lookup_url == "https://rbl.example.org/lookup/$");
  CHECK(z.default_code == v4(127, 0, 1, 2));
  CHECK(z.codes.at("listed") == v4(127, 0, 1, 2));
  CHECK(z.codes.at("phish") == v4(127, 0, 1, 4));
  CHECK(z.codes.at("trap") == v4(127, 0, 1, 3));
  CHECK(z.codes.at("desk") == v4(127, 0, 0, 4));
  CHECK(z.codes.size() == 6);
  CHECK(z.allowlist == std::vector<std::string>{"example.org", "*.example.net", "example.com"});
  CHECK(z.soa.mname == "master.example.net");
  CHECK(z.soa.rname == "dns-admin.example.org");
  CHECK(z.soa.ttl == 600);
  CHECK(z.soa.refresh == 1200);
  CHECK(z.soa.retry == 120);
  CHECK(z.soa.expire == 86400);
  CHECK(z.soa.minimum == 30);
  CHECK(z.policy.threshold == 2.0);
  CHECK(z.policy.window == 12 * 3600);
  CHECK(z.policy.trap_weight == 1.5);
  CHECK(z.policy.trusted_weight == 0.5);
  CHECK(z.policy.public_weight == 0.05);
  CHECK(z.policy.base_duration == 7200);
  CHECK(z.policy.factor == 3.0);
  CHECK(z.policy.max_duration == 7 * 86400);
  CHECK(z.policy.half_life == 15 * 86400);
  CHECK(z.policy.self_delist_quota == 0);
  CHECK(z.policy.self_delist_period == 30 * 86400);
  REQUIRE(z.access.allow.size() == 2);
  CHECK(z.access.allow[0] == *IpPrefix::parse("192.0.2.0/24"));
  CHECK(z.access.allow[1] == *IpPrefix::parse("2001:db8::/32"));
  REQUIRE(z.access.deny.size() == 1);
  CHECK(z.access.deny[0] == *IpPrefix::parse("192.0.2.128/25"));
  CHECK(z.access.keys == std::vector<std::string>{"abc123", "customer-2"});
  CHECK(z.access.require_key);
  CHECK(z.access.refused_code == v4(127, 255, 255, 254));
}

TEST_CASE("codes.listed and default_code are one value", "[config]") {
  const ZoneConfig by_code = zone("name = \"a.example\"\n[codes]\nlisted = \"127.0.0.9\"\n");
  CHECK(by_code.default_code == v4(127, 0, 0, 9));
  const ZoneConfig by_default = zone("name = \"a.example\"\ndefault_code = \"127.0.0.9\"\n");
  CHECK(by_default.codes.at("listed") == v4(127, 0, 0, 9));
  const ZoneConfig both =
      zone("name = \"a.example\"\ndefault_code = \"127.0.0.9\"\n[codes]\nlisted = \"127.0.0.9\"\n");
  CHECK(both.default_code == v4(127, 0, 0, 9));
}

TEST_CASE("a combined zone", "[config]") {
  const ZoneConfig z = zone(
      "name = \"zen.example.org\"\nkind = \"combined\"\n"
      "members = [\"bl.example.org\", \"PBL.example.org.\"]\n");
  CHECK(z.kind == ZoneKind::combined);
  CHECK(z.members == std::vector<std::string>{"bl.example.org", "pbl.example.org"});
  const ZoneConfig plain = zone("name = \"a.example\"\nmembers = []\n");
  CHECK(plain.members.empty());
}

TEST_CASE("bad zone values name the file, line, key and what was expected", "[config]") {
  const ErrorCase cases[] = {
      // syntax and structure
      {"name = \"a.example\"\nkind = \"ip\"\nttl = = 3\n", "zone.toml:3: TOML syntax error"},
      {"name = \"a.example\"\nkind = \"ip\"\ncolour = 1\n",
       "zone.toml:3: colour: unknown key (allowed here: name, kind"},
      {"name = \"a.example\"\nkind = \"ip\"\n[policy]\ntreshold = 1\n",
       "zone.toml:4: policy.treshold: unknown key (allowed here: threshold"},
      {"name = \"a.example\"\nkind = \"ip\"\n[ttl]\n", "zone.toml:3: ttl: an integer 1..604800"},
      {"name = \"a.example\"\nkind = \"ip\"\npolicy = 3\n", "zone.toml:3: policy: a table, got 3"},
      {"kind = \"ip\"\nttl = 5\n", "zone.toml: name: a DNS name"},
      // name, kind, TTLs, NS
      {"name = \"a..example\"\n",
       "zone.toml:1: name: a DNS name like \"bl.example.org\", got \"a..example\""},
      {"name = \"*.example.org\"\n", "zone.toml:1: name: a DNS name"},
      {"name = \"192.0.2.1\"\n", "zone.toml:1: name: a DNS name"},
      {"name = 42\n", "zone.toml:1: name: a DNS name like \"bl.example.org\", got 42"},
      {"name = \"a.example\"\nkind = \"ipv4\"\n",
       "zone.toml:2: kind: one of \"ip\", \"domain\", \"combined\", got \"ipv4\""},
      {"name = \"a.example\"\nkind = \"ip\"\nttl = 0\n",
       "zone.toml:3: ttl: an integer 1..604800 (seconds), got 0"},
      {"name = \"a.example\"\nkind = \"ip\"\nttl = 604801\n",
       "zone.toml:3: ttl: an integer 1..604800"},
      {"name = \"a.example\"\nkind = \"ip\"\nttl = \"900\"\n",
       "zone.toml:3: ttl: an integer 1..604800 (seconds), got \"900\""},
      {"name = \"a.example\"\nkind = \"ip\"\nttl = 9.5\n", "zone.toml:3: ttl: an integer"},
      {"name = \"a.example\"\nkind = \"ip\"\nns_ttl = -1\n", "zone.toml:3: ns_ttl: an integer"},
      {"name = \"a.example\"\nkind = \"ip\"\nns = []\n",
       "zone.toml:3: ns: at least one name server"},
      {"name = \"a.example\"\nkind = \"ip\"\nns = \"ns1.a.example\"\n",
       "zone.toml:3: ns: an array of strings"},
      {"name = \"a.example\"\nkind = \"ip\"\nns = [\n  \"ns1.a.example\",\n  \"192.0.2.53\",\n]\n",
       "zone.toml:5: ns: a DNS name"},
      {"name = \"a.example\"\nkind = \"ip\"\nns = [\"x.example\", \"X.example\"]\n",
       "zone.toml:3: ns: names without duplicates"},
      // txt and lookup_url
      {"name = \"a.example\"\nkind = \"ip\"\ntxt = \"see {link}\"\n",
       "zone.toml:3: txt: placeholders $, {reason}, {subject}, {url}, {code}, got \"{link}\""},
      {"name = \"a.example\"\nkind = \"ip\"\ntxt = \"see {url\"\n",
       "zone.toml:3: txt: placeholders"},
      {"name = \"a.example\"\nkind = \"ip\"\ntxt = \"caf\u00e9\"\n",
       "zone.toml:3: txt: printable ASCII only, got byte 0xc3 at offset 3"},
      {"name = \"a.example\"\nkind = \"ip\"\ntxt = \"line\\nbreak\"\n",
       "zone.toml:3: txt: printable ASCII"},
      {"name = \"a.example\"\nkind = \"ip\"\nlookup_url = \"ftp://x.example/$\"\n",
       "zone.toml:3: lookup_url: an http:// or https:// URL"},
      {"name = \"a.example\"\nkind = \"ip\"\nlookup_url = \"http://x.example/a b\"\n",
       "zone.toml:3: lookup_url: an http:// or https:// URL"},
      // codes
      {"name = \"a.example\"\nkind = \"ip\"\ndefault_code = \"127.0.0.1\"\n",
       "zone.toml:3: default_code: an address in 127.0.0.0/8, not 127.0.0.1 and not in "
       "127.255.255.0/24, got \"127.0.0.1\""},
      {"name = \"a.example\"\nkind = \"ip\"\ndefault_code = \"127.255.255.2\"\n",
       "zone.toml:3: default_code: an address in 127.0.0.0/8"},
      {"name = \"a.example\"\nkind = \"ip\"\ndefault_code = \"10.0.0.2\"\n",
       "zone.toml:3: default_code:"},
      {"name = \"a.example\"\nkind = \"ip\"\ndefault_code = \"::ffff:127.0.0.2\"\n",
       "zone.toml:3: default_code:"},
      {"name = \"a.example\"\nkind = \"ip\"\ndefault_code = \"127.0.0.2/32\"\n",
       "zone.toml:3: default_code:"},
      {"name = \"a.example\"\nkind = \"ip\"\n[codes]\ntrap = \"127.0.0.1\"\n",
       "zone.toml:4: codes.trap: an address in 127.0.0.0/8"},
      {"name = \"a.example\"\nkind = \"ip\"\n[codes]\ntrap = 3\n",
       "zone.toml:4: codes.trap: an address in 127.0.0.0/8, not 127.0.0.1 and not in "
       "127.255.255.0/24, got 3"},
      {"name = \"a.example\"\nkind = \"ip\"\n[codes]\n\"Bad Name\" = \"127.0.0.9\"\n",
       "zone.toml:4: codes.Bad Name: a code name"},
      {"name = \"a.example\"\nkind = \"ip\"\ndefault_code = \"127.0.0.3\"\n[codes]\nlisted = "
       "\"127.0.0.2\"\n",
       "zone.toml:3: default_code: must equal codes.listed"},
      // combined zones
      {"name = \"a.example\"\nkind = \"ip\"\nmembers = [\"b.example\"]\n",
       "zone.toml:3: members: only allowed in a combined zone"},
      {"name = \"a.example\"\nkind = \"combined\"\n", "zone.toml: members: a non-empty array"},
      {"name = \"a.example\"\nkind = \"combined\"\nmembers = []\n",
       "zone.toml:3: members: a non-empty array"},
      {"name = \"a.example\"\nkind = \"combined\"\nmembers = [\"a.example\"]\n",
       "zone.toml:3: members: the name of another zone"},
      {"name = \"a.example\"\nkind = \"combined\"\nmembers = [\"b.example\", \"b.example\"]\n",
       "zone.toml:3: members: names without duplicates"},
      {"name = \"a.example\"\nkind = \"combined\"\nmembers = [\"b.example\"]\n[policy]\nthreshold "
       "= 2\n",
       "zone.toml:4: policy: not allowed in a combined zone"},
      {"name = \"a.example\"\nkind = \"combined\"\nmembers = [\"b.example\"]\nallowlist = []\n",
       "zone.toml:4: allowlist: not allowed in a combined zone"},
      // allowlist
      {"name = \"a.example\"\nkind = \"ip\"\nallowlist = [\"192.0.2.1/24\"]\n",
       "zone.toml:3: allowlist: an IP address or prefix (this is an ip zone), got "
       "\"192.0.2.1/24\""},
      {"name = \"a.example\"\nkind = \"ip\"\nallowlist = [\"example.org\"]\n",
       "zone.toml:3: allowlist: an IP address or prefix"},
      {"name = \"a.example\"\nkind = \"domain\"\nallowlist = [\"192.0.2.1\"]\n",
       "zone.toml:3: allowlist: a domain"},
      {"name = \"a.example\"\nkind = \"domain\"\nallowlist = [\"bad domain\"]\n",
       "zone.toml:3: allowlist: a domain"},
      {"name = \"a.example\"\nkind = \"domain\"\nallowlist = [1]\n",
       "zone.toml:3: allowlist: a subject, got 1"},
      // soa
      {"name = \"a.example\"\nkind = \"ip\"\n[soa]\nttl = 0\n",
       "zone.toml:4: soa.ttl: an integer 1..604800"},
      {"name = \"a.example\"\nkind = \"ip\"\n[soa]\nminimum = 86401\n",
       "zone.toml:4: soa.minimum: an integer 0..86400"},
      {"name = \"a.example\"\nkind = \"ip\"\n[soa]\nexpire = 2147483648\n",
       "zone.toml:4: soa.expire: an integer 1..2147483647"},
      {"name = \"a.example\"\nkind = \"ip\"\n[soa]\nmname = \"ns 1\"\n",
       "zone.toml:4: soa.mname: a DNS name"},
      {"name = \"a.example\"\nkind = \"ip\"\n[soa]\nrname = \"a.b@example.org\"\n",
       "zone.toml:4: soa.rname: a mailbox"},
      {"name = \"a.example\"\nkind = \"ip\"\n[soa]\nserial = 1\n",
       "zone.toml:4: soa.serial: unknown key"},
      // policy
      {"name = \"a.example\"\nkind = \"ip\"\n[policy]\nthreshold = 0\n",
       "zone.toml:4: policy.threshold: a number > 0, got 0"},
      {"name = \"a.example\"\nkind = \"ip\"\n[policy]\nthreshold = \"1\"\n",
       "zone.toml:4: policy.threshold: a number > 0"},
      {"name = \"a.example\"\nkind = \"ip\"\n[policy]\npublic_weight = nan\n",
       "zone.toml:4: policy.public_weight: a number > 0, got nan"},
      {"name = \"a.example\"\nkind = \"ip\"\n[policy]\ntrap_weight = inf\n",
       "zone.toml:4: policy.trap_weight: a number > 0"},
      {"name = \"a.example\"\nkind = \"ip\"\n[policy]\nfactor = 0.5\n",
       "zone.toml:4: policy.factor: a number >= 1, got 0.5"},
      {"name = \"a.example\"\nkind = \"ip\"\n[policy]\nwindow = \"5x\"\n",
       "zone.toml:4: policy.window: a duration 1s..3650d: seconds as an integer, or a string like"},
      {"name = \"a.example\"\nkind = \"ip\"\n[policy]\nwindow = \"500ms\"\n",
       "zone.toml:4: policy.window: a duration"},
      {"name = \"a.example\"\nkind = \"ip\"\n[policy]\nwindow = 0\n",
       "zone.toml:4: policy.window: a duration"},
      {"name = \"a.example\"\nkind = \"ip\"\n[policy]\nhalf_life = \"3651d\"\n",
       "zone.toml:4: policy.half_life: a duration"},
      {"name = \"a.example\"\nkind = \"ip\"\n[policy]\nbase_duration = true\n",
       "zone.toml:4: policy.base_duration: a duration"},
      {"name = \"a.example\"\nkind = \"ip\"\n[policy]\nbase_duration = \"2d\"\nmax_duration = "
       "\"1d\"\n",
       "zone.toml:5: policy.max_duration: max_duration must be >= base_duration, got 1d < 2d"},
      {"name = \"a.example\"\nkind = \"ip\"\n[policy]\nbase_duration = \"31d\"\n",
       "zone.toml:4: policy.base_duration: max_duration must be >= base_duration"},
      {"name = \"a.example\"\nkind = \"ip\"\n[policy]\nself_delist_quota = -1\n",
       "zone.toml:4: policy.self_delist_quota: an integer 0..1000"},
      // access
      {"name = \"a.example\"\nkind = \"ip\"\n[access]\nallow = [\"192.0.2.1/24\"]\n",
       "zone.toml:4: access.allow: an IP address or prefix"},
      {"name = \"a.example\"\nkind = \"ip\"\n[access]\ndeny = [\"everyone\"]\n",
       "zone.toml:4: access.deny: an IP address"},
      {"name = \"a.example\"\nkind = \"ip\"\n[access]\nkeys = [\"Upper\"]\n",
       "zone.toml:4: access.keys: an access key"},
      {"name = \"a.example\"\nkind = \"ip\"\n[access]\nkeys = [\"\"]\n",
       "zone.toml:4: access.keys: an access key"},
      {"name = \"a.example\"\nkind = \"ip\"\n[access]\nkeys = [\"k\", \"k\"]\n",
       "zone.toml:4: access.keys: keys without duplicates"},
      {"name = \"a.example\"\nkind = \"ip\"\n[access]\nrequire_key = true\n",
       "zone.toml:4: access.require_key: require_key = true needs at least one entry in keys"},
      {"name = \"a.example\"\nkind = \"ip\"\n[access]\nrequire_key = \"yes\"\n",
       "zone.toml:4: access.require_key: true or false, got \"yes\""},
      {"name = \"a.example\"\nkind = \"ip\"\n[access]\nrefused_code = \"127.0.0.2\"\n",
       "zone.toml:4: access.refused_code: an address in 127.255.255.0/24"},
  };
  for (const auto& c : cases) {
    INFO(c.toml);
    CHECK_THAT(zone_error(c.toml), Catch::StartsWith(c.message_start));
  }
}

TEST_CASE("parse_duration", "[config]") {
  const std::pair<const char*, std::int64_t> good[] = {
      {"90s", 90000}, {"15m", 900000}, {"48h", 172800000}, {"30d", 2592000000},
      {"500ms", 500}, {"0s", 0},       {"007s", 7000},
  };
  for (const auto& [text, ms] : good) {
    INFO(text);
    CHECK(parse_duration(text) == milliseconds(ms));
  }
  const char* bad[] = {"",
                       "s",
                       "10",
                       "-5s",
                       "+5s",
                       "5 s",
                       " 5s",
                       "5s ",
                       "1h30m",
                       "5S",
                       "1.5h",
                       "5sec",
                       "5w",
                       "999999999999999999d",
                       "9999999999999999999s"};
  for (const char* text : bad) {
    INFO(text);
    CHECK_FALSE(parse_duration(text).has_value());
  }
}

TEST_CASE("durations in zone files accept seconds or a unit", "[config]") {
  const ZoneConfig z = zone(
      "name = \"a.example\"\n[policy]\nwindow = 90\nbase_duration = \"15m\"\n"
      "max_duration = \"48h\"\nhalf_life = \"30d\"\nself_delist_period = \"3600s\"\n");
  CHECK(z.policy.window == 90);
  CHECK(z.policy.base_duration == 900);
  CHECK(z.policy.max_duration == 48 * 3600);
  CHECK(z.policy.half_life == 30 * 86400);
  CHECK(z.policy.self_delist_period == 3600);
}

TEST_CASE("a minimal daemon file gets every default", "[config]") {
  const DaemonConfig d = parse_daemon_config("", "/etc/rblzone/rblzoned.toml");
  CHECK(d.file == "/etc/rblzone/rblzoned.toml");
  CHECK(d.data_dir == "/etc/rblzone/data");
  CHECK(d.zones_dir == "/etc/rblzone/zones");
  CHECK(d.dns_listen == std::vector<std::string>{"127.0.0.1:5300"});
  CHECK(d.http_listen == "127.0.0.1:8080");
  CHECK(d.dns_enabled);
  CHECK(d.http_enabled);
  CHECK(d.dns_threads == 0);
  CHECK(d.edns_udp_size == 1232);
  CHECK(d.tcp_max_connections == 256);
  CHECK(d.tcp_idle_timeout_ms == 10000);
  CHECK(d.log_level == "info");
  CHECK_FALSE(d.query_log);
}

TEST_CASE("every daemon key is parsed", "[config]") {
  const DaemonConfig d = parse_daemon_config(R"(
data_dir = "/var/lib/rblzone"
zones_dir = "../zones"
log_level = "debug"

[dns]
enabled = false
listen = ["0.0.0.0:53", "[::]:53", "[2001:db8::1]:5353"]
threads = 4
edns_udp_size = 4096
tcp_max_connections = 1000
tcp_idle_timeout = "500ms"
query_log = true

[http]
enabled = false
listen = "[::1]:0"
threads = 8
)",
                                             "conf/rblzoned.toml");
  CHECK(d.data_dir == "/var/lib/rblzone");
  CHECK(d.zones_dir == "zones");
  CHECK(d.log_level == "debug");
  CHECK_FALSE(d.dns_enabled);
  CHECK(d.dns_listen == std::vector<std::string>{"0.0.0.0:53", "[::]:53", "[2001:db8::1]:5353"});
  CHECK(d.dns_threads == 4);
  CHECK(d.edns_udp_size == 4096);
  CHECK(d.tcp_max_connections == 1000);
  CHECK(d.tcp_idle_timeout_ms == 500);
  CHECK(d.query_log);
  CHECK_FALSE(d.http_enabled);
  CHECK(d.http_listen == "[::1]:0");
  CHECK(d.http_threads == 8);
}

TEST_CASE("daemon durations and paths", "[config]") {
  CHECK(parse_daemon_config("[dns]\ntcp_idle_timeout = 3\n", "x.toml").tcp_idle_timeout_ms == 3000);
  CHECK(parse_daemon_config("[dns]\ntcp_idle_timeout = \"2m\"\n", "x.toml").tcp_idle_timeout_ms ==
        120000);
  const DaemonConfig here = parse_daemon_config("data_dir = \"db\"\n", "rblzoned.toml");
  CHECK(here.data_dir == "db");
  CHECK(parse_daemon_config("[http]\nlisten = \"\"\n", "x.toml").http_listen.empty());
}

TEST_CASE("bad daemon values name the file, line, key and what was expected", "[config]") {
  const ErrorCase cases[] = {
      {"data_dir = \"d\"\ncolour = 1\n",
       "rblzoned.toml:2: colour: unknown key (allowed here: data_dir"},
      {"data_dir = \"\"\n", "rblzoned.toml:1: data_dir: a non-empty path, got \"\""},
      {"zones_dir = 3\n", "rblzoned.toml:1: zones_dir: a non-empty path, got 3"},
      {"log_level = \"verbose\"\n",
       "rblzoned.toml:1: log_level: one of trace, debug, info, warn, error"},
      {"[dns]\nport = 53\n", "rblzoned.toml:2: dns.port: unknown key"},
      {"[dns]\nlisten = \"127.0.0.1:53\"\n", "rblzoned.toml:2: dns.listen: an array of strings"},
      {"[dns]\nlisten = [\"127.0.0.1\"]\n",
       "rblzoned.toml:2: dns.listen: \"IPv4:port\" or \"[IPv6]:port\""},
      {"[dns]\nlisten = [\"::1:53\"]\n", "rblzoned.toml:2: dns.listen: \"IPv4:port\""},
      {"[dns]\nlisten = [\"[::1]:70000\"]\n", "rblzoned.toml:2: dns.listen: \"IPv4:port\""},
      {"[dns]\nlisten = [\"[127.0.0.1]:53\"]\n", "rblzoned.toml:2: dns.listen: \"IPv4:port\""},
      {"[dns]\nlisten = [\"localhost:53\"]\n", "rblzoned.toml:2: dns.listen: \"IPv4:port\""},
      {"[dns]\nlisten = [\"10.0.0.0/8:53\"]\n", "rblzoned.toml:2: dns.listen: \"IPv4:port\""},
      {"[dns]\nlisten = [\"127.0.0.1:\"]\n", "rblzoned.toml:2: dns.listen: \"IPv4:port\""},
      {"[dns]\nlisten = [\"127.0.0.1:53\", \"127.0.0.1:53\"]\n",
       "rblzoned.toml:2: dns.listen: addresses without duplicates"},
      {"[dns]\nlisten = []\n", "rblzoned.toml:2: dns.listen: at least one address"},
      {"[dns]\nthreads = -1\n", "rblzoned.toml:2: dns.threads: an integer 0..1024"},
      {"[dns]\nedns_udp_size = 511\n",
       "rblzoned.toml:2: dns.edns_udp_size: an integer 512..4096 (bytes), got 511"},
      {"[dns]\nedns_udp_size = 4097\n", "rblzoned.toml:2: dns.edns_udp_size: an integer 512..4096"},
      {"[dns]\ntcp_max_connections = 0\n",
       "rblzoned.toml:2: dns.tcp_max_connections: an integer 1.."},
      {"[dns]\ntcp_idle_timeout = \"0ms\"\n",
       "rblzoned.toml:2: dns.tcp_idle_timeout: a duration 1ms..1h"},
      {"[dns]\ntcp_idle_timeout = \"2h\"\n", "rblzoned.toml:2: dns.tcp_idle_timeout: a duration"},
      {"[dns]\nquery_log = 1\n", "rblzoned.toml:2: dns.query_log: true or false, got 1"},
      {"[http]\nlisten = \"127.0.0.1\"\n", "rblzoned.toml:2: http.listen: \"IPv4:port\""},
      {"[http]\nenabled = \"no\"\n", "rblzoned.toml:2: http.enabled: true or false"},
      {"[http]\nthreads = 0\n", "rblzoned.toml:2: http.threads: an integer 1..64"},
      {"dns = [1]\n", "rblzoned.toml:1: dns: a table, got an array"},
      {"[dns\n", "rblzoned.toml:1: TOML syntax error"},
  };
  for (const auto& c : cases) {
    INFO(c.toml);
    CHECK_THAT(daemon_error(c.toml), Catch::StartsWith(c.message_start));
  }
}

TEST_CASE("missing files name the path", "[config]") {
  CHECK_THAT(error_of([] { load_zone_config("/nonexistent/zone.toml"); }),
             Catch::StartsWith("/nonexistent/zone.toml: cannot open"));
  CHECK_THAT(error_of([] { load_daemon_config("/nonexistent/rblzoned.toml"); }),
             Catch::StartsWith("/nonexistent/rblzoned.toml: cannot open"));
  CHECK_THAT(error_of([] { load_zones("/nonexistent/zones"); }),
             Catch::StartsWith("/nonexistent/zones: zones directory does not exist"));
}

TEST_CASE("the shipped zones and example daemon file load", "[config]") {
  const auto zones = load_zones(fs::path(RBLZONE_SOURCE_DIR) / "zones");
  REQUIRE(zones.size() == 4);
  CHECK(zones[0].name == "bl.example.org");
  CHECK(zones[0].kind == ZoneKind::ip);
  CHECK(zones[1].name == "dbl.example.org");
  CHECK(zones[1].kind == ZoneKind::domain);
  CHECK(zones[2].name == "pbl.example.org");
  CHECK(zones[2].default_code == v4(127, 0, 0, 11));
  CHECK(zones[2].codes.at("volume") == v4(127, 0, 0, 12));
  CHECK(zones[3].name == "zen.example.org");
  CHECK(zones[3].kind == ZoneKind::combined);
  CHECK(zones[3].members == std::vector<std::string>{"bl.example.org", "pbl.example.org"});

  const DaemonConfig d =
      load_daemon_config(fs::path(RBLZONE_SOURCE_DIR) / "docs" / "examples" / "rblzoned.toml");
  CHECK(d.data_dir.is_absolute());
}

TEST_CASE("load_zones checks zones together", "[config]") {
  SECTION("files are read in name order, others ignored") {
    const TempDir dir;
    dir.write("b.toml", "name = \"b.example\"\n");
    dir.write("a.toml", "name = \"a.example\"\nkind = \"domain\"\n");
    dir.write("notes.txt", "not a zone");
    dir.write(".#a.toml", "garbage");
    fs::create_directory(dir.path() / "sub.toml");
    const auto zones = load_zones(dir.path());
    REQUIRE(zones.size() == 2);
    CHECK(zones[0].name == "a.example");
    CHECK(zones[0].file == dir.path() / "a.toml");
    CHECK(zones[1].name == "b.example");
  }
  SECTION("an empty directory has no zones") {
    const TempDir dir;
    CHECK(load_zones(dir.path()).empty());
  }
  SECTION("a combined zone with a missing member") {
    const TempDir dir;
    dir.write("a.toml", "name = \"a.example\"\n");
    dir.write("zen.toml",
              "name = \"zen.example\"\nkind = \"combined\"\nmembers = [\n  \"a.example\",\n"
              "  \"missing.example\",\n]\n");
    CHECK_THAT(error_of([&] { load_zones(dir.path()); }),
               Catch::StartsWith((dir.path() / "zen.toml").string() +
                                 ":5: members: the name of a zone in") &&
                   Catch::Contains("got \"missing.example\""));
  }
  SECTION("a combined zone cannot contain a combined zone") {
    const TempDir dir;
    dir.write("a.toml", "name = \"a.example\"\n");
    dir.write("b.toml", "name = \"b.example\"\nkind = \"combined\"\nmembers = [\"a.example\"]\n");
    dir.write("c.toml", "name = \"c.example\"\nkind = \"combined\"\nmembers = [\"b.example\"]\n");
    CHECK_THAT(
        error_of([&] { load_zones(dir.path()); }),
        Catch::StartsWith((dir.path() / "c.toml").string() + ":3: members: an ip or domain zone"));
  }
  SECTION("a combined zone's members share one kind") {
    const TempDir dir;
    dir.write("a.toml", "name = \"a.example\"\n");
    dir.write("b.toml", "name = \"b.example\"\nkind = \"domain\"\n");
    dir.write(
        "c.toml",
        "name = \"c.example\"\nkind = \"combined\"\nmembers = [\"a.example\", \"b.example\"]\n");
    CHECK_THAT(
        error_of([&] { load_zones(dir.path()); }),
        Catch::StartsWith((dir.path() / "c.toml").string() + ":3: members: zones of one kind"));
  }
  SECTION("two files with one zone name") {
    const TempDir dir;
    dir.write("a.toml", "name = \"a.example\"\n");
    dir.write("b.toml", "# the same zone again\nname = \"A.example.\"\n");
    CHECK_THAT(error_of([&] { load_zones(dir.path()); }),
               Catch::StartsWith((dir.path() / "b.toml").string() +
                                 ":2: name: a zone name no other file uses, got \"a.example\""));
  }
  SECTION("an error in one file names that file") {
    const TempDir dir;
    dir.write("a.toml", "name = \"a.example\"\n");
    dir.write("b.toml", "name = \"b.example\"\nttl = 0\n");
    CHECK_THAT(error_of([&] { load_zones(dir.path()); }),
               Catch::StartsWith((dir.path() / "b.toml").string() + ":2: ttl:"));
  }
}

TEST_CASE("the PowerDNS backend socket: off by default, relative to the daemon file", "[config]") {
  CHECK(parse_daemon_config("", "/etc/rblzone/rblzoned.toml").pdns_socket.empty());
  CHECK(
      parse_daemon_config("[pdns]\nsocket = \"/run/rblzone/pdns.sock\"\n", "x.toml").pdns_socket ==
      "/run/rblzone/pdns.sock");
  CHECK(parse_daemon_config("[pdns]\nsocket = \"pdns.sock\"\n", "/etc/rblzone/rblzoned.toml")
            .pdns_socket == "/etc/rblzone/pdns.sock");
  CHECK(parse_daemon_config("[pdns]\nsocket = \"\"\n", "x.toml").pdns_socket.empty());
  CHECK_THAT(
      daemon_error("[pdns]\nsocket = 1\n"),
      Catch::StartsWith("rblzoned.toml:2: pdns.socket: a socket path, or \"\" (off), got 1"));
  CHECK_THAT(daemon_error("[pdns]\npath = \"x\"\n"),
             Catch::StartsWith("rblzoned.toml:2: pdns.path: unknown key (allowed here: socket"));
}

}  // namespace rblzone::core
