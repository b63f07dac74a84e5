#include "storage/peer_admission.hpp"

#include <algorithm>
#include <tuple>

namespace cairn::storage {

// -- handshake_slots
// -----------------------------------------------------------

std::optional<std::string> handshake_slots::admit(const std::string& ip) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& mine = per_ip_[ip];
  std::optional<std::string> refusal;
  if (total_ >= limits_.total)
    refusal =
      std::to_string(total_) + " handshakes pending (--max-pending-handshakes)";
  else if (mine >= limits_.per_ip)
    refusal = std::to_string(mine) + " handshakes pending from " + ip +
              " (--max-pending-handshakes-per-ip)";
  if (refusal) {
    if (mine == 0)
      per_ip_.erase(ip);
    ++refused_;
    return refusal;
  }
  ++mine;
  ++total_;
  return std::nullopt;
}

void handshake_slots::release(const std::string& ip) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = per_ip_.find(ip);
  if (i == per_ip_.end())
    return;
  if (--i->second == 0)
    per_ip_.erase(i);
  --total_;
}

size_t handshake_slots::pending() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return total_;
}

size_t handshake_slots::pending(const std::string& ip) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = per_ip_.find(ip);
  return i == per_ip_.end() ? 0 : i->second;
}

uint64_t handshake_slots::refused() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return refused_;
}

handshake_slot& handshake_slot::operator=(handshake_slot&& other) noexcept {
  if (this != &other) {
    release();
    slots_ = std::move(other.slots_);
    ip_ = std::move(other.ip_);
    other.slots_ = nullptr;
  }
  return *this;
}

void handshake_slot::release() {
  if (slots_) {
    slots_->release(ip_);
    slots_ = nullptr;
  }
}

// -- eviction -----------------------------------------------------------------

void recent_bytes::roll(admission_clock::time_point now) {
  if (now < start_ + window)
    return;
  // One window on: the current one becomes the previous; more: both are old.
  previous_ = now < start_ + 2 * window ? current_ : 0;
  current_ = 0;
  start_ = now;
}

void recent_bytes::add(uint64_t n, admission_clock::time_point now) {
  roll(now);
  current_ += n;
}

uint64_t recent_bytes::total(admission_clock::time_point now) const {
  if (now >= start_ + 2 * window)
    return 0;
  if (now >= start_ + window)
    return current_;
  return current_ + previous_;
}

std::optional<std::string>
choose_eviction(const std::vector<peer_usefulness>& peers) {
  const peer_usefulness* pick = nullptr;
  for (auto& p : peers) {
    if (p.outstanding > 0 || p.serving > 0)
      continue;
    if (!pick || std::tie(p.recent_bytes, p.last_useful) <
                   std::tie(pick->recent_bytes, pick->last_useful))
      pick = &p;
  }
  if (!pick)
    return std::nullopt;
  return pick->id;
}

// -- redial_backoff
// -------------------------------------------------------------

void redial_backoff::dialed(const std::string& peer,
                            std::vector<std::string> addrs) {
  peers_[peer].addrs = std::move(addrs);
}

void redial_backoff::connected(const std::string& peer,
                               admission_clock::time_point now) {
  auto i = peers_.find(peer);
  if (i == peers_.end())
    return;
  i->second.was_connected = true;
  i->second.up_since = now;
  i->second.next.reset();
}

std::optional<std::chrono::milliseconds>
redial_backoff::lost(const std::string& peer, admission_clock::time_point now) {
  auto i = peers_.find(peer);
  if (i == peers_.end())
    return std::nullopt;
  auto& e = i->second;
  if (e.up_since) {
    if (now - *e.up_since >= policy_.stable_after)
      e.attempts = 0;
    e.up_since.reset();
  }
  if (!e.was_connected || e.attempts >= policy_.max_attempts) {
    peers_.erase(i);
    return std::nullopt;
  }
  if (e.next)
    return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max(admission_clock::duration::zero(), *e.next - now));
  // Doubled per attempt, computed in doubles: no shift overflows.
  double base = static_cast<double>(policy_.first_delay.count());
  for (uint32_t k = 0; k < e.attempts && base < policy_.max_delay.count(); ++k)
    base *= 2;
  base = std::min(base, static_cast<double>(policy_.max_delay.count()));
  std::uniform_real_distribution<double> spread{-policy_.jitter,
                                                policy_.jitter};
  auto wait = std::chrono::milliseconds{
    static_cast<int64_t>(std::max(0.0, base * (1 + spread(rng_))))};
  ++e.attempts;
  e.next = now + wait;
  return wait;
}

void redial_backoff::forget(const std::string& peer) {
  peers_.erase(peer);
}

std::vector<std::pair<std::string, std::vector<std::string>>>
redial_backoff::due(admission_clock::time_point now) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (auto& [id, e] : peers_)
    if (e.next && *e.next <= now) {
      e.next.reset();
      out.emplace_back(id, e.addrs);
    }
  return out;
}

uint32_t redial_backoff::attempts(const std::string& peer) const {
  auto i = peers_.find(peer);
  return i == peers_.end() ? 0 : i->second.attempts;
}

} // namespace cairn::storage
