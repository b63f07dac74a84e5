// Corruption tests of storage/store_verify.hpp: a real LMDB store is
// corrupted one way at a time through its own environment (bad bytes under a
// block key, a lost leaf block, a bumped refcount, a skewed counter, an
// orphan block, stray leaves); the verifier must name exactly that problem,
// and after a repair the next verification must be clean. The store's own
// operations (uploads, network leaves, parked blocks, deletes, expiry) must
// leave it clean.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <lmdb.h>

#include "messages/block.hpp"
#include "messages/cid.hpp"
#include "messages/error.hpp"
#include "storage/lmdb_store.hpp"
#include "storage/merkle_tree.hpp"
#include "storage/store_verify.hpp"
#include "storage/test_datasets.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace cairn::storage;
using namespace cairn::test::datasets;
using cairn::test::random_bytes;

namespace {

constexpr uint64_t verify_ttl = 1000;
constexpr uint64_t now = 5000;

std::string key_of(const cid& id) {
  auto b = id.to_bytes();
  return {b.begin(), b.end()};
}

MDB_val val(const std::string& s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

} // namespace

class StoreVerifyTest : public ::testing::Test {
protected:
  void SetUp() override {
    lmdb_options o;
    o.path = dir_.file("store");
    o.block_ttl = std::chrono::seconds{verify_ttl};
    o.initial_map_size = uint64_t{64} << 20;
    auto st = lmdb_store::open(o);
    ASSERT_OK(st);
    st_ = std::move(*st);
    a_ = random_dataset(5, 1, 100);
    b_ = random_dataset(3, 2);
    ASSERT_OK(upload(*st_, a_, now));
    ASSERT_OK(upload(*st_, b_, now));
  }

  // Changes the store's records in one raw write transaction.
  template <class F>
  void corrupt(F&& f) {
    auto h = st_->raw_handles();
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(h.env, nullptr, 0, &txn), 0);
    f(txn, h);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
  }

  static void put(MDB_txn* txn, MDB_dbi dbi, const std::string& k,
                  const std::string& v) {
    MDB_val kv = val(k), vv = val(v);
    ASSERT_EQ(mdb_put(txn, dbi, &kv, &vv, 0), 0);
  }

  static std::string get(MDB_txn* txn, MDB_dbi dbi, const std::string& k) {
    MDB_val kv = val(k), vv;
    EXPECT_EQ(mdb_get(txn, dbi, &kv, &vv), 0);
    return {static_cast<const char*>(vv.mv_data), vv.mv_size};
  }

  static void del(MDB_txn* txn, MDB_dbi dbi, const std::string& k) {
    MDB_val kv = val(k);
    ASSERT_EQ(mdb_del(txn, dbi, &kv, nullptr), 0);
  }

  // Adds `delta` to a little-endian integer of `len` bytes at `off`.
  static std::string bump(std::string v, size_t off, size_t len,
                          int64_t delta) {
    uint64_t x = 0;
    for (size_t i = 0; i < len; ++i)
      x |= uint64_t{static_cast<uint8_t>(v[off + i])} << (8 * i);
    x += static_cast<uint64_t>(delta);
    for (size_t i = 0; i < len; ++i)
      v[off + i] = static_cast<char>(static_cast<uint8_t>(x >> (8 * i)));
    return v;
  }

  verify_report verify(verify_options opts = {}) {
    auto r = verify_store(*st_, opts);
    EXPECT_OK(r);
    return r ? std::move(*r) : verify_report{};
  }

  // The problems' kinds and texts, one per line, for failure messages.
  static std::string lines(const verify_report& r) {
    std::string out;
    for (auto& p : r.problems)
      out += std::string{to_string(p.kind)} + ": " + p.text + "\n";
    return out;
  }

  // Exactly one problem, of `kind`, whose text names `what`.
  void expect_only(store_problem_kind kind, const std::string& what) {
    auto r = verify();
    ASSERT_EQ(r.problems.size(), 1u) << lines(r);
    EXPECT_EQ(r.problems[0].kind, kind) << lines(r);
    EXPECT_NE(r.problems[0].text.find(what), std::string::npos) << lines(r);
  }

  // Repairs what `verify` finds; afterwards the store verifies clean.
  repair_report repair_to_clean(bool drop_datasets = true) {
    auto found = verify();
    auto rep = repair_store(*st_, found, repair_options{drop_datasets, now});
    EXPECT_OK(rep);
    auto after = verify();
    EXPECT_TRUE(after.clean()) << lines(after);
    return rep ? std::move(*rep) : repair_report{};
  }

  void expect_listed(std::vector<cid> want) {
    auto list = st_->list_datasets();
    ASSERT_OK(list);
    std::vector<cid> got;
    for (auto& e : *list)
      got.push_back(e.manifest_cid);
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want);
  }

  void expect_readable(const dataset& ds) {
    for (uint64_t i = 0; i < ds.blocks.size(); ++i) {
      auto b = st_->get_leaf_block(block_address{ds.meta.tree_cid, i});
      ASSERT_OK(b) << "leaf " << i;
      EXPECT_EQ(*b->data, *ds.blocks[i].data) << "leaf " << i;
    }
  }

  test::temp_dir dir_;
  std::unique_ptr<lmdb_store> st_;
  dataset a_, b_;
};

