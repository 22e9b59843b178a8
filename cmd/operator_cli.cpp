// The operator's command line: zones, listings, check, history.
#include "cmd/operator_cli.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cmd/export.hpp"
#include "cmd/status_cli.hpp"
#include "cmd/import_cli.hpp"
#include "core/config.hpp"
#include "core/policy.hpp"
#include "core/tokens.hpp"

namespace rblzone::cli {
namespace {

using core::IpPrefix;
using nlohmann::json;

// A user error: one line, exit 2, nothing changed.
struct BadInput : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct NotFound : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::int64_t parse_duration(const std::string& text) {
  std::int64_t n = 0;
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, n);
  if (ec != std::errc() || n <= 0)
    throw BadInput("bad duration '" + text + "' (want e.g. 90s, 15m, 24h, 7d)");
  const std::string_view unit(p, static_cast<std::size_t>(end - p));
  if (unit.empty() || unit == "s") return n;
  if (unit == "m") return n * 60;
  if (unit == "h") return n * 3600;
  if (unit == "d") return n * 86400;
  if (unit == "w") return n * 7 * 86400;
  throw BadInput("bad duration '" + text + "' (want e.g. 90s, 15m, 24h, 7d)");
}

// "2026-11-22T14:02:00Z", "2026-11-22 14:02:00" (UTC) or unix seconds.
std::int64_t parse_time(const std::string& text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), ::isdigit)) return std::stoll(text);
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) {
    in.clear();
    in.str(text);
    in >> std::get_time(&tm, "%Y-%m-%d %H:%M:%S");
  }
  if (in.fail())
    throw BadInput("bad time '" + text + "' (want 2026-11-22T14:02:00Z or unix seconds)");
  return static_cast<std::int64_t>(timegm(&tm));
}

std::string format_time(std::int64_t t) {
  return t == 0 ? "-" : core::format_utc(t);
}

struct Context {
  std::string config_file;
  std::string data_dir;
  std::string zones_dir;
  bool json = false;
  core::Clock clock;
  std::ostream* out = nullptr;

  core::DaemonConfig daemon;
  std::vector<core::ZoneConfig> zones;
  std::unique_ptr<core::Store> store;

  void load() {
    try {
      if (!config_file.empty()) daemon = core::load_daemon_config(config_file);
      if (!data_dir.empty()) daemon.data_dir = data_dir;
      if (!zones_dir.empty()) daemon.zones_dir = zones_dir;
      zones = core::load_zones(daemon.zones_dir);
    } catch (const core::ConfigError& e) {
      throw BadInput(e.what());
    }
  }
  void open() {
    load();
    store = std::make_unique<core::Store>(daemon.data_dir, clock);
  }
  const core::ZoneConfig& zone(const std::string& name) const {
    std::string n = name;
    std::transform(n.begin(), n.end(), n.begin(), ::tolower);
    if (!n.empty() && n.back() == '.') n.pop_back();
    for (const auto& z : zones) {
      if (z.name == n) return z;
    }
    std::string known;
    for (const auto& z : zones) known += (known.empty() ? "" : ", ") + z.name;
    throw BadInput("unknown zone '" + name + "' (zones: " + known + ")");
  }
  core::ZoneRef zone_ref(const core::ZoneConfig& z) {
    core::ZoneRef ref;
    store->env().write([&](core::WriteTxn& txn) { ref = store->ensure_zone(txn, z.name); });
    return ref;
  }
};

core::Subject parse_subject_for(const core::ZoneConfig& z, const std::string& text) {
  std::string error;
  const auto s = core::parse_subject(text, &error);
  if (!s) throw BadInput(error);
  if (z.kind == core::ZoneKind::combined) {
    throw BadInput("zone " + z.name + " is combined: list in one of its members (" + [&] {
      std::string m;
      for (const auto& x : z.members) m += (m.empty() ? "" : ", ") + x;
      return m;
    }() + ")");
  }
  const bool ip_zone = z.kind == core::ZoneKind::ip;
  if (ip_zone != (core::kind_of(*s) == core::SubjectKind::ip)) {
    throw BadInput("zone " + z.name + " lists " + (ip_zone ? "addresses" : "domains") + ", not '" +
                   text + "'");
  }
  return *s;
}

