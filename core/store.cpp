// The listing store (see store.hpp; key layouts in schema.hpp).
#include "core/store.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/byte_order.hpp"
#include "core/delist_index.hpp"
#include "core/schema.hpp"

namespace rblzone::core {

std::int64_t system_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// --- keys --------------------------------------------------------------------

void make_ip_key(char (&out)[kIpKeySize], ZoneId zone, const IpPrefix::Bytes& addr,
                 std::uint8_t length) {
  out[0] = static_cast<char>(zone >> 8);
  out[1] = static_cast<char>(zone);
  std::memcpy(out + 2, addr.data(), 16);
  out[18] = static_cast<char>(length);
}

std::string ip_key(ZoneId zone, const IpPrefix& p) {
  char k[kIpKeySize];
  make_ip_key(k, zone, p.bytes(), p.length());
  return {k, kIpKeySize};
}

std::string domain_key(ZoneId zone, std::string_view name) {
  std::string out;
  out.reserve(2 + name.size() + 2);
  put_be(out, zone);
  std::size_t end = name.size();
  while (end > 0) {
    const auto dot = name.rfind('.', end - 1);
    const std::size_t begin = dot == std::string_view::npos ? 0 : dot + 1;
    for (std::size_t i = begin; i < end; ++i) {
      const char c = name[i];
      out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    out.push_back('\0');
    if (dot == std::string_view::npos) break;
    end = dot;
  }
  return out;
}

std::string listing_key(ZoneId zone, const Subject& s) {
  if (const auto* p = std::get_if<IpPrefix>(&s)) return ip_key(zone, *p);
  return domain_key(zone, std::get<DomainName>(s).name);
}

std::string domain_from_key(std::string_view key) {
  // "example\0spammer\0" -> "spammer.example"
  std::string name;
  std::size_t pos = 0;
  while (pos < key.size()) {
    const auto end = key.find('\0', pos);
    const auto label = key.substr(pos, end - pos);
    name = name.empty() ? std::string(label) : std::string(label) + "." + name;
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return name;
}

namespace {
std::string history_prefix(ZoneId zone, const Subject& s);
}

std::string subject_key(ZoneId zone, const Subject& s) {
  auto k = history_prefix(zone, s);
  k.pop_back();
  return k;
}

namespace {

std::string zone_prefix(ZoneId zone) {
  std::string out;
  put_be(out, zone);
  return out;
}

Subject subject_from_key(MDB_dbi dbi, const Databases& dbs, std::string_view key,
                         const Listing& l) {
  if (dbi == dbs.ip) {
    IpPrefix::Bytes b{};
    std::memcpy(b.data(), key.data() + 2, 16);
    return IpPrefix(b, static_cast<std::uint8_t>(key[18]));
  }
  return DomainName{domain_from_key(key.substr(2)), (l.flags & kFlagSubtree) != 0};
}

// ZONE | kind | the listing key without its zone | 0xff: 0xff ends it, as no
// label byte can be 0xff, so one subject's prefix never covers another's. A
// domain and its subtree form share one listing row, so one history.
std::string history_prefix(ZoneId zone, const Subject& s) {
  std::string out = zone_prefix(zone);
  const bool ip = kind_of(s) == SubjectKind::ip;
  out.push_back(static_cast<char>(ip ? schema::kExpiryKindIp : schema::kExpiryKindDomain));
  out += listing_key(zone, s).substr(2);
  out.push_back(static_cast<char>(0xff));
  return out;
}

std::string expiry_key(ZoneId zone, std::int64_t expires, MDB_dbi dbi, const Databases& dbs,
                       std::string_view lkey) {
  std::string out;
  put_be(out, zone);
  put_be(out, static_cast<std::uint64_t>(expires));
  out.push_back(
      static_cast<char>(dbi == dbs.ip ? schema::kExpiryKindIp : schema::kExpiryKindDomain));
  out.append(lkey);
  return out;
}

std::string zone_record(ZoneId id, std::uint32_t serial) {
  std::string out;
  put_be(out, id);
  put_be(out, serial);
  return out;
}

}  // namespace

// --- the ip index: entries and their parents -------------------------------

namespace {

struct IpEntry {
  IpPrefix::Bytes addr{};
  std::uint8_t len = 0;
  std::uint8_t parent = schema::kNoParent;
  std::string_view listing;  // the encoded Listing after the parent byte
};

bool read_ip_entry(const Cursor& c, ZoneId zone, IpEntry& e) {
  const auto k = c.key();
  const auto v = c.value();
  if (k.size() != kIpKeySize || static_cast<std::uint8_t>(k[0]) != (zone >> 8) ||
      static_cast<std::uint8_t>(k[1]) != (zone & 0xff) || v.empty()) {
    return false;
  }
  std::memcpy(e.addr.data(), k.data() + 2, 16);
  e.len = static_cast<std::uint8_t>(k[18]);
  e.parent = static_cast<std::uint8_t>(v[0]);
  e.listing = v.substr(1);
  return true;
}

bool contains(const IpEntry& e, const IpPrefix::Bytes& addr) {
  return common_prefix_bits(e.addr, addr) >= e.len;
}

// Moves from `e` to its parent entry. False when it has none.
bool to_parent(Cursor& c, ZoneId zone, IpEntry& e) {
  if (e.parent == schema::kNoParent) return false;
  char key[kIpKeySize];
  const IpPrefix p(e.addr, e.parent);
  make_ip_key(key, zone, p.bytes(), p.length());
  return c.find(std::string_view(key, kIpKeySize)) && read_ip_entry(c, zone, e);
}

// The longest stored prefix of length <= max_len that contains `addr`.
// Every such prefix sorts at or before (addr/max_len, max_len), and the
// greatest key there is either the answer or lies inside it, so the answer
// is that entry or one of its parents.
bool container_from(Cursor& c, ZoneId zone, const IpPrefix::Bytes& addr, std::uint8_t max_len,
                    IpEntry& e) {
  for (;;) {
    if (e.len <= max_len && contains(e, addr)) return true;
    if (!to_parent(c, zone, e)) return false;
  }
}

bool longest_container(Cursor& c, ZoneId zone, const IpPrefix::Bytes& addr, std::uint8_t max_len,
                       IpEntry& e) {
  char key[kIpKeySize];
  const IpPrefix target(addr, max_len);
  make_ip_key(key, zone, target.bytes(), target.length());
  if (!c.seek_le(std::string_view(key, kIpKeySize)) || !read_ip_entry(c, zone, e)) return false;
  return container_from(c, zone, addr, max_len, e);
}

// The first address after a prefix's range; false if it runs to the end.
bool next_after(const IpPrefix::Bytes& addr, std::uint8_t len, IpPrefix::Bytes& out) {
  out = addr;
  for (int i = 0; i < 16; ++i) {  // set the host bits
    const int bits = static_cast<int>(len) - i * 8;
    if (bits >= 8) continue;
    out[static_cast<std::size_t>(i)] |= static_cast<std::uint8_t>(bits <= 0 ? 0xff : 0xffu >> bits);
  }
  for (int i = 15; i >= 0; --i) {  // + 1
    if (++out[static_cast<std::size_t>(i)] != 0) return true;
  }
  return false;
}

// Sets the parent of every direct child of `p` (the top entries inside it)
// to `parent`. Descendants of a child keep theirs, so each child's range is
// skipped in one seek.
void reparent_children(WriteTxn& txn, ZoneId zone, const IpPrefix& p, std::uint8_t parent) {
  const auto dbi = txn.dbs().ip;
  Cursor c(txn, dbi);
  char key[kIpKeySize];
  IpPrefix::Bytes pos = p.bytes();
  std::uint8_t pos_len = static_cast<std::uint8_t>(p.length() + 1);
  if (p.length() == 128) return;
  for (;;) {
    make_ip_key(key, zone, pos, pos_len);
    IpEntry e;
    if (!c.seek(std::string_view(key, kIpKeySize)) || !read_ip_entry(c, zone, e)) return;
    if (!(e.len > p.length() && p.contains(e.addr))) return;
    if (e.parent != parent) {
      std::string value(c.value());
      value[0] = static_cast<char>(parent);
      const std::string k(c.key());
      txn.put(dbi, k, value);
    }
    if (!next_after(e.addr, e.len, pos)) return;
    pos_len = 0;
  }
}

}  // namespace

// --- matching ----------------------------------------------------------------

std::optional<IpMatch> match_ip(Cursor& c, ZoneId zone, const IpPrefix::Bytes& addr,
                                std::int64_t now) {
  IpEntry e;
  if (!longest_container(c, zone, addr, 128, e)) return std::nullopt;
  for (;;) {
    ListingView v;
    if (!v.parse(e.listing)) return std::nullopt;
    if (v.active_at(now)) {
      if (v.exclusion()) return std::nullopt;
      return IpMatch{IpPrefix(e.addr, e.len), v};
    }
    // Expired (a listing or an exclusion): absent to the second, so the
    // enclosing prefix decides, as it will once the sweeper has run.
    if (!to_parent(c, zone, e)) return std::nullopt;
  }
}

bool ip_range_exists(Cursor& c, ZoneId zone, const IpPrefix& range) {
  char key[kIpKeySize];
  make_ip_key(key, zone, range.bytes(), 0);
  IpEntry e;
  if (c.seek(std::string_view(key, kIpKeySize)) && read_ip_entry(c, zone, e) &&
      range.contains(e.addr)) {
    return true;  // something inside the range
  }
  return longest_container(c, zone, range.bytes(), range.length(), e);  // or around it
}

std::optional<DomainMatch> match_domain(Cursor& c, std::string_view key, std::int64_t now) {
  // Every ancestor's key is a prefix of `key` ending at a label separator.
  std::size_t labels = 0;
  for (std::size_t i = 2; i < key.size(); ++i) labels += key[i] == '\0' ? 1 : 0;
  std::size_t end = key.size();
  bool self = true;
  while (end > 2) {
    const auto candidate = key.substr(0, end);
    if (c.find(candidate)) {
      ListingView v;
      if (v.parse(c.value()) && (self || (v.flags() & kFlagSubtree) != 0) && v.active_at(now)) {
        if (v.exclusion()) return std::nullopt;
        return DomainMatch{labels, v};
      }
    }
    self = false;
    --labels;
    std::size_t p = end - 1;  // back to the previous separator
    while (p > 2 && key[p - 1] != '\0') --p;
    end = p;
  }
  return std::nullopt;
}

bool domain_subtree_exists(Cursor& c, std::string_view key) {
  return c.seek(key) && c.key().substr(0, key.size()) == key;
}

// --- binary records ----------------------------------------------------------

namespace {

void put_str(std::string& out, std::string_view s) {
  const auto n = std::min<std::size_t>(s.size(), 0xffff);
  put_be(out, static_cast<std::uint16_t>(n));
  out.append(s.substr(0, n));
}

// Reads what put_be/put_str wrote; `ok` turns false on a short value.
struct RecordReader {
  std::string_view v;
  std::size_t pos = 0;
  bool ok = true;
  template <typename T>
  T num() {
    if (v.size() - pos < sizeof(T)) {
      ok = false;
      return T{};
    }
    const T x = get_be<T>(v, pos);
    pos += sizeof(T);
    return x;
  }
  std::string_view str() {
    const auto n = num<std::uint16_t>();
    if (!ok || v.size() - pos < n) {
      ok = false;
      return {};
    }
    const auto s = v.substr(pos, n);
    pos += n;
    return s;
  }
};

// `before` and `after` are encoded listings, empty for none.
std::string encode_event(std::int64_t t, const Change& why, std::string_view before,
                         std::string_view after) {
  std::string out;
  out.reserve(16 + why.actor.size() + why.action.size() + why.reason.size() + before.size() +
              after.size());
  put_be(out, t);
  put_str(out, why.actor);
  put_str(out, why.action);
  put_str(out, why.reason);
  out.push_back(before.empty() ? 0 : 1);
  if (!before.empty()) put_str(out, before);
  out.push_back(after.empty() ? 0 : 1);
  if (!after.empty()) put_str(out, after);
  return out;
}

std::optional<HistoryEvent> decode_event(std::string_view v) {
  RecordReader r{v};
  HistoryEvent e;
  e.time = r.num<std::int64_t>();
  e.actor = r.str();
  e.action = r.str();
  e.reason = r.str();
  if (r.num<std::uint8_t>()) e.before = Listing::decode(r.str());
  if (r.num<std::uint8_t>()) e.after = Listing::decode(r.str());
  if (!r.ok) return std::nullopt;
  return e;
}

}  // namespace

// --- store -------------------------------------------------------------------

namespace {

// The encoded Listing inside a stored value (ip values carry a parent byte).
std::string_view listing_bytes(MDB_dbi dbi, const Databases& dbs, std::string_view value) {
  return dbi == dbs.ip && !value.empty() ? value.substr(1) : value;
}

}  // namespace

Store::Store(const std::filesystem::path& data_dir, Clock clock, std::size_t initial_map_size)
    : env_(data_dir, initial_map_size), clock_(std::move(clock)) {
  index_history();
  delist_index::build_if_missing(env_);
}

std::optional<ZoneRef> Store::find_zone(const ReadTxn& txn, std::string_view name) const {
  const auto v = txn.get(txn.dbs().zones, name);
  if (!v || v->size() < 6) return std::nullopt;
  return ZoneRef{get_be<ZoneId>(*v, 0), std::string(name)};
}

ZoneRef Store::ensure_zone(WriteTxn& txn, std::string_view name) {
  if (auto z = find_zone(txn, name)) return *z;
  const auto& dbs = txn.dbs();
  ZoneId id = 1;
  if (const auto v = txn.get(dbs.meta, schema::kNextZoneIdKey); v && v->size() == 2) {
    id = get_be<ZoneId>(*v, 0);
  }
  std::string next;
  put_be(next, static_cast<ZoneId>(id + 1));
  txn.put(dbs.meta, schema::kNextZoneIdKey, next);
  txn.put(dbs.zones, name, zone_record(id, static_cast<std::uint32_t>(now())));
  return ZoneRef{id, std::string(name)};
}

std::uint32_t Store::serial(const ReadTxn& txn, std::string_view zone_name) const {
  const auto v = txn.get(txn.dbs().zones, zone_name);
  return v && v->size() >= 6 ? get_be<std::uint32_t>(*v, 2) : 0;
}

std::optional<Listing> Store::get(const ReadTxn& txn, const ZoneRef& zone, const Subject& s) const {
  const auto& dbs = txn.dbs();
  const auto dbi = kind_of(s) == SubjectKind::ip ? dbs.ip : dbs.domain;
  const auto v = txn.get(dbi, listing_key(zone.id, s));
  if (!v) return std::nullopt;
  return Listing::decode(listing_bytes(dbi, dbs, *v));
}

void Store::for_each(const ReadTxn& txn, const ZoneRef& zone,
                     const std::function<bool(const Subject&, const Listing&)>& fn) const {
  const auto prefix = zone_prefix(zone.id);
  for (const MDB_dbi dbi : {txn.dbs().ip, txn.dbs().domain}) {
    Cursor c(txn, dbi);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, 2) == prefix; ok = c.next()) {
      const auto l = Listing::decode(listing_bytes(dbi, txn.dbs(), c.value()));
      if (!l) continue;
      if (!fn(subject_from_key(dbi, txn.dbs(), c.key(), *l), *l)) return;
    }
  }
}

std::vector<HistoryEvent> Store::history(const ReadTxn& txn, const ZoneRef& zone,
                                         const Subject& s) const {
  const std::string prefix = history_prefix(zone.id, s);
  std::vector<HistoryEvent> out;
  Cursor c(txn, txn.dbs().history);
  for (bool ok = c.seek(prefix); ok && c.key().substr(0, prefix.size()) == prefix; ok = c.next()) {
    auto e = decode_event(c.value());
    if (!e || c.key().size() != prefix.size() + 8) continue;
    e->seq = get_be<std::uint64_t>(c.key(), prefix.size());
    e->subject = to_string(s);
    out.push_back(std::move(*e));
  }
  return out;
}

std::vector<JournalEntry> Store::journal_since(const ReadTxn& txn, const ZoneRef& zone,
                                               std::uint32_t serial) const {
  std::string start = zone_prefix(zone.id);
  put_be(start, serial + 1);
  const auto prefix = zone_prefix(zone.id);
  std::vector<JournalEntry> out;
  Cursor c(txn, txn.dbs().journal);
  for (bool ok = c.seek(start); ok && c.key().substr(0, 2) == prefix; ok = c.next()) {
    RecordReader r{c.value()};
    JournalEntry e;
    e.serial = get_be<std::uint32_t>(c.key(), 2);
    e.time = r.num<std::int64_t>();
    e.removed = r.num<std::uint8_t>() == 2;
    const auto kind = r.num<std::uint8_t>();
    const auto key = r.str();
    const auto l = r.str();
    if (!r.ok) continue;
    const auto listing = Listing::decode(l);
    const MDB_dbi dbi = kind == schema::kExpiryKindIp ? txn.dbs().ip : txn.dbs().domain;
    e.subject = to_string(
        subject_from_key(dbi, txn.dbs(), prefix + std::string(key), listing.value_or(Listing{})));
    if (!e.removed) e.listing = listing;
    out.push_back(std::move(e));
  }
  return out;
}

void Store::record_(WriteTxn& txn, const ZoneRef& zone, const Subject& s, std::string_view key,
                    std::string_view before, std::string_view after, const Change& why) {
  const auto& dbs = txn.dbs();
  const std::int64_t t = now();
  write_event_(txn, zone, s, encode_event(t, why, before, after));

  // Serial: strictly increasing (RFC 1982), never 0.
  std::uint32_t serial = this->serial(txn, zone) + 1;
  if (serial == 0) serial = 1;
  txn.put(dbs.zones, zone.name, zone_record(zone.id, serial));
  std::string jkey = zone_prefix(zone.id);
  put_be(jkey, serial);
  std::string entry;
  put_be(entry, t);
  entry.push_back(after.empty() ? 2 : 1);
  entry.push_back(static_cast<char>(kind_of(s) == SubjectKind::ip ? schema::kExpiryKindIp
                                                                  : schema::kExpiryKindDomain));
  put_str(entry, key.substr(2));
  put_str(entry, after.empty() ? before : after);
  txn.put(dbs.journal, jkey, entry);

  const auto source_of = [](std::string_view bytes) -> std::optional<Source> {
    if (bytes.empty()) return std::nullopt;
    ListingView v;
    if (!v.parse(bytes)) return std::nullopt;
    return v.source();
  };
  const auto b = source_of(before);
  const auto a = source_of(after);
  if (b != a) {
    if (b) adjust_count_(txn, zone, *b, -1);
    if (a) adjust_count_(txn, zone, *a, +1);
  }
}

namespace {
// meta "count" | ZONE | source -> u64
std::string count_key(ZoneId zone, Source source) {
  std::string k = "count";
  put_be(k, zone);
  k.push_back(static_cast<char>(source));
  return k;
}
}  // namespace

void Store::adjust_count_(WriteTxn& txn, const ZoneRef& zone, Source source, int delta) {
  const auto key = count_key(zone.id, source);
  std::uint64_t n = 0;
  if (const auto v = txn.get(txn.dbs().meta, key); v && v->size() == 8) {
    n = get_be<std::uint64_t>(*v, 0);
  }
  n = delta < 0 ? (n > 0 ? n - 1 : 0) : n + 1;
  std::string value;
  put_be(value, n);
  txn.put(txn.dbs().meta, key, value);
}

std::array<std::uint64_t, 4> Store::counts(const ReadTxn& txn, const ZoneRef& zone) const {
  std::array<std::uint64_t, 4> out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto v = txn.get(txn.dbs().meta, count_key(zone.id, static_cast<Source>(i)));
    if (v && v->size() == 8) out[i] = get_be<std::uint64_t>(*v, 0);
  }
  return out;
}

