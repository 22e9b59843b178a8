// Tests for cmd/operator_cli: the `rblzone` command line as a library, run
// against a temp data dir and zones dir with an injected clock: exit codes,
// add/check/show/remove, bad input changing nothing, bulk load, history --at.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cmd/operator_cli.hpp"
#include "tests/unit/temp_dir.hpp"

namespace rblzone::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using TempDir = rblzone::testing::TempDir;

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
  REQUIRE(out.good());
}

struct Cli {
  TempDir dir;
  fs::path data = dir.path() / "data";
  fs::path zones = dir.path() / "zones";
  std::int64_t now = 1000;
  std::string out, err;

  Cli() {
    fs::create_directories(zones);
    write_file(zones / "dnsbl.test.toml",
               "name = \"dnsbl.test\"\nkind = \"ip\"\nallowlist = [\"192.0.2.77\"]\n");
    write_file(zones / "dnsbl2.test.toml", "name = \"dnsbl2.test\"\nkind = \"ip\"\n");
    write_file(zones / "rhsbl.test.toml", "name = \"rhsbl.test\"\nkind = \"domain\"\n");
    write_file(zones / "zen.test.toml",
               "name = \"zen.test\"\nkind = \"combined\"\n"
               "members = [\"dnsbl.test\", \"dnsbl2.test\"]\n");
  }

  // Runs `rblzone` with exactly these arguments (after argv[0]).
  int raw(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"rblzone"};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<const char*> argv;
    for (const auto& a : all) argv.push_back(a.c_str());
    std::ostringstream o, e;
    const int rc = run(static_cast<int>(argv.size()), argv.data(), o, e, [this] { return now; });
    out = o.str();
    err = e.str();
    return rc;
  }
  // Runs it on this fixture's data and zones.
  int operator()(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"--data-dir", data.string(), "--zones", zones.string()};
    all.insert(all.end(), args.begin(), args.end());
    return raw(all);
  }
  json json_of(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"--json"};
    all.insert(all.end(), args.begin(), args.end());
    (*this)(all);
    INFO(out << err);
    return json::parse(out);
  }
  // Everything an operator can see: zones with serials, and every listing.
  std::string state() {
    std::string s = json_of({"zone", "list"}).dump();
    for (const char* z : {"dnsbl.test", "dnsbl2.test", "rhsbl.test"}) {
      s += json_of({"listing", "list", z}).dump();
    }
    return s;
  }
};

std::string joined(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

}  // namespace

TEST_CASE("exit codes: 0 done or listed, 1 not found, 2 bad input", "[cli]") {
  Cli cli;
  struct Case {
    std::vector<std::string> args;
    int code;
  };
  const std::vector<Case> cases = {
      {{"listing", "add", "dnsbl.test", "192.0.2.1", "--reason", "spam"}, kExitOk},
      {{"check", "dnsbl.test", "192.0.2.1"}, kExitOk},
      {{"check", "DNSBL.Test.", "192.0.2.1"}, kExitOk},
      {{"check", "zen.test", "192.0.2.1"}, kExitOk},
      {{"check", "dnsbl.test", "::ffff:192.0.2.1"}, kExitOk},
      {{"check", "dnsbl.test", "192.0.2.2"}, kExitNotFound},
      {{"check", "dnsbl2.test", "192.0.2.1"}, kExitNotFound},
      {{"check", "dnsbl.test", "127.0.0.2"}, kExitOk},  // the test point
      {{"check", "dnsbl.test", "127.0.0.1"}, kExitNotFound},
      {{"check", "rhsbl.test", "test"}, kExitOk},
      {{"check", "rhsbl.test", "invalid"}, kExitNotFound},
      {{"listing", "show", "dnsbl.test", "192.0.2.1"}, kExitOk},
      {{"listing", "show", "dnsbl.test", "192.0.2.2"}, kExitNotFound},
      {{"listing", "remove", "dnsbl.test", "192.0.2.2"}, kExitNotFound},
      {{"history", "dnsbl.test", "192.0.2.1"}, kExitOk},
      {{"history", "dnsbl.test", "192.0.2.2"}, kExitNotFound},
      {{"zone", "list"}, kExitOk},
      {{"listing", "list", "dnsbl.test"}, kExitOk},
      {{"--help"}, kExitOk},
      {{}, kExitBadInput},
      {{"bogus"}, kExitBadInput},
      {{"listing"}, kExitBadInput},
      {{"listing", "add", "dnsbl.test"}, kExitBadInput},
      {{"listing", "add", "dnsbl.test", "192.0.2.3", "--no-such-flag"}, kExitBadInput},
      {{"listing", "add", "nope.test", "192.0.2.3"}, kExitBadInput},
      {{"check", "nope.test", "192.0.2.3"}, kExitBadInput},
      {{"check", "dnsbl.test", "192.0.2.0/24"}, kExitBadInput},
      {{"check", "dnsbl.test", "not an address"}, kExitBadInput},
      {{"listing", "remove", "dnsbl.test", "127.0.0.2"}, kExitBadInput},
      {{"history", "dnsbl.test", "192.0.2.1", "--at", "yesterday"}, kExitBadInput},
      {{"listing", "remove", "dnsbl.test", "192.0.2.1"}, kExitOk},
      {{"check", "dnsbl.test", "192.0.2.1"}, kExitNotFound},
      {{"listing", "remove", "dnsbl.test", "192.0.2.1"}, kExitNotFound},
  };
  for (const auto& c : cases) {
    INFO("rblzone " << joined(c.args));
    const int rc = cli(c.args);
    INFO("stdout: " << cli.out << "stderr: " << cli.err);
    CHECK(rc == c.code);
    if (rc == kExitBadInput) CHECK_THAT(cli.err, Catch::StartsWith("rblzone: "));
  }
}

