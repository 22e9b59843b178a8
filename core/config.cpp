// Configuration loading: the daemon's TOML file and one TOML file per zone,
// read into the structs of config.hpp. Every value is checked here, and every
// error names the file, the line, the key and what was expected.
#include "core/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include "core/crypto.hpp"

namespace rblzone::core {
namespace {

using Line = std::optional<std::uint32_t>;
using std::chrono::milliseconds;

constexpr std::int64_t kSecond = 1000;
constexpr std::int64_t kDay = 86400;
constexpr std::int64_t kMaxTtl = 7 * kDay;               // ttl, ns_ttl, soa.ttl
constexpr std::int64_t kMaxRfc2181 = 2147483647;         // 2^31 - 1 (RFC 2181 8)
constexpr std::int64_t kMaxPolicySeconds = 3650 * kDay;  // ten years
constexpr std::size_t kMaxTxt = 255;                     // one TXT character-string

[[noreturn]] void fail(const std::string& file, Line line, std::string_view key,
                       std::string_view message) {
  std::string out = file;
  if (line) out += ":" + std::to_string(*line);
  out += ": ";
  if (!key.empty()) {
    out += key;
    out += ": ";
  }
  out += message;
  throw ConfigError(out);
}

Line line_of(const toml::source_region& s) {
  if (s.begin.line == 0) return std::nullopt;
  return s.begin.line;
}

std::string quote(std::string_view s) {
  constexpr std::size_t kShown = 64;
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == kShown) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(s[i]);
    if (s[i] == '"' || s[i] == '\\') {
      out += '\\';
      out += s[i];
    } else if (u < 0x20 || u >= 0x7f) {
      std::array<char, 8> buf{};
      std::snprintf(buf.data(), buf.size(), "\\x%02x", u);
      out += buf.data();
    } else {
      out += s[i];
    }
  }
  out += '"';
  return out;
}