void Store::note(WriteTxn& txn, const ZoneRef& zone, const Subject& s, const Change& why) {
  write_event_(txn, zone, s, encode_event(now(), why, {}, {}));
}

// The next history sequence number, and the event under it.
void Store::write_event_(WriteTxn& txn, const ZoneRef& zone, const Subject& s,
                         std::string_view event) {
  const auto& dbs = txn.dbs();
  std::uint64_t seq = 1;
  if (const auto v = txn.get(dbs.meta, schema::kEventSeqKey); v && v->size() == 8) {
    seq = get_be<std::uint64_t>(*v, 0) + 1;
  }
  std::string seq_bytes;
  put_be(seq_bytes, seq);
  txn.put(dbs.meta, schema::kEventSeqKey, seq_bytes);
  const auto hkey = history_prefix(zone.id, s) + seq_bytes;
  txn.put(dbs.history, hkey, event);
  txn.put(dbs.history_seq, zone_prefix(zone.id) + seq_bytes, hkey);
  // history_indexed follows event_seq only while no event lacks its entry.
  const auto indexed = txn.get(dbs.meta, schema::kHistoryIndexedKey);
  const std::uint64_t upto =
      indexed && indexed->size() == 8 ? get_be<std::uint64_t>(*indexed, 0) : 0;
  if (upto == seq - 1) txn.put(dbs.meta, schema::kHistoryIndexedKey, seq_bytes);
}

