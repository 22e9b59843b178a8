// Import runs: sources -> reports through the policy, in batches with their
// cursors (see import_run.hpp).
#include "importer/import_run.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <unordered_set>

#include "core/crypto.hpp"
#include "importer/cursor.hpp"
#include "importer/mailbox.hpp"
#include "importer/postfix_log.hpp"
#include "importer/traplog.hpp"

namespace rblzone::importer {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::size_t kMaxProblems = 1000;

// The whole file into `out` (its buffer reused from message to message).
void read_file(const std::string& path, std::string& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": cannot open");
  out.clear();
  std::size_t used = 0;
  while (true) {
    if (out.size() < used + 65536) out.resize(used + 65536);
    const auto n = ::read(fd, out.data() + used, out.size() - used);
    if (n < 0) {
      ::close(fd);
      throw std::runtime_error(path + ": read error");
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  ::close(fd);
  out.resize(used);
}

std::string read_file(const std::string& path) {
  std::string out;
  read_file(path, out);
  return out;
}

std::string file_source_id(const std::string& kind, const FileIdentity& id) {
  return kind + ":" + std::to_string(id.dev) + ":" + std::to_string(id.ino);
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint32_t get_u32(std::string_view s) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4 && i < s.size(); ++i)
    v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

}  // namespace

void Summary::problem(const std::string& where, const std::string& category,
                      const std::string& why) {
  ++skipped[category];
  if (problems.size() < kMaxProblems) problems.push_back(where + ": " + why);
}

json Summary::to_json() const {
  return json{{"read", read},         {"reports", reports},          {"new_listings", listed},
              {"extended", extended}, {"already_imported", already}, {"removed", removed},
              {"skipped", skipped},   {"results", results},          {"problems", problems}};
}

Importer::Importer(core::Store& store, const core::ZoneConfig& zone, SourceConfig cfg)
    : store_(store),
      zone_(zone),
      cfg_(std::move(cfg)),
      policy_(store),
      actor_{"import:" + cfg_.name, core::Role::importer} {
  if (zone_.kind == core::ZoneKind::combined)
    throw std::runtime_error("zone " + zone_.name + " is combined: import into one of its members");
}

core::ZoneRef Importer::zone_ref_() {
  core::ZoneRef ref;
  store_.env().write([&](core::WriteTxn& txn) { ref = store_.ensure_zone(txn, zone_.name); });
  return ref;
}

double Importer::weight_for_(const std::string& trap) const {
  if (const auto it = cfg_.trap_weights.find(trap); it != cfg_.trap_weights.end())
    return it->second;
  if (cfg_.weight) return *cfg_.weight;
  const auto& p = zone_.policy;
  return cfg_.trust == core::Trust::trap      ? p.trap_weight
         : cfg_.trust == core::Trust::trusted ? p.trusted_weight
                                              : p.public_weight;
}

void Importer::report_(core::WriteTxn& txn, core::ReportBatch& batch, const core::Report& r,
                       const std::string& where, Summary& delta) {
  try {
    const auto out = policy_.report(txn, zone_, r, actor_, batch);
    ++delta.reports;
    ++delta.results[std::string(core::to_string(out.result))];
    if (out.result == core::ReportResult::listed) ++delta.listed;
    if (out.result == core::ReportResult::extended) ++delta.extended;
  } catch (const core::PolicyError& e) {
    delta.problem(where, "refused by policy", e.what());
  }
}

void Importer::flush_(Pending& reports, const std::function<void(core::WriteTxn&)>& extra) {
  Summary delta;
  store_.env().write([&](core::WriteTxn& txn) {
    delta = Summary{};  // the transaction may run again after the map grows
    core::ReportBatch batch;
    const auto outs = policy_.report_many(txn, zone_, reports.reports, actor_, batch);
    for (std::size_t i = 0; i < outs.size(); ++i) {
      if (outs[i].error) {
        delta.problem(reports.where[i], "refused by policy", outs[i].error->what());
        continue;
      }
      const auto result = outs[i].outcome.result;
      ++delta.reports;
      ++delta.results[std::string(core::to_string(result))];
      if (result == core::ReportResult::listed) ++delta.listed;
      if (result == core::ReportResult::extended) ++delta.extended;
    }
    if (extra) extra(txn);
  });
  summary_.reports += delta.reports;
  summary_.listed += delta.listed;
  summary_.extended += delta.extended;
  for (const auto& [k, v] : delta.results) summary_.results[k] += v;
  for (const auto& [k, v] : delta.skipped) summary_.skipped[k] += v;
  for (const auto& p : delta.problems) {
    if (summary_.problems.size() < kMaxProblems) summary_.problems.push_back(p);
  }
  reports.clear();
  if (progress_) progress_(summary_);
}

void Importer::lines_(const std::string& kind, const std::string& path,
                      const std::function<void(std::string_view, const std::string&)>& fn,
                      const std::function<bool()>& want_flush,
                      const std::function<void(core::WriteTxn&)>& extra,
                      const std::function<void()>& after_commit) {
  const auto ref = zone_ref_();
  const FileIdentity id = identify(path);
  const auto key = cursor_key(ref.id, file_source_id(kind, id));
  std::optional<FileCursor> stored;
  {
    auto txn = store_.env().begin_read();
    stored = load_cursor(txn, key);
  }
  FileCursor cur;
  cur.source = kind + ":" + path;
  cur.dev = id.dev;
  cur.ino = id.ino;
  cur.head = id.head;
  cur.head_len = id.head_len;
  cur.offset = resume_offset(stored, id);
  cur.line = cur.offset > 0 && stored ? stored->line : 0;
  if (cur.offset > 0 && stored) summary_.already += stored->line;

  summary_.total = id.size;
  summary_.done = cur.offset;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": cannot open");
  std::string buf;
  std::vector<char> chunk(1 << 20);
  std::uint64_t read_pos = cur.offset;
  FileCursor committed = cur;
  auto commit = [&] {
    const FileCursor snapshot = cur;
    flush_(pending_, [&](core::WriteTxn& txn) {
      save_cursor(txn, key, snapshot);
      if (extra) extra(txn);
    });
    committed = snapshot;
    if (after_commit) after_commit();
  };
  while (true) {
    const auto n = ::pread(fd, chunk.data(), chunk.size(), static_cast<off_t>(read_pos));
    if (n < 0) {
      ::close(fd);
      throw std::runtime_error(path + ": read error");
    }
    if (n == 0) break;
    read_pos += static_cast<std::uint64_t>(n);
    buf.append(chunk.data(), static_cast<std::size_t>(n));
    std::size_t start = 0;
    while (true) {
      const auto nl = buf.find('\n', start);
      if (nl == std::string::npos) break;
      ++cur.line;
      ++summary_.read;
      fn(std::string_view(buf).substr(start, nl - start), path + ":" + std::to_string(cur.line));
      cur.offset += nl + 1 - start;
      summary_.done = cur.offset;
      start = nl + 1;
      if (want_flush()) commit();
    }
    buf.erase(0, start);
  }
  ::close(fd);
  // A last line without its newline is still being written: the next run
  // reads it whole.
  if (!pending_.empty() || committed.offset != cur.offset || !stored) commit();
}

