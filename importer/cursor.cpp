// Import cursors in the store's aux database (see cursor.hpp).
#include "importer/cursor.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace rblzone::importer {
namespace {

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::string prefix(char kind, core::ZoneId zone) {
  std::string k{'i', kind};
  put_be(k, zone, 2);
  return k;
}

}  // namespace

std::uint64_t fnv64(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

std::string cursor_key(core::ZoneId zone, std::string_view source_id) {
  auto k = prefix('c', zone);
  put_be(k, fnv64(source_id), 8);
  return k;
}

std::optional<FileCursor> load_cursor(const core::ReadTxn& txn, std::string_view key) {
  const auto v = txn.get(txn.dbs().aux, key);
  if (!v) return std::nullopt;
  const auto j = nlohmann::json::parse(*v, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  FileCursor c;
  c.source = j.value("source", std::string());
  c.dev = j.value("dev", std::uint64_t{0});
  c.ino = j.value("ino", std::uint64_t{0});
  c.offset = j.value("offset", std::uint64_t{0});
  c.line = j.value("line", std::uint64_t{0});
  c.head = j.value("head", std::uint64_t{0});
  c.head_len = j.value("head_len", std::uint64_t{0});
  c.digest = j.value("digest", std::string());
  return c;
}

void save_cursor(core::WriteTxn& txn, std::string_view key, const FileCursor& c) {
  const nlohmann::json j{{"source", c.source},     {"dev", c.dev},      {"ino", c.ino},
                         {"offset", c.offset},     {"line", c.line},    {"head", c.head},
                         {"head_len", c.head_len}, {"digest", c.digest}};
  txn.put(txn.dbs().aux, key, j.dump());
}

std::string maildir_prefix(core::ZoneId zone, std::string_view dir) {
  auto k = prefix('m', zone);
  put_be(k, fnv64(dir), 8);
  return k;
}

std::string entry_prefix(core::ZoneId zone, std::string_view source_id) {
  auto k = prefix('e', zone);
  put_be(k, fnv64(source_id), 8);
  return k;
}

std::string volume_key(core::ZoneId zone, std::string_view source_id, std::uint64_t bucket,
                       std::string_view key) {
  auto k = prefix('v', zone);
  put_be(k, fnv64(source_id), 8);
  put_be(k, bucket, 8);
  k.append(key.substr(0, 400));
  return k;
}

FileIdentity identify(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": cannot open");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw std::runtime_error(path + ": cannot stat");
  }
  FileIdentity id;
  id.dev = static_cast<std::uint64_t>(st.st_dev);
  id.ino = static_cast<std::uint64_t>(st.st_ino);
  id.size = static_cast<std::uint64_t>(st.st_size);
  char buf[256];
  const auto n = ::pread(fd, buf, sizeof buf, 0);
  ::close(fd);
  if (n < 0) throw std::runtime_error(path + ": cannot read");
  id.head_len = static_cast<std::uint64_t>(n);
  id.head = fnv64(std::string_view(buf, static_cast<std::size_t>(n)));
  return id;
}

std::uint64_t resume_offset(const std::optional<FileCursor>& c, const FileIdentity& id) {
  if (!c || c->dev != id.dev || c->ino != id.ino || c->offset > id.size) return 0;
  // The stored head covers min(256, size then); the file only grew since.
  if (c->head_len > id.head_len) return 0;
  if (c->head_len == id.head_len && c->head != id.head) return 0;
  return c->offset;
}

}  // namespace rblzone::importer
