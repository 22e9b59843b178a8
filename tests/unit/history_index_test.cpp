// Tests for the history's commit-order index (core/schema.hpp history_seq):
// the console's activity feed over more events than the old subject-order
// scan read (200 000), the rebuild of a store written without the index,
// and trimming keeping the index in step.
#include <lmdb.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "admin/pages.hpp"
#include "core/byte_order.hpp"
#include "core/schema.hpp"
#include "core/tokens.hpp"
#include "tests/unit/temp_dir.hpp"

namespace rblzone::admin {
namespace {

using nlohmann::json;

constexpr std::int64_t kNow = 1700000000;
constexpr std::int64_t kHour = 3600;

core::ZoneConfig zone(const std::string& name, core::ZoneKind kind = core::ZoneKind::ip) {
  core::ZoneConfig z;
  z.file = name + ".toml";
  z.name = name;
  z.kind = kind;
  return z;
}

// The admin router over a real store, with bl.test, pbl.test and the
// combined zen.test, and a desk token.
struct Desk {
  Desk() {
    auto zen = zone("zen.test", core::ZoneKind::combined);
    zen.members = {"bl.test", "pbl.test"};
    zones = {zone("bl.test"), zone("pbl.test"), zen};
    store = std::make_unique<core::Store>(dir.path() / "data", [this] { return now; });
    catalog = zoneserver::ZoneCatalog::build(zones, *store);
    ctx.store = store.get();
    ctx.catalog = [this] { return catalog; };
    ctx.clock = [this] { return now; };
    store->env().write([&](core::WriteTxn& txn) {
      token = core::create_token(
          txn, core::TokenInfo{"desk", core::Role::desk, core::Trust::trusted, kNow, "test"});
    });
  }

  void put(core::WriteTxn& txn, const std::string& zone_name, const std::string& subject,
           core::Source source, const std::string& reason) {
    core::Listing l;
    l.reason = reason;
    l.source = source;
    l.first_seen = l.last_seen = now;
    const auto z = store->ensure_zone(txn, zone_name);
    store->put(txn, z, *core::parse_subject(subject), l, {"test", "list", reason});
  }
  void put(const std::string& zone_name, const std::string& subject, core::Source source,
           const std::string& reason) {
    store->env().write([&](core::WriteTxn& txn) { put(txn, zone_name, subject, source, reason); });
  }
  void remove(const std::string& zone_name, const std::string& subject, const std::string& reason) {
    store->env().write([&](core::WriteTxn& txn) {
      const auto z = store->ensure_zone(txn, zone_name);
      store->remove(txn, z, *core::parse_subject(subject), {"test", "delist", reason});
    });
  }

  json activity(const std::string& zone_name, const std::string& query) {
    Request req{http::verb::get, "/api/v1/zones/" + zone_name + "/activity?" + query, 11};
    req.set(http::field::host, "127.0.0.1:8080");
    req.set(http::field::authorization, "Bearer " + token);
    const auto res = handle(req, ctx, "192.0.2.200");
    REQUIRE(res.result() == http::status::ok);
    return json::parse(res.body());
  }

