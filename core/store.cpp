// The listing store (see store.hpp; key layouts in schema.hpp).
#include "core/store.hpp"

#include <chrono>
#include <cstring>

#include "core/byte_order.hpp"
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

namespace {

std::string zone_prefix(ZoneId zone) {
  std::string out;
  put_be(out, zone);
  return out;
}

std::string domain_from_key(std::string_view key) {
  // key without the zone: "example\0spammer\0" -> "spammer.example"
  std::string name;
  std::size_t pos = 0;
  while (pos < key.size()) {
    const auto end = key.find('\0', pos);
    const auto label = key.substr(pos, end - pos);
    name = name.empty() ? std::string(label) : std::string(label) + "." + name;
    pos = end + 1;
  }
  return name;
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

std::string expiry_key(ZoneId zone, std::int64_t expires, MDB_dbi dbi, const Databases& dbs,
                       std::string_view lkey) {
  std::string out;
  put_be(out, zone);
  put_be(out, static_cast<std::uint64_t>(expires));
  out.push_back(static_cast<char>(dbi == dbs.ip ? schema::kExpiryKindIp
                                                : schema::kExpiryKindDomain));
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

// --- matching ----------------------------------------------------------------

std::optional<IpMatch> match_ip(Cursor& c, ZoneId zone, const IpPrefix::Bytes& addr,
                                std::int64_t now) {
  // Walk back from (addr,128): the greatest key <= the target either contains
  // addr (then it is the longest containing prefix, since containing prefixes
  // sort in length order and every one of them is <= the target), or shares
  // `bits` leading bits with addr and no containing prefix can be longer than
  // that, so the next target is (addr masked to bits, bits). Keys strictly
  // decrease, so the walk ends. See docs/store.md.
  char key[kIpKeySize];
  int limit = 128;
  for (;;) {
    IpPrefix target(addr, static_cast<std::uint8_t>(limit));
    make_ip_key(key, zone, target.bytes(), target.length());
    if (!c.seek_le(std::string_view(key, kIpKeySize))) return std::nullopt;
    const auto k = c.key();
    if (k.size() != kIpKeySize || k[0] != key[0] || k[1] != key[1]) return std::nullopt;
    IpPrefix::Bytes found{};
    std::memcpy(found.data(), k.data() + 2, 16);
    const auto len = static_cast<std::uint8_t>(k[18]);
    const int shared = common_prefix_bits(found, addr);
    if (shared >= len) {
      ListingView v;
      if (!v.parse(c.value())) return std::nullopt;
      if (v.exclusion()) return std::nullopt;
      if (v.active_at(now)) return IpMatch{IpPrefix(found, len), v};
      if (len == 0) return std::nullopt;
      limit = len - 1;  // expired: as if absent, look for a shorter one
    } else {
      limit = shared;
    }
  }
}

bool ip_range_exists(Cursor& c, ZoneId zone, const IpPrefix& range) {
  char key[kIpKeySize];
  make_ip_key(key, zone, range.bytes(), 0);
  if (c.seek(std::string_view(key, kIpKeySize))) {
    const auto k = c.key();
    if (k.size() == kIpKeySize && k[0] == key[0] && k[1] == key[1]) {
      IpPrefix::Bytes found{};
      std::memcpy(found.data(), k.data() + 2, 16);
      if (range.contains(found)) return true;
    }
  }
  // An enclosing prefix: the greatest key <= (range, range length) that
  // contains the range's first address, found by the same walk as match_ip.
  int limit = range.length();
  for (;;) {
    IpPrefix target(range.bytes(), static_cast<std::uint8_t>(limit));
    make_ip_key(key, zone, target.bytes(), target.length());
    if (!c.seek_le(std::string_view(key, kIpKeySize))) return false;
    const auto k = c.key();
    if (k.size() != kIpKeySize || k[0] != key[0] || k[1] != key[1]) return false;
    IpPrefix::Bytes found{};
    std::memcpy(found.data(), k.data() + 2, 16);
    const auto len = static_cast<std::uint8_t>(k[18]);
    const int shared = common_prefix_bits(found, range.bytes());
    if (shared >= len) return true;
    limit = shared;
  }
}

std::optional<DomainMatch> match_domain(Cursor& c, std::string_view key, std::int64_t now) {
  // Every ancestor's key is a prefix of `key` ending at a label separator.
  std::size_t labels = 0;
  for (std::size_t i = 2; i < key.size(); ++i) labels += key[i] == '\0' ? 1 : 0;
  std::size_t end = key.size();
  bool self = true;
  while (end > 2) {
    const auto candidate = key.substr(0, end);
    if (c.seek(candidate) && c.key() == candidate) {
      ListingView v;
      if (v.parse(c.value()) && (self || (v.flags() & kFlagSubtree) != 0)) {
        if (v.exclusion()) return std::nullopt;
        if (v.active_at(now)) return DomainMatch{labels, v};
      }
    }
    self = false;
    --labels;
    // Back to the previous separator.
    std::size_t p = end - 1;
    while (p > 2 && key[p - 1] != '\0') --p;
    end = p;
  }
  return std::nullopt;
}

bool domain_subtree_exists(Cursor& c, std::string_view key) {
  return c.seek(key) && c.key().substr(0, key.size()) == key;
}

// --- store -------------------------------------------------------------------

Store::Store(const std::filesystem::path& data_dir, Clock clock)
    : env_(data_dir), clock_(std::move(clock)) {}

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

std::uint32_t Store::serial(const ReadTxn& txn, const ZoneRef& zone) const {
  const auto v = txn.get(txn.dbs().zones, zone.name);
  return v && v->size() >= 6 ? get_be<std::uint32_t>(*v, 2) : 0;
}

std::optional<Listing> Store::get(const ReadTxn& txn, const ZoneRef& zone,
                                  const Subject& s) const {
  const auto& dbs = txn.dbs();
  const auto dbi = kind_of(s) == SubjectKind::ip ? dbs.ip : dbs.domain;
  const auto v = txn.get(dbi, listing_key(zone.id, s));
  if (!v) return std::nullopt;
  return Listing::decode(*v);
}

void Store::for_each(const ReadTxn& txn, const ZoneRef& zone,
                     const std::function<bool(const Subject&, const Listing&)>& fn) const {
  const auto prefix = zone_prefix(zone.id);
  for (const MDB_dbi dbi : {txn.dbs().ip, txn.dbs().domain}) {
    Cursor c(txn, dbi);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, 2) == prefix; ok = c.next()) {
      const auto l = Listing::decode(c.value());
      if (!l) continue;
      if (!fn(subject_from_key(dbi, txn.dbs(), c.key(), *l), *l)) return;
    }
  }
}

std::vector<HistoryEvent> Store::history(const ReadTxn& txn, const ZoneRef& zone,
                                         const Subject& s) const {
  std::string prefix = zone_prefix(zone.id) + to_string(s);
  prefix.push_back('\0');
  std::vector<HistoryEvent> out;
  Cursor c(txn, txn.dbs().history);
  for (bool ok = c.seek(prefix); ok && c.key().substr(0, prefix.size()) == prefix;
       ok = c.next()) {
    const auto j = nlohmann::json::parse(c.value(), nullptr, false);
    if (j.is_discarded()) continue;
    HistoryEvent e;
    e.seq = j.value("seq", std::uint64_t{0});
    e.time = j.value("time", std::int64_t{0});
    e.subject = j.value("subject", "");
    e.actor = j.value("actor", "");
    e.action = j.value("action", "");
    e.reason = j.value("reason", "");
    if (j.contains("before") && !j["before"].is_null()) e.before = listing_from_json(j["before"]);
    if (j.contains("after") && !j["after"].is_null()) e.after = listing_from_json(j["after"]);
    out.push_back(std::move(e));
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
    const auto j = nlohmann::json::parse(c.value(), nullptr, false);
    if (j.is_discarded()) continue;
    JournalEntry e;
    e.serial = get_be<std::uint32_t>(c.key(), 2);
    e.time = j.value("time", std::int64_t{0});
    e.removed = j.value("op", "") == "del";
    e.subject = j.value("subject", "");
    if (j.contains("listing") && !j["listing"].is_null()) {
      e.listing = listing_from_json(j["listing"]);
    }
    out.push_back(std::move(e));
  }
  return out;
}

void Store::record_(WriteTxn& txn, const ZoneRef& zone, const Subject& s,
                    const std::optional<Listing>& before, const std::optional<Listing>& after,
                    const Change& why) {
  const auto& dbs = txn.dbs();
  const std::int64_t t = now();
  const std::string subject = to_string(s);

  std::uint64_t seq = 1;
  if (const auto v = txn.get(dbs.meta, schema::kEventSeqKey); v && v->size() == 8) {
    seq = get_be<std::uint64_t>(*v, 0) + 1;
  }
  std::string seq_bytes;
  put_be(seq_bytes, seq);
  txn.put(dbs.meta, schema::kEventSeqKey, seq_bytes);

  nlohmann::json event = {{"seq", seq},         {"time", t},          {"subject", subject},
                          {"actor", why.actor}, {"action", why.action}, {"reason", why.reason},
                          {"before", before ? to_json(*before) : nlohmann::json()},
                          {"after", after ? to_json(*after) : nlohmann::json()}};
  std::string hkey = zone_prefix(zone.id) + subject;
  hkey.push_back('\0');
  hkey += seq_bytes;
  txn.put(dbs.history, hkey, event.dump());

  // Serial: strictly increasing (RFC 1982), never 0.
  std::uint32_t serial = this->serial(txn, zone) + 1;
  if (serial == 0) serial = 1;
  txn.put(dbs.zones, zone.name, zone_record(zone.id, serial));
  std::string jkey = zone_prefix(zone.id);
  put_be(jkey, serial);
  nlohmann::json entry = {{"time", t},
                          {"op", after ? "put" : "del"},
                          {"subject", subject},
                          {"listing", after ? to_json(*after) : nlohmann::json()}};
  txn.put(dbs.journal, jkey, entry.dump());
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
  if (const auto v = txn.get(dbi, key)) before = Listing::decode(*v);
  if (before && before->expires != 0) {
    txn.del(dbs.expiry, expiry_key(zone.id, before->expires, dbi, dbs, key));
  }
  txn.put(dbi, key, stored.encode());
  if (stored.expires != 0) txn.put(dbs.expiry, expiry_key(zone.id, stored.expires, dbi, dbs, key), "");
  record_(txn, zone, s, before, stored, why);
  return before;
}

std::optional<Listing> Store::remove(WriteTxn& txn, const ZoneRef& zone, const Subject& s,
                                     const Change& why) {
  const auto& dbs = txn.dbs();
  const auto dbi = kind_of(s) == SubjectKind::ip ? dbs.ip : dbs.domain;
  const auto key = listing_key(zone.id, s);
  const auto v = txn.get(dbi, key);
  if (!v) return std::nullopt;
  auto before = Listing::decode(*v);
  if (before && before->expires != 0) {
    txn.del(dbs.expiry, expiry_key(zone.id, before->expires, dbi, dbs, key));
  }
  txn.del(dbi, key);
  record_(txn, zone, s, before, std::nullopt, why);
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
      const MDB_dbi dbi = static_cast<std::uint8_t>(k[10]) == schema::kExpiryKindIp ? dbs.ip
                                                                                    : dbs.domain;
      due.push_back(Due{std::string(k), dbi, std::string(k.substr(11)), expires});
    }
  }
  std::size_t removed = 0;
  for (const auto& d : due) {
    txn.del(dbs.expiry, d.expiry_key);
    const auto v = txn.get(d.dbi, d.key);
    if (!v) continue;
    const auto l = Listing::decode(*v);
    if (!l || l->expires != d.expires) continue;  // renewed since: the index entry was stale
    const Subject s = subject_from_key(d.dbi, dbs, d.key, *l);
    txn.del(d.dbi, d.key);
    record_(txn, zone, s, l, std::nullopt, Change{"sweeper", "expire", "expired"});
    ++removed;
  }
  return removed;
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
  l.expires = j.contains("expires") && !j["expires"].is_null() ? j["expires"].get<std::int64_t>() : 0;
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

}  // namespace rblzone::core
