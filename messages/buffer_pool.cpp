#include "messages/buffer_pool.hpp"

#include <cstring>
#include <mutex>
#include <vector>

#include "messages/block.hpp"

namespace cairn {

struct buffer_pool::impl {
  impl(size_t size, size_t max_kept) : size(size), max_kept(max_kept) {}

  const size_t size;
  const size_t max_kept;
  mutable std::mutex mtx;
  /// Idle buffers, each `size` bytes long (sized, so that taking one does
  /// not zero it again).
  std::vector<bytes> idle;

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

buffer_pool::buffer_pool(size_t size, size_t max_kept)
  : impl_(std::make_shared<impl>(size, max_kept)) {
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
      guard.unlock();
      buf.resize(n); // never grows: no zeroing
      return buf;
    }
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

buffer_pool& buffer_pool::blocks() {
  // 256 idle blocks (16 MiB) cover a download's window and the blocks a
  // repair holds between decoding and storing them.
  // Never destroyed: buffers may come back during static destruction.
  static auto* pool = new buffer_pool{default_block_size, 256};
  return *pool;
}

} // namespace cairn
