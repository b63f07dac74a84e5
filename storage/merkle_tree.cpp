#include "storage/merkle_tree.hpp"

#include "messages/error.hpp"

namespace cairn::storage {

namespace {

constexpr uint8_t key_bottom = 0x01;
constexpr uint8_t key_none = 0x00;
constexpr uint8_t key_odd_bottom = 0x03;
constexpr uint8_t key_odd = 0x02;

const digest256 zero_digest{};

uint8_t pair_key(bool bottom, bool odd) {
  if (bottom)
    return odd ? key_odd_bottom : key_bottom;
  return odd ? key_odd : key_none;
}

std::vector<digest256> reduce(const std::vector<digest256>& layer,
                              bool bottom) {
  std::vector<digest256> out;
  out.reserve((layer.size() + 1) / 2);
  for (size_t i = 0; i < layer.size(); i += 2) {
    bool odd = i + 1 == layer.size();
    out.push_back(sha256_pair(layer[i], odd ? zero_digest : layer[i + 1],
                              pair_key(bottom, odd)));
  }
  return out;
}

} // namespace

digest256 parent_digest(const digest256& left, const digest256& right,
                        bool bottom, bool odd) {
  return sha256_pair(left, odd ? zero_digest : right, pair_key(bottom, odd));
}

caf::expected<merkle_tree> merkle_tree::build(std::vector<digest256> leaves) {
  if (leaves.empty())
    return make_error(ec::invalid_argument, "a tree needs at least one leaf");
  std::vector<std::vector<digest256>> layers;
  layers.push_back(std::move(leaves));
  do {
    bool bottom = layers.size() == 1;
    layers.push_back(reduce(layers.back(), bottom));
  } while (layers.back().size() > 1);
  return merkle_tree{std::move(layers)};
}

caf::expected<merkle_proof> merkle_tree::proof(uint64_t index) const {
  if (index >= leaves_count())
    return make_error(ec::out_of_range, "leaf " + std::to_string(index) +
                                          " of " +
                                          std::to_string(leaves_count()));
  merkle_proof p;
  p.index = index;
  p.nleaves = leaves_count();
  for (size_t l = 0; l + 1 < layers_.size(); ++l) {
    const auto& layer = layers_[l];
    uint64_t sibling = index ^ 1;
    p.path.push_back(sibling < layer.size() ? layer[sibling] : zero_digest);
    index >>= 1;
  }
  return p;
}

caf::expected<digest256> root_from_proof(const digest256& leaf,
                                         const merkle_proof& proof) {
  if (proof.nleaves == 0 || proof.index >= proof.nleaves)
    return make_error(ec::verification_failed, "proof index outside the tree");
  digest256 acc = leaf;
  uint64_t index = proof.index;
  uint64_t width = proof.nleaves;
  size_t depth = 0;
  bool bottom = true;
  // Walk up exactly as `build` reduces: the bottom layer always, then until
  // one node is left.
  while (bottom || width > 1) {
    if (depth >= proof.path.size())
      return make_error(ec::verification_failed, "proof path too short");
    const auto& sib = proof.path[depth];
    bool odd = (index ^ 1) >= width;
    if (odd) {
      if (sib != zero_digest)
        return make_error(ec::verification_failed,
                          "odd node with non-zero sibling");
      acc = sha256_pair(acc, zero_digest, pair_key(bottom, true));
    } else if (index & 1) {
      acc = sha256_pair(sib, acc, pair_key(bottom, false));
    } else {
      acc = sha256_pair(acc, sib, pair_key(bottom, false));
    }
    index >>= 1;
    width = width / 2 + (width & 1); // ceil(width / 2) without overflow
    bottom = false;
    ++depth;
  }
  if (depth != proof.path.size())
    return make_error(ec::verification_failed, "proof path too long");
  return acc;
}

bool verify_proof(const digest256& leaf, const merkle_proof& proof,
                  const cid& tree) {
  if (tree.codec != multicodec::codex_root)
    return false;
  auto root = root_from_proof(leaf, proof);
  return root && *root == tree.digest;
}

} // namespace cairn::storage
