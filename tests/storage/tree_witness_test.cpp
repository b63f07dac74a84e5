// Tests of storage/tree_witness.hpp: proving rebuilt leaves from the proofs
// of other leaves, for trees of many shapes and every pattern of lost leaves
// in small trees; wrong digests are refused.

#include <cstdint>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "messages/error.hpp"
#include "storage/merkle_tree.hpp"
#include "storage/tree_witness.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace cairn::storage;

namespace {

std::vector<digest256> leaves_of(uint64_t n, uint64_t seed) {
  std::vector<digest256> out;
  for (uint64_t i = 0; i < n; ++i)
    out.push_back(sha256(test::random_bytes(16, seed * 1000 + i)));
  return out;
}

// Proves every leaf in `lost` the way a download does: fetch the proofs the
// witness asks for (of leaves not lost), give candidates for lost leaves, and
// retry until each is proven. Returns the number of proofs fetched.
size_t prove_lost(const merkle_tree& tree, const std::set<uint64_t>& lost) {
  tree_witness w{tree.root_cid(), tree.leaves_count()};
  for (auto i : lost)
    w.add_candidate(i, tree.leaf(i));
  auto is_lost = [&](uint64_t first, uint64_t end) {
    while (first < end && lost.count(first) > 0)
      ++first;
    return first;
  };
  size_t fetched = 0;
  for (auto i : lost) {
    for (int round = 0;; ++round) {
      EXPECT_LT(round, 200) << "no progress proving leaf " << i;
      if (round >= 200)
        return fetched;
      auto res = w.prove(i, tree.leaf(i), is_lost);
      if (auto* p = std::get_if<merkle_proof>(&res)) {
        EXPECT_TRUE(verify_proof(tree.leaf(i), *p, tree.root_cid()));
        EXPECT_EQ(*p, *tree.proof(i));
        break;
      }
      auto* need = std::get_if<witness_need>(&res);
      if (!need) {
        ADD_FAILURE() << "leaf " << i << ": "
                      << describe(std::get<caf::error>(res));
        return fetched;
      }
      EXPECT_EQ(lost.count(need->leaf), 0u) << "asked for a lost leaf";
      EXPECT_TRUE(w.add_proof(tree.leaf(need->leaf), *tree.proof(need->leaf)));
      ++fetched;
    }
  }
  return fetched;
}

} // namespace

TEST(TreeWitnessTest, ProvesEveryLeafOfManyTreeShapes) {
  for (uint64_t n = 1; n <= 40; ++n) {
    auto tree = *merkle_tree::build(leaves_of(n, n));
    for (uint64_t i = 0; i < n; ++i)
      prove_lost(tree, {i});
  }
}

TEST(TreeWitnessTest, ProvesEveryPatternOfLostLeavesInSmallTrees) {
  for (uint64_t n = 2; n <= 9; ++n) {
    auto tree = *merkle_tree::build(leaves_of(n, 100 + n));
    // Every subset except "all lost" (then nothing is left to prove from,
    // yet candidates alone still reach the root).
    for (uint64_t mask = 1; mask < (uint64_t{1} << n); ++mask) {
      std::set<uint64_t> lost;
      for (uint64_t i = 0; i < n; ++i)
        if (mask & (uint64_t{1} << i))
          lost.insert(i);
      prove_lost(tree, lost);
    }
  }
}

TEST(TreeWitnessTest, FetchesAtMostOneProofPerLostLeaf) {
  auto tree = *merkle_tree::build(leaves_of(6144, 7));
  std::set<uint64_t> lost;
  for (uint64_t i = 0; i < 6144; i += 3)
    lost.insert(i);
  auto fetched = prove_lost(tree, lost);
  // Each fetched proof brings a whole path: the neighbour's proof suffices.
  EXPECT_LE(fetched, lost.size());
}

TEST(TreeWitnessTest, RefusesAWrongDigest) {
  auto tree = *merkle_tree::build(leaves_of(10, 9));
  tree_witness w{tree.root_cid(), 10};
  for (uint64_t j = 0; j < 10; ++j) {
    if (j != 4) {
      ASSERT_TRUE(w.add_proof(tree.leaf(j), *tree.proof(j)));
    }
  }
  auto none = [](uint64_t first, uint64_t) { return first; };
  auto res = w.prove(4, tree.leaf(5), none);
  ASSERT_TRUE(std::holds_alternative<caf::error>(res));
  EXPECT_TRUE(is(std::get<caf::error>(res), ec::verification_failed));
  EXPECT_TRUE(
    std::holds_alternative<merkle_proof>(w.prove(4, tree.leaf(4), none)));
}

TEST(TreeWitnessTest, RefusesAWrongCandidateForALostSibling) {
  auto tree = *merkle_tree::build(leaves_of(8, 11));
  tree_witness w{tree.root_cid(), 8};
  // Leaves 2 and 3 lost; the candidate for 3 is wrong: 2 cannot be proven.
  w.add_candidate(3, tree.leaf(0));
  for (uint64_t j : {0, 1, 4, 5, 6, 7})
    w.add_proof(tree.leaf(j), *tree.proof(j));
  auto lost = [](uint64_t first, uint64_t end) {
    while (first < end && (first == 2 || first == 3))
      ++first;
    return first;
  };
  auto res = w.prove(2, tree.leaf(2), lost);
  ASSERT_TRUE(std::holds_alternative<caf::error>(res));
  EXPECT_TRUE(is(std::get<caf::error>(res), ec::verification_failed));
}

TEST(TreeWitnessTest, RefusesAProofThatContradictsKnownNodes) {
  auto tree = *merkle_tree::build(leaves_of(13, 5));
  tree_witness w{tree.root_cid(), 13};
  for (uint64_t j = 0; j < 13; ++j) {
    if (j != 6 && j != 7) {
      ASSERT_TRUE(w.add_proof(tree.leaf(j), *tree.proof(j)));
    }
  }
  auto known = w.known_nodes();
  // The parent of leaves 6 and 7 is known (a sibling on leaf 5's path): a
  // wrong digest is caught there, and so is a proof with a wrong sibling.
  EXPECT_FALSE(w.add_proof(tree.leaf(7), *tree.proof(6)));
  auto bad = *tree.proof(6);
  bad.path[0] = tree.leaf(5);
  EXPECT_FALSE(w.add_proof(tree.leaf(6), bad));
  EXPECT_EQ(w.known_nodes(), known);
  EXPECT_TRUE(w.add_proof(tree.leaf(6), *tree.proof(6)));
  EXPECT_EQ(w.known_nodes(), known + 2); // leaves 6 and 7
  // Known now: proving it again yields the same proof; a wrong digest fails.
  auto none = [](uint64_t first, uint64_t) { return first; };
  auto res = w.prove(7, tree.leaf(7), none);
  ASSERT_TRUE(std::holds_alternative<merkle_proof>(res));
  EXPECT_EQ(std::get<merkle_proof>(res), *tree.proof(7));
  EXPECT_TRUE(
    std::holds_alternative<caf::error>(w.prove(7, tree.leaf(6), none)));
}

TEST(TreeWitnessTest, IgnoresProofsOfOtherTrees) {
  auto a = *merkle_tree::build(leaves_of(8, 1));
  auto b = *merkle_tree::build(leaves_of(8, 2));
  tree_witness w{a.root_cid(), 8};
  EXPECT_FALSE(w.add_proof(b.leaf(1), *b.proof(1)));
  EXPECT_EQ(w.known_nodes(), 0u);
  EXPECT_TRUE(std::holds_alternative<caf::error>(
    w.prove(9, a.leaf(1), [](uint64_t first, uint64_t) { return first; })));
}