TEST_F(StoreVerifyTest, UploadedDatasetsVerifyClean) {
  auto r = verify();
  EXPECT_TRUE(r.clean()) << lines(r);
  EXPECT_EQ(r.datasets, 2u);
  EXPECT_EQ(r.leaves, 8u);
  EXPECT_EQ(r.blocks, 10u); // 8 data blocks, 2 manifests
  EXPECT_EQ(r.bytes, st_->space().quota_used_bytes);
}

TEST_F(StoreVerifyTest, StoreOperationsLeaveTheStoreClean) {
  // A dataset fetched from the network: manifest first, then leaves, one of
  // them rebuilt and parked by CID before it is linked.
  auto c = random_dataset(4, 3);
  auto tree = merkle_tree::build(c.leaves);
  ASSERT_OK(tree);
  ASSERT_OK(st_->put_manifest(c.manifest_block, now));
  std::vector<leaf_block> leaves;
  for (uint64_t i = 0; i < 3; ++i)
    leaves.push_back(leaf_block{block_address{c.meta.tree_cid, i}, c.blocks[i],
                                *tree->proof(i)});
  ASSERT_OK(st_->put_leaves(leaves, now));
  ASSERT_OK(st_->put_blocks({c.blocks[3]}, now));
  ASSERT_OK(st_->link_leaves({leaf_link{block_address{c.meta.tree_cid, 3},
                                        c.blocks[3].id, *tree->proof(3)}},
                             now));
  // The same data uploaded again, a leaf deleted, a dataset deleted.
  ASSERT_OK(upload(*st_, a_, now + 1));
  ASSERT_OK(st_->remove_leaf(block_address{c.meta.tree_cid, 1}));
  ASSERT_OK(st_->remove(b_.id()));
  auto r = verify();
  EXPECT_TRUE(r.clean()) << lines(r);
  // Everything expires.
  ASSERT_OK(st_->expire(now + 10 * verify_ttl));
  r = verify();
  EXPECT_TRUE(r.clean()) << lines(r);
  EXPECT_EQ(r.blocks, 0u);
}

TEST_F(StoreVerifyTest, LeavesArrivingAfterTheirDownloadWasDroppedAreNotKept) {
  auto before = st_->space();
  auto c = random_dataset(4, 4);
  auto tree = merkle_tree::build(c.leaves);
  ASSERT_OK(tree);
  auto leaf = [&](uint64_t i) {
    return leaf_block{block_address{c.meta.tree_cid, i}, c.blocks[i],
                      *tree->proof(i)};
  };
  ASSERT_OK(st_->put_manifest(c.manifest_block, now));
  ASSERT_OK(st_->put_leaves({leaf(0)}, now));
  // The download fails and is dropped; another peer's blocks still come.
  auto dropped = st_->remove_partial(c.id());
  ASSERT_OK(dropped);
  ASSERT_TRUE(*dropped);
  ASSERT_OK(st_->put_leaves({leaf(1), leaf(2)}, now));
  auto r = verify();
  EXPECT_TRUE(r.clean()) << lines(r);
  EXPECT_EQ(st_->space().total_blocks, before.total_blocks);
  EXPECT_EQ(st_->space().quota_used_bytes, before.quota_used_bytes);
  EXPECT_FALSE(st_->has_block(c.blocks[1].id));
}

TEST_F(StoreVerifyTest, BadBytesUnderABlockKeyAreABadHash) {
  auto key = key_of(a_.blocks[2].id);
  corrupt([&](MDB_txn* txn, auto& h) {
    auto v = get(txn, h.blocks, key);
    v[100] = static_cast<char>(v[100] ^ 0x5a);
    put(txn, h.blocks, key, v);
  });
  expect_only(store_problem_kind::bad_hash, a_.blocks[2].id.to_string());
  auto rep = repair_to_clean();
  // The dataset lost a block and goes; the other stays whole.
  expect_listed({b_.id()});
  expect_readable(b_);
  EXPECT_FALSE(st_->has_block(a_.blocks[0].id));
  ASSERT_FALSE(rep.actions.empty());
  EXPECT_NE(rep.actions[0].find("deleted block"), std::string::npos);
}

TEST_F(StoreVerifyTest, LostLeafBlockIsAMissingBlockOfItsDataset) {
  // The block goes with its metadata, index entry and counters, as if it
  // had never been stored: only the leaf still points to it.
  auto key = key_of(b_.blocks[1].id);
  corrupt([&](MDB_txn* txn, auto& h) {
    auto meta = get(txn, h.meta, key);
    std::string ek;
    for (int i = 7; i >= 0; --i)
      ek.push_back(meta[8 + i]);
    del(txn, h.expiry, ek + key);
    del(txn, h.meta, key);
    del(txn, h.blocks, key);
    put(txn, h.stats, "used",
        bump(get(txn, h.stats, "used"), 0, 8, -int64_t(bs)));
    put(txn, h.stats, "blocks", bump(get(txn, h.stats, "blocks"), 0, 8, -1));
  });
  expect_only(store_problem_kind::missing_block, b_.id().to_string());
  repair_to_clean();
  expect_listed({a_.id()});
  expect_readable(a_);
  EXPECT_FALSE(st_->has_block(b_.blocks[0].id));
  EXPECT_FALSE(st_->has_block(b_.id()));
}

