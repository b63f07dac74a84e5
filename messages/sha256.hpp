#pragma once

#include <array>
#include <cstdint>

#include "messages/bytes.hpp"

namespace cairn {

/// A SHA-256 digest.
using digest256 = std::array<uint8_t, 32>;

/// SHA-256 of `x` (OpenSSL; uses SHA-NI where the CPU has it). Thread-safe.
digest256 sha256(byte_view x);

/// SHA-256 of `a ‖ b ‖ key`: the CodexTree node compression.
digest256 sha256_pair(const digest256& a, const digest256& b, uint8_t key);

} // namespace cairn