  rblzone::testing::TempDir dir{"history-index"};
  std::vector<core::ZoneConfig> zones;
  std::int64_t now = kNow - 30 * kHour;
  std::unique_ptr<core::Store> store;
  std::shared_ptr<const zoneserver::ZoneCatalog> catalog;
  RouterContext ctx;
  std::string token;
};

std::vector<std::string> reasons(const json& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e["reason"].get<std::string>());
  return out;
}

TEST_CASE("activity: over 200 000 events the feed is the newest, whatever their subjects sort as",
          "[history_index][pages]") {
  Desk d;
  // 30 h ago: a trap listing, then 200 100 notes on subjects in the middle
  // of the key order (10.1.0.0 .. 10.4.13.163), more than the old scan's cap.
  d.put("bl.test", "10.0.0.1", core::Source::trap, "old trap");
  d.store->env().write([&](core::WriteTxn& txn) {
    const auto z = d.store->ensure_zone(txn, "bl.test");
    for (std::uint32_t i = 0; i < 200100; ++i) {
      const auto s = "10." + std::to_string(1 + (i >> 16)) + "." + std::to_string((i >> 8) & 255) +
                     "." + std::to_string(i & 255);
      d.store->note(txn, z, *core::parse_subject(s), {"test", "note", "filler"});
    }
  });
  // The newest events: for 1.0.0.1 (sorts before every filler) and for
  // 2001:db8::/32 (IPv6 sorts after every IPv4 subject: the old scan never
  // reached it).
  d.now = kNow - 150 * 60;
  d.put("bl.test", "1.0.0.1", core::Source::manual, "first-sorting listed");
  d.now = kNow - 90 * 60;
  d.put("bl.test", "2001:db8::/32", core::Source::import, "last-sorting listed");
  d.now = kNow - 30 * 60;
  d.remove("bl.test", "1.0.0.1", "first-sorting delisted");
  d.now = kNow - 6 * 60;
  d.store->env().write([&](core::WriteTxn& txn) {
    const auto z = d.store->ensure_zone(txn, "bl.test");
    d.store->note(txn, z, *core::parse_subject("2001:db8::/32"), {"test", "note", "last note"});
  });
  d.now = kNow;

  const auto j = d.activity("bl.test", "limit=4&hours=3");
  CHECK(reasons(j["events"]) == std::vector<std::string>{"last note", "first-sorting delisted",
                                                         "last-sorting listed",
                                                         "first-sorting listed"});
  CHECK(j["events"][0]["subject"] == "2001:db8::/32");
  CHECK(j["events"][1]["subject"] == "1.0.0.1");
  CHECK(j["events"][1]["listed"] == false);
  CHECK(j["events"][2]["source"] == "import");
  CHECK(j["events"][3]["time"] == core::format_utc(kNow - 150 * 60));
  CHECK_FALSE(j.contains("truncated"));  // it can no longer be true
  // Points at now-3h, -2h, -1h, now.
  const auto& by = j["listings"]["by_source"];
  CHECK(by["trap"] == json{1, 1, 1, 1});
  CHECK(by["manual"] == json{0, 1, 1, 0});
  CHECK(by["import"] == json{0, 0, 1, 1});
  CHECK(by["report"] == json{0, 0, 0, 0});

  // Past the newest four: the next are the newest fillers, last written first.
  const auto six = d.activity("bl.test", "limit=6&hours=1");
  REQUIRE(six["events"].size() == 6);
  CHECK(six["events"][4]["subject"] == "10.4.13.163");
  CHECK(six["events"][5]["subject"] == "10.4.13.162");

  // The walk back stops at the chart's first point once it has `limit`.
  auto txn = d.store->env().begin_read();
  const auto ref = *d.store->find_zone(txn, "bl.test");
  CHECK(d.store->recent_history(txn, ref, 2, kNow - 3 * kHour).size() == 4);
  CHECK(d.store->recent_history(txn, ref, 5, kNow - 3 * kHour).size() == 5);
  CHECK(d.store->recent_history(txn, ref, 1, kNow).size() == 1);
}

TEST_CASE("activity: a combined zone's feed merges its members in commit order",
          "[history_index][pages]") {
  Desk d;
  d.now = kNow - 2 * kHour;
  d.put("pbl.test", "192.0.2.1", core::Source::manual, "p1");
  d.put("bl.test", "192.0.2.9", core::Source::trap, "b1");
  d.now = kNow - 10 * 60;
  d.put("pbl.test", "198.51.100.0/24", core::Source::import, "p2");
  d.put("bl.test", "203.0.113.5", core::Source::report, "b2");
  d.remove("pbl.test", "192.0.2.1", "p3");
  d.now = kNow;

  const auto j = d.activity("zen.test", "limit=3&hours=1");
  CHECK(reasons(j["events"]) == std::vector<std::string>{"p3", "b2", "p2"});
  CHECK(j["events"][0]["subject"] == "pbl.test: 192.0.2.1");
  CHECK(j["events"][1]["subject"] == "bl.test: 203.0.113.5");
  const auto& by = j["listings"]["by_source"];
  CHECK(by["manual"] == json{1, 0});
  CHECK(by["trap"] == json{1, 1});
  CHECK(by["import"] == json{0, 1});
  CHECK(by["report"] == json{0, 1});
  CHECK(reasons(d.activity("zen.test", "limit=10")["events"]) ==
        std::vector<std::string>{"p3", "b2", "p2", "b1", "p1"});
}

}  // namespace
}  // namespace rblzone::admin

