// Parsing and formatting of listing subjects (addresses, prefixes, domains).
#include "core/subject.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>

namespace rblzone::core {
namespace {

constexpr std::uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::uint64_t load_be64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

void store_be64(std::uint8_t* p, std::uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}

// Clears the bits below `length`, as two 64-bit words (this is on the DNS path).
void mask_to(IpPrefix::Bytes& addr, std::uint8_t length) {
  const auto mask = [](int bits) -> std::uint64_t {
    if (bits <= 0) return 0;
    if (bits >= 64) return ~std::uint64_t{0};
    return ~std::uint64_t{0} << (64 - bits);
  };
  store_be64(addr.data(), load_be64(addr.data()) & mask(length));
  store_be64(addr.data() + 8, load_be64(addr.data() + 8) & mask(length - 64));
}

bool fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return false;
}

}  // namespace

IpPrefix::IpPrefix(const Bytes& addr, std::uint8_t length) : addr_(addr), length_(length) {
  mask_to(addr_, length_);
}

IpPrefix IpPrefix::v4(std::uint32_t host_order_addr, std::uint8_t v4_length) {
  Bytes b{};
  std::memcpy(b.data(), kV4MappedPrefix, 12);
  b[12] = static_cast<std::uint8_t>(host_order_addr >> 24);
  b[13] = static_cast<std::uint8_t>(host_order_addr >> 16);
  b[14] = static_cast<std::uint8_t>(host_order_addr >> 8);
  b[15] = static_cast<std::uint8_t>(host_order_addr);
  return IpPrefix(b, static_cast<std::uint8_t>(96 + v4_length));
}

bool IpPrefix::is_v4() const {
  return length_ >= 96 && std::memcmp(addr_.data(), kV4MappedPrefix, 12) == 0;
}

std::uint32_t IpPrefix::v4_addr() const {
  return (std::uint32_t{addr_[12]} << 24) | (std::uint32_t{addr_[13]} << 16) |
         (std::uint32_t{addr_[14]} << 8) | std::uint32_t{addr_[15]};
}

int common_prefix_bits(const IpPrefix::Bytes& a, const IpPrefix::Bytes& b) {
  const std::uint64_t hi = load_be64(a.data()) ^ load_be64(b.data());
  if (hi != 0) return std::countl_zero(hi);
  const std::uint64_t lo = load_be64(a.data() + 8) ^ load_be64(b.data() + 8);
  return lo != 0 ? 64 + std::countl_zero(lo) : 128;
}

bool IpPrefix::contains(const Bytes& addr) const {
  return common_prefix_bits(addr_, addr) >= length_;
}

bool IpPrefix::contains(const IpPrefix& other) const {
  return other.length_ >= length_ && contains(other.addr_);
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text, std::string* error) {
  std::string_view addr_text = text;
  std::optional<int> len;
  if (const auto slash = text.find('/'); slash != std::string_view::npos) {
    addr_text = text.substr(0, slash);
    const auto len_text = text.substr(slash + 1);
    int v = -1;
    const auto [p, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), v);
    if (len_text.empty() || len_text.size() > 3 || ec != std::errc() ||
        p != len_text.data() + len_text.size()) {
      fail(error, "bad prefix length in '" + std::string(text) + "'");
      return std::nullopt;
    }
    len = v;
  }
  if (addr_text.empty() || addr_text.size() > INET6_ADDRSTRLEN) {
    fail(error, "not an IP address: '" + std::string(text) + "'");
    return std::nullopt;
  }
  const std::string s(addr_text);
  Bytes b{};
  IpPrefix result;
  in_addr v4{};
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), &v4) != 1) {
      fail(error, "not an IPv4 address: '" + s + "'");
      return std::nullopt;
    }
    const int l = len.value_or(32);
    if (l < 0 || l > 32) {
      fail(error, "IPv4 prefix length must be 0..32, got /" + std::to_string(l));
      return std::nullopt;
    }
    std::memcpy(b.data(), kV4MappedPrefix, 12);
    std::memcpy(b.data() + 12, &v4, 4);
    result = IpPrefix(b, static_cast<std::uint8_t>(96 + l));
  } else {
    if (inet_pton(AF_INET6, s.c_str(), b.data()) != 1) {
      fail(error, "not an IPv6 address: '" + s + "'");
      return std::nullopt;
    }
    const int l = len.value_or(128);
    if (l < 0 || l > 128) {
      fail(error, "IPv6 prefix length must be 0..128, got /" + std::to_string(l));
      return std::nullopt;
    }
    result = IpPrefix(b, static_cast<std::uint8_t>(l));
  }
  if (result.bytes() != b) {
    fail(error,
         "host bits set in '" + std::string(text) + "' (did you mean " + result.to_string() + "?)");
    return std::nullopt;
  }
  return result;
}

