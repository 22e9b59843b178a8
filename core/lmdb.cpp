// LMDB environment, transactions and cursors (see lmdb.hpp for the rules).
#include "core/lmdb.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include "core/schema.hpp"

namespace rblzone::core {
namespace {

constexpr std::size_t kGiB = std::size_t{1} << 30;
constexpr unsigned kMaxReaders = 1024;  // processes x threads, generously
constexpr unsigned kMaxDbs = 16;
constexpr auto kResizeWait = std::chrono::seconds(10);

// The map is as large as the filesystem holding it, so it cannot fill up
// before the disk does; LMDB only reserves address space for it.
std::size_t default_map_size(const std::filesystem::path& dir) {
  struct statvfs vfs {};
  std::size_t size = 4 * kGiB;
  if (statvfs(dir.c_str(), &vfs) == 0) {
    const auto fs_bytes = static_cast<std::size_t>(vfs.f_blocks) * vfs.f_frsize;
    size = std::max(size, (fs_bytes / kGiB + 1) * kGiB);
  }
  return std::min(size, std::size_t{64} << 40);
}

std::uint64_t load_be64(const unsigned char* p) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

// Byte-wise lexicographic order, exactly as LMDB's default, so every tool
// (mdb_dump, mdb_stat) still reads the data; but 19-byte IP keys compare as
// two 64-bit words and three bytes instead of through memcmp.
int compare_ip_keys(const MDB_val* a, const MDB_val* b) {
  const auto* x = static_cast<const unsigned char*>(a->mv_data);
  const auto* y = static_cast<const unsigned char*>(b->mv_data);
  if (a->mv_size == 19 && b->mv_size == 19) {
    for (int i = 0; i < 16; i += 8) {
      const std::uint64_t u = load_be64(x + i);
      const std::uint64_t v = load_be64(y + i);
      if (u != v) return u < v ? -1 : 1;
    }
    for (int i = 16; i < 19; ++i) {
      if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    }
    return 0;
  }
  const std::size_t n = std::min(a->mv_size, b->mv_size);
  const int c = std::memcmp(x, y, n);
  if (c != 0) return c;
  return a->mv_size < b->mv_size ? -1 : (a->mv_size > b->mv_size ? 1 : 0);
}

}  // namespace

void Environment::raise(const char* what, int rc) const {
  if (rc == MDB_MAP_FULL) throw MapFull();
  std::string message = dir_.string() + ": " + what + ": " + mdb_strerror(rc);
  // LMDB reports a short write on a full disk as EIO: say what it means.
  struct statvfs vfs {};
  if ((rc == EIO || rc == ENOSPC) && statvfs(dir_.c_str(), &vfs) == 0) {
    const auto free_bytes = static_cast<std::size_t>(vfs.f_bavail) * vfs.f_frsize;
    if (free_bytes < std::size_t{16} << 20) {
      message += " (no space left on the filesystem: " + std::to_string(free_bytes) +
                 " bytes free; nothing of this transaction was written)";
    }
  }
  throw StoreError(message, rc);
}

Environment::Environment(const std::filesystem::path& dir, std::size_t initial_map_size)
    : dir_(dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec)
    throw StoreError(dir_.string() + ": cannot create data directory: " + ec.message(), ec.value());
  if (!std::filesystem::is_directory(dir_)) {
    throw StoreError(dir_.string() + ": not a directory", ENOTDIR);
  }
  if (access(dir_.c_str(), R_OK | W_OK | X_OK) != 0) {
    throw StoreError(dir_.string() + ": data directory not readable and writable: " +
                         std::generic_category().message(errno),
                     errno);
  }
  // Where address space is limited (ulimit -v, valgrind), a map as large as
  // the filesystem cannot be reserved: halve it until it can, down to 1 GiB;
  // it still grows on demand from there.
  for (std::size_t size = initial_map_size ? initial_map_size : default_map_size(dir_);;
       size /= 2) {
    if (int rc = mdb_env_create(&env_); rc != 0) raise("mdb_env_create", rc);
    mdb_env_set_maxreaders(env_, kMaxReaders);
    mdb_env_set_maxdbs(env_, kMaxDbs);
    mdb_env_set_mapsize(env_, size);
    const int rc = mdb_env_open(env_, dir_.c_str(), MDB_NOTLS, 0640);
    if (rc == 0) break;
    mdb_env_close(env_);
    env_ = nullptr;
    if ((rc == ENOMEM || rc == EINVAL) && size > kGiB && initial_map_size == 0) continue;
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == MDB_CORRUPTED) {
      throw StoreError(dir_.string() + ": data.mdb is not a valid LMDB file (" + mdb_strerror(rc) +
                           "); restore it from a backup",
                       rc);
    }
    throw StoreError(dir_.string() + ": cannot open store: " + mdb_strerror(rc), rc);
  }
  int dead = 0;
  mdb_reader_check(env_, &dead);
  try {
    open_databases_();
  } catch (...) {  // the destructor will not run: close what was opened
    mdb_env_close(env_);
    env_ = nullptr;
    throw;
  }
}

