// Subjects of a listing: an IPv4/IPv6 address or CIDR prefix, or a domain
// (alone or with all its subdomains). Parsing is strict; formatting is canonical.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace rblzone::core {

// An IP prefix held as 128 bits. IPv4 lives in the IPv4-mapped range
// ::ffff:0:0/96, so an IPv4 /24 is stored with length 96+24 = 120. The host
// bits below `length` are always zero (invariant kept by every constructor).
class IpPrefix {
 public:
  using Bytes = std::array<std::uint8_t, 16>;

  IpPrefix() = default;
  // Masks `addr` to `length` bits; `length` is 0..128.
  IpPrefix(const Bytes& addr, std::uint8_t length);

  static IpPrefix v4(std::uint32_t host_order_addr, std::uint8_t v4_length);

  // "192.0.2.1", "192.0.2.0/24", "2001:db8::/32", "::ffff:192.0.2.1".
  // A v4-mapped IPv6 form is canonicalised to IPv4. Host bits set below the
  // length are an error ("192.0.2.1/24"), as are /33 and /129.
  static std::optional<IpPrefix> parse(std::string_view text, std::string* error = nullptr);

  const Bytes& bytes() const { return addr_; }
  std::uint8_t length() const { return length_; }
  bool is_v4() const;  // inside ::ffff:0:0/96 with length >= 96
  std::uint8_t family_length() const { return is_v4() ? length_ - 96 : length_; }
  bool is_host() const { return length_ == 128; }
  std::uint32_t v4_addr() const;  // host order; only when is_v4()

  bool contains(const IpPrefix& other) const;
  bool contains(const Bytes& addr) const;

  std::string to_string() const;  // canonical, "/len" omitted for hosts

  friend bool operator==(const IpPrefix&, const IpPrefix&) = default;

 private:
  Bytes addr_{};
  std::uint8_t length_ = 0;
};

// The number of leading bits two addresses share (0..128).
int common_prefix_bits(const IpPrefix::Bytes& a, const IpPrefix::Bytes& b);

// A lowercase domain without the trailing dot, every label 1..63 of
// letters, digits, '-' or '_' (A-labels for IDNs), 253 characters at most.
struct DomainName {
  std::string name;
  bool subtree = false;  // also lists every name below it
  friend bool operator==(const DomainName&, const DomainName&) = default;

  // "spammer.example" (exact) or "*.spammer.example"/".spammer.example"
  // (the domain and all its subdomains).
  static std::optional<DomainName> parse(std::string_view text, std::string* error = nullptr);
  std::string to_string() const { return subtree ? "*." + name : name; }
};

using Subject = std::variant<IpPrefix, DomainName>;

enum class SubjectKind { ip, domain };

// Parses an address, prefix or domain. An IP-looking string is never a domain.
std::optional<Subject> parse_subject(std::string_view text, std::string* error = nullptr);
std::string to_string(const Subject& s);
inline SubjectKind kind_of(const Subject& s) {
  return std::holds_alternative<IpPrefix>(s) ? SubjectKind::ip : SubjectKind::domain;
}

// True for addresses and prefixes overlapping special-purpose space that no
// listing should touch without an override (RFC 6890 ranges; R60).
bool is_special_purpose(const IpPrefix& p);

}  // namespace rblzone::core