TEST_F(StoreVerifyTest, BumpedRefcountIsARefcountProblem) {
  auto key = key_of(a_.blocks[0].id);
  corrupt([&](MDB_txn* txn, auto& h) {
    put(txn, h.meta, key, bump(get(txn, h.meta, key), 0, 4, 1));
  });
  expect_only(store_problem_kind::refcount, a_.blocks[0].id.to_string());
  repair_to_clean();
  EXPECT_EQ(*st_->refcount_of(a_.blocks[0].id), 1u);
  expect_listed({a_.id(), b_.id()});
}

TEST_F(StoreVerifyTest, SkewedQuotaIsAQuotaProblem) {
  auto before = st_->space().quota_used_bytes;
  corrupt([&](MDB_txn* txn, auto& h) {
    put(txn, h.stats, "used", bump(get(txn, h.stats, "used"), 0, 8, 4096));
  });
  expect_only(store_problem_kind::quota, "used");
  repair_to_clean();
  EXPECT_EQ(st_->space().quota_used_bytes, before);
}

TEST_F(StoreVerifyTest, BlockNothingReferencesIsAnOrphan) {
  // An upload cut short: its blocks are put, its manifest never is.
  auto cut = random_dataset(1, 9);
  ASSERT_OK(st_->put_blocks(cut.blocks, now));
  expect_only(store_problem_kind::orphan, cut.blocks[0].id.to_string());
  // While the node runs, an upload may still hold it.
  auto online = verify(verify_options{true, now});
  EXPECT_TRUE(online.clean()) << lines(online);
  auto rep = repair_to_clean();
  EXPECT_EQ(rep.orphans, 1u);
  EXPECT_EQ(rep.orphan_bytes, bs);
  EXPECT_FALSE(st_->has_block(cut.blocks[0].id));
  expect_listed({a_.id(), b_.id()});
}

TEST_F(StoreVerifyTest, StartUpPassReclaimsOrphansAndKeepsDatasets) {
  auto cut = random_dataset(3, 10);
  ASSERT_OK(st_->put_blocks(cut.blocks, now));
  // A leaked reference on a block a dataset owns too.
  ASSERT_OK(st_->put_blocks({a_.blocks[1]}, now));
  auto rep = repair_store(*st_, verify_report{}, repair_options{false, now});
  ASSERT_OK(rep);
  EXPECT_EQ(rep->orphans, 3u);
  auto r = verify();
  EXPECT_TRUE(r.clean()) << lines(r);
  expect_listed({a_.id(), b_.id()});
  expect_readable(a_);
}

// A store with nothing to fix is left as it is: no transaction commits
// (and none is fsynced), as at every start of a node that stopped cleanly.
TEST_F(StoreVerifyTest, RepairOfACleanStoreWritesNothing) {
  auto last_txn = [&] {
    MDB_envinfo info;
    mdb_env_info(st_->raw_handles().env, &info);
    return info.me_last_txnid;
  };
  auto before = last_txn();
  auto rep = repair_store(*st_, verify_report{}, repair_options{false, now});
  ASSERT_OK(rep);
  EXPECT_TRUE(rep->actions.empty());
  EXPECT_EQ(last_txn(), before);
  // One leaked reference: that repair commits.
  ASSERT_OK(st_->put_blocks({a_.blocks[1]}, now));
  before = last_txn();
  rep = repair_store(*st_, verify_report{}, repair_options{false, now});
  ASSERT_OK(rep);
  EXPECT_FALSE(rep->actions.empty());
  EXPECT_EQ(last_txn(), before + 1);
  EXPECT_TRUE(verify().clean());
}

TEST_F(StoreVerifyTest, LeavesOfATreeNoManifestUsesAreStray) {
  corrupt(
    [&](MDB_txn* txn, auto& h) { del(txn, h.manifests, key_of(b_.id())); });
  auto r = verify();
  // The tree's count, its leaves and its blocks are all left over.
  bool stray = false;
  for (auto& p : r.problems)
    stray =
      stray || (p.kind == store_problem_kind::stray_leaf &&
                p.text.find(b_.meta.tree_cid.to_string()) != std::string::npos);
  EXPECT_TRUE(stray) << lines(r);
  repair_to_clean();
  expect_listed({a_.id()});
  EXPECT_FALSE(st_->has_block(b_.blocks[0].id));
}

TEST_F(StoreVerifyTest, VerificationCanBeCancelled) {
  std::atomic<bool> cancel{true};
  EXPECT_ERR(verify_store(*st_, verify_options{true, 0, &cancel}),
             ec::shutting_down);
}
