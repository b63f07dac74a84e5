#include "storage/inbound_gate.hpp"

#include <utility>

namespace cairn::storage {

inbound_gate::inbound_gate(uint64_t limit, std::function<void()> wake)
  : limit_(limit), wake_(std::move(wake)) {}

std::shared_ptr<const void>
inbound_gate::receipt(std::shared_ptr<inbound_gate> g, uint64_t n) {
  auto now = g->held_.fetch_add(n) + n;
  auto peak = g->peak_.load();
  while (now > peak && !g->peak_.compare_exchange_weak(peak, now)) {
    // `peak` reloaded: try again.
  }
  // The token owns nothing; its deleter is the point.
  static const char token = 0;
  return std::shared_ptr<const void>(
    &token, [g = std::move(g), n](const void*) { g->give_back(n); });
}

bool inbound_gate::full() {
  if (held_.load() <= limit_ || paused_.load())
    return false;
  paused_.store(true);
  // Receipts dropped between the check and the flag saw no pause: decide
  // again, or nobody would ever wake the session.
  if (held_.load() <= limit_ / 2 && paused_.exchange(false))
    return false;
  return true;
}

void inbound_gate::give_back(uint64_t n) {
  auto now = held_.fetch_sub(n) - n;
  if (now <= limit_ / 2 && paused_.exchange(false) && wake_)
    wake_();
}

} // namespace cairn::storage
