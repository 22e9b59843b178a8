// Zone transfer over TCP: AXFR (RFC 5936) and IXFR (RFC 1995) response
// streams built from zone_content. The TCP transport hands a transfer
// query here and sends each message this produces, in order.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/store.hpp"
#include "zoneserver/answerer.hpp"
#include "zoneserver/zone_catalog.hpp"

namespace rblzone::zoneserver {

// True if the query is a well-formed AXFR or IXFR request (the TCP
// transport then calls serve_transfer instead of answer()).
bool is_transfer_query(const std::uint8_t* query, std::size_t size);

// Called with each complete DNS message (no TCP length prefix); returns
// false when the peer is gone, which ends the transfer.
using MessageSink = std::function<bool(const std::uint8_t* data, std::size_t size)>;

struct TransferStats {
  std::string zone;          // empty when the query named no zone of ours
  std::uint32_t serial = 0;  // the serial sent
  std::uint64_t messages = 0;
  std::uint64_t records = 0;
  bool incremental = false;
  bool refused = false;
  std::uint16_t tsig_error = 0;  // why a TSIG check refused it (BADKEY also: unsigned)
};

// Serves one AXFR/IXFR query: REFUSED (one message) when the zone is not
// ours or the client is not in its [transfer] allow list; for IXFR with a
// serial at or past ours, the SOA alone; for IXFR with a serial the journal
// still covers (a combined zone: its members' journals), the differences
// (RFC 1995 condensed form); otherwise the whole zone (an AXFR, or an
// AXFR-style IXFR answer). A zone with a [transfer.tsig] key refuses
// unsigned queries (REFUSED), answers a bad key, signature or time with
// NOTAUTH and the TSIG error, and signs every message of the answer to a
// good one. `now`: unix seconds. Throws core::StoreError when the store
// cannot be read.
TransferStats serve_transfer(const std::uint8_t* query, std::size_t size, const Client& client,
                             const ZoneCatalog& catalog, core::Store& store, std::int64_t now,
                             const MessageSink& send);

// RFC 1982 serial number arithmetic: a is at or after b.
inline bool serial_at_or_after(std::uint32_t a, std::uint32_t b) {
  return a == b || static_cast<std::int32_t>(a - b) > 0;
}

}  // namespace rblzone::zoneserver
