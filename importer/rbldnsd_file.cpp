// rbldnsd data files (see rbldnsd_file.hpp).
#include "importer/rbldnsd_file.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace rblzone::importer {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::optional<std::uint32_t> parse_uint(std::string_view s, std::uint32_t max) {
  std::uint32_t v = 0;
  if (s.empty()) return std::nullopt;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

// "127.0.0" -> octets {127,0,0}; false on anything else.
bool parse_octets(std::string_view s, std::vector<std::uint32_t>& out) {
  out.clear();
  if (s.empty()) return false;
  std::size_t i = 0;
  while (true) {
    const auto dot = s.find('.', i);
    const auto part = s.substr(i, dot == std::string_view::npos ? s.npos : dot - i);
    const auto v = parse_uint(part, 255);
    if (!v || out.size() == 4) return false;
    out.push_back(*v);
    if (dot == std::string_view::npos) break;
    i = dot + 1;
  }
  return true;
}

std::uint32_t pack(const std::vector<std::uint32_t>& o, std::uint32_t pad) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | (i < o.size() ? o[i] : pad);
  return v;
}

// An A value: "127.0.0.5", "5" (127.0.0. omitted), "0.5" (127.0. omitted).
std::optional<std::uint32_t> parse_a(std::string_view s) {
  std::vector<std::uint32_t> o;
  if (!parse_octets(s, o)) return std::nullopt;
  std::vector<std::uint32_t> full = {127, 0, 0, 0};
  std::copy(o.begin(), o.end(), full.end() - static_cast<std::ptrdiff_t>(o.size()));
  return pack(full, 0);
}

struct Value {
  std::optional<std::uint32_t> a;  // nullopt: the default
  bool has_txt = false;            // an explicit TXT (possibly "none")
  std::optional<std::string> txt;
};

// The part after the key: ":A:TXT", ":A", ":A:", "TXT", "# comment" or empty.
bool parse_value(std::string_view v, Value& out, std::string& error) {
  v = trim(v);
  out = Value{};
  if (v.empty() || v.front() == '#' || v.front() == ';') return true;
  if (v.front() != ':') {
    out.has_txt = true;
    out.txt = std::string(v);
    return true;
  }
  v.remove_prefix(1);
  const auto colon = v.find(':');
  const auto a_text = trim(v.substr(0, colon));
  if (!a_text.empty()) {
    out.a = parse_a(a_text);
    if (!out.a) {
      error = "bad A value '" + std::string(a_text) + "'";
      return false;
    }
  }
  if (colon != std::string_view::npos) {
    out.has_txt = true;
    const auto t = trim(v.substr(colon + 1));
    if (!t.empty()) out.txt = std::string(t);
  }
  return true;
}

// An ip4set key: CIDR, padded prefix or range, as prefixes.
bool ip4_key(std::string_view k, bool ranges, std::vector<core::IpPrefix>& out,
             std::string& error) {
  out.clear();
  std::vector<std::uint32_t> lo, hi;
  if (const auto slash = k.find('/'); slash != std::string_view::npos) {
    const auto len = parse_uint(k.substr(slash + 1), 32);
    if (!parse_octets(k.substr(0, slash), lo) || !len) {
      error = "bad prefix '" + std::string(k) + "'";
      return false;
    }
    const std::uint32_t addr = pack(lo, 0);
    const std::uint32_t mask = *len == 0 ? 0 : ~std::uint32_t{0} << (32 - *len);
    if ((addr & ~mask) != 0) {
      error = "host bits set in '" + std::string(k) + "' (rbldnsd ignores it without -e)";
      return false;
    }
    out.push_back(core::IpPrefix::v4(addr, static_cast<std::uint8_t>(*len)));
    return true;
  }
  if (const auto dash = k.find('-'); dash != std::string_view::npos) {
    if (!ranges) {
      error = "ranges are not allowed in this dataset type";
      return false;
    }
    if (!parse_octets(k.substr(0, dash), lo) || !parse_octets(k.substr(dash + 1), hi)) {
      error = "bad range '" + std::string(k) + "'";
      return false;
    }
    std::vector<std::uint32_t> upper = hi;
    if (hi.size() == 1) {  // replaces the last written octet of the lower bound
      upper = lo;
      upper.back() = hi[0];
    }
    const std::uint32_t a = pack(lo, 0), b = pack(upper, 255);
    if (a > b) {
      error = "empty range '" + std::string(k) + "'";
      return false;
    }
    out = range_to_prefixes(a, b);
    return true;
  }
  if (!parse_octets(k, lo)) {
    error = "bad address '" + std::string(k) + "'";
    return false;
  }
  out.push_back(core::IpPrefix::v4(pack(lo, 0), static_cast<std::uint8_t>(8 * lo.size())));
  return true;
}