std::size_t Store::trim_history(WriteTxn& txn, const ZoneRef& zone, std::int64_t before,
                                std::size_t limit, std::string& cursor) {
  const auto prefix = zone_prefix(zone.id);
  std::vector<std::string> doomed;
  std::size_t seen = 0;
  Cursor c(txn, txn.dbs().history);
  bool ok = c.seek(cursor.empty() ? prefix : cursor);
  for (; ok && c.key().substr(0, 2) == prefix && seen < limit * 4; ok = c.next(), ++seen) {
    const auto v = c.value();
    if (v.size() >= 8 && get_be<std::int64_t>(v, 0) < before) doomed.emplace_back(c.key());
    if (doomed.size() >= limit) {
      ok = c.next();
      break;
    }
  }
  cursor = ok && c.key().substr(0, 2) == prefix ? std::string(c.key()) : std::string();
  for (const auto& k : doomed) {
    txn.del(txn.dbs().history, k);
    if (k.size() >= 8) txn.del(txn.dbs().history_seq, prefix + k.substr(k.size() - 8));
  }
  return doomed.size();
}

std::optional<Listing> Store::put(WriteTxn& txn, const ZoneRef& zone, const Subject& s,
                                  const Listing& l, const Change& why) {
  const auto& dbs = txn.dbs();
  const auto dbi = kind_of(s) == SubjectKind::ip ? dbs.ip : dbs.domain;
  const auto key = listing_key(zone.id, s);
  Listing stored = l;
  if (const auto* d = std::get_if<DomainName>(&s)) {
    stored.flags = static_cast<std::uint8_t>(d->subtree ? (stored.flags | kFlagSubtree)
                                                        : (stored.flags & ~kFlagSubtree));
  }
  std::optional<Listing> before;
  std::string before_bytes;  // copied: the put below may move the page it lives on
  std::string value;
  if (dbi == dbs.ip) {
    // One seek to the greatest key <= this one: either this very prefix
    // (same prefix, same parent) or the place to find its parent from.
    const auto& p = std::get<IpPrefix>(s);
    Cursor c(txn, dbs.ip);
    IpEntry e;
    std::uint8_t parent = schema::kNoParent;
    if (c.seek_le(key) && read_ip_entry(c, zone.id, e)) {
      if (c.key() == key) {
        before = Listing::decode(e.listing);
        before_bytes = e.listing;
        parent = e.parent;
      } else if (p.length() > 0 && container_from(c, zone.id, p.bytes(),
                                                  static_cast<std::uint8_t>(p.length() - 1), e)) {
        parent = e.len;
      }
    }
    value.push_back(static_cast<char>(parent));
  } else if (const auto v = txn.get(dbi, key)) {
    before = Listing::decode(*v);
    before_bytes = *v;
  }
  if (before && before->expires != 0) {
    txn.del(dbs.expiry, expiry_key(zone.id, before->expires, dbi, dbs, key));
  }
  const std::size_t listing_at = value.size();
  value += stored.encode();
  txn.put(dbi, key, value);
  if (!before && dbi == dbs.ip && !std::get<IpPrefix>(s).is_host()) {  // a host has no children
    const auto& p = std::get<IpPrefix>(s);
    reparent_children(txn, zone.id, p, p.length());
  }
  if (stored.expires != 0)
    txn.put(dbs.expiry, expiry_key(zone.id, stored.expires, dbi, dbs, key), "");
  record_(txn, zone, s, key, before_bytes, std::string_view(value).substr(listing_at), why);
  return before;
}

