#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <caf/expected.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>

#include "messages/block.hpp"
#include "messages/cid.hpp"

namespace cairn {

/// How the blocks of a protected dataset are grouped into erasure-coding
/// steps. Codex's only strategy is the stepped (interleaved) layout.
enum class ec_strategy : uint8_t { stepped = 0 };

/// A dataset's manifest (README "Data model and store"). Stored as a block
/// whose CID is `CIDv1(codex-manifest, sha256(encode()))`; that CID names the
/// dataset.
struct manifest {
  /// Root of the CodexTree over every block (data and parity).
  cid tree_cid{multicodec::codex_root, {}};
  /// Bytes covered by `tree_cid`: the true data length when unprotected.
  uint64_t dataset_size = 0;
  /// Size of every block.
  uint32_t block_size = default_block_size;
  /// Codec of the leaves' blocks.
  multicodec codec = multicodec::codex_block;
  /// Hash of the leaves (multihash code).
  uint64_t hcodec = sha2_256_code;
  /// Manifest format version.
  uint32_t version = 1;
  /// File name given at upload, if any.
  std::optional<std::string> filename;
  /// MIME type given at upload, if any.
  std::optional<std::string> mimetype;
  /// True for an erasure-coded dataset; the fields below are set then.
  bool is_protected = false;
  /// Data blocks per step.
  uint32_t ec_k = 0;
  /// Parity blocks per step.
  uint32_t ec_m = 0;
  /// Tree of the unprotected data.
  std::optional<cid> original_tree_cid;
  /// True length of the unprotected data.
  uint64_t original_dataset_size = 0;
  /// Layout of steps.
  ec_strategy strategy = ec_strategy::stepped;

  /// Number of leaves of `tree_cid`: ceil(dataset_size / block_size).
  uint64_t blocks_count() const { return blocks_for(dataset_size); }

  /// Number of leaves holding the bytes a download returns (the data blocks
  /// of a protected dataset).
  uint64_t content_blocks_count() const { return blocks_for(content_size()); }

  /// Length of the bytes a download returns (original size when protected).
  uint64_t content_size() const {
    return is_protected ? original_dataset_size : dataset_size;
  }

  /// Blocks that hold `bytes` bytes: ceil(bytes / block_size).
  uint64_t blocks_for(uint64_t bytes) const {
    return bytes / block_size + (bytes % block_size != 0);
  }

  /// The msgpack encoding: a map with short string keys (see manifest.cpp).
  bytes encode() const;

  /// Decodes and validates. Errors: `ec::invalid_manifest` with the reason
  /// (malformed msgpack, missing or mistyped field, inconsistent values).
  static caf::expected<manifest> decode(byte_view in);

  /// The manifest as a `codex-manifest` block.
  block to_block() const {
    return block::make(encode(), multicodec::codex_manifest);
  }

  friend bool operator==(const manifest& x, const manifest& y) {
    return x.encode() == y.encode();
  }
};

/// Decodes the manifest stored in block `b` (which must be a manifest CID).
caf::expected<manifest> manifest_from_block(const block& b);

template <class Inspector>
typename std::enable_if<Inspector::reads_state,
                        typename Inspector::result_type>::type
inspect(Inspector& f, manifest& x) {
  auto enc = x.encode();
  return f(caf::meta::type_name("manifest"), enc);
}

template <class Inspector>
typename std::enable_if<Inspector::writes_state,
                        typename Inspector::result_type>::type
inspect(Inspector& f, manifest& x) {
  bytes enc;
  auto commit = [&]() -> caf::error {
    auto m = manifest::decode(enc);
    if (!m)
      return m.error();
    x = std::move(*m);
    return caf::none;
  };
  return f(caf::meta::type_name("manifest"), enc,
           caf::meta::load_callback(commit));
}

/// A locally stored dataset: its manifest CID and manifest.
struct dataset_entry {
  cid manifest_cid;
  manifest meta;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dataset_entry& x) {
  return f(caf::meta::type_name("dataset_entry"), x.manifest_cid, x.meta);
}

} // namespace cairn
