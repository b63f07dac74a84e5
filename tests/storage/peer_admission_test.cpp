// Tests of storage/peer_admission.hpp: the caps on pending handshakes, the
// choice of the peer evicted at --max-peers, the providers a lookup dials,
// and the redial backoff.

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "storage/peer_admission.hpp"

using namespace cairn::storage;
using namespace std::chrono_literals;

namespace {

const admission_clock::time_point admission_t0 =
  admission_clock::time_point{} + 1h;

TEST(HandshakeSlotsTest, RefusesOverThePerAddressCap) {
  handshake_slots slots{{10, 2}};
  EXPECT_FALSE(slots.admit("10.0.0.1"));
  EXPECT_FALSE(slots.admit("10.0.0.1"));
  auto refusal = slots.admit("10.0.0.1");
  ASSERT_TRUE(refusal);
  EXPECT_NE(refusal->find("from 10.0.0.1"), std::string::npos) << *refusal;
  // Another address is not held back by the first one's cap.
  EXPECT_FALSE(slots.admit("10.0.0.2"));
  EXPECT_EQ(slots.pending(), 3u);
  EXPECT_EQ(slots.pending("10.0.0.1"), 2u);
  EXPECT_EQ(slots.refused(), 1u);
}

TEST(HandshakeSlotsTest, RefusesOverTheTotalCapAndAdmitsAgainAfterRelease) {
  handshake_slots slots{{3, 8}};
  for (auto ip : {"10.0.0.1", "10.0.0.2", "10.0.0.3"})
    EXPECT_FALSE(slots.admit(ip));
  auto refusal = slots.admit("10.0.0.4");
  ASSERT_TRUE(refusal);
  EXPECT_NE(refusal->find("--max-pending-handshakes"), std::string::npos);
  // A refused address keeps no entry behind.
  EXPECT_EQ(slots.pending("10.0.0.4"), 0u);
  slots.release("10.0.0.2");
  EXPECT_FALSE(slots.admit("10.0.0.4"));
  EXPECT_EQ(slots.pending(), 3u);
  EXPECT_EQ(slots.refused(), 1u);
}

TEST(HandshakeSlotsTest, SlotIsGivenBackOnceByReleaseOrDestructor) {
  auto slots = std::make_shared<handshake_slots>(handshake_limits{4, 4});
  {
    ASSERT_FALSE(slots->admit("::1"));
    handshake_slot a{slots, "::1"};
    ASSERT_FALSE(slots->admit("::1"));
    handshake_slot b{slots, "::1"};
    EXPECT_EQ(slots->pending(), 2u);
    a.release();
    a.release();
    EXPECT_FALSE(a.held());
    EXPECT_EQ(slots->pending(), 1u);
    handshake_slot c = std::move(b);
    EXPECT_FALSE(b.held());
    EXPECT_TRUE(c.held());
    EXPECT_EQ(slots->pending(), 1u);
  }
  EXPECT_EQ(slots->pending(), 0u);
  EXPECT_EQ(slots->pending("::1"), 0u);
}

TEST(RecentBytesTest, CountsTheCurrentAndThePreviousWindowOnly) {
  recent_bytes r;
  r.add(100, admission_t0);
  EXPECT_EQ(r.total(admission_t0 + 1min), 100u);
  r.add(50, admission_t0 + recent_bytes::window + 1s);
  EXPECT_EQ(r.total(admission_t0 + recent_bytes::window + 2s), 150u);
  EXPECT_EQ(r.total(admission_t0 + 2 * recent_bytes::window + 2s), 50u);
  EXPECT_EQ(r.total(admission_t0 + 3 * recent_bytes::window + 2s), 0u);
  r.add(7, admission_t0 + 10 * recent_bytes::window);
  EXPECT_EQ(r.total(admission_t0 + 10 * recent_bytes::window), 7u);
}

TEST(ChooseEvictionTest, NeverEvictsAPeerWithRequestsInFlight) {
  std::vector<peer_usefulness> peers{{"busy", 3, 0, admission_t0},
                                     {"useful", 0, 1000, admission_t0 + 5s}};
  EXPECT_EQ(choose_eviction(peers), std::optional<std::string>{"useful"});
  peers[1].outstanding = 1;
  EXPECT_EQ(choose_eviction(peers), std::nullopt);
  EXPECT_EQ(choose_eviction({}), std::nullopt);
}

TEST(ChooseEvictionTest, EvictsTheLeastUsefulThenTheIdlestPeer) {
  std::vector<peer_usefulness> peers{
    {"gave-much", 0, 1 << 20, admission_t0},
    {"gave-little", 0, 10, admission_t0 + 9s},
    {"gave-none-new", 0, 0, admission_t0 + 8s},
    {"gave-none-old", 0, 0, admission_t0 + 1s}};
  EXPECT_EQ(choose_eviction(peers),
            std::optional<std::string>{"gave-none-old"});
  peers.pop_back();
  EXPECT_EQ(choose_eviction(peers),
            std::optional<std::string>{"gave-none-new"});
  peers.pop_back();
  EXPECT_EQ(choose_eviction(peers), std::optional<std::string>{"gave-little"});
}

redial_policy no_jitter() {
  redial_policy p;
  p.first_delay = 1s;
  p.max_delay = 10s;
  p.jitter = 0;
  p.max_attempts = 6;
  return p;
}

TEST(RedialBackoffTest, DoublesUpToTheMaximumAndGivesUp) {
  redial_backoff rb{no_jitter()};
  rb.dialed("a", {"/ip4/127.0.0.1/tcp/1"});
  rb.connected("a", admission_t0 - 1h);
  std::vector<std::chrono::milliseconds> waits;
  auto now = admission_t0;
  while (auto wait = rb.lost("a", now)) {
    waits.push_back(*wait);
    EXPECT_TRUE(rb.due(now + *wait - 1ms).empty());
    now += *wait;
    auto due = rb.due(now);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].first, "a");
    EXPECT_EQ(due[0].second, std::vector<std::string>{"/ip4/127.0.0.1/tcp/1"});
    ASSERT_LT(waits.size(), 100u);
  }
  using ms = std::chrono::milliseconds;
  EXPECT_EQ(waits, (std::vector<ms>{1s, 2s, 4s, 8s, 10s, 10s}));
  EXPECT_EQ(rb.size(), 0u);
}