std::optional<Listing> Store::remove(WriteTxn& txn, const ZoneRef& zone, const Subject& s,
                                     const Change& why) {
  const auto& dbs = txn.dbs();
  const auto dbi = kind_of(s) == SubjectKind::ip ? dbs.ip : dbs.domain;
  const auto key = listing_key(zone.id, s);
  const auto v = txn.get(dbi, key);
  if (!v) return std::nullopt;
  const std::string before_bytes(listing_bytes(dbi, dbs, *v));
  auto before = Listing::decode(before_bytes);
  const auto parent =
      dbi == dbs.ip && !v->empty() ? static_cast<std::uint8_t>((*v)[0]) : schema::kNoParent;
  if (before && before->expires != 0) {
    txn.del(dbs.expiry, expiry_key(zone.id, before->expires, dbi, dbs, key));
  }
  txn.del(dbi, key);
  if (dbi == dbs.ip && !std::get<IpPrefix>(s).is_host()) {
    reparent_children(txn, zone.id, std::get<IpPrefix>(s), parent);
  }
  record_(txn, zone, s, key, before_bytes, {}, why);
  return before ? before : std::optional<Listing>(Listing{});
}

std::size_t Store::sweep_expired(WriteTxn& txn, const ZoneRef& zone, std::int64_t now,
                                 std::size_t limit) {
  const auto& dbs = txn.dbs();
  const auto prefix = zone_prefix(zone.id);
  struct Due {
    std::string expiry_key;
    MDB_dbi dbi;
    std::string key;
    std::int64_t expires;
  };
  std::vector<Due> due;
  {
    Cursor c(txn, dbs.expiry);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, 2) == prefix && due.size() < limit;
         ok = c.next()) {
      const auto k = c.key();
      const auto expires = static_cast<std::int64_t>(get_be<std::uint64_t>(k, 2));
      if (expires > now) break;
      const MDB_dbi dbi =
          static_cast<std::uint8_t>(k[10]) == schema::kExpiryKindIp ? dbs.ip : dbs.domain;
      due.push_back(Due{std::string(k), dbi, std::string(k.substr(11)), expires});
    }
  }
  std::size_t removed = 0;
  for (const auto& d : due) {
    txn.del(dbs.expiry, d.expiry_key);
    const auto v = txn.get(d.dbi, d.key);
    if (!v) continue;
    const auto l = Listing::decode(listing_bytes(d.dbi, dbs, *v));
    if (!l || l->expires != d.expires) continue;  // renewed since: the index entry was stale
    const Subject s = subject_from_key(d.dbi, dbs, d.key, *l);
    // remove() writes the history event and journal entry, and re-parents.
    remove(txn, zone, s, Change{"sweeper", "expire", "expired"});
    ++removed;
  }
  return removed;
}

