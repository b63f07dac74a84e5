// Link latency model (`--link-latency`): real `cairn-node` processes on
// 127.0.0.1 whose peer sessions hold every frame they send for the
// configured one-way latency (the answers to want lists: the want lists, as
// they arrive). A network download needs one round trip
// before its first byte (the manifest, with the first leaves asked for in
// the same want: messages/wire/FORMAT.md, "Leaves with the manifest"), so
// its time to first byte bounds the round trip from below; and the bytes
// must still arrive whole and in order. The manifest is asked for as a
// block of the first connected peers, the first window of leaves of one of
// them with it and the rest of its holders, with no want-have round before
// either (counted in /metrics), and no block arrives twice.

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <iostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/api_helpers.hpp"
#include "tests/integration/metrics_helpers.hpp"
#include "tests/integration/net_helpers.hpp"
#include "tests/integration/node_process.hpp"

namespace {

using namespace cairn::test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

struct timed_stream {
  stream_result result;
  double first_byte = -1;
};

// Streams `cid` from the network through `n`, noting when the first bytes
// came.
timed_stream stream_timed(const node_process& n, const std::string& cid) {
  timed_stream out;
  auto t0 = steady::now();
  out.result = stream_network(n, cid, {}, false, [&](std::uint64_t) {
    if (out.first_byte < 0)
      out.first_byte =
        std::chrono::duration<double>(steady::now() - t0).count();
    return true;
  });
  return out;
}

// Uploads `size` random bytes (`seed`) to `seeder`, connects `leecher` to
// it and streams them back whole, timed into `s`.
void stream_from(node_process& seeder, node_process& leecher, size_t size,
                 std::uint64_t seed, timed_stream* s) {
  auto data = random_bytes(size, seed);
  auto cs = seeder.client();
  std::string cid;
  ASSERT_TRUE(upload(cs, data, &cid));
  ASSERT_TRUE(connect_nodes(leecher, seeder));
  *s = stream_timed(leecher, cid);
  ASSERT_TRUE(is_whole(s->result, data)) << leecher.diagnostics();
}

void expect_round_trip_at_least(node_process& seeder, node_process& leecher,
                                double rtt, std::uint64_t seed) {
  timed_stream s;
  ASSERT_NO_FATAL_FAILURE(
    stream_from(seeder, leecher, 8 * mib + 4321, seed, &s));
  std::cout << "[  info    ] first byte after " << s.first_byte * 1000
            << " ms, 8 MiB in " << s.result.seconds << " s\n";
  EXPECT_GE(s.first_byte, rtt)
    << "a round trip (the manifest with the first leaves) of at least "
    << rtt * 1000 << " ms";
}

// Streams `cid` through `leecher` (run with --metrics) and checks what it
// sent and got: no want-have at all, a want-block for the manifest to each
// of `manifests` peers and none for its `leaves` leaves (fewer than the
// first window: they come with the manifest), the dataset whole, one to
// `manifests` manifests received (a manifest asked of two peers may be
// cancelled at the second in time), none of the leaves twice.
void expect_blocks_asked_directly(node_process& leecher, const std::string& cid,
                                  const std::string& data, double leaves,
                                  double manifests) {
  auto s = stream_timed(leecher, cid);
  ASSERT_TRUE(is_whole(s.result, data)) << leecher.diagnostics();
  scrape m;
  ASSERT_TRUE(scrape_metrics(leecher, &m));
  for (auto name : {"cairn_block_exchange_want_haves_sent_total",
                    "cairn_block_exchange_want_blocks_sent_total"})
    ASSERT_EQ(m.samples.count(name), 1u) << name;
  auto haves = m.samples["cairn_block_exchange_want_haves_sent_total"];
  auto blocks = m.samples["cairn_block_exchange_want_blocks_sent_total"];
  auto got = m.samples["cairn_block_exchange_blocks_received_total"];
  std::cout << "[  info    ] first byte after " << s.first_byte * 1000
            << " ms; sent " << haves << " want-have, " << blocks
            << " want-block; received " << got << " blocks\n";
  EXPECT_EQ(haves, 0) << "a want-have round before the manifest or the "
                         "first leaves";
  EXPECT_EQ(blocks, manifests)
    << "the leaves were asked for, not sent with the manifest";
  EXPECT_GE(got, leaves + 1);
  EXPECT_LE(got, leaves + manifests);
  std::string seen;
  auto d = wait_download(leecher, cid, "stream", 10s, &seen);
  ASSERT_FALSE(d.is_null()) << seen;
  EXPECT_EQ(d.value("duplicateBlocks", -1), 0) << d;
}

// The sum of `name` over the nodes' /metrics.
double metric_sum(std::initializer_list<const node_process*> nodes,
                  const std::string& name) {
  double sum = 0;
  for (auto* n : nodes) {
    scrape m;
    EXPECT_TRUE(scrape_metrics(*n, &m));
    EXPECT_EQ(m.samples.count(name), 1u) << name;
    sum += m.samples[name];
  }
  return sum;
}

constexpr auto leaves_queued =
  "cairn_block_exchange_leaves_queued_with_manifests_total";

} // namespace

