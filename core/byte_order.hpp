// Big-endian integer encoding for keys and values: byte order = numeric order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rblzone::core {

template <typename T>
void put_be(std::string& out, T v) {
  for (int i = static_cast<int>(sizeof(T)) - 1; i >= 0; --i) {
    out.push_back(static_cast<char>(static_cast<std::uint64_t>(v) >> (i * 8)));
  }
}

template <typename T>
T get_be(const unsigned char* p) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v = (v << 8) | p[i];
  return static_cast<T>(v);
}

template <typename T>
T get_be(std::string_view s, std::size_t offset) {
  return get_be<T>(reinterpret_cast<const unsigned char*>(s.data()) + offset);  // NOLINT
}

}  // namespace rblzone::core
