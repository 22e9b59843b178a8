// Tests for zoneserver/wire: the sticky-error reader, name decoding with
// compression and its limits, query parsing outcomes and EDNS fields, and
// the writer's sticky overflow and rollback.
#include "zoneserver/wire.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tests/unit/wire_bytes.hpp"

namespace rblzone::zoneserver::wire {
namespace {

using rblzone::testing::Bytes;
using rblzone::testing::put16;
using rblzone::testing::put32;
using rblzone::testing::put8;
using rblzone::testing::put_name;

void put_raw(Bytes& b, std::string_view raw) {
  for (const char c : raw) put8(b, static_cast<unsigned char>(c));
}

Bytes header(unsigned flags, unsigned qd, unsigned an, unsigned ns, unsigned ar,
             unsigned id = 0xbeef) {
  Bytes b;
  put16(b, id);
  put16(b, flags);
  put16(b, qd);
  put16(b, an);
  put16(b, ns);
  put16(b, ar);
  return b;
}

void put_question(Bytes& b, std::string_view name, unsigned qtype = type::A,
                  unsigned qclass = kClassIN) {
  put_name(b, name);
  put16(b, qtype);
  put16(b, qclass);
}

// An OPT record: root owner, class = UDP size, TTL = ext-rcode|version|DO.
void put_opt(Bytes& b, unsigned udp, unsigned version = 0, bool dnssec_ok = false,
             std::string_view rdata = {}) {
  put8(b, 0);
  put16(b, type::OPT);
  put16(b, udp);
  put32(b, (std::uint32_t{version} << 16) | (dnssec_ok ? 0x8000u : 0u));
  put16(b, static_cast<unsigned>(rdata.size()));
  put_raw(b, rdata);
}

Bytes query(std::string_view name, unsigned qtype = type::A, unsigned flags = flag::RD) {
  Bytes b = header(flags, 1, 0, 0, 0);
  put_question(b, name, qtype);
  return b;
}

Bytes edns_query(unsigned udp, unsigned version = 0, bool dnssec_ok = false) {
  Bytes b = header(flag::RD, 1, 0, 0, 1);
  put_question(b, "1.2.0.192.dnsbl.test");
  put_opt(b, udp, version, dnssec_ok);
  return b;
}

ParseStatus parse(const Bytes& b, Query& q) {
  return parse_query(b.data(), b.size(), q);
}

const char* status_name(ParseStatus s) {
  switch (s) {
    case ParseStatus::ok:
      return "ok";
    case ParseStatus::notimp:
      return "notimp";
    case ParseStatus::formerr:
      return "formerr";
    case ParseStatus::drop:
      return "drop";
  }
  return "?";
}

// "a.b.c" with `labels` labels of `len` characters each.
std::string many_labels(std::size_t labels, std::size_t len, char c = 'a') {
  std::string s;
  for (std::size_t i = 0; i < labels; ++i) {
    if (i) s.push_back('.');
    s.append(len, c);
  }
  return s;
}

}  // namespace

// --- Reader ------------------------------------------------------------------

TEST_CASE("Reader reads big-endian fields", "[wire]") {
  const Bytes b = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde};
  Reader r(b.data(), b.size());
  CHECK(r.u16() == 0x1234);
  CHECK(r.u32() == 0x56789abcu);
  CHECK(r.u8() == 0xde);
  CHECK(r.ok());
  CHECK(r.pos() == 7);
  CHECK(r.remaining() == 0);
}

