// Policy::report_many (the importer's grouped path: subject by subject, each
// subject's state read and written once) against Policy::report one report
// at a time, on the same random input in two stores on the same clock: the
// outcomes, listings, reports, offences, window summaries, per-subject
// history and journal, counts and serials must be identical, so the
// optimisation cannot silently change what the policy decides or records.
#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "core/policy.hpp"
#include "tests/unit/temp_dir.hpp"

namespace rblzone::core {
namespace {

constexpr std::int64_t kStart = 1'790'000'000;
constexpr std::int64_t kHour = 3600;

struct World {
  rblzone::testing::TempDir dir{"policy-many"};
  const std::int64_t* clock;
  Store store;
  Policy policy{store};
  explicit World(const std::int64_t* now)
      : clock(now), store(dir.path(), [this] { return *clock; }) {}
};

ZoneConfig make_zone(bool ip) {
  ZoneConfig z;
  z.name = ip ? "bl.example.org" : "dbl.example.org";
  z.kind = ip ? ZoneKind::ip : ZoneKind::domain;
  z.allowlist =
      ip ? std::vector<std::string>{"192.0.2.0/28"} : std::vector<std::string>{"good.example"};
  z.policy.window = 48 * kHour;
  z.policy.threshold = 2;
  z.policy.base_duration = 12 * kHour;
  return z;
}

std::vector<std::string> pool(bool ip) {
  if (ip) {
    // plain addresses, one allowlisted, one special-purpose (kept, never
    // listed), one listed by hand, one prefix (refused: bad_subject)
    return {"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4",  "198.51.100.9",
            "2001:db8::1", "192.0.2.5",   "10.1.2.3",    "203.0.113.50", "203.0.113.0/24"};
  }
  return {"spam.example", "a.spam.example", "b.example",    "c.example.net",
          "good.example", "manual.example", "*.sub.example"};
}

std::string manual_subject(bool ip) {
  return ip ? "203.0.113.50" : "manual.example";
}

void check_same(World& a, World& b, const ZoneConfig& zone,
                const std::vector<std::string>& subjects) {
  auto ta = a.store.env().begin_read();
  auto tb = b.store.env().begin_read();
  const auto ra = a.store.find_zone(ta, zone.name);
  const auto rb = b.store.find_zone(tb, zone.name);
  REQUIRE(ra.has_value() == rb.has_value());
  if (!ra) return;
  CHECK(a.store.serial(ta, *ra) == b.store.serial(tb, *rb));
  CHECK(a.store.counts(ta, *ra) == b.store.counts(tb, *rb));
  // Journal: the same entries for each subject, in the same order, and as
  // many in all (only the interleaving of subjects inside a batch differs).
  const auto ja = a.store.journal_since(ta, *ra, 0);
  const auto jb = b.store.journal_since(tb, *rb, 0);
  CHECK(ja.size() == jb.size());
  std::map<std::string, std::vector<std::tuple<std::int64_t, bool, std::optional<Listing>>>> pa, pb;
  for (const auto& e : ja) pa[e.subject].emplace_back(e.time, e.removed, e.listing);
  for (const auto& e : jb) pb[e.subject].emplace_back(e.time, e.removed, e.listing);
  CHECK(pa == pb);
  for (const auto& text : subjects) {
    const auto s = parse_subject(text);
    REQUIRE(s.has_value());
    INFO(text);
    CHECK(a.store.get(ta, *ra, *s) == b.store.get(tb, *rb, *s));
    const auto oa = a.policy.offence(ta, zone, *s);
    const auto ob = b.policy.offence(tb, zone, *s);
    REQUIRE(oa.has_value() == ob.has_value());
    if (oa) {
      CHECK(oa->score == ob->score);
      CHECK(oa->updated == ob->updated);
      CHECK(oa->penalty == ob->penalty);
      CHECK(oa->count == ob->count);
      CHECK(oa->cleared == ob->cleared);
    }
    const auto repa = a.policy.reports(ta, zone, *s);
    const auto repb = b.policy.reports(tb, zone, *s);
    REQUIRE(repa.size() == repb.size());
    for (std::size_t i = 0; i < repa.size(); ++i) {
      CHECK(repa[i].time == repb[i].time);
      CHECK(repa[i].reporter == repb[i].reporter);
      CHECK(repa[i].evidence == repb[i].evidence);
      CHECK(repa[i].weight == repb[i].weight);
      CHECK(repa[i].trust == repb[i].trust);
      CHECK(repa[i].allowlisted == repb[i].allowlisted);
    }
    // The window summary record, byte for byte (or absent in both).
    const auto sa = ta.get(ta.dbs().aux, "s" + subject_key(ra->id, *s));
    const auto sb = tb.get(tb.dbs().aux, "s" + subject_key(rb->id, *s));
    CHECK(sa == sb);
    auto ha = a.store.history(ta, *ra, *s);
    auto hb = b.store.history(tb, *rb, *s);
    REQUIRE(ha.size() == hb.size());
    for (std::size_t i = 0; i < ha.size(); ++i) {
      CHECK(ha[i].time == hb[i].time);
      CHECK(ha[i].actor == hb[i].actor);
      CHECK(ha[i].action == hb[i].action);
      CHECK(ha[i].reason == hb[i].reason);
      CHECK(ha[i].before == hb[i].before);
      CHECK(ha[i].after == hb[i].after);
    }
  }
}

void run(bool ip, unsigned seed) {
  INFO("seed " << seed << (ip ? " ip" : " domain"));
  std::mt19937 rng(seed);
  const auto pick = [&](std::size_t n) {
    return static_cast<std::size_t>(std::uniform_int_distribution<std::size_t>(0, n - 1)(rng));
  };
  std::int64_t now = kStart;
  World a(&now), b(&now);
  const ZoneConfig zone = make_zone(ip);
  const auto subjects = pool(ip);
  const Actor importer{"import:traps", Role::importer};
  const Actor desk{"token:desk", Role::desk};
  ManualListing m;
  m.reason = "by hand";
  for (World* w : {&a, &b}) {
    w->store.env().write([&](WriteTxn& txn) {
      w->policy.list(txn, zone, *parse_subject(manual_subject(ip)), m, desk);
    });
  }
  const std::vector<std::string> reporters = {"trap:a", "trap:b", "trap:c", "token:feed"};
  const std::vector<Trust> trusts = {Trust::trap, Trust::trusted, Trust::untrusted};
  const std::vector<std::optional<double>> weights = {std::nullopt, 0.5, 1.0, 2.0, 0.0, 5000.0};
  std::size_t listed = 0, extended = 0, refused = 0;
  for (int round = 0; round < 25; ++round) {
    now += static_cast<std::int64_t>(pick(8)) * kHour + static_cast<std::int64_t>(pick(2));
    std::vector<Report> batch(1 + pick(40));
    for (auto& r : batch) {
      r.subject = *parse_subject(subjects[pick(subjects.size())]);
      r.trust = trusts[pick(trusts.size())];
      r.reporter = reporters[pick(reporters.size())];
      r.reason = "spam";
      // Few evidences and seconds: the same report in the same second recurs.
      r.evidence = "msg-" + std::to_string(pick(3));
      r.weight = weights[pick(weights.size() - (pick(8) == 0 ? 0 : 1))];
      if (pick(3) != 0)
        r.time = now - static_cast<std::int64_t>(pick(4)) * kHour * 20 -
                 static_cast<std::int64_t>(pick(2));
    }
    std::vector<Policy::ManyOutcome> many;
    a.store.env().write([&](WriteTxn& txn) {
      ReportBatch rb;
      many = a.policy.report_many(txn, zone, batch, importer, rb);
    });
    REQUIRE(many.size() == batch.size());
    b.store.env().write([&](WriteTxn& txn) {
      ReportBatch rb;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        INFO("report " << i);
        std::optional<ReportOutcome> one;
        std::optional<std::string> code;
        try {
          one = b.policy.report(txn, zone, batch[i], importer, rb);
        } catch (const PolicyError& e) {
          code = e.code();
        }
        REQUIRE(code.has_value() == many[i].error.has_value());
        if (code) {
          CHECK(*code == many[i].error->code());
          ++refused;
          continue;
        }
        CHECK(one->result == many[i].outcome.result);
        CHECK(one->window_weight == many[i].outcome.window_weight);
        CHECK(one->listing == many[i].outcome.listing);
        listed += one->result == ReportResult::listed;
        extended += one->result == ReportResult::extended;
      }
    });
    // Now and then the desk delists something and the sweeper runs, in both.
    if (pick(4) == 0) {
      const auto s = *parse_subject(subjects[pick(4)]);
      for (World* w : {&a, &b}) {
        w->store.env().write([&](WriteTxn& txn) {
          if (w->store.get(txn, w->store.ensure_zone(txn, zone.name), s))
            w->policy.unlist(txn, zone, s, "delisted", desk);
          w->store.sweep_expired(txn, w->store.ensure_zone(txn, zone.name), now, 100);
        });
      }
    }
    check_same(a, b, zone, subjects);
  }
  // The input did exercise the paths compared.
  CHECK(listed > 0);
  CHECK(extended > 0);
  CHECK(refused > 0);
}

TEST_CASE("report_many decides and records what report() one at a time does", "[policy_many]") {
  for (unsigned seed = 1; seed <= 6; ++seed) {
    run(true, seed);
    run(false, seed);
  }
}

}  // namespace
}  // namespace rblzone::core
