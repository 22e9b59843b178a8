// Trap-hit log lines (see traplog.hpp).
#include "importer/traplog.hpp"

#include <charconv>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/listing.hpp"

namespace rblzone::importer {
namespace {

// RFC 4180 fields; false on an unterminated quote.
bool split_csv(std::string_view line, std::vector<std::string>& fields) {
  fields.clear();
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cur.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cur.push_back(c);
      }
    } else if (c == '"' && cur.empty()) {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (quoted) return false;
  fields.push_back(std::move(cur));
  return true;
}

std::optional<std::int64_t> parse_time(std::string_view t) {
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  return core::parse_utc(t);
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

}  // namespace

LineKind parse_trap_line(std::string_view line, TrapHit& out, std::string& error) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::size_t b = 0;
  while (b < line.size() && (line[b] == ' ' || line[b] == '\t')) ++b;
  if (b == line.size() || line[b] == '#') return LineKind::skip;
  out = TrapHit{};
  if (line[b] == '{') {
    const auto j = nlohmann::json::parse(line.substr(b), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      error = "not valid JSON";
      return LineKind::bad;
    }
    const auto addr = j.find("address");
    if (addr == j.end() || !addr->is_string()) {
      error = "no \"address\" string";
      return LineKind::bad;
    }
    out.address = addr->get<std::string>();
    const auto t = j.find("time");
    if (t == j.end()) {
      error = "no \"time\"";
      return LineKind::bad;
    }
    if (t->is_number_integer()) {
      out.time = t->get<std::int64_t>();
    } else if (t->is_number()) {
      out.time = static_cast<std::int64_t>(t->get<double>());
    } else if (t->is_string()) {
      const auto v = parse_time(t->get<std::string>());
      if (!v) {
        error = "bad time '" + t->get<std::string>() + "'";
        return LineKind::bad;
      }
      out.time = *v;
    } else {
      error = "bad \"time\"";
      return LineKind::bad;
    }
    if (const auto trap = j.find("trap"); trap != j.end() && trap->is_string())
      out.trap = trap->get<std::string>();
    if (const auto ev = j.find("evidence"); ev != j.end())
      out.evidence = ev->is_string() ? ev->get<std::string>() : ev->dump();
    return LineKind::hit;
  }
  std::vector<std::string> f;
  if (!split_csv(line, f)) {
    error = "unterminated quote";
    return LineKind::bad;
  }
  if (f.size() < 2) {
    error = "want time,address[,trap[,evidence]]";
    return LineKind::bad;
  }
  if (trim(f[0]) == "time") return LineKind::skip;  // the header line
  const auto t = parse_time(f[0]);
  if (!t) {
    error = "bad time '" + f[0] + "'";
    return LineKind::bad;
  }
  out.time = *t;
  out.address = trim(f[1]);
  if (f.size() > 2) out.trap = trim(f[2]);
  if (f.size() > 3) {
    out.evidence = f[3];
    for (std::size_t i = 4; i < f.size(); ++i) out.evidence += "," + f[i];
  }
  return LineKind::hit;
}

}  // namespace rblzone::importer
