// Trap mailboxes through GMime: one message from a Maildir file, or the
// messages of an mbox one after another from a byte offset. Only what the
// importer needs is kept: the Received headers, the envelope and From
// domains, and the domains of URLs in the text parts.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rblzone::importer {

struct MessageFacts {
  std::vector<std::string> received;     // values, in header order (newest first)
  std::string envelope_domain;           // from Return-Path, lowercase ("" if none)
  std::string from_domain;               // from the From header, lowercase
  std::vector<std::string> url_domains;  // hosts of http(s) URLs in text parts, lowercase, unique
  std::string message_id;
};

// Parses a whole message held in memory. False (and `error`) when GMime
// finds no message in it. With `body` false only the header block is given
// to GMime and url_domains stays empty (an address zone needs no more).
bool parse_message(std::string_view bytes, MessageFacts& out, std::string& error, bool body = true);

// The hosts of "http://" and "https://" URLs in `text` (lowercase, unique,
// in order of appearance; IP literals left out).
void url_hosts(std::string_view text, std::vector<std::string>& out);

// Reads an mbox from a byte offset (which must be the start of a "From "
// line, or 0).
class MboxReader {
 public:
  // Throws std::runtime_error naming the file when it cannot be opened.
  MboxReader(const std::string& path, std::uint64_t offset);
  ~MboxReader();
  MboxReader(const MboxReader&) = delete;
  MboxReader& operator=(const MboxReader&) = delete;

  // The next message: false at the end. `start` is its "From " line's offset.
  // A message GMime cannot parse sets `error` and still returns true.
  bool next(MessageFacts& out, std::uint64_t& start, std::string& error);
  // The offset just past everything read so far (valid after next() is false).
  std::uint64_t end_offset() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rblzone::importer
