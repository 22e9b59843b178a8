// Answers one DNS query from (query bytes, a read snapshot of the store, the
// zone catalog) into a response buffer. The whole plan is in answer(); the
// transports only decode, call it, and send what comes back.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/store.hpp"
#include "zoneserver/wire.hpp"
#include "zoneserver/zone_catalog.hpp"

namespace rblzone::zoneserver {

enum class Transport { udp, tcp };

struct Client {
  core::IpPrefix::Bytes addr{};  // IPv4 as ::ffff:a.b.c.d
  Transport transport = Transport::udp;
};

// One worker's read view: a read transaction renewed (not reopened) for each
// batch of queries, and the cursors that belong to it.
class Snapshot {
 public:
  explicit Snapshot(core::Store& store);
  // Takes a fresh snapshot. False (and the store error logged by the caller)
  // when the store cannot be read: queries must then get SERVFAIL.
  bool renew();
  void reset();
  bool valid() const { return valid_; }
  // True when a transaction was committed after this snapshot began.
  bool stale() const;
  core::Cursor& ip() { return *ip_; }
  core::Cursor& domain() { return *domain_; }
  const core::ReadTxn& txn() const { return *txn_; }
  std::uint32_t serial(const CatalogZone& z);
  core::Store& store() { return store_; }

 private:
  core::Store& store_;
  std::optional<core::ReadTxn> txn_;
  std::optional<core::Cursor> ip_;
  std::optional<core::Cursor> domain_;
  bool valid_ = false;
  std::vector<std::pair<core::ZoneId, std::uint32_t>> serials_;
};

// Per-worker counters, read (racily but harmlessly) by the metrics exporter.
struct QueryStats {
  std::atomic<std::uint64_t> queries{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> listed{0};
  std::atomic<std::uint64_t> not_listed{0};
  std::atomic<std::uint64_t> refused_acl{0};
  std::atomic<std::uint64_t> truncated{0};
  std::atomic<std::uint64_t> rrl_dropped{0};  // response-rate limiting (rrl.hpp)
  std::atomic<std::uint64_t> rrl_slipped{0};
  std::array<std::atomic<std::uint64_t>, 24> rcode{};
  static constexpr std::size_t kLatencyBuckets = 24;  // bucket i: < 2^i * 128 ns
  std::array<std::atomic<std::uint64_t>, kLatencyBuckets> latency{};
  std::vector<std::atomic<std::uint64_t>> per_zone;  // by CatalogZone::index
  explicit QueryStats(std::size_t zones = 64) : per_zone(zones) {}
  void count_latency(std::uint64_t ns);
};

struct AnswerOptions {
  std::uint16_t edns_udp_size = 1232;
};

// The answer is in `out` (its size is the response length), or nothing is
// to be sent (drop).
enum class Outcome { answer, drop };

struct Matched;  // zoneserver/hot_subjects.hpp

// `matched`, when given, says which listing a listed answer matched (its
// `listed` is false for every other answer), for the caller to count.
Outcome answer(const std::uint8_t* query, std::size_t size, const Client& client,
               const ZoneCatalog& catalog, Snapshot& snapshot, std::int64_t now,
               const AnswerOptions& options, wire::Writer& out, QueryStats* stats,
               Matched* matched = nullptr);

// What one name of a zone holds: the step answer() takes after access
// control, for callers that build their own records (the PowerDNS backend).
struct NameAnswer {
  enum class Kind {
    listed,    // codes (the A records) and txt (the TXT record)
    empty,     // exists with no records: the apex, or an empty non-terminal
    nxdomain,  // does not exist
    servfail,  // the store could not be read: never "not listed"
  };
  Kind kind = Kind::nxdomain;
  std::uint32_t codes[16] = {};  // host order
  std::size_t ncodes = 0;
  char txt[255] = {};  // printable, not quoted
  std::size_t txt_size = 0;
};

// `rel` is the number of labels of `qname` left of `zone`'s apex, an access
// key label already removed (0: the apex itself). Allocation-free; `now` is
// unix seconds (a listing expiring at or before it is absent). The snapshot
// must be valid.
NameAnswer lookup_name(const wire::Name& qname, std::size_t rel, const CatalogZone& zone,
                       Snapshot& snapshot, std::int64_t now);

}  // namespace rblzone::zoneserver
