// TSIG with HMAC-SHA256 (see tsig.hpp).
#include "zoneserver/tsig.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

#include "core/crypto.hpp"
#include "zoneserver/hot_subjects.hpp"

namespace rblzone::zoneserver::tsig {
namespace {

constexpr std::uint16_t kMacSize = 32;  // HMAC-SHA256, untruncated

void put16(std::string& s, std::uint32_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v));
}
void put32(std::string& s, std::uint32_t v) {
  put16(s, v >> 16);
  put16(s, v & 0xffff);
}
void put48(std::string& s, std::uint64_t v) {
  put16(s, static_cast<std::uint32_t>((v >> 32) & 0xffff));
  put32(s, static_cast<std::uint32_t>(v & 0xffffffff));
}
std::uint16_t get16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
std::uint16_t get16(const std::string& s, std::size_t at) {
  return get16(reinterpret_cast<const std::uint8_t*>(s.data()) + at);  // NOLINT
}
void set16(std::string& s, std::size_t at, std::uint32_t v) {
  s[at] = static_cast<char>(v >> 8);
  s[at + 1] = static_cast<char>(v);
}

std::string canonical(const wire::Name& n) {
  std::string out(reinterpret_cast<const char*>(n.wire), n.size);  // NOLINT
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view as_text(const std::uint8_t* p, std::size_t n) {
  return {reinterpret_cast<const char*>(p), n};  // NOLINT
}

// The message as it was before the TSIG was added: original ID, ARCOUNT
// one less, no TSIG record.
void append_stripped(std::string& in, const std::uint8_t* msg, const Record& rec) {
  put16(in, rec.original_id);
  in.append(as_text(msg + 2, 8));
  put16(in, static_cast<std::uint32_t>(get16(msg + 10) - 1));
  in.append(as_text(msg + wire::kHeaderSize, rec.offset - wire::kHeaderSize));
}

// The TSIG variables (RFC 8945 section 4.3.3).
void append_variables(std::string& in, const Record& rec) {
  in += rec.key_name;
  put16(in, wire::kClassANY);
  put32(in, 0);
  in += rec.algorithm;
  put48(in, rec.time_signed);
  put16(in, rec.fudge);
  put16(in, rec.error);
  put16(in, static_cast<std::uint32_t>(rec.other.size()));
  in += rec.other;
}

std::string hmac(std::string_view secret, std::string_view data) {
  const auto d = core::hmac_sha256(secret, data);
  return {reinterpret_cast<const char*>(d.data()), d.size()};  // NOLINT
}

bool time_ok(const Record& rec, std::int64_t now) {
  const auto t = static_cast<std::int64_t>(rec.time_signed);
  return (now > t ? now - t : t - now) <= rec.fudge;
}

// Header and question of `msg` with QR set and `rcode`, nothing else.
std::string bare_response(const std::uint8_t* msg, std::size_t question_end, std::uint8_t rcode) {
  std::string m(as_text(msg, question_end));
  const std::uint16_t flags = get16(msg + 2);
  set16(m, 2, wire::flag::QR | (flags & 0x7800) | (flags & wire::flag::RD) | rcode);
  set16(m, 6, 0);
  set16(m, 8, 0);
  set16(m, 10, 0);
  return m;
}

std::size_t question_end(const std::uint8_t* msg, std::size_t size) {
  wire::Reader r(msg, size);
  r.seek(4);
  const std::uint16_t qd = r.u16();
  r.seek(wire::kHeaderSize);
  for (std::uint16_t i = 0; i < qd; ++i) {
    wire::Name n;
    if (!wire::read_name(r, n)) return wire::kHeaderSize;
    r.skip(4);
  }
  return r.ok() ? r.pos() : wire::kHeaderSize;
}

}  // namespace

std::string name_wire(std::string_view text) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t dot = text.find('.', start);
    if (dot == std::string_view::npos) dot = text.size();
    out.push_back(static_cast<char>(dot - start));
    for (std::size_t i = start; i < dot; ++i) {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[i]))));
    }
    start = dot + 1;
  }
  out.push_back('\0');
  return out;
}