void Importer::traplog(const std::string& path) {
  const bool ip_zone = zone_.kind == core::ZoneKind::ip;
  TrapHit hit;
  std::string error;
  lines_(
      "traplog", path,
      [&](std::string_view line, const std::string& where) {
        switch (parse_trap_line(line, hit, error)) {
          case LineKind::skip:
            return;
          case LineKind::bad:
            summary_.problem(where, "bad line", error);
            return;
          case LineKind::hit:
            break;
        }
        const auto s = core::parse_subject(hit.address, &error);
        if (!s) {
          summary_.problem(where, "bad address", "'" + hit.address + "': " + error);
          return;
        }
        if ((core::kind_of(*s) == core::SubjectKind::ip) != ip_zone) {
          summary_.problem(where, "wrong kind for the zone",
                           "'" + hit.address + "' is not " + (ip_zone ? "an address" : "a domain"));
          return;
        }
        const std::string trap = hit.trap.empty() ? cfg_.name : hit.trap;
        core::Report r;
        r.subject = *s;
        r.trust = cfg_.trust;
        r.reporter = "trap:" + trap;
        r.reason = "spam trap " + trap;
        r.evidence = hit.evidence;
        r.weight = weight_for_(trap);
        r.time = hit.time;
        pending_.push(std::move(r), where);
      },
      [&] { return pending_.size() >= cfg_.batch; }, nullptr, nullptr);
}