// What a node holds, for the ", got X" part of a message.
std::string describe(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return quote(n.as_string()->get());
    case toml::node_type::integer:
      return std::to_string(n.as_integer()->get());
    case toml::node_type::floating_point: {
      std::ostringstream o;
      o << n.as_floating_point()->get();
      return o.str();
    }
    case toml::node_type::boolean:
      return n.as_boolean()->get() ? "true" : "false";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// "90s", "15m", "48h", "30d" or "500ms": the largest unit that divides evenly.
std::string format_duration(std::int64_t ms) {
  if (ms % kSecond != 0) return std::to_string(ms) + "ms";
  const std::int64_t s = ms / kSecond;
  if (s != 0 && s % kDay == 0) return std::to_string(s / kDay) + "d";
  if (s != 0 && s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s != 0 && s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

// A DNS name, lowercase without the trailing dot; nullopt if it is not one.
// A last label of digits only is refused: it is an IP address by mistake.
std::optional<std::string> dns_name(std::string_view text) {
  const auto d = DomainName::parse(text);
  if (!d || d->subtree) return std::nullopt;
  const auto dot = d->name.rfind('.');
  const std::string_view last = dot == std::string::npos
                                    ? std::string_view(d->name)
                                    : std::string_view(d->name).substr(dot + 1);
  if (std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return d->name;
}

// A dotted-quad IPv4 address in host order.
std::optional<std::uint32_t> ipv4_address(std::string_view text) {
  if (text.find_first_of(":/") != std::string_view::npos) return std::nullopt;
  const auto p = IpPrefix::parse(text);
  if (!p || !p->is_v4() || !p->is_host()) return std::nullopt;
  return p->v4_addr();
}

bool in_refused_range(std::uint32_t a) {
  return (a & 0xffffff00u) == 0x7fffff00u;
}

bool valid_listed_code(std::uint32_t a) {
  return (a >> 24) == 127 && a != 0x7f000001u && !in_refused_range(a);
}

constexpr std::string_view kCodeExpected =
    "an address in 127.0.0.0/8, not 127.0.0.1 and not in 127.255.255.0/24";

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// "IPv4:port" or "[IPv6]:port", port 0..65535.
bool valid_listen(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) return false;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return false;
  }
  if (host.find('/') != std::string_view::npos) return false;
  const auto addr = IpPrefix::parse(host);
  if (!addr || !addr->is_host()) return false;
  if (port.empty() || port.size() > 5) return false;
  unsigned value = 0;
  for (const char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value <= 65535;
}

toml::table parse_toml(std::string_view text, const std::string& file) {
  try {
    return toml::parse(text, std::string_view(file));
  } catch (const toml::parse_error& e) {
    fail(file, line_of(e.source()), "", "TOML syntax error: " + std::string(e.description()));
  }
}

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const std::error_code ec(errno, std::generic_category());
    fail(file.string(), std::nullopt, "", "cannot open: " + ec.message());
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) fail(file.string(), std::nullopt, "", "cannot read");
  return std::move(buf).str();
}

// One TOML table being read: its file, its key prefix ("soa.") and typed,
// range-checked getters that throw ConfigError naming the offending line.
// Getters return nullopt when the key is absent.
class Section {
 public:
  Section(const std::string& file, const toml::table& table, std::string prefix)
      : file_(file), table_(table), prefix_(std::move(prefix)) {}

  const std::string& file() const { return file_; }
  const toml::table& table() const { return table_; }
  const toml::node* find(std::string_view key) const { return table_.get(key); }
  std::string path(std::string_view key) const { return prefix_ + std::string(key); }
  Line line(std::string_view key) const {
    const toml::node* n = find(key);
    return n ? line_of(n->source()) : std::nullopt;
  }

  // `detail`, when given, says what is wrong with the value ("host bits set").
  [[noreturn]] void fail_value(std::string_view key, const toml::node& at,
                               std::string_view expected, std::string_view detail = "") const {
    std::string message = std::string(expected) + ", got " + describe(at);
    if (!detail.empty()) message += ": " + std::string(detail);
    fail(file_, line_of(at.source()), path(key), message);
  }
  [[noreturn]] void fail_at(std::string_view key, std::string_view message) const {
    fail(file_, line(key), path(key), message);
  }
  [[noreturn]] void fail_missing(std::string_view key, std::string_view expected) const {
    fail(file_, std::nullopt, path(key), std::string(expected) + " (required key missing)");
  }

  // Rejects any key not in `allowed`, reporting the first by line.
  void allow_only(std::initializer_list<std::string_view> allowed) const {
    const toml::key* bad = nullptr;
    Line bad_line;
    for (auto&& [k, v] : table_) {
      if (std::find(allowed.begin(), allowed.end(), k.str()) != allowed.end()) continue;
      Line l = line_of(k.source());
      if (!l) l = line_of(v.source());
      if (!bad || (l && (!bad_line || *l < *bad_line))) {
        bad = &k;
        bad_line = l;
      }
    }
    if (!bad) return;
    std::string list;
    for (const auto a : allowed) {
      if (!list.empty()) list += ", ";
      list += a;
    }
    fail(file_, bad_line, path(bad->str()), "unknown key (allowed here: " + list + ")");
  }

  std::optional<std::string> get_string(std::string_view key, std::string_view expected) const {
    const toml::node* n = find(key);
    if (!n) return std::nullopt;
    if (!n->is_string()) fail_value(key, *n, expected);
    return n->as_string()->get();
  }

  std::optional<bool> get_bool(std::string_view key) const {
    const toml::node* n = find(key);
    if (!n) return std::nullopt;
    if (!n->is_boolean()) fail_value(key, *n, "true or false");
    return n->as_boolean()->get();
  }

  std::optional<std::int64_t> get_int(std::string_view key, std::int64_t lo, std::int64_t hi,
                                      std::string_view unit = "") const {
    const toml::node* n = find(key);
    if (!n) return std::nullopt;
    const std::string expected = "an integer " + std::to_string(lo) + ".." + std::to_string(hi) +
                                 (unit.empty() ? "" : " (" + std::string(unit) + ")");
    if (!n->is_integer()) fail_value(key, *n, expected);
    const std::int64_t v = n->as_integer()->get();
    if (v < lo || v > hi) fail_value(key, *n, expected);
    return v;
  }

  template <class T>
  void read_int(std::string_view key, T& out, std::int64_t lo, std::int64_t hi,
                std::string_view unit = "") const {
    if (const auto v = get_int(key, lo, hi, unit)) out = static_cast<T>(*v);
  }

  // A finite number (integer or float) >= min, or > min when `exclusive`.
  void read_number(std::string_view key, double& out, double min, bool exclusive) const {
    const toml::node* n = find(key);
    if (!n) return;
    std::ostringstream expected;
    expected << "a number " << (exclusive ? "> " : ">= ") << min;
    double v = 0;
    if (n->is_integer()) {
      v = static_cast<double>(n->as_integer()->get());
    } else if (n->is_floating_point()) {
      v = n->as_floating_point()->get();
    } else {
      fail_value(key, *n, expected.str());
    }
    if (!std::isfinite(v) || v < min || (exclusive && v == min)) {
      fail_value(key, *n, expected.str());
    }
    out = v;
  }

  // An integer number of seconds or a string with a unit (see parse_duration);
  // "ms" only when `allow_ms`. The result is in milliseconds.
  std::optional<std::int64_t> get_duration_ms(std::string_view key, std::int64_t min_ms,
                                              std::int64_t max_ms, bool allow_ms) const {
    const toml::node* n = find(key);
    if (!n) return std::nullopt;
    const std::string expected =
        std::string("a duration ") + format_duration(min_ms) + ".." + format_duration(max_ms) +
        (allow_ms ? ": seconds as an integer, or a string like \"500ms\", \"10s\", \"2m\""
                  : ": seconds as an integer, or a string like \"90s\", \"15m\", \"48h\", \"30d\"");
    std::int64_t ms = 0;
    if (n->is_integer()) {
      const std::int64_t s = n->as_integer()->get();
      if (s < 0 || s > std::numeric_limits<std::int64_t>::max() / kSecond) {
        fail_value(key, *n, expected);
      }
      ms = s * kSecond;
    } else if (n->is_string()) {
      const std::string& text = n->as_string()->get();
      const auto d = parse_duration(text);
      if (!d || (!allow_ms && text.ends_with("ms"))) fail_value(key, *n, expected);
      ms = d->count();
    } else {
      fail_value(key, *n, expected);
    }
    if (ms < min_ms || ms > max_ms) fail_value(key, *n, expected);
    return ms;
  }

  void read_seconds(std::string_view key, std::uint32_t& out, std::int64_t min_s,
                    std::int64_t max_s) const {
    if (const auto ms = get_duration_ms(key, min_s * kSecond, max_s * kSecond, false)) {
      out = static_cast<std::uint32_t>(*ms / kSecond);
    }
  }

  // An array of strings; each element comes with its node for messages.
  std::optional<std::vector<std::pair<std::string, const toml::node*>>> get_strings(
      std::string_view key, std::string_view expected_each) const {
    const toml::node* n = find(key);
    if (!n) return std::nullopt;
    if (!n->is_array()) {
      fail_value(key, *n, "an array of strings (each " + std::string(expected_each) + ")");
    }
    std::vector<std::pair<std::string, const toml::node*>> out;
    for (const toml::node& el : *n->as_array()) {
      if (!el.is_string()) fail_value(key, el, expected_each);
      out.emplace_back(el.as_string()->get(), &el);
    }
    return out;
  }

  std::optional<Section> get_table(std::string_view key) const {
    const toml::node* n = find(key);
    if (!n) return std::nullopt;
    if (!n->is_table()) fail_value(key, *n, "a table");
    return Section(file_, *n->as_table(), path(key) + ".");
  }

 private:
  const std::string& file_;
  const toml::table& table_;
  std::string prefix_;
};

// --- zone files -------------------------------------------------------------

constexpr std::string_view kNameExpected = "a DNS name like \"bl.example.org\"";

std::optional<std::string> txt_template_problem(std::string_view t) {
  if (t.size() > kMaxTxt) return "at most 255 bytes, got " + std::to_string(t.size()) + " bytes";
  for (std::size_t i = 0; i < t.size(); ++i) {
    const auto u = static_cast<unsigned char>(t[i]);
    if (u < 0x20 || u > 0x7e) {
      std::array<char, 8> buf{};
      std::snprintf(buf.data(), buf.size(), "0x%02x", u);
      return "printable ASCII only, got byte " + std::string(buf.data()) + " at offset " +
             std::to_string(i);
    }
  }
  static constexpr std::array<std::string_view, 4> kKnown = {"reason", "subject", "url", "code"};
  for (std::size_t open = t.find('{'); open != std::string_view::npos;
       open = t.find('{', open + 1)) {
    const auto close = t.find('}', open);
    if (close == std::string_view::npos) {
      return "placeholders $, {reason}, {subject}, {url}, {code}, got an unclosed \"{\"";
    }
    const auto name = t.substr(open + 1, close - open - 1);
    if (std::find(kKnown.begin(), kKnown.end(), name) == kKnown.end()) {
      return "placeholders $, {reason}, {subject}, {url}, {code}, got \"{" + std::string(name) +
             "}\"";
    }
  }
  return std::nullopt;
}

bool valid_url(std::string_view u) {
  if (u.size() > kMaxTxt) return false;
  std::string_view rest;
  if (u.starts_with("http://")) {
    rest = u.substr(7);
  } else if (u.starts_with("https://")) {
    rest = u.substr(8);
  } else {
    return false;
  }
  if (rest.empty() || rest.front() == '/') return false;
  return std::all_of(u.begin(), u.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

void read_soa(const Section& s, ZoneConfig& z) {
  s.allow_only({"mname", "rname", "ttl", "refresh", "retry", "expire", "minimum"});
  if (const auto v = s.get_string("mname", kNameExpected)) {
    const auto n = dns_name(*v);
    if (!n) s.fail_value("mname", *s.find("mname"), kNameExpected);
    z.soa.mname = *n;
  }
  constexpr std::string_view kMailbox =
      "a mailbox as a DNS name (\"hostmaster.example.org\") or \"hostmaster@example.org\"";
  if (const auto v = s.get_string("rname", kMailbox)) {
    std::string text = *v;
    if (const auto at = text.find('@'); at != std::string::npos) {
      const std::string local = text.substr(0, at);
      if (local.empty() || local.find('.') != std::string::npos) {
        s.fail_value("rname", *s.find("rname"), kMailbox);
      }
      text[at] = '.';
    }
    const auto n = dns_name(text);
    if (!n) s.fail_value("rname", *s.find("rname"), kMailbox);
    z.soa.rname = *n;
  }
  s.read_int("ttl", z.soa.ttl, 1, kMaxTtl, "seconds");
  s.read_int("refresh", z.soa.refresh, 1, kMaxRfc2181, "seconds");
  s.read_int("retry", z.soa.retry, 1, kMaxRfc2181, "seconds");
  s.read_int("expire", z.soa.expire, 1, kMaxRfc2181, "seconds");
  s.read_int("minimum", z.soa.minimum, 0, kDay, "seconds");
}

void read_codes(const Section& top, ZoneConfig& z) {
  std::optional<std::uint32_t> listed;
  if (const auto s = top.get_table("codes")) {
    for (auto&& [k, v] : s->table()) {
      const std::string name(k.str());
      const bool good_name =
          !name.empty() && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char c) {
            return is_lower_alnum(c) || c == '-' || c == '_';
          });
      if (!good_name) {
        Line l = line_of(k.source());
        if (!l) l = line_of(v.source());
        fail(top.file(), l, s->path(name),
             "a code name of 1..63 characters a-z, 0-9, '-' or '_', got " + quote(name));
      }
      if (!v.is_string()) s->fail_value(name, v, kCodeExpected);
      const auto a = ipv4_address(v.as_string()->get());
      if (!a || !valid_listed_code(*a)) s->fail_value(name, v, kCodeExpected);
      z.codes[name] = *a;
      if (name == "listed") listed = *a;
    }
  }
  const std::optional<std::string> text = top.get_string("default_code", kCodeExpected);
  if (text) {
    const auto a = ipv4_address(*text);
    if (!a || !valid_listed_code(*a)) {
      top.fail_value("default_code", *top.find("default_code"), kCodeExpected);
    }
    if (listed && *listed != *a) {
      top.fail_at("default_code",
                  "must equal codes.listed when both are set (\"listed\" is the "
                  "default code), got " +
                      *text + " and codes.listed " + IpPrefix::v4(*listed, 32).to_string());
    }
    z.default_code = *a;
    z.codes["listed"] = *a;
  } else if (listed) {
    z.default_code = *listed;
  }
}

void read_policy(const Section& s, PolicyConfig& p) {
  s.allow_only({"threshold", "window", "trap_weight", "trusted_weight", "public_weight",
                "base_duration", "factor", "max_duration", "half_life", "self_delist_quota",
                "self_delist_period", "report_retention", "history_retention"});
  s.read_number("threshold", p.threshold, 0, true);
  s.read_seconds("window", p.window, 1, kMaxPolicySeconds);
  s.read_number("trap_weight", p.trap_weight, 0, true);
  s.read_number("trusted_weight", p.trusted_weight, 0, true);
  s.read_number("public_weight", p.public_weight, 0, true);
  s.read_seconds("base_duration", p.base_duration, 1, kMaxPolicySeconds);
  s.read_number("factor", p.factor, 1, false);
  s.read_seconds("max_duration", p.max_duration, 1, kMaxPolicySeconds);
  s.read_seconds("half_life", p.half_life, 1, kMaxPolicySeconds);
  s.read_int("self_delist_quota", p.self_delist_quota, 0, 1000);
  s.read_seconds("self_delist_period", p.self_delist_period, 1, kMaxPolicySeconds);
  s.read_seconds("report_retention", p.report_retention, 1, kMaxPolicySeconds);
  s.read_seconds("history_retention", p.history_retention, 1, kMaxPolicySeconds);
  if (p.max_duration < p.base_duration) {
    const std::string_view key = s.find("max_duration") ? "max_duration" : "base_duration";
    s.fail_at(key, "max_duration must be >= base_duration, got " +
                       format_duration(std::int64_t{p.max_duration} * kSecond) + " < " +
                       format_duration(std::int64_t{p.base_duration} * kSecond));
  }
}

std::vector<IpPrefix> read_prefixes(const Section& s, std::string_view key) {
  constexpr std::string_view kExpected = "an IP address or prefix like \"192.0.2.0/24\"";
  std::vector<IpPrefix> out;
  if (const auto list = s.get_strings(key, kExpected)) {
    for (const auto& [text, node] : *list) {
      std::string why;
      const auto p = IpPrefix::parse(text, &why);
      if (!p) s.fail_value(key, *node, kExpected, why);
      out.push_back(*p);
    }
  }
  return out;
}

void read_access(const Section& s, AccessConfig& a) {
  s.allow_only({"allow", "deny", "keys", "require_key", "refused_code"});
  a.allow = read_prefixes(s, "allow");
  a.deny = read_prefixes(s, "deny");
  constexpr std::string_view kKey = "an access key of 1..63 characters a-z, 0-9 or '-'";
  if (const auto list = s.get_strings("keys", kKey)) {
    std::set<std::string> seen;
    for (const auto& [text, node] : *list) {
      const bool good = !text.empty() && text.size() <= 63 &&
                        std::all_of(text.begin(), text.end(),
                                    [](char c) { return is_lower_alnum(c) || c == '-'; });
      if (!good) s.fail_value("keys", *node, kKey);
      if (!seen.insert(text).second) s.fail_value("keys", *node, "keys without duplicates");
      a.keys.push_back(text);
    }
  }
  if (const auto v = s.get_bool("require_key")) a.require_key = *v;
  if (a.require_key && a.keys.empty()) {
    s.fail_at("require_key", "require_key = true needs at least one entry in keys");
  }
  constexpr std::string_view kRefused = "an address in 127.255.255.0/24 like \"127.255.255.254\"";
  if (const auto text = s.get_string("refused_code", kRefused)) {
    const auto addr = ipv4_address(*text);
    if (!addr || !in_refused_range(*addr)) {
      s.fail_value("refused_code", *s.find("refused_code"), kRefused);
    }
    a.refused_code = *addr;
  }
}

// [transfer.tsig]: key, algorithm, and secret or secret_file (base64). The
// secret's value never appears in an error message.
void read_tsig(const Section& s, TsigKeyConfig& k) {
  s.allow_only({"key", "algorithm", "secret", "secret_file"});
  constexpr std::string_view kKey = "a key name like \"xfr.example.org\"";
  const auto name = s.get_string("key", kKey);
  if (!name) s.fail_missing("key", kKey);
  const auto normalized = DomainName::parse(*name);
  if (!normalized || normalized->subtree) s.fail_value("key", *s.find("key"), kKey);
  k.name = normalized->name;
  constexpr std::string_view kAlgorithm = "\"hmac-sha256\" (the only algorithm supported)";
  if (const auto a = s.get_string("algorithm", kAlgorithm)) {
    if (*a != "hmac-sha256") s.fail_value("algorithm", *s.find("algorithm"), kAlgorithm);
  }
  const bool inline_secret = s.find("secret") != nullptr;
  const bool file_secret = s.find("secret_file") != nullptr;
  if (inline_secret == file_secret) {
    s.fail_at(inline_secret ? "secret_file" : "secret",
              "exactly one of secret (base64) and secret_file (a file holding it)");
  }
  std::string text;
  if (inline_secret) {
    const toml::node* n = s.find("secret");
    if (!n->is_string()) s.fail_at("secret", "a base64 string");
    text = n->as_string()->get();
  } else {
    const auto path = s.get_string("secret_file", "a file name");
    std::filesystem::path p(*path);
    const std::filesystem::path base = std::filesystem::path(s.file()).parent_path();
    if (p.is_relative() && !base.empty()) p = base / p;
    try {
      text = read_file(p);
    } catch (const ConfigError& e) {
      s.fail_at("secret_file", e.what());  // "FILE: cannot open: why", under the key's name
    }
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  const std::string_view key = inline_secret ? "secret" : "secret_file";
  const auto secret = base64_decode(text);
  if (!secret) s.fail_at(key, "not valid base64 (the value is not shown)");
  if (secret->size() < 16) {
    s.fail_at(key, "a secret of at least 16 bytes (`openssl rand -base64 32` makes one)");
  }
  k.secret = *secret;
}

void read_transfer(const Section& s, TransferConfig& t) {
  s.allow_only({"allow", "notify", "journal_max_entries", "journal_max_age", "tsig"});
  if (const auto tsig = s.get_table("tsig")) read_tsig(*tsig, t.tsig.emplace());
  t.allow = read_prefixes(s, "allow");
  constexpr std::string_view kNotify = "\"IPv4:port\" or \"[IPv6]:port\", port 1..65535";
  if (const auto list = s.get_strings("notify", kNotify)) {
    for (const auto& [addr, node] : *list) {
      if (!valid_listen(addr) || addr.ends_with(":0")) s.fail_value("notify", *node, kNotify);
      if (std::find(t.notify.begin(), t.notify.end(), addr) != t.notify.end()) {
        s.fail_value("notify", *node, "addresses without duplicates");
      }
      t.notify.push_back(addr);
    }
  }
  s.read_int("journal_max_entries", t.journal_max_entries, 1, 100000000, "entries per zone");
  s.read_seconds("journal_max_age", t.journal_max_age, 60, 366 * 24 * 3600);
}

struct ParsedZone {
  ZoneConfig config;
  Line name_line;
  std::vector<Line> member_lines;  // parallel to config.members
};

ParsedZone parse_zone(std::string_view text, const std::filesystem::path& path) {
  const std::string file = path.string();
  const toml::table root = parse_toml(text, file);
  const Section top(file, root, "");
  top.allow_only({"name", "kind", "ttl", "ns_ttl", "ns", "txt", "lookup_url", "default_code",
                  "members", "allowlist", "codes", "soa", "policy", "access", "transfer"});

  ParsedZone out;
  ZoneConfig& z = out.config;
  z.file = path;

  const auto name = top.get_string("name", kNameExpected);
  if (!name) top.fail_missing("name", kNameExpected);
  const auto normalized = dns_name(*name);
  if (!normalized) top.fail_value("name", *top.find("name"), kNameExpected);
  z.name = *normalized;
  out.name_line = top.line("name");

  constexpr std::string_view kKind = "one of \"ip\", \"domain\", \"combined\"";
  if (const auto kind = top.get_string("kind", kKind)) {
    if (*kind == "ip") {
      z.kind = ZoneKind::ip;
    } else if (*kind == "domain") {
      z.kind = ZoneKind::domain;
    } else if (*kind == "combined") {
      z.kind = ZoneKind::combined;
    } else {
      top.fail_value("kind", *top.find("kind"), kKind);
    }
  }
  const bool combined = z.kind == ZoneKind::combined;

  top.read_int("ttl", z.ttl, 1, kMaxTtl, "seconds");
  top.read_int("ns_ttl", z.ns_ttl, 1, kMaxTtl, "seconds");

  if (const auto list = top.get_strings("ns", kNameExpected)) {
    if (list->empty()) top.fail_value("ns", *top.find("ns"), "at least one name server");
    for (const auto& [ns_text, node] : *list) {
      const auto n = dns_name(ns_text);
      if (!n) top.fail_value("ns", *node, kNameExpected);
      if (std::find(z.ns.begin(), z.ns.end(), *n) != z.ns.end()) {
        top.fail_value("ns", *node, "names without duplicates");
      }
      z.ns.push_back(*n);
    }
  } else {
    z.ns = {"ns1." + z.name};
  }

  z.soa.mname = z.ns.front();
  z.soa.rname = "hostmaster." + z.name;
  if (const auto soa = top.get_table("soa")) read_soa(*soa, z);

  constexpr std::string_view kTxt =
      "a TXT template (at most 255 printable ASCII bytes; placeholders $, {reason}, {subject}, "
      "{url}, {code})";
  if (const auto txt = top.get_string("txt", kTxt)) {
    if (const auto problem = txt_template_problem(*txt)) top.fail_at("txt", *problem);
    z.txt = *txt;
  }
  constexpr std::string_view kUrl =
      "an http:// or https:// URL of at most 255 printable ASCII characters without spaces "
      "(\"$\" is replaced by the subject)";
  if (const auto url = top.get_string("lookup_url", kUrl)) {
    if (!valid_url(*url)) top.fail_value("lookup_url", *top.find("lookup_url"), kUrl);
    z.lookup_url = *url;
  }

  // A combined zone has no listings of its own: its answers carry the members'
  // codes, and reports, policy and allowlist belong to the members.
  if (combined) {
    for (const std::string_view key : {"codes", "default_code", "policy", "allowlist"}) {
      if (top.find(key)) {
        top.fail_at(key, "not allowed in a combined zone (set it in the member zones)");
      }
    }
  } else {
    read_codes(top, z);
    if (const auto policy = top.get_table("policy")) read_policy(*policy, z.policy);
  }

  if (const auto access = top.get_table("access")) read_access(*access, z.access);
  if (const auto transfer = top.get_table("transfer")) read_transfer(*transfer, z.transfer);

  if (combined) {
    const auto members = top.get_strings("members", kNameExpected);
    constexpr std::string_view kMembers = "a non-empty array of zone names";
    if (!members) top.fail_missing("members", kMembers);
    if (members->empty()) top.fail_value("members", *top.find("members"), kMembers);
    for (const auto& [member_text, node] : *members) {
      const auto n = dns_name(member_text);
      if (!n) top.fail_value("members", *node, kNameExpected);
      if (*n == z.name) top.fail_value("members", *node, "the name of another zone");
      if (std::find(z.members.begin(), z.members.end(), *n) != z.members.end()) {
        top.fail_value("members", *node, "names without duplicates");
      }
      z.members.push_back(*n);
      out.member_lines.push_back(line_of(node->source()));
    }
  } else if (const toml::node* m = top.find("members");
             m && !(m->is_array() && m->as_array()->empty())) {
    top.fail_at("members", "only allowed in a combined zone (kind = \"combined\")");
  }

  if (const auto list = top.get_strings("allowlist", "a subject")) {
    const bool ip = z.kind == ZoneKind::ip;
    const std::string expected = ip ? "an IP address or prefix (this is an ip zone)"
                                    : "a domain or \"*.domain\" (this is a domain zone)";
    for (const auto& [subject_text, node] : *list) {
      std::string why;
      const auto subject = parse_subject(subject_text, &why);
      if (!subject || (kind_of(*subject) == SubjectKind::ip) != ip) {
        top.fail_value("allowlist", *node, expected, why);
      }
      z.allowlist.push_back(to_string(*subject));
    }
  }
  return out;
}

// --- the daemon file --------------------------------------------------------

std::filesystem::path resolve(const std::filesystem::path& base, const std::filesystem::path& p) {
  if (p.is_absolute() || base.empty()) return p;
  return (base / p).lexically_normal();
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 18) return std::nullopt;
  std::int64_t n = 0;
  for (std::size_t i = 0; i < digits; ++i) n = n * 10 + (text[i] - '0');
  const std::string_view unit = text.substr(digits);
  std::int64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = kSecond;
  } else if (unit == "m") {
    scale = 60 * kSecond;
  } else if (unit == "h") {
    scale = 3600 * kSecond;
  } else if (unit == "d") {
    scale = kDay * kSecond;
  } else {
    return std::nullopt;
  }
  if (n > std::numeric_limits<std::int64_t>::max() / scale) return std::nullopt;
  return milliseconds(n * scale);
}

