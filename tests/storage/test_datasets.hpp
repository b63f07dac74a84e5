#pragma once

// Datasets for the store's tests, built as an upload builds them (chunker,
// Merkle tree, manifest), and stored as an upload stores them.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "messages/block.hpp"
#include "messages/cid.hpp"
#include "messages/error.hpp"
#include "messages/manifest.hpp"
#include "storage/chunker.hpp"
#include "storage/lmdb_store.hpp"
#include "storage/merkle_tree.hpp"
#include "test_helpers.hpp"

namespace cairn::test::datasets {

constexpr uint64_t bs = default_block_size;

/// A dataset as an upload produces it: blocks, leaves, manifest.
struct dataset {
  bytes data;
  std::vector<block> blocks;
  std::vector<digest256> leaves;
  manifest meta;
  block manifest_block;

  cid id() const { return manifest_block.id; }

  std::vector<cid> block_ids() const {
    std::vector<cid> out;
    for (auto& b : blocks)
      out.push_back(b.id);
    return out;
  }
};

inline dataset
make_dataset(bytes data, std::optional<std::string> filename = std::nullopt) {
  dataset ds;
  ds.data = std::move(data);
  storage::chunker ch{[&](bytes b) -> caf::error {
    ds.blocks.push_back(block::make(std::move(b)));
    return caf::none;
  }};
  if (auto err = ch.feed(ds.data.data(), ds.data.size()))
    throw std::runtime_error(describe(err));
  if (auto err = ch.finish())
    throw std::runtime_error(describe(err));
  for (auto& b : ds.blocks)
    ds.leaves.push_back(b.id.digest);
  auto tree = storage::merkle_tree::build(ds.leaves);
  if (!tree)
    throw std::runtime_error(describe(tree.error()));
  ds.meta.tree_cid = tree->root_cid();
  ds.meta.dataset_size = ds.data.size();
  ds.meta.filename = std::move(filename);
  ds.manifest_block = ds.meta.to_block();
  return ds;
}

/// `nblocks` full blocks of random data, the last one `tail` bytes short.
inline dataset random_dataset(size_t nblocks, uint64_t seed, size_t tail = 0) {
  return make_dataset(random_bytes(nblocks * bs - tail, seed));
}

/// put_blocks, then put_dataset, as an upload does.
inline caf::expected<cid> upload(storage::lmdb_store& st, const dataset& ds,
                                 uint64_t now) {
  auto put = st.put_blocks(ds.blocks, now);
  if (!put)
    return put.error();
  return st.put_dataset(ds.manifest_block, ds.leaves, now);
}

} // namespace cairn::test::datasets
