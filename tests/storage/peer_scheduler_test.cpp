// Tests of storage/peer_scheduler.hpp: which peer gets a want-block (the
// faster one more often, a penalised or overpriced one never, none beyond
// its depth), expected times and depths, want-haves and when silent peers
// let a lookup run, when a want is lost, request timeouts, measurements,
// cancels, and the provider-lookup backoff. Time is given, never read.

#include <chrono>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "messages/cid.hpp"
#include "messages/sha256.hpp"
#include "storage/peer_scheduler.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace cairn::storage;
using cairn::test::random_bytes;
using namespace std::chrono_literals;

namespace {

const sched_clock::time_point sched_t0 = sched_clock::time_point{} + 1h;

cid tree_cid(uint64_t n = 0) {
  return cid{multicodec::codex_block, sha256(random_bytes(16, n + 7))};
}

wire::address leaf(uint64_t index, uint64_t tree = 0) {
  return block_address{tree_cid(tree), index};
}

// A scheduler tracking the peers `ids`.
peer_scheduler with_peers(std::initializer_list<const char*> ids,
                          scheduler_options opts = {}) {
  peer_scheduler s{opts};
  for (auto id : ids)
    s.add(id);
  return s;
}

want_state wanted_at(sched_clock::time_point since) {
  want_state w;
  w.since = since;
  return w;
}

// A peer whose measured rate is `blocks_per_s` full blocks a second (one
// request, delivered after 1/rate seconds), then holding blocks of tree 0.
void measured_peer(peer_scheduler& s, const std::string& id,
                   double blocks_per_s) {
  s.add(id);
  // A tree of its own, so that the peers measured before it do not compete.
  auto tree = 100 + s.peers().size();
  auto took = std::chrono::duration_cast<sched_clock::duration>(
    std::chrono::duration<double>(1.0 / blocks_per_s));
  // One block at a time at a steady rate, until its meter's start-up ends.
  auto now = sched_t0;
  for (uint64_t i = 0; !s.find(id)->pipe.filled; ++i) {
    ASSERT_LT(i, 20u) << "the start-up of " << id << " did not end";
    auto probe = leaf(i, tree);
    s.on_presence(id, probe, true, 0);
    auto w = wanted_at(now);
    ASSERT_EQ(s.schedule(probe, w, now).request_from, id);
    now += took;
    s.delivered(id, probe, default_block_size, now);
  }
  s.on_presence(id, leaf(1000000), true, 0);
}

} // namespace

// One peer, "p", that has leaf 1 of tree 0, and a want of that leaf since
// sched_t0.
class PeerSchedulerOnePeerTest : public ::testing::Test {
protected:
  void SetUp() override {
    s.add("p");
    s.on_presence("p", leaf(1), true, 0);
  }

  // Requests leaf 1 from "p" at sched_t0.
  void request() {
    ASSERT_EQ(s.schedule(leaf(1), w, sched_t0).request_from, "p");
  }

  peer_scheduler s;
  want_state w = wanted_at(sched_t0);
};

TEST(PeerSchedulerTest, UnmeasuredPeerHasStartDepthAndFiftyMsPerBlock) {
  peer_stats p;
  EXPECT_EQ(peer_scheduler::depth_of(p), peer_scheduler::start_depth);
  // One block at the assumed 1.3 MB/s (50 ms) plus the 50 ms latency.
  EXPECT_NEAR(peer_scheduler::expected_time(p), 0.1, 1e-9);
  p.outstanding[leaf(0)] = sent_request{sched_t0};
  p.outstanding[leaf(1)] = sent_request{sched_t0};
  p.outstanding[leaf(2)] = sent_request{sched_t0};
  // Behind three in flight: four blocks' worth.
  EXPECT_NEAR(peer_scheduler::expected_time(p), 0.25, 1e-9);
}

TEST(PeerSchedulerTest, DepthGrowsWithRateBetweenItsBounds) {
  peer_stats p;
  p.pipe.filled = true; // past its start-up
  // 200 blocks/s: 20 blocks in 100 ms.
  p.pipe.rate = p.pipe.peak = 200 * peer_scheduler::block_bytes;
  EXPECT_EQ(peer_scheduler::depth_of(p), 20u);
  p.pipe.rate = p.pipe.peak = 10 * peer_scheduler::block_bytes;
  EXPECT_EQ(peer_scheduler::depth_of(p), peer_scheduler::min_depth);
  // A short link is not given more than short_depth for its rate alone.
  p.pipe.rate = p.pipe.peak = 1e6 * peer_scheduler::block_bytes;
  EXPECT_EQ(peer_scheduler::depth_of(p), peer_scheduler::short_depth);
  p.pipe.rtt = 10;
  EXPECT_EQ(peer_scheduler::depth_of(p), peer_scheduler::max_depth);
  // A faster peer is expected to deliver sooner with the same queue.
  peer_stats slow = p;
  slow.pipe.rate = slow.pipe.peak = 10 * peer_scheduler::block_bytes;
  EXPECT_LT(peer_scheduler::expected_time(p),
            peer_scheduler::expected_time(slow));
}

