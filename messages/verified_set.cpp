#include "messages/verified_set.hpp"

#include <algorithm>

namespace cairn {

verified_set::verified_set(size_t capacity)
  : capacity_(std::max<size_t>(capacity, 1)) {
  // Never rehashed once full, so lookups stay one bucket long.
  keys_.reserve(capacity_);
}

bool verified_set::contains(std::string_view key) const {
  std::lock_guard<std::mutex> guard{mtx_};
  // C++17 has no heterogeneous lookup in unordered sets.
  return keys_.count(std::string{key}) > 0;
}

void verified_set::insert(std::string key) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!keys_.insert(key).second)
    return;
  order_.push_back(std::move(key));
  if (order_.size() > capacity_) {
    keys_.erase(order_.front());
    order_.pop_front();
  }
}

size_t verified_set::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return keys_.size();
}

} // namespace cairn
