// Tests of storage/lmdb_store.hpp: blocks, datasets with leaves and proofs,
// quota, TTL expiry (time is simulated with the `now` arguments), refcounted
// deletion, reopening, and growth of a tiny LMDB map.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "messages/block.hpp"
#include "messages/cid.hpp"
#include "messages/error.hpp"
#include "messages/manifest.hpp"
#include "storage/chunker.hpp"
#include "storage/lmdb_store.hpp"
#include "storage/merkle_tree.hpp"
#include "storage/store_verify.hpp"
#include "storage/test_datasets.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace cairn::storage;
using cairn::test::random_bytes;
using namespace cairn::test::datasets;

namespace {

constexpr uint64_t ttl = 1000;

block random_block(uint64_t seed, size_t size = bs) {
  return block::make(random_bytes(size, seed));
}

} // namespace

class LmdbStoreTest : public ::testing::Test {
protected:
  lmdb_options options(uint64_t quota = uint64_t{1} << 30) {
    lmdb_options o;
    o.path = dir_.file("store");
    o.quota_bytes = quota;
    o.block_ttl = std::chrono::seconds{ttl};
    o.initial_map_size = uint64_t{64} << 20;
    return o;
  }

  std::unique_ptr<lmdb_store> open(lmdb_options o) {
    auto st = lmdb_store::open(std::move(o));
    EXPECT_OK(st);
    return st ? std::move(*st) : nullptr;
  }

  std::unique_ptr<lmdb_store> open(uint64_t quota = uint64_t{1} << 30) {
    return open(options(quota));
  }

  // Uploads `ds` to `st` whose disk fails: its commit answers storage_io.
  static void put_and_fail_commit(lmdb_store& st, const dataset& ds) {
    ASSERT_OK(st.put_blocks(ds.blocks, 0));
    EXPECT_ERR(st.commit_upload(ds.manifest_block, ds.leaves, 0),
               ec::storage_io);
  }

  // A store whose fsyncs return what `result` holds when they run (0 or an
  // errno).
  std::unique_ptr<lmdb_store> open_with_fsync(const int& result) {
    auto o = options();
    o.fsync_fault = [&result] { return result; };
    return open(o);
  }

  // Every leaf readable, with a proof that verifies, and the right bytes.
  static void expect_readable(lmdb_store& st, const dataset& ds) {
    auto mb = st.get_block(ds.id());
    ASSERT_OK(mb);
    auto m = manifest_from_block(*mb);
    ASSERT_OK(m);
    EXPECT_TRUE(*m == ds.meta);
    for (uint64_t i = 0; i < ds.blocks.size(); ++i) {
      block_address addr{ds.meta.tree_cid, i};
      auto leaf = st.get_leaf(addr);
      ASSERT_OK(leaf) << "leaf " << i;
      EXPECT_EQ(leaf->block_cid, ds.blocks[i].id);
      EXPECT_EQ(leaf->proof.index, i);
      EXPECT_EQ(leaf->proof.nleaves, ds.blocks.size());
      EXPECT_TRUE(
        verify_proof(leaf->block_cid.digest, leaf->proof, ds.meta.tree_cid))
        << "leaf " << i;
      auto b = st.get_leaf_block(addr);
      ASSERT_OK(b) << "leaf " << i;
      EXPECT_EQ(b->id, ds.blocks[i].id);
      ASSERT_TRUE(b->data);
      EXPECT_EQ(*b->data, *ds.blocks[i].data);
      EXPECT_TRUE(b->verify());
    }
  }

  // Leaf `i` of `ds` with its proof, as a network download stores it.
  static leaf_block leaf_of(const dataset& ds, uint64_t i) {
    auto tree = merkle_tree::build(ds.leaves);
    EXPECT_OK(tree);
    auto proof = tree->proof(i);
    EXPECT_OK(proof);
    return leaf_block{block_address{ds.meta.tree_cid, i}, ds.blocks[i], *proof};
  }

  static void expect_gone(lmdb_store& st, const dataset& ds) {
    EXPECT_FALSE(st.has_block(ds.id()));
    for (uint64_t i = 0; i < ds.blocks.size(); ++i)
      EXPECT_ERR(st.get_leaf(block_address{ds.meta.tree_cid, i}),
                 ec::not_found);
  }

  static std::vector<cid> listed(lmdb_store& st) {
    auto list = st.list_datasets();
    EXPECT_OK(list);
    std::vector<cid> out;
    if (list)
      for (auto& e : *list)
        out.push_back(e.manifest_cid);
    return out;
  }

  test::temp_dir dir_;
};

// -- blocks
// -----------------------------------------------------------------------

TEST_F(LmdbStoreTest, PutAndGetBlocks) {
  auto st = open();
  ASSERT_TRUE(st);
  std::vector<block> blocks{random_block(1), random_block(2, 100),
                            random_block(3, 1)};
  auto added = st->put_blocks(blocks, 0);
  ASSERT_OK(added);
  EXPECT_EQ(*added, bs + 100 + 1);
  for (auto& b : blocks) {
    EXPECT_TRUE(st->has_block(b.id));
    auto got = st->get_block(b.id);
    ASSERT_OK(got);
    EXPECT_EQ(got->id, b.id);
    EXPECT_EQ(*got->data, *b.data);
    EXPECT_TRUE(got->verify());
    EXPECT_EQ(*st->refcount_of(b.id), 1u);
  }
  auto sp = st->space();
  EXPECT_EQ(sp.total_blocks, 3u);
  EXPECT_EQ(sp.quota_used_bytes, bs + 101);
  EXPECT_EQ(sp.quota_max_bytes, uint64_t{1} << 30);
}

TEST_F(LmdbStoreTest, GetOfUnknownBlockIsNotFound) {
  auto st = open();
  ASSERT_TRUE(st);
  auto id = random_block(4).id;
  EXPECT_ERR(st->get_block(id), ec::not_found);
  EXPECT_FALSE(st->has_block(id));
  EXPECT_ERR(st->expiry_of(id), ec::not_found);
  EXPECT_ERR(st->refcount_of(id), ec::not_found);
  EXPECT_ERR(
    st->get_leaf(block_address{cid{multicodec::codex_root, id.digest}, 0}),
    ec::not_found);
  EXPECT_ERR(st->get_leaf_block(
               block_address{cid{multicodec::codex_root, id.digest}, 0}),
             ec::not_found);
}

TEST_F(LmdbStoreTest, PutBlocksTwiceAddsReferencesNotBytes) {
  auto st = open();
  ASSERT_TRUE(st);
  std::vector<block> blocks{random_block(1), random_block(2)};
  ASSERT_OK(st->put_blocks(blocks, 0));
  auto again = st->put_blocks(blocks, 0);
  ASSERT_OK(again);
  EXPECT_EQ(*again, 0u);
  EXPECT_EQ(st->space().quota_used_bytes, 2 * bs);
  EXPECT_EQ(st->space().total_blocks, 2u);
  EXPECT_EQ(*st->refcount_of(blocks[0].id), 2u);
  // The same block twice in one batch: two references, one copy.
  auto c = random_block(3);
  auto twice = st->put_blocks({c, c}, 0);
  ASSERT_OK(twice);
  EXPECT_EQ(*twice, bs);
  EXPECT_EQ(*st->refcount_of(c.id), 2u);
  EXPECT_EQ(st->space().total_blocks, 3u);
}