TEST(PeerSchedulerTest, DepthFollowsTheBandwidthDelayProduct) {
  peer_stats p;
  p.pipe.filled = true; // past its start-up
  // 3000 blocks/s (197 MB/s) over a 100 ms round trip: 300 blocks on the
  // wire, and the meter's gain on top to find out whether there is more.
  p.pipe.rate = p.pipe.peak = 3000 * peer_scheduler::block_bytes;
  p.pipe.rtt = 0.1;
  EXPECT_EQ(peer_scheduler::depth_of(p),
            std::min<size_t>(static_cast<size_t>(300 * pipe_meter::steady_gain),
                             peer_scheduler::max_depth));
  // 2000 blocks/s over 20 ms: 40 on the wire, times the gain (more than
  // the 64 of 100 ms at that rate).
  p.pipe.rate = p.pipe.peak = 2000 * peer_scheduler::block_bytes;
  p.pipe.rtt = 0.02;
  EXPECT_EQ(peer_scheduler::depth_of(p),
            static_cast<size_t>(40 * pipe_meter::steady_gain));
  // Loopback: the 100 ms horizon decides, as before.
  p.pipe.rtt = 0.0005;
  EXPECT_EQ(peer_scheduler::depth_of(p), peer_scheduler::short_depth);
}

TEST(PeerSchedulerTest, ManifestLeavesCoverTheHandshakeRoundTrip) {
  peer_stats p;
  // Not asked for: none, whatever the link.
  p.handshake_rtt = 0.1;
  EXPECT_EQ(peer_scheduler::leaves_with_manifest(p, 0), 0u);
  // Round trip not known, or a short link: the download's first window.
  p.handshake_rtt = 0;
  EXPECT_EQ(peer_scheduler::leaves_with_manifest(p, 64), 64u);
  p.handshake_rtt = 0.0005;
  EXPECT_EQ(peer_scheduler::leaves_with_manifest(p, 64), 64u);
  // 20 ms at the assumed rate: 305 blocks of 64 KiB.
  p.handshake_rtt = 0.02;
  EXPECT_EQ(peer_scheduler::leaves_with_manifest(p, 64),
            static_cast<uint32_t>(0.02 * peer_scheduler::assumed_link_rate /
                                  peer_scheduler::block_bytes));
  // A larger first window stays.
  EXPECT_EQ(peer_scheduler::leaves_with_manifest(p, 512), 512u);
  // 100 ms: more than a want list may ask for.
  p.handshake_rtt = 0.1;
  EXPECT_EQ(peer_scheduler::leaves_with_manifest(p, 64),
            wire::max_leaves_with_manifest);
}

TEST(PeerSchedulerTest, DepthGrowsToTheBandwidthDelayProductOnALongLink) {
  // A peer that answers every request 100 ms after it was sent, however
  // many are in flight (a long link with room to spare): the depth starts
  // at start_depth and grows by the meter's start-up gain each round trip,
  // up to max_depth after three round trips (64, 256, 1024, 1536), instead of
  // settling at what 100 ms of its rate is (which would never grow: the
  // rate is what the depth allows).
  peer_scheduler s;
  s.add("far");
  s.on_presence("far", leaf(0), true, 0);
  std::deque<want_state> wants;
  std::multimap<sched_clock::time_point, wire::address> arriving;
  uint64_t next = 1;
  auto fill = [&](sched_clock::time_point now) {
    for (;;) {
      wants.push_back(wanted_at(now));
      if (s.schedule(leaf(next), wants.back(), now).request_from != "far")
        return;
      arriving.emplace(now + 100ms, leaf(next++));
    }
  };
  fill(sched_t0);
  EXPECT_EQ(s.find("far")->outstanding.size(), peer_scheduler::start_depth);
  size_t depth_after_three_rtts = 0;
  while (!arriving.empty() && arriving.begin()->first <= sched_t0 + 350ms) {
    auto [when, addr] = *arriving.begin();
    arriving.erase(arriving.begin());
    s.delivered("far", addr, default_block_size, when);
    fill(when);
    depth_after_three_rtts = s.find("far")->outstanding.size();
  }
  EXPECT_EQ(depth_after_three_rtts, peer_scheduler::max_depth);
  EXPECT_NEAR(s.find("far")->pipe.rtt, 0.1, 1e-6);
}

