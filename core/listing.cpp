// Listing encoding and decoding (layout in listing.hpp).
#include "core/listing.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <ctime>

#include "core/byte_order.hpp"

namespace rblzone::core {
namespace {
constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kFixedTail = 8 + 8 + 8 + 4 + 2;
}  // namespace

std::string_view to_string(Source s) {
  switch (s) {
    case Source::trap:
      return "trap";
    case Source::report:
      return "report";
    case Source::manual:
      return "manual";
    case Source::import:
      return "import";
  }
  return "unknown";
}

std::optional<Source> parse_source(std::string_view s) {
  if (s == "trap") return Source::trap;
  if (s == "report") return Source::report;
  if (s == "manual") return Source::manual;
  if (s == "import") return Source::import;
  return std::nullopt;
}

std::string Listing::encode() const {
  std::string out;
  out.reserve(4 + codes.size() * 4 + kFixedTail + reason.size());
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>(flags));
  out.push_back(static_cast<char>(source));
  out.push_back(static_cast<char>(std::min<std::size_t>(codes.size(), 255)));
  for (std::size_t i = 0; i < codes.size() && i < 255; ++i) put_be(out, codes[i]);
  put_be(out, first_seen);
  put_be(out, last_seen);
  put_be(out, expires);
  put_be(out, offences);
  const auto n = std::min<std::size_t>(reason.size(), 0xffff);
  put_be(out, static_cast<std::uint16_t>(n));
  out.append(reason, 0, n);
  return out;
}

std::optional<Listing> Listing::decode(std::string_view value) {
  ListingView v;
  if (!v.parse(value)) return std::nullopt;
  Listing l;
  l.flags = v.flags();
  l.source = v.source();
  for (std::size_t i = 0; i < v.code_count(); ++i) l.codes.push_back(v.code(i));
  const std::size_t tail = 4 + v.code_count() * 4;
  l.first_seen = get_be<std::int64_t>(value, tail);
  l.last_seen = get_be<std::int64_t>(value, tail + 8);
  l.expires = v.expires();
  l.offences = get_be<std::uint32_t>(value, tail + 24);
  l.reason = std::string(v.reason());
  return l;
}

bool ListingView::parse(std::string_view value) {
  if (value.size() < 4 || static_cast<std::uint8_t>(value[0]) != kVersion) return false;
  flags_ = static_cast<std::uint8_t>(value[1]);
  source_ = static_cast<Source>(static_cast<std::uint8_t>(value[2]));
  ncodes_ = static_cast<std::uint8_t>(value[3]);
  const std::size_t tail = 4 + ncodes_ * 4;
  if (value.size() < tail + kFixedTail) return false;
  codes_ = reinterpret_cast<const unsigned char*>(value.data()) + 4;  // NOLINT
  expires_ = get_be<std::int64_t>(value, tail + 16);
  const auto n = get_be<std::uint16_t>(value, tail + 28);
  if (value.size() < tail + kFixedTail + n) return false;
  reason_ = value.substr(tail + kFixedTail, n);
  return true;
}

std::uint32_t ListingView::code(std::size_t i) const {
  return get_be<std::uint32_t>(codes_ + i * 4);
}

std::string code_to_string(std::uint32_t code) {
  return std::to_string(code >> 24) + "." + std::to_string((code >> 16) & 0xff) + "." +
         std::to_string((code >> 8) & 0xff) + "." + std::to_string(code & 0xff);
}

std::string format_utc(std::int64_t unix_seconds) {
  const std::time_t tt = unix_seconds;
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<std::uint32_t> parse_code(std::string_view text) {
  const std::string s(text);
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  const std::uint32_t code = ntohl(a.s_addr);
  if ((code >> 24) != 127) return std::nullopt;
  return code;
}

}  // namespace rblzone::core

namespace rblzone::core {

std::optional<std::int64_t> parse_utc(std::string_view text) {
  if (text.empty() || text.size() > 32) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) {
    std::int64_t v = 0;
    const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
    return v;
  }
  std::tm tm{};
  const std::string s(text);
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) end = strptime(s.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
  if (!end || !(std::string_view(end) == "" || std::string_view(end) == "Z")) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace rblzone::core