TEST(LinkLatencyTest, OnePeerIsAskedForTheManifestWithItsLeaves) {
  test_node a{{"--link-latency", "20ms", "--metrics", "--metrics-port", "0"}};
  test_node b{{"--link-latency", "20ms", "--metrics", "--metrics-port", "0"}};
  ASSERT_TRUE(a.proc.start());
  ASSERT_TRUE(b.proc.start());
  auto data = random_bytes(2 * mib + 99, 183);
  auto cs = a.proc.client();
  std::string cid;
  ASSERT_TRUE(upload(cs, data, &cid));
  ASSERT_TRUE(connect_nodes(b.proc, a.proc));
  expect_blocks_asked_directly(b.proc, cid, data, 33, 1);
  EXPECT_EQ(metric_sum({&a.proc}, leaves_queued), 33);
}

// A dataset larger than the leaves that come with the manifest (the first
// window, or the few more a loopback handshake's round trip gives): the
// rest are asked for, each once.
TEST(LinkLatencyTest, LeavesBeyondTheFirstWindowAreAskedFor) {
  test_node a{{"--metrics", "--metrics-port", "0"}};
  test_node b{{"--metrics", "--metrics-port", "0", "--stream-window", "16"}};
  ASSERT_TRUE(a.proc.start());
  ASSERT_TRUE(b.proc.start());
  timed_stream s;
  ASSERT_NO_FATAL_FAILURE(stream_from(a.proc, b.proc, 32 * mib, 185, &s));
  auto with_manifest = metric_sum({&a.proc}, leaves_queued);
  EXPECT_GE(with_manifest, 16);
  EXPECT_LT(with_manifest, 512);
  EXPECT_EQ(
    metric_sum({&b.proc}, "cairn_block_exchange_want_blocks_sent_total"),
    1 + 512 - with_manifest);
}

// A long link: the peer is asked for as many leaves as a handshake round
// trip (40 ms) carries at 1 GB/s, not the first window of 16, so the
// whole dataset of 96 leaves comes with its manifest and none is asked
// for a round trip later.
TEST(LinkLatencyTest, ALongLinkIsAskedForARoundTripOfLeaves) {
  test_node a{{"--link-latency", "20ms", "--metrics", "--metrics-port", "0"}};
  test_node b{{"--link-latency", "20ms", "--metrics", "--metrics-port", "0",
               "--stream-window", "16"}};
  ASSERT_TRUE(a.proc.start());
  ASSERT_TRUE(b.proc.start());
  timed_stream s;
  ASSERT_NO_FATAL_FAILURE(stream_from(a.proc, b.proc, 6 * mib, 187, &s));
  EXPECT_EQ(metric_sum({&a.proc}, leaves_queued), 96);
  EXPECT_EQ(
    metric_sum({&b.proc}, "cairn_block_exchange_want_blocks_sent_total"), 1);
}

// A slow long link: the seeder sends at 2 MB/s, so the last of the 192
// leaves asked for with the manifest (all of them: a 100 ms round trip
// asks for up to 1024) arrive some 6 s after the request, beyond the 5 s
// a request waits. They come in order behind the first ones: none times
// out while the seeder delivers.
TEST(LinkLatencyTest, LeavesOfASlowLinkDoNotTimeOutWhileTheyFlow) {
  test_node a{{"--link-latency", "50ms", "--max-upload-rate", "2MB",
               "--metrics", "--metrics-port", "0"}};
  test_node b{{"--link-latency", "50ms"}};
  ASSERT_TRUE(a.proc.start());
  ASSERT_TRUE(b.proc.start());
  timed_stream s;
  ASSERT_NO_FATAL_FAILURE(stream_from(a.proc, b.proc, 12 * mib, 188, &s));
  EXPECT_GT(s.result.seconds, 5.0) << "the seeder was not held to 2 MB/s";
  EXPECT_EQ(metric_sum({&a.proc}, leaves_queued), 192);
  auto cb = b.proc.client();
  nlohmann::json peers;
  ASSERT_TRUE(get_json(cb, "/api/cairn/v1/peers", &peers));
  ASSERT_EQ(peers["peers"].size(), 1u) << peers;
  EXPECT_EQ(peers["peers"][0]["timeouts"], 0) << peers;
  // 50 ms each way, the HELLO and the AUTH held like every later frame.
  EXPECT_GE(peers["peers"][0]["roundTripSeconds"], 0.1) << peers;
  EXPECT_LT(peers["peers"][0]["roundTripSeconds"], 1.0) << peers;
}