namespace rblzone::core {
namespace {

// recent_history's `since` when only `limit` counts.
constexpr std::int64_t kNoSince = std::numeric_limits<std::int64_t>::max();

std::size_t index_entries(Store& store, ZoneId zone) {
  auto txn = store.env().begin_read();
  std::string prefix;
  prefix.push_back(static_cast<char>(zone >> 8));
  prefix.push_back(static_cast<char>(zone));
  Cursor c(txn, txn.dbs().history_seq);
  std::size_t n = 0;
  for (bool ok = c.seek(prefix); ok && c.key().substr(0, 2) == prefix; ok = c.next()) ++n;
  return n;
}

std::vector<std::uint64_t> seqs(const std::vector<HistoryEvent>& events) {
  std::vector<std::uint64_t> out;
  for (const auto& e : events) out.push_back(e.seq);
  return out;
}

// Every event of the zone, newest first, from the subject-ordered history.
std::vector<std::uint64_t> all_seqs(Store& store, const ZoneRef& ref) {
  auto txn = store.env().begin_read();
  auto all = seqs(store.zone_history(txn, ref, 1000000));
  std::sort(all.rbegin(), all.rend());
  return all;
}

// Makes `dir` look like a store written before the index existed: no
// history_seq database, no history_indexed mark.
void drop_index(const std::filesystem::path& dir) {
  Store store(dir);
  store.env().write([&](WriteTxn& txn) {
    REQUIRE(mdb_drop(txn.handle(), txn.dbs().history_seq, 1) == 0);
    txn.del(txn.dbs().meta, schema::kHistoryIndexedKey);
  });
}

void fill(Store& store, std::int64_t& now) {
  store.env().write([&](WriteTxn& txn) {
    for (const char* name : {"bl.test", "dbl.test"}) {
      const auto z = store.ensure_zone(txn, name);
      for (int i = 0; i < 40; ++i) {
        now += 7;
        Listing l;
        l.reason = "r" + std::to_string(i);
        l.source = Source::trap;
        const auto s = std::string(name) == "bl.test"
                           ? "192.0.2." + std::to_string((i * 37) % 40)
                           : "host" + std::to_string((i * 13) % 40) + ".example";
        if (i % 5 == 4) {
          store.note(txn, z, *parse_subject(s), {"test", "note", "n"});
        } else {
          store.put(txn, z, *parse_subject(s), l, {"test", "list", l.reason});
        }
      }
    }
  });
}

TEST_CASE("history index: a store without it is indexed on open, nothing lost",
          "[history_index][store]") {
  rblzone::testing::TempDir dir{"history-index-old"};
  std::int64_t now = 1700000000;
  std::vector<std::uint64_t> bl_before, dbl_before;
  {
    Store store(dir.path(), [&] { return now; });
    fill(store, now);
    auto txn = store.env().begin_read();
    bl_before = all_seqs(store, *store.find_zone(txn, "bl.test"));
    dbl_before = all_seqs(store, *store.find_zone(txn, "dbl.test"));
    REQUIRE(bl_before.size() == 40);
    // What the index gives is what the subject-ordered history holds.
    CHECK(seqs(store.recent_history(txn, *store.find_zone(txn, "bl.test"), 100, 0)) == bl_before);
  }
  drop_index(dir.path());
  {
    auto env = std::make_unique<Environment>(dir.path());
    auto txn = env->begin_read();
    Cursor c(txn, txn.dbs().history_seq);
    CHECK_FALSE(c.first());  // as an old store: no entries at all
  }
  Store store(dir.path(), [&] { return now; });  // rebuilds
  auto txn = store.env().begin_read();
  const auto bl = *store.find_zone(txn, "bl.test");
  const auto dbl = *store.find_zone(txn, "dbl.test");
  CHECK(seqs(store.recent_history(txn, bl, 100, 0)) == bl_before);
  CHECK(seqs(store.recent_history(txn, dbl, 100, 0)) == dbl_before);
  CHECK(all_seqs(store, bl) == bl_before);
  CHECK(store.get(txn, dbl, *parse_subject("host13.example")).has_value());
  const auto newest = store.recent_history(txn, dbl, 1, kNoSince);
  REQUIRE(newest.size() == 1);
  CHECK(newest[0].subject == "host27.example");  // i = 39: (39 * 13) % 40
  CHECK(newest[0].time == now);
  CHECK(store.index_history() == 0);  // done once: the next open reads one mark
}

TEST_CASE("history index: events written without it since are found, in batches that resume",
          "[history_index][store]") {
  rblzone::testing::TempDir dir{"history-index-gap"};
  std::int64_t now = 1700000000;
  Store store(dir.path(), [&] { return now; });
  fill(store, now);
  ZoneRef bl;
  std::uint64_t marked = 0;
  // As a build without the index would: an event whose entry is missing
  // and the mark left behind event_seq.
  store.env().write([&](WriteTxn& txn) {
    bl = *store.find_zone(txn, "bl.test");
    const auto m = txn.get(txn.dbs().meta, schema::kHistoryIndexedKey);
    REQUIRE(m);
    marked = get_be<std::uint64_t>(*m, 0);
    store.note(txn, bl, *parse_subject("192.0.2.77"), {"old", "note", "unindexed"});
    std::string key{static_cast<char>(bl.id >> 8), static_cast<char>(bl.id)};
    put_be(key, marked + 1);
    REQUIRE(txn.del(txn.dbs().history_seq, key));
    std::string mark;
    put_be(mark, marked);
    txn.put(txn.dbs().meta, schema::kHistoryIndexedKey, mark);
  });
  // A later event does not move the mark over the gap.
  store.env().write([&](WriteTxn& txn) {
    store.note(txn, bl, *parse_subject("192.0.2.78"), {"new", "note", "indexed"});
  });
  {
    auto txn = store.env().begin_read();
    const auto m = txn.get(txn.dbs().meta, schema::kHistoryIndexedKey);
    CHECK(get_be<std::uint64_t>(*m, 0) == marked);
    const auto recent = store.recent_history(txn, bl, 2, kNoSince);
    REQUIRE(recent.size() == 2);
    CHECK(recent[1].reason != "unindexed");  // the gap
  }
  CHECK(index_entries(store, bl.id) == 41);
  // 82 history events in 3-event batches: 28 transactions, each resuming.
  CHECK(store.index_history(3) == 82);
  CHECK(index_entries(store, bl.id) == 42);
  auto txn = store.env().begin_read();
  const auto recent = store.recent_history(txn, bl, 2, kNoSince);
  REQUIRE(recent.size() == 2);
  CHECK(recent[0].reason == "indexed");
  CHECK(recent[1].reason == "unindexed");
  CHECK(seqs(store.recent_history(txn, bl, 100, 0)) == all_seqs(store, bl));
  CHECK(get_be<std::uint64_t>(*txn.get(txn.dbs().meta, schema::kHistoryIndexedKey), 0) ==
        marked + 2);
  CHECK_FALSE(txn.get(txn.dbs().meta, schema::kHistoryIndexPosKey).has_value());
}

TEST_CASE("history index: trimming history deletes the entries with the events",
          "[history_index][store]") {
  rblzone::testing::TempDir dir{"history-index-trim"};
  std::int64_t now = 1700000000;
  Store store(dir.path(), [&] { return now; });
  const std::int64_t start = now;
  fill(store, now);  // bl.test's events at start+7 .. start+280
  ZoneRef bl, dbl;
  std::size_t trimmed = 0;
  store.env().write([&](WriteTxn& txn) {
    bl = *store.find_zone(txn, "bl.test");
    dbl = *store.find_zone(txn, "dbl.test");
    std::string cursor;
    do {
      trimmed += store.trim_history(txn, bl, start + 141, 4, cursor);
    } while (!cursor.empty());
  });
  CHECK(trimmed == 20);  // i = 0..19
  CHECK(index_entries(store, bl.id) == 20);
  CHECK(index_entries(store, dbl.id) == 40);
  auto txn = store.env().begin_read();
  const auto left = store.recent_history(txn, bl, 100, 0);
  CHECK(seqs(left) == all_seqs(store, bl));
  REQUIRE(left.size() == 20);
  CHECK(left.back().time == start + 147);
}

}  // namespace
}  // namespace rblzone::core
