#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "messages/bytes.hpp"

namespace cairn {

/// Base64url (RFC 4648 §5: alphabet `A-Z a-z 0-9 - _`) of `x`, without `=`
/// padding, as the `spr:` text form uses it. Thread-safe.
std::string base64url_encode(byte_view x);

/// Decodes base64url text. Accepts text without padding, or with exactly the
/// padding RFC 4648 prescribes (total length a multiple of 4). Returns
/// `std::nullopt` for a character outside the alphabet (including `+`, `/`
/// and whitespace), misplaced or wrong padding, an impossible length
/// (`len % 4 == 1`), non-zero unused bits in the last character (so every
/// byte string has exactly one accepted unpadded form), or text longer than
/// `max_len` characters. Thread-safe.
std::optional<bytes> base64url_decode(std::string_view text,
                                      size_t max_len = 1 << 20);

} // namespace cairn
