// Tests for zoneserver/tsig (RFC 8945, hmac-sha256) against messages signed
// by dnspython (tests/unit/tsig_vectors.py generated tsig_vectors.inc), the
// signed transfer stream of serve_transfer, and the [transfer.tsig] config.
#include "zoneserver/tsig.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/crypto.hpp"
#include "tests/unit/temp_dir.hpp"
#include "tests/unit/wire_bytes.hpp"
#include "zoneserver/xfr.hpp"

namespace rblzone::zoneserver::tsig {
namespace {

#include "tests/unit/tsig_vectors.inc"

using rblzone::testing::Bytes;
using rblzone::testing::put16;
using rblzone::testing::put_name;

core::TsigKeyConfig vector_key() {
  core::TsigKeyConfig k;
  k.name = kVectorKeyName;
  k.secret = *core::base64_decode(kVectorSecretB64);
  return k;
}

std::string str(const std::vector<std::uint8_t>& v) {
  return {v.begin(), v.end()};
}

const std::uint8_t* bytes(const std::string& s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());  // NOLINT
}

TEST_CASE("base64 decoding is strict", "[tsig]") {
  CHECK(core::base64_decode("") == std::string());
  CHECK(core::base64_decode("Zg==") == std::string("f"));
  CHECK(core::base64_decode("Zm8=") == std::string("fo"));
  CHECK(core::base64_decode("Zm9v") == std::string("foo"));
  CHECK(core::base64_decode(kVectorSecretB64)->size() == 32);
  CHECK_FALSE(core::base64_decode("Zm9"));
  CHECK_FALSE(core::base64_decode("Zm9v!A=="));
  CHECK_FALSE(core::base64_decode("Z==="));
  CHECK_FALSE(core::base64_decode("Zg==Zg=="));
  CHECK_FALSE(core::base64_decode("Zm 9"));
}

TEST_CASE("a query signed by dnspython verifies; wrong key, MAC or time does not", "[tsig]") {
  const auto key = vector_key();
  Record rec;
  REQUIRE(find(kSignedQuery.data(), kSignedQuery.size(), rec) == Found::found);
  CHECK(rec.key_name == name_wire(kVectorKeyName));
  CHECK(rec.algorithm == name_wire("hmac-sha256"));
  CHECK(rec.time_signed == static_cast<std::uint64_t>(kVectorTime));
  CHECK(rec.mac.size() == 32);
  CHECK(verify_request(kSignedQuery.data(), rec, &key, kVectorTime) == 0);
  CHECK(verify_request(kSignedQuery.data(), rec, &key, kVectorTime - 300) == 0);
  CHECK(verify_request(kSignedQuery.data(), rec, &key, kVectorTime + 301) == kBadTime);
  CHECK(verify_request(kSignedQuery.data(), rec, &key, kVectorTime - 301) == kBadTime);
  CHECK(verify_request(kSignedQuery.data(), rec, nullptr, kVectorTime) == kBadKey);

  auto other_name = key;
  other_name.name = "other-key.example";
  CHECK(verify_request(kSignedQuery.data(), rec, &other_name, kVectorTime) == kBadKey);
  auto other_secret = key;
  other_secret.secret[0] ^= 1;
  CHECK(verify_request(kSignedQuery.data(), rec, &other_secret, kVectorTime) == kBadSig);

  // One bit of the question changed: the MAC no longer matches.
  auto tampered = kSignedQuery;
  tampered[14] ^= 0x20;
  Record trec;
  REQUIRE(find(tampered.data(), tampered.size(), trec) == Found::found);
  CHECK(verify_request(tampered.data(), trec, &key, kVectorTime) == kBadSig);

  // Unsigned, cut short, or with a record after the TSIG.
  Record none;
  CHECK(find(kResponse1Plain.data(), kResponse1Plain.size(), none) == Found::none);
  auto cut = kSignedQuery;
  cut.pop_back();
  CHECK(find(cut.data(), cut.size(), none) == Found::malformed);
  auto extra = kSignedQuery;
  extra.push_back(0);
  CHECK(find(extra.data(), extra.size(), none) == Found::malformed);
}

TEST_CASE("responses are signed to dnspython's bytes, the second chained to the first", "[tsig]") {
  const auto key = vector_key();
  Record rec;
  REQUIRE(find(kSignedQuery.data(), kSignedQuery.size(), rec) == Found::found);
  Signer signer(key, rec.mac, kVectorTime);
  std::string first = str(kResponse1Plain);
  signer.sign(first);
  CHECK(first == str(kResponse1Signed));
  std::string second = str(kResponse2Plain);
  signer.sign(second);
  CHECK(second == str(kResponse2Signed));

  // Not chained (each signed as a first message): a different MAC.
  Signer fresh(key, rec.mac, kVectorTime);
  std::string alone = str(kResponse2Plain);
  fresh.sign(alone);
  CHECK(alone != str(kResponse2Signed));
}

TEST_CASE("a NOTIFY is signed to dnspython's bytes and its signed answer verifies", "[tsig]") {
  const auto key = vector_key();
  Signer signer(key, std::nullopt, kVectorTime);
  std::string notify = str(kNotifyPlain);
  signer.sign(notify);
  CHECK(notify == str(kNotifySigned));
  const std::string mac = signer.last_mac();
  CHECK(verify_response(kNotifyAck.data(), kNotifyAck.size(), key, mac, kVectorTime));
  CHECK(verify_response(kNotifyAck.data(), kNotifyAck.size(), key, mac, kVectorTime + 300));
  CHECK_FALSE(verify_response(kNotifyAck.data(), kNotifyAck.size(), key, mac, kVectorTime + 301));
  std::string other_mac = mac;
  other_mac[0] = static_cast<char>(other_mac[0] ^ 1);
  CHECK_FALSE(verify_response(kNotifyAck.data(), kNotifyAck.size(), key, other_mac, kVectorTime));
  auto other_secret = key;
  other_secret.secret[5] ^= 1;
  CHECK_FALSE(
      verify_response(kNotifyAck.data(), kNotifyAck.size(), other_secret, mac, kVectorTime));
  // An unsigned acknowledgement does not count.
  CHECK_FALSE(verify_response(kNotifyPlain.data(), kNotifyPlain.size(), key, mac, kVectorTime));
}

TEST_CASE("error responses: NOTAUTH; BADKEY and BADSIG unsigned, BADTIME signed", "[tsig]") {
  const auto key = vector_key();
  Record rec;
  REQUIRE(find(kSignedQuery.data(), kSignedQuery.size(), rec) == Found::found);
  const std::string badsig = error_response(kSignedQuery.data(), rec, &key, kBadSig, kVectorTime);
  CHECK((bytes(badsig)[3] & 0xf) == wire::rcode::NOTAUTH);
  CHECK((bytes(badsig)[2] & 0x80) != 0);
  Record out;
  REQUIRE(find(bytes(badsig), badsig.size(), out) == Found::found);
  CHECK(out.error == kBadSig);
  CHECK(out.mac.empty());

  const std::string badtime =
      error_response(kSignedQuery.data(), rec, &key, kBadTime, kVectorTime + 1000);
  REQUIRE(find(bytes(badtime), badtime.size(), out) == Found::found);
  CHECK(out.error == kBadTime);
  CHECK(out.mac.size() == 32);
  CHECK(out.time_signed == static_cast<std::uint64_t>(kVectorTime));
  REQUIRE(out.other.size() == 6);
  CHECK(static_cast<std::uint8_t>(out.other[5]) == ((kVectorTime + 1000) & 0xff));
}

// --- serve_transfer with a key ---------------------------------------------

constexpr std::int64_t kNow = 1700000000;

struct Fixture {
  rblzone::testing::TempDir dir{"tsig"};
  core::Store store{dir.path() / "data", [] { return kNow; }};
  std::shared_ptr<const ZoneCatalog> catalog;
  core::TsigKeyConfig key = vector_key();

