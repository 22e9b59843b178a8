// The listing lifecycle on simulated time: a month of reports, listings,
// expiry, escalation, delist requests and history runs in milliseconds.
#include "core/policy.hpp"

#include <catch2/catch.hpp>
#include <cmath>

#include "core/tokens.hpp"
#include "tests/unit/temp_dir.hpp"

namespace rblzone::core {
namespace {

constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kDay = 24 * kHour;
constexpr std::int64_t kStart = 1'790'000'000;  // 2026-09-21

ManualListing manual(std::string reason) {
  ManualListing m;
  m.reason = std::move(reason);
  return m;
}

Subject subj(const char* text) {
  return *parse_subject(text);
}

ZoneConfig ip_zone() {
  ZoneConfig z;
  z.name = "bl.example.org";
  z.kind = ZoneKind::ip;
  z.allowlist = {"192.0.2.0/28"};
  return z;
}

ZoneConfig domain_zone() {
  ZoneConfig z;
  z.name = "dbl.example.org";
  z.kind = ZoneKind::domain;
  return z;
}

// A store on a clock the test moves.
struct World {
  rblzone::testing::TempDir dir{"policy"};
  std::int64_t now = kStart;
  Store store{dir.path(), [this] { return now; }};
  Policy policy{store};
  ZoneConfig zone = ip_zone();
  Actor trap{"token:traps", Role::importer};
  Actor desk{"token:desk", Role::desk};
  Actor admin{"token:admin", Role::admin};

