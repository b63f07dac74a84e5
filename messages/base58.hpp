#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "messages/bytes.hpp"

namespace cairn {

/// Base58 (Bitcoin alphabet) encoding of `x`, as multibase `z` uses it.
std::string base58_encode(byte_view x);

/// Decodes Base58 text; `std::nullopt` if it has a character outside the
/// alphabet or is longer than `max_len` characters.
std::optional<bytes> base58_decode(std::string_view text, size_t max_len = 256);

/// Unsigned LEB128 varint, as multiformats use it.
void put_uvarint(bytes& out, uint64_t x);

/// Reads a varint at `pos`, advancing it; `false` on truncation or overflow.
bool get_uvarint(byte_view in, size_t& pos, uint64_t& x);

} // namespace cairn