TEST_F(LmdbStoreTest, EmptyBatchIsOk) {
  auto st = open();
  ASSERT_TRUE(st);
  auto r = st->put_blocks({}, 0);
  ASSERT_OK(r);
  EXPECT_EQ(*r, 0u);
  EXPECT_EQ(st->space().total_blocks, 0u);
}

// -- datasets
// ---------------------------------------------------------------------

TEST_F(LmdbStoreTest, PutDatasetStoresLeavesWithProofs) {
  auto st = open();
  ASSERT_TRUE(st);
  auto ds = random_dataset(3, 10, /*tail*/ bs - 5); // 2 blocks + 5 bytes
  ASSERT_EQ(ds.blocks.size(), 3u);
  auto id = upload(*st, ds, 0);
  ASSERT_OK(id);
  EXPECT_EQ(*id, ds.id());
  expect_readable(*st, ds);
  auto list = st->list_datasets();
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].manifest_cid, ds.id());
  EXPECT_TRUE((*list)[0].meta == ds.meta);
  EXPECT_EQ((*list)[0].meta.dataset_size, 2 * bs + 5);
  // Three data blocks and the manifest.
  EXPECT_EQ(st->space().total_blocks, 4u);
  EXPECT_EQ(st->space().quota_used_bytes, 3 * bs + ds.manifest_block.size());
  // The upload's references became the leaves' references.
  for (auto& b : ds.blocks)
    EXPECT_EQ(*st->refcount_of(b.id), 1u);
  // Beyond the last leaf.
  EXPECT_ERR(st->get_leaf(block_address{ds.meta.tree_cid, 3}), ec::not_found);
}

