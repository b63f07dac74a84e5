// Tests of messages/tree_sources.hpp: the per-tree counts of who delivered
// blocks, their bound, and a download's share of them (counted from its
// start, frozen at its end).

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "messages/tree_sources.hpp"

using cairn::byte_view;
using cairn::cid;
using cairn::download_sources;
using cairn::multicodec;
using cairn::source_batch;
using cairn::source_tally;
using cairn::tree_sources;

namespace {

cid tree_named(const std::string& name) {
  return cid::of(multicodec::codex_root, byte_view{name});
}

// `blocks` first copies and `dups` duplicates of `tree` from `peer`, in
// one message.
void deliver(tree_sources& log, const std::string& peer, const cid& tree,
             int blocks, int dups = 0) {
  source_batch b;
  for (int i = 0; i < blocks; ++i)
    b.delivered(tree);
  for (int i = 0; i < dups; ++i)
    b.duplicate(tree);
  log.record(peer, b);
}

} // namespace

TEST(TreeSourcesTest, CountsPerTreeAndPeer) {
  tree_sources log;
  auto t1 = tree_named("one");
  auto t2 = tree_named("two");
  EXPECT_EQ(log.read(t1).record, 0u);
  EXPECT_TRUE(log.read(t1).blocks.empty());
  source_batch b;
  b.delivered(t1);
  b.delivered(t2);
  b.delivered(t1);
  b.duplicate(t2);
  log.record("A", b);
  deliver(log, "B", t1, 5, 1);
  auto x = log.read(t1);
  EXPECT_EQ(x.blocks.size(), 2u);
  EXPECT_EQ(x.blocks["A"], 2u);
  EXPECT_EQ(x.blocks["B"], 5u);
  EXPECT_EQ(x.total(), 7u);
  EXPECT_EQ(x.duplicates, 1u);
  auto y = log.read(t2);
  EXPECT_EQ(y.blocks.size(), 1u);
  EXPECT_EQ(y.blocks["A"], 1u);
  EXPECT_EQ(y.duplicates, 1u);
  EXPECT_NE(x.record, y.record);
  // Only duplicates: the peer is not listed as a source.
  deliver(log, "C", t2, 0, 3);
  EXPECT_EQ(log.read(t2).blocks.count("C"), 0u);
  EXPECT_EQ(log.read(t2).duplicates, 4u);
  EXPECT_EQ(log.size(), 2u);
}

TEST(TreeSourcesTest, ForgetsTheTreeRecordedIntoLeastRecently) {
  tree_sources log{2};
  auto t1 = tree_named("one");
  auto t2 = tree_named("two");
  auto t3 = tree_named("three");
  deliver(log, "A", t1, 1);
  deliver(log, "A", t2, 1);
  deliver(log, "A", t1, 1); // t1 recorded into after t2
  deliver(log, "A", t3, 1);
  EXPECT_EQ(log.size(), 2u);
  EXPECT_EQ(log.read(t1).total(), 2u);
  EXPECT_EQ(log.read(t2).record, 0u) << "t2 was forgotten";
  EXPECT_EQ(log.read(t3).total(), 1u);
  // Begun again, it is a new record.
  auto before = log.read(t3);
  deliver(log, "A", t2, 1);
  EXPECT_EQ(log.read(t2).total(), 1u);
  EXPECT_EQ(log.read(t3).record, before.record);
}

TEST(TreeSourcesTest, SinceSubtractsPerPeerAndDropsPeersWithoutNews) {
  tree_sources log;
  auto t = tree_named("t");
  deliver(log, "A", t, 4, 1);
  deliver(log, "B", t, 2);
  auto before = log.read(t);
  deliver(log, "A", t, 3, 2);
  deliver(log, "C", t, 1);
  auto d = log.read(t).since(before);
  EXPECT_EQ(d.blocks.size(), 2u);
  EXPECT_EQ(d.blocks["A"], 3u);
  EXPECT_EQ(d.blocks["C"], 1u);
  EXPECT_EQ(d.blocks.count("B"), 0u);
  EXPECT_EQ(d.duplicates, 2u);
  // From a record that was forgotten: everything counted since.
  source_tally stale = before;
  stale.record += 1000;
  EXPECT_EQ(log.read(t).since(stale).total(), 10u);
}