TEST_CASE("Reader's error is sticky", "[wire]") {
  struct Case {
    const char* what;
    void (*overrun)(Reader&);
  };
  const std::vector<Case> cases = {
      {"u8",
       [](Reader& r) {
         r.skip(3);
         r.u8();
         r.u8();
       }},
      {"u16",
       [](Reader& r) {
         r.skip(3);
         r.u16();
       }},
      {"u32", [](Reader& r) { r.u32(); }},
      {"skip", [](Reader& r) { r.skip(4); }},
      {"seek", [](Reader& r) { r.seek(4); }},
  };
  const Bytes b = {1, 2, 3, 4};
  for (const auto& c : cases) {
    INFO(c.what);
    Bytes data(b.begin(), b.begin() + 3);  // three bytes
    Reader r(data.data(), data.size());
    c.overrun(r);
    CHECK_FALSE(r.ok());
    CHECK(r.remaining() == 0);
    // Every later read returns 0, even ones that would fit, and the error stays.
    r.seek(0);
    CHECK(r.u8() == 0);
    CHECK(r.u16() == 0);
    CHECK(r.u32() == 0);
    CHECK_FALSE(r.ok());
  }
  Reader r(b.data(), b.size());
  r.fail();
  CHECK(r.u8() == 0);
  CHECK_FALSE(r.ok());
}

TEST_CASE("a failed u32 returns 0, not half a value", "[wire]") {
  const Bytes b = {0xff, 0xff, 0xff};
  Reader r(b.data(), b.size());
  CHECK(r.u32() == 0);
  CHECK_FALSE(r.ok());
}

// --- names ---------------------------------------------------------------------

TEST_CASE("read_name decodes plain and compressed names", "[wire]") {
  // At 12: "example.com"; at 25: "www" + pointer to 12; at 31: "mail" + pointer to 25.
  Bytes b = header(0, 0, 0, 0, 0);
  put_name(b, "example.com");                           // 12..24
  put_raw(b, std::string_view("\x03WwW\xc0\x0c", 6));   // 25..30
  put_raw(b, std::string_view("\x04mail\xc0\x19", 7));  // 31..37
  put_raw(b, std::string_view("\x00", 1));              // 38: the root
  REQUIRE(b.size() == 39);
  struct Case {
    std::size_t at;
    const char* name;
    std::size_t labels;
    std::size_t size;
    std::size_t end;
  };
  const std::vector<Case> cases = {
      {12, "example.com", 2, 13, 25},
      {25, "www.example.com", 3, 17, 31},
      {31, "mail.www.example.com", 4, 22, 38},
      {38, "", 0, 1, 39},
  };
  for (const auto& c : cases) {
    INFO("name at " << c.at);
    Reader r(b.data(), b.size());
    r.seek(c.at);
    Name n;
    REQUIRE(read_name(r, n));
    CHECK(r.ok());
    CHECK(n.to_string() == c.name);
    CHECK(std::size_t{n.labels} == c.labels);
    CHECK(std::size_t{n.size} == c.size);
    CHECK(r.pos() == c.end);  // after the first pointer, not after the target
  }
  // Case is kept in the wire form; to_string lowercases.
  Reader r(b.data(), b.size());
  r.seek(25);
  Name n;
  REQUIRE(read_name(r, n));
  CHECK(n.label(0) == "WwW");
  CHECK(n.label(1) == "example");
  CHECK(n.suffix_offset(1) == 4);
  CHECK(n.suffix_offset(3) == std::size_t{n.size} - 1);
}

TEST_CASE("read_name rejects bad pointers, labels and overruns", "[wire]") {
  struct Case {
    const char* what;
    std::string body;  // placed at offset 12
    std::size_t at;    // where to start reading
  };
  using namespace std::string_literals;
  const std::vector<Case> cases = {
      {"forward pointer",
       "\xc0\x0e\x03"
       "com\x00"s,
       12},
      {"self pointer", "\xc0\x0c"s, 12},
      {"pointer loop", "\xc0\x0e\xc0\x0c"s, 14},
      {"pointer loop through a label",
       "\x01"
       "a\xc0\x0c"s,
       12},
      // 23 -> 17 is backwards, but 17 -> 19 goes forward from the last target.
      {"pointer back then forward",
       "\x03"
       "com\x00\xc0\x13\x01"
       "a\xc0\x0c\xc0\x11"s,
       23},
      {"pointer into the header", "\xc0\x05"s, 12},
      {"pointer to offset 0", "\xc0\x00"s, 12},
      {"pointer past the end", "\xc0\xff"s, 12},
      {"truncated pointer", "\xc0"s, 12},
      {"truncated label",
       "\x05"
       "ab"s,
       12},
      {"no root label",
       "\x03"
       "com"s,
       12},
      {"extended label type 0x40",
       "\x41"
       "a\x00"s,
       12},
      {"extended label type 0x80",
       "\x81"
       "a\x00"s,
       12},
      {"empty input after the header", ""s, 12},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Bytes b = header(0, 0, 0, 0, 0);
    put_raw(b, c.body);
    Reader r(b.data(), b.size());
    r.seek(c.at);
    Name n;
    CHECK_FALSE(read_name(r, n));
    CHECK_FALSE(r.ok());
  }
}