namespace {

// One history record (key and value as stored) as an event with its subject.
std::optional<HistoryEvent> event_at(std::string_view key, std::string_view value) {
  // ZONE | kind | listing key without ZONE | 0xff | seq u64 (history_prefix)
  if (key.size() < 2 + 1 + 1 + 9) return std::nullopt;
  auto e = decode_event(value);
  if (!e) return std::nullopt;
  e->seq = get_be<std::uint64_t>(key, key.size() - 8);
  const auto body = key.substr(3, key.size() - 3 - 9);
  if (static_cast<std::uint8_t>(key[2]) == schema::kExpiryKindIp) {
    if (body.size() != 17) return std::nullopt;
    IpPrefix::Bytes b{};
    std::memcpy(b.data(), body.data(), 16);
    e->subject = to_string(Subject(IpPrefix(b, static_cast<std::uint8_t>(body[16]))));
  } else {
    const auto& l = e->after ? e->after : e->before;
    e->subject =
        to_string(Subject(DomainName{domain_from_key(body), l && (l->flags & kFlagSubtree) != 0}));
  }
  return e;
}

std::uint64_t meta_u64(const ReadTxn& txn, const char* key) {
  const auto v = txn.get(txn.dbs().meta, key);
  return v && v->size() == 8 ? get_be<std::uint64_t>(*v, 0) : 0;
}

}  // namespace

