// Group commit (Environment::write, docs/store.md): writes that wait while
// another commits are committed together, each in its own nested
// transaction, and each gets its own outcome.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/lmdb.hpp"
#include "tests/unit/temp_dir.hpp"

namespace {

using rblzone::core::Environment;
using rblzone::core::WriteTxn;
using rblzone::testing::TempDir;
using namespace std::chrono_literals;

bool has(Environment& env, const std::string& key) {
  auto txn = env.begin_read();
  return txn.get(env.dbs().meta, key).has_value();
}

// Holds the write lock of `env` (a write whose function waits) until
// release(), so that writes started meanwhile queue up behind it.
class Blocker {
 public:
  explicit Blocker(Environment& env)
      : thread_([this, &env] {
          env.write([this](WriteTxn& txn) {
            txn.put(txn.dbs().meta, "blocker", "1");
            inside_ = true;
            while (!released_) std::this_thread::sleep_for(1ms);
          });
        }) {
    while (!inside_) std::this_thread::sleep_for(1ms);
  }
  ~Blocker() { join(); }
  Blocker(const Blocker&) = delete;
  Blocker& operator=(const Blocker&) = delete;
  void release() { released_ = true; }
  void join() {
    release();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> inside_{false};
  std::atomic<bool> released_{false};
  std::thread thread_;
};

}  // namespace

TEST_CASE("writes queued behind a commit commit together, one failing alone", "[group_commit]") {
  TempDir dir("group");
  Environment env(dir.path());
  const std::size_t before = env.last_txn_id();

  Blocker blocker(env);  // a group of one, committing
  std::atomic<int> started{0};
  bool threw = false;
  std::string what;
  std::thread failing([&] {
    ++started;
    try {
      env.write([](WriteTxn& txn) {
        txn.put(txn.dbs().meta, "failing", "1");
        throw std::runtime_error("refused by the write itself");
      });
    } catch (const std::runtime_error& e) {
      threw = true;
      what = e.what();
    }
  });
  std::vector<std::thread> good;
  for (int i = 0; i < 3; ++i) {
    good.emplace_back([&, i] {
      ++started;
      env.write([i](WriteTxn& txn) { txn.put(txn.dbs().meta, "good" + std::to_string(i), "1"); });
    });
  }
  while (started < 4) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(300ms);  // from write()'s entry to its wait: microseconds
  blocker.join();
  failing.join();
  for (auto& t : good) t.join();

  CHECK(threw);
  CHECK(what == "refused by the write itself");
  CHECK_FALSE(has(env, "failing"));
  CHECK(has(env, "blocker"));
  for (int i = 0; i < 3; ++i) CHECK(has(env, "good" + std::to_string(i)));
  // The blocker's commit, then one for the four queued behind it.
  CHECK(env.last_txn_id() - before == 2);
}

TEST_CASE("a group that fills the map runs again, whole, in a grown map", "[group_commit]") {
  TempDir dir("group-grow");
  Environment env(dir.path(), std::size_t{1} << 20);  // 1 MiB
  const std::size_t first_size = env.map_size();
  Blocker blocker(env);
  std::atomic<int> started{0};
  std::atomic<int> runs{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      ++started;
      env.write([&, w](WriteTxn& txn) {
        ++runs;
        const std::string value(4000, static_cast<char>('a' + w));
        for (int i = 0; i < 100; ++i) {  // 400 kB each: the three overflow 1 MiB
          txn.put(txn.dbs().meta, "w" + std::to_string(w) + "-" + std::to_string(i), value);
        }
      });
    });
  }
  while (started < 3) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(300ms);
  blocker.join();
  for (auto& t : writers) t.join();

  CHECK(env.map_size() > first_size);
  CHECK(runs > 3);  // at least one write ran again after the growth
  for (int w = 0; w < 3; ++w) {
    for (int i = 0; i < 100; ++i)
      CHECK(has(env, "w" + std::to_string(w) + "-" + std::to_string(i)));
  }
}

TEST_CASE("many threads writing at once lose nothing, in order", "[group_commit]") {
  TempDir dir("group-many");
  Environment env(dir.path());
  constexpr int kThreads = 8;
  constexpr int kWrites = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&env, t] {
      for (int i = 0; i < kWrites; ++i) {
        env.write([&](WriteTxn& txn) {
          const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
          // Read-modify-write of a shared counter: nested transactions in
          // one group see each other's changes, in order.
          const auto n = txn.get(txn.dbs().meta, "count");
          txn.put(txn.dbs().meta, "count", std::to_string(n ? std::stoi(std::string(*n)) + 1 : 1));
          txn.put(txn.dbs().meta, key, "1");
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kWrites; ++i) {
      CHECK(has(env, "t" + std::to_string(t) + "-" + std::to_string(i)));
    }
  }
  auto txn = env.begin_read();
  CHECK(txn.get(env.dbs().meta, "count") == std::to_string(kThreads * kWrites));
}