TEST_CASE("read_name enforces 255 bytes and 127 labels", "[wire]") {
  struct Case {
    const char* what;
    std::string text;
    bool ok;
  };
  const std::string l63(63, 'x');
  const std::vector<Case> cases = {
      {"255 bytes", l63 + "." + l63 + "." + l63 + "." + std::string(61, 'y'), true},
      {"256 bytes", l63 + "." + l63 + "." + l63 + "." + std::string(62, 'y'), false},
      {"127 labels", many_labels(127, 1), true},
      {"128 labels", many_labels(128, 1), false},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Bytes b = header(0, 0, 0, 0, 0);
    put_name(b, c.text);
    Reader r(b.data(), b.size());
    r.seek(12);
    Name n;
    CHECK(read_name(r, n) == c.ok);
    CHECK(r.ok() == c.ok);
    if (c.ok) {
      CHECK(n.to_string() == c.text);
      CHECK(std::size_t{n.size} == c.text.size() + 2);
    }
  }
}

TEST_CASE("read_name counts the limits across compression pointers", "[wire]") {
  // At 12: three 63-byte labels (193 bytes with the root). Then a name of one
  // label + a pointer to 12: 61 bytes of label fit (255), 62 do not (256).
  const std::string l63(63, 'x');
  for (const std::size_t len : {61u, 62u}) {
    INFO("label of " << len);
    Bytes b = header(0, 0, 0, 0, 0);
    put_name(b, l63 + "." + l63 + "." + l63);
    const std::size_t at = b.size();
    put8(b, static_cast<unsigned>(len));
    b.insert(b.end(), len, 'y');
    put16(b, 0xc00c);
    Reader r(b.data(), b.size());
    r.seek(at);
    Name n;
    CHECK(read_name(r, n) == (len == 61));
  }
  // 127 one-character labels split between two names: fine; 128: not.
  for (const std::size_t second : {63u, 64u}) {
    INFO("labels after the pointer target: " << second);
    Bytes b = header(0, 0, 0, 0, 0);
    put_name(b, many_labels(64, 1));  // 64 labels, 129 bytes
    const std::size_t at = b.size();
    for (std::size_t i = 0; i < second; ++i) put_raw(b, std::string_view("\x01z", 2));
    put16(b, 0xc00c);
    Reader r(b.data(), b.size());
    r.seek(at);
    Name n;
    CHECK(read_name(r, n) == (second == 63));
  }
}

TEST_CASE("name_from_text, has_suffix and label_equal_ci", "[wire]") {
  Name zone, q;
  REQUIRE(name_from_text("DnsBL.test.", zone));
  CHECK(zone.labels == 2);
  CHECK(zone.size == 12);
  CHECK(zone.to_string() == "dnsbl.test");
  REQUIRE(name_from_text("1.2.0.192.dnsbl.TEST", q));
  std::size_t first = 99;
  REQUIRE(has_suffix(q, zone, first));
  CHECK(first == 4);
  Name other;
  REQUIRE(name_from_text("xdnsbl.test", other));
  CHECK_FALSE(has_suffix(q, other, first));
  CHECK_FALSE(has_suffix(zone, q, first));  // longer than the name
  Name root;
  REQUIRE(name_from_text("", root));
  CHECK(root.size == 1);
  CHECK(has_suffix(q, root, first));
  CHECK(first == 6);

  CHECK(label_equal_ci("DnSbL", "dnsbl"));
  CHECK_FALSE(label_equal_ci("dnsbl", "dnsbk"));
  CHECK_FALSE(label_equal_ci("dnsbl", "dnsbl2"));

  Name bad;
  CHECK_FALSE(name_from_text("a..b", bad));
  CHECK_FALSE(name_from_text(std::string(64, 'a') + ".b", bad));
  CHECK(name_from_text(std::string(63, 'a') + ".b", bad));
  CHECK_FALSE(name_from_text(many_labels(128, 1), bad));
}