// Who acts, for history events: the operator's login name.
std::string cli_actor() {
  const char* user = std::getenv("USER");  // NOLINT(concurrency-mt-unsafe): single-threaded CLI
  return std::string("cli:") + (user != nullptr ? user : "operator");
}

std::string describe(const core::Listing& l, std::int64_t now) {
  std::ostringstream o;
  if (l.exclusion()) {
    o << "excluded (never listed)";
  } else {
    o << "codes ";
    for (std::size_t i = 0; i < l.codes.size(); ++i)
      o << (i ? "," : "") << core::code_to_string(l.codes[i]);
    o << " source " << core::to_string(l.source) << " since " << format_time(l.first_seen)
      << " until " << (l.permanent() ? "permanent" : format_time(l.expires));
    if (!l.active_at(now)) o << " (expired)";
    o << " offences " << l.offences << " reason \"" << l.reason << "\"";
  }
  return o.str();
}

// --- commands ----------------------------------------------------------------

int cmd_zone_list(Context& c) {
  c.open();
  json arr = json::array();
  auto txn = c.store->env().begin_read();
  for (const auto& z : c.zones) {
    const auto ref = c.store->find_zone(txn, z.name);
    const auto serial = ref ? c.store->serial(txn, *ref) : 0;
    const std::string kind(core::to_string(z.kind));
    arr.push_back(
        {{"name", z.name}, {"kind", kind}, {"serial", serial}, {"file", z.file.string()}});
    if (!c.json) *c.out << z.name << "\t" << kind << "\tserial " << serial << "\n";
  }
  if (c.json) *c.out << arr.dump() << "\n";
  return kExitOk;
}

struct AddOptions {
  std::string reason;
  std::string code;
  std::string duration;
  bool permanent = false;
  bool exclude = false;
  bool force = false;
  std::string source = "manual";
};

void check_policy(const core::ZoneConfig& z, const core::Subject& s, const AddOptions& o) {
  if (const auto* p = std::get_if<IpPrefix>(&s)) {
    const auto never = IpPrefix::v4(0x7f000001, 32);
    if (!o.exclude && p->contains(never)) {
      throw BadInput("127.0.0.1 is an RFC 5782 test point and must never be listed");
    }
    if (o.exclude && p->contains(IpPrefix::v4(0x7f000002, 32))) {
      throw BadInput(
          "127.0.0.2 is an RFC 5782 test point and always listed: it cannot be excluded");
    }
    if (o.exclude) return;
    for (const auto& a : z.allowlist) {
      const auto ap = IpPrefix::parse(a);
      if (ap && (p->contains(*ap) || ap->contains(*p))) {
        throw BadInput(p->to_string() + " overlaps the allowlist entry " + a);
      }
    }
    const bool broad = p->is_v4() ? p->family_length() < 16 : p->length() < 32;
    if (!o.force && broad) {
      throw BadInput(p->to_string() + " is broader than /" + (p->is_v4() ? "16" : "32") +
                     ": add --force to list it anyway (recorded in history)");
    }
    if (!o.force && core::is_special_purpose(*p)) {
      throw BadInput(p->to_string() +
                     " overlaps special-purpose address space: add --force to list it anyway");
    }
  } else {
    const auto& d = std::get<core::DomainName>(s);
    if (d.name == "invalid" && !o.exclude) {
      throw BadInput("INVALID is an RFC 5782 test point and must never be listed");
    }
    if (d.name == "test" && o.exclude) {
      throw BadInput("TEST is an RFC 5782 test point and always listed: it cannot be excluded");
    }
    if (o.exclude) return;
    for (const auto& a : z.allowlist) {
      if (a == d.name || (d.subtree && a.size() > d.name.size() && a.ends_with("." + d.name))) {
        throw BadInput(d.name + " overlaps the allowlist entry " + a);
      }
    }
  }
}