TEST_F(LmdbStoreTest, LeafBatchReadsStoredLeavesInTheOrderAsked) {
  // Serving peers reads leaves in batches: absent ones are left out, the
  // rest come in the order asked, with their bytes (64 KiB: read with
  // pread, not from the map) and proofs.
  auto st = open();
  ASSERT_TRUE(st);
  auto ds = random_dataset(4, 11);
  ASSERT_OK(upload(*st, ds, 0));
  ASSERT_OK(st->remove_leaf(block_address{ds.meta.tree_cid, 1}));
  std::vector<block_address> asked;
  for (uint64_t i : {3, 9, 1, 0, 2})
    asked.push_back(block_address{ds.meta.tree_cid, i});
  auto got = st->get_leaf_proofs(asked);
  ASSERT_OK(got);
  ASSERT_EQ(got->size(), 3u);
  std::vector<uint64_t> want{3, 0, 2};
  for (size_t j = 0; j < want.size(); ++j) {
    auto& l = (*got)[j];
    EXPECT_EQ(l.addr, (block_address{ds.meta.tree_cid, want[j]}));
    ASSERT_TRUE(l.data.data);
    EXPECT_EQ(*l.data.data, *ds.blocks[want[j]].data);
    EXPECT_EQ(l.data.id, ds.blocks[want[j]].id);
    EXPECT_TRUE(verify_proof(l.data.id.digest, l.proof, ds.meta.tree_cid));
  }
  auto none = st->get_leaf_proofs({});
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(LmdbStoreTest, LeafBlocksAreReadOneAfterTheOtherIntoOneBuffer) {
  // A local download reads consecutive leaves straight into the buffer it
  // writes from; the run stops before a leaf that is not stored.
  auto st = open();
  ASSERT_TRUE(st);
  auto ds = random_dataset(6, 12, 100);
  ASSERT_OK(upload(*st, ds, 0));
  ASSERT_OK(st->remove_leaf(block_address{ds.meta.tree_cid, 4}));
  bytes buf(8 * bs, 0xee);
  auto got = st->read_leaf_blocks(ds.meta.tree_cid, 1, 8, bs, buf.data());
  ASSERT_OK(got);
  ASSERT_EQ(*got, 3u) << "leaves 1, 2 and 3; leaf 4 is not stored";
  for (size_t i = 0; i < 3; ++i)
    EXPECT_TRUE(std::equal(buf.begin() + i * bs, buf.begin() + (i + 1) * bs,
                           ds.blocks[1 + i].data->begin()))
      << "block " << 1 + i;
  EXPECT_EQ(buf[3 * bs], 0xee) << "nothing written past the run";
  // From the missing leaf, or past the last: none.
  got = st->read_leaf_blocks(ds.meta.tree_cid, 4, 8, bs, buf.data());
  ASSERT_OK(got);
  EXPECT_EQ(*got, 0u);
  got = st->read_leaf_blocks(ds.meta.tree_cid, 6, 8, bs, buf.data());
  ASSERT_OK(got);
  EXPECT_EQ(*got, 0u);
  // The last block, padded, and at most `max`.
  got = st->read_leaf_blocks(ds.meta.tree_cid, 5, 8, bs, buf.data());
  ASSERT_OK(got);
  ASSERT_EQ(*got, 1u);
  EXPECT_TRUE(
    std::equal(buf.begin(), buf.begin() + bs, ds.blocks[5].data->begin()));
  got = st->read_leaf_blocks(ds.meta.tree_cid, 0, 2, bs, buf.data());
  ASSERT_OK(got);
  EXPECT_EQ(*got, 2u);
  // Blocks of another size than the one asked for are not read.
  got = st->read_leaf_blocks(ds.meta.tree_cid, 0, 2, bs / 2, buf.data());
  ASSERT_OK(got);
  EXPECT_EQ(*got, 0u);
  // A leaf whose block is gone (expired, deleted) ends the run too.
  ASSERT_OK(st->remove(ds.blocks[1].id));
  got = st->read_leaf_blocks(ds.meta.tree_cid, 0, 8, bs, buf.data());
  ASSERT_OK(got);
  EXPECT_EQ(*got, 1u);
}

TEST_F(LmdbStoreTest, SingleBlockDatasetMatchesCodexVector) {
  auto st = open();
  ASSERT_TRUE(st);
  std::string text = "some file contents";
  auto ds = make_dataset(bytes(text.begin(), text.end()), "some.txt");
  EXPECT_EQ(ds.meta.tree_cid.to_string(),
            "zDzSvJTezk7bJNQqFq8k1iHXY84psNuUfZVusA5bBQQUSuyzDSVL");
  ASSERT_OK(upload(*st, ds, 0));
  expect_readable(*st, ds);
}

TEST_F(LmdbStoreTest, ListDatasetsIsOrderedByManifestCid) {
  auto st = open();
  ASSERT_TRUE(st);
  std::vector<cid> ids;
  for (uint64_t seed = 0; seed < 5; ++seed) {
    auto ds = random_dataset(1, 100 + seed);
    ASSERT_OK(upload(*st, ds, 0));
    ids.push_back(ds.id());
  }
  auto got = listed(*st);
  ASSERT_EQ(got.size(), 5u);
  // LMDB orders keys by their binary form; for one codec that is digest order.
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(got, ids);
}

TEST_F(LmdbStoreTest, PutDatasetRejectsMismatchedLeaves) {
  auto st = open();
  ASSERT_TRUE(st);
  auto ds = random_dataset(3, 11);
  ASSERT_OK(st->put_blocks(ds.blocks, 0));
  auto fewer = ds.leaves;
  fewer.pop_back();
  EXPECT_ERR(st->put_dataset(ds.manifest_block, fewer, 0),
             ec::invalid_manifest);
  auto wrong = ds.leaves;
  wrong[1][0] ^= 1;
  EXPECT_ERR(st->put_dataset(ds.manifest_block, wrong, 0),
             ec::invalid_manifest);
  auto swapped = ds.leaves;
  std::swap(swapped[0], swapped[2]);
  EXPECT_ERR(st->put_dataset(ds.manifest_block, swapped, 0),
             ec::invalid_manifest);
  // A block that is no manifest.
  EXPECT_ERR(st->put_dataset(ds.blocks[0], ds.leaves, 0), ec::invalid_manifest);
  EXPECT_TRUE(listed(*st).empty());
  EXPECT_FALSE(st->has_block(ds.id()));
  // The right call still works afterwards.
  ASSERT_OK(st->put_dataset(ds.manifest_block, ds.leaves, 0));
  expect_readable(*st, ds);
}

// -- quota
// --------------------------------------------------------------------------

TEST_F(LmdbStoreTest, PutOverQuotaFailsWithQuotaExceeded) {
  auto st = open(3 * bs);
  ASSERT_TRUE(st);
  ASSERT_OK(st->put_blocks({random_block(1), random_block(2)}, 0));
  auto before = st->space();
  // The first block of the batch would fit, the second not: nothing stored.
  auto a = random_block(3), b = random_block(4);
  EXPECT_ERR(st->put_blocks({a, b}, 0), ec::quota_exceeded);
  auto after = st->space();
  EXPECT_EQ(after.quota_used_bytes, before.quota_used_bytes);
  EXPECT_EQ(after.total_blocks, before.total_blocks);
  EXPECT_FALSE(st->has_block(a.id));
  EXPECT_FALSE(st->has_block(b.id));
  EXPECT_ERR(st->get_block(a.id), ec::not_found);
  // Filling the quota exactly is allowed; one byte more is not.
  ASSERT_OK(st->put_blocks({a}, 0));
  EXPECT_EQ(st->space().quota_used_bytes, 3 * bs);
  EXPECT_ERR(st->put_blocks({random_block(5, 1)}, 0), ec::quota_exceeded);
  EXPECT_EQ(st->space().quota_used_bytes, 3 * bs);
}

TEST_F(LmdbStoreTest, QuotaFailureLeavesExistingReferencesAlone) {
  auto st = open(2 * bs);
  ASSERT_TRUE(st);
  auto a = random_block(1);
  ASSERT_OK(st->put_blocks({a}, 0));
  // A batch that re-references `a` and then fails on new blocks.
  EXPECT_ERR(st->put_blocks({a, random_block(2), random_block(3)}, 500),
             ec::quota_exceeded);
  EXPECT_EQ(*st->refcount_of(a.id), 1u);
  EXPECT_EQ(*st->expiry_of(a.id), ttl);
}

TEST_F(LmdbStoreTest, DuplicateBlocksDoNotCountTwice) {
  auto st = open(3 * bs);
  ASSERT_TRUE(st);
  auto a = random_block(1), b = random_block(2), c = random_block(3);
  ASSERT_OK(st->put_blocks({a, b}, 0));
  // Stored blocks again, plus one new one that exactly fills the quota.
  auto r = st->put_blocks({a, b, c, a}, 0);
  ASSERT_OK(r);
  EXPECT_EQ(*r, bs);
  EXPECT_EQ(st->space().quota_used_bytes, 3 * bs);
  EXPECT_EQ(st->space().total_blocks, 3u);
  // A full store still accepts blocks it already has.
  EXPECT_OK(st->put_blocks({c, c, b}, 0));
  EXPECT_EQ(st->space().quota_used_bytes, 3 * bs);
}

TEST_F(LmdbStoreTest, ManifestCountsAgainstQuota) {
  auto ds = random_dataset(2, 12);
  auto st = open(2 * bs); // room for the data, not for the manifest
  ASSERT_TRUE(st);
  ASSERT_OK(st->put_blocks(ds.blocks, 0));
  EXPECT_ERR(st->put_dataset(ds.manifest_block, ds.leaves, 0),
             ec::quota_exceeded);
  EXPECT_TRUE(listed(*st).empty());
  EXPECT_ERR(st->get_leaf(block_address{ds.meta.tree_cid, 0}), ec::not_found);
  // The aborted upload's blocks can be released.
  ASSERT_OK(st->release_blocks(ds.block_ids()));
  EXPECT_EQ(st->space().quota_used_bytes, 0u);
}

// -- TTL
// ------------------------------------------------------------------------------

TEST_F(LmdbStoreTest, ExpiryIsNowPlusTtlAndRefreshedOnReput) {
  auto st = open();
  ASSERT_TRUE(st);
  auto a = random_block(1);
  ASSERT_OK(st->put_blocks({a}, 1000));
  auto e = st->expiry_of(a.id);
  ASSERT_OK(e);
  EXPECT_EQ(*e, 1000 + ttl);
  ASSERT_OK(st->put_blocks({a}, 5000));
  EXPECT_EQ(*st->expiry_of(a.id), 5000 + ttl);
  // The old expiry no longer deletes it.
  auto n = st->expire(1000 + ttl);
  ASSERT_OK(n);
  EXPECT_EQ(*n, 0u);
  EXPECT_TRUE(st->has_block(a.id));
}

TEST_F(LmdbStoreTest, ExpireDeletesOnlyDueBlocks) {
  auto st = open();
  ASSERT_TRUE(st);
  auto a = random_block(1), b = random_block(2, 1000), c = random_block(3);
  ASSERT_OK(st->put_blocks({a}, 0));
  ASSERT_OK(st->put_blocks({b}, 500));
  ASSERT_OK(st->put_blocks({c}, 1000));
  EXPECT_EQ(*st->expire(0), 0u);
  EXPECT_EQ(*st->expire(ttl - 1), 0u);
  EXPECT_EQ(st->space().total_blocks, 3u);
  // Expiry ≤ now is due.
  auto n = st->expire(ttl);
  ASSERT_OK(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_FALSE(st->has_block(a.id));
  EXPECT_TRUE(st->has_block(b.id));
  EXPECT_TRUE(st->has_block(c.id));
  EXPECT_EQ(st->space().quota_used_bytes, bs + 1000);
  EXPECT_EQ(st->space().total_blocks, 2u);
  EXPECT_EQ(*st->expire(ttl + 499), 0u);
  EXPECT_EQ(*st->expire(ttl + 500), 1u);
  EXPECT_EQ(st->space().quota_used_bytes, bs);
  // Far in the future: everything.
  EXPECT_EQ(*st->expire(uint64_t{1} << 40), 1u);
  EXPECT_EQ(st->space().quota_used_bytes, 0u);
  EXPECT_EQ(st->space().total_blocks, 0u);
  EXPECT_EQ(*st->expire(uint64_t{1} << 40), 0u);
}

TEST_F(LmdbStoreTest, ExpireDeletesReferencedBlocksToo) {
  // Codex semantics: an expired block goes whatever its refcount.
  auto st = open();
  ASSERT_TRUE(st);
  auto a = random_block(1);
  ASSERT_OK(st->put_blocks({a, a, a}, 0));
  EXPECT_EQ(*st->refcount_of(a.id), 3u);
  EXPECT_EQ(*st->expire(ttl), 1u);
  EXPECT_FALSE(st->has_block(a.id));
  EXPECT_EQ(st->space().quota_used_bytes, 0u);
}

TEST_F(LmdbStoreTest, ExpireHonoursMax) {
  auto st = open();
  ASSERT_TRUE(st);
  std::vector<block> blocks;
  for (uint64_t i = 0; i < 5; ++i)
    blocks.push_back(random_block(i, 100));
  ASSERT_OK(st->put_blocks(blocks, 0));
  EXPECT_EQ(*st->expire(ttl, 2), 2u);
  EXPECT_EQ(st->space().total_blocks, 3u);
  EXPECT_EQ(*st->expire(ttl), 3u);
  EXPECT_EQ(st->space().total_blocks, 0u);
}

TEST_F(LmdbStoreTest, ExpiredManifestRemovesDataset) {
  auto st = open();
  ASSERT_TRUE(st);
  auto ds = random_dataset(3, 20);
  ASSERT_OK(upload(*st, ds, 0));
  ASSERT_EQ(listed(*st).size(), 1u);
  auto n = st->expire(ttl);
  ASSERT_OK(n);
  EXPECT_EQ(*n, 4u); // three data blocks and the manifest
  EXPECT_TRUE(listed(*st).empty());
  expect_gone(*st, ds);
  EXPECT_EQ(st->space().quota_used_bytes, 0u);
  EXPECT_EQ(st->space().total_blocks, 0u);
}

TEST_F(LmdbStoreTest, ExpiredManifestAloneRemovesDataset) {
  // The data blocks were refreshed later; the manifest expires first and
  // takes the dataset (and the references its leaves held) with it.
  auto st = open();
  ASSERT_TRUE(st);
  auto ds = random_dataset(2, 21);
  ASSERT_OK(upload(*st, ds, 0));
  ASSERT_OK(st->put_blocks(ds.blocks, 500));
  ASSERT_OK(st->release_blocks(ds.block_ids())); // the refresh's own refs
  EXPECT_EQ(*st->expiry_of(ds.id()), ttl);
  EXPECT_EQ(*st->expiry_of(ds.blocks[0].id), 500 + ttl);
  auto n = st->expire(ttl);
  ASSERT_OK(n);
  EXPECT_TRUE(listed(*st).empty());
  expect_gone(*st, ds);
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(st->space().total_blocks, 0u);
}

TEST_F(LmdbStoreTest, DatasetBlocksExpireWithTheirManifest) {
  // Blocks put at t=0, manifest at t=500: the commit moves every block's
  // expiry to the manifest's, so the dataset expires as one unit.
  auto st = open();
  ASSERT_TRUE(st);
  auto ds = random_dataset(2, 22);
  ASSERT_OK(st->put_blocks(ds.blocks, 0));
  ASSERT_OK(st->put_dataset(ds.manifest_block, ds.leaves, 500));
  for (const auto& b : ds.blocks)
    EXPECT_EQ(*st->expiry_of(b.id), 500 + ttl);
  EXPECT_EQ(*st->expire(ttl), 0u);
  expect_readable(*st, ds);
  EXPECT_EQ(*st->expire(500 + ttl), 3u); // 2 data blocks + the manifest
  EXPECT_TRUE(listed(*st).empty());
  EXPECT_EQ(st->space().total_blocks, 0u);
  EXPECT_EQ(st->space().quota_used_bytes, 0u);
  // Deleting the expired dataset later is clean.
  ASSERT_OK(st->remove(ds.id()));
  EXPECT_EQ(st->space().total_blocks, 0u);
}

TEST_F(LmdbStoreTest, ReuploadRefreshesManifestExpiry) {
  // Uploading a dataset again refreshes its blocks' expiry, and must refresh
  // its manifest's too: otherwise the old manifest expiry deletes the
  // re-uploaded dataset (and its blocks with it).
  auto st = open();
  ASSERT_TRUE(st);
  auto ds = random_dataset(2, 23);
  ASSERT_OK(upload(*st, ds, 0));
  ASSERT_OK(upload(*st, ds, 5000));
  EXPECT_EQ(*st->expiry_of(ds.blocks[0].id), 5000 + ttl);
  auto manifest_expiry = st->expiry_of(ds.id());
  ASSERT_OK(manifest_expiry);
  if (*manifest_expiry != 5000 + ttl) {
    ASSERT_OK(st->expire(ttl));
    FAIL() << "lmdb_store::put_dataset of an already stored manifest "
              "does not refresh the manifest's expiry (still "
           << *manifest_expiry << ", expected " << 5000 + ttl << "); expire("
           << ttl
           << ") then deletes the re-uploaded dataset: " << listed(*st).size()
           << " dataset(s) and " << st->space().total_blocks
           << " block(s) left";
  }
  ASSERT_OK(st->expire(ttl));
  EXPECT_EQ(listed(*st).size(), 1u);
  expect_readable(*st, ds);
}

TEST_F(LmdbStoreTest, UploadOverTreeWithExpiredBlocksStaysReadable) {
  // Dataset `a` expires; the same data is then uploaded as `b` (another
  // filename, same tree). `b` must be fully readable, and removing `a`
  // afterwards must not touch it.
  auto st = open();
  ASSERT_TRUE(st);
  auto data = random_bytes(2 * bs, 24);
  auto a = make_dataset(data, "a.bin"), b = make_dataset(data, "b.bin");
  ASSERT_OK(st->put_blocks(a.blocks, 0));
  ASSERT_OK(st->put_dataset(a.manifest_block, a.leaves, 10));
  ASSERT_EQ(*st->expire(10 + ttl), 3u);
  ASSERT_OK(upload(*st, b, ttl + 20));
  expect_readable(*st, b);
  ASSERT_OK(st->remove(a.id()));
  expect_readable(*st, b);
  ASSERT_OK(st->remove(b.id()));
  EXPECT_EQ(st->space().total_blocks, 0u);
}

TEST_F(LmdbStoreTest, BlockThatExpiredUnderAStoredTreeIsKeptWhenReuploaded) {
  // A data block expires while its tree is still stored (its expiry was
  // moved back by a put with an older clock). Uploading the same dataset
  // again stores the block anew; its reference must serve the tree's leaf.
  auto st = open();
  ASSERT_TRUE(st);
  auto ds = random_dataset(2, 25);
  ASSERT_OK(upload(*st, ds, 1000));
  ASSERT_OK(st->put_blocks({ds.blocks[0]}, 0)); // expiry back to ttl
  ASSERT_OK(st->release_blocks({ds.blocks[0].id}));
  ASSERT_EQ(*st->expire(ttl), 1u);
  ASSERT_OK(upload(*st, ds, 2000));
  expect_readable(*st, ds);
  EXPECT_EQ(*st->refcount_of(ds.blocks[0].id), 1u);
  ASSERT_OK(st->remove(ds.id()));
  EXPECT_EQ(st->space().total_blocks, 0u);
}

// -- refcounted deletion
// ----------------------------------------------------------------

TEST_F(LmdbStoreTest, SharedZeroBlockSurvivesDeletingOneDataset) {
  auto st = open();
  ASSERT_TRUE(st);
  bytes zeros(bs, 0);
  auto da = random_bytes(bs, 30);
  da.insert(da.end(), zeros.begin(), zeros.end());
  auto db = random_bytes(bs, 31);
  db.insert(db.end(), zeros.begin(), zeros.end());
  auto a = make_dataset(da), b = make_dataset(db);
  ASSERT_EQ(a.blocks[1].id, b.blocks[1].id);
  ASSERT_OK(upload(*st, a, 0));
  ASSERT_OK(upload(*st, b, 0));
  auto zero_id = a.blocks[1].id;
  EXPECT_EQ(*st->refcount_of(zero_id), 2u);
  EXPECT_EQ(st->space().total_blocks, 5u); // 3 data blocks + 2 manifests

  ASSERT_OK(st->remove(a.id()));
  EXPECT_EQ(listed(*st), std::vector<cid>{b.id()});
  expect_gone(*st, a);
  EXPECT_FALSE(st->has_block(a.blocks[0].id));
  expect_readable(*st, b);
  EXPECT_EQ(*st->refcount_of(zero_id), 1u);
  EXPECT_EQ(st->space().total_blocks, 3u);

  ASSERT_OK(st->remove(b.id()));
  expect_gone(*st, b);
  EXPECT_TRUE(listed(*st).empty());
  EXPECT_EQ(st->space().quota_used_bytes, 0u);
  EXPECT_EQ(st->space().total_blocks, 0u);
}

TEST_F(LmdbStoreTest, SameDataDifferentFilenameSharesTree) {
  auto st = open();
  ASSERT_TRUE(st);
  auto data = random_bytes(2 * bs + 7, 32);
  auto a = make_dataset(data, "a.bin"), b = make_dataset(data, "b.bin");
  ASSERT_EQ(a.meta.tree_cid, b.meta.tree_cid);
  ASSERT_NE(a.id(), b.id());
  ASSERT_OK(upload(*st, a, 0));
  ASSERT_OK(upload(*st, b, 0));
  EXPECT_EQ(listed(*st).size(), 2u);
  EXPECT_EQ(st->space().total_blocks, 5u); // 3 shared data blocks + 2 manifests

  // Deleting either one keeps the other fully readable.
  ASSERT_OK(st->remove(a.id()));
  EXPECT_EQ(listed(*st), std::vector<cid>{b.id()});
  EXPECT_FALSE(st->has_block(a.id()));
  expect_readable(*st, b);
  EXPECT_EQ(st->space().total_blocks, 4u);

  ASSERT_OK(st->remove(b.id()));
  expect_gone(*st, b);
  EXPECT_EQ(st->space().quota_used_bytes, 0u);
  EXPECT_EQ(st->space().total_blocks, 0u);
}

TEST_F(LmdbStoreTest, SameDataDifferentFilenameDeletedInOtherOrder) {
  auto st = open();
  ASSERT_TRUE(st);
  auto data = random_bytes(3 * bs, 33);
  auto a = make_dataset(data, "a.bin"), b = make_dataset(data, "b.bin");
  ASSERT_OK(upload(*st, a, 0));
  ASSERT_OK(upload(*st, b, 0));
  ASSERT_OK(st->remove(b.id()));
  expect_readable(*st, a);
  ASSERT_OK(st->remove(a.id()));
  EXPECT_EQ(st->space().quota_used_bytes, 0u);
  EXPECT_EQ(st->space().total_blocks, 0u);
}

TEST_F(LmdbStoreTest, UploadingTwiceThenDeletingOnceRemovesEverything) {
  auto st = open();
  ASSERT_TRUE(st);
  auto ds = random_dataset(3, 34, 100);
  ASSERT_OK(upload(*st, ds, 0));
  ASSERT_OK(upload(*st, ds, 10));
  EXPECT_EQ(listed(*st).size(), 1u);
  for (auto& b : ds.blocks)
    EXPECT_EQ(*st->refcount_of(b.id), 1u)
      << "the second upload leaked a reference";
  expect_readable(*st, ds);
  ASSERT_OK(st->remove(ds.id()));
  expect_gone(*st, ds);
  EXPECT_TRUE(listed(*st).empty());
  EXPECT_EQ(st->space().quota_used_bytes, 0u);
  EXPECT_EQ(st->space().total_blocks, 0u);
}

TEST_F(LmdbStoreTest, DatasetWithRepeatedBlocksDeletesCleanly) {
  auto st = open();
  ASSERT_TRUE(st);
  auto ds = make_dataset(bytes(3 * bs, 0)); // three identical zero blocks
  ASSERT_EQ(ds.blocks.size(), 3u);
  ASSERT_OK(upload(*st, ds, 0));
  EXPECT_EQ(*st->refcount_of(ds.blocks[0].id), 3u);
  EXPECT_EQ(st->space().total_blocks, 2u);
  expect_readable(*st, ds);
  ASSERT_OK(st->remove(ds.id()));
  EXPECT_EQ(st->space().quota_used_bytes, 0u);
  EXPECT_EQ(st->space().total_blocks, 0u);
}

TEST_F(LmdbStoreTest, ReleaseBlocksOfAbortedUploadFreesThem) {
  auto st = open();
  ASSERT_TRUE(st);
  auto kept = random_dataset(2, 35);
  ASSERT_OK(upload(*st, kept, 0));
  auto before = st->space();
  // An upload that shares a block with `kept` and is aborted before its
  // manifest: all of its blocks' references are released.
  auto aborted = random_dataset(3, 36);
  std::vector<block> blocks = aborted.blocks;
  blocks.push_back(kept.blocks[0]);
  ASSERT_OK(st->put_blocks(blocks, 0));
  std::vector<cid> ids;
  for (auto& b : blocks)
    ids.push_back(b.id);
  ASSERT_OK(st->release_blocks(ids));
  auto after = st->space();
  EXPECT_EQ(after.quota_used_bytes, before.quota_used_bytes);
  EXPECT_EQ(after.total_blocks, before.total_blocks);
  for (auto& b : aborted.blocks)
    EXPECT_FALSE(st->has_block(b.id));
  expect_readable(*st, kept);
  EXPECT_EQ(*st->refcount_of(kept.blocks[0].id), 1u);
  // Releasing unknown blocks is not an error.
  EXPECT_OK(st->release_blocks(aborted.block_ids()));
  EXPECT_OK(st->release_blocks({}));
}

// The disk fails the fsync that makes an upload durable: the dataset is not
// recorded (its manifest would name blocks the disk may not hold), the
// store stays consistent, and the same upload succeeds once the disk does.
TEST_F(LmdbStoreTest, FailedFsyncLeavesTheDatasetUnrecorded) {
  int fsync_result = EIO;
  auto st = open_with_fsync(fsync_result);
  ASSERT_TRUE(st);
  auto ds = random_dataset(4, 37);
  auto failed = upload(*st, ds, 0);
  EXPECT_ERR(failed, ec::storage_io);
  ASSERT_FALSE(failed);
  EXPECT_NE(describe(failed.error()).find("mdb_env_sync"), std::string::npos)
    << describe(failed.error());
  EXPECT_FALSE(st->has_block(ds.id()));
  EXPECT_FALSE(st->has_leaf(block_address{ds.meta.tree_cid, 0}));
  auto listed = st->list_datasets();
  ASSERT_OK(listed);
  EXPECT_TRUE(listed->empty());
  // The upload's blocks are stored, referenced by the upload until its
  // caller releases them (as `commit_upload` does).
  for (auto& b : ds.blocks)
    EXPECT_EQ(*st->refcount_of(b.id), 1u);
  fsync_result = 0;
  ASSERT_OK(st->put_dataset(ds.manifest_block, ds.leaves, 0));
  expect_readable(*st, ds);
  listed = st->list_datasets();
  ASSERT_OK(listed);
  EXPECT_EQ(listed->size(), 1u);
}

// An upload hands its references over with the commit: a commit that
// recorded nothing drops them, so the uploader need not (and must not, as
// it cannot tell such a commit from one whose answer it never got).
TEST_F(LmdbStoreTest, CommitUploadDropsTheReferencesOfAFailedCommit) {
  int fsync_result = EIO;
  auto st = open_with_fsync(fsync_result);
  ASSERT_TRUE(st);
  auto ds = random_dataset(4, 37);
  put_and_fail_commit(*st, ds);
  for (auto& b : ds.blocks)
    EXPECT_FALSE(st->has_block(b.id));
  EXPECT_EQ(st->space().total_blocks, 0u);
  // A commit that does not match its manifest drops them too.
  fsync_result = 0;
  ASSERT_OK(st->put_blocks(ds.blocks, 0));
  auto fewer = ds.leaves;
  fewer.pop_back();
  EXPECT_ERR(st->commit_upload(ds.manifest_block, fewer, 0),
             ec::invalid_manifest);
  EXPECT_EQ(*st->refcount_of(ds.blocks.back().id), 1u);
  ASSERT_OK(st->release_blocks({ds.blocks.back().id}));
  EXPECT_EQ(st->space().total_blocks, 0u);
  ASSERT_OK(st->put_blocks(ds.blocks, 0));
  ASSERT_OK(st->commit_upload(ds.manifest_block, ds.leaves, 0));
  expect_readable(*st, ds);
  for (auto& b : ds.blocks)
    EXPECT_EQ(*st->refcount_of(b.id), 1u);
}

// A commit whose transaction landed but whose final fsync failed answers
// the error, and the recorded dataset keeps the references it holds.
TEST_F(LmdbStoreTest, CommitUploadRecordedBeforeAFailedFsyncKeepsItsBlocks) {
  std::atomic<int> syncs{0};
  auto o = options();
  // The first fsync (the blocks, before the transaction) succeeds, the one
  // after it fails.
  o.fsync_fault = [&syncs] { return ++syncs == 2 ? EIO : 0; };
  auto st = open(o);
  ASSERT_TRUE(st);
  auto ds = random_dataset(4, 37);
  put_and_fail_commit(*st, ds);
  EXPECT_EQ(syncs.load(), 2);
  expect_readable(*st, ds);
  for (auto& b : ds.blocks)
    EXPECT_EQ(*st->refcount_of(b.id), 1u);
  auto report = verify_store(*st);
  ASSERT_OK(report);
  for (auto& p : report->problems)
    ADD_FAILURE() << p.text;
}

// A download parks rebuilt blocks by CID, then links them as leaves once
// proven: the parking reference becomes the leaf's, no bytes are rewritten.
TEST_F(LmdbStoreTest, LinkLeavesHandsParkedReferencesToTheLeaves) {
  auto st = open();
  ASSERT_TRUE(st);
  auto ds = random_dataset(4, 37);
  auto tree = merkle_tree::build(ds.leaves);
  ASSERT_OK(tree);
  ASSERT_OK(st->put_manifest(ds.manifest_block, 0));
  auto link_of = [&](uint64_t i) {
    auto proof = tree->proof(i);
    EXPECT_OK(proof);
    return leaf_link{block_address{ds.meta.tree_cid, i}, ds.blocks[i].id,
                     *proof};
  };
  ASSERT_OK(st->put_blocks({ds.blocks[0], ds.blocks[1]}, 0));
  auto linked = st->link_leaves({link_of(0), link_of(1)}, 0);
  ASSERT_OK(linked);
  EXPECT_EQ(*linked, 2u);
  for (uint64_t i : {0u, 1u}) {
    EXPECT_EQ(*st->refcount_of(ds.blocks[i].id), 1u);
    auto got = st->get_leaf_proof(block_address{ds.meta.tree_cid, i});
    ASSERT_OK(got);
    EXPECT_EQ(*got->first.data, *ds.blocks[i].data);
    EXPECT_TRUE(verify_proof(ds.leaves[i], got->second, ds.meta.tree_cid));
  }
  // A leaf stored already keeps its own reference: the handed one goes.
  ASSERT_OK(st->put_blocks({ds.blocks[0]}, 0));
  EXPECT_EQ(*st->refcount_of(ds.blocks[0].id), 2u);
  linked = st->link_leaves({link_of(0)}, 0);
  ASSERT_OK(linked);
  EXPECT_EQ(*linked, 0u);
  EXPECT_EQ(*st->refcount_of(ds.blocks[0].id), 1u);
  // A block that is not stored fails the whole batch: nothing is linked.
  ASSERT_OK(st->put_blocks({ds.blocks[2]}, 0));
  EXPECT_ERR(st->link_leaves({link_of(2), link_of(3)}, 0), ec::not_found);
  EXPECT_FALSE(st->has_leaf(block_address{ds.meta.tree_cid, 2}));
  // The batched lookup answers the stored leaves in the order asked.
  auto addr = [&](uint64_t i) { return block_address{ds.meta.tree_cid, i}; };
  EXPECT_EQ(st->has_leaves({addr(1), addr(2), addr(0), addr(3)}),
            (std::vector<block_address>{addr(1), addr(0)}));
  EXPECT_EQ(*st->refcount_of(ds.blocks[2].id), 1u);
  // A leaf whose block expired (the manifest, refreshed, did not), stored
  // anew by CID: the handed reference is the block's only one, so the leaf
  // keeps it.
  ASSERT_OK(st->put_manifest(ds.manifest_block, ttl / 2));
  ASSERT_OK(st->expire(ttl + 1, 100));
  EXPECT_FALSE(st->has_block(ds.blocks[1].id));
  ASSERT_TRUE(st->has_block(ds.id()));
  ASSERT_OK(st->put_blocks({ds.blocks[1]}, ttl + 1));
  linked = st->link_leaves({link_of(1)}, ttl + 1);
  ASSERT_OK(linked);
  EXPECT_EQ(*linked, 0u);
  EXPECT_EQ(*st->refcount_of(ds.blocks[1].id), 1u);
  EXPECT_OK(st->get_leaf_proof(block_address{ds.meta.tree_cid, 1}));
  // The dataset's deletion takes the linked leaves' blocks with it.
  ASSERT_OK(st->remove(ds.id()));
  EXPECT_EQ(st->space().total_blocks, 0u);
  EXPECT_EQ(st->space().quota_used_bytes, 0u);
}

TEST_F(LmdbStoreTest, CountLeavesCountsOnlyLeavesHeldWithTheirBlocks) {
  auto st = open();
  ASSERT_TRUE(st);
  auto ds = random_dataset(5, 41);
  auto other = random_dataset(3, 42);
  ASSERT_OK(upload(*st, other, 0));
  auto leaf = [&](uint64_t i) { return leaf_of(ds, i); };
  EXPECT_EQ(*st->count_leaves(ds.meta.tree_cid), 0u);
  ASSERT_OK(st->put_manifest(ds.manifest_block, 0));
  EXPECT_EQ(*st->count_leaves(ds.meta.tree_cid), 0u);
  ASSERT_OK(st->put_leaves({leaf(4), leaf(0), leaf(2)}, 0));
  EXPECT_EQ(*st->count_leaves(ds.meta.tree_cid), 3u);
  ASSERT_OK(st->put_leaves({leaf(1), leaf(3), leaf(2)}, 0));
  EXPECT_EQ(*st->count_leaves(ds.meta.tree_cid), ds.meta.blocks_count());
  EXPECT_EQ(*st->count_leaves(other.meta.tree_cid), 3u)
    << "the neighbouring tree's leaves are not counted";
  ASSERT_OK(st->remove_leaf(block_address{ds.meta.tree_cid, 0}));
  EXPECT_EQ(*st->count_leaves(ds.meta.tree_cid), 4u);
  // A leaf whose block expired (the manifest, refreshed, did not) is
  // missing.
  ASSERT_OK(st->put_manifest(ds.manifest_block, ttl / 2));
  ASSERT_OK(st->put_leaves({leaf(1)}, ttl / 2));
  ASSERT_OK(st->expire(ttl + 1, 100));
  ASSERT_TRUE(st->has_block(ds.id()));
  EXPECT_EQ(*st->count_leaves(ds.meta.tree_cid), 1u);
  EXPECT_EQ(*st->count_leaves(other.meta.tree_cid), 0u);
}

// A network download's manifest is stored before its leaves: the dataset
// is listed only once they are all there, and a failed download drops it
// only while it is partial.
TEST_F(LmdbStoreTest,
       FetchedDatasetIsListedOnlyWhenWholeAndDroppedWhilePartial) {
  auto st = open();
  ASSERT_TRUE(st);
  auto ds = random_dataset(3, 43);
  auto up = random_dataset(2, 44);
  ASSERT_OK(upload(*st, up, 0));
  auto leaf = [&](uint64_t i) { return leaf_of(ds, i); };
  auto listed = [&] {
    std::vector<cid> whole;
    auto list = st->list_datasets(&whole);
    EXPECT_OK(list);
    std::vector<cid> ids;
    if (list)
      for (auto& e : *list)
        ids.push_back(e.manifest_cid);
    return std::make_pair(ids, whole);
  };
  ASSERT_OK(st->put_manifest(ds.manifest_block, 0));
  ASSERT_OK(st->put_leaves({leaf(0), leaf(2)}, 0));
  EXPECT_EQ(listed().first, std::vector<cid>{up.id()});
  EXPECT_TRUE(listed().second.empty());
  // An uploaded dataset is never dropped as partial, even one missing a
  // leaf; an absent one is not an error.
  ASSERT_OK(st->remove_leaf(block_address{up.meta.tree_cid, 0}));
  auto dropped = st->remove_partial(up.id());
  ASSERT_OK(dropped);
  EXPECT_FALSE(*dropped);
  dropped = st->remove_partial(random_dataset(1, 45).id());
  ASSERT_OK(dropped);
  EXPECT_FALSE(*dropped);

  // Whole: listed, and reported for `mark_whole`, after which it is an
  // ordinary dataset that a failed download does not drop.
  ASSERT_OK(st->put_leaves({leaf(1)}, 0));
  auto [ids, whole] = listed();
  std::vector<cid> both{up.id(), ds.id()};
  std::sort(both.begin(), both.end());
  EXPECT_EQ(ids, both);
  EXPECT_EQ(whole, std::vector<cid>{ds.id()});
  ASSERT_OK(st->mark_whole(whole));
  EXPECT_TRUE(listed().second.empty());
  EXPECT_EQ(listed().first, both);
  dropped = st->remove_partial(ds.id());
  ASSERT_OK(dropped);
  EXPECT_FALSE(*dropped);

  // Fetched again after a leaf was lost, and the download failed: dropped,
  // with every block it held.
  ASSERT_OK(st->remove(ds.id()));
  ASSERT_OK(st->put_manifest(ds.manifest_block, 0));
  ASSERT_OK(st->put_leaves({leaf(1)}, 0));
  EXPECT_EQ(listed().first, std::vector<cid>{up.id()});
  dropped = st->remove_partial(ds.id());
  ASSERT_OK(dropped);
  EXPECT_TRUE(*dropped);
  expect_gone(*st, ds);
  // The upload's blocks, less the deleted leaf's, plus its manifest.
  EXPECT_EQ(st->space().total_blocks, up.blocks.size())
    << "blocks of the dropped dataset are left";
}

// The same bytes uploaded while a download of them is half done: the
// upload fills in the missing leaves, the dataset is listed and kept when
// the download then fails, and every block holds one reference per leaf.
TEST_F(LmdbStoreTest, UploadFillsInAPartlyFetchedDatasetAndKeepsIt) {
  auto st = open();
  ASSERT_TRUE(st);
  auto ds = random_dataset(4, 46);
  ASSERT_OK(st->put_manifest(ds.manifest_block, 0));
  ASSERT_OK(st->put_leaves({leaf_of(ds, 0), leaf_of(ds, 2)}, 0));
  ASSERT_OK(upload(*st, ds, 0));
  for (uint64_t i = 0; i < ds.blocks.size(); ++i)
    EXPECT_TRUE(st->has_leaf(block_address{ds.meta.tree_cid, i})) << i;
  auto list = st->list_datasets();
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().manifest_cid, ds.id());
  // The download of the missing leaves ends now, late or failed.
  ASSERT_OK(st->put_leaves({leaf_of(ds, 1)}, 0));
  auto dropped = st->remove_partial(ds.id());
  ASSERT_OK(dropped);
  EXPECT_FALSE(*dropped);
  auto report = verify_store(*st);
  ASSERT_OK(report);
  for (auto& p : report->problems)
    ADD_FAILURE() << p.text;
  // Deleting it frees every block: no reference was left over.
  ASSERT_OK(st->remove(ds.id()));
  expect_gone(*st, ds);
  EXPECT_EQ(st->space().total_blocks, 0u);
}

TEST_F(LmdbStoreTest, RemoveOfPlainBlockDeletesJustThatBlock) {
  auto st = open();
  ASSERT_TRUE(st);
  auto a = random_block(1), b = random_block(2, 500);
  ASSERT_OK(st->put_blocks({a, b, a}, 0));
  ASSERT_OK(st->remove(a.id));
  EXPECT_FALSE(st->has_block(a.id));
  EXPECT_ERR(st->get_block(a.id), ec::not_found);
  EXPECT_TRUE(st->has_block(b.id));
  EXPECT_EQ(st->space().quota_used_bytes, 500u);
  EXPECT_EQ(st->space().total_blocks, 1u);
  // Its expiry record went too: expiring later counts only `b`.
  EXPECT_EQ(*st->expire(ttl), 1u);
}

TEST_F(LmdbStoreTest, RemoveOfUnknownCidIsOk) {
  auto st = open();
  ASSERT_TRUE(st);
  auto ds = random_dataset(1, 37);
  ASSERT_OK(upload(*st, ds, 0));
  auto before = st->space();
  EXPECT_OK(st->remove(random_block(99).id));
  EXPECT_OK(
    st->remove(cid::of(multicodec::codex_manifest, random_bytes(10, 1))));
  EXPECT_OK(st->remove(cid::of(multicodec::codex_root, random_bytes(10, 2))));
  EXPECT_EQ(st->space().total_blocks, before.total_blocks);
  expect_readable(*st, ds);
  // Removing a dataset twice.
  EXPECT_OK(st->remove(ds.id()));
  EXPECT_OK(st->remove(ds.id()));
  EXPECT_EQ(st->space().total_blocks, 0u);
}

// -- persistence
// ------------------------------------------------------------------------

TEST_F(LmdbStoreTest, ReopenKeepsEverything) {
  auto a = random_dataset(3, 40, 1234);
  auto b = make_dataset(random_bytes(bs, 41), "b.bin");
  auto loose = random_block(42);
  space_info before;
  {
    auto st = open();
    ASSERT_TRUE(st);
    ASSERT_OK(upload(*st, a, 100));
    ASSERT_OK(upload(*st, b, 200));
    ASSERT_OK(st->put_blocks({loose}, 300));
    before = st->space();
  }
  auto st = open();
  ASSERT_TRUE(st);
  expect_readable(*st, a);
  expect_readable(*st, b);
  EXPECT_TRUE(st->has_block(loose.id));
  auto after = st->space();
  EXPECT_EQ(after.total_blocks, before.total_blocks);
  EXPECT_EQ(after.quota_used_bytes, before.quota_used_bytes);
  EXPECT_EQ(listed(*st).size(), 2u);
  EXPECT_EQ(*st->expiry_of(loose.id), 300 + ttl);
  EXPECT_EQ(*st->expiry_of(b.id()), 200 + ttl);
  // And it keeps working: deletes and expiry after the reopen.
  ASSERT_OK(st->remove(a.id()));
  expect_readable(*st, b);
  EXPECT_EQ(*st->expire(300 + ttl),
            3u); // b's block and manifest, the loose block
  EXPECT_EQ(st->space().total_blocks, 0u);
}

TEST_F(LmdbStoreTest, MapGrowsFromTinyInitialSize) {
  auto o = options();
  o.initial_map_size = 256 << 10;
  std::vector<block> blocks;
  for (uint64_t i = 0; i < 200; ++i)
    blocks.push_back(random_block(1000 + i));
  uint64_t initial = 0, grown = 0;
  {
    auto st = open(o);
    ASSERT_TRUE(st);
    initial = st->map_size();
    for (size_t i = 0; i < blocks.size(); i += 64) {
      std::vector<block> batch(
        blocks.begin() + static_cast<std::ptrdiff_t>(i),
        blocks.begin() +
          static_cast<std::ptrdiff_t>(std::min(i + 64, blocks.size())));
      ASSERT_OK(st->put_blocks(batch, 0)) << "batch at " << i;
    }
    grown = st->map_size();
    EXPECT_GT(grown, initial);
    EXPECT_GE(grown, 200 * bs);
    EXPECT_EQ(st->space().total_blocks, 200u);
  }
  auto st = open(o);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->space().total_blocks, 200u);
  EXPECT_EQ(st->space().quota_used_bytes, 200 * bs);
  for (auto& b : blocks) {
    auto got = st->get_block(b.id);
    ASSERT_OK(got);
    ASSERT_EQ(*got->data, *b.data);
  }
  // Writes after reopening with the tiny setting still grow the map.
  ASSERT_OK(st->put_blocks({random_block(5000), random_block(5001)}, 0));
  EXPECT_EQ(st->space().total_blocks, 202u);
}