  ReportOutcome report(const char* s, Trust trust, const std::string& reporter,
                       const ZoneConfig* z = nullptr) {
    ReportOutcome out;
    store.env().write([&](WriteTxn& txn) {
      out = policy.report(txn, z ? *z : zone,
                          Report{subj(s), trust, reporter, "", "spam", "Message-ID: <x>", {}, {}},
                          trap);
    });
    return out;
  }
  // Listed as DNS would answer, at the current time.
  bool listed(const char* s, const ZoneConfig* z = nullptr) {
    auto txn = store.env().begin_read();
    const auto ref = store.find_zone(txn, (z ? *z : zone).name);
    return ref && active_match(store, txn, *ref, subj(s), now).has_value();
  }
  std::optional<Listing> listing(const char* s) {
    auto txn = store.env().begin_read();
    const auto ref = store.find_zone(txn, zone.name);
    if (!ref) return std::nullopt;
    return store.get(txn, *ref, subj(s));
  }
  template <typename F>
  auto write(F&& f) {
    std::optional<decltype(f(std::declval<WriteTxn&>()))> out;
    store.env().write([&](WriteTxn& txn) { out = f(txn); });
    return *out;
  }
  std::size_t sweep() {
    std::size_t n = 0;
    store.env().write([&](WriteTxn& txn) {
      n = store.sweep_expired(txn, store.ensure_zone(txn, zone.name), now, 1000);
    });
    return n;
  }
};

TEST_CASE("a trap hit lists and 24 hours of silence delist", "[policy]") {
  World w;
  const auto out = w.report("203.0.113.7", Trust::trap, "trap:a");
  CHECK(out.result == ReportResult::listed);
  REQUIRE(out.listing);
  CHECK(out.listing->source == Source::trap);
  CHECK(out.listing->codes == std::vector<std::uint32_t>{0x7f000003});
  CHECK(out.listing->expires == kStart + kDay);
  CHECK(out.listing->reason.find("trap") != std::string::npos);
  CHECK(w.listed("203.0.113.7"));

  // Still spamming: each hit moves the expiry to 24 h after it.
  w.now += 20 * kHour;
  CHECK(w.report("203.0.113.7", Trust::trap, "trap:b").result == ReportResult::extended);
  CHECK(w.listing("203.0.113.7")->expires == w.now + kDay);
  w.now += 23 * kHour;
  CHECK(w.listed("203.0.113.7"));
  // It stops: a day after the last hit it is delisted with nobody acting,
  // and the sweeper leaves history behind.
  w.now += kHour;
  CHECK_FALSE(w.listed("203.0.113.7"));
  CHECK(w.sweep() == 1);
  CHECK_FALSE(w.listing("203.0.113.7"));
  auto txn = w.store.env().begin_read();
  const auto ref = w.store.find_zone(txn, w.zone.name);
  const auto events = w.store.history(txn, *ref, subj("203.0.113.7"));
  REQUIRE(events.size() == 3);
  CHECK(events[0].action == "list");
  CHECK(events[1].action == "extend");
  CHECK(events[2].action == "expire");
}

TEST_CASE("repeat offences last longer and the score decays", "[policy]") {
  World w;
  std::vector<std::int64_t> durations;
  for (int i = 0; i < 3; ++i) {
    const auto out = w.report("203.0.113.9", Trust::trap, "trap:a");
    REQUIRE(out.result == ReportResult::listed);
    durations.push_back(out.listing->expires - w.now);
    CHECK(out.listing->offences == static_cast<std::uint32_t>(i + 1));
    w.now = out.listing->expires + kHour;  // silence until it has expired
  }
  // 24 h, then ~2x, then ~4x (a little less: the score decayed meanwhile).
  CHECK(durations[0] == kDay);
  CHECK(durations[1] > 190 * kDay / 100);
  CHECK(durations[1] < 2 * kDay);
  CHECK(durations[2] > 36 * kDay / 10);
  CHECK(durations[2] < 4 * kDay);
  CHECK(w.listing("203.0.113.9")->reason.find("repeat offence 3") != std::string::npos);

  // Half a year of good behaviour: the score has decayed (half-life 30 d)
  // and the next listing is back close to the base.
  w.now += 180 * kDay;
  const auto later = w.report("203.0.113.9", Trust::trap, "trap:a");
  REQUIRE(later.result == ReportResult::listed);
  const auto d = later.listing->expires - w.now;
  CHECK(d >= kDay);
  CHECK(d < kDay + kDay / 10);

  // The cap holds however bad it gets.
  ZoneConfig harsh = w.zone;
  harsh.policy.factor = 100;
  harsh.policy.max_duration = 30 * kDay;
  w.now = later.listing->expires + 1;
  const auto capped = w.report("203.0.113.9", Trust::trap, "trap:a", &harsh);
  CHECK(capped.listing->expires - w.now <= 30 * kDay);
}

TEST_CASE("one public report never lists, nor one reporter many times", "[policy]") {
  World w;
  const auto one = w.report("198.51.100.77", Trust::untrusted, "button:user1");
  CHECK(one.result == ReportResult::recorded);
  CHECK(one.window_weight == Approx(0.1));
  for (int i = 0; i < 30; ++i) w.report("198.51.100.77", Trust::untrusted, "button:user1");
  CHECK_FALSE(w.listed("198.51.100.77"));
  // Ten different people within the window reach the threshold.
  for (int i = 2; i <= 9; ++i) {
    CHECK(w.report("198.51.100.77", Trust::untrusted, "button:user" + std::to_string(i)).result ==
          ReportResult::recorded);
  }
  const auto tenth = w.report("198.51.100.77", Trust::untrusted, "button:user10");
  CHECK(tenth.result == ReportResult::listed);
  CHECK(tenth.listing->source == Source::report);
  CHECK(tenth.listing->codes == std::vector<std::uint32_t>{0x7f000005});
}

TEST_CASE("reports outside the window do not add up", "[policy]") {
  World w;
  for (int i = 0; i < 9; ++i) w.report("198.51.100.78", Trust::untrusted, "u" + std::to_string(i));
  w.now += 49 * kHour;
  CHECK(w.report("198.51.100.78", Trust::untrusted, "u9").result == ReportResult::recorded);
  CHECK_FALSE(w.listed("198.51.100.78"));
}

TEST_CASE("a malicious reporter alone cannot list an allowlisted address", "[policy]") {
  World w;
  for (int i = 0; i < 50; ++i) {
    CHECK(w.report("192.0.2.5", Trust::trusted, "evil").result == ReportResult::allowlisted);
  }
  CHECK(w.report("127.0.0.1", Trust::trap, "trap").result == ReportResult::allowlisted);
  CHECK_FALSE(w.listed("192.0.2.5"));
  // The reports are kept and visible to the desk.
  auto txn = w.store.env().begin_read();
  const auto reports = w.policy.reports(txn, w.zone, subj("192.0.2.5"));
  CHECK(reports.size() >= 1);
  CHECK(reports.front().allowlisted);
  CHECK(reports.front().reporter == "evil");
}

TEST_CASE("the allowlist added through the API removes and prevents listings", "[policy]") {
  World w;
  w.report("203.0.113.50", Trust::trap, "trap");
  REQUIRE(w.listed("203.0.113.50"));
  w.write([&](WriteTxn& txn) {
    w.policy.allow(txn, w.zone, subj("203.0.113.48/29"), "our relays", w.admin);
    return 0;
  });
  CHECK_FALSE(w.listed("203.0.113.50"));
  CHECK(w.report("203.0.113.50", Trust::trap, "trap").result == ReportResult::allowlisted);
  CHECK_THROWS_AS(w.write([&](WriteTxn& txn) {
    return w.policy.list(txn, w.zone, subj("203.0.113.49"), manual("x"), w.desk);
  }),
                  PolicyError);
  CHECK(w.write([&](WriteTxn& txn) {
    return w.policy.disallow(txn, w.zone, subj("203.0.113.48/29"), "moved", w.admin);
  }));
  w.now += 60;  // new evidence, after the removal
  CHECK(w.report("203.0.113.50", Trust::trap, "trap").result == ReportResult::listed);
}

TEST_CASE("allowlisting inside a listed range carves it out", "[policy]") {
  World w;
  w.write([&](WriteTxn& txn) {
    return w.policy.list(txn, w.zone, subj("203.0.113.0/24"), manual("range"), w.desk);
  });
  w.write([&](WriteTxn& txn) {
    w.policy.allow(txn, w.zone, subj("203.0.113.0/28"), "our relays", w.admin);
    return 0;
  });
  CHECK_FALSE(w.listed("203.0.113.5"));
  CHECK(w.listed("203.0.113.200"));

  // Removing the entry removes its exclusion: the range applies again.
  CHECK(w.write([&](WriteTxn& txn) {
    return w.policy.disallow(txn, w.zone, subj("203.0.113.0/28"), "relays moved", w.admin);
  }));
  CHECK(w.listed("203.0.113.5"));
  auto txn = w.store.env().begin_read();
  const auto events =
      w.store.history(txn, *w.store.find_zone(txn, w.zone.name), subj("203.0.113.0/28"));
  REQUIRE_FALSE(events.empty());
  CHECK(events.back().action == "delist");
  CHECK(events.back().reason == "allowlist entry removed: relays moved");
}

TEST_CASE("removing an allowlist entry keeps an exclusion the desk made", "[policy]") {
  World w;
  w.write([&](WriteTxn& txn) {
    return w.policy.list(txn, w.zone, subj("203.0.113.0/24"), manual("range"), w.desk);
  });
  w.write([&](WriteTxn& txn) {
    ManualListing m = manual("customer's own mail server");
    m.exclusion = true;
    return w.policy.list(txn, w.zone, subj("203.0.113.7"), m, w.desk);
  });
  w.write([&](WriteTxn& txn) {
    w.policy.allow(txn, w.zone, subj("203.0.113.7"), "our relay", w.admin);
    return 0;
  });
  CHECK(w.write([&](WriteTxn& txn) {
    return w.policy.disallow(txn, w.zone, subj("203.0.113.7"), "moved", w.admin);
  }));
  CHECK_FALSE(w.listed("203.0.113.7"));
  CHECK(w.listed("203.0.113.8"));
}

TEST_CASE("special-purpose addresses are recorded but never listed automatically", "[policy]") {
  World w;
  CHECK(w.report("10.1.2.3", Trust::trap, "trap").result == ReportResult::reserved);
  CHECK_FALSE(w.listed("10.1.2.3"));
}

TEST_CASE("the desk lists by hand; broad and reserved ranges need an admin override", "[policy]") {
  World w;
  const auto l = w.write([&](WriteTxn& txn) {
    ManualListing m = manual("snowshoe spam");
    m.code = "desk";
    m.permanent = true;
    return w.policy.list(txn, w.zone, subj("203.0.113.0/24"), m, w.desk);
  });
  CHECK(l.permanent());
  CHECK(l.codes == std::vector<std::uint32_t>{0x7f000004});
  w.now += 400 * kDay;
  CHECK(w.listed("203.0.113.200"));

  const auto code_of = [](const PolicyError& e) { return e.code(); };
  auto attempt = [&](const char* s, bool override_checks, const Actor& who) -> std::string {
    try {
      w.write([&](WriteTxn& txn) {
        ManualListing m = manual("wide");
        m.override_checks = override_checks;
        return w.policy.list(txn, w.zone, subj(s), m, who);
      });
      return "ok";
    } catch (const PolicyError& e) {
      return code_of(e);
    }
  };
  CHECK(attempt("198.0.0.0/8", false, w.desk) == "needs_override");
  CHECK(attempt("198.0.0.0/8", true, w.desk) == "forbidden");
  CHECK(attempt("10.0.0.0/24", false, w.admin) == "needs_override");
  CHECK(attempt("198.0.0.0/8", true, w.admin) == "ok");
  CHECK(attempt("127.0.0.2", true, w.admin) == "test_point");
  CHECK(attempt("192.0.2.1", true, w.admin) == "allowlisted");
  {
    auto txn = w.store.env().begin_read();
    const auto ref = w.store.find_zone(txn, w.zone.name);
    const auto ev = w.store.history(txn, *ref, subj("198.0.0.0/8"));
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].reason.find("override") != std::string::npos);  // the history records it
  }
  // A manual listing is not shortened by automatic reports.
  w.report("203.0.113.9", Trust::trap, "trap");
  CHECK(w.listing("203.0.113.9")->source == Source::trap);
  CHECK(w.write([&](WriteTxn& txn) {
           return w.policy.unlist(txn, w.zone, subj("203.0.113.0/24"), "cleaned up", w.desk);
         }).permanent());
  CHECK_THROWS_AS(w.write([&](WriteTxn& txn) {
    return w.policy.unlist(txn, w.zone, subj("203.0.113.0/24"), "again", w.desk);
  }),
                  PolicyError);
}