std::string IpPrefix::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  std::string out;
  if (is_v4()) {
    inet_ntop(AF_INET, addr_.data() + 12, buf, sizeof buf);
    out = buf;
    if (length_ != 128) out += "/" + std::to_string(length_ - 96);
  } else {
    inet_ntop(AF_INET6, addr_.data(), buf, sizeof buf);
    out = buf;
    if (length_ != 128) out += "/" + std::to_string(length_);
  }
  return out;
}

std::optional<DomainName> DomainName::parse(std::string_view text, std::string* error) {
  DomainName d;
  if (text.starts_with("*.")) {
    d.subtree = true;
    text.remove_prefix(2);
  } else if (text.starts_with(".")) {
    d.subtree = true;
    text.remove_prefix(1);
  }
  if (text.ends_with('.')) text.remove_suffix(1);
  if (text.empty() || text.size() > 253) {
    fail(error, "domain must be 1..253 characters: '" + std::string(text) + "'");
    return std::nullopt;
  }
  std::size_t label_len = 0;
  for (const char c : text) {
    if (c == '.') {
      if (label_len == 0) {
        fail(error, "empty label in '" + std::string(text) + "'");
        return std::nullopt;
      }
      label_len = 0;
      d.name.push_back('.');
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) {
      fail(error, "invalid character in domain '" + std::string(text) + "'");
      return std::nullopt;
    }
    if (++label_len > 63) {
      fail(error, "label longer than 63 in '" + std::string(text) + "'");
      return std::nullopt;
    }
    d.name.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
  }
  if (label_len == 0) {
    fail(error, "empty label in '" + std::string(text) + "'");
    return std::nullopt;
  }
  return d;
}

std::optional<Subject> parse_subject(std::string_view text, std::string* error) {
  const bool ip_like =
      text.find(':') != std::string_view::npos || text.find('/') != std::string_view::npos ||
      (!text.empty() && std::all_of(text.begin(), text.end(),
                                    [](char c) { return (c >= '0' && c <= '9') || c == '.'; }));
  if (ip_like) {
    if (auto p = IpPrefix::parse(text, error)) return Subject{*p};
    return std::nullopt;
  }
  if (auto d = DomainName::parse(text, error)) return Subject{*d};
  return std::nullopt;
}

std::string to_string(const Subject& s) {
  if (const auto* p = std::get_if<IpPrefix>(&s)) return p->to_string();
  return std::get<DomainName>(s).to_string();
}

bool is_special_purpose(const IpPrefix& p) {
  static const char* const kV4Ranges[] = {"0.0.0.0/8",      "10.0.0.0/8",     "100.64.0.0/10",
                                          "127.0.0.0/8",    "169.254.0.0/16", "172.16.0.0/12",
                                          "192.168.0.0/16", "224.0.0.0/4",    "240.0.0.0/4"};
  // ::/8 would swallow the IPv4-mapped space, so IPv6 ranges apply to IPv6 only.
  static const char* const kV6Ranges[] = {"::/8", "fe80::/10", "fc00::/7"};
  if (p.is_v4()) {
    for (const char* r : kV4Ranges) {
      const auto range = IpPrefix::parse(r);
      if (range && (range->contains(p) || p.contains(*range))) return true;
    }
    return false;
  }
  for (const char* r : kV6Ranges) {
    const auto range = IpPrefix::parse(r);
    if (range && (range->contains(p) || p.contains(*range))) return true;
  }
  return false;
}

}  // namespace rblzone::core
