// The zones this server answers for, compiled from their configs into what
// the query path needs: wire-form names, store ids, codes and templates.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/store.hpp"
#include "zoneserver/wire.hpp"

namespace rblzone::zoneserver {

struct CatalogZone {
  core::ZoneConfig config;
  core::ZoneId id = 0;
  wire::Name apex;
  wire::Name mname;
  wire::Name rname;
  std::vector<wire::Name> ns;
  // The zones whose data answers here: itself, or a combined zone's members.
  std::vector<const CatalogZone*> sources;
  bool ip_data = false;            // some source is an IP zone
  bool domain_data = false;        // some source is a domain zone
  std::uint32_t negative_ttl = 0;  // min(SOA TTL, SOA MINIMUM), RFC 2308
  std::size_t index = 0;           // position in the catalog, for counters
};

class ZoneCatalog {
 public:
  // Registers every zone in the store (ids, initial serials) and compiles
  // them. Throws core::ConfigError for names that do not fit the wire.
  static std::shared_ptr<const ZoneCatalog> build(const std::vector<core::ZoneConfig>& zones,
                                                  core::Store& store);

  // The most specific zone containing `qname`; `apex_label` is set to the
  // index of the zone's first label in `qname`. nullptr: not ours.
  const CatalogZone* find(const wire::Name& qname, std::size_t& apex_label) const;
  const std::vector<std::unique_ptr<CatalogZone>>& zones() const { return zones_; }

 private:
  std::vector<std::unique_ptr<CatalogZone>> zones_;  // most labels first
};

}  // namespace rblzone::zoneserver
