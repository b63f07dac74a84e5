#pragma once

#include <cstdint>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "messages/sha256.hpp"

namespace cairn {

/// A CodexTree inclusion proof: the sibling digests from the leaf's layer up
/// to the layer below the root. Verified by `storage::verify_proof`.
struct merkle_proof {
  /// Index of the leaf.
  uint64_t index = 0;
  /// Number of leaves in the tree.
  uint64_t nleaves = 0;
  /// Siblings, bottom layer first (a zero digest where the node was odd).
  std::vector<digest256> path;

  friend bool operator==(const merkle_proof& x, const merkle_proof& y) {
    return x.index == y.index && x.nleaves == y.nleaves && x.path == y.path;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, merkle_proof& x) {
  return f(caf::meta::type_name("merkle_proof"), x.index, x.nleaves, x.path);
}

} // namespace cairn
