// Building DNS messages byte by byte for the unit tests: big-endian integers
// and uncompressed names.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace rblzone::testing {

using Bytes = std::vector<std::uint8_t>;

inline void put8(Bytes& b, unsigned v) {
  b.push_back(static_cast<std::uint8_t>(v));
}
inline void put16(Bytes& b, unsigned v) {
  put8(b, (v >> 8) & 0xff);
  put8(b, v & 0xff);
}
inline void put32(Bytes& b, std::uint32_t v) {
  put16(b, v >> 16);
  put16(b, v & 0xffff);
}
// Appends "a.b.c" as uncompressed labels and the root.
inline void put_name(Bytes& b, std::string_view text) {
  std::size_t start = 0;
  while (start < text.size()) {
    auto dot = text.find('.', start);
    if (dot == std::string_view::npos) dot = text.size();
    put8(b, static_cast<unsigned>(dot - start));
    for (std::size_t i = start; i < dot; ++i) put8(b, static_cast<unsigned char>(text[i]));
    start = dot + 1;
  }
  put8(b, 0);
}

}  // namespace rblzone::testing