void Environment::open_databases_() {
  // Open (or create) every named database once; their handles are valid for
  // the life of the environment.
  write([&](WriteTxn& txn) {
    auto open = [&](const char* name, MDB_dbi& dbi) {
      if (int rc = mdb_dbi_open(txn.handle(), name, MDB_CREATE, &dbi); rc != 0) raise(name, rc);
    };
    open(schema::kMetaDb, dbs_.meta);
    open(schema::kZonesDb, dbs_.zones);
    open(schema::kIpDb, dbs_.ip);
    mdb_set_compare(txn.handle(), dbs_.ip, compare_ip_keys);
    open(schema::kDomainDb, dbs_.domain);
    open(schema::kHistoryDb, dbs_.history);
    open(schema::kJournalDb, dbs_.journal);
    open(schema::kExpiryDb, dbs_.expiry);
    open(schema::kAuxDb, dbs_.aux);
    open(schema::kHistorySeqDb, dbs_.history_seq);
    const auto version = txn.get(dbs_.meta, schema::kFormatKey);
    if (!version) {
      txn.put(dbs_.meta, schema::kFormatKey, std::to_string(schema::kFormatVersion));
    } else if (*version != std::to_string(schema::kFormatVersion)) {
      throw StoreError(dir_.string() + ": store format version " + std::string(*version) +
                           ", this build reads version " + std::to_string(schema::kFormatVersion),
                       MDB_VERSION_MISMATCH);
    }
  });
}

Environment::~Environment() {
  if (env_) mdb_env_close(env_);
}

std::size_t Environment::map_size() const {
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  return info.me_mapsize;
}

std::size_t Environment::last_txn_id() const {
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  return info.me_last_txnid;
}

void Environment::adopt_resize_() {
  std::unique_lock lock(resize_mutex_);
  mdb_env_set_mapsize(env_, 0);
}

void Environment::grow_() {
  // A transaction of this process still open would make the resize unsafe;
  // waiting for it beats corrupting the map.
  auto& m = resize_mutex_;
  const auto deadline = std::chrono::steady_clock::now() + kResizeWait;
  resize_wanted_ = true;
  while (!m.try_lock()) {
    if (std::chrono::steady_clock::now() > deadline) {
      resize_wanted_ = false;
      throw StoreError(dir_.string() + ": cannot grow the map while transactions stay open",
                       MDB_MAP_FULL);
    }
    std::this_thread::yield();
  }
  resize_wanted_ = false;
  const std::size_t next = map_size() * 2;
  const int rc = mdb_env_set_mapsize(env_, next);
  m.unlock();
  if (rc != 0) raise("grow map", rc);
}

ReadTxn Environment::begin_read() {
  return ReadTxn(*this, false);
}

WriteTxn Environment::begin_write_() {
  return WriteTxn(*this);
}

struct Environment::Pending {
  const std::function<void(WriteTxn&)>* fn;
  std::exception_ptr error;  // what fn (or the commit) threw
  bool done = false;
};

void Environment::write(const std::function<void(WriteTxn&)>& fn) {
  Pending me{&fn, nullptr, false};
  std::unique_lock lock(group_mutex_);
  waiting_.push_back(&me);
  while (!me.done) {
    if (committing_) {
      group_done_.wait(lock);
      continue;
    }
    // Lead: take every write waiting (this one among them) and commit them.
    committing_ = true;
    std::vector<Pending*> group;
    group.swap(waiting_);
    lock.unlock();
    run_group_(group);
    lock.lock();
    committing_ = false;
    for (Pending* p : group) p->done = true;
    group_done_.notify_all();
  }
  lock.unlock();
  if (me.error) std::rethrow_exception(me.error);
}

void Environment::run_group_(const std::vector<Pending*>& group) {
  for (;;) {
    try {
      WriteTxn txn = begin_write_();
      if (group.size() == 1) {
        // Alone: no nested transaction (LMDB allocates ~3 MB for one).
        try {
          (*group.front()->fn)(txn);
        } catch (const MapFull&) {
          throw;
        } catch (...) {
          group.front()->error = std::current_exception();
          return;  // txn aborts
        }
      } else {
        for (Pending* p : group) {
          p->error = nullptr;
          try {
            WriteTxn child(*this, txn.handle());
            (*p->fn)(child);
            child.commit();
          } catch (const MapFull&) {
            throw;
          } catch (...) {
            p->error = std::current_exception();  // its child aborted; the rest go on
          }
        }
      }
      txn.commit();
      return;
    } catch (const MapFull&) {
      grow_();  // and run the whole group again
    } catch (...) {
      // Beginning or committing the group failed: nothing of it is stored.
      for (Pending* p : group) p->error = std::current_exception();
      return;
    }
  }
}

