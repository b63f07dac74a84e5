#include "messages/base64url.hpp"

#include <array>

namespace cairn {

namespace {

constexpr char base64url_alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Inverse of `base64url_alphabet`: 0..63, or -1 for characters outside it.
constexpr std::array<int8_t, 256> make_inverse() {
  std::array<int8_t, 256> inv{};
  for (auto& x : inv)
    x = -1;
  for (int i = 0; i < 64; ++i)
    inv[static_cast<uint8_t>(base64url_alphabet[i])] = static_cast<int8_t>(i);
  return inv;
}

constexpr auto inverse = make_inverse();

} // namespace

std::string base64url_encode(byte_view x) {
  std::string out;
  out.reserve((x.size * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= x.size; i += 3) {
    uint32_t v = (uint32_t{x.data[i]} << 16) | (uint32_t{x.data[i + 1]} << 8) |
                 x.data[i + 2];
    out += base64url_alphabet[(v >> 18) & 63];
    out += base64url_alphabet[(v >> 12) & 63];
    out += base64url_alphabet[(v >> 6) & 63];
    out += base64url_alphabet[v & 63];
  }
  size_t rest = x.size - i;
  if (rest == 1) {
    uint32_t v = uint32_t{x.data[i]} << 16;
    out += base64url_alphabet[(v >> 18) & 63];
    out += base64url_alphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    uint32_t v = (uint32_t{x.data[i]} << 16) | (uint32_t{x.data[i + 1]} << 8);
    out += base64url_alphabet[(v >> 18) & 63];
    out += base64url_alphabet[(v >> 12) & 63];
    out += base64url_alphabet[(v >> 6) & 63];
  }
  return out;
}

std::optional<bytes> base64url_decode(std::string_view text, size_t max_len) {
  if (text.size() > max_len)
    return std::nullopt;
  // Padding is optional, but if present it must complete the last quantum.
  if (!text.empty() && text.back() == '=') {
    if (text.size() % 4 != 0)
      return std::nullopt;
    text.remove_suffix(1);
    if (!text.empty() && text.back() == '=')
      text.remove_suffix(1);
  }
  if (text.size() % 4 == 1)
    return std::nullopt;
  bytes out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = inverse[static_cast<uint8_t>(c)];
    if (v < 0)
      return std::nullopt; // also catches '=' in the middle
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  // Leftover bits (2 or 4) must be zero: a canonical encoder never sets them.
  if (acc != 0)
    return std::nullopt;
  return out;
}

} // namespace cairn
