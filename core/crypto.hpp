// The few cryptographic primitives rblzone needs, from OpenSSL: SHA-256 for
// stored token hashes, HMAC-SHA256 for TSIG, random bytes for tokens and
// request ids, and a constant-time comparison.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rblzone::core {

using Sha256 = std::array<std::uint8_t, 32>;

Sha256 sha256(std::string_view data);
Sha256 hmac_sha256(std::string_view key, std::string_view data);

// `n` bytes from the kernel's CSPRNG. Throws std::runtime_error on failure.
std::string random_bytes(std::size_t n);

// Lowercase hex of `data`.
std::string to_hex(std::string_view data);
inline std::string to_hex(const Sha256& d) {
  return to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

// Decodes standard base64 (RFC 4648, padding required, no whitespace);
// nullopt if `text` is not that.
std::optional<std::string> base64_decode(std::string_view text);

// Compares without a data-dependent early exit (the lengths are not secret).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace rblzone::core