TEST_CASE("delist requests: self-service, quota used up, desk approval and denial", "[policy]") {
  World w;
  const auto request = [&](const char* s) {
    return w.write([&](WriteTxn& txn) {
      return w.policy.request_delist(txn, w.zone, subj(s), "noc@example.net", "fixed the relay",
                                     "192.0.2.200");
    });
  };
  // Three self-service removals in 90 days...
  for (int i = 0; i < 3; ++i) {
    REQUIRE(w.report("203.0.113.7", Trust::trap, "trap").result == ReportResult::listed);
    const auto r = request("203.0.113.7");
    CHECK(r.status == "approved");
    CHECK(r.self_service);
    CHECK_FALSE(w.listed("203.0.113.7"));
    w.now += kDay;
  }
  // ...the fourth waits for the desk.
  REQUIRE(w.report("203.0.113.7", Trust::trap, "trap").result == ReportResult::listed);
  const auto pending = request("203.0.113.7");
  CHECK(pending.status == "pending");
  CHECK(w.listed("203.0.113.7"));
  // Asking again points at the same request.
  CHECK(request("203.0.113.7").id == pending.id);
  {
    auto txn = w.store.env().begin_read();
    const auto list = w.policy.delist_requests(txn, std::string_view("pending"));
    REQUIRE(list.size() == 1);
    CHECK(list[0].id == pending.id);
  }
  const auto denied = w.write([&](WriteTxn& txn) {
    return w.policy.decide(txn, w.zone, pending.id, false, "still hitting traps", w.desk);
  });
  CHECK(denied.status == "denied");
  CHECK(w.listed("203.0.113.7"));
  CHECK_THROWS_AS(w.write([&](WriteTxn& txn) {
    return w.policy.decide(txn, w.zone, pending.id, true, "changed my mind", w.desk);
  }),
                  PolicyError);
  const auto again = request("203.0.113.7");
  CHECK(again.status == "pending");
  CHECK(again.id != pending.id);
  const auto approved = w.write([&](WriteTxn& txn) {
    return w.policy.decide(txn, w.zone, again.id, true, "customer fixed it", w.desk);
  });
  CHECK(approved.status == "approved");
  CHECK_FALSE(w.listed("203.0.113.7"));
  {
    auto txn = w.store.env().begin_read();
    const auto got = w.policy.delist_request(txn, again.id);
    REQUIRE(got);
    CHECK(got->status == "approved");
    CHECK(got->decision_reason == "customer fixed it");
  }
  // New evidence lists it again; old reports alone do not.
  w.now += 60;
  CHECK(w.report("203.0.113.7", Trust::untrusted, "u1").result == ReportResult::recorded);
  CHECK(w.report("203.0.113.7", Trust::trap, "trap").result == ReportResult::listed);

  // A manual listing always waits for the desk; an unlisted one says so.
  w.write([&](WriteTxn& txn) {
    return w.policy.list(txn, w.zone, subj("203.0.113.99"), manual("desk"), w.desk);
  });
  CHECK(request("203.0.113.99").status == "pending");
  CHECK(request("203.0.113.100").status == "not_listed");
  CHECK_THROWS_AS(request("127.0.0.2"), PolicyError);
}

