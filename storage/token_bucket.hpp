#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace cairn::storage {

/// A byte budget shared by all peer sessions of one node in one direction
/// (`--max-upload-rate`, `--max-download-rate`): `rate` bytes per second on
/// average, at most `burst` at once after an idle spell.
///
/// A taker always gets its bytes: `take` may drive the balance below zero
/// (a debt) and answers how long the taker must wait before it uses them.
/// Takers are so served in the order they asked, across sessions, none
/// starves, and a session that must wait schedules one wake-up at the time
/// returned instead of polling. The debt is bounded by what the takers
/// hold back: the engine stops feeding a session whose queue is full.
///
/// Thread-safe: the sessions of a node run on different scheduler threads.
/// Time comes from the caller.
class token_bucket {
public:
  using clock = std::chrono::steady_clock;

  /// The burst a node's buckets allow: this long at the full rate.
  static constexpr std::chrono::milliseconds default_burst{100};

  /// What the takers have waited, for /metrics.
  struct counters {
    /// Takes that had to wait.
    uint64_t waits = 0;
    /// The waits added up (sessions wait side by side: this can grow
    /// faster than the clock).
    clock::duration waited{};
  };

  /// `rate` bytes per second (at least 1), `burst` bytes at most at once
  /// (at least 1); full at `now`.
  token_bucket(uint64_t rate, uint64_t burst, clock::time_point now);

  /// A bucket of `rate` bytes per second with `default_burst` of burst.
  token_bucket(uint64_t rate, clock::time_point now);

  /// Takes `n` bytes at `now`; returns how long to wait before using them
  /// (zero if the bucket held them).
  clock::duration take(uint64_t n, clock::time_point now);

  /// Bytes per second.
  uint64_t rate() const { return rate_; }

  /// Bytes at most at once.
  uint64_t burst() const { return static_cast<uint64_t>(burst_); }

  /// The waits so far.
  counters waited() const;

private:
  const uint64_t rate_;
  const double burst_;
  mutable std::mutex mtx_;
  // Guarded by mtx_: the balance (negative: owed) as of at_.
  double tokens_;
  clock::time_point at_;
  counters counters_;
};

} // namespace cairn::storage
