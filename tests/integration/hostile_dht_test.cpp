// Hostile DHT clients against a real cairn-node (tests/integration/
// hostile_dht_client.hpp, speaking the DHT format with the real encoders):
// records that claim a third party's address draw no traffic there, made-up
// contacts never enter the routing table, and a flood from one source IP is
// cut to the rate limit while another source still gets its answers.

#include <arpa/inet.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "messages/sha256.hpp"
#include "tests/integration/hostile_dht_client.hpp"
#include "tests/integration/metrics_helpers.hpp"
#include "tests/integration/net_helpers.hpp"

using namespace cairn::test;
using namespace std::chrono_literals;

namespace {

// Starts `n`; `*port` is its DHT port, from the UDP address /debug/info
// lists.
::testing::AssertionResult start(test_node& n, uint16_t* port) {
  auto started = n.proc.start();
  if (!started)
    return started;
  auto cli = n.proc.client();
  json info;
  if (auto r = get_json(cli, api("/debug/info"), &info); !r)
    return r;
  for (auto& a : info["addrs"]) {
    auto ep = cairn::parse_multiaddr(a.get<std::string>());
    if (ep && ep->udp) {
      *port = ep->port;
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure() << "no UDP address: " << info.dump();
}

// The peer IDs in the node's DHT routing table.
std::vector<std::string> table_of(const test_node& n) {
  auto cli = n.proc.client();
  json info;
  std::vector<std::string> out;
  if (get_json(cli, api("/debug/info"), &info))
    for (auto& c : info["table"]["nodes"])
      out.push_back(c.value("peerId", ""));
  return out;
}

size_t count_pongs(const std::vector<dht::packet>& ps) {
  size_t n = 0;
  for (auto& p : ps)
    n += std::holds_alternative<dht::pong>(p.body) ? 1 : 0;
  return n;
}

} // namespace

TEST(HostileDhtTest, SpoofedRecordsDrawNoTrafficToTheThirdAddress) {
  test_node n;
  uint16_t port = 0;
  ASSERT_TRUE(start(n, &port));
  dht_client attacker{"127.0.0.2"};
  dht_client victim{"127.0.0.3"};
  // Signed by the attacker's key, but claiming the victim's address.
  auto spoofed = attacker.record({victim.multiaddr()});
  for (int i = 0; i < 40; ++i) {
    attacker.send("127.0.0.1", port, spoofed, dht::ping{});
    attacker.send(
      "127.0.0.1", port, spoofed,
      dht::find_node{cairn::sha256(std::string_view{std::to_string(i)})});
  }
  // Answers go to where the requests came from ...
  auto answers = attacker.drain(1500ms);
  EXPECT_EQ(count_pongs(answers), 40u);
  EXPECT_EQ(answers.size(), 80u);
  // ... and nothing at all to the address the record names, not even a
  // ping to check it.
  victim.drain(100ms);
  EXPECT_EQ(victim.datagrams(), 0u)
    << victim.bytes() << " bytes reached the third address";
  EXPECT_TRUE(table_of(n).empty());
}

TEST(HostileDhtTest, MadeUpContactsAreNotAddedButAnsweringNodesAre) {
  test_node n;
  uint16_t port = 0;
  ASSERT_TRUE(start(n, &port));
  dht_client attacker{"127.0.0.2"};
  // 60 nodes that do not exist: half claim the attacker's own address (it
  // never answers), half an address where nobody listens.
  for (int i = 0; i < 60; ++i) {
    auto addr = i % 2 == 0 ? attacker.multiaddr()
                           : cairn::make_multiaddr("127.0.0.5", 9, true);
    attacker.send("127.0.0.1", port, dht_client::made_up({addr}), dht::ping{});
  }
  // Pings to check the ones at the attacker's address arrive, and time
  // out unanswered (the request timeout is 1 s).
  auto got = attacker.drain(2500ms);
  size_t checks = 0;
  for (auto& p : got)
    checks += std::holds_alternative<dht::ping>(p.body) ? 1 : 0;
  EXPECT_EQ(checks, 30u);
  EXPECT_TRUE(table_of(n).empty());
  // A client that answers the node's ping at its address gets in.
  dht_client honest{"127.0.0.4"};
  auto rec = honest.record({honest.multiaddr()});
  honest.send("127.0.0.1", port, rec, dht::ping{});
  EXPECT_EQ(honest.answer_pings(1500ms), 1u);
  auto table = table_of(n);
  ASSERT_EQ(table.size(), 1u);
  EXPECT_EQ(table[0], rec.id().to_string());
}

TEST(HostileDhtTest, FloodFromOneSourceIsLimitedWhileAnotherStillGetsAnswers) {
  test_node n({"--dht-rate-limit", "50", "--metrics", "--metrics-port", "0"});
  uint16_t port = 0;
  ASSERT_TRUE(start(n, &port));
  dht_client flooder{"127.0.0.2"};
  dht_client other{"127.0.0.4"};
  auto flood_rec = flooder.record({flooder.multiaddr()});
  auto other_rec = other.record({other.multiaddr()});
  // 20 pings from another source, 50 ms apart, while the flood runs.
  size_t other_pongs = 0;
  std::thread polite{[&] {
    for (int i = 0; i < 20; ++i) {
      other.send("127.0.0.1", port, other_rec, dht::ping{});
      std::this_thread::sleep_for(50ms);
    }
    other_pongs = count_pongs(other.drain(1000ms));
  }};
  // 2000 pings in about a second, 40 times the limit, in batches of 20:
  // what is dropped is dropped by the limit, not by a full socket buffer.
  auto t0 = steady::now();
  size_t flood_pongs = 0;
  for (int i = 0; i < 2000; ++i) {
    flooder.send("127.0.0.1", port, flood_rec, dht::ping{});
    if (i % 20 == 19)
      flood_pongs += count_pongs(flooder.drain(10ms));
  }
  auto flood_seconds = seconds_since(t0);
  flood_pongs += count_pongs(flooder.drain(1000ms));
  polite.join();
  // The burst (50), then 50 per second while the flood lasted.
  EXPECT_GE(flood_pongs, 40u);
  EXPECT_LE(flood_pongs, 50 + 50 * (flood_seconds + 0.5) + 5)
    << "in " << flood_seconds << " s";
  // UDP: allow for a datagram lost on a loaded machine.
  EXPECT_GE(other_pongs, 18u);
  scrape s;
  ASSERT_TRUE(scrape_metrics(n, &s));
  // Most of the flood was dropped unread (some may not even have reached
  // the node: the kernel drops what overflows its socket buffer).
  EXPECT_GE(
    s.samples["cairn_dht_datagrams_dropped_total{reason=\"rate_limit\"}"],
    1000);
  // The node still works: it answers the API at once.
  auto cli = n.proc.client();
  auto space = cli.Get(api("/space"));
  ASSERT_TRUE(space);
  EXPECT_EQ(space->status, 200);
}
