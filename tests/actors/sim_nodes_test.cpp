// Several complete nodes in one actor system (a node is a value): two
// nodes without HTTP exchange a dataset over their real TCP session, found
// through the real UDP DHT; and the simulator's agent, which hosts nodes,
// refuses commands before the secret, kills a node abruptly and restarts
// it on its reopened store; and a node provides a dataset in the DHT only
// once it holds every leaf; and each node adds one thread, its store's.

#include <chrono>
#include <filesystem>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>

#include "actors/actor_test_config.hpp"
#include "actors/api.hpp"
#include "actors/node_supervisor.hpp"
#include "actors/sim_agent.hpp"
#include "actors/sim_download.hpp"
#include "actors/sim_upload.hpp"
#include "messages/error.hpp"
#include "messages/type_ids.hpp"
#include "storage/merkle_tree.hpp"
#include "storage/store_verify.hpp"
#include "storage/test_datasets.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace std::chrono_literals;

namespace {

using test_config = cairn::test::actor_test_config;

// Asks `dest` and waits for the answer (or the error).
template <class T, class Handle, class... Ts>
caf::expected<T> ask(caf::scoped_actor& self, const Handle& dest,
                     std::chrono::seconds timeout, Ts&&... xs) {
  caf::expected<T> out{make_error(ec::timeout)};
  self->request(dest, timeout, std::forward<Ts>(xs)...)
    .receive([&](T& x) { out = std::move(x); },
             [&](caf::error& err) { out = std::move(err); });
  return out;
}

// One node on its own temp dir, without REST API.
struct test_node {
  explicit test_node(caf::actor_system& sys,
                     std::vector<std::string> bootstrap = {}) {
    ctx = std::make_shared<actors::node_context>();
    ctx->options.data_dir = dir.path();
    ctx->options.no_api = true;
    ctx->options.listen_ip = "127.0.0.1";
    ctx->options.listen_port = 0;
    ctx->options.disc_port = 0;
    ctx->options.bootstrap_nodes = std::move(bootstrap);
    auto key = storage::node_key::load_or_create(dir.file("node.key"));
    EXPECT_OK(key);
    ctx->key = *key;
    sup = sys.spawn(actors::node_supervisor, ctx, actors::restart_policy{});
  }

  template <class Handle>
  Handle child(caf::scoped_actor& self, const std::string& name) {
    auto h = ask<caf::actor>(self, sup, 5s, get_atom::value, name);
    EXPECT_OK(h);
    return h ? caf::actor_cast<Handle>(*h) : Handle{};
  }