// Two seeders of the same dataset: both are asked for the manifest, one of
// them for the first leaves with it, and the leaves go to its holders
// without a want-have round and without arriving twice.
TEST(LinkLatencyTest, TwoSeedersAreAskedForBlocksAndNoLeafComesTwice) {
  test_node a{{"--link-latency", "20ms", "--metrics", "--metrics-port", "0"}};
  test_node b{{"--link-latency", "20ms", "--metrics", "--metrics-port", "0"}};
  test_node c{{"--link-latency", "20ms", "--metrics", "--metrics-port", "0"}};
  ASSERT_TRUE(a.proc.start());
  ASSERT_TRUE(b.proc.start());
  ASSERT_TRUE(c.proc.start());
  auto data = random_bytes(2 * mib + 99, 184);
  std::string cid;
  ASSERT_TRUE(seed_both(a.proc, b.proc, data, &cid));
  ASSERT_TRUE(connect_nodes(c.proc, a.proc));
  ASSERT_TRUE(connect_nodes(c.proc, b.proc));
  expect_blocks_asked_directly(c.proc, cid, data, 33, 2);
  EXPECT_EQ(metric_sum({&a.proc, &b.proc}, leaves_queued), 33);
}

// The manifest is asked of the first two connected peers, in peer-ID
// order; with two of three lacking the dataset, the one asked for the
// leaves lacks it too in two runs of three. Its DONT_HAVE (before or after
// the holder delivered the manifest) sends the leaves to the holder at
// once, not after the 5 s a request waits for an answer.
TEST(LinkLatencyTest, LeavesAskedOfAPeerWithoutTheManifestGoToItsHolder) {
  test_node a{{"--link-latency", "20ms"}};
  test_node d1{{"--link-latency", "20ms"}};
  test_node d2{{"--link-latency", "20ms"}};
  test_node c{{"--link-latency", "20ms"}};
  for (auto* n : {&a, &d1, &d2, &c})
    ASSERT_TRUE(n->proc.start());
  auto data = random_bytes(2 * mib + 77, 186);
  auto cs = a.proc.client();
  std::string cid;
  ASSERT_TRUE(upload(cs, data, &cid));
  for (auto* n : {&d1, &d2, &a})
    ASSERT_TRUE(connect_nodes(c.proc, n->proc));
  auto s = stream_timed(c.proc, cid);
  ASSERT_TRUE(is_whole(s.result, data)) << c.proc.diagnostics();
  std::cout << "[  info    ] first byte after " << s.first_byte * 1000
            << " ms, 2 MiB in " << s.result.seconds << " s\n";
  EXPECT_LT(s.result.seconds, 3.0) << "leaves waited for a peer without them";
}

TEST(LinkLatencyTest, FiftyMsEachWayMakesARoundTripOfAHundred) {
  test_node a{{"--link-latency", "50ms"}};
  test_node b{{"--link-latency", "0.05s"}};
  ASSERT_TRUE(a.proc.start());
  ASSERT_TRUE(b.proc.start());
  expect_round_trip_at_least(a.proc, b.proc, 0.100, 181);
}

TEST(LinkLatencyTest, OneSidedLatencyDelaysEveryRoundTrip) {
  // Only the seeder has a latency: 60 ms one way (the downloader's want
  // lists held as they arrive, the seeder's own frames as it sends them),
  // 0 the other, so a round trip takes 60 ms.
  test_node a{{"--link-latency", "60ms"}};
  test_node b;
  ASSERT_TRUE(a.proc.start());
  ASSERT_TRUE(b.proc.start());
  expect_round_trip_at_least(a.proc, b.proc, 0.060, 182);
}
