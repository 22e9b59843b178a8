// The LMDB rules in one place: one environment per data directory, typed
// read-only and read-write transactions, a map that grows on demand, and
// readers that adopt a map grown by another process.
#pragma once

#include <lmdb.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rblzone::core {

// An LMDB failure, with the data directory and the operation in what().
class StoreError : public std::runtime_error {
 public:
  StoreError(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

class Environment;

// The named databases; their key and value layouts are in core/schema.hpp.
struct Databases {
  MDB_dbi meta = 0;
  MDB_dbi zones = 0;
  MDB_dbi ip = 0;
  MDB_dbi domain = 0;
  MDB_dbi history = 0;
  MDB_dbi journal = 0;
  MDB_dbi expiry = 0;
  MDB_dbi aux = 0;  // for later features: tokens, reports, delist requests
  // history in commit order, per zone
  MDB_dbi history_seq = 0;
};

inline std::string_view as_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}
inline MDB_val as_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};  // NOLINT: LMDB never writes through it
}

class ReadTxn;

// A cursor belongs to its transaction and must not outlive it. Views it
// returns point into the map and stay valid until the transaction ends or resets.
class Cursor {
 public:
  Cursor(const ReadTxn& txn, MDB_dbi dbi);
  ~Cursor();
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  // Rebinds a cursor of a reset-and-renewed read-only transaction.
  void renew(const ReadTxn& txn);
  // Positions at the first key >= `key`; false when there is none.
  bool seek(std::string_view key);
  // Positions exactly at `key`; false when it is absent.
  bool find(std::string_view key);
  // Positions at the last key <= `key`; false when there is none.
  bool seek_le(std::string_view key);
  bool first();
  bool last();
  bool next();
  bool prev();
  std::string_view key() const { return as_view(key_); }
  std::string_view value() const { return as_view(value_); }

 private:
  bool get(MDB_cursor_op op);
  MDB_cursor* cursor_ = nullptr;
  MDB_val key_{};
  MDB_val value_{};
};

// A read-only snapshot. Move-only; the destructor aborts. A WriteTxn is a
// ReadTxn too, so code that only reads takes `const ReadTxn&`.
class ReadTxn {
 public:
  ReadTxn(ReadTxn&& other) noexcept;
  ReadTxn& operator=(ReadTxn&&) = delete;
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;
  virtual ~ReadTxn();

  // Not found is nullopt. The view is valid until the transaction ends or resets.
  std::optional<std::string_view> get(MDB_dbi dbi, std::string_view key) const;
  const Databases& dbs() const;
  MDB_txn* handle() const { return txn_; }
  // The id of the snapshot (the last transaction committed when it began).
  std::size_t id() const { return mdb_txn_id(txn_); }

  // Read-only only: release the snapshot but keep the reader slot, then take
  // a fresh snapshot. Between reset() and renew() nothing may be read.
  void reset();
  void renew();

 protected:
  friend class Environment;
  ReadTxn(Environment& env, bool write);
  // Adopts `txn`, a transaction nested in one that holds the resize guard.
  ReadTxn(Environment& env, MDB_txn* txn) : env_(&env), txn_(txn), write_(true) {}
  void end_();
  Environment* env_;
  MDB_txn* txn_ = nullptr;
  bool write_ = false;
  std::shared_lock<std::shared_mutex> resize_guard_;
};

class WriteTxn : public ReadTxn {
 public:
  WriteTxn(WriteTxn&&) noexcept = default;

  void put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags = 0);
  // False when the key was absent.
  bool del(MDB_dbi dbi, std::string_view key);
  void commit();

 private:
  friend class Environment;
  explicit WriteTxn(Environment& env) : ReadTxn(env, true) {}
  // A transaction nested in `parent`: its commit merges into the parent,
  // its abort leaves the parent as it was.
  WriteTxn(Environment& env, MDB_txn* parent);
};

// Thrown inside a write when the map is full; Environment::write grows the
// map and runs the whole transaction again.
class MapFull : public StoreError {
 public:
  MapFull() : StoreError("LMDB map full", MDB_MAP_FULL) {}
};

class Environment {
 public:
  // Opens (creating if needed) the environment in `dir`. Throws StoreError
  // naming the path when the directory cannot be created, written or read,
  // or holds another format version.
  // `initial_map_size` 0 means as large as the filesystem; tests pass a
  // small one to exercise growth.
  explicit Environment(const std::filesystem::path& dir, std::size_t initial_map_size = 0);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  ReadTxn begin_read();

  // Runs `fn` in a write transaction and commits it; when it returns, the
  // change is on disk. If the map fills up, the transaction is aborted, the
  // map grown and `fn` run again, so `fn` must only act through the
  // transaction. An exception from `fn` aborts its change and is rethrown.
  //
  // Group commit: writes that threads of this process start while another
  // commits wait, and then the first of them runs them all, each in its own
  // nested transaction (one failing aborts only its own), and commits once:
  // one sync for the group instead of one each. See docs/store.md.
  void write(const std::function<void(WriteTxn&)>& fn);

  const Databases& dbs() const { return dbs_; }
  const std::filesystem::path& dir() const { return dir_; }
  MDB_env* handle() const { return env_; }
  std::size_t map_size() const;
  // The id of the last committed write transaction, by any process: a read
  // snapshot with this id is current. Cheap: reads the meta pages.
  std::size_t last_txn_id() const;
  // True while a writer of this process waits to grow the map: long-lived
  // readers (a DNS worker's snapshot) must reset so that it can.
  bool resize_wanted() const { return resize_wanted_.load(std::memory_order_relaxed); }

  [[noreturn]] void raise(const char* what, int rc) const;

 private:
  friend class ReadTxn;
  struct Pending;  // one write waiting for its group (lmdb.cpp)
  WriteTxn begin_write_();
  void run_group_(const std::vector<Pending*>& group);
  void open_databases_();
  void grow_();
  void adopt_resize_();

  std::filesystem::path dir_;
  MDB_env* env_ = nullptr;
  Databases dbs_;
  std::shared_mutex resize_mutex_;
  std::atomic<bool> resize_wanted_{false};
  // Group commit: the writes waiting, and whether a thread is committing.
  std::mutex group_mutex_;
  std::condition_variable group_done_;
  std::vector<Pending*> waiting_;
  bool committing_ = false;
};

}  // namespace rblzone::core
