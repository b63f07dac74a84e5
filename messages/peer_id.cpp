#include "messages/peer_id.hpp"

#include "messages/base58.hpp"

namespace cairn {

peer_id peer_id::from_ed25519(const std::array<uint8_t, 32>& pub) {
  // libp2p PublicKey protobuf: field 1 (KeyType) = 1 (Ed25519), field 2 (Data).
  bytes key{0x08, 0x01, 0x12, 0x20};
  key.insert(key.end(), pub.begin(), pub.end());
  // Keys of at most 42 bytes use the identity multihash (code 0x00).
  peer_id out;
  out.bin_ = {0x00, static_cast<uint8_t>(key.size())};
  out.bin_.insert(out.bin_.end(), key.begin(), key.end());
  out.text_ = base58_encode(out.bin_);
  return out;
}

bool peer_id::is_valid_text(std::string_view text) {
  auto bin = base58_decode(text, 128);
  if (!bin || bin->size() < 2)
    return false;
  auto code = (*bin)[0];
  auto len = (*bin)[1];
  if (len != bin->size() - 2)
    return false;
  return (code == 0x00 && len <= 42) || (code == 0x12 && len == 32);
}

} // namespace cairn
