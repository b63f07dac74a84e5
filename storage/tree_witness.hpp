#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <variant>
#include <vector>

#include <caf/error.hpp>

#include "messages/cid.hpp"
#include "messages/proof.hpp"
#include "messages/sha256.hpp"

namespace cairn::storage {

/// What a `tree_witness` needs before it can prove a leaf: the proof of leaf
/// `leaf` (or, if that leaf is lost too, a candidate digest for it).
struct witness_need {
  uint64_t leaf = 0;
};

/// Node digests of one CodexTree, learnt from verified leaf proofs, to prove
/// leaves that were rebuilt from parity (erasure decoding yields bytes, not
/// proofs). A rebuilt leaf is accepted only if it and the known sibling
/// digests hash up to the tree's root, which also yields its proof to store
/// and serve. Checks stop at the first node on the path already verified
/// (its path to the root is known), so a leaf next to proven ones costs a
/// hash or two. Where every leaf under a sibling is lost, the sibling is
/// computed from candidate digests of those leaves (rebuilt too): the root
/// check then vouches for all of them.
///
/// Not thread-safe; owned by one download.
class tree_witness {
public:
  /// The first leaf in `[first, end)` that is not known to be unavailable
  /// (whose proof may be had), or `end` if every one is lost.
  using lost_fn = std::function<uint64_t(uint64_t first, uint64_t end)>;

  /// A witness of `tree` with `nleaves` leaves (at least 1).
  tree_witness(const cid& tree, uint64_t nleaves);

  /// Checks that `leaf` is the digest of leaf `proof.index` and learns the
  /// nodes on its path and their siblings, up to the first node already
  /// verified (above it the proof is not looked at). Returns false (and
  /// learns nothing) if the proof does not reach the root or contradicts a
  /// verified node.
  bool add_proof(const digest256& leaf, const merkle_proof& proof);

  /// Records an unverified digest for leaf `index` (a rebuilt block). It is
  /// used only to compute nodes above leaves that are all lost.
  void add_candidate(uint64_t index, const digest256& leaf);

  /// Proves that `leaf` is the digest of leaf `index`: its proof; or what
  /// is needed first (see `witness_need`); or `ec::verification_failed`
  /// when the digests do not hash to the root (`ec::out_of_range` for an
  /// index outside the tree).
  std::variant<merkle_proof, witness_need, caf::error>
  prove(uint64_t index, const digest256& leaf, const lost_fn& lost);

  /// True if the digest of leaf `index` is known from a verified proof.
  bool knows_leaf(uint64_t index) const {
    return nodes_.count(key(0, index)) > 0;
  }

  /// True if leaf `index` has a verified digest or a candidate: what a
  /// `witness_need` for it asks for is there.
  bool has_leaf(uint64_t index) const {
    return knows_leaf(index) || candidates_.count(index) > 0;
  }

  /// Number of node digests known (for tests and gauges).
  size_t known_nodes() const { return nodes_.size(); }

private:
  using node_result = std::variant<digest256, witness_need>;

  node_result resolve(size_t level, uint64_t index, const lost_fn& lost);

  static uint64_t key(size_t level, uint64_t index) {
    return (index << 6) | level;
  }

  digest256 root_;
  uint64_t nleaves_;
  /// Nodes per layer, leaves first, the root's layer (1) last.
  std::vector<uint64_t> widths_;
  std::unordered_map<uint64_t, digest256> nodes_;
  std::unordered_map<uint64_t, digest256> candidates_;
  /// Nodes computed from candidates (unverified until a root check passes;
  /// dropped when one fails).
  std::unordered_map<uint64_t, digest256> derived_;
  /// Nodes computed from candidates that could not be computed yet: the
  /// leaf they wait for and whether it was lost then (a memo for `resolve`,
  /// valid while that leaf has neither proof nor candidate and its loss is
  /// unchanged).
  std::unordered_map<uint64_t, std::pair<uint64_t, bool>> needs_;
  /// Scratch of `add_proof`: nodes on the path being checked, kept only if
  /// it verifies.
  std::vector<std::pair<uint64_t, digest256>> learnt_;
};

} // namespace cairn::storage
