// Link latency model (`--link-latency`): real `cairn-node` processes on
// 127.0.0.1 whose peer sessions hold every frame they send for the
// configured one-way latency. A network download needs two round trips
// before its first byte (the manifest, then the first blocks), so its time
// to first byte bounds the round trip from below; and the bytes must still
// arrive whole and in order.

#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/api_helpers.hpp"
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

// Uploads `data` to `seeder`, connects `leecher` to it and streams it back.
void expect_round_trip_at_least(node_process& seeder, node_process& leecher,
                                double rtt, std::uint64_t seed) {
  auto data = random_bytes(8 * mib + 4321, seed);
  auto cs = seeder.client();
  std::string cid;
  ASSERT_TRUE(upload(cs, data, &cid));
  ASSERT_TRUE(connect_nodes(leecher, seeder));
  auto s = stream_timed(leecher, cid);
  ASSERT_TRUE(is_whole(s.result, data)) << leecher.diagnostics();
  std::cout << "[  info    ] first byte after " << s.first_byte * 1000
            << " ms, 8 MiB in " << s.result.seconds << " s\n";
  EXPECT_GE(s.first_byte, 2 * rtt)
    << "two round trips (manifest, first blocks) of at least " << rtt * 1000
    << " ms each";
}

} // namespace

TEST(LinkLatencyTest, FiftyMsEachWayMakesARoundTripOfAHundred) {
  test_node a{{"--link-latency", "50ms"}};
  test_node b{{"--link-latency", "0.05s"}};
  ASSERT_TRUE(a.proc.start());
  ASSERT_TRUE(b.proc.start());
  expect_round_trip_at_least(a.proc, b.proc, 0.100, 181);
}

TEST(LinkLatencyTest, OneSidedLatencyDelaysEveryRoundTrip) {
  // Only the seeder's frames are held: 60 ms one way, 0 the other, so a
  // round trip takes 60 ms.
  test_node a{{"--link-latency", "60ms"}};
  test_node b;
  ASSERT_TRUE(a.proc.start());
  ASSERT_TRUE(b.proc.start());
  expect_round_trip_at_least(a.proc, b.proc, 0.060, 182);
}