TEST_CASE("exit code 3 when the store cannot be opened", "[cli]") {
  Cli cli;
  const auto file = cli.dir.path() / "file";
  write_file(file, "not a directory\n");
  const int rc = cli.raw({"--data-dir", (file / "data").string(), "--zones", cli.zones.string(),
                          "listing", "add", "dnsbl.test", "192.0.2.1"});
  CHECK(rc == kExitFailure);
  CHECK_THAT(cli.err, Catch::Contains((file / "data").string()));
  // A zones directory that does not exist is a configuration error.
  CHECK(cli.raw({"--data-dir", cli.data.string(), "--zones", (cli.dir.path() / "none").string(),
                 "zone", "list"}) == kExitBadInput);
}

TEST_CASE("add, then check, show and list what DNS would answer", "[cli]") {
  Cli cli;
  REQUIRE(cli({"listing", "add", "dnsbl.test", "198.51.100.0/24", "--code", "trap", "--reason",
               "trap hits", "--for", "2h"}) == kExitOk);
  CHECK_THAT(cli.out, Catch::StartsWith("listed 198.51.100.0/24 in dnsbl.test"));
  REQUIRE(cli({"listing", "add", "dnsbl2.test", "198.51.100.9", "--code", "127.0.0.20",
               "--permanent", "--source", "report"}) == kExitOk);
  REQUIRE(cli({"listing", "add", "rhsbl.test", "*.spammer.example"}) == kExitOk);

  auto j = cli.json_of({"check", "dnsbl.test", "198.51.100.9"});
  CHECK(j["listed"] == true);
  CHECK(j["codes"] == json::array({"127.0.0.3"}));
  REQUIRE(j["matches"].size() == 1);
  CHECK(j["matches"][0]["matched"] == "198.51.100.0/24");
  CHECK(j["matches"][0]["listing"]["reason"] == "trap hits");
  CHECK(j["matches"][0]["listing"]["expires"] == 1000 + 7200);

  j = cli.json_of({"check", "zen.test", "198.51.100.9"});
  CHECK(j["codes"] == json::array({"127.0.0.3", "127.0.0.20"}));
  CHECK(j["matches"].size() == 2);

  j = cli.json_of({"check", "rhsbl.test", "www.spammer.example"});
  CHECK(j["listed"] == true);
  CHECK(j["codes"] == json::array({"127.0.0.2"}));
  CHECK(j["matches"][0]["matched"] == "spammer.example");

  j = cli.json_of({"listing", "show", "dnsbl2.test", "198.51.100.9"});
  CHECK(j["listing"]["source"] == "report");
  CHECK(j["listing"]["permanent"] == true);
  CHECK(j["listing"]["offences"] == 1);
  CHECK(j["active"] == true);

  // Time passes (the injected clock): the 2h listing expires to the second.
  cli.now = 1000 + 7199;
  CHECK(cli({"check", "dnsbl.test", "198.51.100.9"}) == kExitOk);
  cli.now = 1000 + 7200;
  CHECK(cli({"check", "dnsbl.test", "198.51.100.9"}) == kExitNotFound);
  CHECK_THAT(cli.out, Catch::Contains("not listed"));
  j = cli.json_of({"listing", "show", "dnsbl.test", "198.51.100.0/24"});
  CHECK(j["active"] == false);

  // Re-listing an expired subject is a new offence; updating a live one is not.
  REQUIRE(cli({"listing", "add", "dnsbl.test", "198.51.100.0/24"}) == kExitOk);
  CHECK_THAT(cli.out, Catch::StartsWith("updated "));
  CHECK(cli.json_of({"listing", "show", "dnsbl.test", "198.51.100.0/24"})["listing"]["offences"] ==
        2);
  REQUIRE(cli({"listing", "add", "dnsbl.test", "198.51.100.0/24"}) == kExitOk);
  CHECK(cli.json_of({"listing", "show", "dnsbl.test", "198.51.100.0/24"})["listing"]["offences"] ==
        2);
  CHECK(cli.json_of(
            {"listing", "show", "dnsbl.test", "198.51.100.0/24"})["listing"]["first_seen"] == 1000);

  // An exclusion inside the prefix.
  REQUIRE(cli({"listing", "add", "dnsbl.test", "198.51.100.9", "--exclude"}) == kExitOk);
  CHECK(cli({"check", "dnsbl.test", "198.51.100.9"}) == kExitNotFound);
  CHECK(cli({"check", "dnsbl.test", "198.51.100.10"}) == kExitOk);

  const auto list = cli.json_of({"listing", "list", "dnsbl.test"});
  CHECK(list.size() == 2);
  CHECK(cli.json_of({"listing", "list", "dnsbl.test", "--limit", "1"}).size() == 1);

  const auto zones = cli.json_of({"zone", "list"});
  REQUIRE(zones.size() == 4);
  for (const auto& z : zones) {
    if (z["name"] == "dnsbl.test") CHECK(z["serial"] == 1000 + 4);  // 4 changes
  }
}

