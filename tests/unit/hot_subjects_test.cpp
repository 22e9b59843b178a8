// The per-worker tables of queried listed subjects (zoneserver/hot_subjects.hpp):
// exact while they hold every key, heavy hitters kept under churn, the
// two-interval window, and one writer with concurrent readers (run it in the
// TSan build too).
#include "zoneserver/hot_subjects.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace rblzone::zoneserver {
namespace {

constexpr std::int64_t kT0 = 1700000400;  // the start of a 300 s interval

Matched ip_match(const char* prefix, core::ZoneId zone = 1, core::ZoneId source = 1) {
  Matched m;
  m.listed = true;
  m.ip = true;
  m.prefix = *core::IpPrefix::parse(prefix);
  m.zone = zone;
  m.source = source;
  return m;
}

Matched domain_match(const std::string& name, core::ZoneId zone = 2) {
  Matched m;
  m.listed = true;
  m.zone = zone;
  m.source = zone;
  m.domain_size = std::min(name.size(), sizeof m.domain - 1);
  std::memcpy(m.domain, name.data(), m.domain_size);
  return m;
}

std::string v4(std::uint32_t i) {
  return std::to_string(10 + (i >> 16 & 0xff)) + "." + std::to_string(i >> 8 & 0xff) + "." +
         std::to_string(i & 0xff) + ".1";
}

std::vector<std::unique_ptr<HotSubjects>> one(std::unique_ptr<HotSubjects> t) {
  std::vector<std::unique_ptr<HotSubjects>> v;
  v.push_back(std::move(t));
  return v;
}

}  // namespace

TEST_CASE("hot subjects: exact while the table holds every key", "[hot_subjects]") {
  for (const std::size_t keys : {std::size_t{1}, std::size_t{300}, HotSubjects::kSlots}) {
    INFO(keys << " distinct keys");
    auto tables = one(std::make_unique<HotSubjects>());
    std::map<std::string, std::uint64_t> truth;
    // Interleaved: key i is counted (i % 7) + 1 times, rounds over all keys.
    std::vector<Matched> matches;
    for (std::size_t i = 0; i < keys; ++i) {
      matches.push_back(i % 3 == 0 ? domain_match("d" + std::to_string(i) + ".example")
                                   : ip_match(v4(static_cast<std::uint32_t>(i)).c_str()));
    }
    for (std::size_t round = 0; round < 7; ++round) {
      for (std::size_t i = 0; i < keys; ++i) {
        if (i % 7 < round) continue;
        tables[0]->count(matches[i], kT0 + 10);
        const auto& m = matches[i];
        ++truth[m.ip ? m.prefix.to_string() : std::string(m.domain, m.domain_size)];
      }
    }
    const auto top = top_subjects(tables, kT0 + 20, 10000);
    REQUIRE(top.size() == keys);
    for (const auto& e : top) {
      INFO(e.subject);
      CHECK(e.count == truth.at(e.subject));
      CHECK(e.error == 0);
    }
    for (std::size_t i = 1; i < top.size(); ++i) CHECK(top[i - 1].count >= top[i].count);
  }
}

TEST_CASE("hot subjects: heavy hitters survive many light keys", "[hot_subjects]") {
  auto tables = one(std::make_unique<HotSubjects>());
  std::mt19937 rng(7);
  const std::vector<std::string> heavy = {"198.51.100.0/24", "203.0.113.9", "2001:db8::/32",
                                          "192.0.2.77", "100.64.0.0/10"};
  std::map<std::string, std::uint64_t> truth;
  std::uint32_t light = 0;
  std::uint64_t total = 0;
  // 5 keys with 1000..3000 queries each, among 60000 keys queried once.
  std::vector<std::string> stream;
  for (std::size_t h = 0; h < heavy.size(); ++h) {
    for (std::size_t n = 0; n < 1000 + 500 * h; ++n) stream.push_back(heavy[h]);
  }
  for (int i = 0; i < 60000; ++i) stream.push_back(v4(light++));
  std::shuffle(stream.begin(), stream.end(), rng);
  for (const auto& s : stream) {
    tables[0]->count(ip_match(s.c_str()), kT0);
    ++truth[core::IpPrefix::parse(s)->to_string()];
    ++total;
  }
  const auto top = top_subjects(tables, kT0, heavy.size());
  REQUIRE(top.size() == heavy.size());
  std::set<std::string> want;
  for (const auto& h : heavy) want.insert(core::IpPrefix::parse(h)->to_string());
  for (std::size_t i = 0; i < top.size(); ++i) {
    const auto& e = top[i];
    INFO(e.subject << " count " << e.count << " error " << e.error);
    CHECK(want.count(e.subject) == 1);
    // Space-Saving's bounds: count - error <= true count <= count.
    CHECK(e.count >= truth.at(e.subject));
    CHECK(e.count - e.error <= truth.at(e.subject));
    CHECK(e.error <= total / HotSubjects::kSlots);
  }
  // Ranked as their true counts are (they are 500 apart, far beyond the error).
  CHECK(top[0].subject == "100.64.0.0/10");
  CHECK(top[4].subject == "198.51.100.0/24");
}

