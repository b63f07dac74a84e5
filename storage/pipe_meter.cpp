#include "storage/pipe_meter.hpp"

#include <algorithm>

namespace cairn::storage {

void pipe_meter::delivered(double bytes, double secs) {
  secs = std::max(secs, 1e-4);
  double sample = bytes / secs;
  rate = rate == 0 ? sample : (1 - ewma) * rate + ewma * sample;
  rtt = rtt == 0 ? secs : std::min(rtt, secs);
}

size_t pipe_meter::requests(double unit) const {
  if (unit <= 0)
    return 0;
  return static_cast<size_t>(gain * rate * rtt / unit);
}

size_t pipe_meter::depth(double unit, size_t lo, size_t hi) const {
  return std::clamp(requests(unit), lo, hi);
}

} // namespace cairn::storage
