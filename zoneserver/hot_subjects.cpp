// The per-worker Space-Saving tables of listed subjects (see hot_subjects.hpp).
#include "zoneserver/hot_subjects.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <tuple>

namespace rblzone::zoneserver {

namespace {

constexpr auto kAcquire = std::memory_order_acquire;
constexpr auto kRelease = std::memory_order_release;
constexpr auto kRelaxed = std::memory_order_relaxed;
constexpr std::size_t kIndexSize = 2 * HotSubjects::kSlots;  // load factor <= 1/2
constexpr std::size_t kIndexMask = kIndexSize - 1;
static_assert((kIndexSize & kIndexMask) == 0, "the index size must be a power of two");
static_assert(HotSubjects::kSlots < 32768, "slot numbers are int16");

constexpr std::size_t kIpKeySize = 17;  // 16 address bytes and the prefix length

// header: zone (16 bits) | source (16) | ip (1, at bit 16) | key length in bytes (16).
// Never 0 for a held key (the length is at least 1).
std::uint64_t make_header(const Matched& m, std::size_t len) {
  return (std::uint64_t{m.zone} << 48) | (std::uint64_t{m.source} << 32) |
         (std::uint64_t{m.ip ? 1u : 0u} << 16) | (len & 0xffff);
}

std::uint64_t hash_key(std::uint64_t header, const std::uint64_t* words, std::size_t n) {
  std::uint64_t h = header * 0x9E3779B97F4A7C15ull;
  for (std::size_t i = 0; i < n; ++i) {
    h = (h ^ words[i]) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
  }
  h ^= h >> 32;
  return h;
}

}  // namespace

struct HotSubjects::Table {
  struct Slot {
    std::atomic<std::uint32_t> seq{0};  // odd while the writer rewrites the key
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> error{0};
    std::atomic<std::uint64_t> header{0};
    std::array<std::atomic<std::uint64_t>, kKeyWords> key{};
  };
  std::atomic<std::uint64_t> gen{0};    // odd while the writer clears the table
  std::atomic<std::int64_t> epoch{-1};  // the interval the counts belong to
  std::array<Slot, kSlots> slots;

  // --- the writer's own state (never read by another thread) ---
  std::size_t used = 0;
  std::array<std::uint16_t, kSlots> heap{};  // slot numbers, a min-heap by cnt
  std::array<std::uint16_t, kSlots> pos{};   // slot -> its place in heap
  std::array<std::uint64_t, kSlots> cnt{};
  std::array<std::uint64_t, kSlots> hash{};
  std::array<std::int16_t, kIndexSize> index{};  // slot numbers by hash, -1: free

  Table() { index.fill(-1); }

  bool matches(std::size_t s, std::uint64_t header, const std::uint64_t* words,
               std::size_t n) const {
    if (slots[s].header.load(kRelaxed) != header) return false;
    for (std::size_t i = 0; i < n; ++i) {
      if (slots[s].key[i].load(kRelaxed) != words[i]) return false;
    }
    return true;
  }

  int find(std::uint64_t h, std::uint64_t header, const std::uint64_t* words, std::size_t n) const {
    for (std::size_t i = h & kIndexMask; index[i] >= 0; i = (i + 1) & kIndexMask) {
      const auto s = static_cast<std::size_t>(index[i]);
      if (hash[s] == h && matches(s, header, words, n)) return index[i];
    }
    return -1;
  }

  void index_insert(std::size_t s) {
    std::size_t i = hash[s] & kIndexMask;
    while (index[i] >= 0) i = (i + 1) & kIndexMask;
    index[i] = static_cast<std::int16_t>(s);
  }

  // Linear probing's deletion by backward shift: no tombstones, so probe
  // chains never grow with churn.
  void index_erase(std::size_t s) {
    std::size_t p = hash[s] & kIndexMask;
    while (index[p] != static_cast<std::int16_t>(s)) p = (p + 1) & kIndexMask;
    index[p] = -1;
    for (std::size_t j = (p + 1) & kIndexMask; index[j] >= 0; j = (j + 1) & kIndexMask) {
      const std::size_t k = hash[static_cast<std::size_t>(index[j])] & kIndexMask;
      const bool stays = p <= j ? (p < k && k <= j) : (p < k || k <= j);
      if (stays) continue;
      index[p] = index[j];
      index[j] = -1;
      p = j;
    }
  }

