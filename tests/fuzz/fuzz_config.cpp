// Fuzz target: the TOML daemon and zone config parsers (core/config). Any
// text either parses into a config or throws ConfigError; any other
// exception escapes and libFuzzer reports it as a crash. A parsed zone
// config must satisfy what the rest of the daemon relies on.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rblzone::core;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto z = parse_zone_config(text, "fuzz-zone.toml");
    if (z.name.empty() || z.ns.empty()) std::abort();
    if (z.codes.at("listed") != z.default_code) std::abort();
    for (const auto& [name, code] : z.codes) {
      if ((code >> 24) != 127 || code == 0x7f000001 || (code & 0xffffff00) == 0x7fffff00)
        std::abort();
    }
  } catch (const ConfigError&) {
  }
  try {
    const auto d = parse_daemon_config(text, "fuzz-daemon.toml");
    if (d.edns_udp_size < 512) std::abort();
  } catch (const ConfigError&) {
  }
  return 0;
}
