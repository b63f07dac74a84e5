// Tests of storage/kad_lookup.hpp: the iterative lookup state machine on its
// own (alpha, ordering, failures, termination, bounds), and in a simulated
// in-memory network of 200 nodes with dead nodes, where lookups must find
// the true k nearest live nodes with a bounded number of queries.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "messages/peer_record.hpp"
#include "messages/sha256.hpp"
#include "storage/kad_lookup.hpp"
#include "storage/routing_table.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace cairn::storage;
using cairn::test::random_bytes;

namespace {

const dht_clock::time_point t0{};

// Unsigned records with random keys: the lookup never checks signatures.
peer_record fake_record(uint64_t n) {
  peer_record r;
  auto b = random_bytes(32, n * 7919 + 13);
  std::copy(b.begin(), b.end(), r.public_key.begin());
  r.seq = 1;
  r.addrs = {"/ip4/10.0.0.1/udp/" + std::to_string(1 + n % 60000)};
  return r;
}

contact contact_of(const peer_record& r) {
  return contact{node_id_of(r), r, t0, 0};
}

std::vector<contact> contacts(uint64_t first, size_t n) {
  std::vector<contact> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(contact_of(fake_record(first + i)));
  return out;
}

void sort_by_distance(std::vector<contact>& v, const node_id& target) {
  std::sort(v.begin(), v.end(), [&](const auto& x, const auto& y) {
    return xor_distance(x.id, target) < xor_distance(y.id, target);
  });
}

std::vector<node_id> ids(const std::vector<contact>& v) {
  std::vector<node_id> out;
  for (const auto& c : v)
    out.push_back(c.id);
  return out;
}

std::vector<peer_record> records_of(const std::vector<contact>& v) {
  std::vector<peer_record> out;
  for (const auto& c : v)
    out.push_back(c.record);
  return out;
}

} // namespace

TEST(KadLookupTest, WithoutSeedsIsDoneAtOnce) {
  kad_lookup lk{sha256(std::string_view{"t"}), {}};
  EXPECT_TRUE(lk.done());
  EXPECT_TRUE(lk.next_queries().empty());
  EXPECT_TRUE(lk.result().empty());
}

TEST(KadLookupTest, QueriesNearestFirstWithAtMostAlphaInFlight) {
  auto target = sha256(std::string_view{"target"});
  auto seeds = contacts(1, 10);
  kad_lookup lk{target, seeds, 16, 3};
  sort_by_distance(seeds, target);
  auto q = lk.next_queries();
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(ids(q),
            (std::vector<node_id>{seeds[0].id, seeds[1].id, seeds[2].id}));
  EXPECT_EQ(lk.in_flight(), 3u);
  EXPECT_TRUE(lk.next_queries().empty());
  lk.on_response(q[1].id, {});
  auto q2 = lk.next_queries();
  ASSERT_EQ(q2.size(), 1u);
  EXPECT_EQ(q2[0].id, seeds[3].id);
  EXPECT_EQ(lk.queries_sent(), 4u);
  EXPECT_FALSE(lk.done());
}

TEST(KadLookupTest, DoneWhenAllOfTheKNearestAnsweredAndNothingInFlight) {
  auto target = sha256(std::string_view{"target"});
  auto seeds = contacts(1, 6);
  kad_lookup lk{target, seeds, 4, 2};
  sort_by_distance(seeds, target);
  std::set<node_id> asked;
  while (true) {
    auto q = lk.next_queries();
    for (const auto& c : q)
      asked.insert(c.id);
    if (q.empty())
      break;
    for (const auto& c : q) {
      EXPECT_FALSE(lk.done());
      lk.on_response(c.id, {});
    }
  }
  EXPECT_TRUE(lk.done());
  // Only the 4 nearest were needed.
  EXPECT_EQ(asked.size(), 4u);
  EXPECT_EQ(ids(lk.result()),
            ids(std::vector<contact>(seeds.begin(), seeds.begin() + 4)));
}

TEST(KadLookupTest, DoneWaitsForQueriesInFlight) {
  auto target = sha256(std::string_view{"target"});
  auto seeds = contacts(1, 2);
  kad_lookup lk{target, seeds, 1, 2};
  auto q = lk.next_queries();
  ASSERT_EQ(q.size(), 1u); // only the window (k = 1) is queried
  lk.on_failure(q[0].id);
  auto q2 = lk.next_queries();
  ASSERT_EQ(q2.size(), 1u);
  EXPECT_FALSE(lk.done());
  lk.on_response(q2[0].id, {});
  EXPECT_TRUE(lk.done());
}