// --- parse_query -----------------------------------------------------------------

TEST_CASE("parse_query outcomes", "[wire]") {
  struct Case {
    const char* what;
    Bytes packet;
    ParseStatus status;
  };
  std::vector<Case> cases;
  cases.push_back({"a plain A query", query("1.2.0.192.dnsbl.test"), ParseStatus::ok});
  cases.push_back({"a query for the root", query(""), ParseStatus::ok});
  cases.push_back({"with EDNS", edns_query(1232), ParseStatus::ok});
  {
    Bytes b = header(15u << 11, 1, 0, 0, 0);
    put_question(b, "dnsbl.test");
    cases.push_back({"opcode 15", b, ParseStatus::notimp});
  }
  {
    Bytes b = header(5u << 11, 1, 0, 0, 0);  // UPDATE
    put_question(b, "dnsbl.test", type::SOA);
    cases.push_back({"opcode UPDATE", b, ParseStatus::notimp});
  }
  cases.push_back({"qdcount 0", header(0, 0, 0, 0, 0), ParseStatus::formerr});
  {
    Bytes b = header(0, 2, 0, 0, 0);
    put_question(b, "a.dnsbl.test");
    put_question(b, "b.dnsbl.test");
    cases.push_back({"qdcount 2", b, ParseStatus::formerr});
  }
  {
    Bytes b = header(0, 1, 0, 0, 2);
    put_question(b, "dnsbl.test");
    put_opt(b, 1232);
    put_opt(b, 1232);
    cases.push_back({"two OPTs", b, ParseStatus::formerr});
  }
  {
    Bytes b = header(0, 1, 1, 0, 0);
    put_question(b, "dnsbl.test");
    put_opt(b, 1232);
    cases.push_back({"OPT in the answer section", b, ParseStatus::formerr});
  }
  {
    Bytes b = header(0, 1, 0, 1, 0);
    put_question(b, "dnsbl.test");
    put_opt(b, 1232);
    cases.push_back({"OPT in the authority section", b, ParseStatus::formerr});
  }
  {
    Bytes b = header(0, 1, 0, 0, 1);
    put_question(b, "dnsbl.test");
    put_name(b, "dnsbl.test");  // an OPT not owned by the root
    put16(b, type::OPT);
    put16(b, 1232);
    put32(b, 0);
    put16(b, 0);
    cases.push_back({"OPT with a non-root owner", b, ParseStatus::formerr});
  }
  {
    Bytes b = query("dnsbl.test");
    put8(b, 0);
    cases.push_back({"one trailing byte", b, ParseStatus::formerr});
  }
  {
    Bytes b = edns_query(1232);
    put_raw(b, "junk");
    cases.push_back({"trailing bytes after the OPT", b, ParseStatus::formerr});
  }
  {
    Bytes b = query("dnsbl.test");
    b.pop_back();
    cases.push_back({"truncated question", b, ParseStatus::formerr});
  }
  {
    Bytes b = edns_query(1232);
    b.pop_back();
    cases.push_back({"truncated OPT", b, ParseStatus::formerr});
  }
  {
    Bytes b = header(0, 1, 0, 0, 1);
    put_question(b, "dnsbl.test");
    cases.push_back({"arcount 1 with nothing there", b, ParseStatus::formerr});
  }
  {
    Bytes b = header(0, 1, 0, 0, 0);
    put_raw(b, std::string_view("\xc0\x0c\x00\x01\x00\x01", 6));
    cases.push_back({"question name is a pointer loop", b, ParseStatus::formerr});
  }
  {
    Bytes b = header(15u << 11, 0, 0, 0, 0);
    cases.push_back({"opcode 15 without a question", b, ParseStatus::formerr});
  }
  {
    Bytes b = header(0, 1, 1, 0, 0);
    put_question(b, "dnsbl.test");
    put16(b, 0xc00c);  // a well-formed answer record: skipped
    put16(b, type::A);
    put16(b, kClassIN);
    put32(b, 60);
    put16(b, 4);
    put32(b, 0x7f000002);
    cases.push_back({"a query with a well-formed answer record", b, ParseStatus::ok});
  }
  cases.push_back({"11 bytes", Bytes(11, 0), ParseStatus::drop});
  cases.push_back({"empty", Bytes{}, ParseStatus::drop});
  {
    Bytes b = query("dnsbl.test", type::A, flag::QR | flag::AA);
    cases.push_back({"a response (QR=1)", b, ParseStatus::drop});
  }
  {
    Bytes b = header(flag::QR | (15u << 11), 0, 0, 0, 0);
    cases.push_back({"a malformed response", b, ParseStatus::drop});
  }
  for (const auto& c : cases) {
    INFO(c.what);
    Query q;
    const auto got = parse(c.packet, q);
    CHECK(std::string(status_name(got)) == status_name(c.status));
  }
}

