// Store benchmark (not a test): bulk insert rate and point lookups per second
// on one core, at N random single IPv4 listings plus 50k CIDR prefixes.
//   store_bench [--listings N] [--lookups M] [--batch B] [--dir DIR] [--keep]
// Half of the lookups hit a listed address. Figures go to docs/performance.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/store.hpp"

using namespace rblzone;
using Clock = std::chrono::steady_clock;

namespace {
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
}  // namespace

int main(int argc, char** argv) {
  std::size_t listings = 1000000;
  std::size_t lookups = 5000000;
  std::size_t prefixes = 50000;
  std::size_t batch_size = 1000000;
  std::string dir;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--listings" && i + 1 < argc)
      listings = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--lookups" && i + 1 < argc)
      lookups = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--dir" && i + 1 < argc)
      dir = argv[++i];
    else if (a == "--batch" && i + 1 < argc)
      batch_size = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--keep")
      keep = true;
    else {
      std::fprintf(
          stderr,
          "usage: store_bench [--listings N] [--lookups M] [--batch B] [--dir DIR] [--keep]\n");
      return 2;
    }
  }
  if (dir.empty()) {
    char tmpl[] = "/tmp/rblzone-store-bench-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  std::mt19937_64 rng(42);
  std::vector<std::uint32_t> listed(listings);
  for (auto& a : listed) a = static_cast<std::uint32_t>(rng());

  core::Store store(dir);
  core::ZoneRef zone;
  store.env().write([&](core::WriteTxn& txn) { zone = store.ensure_zone(txn, "bl.bench"); });
  core::Listing l;
  l.codes = {0x7f000002};
  l.source = core::Source::import;
  l.reason = "bench";
  l.first_seen = l.last_seen = store.now();
  const core::Change why{"bench", "list", "bench"};

  // Bulk insert in sorted batches, one transaction each, as `rblzone listing load` does.
  const auto t0 = Clock::now();
  std::size_t done = 0;
  std::vector<core::IpPrefix> batch;
  while (done < listings + prefixes) {
    batch.clear();
    for (std::size_t i = 0; i < batch_size && done + i < listings + prefixes; ++i) {
      const std::size_t k = done + i;
      batch.push_back(k < listings
                          ? core::IpPrefix::v4(listed[k], 32)
                          : core::IpPrefix::v4(static_cast<std::uint32_t>(rng()),
                                               static_cast<std::uint8_t>(16 + rng() % 15)));
    }
    // Key order makes the B-tree inserts sequential.
    std::sort(batch.begin(), batch.end(), [](const core::IpPrefix& a, const core::IpPrefix& b) {
      return a.bytes() != b.bytes() ? a.bytes() < b.bytes() : a.length() < b.length();
    });
    store.env().write([&](core::WriteTxn& txn) {
      for (const auto& p : batch) store.put(txn, zone, p, l, why);
    });
    done = std::min(done + batch_size, listings + prefixes);
  }
  const double insert_s = seconds_since(t0);

  // Lookups: one read transaction renewed every 64 lookups (as a DNS worker
  // renews per batch), one cursor, half the addresses listed.
  std::vector<std::uint32_t> queries(lookups);
  for (std::size_t i = 0; i < lookups; ++i) {
    queries[i] = i % 2 == 0 ? listed[rng() % listings] : static_cast<std::uint32_t>(rng());
  }
  auto txn = store.env().begin_read();
  core::Cursor cursor(txn, txn.dbs().ip);
  std::size_t hits = 0;
  const std::int64_t now = store.now();
  const auto t1 = Clock::now();
  for (std::size_t i = 0; i < lookups; ++i) {
    if (i % 64 == 0) {
      txn.reset();
      txn.renew();
      cursor.renew(txn);
    }
    const auto addr = core::IpPrefix::v4(queries[i], 32).bytes();
    if (core::match_ip(cursor, zone.id, addr, now)) ++hits;
  }
  const double lookup_s = seconds_since(t1);

  std::uintmax_t bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file()) bytes += e.file_size();
  }
  std::printf("listings %zu + %zu prefixes: bulk insert %.1f s = %.0f listings/s; store %.2f GB\n",
              listings, prefixes, insert_s, static_cast<double>(listings + prefixes) / insert_s,
              static_cast<double>(bytes) / 1e9);
  std::printf("lookups %zu: %.3f s = %.0f lookups/s = %.0f ns/lookup (hits %zu)\n", lookups,
              lookup_s, static_cast<double>(lookups) / lookup_s,
              lookup_s * 1e9 / static_cast<double>(lookups), hits);
  if (!keep) std::filesystem::remove_all(dir);
  return 0;
}
