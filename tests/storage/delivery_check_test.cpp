// Tests of storage/delivery_check.hpp: a delivered block passes only with the
// bytes its address names (CID digest, or leaf proof to the tree's root at
// the leaf's index), and yields the bytes' digest.

#include <vector>

#include <gtest/gtest.h>

#include "messages/error.hpp"
#include "storage/delivery_check.hpp"
#include "storage/merkle_tree.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace cairn::storage;
using cairn::test::random_bytes;

namespace {

struct tree_fixture {
  std::vector<shared_bytes> blocks;
  merkle_tree tree;
};

tree_fixture make_tree(size_t n) {
  std::vector<shared_bytes> blocks;
  std::vector<digest256> leaves;
  for (size_t i = 0; i < n; ++i) {
    blocks.push_back(std::make_shared<const bytes>(random_bytes(100, i + 1)));
    leaves.push_back(sha256(*blocks.back()));
  }
  auto tree = merkle_tree::build(leaves);
  EXPECT_TRUE(tree);
  return {blocks, std::move(*tree)};
}

wire::delivery leaf_delivery(const tree_fixture& f, uint64_t index) {
  auto proof = f.tree.proof(index);
  EXPECT_TRUE(proof);
  return {block_address{f.tree.root_cid(), index}, f.blocks[index], *proof};
}

TEST(DeliveryCheckTest, GoodLeafYieldsItsDigest) {
  auto f = make_tree(5);
  for (uint64_t i = 0; i < 5; ++i) {
    auto got = check_delivery(leaf_delivery(f, i));
    ASSERT_TRUE(got) << describe(got.error());
    EXPECT_EQ(*got, sha256(*f.blocks[i]));
  }
}

TEST(DeliveryCheckTest, BadLeavesFail) {
  auto f = make_tree(5);
  auto flipped = leaf_delivery(f, 2);
  auto bad = *flipped.data;
  bad[50] ^= 1;
  flipped.data = std::make_shared<const bytes>(bad);
  auto swapped = leaf_delivery(f, 2);
  swapped.data = f.blocks[3]; // another leaf's bytes
  auto moved = leaf_delivery(f, 2);
  std::get<block_address>(moved.addr).index = 3; // proof of 2 for index 3
  auto unproven = leaf_delivery(f, 2);
  unproven.proof.reset();
  auto empty = leaf_delivery(f, 2);
  empty.data = nullptr;
  for (auto* d : {&flipped, &swapped, &moved, &unproven, &empty}) {
    auto got = check_delivery(*d);
    ASSERT_FALSE(got);
    EXPECT_TRUE(is(got.error(), ec::verification_failed));
  }
}

TEST(DeliveryCheckTest, BlockByCid) {
  auto data = std::make_shared<const bytes>(random_bytes(64, 9));
  auto id = cid::of(multicodec::codex_block, *data);
  auto ok = check_delivery(wire::delivery{id, data, std::nullopt});
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, id.digest);
  auto other = std::make_shared<const bytes>(random_bytes(64, 10));
  EXPECT_FALSE(check_delivery(wire::delivery{id, other, std::nullopt}));
}

} // namespace
