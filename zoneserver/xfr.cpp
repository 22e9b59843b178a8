// AXFR and IXFR response streams (see xfr.hpp).
#include "zoneserver/xfr.hpp"

#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

#include "zoneserver/tsig.hpp"
#include "zoneserver/zone_content.hpp"

namespace rblzone::zoneserver {
namespace {

// Messages are cut at this size; 64 KiB is the protocol's limit, a smaller
// message lets the secondary start parsing sooner.
constexpr std::size_t kMessageTarget = 32 * 1024;
constexpr std::size_t kMessageMax = 65535;

bool allowed(const core::TransferConfig& t, const core::IpPrefix::Bytes& addr) {
  return std::any_of(t.allow.begin(), t.allow.end(),
                     [&](const core::IpPrefix& p) { return p.contains(addr); });
}

// Reads the SOA serial from an IXFR query's authority section.
std::optional<std::uint32_t> ixfr_serial(const std::uint8_t* data, std::size_t size,
                                         const wire::Query& q) {
  wire::Reader r(data, size);
  r.seek(6);
  const std::uint16_t ancount = r.u16();
  const std::uint16_t nscount = r.u16();
  if (ancount != 0 || nscount < 1) return std::nullopt;
  r.seek(q.question_end);
  wire::Name owner;
  if (!wire::read_name(r, owner)) return std::nullopt;
  const std::uint16_t type = r.u16();
  r.skip(6);  // class, TTL
  const std::uint16_t rdlen = r.u16();
  const std::size_t rdata_end = r.pos() + rdlen;
  wire::Name mname;
  wire::Name rname;
  if (type != wire::type::SOA || !wire::read_name(r, mname) || !wire::read_name(r, rname)) {
    return std::nullopt;
  }
  const std::uint32_t serial = r.u32();
  if (!r.ok() || r.pos() + 16 != rdata_end) return std::nullopt;
  return serial;
}

// Builds the response messages: each carries the question, so every owner
// can be written as its relative labels plus a pointer to the apex at 12.
class Stream {
 public:
  Stream(const std::uint8_t* query, const wire::Query& q, const MessageSink& send)
      : query_(query), q_(q), send_(send), buf_(kMessageMax) {
    begin();
  }

  bool add(const ZoneRecord& rec) {
    if (failed_) return false;
    const std::size_t need = rec.owner.size() + 2 + 10 + rec.rdata.size();
    if (count_ > 0 && size_ + need > kMessageTarget && !flush()) return false;
    std::uint8_t* p = buf_.data() + size_;
    std::copy(rec.owner.begin(), rec.owner.end(), p);
    p += rec.owner.size();
    *p++ = 0xc0;
    *p++ = static_cast<std::uint8_t>(wire::kHeaderSize);
    const auto put16 = [&p](std::uint32_t v) {
      *p++ = static_cast<std::uint8_t>(v >> 8);
      *p++ = static_cast<std::uint8_t>(v);
    };
    put16(rec.type);
    put16(wire::kClassIN);
    put16(rec.ttl >> 16);
    put16(rec.ttl & 0xffff);
    put16(static_cast<std::uint32_t>(rec.rdata.size()));
    std::copy(rec.rdata.begin(), rec.rdata.end(), p);
    p += rec.rdata.size();
    size_ = static_cast<std::size_t>(p - buf_.data());
    ++count_;
    ++stats_.records;
    return true;
  }

  bool flush() {
    if (failed_) return false;
    const std::uint16_t flags = wire::flag::QR | wire::flag::AA | (rcode_ & 0xf);
    set16(2, flags);
    set16(6, count_);
    ++stats_.messages;
    if (!send_(buf_.data(), size_)) failed_ = true;
    begin();
    return !failed_;
  }

  void set_rcode(std::uint8_t rcode) { rcode_ = rcode; }
  TransferStats& stats() { return stats_; }

