// The delist requests' index and counters (layouts in policy.hpp).
#include "core/delist_index.hpp"

#include <memory>
#include <nlohmann/json.hpp>

#include "core/byte_order.hpp"

namespace rblzone::core::delist_index {

namespace {

constexpr char kRequest = 'd';
constexpr char kIndex = 'q';
constexpr const char* kIndexedKey = "delist_indexed";
constexpr char kIndexVersion = 1;
constexpr std::size_t kRankSize = 8;
// Records read per pass of the rebuild before their entries are written
// (views into the map do not survive the writes).
constexpr std::size_t kRebuildBatch = 50000;

// created descending as u64 ascending: the sign bit flipped makes i64 order
// unsigned order, the complement reverses it. A forward walk of a status's
// range is then newest first with ids ascending, as the list always sorted.
std::uint64_t rank(std::int64_t created) {
  return ~(static_cast<std::uint64_t>(created) ^ (std::uint64_t{1} << 63));
}

std::int64_t created_of(std::uint64_t r) {
  return static_cast<std::int64_t>(~r ^ (std::uint64_t{1} << 63));
}

std::string range_prefix(std::uint8_t status) {
  std::string k(1, kIndex);
  k.push_back(static_cast<char>(status));
  return k;
}

std::string index_key(std::uint8_t status, std::int64_t created, std::string_view id) {
  auto k = range_prefix(status);
  put_be(k, rank(created));
  k += id;
  return k;
}

std::string count_key(std::uint8_t status) {
  return "delist_count:" + std::string(kStatuses[status]);
}

std::uint64_t read_count(const ReadTxn& txn, std::uint8_t status) {
  const auto v = txn.get(txn.dbs().meta, count_key(status));
  return v && v->size() == 8 ? get_be<std::uint64_t>(*v, 0) : 0;
}

void write_count(WriteTxn& txn, std::uint8_t status, std::uint64_t n) {
  std::string v;
  put_be(v, n);
  txn.put(txn.dbs().meta, count_key(status), v);
}

void add_count(WriteTxn& txn, std::uint8_t status, bool up) {
  const auto n = read_count(txn, status);
  write_count(txn, status, up ? n + 1 : (n > 0 ? n - 1 : 0));
}

struct Indexed {
  std::uint8_t status = 0;
  std::int64_t created = 0;
};

// What a stored record is indexed under; nullopt when it is not (not JSON,
// no such status).
std::optional<Indexed> indexed_of(std::string_view record) {
  const auto j = nlohmann::json::parse(record, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  const auto status = j.find("status");
  const auto created = j.find("created");
  if (status == j.end() || !status->is_string()) return std::nullopt;
  const auto code = status_code(status->get_ref<const std::string&>());
  if (!code) return std::nullopt;
  Indexed out;
  out.status = *code;
  if (created != j.end() && created->is_number_integer())
    out.created = created->get<std::int64_t>();
  return out;
}

void drop(WriteTxn& txn, std::string_view id, std::string_view old_record) {
  const auto old = indexed_of(old_record);
  if (old && txn.del(txn.dbs().aux, index_key(old->status, old->created, id))) {
    add_count(txn, old->status, false);
  }
}

}  // namespace

std::optional<std::uint8_t> status_code(std::string_view status) {
  for (std::size_t i = 0; i < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) return static_cast<std::uint8_t>(i);
  }
  return std::nullopt;
}

void on_write(WriteTxn& txn, std::string_view id, const std::optional<std::string>& old_record,
              std::string_view status, std::int64_t created) {
  if (old_record) drop(txn, id, *old_record);
  const auto code = status_code(status);
  if (!code) return;
  const auto key = index_key(*code, created, id);
  if (txn.get(txn.dbs().aux, key)) return;  // already counted
  txn.put(txn.dbs().aux, key, "");
  add_count(txn, *code, true);
}

void on_delete(WriteTxn& txn, std::string_view id, std::string_view old_record) {
  drop(txn, id, old_record);
}

std::array<std::uint64_t, 4> counts(const ReadTxn& txn) {
  std::array<std::uint64_t, 4> out{};
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = read_count(txn, static_cast<std::uint8_t>(i));
  return out;
}

std::vector<Position> page(const ReadTxn& txn, unsigned status_mask, std::size_t limit,
                           const std::optional<Position>& after, bool& more) {
  // One cursor per status range, each at its first entry after `after`;
  // every step takes the least of their keys past the status byte.
  struct Range {
    Range(const ReadTxn& t, std::string p) : prefix(std::move(p)), cursor(t, t.dbs().aux) {}
    std::string prefix;
    Cursor cursor;
    bool valid = false;
    std::string_view rest() const { return cursor.key().substr(2); }
  };
  std::vector<std::unique_ptr<Range>> ranges;
  for (std::uint8_t s = 0; s < kStatuses.size(); ++s) {
    if ((status_mask & (1U << s)) == 0) continue;
    auto r = std::make_unique<Range>(txn, range_prefix(s));
    const auto from = after ? index_key(s, after->created, after->id) : r->prefix;
    bool ok = r->cursor.seek(from);
    if (ok && after && r->cursor.key() == from) ok = r->cursor.next();
    r->valid =
        ok && r->cursor.key().starts_with(r->prefix) && r->cursor.key().size() > 2 + kRankSize;
    ranges.push_back(std::move(r));
  }
  std::vector<Position> out;
  more = false;
  for (;;) {
    Range* best = nullptr;
    for (auto& r : ranges) {
      if (r->valid && (!best || r->rest() < best->rest())) best = r.get();
    }
    if (!best) return out;
    if (out.size() == limit) {
      more = true;
      return out;
    }
    const auto key = best->cursor.key();
    out.push_back(Position{created_of(get_be<std::uint64_t>(key, 2)),
                           std::string(key.substr(2 + kRankSize))});
    const bool ok = best->cursor.next();
    best->valid = ok && best->cursor.key().starts_with(best->prefix) &&
                  best->cursor.key().size() > 2 + kRankSize;
  }
}

std::size_t build_if_missing(Environment& env) {
  {
    auto txn = env.begin_read();
    const auto v = txn.get(txn.dbs().meta, kIndexedKey);
    if (v && *v == std::string_view(&kIndexVersion, 1)) return 0;
  }
  std::size_t indexed = 0;
  env.write([&](WriteTxn& txn) {
    indexed = 0;
    const auto& dbs = txn.dbs();
    // Another process may have built it since the read above.
    const auto v = txn.get(dbs.meta, kIndexedKey);
    if (v && *v == std::string_view(&kIndexVersion, 1)) return;
    // Start clean: whatever index a store holds without the marker is not
    // known to be complete.
    for (;;) {
      std::vector<std::string> stale;
      {
        Cursor c(txn, dbs.aux);
        const std::string prefix(1, kIndex);
        for (bool ok = c.seek(prefix);
             ok && c.key().starts_with(prefix) && stale.size() < kRebuildBatch; ok = c.next()) {
          stale.emplace_back(c.key());
        }
      }
      if (stale.empty()) break;
      for (const auto& k : stale) txn.del(dbs.aux, k);
    }
    std::array<std::uint64_t, 4> n{};
    std::string last;
    for (bool done = false; !done;) {
      std::vector<std::pair<std::string, Indexed>> batch;
      {
        Cursor c(txn, dbs.aux);
        const std::string prefix(1, kRequest);
        bool ok = c.seek(last.empty() ? prefix : last);
        if (ok && !last.empty() && c.key() == last) ok = c.next();
        for (; ok && c.key().starts_with(prefix) && batch.size() < kRebuildBatch; ok = c.next()) {
          last = std::string(c.key());
          const auto e = last.size() > 1 ? indexed_of(c.value()) : std::nullopt;
          if (e) batch.emplace_back(last.substr(1), *e);
        }
        done = !ok || !c.key().starts_with(prefix);
      }
      for (const auto& [id, e] : batch) {
        txn.put(dbs.aux, index_key(e.status, e.created, id), "");
        ++n[e.status];
        ++indexed;
      }
    }
    for (std::uint8_t s = 0; s < n.size(); ++s) write_count(txn, s, n[s]);
    txn.put(dbs.meta, kIndexedKey, std::string_view(&kIndexVersion, 1));
  });
  return indexed;
}

}  // namespace rblzone::core::delist_index