Found find(const std::uint8_t* msg, std::size_t size, Record& out) {
  if (size < wire::kHeaderSize || get16(msg + 10) == 0) return Found::none;
  wire::Reader r(msg, size);
  r.seek(4);
  const std::uint16_t qd = r.u16();
  const std::size_t records = std::size_t{r.u16()} + r.u16() + r.u16();
  r.seek(wire::kHeaderSize);
  for (std::uint16_t i = 0; i < qd; ++i) {
    wire::Name n;
    if (!wire::read_name(r, n)) return Found::none;  // answer() says FORMERR
    r.skip(4);
  }
  for (std::size_t i = 0; i < records; ++i) {
    const std::size_t start = r.pos();
    wire::Name owner;
    if (!wire::read_name(r, owner)) return Found::none;
    const std::uint16_t type = r.u16();
    const std::uint16_t cls = r.u16();
    const std::uint32_t ttl = r.u32();
    const std::uint16_t rdlen = r.u16();
    const std::size_t rdata = r.pos();
    if (!r.ok() || r.remaining() < rdlen)
      return type == wire::type::TSIG ? Found::malformed : Found::none;
    if (type != wire::type::TSIG) {
      r.skip(rdlen);
      continue;
    }
    // The last record of the additional section, class ANY, TTL 0, and
    // nothing after it (RFC 8945 section 5.1).
    if (i + 1 != records || cls != wire::kClassANY || ttl != 0 || rdata + rdlen != size) {
      return Found::malformed;
    }
    wire::Name algorithm;
    if (!wire::read_name(r, algorithm)) return Found::malformed;
    const std::uint64_t hi = r.u16();
    out.time_signed = (hi << 32) | r.u32();
    out.fudge = r.u16();
    const std::uint16_t mac_size = r.u16();
    if (r.remaining() < mac_size) return Found::malformed;
    out.mac.assign(as_text(msg + r.pos(), mac_size));
    r.skip(mac_size);
    out.original_id = r.u16();
    out.error = r.u16();
    const std::uint16_t other_len = r.u16();
    if (!r.ok() || r.remaining() != other_len) return Found::malformed;
    out.other.assign(as_text(msg + r.pos(), other_len));
    out.offset = start;
    out.key_name = canonical(owner);
    out.algorithm = canonical(algorithm);
    return Found::found;
  }
  return Found::none;
}

std::uint16_t verify_request(const std::uint8_t* msg, const Record& rec,
                             const core::TsigKeyConfig* key, std::int64_t now) {
  if (key == nullptr || rec.key_name != name_wire(key->name) ||
      rec.algorithm != name_wire(key->algorithm)) {
    return kBadKey;
  }
  if (rec.mac.size() != kMacSize) return kBadSig;
  std::string in;
  in.reserve(rec.offset + 256);
  append_stripped(in, msg, rec);
  append_variables(in, rec);
  if (!core::constant_time_equal(hmac(key->secret, in), rec.mac)) return kBadSig;
  if (!time_ok(rec, now)) return kBadTime;
  return 0;
}

Signer::Signer(const core::TsigKeyConfig& key, std::optional<std::string> request_mac,
               std::uint64_t time_signed)
    : key_name_(name_wire(key.name)),
      algorithm_(name_wire(key.algorithm)),
      secret_(key.secret),
      prior_mac_(std::move(request_mac)),
      time_(time_signed) {}

void Signer::sign(std::string& msg, std::uint16_t error, std::string_view other) {
  std::string in;
  in.reserve(msg.size() + 256);
  if (!first_) {
    put16(in, static_cast<std::uint32_t>(prior_.size()));
    in += prior_;
  } else if (prior_mac_) {
    put16(in, static_cast<std::uint32_t>(prior_mac_->size()));
    in += *prior_mac_;
  }
  in += msg;
  Record rec;
  rec.key_name = key_name_;
  rec.algorithm = algorithm_;
  rec.time_signed = time_;
  rec.fudge = kFudge;
  rec.error = error;
  rec.other = other;
  if (first_) {
    append_variables(in, rec);
  } else {
    put48(in, time_);
    put16(in, kFudge);
  }
  prior_ = hmac(secret_, in);
  first_ = false;

  const std::uint16_t id = get16(msg, 0);
  msg += key_name_;
  put16(msg, wire::type::TSIG);
  put16(msg, wire::kClassANY);
  put32(msg, 0);
  put16(msg, static_cast<std::uint32_t>(algorithm_.size() + 16 + prior_.size() + other.size()));
  msg += algorithm_;
  put48(msg, time_);
  put16(msg, kFudge);
  put16(msg, static_cast<std::uint32_t>(prior_.size()));
  msg += prior_;
  put16(msg, id);
  put16(msg, error);
  put16(msg, static_cast<std::uint32_t>(other.size()));
  msg += other;
  set16(msg, 10, get16(msg, 10) + 1u);
}

void append_unsigned(std::string& msg, const Record& request, std::uint16_t error) {
  const std::uint16_t id = get16(msg, 0);
  msg += request.key_name;
  put16(msg, wire::type::TSIG);
  put16(msg, wire::kClassANY);
  put32(msg, 0);
  put16(msg, static_cast<std::uint32_t>(request.algorithm.size() + 16));
  msg += request.algorithm;
  put48(msg, request.time_signed);
  put16(msg, kFudge);
  put16(msg, 0);  // no MAC
  put16(msg, id);
  put16(msg, error);
  put16(msg, 0);
  set16(msg, 10, get16(msg, 10) + 1u);
}