namespace {

// The subjects a trap message gives for a zone of `kind`.
std::vector<core::Subject> message_subjects(const MessageFacts& m, core::ZoneKind kind,
                                            const TrustedHops& trusted, std::string& problem) {
  std::vector<core::Subject> out;
  if (kind == core::ZoneKind::ip) {
    const auto walk = first_untrusted(m.received, trusted);
    if (!walk.relay) {
      problem = walk.problem;
      return out;
    }
    out.emplace_back(*walk.relay);
    return out;
  }
  std::vector<std::string> names;
  for (const auto* d : {&m.envelope_domain, &m.from_domain}) {
    if (!d->empty()) names.push_back(*d);
  }
  names.insert(names.end(), m.url_domains.begin(), m.url_domains.end());
  for (const auto& n : names) {
    const auto d = core::DomainName::parse(n);
    if (!d || d->subtree) continue;
    const core::Subject s = *d;
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  if (out.empty()) problem = "no sender or URL domain";
  return out;
}

}  // namespace

// One trap message, from a Maildir or an mbox: a report per subject it gives.
void Importer::queue_message_(const MessageFacts& facts, const std::string& where,
                              const std::string& origin) {
  std::string problem;
  const auto subjects = message_subjects(facts, zone_.kind, cfg_.trusted, problem);
  if (subjects.empty()) summary_.problem(where, "no subject", problem);
  for (const auto& s : subjects) {
    core::Report r;
    r.subject = s;
    r.trust = cfg_.trust;
    r.reporter = "trap:" + cfg_.name;
    r.reason = "spam trap " + cfg_.name;
    r.evidence = "Message-Id: <" + facts.message_id + "> in " + origin;
    r.weight = weight_for_(cfg_.name);
    pending_.push(std::move(r), where);
  }
}

void Importer::maildir(const std::string& dir) {
  const auto ref = zone_ref_();
  const std::string canonical = fs::weakly_canonical(dir).string();
  if (!fs::is_directory(fs::path(dir) / "new") && !fs::is_directory(fs::path(dir) / "cur"))
    throw std::runtime_error(dir + ": not a Maildir (no new/ or cur/)");
  const auto prefix = maildir_prefix(ref.id, canonical);
  std::unordered_set<std::string> seen;
  {
    auto txn = store_.env().begin_read();
    core::Cursor c(txn, txn.dbs().aux);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, prefix.size()) == prefix; ok = c.next())
      seen.emplace(c.key().substr(prefix.size()));
  }
  // Maildir names start with the delivery time: name order is arrival order.
  std::vector<std::pair<std::string, fs::path>> files;
  for (const char* sub : {"new", "cur"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(dir) / sub, ec)) {
      if (!e.is_regular_file()) continue;
      std::string name = e.path().filename().string();
      if (name.empty() || name.front() == '.') continue;
      const auto colon = name.find(':');  // ":2,S" flags change as the mail is read
      files.emplace_back(name.substr(0, colon).substr(0, 400), e.path());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> markers;
  auto commit = [&] {
    flush_(pending_, [&](core::WriteTxn& txn) {
      for (const auto& m : markers) txn.put(txn.dbs().aux, prefix + m, "");
    });
    markers.clear();
  };
  MessageFacts facts;
  std::string error, bytes;
  summary_.total = files.size();
  summary_.done = 0;
  for (const auto& [unique, file] : files) {
    ++summary_.done;
    if (seen.count(unique) != 0) {
      ++summary_.already;
      continue;
    }
    ++summary_.read;
    markers.push_back(unique);
    const std::string where = file.string();
    try {
      read_file(where, bytes);
    } catch (const std::exception& e) {
      summary_.problem(where, "unreadable message", e.what());
      markers.pop_back();  // try again next run
      continue;
    }
    // An address zone needs the Received headers only, never the body.
    if (!parse_message(bytes, facts, error, zone_.kind != core::ZoneKind::ip)) {
      summary_.problem(where, "bad message", error);
    } else {
      queue_message_(facts, where, unique);
    }
    if (markers.size() >= cfg_.batch || pending_.size() >= cfg_.batch) commit();
  }
  if (!markers.empty() || !pending_.empty()) commit();
}

