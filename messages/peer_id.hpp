#pragma once

#include <array>
#include <string>
#include <string_view>

#include "messages/bytes.hpp"

namespace cairn {

/// A peer's identity: derived from its Ed25519 public key exactly as libp2p
/// does (identity multihash of the protobuf-encoded key, base58btc), so the
/// text form starts with `12D3KooW`. A peer cannot claim another's ID without
/// its private key.
class peer_id {
public:
  peer_id() = default;

  /// The ID of the Ed25519 public key `pub`.
  static peer_id from_ed25519(const std::array<uint8_t, 32>& pub);

  /// True if `text` is a well-formed peer ID: base58btc of an identity
  /// multihash (keys up to 42 bytes, e.g. Ed25519) or of a sha2-256 one.
  static bool is_valid_text(std::string_view text);

  /// The base58btc text form.
  const std::string& to_string() const { return text_; }

  /// The binary multihash.
  const bytes& to_bytes() const { return bin_; }

  bool empty() const { return bin_.empty(); }

  friend bool operator==(const peer_id& x, const peer_id& y) {
    return x.bin_ == y.bin_;
  }
  friend bool operator!=(const peer_id& x, const peer_id& y) {
    return !(x == y);
  }

private:
  bytes bin_;
  std::string text_;
};

} // namespace cairn
