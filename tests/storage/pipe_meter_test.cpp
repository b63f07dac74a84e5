// Tests of storage/pipe_meter.hpp: the rate and round trip it measures and
// the depth it gives a pipe of requests.

#include "storage/pipe_meter.hpp"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

using cairn::storage::pipe_meter;

namespace {

constexpr double unit = 65536;

TEST(PipeMeterTest, UnmeasuredPipeGetsItsLowerBound) {
  pipe_meter m;
  EXPECT_EQ(m.requests(unit), 0u);
  EXPECT_EQ(m.depth(unit, 16, 1024), 16u);
}

TEST(PipeMeterTest, RateIsWhatArrivedDuringTheRequest) {
  pipe_meter m;
  // Ten blocks arrived while one request was out for 100 ms.
  m.delivered(10 * unit, 0.1);
  EXPECT_NEAR(m.rate, 100 * unit, 1e-6);
  EXPECT_NEAR(m.rtt, 0.1, 1e-12);
  // Later samples move the rate by the smoothing factor.
  m.delivered(20 * unit, 0.1);
  EXPECT_NEAR(
    m.rate, (1 - pipe_meter::ewma) * 100 * unit + pipe_meter::ewma * 200 * unit,
    1e-6);
}

TEST(PipeMeterTest, AnswersInBurstsMeasureTheRateTheyCarry) {
  // 400 requests a second, each answered 100 ms later, the answers held and
  // released together every 20 ms (a link latency's batches): each request
  // sees 40 blocks arrive during its life, give or take a burst, so the
  // rate is 400 blocks/s within what a burst adds (20 ms of 100). Counting
  // only the requests still in flight at each answer would fall with every
  // answer of a burst, to a fraction of the rate.
  pipe_meter m;
  std::vector<double> sent, answered;
  for (int i = 0; i < 2000; ++i) {
    sent.push_back(i * 0.0025);
    answered.push_back(std::ceil((sent.back() + 0.1) / 0.02) * 0.02);
  }
  size_t arrived = 0;
  std::vector<size_t> arrived_at_send(sent.size());
  size_t next_answer = 0;
  for (size_t i = 0; i < sent.size(); ++i) {
    // Answers that came before request i went out.
    while (next_answer < i && answered[next_answer] <= sent[i]) {
      ++arrived;
      ++next_answer;
    }
    arrived_at_send[i] = arrived;
  }
  for (size_t i = 0; i < 1000; ++i) {
    // Answer i: everything answered up to and including its burst.
    size_t upto = i;
    while (upto + 1 < sent.size() && answered[upto + 1] <= answered[i])
      ++upto;
    m.delivered(static_cast<double>(upto + 1 - arrived_at_send[i]) * unit,
                answered[i] - sent[i]);
  }
  EXPECT_NEAR(m.rate / unit, 400, 400 * 0.2);
  EXPECT_NEAR(m.rtt, 0.1, 1e-9);
}

TEST(PipeMeterTest, RoundTripIsTheShortestLifetimeAndIsNeverRaised) {
  pipe_meter m;
  m.delivered(unit, 0.12);
  m.delivered(unit, 0.10);
  // A full pipe: requests wait behind each other, lifetimes grow.
  for (int i = 0; i < 1000; ++i)
    m.delivered(40 * unit, 0.4);
  EXPECT_NEAR(m.rtt, 0.10, 1e-12);
}

TEST(PipeMeterTest, DepthIsTheGainTimesTheBandwidthDelayProduct) {
  pipe_meter m;
  m.rate = 1000 * unit; // 65.5 MB/s
  m.rtt = 0.1;          // 100 units on the wire
  EXPECT_EQ(m.requests(unit), static_cast<size_t>(100 * pipe_meter::gain));
  EXPECT_EQ(m.depth(unit, 4, 64), 64u);
  m.rtt = 0.001; // loopback: under a unit on the wire
  EXPECT_EQ(m.depth(unit, 4, 64), 4u);
}

} // namespace
