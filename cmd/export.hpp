// `rblzone export --format bind|rbldnsd ZONE`: a zone as a BIND master file
// (the records a secondary gets by AXFR) or as an rbldnsd "combined" data
// file (one ip4trie/ip6trie/dnset section per source zone).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/store.hpp"

namespace rblzone::cli {

// Writes the export to `out`. Throws std::invalid_argument for an unknown
// zone or format, core::StoreError when the store cannot be read.
void export_zone(const std::vector<core::ZoneConfig>& zones, core::Store& store,
                 const std::string& zone, const std::string& format, std::int64_t now,
                 std::ostream& out);

}  // namespace rblzone::cli
