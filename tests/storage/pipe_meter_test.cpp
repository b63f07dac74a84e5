// Tests of storage/pipe_meter.hpp: the rate and round trip it measures and
// the depth it gives a pipe of requests.

#include "storage/pipe_meter.hpp"

#include <chrono>
#include <cmath>
#include <deque>
#include <vector>

#include <gtest/gtest.h>

using cairn::storage::pipe_meter;

namespace {

constexpr double unit = 65536;

const pipe_meter::clock::time_point t0{std::chrono::hours{1}};

pipe_meter::clock::time_point at(double secs) {
  return t0 + std::chrono::duration_cast<pipe_meter::clock::duration>(
                std::chrono::duration<double>(secs));
}

// A link that answers requests in the order sent, each `rtt` after it was
// sent at the earliest and `1 / capacity` after the one before: a round
// trip and a bandwidth. The sender keeps `m.depth(unit, initial, hi)`
// requests in flight, sent when answers arrive. Runs until `until` seconds
// and returns the answers that arrived from `from` seconds on.
struct link_sim {
  double capacity;
  double rtt;
  size_t initial;
  size_t hi;
  pipe_meter m;
  /// Most requests in flight at any time.
  size_t most_in_flight = 0;

  size_t run(double from, double until) {
    struct request {
      double sent;
      size_t arrived_before;
      double answer;
    };
    std::deque<request> in_flight;
    size_t arrived = 0, counted = 0;
    double last_answer = 0;
    auto fill = [&](double now) {
      while (in_flight.size() < m.depth(unit, initial, hi)) {
        last_answer = std::max(now + rtt, last_answer + 1 / capacity);
        in_flight.push_back(request{now, arrived, last_answer});
      }
      most_in_flight = std::max(most_in_flight, in_flight.size());
    };
    fill(0);
    while (!in_flight.empty() && in_flight.front().answer <= until) {
      auto r = in_flight.front();
      in_flight.pop_front();
      ++arrived;
      if (r.answer >= from)
        ++counted;
      m.delivered(static_cast<double>(arrived - r.arrived_before) * unit,
                  r.answer - r.sent, at(r.answer), unit);
      fill(r.answer);
    }
    return counted;
  }
};

TEST(PipeMeterTest, UnmeasuredPipeGetsItsLowerBound) {
  pipe_meter m;
  EXPECT_EQ(m.requests(unit), 0u);
  EXPECT_EQ(m.depth(unit, 16, 1024), 16u);
}

TEST(PipeMeterTest, RateIsWhatArrivedDuringTheRequest) {
  pipe_meter m;
  // Ten blocks arrived while one request was out for 100 ms.
  m.delivered(10 * unit, 0.1, at(0.1), unit);
  EXPECT_NEAR(m.rate, 100 * unit, 1e-6);
  EXPECT_NEAR(m.rtt, 0.1, 1e-12);
  // Later samples move the rate by the smoothing factor.
  m.delivered(20 * unit, 0.1, at(0.11), unit);
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
                answered[i] - sent[i], at(answered[i]), unit);
  }
  EXPECT_NEAR(m.rate / unit, 400, 400 * 0.2);
  EXPECT_NEAR(m.rtt, 0.1, 1e-9);
}

TEST(PipeMeterTest, RoundTripIsTheShortestLifetimeAndIsNeverRaised) {
  pipe_meter m;
  m.delivered(unit, 0.12, at(0.12), unit);
  m.delivered(unit, 0.10, at(0.13), unit);
  // A full pipe: requests wait behind each other, lifetimes grow.
  for (int i = 0; i < 1000; ++i)
    m.delivered(40 * unit, 0.4, at(0.5 + i * 0.01), unit);
  EXPECT_NEAR(m.rtt, 0.10, 1e-12);
}

TEST(PipeMeterTest, DepthIsTheGainTimesTheBandwidthDelayProduct) {
  pipe_meter m;
  m.peak = 1000 * unit; // 65.5 MB/s
  m.rtt = 0.1;          // 100 units on the wire
  EXPECT_EQ(m.requests(unit),
            static_cast<size_t>(100 * pipe_meter::startup_gain));
  m.filled = true;
  EXPECT_EQ(m.requests(unit),
            static_cast<size_t>(100 * pipe_meter::steady_gain));
  m.filled = false;
  EXPECT_EQ(m.depth(unit, 4, 64), 64u);
  m.rtt = 0.001; // loopback: under a unit on the wire
  EXPECT_EQ(m.depth(unit, 4, 64), 4u);
}

TEST(PipeMeterTest, OneSlowFirstAnswerDoesNotShrinkTheStartWindow) {
  // A manifest answered alone after 100 ms reads as one block per round
  // trip; the start-up keeps the caller's initial window and adds to it.
  pipe_meter m;
  m.delivered(unit, 0.1, at(0.1), unit);
  EXPECT_FALSE(m.filled);
  EXPECT_EQ(m.depth(unit, 64, 1024),
            64 + static_cast<size_t>(pipe_meter::startup_gain - 1));
}