core::Listing make_listing(const core::ZoneConfig& z, const AddOptions& o, std::int64_t now) {
  core::Listing l;
  if (o.exclude) {
    l.flags |= core::kFlagExclusion;
  } else {
    std::uint32_t code = z.default_code;
    if (!o.code.empty()) {
      if (const auto it = z.codes.find(o.code); it != z.codes.end()) {
        code = it->second;
      } else {
        const auto parsed = core::parse_code(o.code);
        if (!parsed || *parsed == 0x7f000001 || (*parsed >> 8) == 0x7fffff) {
          throw BadInput("bad code '" + o.code +
                         "' (want 127.0.0.x, not 127.0.0.1, or a code name from the zone)");
        }
        code = *parsed;
      }
    }
    l.codes.push_back(code);
  }
  const auto source = core::parse_source(o.source);
  if (!source)
    throw BadInput("bad source '" + o.source + "' (want trap, report, manual or import)");
  l.source = *source;
  l.reason = o.reason.empty() ? (o.exclude ? "excluded by the operator" : "listed by the operator")
                              : o.reason;
  if (l.reason.size() > 1000) throw BadInput("reason longer than 1000 bytes");
  l.first_seen = now;
  l.last_seen = now;
  if (!o.permanent && !o.exclude) {
    l.expires = now + (o.duration.empty() ? z.policy.base_duration : parse_duration(o.duration));
  }
  return l;
}

int cmd_listing_add(Context& c, const std::string& zone, const std::string& subject,
                    const AddOptions& o) {
  c.load();
  const auto& z = c.zone(zone);
  const auto s = parse_subject_for(z, subject);
  if (o.permanent && !o.duration.empty())
    throw BadInput("--for and --permanent exclude each other");
  check_policy(z, s, o);
  c.store = std::make_unique<core::Store>(c.daemon.data_dir, c.clock);
  if (!o.exclude) {  // the allowlist kept through the API, as well as the zone file's
    auto txn = c.store->env().begin_read();
    if (const auto a = core::Policy(*c.store).allowlisted(txn, z, s)) {
      throw BadInput(core::to_string(s) + " overlaps the allowlist entry " + *a);
    }
  }
  const auto now = c.store->now();
  auto l = make_listing(z, o, now);
  std::optional<core::Listing> before;
  c.store->env().write([&](core::WriteTxn& txn) {
    const auto ref = c.store->ensure_zone(txn, z.name);
    const auto old = c.store->get(txn, ref, s);
    if (old) {  // an update keeps the listing's own history
      l.first_seen = old->first_seen;
      l.offences = old->offences;
    }
    if (!l.exclusion() && (!old || !old->active_at(now))) ++l.offences;
    const std::string why = o.force ? l.reason + " [override: --force]" : l.reason;
    before = c.store->put(
        txn, ref, s, l,
        core::Change{cli_actor(), old ? "update" : (l.exclusion() ? "exclude" : "list"), why});
  });
  if (c.json) {
    *c.out << json{{"zone", z.name},
                   {"subject", core::to_string(s)},
                   {"listing", core::to_json(l)},
                   {"updated", before.has_value()}}
                  .dump()
           << "\n";
  } else {
    *c.out << (before ? "updated " : "listed ") << core::to_string(s) << " in " << z.name << ": "
           << describe(l, now) << "\n";
  }
  return kExitOk;
}

int cmd_listing_remove(Context& c, const std::string& zone, const std::string& subject,
                       const std::string& reason) {
  c.load();
  const auto& z = c.zone(zone);
  const auto s = parse_subject_for(z, subject);
  if (const auto* p = std::get_if<IpPrefix>(&s); p && *p == IpPrefix::v4(0x7f000002, 32)) {
    throw BadInput("127.0.0.2 is an RFC 5782 test point and always listed");
  }
  if (const auto* d = std::get_if<core::DomainName>(&s); d && d->name == "test") {
    throw BadInput("TEST is an RFC 5782 test point and always listed");
  }
  c.store = std::make_unique<core::Store>(c.daemon.data_dir, c.clock);
  std::optional<core::Listing> removed;
  c.store->env().write([&](core::WriteTxn& txn) {
    const auto ref = c.store->ensure_zone(txn, z.name);
    removed = c.store->remove(
        txn, ref, s,
        core::Change{cli_actor(), "delist", reason.empty() ? "removed by the operator" : reason});
  });
  if (!removed) throw NotFound(core::to_string(s) + " is not listed in " + z.name);
  if (c.json) {
    *c.out << json{{"zone", z.name}, {"subject", core::to_string(s)}, {"removed", true}}.dump()
           << "\n";
  } else {
    *c.out << "removed " << core::to_string(s) << " from " << z.name << "\n";
  }
  return kExitOk;
}