// An ip6trie key: CIDR; trailing zero words may be dropped; a bare 4-word
// prefix is a /64.
bool ip6_key(std::string_view k, core::IpPrefix& out, std::string& error) {
  std::string addr(k);
  std::optional<std::uint32_t> len;
  if (const auto slash = k.find('/'); slash != std::string_view::npos) {
    addr = std::string(k.substr(0, slash));
    len = parse_uint(k.substr(slash + 1), 128);
    if (!len) {
      error = "bad prefix length in '" + std::string(k) + "'";
      return false;
    }
  }
  if (addr.find("::") == std::string::npos) {
    const auto groups = static_cast<std::size_t>(std::count(addr.begin(), addr.end(), ':')) + 1;
    if (!len) len = groups == 4 ? 64 : 128;
    if (groups < 8) addr += "::";
  } else if (!len) {
    len = 128;
  }
  const auto p = core::IpPrefix::parse(addr + "/" + std::to_string(*len));
  if (!p || p->is_v4()) {
    error = "bad IPv6 key '" + std::string(k) + "'";
    return false;
  }
  out = *p;
  return true;
}

}  // namespace

std::optional<DatasetType> parse_dataset_type(std::string_view s) {
  if (s == "ip4set") return DatasetType::ip4set;
  if (s == "ip4tset") return DatasetType::ip4tset;
  if (s == "ip4trie") return DatasetType::ip4trie;
  if (s == "ip6trie") return DatasetType::ip6trie;
  if (s == "dnset") return DatasetType::dnset;
  if (s == "combined") return DatasetType::combined;
  return std::nullopt;
}

std::vector<core::IpPrefix> range_to_prefixes(std::uint32_t lo, std::uint32_t hi) {
  std::vector<core::IpPrefix> out;
  std::uint64_t cur = lo;
  while (cur <= hi) {
    int len = 32;
    while (len > 0) {
      const std::uint64_t size = std::uint64_t{1} << (32 - (len - 1));
      if ((cur & (size - 1)) != 0 || cur + size - 1 > hi) break;
      --len;
    }
    out.push_back(
        core::IpPrefix::v4(static_cast<std::uint32_t>(cur), static_cast<std::uint8_t>(len)));
    cur += std::uint64_t{1} << (32 - len);
  }
  return out;
}

