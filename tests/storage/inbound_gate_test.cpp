// Tests of storage/inbound_gate.hpp: receipts count while held; the gate
// closes over its limit and wakes once at half of it; receipts dropped on
// other threads wake it exactly once.

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "storage/inbound_gate.hpp"

using cairn::storage::inbound_gate;

TEST(InboundGateTest, ReceiptsCountWhileHeld) {
  auto g = std::make_shared<inbound_gate>(100, nullptr);
  {
    auto a = inbound_gate::receipt(g, 30);
    auto b = inbound_gate::receipt(g, 40);
    EXPECT_EQ(g->held(), 70u);
  }
  EXPECT_EQ(g->held(), 0u);
  EXPECT_EQ(g->peak(), 70u);
}

TEST(InboundGateTest, ClosesOverTheLimitAndWakesOnceAtHalfOfIt) {
  int wakes = 0;
  auto g = std::make_shared<inbound_gate>(100, [&] { ++wakes; });
  std::vector<std::shared_ptr<const void>> held;
  for (int i = 0; i < 4; ++i)
    held.push_back(inbound_gate::receipt(g, 30));
  EXPECT_TRUE(g->full());
  EXPECT_TRUE(g->paused());
  EXPECT_FALSE(g->full()) << "one pause, one wake-up";
  held.pop_back(); // 90: under the limit, over half of it
  held.pop_back(); // 60
  EXPECT_EQ(wakes, 0);
  held.pop_back(); // 30
  EXPECT_EQ(wakes, 1);
  EXPECT_FALSE(g->paused());
  held.pop_back();
  EXPECT_EQ(wakes, 1);
}

TEST(InboundGateTest, UnderTheLimitItStaysOpen) {
  auto g = std::make_shared<inbound_gate>(100, nullptr);
  auto r = inbound_gate::receipt(g, 100);
  EXPECT_FALSE(g->full());
  EXPECT_FALSE(g->paused());
}

TEST(InboundGateTest, ReceiptsDroppedOnOtherThreadsWakeItOnce) {
  for (int round = 0; round < 200; ++round) {
    std::atomic<int> wakes{0};
    auto g = std::make_shared<inbound_gate>(1000, [&] { ++wakes; });
    std::vector<std::shared_ptr<const void>> held;
    for (int i = 0; i < 20; ++i)
      held.push_back(inbound_gate::receipt(g, 100));
    std::thread t{[&] { held.clear(); }};
    bool paused = g->full();
    t.join();
    // Either the gate saw them all gone, or their last one woke it.
    EXPECT_EQ(wakes.load(), paused ? 1 : 0);
    EXPECT_FALSE(g->paused());
  }
}
