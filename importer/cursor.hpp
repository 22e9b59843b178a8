// Where each import source stopped, kept in the store's `aux` database in
// the same write transaction as the reports it covers: a crash loses
// nothing and counts nothing twice.
//
// Records (prefix byte 'i', documented in core/policy.hpp), ZONE = u16 id,
// H(x) = 64-bit FNV-1a of x, big-endian:
//   'i' 'c' ZONE H(source id)                  -> cursor JSON (FileCursor)
//   'i' 'm' ZONE H(maildir path) unique name   -> empty: message imported
//   'i' 'v' ZONE H(source id) bucket u64 key   -> u32 count (volume watch)
//   'i' 'e' ZONE H(source id) subject text     -> the listing as imported
//        (Listing::encode): an entry of a whole-file import (rbldnsd), so a
//        later import of the file removes what the file no longer holds
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/lmdb.hpp"
#include "core/store.hpp"

namespace rblzone::importer {

std::uint64_t fnv64(std::string_view s);

// A position in an append-only file (a log, an mbox). The file is known by
// device and inode, so a rotated log is finished under its new name and a
// new file at the old path starts from its beginning; `head` (a hash of the
// first bytes up to 256) tells a reused inode from the same file.
struct FileCursor {
  std::string source;  // "traplog:/var/log/traps.csv" (for people reading the store)
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::uint64_t offset = 0;  // bytes consumed: always the end of a whole line or message
  std::uint64_t line = 0;    // lines consumed, for messages
  std::uint64_t head = 0;
  std::uint64_t head_len = 0;
  std::string digest;  // whole-file imports (rbldnsd): SHA-256 of what was imported
};

std::string cursor_key(core::ZoneId zone, std::string_view source_id);
std::optional<FileCursor> load_cursor(const core::ReadTxn& txn, std::string_view key);
void save_cursor(core::WriteTxn& txn, std::string_view key, const FileCursor& c);

std::string maildir_prefix(core::ZoneId zone, std::string_view dir);
// The entries of a whole-file import: the prefix, then the subject's text.
std::string entry_prefix(core::ZoneId zone, std::string_view source_id);
std::string volume_key(core::ZoneId zone, std::string_view source_id, std::uint64_t bucket,
                       std::string_view key);

// The identity of an open file: device, inode, size and the head hash.
struct FileIdentity {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::uint64_t size = 0;
  std::uint64_t head = 0;
  std::uint64_t head_len = 0;
};
// Throws std::runtime_error naming the file when it cannot be read.
FileIdentity identify(const std::string& path);

// Where to resume in `id` given the stored cursor (0 when it is another
// file, or the same inode now shorter or with another beginning).
std::uint64_t resume_offset(const std::optional<FileCursor>& c, const FileIdentity& id);

}  // namespace rblzone::importer