TEST(PeerSchedulerTest, AsksThePeerThatHasTheBlock) {
  peer_scheduler s;
  s.add("a");
  s.add("b");
  s.on_presence("b", leaf(5), true, 0);
  auto w = wanted_at(sched_t0);
  auto step = s.schedule(leaf(5), w, sched_t0);
  EXPECT_EQ(step.request_from, "b");
  EXPECT_FALSE(step.discover);
  EXPECT_FALSE(step.lost);
  EXPECT_TRUE(s.in_flight("b", leaf(5)));
  EXPECT_EQ(w.requested.count("b"), 1u);
  // Requested once: the next round waits for it instead of asking again.
  auto again = s.schedule(leaf(5), w, sched_t0 + 10ms);
  EXPECT_TRUE(again.request_from.empty());
  EXPECT_TRUE(again.ask_have.empty());
  EXPECT_FALSE(again.discover);
}

TEST(PeerSchedulerTest, FasterPeerGetsMoreRequests) {
  peer_scheduler s{{}, 42};
  measured_peer(s, "fast", 400); // depth 40
  measured_peer(s, "slow", 20);  // depth 4
  std::map<std::string, int> got;
  std::vector<want_state> wants(60, wanted_at(sched_t0));
  for (uint64_t i = 0; i < wants.size(); ++i) {
    auto step = s.schedule(leaf(i), wants[i], sched_t0);
    if (!step.request_from.empty())
      ++got[step.request_from];
  }
  // Each peer is filled to its depth at most, and the fast one to far more.
  EXPECT_EQ(got["slow"], 4);
  EXPECT_EQ(got["fast"], 40);
  EXPECT_EQ(s.find("fast")->outstanding.size(), 40u);
}

TEST(PeerSchedulerTest, BetweenEqualDepthsTheFasterPeerLeads) {
  peer_scheduler s{{}, 7};
  measured_peer(s, "fast", 5000); // both at max_depth
  measured_peer(s, "slow", 1000);
  std::map<std::string, int> got;
  std::vector<want_state> wants(50, wanted_at(sched_t0));
  for (uint64_t i = 0; i < wants.size(); ++i)
    ++got[s.schedule(leaf(i), wants[i], sched_t0).request_from];
  // Expected-time balancing gives the 5x faster peer about 5/6 of the
  // requests (41 and 9 with these rates and latencies), not all of them.
  EXPECT_GT(got["fast"], 3 * got["slow"]);
  EXPECT_GT(got["slow"], 0);
}

TEST(PeerSchedulerTest, PenalisedPeerGetsNoRequests) {
  peer_scheduler s{{0, 3}};
  s.add("bad");
  s.on_presence("bad", leaf(1), true, 0);
  EXPECT_EQ(s.penalize("bad"), 1u);
  EXPECT_EQ(s.penalize("bad"), 2u);
  EXPECT_TRUE(s.good_standing(*s.find("bad")));
  EXPECT_EQ(s.penalize("bad"), 3u);
  EXPECT_FALSE(s.good_standing(*s.find("bad")));
  auto w = wanted_at(sched_t0);
  auto step = s.schedule(leaf(1), w, sched_t0);
  EXPECT_TRUE(step.request_from.empty());
  EXPECT_TRUE(step.ask_have.empty());
  EXPECT_TRUE(step.discover); // nobody else: look for providers
  EXPECT_FALSE(s.anyone_may_serve(leaf(1)));
}

TEST(PeerSchedulerTest, OverpricedPeerIsNotAsked) {
  peer_scheduler s{{10, 3}};
  s.add("dear");
  s.add("cheap");
  s.on_presence("dear", leaf(1), true, 11);
  s.on_presence("cheap", leaf(1), true, 10);
  auto w = wanted_at(sched_t0);
  EXPECT_EQ(s.schedule(leaf(1), w, sched_t0).request_from, "cheap");
  EXPECT_FALSE(s.may_serve(*s.find("dear"), leaf(1)));
  EXPECT_EQ(s.price_of("cheap", leaf(1)), 10u);
  // Another leaf of the tree: priced by the tree's quote.
  EXPECT_EQ(s.price_of("dear", leaf(99)), 11u);
}

