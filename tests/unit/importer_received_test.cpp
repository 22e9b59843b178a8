// Received headers as real MTAs write them, and the trusted-hop walk.
#include <catch2/catch.hpp>

#include "importer/received.hpp"

namespace rblzone::importer {
namespace {

std::string addr_of(const Hop& h) {
  return h.address ? h.address->to_string() : "-";
}

TEST_CASE("Received: the client address as each MTA writes it", "[importer][received]") {
  struct Case {
    const char* mta;
    const char* value;
    const char* address;
    const char* rdns;
  };
  const Case cases[] = {
      {"postfix",
       "from fake.helo (unknown [45.1.2.3])\r\n\tby mx.example.org (Postfix) with ESMTPS id "
       "4Xyz\r\n\tfor <trap@example.org>; Sun, 22 Nov 2026 14:02:03 +0000 (UTC)",
       "45.1.2.3", ""},
      {"postfix rdns",
       "from relay1 (relay1.example.org [10.1.1.1]) by mx.example.org (Postfix) with ESMTP id 1",
       "10.1.1.1", "relay1.example.org"},
      {"postfix ipv6",
       "from spam.example (unknown [IPv6:2a01:4f8:1:2::3]) by mx.example.org (Postfix) with ESMTP "
       "id 2",
       "2a01:4f8:1:2::3", ""},
      {"exim",
       "from [45.1.2.4] (port=51234 helo=spammer) by mx.example.org with esmtp (Exim 4.96)\n "
       "(envelope-from <x@y.example>) id 1abc-000 for trap@example.org; Sun, 22 Nov 2026 14:02:03 "
       "+0000",
       "45.1.2.4", ""},
      {"exim rdns",
       "from host.spam.example ([45.1.2.5]:40000 helo=fake.example) by mx.example.org with esmtp "
       "(Exim 4.96) id 1",
       "45.1.2.5", "host.spam.example"},
      {"sendmail",
       "from fake.helo (host.spam.example [45.1.2.6] (may be forged)) by mx.example.org "
       "(8.15.2/8.15.2) with ESMTP id 2AMExyz; Sun, 22 Nov 2026",
       "45.1.2.6", ""},
      {"sendmail rdns",
       "from relay (relay.example.org [10.1.1.2]) by mx.example.org (8.15.2/8.15.2) with ESMTP id "
       "3",
       "10.1.1.2", "relay.example.org"},
      {"exchange",
       "from EXCH01.corp.example (45.1.2.7) by EXCH02.corp.example (10.0.0.6) with Microsoft SMTP "
       "Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.1.2507.6; Sun, "
       "22 Nov 2026 14:02:03 +0000",
       "45.1.2.7", ""},
      {"exchange ipv6",
       "from EXCH01.corp.example (2a01:4f8::7) by EXCH02.corp.example (2a01:4f8::6) with Microsoft "
       "SMTP Server id 15.1.2507.6",
       "2a01:4f8::7", ""},
      {"gmail",
       "from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41])\r\n        by "
       "mx.google.com with SMTPS id x12sor123.2026.11.22\r\n        for <trap@gmail.com>; Sun, 22 "
       "Nov 2026 06:02:03 -0800 (PST)",
       "209.85.220.41", "mail-sor-f41.google.com"},
      {"gmail ipv6",
       "from mail-wr1-x42f.google.com (mail-wr1-x42f.google.com. [2a00:1450:4864:20::42f]) by "
       "mx.google.com with ESMTPS id y5si",
       "2a00:1450:4864:20::42f", "mail-wr1-x42f.google.com"},
      {"v4-mapped", "from x (unknown [::ffff:45.1.2.8]) by mx.example.org (Postfix)", "45.1.2.8",
       ""},
  };
  for (const auto& c : cases) {
    INFO(c.mta);
    const auto h = parse_received(c.value);
    CHECK(h.has_from);
    CHECK(addr_of(h) == c.address);
    CHECK(h.rdns == c.rdns);
  }
}

TEST_CASE("Received: local injections and malformed headers", "[importer][received]") {
  CHECK_FALSE(
      parse_received("by mx.example.org (Postfix, from userid 1000) id 4X; Sun, 22 Nov 2026")
          .has_from);
  const auto no_addr = parse_received("from somewhere by mx.example.org with SMTP");
  CHECK(no_addr.has_from);
  CHECK_FALSE(no_addr.address);
  CHECK_FALSE(parse_received("from x ([999.1.2.3]) by y").address);
  CHECK_FALSE(parse_received("from x ([45.1.2.0/24]) by y").address);
  CHECK_FALSE(parse_received("from").has_from);
  CHECK_FALSE(parse_received("").has_from);
  CHECK_FALSE(parse_received("from x ([45.1.2.3 by y").address);  // unterminated
}

TEST_CASE("Received walk: past trusted hops to the first untrusted relay", "[importer][received]") {
  TrustedHops trusted;
  trusted.prefixes.push_back(*core::IpPrefix::parse("10.1.0.0/16"));
  trusted.hosts = {"relay.example.org", ".filter.example.org"};
  const std::string local = "by mx.example.org (Postfix, from userid 0) id 1";
  const std::string from_relay =
      "from relay1 (relay1.example.org [10.1.1.1]) by mx.example.org (Postfix) id 2";
  const std::string from_filter =
      "from f (scan3.filter.example.org [45.9.9.9]) by relay1.example.org (Postfix) id 3";
  const std::string from_spammer =
      "from helo.spam (unknown [45.1.2.3]) by scan3.filter.example.org (Postfix) id 4";
  // Written by the spammer below the first untrusted hop: never read.
  const std::string forged =
      "from innocent (innocent.example [45.7.7.7]) by relay.example.org (Postfix) id 5";

  auto r = first_untrusted({local, from_relay, from_filter, from_spammer, forged}, trusted);
  REQUIRE(r.relay);
  CHECK(r.relay->to_string() == "45.1.2.3");

  // A HELO naming our relay does not make a hop trusted.
  const std::string helo_lie =
      "from relay.example.org (unknown [45.1.2.9]) by mx.example.org (Postfix) id 6";
  r = first_untrusted({helo_lie, forged}, trusted);
  REQUIRE(r.relay);
  CHECK(r.relay->to_string() == "45.1.2.9");

  // Every hop trusted, none at all, or a hop without an address.
  r = first_untrusted({from_relay}, trusted);
  CHECK_FALSE(r.relay);
  CHECK(r.problem.find("every hop trusted") != std::string::npos);
  CHECK(first_untrusted({}, trusted).problem == "no Received header");
  r = first_untrusted({from_relay, "from garbage by mx"}, trusted);
  CHECK_FALSE(r.relay);
  CHECK(r.problem == "Received header 2 names no relay address");
}

}  // namespace
}  // namespace rblzone::importer
