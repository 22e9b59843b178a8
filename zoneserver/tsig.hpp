// TSIG (RFC 8945) with HMAC-SHA256: finding and verifying the TSIG record of
// a request, signing responses (one message, or each message of a TCP
// transfer chained to the one before), signing a NOTIFY and verifying its
// answer. The key comes from a zone's [transfer.tsig] (core/config.hpp).
// Nothing here logs; nothing here ever puts the secret in a string that
// leaves this file except as a MAC.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "zoneserver/answerer.hpp"
#include "zoneserver/wire.hpp"

namespace rblzone::zoneserver::tsig {

// TSIG error codes (RFC 8945 section 3), carried in the TSIG record; the
// message's RCODE is then NOTAUTH.
inline constexpr std::uint16_t kBadSig = 16, kBadKey = 17, kBadTime = 18;
// What our signatures allow for clock skew, in seconds.
inline constexpr std::uint16_t kFudge = 300;

// The TSIG record at the end of a message. Names are in canonical wire form
// (lowercase, uncompressed).
struct Record {
  std::size_t offset = 0;  // where the record starts: the message without it is [0, offset)
  std::string key_name;
  std::string algorithm;
  std::uint64_t time_signed = 0;  // 48 bits
  std::uint16_t fudge = 0;
  std::string mac;
  std::uint16_t original_id = 0;
  std::uint16_t error = 0;
  std::string other;
};

enum class Found {
  none,       // no TSIG record
  found,      // one, the last record of the additional section
  malformed,  // a TSIG elsewhere, twice, or cut short (FORMERR)
};

// Looks for the TSIG record. Cheap when ARCOUNT is zero.
Found find(const std::uint8_t* msg, std::size_t size, Record& out);

// A key name or algorithm ("hmac-sha256") in canonical wire form.
std::string name_wire(std::string_view text);

// Checks a request's TSIG against `key` (nullptr: the zone has none) at
// `now` (unix seconds), in the order of RFC 8945 section 5.2: key and
// algorithm (BADKEY), MAC (BADSIG; only the full 32-byte MAC is taken),
// time within the request's fudge (BADTIME). 0: good.
std::uint16_t verify_request(const std::uint8_t* msg, const Record& rec,
                             const core::TsigKeyConfig* key, std::int64_t now);

// Signs the messages answering one request (or one NOTIFY request when
// constructed without a request MAC): the first message's MAC covers the
// request's MAC, the message and all TSIG variables; each later one covers
// the MAC before it, the message and the timers (RFC 8945 section 5.3.1).
class Signer {
 public:
  // `request_mac` nullopt: signing a request (no prior MAC at all).
  Signer(const core::TsigKeyConfig& key, std::optional<std::string> request_mac,
         std::uint64_t time_signed);
  // Appends the TSIG record to `msg` (a whole DNS message without one) and
  // increments its ARCOUNT.
  void sign(std::string& msg, std::uint16_t error = 0, std::string_view other = {});
  const std::string& last_mac() const { return prior_; }

 private:
  std::string key_name_;
  std::string algorithm_;
  std::string secret_;
  std::optional<std::string> prior_mac_;
  std::string prior_;
  std::uint64_t time_ = 0;
  bool first_ = true;
};

// Appends an unsigned TSIG record (MAC size 0) carrying `error` to `msg`,
// named after the request's key: the answer to BADKEY and BADSIG.
void append_unsigned(std::string& msg, const Record& request, std::uint16_t error);

// The answer to a request that failed verification with `error`: header and
// question of the request, RCODE NOTAUTH, and the TSIG record (signed for
// BADTIME, with our time in Other Data; unsigned otherwise).
std::string error_response(const std::uint8_t* msg, const Record& request,
                           const core::TsigKeyConfig* key, std::uint16_t error, std::int64_t now);

// Verifies the answer to a request we signed with `request_mac` (a NOTIFY
// acknowledgement): true when it carries a TSIG with our key, no error, a
// good MAC, and a time within its fudge.
bool verify_response(const std::uint8_t* msg, std::size_t size, const core::TsigKeyConfig& key,
                     std::string_view request_mac, std::int64_t now);

// answer() for a query that may carry a TSIG. Without one: answer(). With
// one: verified against the [transfer.tsig] key of the zone the question
// names; a good one gets answer()'s answer to the query without it, signed;
// a bad one gets NOTAUTH with the TSIG error. For the SOA queries
// secondaries sign before an IXFR.
Outcome answer_signed(const std::uint8_t* query, std::size_t size, const Client& client,
                      const ZoneCatalog& catalog, Snapshot& snapshot, std::int64_t now,
                      const AnswerOptions& options, wire::Writer& out, QueryStats* stats,
                      Matched* matched = nullptr);

}  // namespace rblzone::zoneserver::tsig
