// Tests of storage/store_batcher.hpp: when a downloader's verified leaves
// go to the store.

#include "storage/store_batcher.hpp"

#include <chrono>

#include <gtest/gtest.h>

using cairn::storage::store_batcher;
using namespace std::chrono_literals;

namespace {

const store_batcher::clock::time_point batch_t0{std::chrono::hours{1}};

// A batcher whose one commit of `n` leaves returned at `at`.
store_batcher batcher_after_commit(store_batcher::clock::time_point at,
                                   size_t n = 10) {
  store_batcher b;
  b.started(n);
  b.finished(n, at);
  return b;
}

} // namespace

TEST(StoreBatcherTest, TheFirstLeavesOfADownloadGoAtOnce) {
  store_batcher b;
  // Never committed: idle. One leaf of many awaited goes now.
  EXPECT_FALSE(b.commit_now(1));
  EXPECT_EQ(b.on_waiting(1, 1000, batch_t0), store_batcher::flush::now);
  // A second leaf before that message arrived: it takes both.
  EXPECT_EQ(b.on_waiting(2, 1000, batch_t0), store_batcher::flush::none);
  EXPECT_TRUE(b.flush_arrived(batch_t0));
  EXPECT_TRUE(b.may_commit(2));
}

TEST(StoreBatcherTest, LeavesThatFlowWaitForMoreAfterACommit) {
  auto b = batcher_after_commit(batch_t0);
  // 1 ms after the last commit, with more blocks coming: the flush comes
  // `wait` later, and only one is sent however many leaves queue meanwhile.
  EXPECT_EQ(b.on_waiting(1, 1000, batch_t0 + 1ms), store_batcher::flush::later);
  for (size_t n = 2; n < store_batcher::full_batch; ++n) {
    EXPECT_FALSE(b.commit_now(n));
    EXPECT_EQ(b.on_waiting(n, 1000, batch_t0 + 2ms),
              store_batcher::flush::none);
  }
  // A full batch starts a commit without the message.
  EXPECT_TRUE(b.commit_now(store_batcher::full_batch));
  EXPECT_TRUE(b.may_commit(store_batcher::full_batch));
}

TEST(StoreBatcherTest, AStoreIdleForTheWaitTakesLeavesAtOnce) {
  auto b = batcher_after_commit(batch_t0);
  EXPECT_EQ(b.on_waiting(1, 1000, batch_t0 + store_batcher::wait),
            store_batcher::flush::now);
}

TEST(StoreBatcherTest, TheLastLeavesOfADownloadDoNotWait) {
  auto b = batcher_after_commit(batch_t0);
  // Flowing: the timed flush is on its way.
  EXPECT_EQ(b.on_waiting(3, 20, batch_t0 + 1ms), store_batcher::flush::later);
  // 12 more are committing, and 8 wait: nothing else is awaited, so a
  // flush goes now rather than at the timed one.
  b.started(12);
  EXPECT_EQ(b.on_waiting(8, 20, batch_t0 + 2ms), store_batcher::flush::now);
  // Sent once.
  EXPECT_EQ(b.on_waiting(8, 20, batch_t0 + 2ms), store_batcher::flush::none);
}

TEST(StoreBatcherTest, OneCommitRunsAtATimeUntilASecondBatchWaits) {
  store_batcher b;
  EXPECT_FALSE(b.may_commit(0));
  b.started(64);
  EXPECT_EQ(b.in_flight(), 1u);
  EXPECT_EQ(b.committing(), 64u);
  EXPECT_FALSE(b.commit_now(store_batcher::full_batch));
  EXPECT_FALSE(b.may_commit(store_batcher::second_batch - 1));
  EXPECT_TRUE(b.commit_now(store_batcher::second_batch));
  EXPECT_TRUE(b.may_commit(store_batcher::second_batch));
  b.started(store_batcher::second_batch);
  EXPECT_FALSE(b.may_commit(1000));
  b.finished(64, batch_t0);
  b.finished(store_batcher::second_batch, batch_t0);
  EXPECT_EQ(b.in_flight(), 0u);
  EXPECT_EQ(b.committing(), 0u);
  EXPECT_TRUE(b.may_commit(1));
}

TEST(StoreBatcherTest, NothingWaitingSendsNothing) {
  store_batcher b;
  EXPECT_EQ(b.on_waiting(0, 0, batch_t0), store_batcher::flush::none);
  EXPECT_EQ(b.on_waiting(0, 100, batch_t0), store_batcher::flush::none);
}

TEST(StoreBatcherTest, ATimedFlushThatArrivedLetsTheNextOneBeSent) {
  auto b = batcher_after_commit(batch_t0);
  EXPECT_EQ(b.on_waiting(1, 1000, batch_t0 + 1ms), store_batcher::flush::later);
  EXPECT_TRUE(b.flush_arrived(batch_t0 + 9ms));
  // It found a commit running (say), so the leaves wait on: the next
  // flush is sent again.
  b.started(5);
  EXPECT_EQ(b.on_waiting(2, 1000, batch_t0 + 9ms), store_batcher::flush::later);
}

TEST(StoreBatcherTest, ATimedFlushAnImmediateOneOvertookIsIgnored) {
  auto b = batcher_after_commit(batch_t0);
  // Timed, due at 9 ms; then the last leaves send an immediate flush.
  EXPECT_EQ(b.on_waiting(1, 1000, batch_t0 + 1ms), store_batcher::flush::later);
  EXPECT_EQ(b.on_waiting(8, 8, batch_t0 + 2ms), store_batcher::flush::now);
  EXPECT_TRUE(b.flush_arrived(batch_t0 + 2ms));
  b.started(8);
  b.finished(8, batch_t0 + 3ms);
  // A new download's leaves flow: timed again, due at 12 ms.
  EXPECT_EQ(b.on_waiting(1, 1000, batch_t0 + 4ms), store_batcher::flush::later);
  // The first timer fires at 9 ms: ignored, the leaves wait for theirs.
  EXPECT_FALSE(b.flush_arrived(batch_t0 + 9ms));
  EXPECT_EQ(b.on_waiting(2, 1000, batch_t0 + 10ms), store_batcher::flush::none);
  EXPECT_TRUE(b.flush_arrived(batch_t0 + 12ms));
  EXPECT_TRUE(b.may_commit(2));
}