RbldnsdData parse_rbldnsd(std::string_view text, DatasetType type, std::string_view subzone) {
  RbldnsdData data;
  DatasetType current = type;
  bool active = type != DatasetType::combined;
  std::uint32_t default_a = 0x7f000002;
  std::optional<std::string> default_txt;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  auto problem = [&](std::string reason) { data.problems.push_back({line_no, std::move(reason)}); };
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line = trim(line);
    if (line.empty()) continue;
    // Specials: "$X", "#$X", ";$X", ":$X" (djbdns compatibility).
    std::string_view special;
    if (line.front() == '$') {
      special = line.substr(1);
    } else if (line.size() > 1 && (line[0] == '#' || line[0] == ';' || line[0] == ':') &&
               line[1] == '$') {
      special = line.substr(2);
    }
    if (!special.empty()) {
      const auto sp = special.find_first_of(" \t");
      const auto word = special.substr(0, sp);
      const auto args =
          sp == std::string_view::npos ? std::string_view() : trim(special.substr(sp));
      if (word == "DATASET" && type == DatasetType::combined) {
        const auto e = args.find_first_of(" \t");
        auto tname = args.substr(0, e);
        if (const auto c = tname.find(':'); c != std::string_view::npos) tname = tname.substr(0, c);
        const auto t = parse_dataset_type(tname);
        active = false;
        default_a = 0x7f000002;
        default_txt.reset();
        if (!t || *t == DatasetType::combined) {
          problem("dataset type '" + std::string(tname) + "' is not imported");
          continue;
        }
        current = *t;
        std::string_view zones = e == std::string_view::npos ? std::string_view() : args.substr(e);
        while (!(zones = trim(zones)).empty()) {
          const auto z_end = zones.find_first_of(" \t");
          if (zones.substr(0, z_end) == subzone) active = true;
          zones = z_end == std::string_view::npos ? std::string_view() : zones.substr(z_end);
        }
      } else if (word == "SOA" || word == "NS" || word == "TTL" || word == "MAXRANGE4" ||
                 word == "TIMESTAMP") {
        // Zone-level settings: the zone's TOML holds ours.
      } else {
        problem("special $" + std::string(word) + " is not supported (its text is kept literally)");
      }
      continue;
    }
    if (line.front() == '#' || line.front() == ';') continue;
    if (!active) continue;
    // The default A and TXT for the rest of the dataset.
    if (line.front() == ':') {
      Value v;
      std::string error;
      if (!parse_value(line, v, error)) {
        problem(error);
        continue;
      }
      if (v.a) default_a = *v.a;
      default_txt = v.has_txt ? v.txt : std::nullopt;
      continue;
    }
    bool excl = false;
    if (line.front() == '!') {
      excl = true;
      line.remove_prefix(1);
    }
    const auto key_end = line.find_first_of(" \t");
    const auto key = line.substr(0, key_end);
    const auto rest = key_end == std::string_view::npos ? std::string_view() : line.substr(key_end);
    Value v;
    std::string error;
    if (current == DatasetType::ip4tset || current == DatasetType::ip4set ||
        current == DatasetType::ip4trie) {
      // ip4tset takes no per-entry value.
    }
    if (current != DatasetType::ip4tset && !parse_value(rest, v, error)) {
      problem(error);
      continue;
    }
    RbldnsdEntry base;
    base.exclusion = excl;
    base.code = v.a.value_or(default_a);
    base.txt = v.has_txt ? v.txt : default_txt;
    base.line = line_no;
    switch (current) {
      case DatasetType::ip4set:
      case DatasetType::ip4tset:
      case DatasetType::ip4trie: {
        if (current == DatasetType::ip4tset && excl) {
          problem("ip4tset has no exclusions");
          continue;
        }
        std::vector<core::IpPrefix> prefixes;
        if (!ip4_key(key, current == DatasetType::ip4set, prefixes, error)) {
          problem(error);
          continue;
        }
        if (current == DatasetType::ip4tset && prefixes.front().family_length() != 32) {
          problem("ip4tset takes single addresses only");
          continue;
        }
        for (const auto& p : prefixes) {
          auto e = base;
          e.subject = p;
          data.entries.push_back(std::move(e));
        }
        break;
      }
      case DatasetType::ip6trie: {
        core::IpPrefix p;
        if (!ip6_key(key, p, error)) {
          problem(error);
          continue;
        }
        base.subject = p;
        data.entries.push_back(std::move(base));
        break;
      }
      case DatasetType::dnset: {
        std::string name(key);
        bool subtree = false;
        if (name.rfind("*.", 0) == 0) {
          name.erase(0, 2);
          subtree = true;
          problem("'" + std::string(key) + "' (subdomains only) is imported as '." + name +
                  "' (the domain and its subdomains)");
        } else if (!name.empty() && name.front() == '.') {
          name.erase(0, 1);
          subtree = true;
        }
        const auto d = core::DomainName::parse(name);
        if (!d || d->subtree) {
          problem("bad domain '" + std::string(key) + "'");
          continue;
        }
        base.subject = core::DomainName{d->name, subtree};
        data.entries.push_back(std::move(base));
        break;
      }
      case DatasetType::combined:
        break;
    }
  }
  data.lines = line_no;
  return data;
}

}  // namespace rblzone::importer