TEST(KadLookupTest, FailedNodeIsReplacedByTheNextNearest) {
  auto target = sha256(std::string_view{"target"});
  auto seeds = contacts(1, 5);
  kad_lookup lk{target, seeds, 2, 3};
  sort_by_distance(seeds, target);
  auto q = lk.next_queries();
  ASSERT_EQ(q.size(), 2u);
  lk.on_failure(seeds[0].id);
  lk.on_response(seeds[1].id, {});
  auto q2 = lk.next_queries();
  ASSERT_EQ(q2.size(), 1u);
  EXPECT_EQ(q2[0].id, seeds[2].id);
  lk.on_response(seeds[2].id, {});
  EXPECT_TRUE(lk.done());
  EXPECT_EQ(ids(lk.result()), (std::vector<node_id>{seeds[1].id, seeds[2].id}));
  // A late answer of the failed node is ignored.
  lk.on_response(seeds[0].id, {});
  EXPECT_EQ(lk.result().size(), 2u);
}

TEST(KadLookupTest, LearnsCloserNodesFromResponses) {
  auto target = sha256(std::string_view{"target"});
  auto all = contacts(1, 40);
  sort_by_distance(all, target);
  // Start from the 3 farthest; the first answer reveals the 3 nearest.
  std::vector<contact> seeds(all.end() - 3, all.end());
  kad_lookup lk{target, seeds, 3, 1};
  auto q = lk.next_queries();
  ASSERT_EQ(q.size(), 1u);
  lk.on_response(q[0].id, records_of({all[0], all[1], all[2]}));
  std::vector<node_id> asked;
  while (!lk.done()) {
    auto next = lk.next_queries();
    ASSERT_EQ(next.size(), 1u);
    asked.push_back(next[0].id);
    lk.on_response(next[0].id, {});
  }
  EXPECT_EQ(asked, (std::vector<node_id>{all[0].id, all[1].id, all[2].id}));
  EXPECT_EQ(ids(lk.result()), asked);
}

TEST(KadLookupTest, HopsCountTheChainOfAnswersNotTheQueries) {
  auto target = sha256(std::string_view{"target"});
  auto all = contacts(1, 40);
  sort_by_distance(all, target);
  // Two seeds far away; the first names a nearer node, which names the
  // nearest: a chain of 3 hops, whatever the second seed answers.
  std::vector<contact> seeds{all[30], all[31]};
  kad_lookup lk{target, seeds, 2, 1};
  EXPECT_EQ(lk.hops(), 0u);
  auto q = lk.next_queries();
  ASSERT_EQ(q.size(), 1u);
  ASSERT_EQ(q[0].id, all[30].id);
  lk.on_response(q[0].id, records_of({all[10]}));
  EXPECT_EQ(lk.hops(), 1u);
  q = lk.next_queries();
  ASSERT_EQ(q.size(), 1u);
  ASSERT_EQ(q[0].id, all[10].id);
  lk.on_response(q[0].id, records_of({all[0], all[31]}));
  EXPECT_EQ(lk.hops(), 2u);
  q = lk.next_queries();
  ASSERT_EQ(q.size(), 1u);
  ASSERT_EQ(q[0].id, all[0].id);
  lk.on_response(q[0].id, {});
  EXPECT_EQ(lk.hops(), 3u);
  // The window (k = 2) is all[0] and all[10], both answered: done, with
  // the second seed never asked.
  EXPECT_TRUE(lk.done());
  EXPECT_EQ(lk.queries_sent(), 3u);
  EXPECT_EQ(lk.hops(), 3u);
}

TEST(KadLookupTest, HopsOfANodeNamedAgainKeepItsShortestPath) {
  auto target = sha256(std::string_view{"target"});
  auto all = contacts(1, 40);
  sort_by_distance(all, target);
  // all[5] is named first 3 hops away (seed all[30], then all[20]), then
  // by the seed all[31] itself: it is 2 hops away when asked.
  kad_lookup lk{target, {all[30], all[31]}, 4, 2};
  ASSERT_EQ(lk.next_queries().size(), 2u);
  lk.on_response(all[30].id, records_of({all[20]}));
  auto q = lk.next_queries();
  ASSERT_EQ(q.size(), 1u);
  ASSERT_EQ(q[0].id, all[20].id);
  lk.on_response(all[20].id, records_of({all[5]}));
  lk.on_response(all[31].id, records_of({all[5]}));
  q = lk.next_queries();
  ASSERT_EQ(q.size(), 1u);
  ASSERT_EQ(q[0].id, all[5].id);
  lk.on_response(all[5].id, {});
  EXPECT_TRUE(lk.done());
  EXPECT_EQ(lk.queries_sent(), 4u);
  EXPECT_EQ(lk.hops(), 2u);
}

