#include "storage/index_runs.hpp"

namespace cairn::storage {

void index_runs::insert(uint64_t index) {
  if (contains(index))
    return;
  uint64_t lo = index, hi = index + 1;
  auto next = runs_.find(hi);
  if (next != runs_.end()) {
    hi = next->second;
    runs_.erase(next);
  }
  auto prev = runs_.lower_bound(index);
  if (prev != runs_.begin()) {
    --prev;
    if (prev->second == index) {
      lo = prev->first;
      runs_.erase(prev);
    }
  }
  runs_[lo] = hi;
}

uint64_t index_runs::first_outside(uint64_t first, uint64_t end) const {
  auto it = runs_.upper_bound(first);
  if (it != runs_.begin()) {
    --it;
    if (it->second > first)
      first = it->second;
  }
  return std::min(first, end);
}

} // namespace cairn::storage