TEST(PipeMeterTest, StartUpOnAShortLinkStaysNearTheInitialWindow) {
  // Loopback: 4000 blocks/s answered within 1 ms. The product is four
  // blocks: the start-up adds at most four of them, not three requests
  // per answer (which would queue hundreds at a seeder shared by many).
  link_sim l{4000, 0.001, 64, 1024, {}};
  l.run(0, 0.2);
  EXPECT_LE(l.most_in_flight, 64u + 4 * 4 + 8);
}

TEST(PipeMeterTest, StartUpMultipliesTheWindowEachRoundTrip) {
  // 4000 blocks/s (262 MB/s) behind a 100 ms round trip: 400 blocks on the
  // wire. From 64, the window is 256 after one round trip and at its
  // bound after two, so that from 0.35 s on the link is full. Sized by the
  // measured rate alone, the first answers (each alone in its sample) keep
  // it near its initial size for several round trips.
  link_sim l{4000, 0.1, 64, 1024, {}};
  auto got = l.run(0.35, 0.6);
  EXPECT_GE(got, static_cast<size_t>(0.95 * 4000 * 0.25)) << got;
  EXPECT_LE(l.most_in_flight, 1024u);
}

TEST(PipeMeterTest, ATrainOfAnswersFillsTheLinkFromTheSecondRoundTrip) {
  // 4000 blocks/s behind 100 ms, as above. The first 64 answers arrive back
  // to back, 0.25 ms apart: their train measures the link's 4000 blocks/s
  // once they are in, and the window becomes twice the 400 on the wire.
  // What is sent then arrives from 0.2 s on, back to back: the link is
  // full one round trip after the first answer, not two or three (a slow
  // start from 64 would carry 256 blocks in the second round trip).
  link_sim l{4000, 0.1, 64, 2048, {}};
  l.run(0, 0.1 + 63 / 4000.0);
  EXPECT_NEAR(l.m.train_rate / unit, 4000, 4000 * 0.05);
  EXPECT_GE(l.m.depth(unit, 64, 2048), 760u);
  EXPECT_LE(l.m.depth(unit, 64, 2048), 820u);
  link_sim fresh{4000, 0.1, 64, 2048, {}};
  auto got = fresh.run(0.22, 0.42);
  EXPECT_GE(got, static_cast<size_t>(0.97 * 4000 * 0.2)) << got;
}

TEST(PipeMeterTest, AnswersHandledTogetherAreNotATrain) {
  // A hundred answers handled in one instant (after a stall of the
  // receiver) say nothing of the link; neither do answers spread over less
  // than `min_train`.
  pipe_meter m;
  for (int i = 0; i < 100; ++i)
    m.delivered((i + 1) * unit, 0.1, at(0.1), unit);
  EXPECT_EQ(m.train_rate, 0);
  pipe_meter short_train;
  for (int i = 0; i < 100; ++i)
    short_train.delivered((i + 1) * unit, 0.1, at(0.1 + i * 1e-5), unit);
  EXPECT_EQ(short_train.train_rate, 0);
  // A gap longer than an eighth of the round trip ends a train: two trains
  // of 20 answers 0.2 ms apart, 50 ms between them, measure 5000 blocks/s,
  // not the 40 blocks over 54 ms of both.
  pipe_meter gapped;
  for (int i = 0; i < 40; ++i)
    gapped.delivered(unit, 0.1, at(0.1 + i * 2e-4 + (i >= 20 ? 0.05 : 0)),
                     unit);
  EXPECT_NEAR(gapped.train_rate / unit, 5000, 5000 * 0.01);
}

TEST(PipeMeterTest, StartUpEndsWhenTheRateStopsGrowing) {
  // 1000 blocks/s behind 100 ms: 100 on the wire. Once the rate stopped
  // growing the pipe holds twice that, not the start-up's bound: the rest
  // would only wait at the sender (and in memory).
  link_sim l{1000, 0.1, 64, 4096, {}};
  auto got = l.run(2, 3);
  EXPECT_TRUE(l.m.filled);
  EXPECT_EQ(l.m.gain(), pipe_meter::steady_gain);
  EXPECT_EQ(l.m.startup_window(64, unit), 0u);
  EXPECT_NEAR(l.m.rtt, 0.1, 1e-9);
  auto depth = l.m.depth(unit, 64, 4096);
  EXPECT_GE(depth, 180u);
  EXPECT_LE(depth, 260u);
  // Still full: the link's whole rate arrives.
  EXPECT_GE(got, 990u);
}

TEST(PipeMeterTest, APeakSurvivesADipWithinARoundTrip) {
  pipe_meter m;
  m.delivered(100 * unit, 0.1, at(0.1), unit);
  double before = m.peak;
  // A burst's first answer alone (a dip in the samples) early in the next
  // round trip: the pipe stays sized to the peak.
  m.delivered(unit, 0.1, at(0.21), unit);
  EXPECT_EQ(m.peak, before);
  EXPECT_LT(m.rate, before);
  // Two round trips of slow answers: the peak follows the rate down.
  for (int i = 0; i < 40; ++i)
    m.delivered(unit, 0.1, at(0.3 + i * 0.01), unit);
  EXPECT_LT(m.peak, before / 2);
}

} // namespace
