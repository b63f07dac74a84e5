// Tests of messages/wire/delay_queue.hpp: due times, order, batching and
// moving (not copying) what it holds.

#include "messages/wire/delay_queue.hpp"

#include <memory>
#include <vector>

#include <gtest/gtest.h>

namespace cairn::wire {
namespace {

using namespace std::chrono_literals;
using clock = delay_queue<>::clock;

uint64_t nonce_of(const message& m) {
  return std::get<ping>(m).nonce;
}

// Every message due at `now + slack`, popped one at a time as a session
// does.
std::vector<message> take_due(delay_queue<>& q, clock::time_point now,
                              clock::duration slack = {}) {
  std::vector<message> out;
  while (auto msg = q.pop_due(now, slack))
    out.push_back(std::move(*msg));
  return out;
}

TEST(DelayQueueTest, MessagesAreDueOneDelayAfterTheyCame) {
  delay_queue<> q{50ms};
  auto t0 = clock::time_point{} + 1s;
  EXPECT_FALSE(q.next_due());
  EXPECT_TRUE(q.push(ping{1}, t0));
  EXPECT_FALSE(q.push(ping{2}, t0 + 10ms));
  ASSERT_TRUE(q.next_due());
  EXPECT_EQ(*q.next_due(), t0 + 50ms);
  EXPECT_TRUE(take_due(q, t0 + 49ms).empty());
  auto first = take_due(q, t0 + 50ms);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(nonce_of(first[0]), 1u);
  EXPECT_EQ(*q.next_due(), t0 + 60ms);
  auto second = take_due(q, t0 + 60ms);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(nonce_of(second[0]), 2u);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.next_due());
}

TEST(DelayQueueTest, PopDueTakesTheHeadOnlyOnceItIsDue) {
  delay_queue<> q{50ms};
  auto t0 = clock::time_point{} + 1s;
  EXPECT_FALSE(q.pop_due(t0));
  q.push(ping{1}, t0);
  q.push(ping{2}, t0 + 3ms);
  EXPECT_FALSE(q.pop_due(t0 + 49ms));
  EXPECT_EQ(q.size(), 2u);
  auto first = q.pop_due(t0 + 49ms, 1ms);
  ASSERT_TRUE(first);
  EXPECT_EQ(nonce_of(*first), 1u);
  EXPECT_FALSE(q.pop_due(t0 + 52ms));
  auto second = q.pop_due(t0 + 53ms);
  ASSERT_TRUE(second);
  EXPECT_EQ(nonce_of(*second), 2u);
  EXPECT_TRUE(q.empty());
}

TEST(DelayQueueTest, KeepsTheOrderMessagesCameIn) {
  delay_queue<> q{20ms};
  auto t0 = clock::time_point{} + 1s;
  for (uint64_t i = 0; i < 1000; ++i)
    q.push(ping{i}, t0 + std::chrono::microseconds{i * 7});
  std::vector<uint64_t> seen;
  for (auto now = t0; !q.empty(); now += 1ms)
    for (auto& m : take_due(q, now))
      seen.push_back(nonce_of(m));
  ASSERT_EQ(seen.size(), 1000u);
  for (uint64_t i = 0; i < seen.size(); ++i)
    ASSERT_EQ(seen[i], i);
}

TEST(DelayQueueTest, AnEarlierClockReadingDoesNotOvertake) {
  delay_queue<> q{20ms};
  auto t0 = clock::time_point{} + 1s;
  q.push(ping{1}, t0 + 5ms);
  q.push(ping{2}, t0); // read before the first push, queued after it
  EXPECT_TRUE(take_due(q, t0 + 20ms).empty());
  auto out = take_due(q, t0 + 25ms);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(nonce_of(out[0]), 1u);
  EXPECT_EQ(nonce_of(out[1]), 2u);
}

TEST(DelayQueueTest, SlackTakesABurstInOneWakeUp) {
  delay_queue<> q{10ms};
  auto t0 = clock::time_point{} + 1s;
  for (uint64_t i = 0; i < 5; ++i)
    q.push(ping{i}, t0 + std::chrono::microseconds{200 * i});
  q.push(ping{9}, t0 + 3ms);
  // Due at t0+10ms .. t0+10.8ms: one wake-up at the head's due time with a
  // millisecond of slack takes all five, not the one queued later.
  auto out = take_due(q, t0 + 10ms, 1ms);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(nonce_of(out[4]), 4u);
  EXPECT_EQ(*q.next_due(), t0 + 13ms);
}

TEST(DelayQueueTest, ZeroDelayIsDueAtOnce) {
  delay_queue<> q;
  auto t0 = clock::time_point{} + 1s;
  EXPECT_TRUE(q.push(ping{7}, t0));
  EXPECT_EQ(take_due(q, t0).size(), 1u);
}

TEST(DelayQueueTest, BlocksAreMovedNotCopied) {
  delay_queue<> q{1ms};
  auto t0 = clock::time_point{} + 1s;
  block_delivery bd;
  bd.blocks.emplace_back();
  bd.blocks.back().data = std::make_shared<const bytes>(65536, 0xab);
  const auto* before = bd.blocks.back().data.get();
  q.push(std::move(bd), t0);
  auto out = take_due(q, t0 + 1ms);
  ASSERT_EQ(out.size(), 1u);
  auto& got = std::get<block_delivery>(out[0]);
  EXPECT_EQ(got.blocks.at(0).data.get(), before);
  EXPECT_EQ(got.blocks.at(0).data.use_count(), 1);
}

} // namespace
} // namespace cairn::wire