TEST_CASE("bad inputs change nothing", "[cli]") {
  Cli cli;
  REQUIRE(cli({"listing", "add", "dnsbl.test", "192.0.2.1"}) == kExitOk);
  REQUIRE(cli({"listing", "add", "rhsbl.test", "spammer.example"}) == kExitOk);
  const std::string before = cli.state();
  const std::string long_reason(1001, 'r');
  const std::vector<std::vector<std::string>> cases = {
      {"listing", "add", "dnsbl.test", "192.0.2.0/33"},
      {"listing", "add", "dnsbl.test", "192.0.2.1/24"},
      {"listing", "add", "dnsbl.test", "2001:db8::/129"},
      {"listing", "add", "dnsbl.test", "garbage!"},
      {"listing", "add", "dnsbl.test", ""},
      {"listing", "add", "dnsbl.test", "spammer.example"},  // a domain in an IP zone
      {"listing", "add", "rhsbl.test", "192.0.2.1"},        // an address in a domain zone
      {"listing", "add", "zen.test", "192.0.2.1"},          // combined zones hold no data
      {"listing", "add", "nope.test", "192.0.2.1"},
      {"listing", "add", "dnsbl.test", "10.0.0.0/8"},  // broad without --force
      {"listing", "add", "dnsbl.test", "2001:db8::/16"},
      {"listing", "add", "dnsbl.test", "10.1.2.3"},  // special-purpose without --force
      {"listing", "add", "dnsbl.test", "fe80::1"},
      {"listing", "add", "dnsbl.test", "127.0.0.1"},
      {"listing", "add", "dnsbl.test", "127.0.0.0/8", "--force"},  // covers 127.0.0.1
      {"listing", "add", "dnsbl.test", "192.0.2.77"},              // allowlisted
      {"listing", "add", "dnsbl.test", "192.0.2.0/24"},            // overlaps the allowlist
      {"listing", "add", "rhsbl.test", "invalid"},
      {"listing", "add", "dnsbl.test", "192.0.2.9", "--code", "127.0.0.1"},
      {"listing", "add", "dnsbl.test", "192.0.2.9", "--code", "10.0.0.2"},
      {"listing", "add", "dnsbl.test", "192.0.2.9", "--code", "127.255.255.1"},
      {"listing", "add", "dnsbl.test", "192.0.2.9", "--code", "nosuchname"},
      {"listing", "add", "dnsbl.test", "192.0.2.9", "--for", "10x"},
      {"listing", "add", "dnsbl.test", "192.0.2.9", "--for", "0s"},
      {"listing", "add", "dnsbl.test", "192.0.2.9", "--for", "-5m"},
      {"listing", "add", "dnsbl.test", "192.0.2.9", "--for", "1h", "--permanent"},
      {"listing", "add", "dnsbl.test", "192.0.2.9", "--source", "robot"},
      {"listing", "add", "dnsbl.test", "192.0.2.9", "--reason", long_reason},
      {"listing", "add", "dnsbl.test", "192.0.2.1", "--code", "bogus"},  // an update too
      {"listing", "add", "dnsbl.test", "127.0.0.2", "--exclude"},        // RFC 5782 test points
      {"listing", "add", "dnsbl.test", "127.0.0.0/24", "--exclude"},
      {"listing", "add", "rhsbl.test", "test", "--exclude"},
      {"listing", "remove", "dnsbl.test", "127.0.0.2"},
      {"listing", "remove", "rhsbl.test", "test"},
      {"listing", "remove", "dnsbl.test", "192.0.2.1/24"},
      {"listing", "remove", "nope.test", "192.0.2.1"},
      {"listing", "remove", "dnsbl.test", "192.0.2.2"},  // not listed: exit 1
  };
  for (const auto& args : cases) {
    INFO("rblzone " << joined(args));
    const int rc = cli(args);
    INFO("stdout: " << cli.out << "stderr: " << cli.err);
    CHECK((rc == kExitBadInput || rc == kExitNotFound));
    CHECK(cli.state() == before);
  }
}