TEST(RedialBackoffTest, StableSessionStartsOverAndForgetStops) {
  redial_backoff rb{no_jitter()};
  rb.dialed("a", {"x"});
  rb.connected("a", admission_t0 - 1h);
  EXPECT_EQ(rb.lost("a", admission_t0), std::chrono::milliseconds{1s});
  ASSERT_EQ(rb.due(admission_t0 + 1s).size(), 1u);
  EXPECT_EQ(rb.lost("a", admission_t0 + 1s), std::chrono::milliseconds{2s});
  // A second loss while an attempt waits changes nothing.
  EXPECT_EQ(rb.lost("a", admission_t0 + 2s), std::chrono::milliseconds{1s});
  EXPECT_EQ(rb.attempts("a"), 2u);
  ASSERT_EQ(rb.due(admission_t0 + 3s).size(), 1u);
  // Up for less than `stable_after`: the waits go on growing.
  rb.connected("a", admission_t0 + 3s);
  EXPECT_TRUE(rb.due(admission_t0 + 1h).empty());
  EXPECT_EQ(rb.lost("a", admission_t0 + 4s), std::chrono::milliseconds{4s});
  ASSERT_EQ(rb.due(admission_t0 + 8s).size(), 1u);
  // Up long enough: they start over.
  rb.connected("a", admission_t0 + 8s);
  EXPECT_EQ(rb.lost("a", admission_t0 + 8s + no_jitter().stable_after),
            std::chrono::milliseconds{1s});
  EXPECT_EQ(rb.attempts("a"), 1u);
  rb.forget("a");
  EXPECT_TRUE(rb.due(admission_t0 + 2h).empty());
  EXPECT_EQ(rb.lost("a", admission_t0 + 2h), std::nullopt);
}