TEST_CASE("was it listed at time T, and why: answered from history", "[policy]") {
  World w;
  w.write([&](WriteTxn& txn) {
    ManualListing m = manual("hosting spam");
    m.duration = 10 * kDay;
    return w.policy.list(txn, w.zone, subj("203.0.113.0/24"), m, w.desk);
  });
  const std::int64_t listed_at = w.now;
  w.now += kDay;
  w.write([&](WriteTxn& txn) {
    ManualListing m = manual("not this one");
    m.permanent = true;
    m.exclusion = true;
    return w.policy.list(txn, w.zone, subj("203.0.113.5"), m, w.desk);
  });
  w.now += 20 * kDay;
  w.sweep();  // the /24 expired after 10 days; history keeps it
  auto txn = w.store.env().begin_read();
  const auto at = [&](const char* s, std::int64_t t) {
    return w.policy.state_at(txn, w.zone, subj(s), t);
  };
  const auto mid = at("203.0.113.7", listed_at + 3600);
  CHECK(mid.listed);
  CHECK(mid.matched == "203.0.113.0/24");
  REQUIRE(mid.listing);
  CHECK(mid.listing->reason == "hosting spam");
  REQUIRE(mid.why);
  CHECK(mid.why->actor == "token:desk");
  CHECK_FALSE(at("203.0.113.7", listed_at - 1).listed);
  CHECK_FALSE(at("203.0.113.7", listed_at + 11 * kDay).listed);  // expired by then
  CHECK_FALSE(at("203.0.113.5", listed_at + 2 * kDay).listed);   // the exclusion held
  CHECK(at("203.0.113.5", listed_at + 3600).listed);             // not yet excluded
}