TEST(PeerSchedulerTest, UnaskedPeersGetWantHaveAndSilenceStartsALookup) {
  peer_scheduler s;
  s.add("a");
  s.add("b");
  auto w = wanted_at(sched_t0);
  auto first = s.schedule(leaf(3), w, sched_t0);
  EXPECT_EQ(first.ask_have, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(first.discover);
  // Answers pending: nothing new before `silent_after`.
  auto waiting = s.schedule(leaf(3), w, sched_t0 + 100ms);
  EXPECT_TRUE(waiting.ask_have.empty());
  EXPECT_FALSE(waiting.discover);
  EXPECT_FALSE(waiting.lost);
  // Silent for 250 ms: providers are looked up too.
  EXPECT_TRUE(s.schedule(leaf(3), w, sched_t0 + 250ms).discover);
}

TEST(PeerSchedulerTest, ManifestIsAskedAsABlockOfTheFirstPeers) {
  auto s = with_peers({"a", "b", "c"});
  auto m = wire::address{tree_cid(5)};
  auto w = wanted_at(sched_t0);
  auto first = s.schedule(m, w, sched_t0);
  // `direct_asks` peers get a want-block, the rest a want-have.
  ASSERT_EQ(peer_scheduler::direct_asks, 2u);
  EXPECT_EQ(first.ask_block, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(first.ask_have, (std::vector<std::string>{"c"}));
  EXPECT_TRUE(first.request_from.empty());
  EXPECT_TRUE(s.in_flight("a", m));
  EXPECT_TRUE(s.in_flight("b", m));
  EXPECT_FALSE(s.in_flight("c", m));
  EXPECT_TRUE(s.unconfirmed(m, w));
  // No answer for `silent_after`: providers are looked up too.
  EXPECT_FALSE(s.schedule(m, w, sched_t0 + 100ms).discover);
  EXPECT_TRUE(s.schedule(m, w, sched_t0 + 250ms).discover);
  // One of them says it has it: it is on its way.
  EXPECT_FALSE(s.on_presence("b", m, true, 0));
  EXPECT_FALSE(s.unconfirmed(m, w));
  EXPECT_FALSE(s.schedule(m, w, sched_t0 + 300ms).discover);
}

TEST(PeerSchedulerTest, LeavesAreAskedOfHaveOnlyWithoutADirectAsk) {
  auto s = with_peers({"a", "b"});
  auto w = wanted_at(sched_t0);
  auto step = s.schedule(leaf(2), w, sched_t0);
  EXPECT_TRUE(step.ask_block.empty());
  EXPECT_EQ(step.ask_have, (std::vector<std::string>{"a", "b"}));
}

TEST(PeerSchedulerTest, DontHaveForADirectAskFallsBackToTheOthers) {
  auto s = with_peers({"a", "b", "c"});
  auto m = wire::address{tree_cid(6)};
  auto w = wanted_at(sched_t0);
  s.schedule(m, w, sched_t0);
  // "c" was asked want-have and has it; "a" and "b" lack it.
  EXPECT_FALSE(s.on_presence("c", m, true, 0));
  EXPECT_TRUE(s.on_presence("a", m, false, 0));
  w.requested.erase("a");
  EXPECT_EQ(s.schedule(m, w, sched_t0 + 10ms).request_from, "c");
  EXPECT_TRUE(s.on_presence("b", m, false, 0));
  w.requested.erase("b");
  EXPECT_FALSE(s.in_flight("a", m));
  EXPECT_TRUE(s.in_flight("c", m));
}

TEST(PeerSchedulerTest, APeerThatChargesIsAskedAgainOnceItQuoted) {
  auto s = with_peers({"cheap", "dear"}, {10, 3});
  auto m = wire::address{tree_cid(7)};
  auto w = wanted_at(sched_t0);
  EXPECT_EQ(s.schedule(m, w, sched_t0).ask_block,
            (std::vector<std::string>{"cheap", "dear"}));
  // Both answer with their price instead of the block: released.
  EXPECT_TRUE(s.on_presence("cheap", m, true, 5));
  EXPECT_TRUE(s.on_presence("dear", m, true, 11));
  w.requested.clear();
  // Asked again of the one under the max price only.
  auto again = s.schedule(m, w, sched_t0 + 10ms);
  EXPECT_EQ(again.request_from, "cheap");
  EXPECT_FALSE(s.in_flight("dear", m));
  // A HAVE crossing a request sent after the quote does not release it.
  EXPECT_FALSE(s.on_presence("cheap", m, true, 5));
  EXPECT_TRUE(s.in_flight("cheap", m));
}

TEST(PeerSchedulerTest, AFreePeersHaveDoesNotReleaseADirectAsk) {
  auto s = with_peers({"a"});
  auto m = wire::address{tree_cid(8)};
  auto w = wanted_at(sched_t0);
  s.schedule(m, w, sched_t0);
  EXPECT_FALSE(s.on_presence("a", m, true, 0));
  EXPECT_TRUE(s.in_flight("a", m));
}

TEST(PeerSchedulerTest, ManifestHoldersAreAskedForTheFirstLeavesDirectly) {
  auto s = with_peers({"sender", "holder", "dear", "other"}, {10, 3});
  auto m = tree_cid(9);
  s.on_presence("holder", wire::address{m}, true, 3);
  s.on_presence("dear", wire::address{m}, true, 11);
  s.manifest_from("sender", m, tree_cid(0));
  EXPECT_EQ(s.price_of("sender", leaf(0)), 0u);
  EXPECT_EQ(s.price_of("holder", leaf(0)), 3u);
  EXPECT_EQ(s.price_of("dear", leaf(0)), 11u);
  EXPECT_EQ(s.find("other")->trees.count(tree_cid(0)), 0u);
  // A sender that quoted for something else holds it at that price.
  s.on_presence("other", leaf(5, 1), false, 4);
  s.manifest_from("other", tree_cid(10), tree_cid(2));
  EXPECT_EQ(s.price_of("other", leaf(0, 2)), 4u);
  // The first leaves go to the holders at an acceptable price as
  // want-blocks, without a want-have round.
  std::map<std::string, int> asked;
  for (uint64_t i = 0; i < 8; ++i) {
    auto w = wanted_at(sched_t0);
    auto step = s.schedule(leaf(i), w, sched_t0);
    EXPECT_TRUE(step.ask_have.empty());
    ++asked[step.request_from];
  }
  EXPECT_EQ(asked["sender"] + asked["holder"], 8) << asked.size();
  EXPECT_EQ(asked.count("dear"), 0u);
  EXPECT_EQ(asked.count("other"), 0u);
}

TEST(PeerSchedulerTest, ABusyHolderOfTheTreeIsNotAskedWantHave) {
  auto s = with_peers({"holder"});
  s.manifest_from("holder", tree_cid(9), tree_cid(0));
  // Leaves of its tree go to it as want-blocks until its pipe is full.
  uint64_t i = 0;
  for (; i < 1000; ++i) {
    auto w = wanted_at(sched_t0);
    auto step = s.schedule(leaf(i), w, sched_t0 + 1s);
    if (step.request_from.empty()) {
      // Then the next one waits for room in its pipe: no want-have (its
      // HAVE would only lead to the same want-block), no lookup.
      EXPECT_TRUE(step.ask_have.empty());
      EXPECT_FALSE(step.discover);
      EXPECT_FALSE(step.lost);
      break;
    }
  }
  EXPECT_GE(i, peer_scheduler::min_depth);
  EXPECT_LT(i, 1000u) << "the holder's pipe never filled";
}

// A peer holds a block it said it has, or a leaf of a tree it holds at a
// price we accept; one that quotes too much for the tree is no holder.
TEST(PeerSchedulerTest, HoldersAreThoseWithTheBlockOrItsTreeAtOurPrice) {
  scheduler_options o;
  o.max_price = 5;
  auto s = with_peers({"cheap", "dear", "other"}, o);
  s.on_presence("dear", wire::address{tree_cid(9)}, true, 9);
  s.manifest_from("cheap", tree_cid(9), tree_cid(0));
  EXPECT_TRUE(s.holds(*s.find("cheap"), leaf(3)));
  EXPECT_FALSE(s.holds(*s.find("dear"), leaf(3)));
  EXPECT_FALSE(s.holds(*s.find("other"), leaf(3)));
  EXPECT_FALSE(s.holds(*s.find("cheap"), wire::address{tree_cid(4)}));
  // A HAVE at too high a price is still a HAVE (`may_serve` rules on it),
  // and makes it a holder of the tree at that price.
  s.on_presence("other", leaf(3), true, 7);
  EXPECT_TRUE(s.holds(*s.find("other"), leaf(3)));
  EXPECT_FALSE(s.holds(*s.find("other"), leaf(4)));
}

TEST(PeerSchedulerTest, UnknownCidIsLostOnceALateLookupFindsNobody) {
  peer_scheduler s;
  auto addr = wire::address{tree_cid(3)};
  auto key = dataset_of(addr);
  auto w = wanted_at(sched_t0);
  auto t = sched_t0;
  int lookups = 0;
  // Run the lookups the scheduler asks for, each answering in 10 ms with
  // nobody, until it gives up.
  for (int round = 0; round < 20; ++round) {
    auto step = s.schedule(addr, w, t);
    if (step.lost)
      break;
    ASSERT_TRUE(step.discover);
    auto lk = s.begin_lookup(key, t);
    if (lk.start) {
      ++lookups;
      s.end_lookup(key, 0, t + 10ms);
      t += 10ms;
    } else {
      ASSERT_TRUE(lk.retry_after);
      t += *lk.retry_after;
      s.retry_due(key);
    }
  }
  EXPECT_TRUE(s.schedule(addr, w, t).lost);
  // Lookups at 0, 0.11, 0.32 and 0.73 s: the fourth started after
  // `give_up_after`, well inside a second.
  EXPECT_EQ(lookups, 4);
  EXPECT_GE(t - sched_t0, peer_scheduler::give_up_after);
  EXPECT_LT(t - sched_t0, 1s);
}

TEST(PeerSchedulerTest, LeafEveryHolderLacksIsLostAfterAFruitlessLookup) {
  peer_scheduler s;
  s.add("holder");
  s.on_presence("holder", leaf(1), true, 0);
  auto w = wanted_at(sched_t0);
  ASSERT_EQ(s.schedule(leaf(7), w, sched_t0).request_from, "holder");
  // DONT_HAVE for the block asked directly: the request is released.
  EXPECT_TRUE(s.on_presence("holder", leaf(7), false, 0));
  w.requested.clear();
  EXPECT_FALSE(s.in_flight("holder", leaf(7)));
  // No lookup yet: look.
  auto step = s.schedule(leaf(7), w, sched_t0 + 5ms);
  EXPECT_TRUE(step.discover);
  EXPECT_FALSE(step.lost);
  ASSERT_TRUE(s.begin_lookup(dataset_of(leaf(7)), sched_t0 + 5ms).start);
  // While it runs there is no verdict.
  EXPECT_FALSE(s.schedule(leaf(7), w, sched_t0 + 6ms).lost);
  s.end_lookup(dataset_of(leaf(7)), 0, sched_t0 + 10ms);
  EXPECT_TRUE(s.schedule(leaf(7), w, sched_t0 + 11ms).lost);
}

TEST(PeerSchedulerTest, LookupThatDialedSomeoneGivesNoVerdict) {
  peer_scheduler s;
  auto addr = wire::address{tree_cid(4)};
  auto w = wanted_at(sched_t0);
  ASSERT_TRUE(s.begin_lookup(dataset_of(addr), sched_t0 + 800ms).start);
  s.end_lookup(dataset_of(addr), 1, sched_t0 + 810ms);
  auto step = s.schedule(addr, w, sched_t0 + 900ms);
  EXPECT_FALSE(step.lost);
  EXPECT_TRUE(step.discover);
}

TEST(PeerSchedulerTest, LookupPauseDoublesUpToRediscoverAfter) {
  provider_lookup lk;
  EXPECT_EQ(peer_scheduler::lookup_pause(lk), sched_clock::duration::zero());
  lk.fruitless = 1;
  EXPECT_EQ(peer_scheduler::lookup_pause(lk), 100ms);
  lk.fruitless = 2;
  EXPECT_EQ(peer_scheduler::lookup_pause(lk), 200ms);
  lk.fruitless = 3;
  EXPECT_EQ(peer_scheduler::lookup_pause(lk), 400ms);
  lk.fruitless = 40;
  EXPECT_EQ(peer_scheduler::lookup_pause(lk), 5s);
  lk.fruitless = 0;
  lk.dialed = 2;
  EXPECT_EQ(peer_scheduler::lookup_pause(lk), 5s);
}

TEST(PeerSchedulerTest, OneLookupAtATimeAndOneRetryArmed) {
  peer_scheduler s;
  auto key = tree_cid(5);
  ASSERT_TRUE(s.begin_lookup(key, sched_t0).start);
  // In flight: neither a second lookup nor a retry.
  auto busy = s.begin_lookup(key, sched_t0 + 1ms);
  EXPECT_FALSE(busy.start);
  EXPECT_FALSE(busy.retry_after);
  s.end_lookup(key, 0, sched_t0 + 10ms);
  auto early = s.begin_lookup(key, sched_t0 + 30ms);
  EXPECT_FALSE(early.start);
  ASSERT_TRUE(early.retry_after);
  EXPECT_EQ(*early.retry_after, 80ms); // 100 ms after it answered
  // Armed already: no second retry.
  EXPECT_FALSE(s.begin_lookup(key, sched_t0 + 40ms).retry_after);
  s.retry_due(key);
  EXPECT_TRUE(s.begin_lookup(key, sched_t0 + 110ms).start);
  // Wanted again long after: starts afresh, without a pause.
  s.end_lookup(key, 0, sched_t0 + 120ms);
  EXPECT_TRUE(s.begin_lookup(key, sched_t0 + 120ms + 11s).start);
}

TEST_F(PeerSchedulerOnePeerTest, RequestsTimeOutAfterTheBlockTimeout) {
  ASSERT_NO_FATAL_FAILURE(request());
  EXPECT_TRUE(s.expire_requests(sched_t0 + 5s, 5s).empty());
  auto expired = s.expire_requests(sched_t0 + 5s + 1ms, 5s);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].first, "p");
  EXPECT_EQ(expired[0].second, leaf(1));
  EXPECT_EQ(s.find("p")->timeouts, 1u);
  EXPECT_FALSE(s.in_flight("p", leaf(1)));
  // A seeder serving a hundred peers answers late: its block is no
  // unrequested one (which counts against it, up to closing the session),
  // nor is the copy of a second request that timed out too.
  w.requested.clear(); // as the engine does with an expired request
  ASSERT_NO_FATAL_FAILURE(request());
  ASSERT_EQ(s.expire_requests(sched_t0 + 11s, 5s).size(), 1u);
  EXPECT_TRUE(s.forget_cancelled("p", leaf(1)));
  EXPECT_TRUE(s.forget_cancelled("p", leaf(1)));
  EXPECT_FALSE(s.forget_cancelled("p", leaf(1)));
}

