// The network store reads the local store on its own thread while the store
// publishes itself for other threads' reads, and asks the store's thread
// otherwise, for blocks and for leaves with their proofs; a miss with no
// engine is final.

#include <chrono>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>

#include "actors/actor_test_config.hpp"
#include "actors/local_store.hpp"
#include "actors/network_store.hpp"
#include "messages/error.hpp"
#include "storage/merkle_tree.hpp"
#include "storage/store_readers.hpp"
#include "storage/test_datasets.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace std::chrono_literals;

namespace {

class NetworkStoreTest : public ::testing::TestWithParam<bool> {
protected:
  void SetUp() override {
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    self_ = std::make_unique<caf::scoped_actor>(*sys_);
    storage::lmdb_options opts;
    opts.path = dir_.file("store");
    opts.quota_bytes = uint64_t{1} << 30;
    auto readers = std::make_shared<storage::store_readers>();
    local_ = sys_->spawn<caf::detached>(actors::local_store, opts, nullptr,
                                        readers, actors::unix_now());
    stored_ = block::make(test::random_bytes(64 * 1024, 1));
    (*self_)
      ->request(local_, 30s, put_atom::value, std::vector<block>{stored_})
      .receive([](uint64_t) {},
               [](caf::error& err) { FAIL() << describe(err); });
    // With the readers or without them (the store's thread answers).
    net_ = sys_->spawn(actors::network_store, local_, engine_actor{},
                       GetParam() ? readers : nullptr);
  }

  void TearDown() override {
    caf::anon_send_exit(net_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(local_, caf::exit_reason::user_shutdown);
    net_ = nullptr;
    local_ = nullptr;
    self_.reset();
    sys_.reset();
  }

  // The local store's count of the reads its thread served.
  double store_reads() { return test::gauge_of(*self_, local_, "reads", 5s); }

  test::temp_dir dir_{"cairn-network-store"};
  test::actor_test_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<caf::scoped_actor> self_;
  local_store_actor local_;
  network_store_actor net_;
  block stored_;
};

TEST_P(NetworkStoreTest, ReadsTheStoreOnItsOwnThreadWhileItIsPublished) {
  (*self_)
    ->request(net_, 5s, get_atom::value, stored_.id)
    .receive([&](const block& b) { EXPECT_EQ(b.id, stored_.id); },
             [](caf::error& err) { FAIL() << describe(err); });
  // A block the store lacks, and no engine to ask: not found.
  auto other = block::make(test::random_bytes(1024, 2));
  (*self_)
    ->request(net_, 5s, get_atom::value, other.id)
    .receive([](const block&) { FAIL() << "found a block never stored"; },
             [](caf::error& err) { EXPECT_TRUE(is(err, ec::not_found)); });
  // Both reads on the network store's thread with the readers, both on
  // the store's without them.
  EXPECT_EQ(store_reads(), GetParam() ? 0.0 : 2.0);
}

TEST_P(NetworkStoreTest, ReadsALeafWithItsProofOnItsOwnThreadToo) {
  auto ds = test::datasets::random_dataset(2, 3);
  auto tree = storage::merkle_tree::build(ds.leaves);
  ASSERT_TRUE(tree) << describe(tree.error());
  auto proof = tree->proof(1);
  ASSERT_TRUE(proof) << describe(proof.error());
  block_address addr{ds.meta.tree_cid, 1};
  // Leaf 1 of 2 and the manifest, as a download stores them.
  (*self_)
    ->request(local_, 5s, put_atom::value, manifest_atom::value,
              ds.manifest_block)
    .receive([](const cid&) {},
             [](caf::error& err) { FAIL() << describe(err); });
  (*self_)
    ->request(local_, 5s, put_atom::value, leaf_atom::value,
              std::vector<leaf_block>{leaf_block{addr, ds.blocks[1], *proof}})
    .receive([](ok_atom) {}, [](caf::error& err) { FAIL() << describe(err); });
  auto before = store_reads();
  (*self_)
    ->request(net_, 5s, get_atom::value, proof_atom::value, addr, true)
    .receive(
      [&](const block& b, const merkle_proof& p) {
        EXPECT_EQ(b.id, ds.blocks[1].id);
        EXPECT_EQ(p.index, 1u);
      },
      [](caf::error& err) { FAIL() << describe(err); });
  // A leaf the store lacks, and no engine to ask: not found.
  (*self_)
    ->request(net_, 5s, get_atom::value, proof_atom::value,
              block_address{ds.meta.tree_cid, 0}, true)
    .receive([](const block&, const merkle_proof&) { FAIL() << "leaf 0"; },
             [](caf::error& err) { EXPECT_TRUE(is(err, ec::not_found)); });
  EXPECT_EQ(store_reads() - before, GetParam() ? 0.0 : 2.0);
}

INSTANTIATE_TEST_SUITE_P(ReadersOrNot, NetworkStoreTest, ::testing::Bool());

} // namespace
