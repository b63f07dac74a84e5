#pragma once

#include <cstddef>

namespace cairn::storage {

/// Measures a pipe of requests (a peer's block requests, a download's
/// window) and sizes it to its bandwidth-delay product, so that a link with
/// a long round trip is kept as full as a short one.
///
/// The rate is an average of delivery rates: what arrived between a
/// request's send and its answer, over that time (answers that come in
/// bursts, as they do behind a long link, give the same rate as spread
/// ones). The round trip is the shortest request lifetime seen, the one
/// with no queue in front of it. It is never raised: once the pipe is full
/// every request waits behind the others, and taking those lifetimes for
/// the round trip would grow the pipe without end. Not thread-safe.
struct pipe_meter {
  /// Smoothing of the rate.
  static constexpr double ewma = 0.2;
  /// Round trips' worth of data kept in flight. More than one: a pipe sized
  /// to exactly the rate it has shown cannot learn that the link is faster,
  /// so each round trip may grow it this many times over (a slow start that
  /// reaches a 100 ms link's capacity in a few round trips). What exceeds
  /// the link waits at the sender as requests, not as data.
  static constexpr double gain = 4;

  /// Delivered bytes per second (0: nothing measured yet).
  double rate = 0;
  /// Shortest request lifetime in seconds (0: nothing measured yet).
  double rtt = 0;

  /// A request was answered `secs` after it was sent, and `bytes` arrived
  /// meanwhile, its own answer included (the caller's count of bytes
  /// delivered now, less that count when the request went out).
  void delivered(double bytes, double secs);

  /// Requests of `unit` bytes that fill `gain` round trips at the measured
  /// rate; 0 before anything was measured.
  size_t requests(double unit) const;

  /// `requests(unit)` within `lo` .. `hi`.
  size_t depth(double unit, size_t lo, size_t hi) const;
};

} // namespace cairn::storage
