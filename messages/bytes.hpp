#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cairn {

/// A plain byte vector.
using bytes = std::vector<uint8_t>;

/// An immutable, reference-counted byte buffer. Blocks move through the node
/// (store → stream → HTTP writer) as one of these, never copied.
using shared_bytes = std::shared_ptr<const bytes>;

/// A non-owning view of bytes.
struct byte_view {
  const uint8_t* data = nullptr;
  size_t size = 0;

  byte_view() = default;
  byte_view(const uint8_t* d, size_t n) : data(d), size(n) {}
  byte_view(const bytes& b) : data(b.data()), size(b.size()) {}
  byte_view(std::string_view s)
    : data(reinterpret_cast<const uint8_t*>(s.data())), size(s.size()) {}
};

/// Lowercase hex of `x`.
std::string to_hex(byte_view x);

} // namespace cairn