void Importer::mbox(const std::string& path) {
  const auto ref = zone_ref_();
  const FileIdentity id = identify(path);
  const auto key = cursor_key(ref.id, file_source_id("mbox", id));
  std::optional<FileCursor> stored;
  {
    auto txn = store_.env().begin_read();
    stored = load_cursor(txn, key);
  }
  FileCursor cur;
  cur.source = "mbox:" + path;
  cur.dev = id.dev;
  cur.ino = id.ino;
  cur.head = id.head;
  cur.head_len = id.head_len;
  cur.offset = resume_offset(stored, id);
  cur.line = cur.offset > 0 && stored ? stored->line : 0;  // messages consumed
  if (cur.offset > 0 && stored) summary_.already += stored->line;
  if (cur.offset >= id.size && stored) return;

  summary_.total = id.size;
  summary_.done = cur.offset;
  MboxReader reader(path, cur.offset);
  MessageFacts facts;
  std::string error;
  std::uint64_t start = 0;
  std::uint64_t in_batch = 0;
  auto commit = [&](std::uint64_t offset, std::uint64_t count) {
    FileCursor snapshot = cur;
    snapshot.offset = offset;
    snapshot.line = count;
    flush_(pending_, [&](core::WriteTxn& txn) { save_cursor(txn, key, snapshot); });
    cur = snapshot;
  };
  std::uint64_t messages = cur.line;
  while (true) {
    error.clear();
    if (!reader.next(facts, start, error)) break;
    // Everything before this message's "From " line is done.
    if (in_batch >= cfg_.batch || pending_.size() >= cfg_.batch) {
      commit(start, messages);
      in_batch = 0;
    }
    ++messages;
    summary_.done = start;
    ++in_batch;
    ++summary_.read;
    const std::string where =
        path + ": message " + std::to_string(messages) + " at byte " + std::to_string(start);
    if (!error.empty()) {
      summary_.problem(where, "bad message", error);
      continue;
    }
    queue_message_(facts, where, path);
  }
  if (messages == cur.line && id.size > cur.offset) {
    summary_.problem(path + ": byte " + std::to_string(cur.offset), "bad mbox",
                     "no message (an mbox starts each one with a \"From \" line)");
    return;  // the cursor stays: the file may be something else entirely
  }
  commit(std::max(reader.end_offset(), cur.offset), messages);
}

void Importer::postfix(const std::string& path, const VolumeConfig& v) {
  if (zone_.kind != core::ZoneKind::ip)
    throw std::runtime_error("zone " + zone_.name +
                             " lists domains: the volume watch reports addresses");
  if (v.window == 0 || v.threshold == 0)
    throw std::runtime_error("window and threshold must be > 0");
  const auto ref = zone_ref_();
  const FileIdentity id = identify(path);
  const std::string source_id = file_source_id("postfix", id);
  struct Count {
    std::uint64_t n = 0;
    std::int64_t last_time = 0;
    core::IpPrefix last_address;
  };
  std::map<std::pair<std::uint64_t, std::string>, Count> counts;
  std::uint64_t lines_since = 0;
  const std::int64_t now = store_.now();
  SmtpdClient c;
  std::string error;
  Summary volume_delta;
  const auto flush_counts = [&](core::WriteTxn& txn) {
    volume_delta = Summary{};  // the transaction may run again after the map grows
    core::ReportBatch batch;
    for (const auto& [k, cnt] : counts) {
      const auto vk = volume_key(ref.id, source_id, k.first, k.second);
      const auto old = txn.get(txn.dbs().aux, vk);
      const std::uint64_t before = old ? get_u32(*old) : 0;
      const std::uint64_t after = before + cnt.n;
      std::string val;
      put_u32(val, static_cast<std::uint32_t>(std::min<std::uint64_t>(after, 0xffffffffU)));
      txn.put(txn.dbs().aux, vk, val);
      if (before < v.threshold && after >= v.threshold) {
        core::Report r;
        r.subject = cnt.last_address;
        r.trust = cfg_.trust;
        r.reporter = "volume:" + cfg_.name;
        r.reason = "outbound volume: " + std::to_string(after) + " messages in " +
                   std::to_string(v.window) + "s from " + (v.by_sasl ? "SASL user " : "client ") +
                   k.second;
        r.evidence = path + " window starting " +
                     core::format_utc(static_cast<std::int64_t>(k.first * v.window));
        r.weight = weight_for_(cfg_.name);
        r.time = cnt.last_time;
        report_(txn, batch, r, path, volume_delta);
      }
    }
  };
  lines_(
      "postfix", path,
      [&](std::string_view line, const std::string& where) {
        ++lines_since;
        switch (parse_postfix_line(line, now, c, error)) {
          case PostfixLine::other:
            return;
          case PostfixLine::bad:
            summary_.problem(where, "bad line", error);
            return;
          case PostfixLine::client:
            break;
        }
        if (v.by_sasl && c.sasl_user.empty()) return;
        const std::string k = v.by_sasl ? c.sasl_user : c.address.to_string();
        auto& cnt = counts[{static_cast<std::uint64_t>(c.time) / v.window, k}];
        ++cnt.n;
        cnt.last_time = std::max(cnt.last_time, c.time);
        cnt.last_address = c.address;
      },
      [&] { return lines_since >= cfg_.batch * 20; },
      [&](core::WriteTxn& txn) { flush_counts(txn); },
      [&] {
        summary_.reports += volume_delta.reports;
        summary_.listed += volume_delta.listed;
        summary_.extended += volume_delta.extended;
        for (const auto& [k, n] : volume_delta.results) summary_.results[k] += n;
        for (const auto& [k, n] : volume_delta.skipped) summary_.skipped[k] += n;
        for (const auto& p : volume_delta.problems) summary_.problems.push_back(p);
        volume_delta = Summary{};
        counts.clear();
        lines_since = 0;
      });
}