std::vector<HistoryEvent> Store::zone_history(const ReadTxn& txn, const ZoneRef& zone,
                                              std::size_t max) const {
  const auto prefix = zone_prefix(zone.id);
  std::vector<HistoryEvent> out;
  Cursor c(txn, txn.dbs().history);
  for (bool ok = c.seek(prefix); ok && out.size() < max && c.key().substr(0, 2) == prefix;
       ok = c.next()) {
    if (auto e = event_at(c.key(), c.value())) out.push_back(std::move(*e));
  }
  return out;
}

void Store::for_each_recent(const ReadTxn& txn, const ZoneRef& zone,
                            const std::function<bool(HistoryEvent&)>& fn) const {
  const auto prefix = zone_prefix(zone.id);
  std::string last = prefix;
  put_be(last, ~std::uint64_t{0});
  Cursor c(txn, txn.dbs().history_seq);
  for (bool ok = c.seek_le(last); ok && c.key().substr(0, 2) == prefix; ok = c.prev()) {
    const auto key = c.value();
    const auto value = txn.get(txn.dbs().history, key);
    if (!value) continue;  // deleted by a build without the index: skipped
    auto e = event_at(key, *value);
    if (e && !fn(*e)) return;
  }
}

std::vector<HistoryEvent> Store::recent_history(const ReadTxn& txn, const ZoneRef& zone,
                                                std::size_t limit, std::int64_t since) const {
  std::vector<HistoryEvent> out;
  for_each_recent(txn, zone, [&](HistoryEvent& e) {
    if (out.size() >= limit && e.time <= since) return false;
    out.push_back(std::move(e));
    return true;
  });
  return out;
}