std::string error_response(const std::uint8_t* msg, const Record& request,
                           const core::TsigKeyConfig* key, std::uint16_t error, std::int64_t now) {
  std::string m = bare_response(msg, question_end(msg, request.offset), wire::rcode::NOTAUTH);
  if (error == kBadTime && key != nullptr) {
    // Signed, with the request's time so the client can check the MAC, and
    // ours in Other Data (RFC 8945 section 5.2.3).
    std::string ours;
    put48(ours, static_cast<std::uint64_t>(now));
    Signer(*key, request.mac, request.time_signed).sign(m, error, ours);
  } else {
    append_unsigned(m, request, error);
  }
  return m;
}

bool verify_response(const std::uint8_t* msg, std::size_t size, const core::TsigKeyConfig& key,
                     std::string_view request_mac, std::int64_t now) {
  Record rec;
  if (find(msg, size, rec) != Found::found || rec.error != 0 ||
      rec.key_name != name_wire(key.name) || rec.algorithm != name_wire(key.algorithm) ||
      rec.mac.size() != kMacSize) {
    return false;
  }
  std::string in;
  put16(in, static_cast<std::uint32_t>(request_mac.size()));
  in += request_mac;
  append_stripped(in, msg, rec);
  append_variables(in, rec);
  return core::constant_time_equal(hmac(key.secret, in), rec.mac) && time_ok(rec, now);
}

Outcome answer_signed(const std::uint8_t* query, std::size_t size, const Client& client,
                      const ZoneCatalog& catalog, Snapshot& snapshot, std::int64_t now,
                      const AnswerOptions& options, wire::Writer& out, QueryStats* stats,
                      Matched* matched) {
  if (matched) matched->listed = false;  // also when no answer() runs below
  Record rec;
  const Found found = find(query, size, rec);
  if (found == Found::none) {
    return answer(query, size, client, catalog, snapshot, now, options, out, stats, matched);
  }
  wire::Query q;
  const auto status = wire::parse_query(query, size, q);
  if (status == wire::ParseStatus::drop) return Outcome::drop;
  const std::size_t capacity = out.capacity();
  const auto put = [&out](const std::string& m) {
    out.bytes(m.data(), m.size());
    return out.overflow() ? Outcome::drop : Outcome::answer;
  };
  if (found == Found::malformed || status != wire::ParseStatus::ok) {
    return put(
        bare_response(query, question_end(query, size),
                      found == Found::malformed ? wire::rcode::FORMERR : wire::rcode::NOTIMP));
  }
  std::size_t apex_label = 0;
  const CatalogZone* zone = catalog.find(q.qname, apex_label);
  const core::TsigKeyConfig* key =
      zone != nullptr && zone->config.transfer.tsig ? &*zone->config.transfer.tsig : nullptr;
  if (const std::uint16_t error = verify_request(query, rec, key, now)) {
    return put(error_response(query, rec, key, error, now));
  }
  // The query as it was before it was signed.
  std::vector<std::uint8_t> plain(query, query + rec.offset);
  plain[10] = static_cast<std::uint8_t>((get16(query + 10) - 1) >> 8);
  plain[11] = static_cast<std::uint8_t>(get16(query + 10) - 1);
  if (answer(plain.data(), plain.size(), client, catalog, snapshot, now, options, out, stats,
             matched) == Outcome::drop) {
    return Outcome::drop;
  }
  std::string m(as_text(out.data(), out.size()));
  const std::size_t limit = client.transport == Transport::tcp ? 65535
                            : q.has_edns ? std::min<std::size_t>(q.udp_size, capacity)
                                         : 512;
  Signer signer(*key, rec.mac, static_cast<std::uint64_t>(now));
  std::string signed_m = m;
  signer.sign(signed_m);
  if (signed_m.size() > limit) {
    // No room for the signature: header and question, truncated, signed.
    std::string bare = bare_response(out.data(), question_end(out.data(), out.size()),
                                     static_cast<std::uint8_t>(get16(out.data() + 2) & 0xf));
    set16(bare, 2, get16(bare, 0 + 2) | wire::flag::TC | (get16(out.data() + 2) & 0x0780));
    signed_m = bare;
    Signer(*key, rec.mac, static_cast<std::uint64_t>(now)).sign(signed_m);
  }
  out.rollback(0);
  out.set_capacity(capacity);
  return put(signed_m);
}

}  // namespace rblzone::zoneserver::tsig
