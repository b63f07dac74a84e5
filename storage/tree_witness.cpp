#include "storage/tree_witness.hpp"

#include "messages/error.hpp"
#include "storage/merkle_tree.hpp"

namespace cairn::storage {

namespace {

const digest256 zero_sibling{};

} // namespace

tree_witness::tree_witness(const cid& tree, uint64_t nleaves)
  : root_(tree.digest), nleaves_(nleaves == 0 ? 1 : nleaves) {
  // The same layers as merkle_tree::build: the bottom layer is always
  // reduced, then until one node is left.
  uint64_t w = nleaves_;
  widths_.push_back(w);
  do {
    w = w / 2 + (w & 1);
    widths_.push_back(w);
  } while (w > 1);
}

bool tree_witness::add_proof(const digest256& leaf, const merkle_proof& proof) {
  if (proof.nleaves != nleaves_ || proof.index >= nleaves_ ||
      proof.path.size() + 1 != widths_.size())
    return false;
  // Walks up until the root or a node already verified (whose own path is
  // known then): a proof next to known ones costs a hash or two.
  learnt_.clear();
  digest256 acc = leaf;
  uint64_t idx = proof.index;
  bool verified = false;
  for (size_t l = 0; l + 1 < widths_.size(); ++l) {
    if (auto known = nodes_.find(key(l, idx)); known != nodes_.end()) {
      if (known->second != acc)
        return false;
      verified = true;
      break;
    }
    learnt_.emplace_back(key(l, idx), acc);
    uint64_t sib = idx ^ 1;
    bool odd = sib >= widths_[l];
    const auto& s = proof.path[l];
    if (odd && s != zero_sibling)
      return false;
    if (!odd)
      learnt_.emplace_back(key(l, sib), s);
    acc = (idx & 1) ? parent_digest(s, acc, l == 0, false)
                    : parent_digest(acc, s, l == 0, odd);
    idx >>= 1;
  }
  if (!verified && acc != root_)
    return false;
  for (auto& [k, d] : learnt_)
    nodes_.emplace(k, d);
  return true;
}

void tree_witness::add_candidate(uint64_t index, const digest256& leaf) {
  if (index < nleaves_)
    candidates_[index] = leaf;
}

tree_witness::node_result tree_witness::resolve(size_t level, uint64_t index,
                                                const lost_fn& lost) {
  if (auto i = nodes_.find(key(level, index)); i != nodes_.end())
    return i->second;
  if (auto i = derived_.find(key(level, index)); i != derived_.end())
    return i->second;
  if (level == 0) {
    if (auto i = candidates_.find(index); i != candidates_.end())
      return i->second;
    return witness_need{index};
  }
  // What this node waited for last time, if that is still missing: leaves
  // only gain proofs and candidates, and lost ones stay lost, so the same
  // walk would stop at the same leaf.
  auto is_lost = [&lost](uint64_t leaf) {
    return lost(leaf, leaf + 1) != leaf;
  };
  if (auto m = needs_.find(key(level, index)); m != needs_.end()) {
    auto [leaf, was_lost] = m->second;
    if (!has_leaf(leaf) && is_lost(leaf) == was_lost)
      return witness_need{leaf};
    needs_.erase(m);
  }
  auto wait_for = [&](uint64_t leaf) -> node_result {
    needs_[key(level, index)] = {leaf, is_lost(leaf)};
    return witness_need{leaf};
  };
  // The proof of any available leaf below this node yields the node.
  uint64_t first = index << level;
  uint64_t end = std::min(nleaves_, (index + 1) << level);
  if (auto j = lost(first, end); j < end)
    return wait_for(j);
  // Every leaf below is lost: compute the node from their candidates.
  auto left = resolve(level - 1, 2 * index, lost);
  if (auto* n = std::get_if<witness_need>(&left))
    return wait_for(n->leaf);
  bool odd = 2 * index + 1 >= widths_[level - 1];
  digest256 right = zero_sibling;
  if (!odd) {
    auto r = resolve(level - 1, 2 * index + 1, lost);
    if (auto* n = std::get_if<witness_need>(&r))
      return wait_for(n->leaf);
    right = std::get<digest256>(r);
  }
  auto node = parent_digest(std::get<digest256>(left), right, level == 1, odd);
  derived_[key(level, index)] = node;
  return node;
}

std::variant<merkle_proof, witness_need, caf::error>
tree_witness::prove(uint64_t index, const digest256& leaf,
                    const lost_fn& lost) {
  if (index >= nleaves_)
    return make_error(ec::out_of_range, "leaf " + std::to_string(index) +
                                          " of " + std::to_string(nleaves_));
  merkle_proof proof;
  proof.index = index;
  proof.nleaves = nleaves_;
  proof.path.reserve(widths_.size() - 1);
  // Siblings first (lookups, and nodes computed from candidates, which are
  // kept): a leaf still waiting for something costs no hashing. Then the
  // path is checked like a fetched proof, up to the first verified node.
  uint64_t idx = index;
  for (size_t l = 0; l + 1 < widths_.size(); ++l, idx >>= 1) {
    uint64_t sib = idx ^ 1;
    digest256 s = zero_sibling;
    if (sib < widths_[l]) {
      auto r = resolve(l, sib, lost);
      if (auto* n = std::get_if<witness_need>(&r))
        return *n;
      s = std::get<digest256>(r);
    }
    proof.path.push_back(s);
  }
  if (!add_proof(leaf, proof)) {
    derived_.clear(); // some candidate is wrong: trust none of their nodes
    needs_.clear();
    return make_error(ec::verification_failed,
                      "rebuilt leaf " + std::to_string(index) +
                        " does not belong to the tree");
  }
  return proof;
}

} // namespace cairn::storage