  test::temp_dir dir{"cairn-sim-node"};
  std::shared_ptr<actors::node_context> ctx;
  node_supervisor_actor sup;
};

TEST(SimNodesTest, TwoNodesInOneSystemExchangeADatasetOverTcpAndTheDht) {
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  test_node a{sys};
  auto info_a = ask<node_info>(self, a.sup, 30s, start_atom::value);
  ASSERT_OK(info_a);
  EXPECT_EQ(info_a->api_port, 0) << "no HTTP listener with no_api";
  auto spr = ask<std::string>(self, a.child<discovery_actor>(self, "discovery"),
                              5s, get_atom::value, spr_atom::value);
  ASSERT_OK(spr);
  test_node b{sys, {*spr}};
  auto info_b = ask<node_info>(self, b.sup, 30s, start_atom::value);
  ASSERT_OK(info_b);
  EXPECT_NE(info_a->peer_id, info_b->peer_id);
  // No socket, but an `api` that keeps the node's handles for a server
  // outside the node (cairn-sim's agent).
  ASSERT_OK(
    ask<caf::actor>(self, a.sup, 5s, get_atom::value, std::string{"api"}));
  EXPECT_NE(a.ctx->api->get(), nullptr);

  constexpr uint64_t size = 1'500'000; // not a multiple of the block size
  auto up = sys.spawn(actors::sim_upload,
                      a.child<network_store_actor>(self, "network_store"), size,
                      uint64_t{7});
  auto uploaded = ask<sim_upload_result>(self, up, 30s, upload_atom::value);
  ASSERT_OK(uploaded);
  EXPECT_EQ(uploaded->bytes, size);
  auto again = storage::synthetic_data(7, 0, size);
  auto digest = sha256(again);
  EXPECT_EQ(uploaded->sha256, to_hex(byte_view{digest.data(), digest.size()}));

  actors::sim_download_spec spec;
  spec.cid = uploaded->cid;
  spec.expect_size = size;
  spec.expect_seed = 7;
  spec.supervisor = b.sup;
  spec.store = b.child<network_store_actor>(self, "network_store");
  spec.discovery = b.child<discovery_actor>(self, "discovery");
  spec.downloads = b.ctx->downloads;
  spec.sources = b.ctx->sources;
  auto down = sys.spawn(actors::sim_download, spec);
  auto got = ask<sim_download_result>(self, down, 60s, download_atom::value);
  ASSERT_OK(got);
  EXPECT_EQ(got->error, "");
  EXPECT_EQ(got->bytes, size);
  EXPECT_TRUE(got->verified);
  EXPECT_EQ(got->sha256, uploaded->sha256);
  ASSERT_EQ(got->sources.size(), 1u);
  EXPECT_EQ(got->sources[0], info_a->peer_id)
    << "the blocks came from A over the peer session";
  EXPECT_EQ(b.ctx->downloads->list().size(), 1u);
  // B knew no provider: it asked the DHT, where A, the one node B knows,
  // answers at once (1 hop), unless A's announcement reached B first (0).
  EXPECT_GE(got->dht_lookups, 1u);
  ASSERT_EQ(got->dht_hops.size(), got->dht_lookups);
  for (auto h : got->dht_hops)
    EXPECT_LE(h, 1u);

  for (auto* n : {&b, &a})
    EXPECT_OK(ask<ok_atom>(self, n->sup, 30s, stop_atom::value));
}

TEST(SimNodesTest, ANodeProvidesADatasetOnlyOnceItHoldsEveryLeaf) {
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  test_node a{sys};
  ASSERT_OK(ask<node_info>(self, a.sup, 30s, start_atom::value));
  auto spr = ask<std::string>(self, a.child<discovery_actor>(self, "discovery"),
                              5s, get_atom::value, spr_atom::value);
  ASSERT_OK(spr);
  test_node b{sys, {*spr}};
  ASSERT_OK(ask<node_info>(self, b.sup, 30s, start_atom::value));
  auto b_discovery = b.child<discovery_actor>(self, "discovery");
  auto providers = [&](const cid& id) {
    auto found = ask<std::vector<std::string>>(self, b_discovery, 10s,
                                               find_atom::value, id);
    EXPECT_OK(found);
    return found ? found->size() : 0u;
  };

  // A's store gets the manifest and 4 of 6 leaves, as a download does.
  auto ds = test::datasets::random_dataset(6, 51);
  auto tree = storage::merkle_tree::build(ds.leaves);
  ASSERT_OK(tree);
  auto leaves = [&](std::vector<uint64_t> indices) {
    std::vector<leaf_block> out;
    for (auto i : indices) {
      auto proof = tree->proof(i);
      EXPECT_OK(proof);
      out.push_back(
        leaf_block{block_address{ds.meta.tree_cid, i}, ds.blocks[i], *proof});
    }
    return out;
  };
  auto a_store = a.child<local_store_actor>(self, "local_store");
  ASSERT_OK(ask<cid>(self, a_store, 5s, put_atom::value, manifest_atom::value,
                     ds.manifest_block));
  ASSERT_OK(ask<ok_atom>(self, a_store, 5s, put_atom::value, leaf_atom::value,
                         leaves({0, 1, 3, 5})));
  auto counted = ask<uint64_t>(self, a_store, 5s, list_atom::value,
                               leaf_atom::value, ds.meta.tree_cid);
  ASSERT_OK(counted);
  EXPECT_EQ(*counted, 4u);
  // The advertiser looks within 0.2 s of a store change.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(providers(ds.meta.tree_cid), 0u)
    << "a partial dataset is not provided";
  EXPECT_EQ(providers(ds.id()), 0u);

  ASSERT_OK(ask<ok_atom>(self, a_store, 5s, put_atom::value, leaf_atom::value,
                         leaves({2, 4})));
  // Incomplete datasets are counted again at most every 3 s.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (providers(ds.meta.tree_cid) == 0 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(200ms);
  EXPECT_EQ(providers(ds.meta.tree_cid), 1u) << "provided once complete";
  EXPECT_EQ(providers(ds.id()), 1u);

  // Once the dataset is deleted, the advertiser forgets its CIDs.
  auto advertiser = a.child<advertiser_actor>(self, "advertiser");
  auto remembered = [&] {
    auto st = ask<actor_status>(self, advertiser, 5s, status_atom::value);
    EXPECT_OK(st);
    double n = 0;
    if (st)
      for (auto& [name, value] : st->gauges)
        if (name == "provided" || name == "counted")
          n += value;
    return n;
  };
  EXPECT_EQ(remembered(), 2.0) << "the manifest and tree CIDs";
  ASSERT_OK(ask<ok_atom>(self, a_store, 5s, delete_atom::value, ds.id()));
  deadline = std::chrono::steady_clock::now() + 10s;
  while (remembered() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(200ms);
  EXPECT_EQ(remembered(), 0.0);

  for (auto* n : {&b, &a})
    EXPECT_OK(ask<ok_atom>(self, n->sup, 30s, stop_atom::value));
}

// Threads of this process now.
size_t threads() {
  size_t n = 0;
  for (auto& e : std::filesystem::directory_iterator{"/proc/self/task"}) {
    (void)e;
    ++n;
  }
  return n;
}

// The thread count once it stopped changing for half a second (threads
// that end, e.g. a joining node's helpers, leave a moment later).
size_t settled_threads() {
  auto last = threads();
  for (int same = 0; same < 5;) {
    std::this_thread::sleep_for(100ms);
    auto now = threads();
    same = now == last ? same + 1 : 0;
    last = now;
  }
  return last;
}

TEST(SimNodesTest, EachHostedNodeAddsOneThreadItsStores) {
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto before = settled_threads();
  std::vector<std::unique_ptr<test_node>> nodes;
  nodes.push_back(std::make_unique<test_node>(sys));
  ASSERT_OK(ask<node_info>(self, nodes[0]->sup, 30s, start_atom::value));
  auto spr =
    ask<std::string>(self, nodes[0]->child<discovery_actor>(self, "discovery"),
                     5s, get_atom::value, spr_atom::value);
  ASSERT_OK(spr);
  auto one = settled_threads();
  // Its store's and the process's UDP poller.
  EXPECT_EQ(one, before + 2);
  for (int i = 0; i < 4; ++i) {
    nodes.push_back(
      std::make_unique<test_node>(sys, std::vector<std::string>{*spr}));
    ASSERT_OK(ask<node_info>(self, nodes.back()->sup, 30s, start_atom::value));
  }
  // The four joined the DHT through node 0: their datagrams arrive.
  auto disc = nodes[0]->child<discovery_actor>(self, "discovery");
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::vector<std::string> contacts;
  while (contacts.size() < 4 && std::chrono::steady_clock::now() < deadline) {
    auto got = ask<std::vector<std::string>>(self, disc, 5s, list_atom::value);
    ASSERT_OK(got);
    contacts = *got;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(contacts.size(), 4u);
  EXPECT_EQ(settled_threads(), one + 4) << "one thread per node";
  for (auto& n : nodes)
    EXPECT_OK(ask<ok_atom>(self, n->sup, 30s, stop_atom::value));
  nodes.clear();
  EXPECT_EQ(settled_threads(), before) << "the poller ends with the last node";
}

class SimAgentTest : public ::testing::Test {
protected:
  void SetUp() override {
    actors::sim_agent_config c;
    c.secret = "s3cret";
    c.data_dir = dir_.path();
    directory_ = c.directory;
    agent_ = sys_.spawn(actors::sim_agent, c);
  }

  void TearDown() override {
    ask<ok_atom>(self_, agent_, 30s, stop_atom::value);
  }

  test::temp_dir dir_{"cairn-sim-agent"};
  test_config cfg_;
  caf::actor_system sys_{cfg_};
  caf::scoped_actor self_{sys_};
  sim_agent_actor agent_;
  std::shared_ptr<actors::sim_node_directory> directory_;
};

TEST_F(SimAgentTest, RefusesCommandsBeforeTheSecret) {
  auto refused = ask<std::vector<std::string>>(
    self_, agent_, 5s, spawn_atom::value, uint32_t{0}, uint32_t{1},
    std::vector<std::string>{}, std::vector<std::string>{});
  ASSERT_FALSE(refused);
  EXPECT_NE(describe(refused.error()).find("forbidden"), std::string::npos)
    << describe(refused.error());
  EXPECT_FALSE(
    ask<ok_atom>(self_, agent_, 5s, auth_atom::value, std::string{"wrong"}));
  EXPECT_FALSE(
    ask<std::vector<sim_node_stats>>(self_, agent_, 5s, stats_atom::value));
  ASSERT_OK(
    ask<ok_atom>(self_, agent_, 5s, auth_atom::value, std::string{"s3cret"}));
  EXPECT_OK(
    ask<std::vector<sim_node_stats>>(self_, agent_, 5s, stats_atom::value));
}

TEST_F(SimAgentTest, KilledNodeRestartsOnItsStoreAndStillServes) {
  ASSERT_OK(
    ask<ok_atom>(self_, agent_, 5s, auth_atom::value, std::string{"s3cret"}));
  auto first = ask<std::vector<std::string>>(
    self_, agent_, 30s, spawn_atom::value, uint32_t{0}, uint32_t{1},
    std::vector<std::string>{"--storage-quota=256MiB"},
    std::vector<std::string>{});
  ASSERT_OK(first);
  auto rest = ask<std::vector<std::string>>(
    self_, agent_, 30s, spawn_atom::value, uint32_t{1}, uint32_t{2},
    std::vector<std::string>{}, *first);
  ASSERT_OK(rest);
  EXPECT_EQ(rest->size(), 2u);
  EXPECT_FALSE(ask<std::vector<std::string>>(
    self_, agent_, 5s, spawn_atom::value, uint32_t{2}, uint32_t{1},
    std::vector<std::string>{}, std::vector<std::string>{}))
    << "node 2 exists already";
  EXPECT_FALSE(ask<std::vector<std::string>>(
    self_, agent_, 5s, spawn_atom::value, uint32_t{9}, uint32_t{1},
    std::vector<std::string>{"--max-peers=lots"}, std::vector<std::string>{}))
    << "a bad node flag is refused";

  // Node 1 (not the bootstrap node: it rejoins the DHT through node 0)
  // stores a dataset, is killed and restarted; node 2 then fetches it.
  constexpr uint64_t size = 700'000;
  auto up = ask<sim_upload_result>(self_, agent_, 30s, upload_atom::value,
                                   uint32_t{1}, size, uint64_t{3});
  ASSERT_OK(up);
  ASSERT_OK(ask<ok_atom>(self_, agent_, 5s, kill_atom::value, uint32_t{1}));
  EXPECT_FALSE(ask<sim_upload_result>(self_, agent_, 5s, upload_atom::value,
                                      uint32_t{1}, size, uint64_t{4}))
    << "a killed node takes no command";
  auto spr =
    ask<std::string>(self_, agent_, 30s, restart_atom::value, uint32_t{1});
  ASSERT_OK(spr);
  auto got = ask<sim_download_result>(self_, agent_, 60s, download_atom::value,
                                      uint32_t{2}, up->cid, size, uint64_t{3});
  ASSERT_OK(got);
  EXPECT_EQ(got->error, "");
  EXPECT_TRUE(got->verified) << "the restarted node served the whole dataset";
  auto stats =
    ask<std::vector<sim_node_stats>>(self_, agent_, 5s, stats_atom::value);
  ASSERT_OK(stats);
  ASSERT_EQ(stats->size(), 3u);
  EXPECT_TRUE((*stats)[1].up);
  EXPECT_EQ((*stats)[1].restarts, 1u);
  EXPECT_EQ((*stats)[2].downloads_done, 1u);
  EXPECT_EQ((*stats)[2].bytes_downloaded, size);
}

// A kill cuts an upload short: its blocks, put and never committed, hold
// references nothing owns. The node's restart reclaims them, as cairn-node
// does at its start, instead of keeping them against its quota until
// their TTL.
TEST_F(SimAgentTest, RestartedNodeReclaimsTheBlocksItsKillLeft) {
  ASSERT_OK(
    ask<ok_atom>(self_, agent_, 5s, auth_atom::value, std::string{"s3cret"}));
  ASSERT_OK(ask<std::vector<std::string>>(
    self_, agent_, 30s, spawn_atom::value, uint32_t{0}, uint32_t{1},
    std::vector<std::string>{}, std::vector<std::string>{}));
  constexpr uint64_t size = 300'000;
  auto up = ask<sim_upload_result>(self_, agent_, 30s, upload_atom::value,
                                   uint32_t{0}, size, uint64_t{5});
  ASSERT_OK(up);
  std::shared_ptr<actors::node_context> ctx;
  ASSERT_TRUE(directory_->find(0, ctx) && ctx);
  auto api = ctx->api->get();
  ASSERT_TRUE(api);
  std::vector<block> cut_short;
  for (uint64_t i = 0; i < 3; ++i)
    cut_short.push_back(block::make(test::random_bytes(4096, 70 + i)));
  ASSERT_OK(
    ask<uint64_t>(self_, api->local_store(), 5s, put_atom::value, cut_short));
  api.reset();
  ctx.reset();
  ASSERT_OK(ask<ok_atom>(self_, agent_, 5s, kill_atom::value, uint32_t{0}));
  ASSERT_OK(
    ask<std::string>(self_, agent_, 30s, restart_atom::value, uint32_t{0}));
  ASSERT_OK(ask<ok_atom>(self_, agent_, 30s, stop_atom::value));
  self_->wait_for(agent_);
  // Offline, every reference must be owned.
  auto st = storage::lmdb_store::open(actors::store_options([&] {
    config::node_options o;
    o.data_dir = dir_.path() + "/node-0";
    return o;
  }()));
  ASSERT_OK(st);
  for (auto& b : cut_short)
    EXPECT_FALSE((*st)->has_block(b.id)) << b.id.to_string();
  auto found = storage::verify_store(**st, {false, 0, nullptr});
  ASSERT_OK(found);
  for (auto& p : found->problems)
    ADD_FAILURE() << p.text;
  EXPECT_EQ(found->datasets, 1u) << "the committed upload is kept";
}

} // namespace
