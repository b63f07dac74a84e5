#include "messages/buffer_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
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
  /// The fewest idle buffers since the last trim: that many were never
  /// taken in between.
  size_t low_water = 0;
  /// When the next trim is due (the last one plus `trim_period`; 0 before
  /// the first), read without the lock: the many calls that come before it
  /// return at once.
  std::atomic<clock::rep> next_trim{0};

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

namespace {

// Hands the whole pages inside `buf` back to the system before it is freed.
// `free` keeps a block that lies between others in malloc's heap, resident;
// this releases exactly what the pool gives up (malloc_trim would walk every
// arena under its lock, at a cost that grows with the whole heap).
void release_pages(bytes& buf) {
  static const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  auto begin = reinterpret_cast<uintptr_t>(buf.data());
  auto end = begin + buf.capacity();
  auto first = (begin + page - 1) & ~(page - 1);
  auto last = end & ~(page - 1);
  if (last > first)
    madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

} // namespace

size_t buffer_pool::trim(clock::time_point now) {
  auto& p = *impl_;
  const auto at = now.time_since_epoch().count();
  if (at < p.next_trim.load(std::memory_order_relaxed))
    return 0;
  std::vector<bytes> freed; // freed after the lock is let go
  freed.reserve(p.max_kept);
  {
    std::lock_guard<std::mutex> guard{p.mtx};
    // Read again under the lock: another thread may have trimmed meanwhile.
    const auto due = p.next_trim.load(std::memory_order_relaxed);
    if (at < due)
      return 0;
    auto& idle = p.idle;
    // The first call only starts the first period: nothing was watched
    // before it.
    auto spare =
      idle.size() > p.min_kept ? idle.size() - p.min_kept : size_t{0};
    auto n = due == 0 ? size_t{0} : std::min(p.low_water, spare);
    for (size_t i = 0; i < n; ++i) {
      freed.push_back(std::move(idle.back()));
      idle.pop_back();
    }
    p.low_water = idle.size();
    p.next_trim.store((now + p.trim_period).time_since_epoch().count(),
                      std::memory_order_relaxed);
  }
  for (auto& buf : freed)
    release_pages(buf);
  return freed.size();
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
