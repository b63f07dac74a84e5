// Tests of messages/verified_set.hpp: what it remembers, and that it forgets
// the oldest entries beyond its capacity.

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "messages/verified_set.hpp"

using cairn::verified_set;

TEST(VerifiedSetTest, RemembersWhatWasInsertedAndNothingElse) {
  verified_set s{4};
  EXPECT_FALSE(s.contains("a"));
  s.insert("a");
  EXPECT_TRUE(s.contains("a"));
  EXPECT_FALSE(s.contains("b"));
  EXPECT_FALSE(s.contains(std::string("a\0", 2)));
  s.insert("a");
  EXPECT_EQ(s.size(), 1u);
}

TEST(VerifiedSetTest, ForgetsTheOldestBeyondItsCapacity) {
  verified_set s{3};
  for (auto k : {"a", "b", "c", "d"})
    s.insert(k);
  EXPECT_EQ(s.size(), 3u);
  EXPECT_FALSE(s.contains("a"));
  for (auto k : {"b", "c", "d"})
    EXPECT_TRUE(s.contains(k)) << k;
  verified_set one{0};
  one.insert("x");
  one.insert("y");
  EXPECT_EQ(one.size(), 1u);
  EXPECT_TRUE(one.contains("y"));
}

TEST(VerifiedSetTest, ThreadsShareItSafely) {
  verified_set s{64};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&s, t] {
      for (int i = 0; i < 1000; ++i) {
        s.insert(std::to_string(t * 1000 + i));
        s.contains(std::to_string(i));
      }
    });
  for (auto& t : ts)
    t.join();
  EXPECT_EQ(s.size(), 64u);
}
