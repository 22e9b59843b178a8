// The store's schema: database names, key layouts byte by byte, the order
// each key guarantees, and the value layouts. This comment is the spec.
//
// All integers in keys are big-endian so that byte order equals numeric order.
// ZONE is the zone's 2-byte id (assigned once, never reused; see "zones").
//
// meta      "format" -> decimal format version (kFormatVersion)
//           "next_zone_id" -> u16;  "event_seq" -> u64 (last history sequence)
// zones     zone name (lowercase, no dot) -> ZoneRecord: u16 id, u32 serial
// ip        ZONE | addr[16] | len[1] -> u8 parent | Listing (listing.hpp)
//           IPv4 lives in ::ffff:0:0/96 (len = 96 + v4 length). Ordering by
//           address then length puts an enclosing prefix before everything it
//           contains. `parent` is the length of the longest stored prefix
//           that strictly contains this one (255: none); every write keeps it
//           exact. Longest-prefix match is then one seek to the greatest key
//           <= (addr, 128) and a walk up that entry's parents, which are few.
// domain    ZONE | labels reversed, lowercase, each followed by 0x00 -> Listing
//           "host.spammer.example" -> "example\0spammer\0host\0": a domain's
//           whole subtree is the key range that starts with its own key.
// history   ZONE | kind u8 (4 ip, 5 domain) | listing key without ZONE |
//           0xff | seq u64 -> event:
//             i64 time | str actor | str action | str reason |
//             u8 has_before [str listing] | u8 has_after [str listing]
//           (str = u16 length + bytes). Events of one subject are contiguous
//           and in the order they happened (seq is global and increasing);
//           0xff cannot occur in a label, so no subject's range holds
//           another's. History follows listing-key order, so a sorted bulk
//           load appends to both. Never deleted by expiry.
// journal   ZONE | serial u32 -> i64 time | u8 op (1 put, 2 del) |
//             u8 kind (4 ip, 5 domain) | str listing key without ZONE |
//             str listing (after a put; what was removed for a del)
//           One entry per change; the zone's SOA serial after the change.
// expiry    ZONE | expires u64 | kind u8 | listing key -> empty
//           Every non-permanent listing, in expiry order, for the sweeper.
// aux       feature-specific records, each with its own key prefix byte:
//           'r' reports, 's' report window summaries, 'o' offences,
//           'a' allowlist, 'd' delist requests, 'p' pending delist request
//           per listing, 'q' delist requests by status and time (meta
//           "delist_count:STATUS", "delist_indexed" go with it)
//           (layouts in policy.hpp; reports and offences are
//           binary records led by their format byte 1, older JSON ones
//           are still read);
//           't' token by hash, 'n' token hash by name (tokens.hpp).
// meta also holds "count" | ZONE | source u8 -> u64: listings per source,
//           kept exact by every put and remove (Store::counts).
// history_seq  ZONE | seq u64 -> the event's whole history key
//           The zone's history in commit order (seq is global and taken in
//           the write transaction, so seq order is commit order): the
//           console's feed walks it backwards from the newest. One entry per
//           history event, written in the same transaction as the event and
//           deleted with it (trim_history). meta "history_indexed" -> u64:
//           every event with seq <= it has its entry; write_event_ moves it
//           only while it equals event_seq. A store written by a build
//           without this index (or by one since) has it below event_seq, and
//           opening the store rebuilds the index from `history` in batches
//           (meta "history_index_pos" -> the last history key done, so an
//           interrupted rebuild resumes). An entry whose event is gone is
//           skipped by readers.
#pragma once

#include <cstdint>

namespace rblzone::core::schema {

inline constexpr int kFormatVersion = 1;

inline constexpr const char* kMetaDb = "meta";
inline constexpr const char* kZonesDb = "zones";
inline constexpr const char* kIpDb = "ip";
inline constexpr const char* kDomainDb = "domain";
inline constexpr const char* kHistoryDb = "history";
inline constexpr const char* kJournalDb = "journal";
inline constexpr const char* kExpiryDb = "expiry";
inline constexpr const char* kAuxDb = "aux";
inline constexpr const char* kHistorySeqDb = "history_seq";

inline constexpr const char* kFormatKey = "format";
inline constexpr const char* kNextZoneIdKey = "next_zone_id";
inline constexpr const char* kEventSeqKey = "event_seq";
inline constexpr const char* kHistoryIndexedKey = "history_indexed";
inline constexpr const char* kHistoryIndexPosKey = "history_index_pos";

inline constexpr std::uint8_t kNoParent = 255;
inline constexpr std::uint8_t kExpiryKindIp = 4;
inline constexpr std::uint8_t kExpiryKindDomain = 5;

}  // namespace rblzone::core::schema
