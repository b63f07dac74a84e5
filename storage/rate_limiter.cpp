#include "storage/rate_limiter.hpp"

#include <algorithm>

namespace cairn::storage {

rate_limiter::rate_limiter(double rate, double burst, size_t max_sources)
  : rate_(std::max(rate, 0.0)), burst_(std::max(burst, 1.0)),
    max_sources_(std::max<size_t>(max_sources, 1)) {
  // nop
}

double rate_limiter::refilled(const bucket& b, clock::time_point now) const {
  std::chrono::duration<double> dt = now - b.at;
  return std::min(burst_, b.tokens + std::max(dt.count(), 0.0) * rate_);
}

bool rate_limiter::allow(uint32_t source, clock::time_point now) {
  if (rate_ <= 0)
    return true;
  auto i = buckets_.find(source);
  if (i == buckets_.end()) {
    if (buckets_.size() >= max_sources_) {
      for (auto j = buckets_.begin(); j != buckets_.end();)
        j =
          refilled(j->second, now) >= burst_ ? buckets_.erase(j) : std::next(j);
      if (buckets_.size() >= max_sources_)
        buckets_.clear();
    }
    i = buckets_.emplace(source, bucket{burst_, now}).first;
  }
  auto& b = i->second;
  b.tokens = refilled(b, now);
  b.at = now;
  if (b.tokens < 1)
    return false;
  b.tokens -= 1;
  return true;
}

} // namespace cairn::storage
