// The delist requests' index and counters: each status's requests as one
// key range in newest-first order, and an exact count per status, so the
// desk's list and /metrics cost O(page) and O(1) however many requests a
// store has kept (layouts in policy.hpp, the `aux` spec, and docs/store.md).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/lmdb.hpp"

namespace rblzone::core::delist_index {

// The statuses in their index order (the status byte is the position).
inline constexpr std::array<std::string_view, 4> kStatuses = {"pending", "approved", "denied",
                                                              "not_listed"};
// The status byte of a status name; nullopt for any other string.
std::optional<std::uint8_t> status_code(std::string_view status);

// A position in the newest-first order: created descending, then id
// ascending (the order the desk's list always had).
struct Position {
  std::int64_t created = 0;
  std::string id;
};

// Keeps the index and the counters right when the request record `id` is
// written with (status, created): call before putting the record, in the
// same write transaction. `old_record` is the stored record's JSON, if any
// (its index entry is replaced). A status outside kStatuses is not indexed.
void on_write(WriteTxn& txn, std::string_view id, const std::optional<std::string>& old_record,
              std::string_view status, std::int64_t created);
// The same when the record `id` (stored as `old_record`) is deleted.
void on_delete(WriteTxn& txn, std::string_view id, std::string_view old_record);

// Requests per status (in kStatuses order), exact: one read each.
std::array<std::uint64_t, 4> counts(const ReadTxn& txn);

// The ids of at most `limit` requests strictly after `after` in the
// newest-first order (from the newest when nullopt), of the statuses whose
// bit (1 << status byte) is set in `status_mask`: the statuses' ranges are
// merged. `more` tells whether any entry is left after the last one
// returned. O(limit), whatever the store holds.
std::vector<Position> page(const ReadTxn& txn, unsigned status_mask, std::size_t limit,
                           const std::optional<Position>& after, bool& more);

// Builds the index and the counters from the request records when the store
// has none yet (written by a build without them): one write transaction
// that clears any partial index, reads every 'd' record and sets meta
// "delist_indexed", so it is all or nothing and a second call (or a second
// process) finds it done. Returns how many records it indexed; nothing to
// do (the usual case) costs one read. Store's constructor calls it.
std::size_t build_if_missing(Environment& env);

}  // namespace rblzone::core::delist_index