TEST_CASE("parse_query fills in the question", "[wire]") {
  const Bytes b = query("1.2.0.192.DnsBL.test", type::TXT, flag::RD | flag::CD);
  Query q;
  REQUIRE(parse(b, q) == ParseStatus::ok);
  CHECK(q.id == 0xbeef);
  CHECK(q.flags == (flag::RD | flag::CD));
  CHECK(q.opcode == 0);
  CHECK(q.qname.to_string() == "1.2.0.192.dnsbl.test");
  CHECK(q.qname.label(4) == "DnsBL");
  CHECK(q.qtype == type::TXT);
  CHECK(q.qclass == kClassIN);
  CHECK(q.question_end == b.size());
  CHECK_FALSE(q.has_edns);
  CHECK(q.udp_size == 512);
  CHECK_FALSE(q.dnssec_ok);
  CHECK_FALSE(q.has_tsig);

  Bytes n = header(15u << 11, 1, 0, 0, 0);
  put_question(n, "dnsbl.test");
  REQUIRE(parse(n, q) == ParseStatus::notimp);
  CHECK(q.opcode == 15);
  CHECK(q.question_end == n.size());
}

TEST_CASE("parse_query reads the EDNS fields", "[wire]") {
  struct Case {
    const char* what;
    Bytes packet;
    std::uint16_t udp_size;
    std::uint8_t version;
    bool dnssec_ok;
  };
  const std::vector<Case> cases = {
      {"1232", edns_query(1232), 1232, 0, false},
      {"4096 with DO", edns_query(4096, 0, true), 4096, 0, true},
      {"65535", edns_query(65535), 65535, 0, false},
      {"below 512 means 512", edns_query(100), 512, 0, false},
      {"zero means 512", edns_query(0), 512, 0, false},
      {"version 1", edns_query(1232, 1), 1232, 1, false},
      {"version 255 with DO", edns_query(1232, 255, true), 1232, 255, true},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Query q;
    REQUIRE(parse(c.packet, q) == ParseStatus::ok);
    CHECK(q.has_edns);
    CHECK(q.udp_size == c.udp_size);
    CHECK(q.edns_version == c.version);
    CHECK(q.dnssec_ok == c.dnssec_ok);
  }
  // An OPT with options in its RDATA is still one OPT.
  Bytes b = header(flag::RD, 1, 0, 0, 1);
  put_question(b, "dnsbl.test");
  put_opt(b, 1400, 0, false,
          std::string_view("\x00\x0a\x00\x08"
                           "abcdefgh",
                           12));  // a COOKIE
  Query q;
  REQUIRE(parse(b, q) == ParseStatus::ok);
  CHECK(q.udp_size == 1400);
}

TEST_CASE("parse_query notices a TSIG", "[wire]") {
  Bytes b = header(0, 1, 0, 0, 2);
  put_question(b, "dnsbl.test");
  put_opt(b, 1232);
  put_name(b, "key.example");
  put16(b, type::TSIG);
  put16(b, kClassANY);
  put32(b, 0);
  put16(b, 3);
  put_raw(b, "abc");
  Query q;
  REQUIRE(parse(b, q) == ParseStatus::ok);
  CHECK(q.has_tsig);
  CHECK(q.has_edns);
}

