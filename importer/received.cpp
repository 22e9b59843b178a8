// Received-header parsing and the trusted-hop walk (see received.hpp).
#include "importer/received.hpp"

#include <algorithm>
#include <cctype>

namespace rblzone::importer {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Finds `word` as a whole word (case-insensitive) at parenthesis depth 0,
// from `from`. Returns npos when absent.
std::size_t find_word(std::string_view s, std::string_view word, std::size_t from) {
  int depth = 0;
  for (std::size_t i = from; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '(') ++depth;
    if (c == ')' && depth > 0) --depth;
    if (depth != 0) continue;
    if ((i == 0 || is_space(s[i - 1])) && i + word.size() <= s.size() &&
        (i + word.size() == s.size() || is_space(s[i + word.size()]))) {
      bool eq = true;
      for (std::size_t k = 0; k < word.size() && eq; ++k)
        eq = std::tolower(static_cast<unsigned char>(s[i + k])) == word[k];
      if (eq) return i;
    }
  }
  return std::string_view::npos;
}

// An address literal: "1.2.3.4", "IPv6:2001:db8::1", "2001:db8::1", with an
// optional ":port" after an IPv4 address.
std::optional<core::IpPrefix> parse_literal(std::string_view t) {
  while (!t.empty() && (is_space(t.front()) || t.front() == '[')) t.remove_prefix(1);
  while (!t.empty() && (is_space(t.back()) || t.back() == ']' || t.back() == '.'))
    t.remove_suffix(1);
  if (t.size() > 5 && lower(t.substr(0, 5)) == "ipv6:") t.remove_prefix(5);
  if (t.empty() || t.find('/') != std::string_view::npos) return std::nullopt;
  auto p = core::IpPrefix::parse(t);
  if (!p && std::count(t.begin(), t.end(), ':') == 1) {  // 1.2.3.4:port
    p = core::IpPrefix::parse(t.substr(0, t.find(':')));
  }
  if (p && !p->is_host()) return std::nullopt;
  return p;
}

}  // namespace

Hop parse_received(std::string_view value) {
  std::string flat(value);
  for (auto& c : flat) {
    if (c == '\r' || c == '\n' || c == '\t') c = ' ';
  }
  const std::string_view v(flat);
  Hop hop;
  std::size_t start = 0;
  while (start < v.size() && is_space(v[start])) ++start;
  if (v.size() - start < 5 || lower(v.substr(start, 5)) != "from ") return hop;
  hop.has_from = true;
  const std::size_t clause_begin = start + 5;
  std::size_t clause_end = find_word(v, "by", clause_begin);
  if (clause_end == std::string_view::npos) clause_end = v.size();
  const std::string_view clause = v.substr(clause_begin, clause_end - clause_begin);

  // The first word: the HELO (Postfix, Sendmail, Gmail, Exchange) or the
  // looked-up name (Exim), or a bracketed address.
  std::size_t i = 0;
  while (i < clause.size() && is_space(clause[i])) ++i;
  std::size_t j = i;
  while (j < clause.size() && !is_space(clause[j]) && clause[j] != '(') ++j;
  const std::string_view first_word = clause.substr(i, j - i);
  const bool exim_style = lower(clause).find("helo=") != std::string::npos;

  // The first bracketed literal anywhere in the clause, else the first bare
  // literal in parentheses (Exchange: "from NAME (10.0.0.5)").
  std::optional<core::IpPrefix> bracketed, bare;
  std::string rdns;
  for (std::size_t k = 0; k < clause.size() && !bracketed; ++k) {
    if (clause[k] != '[') continue;
    const auto close = clause.find(']', k);
    if (close == std::string_view::npos) break;
    bracketed = parse_literal(clause.substr(k + 1, close - k - 1));
    if (bracketed && !exim_style) {
      // "(name [addr])": the name the receiving host looked up.
      const auto open = clause.rfind('(', k);
      if (open != std::string_view::npos) {
        std::string_view inner = clause.substr(open + 1, k - open - 1);
        while (!inner.empty() && is_space(inner.back())) inner.remove_suffix(1);
        if (inner.find(' ') == std::string_view::npos && !inner.empty()) rdns = lower(inner);
      }
    }
    k = close;
  }
  if (!bracketed) {
    for (std::size_t k = 0; k < clause.size(); ++k) {
      if (clause[k] != '(') continue;
      const auto close = clause.find(')', k);
      if (close == std::string_view::npos) break;
      std::string_view inner = clause.substr(k + 1, close - k - 1);
      if (const auto sp = inner.find(' '); sp != std::string_view::npos)
        inner = inner.substr(0, sp);
      bare = parse_literal(inner);
      if (bare) break;
      k = close;
    }
  }
  if (!bracketed && !bare) bare = parse_literal(first_word);
  hop.address = bracketed ? bracketed : bare;
  if (exim_style && !first_word.empty() && first_word.front() != '[') rdns = lower(first_word);
  if (rdns == "unknown" || lower(clause).find("may be forged") != std::string::npos) rdns.clear();
  while (!rdns.empty() && rdns.back() == '.') rdns.pop_back();
  hop.rdns = rdns;
  return hop;
}

bool TrustedHops::trusts(const Hop& h) const {
  if (h.address) {
    for (const auto& p : prefixes) {
      if (p.contains(*h.address)) return true;
    }
  }
  if (!h.rdns.empty()) {
    for (const auto& name : hosts) {
      if (name.empty()) continue;
      if (name.front() == '.') {
        if (h.rdns.size() > name.size() &&
            h.rdns.compare(h.rdns.size() - name.size(), name.size(), name) == 0)
          return true;
      } else if (h.rdns == name) {
        return true;
      }
    }
  }
  return false;
}

WalkResult first_untrusted(const std::vector<std::string>& received, const TrustedHops& trusted) {
  WalkResult out;
  std::size_t n = 0;
  for (const auto& value : received) {
    ++n;
    const Hop hop = parse_received(value);
    if (!hop.has_from) continue;
    if (!hop.address) {
      out.problem = "Received header " + std::to_string(n) + " names no relay address";
      return out;
    }
    if (trusted.trusts(hop)) continue;
    out.relay = hop.address;
    return out;
  }
  out.problem = received.empty() ? "no Received header" : "no untrusted relay (every hop trusted)";
  return out;
}

}  // namespace rblzone::importer
