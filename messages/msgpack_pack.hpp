#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "messages/bytes.hpp"

namespace cairn {

/// A msgpack str: its length header, then its bytes. `Packer` is any
/// `msgpack::packer`, whatever buffer it writes to.
template <class Packer>
void pack_str(Packer& pk, std::string_view s) {
  pk.pack_str(static_cast<uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

/// A msgpack bin: its length header, then its bytes (none for an empty one,
/// whose data pointer may be null).
template <class Packer>
void pack_bin(Packer& pk, const uint8_t* data, size_t size) {
  pk.pack_bin(static_cast<uint32_t>(size));
  if (size > 0)
    pk.pack_bin_body(reinterpret_cast<const char*>(data),
                     static_cast<uint32_t>(size));
}

template <class Packer>
void pack_bin(Packer& pk, const bytes& b) {
  pack_bin(pk, b.data(), b.size());
}

} // namespace cairn