TEST_CASE("hot subjects: a figure covers this interval and the one before", "[hot_subjects]") {
  auto tables = one(std::make_unique<HotSubjects>(300));
  auto& t = *tables[0];
  for (int i = 0; i < 3; ++i) t.count(ip_match("192.0.2.1"), kT0 + 5);
  for (int i = 0; i < 2; ++i) t.count(ip_match("192.0.2.1"), kT0 + 305);
  t.count(domain_match("late.example"), kT0 + 305);
  auto top = top_subjects(tables, kT0 + 310, 10);
  REQUIRE(top.size() == 2);
  CHECK(top[0].subject == "192.0.2.1");
  CHECK(top[0].count == 5);  // both intervals summed
  // One interval later the first one is out of the window.
  top = top_subjects(tables, kT0 + 605, 10);
  REQUIRE(top.size() == 2);
  CHECK(top[0].count == 2);
  // The writer moves on: the table of the first interval is reused, cleared.
  t.count(domain_match("new.example"), kT0 + 610);
  top = top_subjects(tables, kT0 + 610, 10);
  REQUIRE(top.size() == 3);
  CHECK(top[0].count == 2);
  // Nothing counted for two intervals: an idle worker's old tables are skipped.
  CHECK(top_subjects(tables, kT0 + 1300, 10).empty());
}

TEST_CASE("hot subjects: keys by zone, prefix and long names", "[hot_subjects]") {
  std::vector<std::unique_ptr<HotSubjects>> tables;
  tables.push_back(std::make_unique<HotSubjects>());
  tables.push_back(std::make_unique<HotSubjects>());
  const std::string long_name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                                std::string(63, 'c') + "." + std::string(61, 'd');
  REQUIRE(long_name.size() == 253);
  // The same subject in two zones (or listed in two members) is two entries.
  tables[0]->count(ip_match("192.0.2.0/24", 1, 1), kT0);
  tables[0]->count(ip_match("192.0.2.0/24", 3, 1), kT0);
  tables[1]->count(ip_match("192.0.2.0/24", 3, 1), kT0);
  tables[1]->count(ip_match("192.0.2.0/24", 3, 4), kT0);
  tables[1]->count(ip_match("2001:db8:1::/48", 1, 1), kT0);
  tables[0]->count(domain_match(long_name, 2), kT0);
  tables[1]->count(domain_match(long_name, 2), kT0);
  Matched none = ip_match("192.0.2.9");
  none.listed = false;
  tables[0]->count(none, kT0);

  const auto all = top_subjects(tables, kT0, 100);
  std::map<std::tuple<core::ZoneId, core::ZoneId, std::string>, std::uint64_t> got;
  for (const auto& e : all) got[{e.zone, e.source, e.subject}] = e.count;
  const std::map<std::tuple<core::ZoneId, core::ZoneId, std::string>, std::uint64_t> want = {
      {{1, 1, "192.0.2.0/24"}, 1},    {{3, 1, "192.0.2.0/24"}, 2}, {{3, 4, "192.0.2.0/24"}, 1},
      {{1, 1, "2001:db8:1::/48"}, 1}, {{2, 2, long_name}, 2},
  };
  CHECK(got == want);
  const auto zone3 = top_subjects(tables, kT0, 100, core::ZoneId{3});
  REQUIRE(zone3.size() == 2);
  CHECK(zone3[0].count == 2);
  CHECK(zone3[0].source == 1);
  CHECK(top_subjects(tables, kT0, 1).size() == 1);
}

TEST_CASE("hot subjects: one writer, concurrent readers", "[hot_subjects]") {
  // Small intervals so that the writer also clears tables while readers read.
  auto tables = one(std::make_unique<HotSubjects>(2));
  std::vector<std::string> names;
  for (int i = 0; i < 2000; ++i) names.push_back("host" + std::to_string(i) + ".example");
  std::set<std::string> known(names.begin(), names.end());
  for (int i = 0; i < 64; ++i) known.insert(v4(static_cast<std::uint32_t>(i)));
  std::atomic<bool> done{false};
  std::atomic<std::int64_t> clock{kT0};
  std::atomic<int> torn{0};
  std::atomic<std::uint64_t> reads{0};

  std::thread writer([&] {
    std::mt19937 rng(1);
    for (int i = 0; i < 400000; ++i) {
      const auto r = rng();
      const std::int64_t now = kT0 + i / 20000;  // 20 s: 10 intervals of 40000 counts
      clock.store(now, std::memory_order_relaxed);
      if (r % 4 == 0) {
        tables[0]->count(ip_match(v4(r % 64).c_str()), now);
      } else {
        tables[0]->count(domain_match(names[r % names.size()]), now);
      }
    }
    done = true;
  });
  std::vector<std::thread> readers;
  for (int k = 0; k < 2; ++k) {
    readers.emplace_back([&] {
      while (!done) {
        for (const auto& e : top_subjects(tables, clock.load(std::memory_order_relaxed), 50)) {
          if (known.count(e.subject) == 0 || e.count == 0 || e.error >= e.count) ++torn;
        }
        ++reads;
      }
    });
  }
  writer.join();
  for (auto& r : readers) r.join();
  CHECK(torn.load() == 0);
  CHECK(reads.load() > 0);
  // Quiescent: the last interval's table, read again, holds what was counted.
  std::uint64_t sum = 0;
  for (const auto& e : top_subjects(tables, kT0 + 19, 100000)) sum += e.count;
  // The last two intervals (seconds 16..19). Space-Saving's counts always sum
  // to the number of events: a replaced key's count moves to its successor.
  CHECK(sum == 80000);
}

}  // namespace rblzone::zoneserver
