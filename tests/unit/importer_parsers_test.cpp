// Trap-hit log lines, Postfix smtpd lines, URL hosts and rbldnsd data files.
#include <catch2/catch.hpp>

#include "importer/mailbox.hpp"
#include "importer/postfix_log.hpp"
#include "importer/rbldnsd_file.hpp"
#include "importer/traplog.hpp"

namespace rblzone::importer {
namespace {

TEST_CASE("trap log: CSV and JSON lines", "[importer][traplog]") {
  TrapHit h;
  std::string error;
  REQUIRE(parse_trap_line("1790000000,45.1.2.3,trap-a,\"seen, twice\"", h, error) == LineKind::hit);
  CHECK(h.time == 1790000000);
  CHECK(h.address == "45.1.2.3");
  CHECK(h.trap == "trap-a");
  CHECK(h.evidence == "seen, twice");
  REQUIRE(parse_trap_line("2026-11-22T14:02:00Z,2a01:4f8::1", h, error) == LineKind::hit);
  CHECK(h.time == 1795356120);
  CHECK(h.trap.empty());
  REQUIRE(parse_trap_line(
              R"({"time":1790000001,"address":"spam.example","trap":"t","evidence":{"x":1}})", h,
              error) == LineKind::hit);
  CHECK(h.address == "spam.example");
  CHECK(h.evidence == R"({"x":1})");
  CHECK(parse_trap_line("time,address,trap,evidence", h, error) == LineKind::skip);
  CHECK(parse_trap_line("# comment", h, error) == LineKind::skip);
  CHECK(parse_trap_line("   ", h, error) == LineKind::skip);
  CHECK(parse_trap_line("yesterday,45.1.2.3", h, error) == LineKind::bad);
  CHECK(error.find("bad time") != std::string::npos);
  CHECK(parse_trap_line("1790000000", h, error) == LineKind::bad);
  CHECK(parse_trap_line("1790000000,\"45.1.2.3", h, error) == LineKind::bad);
  CHECK(parse_trap_line("{\"time\":1}", h, error) == LineKind::bad);
  CHECK(parse_trap_line("{broken", h, error) == LineKind::bad);
  CHECK(parse_trap_line(R"({"address":"45.1.2.3","time":true})", h, error) == LineKind::bad);
}

TEST_CASE("postfix: smtpd client lines", "[importer][postfix]") {
  const std::int64_t now = 1795356120;  // 2026-11-22T14:02:00Z
  SmtpdClient c;
  std::string error;
  REQUIRE(parse_postfix_line(
              "Nov 22 14:01:03 mx postfix/smtpd[123]: 4Xyz1: client=host.example[45.1.2.3]", now, c,
              error) == PostfixLine::client);
  CHECK(c.address.to_string() == "45.1.2.3");
  CHECK(c.time == now - 57);
  CHECK(c.sasl_user.empty());
  REQUIRE(
      parse_postfix_line(
          "Nov 22 14:01:03 mx postfix/submission/smtpd[9]: 4Q: client=unknown[IPv6:2a01:4f8::9], "
          "sasl_method=PLAIN, sasl_username=alice@example.org",
          now, c, error) == PostfixLine::client);
  CHECK(c.address.to_string() == "2a01:4f8::9");
  CHECK(c.sasl_user == "alice@example.org");
  // December's log read in January: last year.
  REQUIRE(parse_postfix_line("Dec 31 23:59:59 mx postfix/smtpd[1]: A: client=x[45.1.2.3]",
                             1798848000 /* 2027-01-01T12:00Z */ + 12 * 3600, c,
                             error) == PostfixLine::client);
  CHECK(c.time == 1798761599);
  REQUIRE(parse_postfix_line(
              "2026-11-22T15:01:03.123456+01:00 mx postfix/smtpd[1]: A: client=x[45.1.2.3]", now, c,
              error) == PostfixLine::client);
  CHECK(c.time == now - 57);
  CHECK(parse_postfix_line("Nov 22 14:01:03 mx postfix/smtpd[1]: connect from x[45.1.2.3]", now, c,
                           error) == PostfixLine::other);
  CHECK(parse_postfix_line("Nov 22 14:01:03 mx postfix/qmgr[1]: A: from=<a@b>", now, c, error) ==
        PostfixLine::other);
  CHECK(parse_postfix_line("Xyz 22 14:01:03 mx postfix/smtpd[1]: A: client=x[45.1.2.3]", now, c,
                           error) == PostfixLine::bad);
  CHECK(parse_postfix_line("Nov 22 14:01:03 mx postfix/smtpd[1]: A: client=x[45.1.2]", now, c,
                           error) == PostfixLine::bad);
  CHECK(parse_postfix_line("Nov 22 14:01:03 mx postfix/smtpd[1]: A: client=x", now, c, error) ==
        PostfixLine::bad);
}

TEST_CASE("URL hosts in text", "[importer][mailbox]") {
  std::vector<std::string> hosts;
  url_hosts(
      "Buy at HTTPS://Shop.Spam.Example/x?y and http://user@other.example:8080/ or "
      "http://45.1.2.3/ and https://shop.spam.example/again http:// https://bad..name/",
      hosts);
  CHECK(hosts == std::vector<std::string>{"shop.spam.example", "other.example"});
}

std::vector<std::string> subjects(const RbldnsdData& d) {
  std::vector<std::string> out;
  for (const auto& e : d.entries)
    out.push_back((e.exclusion ? "!" : "") + core::to_string(e.subject));
  return out;
}

TEST_CASE("rbldnsd ip4set: spellings, ranges, values", "[importer][rbldnsd]") {
  const auto d = parse_rbldnsd(R"(# a comment
$SOA 1w ns1.ex.com admin.ex.com 0 2h 2h 1w 1h
:127.0.0.2:Listed: $
45.1.2.3
45.1.3 :3:Whole /24
45.2/16
45.4.0.0-45.4.1.255
45.5.0-31
!45.1.3.7
45.6.7.8 :4:
45.6.7.9 :5
45.6.7.10 Open relay
45.6.7.11/24
bogus
45.6.7.12 :999:x
$1 variable
)",
                               DatasetType::ip4set);
  CHECK(subjects(d) == std::vector<std::string>{"45.1.2.3", "45.1.3.0/24", "45.2.0.0/16",
                                                "45.4.0.0/23", "45.5.0.0/19", "!45.1.3.7",
                                                "45.6.7.8", "45.6.7.9", "45.6.7.10"});
  REQUIRE(d.entries.size() == 9);
  CHECK(d.entries[0].code == 0x7f000002);
  CHECK(d.entries[0].txt == "Listed: $");
  CHECK(d.entries[1].code == 0x7f000003);
  CHECK(d.entries[1].txt == "Whole /24");
  CHECK(d.entries[6].code == 0x7f000004);
  CHECK_FALSE(d.entries[6].txt);  // ":4:" = no TXT
  CHECK(d.entries[7].code == 0x7f000005);
  CHECK(d.entries[7].txt == "Listed: $");
  CHECK(d.entries[8].txt == "Open relay");
  REQUIRE(d.problems.size() == 4);
  CHECK(d.problems[0].line == 13);
  CHECK(d.problems[0].reason.find("host bits") != std::string::npos);
  CHECK(d.problems[1].line == 14);
  CHECK(d.problems[2].line == 15);
  CHECK(d.problems[3].reason.find("$1") != std::string::npos);
}

TEST_CASE("rbldnsd: range decomposition", "[importer][rbldnsd]") {
  const auto p = range_to_prefixes(0x2d000001, 0x2d000106);  // 45.0.0.1 - 45.0.1.6
  std::vector<std::string> s;
  for (const auto& x : p) s.push_back(x.to_string());
  CHECK(s == std::vector<std::string>{"45.0.0.1", "45.0.0.2/31", "45.0.0.4/30", "45.0.0.8/29",
                                      "45.0.0.16/28", "45.0.0.32/27", "45.0.0.64/26",
                                      "45.0.0.128/25", "45.0.1.0/30", "45.0.1.4/31", "45.0.1.6"});
  CHECK(range_to_prefixes(0, 0xffffffff).front().to_string() == "0.0.0.0/0");
}

TEST_CASE("rbldnsd ip4tset, ip6trie, dnset, combined", "[importer][rbldnsd]") {
  auto d = parse_rbldnsd("45.1.2.3\n45.1.2.4 ignored text\n45.1.2.0/24\n", DatasetType::ip4tset);
  CHECK(subjects(d) == std::vector<std::string>{"45.1.2.3", "45.1.2.4"});
  CHECK(d.problems.size() == 1);

  d = parse_rbldnsd(
      "2001:21ab:c000/36 :3:x\n2001:21ab:def7:4242 :127.0.1.3: smells\n"
      "2605:6001:42::/52\n!2605:6001:42::bead\n2a01::/129\n",
      DatasetType::ip6trie);
  CHECK(subjects(d) == std::vector<std::string>{"2001:21ab:c000::/36", "2001:21ab:def7:4242::/64",
                                                "2605:6001:42::/52", "!2605:6001:42::bead"});
  CHECK(d.entries[1].code == 0x7f000103);
  CHECK(d.entries[1].txt == "smells");
  CHECK(d.problems.size() == 1);

  d = parse_rbldnsd(
      ":2:Domain $ "
      "listed\nSpam.Example\n.sub.example\n*.wild.example\n!ok.sub.example\nbad..name\n",
      DatasetType::dnset);
  CHECK(subjects(d) == std::vector<std::string>{"spam.example", "*.sub.example", "*.wild.example",
                                                "!ok.sub.example"});
  CHECK(d.problems.size() == 2);

  d = parse_rbldnsd(R"($SOA 1w ns1.ex.com admin.ex.com 0 2h 2h 1w 1h
$DATASET ip4set:proxy proxies @
:2:Open proxy
45.1.1.1
$DATASET ip4set:relay relays
:3:Open relay
45.1.1.2
$DATASET generic:common proxies relays @
www A 127.0.0.8
)",
                    DatasetType::combined);
  CHECK(subjects(d) == std::vector<std::string>{"45.1.1.1"});
  CHECK(d.entries[0].txt == "Open proxy");
  d = parse_rbldnsd("$DATASET ip4set:relay relays\n:3:Open relay\n45.1.1.2\n",
                    DatasetType::combined, "relays");
  CHECK(subjects(d) == std::vector<std::string>{"45.1.1.2"});
  CHECK(d.entries[0].code == 0x7f000003);
}

}  // namespace
}  // namespace rblzone::importer