TEST_F(LmdbStoreTest, ReadsOnOtherThreadsRunWhileTheOwnerWritesAndGrowsTheMap) {
  auto o = options();
  o.initial_map_size = 256 << 10;
  auto st = open(o);
  ASSERT_TRUE(st);
  auto initial = st->map_size();
  auto ds = random_dataset(8, 7001);
  ASSERT_OK(upload(*st, ds, 0));
  std::atomic<bool> writing{true};
  std::atomic<uint64_t> reads{0}, wrong{0};
  std::vector<std::thread> readers;
  for (size_t t = 0; t < 3; ++t)
    readers.emplace_back([&, t] {
      for (size_t i = t; writing.load() || reads.load() < 3; ++i) {
        auto n = i % ds.blocks.size();
        auto got = st->get_leaf_block(block_address{ds.meta.tree_cid, n});
        if (!got || *got->data != *ds.blocks[n].data)
          ++wrong;
        ++reads;
      }
    });
  // One block per transaction: the map doubles several times meanwhile.
  caf::error err;
  for (uint64_t i = 0; i < 200 && !err; ++i)
    if (auto put = st->put_blocks({random_block(8000 + i)}, 0); !put)
      err = put.error();
  writing = false;
  for (auto& r : readers)
    r.join();
  EXPECT_FALSE(err) << describe(err);
  EXPECT_GT(st->map_size(), initial);
  EXPECT_GE(reads.load(), 3u);
  EXPECT_EQ(wrong.load(), 0u);
  expect_readable(*st, ds);
}

