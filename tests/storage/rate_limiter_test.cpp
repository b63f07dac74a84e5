// Tests of storage/rate_limiter.hpp: a burst, then the rate; sources apart;
// the map of sources stays bounded.

#include <chrono>
#include <cstdint>

#include <gtest/gtest.h>

#include "storage/rate_limiter.hpp"

using cairn::storage::rate_limiter;
using namespace std::chrono_literals;

namespace {

const rate_limiter::clock::time_point limiter_t0{};

size_t allowed(rate_limiter& rl, uint32_t source, int tries,
               rate_limiter::clock::time_point now) {
  size_t n = 0;
  for (int i = 0; i < tries; ++i)
    n += rl.allow(source, now) ? 1 : 0;
  return n;
}

} // namespace

TEST(RateLimiterTest, BurstPassesThenTheRate) {
  rate_limiter rl{10, 20};
  EXPECT_EQ(allowed(rl, 1, 100, limiter_t0), 20u);
  // Half a second refills 5 tokens.
  EXPECT_EQ(allowed(rl, 1, 100, limiter_t0 + 500ms), 5u);
  // A long pause refills no more than the burst.
  EXPECT_EQ(allowed(rl, 1, 100, limiter_t0 + 1h), 20u);
}

TEST(RateLimiterTest, SourcesHaveBucketsOfTheirOwn) {
  rate_limiter rl{1, 3};
  EXPECT_EQ(allowed(rl, 1, 10, limiter_t0), 3u);
  EXPECT_EQ(allowed(rl, 2, 10, limiter_t0), 3u);
  EXPECT_FALSE(rl.allow(1, limiter_t0 + 100ms));
  EXPECT_TRUE(rl.allow(1, limiter_t0 + 1s));
}

TEST(RateLimiterTest, RateZeroLetsEverythingThrough) {
  rate_limiter rl{0, 1};
  EXPECT_EQ(allowed(rl, 1, 1000, limiter_t0), 1000u);
  EXPECT_EQ(rl.sources(), 0u);
}

TEST(RateLimiterTest, ManySourcesStayBounded) {
  rate_limiter rl{1, 2, 64};
  for (uint32_t s = 0; s < 10000; ++s) {
    EXPECT_TRUE(rl.allow(s, limiter_t0));
    EXPECT_LE(rl.sources(), 64u);
  }
  // Refilled buckets make room for a new source; a spent one is kept.
  rate_limiter r2{1, 2, 4};
  for (uint32_t s = 0; s < 3; ++s)
    EXPECT_TRUE(r2.allow(s, limiter_t0));
  EXPECT_EQ(allowed(r2, 9, 5, limiter_t0 + 2s), 2u);
  EXPECT_TRUE(r2.allow(100, limiter_t0 + 2s));
  EXPECT_EQ(r2.sources(), 2u);
  EXPECT_FALSE(r2.allow(9, limiter_t0 + 2s));
}
