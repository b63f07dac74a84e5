#include "storage/store_batcher.hpp"

namespace cairn::storage {

bool store_batcher::commit_now(size_t waiting) const {
  return waiting >= second_batch || (waiting >= full_batch && in_flight_ == 0);
}

bool store_batcher::may_commit(size_t waiting) const {
  return waiting > 0 && in_flight_ < max_in_flight &&
         (in_flight_ == 0 || waiting >= second_batch);
}

store_batcher::flush store_batcher::on_waiting(size_t waiting, size_t awaited,
                                               clock::time_point now) {
  if (waiting == 0)
    return flush::none;
  bool idle = in_flight_ == 0 && now - last_done_ >= wait;
  bool last = awaited <= waiting + committing_;
  if (idle || last) {
    // A timed message on its way comes too late: send one now as well.
    if (queued_ && !timed_)
      return flush::none;
    queued_ = true;
    timed_ = false;
    return flush::now;
  }
  if (queued_)
    return flush::none;
  queued_ = true;
  timed_ = true;
  due_ = now + wait;
  return flush::later;
}

bool store_batcher::flush_arrived(clock::time_point now) {
  // Only a timed message is due at `due_` (a timer never fires early), and
  // while one is on its way no other is sent but an immediate one, which
  // clears `timed_`: an arrival before then is an older timer.
  if (timed_ && now + std::chrono::milliseconds{1} < due_)
    return false;
  queued_ = false;
  timed_ = false;
  return true;
}

} // namespace cairn::storage