  void heap_swap(std::size_t a, std::size_t b) {
    std::swap(heap[a], heap[b]);
    pos[heap[a]] = static_cast<std::uint16_t>(a);
    pos[heap[b]] = static_cast<std::uint16_t>(b);
  }

  void sift_down(std::size_t i) {
    for (;;) {
      const std::size_t l = 2 * i + 1;
      if (l >= used) return;
      std::size_t m = l;
      if (l + 1 < used && cnt[heap[l + 1]] < cnt[heap[l]]) m = l + 1;
      if (cnt[heap[m]] >= cnt[heap[i]]) return;
      heap_swap(i, m);
      i = m;
    }
  }

  void sift_up(std::size_t i) {
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (cnt[heap[parent]] <= cnt[heap[i]]) return;
      heap_swap(i, parent);
      i = parent;
    }
  }

  // Gives slot `s` a new key with its count and error, under the slot's
  // sequence number.
  void write_slot(std::size_t s, std::uint64_t header, const std::uint64_t* words, std::size_t n,
                  std::uint64_t count, std::uint64_t error) {
    Slot& slot = slots[s];
    const std::uint32_t seq = slot.seq.load(kRelaxed);
    slot.seq.store(seq + 1, kRelaxed);
    // Release: a reader that sees any of these sees the odd sequence too.
    slot.header.store(header, kRelease);
    for (std::size_t i = 0; i < n; ++i) slot.key[i].store(words[i], kRelease);
    slot.count.store(count, kRelease);
    slot.error.store(error, kRelease);
    slot.seq.store(seq + 2, kRelease);
  }

  void clear(std::int64_t new_epoch) {
    const std::uint64_t g = gen.load(kRelaxed);
    gen.store(g + 1, kRelaxed);
    for (std::size_t s = 0; s < used; ++s) {
      slots[s].count.store(0, kRelease);
      slots[s].header.store(0, kRelease);
    }
    epoch.store(new_epoch, kRelease);
    gen.store(g + 2, kRelease);
    used = 0;
    index.fill(-1);
  }

  void count(std::uint64_t header, const std::uint64_t* words, std::size_t n) {
    const std::uint64_t h = hash_key(header, words, n);
    const int found = find(h, header, words, n);
    if (found >= 0) {
      const auto s = static_cast<std::size_t>(found);
      slots[s].count.store(++cnt[s], kRelease);
      sift_down(pos[s]);
      return;
    }
    if (used < kSlots) {  // a free slot: exact
      const std::size_t s = used++;
      hash[s] = h;
      cnt[s] = 1;
      write_slot(s, header, words, n, 1, 0);
      heap[used - 1] = static_cast<std::uint16_t>(s);
      pos[s] = static_cast<std::uint16_t>(used - 1);
      sift_up(used - 1);
      index_insert(s);
      return;
    }
    // Full: the key with the smallest count gives its slot to the new key,
    // which inherits that count (as its error) plus one.
    const std::size_t s = heap[0];
    const std::uint64_t min = cnt[s];
    index_erase(s);
    hash[s] = h;
    cnt[s] = min + 1;
    write_slot(s, header, words, n, min + 1, min);
    index_insert(s);
    sift_down(0);
  }

  // Appends what the table holds (one consistent reading per slot).
  void collect(std::vector<HotSubject>& out) const {
    for (const auto& slot : slots) {
      for (int attempt = 0; attempt < 4; ++attempt) {
        const std::uint32_t s1 = slot.seq.load(kAcquire);
        if (s1 & 1u) continue;
        const std::uint64_t count = slot.count.load(kAcquire);
        const std::uint64_t error = slot.error.load(kAcquire);
        const std::uint64_t header = slot.header.load(kAcquire);
        const std::size_t len = header & 0xffff;
        std::uint64_t words[kKeyWords] = {};
        const std::size_t n = std::min(kKeyWords, (len + 7) / 8);
        for (std::size_t i = 0; i < n; ++i) words[i] = slot.key[i].load(kAcquire);
        if (slot.seq.load(kAcquire) != s1) continue;
        if (count == 0 || header == 0) break;
        char bytes[kKeyWords * 8];
        std::memcpy(bytes, words, sizeof bytes);
        HotSubject e;
        e.zone = static_cast<core::ZoneId>(header >> 48);
        e.source = static_cast<core::ZoneId>(header >> 32);
        e.count = count;
        e.error = error;
        if ((header >> 16) & 1u) {
          if (len != kIpKeySize) break;
          core::IpPrefix::Bytes addr{};
          std::memcpy(addr.data(), bytes, addr.size());
          e.subject = core::IpPrefix(addr, static_cast<std::uint8_t>(bytes[16])).to_string();
        } else {
          e.subject.assign(bytes, std::min(len, sizeof bytes));
        }
        out.push_back(std::move(e));
        break;
      }
    }
  }
};

