// Tests of storage/routing_table.hpp: ID and bucket math, classic Kademlia
// insertion (full buckets keep old contacts and name a ping candidate),
// failures, eviction and the replacement cache, and `closest` against a
// brute-force sort.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "messages/peer_record.hpp"
#include "messages/sha256.hpp"
#include "storage/routing_table.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace cairn::storage;
using cairn::test::random_bytes;

namespace {

using namespace std::chrono_literals;

const dht_clock::time_point table_t0{};

// Records with random public keys. The table does not verify signatures
// (the codec does), so these need none, which keeps the tests fast.
peer_record table_record(uint64_t n, uint64_t seq = 1) {
  peer_record r;
  auto b = random_bytes(32, n + 77);
  std::copy(b.begin(), b.end(), r.public_key.begin());
  r.seq = seq;
  r.addrs = {"/ip4/10.0.0.1/udp/" + std::to_string(1000 + n % 60000)};
  return r;
}

// `n` records whose IDs fall into bucket `index` of `self`.
std::vector<peer_record> records_in_bucket(const node_id& self, int index,
                                           size_t n, uint64_t& counter) {
  std::vector<peer_record> out;
  while (out.size() < n) {
    auto r = table_record(counter++);
    if (bucket_index(self, node_id_of(r)) == index)
      out.push_back(r);
  }
  return out;
}

node_id zero_id() {
  return node_id{};
}

} // namespace

TEST(RoutingTableTest, BucketIndexIsCommonPrefixLength) {
  auto self = zero_id();
  EXPECT_EQ(bucket_index(self, self), -1);
  auto far = self;
  far[0] = 0x80;
  EXPECT_EQ(bucket_index(self, far), 0);
  auto near = self;
  near[31] = 0x01;
  EXPECT_EQ(bucket_index(self, near), 255);
  auto mid = self;
  mid[1] = 0x20;
  mid[5] = 0xff; // later bits do not matter
  EXPECT_EQ(bucket_index(self, mid), 10);
  auto x = sha256(std::string_view{"x"});
  auto y = x;
  y[3] ^= 0x04;
  EXPECT_EQ(bucket_index(x, y), 29);
  EXPECT_EQ(bucket_index(y, x), 29);
}

TEST(RoutingTableTest, XorDistanceIsSymmetricAndZeroOnlyForSelf) {
  auto a = sha256(std::string_view{"a"});
  auto b = sha256(std::string_view{"b"});
  EXPECT_EQ(xor_distance(a, b), xor_distance(b, a));
  EXPECT_EQ(xor_distance(a, a), node_id{});
  EXPECT_NE(xor_distance(a, b), node_id{});
  EXPECT_EQ(xor_distance(xor_distance(a, b), b), a);
}

TEST(RoutingTableTest, NodeIdIsSha256OfBinaryPeerId) {
  auto r = table_record(1);
  EXPECT_EQ(node_id_of(r), sha256(r.id().to_bytes()));
  EXPECT_EQ(node_id_of(r.id()), node_id_of(r));
}

TEST(RoutingTableTest, UpdateAddsNewContactsAndNeverSelf) {
  auto me = table_record(0);
  routing_table t{node_id_of(me)};
  auto res = t.update(me, table_t0);
  EXPECT_FALSE(res.inserted);
  EXPECT_EQ(res.status, update_status::ignored);
  EXPECT_EQ(t.size(), 0u);
  for (uint64_t i = 1; i <= 10; ++i) {
    auto r = t.update(table_record(i), table_t0 + 1s * i);
    EXPECT_TRUE(r.inserted);
    EXPECT_EQ(r.status, update_status::added);
    EXPECT_FALSE(r.ping_candidate);
  }
  EXPECT_EQ(t.size(), 10u);
  auto c = t.find(node_id_of(table_record(3)));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->record, table_record(3));
  EXPECT_EQ(c->last_seen, table_t0 + 3s);
  EXPECT_EQ(c->failures, 0u);
  EXPECT_FALSE(t.contains(node_id_of(me)));
}

TEST(RoutingTableTest, KnownContactMovesToMostRecentlySeenEnd) {
  auto self = zero_id();
  uint64_t counter = 0;
  auto rs = records_in_bucket(self, 0, 3, counter);
  routing_table t{self};
  for (size_t i = 0; i < rs.size(); ++i)
    t.update(rs[i], table_t0 + 1s * i);
  auto res = t.update(rs[0], table_t0 + 10s);
  EXPECT_TRUE(res.inserted);
  EXPECT_EQ(res.status, update_status::refreshed);
  auto all = t.all();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, node_id_of(rs[1]));
  EXPECT_EQ(all[1].id, node_id_of(rs[2]));
  EXPECT_EQ(all[2].id, node_id_of(rs[0]));
  EXPECT_EQ(all[2].last_seen, table_t0 + 10s);
}

