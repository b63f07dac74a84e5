#include "storage/pipe_meter.hpp"

#include <algorithm>

namespace cairn::storage {

void pipe_meter::delivered(double bytes, double secs, clock::time_point now,
                           double size) {
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
  add_to_train(size, now);
}

void pipe_meter::add_to_train(double size, clock::time_point now) {
  auto gap = std::max<clock::duration>(
    train_gap, std::chrono::duration_cast<clock::duration>(
                 std::chrono::duration<double>(rtt / 8)));
  if (train_answers_ == 0 || now - train_last_ > gap) {
    train_start_ = now;
    train_bytes_ = 0;
    train_answers_ = 0;
  } else if (now > train_start_) {
    // Answers handled at the train's first instant came with it.
    train_bytes_ += size;
  }
  ++train_answers_;
  train_last_ = now;
  auto span = std::chrono::duration<double>(now - train_start_).count();
  if (!filled && train_answers_ >= min_train_answers &&
      now - train_start_ >= min_train)
    train_rate = std::max(train_rate, train_bytes_ / span);
}

size_t pipe_meter::requests(double unit) const {
  if (unit <= 0)
    return 0;
  return static_cast<size_t>(gain() * peak * rtt / unit);
}

size_t pipe_meter::startup_window(size_t initial, double unit) const {
  if (filled)
    return 0;
  if (unit <= 0)
    return initial;
  auto slow =
    initial + std::min(static_cast<size_t>(startup_gain - 1) * answers_,
                       static_cast<size_t>(startup_gain * peak * rtt / unit));
  auto train = static_cast<size_t>(steady_gain * train_rate * rtt / unit);
  return std::max(slow, train);
}

size_t pipe_meter::depth(double unit, size_t lo, size_t hi) const {
  return std::clamp(std::max(requests(unit), startup_window(lo, unit)), lo, hi);
}

} // namespace cairn::storage
