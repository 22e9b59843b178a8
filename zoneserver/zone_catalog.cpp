// Compiling zone configs into the catalog the query path reads.
#include "zoneserver/zone_catalog.hpp"

#include <algorithm>
#include <map>

namespace rblzone::zoneserver {
namespace {

wire::Name to_wire(const std::string& text, const core::ZoneConfig& z, const char* what) {
  wire::Name n;
  if (!wire::name_from_text(text, n)) {
    throw core::ConfigError(z.file.string() + ": " + what + ": not a valid DNS name: '" + text +
                            "'");
  }
  return n;
}

// The SOA RNAME in wire form: "hostmaster@example.org" or "hostmaster.example.org".
std::string rname_text(const std::string& r) {
  std::string out = r;
  std::replace(out.begin(), out.end(), '@', '.');
  return out;
}

}  // namespace

std::shared_ptr<const ZoneCatalog> ZoneCatalog::build(const std::vector<core::ZoneConfig>& zones,
                                                      core::Store& store) {
  auto catalog = std::make_shared<ZoneCatalog>();
  std::map<std::string, core::ZoneId> ids;
  store.env().write([&](core::WriteTxn& txn) {
    ids.clear();
    for (const auto& z : zones) ids[z.name] = store.ensure_zone(txn, z.name).id;
  });
  std::map<std::string, CatalogZone*> by_name;
  for (const auto& z : zones) {
    auto cz = std::make_unique<CatalogZone>();
    cz->config = z;
    cz->id = ids.at(z.name);
    cz->apex = to_wire(z.name, z, "name");
    cz->mname = to_wire(z.soa.mname.empty() ? "ns1." + z.name : z.soa.mname, z, "soa.mname");
    cz->rname = to_wire(rname_text(z.soa.rname.empty() ? "hostmaster." + z.name : z.soa.rname), z,
                        "soa.rname");
    const auto ns = z.ns.empty() ? std::vector<std::string>{"ns1." + z.name} : z.ns;
    for (const auto& n : ns) cz->ns.push_back(to_wire(n, z, "ns"));
    cz->negative_ttl = std::min(z.soa.ttl, z.soa.minimum);
    by_name[z.name] = cz.get();
    catalog->zones_.push_back(std::move(cz));
  }
  for (auto& cz : catalog->zones_) {
    if (cz->config.kind == core::ZoneKind::combined) {
      for (const auto& m : cz->config.members) {
        const auto it = by_name.find(m);
        if (it == by_name.end() || it->second->config.kind == core::ZoneKind::combined) {
          throw core::ConfigError(cz->config.file.string() + ": members: '" + m +
                                  "' is not a non-combined zone");
        }
        cz->sources.push_back(it->second);
      }
    } else {
      cz->sources.push_back(cz.get());
    }
    for (const auto* s : cz->sources) {
      cz->ip_data = cz->ip_data || s->config.kind == core::ZoneKind::ip;
      cz->domain_data = cz->domain_data || s->config.kind == core::ZoneKind::domain;
    }
  }
  std::stable_sort(catalog->zones_.begin(), catalog->zones_.end(),
                   [](const auto& a, const auto& b) { return a->apex.labels > b->apex.labels; });
  for (std::size_t i = 0; i < catalog->zones_.size(); ++i) catalog->zones_[i]->index = i;
  return catalog;
}

const CatalogZone* ZoneCatalog::find(const wire::Name& qname, std::size_t& apex_label) const {
  for (const auto& z : zones_) {
    if (wire::has_suffix(qname, z->apex, apex_label)) return z.get();
  }
  return nullptr;
}

}  // namespace rblzone::zoneserver
