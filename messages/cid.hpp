#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include "messages/bytes.hpp"
#include "messages/sha256.hpp"

namespace cairn {

/// Multicodecs of the Codex data model.
enum class multicodec : uint64_t {
  /// A msgpack-encoded manifest block.
  codex_manifest = 0xcd01,
  /// A data (or parity) block of a dataset.
  codex_block = 0xcd02,
  /// The root of a CodexTree over a dataset's block digests.
  codex_root = 0xcd03,
};

/// Multihash code of SHA2-256, the only hash Cairn uses.
constexpr uint64_t sha2_256_code = 0x12;

/// Name of a codec ("codex-block", ...).
std::string to_string(multicodec x);

/// A CIDv1 with a SHA2-256 multihash and one of the Codex multicodecs.
/// Binary form: varint(1) varint(codec) varint(0x12) varint(32) digest
/// (38 bytes); text form: multibase base58btc, `z` + base58(binary).
struct cid {
  multicodec codec = multicodec::codex_block;
  digest256 digest{};

  /// The CID of `data` under `codec`.
  static cid of(multicodec codec, byte_view data) {
    return cid{codec, sha256(data)};
  }

  /// Parses the text form: base58btc ("z…", what `to_string` gives) or
  /// base32 ("b…"). Errors: `ec::invalid_cid` (bad multibase, base58,
  /// base32, varints or length, or not CIDv1), `ec::unsupported_cid` (other
  /// codec or hash). The context says which part is wrong.
  static caf::expected<cid> parse(std::string_view text);

  /// Parses the binary form; same errors as `parse`.
  static caf::expected<cid> from_bytes(byte_view in);

  /// True if `text` is a well-formed CID that `parse` refuses: a CIDv0
  /// ("Qm…"), or a CIDv1 in base58btc ("z…") or base32 ("b…") of a codec or
  /// hash Codex does not store. Codex takes these and answers them as not
  /// stored; text that is no CID at all is false.
  static bool is_foreign(std::string_view text);

  /// The binary form (38 bytes), used as LMDB key and on the wire.
  bytes to_bytes() const;

  /// The text form (`z...`).
  std::string to_string() const;

  friend bool operator==(const cid& x, const cid& y) {
    return x.codec == y.codec && x.digest == y.digest;
  }
  friend bool operator!=(const cid& x, const cid& y) { return !(x == y); }
  friend bool operator<(const cid& x, const cid& y) {
    return x.codec != y.codec ? x.codec < y.codec : x.digest < y.digest;
  }
};

inline std::string to_string(const cid& x) {
  return x.to_string();
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cid& x) {
  return f(caf::meta::type_name("cid"), x.codec, x.digest);
}

/// Address of a leaf of a dataset: the tree and the block's index in it.
struct block_address {
  cid tree;
  uint64_t index = 0;

  friend bool operator==(const block_address& x, const block_address& y) {
    return x.tree == y.tree && x.index == y.index;
  }
  friend bool operator<(const block_address& x, const block_address& y) {
    return x.tree != y.tree ? x.tree < y.tree : x.index < y.index;
  }
};

std::string to_string(const block_address& x);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, block_address& x) {
  return f(caf::meta::type_name("block_address"), x.tree, x.index);
}

} // namespace cairn

namespace std {
template <>
struct hash<cairn::cid> {
  size_t operator()(const cairn::cid& x) const noexcept {
    size_t h;
    std::memcpy(&h, x.digest.data(), sizeof(h));
    return h ^ static_cast<size_t>(x.codec);
  }
};
} // namespace std
