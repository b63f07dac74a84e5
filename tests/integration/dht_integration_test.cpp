// Discovery between real cairn-node processes: a node that knows only one
// other node's signed peer record finds a dataset's provider through the
// Kademlia DHT, connects to it and downloads.

#include <chrono>
#include <random>
#include <string>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/sha.h>

#include "integration/api_helpers.hpp"
#include "integration/node_process.hpp"

using namespace cairn::test;

namespace {

struct dht_node {
  temp_dir dir;
  node_process proc;
  explicit dht_node(const std::vector<std::string>& extra = {})
    : dir("cairn-dht"),
      proc(node_args(dir.file("data"), extra), dir.file("node-stderr.log")) {}
};

std::string dht_data(size_t n, uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::string out(n, '\0');
  for (auto& c : out)
    c = static_cast<char>(rng());
  return out;
}

std::string dht_sha256(const std::string& s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (auto b : d) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

} // namespace

TEST(DhtIntegrationTest, SprEndpointReturnsASignedRecordWithBothAddresses) {
  dht_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  auto res = cli.Get(api("/spr"), {{"Accept", "text/plain"}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->body.rfind("spr:", 0), 0u) << res->body;
  auto info = cli.Get(api("/debug/info"));
  ASSERT_TRUE(info);
  auto j = nlohmann::json::parse(info->body);
  EXPECT_EQ(j["spr"], res->body);
  bool tcp = false, udp = false;
  for (auto& a : j["addrs"]) {
    auto s = a.get<std::string>();
    tcp |= s.find("/tcp/") != std::string::npos;
    udp |= s.find("/udp/") != std::string::npos;
  }
  EXPECT_TRUE(tcp && udp) << j["addrs"].dump();
}

TEST(DhtIntegrationTest, NodeFindsProviderThroughTheDhtAndDownloads) {
  // A line A - B - C: A and C were only told B's record.
  dht_node b;
  ASSERT_TRUE(b.proc.start());
  auto bcli = b.proc.client();
  auto spr = bcli.Get(api("/spr"));
  ASSERT_TRUE(spr && spr->status == 200);
  dht_node a({"--bootstrap-node", spr->body});
  dht_node c({"--bootstrap-node", spr->body});
  ASSERT_TRUE(a.proc.start());
  ASSERT_TRUE(c.proc.start());

  auto data = dht_data(3 * 1024 * 1024 + 99, 7);
  auto acli = a.proc.client();
  auto up = acli.Post(api("/data"), data, "application/octet-stream");
  ASSERT_TRUE(up && up->status == 200) << (up ? up->body : "no answer");
  auto cid = up->body;

  // C has never heard of A: the engine asks discovery, which asks B.
  auto ccli = c.proc.client();
  ccli.set_read_timeout(60, 0);
  auto t0 = std::chrono::steady_clock::now();
  auto got = ccli.Get(api("/data/" + cid + "/network/stream"));
  ASSERT_TRUE(got) << httplib::to_string(got.error());
  ASSERT_EQ(got->status, 200) << got->body;
  EXPECT_EQ(got->body.size(), data.size());
  EXPECT_EQ(dht_sha256(got->body), dht_sha256(data));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds{45});

  // C is now connected to A, whose peer ID it learnt from the DHT.
  auto peers = nlohmann::json::parse(ccli.Get("/api/cairn/v1/peers")->body);
  bool from_a = false;
  for (auto& p : peers["peers"])
    from_a |=
      p["peerId"] == a.proc.peer_id() && p["blocksReceived"].get<int>() > 0;
  EXPECT_TRUE(from_a) << peers.dump();
}