HotSubjects::HotSubjects(std::int64_t interval_seconds)
    : interval_(std::max<std::int64_t>(1, interval_seconds)) {
  tables_[0] = std::make_unique<Table>();
  tables_[1] = std::make_unique<Table>();
}

HotSubjects::~HotSubjects() = default;

void HotSubjects::count(const Matched& m, std::int64_t now) {
  if (!m.listed) return;
  std::uint64_t words[kKeyWords];
  std::size_t len = 0;
  if (m.ip) {
    len = kIpKeySize;
    words[2] = 0;
    std::memcpy(words, m.prefix.bytes().data(), 16);
    words[2] = m.prefix.length();  // byte 16, little or big endian alike when read back as bytes
    if constexpr (std::endian::native == std::endian::big) words[2] <<= 56;
  } else {
    len = std::min(m.domain_size, sizeof words);
    if (len == 0) return;
    words[(len - 1) / 8] = 0;  // zero the tail of the last word
    std::memcpy(words, m.domain, len);
  }
  const std::size_t n = (len + 7) / 8;
  const std::int64_t epoch = now >= 0 ? now / interval_ : 0;
  Table& t = *tables_[static_cast<std::size_t>(epoch & 1)];
  if (epoch != epoch_) {
    // A new interval: this table last held epoch - 2 (or older); start it afresh.
    if (t.epoch.load(kRelaxed) != epoch) t.clear(epoch);
    epoch_ = epoch;
  }
  t.count(make_header(m, len), words, n);
}

void HotSubjects::collect(std::int64_t now, std::vector<HotSubject>& out) const {
  const std::int64_t epoch = now >= 0 ? now / interval_ : 0;
  for (const auto& t : tables_) {
    const std::uint64_t g1 = t->gen.load(kAcquire);
    if (g1 & 1u) continue;  // being cleared: it is starting a new interval
    const std::int64_t e = t->epoch.load(kAcquire);
    if (e != epoch && e != epoch - 1) continue;
    const std::size_t before = out.size();
    t->collect(out);
    if (t->gen.load(kAcquire) != g1) {
      out.resize(before);  // cleared while we read: those counts are gone
    }
  }
}

// The sum over tables: per table count - error <= true count <= count; a
// table that evicted the subject contributes nothing, so the sum's
// count - error stays a lower bound, but its count is an upper bound only
// when no table in the window evicted the subject (docs/api.md).
std::vector<HotSubject> top_subjects(const std::vector<std::unique_ptr<HotSubjects>>& tables,
                                     std::int64_t now, std::size_t limit,
                                     std::optional<core::ZoneId> zone) {
  std::vector<HotSubject> all;
  for (const auto& t : tables) {
    if (t) t->collect(now, all);
  }
  std::map<std::tuple<core::ZoneId, core::ZoneId, std::string>, HotSubject> merged;
  for (auto& e : all) {
    if (zone && e.zone != *zone) continue;
    auto [it, fresh] = merged.try_emplace({e.zone, e.source, e.subject}, e);
    if (!fresh) {
      it->second.count += e.count;
      it->second.error += e.error;
    }
  }
  std::vector<HotSubject> out;
  out.reserve(merged.size());
  for (auto& [key, e] : merged) out.push_back(std::move(e));
  std::sort(out.begin(), out.end(), [](const HotSubject& a, const HotSubject& b) {
    if (a.count != b.count) return a.count > b.count;
    if (a.zone != b.zone) return a.zone < b.zone;
    return a.subject < b.subject;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace rblzone::zoneserver
