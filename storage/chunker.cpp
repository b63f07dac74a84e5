#include "storage/chunker.hpp"

#include <algorithm>

namespace cairn::storage {

caf::error chunker::feed(const uint8_t* data, size_t n) {
  total_ += n;
  while (n > 0) {
    size_t take = std::min<size_t>(n, block_size_ - buf_.size());
    buf_.insert(buf_.end(), data, data + take);
    data += take;
    n -= take;
    if (buf_.size() == block_size_) {
      bytes full;
      full.reserve(block_size_);
      full.swap(buf_);
      ++blocks_;
      if (auto err = emit_(std::move(full)))
        return err;
    }
  }
  return caf::none;
}

caf::error chunker::finish() {
  if (buf_.empty())
    return caf::none;
  buf_.resize(block_size_, 0);
  ++blocks_;
  bytes last;
  last.swap(buf_);
  return emit_(std::move(last));
}

} // namespace cairn::storage