TEST(KadLookupTest, IgnoresSelfUnsolicitedAndDuplicateAnswers) {
  auto target = sha256(std::string_view{"target"});
  auto seeds = contacts(1, 3);
  auto me = contact_of(fake_record(100));
  seeds.push_back(me);
  kad_lookup lk{target, seeds, 16, 3, me.id};
  EXPECT_EQ(lk.candidate_count(), 3u);
  auto q = lk.next_queries();
  ASSERT_EQ(q.size(), 3u);
  // Someone we did not ask, listing us and a new node.
  auto stranger = contact_of(fake_record(200));
  lk.on_response(stranger.id, {fake_record(300)});
  EXPECT_EQ(lk.candidate_count(), 3u);
  lk.on_response(q[0].id, {me.record, fake_record(300)});
  EXPECT_EQ(lk.candidate_count(), 4u);
  lk.on_response(q[0].id, {fake_record(301)}); // duplicate answer
  EXPECT_EQ(lk.candidate_count(), 4u);
  EXPECT_EQ(lk.in_flight(), 2u);
}

TEST(KadLookupTest, RecordsClaimingOneAddressMakeOneCandidate) {
  auto target = sha256(std::string_view{"one address"});
  auto seed = contacts(1, 1);
  kad_lookup lk{target, seed, 16, 3};
  ASSERT_EQ(lk.next_queries().size(), 1u);
  // The seed answers with 20 made-up nodes, all at a third party's address.
  std::vector<peer_record> made_up;
  for (uint64_t n = 100; n < 120; ++n) {
    auto r = fake_record(n);
    r.addrs = {"/ip4/192.0.2.7/udp/9999"};
    made_up.push_back(r);
  }
  lk.on_response(seed[0].id, made_up);
  EXPECT_EQ(lk.candidate_count(), 2u);
  auto next = lk.next_queries();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].record.addrs[0], "/ip4/192.0.2.7/udp/9999");
}

TEST(KadLookupTest, FindsTheTargetNodeItself) {
  auto nodes = contacts(1, 30);
  auto target = nodes[17].id;
  kad_lookup lk{target, {nodes[0]}, 4, 3};
  for (int round = 0; round < 100 && !lk.done(); ++round) {
    for (const auto& c : lk.next_queries())
      lk.on_response(c.id, records_of(nodes));
  }
  ASSERT_FALSE(lk.result().empty());
  EXPECT_EQ(lk.result().front().id, target);
}

TEST(KadLookupTest, CandidateSetIsBounded) {
  auto target = sha256(std::string_view{"target"});
  auto seeds = contacts(1, 3);
  kad_lookup lk{target, seeds, 4, 3};
  auto q = lk.next_queries();
  auto flood = contacts(1000, 500);
  lk.on_response(q[0].id, records_of(flood));
  // The nearest 4 * 8 candidates, plus queried ones beyond them.
  EXPECT_LE(lk.candidate_count(),
            4 * kad_lookup::candidates_per_k + lk.queries_sent());
  lk.on_response(q[1].id, {});
  lk.on_response(q[2].id, {});
  // The nearest node of all survived the pruning.
  flood.insert(flood.end(), seeds.begin(), seeds.end());
  sort_by_distance(flood, target);
  for (int round = 0; round < 100 && !lk.done(); ++round) {
    for (const auto& c : lk.next_queries())
      lk.on_response(c.id, {});
  }
  auto res = lk.result();
  ASSERT_EQ(res.size(), 4u);
  EXPECT_EQ(res[0].id, flood[0].id);
}

TEST(KadLookupTest, QueryBudgetEndsAnEndlessChainOfCloserNodes) {
  // An adversary whose every answer names a node nearer than itself: a
  // lookup would never converge without the query budget.
  auto target = sha256(std::string_view{"target"});
  auto chain = contacts(1, 300);
  sort_by_distance(chain, target);
  std::reverse(chain.begin(), chain.end()); // farthest first
  std::map<node_id, size_t> pos;
  for (size_t i = 0; i < chain.size(); ++i)
    pos[chain[i].id] = i;
  size_t k = 2;
  kad_lookup lk{target, {chain[0]}, k, 1};
  size_t rounds = 0;
  while (!lk.done() && rounds++ < 1000) {
    for (const auto& c : lk.next_queries()) {
      auto i = pos[c.id];
      std::vector<contact> next;
      for (size_t j = i + 1; j < chain.size() && j <= i + 2; ++j)
        next.push_back(chain[j]);
      lk.on_response(c.id, records_of(next));
    }
  }
  EXPECT_TRUE(lk.done());
  EXPECT_EQ(lk.queries_sent(), k * kad_lookup::queries_per_k);
  EXPECT_EQ(lk.result().size(), k);
}

