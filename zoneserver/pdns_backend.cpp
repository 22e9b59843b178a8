// The PowerDNS remote-backend methods. Record data comes from lookup_name(),
// the step the native answerer takes, so pdns serves the same codes, TXT,
// NXDOMAIN/NODATA and expiry as rblzoned's own DNS. The protocol as pdns
// 4.7.3 speaks it (which differs from the online docs in places):
// docs/powerdns.md.
#include "zoneserver/pdns_backend.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <variant>

namespace rblzone::zoneserver::pdns {
namespace {

using nlohmann::json;

// The store could not be read: the reply must make pdns SERVFAIL.
struct StoreUnreadable {};

json result(json value) {
  return json{{"result", std::move(value)}};
}

json failure(std::string_view why) {
  return json{{"result", false}, {"log", json::array({"rblzone: " + std::string(why)})}};
}

std::string absolute(const wire::Name& n) {
  return n.labels == 0 ? "." : n.to_string() + ".";
}

// Parses an absolute or relative name as pdns sends it ("a.b.", any case).
bool parse_name(const json& value, wire::Name& out) {
  if (!value.is_string()) return false;
  std::string_view text = value.get_ref<const std::string&>();
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (text.empty()) return false;  // the root is never ours
  return wire::name_from_text(text, out);
}

// The offered zone whose apex is exactly `name`.
const CatalogZone* zone_at(const ZoneCatalog& catalog, const json& name) {
  wire::Name n;
  if (!parse_name(name, n)) return nullptr;
  std::size_t apex_label = 0;
  const CatalogZone* z = catalog.find(n, apex_label);
  return z != nullptr && apex_label == 0 && zone_offered(*z) ? z : nullptr;
}

json domain_info(const CatalogZone& z, Snapshot& snapshot) {
  std::uint32_t serial = 0;
  try {
    serial = snapshot.serial(z);
  } catch (const core::StoreError&) {
    throw StoreUnreadable{};
  }
  return json{{"id", z.id},
              {"zone", z.config.name + "."},
              {"kind", "native"},
              {"serial", serial},
              {"notified_serial", serial},
              {"last_check", 0},
              {"masters", json::array()}};
}

json record(std::string_view type, const std::string& qname, std::string content, std::uint32_t ttl,
            const CatalogZone& z) {
  return json{{"qtype", type}, {"qname", qname},    {"content", std::move(content)},
              {"ttl", ttl},    {"domain_id", z.id}, {"auth", 1}};
}

std::string soa_content(const CatalogZone& z, std::uint32_t serial) {
  const auto& s = z.config.soa;
  return absolute(z.mname) + " " + absolute(z.rname) + " " + std::to_string(serial) + " " +
         std::to_string(s.refresh) + " " + std::to_string(s.retry) + " " +
         std::to_string(s.expire) + " " + std::to_string(s.minimum);
}

std::string a_content(std::uint32_t code) {
  char text[16];
  std::snprintf(text, sizeof text, "%u.%u.%u.%u", code >> 24, (code >> 16) & 0xff,
                (code >> 8) & 0xff, code & 0xff);
  return text;
}

// Zone-file form: quoted, with '"' and '\' escaped (the text is printable).
std::string txt_content(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

bool wants(std::string_view qtype, std::string_view type) {
  return qtype == "ANY" || qtype == type;
}

// The apex: SOA and NS. Elsewhere: what lookup_name() finds, or an ENT
// record for a name that exists without records, so pdns answers NODATA
// (RFC 8020) and stops its wildcard walk there.
json lookup(const json& p, const ZoneCatalog& catalog, Snapshot& snapshot, std::int64_t now) {
  wire::Name n;
  if (!p.contains("qname") || !parse_name(p["qname"], n)) return false;
  std::string qtype = "ANY";
  if (p.contains("qtype")) {
    if (!p["qtype"].is_string()) return false;
    qtype = p["qtype"].get<std::string>();
    std::transform(qtype.begin(), qtype.end(), qtype.begin(),
                   [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; });
  }
  std::size_t apex_label = 0;
  const CatalogZone* z = catalog.find(n, apex_label);
  if (z == nullptr || !zone_offered(*z)) return false;
  const std::string& owner = p["qname"].get_ref<const std::string&>();

  json records = json::array();
  if (apex_label == 0) {
    if (wants(qtype, "SOA")) {
      std::uint32_t serial = 0;
      try {
        serial = snapshot.serial(*z);
      } catch (const core::StoreError&) {
        throw StoreUnreadable{};
      }
      records.push_back(record("SOA", owner, soa_content(*z, serial), z->config.soa.ttl, *z));
    }
    if (wants(qtype, "NS")) {
      for (const auto& ns : z->ns) {
        records.push_back(record("NS", owner, absolute(ns), z->config.ns_ttl, *z));
      }
    }
    return records.empty() ? json(false) : records;
  }

  // As answer(): an optional access key label just left of the apex is
  // not part of the listed name.
  std::size_t rel = apex_label;
  const auto& keys = z->config.access.keys;
  if (std::any_of(keys.begin(), keys.end(), [&](const std::string& k) {
        return wire::label_equal_ci(n.label(rel - 1), k);
      })) {
    --rel;
  }
  const NameAnswer a = lookup_name(n, rel, *z, snapshot, now);
  switch (a.kind) {
    case NameAnswer::Kind::servfail:
      throw StoreUnreadable{};
    case NameAnswer::Kind::nxdomain:
      return false;
    case NameAnswer::Kind::empty:
      if (qtype != "ANY") return false;
      records.push_back(record("ENT", owner, "", 0, *z));
      return records;
    case NameAnswer::Kind::listed:
      break;
  }
  if (wants(qtype, "A")) {
    for (std::size_t i = 0; i < a.ncodes; ++i) {
      records.push_back(record("A", owner, a_content(a.codes[i]), z->config.ttl, *z));
    }
  }
  if (wants(qtype, "TXT")) {
    records.push_back(
        record("TXT", owner, txt_content(std::string_view(a.txt, a.txt_size)), z->config.ttl, *z));
  }
  return records.empty() ? json(false) : records;
}

// "4.3.2.1." for ::ffff:1.2.3.4.
std::string v4_labels(const core::IpPrefix::Bytes& b) {
  std::string out;
  for (std::size_t i = 16; i-- > 12;) out += std::to_string(b[i]) + ".";
  return out;
}

// The 32 reversed nibbles of an IPv6 address, each followed by a dot.
std::string nibble_labels(const core::IpPrefix::Bytes& b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 16; i-- > 0;) {
    out += kHex[b[i] & 0xf];
    out += '.';
    out += kHex[b[i] >> 4];
    out += '.';
  }
  return out;
}

// The DNS name of a single address or domain in `zone`; nullopt for what
// DNS cannot name directly (a prefix, an exclusion, a subtree).
std::optional<std::string> listed_name(const core::Subject& subject, const core::Listing& l,
                                       const CatalogZone& zone) {
  if (l.exclusion()) return std::nullopt;
  if (const auto* d = std::get_if<core::DomainName>(&subject)) {
    if (d->subtree) return std::nullopt;
    return d->name + "." + zone.config.name + ".";
  }
  const auto& p = std::get<core::IpPrefix>(subject);
  if (!p.is_host()) return std::nullopt;
  return (p.is_v4() ? v4_labels(p.bytes()) : nibble_labels(p.bytes())) + zone.config.name + ".";
}

// AXFR through pdns: every record of a small zone in one reply, built from
// lookup() of each listed name so it matches what queries get. false for a
// zone holding prefixes, exclusions or subtrees (no finite name list) or
// more than `max_records` records: pdns cannot carry big zones (2 MiB cap,
// quadratic parsing), and secondaries transfer from rblzoned itself.
json list_zone(const json& p, const ZoneCatalog& catalog, Snapshot& snapshot, std::int64_t now,
               std::size_t max_records) {
  const CatalogZone* z = p.contains("zonename") ? zone_at(catalog, p["zonename"]) : nullptr;
  if (z == nullptr || max_records == 0) return false;
  std::vector<std::string> names = {z->config.name + "."};
  if (z->ip_data) {
    // The RFC 5782 test point, as an IPv4 and as an IPv6 (::ffff:127.0.0.2) name.
    const auto test_point = core::IpPrefix::v4(0x7f000002, 32).bytes();
    names.push_back(v4_labels(test_point) + z->config.name + ".");
    names.push_back(nibble_labels(test_point) + z->config.name + ".");
  }
  if (z->domain_data) names.push_back("test." + z->config.name + ".");
  bool nameable = true;
  for (const auto* source : z->sources) {
    snapshot.store().for_each(snapshot.txn(), core::ZoneRef{source->id, source->config.name},
                              [&](const core::Subject& subject, const core::Listing& l) {
                                if (!l.active_at(now)) return true;
                                auto name = listed_name(subject, l, *z);
                                if (!name) nameable = false;
                                if (name) names.push_back(std::move(*name));
                                return nameable && names.size() <= max_records;
                              });
  }
  if (!nameable || names.size() > max_records) return false;
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  json records = json::array();
  for (const auto& name : names) {
    const json r = lookup(json{{"qname", name}, {"qtype", "ANY"}}, catalog, snapshot, now);
    if (!r.is_array()) continue;
    for (const auto& rec : r) {
      if (rec["qtype"] != "ENT") records.push_back(rec);
    }
    if (records.size() > max_records) return false;
  }
  return records;
}

json all_domains(const ZoneCatalog& catalog, Snapshot& snapshot) {
  std::vector<const CatalogZone*> zones;
  for (const auto& z : catalog.zones()) {
    if (zone_offered(*z)) zones.push_back(z.get());
  }
  std::sort(zones.begin(), zones.end(),
            [](const auto* a, const auto* b) { return a->config.name < b->config.name; });
  json out = json::array();
  for (const auto* z : zones) out.push_back(domain_info(*z, snapshot));
  return out;
}

json dispatch(const json& request, const ZoneCatalog& catalog, Snapshot& snapshot, std::int64_t now,
              const BackendOptions& options) {
  if (!request.is_object() || !request.contains("method") || !request["method"].is_string()) {
    return failure("a request is {\"method\": NAME, \"parameters\": {...}}");
  }
  const std::string& method = request["method"].get_ref<const std::string&>();
  static const json kNone = json::object();
  const json& p = request.contains("parameters") && request["parameters"].is_object()
                      ? request["parameters"]
                      : kNone;
  if (method == "initialize") return result(true);
  if (method == "lookup") return result(lookup(p, catalog, snapshot, now));
  if (method == "getAllDomains") return result(all_domains(catalog, snapshot));
  if (method == "getDomainInfo") {
    const CatalogZone* z = p.contains("name") ? zone_at(catalog, p["name"]) : nullptr;
    return result(z ? domain_info(*z, snapshot) : json(false));
  }
  if (method == "getAllDomainMetadata") return result(json::object());
  if (method == "getDomainMetadata") return result(json::array());
  if (method == "list") {
    json records = list_zone(p, catalog, snapshot, now, options.list_max_records);
    if (records == false) {
      return failure(
          "list: zone not ours, or too big or holding ranges for AXFR through pdns; "
          "transfer from rblzoned's own AXFR/IXFR");
    }
    return result(std::move(records));
  }
  return result(false);  // writes, DNSSEC, TSIG, searches: not ours to do
}

}  // namespace

bool zone_offered(const CatalogZone& zone) {
  const auto& a = zone.config.access;
  return a.allow.empty() && a.deny.empty() && !a.require_key;
}

json handle(const json& request, const ZoneCatalog& catalog, Snapshot& snapshot, std::int64_t now,
            const BackendOptions& options) {
  struct Reset {
    Snapshot& s;
    ~Reset() { s.reset(); }
  } reset{snapshot};
  const bool readable = snapshot.renew();
  try {
    if (!readable) throw StoreUnreadable{};
    return dispatch(request, catalog, snapshot, now, options);
  } catch (const StoreUnreadable&) {
    // No "result": pdns answers SERVFAIL and reconnects, never "not listed".
    return json{{"log", json::array({"rblzone: the store cannot be read"})}};
  } catch (const std::exception& e) {
    return failure(e.what());
  }
}

std::string handle_text(std::string_view request, const ZoneCatalog& catalog, Snapshot& snapshot,
                        std::int64_t now, const BackendOptions& options) {
  json parsed = json::parse(request, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return dump(failure("the request is not a JSON object"));
  }
  return dump(handle(parsed, catalog, snapshot, now, options));
}

std::string dump(const json& reply) {
  return reply.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace rblzone::zoneserver::pdns
