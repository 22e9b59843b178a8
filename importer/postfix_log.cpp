// Postfix smtpd client lines (see postfix_log.hpp).
#include "importer/postfix_log.hpp"

#include <cstring>
#include <ctime>

#include "core/listing.hpp"

namespace rblzone::importer {
namespace {

int month_of(std::string_view m) {
  static const char* const names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    if (m == names[i]) return i;
  }
  return -1;
}

// "Nov 22 14:02:03" or "Nov  2 14:02:03".
std::optional<std::int64_t> syslog_time(std::string_view line, std::int64_t now) {
  if (line.size() < 15) return std::nullopt;
  const int mon = month_of(line.substr(0, 3));
  if (mon < 0 || line[3] != ' ') return std::nullopt;
  int day = 0, h = 0, mi = 0, s = 0;
  char buf[16];
  std::memcpy(buf, line.data() + 4, 11);
  buf[11] = 0;
  if (std::sscanf(buf, "%d %d:%d:%d", &day, &h, &mi, &s) != 4) return std::nullopt;
  const std::time_t tnow = static_cast<std::time_t>(now);
  std::tm cur{};
  gmtime_r(&tnow, &cur);
  for (int year = cur.tm_year + 1; year >= cur.tm_year - 1; --year) {
    std::tm tm{};
    tm.tm_year = year;
    tm.tm_mon = mon;
    tm.tm_mday = day;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    const auto t = static_cast<std::int64_t>(timegm(&tm));
    if (t <= now + 86400) return t;
  }
  return std::nullopt;
}

}  // namespace

PostfixLine parse_postfix_line(std::string_view line, std::int64_t now, SmtpdClient& out,
                               std::string& error) {
  const auto smtpd = line.find("/smtpd[");
  if (smtpd == std::string_view::npos) return PostfixLine::other;
  const auto client = line.find(": client=", smtpd);
  if (client == std::string_view::npos) return PostfixLine::other;
  out = SmtpdClient{};
  std::optional<std::int64_t> t;
  if (!line.empty() && line[0] >= '0' && line[0] <= '9') {
    // RFC 3339: "2026-11-22T14:02:03.123456+00:00 host ..."
    const auto sp = line.find(' ');
    std::string_view stamp = line.substr(0, sp);
    int offset = 0;
    if (stamp.size() > 19) {
      const auto rest = stamp.substr(19);
      const auto tz = rest.find_first_of("+-Z");
      if (tz != std::string_view::npos && rest[tz] != 'Z' && rest.size() >= tz + 6) {
        const int hh = (rest[tz + 1] - '0') * 10 + (rest[tz + 2] - '0');
        const int mm = (rest[tz + 4] - '0') * 10 + (rest[tz + 5] - '0');
        offset = (rest[tz] == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
      }
      stamp = stamp.substr(0, 19);
    }
    t = core::parse_utc(stamp);
    if (t) *t -= offset;
  } else {
    t = syslog_time(line, now);
  }
  if (!t) {
    error = "bad timestamp";
    return PostfixLine::bad;
  }
  out.time = *t;
  const auto open = line.find('[', client);
  const auto close = open == std::string_view::npos ? open : line.find(']', open);
  if (close == std::string_view::npos) {
    error = "client= without [address]";
    return PostfixLine::bad;
  }
  auto addr_text = line.substr(open + 1, close - open - 1);
  if (addr_text.size() > 5 && addr_text.substr(0, 5) == "IPv6:") addr_text.remove_prefix(5);
  const auto addr = core::IpPrefix::parse(addr_text);
  if (!addr || !addr->is_host()) {
    error = "bad client address '" + std::string(addr_text) + "'";
    return PostfixLine::bad;
  }
  out.address = *addr;
  if (const auto u = line.find("sasl_username=", close); u != std::string_view::npos) {
    auto user = line.substr(u + 14);
    const auto end = user.find_first_of(", \r");
    out.sasl_user = std::string(user.substr(0, end));
  }
  return PostfixLine::client;
}

}  // namespace rblzone::importer
