// The weight in a report window comes from a per-subject summary updated
// report by report (policy.hpp). These tests hold it to the full
// recomputation from every stored report, the way it was computed before the
// summary existed: any divergence fails them.
#include <lmdb.h>

#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "core/byte_order.hpp"
#include "core/crypto.hpp"
#include "core/policy.hpp"
#include "tests/unit/temp_dir.hpp"

namespace rblzone::core {
namespace {

constexpr std::int64_t kStart = 1'790'000'000;

// Six seeds, a simulated month each, in the normal build (7 s); two under
// ASan or TSan, where six took 188 s and 606 s of CI (CPU, not disk: the
// store already skips the sync).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr unsigned kSeeds = 2;
#else
constexpr unsigned kSeeds = 6;
#endif

Subject subj(const std::string& text) {
  return *parse_subject(text);
}

struct World {
  rblzone::testing::TempDir dir{"policy-window"};
  std::int64_t now = kStart;
  Store store{dir.path(), [this] { return now; }};
  Policy policy{store};
  ZoneConfig zone;
  Actor importer{"import:traps", Role::importer};
  Actor admin{"token:admin", Role::admin};

  World() {
    // Thousands of small commits: durability is not under test here, and
    // an fsync per commit made this file most of CI's sanitizer time.
    mdb_env_set_flags(store.env().handle(), MDB_NOSYNC, 1);
    zone.name = "bl.example.org";
    zone.kind = ZoneKind::ip;
    zone.allowlist = {"192.0.2.0/28"};
    zone.policy.window = 48 * 3600;
    zone.policy.threshold = 2;
  }