int cmd_listing_show(Context& c, const std::string& zone, const std::string& subject) {
  c.open();
  const auto& z = c.zone(zone);
  const auto s = parse_subject_for(z, subject);
  auto txn = c.store->env().begin_read();
  const auto ref = c.store->find_zone(txn, z.name);
  const auto l = ref ? c.store->get(txn, *ref, s) : std::nullopt;
  if (!l) throw NotFound(core::to_string(s) + " has no listing in " + z.name);
  if (c.json) {
    *c.out << json{{"zone", z.name},
                   {"subject", core::to_string(s)},
                   {"listing", core::to_json(*l)},
                   {"active", l->active_at(c.store->now())}}
                  .dump()
           << "\n";
  } else {
    *c.out << core::to_string(s) << " in " << z.name << ": " << describe(*l, c.store->now())
           << "\n";
  }
  return kExitOk;
}

int cmd_listing_list(Context& c, const std::string& zone, std::size_t limit) {
  c.open();
  const auto& z = c.zone(zone);
  auto txn = c.store->env().begin_read();
  const auto ref = c.store->find_zone(txn, z.name);
  json arr = json::array();
  std::size_t n = 0;
  if (ref) {
    c.store->for_each(txn, *ref, [&](const core::Subject& s, const core::Listing& l) {
      if (c.json) {
        arr.push_back({{"subject", core::to_string(s)}, {"listing", core::to_json(l)}});
      } else {
        *c.out << core::to_string(s) << "\t" << describe(l, c.store->now()) << "\n";
      }
      return ++n < limit;
    });
  }
  if (c.json) *c.out << arr.dump() << "\n";
  return kExitOk;
}

// Bulk load: "SUBJECT [CODE] [REASON...]" or "!SUBJECT" per line, '#' comments.
int cmd_listing_load(Context& c, const std::string& zone, const std::string& file,
                     const AddOptions& o, std::ostream& err) {
  c.load();
  const auto& z = c.zone(zone);
  std::ifstream fin;
  std::istream* in = &std::cin;
  if (file != "-") {
    fin.open(file);
    if (!fin) throw BadInput(file + ": cannot open");
    in = &fin;
  }
  c.store = std::make_unique<core::Store>(c.daemon.data_dir, c.clock);
  const auto now = c.store->now();
  // Large batches: at millions of listings each batch touches every leaf page
  // it lands on once, so fewer, larger transactions rewrite far fewer pages.
  constexpr std::size_t kBatch = 1000000;
  std::size_t line_no = 0, loaded = 0, skipped = 0;
  std::string line;
  std::vector<std::pair<core::Subject, core::Listing>> batch;
  auto flush = [&] {
    if (batch.empty()) return;
    // Key order turns the B-tree inserts (listing, history) into appends.
    std::sort(batch.begin(), batch.end(), [&](const auto& a, const auto& b) {
      return core::listing_key(0, a.first) < core::listing_key(0, b.first);
    });
    c.store->env().write([&](core::WriteTxn& txn) {
      const auto ref = c.store->ensure_zone(txn, z.name);
      for (const auto& [s, l] : batch) {
        c.store->put(txn, ref, s, l, core::Change{"cli:load", "list", l.reason});
      }
    });
    loaded += batch.size();
    batch.clear();
  };
  while (std::getline(*in, line)) {
    ++line_no;
    const auto hash = line.find('#');
    if (hash != std::string::npos) line.erase(hash);
    std::istringstream fields(line);
    std::string subject;
    if (!(fields >> subject)) continue;
    AddOptions lo = o;
    if (subject[0] == '!') {
      lo.exclude = true;
      subject.erase(0, 1);
    }
    std::string code;
    if (fields >> code) lo.code = code;
    std::string rest;
    std::getline(fields, rest);
    rest.erase(0, rest.find_first_not_of(" \t"));
    if (!rest.empty()) lo.reason = rest;
    try {
      const auto s = parse_subject_for(z, subject);
      check_policy(z, s, lo);
      batch.emplace_back(s, make_listing(z, lo, now));
    } catch (const BadInput& e) {
      ++skipped;
      err << file << ":" << line_no << ": skipped: " << e.what() << "\n";
    }
    if (batch.size() >= kBatch) flush();
  }
  flush();
  if (c.json) {
    *c.out << json{{"zone", z.name}, {"loaded", loaded}, {"skipped", skipped}}.dump() << "\n";
  } else {
    *c.out << "loaded " << loaded << " listings into " << z.name << ", skipped " << skipped << "\n";
  }
  return kExitOk;
}

