// Multi-node integration tests: real `cairn-node` processes (binary
// CAIRN_NODE_BIN) on 127.0.0.1 that connect to each other with
// `GET /connect/{peerId}?addrs=...` and download through the block exchange
// (`/data/{cid}/network/...`). Every node has its own temp dir and API/peer
// ports chosen by the OS; node_process stops every node, also when an
// assertion fails. Discovery (DHT) is not used: nodes are connected
// explicitly.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/api_helpers.hpp"
#include "tests/integration/net_helpers.hpp"
#include "tests/integration/node_process.hpp"

namespace {

using cairn::test::api;
using cairn::test::get_json;
using cairn::test::looks_like_cid;
using cairn::test::node_args;
using cairn::test::node_process;
using cairn::test::random_bytes;
using cairn::test::sha256_hex;
using cairn::test::sha256_stream;
using cairn::test::temp_dir;
using cairn::test::upload;
using namespace cairn::test;
using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then closed).
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

#define START(node) ASSERT_TRUE((node).proc.start())

} // namespace

// -- two nodes ----------------------------------------------------------------

TEST(NetworkIntegrationTest, TwoNodesStreamOverTheNetwork) {
  test_node a, b;
  START(a);
  START(b);
  // 20 MiB and a bit: the last block is partial.
  auto data = random_bytes(20 * mib + 12345, 101);
  auto ca = a.proc.client();
  std::string cid;
  ASSERT_TRUE(upload(ca, data, &cid));

  // B does not have it yet.
  {
    auto cb = b.proc.client();
    auto res = cb.Get(api("/data/" + cid));
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 404) << res->body;
  }
  ASSERT_TRUE(connect_nodes(b.proc, a.proc));

  auto r = stream_network(b.proc, cid);
  ASSERT_TRUE(is_whole(r, data)) << b.proc.diagnostics();
  std::cout << "[  info    ] 20 MiB over the network in " << r.seconds
            << " s\n";

  // The blocks were stored on B: the local endpoint serves the dataset.
  auto local = stream_get(b.proc.host(), b.proc.port(), api("/data/" + cid));
  EXPECT_TRUE(is_whole(local, data)) << b.proc.diagnostics();

  std::string seen;
  auto d = wait_download(b.proc, cid, "stream", 5s, &seen);
  ASSERT_FALSE(d.is_null()) << "no stream download of " << cid
                            << " in /api/cairn/v1/downloads: " << seen;
  EXPECT_EQ(d.value("state", ""), "done") << d.dump();
  EXPECT_EQ(counter(d, "blocksTotal"),
            (data.size() + block_size - 1) / block_size)
    << d.dump();
  EXPECT_EQ(counter(d, "blocksDone"), counter(d, "blocksTotal")) << d.dump();
  EXPECT_EQ(d.value("treeCid", "").empty(), false) << d.dump();

  // B's view of A: it received blocks from A.
  std::map<std::string, json> peers;
  ASSERT_TRUE(peers_of(b.proc, &peers));
  ASSERT_EQ(peers.count(a.proc.peer_id()), 1u)
    << "A missing from B's peers: " << json(peers).dump();
  EXPECT_GE(counter(peers[a.proc.peer_id()], "blocksReceived"),
            counter(d, "blocksTotal"))
    << peers[a.proc.peer_id()].dump();
  EXPECT_EQ(counter(peers[a.proc.peer_id()], "badBlocks"), 0u);

  // B's engine gathers the wants of the requests queued together into one
  // WANT_LIST: A received fewer frames than blocks (one per block and a few
  // more without it; how many fewer depends on timing: a quarter alone, two
  // thirds under a parallel ctest).
  json actors;
  auto ca2 = a.proc.client();
  ASSERT_TRUE(get_json(ca2, "/api/cairn/v1/actors", &actors));
  double frames_in = -1;
  for (auto& s : actors.value("actors", json::array()))
    if (s.value("name", "") == "peer_session/" + b.proc.peer_id())
      frames_in = s["gauges"].value("frames_in", -1.0);
  ASSERT_GE(frames_in, 0) << actors.dump();
  EXPECT_LT(frames_in, static_cast<double>(counter(d, "blocksTotal")))
    << actors.dump();
}