TEST(RoutingTableTest, RecordIsReplacedOnlyByANewerSeq) {
  routing_table t{zero_id()};
  auto r5 = table_record(1, 5);
  t.update(r5, table_t0);
  auto r3 = table_record(1, 3);
  r3.addrs = {"/ip4/6.6.6.6/udp/1"};
  t.update(r3, table_t0 + 1s);
  EXPECT_EQ(t.find(node_id_of(r5))->record, r5);
  auto r9 = table_record(1, 9);
  r9.addrs = {"/ip4/9.9.9.9/udp/9"};
  t.update(r9, table_t0 + 2s);
  EXPECT_EQ(t.find(node_id_of(r5))->record, r9);
  EXPECT_EQ(t.size(), 1u);
}

TEST(RoutingTableTest, FullBucketReturnsLeastRecentlySeenAsPingCandidate) {
  auto self = zero_id();
  uint64_t counter = 0;
  auto rs = records_in_bucket(self, 0, 6, counter);
  routing_table t{self, 4};
  for (size_t i = 0; i < 4; ++i)
    EXPECT_TRUE(t.update(rs[i], table_t0 + 1s * i).inserted);
  auto res = t.update(rs[4], table_t0 + 5s);
  EXPECT_FALSE(res.inserted);
  EXPECT_EQ(res.status, update_status::pending);
  ASSERT_TRUE(res.ping_candidate);
  EXPECT_EQ(res.ping_candidate->id, node_id_of(rs[0]));
  // The old contacts stay; the newcomer waits as a replacement.
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.bucket_size(0), 4u);
  EXPECT_FALSE(t.contains(node_id_of(rs[4])));
  EXPECT_EQ(t.replacement_count(), 1u);
  // The candidate answers the ping: it becomes most recently seen, and the
  // next newcomer names the next oldest contact.
  t.update(rs[0], table_t0 + 6s);
  auto next = t.update(rs[5], table_t0 + 7s);
  ASSERT_TRUE(next.ping_candidate);
  EXPECT_EQ(next.ping_candidate->id, node_id_of(rs[1]));
  EXPECT_EQ(t.replacement_count(), 2u);
  // Other buckets are unaffected.
  auto other = records_in_bucket(self, 1, 1, counter);
  EXPECT_TRUE(t.update(other[0], table_t0 + 8s).inserted);
}

TEST(RoutingTableTest, ThreeFailuresEvictAndPromoteNewestReplacement) {
  auto self = zero_id();
  uint64_t counter = 0;
  auto rs = records_in_bucket(self, 0, 4, counter);
  routing_table t{self, 2};
  t.update(rs[0], table_t0);
  t.update(rs[1], table_t0 + 1s);
  t.update(rs[2], table_t0 + 2s); // replacement
  t.update(rs[3], table_t0 + 3s); // newest replacement
  auto a = node_id_of(rs[0]);
  t.failed(a);
  t.failed(a);
  ASSERT_TRUE(t.contains(a));
  EXPECT_EQ(t.find(a)->failures, 2u);
  // An answer resets the count.
  t.update(rs[0], table_t0 + 4s);
  EXPECT_EQ(t.find(a)->failures, 0u);
  t.failed(a);
  t.failed(a);
  EXPECT_TRUE(t.contains(a));
  t.failed(a);
  EXPECT_FALSE(t.contains(a));
  EXPECT_EQ(t.size(), 2u);
  EXPECT_TRUE(t.contains(node_id_of(rs[3])));
  EXPECT_FALSE(t.contains(node_id_of(rs[2])));
  EXPECT_EQ(t.replacement_count(), 1u);
  // The promoted contact is most recently seen.
  EXPECT_EQ(t.all().back().id, node_id_of(rs[3]));
}

TEST(RoutingTableTest, EvictionWithoutReplacementShrinksTheBucket) {
  routing_table t{zero_id()};
  auto r = table_record(1);
  t.update(r, table_t0);
  for (int i = 0; i < 3; ++i)
    t.failed(node_id_of(r));
  EXPECT_EQ(t.size(), 0u);
  // Failures of unknown IDs and of self are ignored.
  t.failed(node_id_of(table_record(2)));
  t.failed(zero_id());
  EXPECT_EQ(t.size(), 0u);
}

TEST(RoutingTableTest, FailedReplacementIsDroppedAtOnce) {
  auto self = zero_id();
  uint64_t counter = 0;
  auto rs = records_in_bucket(self, 0, 3, counter);
  routing_table t{self, 1};
  t.update(rs[0], table_t0);
  t.update(rs[1], table_t0 + 1s);
  t.update(rs[2], table_t0 + 2s);
  EXPECT_EQ(t.replacement_count(), 2u);
  t.failed(node_id_of(rs[2]));
  EXPECT_EQ(t.replacement_count(), 1u);
  t.remove(node_id_of(rs[0]));
  EXPECT_TRUE(t.contains(node_id_of(rs[1])));
  EXPECT_EQ(t.replacement_count(), 0u);
}