TEST(TreeSourcesTest, TwoDownloadsOfOneTreeCountOnlyTheirOwn) {
  auto log = std::make_shared<tree_sources>();
  auto t = tree_named("dataset");
  auto other = tree_named("other");
  deliver(*log, "X", t, 9); // an earlier download of the same tree

  download_sources first;
  first.begin(log, t);
  EXPECT_EQ(first.get().total(), 0u);
  deliver(*log, "A", t, 6, 1);
  deliver(*log, "B", t, 4);
  deliver(*log, "A", other, 50, 5);
  auto running = first.get();
  EXPECT_EQ(running.total(), 10u);
  EXPECT_EQ(running.blocks["A"], 6u);
  EXPECT_EQ(running.blocks["B"], 4u);
  EXPECT_EQ(running.duplicates, 1u);
  first.end();

  // A second download of the tree, after the first ended (its blocks were
  // deleted and are fetched again).
  download_sources second;
  second.begin(log, t);
  deliver(*log, "B", t, 10, 2);
  first.end(); // a second end changes nothing
  auto a = first.get();
  EXPECT_EQ(a.total(), 10u) << "the first download's figures are frozen";
  EXPECT_EQ(a.blocks["A"], 6u);
  EXPECT_EQ(a.blocks["B"], 4u);
  EXPECT_EQ(a.duplicates, 1u);
  auto b = second.get();
  EXPECT_EQ(b.total(), 10u) << "the second counts only its own blocks";
  EXPECT_EQ(b.blocks.size(), 1u);
  EXPECT_EQ(b.blocks["B"], 10u);
  EXPECT_EQ(b.duplicates, 2u);
  second.end();
  deliver(*log, "C", t, 3);
  EXPECT_EQ(second.get().total(), 10u);
  EXPECT_EQ(log->read(t).total(), 32u);
}

TEST(TreeSourcesTest, ADownloadCountsFromTheMarkBeforeItsFirstBlocks) {
  auto log = std::make_shared<tree_sources>();
  auto known = tree_named("known");
  auto fresh = tree_named("fresh");
  deliver(*log, "X", known, 9); // an earlier download of the same tree
  // The manifests arrived; their first leaves come before the downloads
  // begin.
  log->mark(known);
  log->mark(fresh);
  deliver(*log, "A", known, 5);
  deliver(*log, "A", fresh, 7);
  download_sources a, b;
  a.begin(log, known);
  b.begin(log, fresh);
  deliver(*log, "B", known, 2);
  EXPECT_EQ(a.get().total(), 7u);
  EXPECT_EQ(a.get().blocks["A"], 5u);
  EXPECT_EQ(a.get().blocks.count("X"), 0u);
  EXPECT_EQ(b.get().total(), 7u);
  // A mark counts for one download: the next begins from its own start.
  download_sources c;
  c.begin(log, known);
  EXPECT_EQ(c.get().total(), 0u);
  // Marks are bounded like trees: of five, two are held (the last one
  // among them), the others read as of now.
  tree_sources small{2};
  for (int i = 0; i < 5; ++i)
    small.mark(tree_named("t" + std::to_string(i)));
  std::vector<int> held;
  for (int i = 0; i < 5; ++i) {
    auto t = tree_named("t" + std::to_string(i));
    deliver(small, "A", t, 3);
    if (small.take_mark(t).total() == 0)
      held.push_back(i);
  }
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held.back(), 4);
}

TEST(TreeSourcesTest, ADownloadWithoutALogCountsNothing) {
  download_sources d;
  EXPECT_EQ(d.get().total(), 0u);
  d.begin(nullptr, tree_named("t"));
  EXPECT_EQ(d.get().total(), 0u);
  d.end();
  EXPECT_EQ(d.get().duplicates, 0u);
}

TEST(TreeSourcesTest, ThreadsShareItSafely) {
  tree_sources log{8};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&log, t] {
      for (int i = 0; i < 500; ++i) {
        deliver(log, "peer" + std::to_string(t),
                tree_named(std::to_string(i % 5)), 1);
        log.read(tree_named(std::to_string(i % 7)));
      }
    });
  for (auto& t : ts)
    t.join();
  EXPECT_EQ(log.size(), 5u);
  uint64_t total = 0;
  for (int i = 0; i < 5; ++i)
    total += log.read(tree_named(std::to_string(i))).total();
  EXPECT_EQ(total, 2000u);
}