ReadTxn::ReadTxn(Environment& env, bool write)
    : env_(&env), write_(write), resize_guard_(env.resize_mutex_) {
  for (;;) {
    const int rc = mdb_txn_begin(env.env_, nullptr, write ? 0 : MDB_RDONLY, &txn_);
    if (rc == 0) return;
    txn_ = nullptr;
    if (rc != MDB_MAP_RESIZED) env.raise(write ? "begin write" : "begin read", rc);
    resize_guard_.unlock();
    env.adopt_resize_();
    resize_guard_.lock();
  }
}

WriteTxn::WriteTxn(Environment& env, MDB_txn* parent)
    : ReadTxn(env, static_cast<MDB_txn*>(nullptr)) {
  if (int rc = mdb_txn_begin(env.handle(), parent, 0, &txn_); rc != 0) {
    txn_ = nullptr;
    env.raise("begin nested write", rc);
  }
}

ReadTxn::ReadTxn(ReadTxn&& other) noexcept
    : env_(other.env_),
      txn_(std::exchange(other.txn_, nullptr)),
      write_(other.write_),
      resize_guard_(std::move(other.resize_guard_)) {}

ReadTxn::~ReadTxn() {
  end_();
}

void ReadTxn::end_() {
  if (txn_) mdb_txn_abort(txn_);
  txn_ = nullptr;
}

const Databases& ReadTxn::dbs() const {
  return env_->dbs();
}

std::optional<std::string_view> ReadTxn::get(MDB_dbi dbi, std::string_view key) const {
  MDB_val k = as_val(key);
  MDB_val v{};
  const int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  if (rc != 0) env_->raise("get", rc);
  return as_view(v);
}

void ReadTxn::reset() {
  mdb_txn_reset(txn_);
  resize_guard_.unlock();
}

void ReadTxn::renew() {
  resize_guard_.lock();
  for (;;) {
    const int rc = mdb_txn_renew(txn_);
    if (rc == 0) return;
    if (rc != MDB_MAP_RESIZED) {
      resize_guard_.unlock();
      env_->raise("renew read", rc);
    }
    resize_guard_.unlock();
    env_->adopt_resize_();
    resize_guard_.lock();
  }
}

void WriteTxn::put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = as_val(key);
  MDB_val v = as_val(value);
  if (int rc = mdb_put(txn_, dbi, &k, &v, flags); rc != 0) env_->raise("put", rc);
}

bool WriteTxn::del(MDB_dbi dbi, std::string_view key) {
  MDB_val k = as_val(key);
  const int rc = mdb_del(txn_, dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != 0) env_->raise("del", rc);
  return true;
}

void WriteTxn::commit() {
  MDB_txn* t = std::exchange(txn_, nullptr);
  if (int rc = mdb_txn_commit(t); rc != 0) env_->raise("commit", rc);
}

Cursor::Cursor(const ReadTxn& txn, MDB_dbi dbi) {
  if (int rc = mdb_cursor_open(txn.handle(), dbi, &cursor_); rc != 0) {
    throw StoreError(std::string("cursor open: ") + mdb_strerror(rc), rc);
  }
}

void Cursor::renew(const ReadTxn& txn) {
  if (int rc = mdb_cursor_renew(txn.handle(), cursor_); rc != 0) {
    throw StoreError(std::string("cursor renew: ") + mdb_strerror(rc), rc);
  }
}

Cursor::~Cursor() {
  if (cursor_) mdb_cursor_close(cursor_);
}

bool Cursor::get(MDB_cursor_op op) {
  const int rc = mdb_cursor_get(cursor_, &key_, &value_, op);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != 0) throw StoreError(std::string("cursor: ") + mdb_strerror(rc), rc);
  return true;
}

bool Cursor::seek(std::string_view key) {
  key_ = as_val(key);
  return get(MDB_SET_RANGE);
}

bool Cursor::find(std::string_view key) {
  key_ = as_val(key);
  return get(MDB_SET_KEY);
}

bool Cursor::seek_le(std::string_view key) {
  key_ = as_val(key);
  if (!get(MDB_SET_RANGE)) return get(MDB_LAST);
  if (this->key() == key) return true;
  return get(MDB_PREV);
}

bool Cursor::first() {
  return get(MDB_FIRST);
}
bool Cursor::last() {
  return get(MDB_LAST);
}
bool Cursor::next() {
  return get(MDB_NEXT);
}
bool Cursor::prev() {
  return get(MDB_PREV);
}

}  // namespace rblzone::core
