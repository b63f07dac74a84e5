#include "messages/cid.hpp"

#include <cstdio>

#include "messages/base58.hpp"
#include "messages/error.hpp"

namespace cairn {

std::string to_string(multicodec x) {
  switch (x) {
  case multicodec::codex_manifest:
    return "codex-manifest";
  case multicodec::codex_block:
    return "codex-block";
  case multicodec::codex_root:
    return "codex-root";
  }
  return "unknown";
}

std::string to_string(const block_address& x) {
  return x.tree.to_string() + "/" + std::to_string(x.index);
}

bytes cid::to_bytes() const {
  bytes out;
  out.reserve(38);
  put_uvarint(out, 1);
  put_uvarint(out, static_cast<uint64_t>(codec));
  put_uvarint(out, sha2_256_code);
  put_uvarint(out, digest.size());
  out.insert(out.end(), digest.begin(), digest.end());
  return out;
}

std::string cid::to_string() const {
  auto bin = to_bytes();
  return "z" + base58_encode(bin);
}

caf::expected<cid> cid::from_bytes(byte_view in) {
  size_t pos = 0;
  uint64_t version = 0, codec = 0, hash = 0, len = 0;
  if (!get_uvarint(in, pos, version))
    return make_error(ec::invalid_cid, "truncated version varint");
  if (version != 1)
    return make_error(ec::invalid_cid,
                      "not a CIDv1 (version " + std::to_string(version) + ")");
  if (!get_uvarint(in, pos, codec))
    return make_error(ec::invalid_cid, "truncated codec varint");
  if (!get_uvarint(in, pos, hash) || !get_uvarint(in, pos, len))
    return make_error(ec::invalid_cid, "truncated multihash header");
  // Structure first: a truncated or padded CID is invalid whatever its codec.
  if (in.size - pos != len)
    return make_error(ec::invalid_cid,
                      "multihash length " + std::to_string(len) +
                        " does not match the " + std::to_string(in.size - pos) +
                        " digest bytes");
  if (hash != sha2_256_code)
    return make_error(ec::unsupported_cid, "multihash is not sha2-256");
  if (len != 32)
    return make_error(ec::invalid_cid, "sha2-256 digest must be 32 bytes");
  if (codec != static_cast<uint64_t>(multicodec::codex_manifest) &&
      codec != static_cast<uint64_t>(multicodec::codex_block) &&
      codec != static_cast<uint64_t>(multicodec::codex_root)) {
    char hex[24];
    std::snprintf(hex, sizeof(hex), "0x%llx",
                  static_cast<unsigned long long>(codec));
    return make_error(ec::unsupported_cid,
                      std::string{"codec "} + hex + " is not a Codex codec");
  }
  cid out;
  out.codec = static_cast<multicodec>(codec);
  std::copy(in.data + pos, in.data + pos + 32, out.digest.begin());
  return out;
}

caf::expected<cid> cid::parse(std::string_view text) {
  if (text.empty())
    return make_error(ec::invalid_cid, "empty CID");
  if (text.front() != 'z')
    return make_error(ec::invalid_cid,
                      "only multibase base58btc ('z' prefix) is accepted");
  auto bin = base58_decode(text.substr(1), 128);
  if (!bin)
    return make_error(ec::invalid_cid, "invalid base58btc text");
  return from_bytes(*bin);
}

} // namespace cairn
