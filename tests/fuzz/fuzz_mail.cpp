// Fuzz target: a trap message through GMime and the Received walk, the same
// bytes as one Received header, a trap-log line and a Postfix line. None may
// crash; a relay found is always one host address.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "importer/mailbox.hpp"
#include "importer/postfix_log.hpp"
#include "importer/received.hpp"
#include "importer/traplog.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rblzone::importer;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  TrustedHops trusted;
  trusted.prefixes.push_back(*rblzone::core::IpPrefix::parse("10.0.0.0/8"));
  trusted.hosts = {"relay.example.org", ".example.net"};
  MessageFacts facts;
  std::string error;
  if (parse_message(bytes, facts, error)) {
    const auto walk = first_untrusted(facts.received, trusted);
    if (walk.relay && !walk.relay->is_host()) std::abort();
  }
  const auto hop = parse_received(bytes);
  if (hop.address && !hop.address->is_host()) std::abort();
  TrapHit hit;
  (void)parse_trap_line(bytes, hit, error);
  SmtpdClient c;
  (void)parse_postfix_line(bytes, 1795356120, c, error);
  return 0;
}
