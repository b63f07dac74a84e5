#include "messages/buffer_pool.hpp"

#include <malloc.h>

#include <cstring>
#include <mutex>
#include <vector>

#include "messages/block.hpp"

namespace cairn {

struct buffer_pool::impl {
  impl(size_t size, size_t max_kept, size_t min_kept,
       clock::duration trim_period)
    : size(size), max_kept(max_kept), min_kept(min_kept),
      trim_period(trim_period) {}

  const size_t size;
  const size_t max_kept;
  const size_t min_kept;
  const clock::duration trim_period;
  mutable std::mutex mtx;
  /// Idle buffers, each `size` bytes long (sized, so that taking one does
  /// not zero it again).
  std::vector<bytes> idle;
  /// The fewest idle buffers since `window_start` (the last trim): that
  /// many were never taken in between.
  size_t low_water = 0;
  clock::time_point window_start{};

  void give_back(bytes&& buf) {
    if (buf.capacity() != size)
      return;
    // Growing back within the capacity zeroes only a cut-off tail.
    buf.resize(size);
    std::lock_guard<std::mutex> guard{mtx};
    if (idle.size() < max_kept)
      idle.push_back(std::move(buf));
  }
};

buffer_pool::buffer_pool(size_t size, size_t max_kept, size_t min_kept,
                         clock::duration trim_period)
  : impl_(std::make_shared<impl>(size, max_kept, min_kept, trim_period)) {
  impl_->idle.reserve(max_kept);
}

bytes buffer_pool::take(size_t n) {
  // Much smaller buffers (manifests, small block sizes) are not worth a
  // pooled one: it would hold the pool's size for each.
  if (n <= impl_->size && n > impl_->size / 2) {
    std::unique_lock<std::mutex> guard{impl_->mtx};
    if (!impl_->idle.empty()) {
      auto buf = std::move(impl_->idle.back());
      impl_->idle.pop_back();
      impl_->low_water = std::min(impl_->low_water, impl_->idle.size());
      guard.unlock();
      buf.resize(n); // never grows: no zeroing
      return buf;
    }
    impl_->low_water = 0;
    guard.unlock();
    bytes buf;
    buf.reserve(impl_->size); // the pool's capacity, so that it comes back
    buf.resize(n);            // zeroed once, on first use only
    return buf;
  }
  return bytes(n);
}

shared_bytes buffer_pool::share(bytes buf) {
  auto* owned = new bytes(std::move(buf));
  return shared_bytes{owned, [pool = impl_](const bytes* p) {
                        auto* b = const_cast<bytes*>(p);
                        pool->give_back(std::move(*b));
                        delete b;
                      }};
}

shared_bytes buffer_pool::copy(const uint8_t* data, size_t n) {
  auto buf = take(n);
  if (n > 0)
    std::memcpy(buf.data(), data, n);
  return share(std::move(buf));
}

size_t buffer_pool::kept() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->idle.size();
}

size_t buffer_pool::trim(clock::time_point now) {
  std::vector<bytes> freed; // freed after the lock is let go
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    if (now - impl_->window_start < impl_->trim_period)
      return 0;
    auto& idle = impl_->idle;
    auto spare =
      idle.size() > impl_->min_kept ? idle.size() - impl_->min_kept : size_t{0};
    auto n = std::min(impl_->low_water, spare);
    for (size_t i = 0; i < n; ++i) {
      freed.push_back(std::move(idle.back()));
      idle.pop_back();
    }
    impl_->low_water = idle.size();
    impl_->window_start = now;
  }
  auto n = freed.size();
  if (n > 0) {
    freed.clear();
    // Freed blocks lie between others in malloc's heaps, where `free`
    // keeps them: hand their pages back to the system.
    malloc_trim(0);
  }
  return n;
}

buffer_pool& buffer_pool::blocks() {
  // 256 idle blocks (16 MiB) cover a download's window and the blocks a
  // repair holds between decoding and storing them. A seeder on a long
  // link has more in flight: 50 ms one way at 340 MB/s holds some 500 in
  // its sessions and sockets. Freeing those and allocating them again
  // costs a page fault per 4 KiB and a zeroing per block (a fifth of the
  // seeder's CPU at 50 ms), so up to 1024 are kept while they are used.
  // Never destroyed: buffers may come back during static destruction.
  static auto* pool =
    new buffer_pool{default_block_size, 1024, 256, std::chrono::seconds{30}};
  return *pool;
}

} // namespace cairn
