// The listing lifecycle (see policy.hpp for the rules and record layouts).
#include "core/policy.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "core/byte_order.hpp"
#include "core/crypto.hpp"
#include "core/delist_index.hpp"

namespace rblzone::core {

using nlohmann::json;

std::string_view to_string(Role r) {
  switch (r) {
    case Role::admin:
      return "admin";
    case Role::desk:
      return "desk";
    case Role::reporter:
      return "reporter";
    case Role::importer:
      return "importer";
  }
  return "?";
}

std::optional<Role> parse_role(std::string_view s) {
  if (s == "admin") return Role::admin;
  if (s == "desk" || s == "abuse-desk") return Role::desk;
  if (s == "reporter") return Role::reporter;
  if (s == "importer") return Role::importer;
  return std::nullopt;
}

std::string_view to_string(Trust t) {
  return t == Trust::trap ? "trap" : t == Trust::trusted ? "trusted" : "untrusted";
}

std::optional<Trust> parse_trust(std::string_view s) {
  if (s == "trap") return Trust::trap;
  if (s == "trusted") return Trust::trusted;
  if (s == "untrusted" || s == "public") return Trust::untrusted;
  return std::nullopt;
}

std::string_view to_string(ReportResult r) {
  switch (r) {
    case ReportResult::listed:
      return "listed";
    case ReportResult::extended:
      return "extended";
    case ReportResult::recorded:
      return "recorded";
    case ReportResult::allowlisted:
      return "allowlisted";
    case ReportResult::reserved:
      return "reserved";
    case ReportResult::manual:
      return "manual";
  }
  return "?";
}

json DelistRequest::to_json(bool with_private) const {
  json j{{"id", id},
         {"zone", zone},
         {"subject", subject},
         {"matched", matched.empty() ? json(nullptr) : json(matched)},
         {"status", status},
         {"self_service", self_service},
         {"created", format_utc(created)},
         {"decided", decided ? json(format_utc(decided)) : json(nullptr)},
         {"decision_reason", decision_reason.empty() ? json(nullptr) : json(decision_reason)}};
  if (with_private) {
    j["contact"] = contact;
    j["explanation"] = explanation;
    j["requester"] = requester;
    j["decided_by"] = decided_by.empty() ? json(nullptr) : json(decided_by);
  }
  return j;
}

namespace {

constexpr char kReport = 'r';
constexpr char kOffence = 'o';
constexpr char kAllow = 'a';
constexpr char kDelist = 'd';
constexpr char kPending = 'p';
constexpr char kSummary = 's';
constexpr std::uint8_t kReportFormat = 1;
constexpr std::uint8_t kSummaryFormat = 1;

std::string aux_key(char type, std::string_view rest) {
  std::string k(1, type);
  k += rest;
  return k;
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<json> load(const ReadTxn& txn, std::string_view key) {
  const auto v = txn.get(txn.dbs().aux, key);
  if (!v) return std::nullopt;
  auto j = json::parse(*v, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

ZoneRef zone_for_write(Store& store, WriteTxn& txn, const ZoneConfig& zone) {
  if (zone.kind == ZoneKind::combined) {
    throw PolicyError("combined_zone",
                      "zone " + zone.name + " is combined: change its member zones instead");
  }
  return store.ensure_zone(txn, zone.name);
}

void check_kind(const ZoneConfig& zone, const Subject& s) {
  if (zone.kind == ZoneKind::combined) {
    throw PolicyError("combined_zone",
                      "zone " + zone.name + " is combined: change its member zones instead");
  }
  const bool ip = kind_of(s) == SubjectKind::ip;
  if (ip != (zone.kind == ZoneKind::ip)) {
    throw PolicyError("wrong_kind", "zone " + zone.name + " lists " +
                                        (zone.kind == ZoneKind::ip ? "addresses" : "domains") +
                                        ", not " + to_string(s));
  }
}

bool overlaps(const Subject& a, const Subject& b) {
  if (kind_of(a) != kind_of(b)) return false;
  if (const auto* p = std::get_if<IpPrefix>(&a)) {
    const auto& q = std::get<IpPrefix>(b);
    return p->contains(q) || q.contains(*p);
  }
  const auto& x = std::get<DomainName>(a);
  const auto& y = std::get<DomainName>(b);
  const auto below = [](const DomainName& child, const DomainName& parent) {
    return child.name.size() > parent.name.size() && child.name.ends_with(parent.name) &&
           child.name[child.name.size() - parent.name.size() - 1] == '.';
  };
  return x.name == y.name || (y.subtree && below(x, y)) || (x.subtree && below(y, x));
}

Offence offence_from(const json& j) {
  Offence o;
  o.score = j.value("score", 0.0);
  o.updated = j.value("updated", std::int64_t{0});
  o.penalty = j.value("penalty", std::uint32_t{0});
  o.count = j.value("count", std::uint32_t{0});
  o.cleared = j.value("cleared", std::int64_t{0});
  return o;
}

constexpr std::uint8_t kOffenceFormat = 1;
constexpr std::size_t kOffenceSize = 33;

void put_offence(WriteTxn& txn, const std::string& sk, const Offence& o) {
  std::string v;
  v.reserve(kOffenceSize);
  v.push_back(static_cast<char>(kOffenceFormat));
  put_be(v, std::bit_cast<std::uint64_t>(o.score));
  put_be(v, o.updated);
  put_be(v, o.penalty);
  put_be(v, o.count);
  put_be(v, o.cleared);
  txn.put(txn.dbs().aux, aux_key(kOffence, sk), v);
}

// Binary (format 1) or, written before it, JSON.
std::optional<Offence> get_offence(const ReadTxn& txn, const std::string& sk) {
  const auto v = txn.get(txn.dbs().aux, aux_key(kOffence, sk));
  if (!v) return std::nullopt;
  if (v->size() == kOffenceSize && static_cast<std::uint8_t>(v->front()) == kOffenceFormat) {
    Offence o;
    o.score = std::bit_cast<double>(get_be<std::uint64_t>(*v, 1));
    o.updated = get_be<std::int64_t>(*v, 9);
    o.penalty = get_be<std::uint32_t>(*v, 17);
    o.count = get_be<std::uint32_t>(*v, 21);
    o.cleared = get_be<std::int64_t>(*v, 25);
    return o;
  }
  const auto j = json::parse(*v, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return offence_from(j);
}

// Marks a subject delisted: reports up to now stop counting toward a new
// listing, so only new evidence lists it again.
void mark_cleared(const Store& store, WriteTxn& txn, const std::string& sk) {
  auto o = get_offence(txn, sk).value_or(Offence{});
  o.cleared = store.now();
  put_offence(txn, sk, o);
}

std::uint32_t resolve_code(const ZoneConfig& zone, const std::string& text) {
  if (const auto it = zone.codes.find(text); it != zone.codes.end()) return it->second;
  const auto code = parse_code(text);
  if (!code || *code == 0x7f000001 || (*code & 0xffffff00) == 0x7fffff00) {
    std::string names;
    for (const auto& [name, c] : zone.codes) names += (names.empty() ? "" : ", ") + name;
    throw PolicyError("bad_code", "code '" + text + "' is neither a 127.0.0.0/8 address (not " +
                                      "127.0.0.1, not 127.255.255.x) nor one of: " + names);
  }
  return *code;
}

std::string describe_duration(std::int64_t s) {
  if (s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  return std::to_string(s) + "s";
}

// SHA-256(reporter \n detail \n reason \n evidence), as sha256() of the
// joined text, without joining it or fetching the digest for every report.
Sha256 report_hash(const Report& r) {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct Ctx {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Ctx() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Ctx c;
  Sha256 out{};
  unsigned len = 0;
  bool ok = md != nullptr && c.ctx != nullptr && EVP_DigestInit_ex(c.ctx, md, nullptr) == 1;
  for (const std::string* part : {&r.reporter, &r.detail, &r.reason, &r.evidence}) {
    if (part != &r.reporter) ok = ok && EVP_DigestUpdate(c.ctx, "\n", 1) == 1;
    ok = ok && EVP_DigestUpdate(c.ctx, part->data(), part->size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(c.ctx, out.data(), &len) == 1 && len == out.size();
  if (!ok) return sha256(r.reporter + '\n' + r.detail + '\n' + r.reason + '\n' + r.evidence);
  return out;
}

// --- report records and window summaries (layouts in policy.hpp) ---------------

void put_str32(std::string& out, std::string_view s) {
  put_be(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

struct Reader {
  std::string_view in;
  bool ok = true;
  template <typename T>
  T num() {
    if (in.size() < sizeof(T)) {
      ok = false;
      return T{};
    }
    const T v = get_be<T>(in, 0);
    in.remove_prefix(sizeof(T));
    return v;
  }
  std::string_view str() {
    const auto n = num<std::uint32_t>();
    if (!ok || in.size() < n) {
      ok = false;
      return {};
    }
    const auto s = in.substr(0, n);
    in.remove_prefix(n);
    return s;
  }
};

void encode_report(std::string& out, const Report& r, double weight, bool allowlisted,
                   std::string_view actor) {
  out.clear();
  out.push_back(static_cast<char>(kReportFormat));
  out.push_back(static_cast<char>(r.trust));
  out.push_back(allowlisted ? 1 : 0);
  put_be(out, std::bit_cast<std::uint64_t>(weight));
  put_str32(out, r.reporter);
  put_str32(out, r.detail);
  put_str32(out, r.reason);
  put_str32(out, r.evidence);
  put_str32(out, actor);
}

// What a report record says, binary or JSON; false if it is neither.
bool decode_report(std::string_view v, StoredReport& r) {
  if (!v.empty() && v.front() == '{') {
    const auto j = json::parse(v, nullptr, false);
    if (j.is_discarded()) return false;
    r.reporter = j.value("reporter", std::string());
    r.detail = j.value("detail", std::string());
    r.trust = parse_trust(j.value("trust", std::string())).value_or(Trust::untrusted);
    r.weight = j.value("weight", 0.0);
    r.reason = j.value("reason", std::string());
    r.evidence = j.value("evidence", std::string());
    r.allowlisted = j.value("allowlisted", false);
    return true;
  }
  Reader in{v};
  if (in.num<std::uint8_t>() != kReportFormat) return false;
  const auto trust = in.num<std::uint8_t>();
  r.trust = trust <= 2 ? static_cast<Trust>(trust) : Trust::untrusted;
  r.allowlisted = in.num<std::uint8_t>() != 0;
  r.weight = std::bit_cast<double>(in.num<std::uint64_t>());
  r.reporter = in.str();
  r.detail = in.str();
  r.reason = in.str();
  r.evidence = in.str();
  return in.ok;
}

// JSON records held text as valid UTF-8 (invalid bytes replaced); binary
// ones hold the bytes as given, so the same replacement happens on reading.
std::string valid_utf8(std::string s) {
  if (std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
    return s;
  return json::parse(json(s).dump(-1, ' ', false, json::error_handler_t::replace))
      .get<std::string>();
}

struct WindowSummary {
  struct Reporter {
    std::string name;
    std::vector<std::pair<std::uint64_t, double>> points;  // time ascending, weight descending
  };
  std::uint64_t floor = 0;
  std::vector<Reporter> reporters;  // by name

  void add(std::string_view name, std::uint64_t t, double w) {
    if (t < floor) return;  // no window starting at floor or later holds it
    auto it = std::lower_bound(reporters.begin(), reporters.end(), name,
                               [](const Reporter& a, std::string_view n) { return a.name < n; });
    if (it == reporters.end() || it->name != name)
      it = reporters.insert(it, Reporter{std::string(name), {}});
    auto& p = it->points;
    // Outweighed by a report as late and as heavy: it changes no window's maximum.
    for (const auto& [pt, pw] : p) {
      if (pt >= t && pw >= w) return;
    }
    std::erase_if(p, [&](const auto& e) { return e.first <= t && e.second <= w; });
    p.insert(std::lower_bound(p.begin(), p.end(), std::pair{t, w},
                              [](const auto& a, const auto& b2) { return a.first < b2.first; }),
             {t, w});
  }
  void raise_floor(std::uint64_t start) {
    if (start <= floor) return;
    floor = start;
    for (auto& rep : reporters) {
      std::erase_if(rep.points, [&](const auto& e) { return e.first < start; });
    }
    std::erase_if(reporters, [](const Reporter& rep) { return rep.points.empty(); });
  }
  // Every point is at or after floor: each reporter's heaviest is its first.
  double sum() const {
    double total = 0;
    for (const auto& rep : reporters) total += rep.points.front().second;
    return total;
  }
};

void encode_summary(std::string& out, const WindowSummary& s) {
  out.clear();
  out.push_back(static_cast<char>(kSummaryFormat));
  put_be(out, s.floor);
  put_be(out, static_cast<std::uint32_t>(s.reporters.size()));
  for (const auto& rep : s.reporters) {
    put_str32(out, rep.name);
    put_be(out, static_cast<std::uint32_t>(rep.points.size()));
    for (const auto& [t, w] : rep.points) {
      put_be(out, t);
      put_be(out, std::bit_cast<std::uint64_t>(w));
    }
  }
}

bool decode_summary(std::string_view v, WindowSummary& s) {
  Reader in{v};
  if (in.num<std::uint8_t>() != kSummaryFormat) return false;
  s.floor = in.num<std::uint64_t>();
  const auto n = in.num<std::uint32_t>();
  if (!in.ok || n > v.size()) return false;
  s.reporters.resize(n);
  for (auto& rep : s.reporters) {
    rep.name = in.str();
    const auto m = in.num<std::uint32_t>();
    if (!in.ok || m == 0 || m > v.size()) return false;
    rep.points.resize(m);
    for (auto& [t, w] : rep.points) {
      t = in.num<std::uint64_t>();
      w = std::bit_cast<double>(in.num<std::uint64_t>());
    }
  }
  return in.ok && in.in.empty();
}

// The summary from the subject's reports at or after `start` (u64 order, as keyed).
WindowSummary scan_window(const ReadTxn& txn, const std::string& sk, std::uint64_t start) {
  WindowSummary s;
  s.floor = start;
  std::string begin = aux_key(kReport, sk);
  begin.push_back(static_cast<char>(0xff));
  const std::size_t prefix_len = begin.size();
  put_be(begin, start);
  Cursor c(txn, txn.dbs().aux);
  StoredReport r;
  for (bool ok = c.seek(begin); ok && c.key().size() == prefix_len + 16 &&
                                c.key().substr(0, prefix_len) == begin.substr(0, prefix_len);
       ok = c.next()) {
    if (!decode_report(c.value(), r) || r.allowlisted) continue;
    s.add(r.reporter, get_be<std::uint64_t>(c.key(), prefix_len), r.weight);
  }
  return s;
}

// The allowlist of a zone as allowlisted() reads it, parsed once: the
// config's entries, then the stored ones.
std::vector<std::pair<Subject, std::string>> load_allowlist(const ReadTxn& txn,
                                                            const ZoneConfig& zone,
                                                            const ZoneRef& ref) {
  std::vector<std::pair<Subject, std::string>> out;
  for (const auto& a : zone.allowlist) {
    if (auto entry = parse_subject(a)) out.emplace_back(std::move(*entry), a);
  }
  std::string prefix(1, kAllow);
  put_be(prefix, ref.id);
  Cursor c(txn, txn.dbs().aux);
  for (bool ok = c.seek(prefix); ok && c.key().starts_with(prefix); ok = c.next()) {
    const auto j = json::parse(c.value(), nullptr, false);
    if (j.is_discarded()) continue;
    if (auto entry = parse_subject(j.value("subject", std::string()))) {
      auto text = to_string(*entry);
      out.emplace_back(std::move(*entry), std::move(text));
    }
  }
  return out;
}

bool allowlisted_in(const std::vector<std::pair<Subject, std::string>>& allow, const Subject& s) {
  if (kind_of(s) == SubjectKind::ip && std::get<IpPrefix>(s) == IpPrefix::v4(0x7f000001, 32))
    return true;  // RFC 5782: never listed
  return std::any_of(allow.begin(), allow.end(),
                     [&](const auto& a) { return overlaps(a.first, s); });
}

}  // namespace

bool is_test_point(const Subject& s) {
  if (const auto* p = std::get_if<IpPrefix>(&s)) {
    return *p == IpPrefix::v4(0x7f000001, 32) || *p == IpPrefix::v4(0x7f000002, 32);
  }
  const auto& d = std::get<DomainName>(s);
  return !d.subtree && (d.name == "test" || d.name == "invalid");
}

std::optional<ActiveMatch> active_match(const Store& store, const ReadTxn& txn, const ZoneRef& zone,
                                        const Subject& s, std::int64_t now) {
  if (const auto* p = std::get_if<IpPrefix>(&s)) {
    if (!p->is_host()) {
      const auto l = store.get(txn, zone, s);
      if (!l || !l->active_at(now) || l->exclusion()) return std::nullopt;
      return ActiveMatch{s, *l};
    }
    Cursor c(txn, txn.dbs().ip);
    const auto m = match_ip(c, zone.id, p->bytes(), now);
    if (!m) return std::nullopt;
    const Subject matched = m->prefix;
    const auto l = store.get(txn, zone, matched);
    if (!l) return std::nullopt;
    return ActiveMatch{matched, *l};
  }
  const auto& d = std::get<DomainName>(s);
  if (d.subtree) {
    const auto l = store.get(txn, zone, s);
    if (!l || !l->active_at(now) || l->exclusion() || !(l->flags & kFlagSubtree))
      return std::nullopt;
    return ActiveMatch{s, *l};
  }
  Cursor c(txn, txn.dbs().domain);
  const auto m = match_domain(c, domain_key(zone.id, d.name), now);
  if (!m) return std::nullopt;
  std::string_view name = d.name;
  auto labels = static_cast<std::size_t>(std::count(name.begin(), name.end(), '.')) + 1;
  for (; labels > m->matched_labels; --labels) name.remove_prefix(name.find('.') + 1);
  DomainName listed{std::string(name), false};
  const auto l = store.get(txn, zone, listed);
  if (!l) return std::nullopt;
  listed.subtree = (l->flags & kFlagSubtree) != 0;
  return ActiveMatch{listed, *l};
}

// --- reports -------------------------------------------------------------------

double Policy::decayed(const Offence& o, const PolicyConfig& p, std::int64_t now) {
  const double age = static_cast<double>(std::max<std::int64_t>(0, now - o.updated));
  return o.score * std::exp2(-age / static_cast<double>(p.half_life));
}

namespace {

// What report() and report_many() write once a report's window reaches the
// threshold.
Change threshold_change(const Actor& actor, bool active, double weight, const PolicyConfig& p) {
  return Change{actor.id, active ? "extend" : "list",
                "weight " + std::to_string(weight).substr(0, 4) + " within " +
                    describe_duration(p.window) + " reached the threshold"};
}

// A source that keeps spamming stays listed: the penalty runs again from `t`.
Listing extended(const Listing& existing, const Offence& o, const PolicyConfig& p, std::int64_t t,
                 std::int64_t now) {
  Listing l = existing;
  const std::uint32_t penalty = o.penalty ? o.penalty : p.base_duration;
  l.last_seen = std::max(l.last_seen, t);
  l.expires = std::max(l.expires, t + std::int64_t{penalty});
  if (l.expires <= now) l.expires = now + 1;
  return l;
}

// A new offence: the penalty grows with the decayed score of earlier ones;
// returns the listing it starts.
Listing new_offence(Offence& o, const ZoneConfig& zone, Source source, std::int64_t t,
                    std::int64_t now) {
  const auto& policy = zone.policy;
  const double score = Policy::decayed(o, policy, now);
  const double duration =
      std::min(static_cast<double>(policy.base_duration) * std::pow(policy.factor, score),
               static_cast<double>(policy.max_duration));
  o.score = score + 1;
  o.updated = now;
  o.penalty = static_cast<std::uint32_t>(duration);
  o.count += 1;
  Listing l;
  const auto code = zone.codes.find(source == Source::trap ? "trap" : "reports");
  l.codes = {code != zone.codes.end() ? code->second : zone.default_code};
  l.source = source;
  l.first_seen = t;
  l.last_seen = t;
  l.expires = std::max(t + std::int64_t{o.penalty}, now + 1);
  l.offences = o.count;
  l.reason = std::string(source == Source::trap ? "Sent mail to spam traps"
                                                : "Reported for sending spam") +
             (o.count > 1 ? " (repeat offence " + std::to_string(o.count) + ")" : "");
  return l;
}

}  // namespace

double Policy::admit_(WriteTxn& txn, const ZoneConfig& zone, const Report& r, ReportBatch& b) {
  check_kind(zone, r.subject);
  if (const auto* p = std::get_if<IpPrefix>(&r.subject); p && !p->is_host()) {
    throw PolicyError("bad_subject", "a report names one address, not a prefix");
  }
  if (const auto* d = std::get_if<DomainName>(&r.subject); d && d->subtree) {
    throw PolicyError("bad_subject", "a report names one domain, not a subtree");
  }
  if (!b.ref_ || b.zone_ != &zone) {
    b.ref_ = zone_for_write(store_, txn, zone);
    b.zone_ = &zone;
    b.allow_ = load_allowlist(txn, zone, *b.ref_);
  }
  const auto& policy = zone.policy;
  const double weight = r.weight.value_or(r.trust == Trust::trap      ? policy.trap_weight
                                          : r.trust == Trust::trusted ? policy.trusted_weight
                                                                      : policy.public_weight);
  if (!(weight >= 0) || weight > 1000) {
    throw PolicyError("bad_weight", "a report's weight is a number from 0 to 1000");
  }
  return weight;
}

ReportOutcome Policy::report(WriteTxn& txn, const ZoneConfig& zone, const Report& r,
                             const Actor& actor) {
  ReportBatch batch;
  return report(txn, zone, r, actor, batch);
}

ReportOutcome Policy::report(WriteTxn& txn, const ZoneConfig& zone, const Report& r,
                             const Actor& actor, ReportBatch& b) {
  const double weight = admit_(txn, zone, r, b);
  const ZoneRef& ref = *b.ref_;
  const auto& policy = zone.policy;
  const std::int64_t now = store_.now();
  const std::int64_t t = std::min(r.time.value_or(now), now);
  const auto sk = subject_key(ref.id, r.subject);
  const bool allowed = allowlisted_in(b.allow_, r.subject);

  // Keep the report whatever happens next: the desk sees them all.
  encode_report(b.value_, r, weight, allowed, actor.id);
  std::string& key = b.key_;
  key.assign(1, kReport);
  key += sk;
  key.push_back(static_cast<char>(0xff));
  put_be(key, static_cast<std::uint64_t>(t));
  const auto h = report_hash(r);
  key.append(reinterpret_cast<const char*>(h.data()), 8);
  const std::string summary_key = aux_key(kSummary, sk);
  try {
    txn.put(txn.dbs().aux, key, b.value_, MDB_NOOVERWRITE);
  } catch (const StoreError& e) {
    if (e.code() != MDB_KEYEXIST) throw;
    // The same report in the same second replaces the one stored: the
    // summary may hold what it replaced.
    txn.put(txn.dbs().aux, key, b.value_);
    txn.del(txn.dbs().aux, summary_key);
  }

  ReportOutcome out;
  if (allowed) {
    out.result = ReportResult::allowlisted;
    return out;
  }
  if (const auto* p = std::get_if<IpPrefix>(&r.subject); p && is_special_purpose(*p)) {
    out.result = ReportResult::reserved;
    return out;
  }

  // The weight within the window since the last delisting, each reporter
  // counted once (with its heaviest report), from the subject's summary.
  auto offence = get_offence(txn, sk).value_or(Offence{});
  // Reports count from the second after the last delisting: history and
  // reports are to the second, and a delisting must not be undone by the
  // evidence it was about (a new hit in that same second is the price).
  const std::int64_t from = std::max(now - std::int64_t{policy.window}, offence.cleared + 1);
  const auto start = static_cast<std::uint64_t>(std::max<std::int64_t>(from, 0));
  WindowSummary summary;
  const auto stored = txn.get(txn.dbs().aux, summary_key);
  if (stored && decode_summary(*stored, summary) && start >= summary.floor) {
    summary.add(r.reporter, static_cast<std::uint64_t>(t), weight);
    summary.raise_floor(start);
  } else {
    summary = scan_window(txn, sk, start);  // holds this report already
  }
  encode_summary(b.value_, summary);
  txn.put(txn.dbs().aux, summary_key, b.value_);
  out.window_weight = summary.sum();
  const bool qualifies = t >= from && out.window_weight + 1e-9 >= policy.threshold;

  const auto existing = store_.get(txn, ref, r.subject);
  const bool active = existing && existing->active_at(now);
  if (active && (existing->exclusion() || existing->source == Source::manual ||
                 existing->source == Source::import)) {
    out.result = ReportResult::manual;
    out.listing = existing;
    return out;
  }
  if (!qualifies) {
    out.result = ReportResult::recorded;
    if (active) out.listing = existing;
    return out;
  }
  const Source source = r.trust == Trust::trap ? Source::trap : Source::report;
  const Change why = threshold_change(actor, active, out.window_weight, policy);
  if (active) {
    const Listing l = extended(*existing, offence, policy, t, now);
    if (l != *existing) store_.put(txn, ref, r.subject, l, why);
    out.result = ReportResult::extended;
    out.listing = l;
    return out;
  }
  const Listing l = new_offence(offence, zone, source, t, now);
  put_offence(txn, sk, offence);
  store_.put(txn, ref, r.subject, l, why);
  out.result = ReportResult::listed;
  out.listing = l;
  return out;
}

std::vector<Policy::ManyOutcome> Policy::report_many(WriteTxn& txn, const ZoneConfig& zone,
                                                     const std::vector<Report>& reports,
                                                     const Actor& actor, ReportBatch& b) {
  std::vector<ManyOutcome> outs(reports.size());
  const std::int64_t now = store_.now();
  const auto& policy = zone.policy;
  struct Item {
    std::string sk;
    std::size_t index = 0;
    std::int64_t t = 0;
    double weight = 0;
  };
  std::vector<Item> items;
  items.reserve(reports.size());
  // The checks report() makes before it writes anything.
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const Report& r = reports[i];
    try {
      const double weight = admit_(txn, zone, r, b);
      items.push_back(
          {subject_key(b.ref_->id, r.subject), i, std::min(r.time.value_or(now), now), weight});
    } catch (const PolicyError& e) {
      outs[i].error = e;
    }
  }
  if (items.empty()) return outs;
  // Subject by subject in key order; each subject's reports in the order given.
  std::stable_sort(items.begin(), items.end(),
                   [](const Item& x, const Item& y) { return x.sk < y.sk; });
  const ZoneRef& ref = *b.ref_;
  std::string& key = b.key_;
  for (std::size_t g = 0; g < items.size();) {
    std::size_t end = g + 1;
    while (end < items.size() && items[end].sk == items[g].sk) ++end;
    const std::string& sk = items[g].sk;
    const Subject& subject = reports[items[g].index].subject;
    const bool allowed = allowlisted_in(b.allow_, subject);
    const auto* ip = std::get_if<IpPrefix>(&subject);
    const bool reserved = ip && is_special_purpose(*ip);
    const std::string summary_key = aux_key(kSummary, sk);
    // What report() would read back from the store, kept here instead.
    enum class Held { unread, valid, absent };
    Held held = Held::unread;
    bool summary_dirty = false;
    WindowSummary summary;
    std::optional<Offence> offence;
    bool offence_dirty = false;
    bool listing_read = false;
    std::optional<Listing> existing;

    for (std::size_t k = g; k < end; ++k) {
      const Item& it = items[k];
      const Report& r = reports[it.index];
      ReportOutcome& out = outs[it.index].outcome;
      const std::int64_t t = it.t;
      encode_report(b.value_, r, it.weight, allowed, actor.id);
      key.assign(1, kReport);
      key += sk;
      key.push_back(static_cast<char>(0xff));
      put_be(key, static_cast<std::uint64_t>(t));
      const auto h = report_hash(r);
      key.append(reinterpret_cast<const char*>(h.data()), 8);
      try {
        txn.put(txn.dbs().aux, key, b.value_, MDB_NOOVERWRITE);
      } catch (const StoreError& e) {
        if (e.code() != MDB_KEYEXIST) throw;
        txn.put(txn.dbs().aux, key, b.value_);
        held = Held::absent;  // the summary may hold what was replaced
        summary_dirty = true;
      }
      if (allowed) {
        out.result = ReportResult::allowlisted;
        continue;
      }
      if (reserved) {
        out.result = ReportResult::reserved;
        continue;
      }
      if (!offence) offence = get_offence(txn, sk).value_or(Offence{});
      const std::int64_t from = std::max(now - std::int64_t{policy.window}, offence->cleared + 1);
      const auto start = static_cast<std::uint64_t>(std::max<std::int64_t>(from, 0));
      if (held == Held::unread) {
        const auto stored = txn.get(txn.dbs().aux, summary_key);
        held = stored && decode_summary(*stored, summary) ? Held::valid : Held::absent;
      }
      if (held == Held::valid && start >= summary.floor) {
        summary.add(r.reporter, static_cast<std::uint64_t>(t), it.weight);
        summary.raise_floor(start);
      } else {
        summary = scan_window(txn, sk, start);  // holds this report already
      }
      held = Held::valid;
      summary_dirty = true;
      out.window_weight = summary.sum();
      const bool qualifies = t >= from && out.window_weight + 1e-9 >= policy.threshold;

      if (!listing_read) {
        existing = store_.get(txn, ref, subject);
        listing_read = true;
      }
      const bool active = existing && existing->active_at(now);
      if (active && (existing->exclusion() || existing->source == Source::manual ||
                     existing->source == Source::import)) {
        out.result = ReportResult::manual;
        out.listing = existing;
        continue;
      }
      if (!qualifies) {
        out.result = ReportResult::recorded;
        if (active) out.listing = existing;
        continue;
      }
      const Source source = r.trust == Trust::trap ? Source::trap : Source::report;
      const Change why = threshold_change(actor, active, out.window_weight, policy);
      if (active) {
        const Listing l = extended(*existing, *offence, policy, t, now);
        if (l != *existing) {
          store_.put(txn, ref, subject, l, why);
          existing = l;
        }
        out.result = ReportResult::extended;
        out.listing = l;
        continue;
      }
      const Listing l = new_offence(*offence, zone, source, t, now);
      offence_dirty = true;
      store_.put(txn, ref, subject, l, why);
      existing = l;
      out.result = ReportResult::listed;
      out.listing = l;
    }
    if (summary_dirty) {
      if (held == Held::valid) {
        encode_summary(b.value_, summary);
        txn.put(txn.dbs().aux, summary_key, b.value_);
      } else {
        txn.del(txn.dbs().aux, summary_key);
      }
    }
    if (offence_dirty) put_offence(txn, sk, *offence);
    g = end;
  }
  return outs;
}

std::vector<StoredReport> Policy::reports(const ReadTxn& txn, const ZoneConfig& zone,
                                          const Subject& s) const {
  std::vector<StoredReport> out;
  const auto ref = store_.find_zone(txn, zone.name);
  if (!ref) return out;
  std::string prefix = aux_key(kReport, subject_key(ref->id, s));
  prefix.push_back(static_cast<char>(0xff));
  Cursor c(txn, txn.dbs().aux);
  for (bool ok = c.seek(prefix);
       ok && c.key().size() == prefix.size() + 16 && c.key().substr(0, prefix.size()) == prefix;
       ok = c.next()) {
    StoredReport r;
    if (!decode_report(c.value(), r)) continue;
    r.time = static_cast<std::int64_t>(get_be<std::uint64_t>(c.key(), prefix.size()));
    if (c.value().front() != '{') {
      for (auto* text : {&r.reporter, &r.detail, &r.reason, &r.evidence})
        *text = valid_utf8(std::move(*text));
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<Offence> Policy::offence(const ReadTxn& txn, const ZoneConfig& zone,
                                       const Subject& s) const {
  const auto ref = store_.find_zone(txn, zone.name);
  if (!ref) return std::nullopt;
  return get_offence(txn, subject_key(ref->id, s));
}

std::size_t Policy::trim_reports(WriteTxn& txn, const ZoneConfig& zone, std::size_t limit) {
  if (zone.kind == ZoneKind::combined) return 0;
  const auto ref = store_.find_zone(txn, zone.name);
  if (!ref) return 0;
  const std::int64_t before = store_.now() - std::int64_t{zone.policy.report_retention};
  std::string prefix(1, kReport);
  put_be(prefix, ref->id);
  std::vector<std::string> doomed;
  Cursor c(txn, txn.dbs().aux);
  for (bool ok = c.seek(prefix); ok && c.key().starts_with(prefix) && doomed.size() < limit;
       ok = c.next()) {
    const auto k = c.key();
    if (k.size() < 17) continue;
    const auto t = static_cast<std::int64_t>(get_be<std::uint64_t>(k, k.size() - 16));
    if (t < before) doomed.emplace_back(k);
  }
  for (const auto& k : doomed) {
    txn.del(txn.dbs().aux, k);
    // The subject's summary may hold what went: it is rebuilt from what stays.
    txn.del(txn.dbs().aux, aux_key(kSummary, std::string_view(k).substr(1, k.size() - 18)));
  }
  return doomed.size();
}

// --- the abuse desk --------------------------------------------------------------

Listing Policy::list(WriteTxn& txn, const ZoneConfig& zone, const Subject& s,
                     const ManualListing& m, const Actor& actor) {
  check_kind(zone, s);
  if (is_test_point(s)) {
    throw PolicyError("test_point", to_string(s) + " is an RFC 5782 test point: DNS answers it " +
                                        "by itself and it cannot be listed or delisted");
  }
  if (m.reason.empty()) throw PolicyError("reason_required", "a listing needs a reason");
  if (!m.exclusion) {
    if (const auto a = allowlisted(txn, zone, s)) {
      throw PolicyError("allowlisted", to_string(s) + " overlaps the allowlist entry " + *a +
                                           ": remove that entry first");
    }
  }
  std::string override_note;
  if (const auto* p = std::get_if<IpPrefix>(&s); p && !m.exclusion) {
    const bool broad = p->is_v4() ? p->family_length() < 16 : p->length() < 32;
    const bool special = is_special_purpose(*p);
    if (broad || special) {
      const std::string what =
          broad ? p->to_string() + " is broader than /" + (p->is_v4() ? "16" : "32")
                : p->to_string() + " overlaps special-purpose address space";
      if (!m.override_checks) {
        throw PolicyError("needs_override", what + ": an admin must list it with the override");
      }
      if (actor.role != Role::admin) {
        throw PolicyError("forbidden", what + ": only an admin may override");
      }
      override_note = " [override: " + what + "]";
    }
  }
  const auto ref = zone_for_write(store_, txn, zone);
  const std::int64_t now = store_.now();
  const auto before = store_.get(txn, ref, s);
  Listing l;
  l.codes = {m.code                        ? resolve_code(zone, *m.code)
             : zone.codes.contains("desk") ? zone.codes.at("desk")
                                           : zone.default_code};
  if (m.exclusion) {
    l.codes.clear();
    l.flags |= kFlagExclusion;
  }
  l.source = Source::manual;
  l.first_seen = before && before->active_at(now) ? before->first_seen : now;
  l.last_seen = now;
  if (m.permanent) {
    l.expires = 0;
  } else {
    const std::int64_t d = m.duration.value_or(zone.policy.base_duration);
    if (d <= 0 || d > 3650LL * 86400) {
      throw PolicyError("bad_duration", "a duration is from 1 second to 3650 days");
    }
    l.expires = now + d;
  }
  l.offences = before ? before->offences : 0;
  l.reason = m.reason;
  if (const auto* d = std::get_if<DomainName>(&s); d && d->subtree) l.flags |= kFlagSubtree;
  store_.put(txn, ref, s, l,
             Change{actor.id,
                    m.exclusion ? "exclude"
                    : before    ? "update"
                                : "list",
                    m.reason + override_note});
  return l;
}

Listing Policy::unlist(WriteTxn& txn, const ZoneConfig& zone, const Subject& s,
                       const std::string& reason, const Actor& actor) {
  check_kind(zone, s);
  if (reason.empty()) throw PolicyError("reason_required", "a removal needs a reason");
  const auto ref = zone_for_write(store_, txn, zone);
  if (!store_.get(txn, ref, s)) {
    std::string hint;
    if (const auto m = active_match(store_, txn, ref, s, store_.now())) {
      hint = "; it is listed through " + to_string(m->matched);
    }
    throw PolicyError("not_listed",
                      to_string(s) + " has no listing of its own in " + zone.name + hint);
  }
  const auto before = store_.remove(txn, ref, s, Change{actor.id, "delist", reason});
  mark_cleared(store_, txn, subject_key(ref.id, s));
  return before.value_or(Listing{});
}

// --- delist requests -------------------------------------------------------------

namespace {

DelistRequest request_from(const json& j) {
  DelistRequest r;
  r.id = j.value("id", std::string());
  r.zone = j.value("zone", std::string());
  r.subject = j.value("subject", std::string());
  r.matched = j.value("matched", std::string());
  r.contact = j.value("contact", std::string());
  r.explanation = j.value("explanation", std::string());
  r.requester = j.value("requester", std::string());
  r.status = j.value("status", std::string());
  r.self_service = j.value("self_service", false);
  r.created = j.value("created", std::int64_t{0});
  r.decided = j.value("decided", std::int64_t{0});
  r.decided_by = j.value("decided_by", std::string());
  r.decision_reason = j.value("decision_reason", std::string());
  return r;
}

json request_json(const DelistRequest& r) {
  return {{"id", r.id},
          {"zone", r.zone},
          {"subject", r.subject},
          {"matched", r.matched},
          {"contact", r.contact},
          {"explanation", r.explanation},
          {"requester", r.requester},
          {"status", r.status},
          {"self_service", r.self_service},
          {"created", r.created},
          {"decided", r.decided},
          {"decided_by", r.decided_by},
          {"decision_reason", r.decision_reason}};
}

// Writes the record and keeps the index and counters (delist_index.hpp)
// in step, whatever the record held before.
void save(WriteTxn& txn, const DelistRequest& r) {
  const auto key = aux_key(kDelist, r.id);
  std::optional<std::string> old;
  if (const auto v = txn.get(txn.dbs().aux, key)) old.emplace(*v);
  delist_index::on_write(txn, r.id, old, r.status, r.created);
  txn.put(txn.dbs().aux, key, dump(request_json(r)));
}

// Self-service removals of `s` within the period, counted from history.
std::size_t self_service_uses(const Store& store, const ReadTxn& txn, const ZoneRef& ref,
                              const Subject& s, std::int64_t since) {
  std::size_t n = 0;
  for (const auto& e : store.history(txn, ref, s)) {
    if (e.action == "delist-self" && e.time >= since) ++n;
  }
  return n;
}

}  // namespace

DelistRequest Policy::request_delist(WriteTxn& txn, const ZoneConfig& zone, const Subject& s,
                                     const std::string& contact, const std::string& explanation,
                                     const std::string& requester) {
  check_kind(zone, s);
  if (is_test_point(s)) {
    throw PolicyError(
        "test_point",
        to_string(s) + " is an RFC 5782 test point: it is answered that way by design");
  }
  if (contact.empty() || explanation.empty()) {
    throw PolicyError("missing_field", "a delist request needs a contact and an explanation");
  }
  const auto ref = zone_for_write(store_, txn, zone);
  const std::int64_t now = store_.now();
  DelistRequest r;
  r.id = to_hex(random_bytes(12));
  r.zone = zone.name;
  r.subject = to_string(s);
  r.contact = contact;
  r.explanation = explanation;
  r.requester = requester;
  r.created = now;

  const auto m = active_match(store_, txn, ref, s, now);
  if (!m) {
    r.status = "not_listed";
    r.decided = now;
    r.decided_by = "rules";
    r.decision_reason = to_string(s) + " is not listed in " + zone.name;
    save(txn, r);
    return r;
  }
  r.matched = to_string(m->matched);
  const auto msk = subject_key(ref.id, m->matched);
  // One pending request per listing: a second one points at the first.
  if (const auto pending = txn.get(txn.dbs().aux, aux_key(kPending, msk))) {
    if (auto existing = delist_request(txn, *pending); existing && existing->status == "pending") {
      return *existing;
    }
  }
  const bool automatic = m->listing.source == Source::trap || m->listing.source == Source::report;
  const auto since = now - std::int64_t{zone.policy.self_delist_period};
  if (automatic &&
      self_service_uses(store_, txn, ref, m->matched, since) < zone.policy.self_delist_quota) {
    store_.remove(txn, ref, m->matched,
                  Change{"public:" + r.id, "delist-self", "self-service delist request " + r.id});
    mark_cleared(store_, txn, msk);
    r.status = "approved";
    r.self_service = true;
    r.decided = now;
    r.decided_by = "self-service";
    r.decision_reason =
        "Removed at once (self-service). A new listing follows only on new evidence.";
    save(txn, r);
    return r;
  }
  r.status = "pending";
  save(txn, r);
  txn.put(txn.dbs().aux, aux_key(kPending, msk), r.id);
  store_.note(txn, ref, m->matched,
              Change{"public:" + r.id, "delist-requested",
                     automatic ? "self-service quota used up: waits for the abuse desk"
                               : "manual listing: waits for the abuse desk"});
  return r;
}

std::optional<DelistRequest> Policy::delist_request(const ReadTxn& txn, std::string_view id) const {
  if (id.empty() || id.size() > 64) return std::nullopt;
  const auto j = load(txn, aux_key(kDelist, id));
  if (!j) return std::nullopt;
  return request_from(*j);
}

std::string DelistCursor::to_string() const {
  return std::to_string(created) + "." + id;
}

std::optional<DelistCursor> DelistCursor::parse(std::string_view text) {
  const auto dot = text.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  DelistCursor c;
  const auto created = text.substr(0, dot);
  const auto [end, ec] =
      std::from_chars(created.data(), created.data() + created.size(), c.created);
  if (ec != std::errc() || end != created.data() + created.size()) return std::nullopt;
  const auto id = text.substr(dot + 1);
  // Ids are what request_delist makes (hex); delist_request takes up to 64.
  if (id.empty() || id.size() > 64) return std::nullopt;
  for (const char ch : id) {
    const bool ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                    (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '_';
    if (!ok) return std::nullopt;
  }
  c.id = id;
  return c;
}

DelistPage Policy::delist_requests(const ReadTxn& txn, std::optional<std::string_view> status,
                                   std::size_t limit,
                                   const std::optional<DelistCursor>& before) const {
  DelistPage out;
  unsigned mask = 0xf;
  if (status) {
    const auto code = delist_index::status_code(*status);
    if (!code) return out;
    mask = 1U << *code;
  }
  std::optional<delist_index::Position> after;
  if (before) after = delist_index::Position{before->created, before->id};
  bool more = false;
  const auto ids = delist_index::page(txn, mask, limit, after, more);
  out.requests.reserve(ids.size());
  for (const auto& p : ids) {
    // An entry whose record is gone or says otherwise (a store changed
    // by an older build since it was indexed) is skipped.
    auto r = delist_request(txn, p.id);
    if (r && r->created == p.created && (!status || r->status == *status)) {
      out.requests.push_back(std::move(*r));
    }
  }
  if (more && !ids.empty()) out.next = DelistCursor{ids.back().created, ids.back().id};
  return out;
}

std::vector<DelistRequest> Policy::delist_requests(const ReadTxn& txn,
                                                   std::optional<std::string_view> status) const {
  return delist_requests(txn, status, std::numeric_limits<std::size_t>::max()).requests;
}

std::uint64_t Policy::delist_count(const ReadTxn& txn,
                                   std::optional<std::string_view> status) const {
  const auto n = delist_index::counts(txn);
  if (!status) return n[0] + n[1] + n[2] + n[3];
  const auto code = delist_index::status_code(*status);
  return code ? n[*code] : 0;
}

DelistRequest Policy::decide(WriteTxn& txn, const ZoneConfig& zone, std::string_view id,
                             bool approve, const std::string& reason, const Actor& actor) {
  auto r = delist_request(txn, id);
  if (!r || r->zone != zone.name)
    throw PolicyError("not_found", "no delist request " + std::string(id));
  if (r->status != "pending") {
    throw PolicyError("not_pending", "request " + r->id + " is already " + r->status);
  }
  if (reason.empty()) throw PolicyError("reason_required", "a decision needs a reason");
  const auto ref = zone_for_write(store_, txn, zone);
  const auto matched = parse_subject(r->matched);
  const std::int64_t now = store_.now();
  if (matched) {
    const auto msk = subject_key(ref.id, *matched);
    txn.del(txn.dbs().aux, aux_key(kPending, msk));
    if (approve && store_.get(txn, ref, *matched)) {
      store_.remove(txn, ref, *matched,
                    Change{actor.id, "delist", "delist request " + r->id + " approved: " + reason});
      mark_cleared(store_, txn, msk);
    } else {
      store_.note(txn, ref, *matched,
                  Change{actor.id, approve ? "delist-approved" : "delist-denied",
                         "delist request " + r->id + ": " + reason});
    }
  }
  r->status = approve ? "approved" : "denied";
  r->decided = now;
  r->decided_by = actor.id;
  r->decision_reason = reason;
  save(txn, *r);
  return *r;
}

// --- the allowlist -----------------------------------------------------------------

std::optional<std::string> Policy::allowlisted(const ReadTxn& txn, const ZoneConfig& zone,
                                               const Subject& s) const {
  for (const auto& a : zone.allowlist) {
    if (const auto entry = parse_subject(a); entry && overlaps(*entry, s)) return a;
  }
  if (kind_of(s) == SubjectKind::ip && is_test_point(s) &&
      std::get<IpPrefix>(s) == IpPrefix::v4(0x7f000001, 32)) {
    return std::string("127.0.0.1");  // RFC 5782: never listed
  }
  const auto ref = store_.find_zone(txn, zone.name);
  if (!ref) return std::nullopt;
  // ZONE | kind: the allowlist of one zone and family is one key range, and
  // it is small (the operator's own servers), so it is scanned.
  std::string prefix = aux_key(kAllow, subject_key(ref->id, s).substr(0, 3));
  Cursor c(txn, txn.dbs().aux);
  for (bool ok = c.seek(prefix); ok && c.key().starts_with(prefix); ok = c.next()) {
    const auto j = json::parse(c.value(), nullptr, false);
    if (j.is_discarded()) continue;
    const auto entry = parse_subject(j.value("subject", std::string()));
    if (entry && overlaps(*entry, s)) return to_string(*entry);
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, json>> Policy::allowlist(const ReadTxn& txn,
                                                            const ZoneConfig& zone) const {
  std::vector<std::pair<std::string, json>> out;
  for (const auto& a : zone.allowlist) out.emplace_back(a, json{{"source", "config"}});
  const auto ref = store_.find_zone(txn, zone.name);
  if (!ref) return out;
  std::string prefix(1, kAllow);
  put_be(prefix, ref->id);
  Cursor c(txn, txn.dbs().aux);
  for (bool ok = c.seek(prefix); ok && c.key().starts_with(prefix); ok = c.next()) {
    auto j = json::parse(c.value(), nullptr, false);
    if (j.is_discarded()) continue;
    j["source"] = "api";
    out.emplace_back(j.value("subject", std::string()), std::move(j));
  }
  return out;
}

void Policy::allow(WriteTxn& txn, const ZoneConfig& zone, const Subject& s,
                   const std::string& reason, const Actor& actor) {
  check_kind(zone, s);
  if (reason.empty()) throw PolicyError("reason_required", "an allowlist entry needs a reason");
  const auto ref = zone_for_write(store_, txn, zone);
  const std::int64_t now = store_.now();
  txn.put(txn.dbs().aux, aux_key(kAllow, subject_key(ref.id, s)),
          dump(json{
              {"subject", to_string(s)}, {"reason", reason}, {"actor", actor.id}, {"time", now}}));
  store_.note(txn, ref, s, Change{actor.id, "allowlist-add", reason});
  // What must never be listed stops being listed: the subject itself and
  // every listing inside it (one key range in either database).
  std::vector<Subject> doomed;
  if (const auto* p = std::get_if<IpPrefix>(&s)) {
    const auto begin = ip_key(ref.id, *p);
    Cursor c(txn, txn.dbs().ip);
    for (bool ok = c.seek(begin);
         ok && c.key().size() == kIpKeySize && c.key().substr(0, 2) == begin.substr(0, 2);
         ok = c.next()) {
      IpPrefix::Bytes b{};
      std::copy_n(c.key().data() + 2, 16, reinterpret_cast<char*>(b.data()));
      const IpPrefix listed(b, static_cast<std::uint8_t>(c.key()[18]));
      if (!p->contains(listed)) break;
      const auto l = Listing::decode(c.value().substr(1));
      if (l && !l->exclusion()) doomed.emplace_back(listed);
    }
  } else {
    const auto& d = std::get<DomainName>(s);
    const auto begin = domain_key(ref.id, d.name);
    Cursor c(txn, txn.dbs().domain);
    for (bool ok = c.seek(begin); ok && c.key().starts_with(begin); ok = c.next()) {
      if (c.key().size() != begin.size() && !d.subtree) break;
      const auto l = Listing::decode(c.value());
      if (!l || l->exclusion()) continue;
      const std::string name = domain_from_key(c.key().substr(2));
      doomed.emplace_back(DomainName{name, (l->flags & kFlagSubtree) != 0});
    }
  }
  for (const auto& d : doomed) {
    store_.remove(txn, ref, d, Change{actor.id, "delist", "allowlisted: " + reason});
    mark_cleared(store_, txn, subject_key(ref.id, d));
  }
  // A listing around it (a wider prefix, a parent domain's subtree) stays,
  // but an exclusion carves the allowlisted subject out of it.
  std::optional<ActiveMatch> around;
  if (const auto* p = std::get_if<IpPrefix>(&s)) {
    around = active_match(store_, txn, ref, IpPrefix(p->bytes(), 128), now);
    if (around && std::get<IpPrefix>(around->matched).length() >= p->length()) around.reset();
  } else {
    around = active_match(store_, txn, ref, DomainName{std::get<DomainName>(s).name, false}, now);
    if (around && std::get<DomainName>(around->matched).name == std::get<DomainName>(s).name) {
      around.reset();
    }
  }
  if (around) {
    Listing ex;
    ex.flags = kFlagExclusion;
    ex.source = Source::manual;
    ex.first_seen = now;
    ex.last_seen = now;
    ex.reason = "allowlisted: " + reason;
    store_.put(txn, ref, s, ex,
               Change{actor.id, "exclude",
                      "allowlisted inside " + to_string(around->matched) + ": " + reason});
  }
}

bool Policy::disallow(WriteTxn& txn, const ZoneConfig& zone, const Subject& s,
                      const std::string& reason, const Actor& actor) {
  check_kind(zone, s);
  if (reason.empty()) throw PolicyError("reason_required", "removing an entry needs a reason");
  const auto ref = zone_for_write(store_, txn, zone);
  const auto key = aux_key(kAllow, subject_key(ref.id, s));
  const auto entry = txn.get(txn.dbs().aux, key);
  if (!entry) return false;
  const auto j = json::parse(*entry, nullptr, false);
  const std::string allowed_for = j.is_object() ? j.value("reason", std::string()) : std::string();
  txn.del(txn.dbs().aux, key);
  store_.note(txn, ref, s, Change{actor.id, "allowlist-remove", reason});
  // The exclusion allow() carved out of a listing around the subject goes
  // with the entry: the listing around it applies again. One the desk made
  // itself (another reason) stays.
  if (const auto ex = store_.get(txn, ref, s);
      ex && ex->exclusion() && ex->reason == "allowlisted: " + allowed_for) {
    store_.remove(txn, ref, s, Change{actor.id, "delist", "allowlist entry removed: " + reason});
  }
  return true;
}

// --- point in time -------------------------------------------------------------------

PointInTime Policy::state_at(const ReadTxn& txn, const ZoneConfig& zone, const Subject& s,
                             std::int64_t t) const {
  PointInTime out;
  const auto ref = store_.find_zone(txn, zone.name);
  if (!ref) return out;
  // The candidates, most specific first: the subject and what contains it.
  std::vector<Subject> candidates;
  if (const auto* p = std::get_if<IpPrefix>(&s)) {
    const int lowest = p->is_v4() ? 96 : 0;
    for (int len = p->length(); len >= lowest; --len) {
      candidates.emplace_back(IpPrefix(p->bytes(), static_cast<std::uint8_t>(len)));
    }
  } else {
    const auto& d = std::get<DomainName>(s);
    std::string_view name = d.name;
    candidates.emplace_back(DomainName{d.name, false});
    while (name.find('.') != std::string_view::npos) {
      name.remove_prefix(name.find('.') + 1);
      candidates.emplace_back(DomainName{std::string(name), true});
    }
  }
  bool first = true;
  for (const auto& c : candidates) {
    auto events = store_.history(txn, *ref, c);
    if (first) out.events = events;  // the subject's own events, even if not decisive
    const bool own = first;
    first = false;
    if (events.empty()) continue;
    std::optional<HistoryEvent> last;
    for (auto& e : events) {
      if (e.time > t) break;
      if (e.before || e.after) last = e;
    }
    if (!last || !last->after || !last->after->active_at(t)) continue;
    const auto& l = *last->after;
    if (!own && kind_of(s) == SubjectKind::domain && !(l.flags & kFlagSubtree)) continue;
    // The most specific entry in force decides, an exclusion included.
    out.listed = !l.exclusion();
    out.matched = to_string(c);
    out.listing = l;
    out.why = last;
    out.events = std::move(events);
    return out;
  }
  return out;
}

}  // namespace rblzone::core
