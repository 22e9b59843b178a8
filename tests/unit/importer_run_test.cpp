// Import runs against a real store on simulated time: reports through the
// policy, cursors, idempotency, a crash between batches, generated Maildir
// and mbox fixtures, the Postfix volume watch and rbldnsd migration.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "importer/import_run.hpp"
#include "tests/unit/temp_dir.hpp"

namespace rblzone::importer {
namespace {

namespace fs = std::filesystem;
constexpr std::int64_t kNow = 1'795'356'120;  // 2026-11-22T14:02:00Z

core::ZoneConfig ip_zone() {
  core::ZoneConfig z;
  z.name = "bl.example.org";
  z.kind = core::ZoneKind::ip;
  z.allowlist = {"45.0.0.0/24"};
  return z;
}

core::ZoneConfig domain_zone() {
  core::ZoneConfig z;
  z.name = "dbl.example.org";
  z.kind = core::ZoneKind::domain;
  return z;
}

struct Fixture {
  testing::TempDir dir{"import"};
  std::int64_t now = kNow;
  core::Store store{dir.path() / "data", [this] { return now; }};

  bool listed(const core::ZoneConfig& z, const std::string& subject) {
    auto txn = store.env().begin_read();
    const auto ref = store.find_zone(txn, z.name);
    if (!ref) return false;
    return core::active_match(store, txn, *ref, *core::parse_subject(subject), now).has_value();
  }
  std::size_t reports_of(const core::ZoneConfig& z, const std::string& subject) {
    auto txn = store.env().begin_read();
    core::Policy p(store);
    return p.reports(txn, z, *core::parse_subject(subject)).size();
  }
  void append(const std::string& name, const std::string& text) {
    std::ofstream(dir.path() / name, std::ios::app) << text;
  }
  std::string path(const std::string& name) const { return (dir.path() / name).string(); }
};

TEST_CASE("trap log: reports through the policy, once", "[importer][run]") {
  Fixture f;
  const auto zone = ip_zone();
  f.append("traps.csv",
           "time,address,trap,evidence\n"
           "1795356000,45.1.2.3,trap-a,one\n"
           "nonsense\n"
           "1795356010,45.1.2.4,trap-b,two\n"
           "1795356020,45.0.0.9,trap-a,allowlisted\n"
           "1795356030,spam.example,trap-a,a domain\n"
           "1795356040,2a01:4f8::1,,ipv6\n");
  {
    Importer imp(f.store, zone, SourceConfig{});
    imp.traplog(f.path("traps.csv"));
    const auto& s = imp.summary();
    CHECK(s.read == 7);
    CHECK(s.reports == 4);
    CHECK(s.listed == 3);
    CHECK(s.results.at("allowlisted") == 1);
    CHECK(s.skipped.at("bad line") == 1);
    CHECK(s.skipped.at("wrong kind for the zone") == 1);
    REQUIRE(s.problems.size() == 2);
    CHECK(s.problems[0] == f.path("traps.csv") + ":3: want time,address[,trap[,evidence]]");
  }
  CHECK(f.listed(zone, "45.1.2.3"));
  CHECK(f.listed(zone, "2a01:4f8::1"));
  CHECK_FALSE(f.listed(zone, "45.0.0.9"));
  {
    Importer again(f.store, zone, SourceConfig{});
    again.traplog(f.path("traps.csv"));
    CHECK(again.summary().reports == 0);
    CHECK(again.summary().read == 0);
    CHECK(again.summary().already == 7);
  }
  // Appended lines, and a last line still being written.
  f.append("traps.csv", "1795356050,45.1.2.5,trap-a,three\n1795356060,45.1.2.6");
  {
    Importer more(f.store, zone, SourceConfig{});
    more.traplog(f.path("traps.csv"));
    CHECK(more.summary().reports == 1);
  }
  f.append("traps.csv", ",trap-a,four\n");
  {
    Importer rest(f.store, zone, SourceConfig{});
    rest.traplog(f.path("traps.csv"));
    CHECK(rest.summary().reports == 1);
    CHECK(rest.summary().read == 1);
  }
  CHECK(f.listed(zone, "45.1.2.6"));
  CHECK(f.reports_of(zone, "45.1.2.3") == 1);

  // Listings expire 24 h after the last report, without anyone acting.
  f.now += 25 * 3600;
  CHECK_FALSE(f.listed(zone, "45.1.2.3"));
}

TEST_CASE("trap log: a crash between batches loses nothing and counts nothing twice",
          "[importer][run]") {
  Fixture f;
  const auto zone = ip_zone();
  std::string text;
  for (int i = 0; i < 10; ++i)
    text += std::to_string(kNow - 100 + i) + ",45.1.3." + std::to_string(i + 1) + ",t,e\n";
  f.append("traps.csv", text);
  SourceConfig cfg;
  cfg.batch = 3;
  struct Crash {};
  {
    Importer imp(f.store, zone, cfg);
    int flushes = 0;
    imp.on_progress([&](const Summary&) {
      if (++flushes == 2) throw Crash{};  // dies after the second commit
    });
    CHECK_THROWS_AS(imp.traplog(f.path("traps.csv")), Crash);
  }
  Importer rest(f.store, zone, cfg);
  rest.traplog(f.path("traps.csv"));
  CHECK(rest.summary().reports == 4);
  CHECK(rest.summary().already == 6);
  for (int i = 0; i < 10; ++i) {
    const auto s = "45.1.3." + std::to_string(i + 1);
    INFO(s);
    CHECK(f.listed(zone, s));
    CHECK(f.reports_of(zone, s) == 1);
  }
}

TEST_CASE("trap log: weights per trap and feed", "[importer][run]") {
  Fixture f;
  auto zone = ip_zone();
  zone.policy.threshold = 2.0;
  f.append("t.jsonl", R"({"time":1795356000,"address":"45.1.4.1","trap":"weak"})"
                      "\n"
                      R"({"time":1795356001,"address":"45.1.4.1","trap":"strong"})"
                      "\n"
                      R"({"time":1795356002,"address":"45.1.4.2","trap":"weak"})"
                      "\n"
                      R"({"time":1795356003,"address":"45.1.4.2","trap":"weak2"})"
                      "\n");
  SourceConfig cfg;
  cfg.trap_weights = {{"weak", 0.5}, {"weak2", 0.5}, {"strong", 1.5}};
  Importer imp(f.store, zone, cfg);
  imp.traplog(f.path("t.jsonl"));
  CHECK(imp.summary().reports == 4);
  CHECK(f.listed(zone, "45.1.4.1"));
  CHECK_FALSE(f.listed(zone, "45.1.4.2"));
}

// --- mailboxes -------------------------------------------------------------

const char* const kMx =
    "from relay (relay.example.org [10.1.1.1]) by mx.example.org (Postfix) with ESMTP id A1; Sun, "
    "22 Nov 2026 14:00:00 +0000";

std::string message(const std::vector<std::string>& received, const std::string& from,
                    const std::string& body, const std::string& id) {
  std::string m = "Return-Path: <bounce@envelope.example>\n";
  for (const auto& r : received) m += "Received: " + r + "\n";
  m += "From: Spammer <" + from + ">\nTo: trap@example.org\nSubject: offer\nMessage-Id: <" + id +
       ">\nDate: Sun, 22 Nov 2026 13:59:00 +0000\nMIME-Version: 1.0\n";
  m += body;
  return m;
}

std::string plain(const std::string& text) {
  return "Content-Type: text/plain; charset=us-ascii\n\n" + text + "\n";
}

// A multipart body whose HTML part is base64: the URL is only visible
// after MIME decoding.
std::string multipart_base64_url() {
  return "Content-Type: multipart/alternative; boundary=\"b1\"\n\n--b1\n"
         "Content-Type: text/plain\n\nhello\n--b1\nContent-Type: text/html\n"
         "Content-Transfer-Encoding: base64\n\n"
         "PGEgaHJlZj0iaHR0cHM6Ly9jbGljay5zcGFtLmV4YW1wbGUvYnV5Ij5idXk8L2E+Cg==\n--b1--\n";
}

struct Mailbox {
  std::vector<std::string> messages;
  std::vector<std::string> expected;  // relay per message ("" for a skipped one)
};

Mailbox fixtures() {
  Mailbox m;
  auto add = [&](std::vector<std::string> received, const std::string& relay) {
    m.messages.push_back(message(received, "x@from.example", plain("see http://shop.example/"),
                                 "id" + std::to_string(m.messages.size()) + "@spam"));
    m.expected.push_back(relay);
  };
  add({kMx, "from fake (unknown [45.2.0.1]) by relay.example.org (Postfix) with ESMTP id B"},
      "45.2.0.1");
  add({kMx, "from [45.2.0.2] (port=1 helo=x) by relay.example.org with esmtp (Exim 4.96) id 1"},
      "45.2.0.2");
  add({kMx,
       "from h (s.spam.example [45.2.0.3] (may be forged)) by relay.example.org (8.15.2/8.15.2) id "
       "2"},
      "45.2.0.3");
  add({kMx,
       "from EXCH (45.2.0.4) by relay.example.org (10.0.0.6) with Microsoft SMTP Server id 15.1"},
      "45.2.0.4");
  add({kMx,
       "from mail-sor-f41.google.com (mail-sor-f41.google.com. [2a00:1450:4864:20::42f]) by "
       "relay.example.org with SMTPS id x"},
      "2a00:1450:4864:20::42f");
  // Forged hops below the spammer's: never reach them.
  add({kMx, "from a (unknown [45.2.0.6]) by relay.example.org (Postfix) id C",
       "from b (b.example [10.1.1.1]) by relay.example.org (Postfix) id FORGED",
       "from c (c.example [45.9.9.9]) by d (Postfix) id FORGED"},
      "45.2.0.6");
  // Malformed: the hop after ours names no address.
  add({kMx, "from nowhere by relay.example.org with SMTP"}, "");
  return m;
}

SourceConfig trusted_cfg() {
  SourceConfig cfg;
  cfg.name = "mailtrap";
  cfg.trusted.prefixes.push_back(*core::IpPrefix::parse("10.1.0.0/16"));
  cfg.trusted.hosts.push_back("relay.example.org");
  return cfg;
}

TEST_CASE("Maildir: relays past the trusted hops, once per message", "[importer][run][mailbox]") {
  Fixture f;
  const auto zone = ip_zone();
  const auto md = f.dir.path() / "Maildir";
  for (const char* sub : {"new", "cur", "tmp"}) fs::create_directories(md / sub);
  const auto box = fixtures();
  for (std::size_t i = 0; i < box.messages.size(); ++i) {
    std::ofstream(md / "new" / ("179535600" + std::to_string(i) + ".M1P1.host")) << box.messages[i];
  }
  std::ofstream(md / "new" / "1795356999.M9P9.host") << "\x01\x02 not a message at all";
  std::ofstream(md / "new" / "1795356998.M8P8.host");  // empty
  {
    Importer imp(f.store, zone, trusted_cfg());
    imp.maildir(md.string());
    const auto& s = imp.summary();
    CHECK(s.read == box.messages.size() + 2);
    CHECK(s.reports == 6);
    CHECK(s.listed == 6);
    CHECK(s.skipped.at("no subject") == 1);
    CHECK(s.skipped.at("bad message") == 2);
  }
  for (const auto& e : box.expected) {
    if (e.empty()) continue;
    INFO(e);
    CHECK(f.listed(zone, e));
  }
  CHECK_FALSE(f.listed(zone, "45.9.9.9"));
  CHECK_FALSE(f.listed(zone, "10.1.1.1"));

  // Read mail moves to cur/ with flags: still the same message.
  fs::rename(md / "new" / "1795356000.M1P1.host", md / "cur" / "1795356000.M1P1.host:2,S");
  std::ofstream(md / "new" / "1795357000.M2P2.host")
      << message({kMx, "from z (unknown [45.2.0.9]) by relay.example.org (Postfix) id Z"},
                 "a@b.example", plain("x"), "late@spam");
  Importer again(f.store, zone, trusted_cfg());
  again.maildir(md.string());
  CHECK(again.summary().read == 1);
  CHECK(again.summary().reports == 1);
  CHECK(again.summary().already == box.messages.size() + 2);
  CHECK(f.listed(zone, "45.2.0.9"));
}

TEST_CASE("Maildir: envelope, From and URL domains for a domain zone", "[importer][run][mailbox]") {
  Fixture f;
  const auto zone = domain_zone();
  const auto md = f.dir.path() / "Maildir";
  fs::create_directories(md / "new");
  std::ofstream(md / "new" / "1.M1.host")
      << message({kMx}, "sales@From.Example", multipart_base64_url(), "d1@spam");
  Importer imp(f.store, zone, trusted_cfg());
  imp.maildir(md.string());
  CHECK(imp.summary().reports == 3);
  CHECK(f.listed(zone, "envelope.example"));
  CHECK(f.listed(zone, "from.example"));
  CHECK(f.listed(zone, "click.spam.example"));
}

TEST_CASE("mbox: messages from where the last run stopped", "[importer][run][mailbox]") {
  Fixture f;
  const auto zone = ip_zone();
  const auto box = fixtures();
  std::string mbox;
  for (const auto& m : box.messages)
    mbox += "From bounce@envelope.example Sun Nov 22 13:59:00 2026\n" + m + "\n";
  f.append("trap.mbox", mbox);
  SourceConfig cfg = trusted_cfg();
  cfg.batch = 2;
  {
    Importer imp(f.store, zone, cfg);
    imp.mbox(f.path("trap.mbox"));
    CHECK(imp.summary().read == box.messages.size());
    CHECK(imp.summary().reports == 6);
    CHECK(imp.summary().skipped.at("no subject") == 1);
  }
  for (const auto& e : box.expected) {
    if (!e.empty()) CHECK(f.listed(zone, e));
  }
  {
    Importer again(f.store, zone, cfg);
    again.mbox(f.path("trap.mbox"));
    CHECK(again.summary().read == 0);
    CHECK(again.summary().reports == 0);
  }
  f.append("trap.mbox",
           "From x@y Sun Nov 22 14:01:00 2026\n" +
               message({kMx, "from q (unknown [45.2.1.1]) by relay.example.org (Postfix) id Q"},
                       "a@b.example", plain(">From the body\nhi"), "m2@spam") +
               "\n");
  Importer more(f.store, zone, cfg);
  more.mbox(f.path("trap.mbox"));
  CHECK(more.summary().read == 1);
  CHECK(more.summary().reports == 1);
  CHECK(f.listed(zone, "45.2.1.1"));
  CHECK(f.reports_of(zone, "45.2.0.1") == 1);

  f.append("not.mbox", "just some text\nwithout any From line\n");
  Importer bad(f.store, zone, cfg);
  bad.mbox(f.path("not.mbox"));
  CHECK(bad.summary().skipped.at("bad mbox") == 1);
}

// --- Postfix volume watch ----------------------------------------------------

TEST_CASE("postfix: addresses above the threshold in a window are reported once",
          "[importer][run][postfix]") {
  Fixture f;
  const auto zone = ip_zone();
  std::string log;
  for (int i = 0; i < 250; ++i) {
    log += "Nov 22 13:" + std::string(i % 60 < 10 ? "0" : "") + std::to_string(i % 60) +
           ":00 mx postfix/smtpd[7]: Q" + std::to_string(i) +
           ": client=busy.example[45.3.0.1], sasl_method=PLAIN, sasl_username=bob\n";
    if (i % 25 == 0)
      log += "Nov 22 13:00:00 mx postfix/smtpd[7]: Q: client=quiet.example[45.3.0.2]\n";
    if (i % 50 == 0) log += "Nov 22 13:00:00 mx postfix/qmgr[8]: Q: from=<a@b>, size=1\n";
  }
  log += "Nov 22 13:00:00 mx postfix/smtpd[7]: Q: client=broken[45.3]\n";
  f.append("mail.log", log);
  SourceConfig cfg;
  cfg.name = "outbound";
  cfg.batch = 1;  // flush every 20 lines: counts must carry across transactions
  VolumeConfig v;
  {
    Importer imp(f.store, zone, cfg);
    imp.postfix(f.path("mail.log"), v);
    CHECK(imp.summary().reports == 1);
    CHECK(imp.summary().listed == 1);
    CHECK(imp.summary().skipped.at("bad line") == 1);
  }
  CHECK(f.listed(zone, "45.3.0.1"));
  CHECK_FALSE(f.listed(zone, "45.3.0.2"));
  f.append("mail.log", "Nov 22 13:59:00 mx postfix/smtpd[7]: Q: client=busy.example[45.3.0.1]\n");
  Importer again(f.store, zone, cfg);
  again.postfix(f.path("mail.log"), v);
  CHECK(again.summary().read == 1);
  CHECK(again.summary().reports == 0);

  // Per SASL user: bob's 250 messages, reported at his last address.
  Fixture g;
  g.append("mail.log", log);
  v.by_sasl = true;
  Importer by_user(g.store, zone, cfg);
  by_user.postfix(g.path("mail.log"), v);
  CHECK(by_user.summary().reports == 1);
  CHECK(g.listed(zone, "45.3.0.1"));
}

// --- rbldnsd migration -------------------------------------------------------

TEST_CASE("rbldnsd: imported listings, allowlist respected, idempotent",
          "[importer][run][rbldnsd]") {
  Fixture f;
  const auto zone = ip_zone();
  f.append("bl.ip4set",
           ":127.0.0.2:Listed\n45.4.0.0/24\n!45.4.0.7\n45.0.0.5\n127.0.0.2\n45.4.1.1 :3:Relay\n");
  RbldnsdOptions o;
  {
    Importer imp(f.store, zone, SourceConfig{});
    imp.rbldnsd(f.path("bl.ip4set"), o);
    CHECK(imp.summary().listed == 3);
    CHECK(imp.summary().skipped.at("allowlisted") == 1);
    CHECK(imp.summary().skipped.at("RFC 5782 test point") == 1);
  }
  CHECK(f.listed(zone, "45.4.0.9"));
  CHECK_FALSE(f.listed(zone, "45.4.0.7"));
  {
    auto txn = f.store.env().begin_read();
    const auto ref = f.store.find_zone(txn, zone.name);
    const auto l = f.store.get(txn, *ref, *core::parse_subject("45.4.1.1"));
    REQUIRE(l);
    CHECK(l->source == core::Source::import);
    CHECK(l->codes == std::vector<std::uint32_t>{0x7f000003});
    CHECK(l->reason == "Relay");
    CHECK(l->permanent());
  }
  Importer again(f.store, zone, SourceConfig{});
  again.rbldnsd(f.path("bl.ip4set"), o);
  CHECK(again.summary().listed == 0);
  // As manual listings: the same entries change source, once.
  o.manual = true;
  Importer manual(f.store, zone, SourceConfig{});
  manual.rbldnsd(f.path("bl.ip4set"), o);
  CHECK(manual.summary().listed == 3);
  {
    auto txn = f.store.env().begin_read();
    const auto ref = f.store.find_zone(txn, zone.name);
    const auto l = f.store.get(txn, *ref, *core::parse_subject("45.4.1.1"));
    REQUIRE(l);
    CHECK(l->source == core::Source::manual);
    CHECK(l->codes == std::vector<std::uint32_t>{0x7f000003});
    const auto h = f.store.history(txn, *ref, *core::parse_subject("45.4.1.1"));
    REQUIRE_FALSE(h.empty());
    CHECK(h.back().actor == "import:traps");
  }
  Importer manual_again(f.store, zone, SourceConfig{});
  manual_again.rbldnsd(f.path("bl.ip4set"), o);
  CHECK(manual_again.summary().listed == 0);
  CHECK(f.listed(zone, "45.4.0.9"));
  CHECK_FALSE(f.listed(zone, "45.4.0.7"));
}

}  // namespace
}  // namespace rblzone::importer
