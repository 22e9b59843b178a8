// A zone's listings as DNS records, for AXFR, IXFR and the BIND export: the
// one place that decides which prefixes go out as wildcards, which are
// expanded, and which names must exist to stop a wildcard.
//
// For every address, a secondary serving these records answers what
// answer() answers, with the differences listed in docs/scale-out.md
// ("What a secondary answers differently"): an excluded (or RFC 5782
// never-listed) address under a listed wildcard is NODATA with an HINFO
// placeholder instead of NXDOMAIN; "$" in the TXT of a wildcard is the
// listed prefix or domain; names that are not addresses (too many labels,
// not octets or nibbles) under a wildcard match it.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/store.hpp"
#include "zoneserver/zone_catalog.hpp"

namespace rblzone::zoneserver {

// One resource record. `owner` is the owner relative to the zone apex in
// wire form without the root label (empty: the apex itself), lowercase;
// `rdata` is uncompressed wire form. Both are valid during the callback only.
struct ZoneRecord {
  std::string_view owner;
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::string_view rdata;
};

// Returns false to stop the walk.
using RecordSink = std::function<bool(const ZoneRecord&)>;

// HINFO "rblzone" "not-listed": the record that makes an excluded name exist.
inline constexpr std::uint16_t kPlaceholderType = 13;

// The zone's SOA serial: its own from the store, or for a combined zone the
// sum (mod 2^32) of its members' serials, which grows by one with every
// change to any member (RFC 1982 arithmetic holds while fewer than 2^31
// changes happen between two reads).
std::uint32_t zone_serial(const CatalogZone& zone, const core::Store& store,
                          const core::ReadTxn& txn);

// The apex SOA's RDATA with `serial`.
std::string soa_rdata(const CatalogZone& zone, std::uint32_t serial);

// Listings to use instead of what the store holds, by core::listing_key
// (nullopt: absent). IXFR uses them to rebuild an older state of the zone.
struct ListingOverride {
  core::Subject subject;
  std::optional<core::Listing> listing;
};
using ListingOverrides = std::map<std::string, ListingOverride>;

// The parts of a zone an IXFR recomputes: records outside them are the same
// before and after the changes. Each IP region is a node (an IPv4 /8, or an
// IPv6 /32, or ::ffff:A.0.0.0/104 in the nibble tree) with no wildcard above
// it, so what lies below it depends only on the listings overlapping it.
struct ZoneRegions {
  std::vector<core::IpPrefix> ip;
  std::vector<std::string> domains;  // lowercase names, no covering subtree listing above
};

// The regions holding `changed` (subjects whose listing differs between the
// store and `old`), or nullopt when some change is not confined to one (a
// prefix shorter than its region, a covering listing above it): then the
// whole zone must be compared. For a combined zone `old` holds its members'
// listings (keyed with each member's id), and a listing of any member above
// a region counts.
std::optional<ZoneRegions> change_regions(const CatalogZone& zone, const core::ReadTxn& txn,
                                          const ListingOverrides& old);

// Leaves out no listing for having expired: transfers serve the store's
// state, whose expired rows the sweeper deletes (and so journals).
inline constexpr std::int64_t kIgnoreExpiry = std::numeric_limits<std::int64_t>::min();

// Emits the apex NS records, then every record the zone's listings (its own,
// or a combined zone's members') produce as of `now` (kIgnoreExpiry: all);
// not the SOA. `overrides` replace stored listings (a combined zone's: its
// members', each keyed with the member's id). Order: the IPv4 octet tree, the nibble tree, then
// domains; each depth-first. Returns false if the sink stopped the walk. Throws core::StoreError.
// Without overrides and regions the records are streamed: the listings are
// read through cursors of `txn` as the walk goes, so the first records come
// after a few listings at any zone size and memory stays small; with them,
// the listings are collected and sorted first.
bool zone_records(const CatalogZone& zone, const core::Store& store, const core::ReadTxn& txn,
                  std::int64_t now, const RecordSink& sink,
                  const ListingOverrides* overrides = nullptr,
                  const ZoneRegions* regions = nullptr);

// How many stored listings zone_records has read on this thread so far (a
// test hook: a streamed transfer sends its first records after a few).
std::uint64_t listings_read();

// Presentation form of a relative owner ("*.2.0.192", "@" for the apex).
std::string owner_text(std::string_view owner);

}  // namespace rblzone::zoneserver