TEST_CASE("domain zones follow the same rules", "[policy]") {
  World w;
  w.zone = domain_zone();
  CHECK(w.report("spam.example", Trust::trap, "trap").result == ReportResult::listed);
  CHECK(w.listed("spam.example"));
  CHECK_THROWS_AS(w.report("*.spam.example", Trust::trap, "trap"), PolicyError);
  CHECK_THROWS_AS(w.report("192.0.2.1", Trust::trap, "trap"), PolicyError);
}

TEST_CASE("tokens are stored hashed and checked whole", "[policy][tokens]") {
  rblzone::testing::TempDir dir{"tokens"};
  Store store(dir.path());
  std::string token;
  store.env().write([&](WriteTxn& txn) {
    token = create_token(txn, TokenInfo{"desk-1", Role::desk, Trust::trusted, 1, "cli:root"});
  });
  CHECK(token.size() == 68);
  {
    auto txn = store.env().begin_read();
    const auto who = authenticate(txn, token);
    REQUIRE(who);
    CHECK(who->name == "desk-1");
    CHECK(who->role == Role::desk);
    auto wrong = token;
    wrong.back() = wrong.back() == '0' ? '1' : '0';
    CHECK_FALSE(authenticate(txn, wrong));
    CHECK_FALSE(authenticate(txn, token.substr(0, 60)));
    // The token itself is nowhere in the store.
    Cursor c(txn, txn.dbs().aux);
    for (bool ok = c.first(); ok; ok = c.next()) {
      CHECK(c.value().find(token.substr(4)) == std::string_view::npos);
    }
  }
  CHECK_THROWS_AS(store.env().write([&](WriteTxn& txn) {
    create_token(txn, TokenInfo{"desk-1", Role::desk, Trust::trusted, 1, "cli:root"});
  }),
                  PolicyError);
  store.env().write([&](WriteTxn& txn) { CHECK(revoke_token(txn, "desk-1")); });
  auto txn = store.env().begin_read();
  CHECK_FALSE(authenticate(txn, token));
  CHECK(list_tokens(txn).empty());
}

}  // namespace
}  // namespace rblzone::core
