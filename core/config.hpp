// Configuration: one struct per file (the daemon's TOML and one TOML per zone)
// with its defaults and its validation. This header is the single source of
// truth that --check-config and docs/configuration.md follow.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/subject.hpp"

namespace rblzone::core {

// Thrown for any invalid configuration. what() reads
// "FILE:LINE: KEY: what was expected" (LINE omitted when not known).
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ZoneKind { ip, domain, combined };
inline std::string_view to_string(ZoneKind k) {
  return k == ZoneKind::ip ? "ip" : k == ZoneKind::domain ? "domain" : "combined";
}

struct SoaConfig {
  std::string mname;            // default: the zone's first ns
  std::string rname;            // default "hostmaster." + zone name
  std::uint32_t ttl = 300;      // the SOA record's own TTL
  std::uint32_t refresh = 300;  // R43: NOTIFY does the real work
  std::uint32_t retry = 60;
  std::uint32_t expire = 172800;
  std::uint32_t minimum = 60;  // negative TTL = min(ttl, minimum) (RFC 2308)
};

// Listing policy knobs (DESIGN.md "Listing lifecycle"); durations in seconds.
struct PolicyConfig {
  double threshold = 1.0;
  std::uint32_t window = 48 * 3600;
  double trap_weight = 1.0;
  double trusted_weight = 1.0;
  double public_weight = 0.1;
  std::uint32_t base_duration = 24 * 3600;
  double factor = 2.0;
  std::uint32_t max_duration = 30 * 24 * 3600;
  std::uint32_t half_life = 30 * 24 * 3600;
  std::uint32_t self_delist_quota = 3;
  std::uint32_t self_delist_period = 90 * 24 * 3600;
  // How long reports and history events are kept; expiry never deletes them.
  std::uint32_t report_retention = 90 * 24 * 3600;
  std::uint32_t history_retention = 3650 * 24 * 3600;
};

// What a refused client gets: REFUSED, or an A in 127.255.255.0/24 (R45).
struct AccessConfig {
  std::vector<IpPrefix> allow;    // empty = everyone (unless denied)
  std::vector<IpPrefix> deny;     // deny wins over allow
  std::vector<std::string> keys;  // optional DQS-style access keys (label before the zone)
  bool require_key = false;
  std::optional<std::uint32_t> refused_code;  // host order, within 127.255.255.0/24
};

// Zone transfer to secondaries (docs/scale-out.md): who may AXFR/IXFR, whom
// to NOTIFY on a serial change, and how much journal IXFR may draw on.
// A TSIG key (RFC 8945) secondaries sign their transfer queries with and
// NOTIFY is signed with. The secret is never written to a log or a message.
struct TsigKeyConfig {
  std::string name;                       // lowercase, no trailing dot
  std::string algorithm = "hmac-sha256";  // the only one supported
  std::string secret;                     // decoded bytes
};

struct TransferConfig {
  std::vector<IpPrefix> allow;  // empty: no transfers at all
  // Set: every AXFR/IXFR must be signed with this key (from an allowed
  // address too), and NOTIFY is signed with it.
  std::optional<TsigKeyConfig> tsig;
  std::vector<std::string> notify;                // "ADDR:PORT" of each secondary
  std::uint32_t journal_max_entries = 100000;     // per zone; older entries are trimmed
  std::uint32_t journal_max_age = 7 * 24 * 3600;  // seconds
};

struct ZoneConfig {
  std::filesystem::path file;  // where it was read from, for messages
  std::string name;            // lowercase, no trailing dot
  ZoneKind kind = ZoneKind::ip;
  std::uint32_t ttl = 900;  // A and TXT answers
  std::uint32_t ns_ttl = 86400;
  SoaConfig soa;
  std::vector<std::string> ns;  // default {"ns1." + name}
  // Return codes by name (host order, each in 127.0.0.0/8 but never
  // 127.0.0.1 nor inside 127.255.255.0/24). A zone file's [codes] adds to or
  // overrides these. codes["listed"] == default_code always.
  std::map<std::string, std::uint32_t> codes = {{"listed", 0x7f000002},
                                                {"trap", 0x7f000003},
                                                {"desk", 0x7f000004},
                                                {"reports", 0x7f000005},
                                                {"repeat", 0x7f00000a}};
  std::uint32_t default_code = 0x7f000002;  // a listing that names no code
  // TXT template: "$" is the queried subject (as rbldnsd), "{reason}",
  // "{subject}" (the listed subject, e.g. the prefix), "{url}" and "{code}"
  // (the answer's 127.0.0.x) are substituted; the result is cut at 255 bytes.
  std::string txt = "Listed: {reason}; see {url}";
  // Lookup URL; "$" is replaced by the queried subject.
  std::string lookup_url = "http://127.0.0.1:8080/lookup/$";
  std::vector<std::string> members;  // combined zones: names of member zones
  PolicyConfig policy;
  AccessConfig access;
  std::vector<std::string> allowlist;  // subjects that must never be listed
  TransferConfig transfer;
};

// Response-rate limiting of UDP answers per client prefix (docs/dns.md
// "Response-rate limiting"); off while responses_per_second is 0.
struct RrlConfig {
  unsigned responses_per_second = 0;  // per prefix; burst: one second's worth
  unsigned window = 15;               // seconds of debt a flood can run up
  unsigned slip = 2;                  // every Nth limited answer goes out TC=1; 0: drop all
  unsigned ipv4_prefix = 24;
  unsigned ipv6_prefix = 56;
  friend bool operator==(const RrlConfig&, const RrlConfig&) = default;
};

struct DaemonConfig {
  std::filesystem::path file;  // empty for the embedded default
  std::filesystem::path data_dir = "data";
  std::filesystem::path zones_dir = "zones";
  std::vector<std::string> dns_listen = {"127.0.0.1:5300"};
  std::string http_listen = "127.0.0.1:8080";  // empty: admin off
  // Per client address (IPv6: per /64): public requests per minute (burst
  // the same), delist requests per hour, failed authentications per minute.
  unsigned http_public_per_minute = 300;
  unsigned http_delist_per_hour = 10;
  unsigned http_auth_failures_per_minute = 10;
  // Threads that run HTTP handlers; concurrent writes share a commit
  // (docs/store.md, "Group commit"). 1: one request at a time.
  unsigned http_threads = 4;
  bool dns_enabled = true;
  bool http_enabled = true;
  unsigned dns_threads = 0;  // 0: one per core
  std::uint16_t edns_udp_size = 1232;
  unsigned tcp_max_connections = 256;
  unsigned tcp_idle_timeout_ms = 10000;
  std::string log_level = "info";  // trace, debug, info, warn, error
  bool query_log = false;
  // The PowerDNS remote backend's unix socket (docs/powerdns.md); empty: off.
  std::filesystem::path pdns_socket;
  RrlConfig rrl;  // [dns] rrl
};

// Parses a duration: a decimal integer and one unit, "500ms", "90s", "15m",
// "48h" or "30d". Returns nullopt for anything else (signs, spaces, no unit,
// two units) or when the value overflows.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// Parses a daemon config file. Unknown keys and bad values throw ConfigError.
DaemonConfig load_daemon_config(const std::filesystem::path& file);
DaemonConfig parse_daemon_config(std::string_view toml_text, const std::filesystem::path& file);

// Parses one zone file.
ZoneConfig load_zone_config(const std::filesystem::path& file);
ZoneConfig parse_zone_config(std::string_view toml_text, const std::filesystem::path& file);

// Loads every *.toml in `dir` (sorted by name) and checks them together:
// unique names, combined zones' members exist and are not combined.
std::vector<ZoneConfig> load_zones(const std::filesystem::path& dir);

}  // namespace rblzone::core
