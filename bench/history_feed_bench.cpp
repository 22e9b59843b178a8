// The console's activity feed over a large history (not a test): the work
// GET /api/v1/zones/Z/activity does, before and after the commit-order index.
//   history_feed_bench [--events N] [--days D] [--runs R] [--dir DIR]
// Writes N history events for one zone (listing puts on N/4 subjects, one
// every D days / N seconds up to now), then times, R times each:
//   old-200k  the old feed: the subject-ordered history, capped at 200 000
//             events, sorted by time (what it returned was not the newest)
//   old-full  the same without the cap (what a correct scan costs)
//   new       the feed from history_seq: the newest 50 events and every
//             event of the last 24 hours, walked back from the newest
//   new-1h    the same with a 1-hour chart (hours=1): the walk's length is
//             the chart's window, not the history's size
// and the one-time index rebuild an older store gets on open. Figures go to
// docs/performance.md.
#include <lmdb.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/lmdb.hpp"
#include "core/schema.hpp"
#include "core/store.hpp"

using namespace rblzone;
using Steady = std::chrono::steady_clock;

namespace {

double ms_since(Steady::time_point t) {
  return std::chrono::duration<double, std::milli>(Steady::now() - t).count();
}

// This thread's CPU time: on a shared, oversubscribed machine the wall
// time mostly measures waiting for a core.
double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

constexpr std::size_t kLimit = 50;
constexpr std::int64_t kHours = 24;
constexpr std::int64_t kStep = 3600;

// The series walk both feeds do: per source, counts at each hour point.
struct Series {
  std::array<std::vector<std::int64_t>, 4> undo;
  Series() {
    for (auto& u : undo) u.assign(kHours + 2, 0);
  }
  void add(const core::HistoryEvent& e, std::int64_t oldest) {
    if (e.time <= oldest) return;
    const auto m = std::min<std::size_t>(
        kHours + 1, static_cast<std::size_t>((e.time - oldest - 1) / kStep) + 1);
    if (e.after) undo[static_cast<std::size_t>(e.after->source)][m] -= 1;
    if (e.before) undo[static_cast<std::size_t>(e.before->source)][m] += 1;
  }
};

// The old activity(): zone_history (subject order, capped), the series by
// undoing each event at each later point, a sort by time, the newest kept.
std::size_t old_feed(core::Store& store, const core::ZoneRef& ref, std::int64_t now,
                     std::size_t cap) {
  auto txn = store.env().begin_read();
  auto part = store.zone_history(txn, ref, cap);
  std::array<std::vector<std::int64_t>, 4> series;
  for (auto& s : series) s.assign(kHours + 1, 0);
  for (const auto& e : part) {
    for (std::size_t k = 0; k <= kHours; ++k) {
      const std::int64_t t = now - static_cast<std::int64_t>(kHours - k) * kStep;
      if (e.time <= t) continue;
      if (e.after) series[static_cast<std::size_t>(e.after->source)][k] -= 1;
      if (e.before) series[static_cast<std::size_t>(e.before->source)][k] += 1;
    }
  }
  std::sort(part.begin(), part.end(), [](const auto& a, const auto& b) {
    return a.time != b.time ? a.time > b.time : a.seq > b.seq;
  });
  if (part.size() > kLimit) part.resize(kLimit);
  return part.empty() ? 0 : part.front().seq;
}

// The new activity(): as admin/pages.cpp does it, with a chart of `hours`.
std::size_t new_feed(core::Store& store, const core::ZoneRef& ref, std::int64_t now,
                     std::int64_t hours, std::size_t& visited) {
  auto txn = store.env().begin_read();
  const std::int64_t oldest = now - hours * kStep;
  Series series;
  std::vector<core::HistoryEvent> events;
  visited = 0;
  store.for_each_recent(txn, ref, [&](core::HistoryEvent& e) {
    if (events.size() >= kLimit && e.time <= oldest) return false;
    ++visited;
    series.add(e, oldest);
    if (events.size() < kLimit) events.push_back(std::move(e));
    return true;
  });
  return events.empty() ? 0 : events.front().seq;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t events = 1000000;
  std::int64_t days = 30;
  int runs = 5;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--events" && i + 1 < argc)
      events = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--days" && i + 1 < argc)
      days = std::strtoll(argv[++i], nullptr, 10);
    else if (a == "--runs" && i + 1 < argc)
      runs = std::atoi(argv[++i]);
    else if (a == "--dir" && i + 1 < argc)
      dir = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: history_feed_bench [--events N] [--days D] [--runs R] [--dir DIR]\n");
      return 2;
    }
  }
  if (events < 8 || days < 1 || runs < 1) {
    std::fprintf(stderr, "history_feed_bench: --events >= 8, --days >= 1, --runs >= 1\n");
    return 2;
  }
  const bool temp = dir.empty();
  if (temp) {
    char tmpl[] = "/tmp/rblzone-feed-bench-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  const std::int64_t now = 1790000000;
  std::int64_t clock = now - days * 86400;
  core::ZoneRef ref;
  {
    core::Store store(dir, [&] { return clock; });
    std::mt19937_64 rng(7);
    const std::size_t subjects = events / 4;
    const auto t0 = Steady::now();
    const double c0 = cpu_ms();
    constexpr std::size_t kBatch = 100000;
    for (std::size_t done = 0; done < events;) {
      store.env().write([&](core::WriteTxn& txn) {
        ref = store.ensure_zone(txn, "bl.test");
        for (std::size_t i = done; i < std::min(events, done + kBatch); ++i) {
          clock = now - days * 86400 +
                  static_cast<std::int64_t>((i * static_cast<std::size_t>(days) * 86400) / events);
          const auto a = static_cast<std::uint32_t>(0x0a000000u + rng() % subjects);
          core::IpPrefix::Bytes b{};
          b[10] = b[11] = 0xff;
          b[12] = static_cast<std::uint8_t>(a >> 24);
          b[13] = static_cast<std::uint8_t>(a >> 16);
          b[14] = static_cast<std::uint8_t>(a >> 8);
          b[15] = static_cast<std::uint8_t>(a);
          core::Listing l;
          l.source = static_cast<core::Source>(i % 4);
          l.first_seen = l.last_seen = clock;
          l.reason = "bench";
          store.put(txn, ref, core::IpPrefix(b, 128), l, {"bench", "list", "bench"});
        }
      });
      done = std::min(events, done + kBatch);
    }
    std::printf(
        "wrote %zu history events on %zu subjects over %lld days: CPU %.1f s, wall %.1f s\n",
        events, subjects, static_cast<long long>(days), (cpu_ms() - c0) / 1000,
        ms_since(t0) / 1000);
  }
  core::Store store(dir, [&] { return now; });
  std::vector<double> wall[4], cpu[4];
  std::size_t visited = 0, visited_1h = 0;
  std::size_t seq[4] = {0, 0, 0, 0};
  for (int r = 0; r < runs; ++r) {
    for (int k = 0; k < 4; ++k) {
      const auto t = Steady::now();
      const double c = cpu_ms();
      seq[k] = k == 0   ? old_feed(store, ref, now, 200000)
               : k == 1 ? old_feed(store, ref, now, events + 1)
               : k == 2 ? new_feed(store, ref, now, kHours, visited)
                        : new_feed(store, ref, now, 1, visited_1h);
      cpu[k].push_back(cpu_ms() - c);
      wall[k].push_back(ms_since(t));
    }
  }
  std::printf("feed (limit %zu, %lld h chart), median of %d runs, CPU / wall ms:\n", kLimit,
              static_cast<long long>(kHours), runs);
  std::printf("  old-200k  %9.2f / %9.2f  newest seq returned %zu (the newest is %zu)\n",
              median(cpu[0]), median(wall[0]), seq[0], seq[2]);
  std::printf("  old-full  %9.2f / %9.2f  newest seq %zu\n", median(cpu[1]), median(wall[1]),
              seq[1]);
  std::printf("  new       %9.2f / %9.2f  newest seq %zu, %zu events visited\n", median(cpu[2]),
              median(wall[2]), seq[2], visited);
  std::printf("  new-1h    %9.2f / %9.2f  newest seq %zu, %zu events visited (hours=1)\n",
              median(cpu[3]), median(wall[3]), seq[3], visited_1h);
  // An older store: no index. The rebuild on open, once.
  store.env().write([&](core::WriteTxn& txn) {
    if (mdb_drop(txn.handle(), txn.dbs().history_seq, 0) != 0) std::abort();
    txn.del(txn.dbs().meta, core::schema::kHistoryIndexedKey);
  });
  const auto t = Steady::now();
  const double c = cpu_ms();
  const auto n = store.index_history();
  std::printf("index rebuild (an older store's first open): %zu events, CPU %.1f s, wall %.1f s\n",
              n, (cpu_ms() - c) / 1000, ms_since(t) / 1000);
  if (temp) std::filesystem::remove_all(dir);
  return 0;
}
