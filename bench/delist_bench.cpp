// The desk's delist request list and the /metrics counts over many kept
// requests (not a test): the old full scan against the index.
//   delist_bench [--requests N] [--runs R] [--dir DIR]
// Makes N requests through Policy::request_delist (one in 50 on a manual
// listing, so pending, half of those then decided; the rest not listed),
// over 30 days of simulated time, then times, R times each (CPU ms of this
// thread, median):
//   old-page-pending  the old Policy::delist_requests (copied here): read and
//                     parse every record, keep the pending, sort, first 100
//   new-page-pending  Policy::delist_requests(txn, "pending", 100) + its total
//   old-page-all      the same without a status (sorts all N)
//   new-page-all      the four status ranges merged, first 100 + the total
//   new-page-deep     the all-statuses page after 50 pages (a cursor deep in)
//   old-metrics       the old scrape's count: every record parsed
//   new-metrics       Policy::delist_count for each status
// and the one-time index build an older store gets on open. Figures go to
// docs/performance.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/delist_index.hpp"
#include "core/lmdb.hpp"
#include "core/policy.hpp"
#include "core/store.hpp"

using namespace rblzone;
using Steady = std::chrono::steady_clock;

namespace {

// This thread's CPU time: on a shared, oversubscribed machine the wall
// time mostly measures waiting for a core.
double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double wall_ms(Steady::time_point t) {
  return std::chrono::duration<double, std::milli>(Steady::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The code the index replaced (core/policy.cpp before it), as it was.
core::DelistRequest request_from(const nlohmann::json& j) {
  core::DelistRequest r;
  r.id = j.value("id", std::string());
  r.zone = j.value("zone", std::string());
  r.subject = j.value("subject", std::string());
  r.matched = j.value("matched", std::string());
  r.contact = j.value("contact", std::string());
  r.explanation = j.value("explanation", std::string());
  r.requester = j.value("requester", std::string());
  r.status = j.value("status", std::string());
  r.self_service = j.value("self_service", false);
  r.created = j.value("created", std::int64_t{0});
  r.decided = j.value("decided", std::int64_t{0});
  r.decided_by = j.value("decided_by", std::string());
  r.decision_reason = j.value("decision_reason", std::string());
  return r;
}

std::vector<core::DelistRequest> old_list(const core::ReadTxn& txn,
                                          std::optional<std::string_view> status) {
  std::vector<core::DelistRequest> out;
  const std::string prefix(1, 'd');
  core::Cursor c(txn, txn.dbs().aux);
  for (bool ok = c.seek(prefix); ok && c.key().starts_with(prefix); ok = c.next()) {
    const auto j = nlohmann::json::parse(c.value(), nullptr, false);
    if (j.is_discarded()) continue;
    auto r = request_from(j);
    if (!status || r.status == *status) out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.created != b.created ? a.created > b.created : a.id < b.id;
  });
  return out;
}

struct Timing {
  std::vector<double> cpu, wall;
  std::string check;  // what it returned, to see both ways agree
};

template <typename F>
Timing time_runs(int runs, F&& f) {
  Timing t;
  for (int i = 0; i < runs; ++i) {
    const auto w = Steady::now();
    const double c = cpu_ms();
    t.check = f();
    t.cpu.push_back(cpu_ms() - c);
    t.wall.push_back(wall_ms(w));
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t requests = 100000;
  int runs = 5;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--requests" && i + 1 < argc)
      requests = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--runs" && i + 1 < argc)
      runs = std::atoi(argv[++i]);
    else if (a == "--dir" && i + 1 < argc)
      dir = argv[++i];
    else {
      std::fprintf(stderr, "usage: delist_bench [--requests N] [--runs R] [--dir DIR]\n");
      return 2;
    }
  }
  if (requests < 100 || runs < 1) {
    std::fprintf(stderr, "delist_bench: --requests >= 100, --runs >= 1\n");
    return 2;
  }
  const bool temp = dir.empty();
  if (temp) {
    char tmpl[] = "/tmp/rblzone-delist-bench-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  const std::int64_t start = 1790000000;
  std::int64_t clock = start;
  core::ZoneConfig zone;
  zone.name = "bl.example.org";
  zone.kind = core::ZoneKind::ip;
  {
    core::Store store(dir, [&] { return clock; });
    core::Policy policy(store);
    const auto fill_start = Steady::now();
    std::vector<std::string> pending;
    const std::size_t batch = 1000;
    for (std::size_t i = 0; i < requests; i += batch) {
      store.env().write([&](core::WriteTxn& txn) {
        const auto ref = store.ensure_zone(txn, zone.name);
        for (std::size_t k = i; k < std::min(requests, i + batch); ++k) {
          clock = start + static_cast<std::int64_t>(k * 30 * 86400 / requests);
          const auto s = core::Subject(
              core::IpPrefix::v4(static_cast<std::uint32_t>(0x0a000000 + k), 32));  // 10.0.0.0 + k
          if (k % 50 == 0) {
            core::Listing l;
            l.codes = {0x7f000004};
            l.source = core::Source::manual;
            l.first_seen = l.last_seen = clock;
            l.reason = "desk";
            store.put(txn, ref, s, l, core::Change{"bench", "list", "desk"});
          }
          const auto r = policy.request_delist(txn, zone, s, "noc@example.net",
                                               "the customer's relay is fixed", "192.0.2.1");
          if (r.status == "pending") pending.push_back(r.id);
        }
      });
    }
    clock += 3600;
    store.env().write([&](core::WriteTxn& txn) {
      const core::Actor desk{"token:desk", core::Role::desk};
      for (std::size_t k = 0; k < pending.size(); k += 2) {
        policy.decide(txn, zone, pending[k], k % 4 == 0, "checked", desk);
      }
    });
    std::printf("made %zu requests (%zu pending before decisions) in %.0f ms wall\n", requests,
                pending.size(), wall_ms(fill_start));
  }

  core::Store store(dir, [&] { return clock; });
  core::Policy policy(store);
  const auto first_ids = [](const std::vector<core::DelistRequest>& v, std::size_t total) {
    std::string out = std::to_string(total) + ":";
    for (std::size_t i = 0; i < std::min<std::size_t>(v.size(), 100); ++i)
      out += v[i].id.substr(0, 4);
    return out;
  };
  std::vector<std::pair<std::string, Timing>> results;
  results.emplace_back("old-page-pending", time_runs(runs, [&] {
                         auto txn = store.env().begin_read();
                         const auto all = old_list(txn, std::string_view("pending"));
                         return first_ids(all, all.size());
                       }));
  results.emplace_back("new-page-pending", time_runs(runs, [&] {
                         auto txn = store.env().begin_read();
                         const auto page = policy.delist_requests(txn, "pending", 100);
                         return first_ids(page.requests, policy.delist_count(txn, "pending"));
                       }));
  results.emplace_back("old-page-all", time_runs(runs, [&] {
                         auto txn = store.env().begin_read();
                         const auto all = old_list(txn, std::nullopt);
                         return first_ids(all, all.size());
                       }));
  results.emplace_back("new-page-all", time_runs(runs, [&] {
                         auto txn = store.env().begin_read();
                         const auto page = policy.delist_requests(txn, std::nullopt, 100);
                         return first_ids(page.requests, policy.delist_count(txn, std::nullopt));
                       }));
  std::optional<core::DelistCursor> deep;
  {
    auto txn = store.env().begin_read();
    for (int p = 0; p < 50; ++p) deep = policy.delist_requests(txn, std::nullopt, 100, deep).next;
  }
  results.emplace_back("new-page-deep", time_runs(runs, [&] {
                         auto txn = store.env().begin_read();
                         const auto page = policy.delist_requests(txn, std::nullopt, 100, deep);
                         return first_ids(page.requests, page.requests.size());
                       }));
  results.emplace_back("old-metrics", time_runs(runs, [&] {
                         auto txn = store.env().begin_read();
                         std::map<std::string, std::uint64_t> by;
                         for (const auto& r : old_list(txn, std::nullopt)) ++by[r.status];
                         std::string out;
                         for (const auto& [s, n] : by) out += s + "=" + std::to_string(n) + " ";
                         return out;
                       }));
  results.emplace_back("new-metrics", time_runs(runs, [&] {
                         auto txn = store.env().begin_read();
                         std::map<std::string, std::uint64_t> by;
                         for (const auto s : {"pending", "approved", "denied", "not_listed"}) {
                           by[s] = policy.delist_count(txn, std::string_view(s));
                         }
                         std::string out;
                         for (const auto& [s, n] : by) out += s + "=" + std::to_string(n) + " ";
                         return out;
                       }));
  std::printf("%-18s %12s %12s  %s\n", "variant", "cpu ms", "wall ms", "result");
  for (const auto& [name, t] : results) {
    std::printf("%-18s %12.3f %12.3f  %.60s\n", name.c_str(), median(t.cpu), median(t.wall),
                t.check.c_str());
  }
  for (const auto& [a, b] : {std::pair{0, 1}, std::pair{2, 3}, std::pair{5, 6}}) {
    if (results[static_cast<std::size_t>(a)].second.check !=
        results[static_cast<std::size_t>(b)].second.check) {
      std::printf("MISMATCH between %s and %s\n",
                  results[static_cast<std::size_t>(a)].first.c_str(),
                  results[static_cast<std::size_t>(b)].first.c_str());
      return 1;
    }
  }

  // The one-time build an older store (no index) gets on open.
  std::vector<double> build_cpu, build_wall;
  for (int i = 0; i < runs; ++i) {
    store.env().write([&](core::WriteTxn& txn) { txn.del(txn.dbs().meta, "delist_indexed"); });
    const auto w = Steady::now();
    const double c = cpu_ms();
    const auto n = core::delist_index::build_if_missing(store.env());
    build_cpu.push_back(cpu_ms() - c);
    build_wall.push_back(wall_ms(w));
    if (n != requests) {
      std::printf("index build read %zu records, not %zu\n", n, requests);
      return 1;
    }
  }
  std::printf("%-18s %12.3f %12.3f  (one write transaction, %zu records)\n", "index-build",
              median(build_cpu), median(build_wall), requests);
  if (temp) std::filesystem::remove_all(dir);
  return 0;
}
