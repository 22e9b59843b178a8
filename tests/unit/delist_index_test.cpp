// The delist requests' index and counters (core/delist_index.hpp): pages
// through Policy::delist_requests equal a brute-force sort of every record,
// the counters equal a brute-force count, and a store without the index
// (written by an older build) gets it built on open.
#include "core/delist_index.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/policy.hpp"
#include "tests/unit/fixtures.hpp"
#include "tests/unit/temp_dir.hpp"

namespace rblzone::core {
namespace {

constexpr std::int64_t kStart = 1'790'000'000;  // 2026-09-21
const std::vector<std::string> kAll = {"pending", "approved", "denied", "not_listed"};

Subject subj(const std::string& text) {
  return *parse_subject(text);
}

Listing stored(Source source, std::int64_t now) {
  auto l = rblzone::testing::listing({0x7f000002}, "spam");
  l.source = source;
  l.first_seen = l.last_seen = now;
  l.expires = now + 400 * 86400;
  return l;
}

struct Brute {
  std::string id;
  std::string status;
  std::int64_t created = 0;
};

// Every 'd' record read straight from the store, sorted as the list always
// was: created descending, then id ascending.
std::vector<Brute> brute_force(Environment& env, std::optional<std::string> status) {
  std::vector<Brute> out;
  auto txn = env.begin_read();
  Cursor c(txn, txn.dbs().aux);
  for (bool ok = c.seek("d"); ok && c.key().starts_with("d"); ok = c.next()) {
    const auto j = nlohmann::json::parse(c.value());
    Brute b{j.at("id").get<std::string>(), j.at("status").get<std::string>(),
            j.at("created").get<std::int64_t>()};
    REQUIRE(b.id == c.key().substr(1));
    if (!status || b.status == *status) out.push_back(b);
  }
  std::sort(out.begin(), out.end(), [](const Brute& a, const Brute& b) {
    return a.created != b.created ? a.created > b.created : a.id < b.id;
  });
  return out;
}

// Every page of `limit`, following `next`, concatenated.
std::vector<DelistRequest> all_pages(Store& store, std::optional<std::string> status,
                                     std::size_t limit, std::size_t& pages) {
  std::vector<DelistRequest> out;
  std::optional<DelistCursor> before;
  pages = 0;
  auto txn = store.env().begin_read();
  Policy policy(store);
  for (;;) {
    const auto page = policy.delist_requests(
        txn, status ? std::optional<std::string_view>(*status) : std::nullopt, limit, before);
    ++pages;
    REQUIRE(page.requests.size() <= limit);
    for (const auto& r : page.requests) out.push_back(r);
    if (!page.next) break;
    REQUIRE(page.requests.size() == limit);
    // The cursor goes through its text form, as a client sends it back.
    before = DelistCursor::parse(page.next->to_string());
    REQUIRE(before);
    REQUIRE(pages < 10000);
  }
  return out;
}

std::vector<std::string> index_keys(Environment& env) {
  std::vector<std::string> out;
  auto txn = env.begin_read();
  Cursor c(txn, txn.dbs().aux);
  for (bool ok = c.seek("q"); ok && c.key().starts_with("q"); ok = c.next()) {
    out.emplace_back(c.key());
  }
  return out;
}

void check_pages_match(Store& store) {
  Policy policy(store);
  for (const auto& status : std::vector<std::optional<std::string>>{
           std::nullopt, "pending", "approved", "denied", "not_listed"}) {
    INFO("status " << status.value_or("(all)"));
    const auto want = brute_force(store.env(), status);
    std::size_t pages = 0;
    const auto got = all_pages(store, status, 100, pages);
    REQUIRE(got.size() == want.size());
    CHECK(pages == std::max<std::size_t>(1, (want.size() + 99) / 100));
    std::set<std::string> seen;
    for (std::size_t i = 0; i < want.size(); ++i) {
      INFO("position " << i);
      REQUIRE(got[i].id == want[i].id);
      CHECK(got[i].status == want[i].status);
      CHECK(got[i].created == want[i].created);
      CHECK(seen.insert(got[i].id).second);
    }
    auto txn = store.env().begin_read();
    CHECK(policy.delist_count(txn, status ? std::optional<std::string_view>(*status)
                                          : std::nullopt) == want.size());
  }
}

// 2,500 requests over two IP zones and a domain zone: pending (manual
// listings), self-service approvals (automatic ones), not_listed, and desk
// decisions; created times jump back and forth and often share a second.
struct World {
  rblzone::testing::TempDir dir{"delist-index"};
  std::int64_t now = kStart;
  std::optional<Store> store{std::in_place, dir.path(), [this] { return now; }};
  std::vector<ZoneConfig> zones = {rblzone::testing::zone("bl.example.org"),
                                   rblzone::testing::zone("pbl.example.org"),
                                   rblzone::testing::zone("dbl.example.org", ZoneKind::domain)};
  Actor desk{"token:desk", Role::desk};