TEST(RedialBackoffTest, RedialsOnlyPeersThatWereDialedAndConnected) {
  redial_backoff rb{no_jitter()};
  EXPECT_EQ(rb.lost("never-dialed", admission_t0), std::nullopt);
  rb.connected("never-dialed", admission_t0);
  EXPECT_EQ(rb.lost("never-dialed", admission_t0), std::nullopt);
  rb.dialed("failed-first-dial", {"x"});
  EXPECT_EQ(rb.lost("failed-first-dial", admission_t0), std::nullopt);
  EXPECT_EQ(rb.size(), 0u);
}

TEST(RedialBackoffTest, JitterStaysWithinItsFraction) {
  redial_policy p = no_jitter();
  p.jitter = 0.2;
  p.max_attempts = 1000;
  redial_backoff rb{p, 42};
  rb.dialed("a", {"x"});
  rb.connected("a", admission_t0 - 1h);
  bool varied = false;
  std::optional<std::chrono::milliseconds> first;
  for (int i = 0; i < 50; ++i) {
    auto wait = rb.lost("a", admission_t0);
    ASSERT_TRUE(wait);
    EXPECT_GE(*wait, 800ms);
    EXPECT_LE(*wait, 1200ms);
    if (first && *first != *wait)
      varied = true;
    first = *wait;
    rb.connected("a", admission_t0 - 1h);
  }
  EXPECT_TRUE(varied);
}

} // namespace

TEST(ChooseEvictionTest, NeverEvictsAPeerWeAreServing) {
  // A seeder's downloaders deliver nothing to it: what they are owed
  // keeps them, not what they gave.
  std::vector<peer_usefulness> peers{{"leecher", 0, 0, admission_t0, 16},
                                     {"idle", 0, 1000, admission_t0 + 5s}};
  EXPECT_EQ(choose_eviction(peers), std::optional<std::string>{"idle"});
  peers[1].serving = 1;
  EXPECT_EQ(choose_eviction(peers), std::nullopt);
}

TEST(ChooseDialsTest, ConnectedProvidersCountAgainstTheCap) {
  std::mt19937 rng{7};
  std::vector<std::string> found{"a", "b", "c", "d", "e", "f"};
  EXPECT_EQ(choose_dials(found, 0, 4, rng).size(), 4u);
  EXPECT_EQ(choose_dials(found, 3, 4, rng).size(), 1u);
  EXPECT_TRUE(choose_dials(found, 4, 4, rng).empty());
  EXPECT_TRUE(choose_dials(found, 9, 4, rng).empty());
  // Under the cap, or no cap: every one.
  EXPECT_EQ(choose_dials(found, 1, 8, rng), found);
  EXPECT_EQ(choose_dials(found, 50, 0, rng), found);
}

TEST(ChooseDialsTest, DownloadersToldOfTheSameProvidersSpreadOverThem) {
  std::mt19937 rng{7};
  std::vector<std::string> found;
  for (int i = 0; i < 20; ++i)
    found.push_back("p" + std::to_string(i));
  std::map<std::string, int> dialed;
  for (int downloader = 0; downloader < 200; ++downloader) {
    auto chosen = choose_dials(found, 0, 4, rng);
    ASSERT_EQ(chosen.size(), 4u);
    EXPECT_EQ(std::set<std::string>(chosen.begin(), chosen.end()).size(), 4u);
    for (auto& id : chosen) {
      EXPECT_NE(std::find(found.begin(), found.end(), id), found.end());
      ++dialed[id];
    }
  }
  // 800 dials over 20 providers: 40 each on average; none left out and
  // none taking a quarter of them.
  ASSERT_EQ(dialed.size(), found.size());
  for (auto& [id, n] : dialed) {
    EXPECT_GT(n, 10) << id;
    EXPECT_LT(n, 200) << id;
  }
}