namespace {

// An in-memory network: every node has a routing table filled from a random
// subset of the others; dead nodes are in tables but never answer.
struct sim_network {
  static constexpr size_t n = 200;
  static constexpr size_t k = 16;
  std::vector<peer_record> records;
  std::vector<node_id> ids;
  std::vector<routing_table> tables;
  std::vector<bool> dead;
  std::map<node_id, size_t> index;

  explicit sim_network(uint64_t seed, double dead_share) {
    std::mt19937_64 gen{seed};
    for (size_t i = 0; i < n; ++i) {
      records.push_back(fake_record(seed * 1000 + i));
      ids.push_back(node_id_of(records.back()));
      index[ids.back()] = i;
      tables.emplace_back(ids.back(), k);
      dead.push_back(std::uniform_real_distribution<>{}(gen) < dead_share);
    }
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i)
      order[i] = i;
    for (size_t i = 0; i < n; ++i) {
      std::shuffle(order.begin(), order.end(), gen);
      // Each node has heard of a random half of the network.
      for (size_t j = 0; j < n / 2; ++j)
        if (order[j] != i)
          tables[i].update(records[order[j]], t0);
    }
  }

  // The true k nearest live nodes to `target`, other than `self`.
  std::vector<node_id> truth(const node_id& target, size_t self) const {
    std::vector<node_id> live;
    for (size_t i = 0; i < n; ++i)
      if (!dead[i] && i != self)
        live.push_back(ids[i]);
    std::sort(live.begin(), live.end(), [&](const auto& x, const auto& y) {
      return xor_distance(x, target) < xor_distance(y, target);
    });
    live.resize(std::min(live.size(), k));
    return live;
  }
};

struct lookup_stats {
  size_t exact = 0;
  size_t lookups = 0;
  size_t max_queries = 0;
  size_t total_queries = 0;
  size_t max_in_flight = 0;
};

// Runs `lookups` lookups from random live nodes to random targets, answering
// queries in a pseudo-random order (so several are in flight at once).
lookup_stats run_lookups(const sim_network& net, size_t lookups,
                         uint64_t seed) {
  std::mt19937_64 gen{seed};
  lookup_stats st;
  for (size_t l = 0; l < lookups; ++l) {
    size_t self;
    do {
      self = gen() % sim_network::n;
    } while (net.dead[self]);
    auto target = sha256(random_bytes(16, gen()));
    kad_lookup lk{target, net.tables[self].closest(target, sim_network::k),
                  sim_network::k, 3, net.ids[self]};
    std::vector<node_id> pending;
    while (true) {
      for (const auto& c : lk.next_queries())
        pending.push_back(c.id);
      st.max_in_flight = std::max(st.max_in_flight, lk.in_flight());
      if (pending.empty())
        break;
      auto pick = gen() % pending.size();
      auto id = pending[pick];
      pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(pick));
      auto i = net.index.at(id);
      if (net.dead[i]) {
        lk.on_failure(id);
      } else {
        std::vector<peer_record> closer;
        for (const auto& c : net.tables[i].closest(target, sim_network::k))
          closer.push_back(c.record);
        lk.on_response(id, closer);
      }
    }
    EXPECT_TRUE(lk.done());
    ++st.lookups;
    if (ids(lk.result()) == net.truth(target, self))
      ++st.exact;
    st.max_queries = std::max(st.max_queries, lk.queries_sent());
    st.total_queries += lk.queries_sent();
  }
  return st;
}

} // namespace

TEST(KadLookupTest, SimulatedNetworkFindsTrueKNearestLiveNodes) {
  sim_network net{1, 0.1};
  auto st = run_lookups(net, 100, 2);
  EXPECT_GE(st.exact * 100, st.lookups * 95)
    << st.exact << " of " << st.lookups << " lookups exact";
  EXPECT_LE(st.max_in_flight, 3u);
  // Bounded work: a lookup asks far fewer nodes than the network has.
  EXPECT_LE(st.max_queries, 80u);
  EXPECT_LE(st.total_queries / st.lookups, 50u);
  std::cout << "[          ] exact " << st.exact << "/" << st.lookups
            << ", queries avg " << st.total_queries / st.lookups << " max "
            << st.max_queries << "\n";
}

TEST(KadLookupTest, SimulatedNetworkSurvivesManyDeadNodes) {
  sim_network net{3, 0.3};
  auto st = run_lookups(net, 60, 4);
  EXPECT_GE(st.exact * 100, st.lookups * 95)
    << st.exact << " of " << st.lookups << " lookups exact";
  EXPECT_LE(st.max_queries, 120u);
  std::cout << "[          ] exact " << st.exact << "/" << st.lookups
            << ", queries avg " << st.total_queries / st.lookups << " max "
            << st.max_queries << "\n";
}