  void reopen() {
    store.reset();
    store.emplace(dir.path(), [this] { return now; });
  }

  std::string subject_for(std::size_t i, const ZoneConfig& z) const {
    if (z.kind == ZoneKind::domain) return "host" + std::to_string(i) + ".spam.example";
    return "198.51." + std::to_string(100 + i / 250) + "." + std::to_string(i % 250);
  }

  // Requests number `first` to `first + n - 1`, each on its own subject.
  void fill(std::size_t n, std::size_t first = 0) {
    Policy policy(*store);
    std::vector<std::pair<std::size_t, std::string>> pending;  // zone, id
    for (std::size_t i = first; i < first + n; i += 100) {
      store->env().write([&](WriteTxn& txn) {
        for (std::size_t k = i; k < std::min(first + n, i + 100); ++k) {
          // Often the same second; sometimes earlier than the one before.
          now = kStart + static_cast<std::int64_t>((k * 7919) % 600) * 60;
          const auto zi = k % zones.size();
          const auto& z = zones[zi];
          const auto s = subj(subject_for(k, z));
          const auto ref = store->ensure_zone(txn, z.name);
          switch (k % 5) {
            case 0:
            case 1:  // a manual listing: waits for the desk
              store->put(txn, ref, s, stored(Source::manual, now), Change{"test", "list", "x"});
              break;
            case 2:  // an automatic one: removed at once
              store->put(txn, ref, s, stored(Source::trap, now), Change{"test", "list", "x"});
              break;
            default:  // not listed
              break;
          }
          const auto r = policy.request_delist(txn, z, s, "noc@example.net", "fixed", "192.0.2.1");
          if (r.status == "pending") pending.emplace_back(zi, r.id);
        }
      });
    }
    // The desk decides about a third of the pending ones, later.
    now = kStart + 700 * 60;
    store->env().write([&](WriteTxn& txn) {
      for (std::size_t k = 0; k < pending.size(); k += 3) {
        policy.decide(txn, zones[pending[k].first], pending[k].second, k % 2 == 0, "checked", desk);
      }
    });
  }
};

TEST_CASE("delist requests page through the index as a brute-force sort would", "[delist_index]") {
  World w;
  w.fill(2500);
  // Every kind of request is there, and the order has ties to break.
  const auto everything = brute_force(w.store->env(), std::nullopt);
  REQUIRE(everything.size() == 2500);
  std::map<std::string, std::size_t> by_status;
  std::set<std::int64_t> seconds;
  for (const auto& b : everything) {
    ++by_status[b.status];
    seconds.insert(b.created);
  }
  for (const auto& s : kAll) CHECK(by_status[s] > 100);
  CHECK(seconds.size() < 1000);
  check_pages_match(*w.store);

  // Other page sizes cut the same list at other places.
  for (const std::size_t limit : {1, 7, 1000, 3000}) {
    std::size_t pages = 0;
    const auto got = all_pages(*w.store, std::nullopt, limit, pages);
    REQUIRE(got.size() == everything.size());
    for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got[i].id == everything[i].id);
  }
  // The whole-list form agrees too.
  {
    auto txn = w.store->env().begin_read();
    const auto list = Policy(*w.store).delist_requests(txn, std::string_view("denied"));
    const auto want = brute_force(w.store->env(), "denied");
    REQUIRE(list.size() == want.size());
    for (std::size_t i = 0; i < list.size(); ++i) CHECK(list[i].id == want[i].id);
    // A status that does not exist has no requests, and counts none.
    CHECK(Policy(*w.store).delist_requests(txn, std::string_view("open"), 10).requests.empty());
    CHECK(Policy(*w.store).delist_count(txn, std::string_view("open")) == 0);
  }
}

TEST_CASE("a store without the delist index gets it built on open", "[delist_index]") {
  World w;
  w.fill(600);
  const auto before = index_keys(w.store->env());
  REQUIRE(before.size() == 600);
  std::array<std::uint64_t, 4> counts{};
  {
    auto txn = w.store->env().begin_read();
    counts = delist_index::counts(txn);
  }
  // What a build without the index leaves: 'd' records only.
  w.store->env().write([&](WriteTxn& txn) {
    for (const auto& k : before) txn.del(txn.dbs().aux, k);
    for (const auto& s : kAll) txn.del(txn.dbs().meta, "delist_count:" + s);
    txn.del(txn.dbs().meta, "delist_indexed");
  });
  {
    auto txn = w.store->env().begin_read();
    CHECK(Policy(*w.store).delist_requests(txn, std::nullopt, 100).requests.empty());
    CHECK(Policy(*w.store).delist_count(txn, std::nullopt) == 0);
  }
  w.reopen();
  CHECK(index_keys(w.store->env()) == before);
  {
    auto txn = w.store->env().begin_read();
    CHECK(delist_index::counts(txn) == counts);
  }
  check_pages_match(*w.store);
  // Done once: the next open (or a second process) has nothing to do.
  CHECK(delist_index::build_if_missing(w.store->env()) == 0);

  // A partial index without the marker (an older build wrote requests
  // after some were indexed) is replaced, not added to.
  w.store->env().write([&](WriteTxn& txn) {
    txn.del(txn.dbs().aux, before.front());
    txn.put(txn.dbs().meta, "delist_count:pending", std::string(8, '\x7f'));
    txn.del(txn.dbs().meta, "delist_indexed");
  });
  CHECK(delist_index::build_if_missing(w.store->env()) == 600);
  CHECK(index_keys(w.store->env()) == before);
  check_pages_match(*w.store);

  // New requests after the rebuild keep it exact.
  w.fill(100, 600);
  CHECK(index_keys(w.store->env()).size() == 700);
  check_pages_match(*w.store);
}

TEST_CASE("the index orders created times of any sign, and ids within a second", "[delist_index]") {
  rblzone::testing::TempDir dir("delist-order");
  Store store(dir.path());
  const std::vector<std::int64_t> times = {
      std::numeric_limits<std::int64_t>::min(), -86400, -1, 0, 1, kStart,
      std::numeric_limits<std::int64_t>::max()};
  std::vector<delist_index::Position> want;
  store.env().write([&](WriteTxn& txn) {
    for (const auto t : times) {
      for (const std::string id : {"b", "a", "ab", "c0"}) {
        const auto rid = std::to_string(t) + id;
        delist_index::on_write(txn, rid, std::nullopt, "denied", t);
        want.push_back({t, rid});
      }
    }
    // Rewritten with its status changed: moves between ranges, counted once.
    const auto moved = std::to_string(kStart) + "a";
    const std::string old = nlohmann::json{{"status", "denied"}, {"created", kStart}}.dump();
    delist_index::on_write(txn, moved, old, "approved", kStart);
  });
  std::sort(want.begin(), want.end(), [](const auto& a, const auto& b) {
    return a.created != b.created ? a.created > b.created : a.id < b.id;
  });
  auto txn = store.env().begin_read();
  bool more = false;
  const auto got = delist_index::page(txn, 0xf, 1000, std::nullopt, more);
  CHECK_FALSE(more);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].created == want[i].created);
    CHECK(got[i].id == want[i].id);
  }
  CHECK(delist_index::counts(txn) == std::array<std::uint64_t, 4>{0, 1, 27, 0});
  // After a cursor: the entries that follow it, whichever range holds them.
  const auto rest = delist_index::page(txn, 0xf, 2, got[3], more);
  REQUIRE(rest.size() == 2);
  CHECK(rest[0].id == got[4].id);
  CHECK(rest[1].id == got[5].id);
  CHECK(more);
  const auto approved = delist_index::page(txn, 1U << 1, 10, std::nullopt, more);
  REQUIRE(approved.size() == 1);
  CHECK(approved[0].id == std::to_string(kStart) + "a");
}

TEST_CASE("delist cursors: text round trip, and anything else refused", "[delist_index]") {
  for (const auto& c : {DelistCursor{kStart, "0ecbd09e09a7947d7c09e00f"}, DelistCursor{-5, "ab"},
                        DelistCursor{0, std::string(64, 'f')}}) {
    const auto back = DelistCursor::parse(c.to_string());
    REQUIRE(back);
    CHECK(back->created == c.created);
    CHECK(back->id == c.id);
  }
  for (const char* bad : {"", ".", "12", "12.", ".ab", "x.ab", "12x.ab", "1e3.ab", "+1.ab",
                          "9223372036854775808.ab", "12.a b", "12.ab/c", "12.ab%00", " 12.ab"}) {
    INFO(bad);
    CHECK_FALSE(DelistCursor::parse(bad));
  }
  CHECK_FALSE(DelistCursor::parse("12." + std::string(65, 'a')));
}

}  // namespace
}  // namespace rblzone::core