 private:
  void begin() {
    size_ = 0;
    count_ = 0;
    std::fill(buf_.begin(), buf_.begin() + wire::kHeaderSize, std::uint8_t{0});
    set16(0, q_.id);
    set16(4, 1);
    std::copy(query_ + wire::kHeaderSize, query_ + q_.question_end,
              buf_.data() + wire::kHeaderSize);
    size_ = q_.question_end;
  }
  void set16(std::size_t at, std::uint32_t v) {
    buf_[at] = static_cast<std::uint8_t>(v >> 8);
    buf_[at + 1] = static_cast<std::uint8_t>(v);
  }

  const std::uint8_t* query_;
  const wire::Query& q_;
  const MessageSink& send_;
  std::vector<std::uint8_t> buf_;
  std::size_t size_ = 0;
  std::uint16_t count_ = 0;
  std::uint8_t rcode_ = 0;
  bool failed_ = false;
  TransferStats stats_;
};

// A record as one sortable string: owner length, owner, type, TTL, RDATA.
std::string pack(const ZoneRecord& r) {
  std::string k;
  k.push_back(static_cast<char>(r.owner.size()));
  k += r.owner;
  for (const std::uint32_t v : {std::uint32_t{r.type} << 16, r.ttl}) {
    for (int b = 3; b >= 0; --b) k.push_back(static_cast<char>(v >> (8 * b)));
  }
  k += r.rdata;
  return k;
}

ZoneRecord unpack(std::string_view k) {
  const auto n = static_cast<std::uint8_t>(k[0]);
  const auto byte = [&](std::size_t i) { return std::uint32_t{static_cast<std::uint8_t>(k[i])}; };
  const std::size_t t = 1u + n;
  return ZoneRecord{k.substr(1, n), static_cast<std::uint16_t>((byte(t) << 8) | byte(t + 1)),
                    (byte(t + 4) << 24) | (byte(t + 5) << 16) | (byte(t + 6) << 8) | byte(t + 7),
                    k.substr(t + 8)};
}

std::vector<std::string> packed_records(const CatalogZone& zone, const core::Store& store,
                                        const core::ReadTxn& txn, const ListingOverrides* overrides,
                                        const ZoneRegions* regions) {
  std::vector<std::string> out;
  zone_records(
      zone, store, txn, kIgnoreExpiry,
      [&](const ZoneRecord& r) {
        out.push_back(pack(r));
        return true;
      },
      overrides, regions);
  std::sort(out.begin(), out.end());
  return out;
}

// The listings as they were at serial `from`, for the subjects the journal
// says changed since: the `before` of the history event of each subject's
// first change after `from`. nullopt when the journal no longer reaches back
// to `from`, or an event cannot be matched unambiguously.
std::optional<ListingOverrides> state_at(const CatalogZone& zone, core::Store& store,
                                         const core::ReadTxn& txn, std::uint32_t from,
                                         std::uint32_t current) {
  const core::ZoneRef ref{zone.id, zone.config.name};
  const auto journal = store.journal_since(txn, ref, from);
  if (journal.empty() || journal.front().serial != from + 1 || journal.back().serial != current) {
    return std::nullopt;
  }
  ListingOverrides out;
  for (const auto& e : journal) {
    const auto subject = core::parse_subject(e.subject);
    if (!subject) return std::nullopt;
    const std::string key = core::listing_key(zone.id, *subject);
    if (out.count(key)) continue;  // only the first change after `from` tells
    std::optional<std::optional<core::Listing>> before;
    for (const auto& h : store.history(txn, ref, *subject)) {
      if (h.time != e.time || h.after.has_value() == e.removed) continue;
      if (!e.removed && h.after != e.listing) continue;
      if (before && *before != h.before) return std::nullopt;  // ambiguous
      before = h.before;
    }
    if (!before) return std::nullopt;
    out.emplace(key, ListingOverride{*subject, *before});
  }
  return out;
}

// A combined zone's listings as they were at its serial `from`. Its serial
// is the sum of its members' and each change adds one, so the secondary at
// `from` lacks the newest (current - from) changes of all members together.
// The members' journals hold each change's time (in seconds), so those
// changes are the newest by time, unless the cut falls inside one second in
// which more than one member changed: their relative order is not recorded,
// and then (or when a journal no longer reaches back) nullopt: a whole zone.
std::optional<ListingOverrides> combined_state_at(const CatalogZone& zone, core::Store& store,
                                                  const core::ReadTxn& txn, std::uint32_t from,
                                                  std::uint32_t current) {
  const std::uint32_t n = current - from;
  if (n == 0 || n > (1u << 20)) return std::nullopt;  // behind by more than any journal holds
  struct Event {
    std::int64_t time;
    std::size_t member;
    std::uint32_t serial;
  };
  std::vector<Event> events;
  std::vector<std::uint32_t> serials;
  // Members whose journal holds fewer than n entries: trimmed, or the zone
  // is younger; either way what came before its first entry is unknown.
  std::vector<bool> short_journal;
  for (std::size_t m = 0; m < zone.sources.size(); ++m) {
    const CatalogZone& src = *zone.sources[m];
    const core::ZoneRef ref{src.id, src.config.name};
    const std::uint32_t s = store.serial(txn, ref);
    serials.push_back(s);
    const auto journal = store.journal_since(txn, ref, s >= n ? s - n : 0);
    if (!journal.empty() && journal.back().serial != s) return std::nullopt;
    short_journal.push_back(journal.size() < n);
    for (const auto& e : journal) events.push_back(Event{e.time, m, e.serial});
  }
  if (events.size() < n) return std::nullopt;
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.time != b.time ? a.time > b.time : a.serial > b.serial;
  });
  // The cut: events[0, n) are undone. Within one member the order is its
  // serials; across members only the seconds tell.
  if (events.size() > n && events[n].time == events[n - 1].time) {
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (events[i].time == events[n - 1].time && events[i].member != events[n - 1].member) {
        return std::nullopt;
      }
    }
  }
  std::vector<std::uint32_t> undo(zone.sources.size(), 0);
  for (std::size_t i = 0; i < n; ++i) ++undo[events[i].member];
  ListingOverrides out;
  for (std::size_t m = 0; m < zone.sources.size(); ++m) {
    if (undo[m] == 0) continue;
    // Every entry of a short journal undone: an older unknown change might
    // belong to the cut too. (Had one entry stayed, all older ones stay.)
    if (short_journal[m] && std::count_if(events.begin(), events.end(), [m](const Event& e) {
                              return e.member == m;
                            }) == static_cast<std::ptrdiff_t>(undo[m])) {
      return std::nullopt;
    }
    const auto old = state_at(*zone.sources[m], store, txn, serials[m] - undo[m], serials[m]);
    if (!old) return std::nullopt;
    out.insert(old->begin(), old->end());  // keys carry the member's zone id
  }
  return out;
}

}  // namespace

