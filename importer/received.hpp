// Received headers: which relay handed a trap message to the operator's own
// mail system. Parses the "from" clause as Postfix, Exim, Sendmail, Exchange
// and Gmail write it, and walks the hops from the newest down, past the
// operator's trusted relays, to the first untrusted one.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/subject.hpp"

namespace rblzone::importer {

// One Received header's "from" clause.
struct Hop {
  bool has_from = false;                  // false: a local injection ("by x; date")
  std::optional<core::IpPrefix> address;  // the connecting client, as our relay saw it
  std::string rdns;  // the client's name as the receiving host looked it up ("" if unknown);
                     // never the HELO, which the client chooses
};

// Parses one header value (folded or not). A "from" clause without a usable
// address gives has_from true and no address.
Hop parse_received(std::string_view value);

// The operator's own hops: MX, relays, filters.
struct TrustedHops {
  std::vector<core::IpPrefix> prefixes;
  std::vector<std::string> hosts;  // lowercase; "mx.example.org" or ".example.org" (suffix)
  bool trusts(const Hop& h) const;
};

struct WalkResult {
  std::optional<core::IpPrefix> relay;  // the first untrusted relay
  std::string problem;                  // why there is none
};

// `received` in header order (newest first). Headers without a "from" clause
// are passed over; the first hop that is not trusted is the answer, and
// nothing below it is read (the sender writes what it likes there).
WalkResult first_untrusted(const std::vector<std::string>& received, const TrustedHops& trusted);

}  // namespace rblzone::importer
