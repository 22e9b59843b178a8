// Fuzz target: rbldnsd data files of every type. Never crashes; every
// entry is a valid subject and every range splits into prefixes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "importer/rbldnsd_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rblzone::importer;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto t : {DatasetType::ip4set, DatasetType::ip4tset, DatasetType::ip4trie,
                       DatasetType::ip6trie, DatasetType::dnset, DatasetType::combined}) {
    const auto d = parse_rbldnsd(text, t, "@");
    for (const auto& e : d.entries) {
      if (rblzone::core::to_string(e.subject).empty()) std::abort();
    }
  }
  return 0;
}