// What DNS would answer for an address or domain, and why.
int cmd_check(Context& c, const std::string& zone, const std::string& subject) {
  c.open();
  const auto& z = c.zone(zone);
  std::vector<const core::ZoneConfig*> sources;
  if (z.kind == core::ZoneKind::combined) {
    for (const auto& m : z.members) sources.push_back(&c.zone(m));
  } else {
    sources.push_back(&z);
  }
  std::string error;
  const auto s = core::parse_subject(subject, &error);
  if (!s) throw BadInput(error);
  const auto now = c.store->now();
  json matches = json::array();
  std::vector<std::uint32_t> codes;
  auto txn = c.store->env().begin_read();
  if (const auto* p = std::get_if<IpPrefix>(&*s)) {
    if (!p->is_host()) throw BadInput("check takes an address, not a prefix (use listing show)");
    if (*p == IpPrefix::v4(0x7f000001, 32)) {
      matches = json::array();
    } else if (*p == IpPrefix::v4(0x7f000002, 32)) {
      matches.push_back({{"zone", z.name},
                         {"matched", "127.0.0.2"},
                         {"test_point", true},
                         {"codes", {"127.0.0.2"}}});
      codes.push_back(0x7f000002);
    } else {
      for (const auto* src : sources) {
        if (src->kind != core::ZoneKind::ip) continue;
        const auto ref = c.store->find_zone(txn, src->name);
        if (!ref) continue;
        core::Cursor cur(txn, txn.dbs().ip);
        const auto m = core::match_ip(cur, ref->id, p->bytes(), now);
        if (!m) continue;
        const auto l = c.store->get(txn, *ref, m->prefix);
        if (!l) continue;
        auto lj = core::to_json(*l);
        matches.push_back(
            {{"zone", src->name}, {"matched", m->prefix.to_string()}, {"listing", lj}});
        for (auto code : l->codes) codes.push_back(code);
        if (l->codes.empty()) codes.push_back(src->default_code);
      }
    }
  } else {
    const auto& d = std::get<core::DomainName>(*s);
    if (d.name == "test") {
      matches.push_back(
          {{"zone", z.name}, {"matched", "test"}, {"test_point", true}, {"codes", {"127.0.0.2"}}});
      codes.push_back(0x7f000002);
    } else if (d.name != "invalid") {
      for (const auto* src : sources) {
        if (src->kind != core::ZoneKind::domain) continue;
        const auto ref = c.store->find_zone(txn, src->name);
        if (!ref) continue;
        core::Cursor cur(txn, txn.dbs().domain);
        const auto key = core::domain_key(ref->id, d.name);
        const auto m = core::match_domain(cur, key, now);
        if (!m) continue;
        // The matched domain is the last matched_labels labels of the name.
        std::string matched = d.name;
        std::size_t labels =
            static_cast<std::size_t>(std::count(d.name.begin(), d.name.end(), '.')) + 1;
        while (labels-- > m->matched_labels) matched = matched.substr(matched.find('.') + 1);
        const auto l = c.store->get(txn, *ref, core::DomainName{matched, false});
        if (!l) continue;
        matches.push_back(
            {{"zone", src->name}, {"matched", matched}, {"listing", core::to_json(*l)}});
        for (auto code : l->codes) codes.push_back(code);
      }
    }
  }
  std::sort(codes.begin(), codes.end());
  codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
  const bool listed = !codes.empty();
  if (c.json) {
    json cj = json::array();
    for (auto code : codes) cj.push_back(core::code_to_string(code));
    *c.out << json{{"zone", z.name},
                   {"subject", core::to_string(*s)},
                   {"listed", listed},
                   {"codes", cj},
                   {"matches", matches}}
                  .dump()
           << "\n";
  } else if (!listed) {
    *c.out << core::to_string(*s) << " is not listed in " << z.name << " (NXDOMAIN)\n";
  } else {
    *c.out << core::to_string(*s) << " is listed in " << z.name << ": A";
    for (auto code : codes) *c.out << " " << core::code_to_string(code);
    *c.out << "\n";
    for (const auto& m : matches) {
      *c.out << "  " << m["zone"].get<std::string>() << ": matched "
             << m["matched"].get<std::string>();
      if (m.contains("listing")) {
        *c.out << ": " << describe(core::listing_from_json(m["listing"]), now);
      } else {
        *c.out << ": RFC 5782 test point";
      }
      *c.out << "\n";
    }
  }
  return listed ? kExitOk : kExitNotFound;
}