// --- Writer ----------------------------------------------------------------------

TEST_CASE("Writer writes big-endian and patches", "[wire]") {
  std::uint8_t buf[16] = {};
  Writer w(buf, sizeof buf);
  w.u8(0x01);
  w.u16(0x0203);
  w.u32(0x04050607);
  w.bytes("\x08\x09", 2);
  CHECK(w.size() == 9);
  CHECK_FALSE(w.overflow());
  w.patch_u16(1, 0xaabb);
  w.patch_u16(8, 0xccdd);  // past the end: ignored
  const Bytes expected = {0x01, 0xaa, 0xbb, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09};
  CHECK(Bytes(buf, buf + w.size()) == expected);
  CHECK(buf[9] == 0);
}

TEST_CASE("Writer's overflow is sticky until rolled back", "[wire]") {
  struct Case {
    const char* what;
    void (*overflow)(Writer&);
  };
  const std::vector<Case> cases = {
      {"u8", [](Writer& w) { w.u8(1); }},
      {"u16", [](Writer& w) { w.u16(1); }},
      {"u32", [](Writer& w) { w.u32(1); }},
      {"bytes", [](Writer& w) { w.bytes("abcd", 4); }},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    std::uint8_t buf[8] = {};
    Writer w(buf, sizeof buf);
    w.u32(0x11223344);
    w.u16(0x5566);
    w.u8(0x77);  // 7 of 8 bytes used
    const auto mark = w.mark();
    w.u8(0x88);  // fills it exactly
    CHECK_FALSE(w.overflow());
    c.overflow(w);
    CHECK(w.overflow());
    CHECK(w.size() == 8);
    w.rollback(mark);
    CHECK_FALSE(w.overflow());
    CHECK(w.size() == 7);
    w.u16(0x99aa);  // does not fit the one byte left
    CHECK(w.overflow());
    w.u8(0xbb);  // would fit, but the overflow is sticky
    CHECK(w.overflow());
    CHECK(w.size() == 7);
    CHECK(buf[7] == 0x88);  // nothing was written past the overflow
    w.rollback(mark);
    w.u8(0xcc);
    CHECK_FALSE(w.overflow());
    CHECK(buf[7] == 0xcc);
  }
}

TEST_CASE("Writer builds resource records with a compression pointer", "[wire]") {
  std::uint8_t buf[64] = {};
  Writer w(buf, sizeof buf);
  for (int i = 0; i < 6; ++i) w.u16(0);
  Name n;
  REQUIRE(name_from_text("a.b", n));
  w.name(n);  // at 12, 5 bytes
  const auto at = w.begin_rr_ptr(12, type::TXT, kClassIN, 300);
  w.u8(2);
  w.bytes("hi", 2);
  w.end_rr(at);
  const Bytes expected_rr = {0xc0, 0x0c, 0x00, 0x10, 0x00, 0x01, 0x00, 0x00,
                             0x01, 0x2c, 0x00, 0x03, 0x02, 'h',  'i'};
  REQUIRE(w.size() == 17 + expected_rr.size());
  CHECK(Bytes(buf + 17, buf + w.size()) == expected_rr);

  // Reading it back with the Reader gives the owner through the pointer.
  Reader r(buf, w.size());
  r.seek(17);
  Name owner;
  REQUIRE(read_name(r, owner));
  CHECK(owner.to_string() == "a.b");
  CHECK(r.u16() == type::TXT);

  // A record that overflows is rolled back whole.
  Writer small(buf, 14);
  const auto mark = small.mark();
  const auto rd = small.begin_rr_ptr(12, type::A, kClassIN, 60);
  small.u32(0x7f000002);
  small.end_rr(rd);
  CHECK(small.overflow());
  small.rollback(mark);
  CHECK(small.size() == 0);
  CHECK_FALSE(small.overflow());
}

}  // namespace rblzone::zoneserver::wire