// Each download shows the blocks delivered for it: a dataset fetched,
// deleted and fetched again gives two downloads whose `peers` each add up
// to the dataset's blocks (the second does not add the first's, and the
// first's do not grow when the second fetches).
TEST(NetworkIntegrationTest, EachDownloadCountsItsOwnSources) {
  test_node a, b;
  auto data = random_bytes(3 * mib + 4321, 211);
  std::string cid;
  ASSERT_TRUE(seed_and_connect(a, b, data, &cid));
  const uint64_t blocks = (data.size() + block_size - 1) / block_size;
  auto cb = b.proc.client();
  for (int round = 0; round < 2; ++round) {
    auto r = stream_network(b.proc, cid);
    ASSERT_TRUE(is_whole(r, data))
      << "round " << round << ": " << b.proc.diagnostics();
    std::string seen;
    auto d = wait_download(b.proc, cid, "stream", 5s, &seen);
    ASSERT_EQ(d.value("state", ""), "done") << seen;
    auto del = cb.Delete(api("/data/" + cid));
    ASSERT_TRUE(del) << httplib::to_string(del.error());
    ASSERT_EQ(del->status, 204) << del->body;
  }
  json j;
  ASSERT_TRUE(get_json(cb, "/api/cairn/v1/downloads", &j));
  std::vector<json> mine;
  for (auto& d : j.value("downloads", json::array()))
    if (d.value("cid", "") == cid)
      mine.push_back(d);
  ASSERT_EQ(mine.size(), 2u) << j.dump();
  for (auto& d : mine) {
    EXPECT_EQ(d.value("state", ""), "done") << d.dump();
    EXPECT_EQ(counter(d, "blocksTotal"), blocks) << d.dump();
    ASSERT_TRUE(d.contains("peers") && d["peers"].is_array()) << d.dump();
    uint64_t sum = 0;
    for (auto& p : d["peers"]) {
      EXPECT_EQ(p.value("peerId", ""), a.proc.peer_id()) << d.dump();
      sum += counter(p, "blocks");
    }
    EXPECT_EQ(sum, blocks) << d.dump();
    EXPECT_TRUE(d.contains("duplicateBlocks") &&
                d["duplicateBlocks"].is_number_unsigned())
      << d.dump();
  }
}

TEST(NetworkIntegrationTest, NetworkRangeFetchesOnlyCoveringBlocks) {
  test_node a, b;
  START(a);
  START(b);
  auto data = random_bytes(20 * mib, 202);
  auto ca = a.proc.client();
  std::string cid;
  ASSERT_TRUE(upload(ca, data, &cid));
  ASSERT_TRUE(connect_nodes(b.proc, a.proc));

  // Not block-aligned at either end.
  const std::uint64_t first = 10'000'000, last = 10'300'000;
  const std::uint64_t covering = last / block_size - first / block_size + 1;
  auto r = stream_network(
    b.proc, cid,
    {{"Range", "bytes=" + std::to_string(first) + "-" + std::to_string(last)}},
    true);
  ASSERT_TRUE(r.error.empty()) << r.describe();
  ASSERT_EQ(r.status, 206) << r.describe();
  EXPECT_EQ(r.content_length, std::to_string(last - first + 1));
  EXPECT_EQ(r.content_range, "bytes " + std::to_string(first) + "-" +
                               std::to_string(last) + "/" +
                               std::to_string(data.size()));
  ASSERT_EQ(r.body.size(), last - first + 1);
  EXPECT_TRUE(r.body == data.substr(first, last - first + 1))
    << "the range's bytes differ from the original";

  std::map<std::string, json> peers;
  ASSERT_TRUE(peers_of(b.proc, &peers));
  ASSERT_EQ(peers.count(a.proc.peer_id()), 1u) << json(peers).dump();
  auto got = counter(peers[a.proc.peer_id()], "blocksReceived");
  std::cout << "[  info    ] range of " << covering << " blocks: B received "
            << got << " blocks from A\n";
  // The covering blocks, the manifest, and a few for end-game/read-ahead;
  // far from the dataset's 320 blocks.
  EXPECT_GE(got, covering) << peers[a.proc.peer_id()].dump();
  EXPECT_LE(got, covering + 1 + 8)
    << "a range of " << covering << " blocks made B fetch " << got
    << " blocks: " << peers[a.proc.peer_id()].dump();
}

