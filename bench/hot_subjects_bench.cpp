// The cost of counting queried listed subjects on the DNS path (not a test):
// answer() alone against answer() + HotSubjects::count(), as a UDP worker
// runs them, on one core, no sockets, timed in this thread's CPU time.
// Figures go to docs/performance.md.
//   hot_subjects_bench [--listings N] [--queries M] [--reps R] [--dir DIR]
// Three query mixes, every query answered "listed" (the counter's worst case):
//   hot:      1000 distinct listings, skewed (a few take most queries);
//   churn:    every query a different listing (the table is full and each
//             query evicts the least counted subject);
//   half:     half listed (churn), half not listed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/store.hpp"
#include "zoneserver/answerer.hpp"
#include "zoneserver/hot_subjects.hpp"
#include "zoneserver/zone_catalog.hpp"

using namespace rblzone;

// This thread's CPU time: the machine is shared, and wall time would count
// the other processes' turns on the core.
struct Clock {
  using time_point = double;  // ns
  static double now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
  }
};
using Bytes = std::vector<std::uint8_t>;

namespace {

Bytes make_query(std::uint32_t addr, const std::string& zone) {
  Bytes b = {0x42, 0x42, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 4; ++i) {
    const std::string label = std::to_string((addr >> (8 * i)) & 0xff);
    b.push_back(static_cast<std::uint8_t>(label.size()));
    b.insert(b.end(), label.begin(), label.end());
  }
  std::size_t start = 0;
  while (start <= zone.size()) {
    auto dot = zone.find('.', start);
    if (dot == std::string::npos) dot = zone.size();
    b.push_back(static_cast<std::uint8_t>(dot - start));
    b.insert(b.end(), zone.begin() + static_cast<std::ptrdiff_t>(start),
             zone.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  b.push_back(0);
  b.insert(b.end(), {0x00, 0x01, 0x00, 0x01});  // A, IN
  return b;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t listings = 200000;
  std::size_t queries = 1000000;
  int reps = 7;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--listings" && i + 1 < argc) {
      listings = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--queries" && i + 1 < argc) {
      queries = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: hot_subjects_bench [--listings N] [--queries M] [--reps R] "
                   "[--dir DIR]\n");
      return 2;
    }
  }
  if (listings < 2000 || queries == 0 || reps < 1) {
    std::fprintf(stderr, "hot_subjects_bench: --listings >= 2000, --queries and --reps >= 1\n");
    return 2;
  }
  if (dir.empty()) {
    char tmpl[] = "/tmp/rblzone-hot-bench-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  const std::string zone_name = "bl.bench";
  core::Store store(dir);
  core::ZoneConfig zc;
  zc.file = zone_name + ".toml";
  zc.name = zone_name;
  zc.kind = core::ZoneKind::ip;
  const auto catalog = zoneserver::ZoneCatalog::build({zc}, store);

  // Listed: `listings` single addresses in 10.0.0.0/8, every other one.
  std::vector<std::uint32_t> listed(listings);
  for (std::size_t i = 0; i < listings; ++i) {
    listed[i] = 0x0a000000u + static_cast<std::uint32_t>(2 * i);
  }
  core::Listing l;
  l.codes = {0x7f000002};
  l.source = core::Source::import;
  l.reason = "bench";
  l.first_seen = l.last_seen = store.now();
  const core::Change why{"bench", "list", "bench"};
  store.env().write([&](core::WriteTxn& txn) {
    const auto z = store.ensure_zone(txn, zone_name);
    for (const auto a : listed) store.put(txn, z, core::IpPrefix::v4(a, 32), l, why);
  });

  std::mt19937_64 rng(42);
  std::vector<std::pair<const char*, std::vector<Bytes>>> mixes;
  {
    std::vector<Bytes> hot;
    for (std::size_t i = 0; i < queries; ++i) {
      // Skewed over 1000 listings: key k with weight ~1/(k+1).
      const double u = std::uniform_real_distribution<double>(0, std::log(1001.0))(rng);
      const auto k = static_cast<std::size_t>(std::exp(u)) - 1;
      hot.push_back(make_query(listed[std::min<std::size_t>(k, 999)], zone_name));
    }
    mixes.emplace_back("hot", std::move(hot));
    std::vector<Bytes> churn;
    std::vector<Bytes> half;
    for (std::size_t i = 0; i < queries; ++i) {
      churn.push_back(make_query(listed[i % listings], zone_name));
      half.push_back(i % 2 ? make_query(listed[i % listings] + 1, zone_name)  // not listed
                           : make_query(listed[i % listings], zone_name));
    }
    mixes.emplace_back("churn", std::move(churn));
    mixes.emplace_back("half", std::move(half));
  }

  zoneserver::Snapshot snapshot(store);
  zoneserver::QueryStats stats(catalog->zones().size());
  zoneserver::HotSubjects hot;
  zoneserver::Matched matched;
  std::vector<std::uint8_t> out(4096);
  const zoneserver::Client client{core::IpPrefix::v4(0xc0000201u, 32).bytes(),
                                  zoneserver::Transport::udp};
  const std::int64_t now = store.now();
  std::uint64_t listed_answers = 0;

  // One pass: ns per query. Renews the snapshot every 64 queries, as a
  // worker does per recvmmsg batch.
  const auto pass = [&](const std::vector<Bytes>& qs, bool count) {
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < qs.size(); ++i) {
      if (i % 64 == 0) {
        snapshot.reset();
        snapshot.renew();
      }
      zoneserver::wire::Writer w(out.data(), out.size());
      if (count) {
        zoneserver::answer(qs[i].data(), qs[i].size(), client, *catalog, snapshot, now, {}, w,
                           &stats, &matched);
        hot.count(matched, now);
        listed_answers += matched.listed ? 1 : 0;
      } else {
        zoneserver::answer(qs[i].data(), qs[i].size(), client, *catalog, snapshot, now, {}, w,
                           &stats);
      }
    }
    snapshot.reset();
    return (Clock::now() - t0) / static_cast<double>(qs.size());
  };

