#pragma once

#include <cstdint>
#include <memory>

#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>

#include "messages/bytes.hpp"
#include "messages/cid.hpp"
#include "messages/proof.hpp"

namespace cairn {

/// Codex's default block size: every dataset block is exactly this long (the
/// last one zero-padded); the manifest keeps the true dataset size.
constexpr uint32_t default_block_size = 65536;

/// A block: its CID and its bytes, shared and immutable. Copying a block
/// copies a pointer, never the data.
struct block {
  cid id;
  shared_bytes data;

  /// Wraps `data` as a block with CID `codec(sha256(data))`.
  static block make(bytes data, multicodec codec = multicodec::codex_block);

  /// Wraps already-hashed bytes. The caller vouches that `id` matches.
  static block wrap(cid id, shared_bytes data) {
    return block{id, std::move(data)};
  }

  size_t size() const { return data ? data->size() : 0; }

  /// True if the bytes hash to the CID's digest.
  bool verify() const;
};

std::string to_string(const block& x);

template <class Inspector>
typename std::enable_if<Inspector::reads_state,
                        typename Inspector::result_type>::type
inspect(Inspector& f, block& x) {
  bytes copy = x.data ? *x.data : bytes{};
  return f(caf::meta::type_name("block"), x.id, copy);
}

template <class Inspector>
typename std::enable_if<Inspector::writes_state,
                        typename Inspector::result_type>::type
inspect(Inspector& f, block& x) {
  auto buf = std::make_shared<bytes>();
  auto commit = [&]() -> caf::error {
    x.data = buf;
    return caf::none;
  };
  return f(caf::meta::type_name("block"), x.id, *buf,
           caf::meta::load_callback(commit));
}

/// A block of a dataset with its leaf address and inclusion proof: what a
/// node stores for a block it fetched from the network.
struct leaf_block {
  block_address addr;
  block data;
  merkle_proof proof;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, leaf_block& x) {
  return f(caf::meta::type_name("leaf_block"), x.addr, x.data, x.proof);
}

/// A leaf to record for a block stored already by CID, whose reference the
/// caller holds and hands over to the leaf (see `lmdb_store::link_leaves`).
struct leaf_link {
  block_address addr;
  cid id;
  merkle_proof proof;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, leaf_link& x) {
  return f(caf::meta::type_name("leaf_link"), x.addr, x.id, x.proof);
}

} // namespace cairn
