// Postfix mail.log: the smtpd "client=" line each accepted message leaves,
// with its client address and SASL login, for the outbound-volume watch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/subject.hpp"

namespace rblzone::importer {

struct SmtpdClient {
  std::int64_t time = 0;
  core::IpPrefix address;
  std::string sasl_user;  // empty when not authenticated
};

enum class PostfixLine { client, other, bad };

// Parses one syslog line: traditional ("Nov 22 14:02:03 host postfix/smtpd[1]:
// 4Xyz: client=name[203.0.113.5], sasl_method=PLAIN, sasl_username=u") or
// RFC 3339 timestamps. A traditional timestamp has no year: the one that puts
// the time closest before `now` (plus a day's slack) is taken.
PostfixLine parse_postfix_line(std::string_view line, std::int64_t now, SmtpdClient& out,
                               std::string& error);

}  // namespace rblzone::importer
