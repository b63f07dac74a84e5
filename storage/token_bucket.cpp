#include "storage/token_bucket.hpp"

#include <algorithm>

namespace cairn::storage {

token_bucket::token_bucket(uint64_t rate, uint64_t burst, clock::time_point now)
  : rate_(std::max<uint64_t>(rate, 1)),
    burst_(static_cast<double>(std::max<uint64_t>(burst, 1))), tokens_(burst_),
    at_(now) {
  // nop
}

token_bucket::token_bucket(uint64_t rate, clock::time_point now)
  : token_bucket(rate,
                 static_cast<uint64_t>(
                   static_cast<double>(rate) *
                   std::chrono::duration<double>(default_burst).count()),
                 now) {
  // nop
}

token_bucket::clock::duration token_bucket::take(uint64_t n,
                                                 clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  // A caller whose clock read is older than the last one's refills nothing.
  if (now > at_) {
    std::chrono::duration<double> dt = now - at_;
    tokens_ =
      std::min(burst_, tokens_ + dt.count() * static_cast<double>(rate_));
    at_ = now;
  }
  tokens_ -= static_cast<double>(n);
  if (tokens_ >= 0)
    return clock::duration::zero();
  // The debt is paid off at at_ + debt / rate; the caller waits from its
  // own `now`.
  auto paid =
    at_ + std::chrono::ceil<clock::duration>(std::chrono::duration<double>(
            -tokens_ / static_cast<double>(rate_)));
  auto wait = std::max(paid - now, clock::duration::zero());
  ++counters_.waits;
  counters_.waited += wait;
  return wait;
}

token_bucket::counters token_bucket::waited() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return counters_;
}

} // namespace cairn::storage