int cmd_history(Context& c, const std::string& zone, const std::string& subject,
                const std::string& at) {
  c.open();
  const auto& z = c.zone(zone);
  const auto s = parse_subject_for(z, subject);
  auto txn = c.store->env().begin_read();
  const auto ref = c.store->find_zone(txn, z.name);
  const auto events = ref ? c.store->history(txn, *ref, s) : std::vector<core::HistoryEvent>{};
  if (!at.empty()) {
    // The subject and every listing around it (a covering prefix, a parent
    // domain listed with its subtree), as DNS would have matched then.
    const auto t = parse_time(at);
    const auto state = core::Policy(*c.store).state_at(txn, z, s, t);
    const bool listed = state.listed;
    if (c.json) {
      *c.out << json{{"zone", z.name},
                     {"subject", core::to_string(s)},
                     {"at", t},
                     {"listed", listed},
                     {"matched", state.matched.empty() ? json() : json(state.matched)},
                     {"event", state.why ? core::to_json(*state.why) : json()}}
                    .dump()
             << "\n";
    } else if (listed) {
      *c.out << core::to_string(s) << " was listed in " << z.name << " at " << format_time(t)
             << " through " << state.matched << ": " << describe(*state.listing, t) << " (by "
             << state.why->actor << ", " << state.why->action << ")\n";
    } else {
      *c.out << core::to_string(s) << " was not listed in " << z.name << " at " << format_time(t)
             << "\n";
    }
    return listed ? kExitOk : kExitNotFound;
  }
  if (c.json) {
    json arr = json::array();
    for (const auto& e : events) arr.push_back(core::to_json(e));
    *c.out << arr.dump() << "\n";
  } else {
    for (const auto& e : events) {
      *c.out << format_time(e.time) << "  " << e.action << "  by " << e.actor << "  \"" << e.reason
             << "\"";
      if (e.after) *c.out << "  -> " << describe(*e.after, e.time);
      *c.out << "\n";
    }
  }
  if (events.empty()) {
    if (!c.json) *c.out << "no history for " << core::to_string(s) << " in " << z.name << "\n";
    return kExitNotFound;
  }
  return kExitOk;
}

}  // namespace

int cmd_token_create(Context& c, const std::string& name, const std::string& role_text,
                     const std::string& trust_text) {
  const auto role = core::parse_role(role_text);
  if (!role)
    throw BadInput("bad role '" + role_text + "' (want admin, desk, reporter or importer)");
  auto trust = core::default_trust(*role);
  if (!trust_text.empty()) {
    const auto t = core::parse_trust(trust_text);
    if (!t) throw BadInput("bad trust '" + trust_text + "' (want trap, trusted or untrusted)");
    trust = *t;
  }
  c.open();
  std::string token;
  try {
    c.store->env().write([&](core::WriteTxn& txn) {
      token =
          core::create_token(txn, core::TokenInfo{name, *role, trust, c.store->now(), cli_actor()});
    });
  } catch (const core::PolicyError& e) {
    throw BadInput(e.what());
  }
  if (c.json) {
    *c.out << json{{"name", name},
                   {"role", core::to_string(*role)},
                   {"trust", core::to_string(trust)},
                   {"token", token}}
                  .dump()
           << "\n";
  } else {
    *c.out << token << "\n";
    std::cerr << "token '" << name << "' (" << core::to_string(*role)
              << ") created: it is shown only now, store it safely\n";
  }
  return kExitOk;
}