TEST_CASE("history --at answers from the recorded events", "[cli]") {
  Cli cli;
  cli.now = 1000;
  REQUIRE(cli({"listing", "add", "dnsbl.test", "192.0.2.1", "--for", "100s"}) == kExitOk);
  cli.now = 1500;
  REQUIRE(cli({"listing", "add", "dnsbl.test", "192.0.2.1", "--permanent", "--reason", "again"}) ==
          kExitOk);
  cli.now = 2000;
  REQUIRE(cli({"listing", "remove", "dnsbl.test", "192.0.2.1"}) == kExitOk);
  cli.now = 9999;  // "now" does not matter for --at

  struct Case {
    const char* at;
    int code;
  };
  const std::vector<Case> cases = {
      {"999", kExitNotFound},  // before the first listing
      {"1000", kExitOk},
      {"1050", kExitOk},
      {"1099", kExitOk},
      {"1100", kExitNotFound},  // expired, to the second
      {"1200", kExitNotFound},
      {"1500", kExitOk},  // listed again, permanently
      {"1999", kExitOk},
      {"2000", kExitNotFound},  // removed
      {"2500", kExitNotFound},
      {"1970-01-01T00:17:30Z", kExitOk},       // 1050
      {"1970-01-01 00:20:00", kExitNotFound},  // 1200
  };
  for (const auto& c : cases) {
    INFO("--at " << c.at);
    CHECK(cli({"history", "dnsbl.test", "192.0.2.1", "--at", c.at}) == c.code);
  }
  const auto j = cli.json_of({"history", "dnsbl.test", "192.0.2.1", "--at", "1600"});
  CHECK(j["listed"] == true);
  CHECK(j["at"] == 1600);
  CHECK(j["event"]["reason"] == "again");

  const auto all = cli.json_of({"history", "dnsbl.test", "192.0.2.1"});
  REQUIRE(all.size() == 3);
  CHECK(all[0]["time"] == 1000);
  CHECK(all[0]["action"] == "list");
  CHECK(all[1]["time"] == 1500);
  CHECK(all[1]["action"] == "update");
  CHECK(all[2]["time"] == 2000);
  CHECK(all[2]["action"] == "delist");
  CHECK(all[2]["after"].is_null());
}

TEST_CASE("listing load adds good lines and reports bad ones", "[cli]") {
  Cli cli;
  const auto file = cli.dir.path() / "load.txt";
  write_file(file,
             "# a comment\n"
             "192.0.2.10 127.0.0.3 caught in a trap\n"
             "\n"
             "!192.0.2.11\n"
             "garbage\n"
             "10.0.0.0/8\n"
             "192.0.2.12   # trailing comment\n");
  REQUIRE(cli({"listing", "load", "dnsbl.test", file.string()}) == kExitOk);
  CHECK_THAT(cli.out, Catch::Contains("loaded 3 listings into dnsbl.test, skipped 2"));
  CHECK_THAT(cli.err, Catch::Contains(file.string() + ":5: skipped"));
  CHECK_THAT(cli.err, Catch::Contains(file.string() + ":6: skipped"));

  auto j = cli.json_of({"listing", "show", "dnsbl.test", "192.0.2.10"});
  CHECK(j["listing"]["codes"] == json::array({"127.0.0.3"}));
  CHECK(j["listing"]["reason"] == "caught in a trap");
  CHECK(j["listing"]["source"] == "import");
  CHECK(j["listing"]["permanent"] == true);
  j = cli.json_of({"listing", "show", "dnsbl.test", "192.0.2.11"});
  CHECK(j["listing"]["exclusion"] == true);
  CHECK(cli({"check", "dnsbl.test", "192.0.2.12"}) == kExitOk);
  CHECK(cli({"listing", "show", "dnsbl.test", "10.0.0.0/8"}) == kExitNotFound);

  CHECK(cli({"listing", "load", "dnsbl.test", (cli.dir.path() / "missing.txt").string()}) ==
        kExitBadInput);
}

}  // namespace rblzone::cli