// The leaves a manifest's want-block asked for come in order, the last
// ones long after the request on a slow link: they time out once the peer
// has delivered nothing for the timeout, not while it delivers.
TEST_F(PeerSchedulerOnePeerTest, ABatchTimesOutOnceItsPeerStalls) {
  ASSERT_NO_FATAL_FAILURE(request()); // leaf 1, on its own
  sent_request batch{sched_t0};
  ASSERT_TRUE(s.expect("p", leaf(2), batch));
  ASSERT_TRUE(s.expect("p", leaf(3), batch));
  s.delivered("p", leaf(2), default_block_size, sched_t0 + 4s);
  auto expired = s.expire_requests(sched_t0 + 6s, 5s);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].second, leaf(1));
  EXPECT_TRUE(s.in_flight("p", leaf(3)));
  EXPECT_TRUE(s.expire_requests(sched_t0 + 9s, 5s).empty());
  expired = s.expire_requests(sched_t0 + 9s + 1ms, 5s);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].second, leaf(3));
  EXPECT_EQ(s.find("p")->timeouts, 2u);
}

TEST_F(PeerSchedulerOnePeerTest, DeliveryMeasuresRateAndLatency) {
  ASSERT_NO_FATAL_FAILURE(request());
  s.delivered("p", leaf(1), default_block_size, sched_t0 + 10ms);
  auto* p = s.find("p");
  EXPECT_NEAR(p->pipe.rate, default_block_size / 0.01, 1);
  EXPECT_NEAR(p->latency, 0.8 * 0.05 + 0.2 * 0.01, 1e-9);
  EXPECT_EQ(p->blocks_received, 1u);
  EXPECT_EQ(p->bytes_received, default_block_size);
  EXPECT_TRUE(p->outstanding.empty());
}

