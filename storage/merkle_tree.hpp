#pragma once

#include <cstdint>
#include <vector>

#include <caf/expected.hpp>

#include "messages/cid.hpp"
#include "messages/proof.hpp"
#include "messages/sha256.hpp"

namespace cairn::storage {

/// Codex's Merkle tree over block digests (README "Data model and store"). A
/// layer is reduced pairwise with `H(left ‖ right ‖ key)`: key 0x01 in the
/// bottom layer, 0x00 above; an odd last node pairs with 32 zero bytes and key
/// 0x03 (bottom) or 0x02 (above). The bottom layer is always reduced, even with
/// one leaf. Immutable once built; safe to read from several threads.
class merkle_tree {
public:
  /// Builds the tree. Errors: `ec::invalid_argument` when `leaves` is empty.
  static caf::expected<merkle_tree> build(std::vector<digest256> leaves);

  /// The root digest.
  const digest256& root() const { return layers_.back().front(); }

  /// The root as a `codex-root` CID (a dataset's `treeCid`).
  cid root_cid() const { return cid{multicodec::codex_root, root()}; }

  /// Number of leaves.
  uint64_t leaves_count() const { return layers_.front().size(); }

  /// The digest of leaf `index`. Precondition: `index < leaves_count()`.
  const digest256& leaf(uint64_t index) const { return layers_.front()[index]; }

  /// The inclusion proof of leaf `index`. Errors: `ec::out_of_range`.
  caf::expected<merkle_proof> proof(uint64_t index) const;

private:
  explicit merkle_tree(std::vector<std::vector<digest256>> layers)
    : layers_(std::move(layers)) {}

  // layers_[0] holds the leaves, layers_.back() the root alone.
  std::vector<std::vector<digest256>> layers_;
};

/// The parent of two nodes of a CodexTree: `H(left ‖ right ‖ key)` with the
/// key of the layer (`bottom`) and of an odd last node (`right` is then the
/// zero digest).
digest256 parent_digest(const digest256& left, const digest256& right,
                        bool bottom, bool odd);

/// Recomputes the root from a leaf digest and its proof. Errors:
/// `ec::verification_failed` when the proof's shape does not fit `nleaves`.
caf::expected<digest256> root_from_proof(const digest256& leaf,
                                         const merkle_proof& proof);

/// True if `leaf` at `proof.index` belongs to the tree named `tree`.
bool verify_proof(const digest256& leaf, const merkle_proof& proof,
                  const cid& tree);

} // namespace cairn::storage
