// The listing lifecycle (DESIGN.md "Listing lifecycle"): reports and their
// weights, thresholds, automatic expiry, escalation for repeat offenders,
// the abuse desk's manual listings, delist requests, the allowlist and
// point-in-time history. Every way a listing changes (a trap, a report, a
// person, an importer) goes through here, so the same rules apply and the
// same history is left. The clock is the store's (injected in tests).
//
// Records in the `aux` database (see schema.hpp), SK = subject_key():
//   'r' SK 0xff | time i64 | hash8  -> report, binary (format 1):
//        u8 1 | u8 trust (0 trap, 1 trusted, 2 untrusted) | u8 allowlisted |
//        u64 weight (IEEE 754 bits) | str reporter | str detail | str reason |
//        str evidence | str actor            (str = u32 length + bytes)
//      or, written before format 1, a JSON object (first byte '{': reporter,
//      detail, trust, weight, reason, evidence, allowlisted, actor); both are
//      read everywhere, only the binary form is written.
//      hash8 = the first 8 bytes of SHA-256(reporter \n detail \n reason \n
//      evidence): the same report in the same second is stored once.
//   's' SK                          -> window summary of the reports, binary:
//        u8 1 | u64 floor | u32 n | n x (str reporter | u32 m |
//        m x (u64 time, u64 weight bits))
//      For every reporter (sorted by name, as the sum is taken) the reports
//      not outweighed by a later one of at least the same weight (times
//      ascending, weights strictly descending), among the non-allowlisted
//      reports whose time (as u64, the key's order) is >= floor. It answers
//      "the weight in the window" for any window start >= floor without
//      reading the reports; a start below floor (the clock went back), an
//      overwritten report or trimmed reports rebuild it from the reports.
//      A derived cache: deleting it is always safe.
//   'o' SK                          -> offence, binary (format 1): u8 1 |
//        u64 score (IEEE 754 bits) | i64 updated | u32 penalty | u32 count |
//        i64 cleared; or, written before format 1, JSON with those names
//   'a' SK                          -> allowlist entry JSON (reason, actor, time)
//   'd' id                          -> delist request JSON
//   'q' status u8 | rank u64 | id   -> empty: the delist requests' index
//        (core/delist_index.hpp). status: 0 pending, 1 approved, 2 denied,
//        3 not_listed; rank = ~(created as u64 with its sign bit flipped),
//        so a forward walk of one status's range is created descending,
//        then id ascending (the order of the desk's list). One entry per
//        'd' record, written and deleted in the same transaction as it;
//        meta "delist_count:STATUS" -> u64 counts the entries per status.
//        meta "delist_indexed" -> u8 1 says every record has its entry:
//        opening a store without it (written by an older build) builds
//        the index and counters in one write transaction.
//   'p' SK                          -> id of the pending delist request
//   'i' ...                         -> importer cursors, imported-message markers,
//                                      volume counts and whole-file import
//                                      entries (importer/cursor.hpp)
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/store.hpp"

