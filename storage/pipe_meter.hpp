#pragma once

#include <chrono>
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
/// the round trip would grow the pipe without end.
///
/// The pipe holds `gain()` bandwidth-delay products of the highest rate of
/// the current and the last round trip (a dip between two bursts does not
/// shrink it). While the rate still grows (start-up) the gain is
/// `startup_gain`, and the pipe is at least a slow start's window: the
/// caller's initial window plus `startup_gain - 1` requests per answer, so
/// that each round trip multiplies what is in flight by the gain whatever
/// the first answers measured (one block answered alone, a manifest, reads
/// as a slow rate). What it adds to the initial window is at most
/// `startup_gain` products: on a short link (loopback) the product is a
/// few blocks, and the window stays near the initial one.
///
/// A slow start alone takes several round trips to fill a long link, each
/// carrying a fraction of what the link could. Answers that arrive back to
/// back (a train: no gap longer than `train_gap` or an eighth of the round
/// trip) come at the rate the sender and the link carry them, however few
/// requests are in flight: the bytes of a train after its first answer,
/// over the time since that answer, is the link's rate as soon as one
/// round trip's answers are in (the first leaves sent with a manifest are
/// one). During start-up the pipe holds at least `steady_gain` products of
/// the highest train rate, so that the second round trip already fills the
/// link. A train must span `min_train` and `min_train_answers` to count:
/// answers handled together after a stall (arrival times squeezed by the
/// receiver, not the link) overstate it, and the caller's upper bound on
/// the depth is what limits such an error. Once `flat_rounds`
/// round trips in a row have not raised the rate by `growth`, the pipe is full
/// and the gain drops to `steady_gain`: twice the product still lets the rate
/// double per round trip, while what exceeds the link waits at the sender as
/// requests, and in the receiver's memory no longer than a round trip.
///
/// Time comes from the caller; not thread-safe.
struct pipe_meter {
  using clock = std::chrono::steady_clock;

  /// Smoothing of the rate.
  static constexpr double ewma = 0.2;
  /// Bandwidth-delay products in flight during start-up and after it.
  static constexpr double startup_gain = 4;
  static constexpr double steady_gain = 2;
  /// A round trip whose highest rate is below `growth` times the rate the
  /// last growth reached is flat; `flat_rounds` flat ones in a row end the
  /// start-up.
  static constexpr double growth = 1.25;
  static constexpr int flat_rounds = 3;
  /// A gap between answers longer than this (or than an eighth of the
  /// round trip, if that is longer) ends a train; a train counts once it
  /// spans this long and this many answers.
  static constexpr std::chrono::milliseconds train_gap{2};
  static constexpr std::chrono::milliseconds min_train{2};
  static constexpr size_t min_train_answers = 16;

  /// Delivered bytes per second (0: nothing measured yet).
  double rate = 0;
  /// Shortest request lifetime in seconds (0: nothing measured yet).
  double rtt = 0;
  /// The highest `rate` of the current and the last round trip: the rate
  /// the pipe is sized to.
  double peak = 0;
  /// Whether the start-up is over (the rate stopped growing).
  bool filled = false;
  /// The highest rate of a train of answers during start-up (0: none yet).
  double train_rate = 0;

  /// A request was answered at `now`, `secs` after it was sent, with an
  /// answer of `size` bytes, and `bytes` arrived meanwhile, its own answer
  /// included (the caller's count of bytes delivered now, less that count
  /// when the request went out).
  void delivered(double bytes, double secs, clock::time_point now, double size);

  /// `startup_gain` until the pipe is filled, `steady_gain` after.
  double gain() const { return filled ? steady_gain : startup_gain; }

  /// Requests of `unit` bytes that fill `gain()` round trips at `peak`; 0
  /// before anything was measured.
  size_t requests(double unit) const;

  /// During start-up, `initial` plus `startup_gain - 1` per answer so far,
  /// but at most `initial + requests(unit)`, or `steady_gain` products of
  /// `train_rate` if that is more; 0 once the pipe is filled.
  size_t startup_window(size_t initial, double unit) const;

  /// The larger of `requests(unit)` and `startup_window(lo, unit)`, within
  /// `lo` .. `hi`.
  size_t depth(double unit, size_t lo, size_t hi) const;

private:
  /// When the current round trip ends (the epoch: none started yet), the
  /// highest rate in it and in the one before, the rate of the last growth,
  /// and the flat round trips since.
  clock::time_point round_end_{};
  double round_peak_ = 0;
  double last_round_peak_ = 0;
  double grown_to_ = 0;
  int flat_ = 0;
  /// Requests answered during start-up.
  size_t answers_ = 0;
  /// The current train: when its first and last answers arrived, the bytes
  /// that arrived after its first, and its answers.
  clock::time_point train_start_{};
  clock::time_point train_last_{};
  double train_bytes_ = 0;
  size_t train_answers_ = 0;

  /// Adds an answer of `size` bytes at `now` to the current train, or
  /// starts a new one after a gap.
  void add_to_train(double size, clock::time_point now);
};

} // namespace cairn::storage
