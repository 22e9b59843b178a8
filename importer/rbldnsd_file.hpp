// rbldnsd data files (ip4set, ip4tset, ip4trie, ip6trie, dnset, combined),
// read into listings for moving an existing list over: keys, ranges
// (decomposed into CIDR prefixes), '!' exclusions and ":A:TXT" values, as
// rbldnsd(8) describes them (see /work/shared/reference/peers.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/subject.hpp"

namespace rblzone::importer {

enum class DatasetType { ip4set, ip4tset, ip4trie, ip6trie, dnset, combined };
std::optional<DatasetType> parse_dataset_type(std::string_view s);

struct RbldnsdEntry {
  core::Subject subject;
  bool exclusion = false;
  std::uint32_t code = 0x7f000002;  // host order
  std::optional<std::string> txt;   // nullopt: rbldnsd answers no TXT
  std::size_t line = 0;
};

struct RbldnsdProblem {
  std::size_t line = 0;
  std::string reason;
};

struct RbldnsdData {
  std::vector<RbldnsdEntry> entries;
  std::vector<RbldnsdProblem> problems;  // lines skipped, with why
  std::size_t lines = 0;
};

// Parses a whole file. For `combined`, only the datasets serving `subzone`
// ("@" = the base zone) are read. Never throws on bad lines: they become
// problems.
RbldnsdData parse_rbldnsd(std::string_view text, DatasetType type, std::string_view subzone = "@");

// The prefixes covering [lo, hi] (IPv4, host order), fewest first-to-last.
std::vector<core::IpPrefix> range_to_prefixes(std::uint32_t lo, std::uint32_t hi);

}  // namespace rblzone::importer
