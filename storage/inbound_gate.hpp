#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

namespace cairn::storage {

/// Bounds what one peer session has read and handed on but its owner has
/// not handled yet: messages in the owner's mailbox, or in its hands. The
/// session reads from the socket at its own pace and the owner may be
/// slower (a busy engine); without a bound, a fast peer would grow the
/// owner's mailbox without limit. Each message handed on carries a
/// `receipt` for its bytes; the receiver drops it with the message, which
/// gives the bytes back.
///
/// Over `limit` the session stops reading (`full` answers true once per
/// pause) and TCP pushes back on the peer; `wake` is called once the
/// bytes held fall to half the limit, by whichever thread drops the
/// receipt that brings them there (or by `full` itself, if they fell
/// while it decided). Thread-safe.
class inbound_gate {
public:
  /// At most `limit` bytes held before the session pauses; `wake` resumes
  /// it (it must be callable from any thread and must not block).
  inbound_gate(uint64_t limit, std::function<void()> wake);

  /// A token for `n` bytes handed on: held until the receiver drops it.
  /// Keeps the gate alive.
  static std::shared_ptr<const void> receipt(std::shared_ptr<inbound_gate> g,
                                             uint64_t n);

  /// True if the session must stop reading now: more than `limit` bytes
  /// are held and no pause is under way. `wake` then comes exactly once.
  bool full();

  /// True between a `full()` that answered true and its `wake`.
  bool paused() const { return paused_.load(); }

  /// Bytes held now, and the most held at once.
  uint64_t held() const { return held_.load(); }
  uint64_t peak() const { return peak_.load(); }
  uint64_t limit() const { return limit_; }

private:
  void give_back(uint64_t n);

  const uint64_t limit_;
  std::function<void()> wake_;
  std::atomic<uint64_t> held_{0};
  std::atomic<uint64_t> peak_{0};
  std::atomic<bool> paused_{false};
};

} // namespace cairn::storage
