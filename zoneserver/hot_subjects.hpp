// The most queried listed subjects: a fixed-size Space-Saving table per DNS
// worker thread, written only by that thread (no lock, no allocation after
// construction) and read by any thread, and a merge of all of them for the
// console (GET /api/v1/stats/top-listed, docs/api.md).
//
// Space-Saving (Metwally, Agrawal, El Abbadi 2005): kSlots counters. A key
// already held is incremented; a new key takes a free slot or, when the table
// is full, replaces the key with the smallest count c and starts at c + 1
// with error c. Hence:
//   - while at most kSlots distinct keys were counted, every count is exact
//     (error 0);
//   - a key counted more than N / kSlots times out of N is always held, and
//     count - error <= true count <= count.
// The writer keeps a min-heap of the slots by count and a hash index of the
// keys (both private), so an update is O(log kSlots), never a scan.
//
// Windowing: two tables per worker, each covering one interval (300 s by
// default) of the clock; the writer switches to the other table (clearing
// it) when the interval changes. A reader merges the current and the
// previous interval's tables, so a figure covers the last 1 to 2 intervals
// (5 to 10 minutes by default). A worker that has been idle since keeps
// tables of an older interval, which readers skip.
//
// Readers never block the writer: each slot has a sequence number (odd while
// the writer rewrites the slot's key) and each table a generation (odd while
// it is being cleared); a reader retries a slot a few times and skips it if
// it keeps changing. Every shared field is an atomic written with release
// and read with acquire (plain loads and stores on x86), which also keeps
// ThreadSanitizer informed.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/store.hpp"
#include "core/subject.hpp"

namespace rblzone::zoneserver {

// What one listed answer matched (filled by answer(), see answerer.hpp).
struct Matched {
  bool listed = false;      // false: nothing to count (not listed, refused, a test point)
  core::ZoneId zone = 0;    // the zone queried (a combined zone's own id)
  core::ZoneId source = 0;  // the zone holding the listing (a member of a combined zone)
  bool ip = false;
  core::IpPrefix prefix;  // when ip: the listed prefix that matched
  char domain[256] = {};  // otherwise: the listed domain that matched, lowercase, NUL-terminated
  std::size_t domain_size = 0;
};

// One subject's figures, merged over workers and the two intervals.
struct HotSubject {
  core::ZoneId zone = 0;
  core::ZoneId source = 0;
  std::string subject;  // "192.0.2.0/24", "203.0.113.7", "spam.example"
  // Summed over the tables holding the subject (see top_subjects() in the
  // .cpp): count - error is a lower bound of the true count; count is an
  // upper bound when no table in the window evicted it; exact when error is 0.
  std::uint64_t count = 0;
  std::uint64_t error = 0;  // how much of count may belong to keys it replaced
};

class HotSubjects {
 public:
  static constexpr std::size_t kSlots = 512;
  static constexpr std::size_t kKeyWords = 32;  // 256 bytes: a domain of 253
  static constexpr std::int64_t kDefaultInterval = 300;

  explicit HotSubjects(std::int64_t interval_seconds = kDefaultInterval);
  ~HotSubjects();
  HotSubjects(const HotSubjects&) = delete;
  HotSubjects& operator=(const HotSubjects&) = delete;

  // The owning thread only. `now` is unix seconds. No allocation, no lock.
  void count(const Matched& m, std::int64_t now);

  // Any thread: appends the entries of the tables covering `now`'s interval
  // and the one before (unmerged: one entry per table and key).
  void collect(std::int64_t now, std::vector<HotSubject>& out) const;

  std::int64_t interval() const { return interval_; }

 private:
  struct Table;
  std::int64_t interval_;
  std::int64_t epoch_ = -1;  // writer's current interval number
  std::unique_ptr<Table> tables_[2];
};

// Sums the entries of every table by (zone, source, subject) and returns the
// `limit` largest counts, largest first (ties by subject). `zone`: only that
// queried zone.
std::vector<HotSubject> top_subjects(const std::vector<std::unique_ptr<HotSubjects>>& tables,
                                     std::int64_t now, std::size_t limit,
                                     std::optional<core::ZoneId> zone = std::nullopt);

}  // namespace rblzone::zoneserver
