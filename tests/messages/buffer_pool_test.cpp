// Tests of messages/buffer_pool.hpp: buffers come back when their last
// reference goes (and only then), the pool keeps at most `max_kept` and only
// buffers of its capacity, sizes other than the pool's work (much smaller
// ones are not pooled), a trim frees only what stayed idle for a period, and
// buffers cross threads safely.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "messages/block.hpp"
#include "messages/buffer_pool.hpp"

using namespace cairn;

TEST(BufferPool, BufferComesBackWhenTheLastReferenceGoes) {
  buffer_pool pool{1024, 4};
  auto buf = pool.take(1024);
  ASSERT_EQ(buf.size(), 1024u);
  const uint8_t* storage = buf.data();
  auto shared = pool.share(std::move(buf));
  auto other = shared;
  EXPECT_EQ(pool.kept(), 0u);
  shared.reset();
  EXPECT_EQ(pool.kept(), 0u) << "one reference is still out";
  other.reset();
  EXPECT_EQ(pool.kept(), 1u);
  // The same memory is handed out again, at full size.
  auto again = pool.take(1024);
  EXPECT_EQ(again.data(), storage);
  EXPECT_EQ(again.size(), 1024u);
  EXPECT_EQ(pool.kept(), 0u);
}

TEST(BufferPool, ReusedBufferKeepsItsBytesAndHasTheAskedSize) {
  buffer_pool pool{256, 2};
  auto buf = pool.take(256);
  for (size_t i = 0; i < buf.size(); ++i)
    buf[i] = static_cast<uint8_t>(i);
  pool.share(std::move(buf)).reset();
  // Not zeroed on the way out or in: the caller writes every byte.
  auto shorter = pool.take(200);
  ASSERT_EQ(shorter.size(), 200u);
  EXPECT_EQ(shorter[199], 199);
  // A short buffer grows back to the pool's size when it returns.
  pool.share(std::move(shorter)).reset();
  ASSERT_EQ(pool.kept(), 1u);
  EXPECT_EQ(pool.take(256).size(), 256u);
}

TEST(BufferPool, KeepsAtMostMaxKept) {
  buffer_pool pool{64, 3};
  std::vector<shared_bytes> out;
  const bytes src(40, 1);
  for (int i = 0; i < 10; ++i)
    out.push_back(pool.copy(src.data(), src.size()));
  out.clear();
  EXPECT_EQ(pool.kept(), 3u);
}

TEST(BufferPool, BuffersOfAnotherCapacityAreFreedNotKept) {
  buffer_pool pool{64, 4};
  pool.share(bytes(32)).reset();
  pool.share(bytes(128)).reset();
  EXPECT_EQ(pool.kept(), 0u);
  // Larger than the pool's size: served, never kept.
  auto big = pool.take(100);
  EXPECT_EQ(big.size(), 100u);
  pool.share(std::move(big)).reset();
  EXPECT_EQ(pool.kept(), 0u);
  // Much smaller than the pool's size: a buffer of its own, not kept.
  auto small = pool.take(10);
  EXPECT_EQ(small.size(), 10u);
  EXPECT_LT(small.capacity(), 64u);
  pool.share(std::move(small)).reset();
  EXPECT_EQ(pool.kept(), 0u);
  // A plain vector of exactly the pool's size is welcome.
  pool.share(bytes(64)).reset();
  EXPECT_EQ(pool.kept(), 1u);
}

TEST(BufferPool, CopyHoldsTheBytes) {
  buffer_pool pool{16, 2};
  const uint8_t src[5] = {1, 2, 3, 4, 5};
  auto b = pool.copy(src, sizeof src);
  EXPECT_EQ(*b, (bytes{1, 2, 3, 4, 5}));
  EXPECT_EQ(pool.copy(src, 0)->size(), 0u);
}

TEST(BufferPool, BuffersOutliveThePool) {
  shared_bytes survivor;
  {
    buffer_pool pool{32, 2};
    survivor = pool.copy(reinterpret_cast<const uint8_t*>("abc"), 3);
  }
  EXPECT_EQ(survivor->size(), 3u);
  survivor.reset(); // returns to the pool's state, which it kept alive
}

TEST(BufferPool, BlocksMadeFromBytesReturnToTheBlockPool) {
  auto& pool = buffer_pool::blocks();
  auto buf = pool.take(default_block_size);
  const uint8_t* storage = buf.data();
  std::fill(buf.begin(), buf.end(), uint8_t{7});
  auto b = block::make(std::move(buf));
  EXPECT_TRUE(b.verify());
  b.data.reset();
  // The most recently returned buffer is the next one handed out.
  EXPECT_EQ(pool.take(default_block_size).data(), storage);
}

namespace {

// Makes `n` buffers idle in `pool`.
void fill_idle(buffer_pool& pool, size_t n, size_t size) {
  std::vector<shared_bytes> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(pool.share(pool.take(size)));
}

// Takes `n` buffers and gives them back.
void use(buffer_pool& pool, size_t n, size_t size) {
  fill_idle(pool, n, size);
}

} // namespace

