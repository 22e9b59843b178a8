// A listing: what is known about one listed subject in one zone, and its
// compact binary value layout (version 1), decodable without allocation.
//
// Value layout: u8 version=1 | u8 flags | u8 source | u8 ncodes |
//   ncodes x u32 code | i64 first_seen | i64 last_seen | i64 expires (0 =
//   permanent) | u32 offences | u16 reason length | reason bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rblzone::core {

enum class Source : std::uint8_t { trap = 0, report = 1, manual = 2, import = 3 };
std::string_view to_string(Source s);
std::optional<Source> parse_source(std::string_view s);

inline constexpr std::uint8_t kFlagExclusion = 1;  // "not listed", stops a shorter match
inline constexpr std::uint8_t kFlagSubtree = 2;    // domain listing covers its subdomains

struct Listing {
  std::vector<std::uint32_t> codes;  // host order, 127.0.0.0/8
  std::uint8_t flags = 0;
  Source source = Source::manual;
  std::int64_t first_seen = 0;  // unix seconds
  std::int64_t last_seen = 0;
  std::int64_t expires = 0;  // unix seconds; 0 = permanent
  std::uint32_t offences = 0;
  std::string reason;

  bool exclusion() const { return (flags & kFlagExclusion) != 0; }
  bool permanent() const { return expires == 0; }
  // Expired listings are absent to the second: listed while now < expires.
  bool active_at(std::int64_t now) const { return expires == 0 || now < expires; }

  std::string encode() const;
  static std::optional<Listing> decode(std::string_view value);
  friend bool operator==(const Listing&, const Listing&) = default;
};

// A zero-copy view of an encoded listing for the DNS path. Valid while the
// bytes it views are (until the read transaction resets).
class ListingView {
 public:
  // False for a value that is too short or of another version.
  bool parse(std::string_view value);
  std::uint8_t flags() const { return flags_; }
  bool exclusion() const { return (flags_ & kFlagExclusion) != 0; }
  std::int64_t expires() const { return expires_; }
  bool active_at(std::int64_t now) const { return expires_ == 0 || now < expires_; }
  std::size_t code_count() const { return ncodes_; }
  std::uint32_t code(std::size_t i) const;
  std::string_view reason() const { return reason_; }
  Source source() const { return source_; }

 private:
  const unsigned char* codes_ = nullptr;
  std::size_t ncodes_ = 0;
  std::uint8_t flags_ = 0;
  Source source_ = Source::manual;
  std::int64_t expires_ = 0;
  std::string_view reason_;
};

std::string code_to_string(std::uint32_t code);

// Unix seconds as "2026-11-22T14:02:00Z".
std::string format_utc(std::int64_t unix_seconds);
// "2026-11-22T14:02:00Z", "2026-11-22T14:02:00", "2026-11-22 14:02:00" (UTC)
// or unix seconds; nullopt for anything else.
std::optional<std::int64_t> parse_utc(std::string_view text);
std::optional<std::uint32_t> parse_code(std::string_view text);

}  // namespace rblzone::core