void Importer::rbldnsd(const std::string& path, const RbldnsdOptions& o) {
  const auto ref = zone_ref_();
  const std::string text = read_file(path);
  // What was imported, and how: the same file imported again with
  // --keep-removed, or without it, is read again.
  const auto digest = core::to_hex(core::sha256(text)) + (o.keep_removed ? ":keep-removed" : "");
  const std::string canonical = fs::weakly_canonical(path).string();
  const std::string mode = o.manual ? "manual" : "import";
  const std::string source_id = "rbldnsd:" + mode + ":" + canonical;
  const auto key = cursor_key(ref.id, source_id);
  {
    auto txn = store_.env().begin_read();
    const auto stored = load_cursor(txn, key);
    if (stored && stored->digest == digest) {
      summary_.already += stored->line;
      return;
    }
  }
  const auto data = parse_rbldnsd(text, o.type, o.subzone);
  summary_.read += data.entries.size();
  for (const auto& p : data.problems)
    summary_.problem(path + ":" + std::to_string(p.line), "rbldnsd line", p.reason);

  // One listing per subject: several lines for one key give several codes,
  // as rbldnsd answers several A records.
  struct Merged {
    core::Subject subject;
    bool exclusion = false;
    std::vector<std::uint32_t> codes;
    std::string reason;
    std::size_t line = 0;
  };
  std::vector<Merged> merged;
  std::map<std::string, std::size_t> index;
  for (const auto& e : data.entries) {
    const std::string k = core::to_string(e.subject);
    const auto it = index.find(k);
    if (it == index.end()) {
      index.emplace(k, merged.size());
      merged.push_back({e.subject, e.exclusion, {e.code}, e.txt.value_or(""), e.line});
    } else {
      auto& m = merged[it->second];
      m.exclusion = m.exclusion || e.exclusion;  // rbldnsd: an exclusion anywhere wins
      if (std::find(m.codes.begin(), m.codes.end(), e.code) == m.codes.end())
        m.codes.push_back(e.code);
    }
  }

  // What an earlier import of this file listed and the file no longer holds
  // goes, as it would from rbldnsd. A file with no entries at all (a
  // truncated copy, a failed export) removes nothing.
  const auto entries = entry_prefix(ref.id, source_id);
  std::vector<std::string> gone;
  if (merged.empty()) {
    summary_.problem(path, "rbldnsd file", "no entries (nothing removed)");
  } else if (!o.keep_removed) {
    auto txn = store_.env().begin_read();
    core::Cursor c(txn, txn.dbs().aux);
    for (bool ok = c.seek(entries); ok && c.key().starts_with(entries); ok = c.next()) {
      std::string subject(c.key().substr(entries.size()));
      if (!index.contains(subject)) gone.push_back(std::move(subject));
    }
  }

  const std::int64_t now = store_.now();
  const std::size_t total = merged.size() + gone.size();
  std::size_t done = 0;
  while (done < total || done == 0) {
    const std::size_t end = std::min(total, done + cfg_.batch);
    Summary delta;
    store_.env().write([&](core::WriteTxn& txn) {
      delta = Summary{};
      // The entry record is what this file's import left: a later import
      // removes the listing only while it is still that (not relisted or
      // changed by the desk since).
      const auto remember = [&](const core::Subject& s, const std::string& name) {
        if (const auto l = store_.get(txn, ref, s))
          txn.put(txn.dbs().aux, entries + name, l->encode());
      };
      for (std::size_t i = done; i < end && i < merged.size(); ++i) {
        const auto& m = merged[i];
        const std::string name = core::to_string(m.subject);
        const std::string where = path + ":" + std::to_string(m.line);
        if (core::is_test_point(m.subject)) {
          delta.problem(where, "RFC 5782 test point",
                        core::to_string(m.subject) + " is answered by DNS itself");
          continue;
        }
        if (!m.exclusion) {
          if (const auto a = policy_.allowlisted(txn, zone_, m.subject)) {
            delta.problem(where, "allowlisted", core::to_string(m.subject) + " overlaps " + *a);
            continue;
          }
        }
        core::Listing l;
        l.codes = m.exclusion ? std::vector<std::uint32_t>{} : m.codes;
        if (m.exclusion) l.flags |= core::kFlagExclusion;
        if (const auto* d = std::get_if<core::DomainName>(&m.subject); d && d->subtree)
          l.flags |= core::kFlagSubtree;
        l.source = o.manual ? core::Source::manual : core::Source::import;
        l.reason = m.reason;
        if (o.manual && l.reason.empty()) l.reason = "imported from rbldnsd";
        l.first_seen = now;
        l.last_seen = now;
        l.expires = o.duration ? now + *o.duration : 0;
        const auto existing = store_.get(txn, ref, m.subject);
        if (existing && existing->codes == l.codes && existing->flags == l.flags &&
            existing->source == l.source && existing->reason == l.reason &&
            existing->permanent() == l.permanent()) {
          ++delta.already;
          remember(m.subject, name);
          continue;
        }
        if (existing) l.first_seen = existing->first_seen;
        if (o.manual && l.codes.size() <= 1) {
          // The desk's own path, with its checks and history; the import
          // is the operator's, so broad prefixes pass with the override.
          core::ManualListing ml;
          ml.reason = l.reason.empty() ? "imported from rbldnsd" : l.reason;
          if (!l.codes.empty()) ml.code = core::code_to_string(l.codes.front());
          ml.duration = o.duration;
          ml.permanent = !o.duration;
          ml.exclusion = m.exclusion;
          ml.override_checks = true;
          try {
            policy_.list(txn, zone_, m.subject, ml, core::Actor{actor_.id, core::Role::admin});
            ++delta.listed;
            remember(m.subject, name);
          } catch (const core::PolicyError& e) {
            delta.problem(where, "refused by policy", e.what());
          }
          continue;
        }
        store_.put(txn, ref, m.subject, l,
                   core::Change{actor_.id, existing ? "update" : "list",
                                "imported from rbldnsd file " + canonical});
        ++delta.listed;
        remember(m.subject, name);
      }
      for (std::size_t i = std::max(done, merged.size()); i < end; ++i) {
        const auto& name = gone[i - merged.size()];
        const std::string entry_key = entries + name;
        const auto v = txn.get(txn.dbs().aux, entry_key);
        const auto imported = v ? core::Listing::decode(*v) : std::nullopt;
        txn.del(txn.dbs().aux, entry_key);
        const auto s = core::parse_subject(name);
        const auto current = s ? store_.get(txn, ref, *s) : std::nullopt;
        if (!current) continue;  // expired or removed since
        if (!imported || current->codes != imported->codes || current->flags != imported->flags ||
            current->source != imported->source || current->reason != imported->reason) {
          delta.problem(path, "changed since imported, kept",
                        name + " is no longer in the file, but its listing changed since");
          continue;
        }
        policy_.unlist(txn, zone_, *s, "removed from rbldnsd file " + canonical,
                       core::Actor{actor_.id, core::Role::admin});
        ++delta.removed;
      }
      if (end == total) {
        FileCursor c;
        c.source = "rbldnsd:" + canonical;
        c.digest = digest;
        c.line = merged.size();
        save_cursor(txn, key, c);
      }
    });
    summary_.listed += delta.listed;
    summary_.removed += delta.removed;
    summary_.already += delta.already;
    for (const auto& [k, v] : delta.skipped) summary_.skipped[k] += v;
    for (const auto& p : delta.problems) {
      if (summary_.problems.size() < kMaxProblems) summary_.problems.push_back(p);
    }
    if (progress_) progress_(summary_);
    done = end;
    if (total == 0) break;
  }
}

}  // namespace rblzone::importer
