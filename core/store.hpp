// The listing store: zones, listings with longest-prefix and suffix match,
// and for every change a history event, a journal entry, a serial bump and
// the expiry index, all in the caller's write transaction.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/listing.hpp"
#include "core/lmdb.hpp"
#include "core/subject.hpp"

namespace rblzone::core {

using ZoneId = std::uint16_t;
using Clock = std::function<std::int64_t()>;  // unix seconds
std::int64_t system_now();

struct ZoneRef {
  ZoneId id = 0;
  std::string name;
};

// Who made a change and why; recorded in the history event.
struct Change {
  std::string actor;   // "cli:root", "token:desk-1", "sweeper", "import:traps"
  std::string action;  // "list", "delist", "update", "expire", ...
  std::string reason;
};

struct HistoryEvent {
  std::uint64_t seq = 0;
  std::int64_t time = 0;
  std::string subject;
  std::string actor;
  std::string action;
  std::string reason;
  std::optional<Listing> before;
  std::optional<Listing> after;
};

struct JournalEntry {
  std::uint32_t serial = 0;
  std::int64_t time = 0;
  bool removed = false;
  std::string subject;
  std::optional<Listing> listing;  // the listing after a put
};

// --- keys (layout in schema.hpp) -------------------------------------------

inline constexpr std::size_t kIpKeySize = 2 + 16 + 1;
void make_ip_key(char (&out)[kIpKeySize], ZoneId zone, const IpPrefix::Bytes& addr,
                 std::uint8_t length);
std::string ip_key(ZoneId zone, const IpPrefix& p);
std::string domain_key(ZoneId zone, std::string_view name);
std::string listing_key(ZoneId zone, const Subject& s);
// A domain key without its zone ("example\0spammer\0") -> "spammer.example".
std::string domain_from_key(std::string_view key);
// ZONE | kind | the listing key without its zone: one subject's identity in
// the feature records of `aux` (reports, offences, allowlist).
std::string subject_key(ZoneId zone, const Subject& s);

// --- hot-path matching: no allocation, a caller-owned cursor ---------------

struct IpMatch {
  IpPrefix prefix;      // the listed prefix that matched
  ListingView listing;  // valid until the transaction resets
};

// The longest active listing containing `addr`. An exclusion, or nothing,
// is "not listed". An expired listing is skipped as if absent, so a shorter
// prefix around it still applies.
std::optional<IpMatch> match_ip(Cursor& ip_cursor, ZoneId zone, const IpPrefix::Bytes& addr,
                                std::int64_t now);

// True if any listing or exclusion overlaps `range` (an enclosing prefix or
// anything inside it): the name for `range` is then an empty non-terminal
// rather than NXDOMAIN.
bool ip_range_exists(Cursor& ip_cursor, ZoneId zone, const IpPrefix& range);

struct DomainMatch {
  std::size_t matched_labels = 0;  // labels of the listed domain
  ListingView listing;
};

// `key` is domain_key(zone, name) for the lowercase query name. The longest
// listed suffix wins: the name itself, or an ancestor listed as a subtree.
std::optional<DomainMatch> match_domain(Cursor& domain_cursor, std::string_view key,
                                        std::int64_t now);
// True if `key`'s name or any name below it is stored.
bool domain_subtree_exists(Cursor& domain_cursor, std::string_view key);

// --- the store ---------------------------------------------------------------

class Store {
 public:
  explicit Store(const std::filesystem::path& data_dir, Clock clock = system_now,
                 std::size_t initial_map_size = 0);

  Environment& env() { return env_; }
  std::int64_t now() const { return clock_(); }

  std::optional<ZoneRef> find_zone(const ReadTxn& txn, std::string_view name) const;
  // Registers the zone on first use: a fresh id and a serial from the clock.
  ZoneRef ensure_zone(WriteTxn& txn, std::string_view name);
  std::uint32_t serial(const ReadTxn& txn, const ZoneRef& zone) const {
    return serial(txn, std::string_view(zone.name));
  }
  std::uint32_t serial(const ReadTxn& txn, std::string_view zone_name) const;