  Fixture() {
    core::ZoneConfig z;
    z.name = "bl.test";
    z.kind = core::ZoneKind::ip;
    z.ns = {"ns1.bl.test"};
    z.soa.mname = z.ns.front();
    z.soa.rname = "hostmaster.bl.test";
    z.transfer.allow = {*core::IpPrefix::parse("127.0.0.0/8")};
    z.transfer.tsig = key;
    catalog = ZoneCatalog::build({z}, store);
    core::Listing l;
    l.codes = {0x7f000002};
    l.reason = "r";
    store.env().write([&](core::WriteTxn& txn) {
      const auto ref = store.ensure_zone(txn, "bl.test");
      for (int i = 1; i <= 3000; ++i) {
        store.put(txn, ref,
                  *core::parse_subject("10.0." + std::to_string(i / 250) + "." +
                                       std::to_string(i % 250 + 1)),
                  l, core::Change{"test", "list", ""});
      }
    });
  }
};

std::string axfr_query() {
  Bytes q;
  put16(q, 0x2222);
  put16(q, 0);
  put16(q, 1);
  put16(q, 0);
  put16(q, 0);
  put16(q, 0);
  put_name(q, "bl.test");
  put16(q, wire::type::AXFR);
  put16(q, 1);
  return str(q);
}

std::vector<std::string> serve(Fixture& f, const std::string& q, std::int64_t now) {
  std::vector<std::string> out;
  serve_transfer(bytes(q), q.size(),
                 Client{core::IpPrefix::v4(0x7f000001, 32).bytes(), Transport::tcp}, *f.catalog,
                 f.store, now, [&](const std::uint8_t* d, std::size_t n) {
                   out.emplace_back(reinterpret_cast<const char*>(d), n);  // NOLINT
                   return true;
                 });
  return out;
}

TEST_CASE("a zone with a key: unsigned refused, bad NOTAUTH, good every message signed", "[tsig]") {
  Fixture f;
  const std::string plain = axfr_query();
  auto unsigned_answer = serve(f, plain, kNow);
  REQUIRE(unsigned_answer.size() == 1);
  CHECK((bytes(unsigned_answer[0])[3] & 0xf) == wire::rcode::REFUSED);

  std::string query = plain;
  Signer client_signer(f.key, std::nullopt, kNow);
  client_signer.sign(query);
  const std::string request_mac = client_signer.last_mac();

  // Too far from our clock: BADTIME.
  auto late = serve(f, query, kNow + 301);
  REQUIRE(late.size() == 1);
  CHECK((bytes(late[0])[3] & 0xf) == wire::rcode::NOTAUTH);
  Record rec;
  REQUIRE(find(bytes(late[0]), late[0].size(), rec) == Found::found);
  CHECK(rec.error == kBadTime);

  // Another secret: BADSIG, unsigned.
  auto wrong = f.key;
  wrong.secret[0] ^= 1;
  std::string forged = plain;
  Signer(wrong, std::nullopt, kNow).sign(forged);
  auto bad = serve(f, forged, kNow);
  REQUIRE(bad.size() == 1);
  CHECK((bytes(bad[0])[3] & 0xf) == wire::rcode::NOTAUTH);
  REQUIRE(find(bytes(bad[0]), bad[0].size(), rec) == Found::found);
  CHECK(rec.error == kBadSig);
  CHECK(rec.mac.empty());

  // Good: many messages, each signed, each MAC chained to the one before
  // (re-signing the unsigned message with a fresh chain gives the same bytes).
  auto good = serve(f, query, kNow);
  REQUIRE(good.size() > 1);
  Signer replay(f.key, request_mac, kNow);
  for (const auto& m : good) {
    CHECK((bytes(m)[3] & 0xf) == 0);
    REQUIRE(find(bytes(m), m.size(), rec) == Found::found);
    CHECK(rec.error == 0);
    std::string unsigned_m = m.substr(0, rec.offset);
    const auto ar = static_cast<std::uint16_t>(((bytes(m)[10] << 8) | bytes(m)[11]) - 1);
    unsigned_m[10] = static_cast<char>(ar >> 8);
    unsigned_m[11] = static_cast<char>(ar);
    replay.sign(unsigned_m);
    CHECK(unsigned_m == m);
  }

  // A zone without a key answers a signed query with BADKEY.
  core::ZoneConfig nokey = f.catalog->zones().front()->config;
  nokey.transfer.tsig.reset();
  auto catalog = ZoneCatalog::build({nokey}, f.store);
  std::vector<std::string> out;
  serve_transfer(bytes(query), query.size(),
                 Client{core::IpPrefix::v4(0x7f000001, 32).bytes(), Transport::tcp}, *catalog,
                 f.store, kNow, [&](const std::uint8_t* d, std::size_t n) {
                   out.emplace_back(reinterpret_cast<const char*>(d), n);  // NOLINT
                   return true;
                 });
  REQUIRE(out.size() == 1);
  REQUIRE(find(bytes(out[0]), out[0].size(), rec) == Found::found);
  CHECK(rec.error == kBadKey);
}

// --- [transfer.tsig] ------------------------------------------------------

std::string config_error(const std::string& tsig_table) {
  const std::string text = "name = \"bl.test\"\n[transfer]\nallow = [\"127.0.0.0/8\"]\n" +
                           std::string("[transfer.tsig]\n") + tsig_table;
  try {
    core::parse_zone_config(text, "zones/bl.test.toml");
  } catch (const core::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST_CASE("[transfer.tsig]: a good key loads, bad ones are clear errors without the secret",
          "[tsig]") {
  const auto z = core::parse_zone_config(
      "name = \"bl.test\"\n[transfer.tsig]\nkey = \"Xfr-Key.Example.\"\nsecret = \"" +
          std::string(kVectorSecretB64) + "\"\n",
      "zones/bl.test.toml");
  REQUIRE(z.transfer.tsig);
  CHECK(z.transfer.tsig->name == "xfr-key.example");
  CHECK(z.transfer.tsig->algorithm == "hmac-sha256");
  CHECK(z.transfer.tsig->secret == vector_key().secret);

  const std::string secret = std::string("secret = \"") + kVectorSecretB64 + "\"\n";
  std::string e = config_error("key = \"k\"\nsecret = \"not*base64\"\n");
  CHECK_THAT(e, Catch::Contains("transfer.tsig.secret") && Catch::Contains("not valid base64"));
  CHECK_THAT(e, !Catch::Contains("not*base64"));
  e = config_error("key = \"k\"\nalgorithm = \"hmac-md5\"\n" + secret);
  CHECK_THAT(e, Catch::Contains("transfer.tsig.algorithm") && Catch::Contains("hmac-sha256"));
  e = config_error(secret);
  CHECK_THAT(e, Catch::Contains("transfer.tsig.key") && Catch::Contains("required"));
  e = config_error("key = \"k\"\n");
  CHECK_THAT(e, Catch::Contains("exactly one of secret"));
  e = config_error("key = \"k\"\nsecret = \"c2hvcnQ=\"\n");
  CHECK_THAT(e, Catch::Contains("at least 16 bytes"));
  e = config_error("key = \"k\"\nsecret_file = \"/nonexistent/rblzone-key\"\n");
  CHECK_THAT(e, Catch::Contains("cannot open"));
  e = config_error("key = \"k\"\nkeyname = \"x\"\n" + secret);
  CHECK_THAT(e, Catch::Contains("unknown key"));
  CHECK_THAT(e, !Catch::Contains(kVectorSecretB64));
}

TEST_CASE("[transfer.tsig] secret_file is read relative to the zone file", "[tsig]") {
  rblzone::testing::TempDir dir{"tsig-config"};
  {
    std::ofstream(dir.path() / "xfr.key") << kVectorSecretB64 << "\n";
    std::ofstream(dir.path() / "bl.test.toml")
        << "name = \"bl.test\"\n[transfer.tsig]\nkey = \"k\"\nsecret_file = \"xfr.key\"\n";
    std::ofstream(dir.path() / "dbl.test.toml")
        << "name = \"dbl.test\"\nkind = \"domain\"\n[transfer.tsig]\nkey = \"k\"\n"
           "secret = \"c2Vjb25kLXNlY3JldC0xNi1ieXRlcw==\"\n";
  }
  std::string e;
  try {
    core::load_zones(dir.path());
  } catch (const core::ConfigError& x) {
    e = x.what();
  }
  CHECK_THAT(e, Catch::Contains("has another secret"));
  std::filesystem::remove(dir.path() / "dbl.test.toml");
  const auto zones = core::load_zones(dir.path());
  REQUIRE(zones.size() == 1);
  REQUIRE(zones[0].transfer.tsig);
  CHECK(zones[0].transfer.tsig->secret == vector_key().secret);
}

}  // namespace
}  // namespace rblzone::zoneserver::tsig
