#include "storage/pipe_meter.hpp"

#include <algorithm>

namespace cairn::storage {

void pipe_meter::delivered(double bytes, double secs, clock::time_point now) {
  secs = std::max(secs, 1e-4);
  double sample = bytes / secs;
  rate = rate == 0 ? sample : (1 - ewma) * rate + ewma * sample;
  rtt = rtt == 0 ? secs : std::min(rtt, secs);
  round_peak_ = std::max(round_peak_, rate);
  if (!filled)
    ++answers_;
  auto round = std::chrono::duration_cast<clock::duration>(
    std::chrono::duration<double>(rtt));
  if (round_end_ == clock::time_point{}) {
    round_end_ = now + round;
  } else if (now >= round_end_) {
    if (!filled) {
      if (round_peak_ >= growth * grown_to_) {
        grown_to_ = round_peak_;
        flat_ = 0;
      } else if (++flat_ >= flat_rounds) {
        filled = true;
      }
    }
    last_round_peak_ = round_peak_;
    round_peak_ = rate;
    round_end_ = now + round;
  }
  peak = std::max(round_peak_, last_round_peak_);
}

size_t pipe_meter::requests(double unit) const {
  if (unit <= 0)
    return 0;
  return static_cast<size_t>(gain() * peak * rtt / unit);
}

size_t pipe_meter::startup_window(size_t initial, double unit) const {
  if (filled)
    return 0;
  return initial + std::min(static_cast<size_t>(startup_gain - 1) * answers_,
                            unit > 0 ? static_cast<size_t>(startup_gain * peak *
                                                           rtt / unit)
                                     : size_t{0});
}

size_t pipe_meter::depth(double unit, size_t lo, size_t hi) const {
  return std::clamp(std::max(requests(unit), startup_window(lo, unit)), lo, hi);
}

} // namespace cairn::storage
