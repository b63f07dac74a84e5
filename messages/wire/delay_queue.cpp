#include "messages/wire/delay_queue.hpp"

namespace cairn::wire {

bool delay_queue::push(message msg, clock::time_point now) {
  bool was_empty = held_.empty();
  auto due = now + delay_;
  // A clock read earlier by the caller must not put a message ahead of one
  // queued before it.
  if (!was_empty && due < held_.back().first)
    due = held_.back().first;
  held_.emplace_back(due, std::move(msg));
  return was_empty;
}

std::optional<delay_queue::clock::time_point> delay_queue::next_due() const {
  if (held_.empty())
    return std::nullopt;
  return held_.front().first;
}

std::optional<message> delay_queue::pop_due(clock::time_point now,
                                            clock::duration slack) {
  if (held_.empty() || held_.front().first > now + slack)
    return std::nullopt;
  auto msg = std::move(held_.front().second);
  held_.pop_front();
  return msg;
}

} // namespace cairn::wire