TEST_F(LmdbStoreTest, MapGrowsDuringPutDataset) {
  auto o = options();
  o.initial_map_size = 256 << 10;
  auto st = open(o);
  ASSERT_TRUE(st);
  auto ds = random_dataset(10, 50);
  ASSERT_OK(upload(*st, ds, 0));
  expect_readable(*st, ds);
}

// -- open
// -------------------------------------------------------------------------------

TEST_F(LmdbStoreTest, OpenOnRegularFileFails) {
  auto path = dir_.file("not-a-dir");
  std::ofstream{path} << "hello";
  lmdb_options o;
  o.path = path;
  o.initial_map_size = 1 << 20;
  EXPECT_ERR(lmdb_store::open(o), ec::storage_io);
}

TEST_F(LmdbStoreTest, OpenUnderMissingParentFails) {
  lmdb_options o;
  o.path = dir_.file("no/such/parent");
  o.initial_map_size = 1 << 20;
  EXPECT_ERR(lmdb_store::open(o), ec::storage_io);
}

TEST_F(LmdbStoreTest, OpenCreatesDirectoryAndKeepsOptions) {
  auto o = options(12345);
  auto st = open(o);
  ASSERT_TRUE(st);
  EXPECT_TRUE(std::filesystem::is_directory(o.path));
  EXPECT_EQ(st->options().quota_bytes, 12345u);
  EXPECT_EQ(st->space().quota_max_bytes, 12345u);
  EXPECT_EQ(st->space().total_blocks, 0u);
  EXPECT_GE(st->map_size(), o.initial_map_size);
}