TEST_F(PeerSchedulerOnePeerTest, InvalidDeliveryMarksThePeerAsLackingTheBlock) {
  ASSERT_NO_FATAL_FAILURE(request());
  s.delivery_failed("p", leaf(1));
  w.requested.clear();
  EXPECT_FALSE(s.in_flight("p", leaf(1)));
  EXPECT_FALSE(s.has("p", leaf(1)));
  EXPECT_FALSE(s.may_serve(*s.find("p"), leaf(1)));
  EXPECT_TRUE(s.schedule(leaf(1), w, sched_t0 + 1ms).request_from.empty());
}

TEST_F(PeerSchedulerOnePeerTest, CancelledBlockMayArriveOnce) {
  ASSERT_NO_FATAL_FAILURE(request());
  EXPECT_TRUE(s.cancel("p", leaf(1)));
  EXPECT_FALSE(s.cancel("p", leaf(1))); // nothing in flight any more
  EXPECT_TRUE(s.forget_cancelled("p", leaf(1)));
  EXPECT_FALSE(s.forget_cancelled("p", leaf(1)));
}

TEST(PeerSchedulerTest, RememberedCancelsAreBounded) {
  // A peer that is sent cancels without end must not grow the scheduler
  // without end: past the bound, the oldest are forgotten (their blocks,
  // should they still come, count as unrequested).
  peer_scheduler s;
  s.add("p");
  const uint64_t n = peer_scheduler::max_cancelled + 2;
  for (uint64_t i = 0; i < n; ++i) {
    s.on_presence("p", leaf(i), true, 0);
    auto w = wanted_at(sched_t0);
    ASSERT_EQ(s.schedule(leaf(i), w, sched_t0).request_from, "p") << i;
    ASSERT_TRUE(s.cancel("p", leaf(i))) << i;
  }
  EXPECT_EQ(s.find("p")->cancelled.size(), peer_scheduler::max_cancelled);
  EXPECT_FALSE(s.forget_cancelled("p", leaf(0)));
  EXPECT_FALSE(s.forget_cancelled("p", leaf(1)));
  // Only the oldest: every later cancel is still remembered.
  for (uint64_t i : {uint64_t{2}, n / 2, n - 1})
    EXPECT_TRUE(s.forget_cancelled("p", leaf(i))) << i;
}