  std::printf("listings %zu, queries per pass %zu, %d alternating passes each (median ns/query)\n",
              listings, queries, reps);
  std::printf("| mix | answer() | answer() + count | difference |\n|---|--:|--:|--:|\n");
  for (const auto& [name, qs] : mixes) {
    pass(qs, false);  // warm up
    pass(qs, true);
    std::vector<double> off, on;
    for (int r = 0; r < reps; ++r) {
      off.push_back(pass(qs, false));
      on.push_back(pass(qs, true));
    }
    const double a = median(off), b = median(on);
    std::printf("| %s | %.0f | %.0f | %+.0f (%+.1f%%) |\n", name, a, b, b - a, 100 * (b - a) / a);
  }

  // count() alone, on ready-made matches.
  std::vector<zoneserver::Matched> ms(4096);
  for (std::size_t i = 0; i < ms.size(); ++i) {
    ms[i].listed = true;
    ms[i].ip = true;
    ms[i].prefix = core::IpPrefix::v4(listed[i], 32);
  }
  for (const auto& [name, distinct] :
       {std::pair{"count() alone, 100 keys", std::size_t{100}},
        std::pair{"count() alone, 4096 keys (evicting)", std::size_t{4096}}}) {
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
      const auto t0 = Clock::now();
      for (std::size_t i = 0; i < queries; ++i) hot.count(ms[(i * 7919) % distinct], now);
      t.push_back((Clock::now() - t0) / static_cast<double>(queries));
    }
    std::printf("%s: %.1f ns\n", name, median(t));
  }
  std::vector<zoneserver::HotSubject> sink;
  hot.collect(now, sink);
  std::printf("(listed answers counted: %llu; subjects held: %zu)\n",
              static_cast<unsigned long long>(listed_answers), sink.size());
  std::filesystem::remove_all(dir);
  return 0;
}
