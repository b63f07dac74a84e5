#include "storage/chunker.hpp"

#include <algorithm>
#include <cstring>

#include "messages/buffer_pool.hpp"

namespace cairn::storage {

chunker::~chunker() {
  // Unused buffers go back to the pool.
  auto& pool = buffer_pool::blocks();
  if (!buf_.empty())
    pool.share(std::move(buf_));
  for (auto& b : spare_)
    pool.share(std::move(b));
}

bytes chunker::take_buffer() const {
  return buffer_pool::blocks().take(block_size_);
}

caf::error chunker::feed(const uint8_t* data, size_t n) {
  while (n > 0) {
    iovec room;
    space(&room, 1);
    size_t take = std::min(n, room.iov_len);
    std::memcpy(room.iov_base, data, take);
    data += take;
    n -= take;
    if (auto err = filled(take))
      return err;
  }
  return caf::none;
}

size_t chunker::space(iovec* out, size_t max) {
  if (max == 0)
    return 0;
  if (buf_.empty())
    buf_ = take_buffer();
  out[0] = {buf_.data() + fill_, block_size_ - fill_};
  for (size_t i = 1; i < max; ++i) {
    if (spare_.size() < i)
      spare_.push_back(take_buffer());
    out[i] = {spare_[i - 1].data(), block_size_};
  }
  return max;
}

caf::error chunker::filled(size_t n) {
  total_ += n;
  while (n > 0) {
    size_t take = std::min(n, block_size_ - fill_);
    fill_ += take;
    n -= take;
    if (fill_ < block_size_)
      break;
    bytes full = std::move(buf_);
    buf_.clear();
    fill_ = 0;
    if (!spare_.empty()) {
      buf_ = std::move(spare_.front());
      spare_.pop_front();
    }
    ++blocks_;
    if (auto err = emit_(std::move(full)))
      return err;
  }
  return caf::none;
}

caf::error chunker::finish() {
  if (fill_ == 0)
    return caf::none;
  std::memset(buf_.data() + fill_, 0, block_size_ - fill_);
  fill_ = 0;
  ++blocks_;
  bytes last = std::move(buf_);
  buf_.clear();
  return emit_(std::move(last));
}

} // namespace cairn::storage
