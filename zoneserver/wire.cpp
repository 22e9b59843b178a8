// DNS wire format: reader, name decoding, query parsing, writer.
#include "zoneserver/wire.hpp"

#include <cstring>

namespace rblzone::zoneserver::wire {

std::uint8_t Reader::u8() {
  if (!ok_ || size_ - pos_ < 1) {
    ok_ = false;
    return 0;
  }
  return data_[pos_++];
}

std::uint16_t Reader::u16() {
  if (!ok_ || size_ - pos_ < 2) {
    ok_ = false;
    return 0;
  }
  const auto v = static_cast<std::uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
  pos_ += 2;
  return v;
}

std::uint32_t Reader::u32() {
  const std::uint32_t hi = u16();
  const std::uint32_t lo = u16();
  return ok_ ? (hi << 16) | lo : 0;
}

void Reader::skip(std::size_t n) {
  if (!ok_ || size_ - pos_ < n) {
    ok_ = false;
    return;
  }
  pos_ += n;
}

void Reader::seek(std::size_t pos) {
  if (pos > size_) {
    ok_ = false;
    return;
  }
  pos_ = pos;
}

bool read_name(Reader& r, Name& out) {
  out.size = 0;
  out.labels = 0;
  std::size_t pos = r.pos();
  std::size_t resume = 0;  // where the reader continues after the first pointer
  bool jumped = false;
  std::size_t lowest_target = pos;  // pointers must go strictly backwards
  const std::uint8_t* data = r.data();
  const std::size_t size = r.size();
  if (!r.ok()) return false;
  for (;;) {
    if (pos >= size) {
      r.fail();
      return false;
    }
    const std::uint8_t len = data[pos];
    if ((len & 0xc0) == 0xc0) {
      if (pos + 1 >= size) {
        r.fail();
        return false;
      }
      const std::size_t target = (static_cast<std::size_t>(len & 0x3f) << 8) | data[pos + 1];
      // Forward or self pointers make loops; pointers into the header are garbage.
      if (target >= lowest_target || target < kHeaderSize) {
        r.fail();
        return false;
      }
      if (!jumped) resume = pos + 2;
      jumped = true;
      lowest_target = target;
      pos = target;
      continue;
    }
    if ((len & 0xc0) != 0) {  // 0x40/0x80: extended label types, obsolete
      r.fail();
      return false;
    }
    if (len == 0) {
      if (out.size + 1u > kMaxNameSize) {
        r.fail();
        return false;
      }
      out.wire[out.size++] = 0;
      r.seek(jumped ? resume : pos + 1);
      return r.ok();
    }
    if (pos + 1 + len > size || out.size + 1u + len + 1u > kMaxNameSize ||
        out.labels >= kMaxLabels) {
      r.fail();
      return false;
    }
    out.offsets[out.labels++] = out.size;
    std::memcpy(out.wire + out.size, data + pos, 1u + len);
    out.size = static_cast<std::uint8_t>(out.size + 1u + len);
    pos += 1u + len;
  }
}

bool name_from_text(std::string_view text, Name& out) {
  out.size = 0;
  out.labels = 0;
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  std::size_t start = 0;
  while (start < text.size()) {
    auto dot = text.find('.', start);
    if (dot == std::string_view::npos) dot = text.size();
    const std::size_t len = dot - start;
    if (len == 0 || len > 63 || out.size + 1u + len + 1u > kMaxNameSize ||
        out.labels >= kMaxLabels) {
      return false;
    }
    out.offsets[out.labels++] = out.size;
    out.wire[out.size] = static_cast<std::uint8_t>(len);
    std::memcpy(out.wire + out.size + 1, text.data() + start, len);
    out.size = static_cast<std::uint8_t>(out.size + 1u + len);
    start = dot + 1;
  }
  out.wire[out.size++] = 0;
  return true;
}

std::string Name::to_string() const {
  std::string s;
  for (std::size_t i = 0; i < labels; ++i) {
    if (i) s.push_back('.');
    for (const char c : label(i)) {
      s.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
  }
  return s;
}

bool label_equal_ci(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool has_suffix(const Name& name, const Name& suffix, std::size_t& first_label) {
  if (suffix.labels > name.labels) return false;
  const std::size_t skip = name.labels - suffix.labels;
  for (std::size_t i = 0; i < suffix.labels; ++i) {
    if (!label_equal_ci(name.label(skip + i), suffix.label(i))) return false;
  }
  first_label = skip;
  return true;
}

namespace {

// Skips one resource record; records an OPT's fields when `q` is given.
bool skip_rr(Reader& r, Query* q, bool additional) {
  Name owner;
  if (!read_name(r, owner)) return false;
  const std::uint16_t type = r.u16();
  const std::uint16_t cls = r.u16();
  const std::uint32_t ttl = r.u32();
  const std::uint16_t rdlen = r.u16();
  r.skip(rdlen);
  if (!r.ok()) return false;
  if (type == type::OPT) {
    // One OPT, owned by the root, in the additional section (RFC 6891 6.1.1).
    if (!additional || q == nullptr || q->has_edns || owner.size != 1) return false;
    q->has_edns = true;
    q->udp_size = cls < 512 ? 512 : cls;
    q->edns_version = static_cast<std::uint8_t>(ttl >> 16);
    q->dnssec_ok = (ttl & 0x8000) != 0;
  } else if (type == type::TSIG && q != nullptr) {
    q->has_tsig = true;
  }
  return true;
}

}  // namespace

ParseStatus parse_query(const std::uint8_t* data, std::size_t size, Query& q) {
  q = Query{};
  if (size < kHeaderSize) return ParseStatus::drop;
  Reader r(data, size);
  q.id = r.u16();
  q.flags = r.u16();
  const std::uint16_t qdcount = r.u16();
  const std::uint16_t ancount = r.u16();
  const std::uint16_t nscount = r.u16();
  const std::uint16_t arcount = r.u16();
  if ((q.flags & flag::QR) != 0) return ParseStatus::drop;  // never answer a response
  q.opcode = static_cast<std::uint8_t>((q.flags >> 11) & 0xf);

  // The question, then the rest only to find an OPT (so that even a FORMERR
  // carries one when the query did); a malformed message after a good
  // header is FORMERR.
  bool good = true;
  for (std::size_t i = 0; good && i < qdcount; ++i) {
    Name other;
    good = read_name(r, i == 0 ? q.qname : other);
    const std::uint16_t qtype = r.u16();
    const std::uint16_t qclass = r.u16();
    good = good && r.ok();
    if (i == 0) {
      q.qtype = qtype;
      q.qclass = qclass;
      q.question_end = r.pos();
    }
  }
  for (std::size_t i = 0; good && i < std::size_t{ancount} + nscount; ++i) {
    good = skip_rr(r, nullptr, false);  // an OPT here is a format error
  }
  for (std::size_t i = 0; good && i < arcount; ++i) good = skip_rr(r, &q, true);
  if (good && r.pos() != size) good = false;  // trailing bytes
  if (qdcount != 1) good = false;
  if (!good) {
    if (qdcount != 1 || q.question_end == 0) q.question_end = 0;
    return ParseStatus::formerr;
  }
  if (q.opcode != kOpcodeQuery) return ParseStatus::notimp;
  return ParseStatus::ok;
}

void Writer::u8(std::uint8_t v) {
  if (overflow_ || cap_ - size_ < 1) {
    overflow_ = true;
    return;
  }
  buf_[size_++] = v;
}

void Writer::u16(std::uint16_t v) {
  if (overflow_ || cap_ - size_ < 2) {
    overflow_ = true;
    return;
  }
  buf_[size_++] = static_cast<std::uint8_t>(v >> 8);
  buf_[size_++] = static_cast<std::uint8_t>(v);
}

void Writer::u32(std::uint32_t v) {
  if (overflow_ || cap_ - size_ < 4) {
    overflow_ = true;
    return;
  }
  u16(static_cast<std::uint16_t>(v >> 16));
  u16(static_cast<std::uint16_t>(v));
}

void Writer::bytes(const void* p, std::size_t n) {
  if (overflow_ || cap_ - size_ < n) {
    overflow_ = true;
    return;
  }
  std::memcpy(buf_ + size_, p, n);
  size_ += n;
}

void Writer::patch_u16(std::size_t at, std::uint16_t v) {
  if (at + 2 > size_) return;
  buf_[at] = static_cast<std::uint8_t>(v >> 8);
  buf_[at + 1] = static_cast<std::uint8_t>(v);
}

std::size_t Writer::begin_rr_ptr(std::size_t owner_offset, std::uint16_t type, std::uint16_t cls,
                                 std::uint32_t ttl) {
  name_pointer(owner_offset);
  u16(type);
  u16(cls);
  u32(ttl);
  const std::size_t at = size_;
  u16(0);
  return at;
}

void Writer::end_rr(std::size_t rdlength_pos) {
  if (overflow_) return;
  patch_u16(rdlength_pos, static_cast<std::uint16_t>(size_ - rdlength_pos - 2));
}

}  // namespace rblzone::zoneserver::wire
