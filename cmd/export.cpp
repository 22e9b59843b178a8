// Zone exports (see export.hpp).
#include "cmd/export.hpp"

#include <ostream>
#include <stdexcept>

#include "zoneserver/zone_catalog.hpp"
#include "zoneserver/zone_content.hpp"

namespace rblzone::cli {
namespace {

namespace wire = zoneserver::wire;

std::uint32_t be32(std::string_view d, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(d[at + i]);
  return v;
}

// A <character-string> list as quoted presentation text.
std::string quoted_strings(std::string_view rdata) {
  std::string out;
  for (std::size_t i = 0; i < rdata.size();) {
    const auto n = static_cast<std::uint8_t>(rdata[i]);
    if (!out.empty()) out += ' ';
    out += '"';
    for (const char c : rdata.substr(i + 1, n)) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
    i += 1u + n;
  }
  return out;
}

// A wire name (uncompressed) as absolute presentation text.
std::string name_text(std::string_view w, std::size_t& at) {
  std::string out;
  while (at < w.size() && w[at] != 0) {
    const auto n = static_cast<std::uint8_t>(w[at]);
    out.append(w.substr(at + 1, n));
    out += '.';
    at += 1u + n;
  }
  ++at;
  return out.empty() ? "." : out;
}

void export_bind(const zoneserver::CatalogZone& zone, core::Store& store, std::int64_t now,
                 std::ostream& out) {
  const core::ReadTxn txn = store.env().begin_read();
  const std::uint32_t serial = zoneserver::zone_serial(zone, store, txn);
  out << "; zone " << zone.config.name << " exported by rblzone at " << core::format_utc(now)
      << "\n$ORIGIN " << zone.config.name << ".\n";
  const std::string soa = zoneserver::soa_rdata(zone, serial);
  std::size_t at = 0;
  const std::string mname = name_text(soa, at);
  const std::string rname = name_text(soa, at);
  out << "@ " << zone.config.soa.ttl << " IN SOA " << mname << " " << rname << " " << be32(soa, at)
      << " " << be32(soa, at + 4) << " " << be32(soa, at + 8) << " " << be32(soa, at + 12) << " "
      << be32(soa, at + 16) << "\n";
  zoneserver::zone_records(zone, store, txn, zoneserver::kIgnoreExpiry,
                           [&](const zoneserver::ZoneRecord& r) {
                             out << zoneserver::owner_text(r.owner) << " " << r.ttl << " IN ";
                             if (r.type == wire::type::A) {
                               out << "A " << core::code_to_string(be32(r.rdata, 0));
                             } else if (r.type == wire::type::TXT) {
                               out << "TXT " << quoted_strings(r.rdata);
                             } else if (r.type == wire::type::NS) {
                               std::size_t p = 0;
                               out << "NS " << name_text(r.rdata, p);
                             } else if (r.type == zoneserver::kPlaceholderType) {
                               out << "HINFO " << quoted_strings(r.rdata);
                             }
                             out << "\n";
                             return static_cast<bool>(out);
                           });
}

// rbldnsd: each entry's TXT is the zone's template expanded with the
// listing's reason and subject, "$" left for rbldnsd (which substitutes
// the queried address or name, as rblzoned does).
std::string rbldnsd_value(const core::ZoneConfig& answering, const core::ZoneConfig& source,
                          const core::Listing& l, const std::string& subject) {
  const std::uint32_t code = l.codes.empty() ? source.default_code : l.codes.front();
  std::string txt;
  const std::string_view t = answering.txt;
  for (std::size_t i = 0; i < t.size();) {
    if (t[i] == '{') {
      const auto close = t.find('}', i);
      if (close != std::string_view::npos) {
        const auto key = t.substr(i + 1, close - i - 1);
        if (key == "reason") {
          txt += l.reason.empty() ? "listed" : l.reason;
        } else if (key == "subject") {
          txt += subject;
        } else if (key == "url") {
          txt += answering.lookup_url;
        } else if (key == "code") {
          txt += core::code_to_string(code);
        } else {
          txt += t.substr(i, close - i + 1);
        }
        i = close + 1;
        continue;
      }
    }
    txt += t[i++];
  }
  std::string clean;
  for (const char c : txt) clean += (c >= 0x20 && c < 0x7f && c != '\n') ? c : '?';
  return ":" + core::code_to_string(code) + ":" + clean;
}

void export_rbldnsd(const zoneserver::CatalogZone& zone, core::Store& store, std::int64_t now,
                    std::ostream& out) {
  const core::ReadTxn txn = store.env().begin_read();
  out << "# zone " << zone.config.name << " exported by rblzone at " << core::format_utc(now)
      << "\n# rbldnsd dataset type: combined\n";
  for (const auto* src : zone.sources) {
    const core::ZoneRef ref{src->id, src->config.name};
    std::vector<std::string> v4, v6, dom;
    store.for_each(txn, ref, [&](const core::Subject& s, const core::Listing& l) {
      if (!l.active_at(now)) return true;
      if (const auto* p = std::get_if<core::IpPrefix>(&s)) {
        const std::string text = p->to_string();
        auto& list = p->is_v4() ? v4 : v6;
        if (l.exclusion()) {
          list.push_back("!" + text);
        } else {
          list.push_back(text + " " + rbldnsd_value(zone.config, src->config, l, text));
        }
      } else {
        const auto& d = std::get<core::DomainName>(s);
        // ".domain": the domain and every name below it.
        const std::string key = d.subtree ? "." + d.name : d.name;
        if (l.exclusion()) {
          dom.push_back("!" + key);
        } else {
          dom.push_back(key + " " + rbldnsd_value(zone.config, src->config, l, d.name));
        }
      }
      return true;
    });
    const auto section = [&](const char* type, const std::vector<std::string>& lines) {
      out << "$DATASET " << type << " @\n";
      for (const auto& line : lines) out << line << "\n";
    };
    if (src->config.kind == core::ZoneKind::ip) {
      core::Listing test;
      test.codes = {0x7f000002};
      test.reason = "RFC 5782 test point";
      v4.push_back("127.0.0.2 " + rbldnsd_value(zone.config, zone.config, test, "127.0.0.2"));
      v4.push_back("!127.0.0.1");
      section("ip4trie", v4);
      section("ip6trie", v6);
    } else {
      section("dnset", dom);
    }
  }
}

}  // namespace

void export_zone(const std::vector<core::ZoneConfig>& zones, core::Store& store,
                 const std::string& zone, const std::string& format, std::int64_t now,
                 std::ostream& out) {
  if (format != "bind" && format != "rbldnsd") {
    throw std::invalid_argument("unknown export format '" + format + "' (bind or rbldnsd)");
  }
  const auto catalog = zoneserver::ZoneCatalog::build(zones, store);
  for (const auto& z : catalog->zones()) {
    if (z->config.name != zone) continue;
    if (format == "bind") {
      export_bind(*z, store, now, out);
    } else {
      export_rbldnsd(*z, store, now, out);
    }
    return;
  }
  throw std::invalid_argument("unknown zone '" + zone + "'");
}

}  // namespace rblzone::cli