  // The brute force: every stored report of `s` since the window start,
  // allowlisted ones left out, each reporter's heaviest, summed in
  // reporter order.
  double recomputed(const ReadTxn& txn, const Subject& s) {
    const auto offence = policy.offence(txn, zone, s).value_or(Offence{});
    const std::int64_t from = std::max(now - std::int64_t{zone.policy.window}, offence.cleared + 1);
    const auto start = static_cast<std::uint64_t>(std::max<std::int64_t>(from, 0));
    std::map<std::string, double> by_reporter;
    for (const auto& r : policy.reports(txn, zone, s)) {
      if (r.allowlisted || static_cast<std::uint64_t>(r.time) < start) continue;
      auto& w = by_reporter[r.reporter];
      w = std::max(w, r.weight);
    }
    double total = 0;
    for (const auto& [who, w] : by_reporter) total += w;
    return total;
  }
  double recomputed(const Subject& s) {
    auto txn = store.env().begin_read();
    return recomputed(txn, s);
  }
};

TEST_CASE("the window summary equals the full recomputation over a simulated month",
          "[policy][window]") {
  const auto seed = GENERATE(range(1u, kSeeds + 1u));
  World w;
  std::mt19937 rng(seed);
  const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const std::vector<std::string> subjects = {"203.0.113.1", "203.0.113.2", "198.51.100.9",
                                             "192.0.2.5",   "10.0.0.1",    "203.0.113.3"};
  const std::vector<std::string> reporters = {"trap:a", "trap:b", "token:t1", "button:u1",
                                              "button:u2"};
  const std::vector<double> weights = {0, 0.1, 0.25, 0.5, 1, 1.5, 2};
  const std::int64_t end = kStart + 31 * 86400;
  int compared = 0, listed = 0, batches = 0;
  while (w.now < end) {
    const int what = pick(100);
    if (what < 80) {
      // A batch of reports in one transaction, as the importer makes them.
      ++batches;
      const int n = 1 + pick(8);
      w.store.env().write([&](WriteTxn& txn) {
        ReportBatch batch;
        for (int i = 0; i < n; ++i) {
          Report r;
          r.subject = subj(subjects[static_cast<std::size_t>(pick(6))]);
          r.trust = static_cast<Trust>(pick(3));
          r.reporter = reporters[static_cast<std::size_t>(pick(5))];
          r.reason = "spam";
          // The same evidence often: the same report in the same second
          // replaces the stored one, possibly with another weight.
          r.evidence = "msg-" + std::to_string(pick(3));
          if (pick(4) != 0) r.weight = weights[static_cast<std::size_t>(pick(7))];
          // Late reports, some from before the window or the last delisting.
          if (pick(3) == 0) r.time = w.now - pick(4 * 86400);
          const auto out = w.policy.report(txn, w.zone, r, w.importer, batch);
          // Each report against the brute force over the same transaction.
          if (out.result != ReportResult::allowlisted && out.result != ReportResult::reserved) {
            REQUIRE(out.window_weight == w.recomputed(txn, r.subject));
            ++compared;
          }
          if (out.result == ReportResult::listed) ++listed;
        }
      });
    } else if (what < 85) {
      // One report on its own, compared exactly.
      Report r;
      r.subject = subj(subjects[static_cast<std::size_t>(pick(4))]);
      r.trust = Trust::untrusted;
      r.reporter = reporters[static_cast<std::size_t>(pick(5))];
      r.weight = weights[static_cast<std::size_t>(pick(7))];
      ReportOutcome out;
      w.store.env().write(
          [&](WriteTxn& txn) { out = w.policy.report(txn, w.zone, r, w.importer); });
      if (out.result != ReportResult::allowlisted && out.result != ReportResult::reserved) {
        REQUIRE(out.window_weight == w.recomputed(r.subject));
        ++compared;
      }
    } else if (what < 89) {
      // The desk delists: reports so far stop counting.
      const auto s = subj(subjects[static_cast<std::size_t>(pick(3))]);
      w.store.env().write([&](WriteTxn& txn) {
        try {
          w.policy.unlist(txn, w.zone, s, "resolved", w.admin);
        } catch (const PolicyError&) {
        }
      });
    } else if (what < 92) {
      // The allowlist changes under the subject: stored flags stay as stored.
      const auto s = subj(subjects[static_cast<std::size_t>(pick(3))]);
      w.store.env().write([&](WriteTxn& txn) {
        if (pick(2) == 0) {
          w.policy.allow(txn, w.zone, s, "ours", w.admin);
        } else {
          w.policy.disallow(txn, w.zone, s, "not ours", w.admin);
        }
      });
    } else if (what < 94) {
      // Old reports trimmed with a retention shorter than the window.
      auto z = w.zone;
      z.policy.report_retention = static_cast<std::uint32_t>(3600 * (1 + pick(60)));
      w.store.env().write([&](WriteTxn& txn) { w.policy.trim_reports(txn, z, 1000); });
    } else if (what < 95) {
      // The clock steps back (a test clock, an NTP step): the window opens
      // earlier than the summary covers.
      w.now -= pick(3 * 86400);
    } else {
      w.now += pick(6 * 3600);
    }
    w.now += pick(1800);
  }
  // After the month every subject agrees too (a window-only read).
  for (const auto& s : subjects) {
    ReportOutcome out;
    Report r;
    r.subject = subj(s);
    r.reporter = "final";
    r.weight = 0;
    w.store.env().write([&](WriteTxn& txn) { out = w.policy.report(txn, w.zone, r, w.importer); });
    if (out.result != ReportResult::allowlisted && out.result != ReportResult::reserved) {
      CHECK(out.window_weight == w.recomputed(r.subject));
    }
  }
  CHECK(compared > 500);  // the comparison ran, many times
  CHECK(listed > 0);
  CHECK(batches > 500);
}

TEST_CASE("one reporter counts once with its heaviest report in the window", "[policy][window]") {
  World w;
  const auto s = subj("203.0.113.9");
  const auto report = [&](const std::string& who, double weight, std::int64_t t) {
    Report r;
    r.subject = s;
    r.trust = Trust::untrusted;
    r.reporter = who;
    r.weight = weight;
    r.time = t;
    r.evidence = std::to_string(t) + who + std::to_string(weight);
    ReportOutcome out;
    w.store.env().write([&](WriteTxn& txn) { out = w.policy.report(txn, w.zone, r, w.importer); });
    return out.window_weight;
  };
  CHECK(report("a", 0.5, w.now) == 0.5);
  CHECK(report("a", 0.25, w.now) == 0.5);  // lighter, same reporter: no change
  CHECK(report("a", 1.5, w.now - 3600) == 1.5);
  CHECK(report("b", 0.25, w.now) == 1.75);
  // 47 hours later the 1.5 report (an hour older) has left the window, the
  // 0.5 has not.
  w.now += 47 * 3600 + 1;
  CHECK(report("c", 0, w.now) == 0.75);
  w.now += 3600;
  CHECK(report("c", 0, w.now) == 0);
}

TEST_CASE("report records written as JSON before the binary format are still read",
          "[policy][window]") {
  World w;
  const auto s = subj("203.0.113.10");
  std::string sk;
  w.store.env().write([&](WriteTxn& txn) {
    sk = subject_key(w.store.ensure_zone(txn, w.zone.name).id, s);
    std::string key = "r" + sk;
    key.push_back(static_cast<char>(0xff));
    put_be(key, static_cast<std::uint64_t>(w.now - 60));
    key += "12345678";
    txn.put(txn.dbs().aux, key,
            R"({"actor":"token:x","allowlisted":false,"detail":"d","evidence":"Message-ID: <1>",)"
            R"("reason":"spam","reporter":"old-reporter","trust":"trusted","weight":1.25})");
  });
  Report r;
  r.subject = s;
  r.trust = Trust::untrusted;
  r.reporter = "new-reporter";
  r.reason = "caf\xc3\xa9 \xff";  // valid and invalid UTF-8
  r.weight = 0.5;
  ReportOutcome out;
  w.store.env().write([&](WriteTxn& txn) { out = w.policy.report(txn, w.zone, r, w.importer); });
  CHECK(out.window_weight == 1.75);  // the JSON record counts
  auto txn = w.store.env().begin_read();
  const auto reports = w.policy.reports(txn, w.zone, s);
  REQUIRE(reports.size() == 2);
  CHECK(reports[0].reporter == "old-reporter");
  CHECK(reports[0].detail == "d");
  CHECK(reports[0].trust == Trust::trusted);
  CHECK(reports[0].weight == 1.25);
  CHECK(reports[0].evidence == "Message-ID: <1>");
  CHECK(reports[0].time == w.now - 60);
  CHECK(reports[1].reporter == "new-reporter");
  CHECK(reports[1].trust == Trust::untrusted);
  CHECK(reports[1].weight == 0.5);
  CHECK(reports[1].reason == "caf\xc3\xa9 \xef\xbf\xbd");  // as JSON records held it
  CHECK_FALSE(reports[1].allowlisted);
}

TEST_CASE("the same report in the same second replaces the stored one, JSON or binary",
          "[policy][window]") {
  World w;
  const auto s = subj("203.0.113.11");
  Report r;
  r.subject = s;
  r.trust = Trust::untrusted;
  r.reporter = "rep";
  r.detail = "trap-1";
  r.reason = "spam";
  r.evidence = "Message-ID: <2>";
  r.weight = 1.5;
  w.store.env().write([&](WriteTxn& txn) {
    // As the JSON era stored it: keyed by SHA-256 of the joined text.
    std::string key = "r" + subject_key(w.store.ensure_zone(txn, w.zone.name).id, s);
    key.push_back(static_cast<char>(0xff));
    put_be(key, static_cast<std::uint64_t>(w.now));
    const auto h = sha256(r.reporter + '\n' + r.detail + '\n' + r.reason + '\n' + r.evidence);
    key.append(reinterpret_cast<const char*>(h.data()), 8);
    txn.put(txn.dbs().aux, key,
            R"({"allowlisted":false,"detail":"trap-1","evidence":"Message-ID: <2>",)"
            R"("reason":"spam","reporter":"rep","trust":"untrusted","weight":1.5})");
  });
  ReportOutcome out;
  r.weight = 0.5;  // the same report again, lighter: it replaces the old one
  w.store.env().write([&](WriteTxn& txn) { out = w.policy.report(txn, w.zone, r, w.importer); });
  CHECK(out.window_weight == 0.5);
  r.weight = 0.25;
  w.store.env().write([&](WriteTxn& txn) { out = w.policy.report(txn, w.zone, r, w.importer); });
  CHECK(out.window_weight == 0.25);
  auto txn = w.store.env().begin_read();
  const auto reports = w.policy.reports(txn, w.zone, s);
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].weight == 0.25);
  CHECK(reports[0].detail == "trap-1");
}

}  // namespace
}  // namespace rblzone::core
