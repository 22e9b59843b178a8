// Fuzz target: the wire parser and the whole answer path over an in-memory
// store with a few listings, so every byte sequence goes through parse,
// lookup and response building. The response must never exceed the limits.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "core/config.hpp"
#include "core/store.hpp"
#include "zoneserver/answerer.hpp"
#include "zoneserver/zone_catalog.hpp"

namespace {

using namespace rblzone;

struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<core::Store> store;
  std::shared_ptr<const zoneserver::ZoneCatalog> catalog;
  std::unique_ptr<zoneserver::Snapshot> snapshot;

  Fixture() {
    char tmpl[] = "/tmp/rblzone-fuzz-XXXXXX";
    dir = mkdtemp(tmpl);
    store = std::make_unique<core::Store>(dir, [] { return std::int64_t{1700000000}; });
    std::vector<core::ZoneConfig> zones(3);
    zones[0].name = "dnsbl.test";
    zones[1].name = "rhsbl.test";
    zones[1].kind = core::ZoneKind::domain;
    zones[2].name = "zen.test";
    zones[2].kind = core::ZoneKind::combined;
    zones[2].members = {"dnsbl.test", "rhsbl.test"};
    catalog = zoneserver::ZoneCatalog::build(zones, *store);
    store->env().write([&](core::WriteTxn& txn) {
      const auto ip = store->ensure_zone(txn, "dnsbl.test");
      const auto dom = store->ensure_zone(txn, "rhsbl.test");
      core::Listing l;
      l.codes = {0x7f000002, 0x7f000003};
      l.reason = "fuzz";
      for (const char* s : {"192.0.2.0/24", "203.0.113.7", "2001:db8::/32", "10.0.0.0/8"}) {
        store->put(txn, ip, *core::parse_subject(s), l, {"fuzz", "list", "fuzz"});
      }
      core::Listing ex;
      ex.flags = core::kFlagExclusion;
      store->put(txn, ip, *core::parse_subject("192.0.2.5"), ex, {"fuzz", "exclude", "fuzz"});
      store->put(txn, dom, *core::parse_subject("*.spammer.example"), l, {"fuzz", "list", "fuzz"});
    });
    snapshot = std::make_unique<zoneserver::Snapshot>(*store);
  }
  ~Fixture() { std::filesystem::remove_all(dir); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture f;
  static std::uint8_t out[65535];
  for (const auto transport : {zoneserver::Transport::udp, zoneserver::Transport::tcp}) {
    rblzone::zoneserver::wire::Writer w(out, sizeof out);
    zoneserver::Client client{core::IpPrefix::v4(0x7f000001, 32).bytes(), transport};
    f.snapshot->renew();
    const auto outcome =
        zoneserver::answer(data, size, client, *f.catalog, *f.snapshot, 1700000000, {}, w, nullptr);
    f.snapshot->reset();
    if (outcome == zoneserver::Outcome::drop) continue;
    if (transport == zoneserver::Transport::udp && w.size() > 1232) std::abort();
    // No amplification: an answer to something that is not a well-formed
    // query is never larger than the query.
    rblzone::zoneserver::wire::Query q;
    const auto st = rblzone::zoneserver::wire::parse_query(data, size, q);
    if (st == rblzone::zoneserver::wire::ParseStatus::formerr && w.size() > size) std::abort();
    if (w.size() < 12) std::abort();
  }
  return 0;
}