TEST(PeerSchedulerTest, RemovedPeerReturnsWhatItOwes) {
  peer_scheduler s;
  s.add("p");
  s.on_presence("p", leaf(1), true, 0);
  s.on_presence("p", leaf(2), true, 0);
  auto w1 = wanted_at(sched_t0);
  auto w2 = wanted_at(sched_t0);
  ASSERT_EQ(s.schedule(leaf(1), w1, sched_t0).request_from, "p");
  ASSERT_EQ(s.schedule(leaf(2), w2, sched_t0).request_from, "p");
  auto owed = s.remove("p");
  EXPECT_EQ(owed.size(), 2u);
  EXPECT_EQ(s.find("p"), nullptr);
  EXPECT_TRUE(s.remove("p").empty());
}

TEST(PeerSchedulerTest, EndGameAsksASecondPeerForTheLastBlocks) {
  auto w = wanted_at(sched_t0);
  w.requested.insert("a");
  EXPECT_FALSE(peer_scheduler::end_game(w, 8, sched_t0 + 500ms));
  EXPECT_TRUE(peer_scheduler::end_game(w, 8, sched_t0 + 501ms));
  EXPECT_FALSE(peer_scheduler::end_game(w, 9, sched_t0 + 1s));
  w.requested.insert("b");
  EXPECT_FALSE(peer_scheduler::end_game(w, 2, sched_t0 + 1s));
}

