#include "messages/base58.hpp"

#include <algorithm>

namespace cairn {

namespace {

constexpr char base58_alphabet[] =
  "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

int digit_of(char c) {
  const char* p = std::find(base58_alphabet, base58_alphabet + 58, c);
  return p == base58_alphabet + 58 ? -1 : static_cast<int>(p - base58_alphabet);
}

} // namespace

std::string base58_encode(byte_view x) {
  size_t zeros = 0;
  while (zeros < x.size && x.data[zeros] == 0)
    ++zeros;
  // Base-256 to base-58^9 conversion, least significant limb first: nine
  // base-58 digits per 64-bit limb (58^9 * 256 < 2^64) make this about nine
  // times fewer divisions than digit by digit. CIDs are encoded on every
  // log line and error that names them.
  constexpr uint64_t limb_base = 7427658739644928ull; // 58^9
  std::vector<uint64_t> limbs;
  limbs.reserve((x.size - zeros) * 138 / 100 / 9 + 2);
  for (size_t i = zeros; i < x.size; ++i) {
    uint64_t carry = x.data[i];
    for (auto& limb : limbs) {
      carry += limb << 8;
      limb = carry % limb_base;
      carry /= limb_base;
    }
    while (carry != 0) {
      limbs.push_back(carry % limb_base);
      carry /= limb_base;
    }
  }
  std::string out(zeros, '1');
  char digits[9];
  for (size_t l = limbs.size(); l-- > 0;) {
    auto limb = limbs[l];
    for (int d = 8; d >= 0; --d) {
      digits[d] = base58_alphabet[limb % 58];
      limb /= 58;
    }
    // The most significant limb has no leading zero digits.
    int first = 0;
    if (l + 1 == limbs.size())
      while (first < 8 && digits[first] == '1')
        ++first;
    out.append(digits + first, digits + 9);
  }
  return out;
}

std::optional<bytes> base58_decode(std::string_view text, size_t max_len) {
  if (text.size() > max_len)
    return std::nullopt;
  size_t zeros = 0;
  while (zeros < text.size() && text[zeros] == '1')
    ++zeros;
  std::vector<uint8_t> b256((text.size() - zeros) * 733 / 1000 + 1, 0);
  size_t len = 0;
  for (size_t i = zeros; i < text.size(); ++i) {
    int d = digit_of(text[i]);
    if (d < 0)
      return std::nullopt;
    uint32_t carry = static_cast<uint32_t>(d);
    size_t j = 0;
    for (auto it = b256.rbegin(); (carry != 0 || j < len) && it != b256.rend();
         ++it, ++j) {
      carry += 58u * *it;
      *it = static_cast<uint8_t>(carry % 256);
      carry /= 256;
    }
    len = j;
  }
  bytes out(zeros, 0);
  out.insert(out.end(), b256.end() - static_cast<std::ptrdiff_t>(len),
             b256.end());
  return out;
}

void put_uvarint(bytes& out, uint64_t x) {
  while (x >= 0x80) {
    out.push_back(static_cast<uint8_t>(x | 0x80));
    x >>= 7;
  }
  out.push_back(static_cast<uint8_t>(x));
}

bool get_uvarint(byte_view in, size_t& pos, uint64_t& x) {
  x = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= in.size)
      return false;
    uint8_t b = in.data[pos++];
    x |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      // Multiformats varints are minimal: no trailing zero group.
      if (b == 0 && shift > 0)
        return false;
      return shift < 63 || b <= 1;
    }
  }
  return false;
}

} // namespace cairn
