#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "messages/bytes.hpp"

namespace cairn {

/// Byte buffers of one size (a block's), handed out again when the last
/// reference to one goes instead of being freed. A block buffer that comes
/// from `malloc` is often fresh memory: the kernel zeroes its pages on first
/// touch, and `bytes(n)` zeroes it once more before the bytes are written.
/// The node allocates one per block it reads, receives or rebuilds, so
/// reusing them saves both. Thread-safe: a buffer taken on one thread may
/// come back from another. Kept buffers are bounded (`max_kept`), and
/// `trim` frees those beyond `min_kept` that no one needed for a while.
class buffer_pool {
public:
  using clock = std::chrono::steady_clock;

  /// A pool of buffers of `size` bytes that keeps at most `max_kept` idle,
  /// and after a quiet `trim_period`, at most `min_kept` of them.
  buffer_pool(size_t size, size_t max_kept, size_t min_kept = 0,
              clock::duration trim_period = std::chrono::seconds{30});

  /// A buffer of `n` bytes whose contents are unspecified (the caller
  /// writes every byte): a kept one if `n` is at most `size()` and more
  /// than half of it, else (or if none is kept) a new one.
  bytes take(size_t n);

  /// Shares `buf` as immutable bytes. When the last reference goes, the
  /// buffer comes back to this pool if it has room for it (and if `buf`
  /// has the pool's capacity), or is freed.
  shared_bytes share(bytes buf);

  /// A shared copy of `[data, data + n)` in a pooled buffer.
  shared_bytes copy(const uint8_t* data, size_t n);

  /// Idle buffers kept now (for tests and gauges).
  size_t kept() const;

  /// Frees the idle buffers beyond `min_kept` that stayed idle since the
  /// last trim, if that was at least `trim_period` before `now` (else does
  /// nothing, so it may be called often and from many places; the first
  /// call only starts the first period). Returns how many it freed, their
  /// pages handed back to the system. The buffers a burst needed are kept
  /// for the next one; those it left idle go within two periods.
  size_t trim(clock::time_point now);

  /// The process-wide pool of `default_block_size` buffers: up to 1024 kept
  /// (64 MiB: what a seeder has in flight to a peer on a long link), trimmed
  /// to 256 (16 MiB) within a minute of not being needed (a 30 s period).
  static buffer_pool& blocks();

private:
  struct impl;
  // Shared with the deleters of the buffers handed out: the pool's state
  // outlives the pool while buffers are out.
  std::shared_ptr<impl> impl_;
};

} // namespace cairn