std::size_t Store::index_history(std::size_t batch) {
  batch = std::max<std::size_t>(batch, 1);
  {
    auto txn = env_.begin_read();
    if (meta_u64(txn, schema::kHistoryIndexedKey) >= meta_u64(txn, schema::kEventSeqKey)) return 0;
  }
  // Every event written since by this build has its entry already; the rest
  // are found by one pass over `history`, resumable at meta history_index_pos.
  std::size_t total = 0;
  for (bool finished = false; !finished;) {
    std::size_t n = 0;
    env_.write([&](WriteTxn& txn) {
      const auto& dbs = txn.dbs();
      n = 0;
      finished = false;
      const std::string pos(txn.get(dbs.meta, schema::kHistoryIndexPosKey).value_or(""));
      std::vector<std::string> keys;
      Cursor c(txn, dbs.history);
      bool ok = pos.empty() ? c.first() : c.seek(pos);
      if (ok && !pos.empty() && c.key() == pos) ok = c.next();
      for (; ok && keys.size() < batch; ok = c.next()) keys.emplace_back(c.key());
      for (const auto& k : keys) {
        if (k.size() >= 2 + 1 + 1 + 9) {
          txn.put(dbs.history_seq, k.substr(0, 2) + k.substr(k.size() - 8), k);
        }
      }
      n = keys.size();
      if (ok) {
        txn.put(dbs.meta, schema::kHistoryIndexPosKey, keys.back());
      } else {
        txn.del(dbs.meta, schema::kHistoryIndexPosKey);
        std::string seq;
        put_be(seq, meta_u64(txn, schema::kEventSeqKey));
        txn.put(dbs.meta, schema::kHistoryIndexedKey, seq);
        finished = true;
      }
    });
    total += n;
  }
  return total;
}