TEST(BufferPool, TrimFreesOnlyWhatStayedIdleForAPeriod) {
  using namespace std::chrono_literals;
  buffer_pool pool{64, 10, 2, 30s};
  fill_idle(pool, 8, 64);
  ASSERT_EQ(pool.kept(), 8u);
  // Early in the clock's epoch (a machine up for 5 s), like any time.
  const auto t0 = buffer_pool::clock::time_point{} + 5s;
  // The first trim starts the first period: nothing was watched before it.
  EXPECT_EQ(pool.trim(t0), 0u);
  use(pool, 3, 64); // 3 of the 8 were needed, 5 stayed idle
  EXPECT_EQ(pool.trim(t0 + 10s), 0u) << "within the period: nothing happens";
  EXPECT_EQ(pool.trim(t0 + 31s), 5u);
  EXPECT_EQ(pool.kept(), 3u);
  // A quiet period frees the rest down to min_kept, and no further.
  EXPECT_EQ(pool.trim(t0 + 62s), 1u);
  EXPECT_EQ(pool.kept(), 2u);
  EXPECT_EQ(pool.trim(t0 + 93s), 0u);
  EXPECT_EQ(pool.kept(), 2u);
}

TEST(BufferPool, TrimKeepsEverythingABurstNeeded) {
  using namespace std::chrono_literals;
  buffer_pool pool{64, 10, 0, 30s};
  fill_idle(pool, 6, 64);
  const auto t0 = buffer_pool::clock::now();
  pool.trim(t0);
  // A burst that took all 6 and more (the pool ran dry) needs them all.
  use(pool, 9, 64);
  EXPECT_EQ(pool.kept(), 9u);
  EXPECT_EQ(pool.trim(t0 + 31s), 0u);
  EXPECT_EQ(pool.kept(), 9u);
  // The next period is quiet: all of them go.
  EXPECT_EQ(pool.trim(t0 + 62s), 9u);
  EXPECT_EQ(pool.kept(), 0u);
}

namespace {

// This process's resident anonymous memory in KiB (0 if unknown).
long rss_anon_kib() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("RssAnon:", 0) == 0)
      return std::stol(line.substr(8));
  return 0;
}

} // namespace

TEST(BufferPool, TrimGivesTheFreedPagesBackToTheSystem) {
  using namespace std::chrono_literals;
  // 512 buffers of 64 KiB, written (resident), then left idle: even where
  // `free` would keep them (between other blocks of the heap, or in a
  // sanitizer's quarantine) their pages leave the process.
  buffer_pool pool{65536, 1024, 0, 0s};
  {
    std::vector<shared_bytes> out;
    for (int i = 0; i < 512; ++i) {
      auto buf = pool.take(65536);
      std::fill(buf.begin(), buf.end(), uint8_t{1});
      out.push_back(pool.share(std::move(buf)));
    }
  }
  ASSERT_EQ(pool.kept(), 512u);
  // Allocated after them, so that none lies at the top of the heap, where
  // `free` alone would give memory back.
  std::vector<uint8_t> fence(65536, 1);
  auto before = rss_anon_kib();
  if (before == 0)
    GTEST_SKIP() << "no RssAnon in /proc/self/status";
  const auto t0 = buffer_pool::clock::now();
  pool.trim(t0);
  EXPECT_EQ(pool.trim(t0 + 1s), 512u);
  auto after = rss_anon_kib();
  EXPECT_LT(after, before - 8 * 1024)
    << "RssAnon " << before << " KiB before the trim, " << after << " after";
  EXPECT_EQ(fence[65535], 1);
}

TEST(BufferPool, ThreadsTakeAndReturnConcurrently) {
  // Trims run all the while (no period), as any engine's tick may do.
  buffer_pool pool{4096, 16, 2, std::chrono::seconds{0}};
  std::atomic<int> bad{0};
  std::atomic<bool> done{false};
  std::thread trimmer{[&pool, &done] {
    while (!done)
      pool.trim(buffer_pool::clock::now());
  }};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&pool, &bad, t] {
      // Each thread holds its last few buffers while the others take and
      // return theirs: a buffer handed out twice would be overwritten.
      std::deque<std::pair<uint8_t, shared_bytes>> held;
      for (int i = 0; i < 2000; ++i) {
        auto mark = static_cast<uint8_t>(t * 64 + i % 64);
        auto buf = pool.take(4096);
        std::fill(buf.begin(), buf.end(), mark);
        held.emplace_back(mark, pool.share(std::move(buf)));
        if (held.size() > 4) {
          auto& [m, b] = held.front();
          if (std::any_of(b->begin(), b->end(),
                          [m = m](uint8_t x) { return x != m; }))
            ++bad;
          held.pop_front();
        }
        std::this_thread::yield();
      }
    });
  for (auto& th : threads)
    th.join();
  done = true;
  trimmer.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(pool.kept(), 16u);
}
