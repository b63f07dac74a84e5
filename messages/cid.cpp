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

namespace {

// RFC 4648 base32, lowercase, without padding (multibase 'b'); nullopt if
// `text` is not that.
std::optional<bytes> base32_decode(std::string_view text) {
  bytes out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'a' && c <= 'z')
      v = c - 'a';
    else if (c >= '2' && c <= '7')
      v = c - '2' + 26;
    else
      return std::nullopt;
    acc = (acc << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
    }
    acc &= (1u << bits) - 1;
  }
  // Left-over bits are padding: fewer than 5, all zero.
  if (bits >= 5 || acc != 0)
    return std::nullopt;
  return out;
}

} // namespace

caf::expected<cid> cid::parse(std::string_view text) {
  if (text.empty())
    return make_error(ec::invalid_cid, "empty CID");
  if (text.front() == 'b') {
    auto bin = text.size() <= 256 ? base32_decode(text.substr(1))
                                  : std::optional<bytes>{};
    if (!bin)
      return make_error(ec::invalid_cid, "invalid base32 text");
    return from_bytes(*bin);
  }
  if (text.front() != 'z')
    return make_error(ec::invalid_cid, "only multibase base58btc ('z' "
                                       "prefix) or base32 ('b') is accepted");
  auto bin = base58_decode(text.substr(1), 128);
  if (!bin)
    return make_error(ec::invalid_cid, "invalid base58btc text");
  return from_bytes(*bin);
}

bool cid::is_foreign(std::string_view text) {
  if (text.size() == 46 && text.substr(0, 2) == "Qm") {
    // CIDv0: a bare sha2-256 multihash in base58btc.
    auto bin = base58_decode(text, 64);
    return bin && bin->size() == 34 && (*bin)[0] == 0x12 && (*bin)[1] == 0x20;
  }
  // A CIDv1 whose structure `parse` accepts, of another codec or hash.
  auto parsed = parse(text);
  return !parsed && is(parsed.error(), ec::unsupported_cid);
}

} // namespace cairn
