// Tests of storage/index_runs.hpp: runs merge as indices fill the gaps,
// lookups of the first index outside the set, and visits of a range.

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "storage/index_runs.hpp"

using namespace cairn::storage;

TEST(IndexRunsTest, AdjacentIndicesMergeIntoOneRun) {
  index_runs s;
  s.insert(5);
  s.insert(7);
  EXPECT_EQ(s.runs(), 2u);
  s.insert(6); // fills the gap: [5, 8)
  EXPECT_EQ(s.runs(), 1u);
  s.insert(4);
  s.insert(8);
  EXPECT_EQ(s.runs(), 1u);
  s.insert(6); // already in: nothing changes
  EXPECT_EQ(s.runs(), 1u);
  for (uint64_t i = 4; i <= 8; ++i)
    EXPECT_TRUE(s.contains(i)) << i;
  EXPECT_FALSE(s.contains(3));
  EXPECT_FALSE(s.contains(9));
}

TEST(IndexRunsTest, FirstOutsideSkipsTheRunItStartsIn) {
  index_runs s;
  for (uint64_t i = 10; i < 20; ++i)
    s.insert(i);
  s.insert(21);
  EXPECT_EQ(s.first_outside(0, 100), 0u);
  EXPECT_EQ(s.first_outside(10, 100), 20u);
  EXPECT_EQ(s.first_outside(15, 100), 20u);
  EXPECT_EQ(s.first_outside(15, 17), 17u); // the range ends inside the run
  EXPECT_EQ(s.first_outside(20, 100), 20u);
  EXPECT_EQ(s.first_outside(21, 100), 22u);
  EXPECT_EQ(index_runs{}.first_outside(3, 9), 3u);
}

TEST(IndexRunsTest, VisitsTheIndicesOfARangeInOrderUntilToldToStop) {
  index_runs s;
  for (uint64_t i : {2, 3, 4, 8, 9, 12})
    s.insert(i);
  std::vector<uint64_t> seen;
  s.visit(3, 12, [&](uint64_t i) {
    seen.push_back(i);
    return true;
  });
  EXPECT_EQ(seen, (std::vector<uint64_t>{3, 4, 8, 9}));
  seen.clear();
  s.visit(0, 100, [&](uint64_t i) {
    seen.push_back(i);
    return seen.size() < 3;
  });
  EXPECT_EQ(seen, (std::vector<uint64_t>{2, 3, 4}));
  seen.clear();
  s.visit(5, 8, [&](uint64_t i) {
    seen.push_back(i);
    return true;
  });
  EXPECT_TRUE(seen.empty());
}