TEST(NetworkIntegrationTest, BackgroundDownloadCompletes) {
  test_node a, b;
  START(a);
  START(b);
  auto data = random_bytes(12 * mib + 777, 303);
  auto ca = a.proc.client();
  std::string cid;
  ASSERT_TRUE(upload(ca, data, &cid));
  ASSERT_TRUE(connect_nodes(b.proc, a.proc));

  auto cb = b.proc.client();
  auto t0 = steady::now();
  auto res = cb.Post(api("/data/" + cid + "/network"), "", "text/plain");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  ASSERT_EQ(res->status, 200) << res->body;
  // It answers at once, before the dataset is downloaded.
  EXPECT_LT(seconds_since(t0), 10.0);
  json j = json::parse(res->body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << res->body;
  EXPECT_EQ(j.value("cid", ""), cid) << res->body;
  ASSERT_TRUE(j.contains("manifest") && j["manifest"].is_object()) << res->body;
  EXPECT_EQ(j["manifest"].value("datasetSize", std::uint64_t{0}), data.size())
    << res->body;

  std::string seen;
  auto d = wait_download(b.proc, cid, "background", 30s, &seen);
  ASSERT_FALSE(d.is_null()) << "no background download of " << cid
                            << " in /api/cairn/v1/downloads: " << seen;
  ASSERT_EQ(d.value("state", ""), "done") << d.dump() << b.proc.diagnostics();
  EXPECT_EQ(counter(d, "blocksDone"), counter(d, "blocksTotal")) << d.dump();

  auto local = stream_get(b.proc.host(), b.proc.port(), api("/data/" + cid));
  EXPECT_TRUE(is_whole(local, data)) << b.proc.diagnostics();
  // And it is listed as a local dataset.
  json list;
  ASSERT_TRUE(get_json(cb, api("/data"), &list));
  bool listed = false;
  for (auto& item : list.value("content", json::array()))
    listed = listed || item.value("cid", "") == cid;
  EXPECT_TRUE(listed) << list.dump();
}

// -- many nodes ---------------------------------------------------------------

namespace {

// Eight nodes stream one dataset at once from a seeder started with
// `seeder_args`; each gets every byte.
void eight_downloaders(const std::vector<std::string>& seeder_args) {
  constexpr int downloaders = 8;
  test_node a{seeder_args};
  START(a);
  auto data = random_bytes(16 * mib + 4321, 404);
  auto ca = a.proc.client();
  std::string cid;
  ASSERT_TRUE(upload(ca, data, &cid));

  std::vector<std::unique_ptr<test_node>> nodes;
  for (int i = 0; i < downloaders; ++i) {
    nodes.push_back(std::make_unique<test_node>());
    START(*nodes.back());
    ASSERT_TRUE(connect_nodes(nodes.back()->proc, a.proc)) << "node " << i;
  }

  std::vector<stream_result> results(downloaders);
  std::vector<std::thread> threads;
  auto t0 = steady::now();
  for (int i = 0; i < downloaders; ++i) {
    auto host = nodes[i]->proc.host();
    auto port = nodes[i]->proc.port();
    threads.emplace_back([&results, i, host, port, cid] {
      results[i] =
        stream_get(host, port, api("/data/" + cid + "/network/stream"));
    });
  }
  for (auto& t : threads)
    t.join();
  auto total = seconds_since(t0);
  std::cout << "[  info    ] " << downloaders << " x "
            << data.size() / double(mib) << " MiB in " << total << " s\n";
  for (int i = 0; i < downloaders; ++i)
    EXPECT_TRUE(is_whole(results[i], data))
      << "downloader " << i << nodes[i]->proc.diagnostics();
}

} // namespace

TEST(NetworkIntegrationTest, EightDownloadersAtOnce) {
  eight_downloaders({});
}

// The smallest node-wide send budget: one delivery in flight for all eight
// at a time. Serving resumes as sockets drain, in turn, and nobody starves.
TEST(NetworkIntegrationTest, EightDownloadersWithTheSmallestSendBudget) {
  eight_downloaders({"--max-unsent", "1MiB"});
}

TEST(NetworkIntegrationTest, FourSeedersShareTheLoad) {
  constexpr int seeders = 4;
  auto data = random_bytes(32 * mib, 505);
  std::vector<std::unique_ptr<test_node>> s;
  std::string cid;
  for (int i = 0; i < seeders; ++i) {
    s.push_back(std::make_unique<test_node>());
    START(*s.back());
    auto cli = s.back()->proc.client();
    std::string c;
    ASSERT_TRUE(upload(cli, data, &c));
    if (i == 0)
      cid = c;
    ASSERT_EQ(c, cid) << "same bytes must give the same CID";
  }
  test_node d;
  START(d);
  for (auto& n : s)
    ASSERT_TRUE(connect_nodes(d.proc, n->proc));

  auto r = stream_network(d.proc, cid);
  ASSERT_TRUE(is_whole(r, data)) << d.proc.diagnostics();

  std::map<std::string, json> peers;
  ASSERT_TRUE(peers_of(d.proc, &peers));
  int contributing = 0;
  std::uint64_t sum = 0;
  std::ostringstream dist;
  for (int i = 0; i < seeders; ++i) {
    auto it = peers.find(s[i]->proc.peer_id());
    ASSERT_NE(it, peers.end())
      << "seeder " << i << " not in D's peers: " << json(peers).dump();
    auto n = counter(it->second, "blocksReceived");
    dist << (i ? ", " : "") << n;
    sum += n;
    contributing += n > 0 ? 1 : 0;
    EXPECT_EQ(counter(it->second, "badBlocks"), 0u) << it->second.dump();
  }
  std::cout << "[  info    ] 32 MiB from 4 seeders in " << r.seconds
            << " s; blocks per seeder: " << dist.str() << "\n";
  EXPECT_GT(contributing, 1)
    << "all blocks came from one seeder (" << dist.str()
    << "): the engine does not spread the load";
  EXPECT_GE(sum, data.size() / block_size);
}

TEST(NetworkIntegrationTest, SeederKilledMidTransfer) {
  auto data = random_bytes(64 * mib, 606);
  test_node s1, s2, d;
  START(s1);
  START(s2);
  START(d);
  std::string cid;
  ASSERT_TRUE(seed_both(s1.proc, s2.proc, data, &cid));
  ASSERT_TRUE(connect_nodes(d.proc, s1.proc));
  ASSERT_TRUE(connect_nodes(d.proc, s2.proc));

  // The reader stops once a quarter has arrived and waits until a seeder was
  // killed; the node fetches at most its window plus socket buffers ahead,
  // so most of the dataset is still to come from the survivor.
  std::mutex mtx;
  std::condition_variable cv;
  bool paused = false, resume = false;
  stream_result r;
  std::thread reader([&] {
    r = stream_network(d.proc, cid, {}, false, [&](std::uint64_t got) {
      if (got >= data.size() / 4) {
        std::unique_lock<std::mutex> lk(mtx);
        if (!paused) {
          paused = true;
          cv.notify_all();
          cv.wait_for(lk, 20s, [&] { return resume; });
        }
      }
      return true;
    });
  });
  bool was_paused;
  {
    std::unique_lock<std::mutex> lk(mtx);
    was_paused = cv.wait_for(lk, 30s, [&] { return paused; });
  }
  std::string victim_id;
  std::uint64_t victim_blocks = 0;
  if (was_paused) {
    // Kill the seeder that served more so far (the one D relies on).
    std::map<std::string, json> peers;
    EXPECT_TRUE(peers_of(d.proc, &peers));
    auto b1 = counter(peers[s1.proc.peer_id()], "blocksReceived");
    auto b2 = counter(peers[s2.proc.peer_id()], "blocksReceived");
    auto& victim = b1 >= b2 ? s1 : s2;
    victim_id = victim.proc.peer_id();
    victim_blocks = std::max(b1, b2);
    std::cout << "[  info    ] paused at 1/4: blocks from s1 " << b1 << ", s2 "
              << b2 << "; kill -9 " << (b1 >= b2 ? "s1" : "s2") << "\n";
    victim.proc.kill9();
  }
  {
    std::lock_guard<std::mutex> lk(mtx);
    resume = true;
  }
  cv.notify_all();
  reader.join();
  ASSERT_TRUE(was_paused) << "the stream never reached 1/4: " << r.describe()
                          << d.proc.diagnostics();
  EXPECT_GT(victim_blocks, 0u) << "the killed seeder had served nothing yet";
  EXPECT_TRUE(is_whole(r, data)) << d.proc.diagnostics();
  std::cout << "[  info    ] 64 MiB with a seeder killed at 1/4 in "
            << r.seconds << " s\n";

  // The dead seeder is no longer a connected peer.
  std::map<std::string, json> peers;
  ASSERT_TRUE(peers_of(d.proc, &peers));
  EXPECT_EQ(peers.count(victim_id), 0u)
    << "killed seeder still listed: " << peers[victim_id].dump();
}

TEST(NetworkIntegrationTest, CorruptSeederIsRejectedAndPenalised) {
  auto data = random_bytes(8 * mib + 99, 707);
  test_node liar({"--fault-corrupt-blocks"});
  // The honest seeder alone would take 2 s: long enough for the liar to be
  // asked, however quickly the honest one starts.
  test_node honest({"--max-upload-rate", "4MB"}), d;
  START(liar);
  START(honest);
  START(d);
  std::string cid;
  ASSERT_TRUE(seed_both(liar.proc, honest.proc, data, &cid));
  // The liar first, so that it is asked.
  ASSERT_TRUE(connect_nodes(d.proc, liar.proc));
  ASSERT_TRUE(connect_nodes(d.proc, honest.proc));

  auto r = stream_network(d.proc, cid);
  ASSERT_TRUE(is_whole(r, data)) << d.proc.diagnostics();

  std::map<std::string, json> peers;
  ASSERT_TRUE(peers_of(d.proc, &peers));
  auto it = peers.find(liar.proc.peer_id());
  if (it != peers.end()) {
    EXPECT_GE(counter(it->second, "badBlocks"), 1u)
      << "the corrupting seeder is still connected and was never penalised: "
      << it->second.dump() << d.proc.diagnostics();
    EXPECT_EQ(counter(it->second, "blocksReceived"), 0u)
      << "blocks from the corrupting seeder were counted as received: "
      << it->second.dump();
  } else {
    std::cout << "[  info    ] the corrupting seeder was disconnected\n";
  }
  auto log = d.proc.stderr_text();
  std::cout << "[  info    ] D's log mentions the liar "
            << (log.find(liar.proc.peer_id()) != std::string::npos ? "yes"
                                                                   : "no")
            << "\n";
  ASSERT_EQ(peers.count(honest.proc.peer_id()), 1u);
  EXPECT_GT(counter(peers[honest.proc.peer_id()], "blocksReceived"), 0u);
  EXPECT_EQ(counter(peers[honest.proc.peer_id()], "badBlocks"), 0u);
  // D stored only verified blocks: its local copy is right too.
  auto local = stream_get(d.proc.host(), d.proc.port(), api("/data/" + cid));
  EXPECT_TRUE(is_whole(local, data));
}

// -- failures -----------------------------------------------------------------

TEST(NetworkIntegrationTest, UnknownCidOverTheNetworkFailsCleanly) {
  test_node a, b;
  START(a);
  START(b);
  // A manifest CID nobody has: uploaded to A, then deleted there.
  std::string cid;
  {
    auto ca = a.proc.client();
    ASSERT_TRUE(upload(ca, random_bytes(100000, 808), &cid));
    auto del = ca.Delete(api("/data/" + cid));
    ASSERT_TRUE(del);
    ASSERT_EQ(del->status, 204);
    auto res = ca.Get(api("/data/" + cid + "/exists"));
    ASSERT_TRUE(res);
    ASSERT_NE(res->body.find("false"), std::string::npos) << res->body;
  }
  ASSERT_TRUE(connect_nodes(b.proc, a.proc));

  auto cli = long_client(b.proc.host(), b.proc.port());
  cli.set_read_timeout(75, 0);
  auto t0 = steady::now();
  auto res = cli.Get(api("/data/" + cid + "/network/manifest"));
  auto took = seconds_since(t0);
  std::cout << "[  info    ] /network/manifest of an absent CID answered in "
            << took << " s\n";
  ASSERT_TRUE(res) << httplib::to_string(res.error()) << " after " << took
                   << " s";
  EXPECT_EQ(res->status, 404) << res->body << " after " << took << " s";
  // The only peer said it lacks it and the DHT knows no provider: no
  // reason to wait for the engine's want timeout.
  EXPECT_LT(took, 2.0);
  // The node still works.
  std::map<std::string, json> peers;
  EXPECT_TRUE(peers_of(b.proc, &peers));
  EXPECT_EQ(peers.count(a.proc.peer_id()), 1u);
}

TEST(NetworkIntegrationTest, ConnectToBadAddressFails) {
  test_node a, b, c;
  START(a);
  START(b);
  START(c);
  std::string addr_a, addr_c;
  ASSERT_TRUE(peer_addr(a.proc, &addr_a));
  ASSERT_TRUE(peer_addr(c.proc, &addr_c));

  // Nothing listens on the port: refused at once.
  {
    auto port = closed_port();
    ASSERT_GT(port, 0);
    auto t0 = steady::now();
    auto res = connect_raw(b.proc, a.proc.peer_id(),
                           "/ip4/127.0.0.1/tcp/" + std::to_string(port));
    auto took = seconds_since(t0);
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_NE(res->status, 200) << res->body;
    EXPECT_LT(took, 5.0) << "connecting to a closed port took " << took
                         << " s (" << res->status << " " << res->body << ")";
  }
  // Malformed input: 400 at once.
  {
    auto res = connect_raw(b.proc, a.proc.peer_id(), "not-a-multiaddr");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << res->body;
    auto cli = b.proc.client();
    auto none = cli.Get(api("/connect/" + a.proc.peer_id()));
    ASSERT_TRUE(none);
    EXPECT_EQ(none->status, 400) << none->body;
  }
  // A live address, but it belongs to A, not to C: the handshake proves A's
  // identity, which is not the one asked for. The node knows that within
  // one round trip on loopback.
  {
    auto t0 = steady::now();
    auto res = connect_raw(b.proc, c.proc.peer_id(), addr_a);
    auto took = seconds_since(t0);
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_NE(res->status, 200) << res->body;
    EXPECT_LT(took, 5.0) << "a peer-id mismatch was answered after " << took
                         << " s: " << res->status << " " << res->body
                         << b.proc.diagnostics();
    std::map<std::string, json> peers;
    ASSERT_TRUE(peers_of(b.proc, &peers));
    EXPECT_EQ(peers.count(c.proc.peer_id()), 0u)
      << "B lists C as a peer after connecting to A's address: "
      << json(peers).dump();
  }
  // The failed attempt must not poison later ones: C at its real address.
  {
    auto t0 = steady::now();
    auto res = connect_raw(b.proc, c.proc.peer_id(), addr_c);
    auto took = seconds_since(t0);
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200)
      << "connecting to C at its real address after a failed attempt with "
         "C's id: "
      << res->body << " after " << took << " s" << b.proc.diagnostics();
  }
  // Not a peer id at all: rejected without dialing.
  {
    auto t0 = steady::now();
    auto res = connect_raw(b.proc, "notapeerid", addr_a);
    auto took = seconds_since(t0);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << res->body << " after " << took << " s";
    EXPECT_LT(took, 5.0) << res->status << " " << res->body;
  }
  // B still connects to A fine afterwards.
  ASSERT_TRUE(connect_nodes(b.proc, a.proc));
  std::map<std::string, json> peers;
  ASSERT_TRUE(peers_of(b.proc, &peers));
  EXPECT_EQ(peers.count(a.proc.peer_id()), 1u) << json(peers).dump();
}
