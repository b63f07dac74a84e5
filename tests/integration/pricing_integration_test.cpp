// "Decide to buy": a node buys blocks only from peers quoting at most its
// --max-price per byte.

#include <chrono>
#include <random>
#include <string>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "integration/api_helpers.hpp"
#include "integration/node_process.hpp"

using namespace cairn::test;

namespace {

struct priced_node {
  temp_dir dir;
  node_process proc;
  explicit priced_node(const std::vector<std::string>& extra = {})
    : dir("cairn-price"),
      proc(node_args(dir.file("data"), extra), dir.file("node-stderr.log")) {}
};

// Connects `from` to `to` through /connect with `to`'s TCP address.
void connect(priced_node& from, priced_node& to) {
  auto info =
    nlohmann::json::parse(to.proc.client().Get(api("/debug/info"))->body);
  std::string tcp;
  for (auto& a : info["addrs"])
    if (a.get<std::string>().find("/tcp/") != std::string::npos)
      tcp = a.get<std::string>();
  auto res = from.proc.client().Get(
    api("/connect/" + to.proc.peer_id() + "?addrs=" + tcp));
  ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
}

} // namespace

TEST(PricingIntegrationTest, BlocksAreBoughtOnlyUnderTheMaxPrice) {
  priced_node seller({"--price-per-byte", "5"});
  priced_node frugal; // --max-price 0 (default)
  priced_node buyer({"--max-price", "10"});
  ASSERT_TRUE(seller.proc.start());
  ASSERT_TRUE(frugal.proc.start());
  ASSERT_TRUE(buyer.proc.start());
  std::mt19937_64 rng{11};
  std::string data(300000, '\0');
  for (auto& c : data)
    c = static_cast<char>(rng());
  auto up =
    seller.proc.client().Post(api("/data"), data, "application/octet-stream");
  ASSERT_TRUE(up && up->status == 200);
  connect(frugal, seller);
  connect(buyer, seller);

  // The buyer pays up to 10 per byte: it gets the dataset.
  auto bcli = buyer.proc.client();
  bcli.set_read_timeout(40, 0);
  auto got = bcli.Get(api("/data/" + up->body + "/network/stream"));
  ASSERT_TRUE(got);
  ASSERT_EQ(got->status, 200) << got->body;
  EXPECT_EQ(got->body, data);

  // The frugal node knows the seller has it, but never buys: no peer it
  // may buy from has it, so the fetch ends with 404 when the engine gives up.
  auto fcli = frugal.proc.client();
  fcli.set_read_timeout(40, 0);
  auto t0 = std::chrono::steady_clock::now();
  auto refused = fcli.Get(api("/data/" + up->body + "/network/manifest"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 404) << refused->body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds{35});
  auto peers = nlohmann::json::parse(fcli.Get("/api/cairn/v1/peers")->body);
  ASSERT_EQ(peers["peers"].size(), 1u);
  EXPECT_EQ(peers["peers"][0]["blocksReceived"], 0) << peers.dump();
}