bool is_transfer_query(const std::uint8_t* query, std::size_t size) {
  wire::Query q;
  if (wire::parse_query(query, size, q) != wire::ParseStatus::ok) return false;
  return q.qtype == wire::type::AXFR || q.qtype == wire::type::IXFR;
}

TransferStats serve_transfer(const std::uint8_t* query, std::size_t size, const Client& client,
                             const ZoneCatalog& catalog, core::Store& store, std::int64_t now,
                             const MessageSink& send) {
  wire::Query q;
  if (wire::parse_query(query, size, q) != wire::ParseStatus::ok) return {};
  // With a TSIG key, every message is signed (RFC 8945 section 5.3.1: each
  // MAC chained to the one before).
  std::optional<tsig::Signer> signer;
  const MessageSink sink = [&](const std::uint8_t* data, std::size_t n) {
    if (!signer) return send(data, n);
    std::string m(reinterpret_cast<const char*>(data), n);  // NOLINT
    signer->sign(m);
    return send(reinterpret_cast<const std::uint8_t*>(m.data()), m.size());  // NOLINT
  };
  Stream out(query, q, sink);
  std::size_t apex_label = 0;
  const CatalogZone* zone = catalog.find(q.qname, apex_label);
  if (zone != nullptr && apex_label == 0) out.stats().zone = zone->config.name;
  const auto refuse = [&out] {
    out.set_rcode(wire::rcode::REFUSED);
    out.flush();
    out.stats().refused = true;
    return out.stats();
  };
  // Not a zone apex of ours, or not a secondary we serve: one REFUSED.
  if (zone == nullptr || apex_label != 0 || q.qclass != wire::kClassIN ||
      !allowed(zone->config.transfer, client.addr)) {
    return refuse();
  }
  // TSIG: a zone with a key transfers only to queries signed with it.
  const auto& key = zone->config.transfer.tsig;
  tsig::Record rec;
  const tsig::Found found = tsig::find(query, size, rec);
  if (found == tsig::Found::malformed) {
    out.set_rcode(wire::rcode::FORMERR);
    out.flush();
    out.stats().refused = true;
    return out.stats();
  }
  if (found == tsig::Found::found) {
    if (const std::uint16_t error = tsig::verify_request(query, rec, key ? &*key : nullptr, now)) {
      const std::string m = tsig::error_response(query, rec, key ? &*key : nullptr, error, now);
      send(reinterpret_cast<const std::uint8_t*>(m.data()), m.size());  // NOLINT
      out.stats().refused = true;
      out.stats().tsig_error = error;
      return out.stats();
    }
    signer.emplace(*key, rec.mac, static_cast<std::uint64_t>(now));
  } else if (key) {
    out.stats().tsig_error = tsig::kBadKey;  // for the log: no key at all
    return refuse();
  }
  std::optional<std::uint32_t> have;
  if (q.qtype == wire::type::IXFR) {
    have = ixfr_serial(query, size, q);
    if (!have) {
      out.set_rcode(wire::rcode::FORMERR);
      out.flush();
      return out.stats();
    }
  }

  const core::ReadTxn txn = store.env().begin_read();
  const std::uint32_t serial = zone_serial(*zone, store, txn);
  out.stats().serial = serial;
  const std::string soa = soa_rdata(*zone, serial);
  const ZoneRecord soa_rec{{}, wire::type::SOA, zone->config.soa.ttl, soa};

  if (have && serial_at_or_after(*have, serial)) {  // up to date: our SOA alone
    out.add(soa_rec);
    out.flush();
    return out.stats();
  }
  // IXFR from the journal (RFC 1995 condensed form: one difference from the
  // client's serial to ours); a combined zone from its members' journals.
  if (have) {
    const bool combined = zone->config.kind == core::ZoneKind::combined;
    const auto old_state = combined ? combined_state_at(*zone, store, txn, *have, serial)
                                    : state_at(*zone, store, txn, *have, serial);
    // Only the regions the changes touch are rebuilt (before and after), so
    // the difference costs what those regions hold, not the zone. A change
    // no region confines (a /8 or wider, a listing above its region) gets
    // the whole zone below, streamed, rather than the zone built twice in
    // silence.
    const auto regions =
        old_state ? change_regions(*zone, txn, *old_state) : std::optional<ZoneRegions>{};
    if (regions) {
      const auto before = packed_records(*zone, store, txn, &*old_state, &*regions);
      const auto after = packed_records(*zone, store, txn, nullptr, &*regions);
      std::vector<std::string> removed;
      std::vector<std::string> added;
      std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                          std::back_inserter(removed));
      std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                          std::back_inserter(added));
      const std::string old_soa = soa_rdata(*zone, *have);
      bool ok = out.add(soa_rec) &&
                out.add(ZoneRecord{{}, wire::type::SOA, zone->config.soa.ttl, old_soa});
      for (const auto& r : removed) ok = ok && out.add(unpack(r));
      ok = ok && out.add(soa_rec);
      for (const auto& r : added) ok = ok && out.add(unpack(r));
      if (ok && out.add(soa_rec)) out.flush();
      out.stats().incremental = true;
      return out.stats();
    }
  }
  // AXFR, and IXFR as a whole zone (RFC 1995 section 4: the entire zone
  // may be returned, SOA first and last). zone_records streams from this one
  // read transaction (its snapshot keeps the zone consistent), so each
  // message goes out as soon as it is full: the first after a few hundred
  // listings, and never a long silence at any zone size.
  if (!out.add(soa_rec)) return out.stats();
  if (!zone_records(*zone, store, txn, kIgnoreExpiry,
                    [&](const ZoneRecord& r) { return out.add(r); })) {
    return out.stats();
  }
  if (out.add(soa_rec)) out.flush();
  return out.stats();
}

}  // namespace rblzone::zoneserver