  std::optional<Listing> get(const ReadTxn& txn, const ZoneRef& zone, const Subject& s) const;
  void for_each(const ReadTxn& txn, const ZoneRef& zone,
                const std::function<bool(const Subject&, const Listing&)>& fn) const;
  std::vector<HistoryEvent> history(const ReadTxn& txn, const ZoneRef& zone,
                                    const Subject& s) const;
  std::vector<JournalEntry> journal_since(const ReadTxn& txn, const ZoneRef& zone,
                                          std::uint32_t serial) const;

  // Writes (or replaces) a listing; returns the previous one.
  std::optional<Listing> put(WriteTxn& txn, const ZoneRef& zone, const Subject& s, const Listing& l,
                             const Change& why);
  // Removes a listing; returns what was removed (nullopt: nothing was there).
  std::optional<Listing> remove(WriteTxn& txn, const ZoneRef& zone, const Subject& s,
                                const Change& why);
  // Removes up to `limit` listings whose expiry is at or before `now`;
  // returns how many. Each gets an "expire" history event and journal entry.
  std::size_t sweep_expired(WriteTxn& txn, const ZoneRef& zone, std::int64_t now,
                            std::size_t limit);
  // Deletes the zone's oldest journal entries while more than `max_entries`
  // remain or they are older than `oldest_time`, at most `limit` of them;
  // returns how many. IXFR from a trimmed serial falls back to a whole zone.
  std::size_t trim_journal(WriteTxn& txn, const ZoneRef& zone, std::size_t max_entries,
                           std::int64_t oldest_time, std::size_t limit);

  // Records a history event that changes no listing (an allowlist change, a
  // report kept but not acted on): no journal entry, no serial bump.
  void note(WriteTxn& txn, const ZoneRef& zone, const Subject& s, const Change& why);

  // Listings stored in a zone per source (exclusions included), kept exact
  // by every put and remove.
  std::array<std::uint64_t, 4> counts(const ReadTxn& txn, const ZoneRef& zone) const;

  // Deletes up to `limit` history events older than `before`, resuming
  // where the last call stopped (`cursor` holds the position; empty to
  // start). Returns how many; `cursor` is empty after a full pass.
  std::size_t trim_history(WriteTxn& txn, const ZoneRef& zone, std::int64_t before,
                           std::size_t limit, std::string& cursor);

  // The history events of a whole zone, each with its subject, at most
  // `max` of them, in key order (by subject, then time). For zone-wide feeds
  // (the console's activity and charts): O(events read).
  std::vector<HistoryEvent> zone_history(const ReadTxn& txn, const ZoneRef& zone,
                                         std::size_t max) const;

  // The zone's history newest first, by seq (commit order), from the
  // history_seq index: `fn` gets each event until it returns false or none
  // are left. O(events visited), whatever the history's size.
  void for_each_recent(const ReadTxn& txn, const ZoneRef& zone,
                       const std::function<bool(HistoryEvent&)>& fn) const;
  // The zone's newest events, newest first: the newest `limit` (or all, if
  // fewer), then on while events are newer than `since` (unix seconds). The
  // walk is in seq order and stops at the first event at or before `since`,
  // so an event that a clock step back put out of time order is left out.
  std::vector<HistoryEvent> recent_history(const ReadTxn& txn, const ZoneRef& zone,
                                           std::size_t limit, std::int64_t since) const;
  // Adds the missing history_seq entries (a store from a build without the
  // index, or written by one since), `batch` events per write transaction;
  // returns how many history events it read. Nothing to do (the usual case)
  // costs one read. The constructor calls it.
  std::size_t index_history(std::size_t batch = 50000);

 private:
  // Writes the history event and journal entry and bumps the serial.
  // `before` and `after` are encoded listings, empty for none.
  void record_(WriteTxn& txn, const ZoneRef& zone, const Subject& s, std::string_view key,
               std::string_view before, std::string_view after, const Change& why);
  void adjust_count_(WriteTxn& txn, const ZoneRef& zone, Source source, int delta);
  void write_event_(WriteTxn& txn, const ZoneRef& zone, const Subject& s, std::string_view event);

  Environment env_;
  Clock clock_;
};

nlohmann::json to_json(const Listing& l);
Listing listing_from_json(const nlohmann::json& j);
nlohmann::json to_json(const HistoryEvent& e);

}  // namespace rblzone::core
