#include "messages/sha256.hpp"

#include <openssl/sha.h>

namespace cairn {

digest256 sha256(byte_view x) {
  digest256 out;
  SHA256(x.data, x.size, out.data());
  return out;
}

digest256 sha256_pair(const digest256& a, const digest256& b, uint8_t key) {
  uint8_t buf[65];
  std::copy(a.begin(), a.end(), buf);
  std::copy(b.begin(), b.end(), buf + 32);
  buf[64] = key;
  digest256 out;
  SHA256(buf, sizeof(buf), out.data());
  return out;
}

std::string to_hex(byte_view x) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(x.size * 2);
  for (size_t i = 0; i < x.size; ++i) {
    out += digits[x.data[i] >> 4];
    out += digits[x.data[i] & 0x0f];
  }
  return out;
}

} // namespace cairn
