#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <unordered_map>

namespace cairn::storage {

/// A token bucket per source (an IPv4 address as a 32-bit number): each
/// source may send `rate` requests per second on average and `burst` at
/// once. The discovery's receiving thread asks it about every request
/// before the request costs anything (decoding, signature checks, an
/// answer), so that one address cannot make the node answer, or reflect,
/// more than its share.
///
/// Memory is bounded: at most `max_sources` buckets are kept. When a new
/// source arrives at a full map, the buckets that have refilled (the same as
/// no bucket) are dropped; if none has, all are (a burst for everyone is
/// the price of staying bounded when a flood forges its source addresses).
///
/// Not thread-safe: owned by one thread. Time comes from the caller.
class rate_limiter {
public:
  using clock = std::chrono::steady_clock;

  /// Buckets tracked at most.
  static constexpr size_t default_max_sources = 4096;

  /// `rate` requests per second per source, `burst` at most at once (at
  /// least 1). `rate` 0 lets everything through.
  explicit rate_limiter(double rate, double burst,
                        size_t max_sources = default_max_sources);

  /// True if `source` may send a request at `now`; takes a token if so.
  bool allow(uint32_t source, clock::time_point now);

  /// Number of sources with a bucket.
  size_t sources() const { return buckets_.size(); }

private:
  struct bucket {
    double tokens = 0;
    clock::time_point at{};
  };

  // The tokens of `b` at `now` (refilled since `b.at`, at most burst_).
  double refilled(const bucket& b, clock::time_point now) const;

  double rate_;
  double burst_;
  size_t max_sources_;
  std::unordered_map<uint32_t, bucket> buckets_;
};

} // namespace cairn::storage
