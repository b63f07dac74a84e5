#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

#include "messages/wire/messages.hpp"

namespace cairn::wire {

/// Messages held back for a simulated one-way link latency
/// (`--link-latency`): each is due `delay` after it was queued and leaves in
/// the order it came. With one delay for all, due times never decrease, so
/// the head is always the next due and one timer (for the head) serves the
/// whole queue. Messages are moved in and out, never copied: a block's
/// bytes stay in the buffer they were read into.
///
/// Not thread-safe: owned by one peer session.
class delay_queue {
public:
  using clock = std::chrono::steady_clock;

  /// A queue that holds each message for `delay` (0: messages are due at
  /// once).
  explicit delay_queue(clock::duration delay = {}) : delay_(delay) {}

  /// The one-way latency each message is held for.
  clock::duration delay() const { return delay_; }

  /// Queues `msg`, due at `now + delay()`. Returns true if the queue was
  /// empty: the caller arms a timer for `next_due()`.
  bool push(message msg, clock::time_point now);

  /// When the head is due; nothing if the queue is empty.
  std::optional<clock::time_point> next_due() const;

  /// Takes the head if it is due at `now + slack` at the latest; nothing
  /// otherwise. A caller pops one message at a time so that it writes only
  /// as much as its peer reads; a slack of a millisecond lets one wake-up
  /// send a burst instead of one frame.
  std::optional<message> pop_due(clock::time_point now,
                                 clock::duration slack = {});

  /// Messages held.
  size_t size() const { return held_.size(); }
  bool empty() const { return held_.empty(); }

private:
  clock::duration delay_;
  std::deque<std::pair<clock::time_point, message>> held_;
};

} // namespace cairn::wire
