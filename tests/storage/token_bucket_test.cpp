// Tests of storage/token_bucket.hpp: the burst, then the rate; takers queue
// behind one another's debt; an idle bucket refills to its burst only; the
// waits are counted; takers on several threads share one balance.

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "storage/token_bucket.hpp"

using cairn::storage::token_bucket;
using namespace std::chrono_literals;

namespace {

const token_bucket::clock::time_point bucket_t0{};

} // namespace

TEST(TokenBucketTest, BurstPassesThenTheRate) {
  token_bucket b{1000, 500, bucket_t0};
  EXPECT_EQ(b.take(500, bucket_t0), 0ms);
  EXPECT_EQ(b.take(100, bucket_t0), 100ms);
  EXPECT_EQ(b.waited().waits, 1u);
}

TEST(TokenBucketTest, TakersQueueBehindTheDebt) {
  token_bucket b{1000, 1, bucket_t0};
  (void)b.take(1, bucket_t0);
  EXPECT_EQ(b.take(100, bucket_t0), 100ms);
  EXPECT_EQ(b.take(100, bucket_t0), 200ms);
  // Later callers wait from their own clock read.
  EXPECT_EQ(b.take(100, bucket_t0 + 50ms), 250ms);
  auto c = b.waited();
  EXPECT_EQ(c.waits, 3u);
  EXPECT_EQ(c.waited, 550ms);
}

TEST(TokenBucketTest, RefillsAtTheRate) {
  token_bucket b{1000, 1000, bucket_t0};
  (void)b.take(1000, bucket_t0);
  EXPECT_EQ(b.take(500, bucket_t0 + 500ms), 0ms);
  EXPECT_EQ(b.take(1, bucket_t0 + 500ms), 1ms);
}

TEST(TokenBucketTest, IdleBucketHoldsOnlyTheBurst) {
  token_bucket b{1000, 200, bucket_t0};
  EXPECT_EQ(b.take(200, bucket_t0 + 1h), 0ms);
  EXPECT_EQ(b.take(1000, bucket_t0 + 1h), 1s);
}

TEST(TokenBucketTest, DefaultBurstIsATenthOfASecond) {
  token_bucket b{50'000'000, bucket_t0};
  EXPECT_EQ(b.take(5'000'000, bucket_t0), 0ms);
  EXPECT_GT(b.take(1, bucket_t0), 0ms);
}

TEST(TokenBucketTest, ClockGoingBackRefillsNothing) {
  token_bucket b{1000, 100, bucket_t0 + 1s};
  (void)b.take(100, bucket_t0 + 1s);
  EXPECT_EQ(b.take(100, bucket_t0), 1100ms);
}

TEST(TokenBucketTest, PacedTakersMoveBytesAtTheRate) {
  // Two sessions take 64 KiB each time their previous wait ended, as the
  // peer sessions do; the bytes over the simulated time are the rate.
  constexpr uint64_t rate = 4'000'000;
  token_bucket b{rate, bucket_t0};
  token_bucket::clock::time_point next[2] = {bucket_t0, bucket_t0};
  uint64_t moved = 0;
  constexpr uint64_t total = uint64_t{64} << 20;
  while (moved < total) {
    auto i = next[0] <= next[1] ? 0 : 1;
    next[i] += b.take(64 * 1024, next[i]);
    moved += 64 * 1024;
  }
  auto end = std::max(next[0], next[1]);
  std::chrono::duration<double> took = end - bucket_t0;
  double expected = static_cast<double>(total - rate / 10) / rate;
  EXPECT_NEAR(took.count(), expected, 0.02);
}

TEST(TokenBucketTest, ThreadsShareOneBalance) {
  token_bucket b{1'000'000, 1, bucket_t0};
  (void)b.take(1, bucket_t0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&b] {
      for (int i = 0; i < 1000; ++i)
        (void)b.take(1000, bucket_t0);
    });
  for (auto& t : threads)
    t.join();
  // 4 MB owed at 1 MB/s: the next byte is free in four seconds.
  EXPECT_EQ(b.take(1, bucket_t0), 4s + 1us);
  EXPECT_EQ(b.waited().waits, 4001u);
}