int cmd_token_revoke(Context& c, const std::string& name) {
  c.open();
  bool revoked = false;
  c.store->env().write([&](core::WriteTxn& txn) { revoked = core::revoke_token(txn, name); });
  if (!revoked) throw NotFound("no token named '" + name + "'");
  if (c.json) {
    *c.out << json{{"name", name}, {"revoked", true}}.dump() << "\n";
  } else {
    *c.out << "revoked " << name << "\n";
  }
  return kExitOk;
}

int cmd_token_list(Context& c) {
  c.open();
  auto txn = c.store->env().begin_read();
  const auto tokens = core::list_tokens(txn);
  if (c.json) {
    json out = json::array();
    for (const auto& t : tokens) {
      out.push_back({{"name", t.name},
                     {"role", core::to_string(t.role)},
                     {"trust", core::to_string(t.trust)},
                     {"created", core::format_utc(t.created)},
                     {"created_by", t.created_by}});
    }
    *c.out << out.dump() << "\n";
  } else {
    for (const auto& t : tokens) {
      *c.out << t.name << "\t" << core::to_string(t.role) << "\t" << core::to_string(t.trust)
             << "\t" << core::format_utc(t.created) << "\t" << t.created_by << "\n";
    }
  }
  return kExitOk;
}

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
        core::Clock clock) {
  Context c;
  c.clock = std::move(clock);
  c.out = &out;
  CLI::App app{"rblzone: operate an rblzone DNSBL (zones, listings, history)"};
  app.require_subcommand(1);
  app.add_option("--config", c.config_file, "daemon config file (TOML)");
  app.add_option("--data-dir", c.data_dir, "data directory");
  app.add_option("--zones", c.zones_dir, "directory of zone files");
  app.add_flag("--json", c.json, "print JSON");

  auto* zone_cmd = app.add_subcommand("zone", "zones")->require_subcommand(1);
  auto* zone_list = zone_cmd->add_subcommand("list", "list the configured zones and their serials");

  auto* listing = app.add_subcommand("listing", "listings")->require_subcommand(1);
  std::string zone, subject, reason, file, at;
  std::size_t limit = 1000;
  AddOptions add;
  auto* add_cmd = listing->add_subcommand("add", "list a subject (or update its listing)");
  add_cmd->add_option("ZONE", zone)->required();
  add_cmd->add_option("SUBJECT", subject, "address, CIDR prefix, domain or *.domain")->required();
  add_cmd->add_option("--reason", add.reason, "why (shown to the listed party)");
  add_cmd->add_option("--code", add.code, "return code 127.0.0.x or a code name of the zone");
  add_cmd->add_option("--for", add.duration,
                      "duration: 90s, 15m, 24h, 7d (default: the zone's base_duration)");
  add_cmd->add_flag("--permanent", add.permanent, "never expires");
  add_cmd->add_flag("--exclude", add.exclude,
                    "an exclusion: never listed, even inside a listed prefix");
  add_cmd->add_option("--source", add.source, "trap, report, manual (default) or import");
  add_cmd->add_flag("--force", add.force, "override the broad-prefix and special-purpose checks");
  auto* remove_cmd = listing->add_subcommand("remove", "delist a subject");
  remove_cmd->add_option("ZONE", zone)->required();
  remove_cmd->add_option("SUBJECT", subject)->required();
  remove_cmd->add_option("--reason", reason, "why");
  auto* show_cmd =
      listing->add_subcommand("show", "show the listing stored for exactly this subject");
  show_cmd->add_option("ZONE", zone)->required();
  show_cmd->add_option("SUBJECT", subject)->required();
  auto* list_cmd = listing->add_subcommand("list", "list a zone's listings");
  list_cmd->add_option("ZONE", zone)->required();
  list_cmd->add_option("--limit", limit, "at most this many (default 1000)");
  auto* load_cmd = listing->add_subcommand(
      "load", "bulk-load 'SUBJECT [CODE] [REASON]' lines ('!SUBJECT' excludes)");
  load_cmd->add_option("ZONE", zone)->required();
  load_cmd->add_option("FILE", file, "file, or - for standard input")->required();
  load_cmd->add_option("--for", add.duration, "duration of each listing");
  load_cmd->add_flag("--permanent", add.permanent, "listings never expire");
  load_cmd->add_option("--source", add.source, "source recorded (default import)");
  load_cmd->add_flag("--force", add.force, "override the broad-prefix and special-purpose checks");

  std::string export_format = "bind";
  auto* export_cmd = app.add_subcommand("export", "a zone as a BIND master file or rbldnsd data");
  export_cmd->add_option("ZONE", zone)->required();
  export_cmd->add_option("--format", export_format, "bind (default) or rbldnsd");

  auto* check_cmd =
      app.add_subcommand("check", "what DNS would answer for an address or domain, and why");
  check_cmd->add_option("ZONE", zone)->required();
  check_cmd->add_option("SUBJECT", subject)->required();
  auto* history_cmd = app.add_subcommand("history", "every change of a subject's listing");
  history_cmd->add_option("ZONE", zone)->required();
  history_cmd->add_option("SUBJECT", subject)->required();
  history_cmd->add_option("--at", at, "was it listed at this time (2026-11-22T14:02:00Z)?");

  auto* token_cmd = app.add_subcommand("token", "API tokens")->require_subcommand(1);
  std::string token_name, token_role, token_trust;
  auto* token_create = token_cmd->add_subcommand("create", "create a token and print it (once)");
  token_create->add_option("NAME", token_name, "a name for the token, e.g. desk-alice")->required();
  token_create->add_option("--role", token_role, "admin, desk, reporter or importer")->required();
  token_create->add_option("--trust", token_trust,
                           "weight class of its reports: trap, trusted or untrusted "
                           "(default: trap for importers, trusted for the others)");
  auto* token_revoke = token_cmd->add_subcommand("revoke", "revoke a token by name");
  token_revoke->add_option("NAME", token_name)->required();
  auto* token_list =
      token_cmd->add_subcommand("list", "list tokens (names and roles, never secrets)");
  StatusOptions status;
  auto* status_cmd = add_status_command(app, status);

  const auto import_cmd = add_import_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    out << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      out << app.help();
      return kExitOk;
    }
    err << "rblzone: " << e.what() << " (see rblzone --help)\n";
    return kExitBadInput;
  }

  if (import_parsed(*import_cmd))
    return run_import(*import_cmd, {c.config_file, c.data_dir, c.zones_dir, c.json}, out, err,
                      c.clock);
  try {
    if (zone_list->parsed()) return cmd_zone_list(c);
    if (token_create->parsed()) return cmd_token_create(c, token_name, token_role, token_trust);
    if (token_revoke->parsed()) return cmd_token_revoke(c, token_name);
    if (token_list->parsed()) return cmd_token_list(c);
    if (add_cmd->parsed()) return cmd_listing_add(c, zone, subject, add);
    if (remove_cmd->parsed()) return cmd_listing_remove(c, zone, subject, reason);
    if (show_cmd->parsed()) return cmd_listing_show(c, zone, subject);
    if (list_cmd->parsed()) return cmd_listing_list(c, zone, limit);
    if (load_cmd->parsed()) {
      if (add.source == "manual") add.source = "import";
      if (add.duration.empty()) add.permanent = true;
      return cmd_listing_load(c, zone, file, add, err);
    }
    if (check_cmd->parsed()) return cmd_check(c, zone, subject);
    if (history_cmd->parsed()) return cmd_history(c, zone, subject, at);
    if (status_cmd->parsed()) {
      return run_status(status, c.config_file, c.data_dir, c.zones_dir, c.json, out, err, c.clock);
    }
    if (export_cmd->parsed()) {
      c.open();
      try {
        export_zone(c.zones, *c.store, c.zone(zone).name, export_format, c.clock(), out);
      } catch (const std::invalid_argument& e) {
        throw BadInput(e.what());
      }
      return kExitOk;
    }
  } catch (const BadInput& e) {
    err << "rblzone: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const NotFound& e) {
    if (!c.json) err << "rblzone: " << e.what() << "\n";
    if (c.json)
      out << json{{"error", {{"code", "not_found"}, {"message", e.what()}}}}.dump() << "\n";
    return kExitNotFound;
  } catch (const std::exception& e) {
    err << "rblzone: " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitBadInput;
}

}  // namespace rblzone::cli