namespace rblzone::core {

enum class Role : std::uint8_t { admin, desk, reporter, importer };
std::string_view to_string(Role r);
std::optional<Role> parse_role(std::string_view s);

// How much a reporter is trusted; the zone's policy gives each its weight.
enum class Trust : std::uint8_t { trap, trusted, untrusted };
std::string_view to_string(Trust t);
std::optional<Trust> parse_trust(std::string_view s);

// Who acts: "token:desk-1" with its role, "cli:root" (admin), "public".
struct Actor {
  std::string id;
  Role role = Role::admin;
};

// A refusal by the rules, with a stable code for the API.
class PolicyError : public std::runtime_error {
 public:
  PolicyError(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

struct Report {
  Subject subject;               // one address or one domain
  Trust trust = Trust::trusted;  // from the reporter's token
  std::string reporter;          // identity for "one reporter counts once": the token
  std::string detail;    // the feed's own label below the token (a trap, an end user): shown to
                         // the desk, never an identity of its own (it is self-declared)
  std::string reason;    // private: never shown publicly
  std::string evidence;  // private
  std::optional<double> weight;      // overrides the trust's weight (a feed's own scale)
  std::optional<std::int64_t> time;  // when it happened; default now, never later than now
};

enum class ReportResult {
  listed,       // this report made the subject listed
  extended,     // already listed automatically: the expiry moved on
  recorded,     // kept, below the threshold
  allowlisted,  // kept, never lists
  reserved,     // special-purpose address space: kept, never lists automatically
  manual,       // a manual, imported or exclusion entry stands: kept, not changed
};
std::string_view to_string(ReportResult r);

struct ReportOutcome {
  ReportResult result = ReportResult::recorded;
  double window_weight = 0;        // weights counted toward the threshold
  std::optional<Listing> listing;  // the listing after the report, if any
};

struct StoredReport {
  std::int64_t time = 0;
  std::string reporter;
  std::string detail;
  Trust trust = Trust::trusted;
  double weight = 0;
  std::string reason;
  std::string evidence;
  bool allowlisted = false;
};

struct Offence {
  double score = 0;  // as of `updated`; decays with the zone's half-life
  std::int64_t updated = 0;
  std::uint32_t penalty = 0;  // seconds: the duration of the current automatic listing
  std::uint32_t count = 0;    // offences ever
  std::int64_t cleared = 0;   // last delisting; reports before it no longer count
};

struct ManualListing {
  std::string reason;                    // required
  std::optional<std::string> code;       // "127.0.0.4" or a name from the zone's [codes]
  std::optional<std::int64_t> duration;  // seconds; default the zone's base_duration
  bool permanent = false;
  bool exclusion = false;        // "never listed" inside a listed range
  bool override_checks = false;  // broad or special-purpose prefixes; admin only
};

struct DelistRequest {
  std::string id;
  std::string zone;
  std::string subject;      // as asked
  std::string matched;      // the listing it concerns (a covering prefix, a parent domain)
  std::string contact;      // private
  std::string explanation;  // private
  std::string requester;    // client address, private
  std::string status;       // pending, approved, denied, not_listed
  bool self_service = false;
  std::int64_t created = 0;
  std::int64_t decided = 0;
  std::string decided_by;
  std::string decision_reason;

  nlohmann::json to_json(bool with_private) const;
};

// A position in the delist requests' newest-first order, for paging. Its
// text form ("CREATED.ID") is opaque to clients.
struct DelistCursor {
  std::int64_t created = 0;
  std::string id;

  std::string to_string() const;
  // nullopt for anything to_string() could not have made.
  static std::optional<DelistCursor> parse(std::string_view text);
};

struct DelistPage {
  std::vector<DelistRequest> requests;
  std::optional<DelistCursor> next;  // none: this was the last page
};

// The state of a subject at a time, from history alone.
struct PointInTime {
  bool listed = false;
  std::string matched;               // the listing that decided it
  std::optional<Listing> listing;    // as it was then
  std::optional<HistoryEvent> why;   // the event that put it in that state
  std::vector<HistoryEvent> events;  // every event of the matched subject (or the subject)
};

// The active listing that makes a subject listed now, as DNS matches it:
// the longest active prefix around an address (none if an exclusion wins),
// a prefix exactly, the longest listed suffix of a domain.
struct ActiveMatch {
  Subject matched;
  Listing listing;
};
std::optional<ActiveMatch> active_match(const Store& store, const ReadTxn& txn, const ZoneRef& zone,
                                        const Subject& s, std::int64_t now);

// True for the RFC 5782 test points (127.0.0.1, 127.0.0.2, their IPv6
// forms, TEST and INVALID): answered by DNS itself, never stored.
bool is_test_point(const Subject& s);

// What every report of one write transaction would otherwise look up again
// (the zone's id, its allowlist parsed) and buffers reused between reports.
// Make one inside the write transaction and pass it to every report of that
// transaction; do not change the allowlist in between.
class ReportBatch {
 public:
  ReportBatch() = default;

 private:
  friend class Policy;
  std::optional<ZoneRef> ref_;
  const ZoneConfig* zone_ = nullptr;
  std::vector<std::pair<Subject, std::string>> allow_;  // config then stored entries
  std::string key_, value_;
};

class Policy {
 public:
  explicit Policy(Store& store) : store_(store) {}

  ReportOutcome report(WriteTxn& txn, const ZoneConfig& zone, const Report& r, const Actor& actor);
  // The same, for many reports in one transaction (the importer's batches).
  ReportOutcome report(WriteTxn& txn, const ZoneConfig& zone, const Report& r, const Actor& actor,
                       ReportBatch& batch);
  // Many reports in one transaction, as if each went through report() in
  // the order given (same listings, reports, offences, per-subject history
  // and journal entries, same outcomes), but worked subject by subject in
  // key order: a subject's offence, summary and listing are read once and
  // written once, and the B-trees are walked in order. The clock is read
  // once. Only the interleaving of different subjects' history sequence
  // numbers and journal serials inside the transaction differs, which no
  // reader sees (the transaction commits as one). A report the rules refuse
  // gets its PolicyError in `error` and changes nothing, as report() would.
  struct ManyOutcome {
    ReportOutcome outcome;
    std::optional<PolicyError> error;
  };
  std::vector<ManyOutcome> report_many(WriteTxn& txn, const ZoneConfig& zone,
                                       const std::vector<Report>& reports, const Actor& actor,
                                       ReportBatch& batch);

  // The abuse desk lists by hand. Throws PolicyError: test_point,
  // allowlisted, needs_override (broad or special-purpose without the
  // override), forbidden (an override by a non-admin), bad_code.
  Listing list(WriteTxn& txn, const ZoneConfig& zone, const Subject& s, const ManualListing& m,
               const Actor& actor);
  // Removes exactly `s`. Throws PolicyError not_listed (with the covering
  // listing named, if any).
  Listing unlist(WriteTxn& txn, const ZoneConfig& zone, const Subject& s, const std::string& reason,
                 const Actor& actor);

  // A public delist request. Throws PolicyError test_point.
  DelistRequest request_delist(WriteTxn& txn, const ZoneConfig& zone, const Subject& s,
                               const std::string& contact, const std::string& explanation,
                               const std::string& requester);
  std::optional<DelistRequest> delist_request(const ReadTxn& txn, std::string_view id) const;
  // A page of requests, newest first (created descending, then id
  // ascending), optionally only those with `status` (another string: none):
  // at most `limit`, strictly after `before` in that order. `next` is the
  // cursor of the following page, none after the last. Walks the index
  // only: O(limit), whatever the store holds.
  DelistPage delist_requests(const ReadTxn& txn, std::optional<std::string_view> status,
                             std::size_t limit,
                             const std::optional<DelistCursor>& before = std::nullopt) const;
  // Every request, newest first: O(all). For tools and tests; a request
  // path takes pages.
  std::vector<DelistRequest> delist_requests(const ReadTxn& txn,
                                             std::optional<std::string_view> status) const;
  // Requests on record with `status` (all of them when nullopt), from the
  // counters: O(1).
  std::uint64_t delist_count(const ReadTxn& txn, std::optional<std::string_view> status) const;
  // The desk decides a pending request. Throws PolicyError not_found,
  // not_pending.
  DelistRequest decide(WriteTxn& txn, const ZoneConfig& zone, std::string_view id, bool approve,
                       const std::string& reason, const Actor& actor);

  // The allowlist (admin): what must never be listed. Adding removes the
  // listings it covers.
  void allow(WriteTxn& txn, const ZoneConfig& zone, const Subject& s, const std::string& reason,
             const Actor& actor);
  bool disallow(WriteTxn& txn, const ZoneConfig& zone, const Subject& s, const std::string& reason,
                const Actor& actor);
  // The config's and the store's entries that overlap `s`, if any.
  std::optional<std::string> allowlisted(const ReadTxn& txn, const ZoneConfig& zone,
                                         const Subject& s) const;
  std::vector<std::pair<std::string, nlohmann::json>> allowlist(const ReadTxn& txn,
                                                                const ZoneConfig& zone) const;

  std::vector<StoredReport> reports(const ReadTxn& txn, const ZoneConfig& zone,
                                    const Subject& s) const;
  std::optional<Offence> offence(const ReadTxn& txn, const ZoneConfig& zone,
                                 const Subject& s) const;
  // The offence score at `now` after decay.
  static double decayed(const Offence& o, const PolicyConfig& p, std::int64_t now);

  PointInTime state_at(const ReadTxn& txn, const ZoneConfig& zone, const Subject& s,
                       std::int64_t t) const;

  // Deletes up to `limit` reports older than the zone's report_retention;
  // returns how many.
  std::size_t trim_reports(WriteTxn& txn, const ZoneConfig& zone, std::size_t limit);

 private:
  // The checks every report passes before anything of it is written (kind,
  // one address or domain, weight 0..1000; throws PolicyError), and the
  // batch bound to the zone. Returns the report's weight.
  double admit_(WriteTxn& txn, const ZoneConfig& zone, const Report& r, ReportBatch& b);

  Store& store_;
};

}  // namespace rblzone::core
