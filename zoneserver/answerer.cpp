// Query processing, in order: parse, class and opcode, zone by longest
// suffix, access control, decode the listed name, look up, build the
// answer, EDNS and truncation. Each step is a named function below.
#include "zoneserver/answerer.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "zoneserver/hot_subjects.hpp"
#include "zoneserver/txt_template.hpp"
#include "zoneserver/zone_content.hpp"

namespace rblzone::zoneserver {

using core::IpPrefix;
using wire::Writer;

// --- snapshot ----------------------------------------------------------------

Snapshot::Snapshot(core::Store& store) : store_(store) {}

bool Snapshot::renew() {
  serials_.clear();
  try {
    if (!txn_) {
      txn_.emplace(store_.env().begin_read());
      ip_.emplace(*txn_, txn_->dbs().ip);
      domain_.emplace(*txn_, txn_->dbs().domain);
    } else {
      txn_->renew();
      ip_->renew(*txn_);
      domain_->renew(*txn_);
    }
    valid_ = true;
  } catch (const core::StoreError&) {
    valid_ = false;
  }
  return valid_;
}

bool Snapshot::stale() const {
  return !valid_ || txn_->id() != store_.env().last_txn_id() || store_.env().resize_wanted();
}

void Snapshot::reset() {
  if (txn_ && valid_) txn_->reset();
  valid_ = false;
}

std::uint32_t Snapshot::serial(const CatalogZone& z) {
  for (const auto& [id, s] : serials_) {
    if (id == z.id) return s;
  }
  const std::uint32_t s = zone_serial(z, store_, *txn_);  // combined: the members' sum
  serials_.emplace_back(z.id, s);
  return s;
}

void QueryStats::count_latency(std::uint64_t ns) {
  std::size_t b = 0;
  for (std::uint64_t limit = 128; b + 1 < kLatencyBuckets && ns >= limit; limit <<= 1) ++b;
  latency[b].fetch_add(1, std::memory_order_relaxed);
}

namespace {

constexpr std::size_t kOptSize = 11;
constexpr std::size_t kMaxTxt = 255;

IpPrefix::Bytes mapped(std::uint32_t v4) {
  return IpPrefix::v4(v4, 32).bytes();
}
const IpPrefix::Bytes kTestListed = mapped(0x7f000002);
const IpPrefix::Bytes kTestNever = mapped(0x7f000001);

// What the listed name turned out to be.
enum class Verdict { listed, nodata, nxdomain, servfail };

struct Found {
  std::uint32_t codes[16] = {};
  bool test_point = false;  // an RFC 5782 test point, answered whatever the store holds
  std::size_t ncodes = 0;
  const CatalogZone* source = nullptr;  // whose TXT template applies
  std::string_view reason;
  char listed_subject[320] = {};  // the prefix or domain that matched (253 + a label)
  char queried[320] = {};         // "$": the address or domain asked about
  // For IP answers the two texts above are formatted only when a TXT needs
  // them (printf is not free): until then these hold the raw values.
  bool ip_text_pending = false;
  IpPrefix::Bytes queried_addr{};
  IpPrefix listed_prefix;

  void format_ip_texts();

