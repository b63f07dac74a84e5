#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

#include "messages/wire/messages.hpp"

namespace cairn::wire {

/// Items held back for a simulated one-way link latency
/// (`--link-latency`): each is due `delay` after it was queued and leaves in
/// the order it came. With one delay for all, due times never decrease, so
/// the head is always the next due and one timer (for the head) serves the
/// whole queue. Items are moved in and out, never copied.
///
/// A peer session holds the frames it sends (`T` = `message`) and the
/// want lists it receives (with what they cost it). Not thread-safe: owned
/// by one peer session.
template <class T = message>
class delay_queue {
public:
  using clock = std::chrono::steady_clock;

  /// A queue that holds each item for `delay` (0: items are due at once).
  explicit delay_queue(clock::duration delay = {}) : delay_(delay) {}

  /// The one-way latency each item is held for.
  clock::duration delay() const { return delay_; }

  /// Queues `x`, due at `now + delay()`. Returns true if the queue was
  /// empty: the caller arms a timer for `next_due()`.
  bool push(T x, clock::time_point now) {
    bool was_empty = held_.empty();
    auto due = now + delay_;
    // A clock read earlier by the caller must not put an item ahead of one
    // queued before it.
    if (!was_empty && due < held_.back().first)
      due = held_.back().first;
    held_.emplace_back(due, std::move(x));
    return was_empty;
  }

  /// When the head is due; nothing if the queue is empty.
  std::optional<clock::time_point> next_due() const {
    if (held_.empty())
      return std::nullopt;
    return held_.front().first;
  }

  /// Takes the head if it is due at `now + slack` at the latest; nothing
  /// otherwise. A caller pops one item at a time; a slack of a millisecond
  /// lets one wake-up take a burst instead of one item.
  std::optional<T> pop_due(clock::time_point now, clock::duration slack = {}) {
    if (held_.empty() || held_.front().first > now + slack)
      return std::nullopt;
    auto x = std::move(held_.front().second);
    held_.pop_front();
    return x;
  }

  /// Items held.
  size_t size() const { return held_.size(); }
  bool empty() const { return held_.empty(); }

private:
  clock::duration delay_;
  std::deque<std::pair<clock::time_point, T>> held_;
};

} // namespace cairn::wire
