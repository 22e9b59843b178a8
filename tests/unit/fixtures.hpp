// Zone configs and listings as the unit tests build them by hand: the
// smallest valid value, which each test then adjusts.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "core/listing.hpp"

namespace rblzone::testing {

inline core::ZoneConfig zone(const std::string& name, core::ZoneKind kind = core::ZoneKind::ip) {
  core::ZoneConfig z;
  z.file = name + ".toml";
  z.name = name;
  z.kind = kind;
  return z;
}

inline core::Listing listing(std::vector<std::uint32_t> codes, std::string reason = "",
                             std::int64_t expires = 0) {
  core::Listing l;
  l.codes = std::move(codes);
  l.reason = std::move(reason);
  l.expires = expires;
  return l;
}

}  // namespace rblzone::testing