TEST_F(PeerSchedulerOnePeerTest, StoringWantIsLeftAlone) {
  w.storing = true;
  auto step = s.schedule(leaf(1), w, sched_t0);
  EXPECT_TRUE(step.request_from.empty());
  EXPECT_FALSE(step.discover);
  EXPECT_FALSE(s.in_flight("p", leaf(1)));
}

TEST(PeerSchedulerTest, AHolderDeliveringLatelyIsSlowNotGone) {
  peer_scheduler s;
  s.add("seeder");
  s.add("other");
  auto a = leaf(3);
  // Said it has blocks of tree 0 but never delivered one: no verdict of
  // being slow.
  s.on_presence("seeder", leaf(0), true, 0);
  EXPECT_FALSE(s.holder_delivering(a, sched_t0));
  auto w = wanted_at(sched_t0);
  ASSERT_EQ(s.schedule(leaf(0), w, sched_t0).request_from, "seeder");
  s.delivered("seeder", leaf(0), default_block_size, sched_t0 + 30s);
  EXPECT_TRUE(s.holder_delivering(a, sched_t0 + 20s));
  EXPECT_FALSE(s.holder_delivering(a, sched_t0 + 31s));    // silent since
  EXPECT_FALSE(s.holder_delivering(leaf(3, 1), sched_t0)); // not its tree
  // A holder that said it lacks the block does not count.
  s.on_presence("seeder", a, false, 0);
  EXPECT_FALSE(s.holder_delivering(a, sched_t0));
  // Nor does a peer that delivered but holds nothing of the tree.
  s.add("third");
  s.on_presence("third", leaf(9, 2), true, 0);
  auto w2 = wanted_at(sched_t0);
  ASSERT_EQ(s.schedule(leaf(9, 2), w2, sched_t0).request_from, "third");
  s.delivered("third", leaf(9, 2), default_block_size, sched_t0 + 40s);
  EXPECT_FALSE(s.holder_delivering(a, sched_t0));
  EXPECT_TRUE(s.holder_delivering(leaf(8, 2), sched_t0));
}
