// Tests of storage/provider_store.hpp: provider keys, adding, refreshing and
// replacing records by seq, expiry, and the per-key and total bounds.

#include <chrono>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "messages/cid.hpp"
#include "messages/peer_record.hpp"
#include "messages/sha256.hpp"
#include "storage/provider_store.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace cairn::storage;
using cairn::test::random_bytes;
using namespace std::chrono_literals;

namespace {

const dht_clock::time_point store_t0{};

// Unsigned records with random keys: the store does not verify signatures.
peer_record peer(uint64_t n, uint64_t seq = 1) {
  peer_record r;
  auto b = random_bytes(32, n + 5);
  std::copy(b.begin(), b.end(), r.public_key.begin());
  r.seq = seq;
  r.addrs = {"/ip4/10.0.0.1/tcp/" + std::to_string(1000 + n)};
  return r;
}

digest256 provider_key(uint64_t n) {
  return sha256(random_bytes(8, n + 900));
}

} // namespace

TEST(ProviderStoreTest, ProviderKeyIsSha256OfCidBytes) {
  auto c = cid::of(multicodec::codex_manifest, random_bytes(100, 1));
  EXPECT_EQ(provider_key(c), sha256(c.to_bytes()));
  auto d = cid{multicodec::codex_root, c.digest};
  EXPECT_NE(provider_key(c), provider_key(d));
}

TEST(ProviderStoreTest, AddThenGetReturnsProviders) {
  provider_store s;
  EXPECT_EQ(s.add(provider_key(1), peer(1), store_t0), provide_status::added);
  EXPECT_EQ(s.add(provider_key(1), peer(2), store_t0 + 1s),
            provide_status::added);
  EXPECT_EQ(s.add(provider_key(2), peer(1), store_t0), provide_status::added);
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.provider_count(), 3u);
  auto got = s.get(provider_key(1), store_t0 + 2s);
  ASSERT_EQ(got.size(), 2u);
  // Latest expiry first.
  EXPECT_EQ(got[0], peer(2));
  EXPECT_EQ(got[1], peer(1));
  EXPECT_TRUE(s.get(provider_key(3), store_t0).empty());
  EXPECT_EQ(s.get(provider_key(1), store_t0, 1).size(), 1u);
}

TEST(ProviderStoreTest, ReprovideRefreshesExpiryAndNewerSeqReplacesRecord) {
  provider_store s;
  s.add(provider_key(1), peer(1, 5), store_t0, 10s);
  EXPECT_EQ(s.add(provider_key(1), peer(1, 5), store_t0 + 8s, 10s),
            provide_status::refreshed);
  EXPECT_EQ(s.get(provider_key(1), store_t0 + 15s).size(),
            1u); // expiry now store_t0 + 18s
  auto newer = peer(1, 9);
  newer.addrs = {"/ip4/10.9.9.9/tcp/9"};
  EXPECT_EQ(s.add(provider_key(1), newer, store_t0 + 9s, 10s),
            provide_status::refreshed);
  auto got = s.get(provider_key(1), store_t0 + 9s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], newer);
  EXPECT_EQ(s.add(provider_key(1), peer(1, 3), store_t0 + 9s),
            provide_status::stale);
  EXPECT_EQ(s.get(provider_key(1), store_t0 + 9s)[0], newer);
  EXPECT_EQ(s.provider_count(), 1u);
}

TEST(ProviderStoreTest, ExpiredProvidersAreHiddenAndSwept) {
  provider_store s;
  s.add(provider_key(1), peer(1), store_t0, 10s);
  s.add(provider_key(1), peer(2), store_t0, 20s);
  s.add(provider_key(2), peer(3), store_t0, 10s);
  EXPECT_EQ(s.get(provider_key(1), store_t0 + 10s).size(),
            1u); // expiry is exclusive
  EXPECT_EQ(s.get(provider_key(1), store_t0 + 9s).size(), 2u);
  EXPECT_EQ(s.expire(store_t0 + 10s), 2u);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.provider_count(), 1u);
  EXPECT_EQ(s.expire(store_t0 + 10s), 0u);
  EXPECT_EQ(s.expire(store_t0 + 1h), 1u);
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.provider_count(), 0u);
}

TEST(ProviderStoreTest, DefaultTtlIs24Hours) {
  provider_store s;
  s.add(provider_key(1), peer(1), store_t0);
  EXPECT_EQ(s.get(provider_key(1), store_t0 + 24h - 1s).size(), 1u);
  EXPECT_TRUE(s.get(provider_key(1), store_t0 + 24h).empty());
}

TEST(ProviderStoreTest, AtMost20ProvidersPerKeyDroppingTheOldestExpiry) {
  provider_store s;
  for (uint64_t i = 0; i < 20; ++i)
    EXPECT_EQ(s.add(provider_key(1), peer(i), store_t0 + 1s * i),
              provide_status::added);
  EXPECT_EQ(s.get(provider_key(1), store_t0 + 30s, 100).size(), 20u);
  // The 21st replaces peer 0, whose record expires first.
  EXPECT_EQ(s.add(provider_key(1), peer(100), store_t0 + 30s),
            provide_status::added);
  auto got = s.get(provider_key(1), store_t0 + 30s, 100);
  ASSERT_EQ(got.size(), 20u);
  EXPECT_EQ(got[0], peer(100));
  for (const auto& r : got)
    EXPECT_NE(r, peer(0));
  EXPECT_EQ(s.provider_count(), 20u);
  // A newcomer that would expire before all of them is refused.
  EXPECT_EQ(s.add(provider_key(1), peer(101), store_t0, 1s),
            provide_status::full);
  // Expired entries make room first.
  for (uint64_t i = 200; i < 220; ++i)
    s.add(provider_key(2), peer(i), store_t0, 10s);
  EXPECT_EQ(s.add(provider_key(2), peer(300), store_t0 + 11s, 1s),
            provide_status::added);
  EXPECT_EQ(s.get(provider_key(2), store_t0 + 11s, 100).size(), 1u);
  EXPECT_EQ(s.provider_count(), 21u);
}

TEST(ProviderStoreTest, RefusesNewKeysBeyondTheLimit) {
  provider_store s{3, 20};
  for (uint64_t i = 0; i < 3; ++i)
    EXPECT_EQ(s.add(provider_key(i), peer(1), store_t0, 10s),
              provide_status::added);
  EXPECT_EQ(s.add(provider_key(3), peer(1), store_t0), provide_status::full);
  // Known keys still take providers.
  EXPECT_EQ(s.add(provider_key(0), peer(2), store_t0), provide_status::added);
  EXPECT_EQ(s.size(), 3u);
  // Once swept, expired keys free their slots.
  s.expire(store_t0 + 10s);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.add(provider_key(3), peer(1), store_t0 + 10s),
            provide_status::added);
}

TEST(ProviderStoreTest, DefaultLimitIs100000Keys) {
  provider_store s;
  auto p = peer(1);
  for (uint64_t i = 0; i < 100000; ++i) {
    digest256 k{};
    for (int b = 0; b < 8; ++b)
      k[b] = static_cast<uint8_t>(i >> (8 * b));
    ASSERT_EQ(s.add(k, p, store_t0), provide_status::added);
  }
  EXPECT_EQ(s.size(), 100000u);
  EXPECT_EQ(s.add(provider_key(1), p, store_t0), provide_status::full);
}