TEST(RoutingTableTest, RemovePromotesReplacementAndForgetsCachedEntries) {
  auto self = zero_id();
  uint64_t counter = 0;
  auto rs = records_in_bucket(self, 3, 4, counter);
  routing_table t{self, 2};
  for (size_t i = 0; i < rs.size(); ++i)
    t.update(rs[i], table_t0 + 1s * i);
  t.remove(node_id_of(rs[2])); // cached
  EXPECT_EQ(t.replacement_count(), 1u);
  t.remove(node_id_of(rs[1]));
  EXPECT_TRUE(t.contains(node_id_of(rs[3])));
  EXPECT_EQ(t.size(), 2u);
  t.remove(node_id_of(rs[0]));
  t.remove(node_id_of(rs[3]));
  EXPECT_EQ(t.size(), 0u);
  t.remove(node_id_of(rs[3])); // unknown: ignored
}

TEST(RoutingTableTest, ReplacementCacheIsBoundedAndKeepsTheNewest) {
  auto self = zero_id();
  uint64_t counter = 0;
  auto rs = records_in_bucket(self, 0, 7, counter);
  routing_table t{self, 1, 3, 3};
  for (size_t i = 0; i < rs.size(); ++i)
    t.update(rs[i], table_t0 + 1s * i);
  EXPECT_EQ(t.replacement_count(), 3u);
  // A replacement heard from again moves to the newest end.
  t.update(rs[4], table_t0 + 10s);
  for (int i = 0; i < 3; ++i)
    t.failed(node_id_of(rs[0]));
  EXPECT_TRUE(t.contains(node_id_of(rs[4])));
  for (int i = 0; i < 3; ++i)
    t.failed(node_id_of(rs[4]));
  EXPECT_TRUE(t.contains(node_id_of(rs[6])));
  for (int i = 0; i < 3; ++i)
    t.failed(node_id_of(rs[6]));
  EXPECT_TRUE(t.contains(node_id_of(rs[5])));
  EXPECT_EQ(t.replacement_count(), 0u);
}

TEST(RoutingTableTest, ClosestMatchesBruteForceOver500RandomIds) {
  auto self = sha256(std::string_view{"self"});
  std::vector<peer_record> rs;
  for (uint64_t i = 0; i < 500; ++i)
    rs.push_back(table_record(1000 + i));
  // Large buckets: every ID fits, so `closest` must match a sort of all 500.
  routing_table big{self, 500};
  // Classic k: `closest` must match a sort of what the table holds.
  routing_table small{self, 16};
  for (const auto& r : rs) {
    big.update(r, table_t0);
    small.update(r, table_t0);
  }
  ASSERT_EQ(big.size(), 500u);
  ASSERT_LT(small.size(), 500u);
  std::mt19937_64 gen{3};
  for (int trial = 0; trial < 50; ++trial) {
    auto target = sha256(random_bytes(8, gen()));
    for (auto* t : {&big, &small}) {
      auto everyone = t->all();
      std::vector<node_id> want;
      for (const auto& c : everyone)
        want.push_back(c.id);
      std::sort(want.begin(), want.end(), [&](const auto& x, const auto& y) {
        return xor_distance(x, target) < xor_distance(y, target);
      });
      for (size_t n : {size_t{1}, size_t{16}, size_t{100}, size_t{600}}) {
        auto got = t->closest(target, n);
        ASSERT_EQ(got.size(), std::min(n, want.size()));
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_EQ(got[i].id, want[i]) << "trial " << trial << " n " << n;
      }
    }
  }
  // Without failures, a bucket holds min(k, nodes in its range).
  for (int b = 0; b < 256; ++b)
    EXPECT_EQ(small.bucket_size(b), std::min<size_t>(16, big.bucket_size(b)));
}

TEST(RoutingTableTest, AllListsEveryContactOnceInBucketOrder) {
  auto self = sha256(std::string_view{"self"});
  routing_table t{self};
  for (uint64_t i = 0; i < 300; ++i)
    t.update(table_record(i), table_t0 + 1s * i);
  auto all = t.all();
  ASSERT_EQ(all.size(), t.size());
  std::set<node_id> ids;
  int last = -1;
  for (const auto& c : all) {
    ids.insert(c.id);
    auto b = bucket_index(self, c.id);
    EXPECT_GE(b, last);
    last = b;
    EXPECT_LE(t.bucket_size(b), t.k());
  }
  EXPECT_EQ(ids.size(), all.size());
  EXPECT_EQ(t.bucket_size(-1), 0u);
  EXPECT_EQ(t.bucket_size(256), 0u);
}