// --- JSON --------------------------------------------------------------------

nlohmann::json to_json(const Listing& l) {
  nlohmann::json codes = nlohmann::json::array();
  for (const auto c : l.codes) codes.push_back(code_to_string(c));
  return {{"codes", codes},
          {"exclusion", l.exclusion()},
          {"subtree", (l.flags & kFlagSubtree) != 0},
          {"source", std::string(to_string(l.source))},
          {"first_seen", l.first_seen},
          {"last_seen", l.last_seen},
          {"expires", l.expires == 0 ? nlohmann::json() : nlohmann::json(l.expires)},
          {"permanent", l.permanent()},
          {"offences", l.offences},
          {"reason", l.reason}};
}

Listing listing_from_json(const nlohmann::json& j) {
  Listing l;
  for (const auto& c : j.value("codes", nlohmann::json::array())) {
    if (const auto code = parse_code(c.get<std::string>())) l.codes.push_back(*code);
  }
  if (j.value("exclusion", false)) l.flags |= kFlagExclusion;
  if (j.value("subtree", false)) l.flags |= kFlagSubtree;
  l.source = parse_source(j.value("source", "manual")).value_or(Source::manual);
  l.first_seen = j.value("first_seen", std::int64_t{0});
  l.last_seen = j.value("last_seen", std::int64_t{0});
  l.expires =
      j.contains("expires") && !j["expires"].is_null() ? j["expires"].get<std::int64_t>() : 0;
  l.offences = j.value("offences", std::uint32_t{0});
  l.reason = j.value("reason", "");
  return l;
}

nlohmann::json to_json(const HistoryEvent& e) {
  return {{"seq", e.seq},
          {"time", e.time},
          {"subject", e.subject},
          {"actor", e.actor},
          {"action", e.action},
          {"reason", e.reason},
          {"before", e.before ? to_json(*e.before) : nlohmann::json()},
          {"after", e.after ? to_json(*e.after) : nlohmann::json()}};
}

std::size_t Store::trim_journal(WriteTxn& txn, const ZoneRef& zone, std::size_t max_entries,
                                std::int64_t oldest_time, std::size_t limit) {
  const auto prefix = zone_prefix(zone.id);
  std::size_t count = 0;
  {
    Cursor c(txn, txn.dbs().journal);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, 2) == prefix; ok = c.next()) ++count;
  }
  std::vector<std::string> doomed;
  {
    Cursor c(txn, txn.dbs().journal);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, 2) == prefix && doomed.size() < limit;
         ok = c.next()) {
      const std::string_view v = c.value();
      const std::int64_t t = v.size() >= 8 ? get_be<std::int64_t>(v, 0) : 0;
      if (count - doomed.size() <= max_entries && t >= oldest_time) break;
      doomed.emplace_back(c.key());
    }
  }
  for (const auto& k : doomed) txn.del(txn.dbs().journal, k);
  return doomed.size();
}

}  // namespace rblzone::core