  void add_code(std::uint32_t c) {
    for (std::size_t i = 0; i < ncodes; ++i) {
      if (codes[i] == c) return;
    }
    if (ncodes < std::size(codes)) codes[ncodes++] = c;
  }
};

// --- decoding the listed name ------------------------------------------------

struct IpName {
  bool v4 = false;  // labels are 1..4 canonical decimal octets
  bool v6 = false;  // labels are 1..32 single hex nibbles
  std::size_t labels = 0;
  std::uint32_t v4_addr = 0;  // left-aligned for partial names
  IpPrefix::Bytes v6_addr{};
};

bool octet(std::string_view l, std::uint32_t& v) {
  if (l.empty() || l.size() > 3 || (l.size() > 1 && l[0] == '0')) return false;
  v = 0;
  for (const char c : l) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return v <= 255;
}

int nibble(std::string_view l) {
  if (l.size() != 1) return -1;
  const char c = l[0];
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Labels [0, count) of qname, the most significant last (reversed order).
IpName decode_ip(const wire::Name& qname, std::size_t count) {
  IpName n;
  n.labels = count;
  n.v4 = count >= 1 && count <= 4;
  for (std::size_t i = 0; n.v4 && i < count; ++i) {
    std::uint32_t o = 0;
    n.v4 = octet(qname.label(count - 1 - i), o);
    n.v4_addr |= o << (24 - 8 * i);
  }
  n.v6 = count >= 1 && count <= 32;
  for (std::size_t i = 0; n.v6 && i < count; ++i) {
    const int x = nibble(qname.label(count - 1 - i));
    n.v6 = x >= 0;
    if (n.v6) {
      n.v6_addr[i / 2] |= static_cast<std::uint8_t>(i % 2 == 0 ? x << 4 : x);
    }
  }
  return n;
}

void format_ip(const IpPrefix::Bytes& addr, int length, char* out, std::size_t cap) {
  char buf[INET6_ADDRSTRLEN] = {};
  const IpPrefix p(addr, 128);
  if (p.is_v4()) {
    inet_ntop(AF_INET, addr.data() + 12, buf, sizeof buf);
    if (length >= 0) length -= 96;
  } else {
    inet_ntop(AF_INET6, addr.data(), buf, sizeof buf);
  }
  if (length >= 0 && length != (p.is_v4() ? 32 : 128)) {
    std::snprintf(out, cap, "%s/%d", buf, length);
  } else {
    std::snprintf(out, cap, "%s", buf);
  }
}

void Found::format_ip_texts() {
  if (!ip_text_pending) return;
  format_ip(queried_addr, -1, queried, sizeof queried);
  format_ip(listed_prefix.bytes(), listed_prefix.length(), listed_subject, sizeof listed_subject);
  ip_text_pending = false;
}

// --- lookups -----------------------------------------------------------------

bool range_exists(Snapshot& snap, const CatalogZone& zone, const IpPrefix& range) {
  if (range.contains(kTestListed)) return true;  // the test point's ancestors
  for (const auto* s : zone.sources) {
    if (s->config.kind == core::ZoneKind::ip && core::ip_range_exists(snap.ip(), s->id, range)) {
      return true;
    }
  }
  return false;
}

Verdict lookup_ip(Snapshot& snap, const CatalogZone& zone, const IpName& n, std::int64_t now,
                  Found& found) {
  const bool full_v4 = n.v4 && n.labels == 4;
  const bool full_v6 = n.v6 && n.labels == 32;
  if (full_v4 || full_v6) {
    const IpPrefix::Bytes addr = full_v4 ? mapped(n.v4_addr) : n.v6_addr;
    found.queried_addr = addr;
    if (addr == kTestNever) return Verdict::nxdomain;  // RFC 5782: never listed
    if (addr == kTestListed) {
      found.add_code(0x7f000002);
      found.test_point = true;
      found.source = &zone;
      found.reason = "RFC 5782 test point";
      found.listed_prefix = IpPrefix(kTestListed, 128);
      found.ip_text_pending = true;
      return Verdict::listed;
    }
    for (const auto* s : zone.sources) {
      if (s->config.kind != core::ZoneKind::ip) continue;
      const auto m = core::match_ip(snap.ip(), s->id, addr, now);
      if (!m) continue;
      if (found.ncodes == 0) {
        found.source = s;
        found.reason = m->listing.reason();
        found.listed_prefix = m->prefix;
        found.ip_text_pending = true;
      }
      if (m->listing.code_count() == 0) found.add_code(s->config.default_code);
      for (std::size_t i = 0; i < m->listing.code_count(); ++i) found.add_code(m->listing.code(i));
    }
    if (found.ncodes > 0) return Verdict::listed;
  }
  // Not a listed address: an empty non-terminal if anything lies beneath,
  // in either family (a short v4 name is also the top of the nibble tree).
  if (n.v4 && n.labels < 4) {
    const IpPrefix range = IpPrefix::v4(n.v4_addr, static_cast<std::uint8_t>(8 * n.labels));
    if (range_exists(snap, zone, range)) return Verdict::nodata;
  }
  if (n.v6 && n.labels < 32) {
    const IpPrefix range(n.v6_addr, static_cast<std::uint8_t>(4 * n.labels));
    if (range_exists(snap, zone, range)) return Verdict::nodata;
  }
  return Verdict::nxdomain;
}

Verdict lookup_domain(Snapshot& snap, const CatalogZone& zone, const wire::Name& qname,
                      std::size_t count, std::int64_t now, Found& found) {
  // The key: zone id, then the labels most significant first, each + 0x00.
  char key[2 + wire::kMaxNameSize + 1];
  std::size_t body = 0;
  char* const name_start = key + 2;
  for (std::size_t i = count; i-- > 0;) {
    for (const char c : qname.label(i)) {
      name_start[body++] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    }
    name_start[body++] = '\0';
  }
  // "$" is the name as a domain: labels left to right.
  std::size_t q = 0;
  for (std::size_t i = 0; i < count && q + 64 < sizeof found.queried; ++i) {
    if (i) found.queried[q++] = '.';
    for (const char c : qname.label(i)) {
      found.queried[q++] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    }
  }
  found.queried[q] = '\0';

  if (count == 1 && wire::label_equal_ci(qname.label(0), "invalid")) return Verdict::nxdomain;
  if (count == 1 && wire::label_equal_ci(qname.label(0), "test")) {
    found.add_code(0x7f000002);
    found.test_point = true;
    found.source = &zone;
    found.reason = "RFC 5782 test point";
    std::snprintf(found.listed_subject, sizeof found.listed_subject, "test");
    return Verdict::listed;
  }
  bool exists = false;
  for (const auto* s : zone.sources) {
    if (s->config.kind != core::ZoneKind::domain) continue;
    key[0] = static_cast<char>(s->id >> 8);
    key[1] = static_cast<char>(s->id);
    const std::string_view k(key, 2 + body);
    const auto m = core::match_domain(snap.domain(), k, now);
    if (m) {
      if (found.ncodes == 0) {
        found.source = s;
        found.reason = m->listing.reason();
        // The listed domain is the last `matched_labels` labels of the name.
        const std::size_t skip = count - m->matched_labels;
        std::size_t o = 0;
        for (std::size_t i = skip; i < count && o + 64 < sizeof found.listed_subject; ++i) {
          if (i > skip) found.listed_subject[o++] = '.';
          for (const char c : qname.label(i)) {
            found.listed_subject[o++] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
          }
        }
        found.listed_subject[o] = '\0';
      }
      if (m->listing.code_count() == 0) found.add_code(s->config.default_code);
      for (std::size_t i = 0; i < m->listing.code_count(); ++i) found.add_code(m->listing.code(i));
    } else if (!exists) {
      exists = core::domain_subtree_exists(snap.domain(), k);
    }
  }
  if (found.ncodes > 0) return Verdict::listed;
  if (exists) return Verdict::nodata;
  if (count == 0) return Verdict::nodata;
  return Verdict::nxdomain;
}

// The name's `rel` labels left of the apex (an access key already removed):
// listed, an empty non-terminal (nodata), or nothing. Shared by answer() and
// lookup_name().
Verdict classify(Snapshot& snap, const CatalogZone& zone, const wire::Name& qname, std::size_t rel,
                 std::int64_t now, Found& found) {
  if (rel == 0) return Verdict::nodata;
  try {
    if (zone.ip_data) {
      const IpName n = decode_ip(qname, rel);
      if (n.v4 || n.v6 || !zone.domain_data) return lookup_ip(snap, zone, n, now, found);
    }
    return lookup_domain(snap, zone, qname, rel, now, found);
  } catch (const core::StoreError&) {
    return Verdict::servfail;
  }
}

// --- access control ----------------------------------------------------------

bool client_allowed(const core::AccessConfig& a, const IpPrefix::Bytes& addr) {
  for (const auto& p : a.deny) {
    if (p.contains(addr)) return false;
  }
  if (a.allow.empty()) return true;
  for (const auto& p : a.allow) {
    if (p.contains(addr)) return true;
  }
  return false;
}

// --- building the response ---------------------------------------------------

struct Response {
  Writer& w;
  const wire::Query& q;
  const std::uint8_t* query;
  std::uint16_t flags = wire::flag::QR;
  std::uint16_t an = 0, ns = 0, ar = 0;
  std::uint8_t rcode = 0;
  std::uint16_t ext_rcode = 0;
  std::size_t limit = 512;         // bytes the whole message may take
  std::uint16_t edns_size = 1232;  // what our OPT advertises
  std::size_t after_question = 0;
};

void begin(Response& r, bool with_question) {
  r.w.rollback(0);
  r.w.set_capacity(r.limit - (r.q.has_edns ? kOptSize : 0));
  for (int i = 0; i < 6; ++i) r.w.u16(0);  // header, patched in finish()
  if (with_question && r.q.question_end > wire::kHeaderSize) {
    r.w.bytes(r.query + wire::kHeaderSize, r.q.question_end - wire::kHeaderSize);
  }
  r.after_question = r.w.size();
}

void finish(Response& r, bool with_question) {
  if (r.w.overflow()) {  // never a partial RRset: drop them all and say so
    r.w.rollback(r.after_question);
    r.an = r.ns = 0;
    r.flags |= wire::flag::TC;
  }
  r.w.set_capacity(r.limit);
  if (r.q.has_edns) {
    r.w.u8(0);
    r.w.u16(wire::type::OPT);
    r.w.u16(r.edns_size);
    const std::uint32_t ttl =
        (static_cast<std::uint32_t>(r.ext_rcode >> 4) << 24) | (r.q.dnssec_ok ? 0x8000u : 0u);
    r.w.u32(ttl);
    r.w.u16(0);
    r.ar = 1;
  }
  const std::uint16_t flags = static_cast<std::uint16_t>(r.flags | (r.rcode & 0xf));
  r.w.patch_u16(0, r.q.id);
  r.w.patch_u16(2, flags);
  r.w.patch_u16(4, with_question && r.q.question_end > wire::kHeaderSize ? 1 : 0);
  r.w.patch_u16(6, r.an);
  r.w.patch_u16(8, r.ns);
  r.w.patch_u16(10, r.ar);
}

void add_soa(Response& r, const CatalogZone& z, std::size_t owner, std::uint32_t ttl,
             std::uint32_t serial) {
  const auto& soa = z.config.soa;
  const auto at = r.w.begin_rr_ptr(owner, wire::type::SOA, wire::kClassIN, ttl);
  r.w.name(z.mname);
  r.w.name(z.rname);
  r.w.u32(serial);
  r.w.u32(soa.refresh);
  r.w.u32(soa.retry);
  r.w.u32(soa.expire);
  r.w.u32(soa.minimum);
  r.w.end_rr(at);
}

void add_ns(Response& r, const CatalogZone& z, std::size_t owner) {
  for (const auto& n : z.ns) {
    const auto at = r.w.begin_rr_ptr(owner, wire::type::NS, wire::kClassIN, z.config.ns_ttl);
    r.w.name(n);
    r.w.end_rr(at);
    ++r.an;
  }
}

void add_a(Response& r, std::size_t owner, std::uint32_t ttl, std::uint32_t code) {
  const auto at = r.w.begin_rr_ptr(owner, wire::type::A, wire::kClassIN, ttl);
  r.w.u32(code);
  r.w.end_rr(at);
  ++r.an;
}

// Expands the queried zone's TXT template (a combined zone's own, not its
// member's) into `out`: at most 255 bytes, printable.
std::size_t expand_txt(const CatalogZone& zone, Found& f, char (&out)[kMaxTxt]) {
  f.format_ip_texts();
  const auto& cfg = zone.config;
  std::size_t n = 0;
  auto put = [&](std::string_view s) {
    for (const char c : s) {
      if (n >= kMaxTxt) return;
      out[n++] = (c >= 0x20 && c < 0x7f) ? c : '?';
    }
  };
  expand_txt_template(cfg.txt, cfg.lookup_url, f.queried, f.reason, f.listed_subject,
                      f.ncodes ? f.codes[0] : 0, put);
  return n;
}

void add_txt(Response& r, const CatalogZone& zone, std::size_t owner, Found& f) {
  char text[kMaxTxt];
  const std::size_t n = expand_txt(zone, f, text);
  const std::uint32_t ttl = zone.config.ttl;
  const auto at = r.w.begin_rr_ptr(owner, wire::type::TXT, wire::kClassIN, ttl);
  r.w.u8(static_cast<std::uint8_t>(n));
  r.w.bytes(text, n);
  r.w.end_rr(at);
  ++r.an;
}

void add_positive(Response& r, const CatalogZone& z, Found& f) {
  const std::uint16_t qt = r.q.qtype;
  const std::uint32_t ttl = z.config.ttl;
  if (qt == wire::type::A || qt == wire::type::ANY) {
    for (std::size_t i = 0; i < f.ncodes; ++i) add_a(r, wire::kHeaderSize, ttl, f.codes[i]);
  }
  if (qt == wire::type::TXT || qt == wire::type::ANY) add_txt(r, z, wire::kHeaderSize, f);
}

void answer_apex(Response& r, const CatalogZone& z, std::uint32_t serial) {
  const std::uint16_t qt = r.q.qtype;
  if (qt == wire::type::SOA || qt == wire::type::ANY) {
    add_soa(r, z, wire::kHeaderSize, z.config.soa.ttl, serial);
    ++r.an;
  }
  if (qt == wire::type::NS || qt == wire::type::ANY) add_ns(r, z, wire::kHeaderSize);
}

Outcome error_reply(Response& r, std::uint8_t rcode, bool with_question) {
  r.rcode = rcode;
  begin(r, with_question);
  finish(r, with_question);
  return Outcome::answer;
}

// What a listed answer matched, for the caller's counters (hot_subjects.hpp).
void note_match(Matched& m, const CatalogZone& zone, const Found& f) {
  m.listed = true;
  m.zone = zone.id;
  m.source = f.source ? f.source->id : zone.id;
  m.ip = f.source && f.source->config.kind == core::ZoneKind::ip;
  if (m.ip) {
    m.prefix = f.listed_prefix;
  } else {
    m.domain_size = std::min(std::strlen(f.listed_subject), sizeof m.domain - 1);
    std::memcpy(m.domain, f.listed_subject, m.domain_size);
    m.domain[m.domain_size] = '\0';
  }
}

}  // namespace

Outcome answer(const std::uint8_t* query, std::size_t size, const Client& client,
               const ZoneCatalog& catalog, Snapshot& snapshot, std::int64_t now,
               const AnswerOptions& options, Writer& out, QueryStats* stats, Matched* matched) {
  if (matched) matched->listed = false;
  wire::Query q;
  const auto status = wire::parse_query(query, size, q);
  if (stats) stats->queries.fetch_add(1, std::memory_order_relaxed);
  if (status == wire::ParseStatus::drop) {
    if (stats) stats->dropped.fetch_add(1, std::memory_order_relaxed);
    return Outcome::drop;
  }

  Response r{out, q, query};
  r.edns_size = options.edns_udp_size;
  // UDP: never more than the requester can take (512 without EDNS) or we
  // advertise. A malformed query's reply is a bare header (+OPT if it had
  // one), never larger than the query itself.
  r.limit = client.transport == Transport::tcp
                ? 65535
                : (q.has_edns ? std::min<std::size_t>(std::max<std::uint16_t>(q.udp_size, 512),
                                                      options.edns_udp_size)
                              : 512);
  r.limit = std::min(r.limit, out.capacity());
  auto count = [&](Outcome o) {
    if (stats && o == Outcome::answer) {
      stats->rcode[std::min<std::size_t>(r.rcode, stats->rcode.size() - 1)].fetch_add(
          1, std::memory_order_relaxed);
      if (r.flags & wire::flag::TC) stats->truncated.fetch_add(1, std::memory_order_relaxed);
    }
    return o;
  };

  if (status == wire::ParseStatus::formerr) {
    return count(error_reply(r, wire::rcode::FORMERR, false));
  }
  if (status == wire::ParseStatus::notimp) {
    // Opcode echoed; AA, RD, RA, AD, CD clear.
    r.flags = static_cast<std::uint16_t>(wire::flag::QR | (q.flags & 0x7800));
    return count(error_reply(r, wire::rcode::NOTIMP, true));
  }
  r.flags =
      static_cast<std::uint16_t>(wire::flag::QR | (q.flags & (wire::flag::RD | wire::flag::CD)));
  if (q.has_edns && q.edns_version != 0) {
    r.ext_rcode = wire::rcode::BADVERS;  // no answer, no SOA (RFC 6891 6.1.3)
    return count(error_reply(r, 0, true));
  }
  if (q.qclass != wire::kClassIN && q.qclass != wire::kClassANY) {
    return count(error_reply(r, wire::rcode::REFUSED, true));
  }
  std::size_t apex_label = 0;
  const CatalogZone* zone = catalog.find(q.qname, apex_label);
  if (zone == nullptr) return count(error_reply(r, wire::rcode::REFUSED, true));
  if (stats && zone->index < stats->per_zone.size()) {
    stats->per_zone[zone->index].fetch_add(1, std::memory_order_relaxed);
  }
  if (q.qtype == wire::type::AXFR || q.qtype == wire::type::IXFR) {
    // Zone transfers are not offered (yet): refuse rather than half-serve.
    return count(error_reply(r, wire::rcode::REFUSED, true));
  }

  const auto& access = zone->config.access;
  bool refused = !client_allowed(access, client.addr);
  std::size_t rel = apex_label;  // labels left of the apex (and of any key)
  if (!access.keys.empty() && rel >= 1) {
    const auto label = q.qname.label(rel - 1);
    const bool keyed =
        std::any_of(access.keys.begin(), access.keys.end(),
                    [&](const std::string& k) { return wire::label_equal_ci(label, k); });
    if (keyed) {
      --rel;
    } else if (access.require_key) {
      refused = true;
    }
  }
  const std::size_t apex_owner = wire::kHeaderSize + q.qname.suffix_offset(apex_label);

  if (!snapshot.valid()) {  // the store cannot be read: never "not listed"
    r.flags &= static_cast<std::uint16_t>(~wire::flag::AA);
    return count(error_reply(r, wire::rcode::SERVFAIL, true));
  }

  Found found;
  const Verdict verdict = classify(snapshot, *zone, q.qname, rel, now, found);
  if (verdict == Verdict::servfail) return count(error_reply(r, wire::rcode::SERVFAIL, true));

  const bool test_point = verdict == Verdict::listed && found.test_point;
  if (refused && !(test_point && access.refused_code)) {
    if (stats) stats->refused_acl.fetch_add(1, std::memory_order_relaxed);
    if (!access.refused_code) return count(error_reply(r, wire::rcode::REFUSED, true));
    // An explicit error code outside the listing range (R45, R47).
    r.flags |= wire::flag::AA;
    begin(r, true);
    if (q.qtype == wire::type::A || q.qtype == wire::type::ANY) {
      add_a(r, wire::kHeaderSize, zone->config.ttl, *access.refused_code);
    }
    if (q.qtype == wire::type::TXT || q.qtype == wire::type::ANY) {
      Found f;
      f.source = zone;
      f.reason = "query refused by the list's access policy";
      f.add_code(*access.refused_code);
      add_txt(r, *zone, wire::kHeaderSize, f);
    }
    finish(r, true);
    return count(Outcome::answer);
  }

  r.flags |= wire::flag::AA;
  begin(r, true);
  std::uint32_t serial = 0;
  try {
    serial = snapshot.serial(*zone);
  } catch (const core::StoreError&) {
    r.flags &= static_cast<std::uint16_t>(~wire::flag::AA);
    return count(error_reply(r, wire::rcode::SERVFAIL, true));
  }
  if (rel == 0 && apex_label == 0) {
    answer_apex(r, *zone, serial);
  } else if (verdict == Verdict::listed) {
    add_positive(r, *zone, found);
    if (stats) stats->listed.fetch_add(1, std::memory_order_relaxed);
    if (matched && !found.test_point) note_match(*matched, *zone, found);
  } else if (verdict == Verdict::nxdomain) {
    r.rcode = wire::rcode::NXDOMAIN;
    if (stats) stats->not_listed.fetch_add(1, std::memory_order_relaxed);
  }
  if (r.an == 0 && !r.w.overflow()) {  // NXDOMAIN or NODATA: the SOA tells how long to cache
    add_soa(r, *zone, apex_owner, zone->negative_ttl, serial);
    ++r.ns;
  }
  finish(r, true);
  return count(Outcome::answer);
}

NameAnswer lookup_name(const wire::Name& qname, std::size_t rel, const CatalogZone& zone,
                       Snapshot& snapshot, std::int64_t now) {
  NameAnswer a;
  Found found;
  switch (classify(snapshot, zone, qname, rel, now, found)) {
    case Verdict::listed:
      a.kind = NameAnswer::Kind::listed;
      break;
    case Verdict::nodata:
      a.kind = NameAnswer::Kind::empty;
      return a;
    case Verdict::nxdomain:
      a.kind = NameAnswer::Kind::nxdomain;
      return a;
    case Verdict::servfail:
      a.kind = NameAnswer::Kind::servfail;
      return a;
  }
  a.ncodes = found.ncodes;
  std::copy(found.codes, found.codes + found.ncodes, a.codes);
  a.txt_size = expand_txt(zone, found, a.txt);
  return a;
}

}  // namespace rblzone::zoneserver