ZoneConfig parse_zone_config(std::string_view toml_text, const std::filesystem::path& file) {
  return parse_zone(toml_text, file).config;
}

ZoneConfig load_zone_config(const std::filesystem::path& file) {
  return parse_zone_config(read_file(file), file);
}

std::vector<ZoneConfig> load_zones(const std::filesystem::path& dir) {
  std::error_code ec;
  const auto status = std::filesystem::status(dir, ec);
  if (status.type() == std::filesystem::file_type::not_found) {
    fail(dir.string(), std::nullopt, "", "zones directory does not exist");
  }
  if (ec) fail(dir.string(), std::nullopt, "", "cannot read zones directory: " + ec.message());
  if (!std::filesystem::is_directory(status)) {
    fail(dir.string(), std::nullopt, "", "zones directory is not a directory");
  }
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::filesystem::path& f = it->path();
    // Editors' lock and swap files start with a dot.
    if (f.filename().string().starts_with('.') || f.extension() != ".toml") continue;
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    files.push_back(f);
  }
  if (ec) fail(dir.string(), std::nullopt, "", "cannot read zones directory: " + ec.message());
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.filename() < b.filename(); });

  std::vector<ParsedZone> parsed;
  parsed.reserve(files.size());
  for (const auto& f : files) parsed.push_back(parse_zone(read_file(f), f));

  std::map<std::string, const ParsedZone*> by_name;
  for (const auto& p : parsed) {
    const auto [existing, inserted] = by_name.emplace(p.config.name, &p);
    if (!inserted) {
      fail(p.config.file.string(), p.name_line, "name",
           "a zone name no other file uses, got \"" + p.config.name + "\" (also in " +
               existing->second->config.file.string() + ")");
    }
  }
  // A secondary knows a key by its name: one name, one secret.
  std::map<std::string, const ParsedZone*> by_key;
  for (const auto& p : parsed) {
    const auto& k = p.config.transfer.tsig;
    if (!k) continue;
    const auto [existing, inserted] = by_key.emplace(k->name, &p);
    if (!inserted && existing->second->config.transfer.tsig->secret != k->secret) {
      fail(p.config.file.string(), std::nullopt, "transfer.tsig.key",
           "key \"" + k->name + "\" has another secret in " +
               existing->second->config.file.string() + " (one name, one secret)");
    }
  }
  for (const auto& p : parsed) {
    const ZoneConfig& z = p.config;
    std::optional<ZoneKind> member_kind;
    for (std::size_t i = 0; i < z.members.size(); ++i) {
      const auto found = by_name.find(z.members[i]);
      const std::string file = z.file.string();
      if (found == by_name.end()) {
        fail(file, p.member_lines[i], "members",
             "the name of a zone in " + dir.string() + ", got \"" + z.members[i] + "\"");
      }
      const ZoneConfig& m = found->second->config;
      if (m.kind == ZoneKind::combined) {
        fail(file, p.member_lines[i], "members",
             "an ip or domain zone, got combined zone \"" + m.name + "\"");
      }
      if (member_kind && *member_kind != m.kind) {
        fail(file, p.member_lines[i], "members",
             "zones of one kind (all ip or all domain), got \"" + m.name + "\" of another kind");
      }
      member_kind = m.kind;
    }
  }

  std::vector<ZoneConfig> out;
  out.reserve(parsed.size());
  for (auto& p : parsed) out.push_back(std::move(p.config));
  return out;
}

