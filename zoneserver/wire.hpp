// DNS wire format (RFC 1035, RFC 6891): a bounds-checked reader with a sticky
// error, query parsing, and a response writer. A leaf: no I/O, no storage,
// nothing of ours but this file and wire.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rblzone::zoneserver::wire {

namespace type {
inline constexpr std::uint16_t A = 1, NS = 2, CNAME = 5, SOA = 6, TXT = 16, AAAA = 28, OPT = 41,
                               TSIG = 250, IXFR = 251, AXFR = 252, ANY = 255;
}
namespace rcode {
inline constexpr std::uint8_t NOERROR = 0, FORMERR = 1, SERVFAIL = 2, NXDOMAIN = 3, NOTIMP = 4,
                              REFUSED = 5, NOTAUTH = 9;
inline constexpr std::uint16_t BADVERS = 16;  // extended: 1 in the OPT's high bits
}  // namespace rcode
inline constexpr std::uint16_t kClassIN = 1, kClassCH = 3, kClassANY = 255;
inline constexpr std::uint8_t kOpcodeQuery = 0;
inline constexpr std::size_t kHeaderSize = 12;
inline constexpr std::size_t kMaxNameSize = 255;
inline constexpr std::size_t kMaxLabels = 127;

// Header flag bits (in the 16-bit flags word).
namespace flag {
inline constexpr std::uint16_t QR = 0x8000, AA = 0x0400, TC = 0x0200, RD = 0x0100, RA = 0x0080,
                               Z = 0x0040, AD = 0x0020, CD = 0x0010;
}

// Reads big-endian fields; after the first overrun every read returns 0 and
// ok() stays false, so callers check once at the end.
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t u8();
  std::uint16_t u16();
  std::uint32_t u32();
  void skip(std::size_t n);
  void seek(std::size_t pos);
  bool ok() const { return ok_; }
  void fail() { ok_ = false; }
  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return ok_ ? size_ - pos_ : 0; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// A domain name in uncompressed wire form (case as received), with the
// offset of each label so suffixes and labels are cheap to reach.
struct Name {
  std::uint8_t wire[kMaxNameSize] = {};
  std::uint8_t size = 0;    // including the root label's 0 byte
  std::uint8_t labels = 0;  // not counting the root
  std::uint8_t offsets[kMaxLabels] = {};

  std::string_view label(std::size_t i) const {
    return {reinterpret_cast<const char*>(wire + offsets[i] + 1),  // NOLINT
            wire[offsets[i]]};
  }
  // Wire form of the suffix starting at label i (i == labels: the root).
  std::size_t suffix_offset(std::size_t i) const { return i < labels ? offsets[i] : size - 1u; }
  std::string to_string() const;  // presentation form, lowercase, no trailing dot
};

// Reads a possibly compressed name at the reader's position. Pointers must
// point backwards (which also rules out loops); the whole name is at most 255
// bytes and 127 labels. False (and the reader failed) otherwise.
bool read_name(Reader& r, Name& out);

// Parses "a.b.c" (no escapes) into wire form. False if invalid.
bool name_from_text(std::string_view text, Name& out);

// True if `suffix` is a suffix of `name`, compared case-insensitively; sets
// `first_label` to the index of the label where the suffix starts.
bool has_suffix(const Name& name, const Name& suffix, std::size_t& first_label);
bool label_equal_ci(std::string_view a, std::string_view b);

enum class ParseStatus {
  ok,       // a well-formed QUERY with one question
  notimp,   // a well-formed header with another opcode
  formerr,  // the header parsed, the rest is malformed
  drop,     // no header, or a response: say nothing
};

struct Query {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::uint8_t opcode = 0;
  Name qname;
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  std::size_t question_end = 0;  // bytes [12, question_end) are the question as sent

  bool has_edns = false;
  std::uint8_t edns_version = 0;
  std::uint16_t udp_size = 512;  // the requester's, 512 without EDNS, >= 512
  bool dnssec_ok = false;
  bool has_tsig = false;
};

ParseStatus parse_query(const std::uint8_t* data, std::size_t size, Query& q);

// Builds a message into a caller's buffer. Writes past the capacity set a
// sticky overflow flag and are dropped; mark()/rollback() undo a partial
// record so a truncated answer holds only whole RRsets.
class Writer {
 public:
  Writer(std::uint8_t* buf, std::size_t capacity) : buf_(buf), cap_(capacity) {}
  void u8(std::uint8_t v);
  void u16(std::uint16_t v);
  void u32(std::uint32_t v);
  void bytes(const void* p, std::size_t n);
  void patch_u16(std::size_t at, std::uint16_t v);
  // A compression pointer to an earlier name at `offset`.
  void name_pointer(std::size_t offset) { u16(static_cast<std::uint16_t>(0xc000 | offset)); }
  void name(const Name& n) { bytes(n.wire, n.size); }

  // An RR header; returns the position of RDLENGTH for end_rr().
  std::size_t begin_rr_ptr(std::size_t owner_offset, std::uint16_t type, std::uint16_t cls,
                           std::uint32_t ttl);
  void end_rr(std::size_t rdlength_pos);

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return cap_; }
  void set_capacity(std::size_t cap) { cap_ = cap; }
  bool overflow() const { return overflow_; }
  std::size_t mark() const { return size_; }
  void rollback(std::size_t mark) {
    size_ = mark;
    overflow_ = false;
  }
  std::uint8_t* data() { return buf_; }

 private:
  std::uint8_t* buf_;
  std::size_t cap_;
  std::size_t size_ = 0;
  bool overflow_ = false;
};

}  // namespace rblzone::zoneserver::wire
