#pragma once

#include <chrono>
#include <cstddef>

namespace cairn::storage {

/// When a downloader's verified leaves go to the store: in group commits as
/// large as the flow of blocks allows, without making the first blocks of a
/// download or its last ones wait.
///
/// Each LMDB commit costs a fixed price beside its blocks: it rewrites the
/// B-tree pages it touches and the part of the freelist it used (about
/// 190 KiB of page writes), and scans that freelist for every 64 KiB value
/// it places. Committing whatever arrived while the last commit ran gives
/// 8-13 blocks per commit in a 1 GiB download on loopback: a third more
/// bytes written than the blocks themselves, and, in a file whose freelist
/// a large delete filled, a sixth of the downloader's CPU in liblmdb.
///
/// So while blocks flow, leaves wait until `full_batch` of them wait, or
/// until the first of them has waited `wait`. They go at once when the
/// store has been idle for `wait` (a download's first blocks) or when the
/// owner awaits no other block (a download's last ones, if it is the only
/// one). One transaction runs at a time; a second one starts beside it only
/// once `second_batch` leaves wait, else they wait for its end.
///
/// The owner (the engine) queues leaves, asks `commit_now` after each, and
/// otherwise sends itself the flush message `on_waiting` says, when it
/// says. Time comes from the caller; not thread-safe.
class store_batcher {
public:
  using clock = std::chrono::steady_clock;

  /// Leaves that start a commit at once when none is running.
  static constexpr size_t full_batch = 64;
  /// Leaves that start a second commit beside a running one.
  static constexpr size_t second_batch = 256;
  static constexpr size_t max_in_flight = 2;
  /// How long the waiting leaves of a flowing download wait for more.
  static constexpr clock::duration wait = std::chrono::milliseconds{8};

  /// What the owner does with its flush message.
  enum class flush {
    none,  ///< one is on its way that comes as soon
    now,   ///< send it now (handled after the messages queued)
    later, ///< send it `wait` from now
  };

  /// True if `waiting` leaves are enough to commit now, without a flush
  /// message (the owner then calls `may_commit` and commits).
  bool commit_now(size_t waiting) const;

  /// True if a commit of the `waiting` leaves may start now.
  bool may_commit(size_t waiting) const;

  /// `waiting` leaves wait (not counting those committing): what to do
  /// with the flush message. `awaited` counts every block the owner waits for,
  /// those waiting and committing included; if it is no more than those,
  /// nothing else is coming and they go now. Records the message sent.
  flush on_waiting(size_t waiting, size_t awaited, clock::time_point now);

  /// A flush message arrived at `now`. False if it is a timed one that an
  /// immediate one overtook, arriving while a later timed one is due: the
  /// owner ignores it. Else the owner calls `may_commit` and commits.
  bool flush_arrived(clock::time_point now);

  /// A commit of `n` leaves started.
  void started(size_t n) {
    ++in_flight_;
    committing_ += n;
  }

  /// The commit of `n` leaves returned at `now`.
  void finished(size_t n, clock::time_point now) {
    --in_flight_;
    committing_ -= n;
    last_done_ = now;
  }

  size_t in_flight() const { return in_flight_; }
  size_t committing() const { return committing_; }

private:
  size_t in_flight_ = 0;
  size_t committing_ = 0;
  clock::time_point last_done_{};
  /// A flush message is on its way, and it is the one sent `wait` ahead,
  /// due at `due_`.
  bool queued_ = false;
  bool timed_ = false;
  clock::time_point due_{};
};

} // namespace cairn::storage