namespace {

// [dns] rrl: response-rate limiting (docs/configuration.md).
void read_rrl(const Section& s, RrlConfig& r) {
  s.allow_only({"responses_per_second", "window", "slip", "ipv4_prefix", "ipv6_prefix"});
  s.read_int("responses_per_second", r.responses_per_second, 0, 1000000, "0: off");
  s.read_int("window", r.window, 1, 3600, "seconds");
  s.read_int("slip", r.slip, 0, 10, "0: never slip");
  s.read_int("ipv4_prefix", r.ipv4_prefix, 8, 32);
  s.read_int("ipv6_prefix", r.ipv6_prefix, 16, 128);
}

}  // namespace

DaemonConfig parse_daemon_config(std::string_view toml_text, const std::filesystem::path& file) {
  const std::string name = file.string();
  const toml::table root = parse_toml(toml_text, name);
  const Section top(name, root, "");
  top.allow_only({"data_dir", "zones_dir", "log_level", "dns", "http", "pdns"});

  DaemonConfig d;
  d.file = file;
  constexpr std::string_view kDir = "a non-empty path";
  for (const auto& [key, field] :
       {std::pair{"data_dir", &d.data_dir}, std::pair{"zones_dir", &d.zones_dir}}) {
    if (const auto v = top.get_string(key, kDir)) {
      if (v->empty()) top.fail_value(key, *top.find(key), kDir);
      *field = *v;
    }
    *field = resolve(file.parent_path(), *field);
  }

  constexpr std::string_view kLevel = "one of trace, debug, info, warn, error";
  if (const auto v = top.get_string("log_level", kLevel)) {
    static constexpr std::array<std::string_view, 5> kLevels = {"trace", "debug", "info", "warn",
                                                                "error"};
    if (std::find(kLevels.begin(), kLevels.end(), *v) == kLevels.end()) {
      top.fail_value("log_level", *top.find("log_level"), kLevel);
    }
    d.log_level = *v;
  }

  constexpr std::string_view kListen = "\"IPv4:port\" or \"[IPv6]:port\", port 0..65535";
  if (const auto dns = top.get_table("dns")) {
    dns->allow_only({"enabled", "listen", "threads", "edns_udp_size", "tcp_max_connections",
                     "tcp_idle_timeout", "query_log", "rrl"});
    if (const auto v = dns->get_bool("enabled")) d.dns_enabled = *v;
    if (const auto list = dns->get_strings("listen", kListen)) {
      d.dns_listen.clear();
      for (const auto& [addr, node] : *list) {
        if (!valid_listen(addr)) dns->fail_value("listen", *node, kListen);
        if (std::find(d.dns_listen.begin(), d.dns_listen.end(), addr) != d.dns_listen.end()) {
          dns->fail_value("listen", *node, "addresses without duplicates");
        }
        d.dns_listen.push_back(addr);
      }
      if (d.dns_enabled && d.dns_listen.empty()) {
        dns->fail_value("listen", *dns->find("listen"), "at least one address when DNS is enabled");
      }
    }
    dns->read_int("threads", d.dns_threads, 0, 1024, "0: one per core");
    dns->read_int("edns_udp_size", d.edns_udp_size, 512, 4096, "bytes");
    dns->read_int("tcp_max_connections", d.tcp_max_connections, 1, 1000000);
    if (const auto ms = dns->get_duration_ms("tcp_idle_timeout", 1, 3600 * kSecond, true)) {
      d.tcp_idle_timeout_ms = static_cast<unsigned>(*ms);
    }
    if (const auto v = dns->get_bool("query_log")) d.query_log = *v;
    if (const auto rrl = dns->get_table("rrl")) read_rrl(*rrl, d.rrl);
  }

  if (const auto http = top.get_table("http")) {
    http->allow_only(
        {"enabled", "listen", "public_per_minute", "delist_per_hour", "auth_failures_per_minute",
         "threads"});
    http->read_int("threads", d.http_threads, 1, 64);
    http->read_int("public_per_minute", d.http_public_per_minute, 0, 1000000, "0: no limit");
    http->read_int("delist_per_hour", d.http_delist_per_hour, 0, 1000000, "0: no limit");
    http->read_int("auth_failures_per_minute", d.http_auth_failures_per_minute, 0, 1000000,
                   "0: no limit");
    if (const auto v = http->get_bool("enabled")) d.http_enabled = *v;
    if (const auto v = http->get_string("listen", kListen)) {
      if (!v->empty() && !valid_listen(*v)) {
        http->fail_value("listen", *http->find("listen"), std::string(kListen) + ", or \"\" (off)");
      }
      d.http_listen = *v;
    }
  }
  if (const auto pdns = top.get_table("pdns")) {
    pdns->allow_only({"socket"});
    if (const auto v = pdns->get_string("socket", "a socket path, or \"\" (off)")) {
      d.pdns_socket = v->empty() ? std::filesystem::path() : resolve(file.parent_path(), *v);
    }
  }
  return d;
}

DaemonConfig load_daemon_config(const std::filesystem::path& file) {
  return parse_daemon_config(read_file(file), file);
}

}  // namespace rblzone::core
