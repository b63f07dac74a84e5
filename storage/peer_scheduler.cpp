#include "storage/peer_scheduler.hpp"

#include <algorithm>
#include <iterator>
#include <variant>

namespace cairn::storage {

const cid& dataset_of(const wire::address& addr) {
  return std::holds_alternative<cid>(addr) ? std::get<cid>(addr)
                                           : std::get<block_address>(addr).tree;
}

peer_scheduler::peer_scheduler(scheduler_options opts, uint64_t seed)
  : opts_(opts), rng_(seed) {
  // nop
}

// -- peers --------------------------------------------------------------------

void peer_scheduler::add(const std::string& peer, double handshake_rtt) {
  peers_[peer].handshake_rtt = handshake_rtt;
}

std::vector<wire::address> peer_scheduler::remove(const std::string& peer) {
  std::vector<wire::address> owed;
  auto i = peers_.find(peer);
  if (i == peers_.end())
    return owed;
  for (auto& [addr, _] : i->second.outstanding)
    owed.push_back(addr);
  peers_.erase(i);
  return owed;
}

const peer_stats* peer_scheduler::find(const std::string& peer) const {
  auto i = peers_.find(peer);
  return i == peers_.end() ? nullptr : &i->second;
}

peer_stats* peer_scheduler::stats_of(const std::string& peer) {
  auto i = peers_.find(peer);
  return i == peers_.end() ? nullptr : &i->second;
}

// -- decisions ----------------------------------------------------------------

size_t peer_scheduler::depth_of(const peer_stats& p) {
  auto near =
    std::min(static_cast<size_t>(p.pipe.rate * 0.1 / block_bytes), short_depth);
  return std::clamp(std::max({near, p.pipe.requests(block_bytes),
                              p.pipe.startup_window(start_depth, block_bytes)}),
                    min_depth, max_depth);
}

uint32_t peer_scheduler::leaves_with_manifest(const peer_stats& p,
                                              uint32_t first_window) {
  if (first_window == 0)
    return 0;
  auto round_trip = p.handshake_rtt * assumed_link_rate / block_bytes;
  return static_cast<uint32_t>(
    std::min<double>(std::max<double>(first_window, round_trip),
                     static_cast<double>(wire::max_leaves_with_manifest)));
}

double peer_scheduler::expected_time(const peer_stats& p) {
  double rate = p.pipe.rate > 0 ? p.pipe.rate : block_bytes / 0.05;
  return (static_cast<double>(p.outstanding.size()) + 1) * block_bytes / rate +
         p.latency;
}

bool peer_scheduler::good_standing(const peer_stats& p) const {
  return p.bad_blocks < opts_.max_bad_blocks;
}

bool peer_scheduler::may_serve(const peer_stats& p,
                               const wire::address& addr) const {
  if (!good_standing(p) || p.dont_haves.count(addr) > 0)
    return false;
  auto h = p.haves.find(addr);
  return h == p.haves.end() || h->second <= opts_.max_price;
}

bool peer_scheduler::anyone_may_serve(const wire::address& addr) const {
  return std::any_of(peers_.begin(), peers_.end(),
                     [&](auto& kv) { return may_serve(kv.second, addr); });
}

bool peer_scheduler::holds(const peer_stats& p,
                           const wire::address& addr) const {
  if (p.haves.count(addr) > 0)
    return true;
  auto* leaf = std::get_if<block_address>(&addr);
  if (!leaf)
    return false;
  auto t = p.trees.find(leaf->tree);
  return t != p.trees.end() && t->second <= opts_.max_price;
}

bool peer_scheduler::holder_delivering(const wire::address& addr,
                                       sched_clock::time_point since) const {
  return std::any_of(peers_.begin(), peers_.end(), [&](auto& kv) {
    auto& p = kv.second;
    return holds(p, addr) && may_serve(p, addr) && p.blocks_received > 0 &&
           p.last_delivery >= since;
  });
}

bool peer_scheduler::has(const std::string& peer,
                         const wire::address& addr) const {
  auto* p = find(peer);
  return p && p->haves.count(addr) > 0;
}

schedule_step peer_scheduler::schedule(const wire::address& addr, want_state& w,
                                       sched_clock::time_point now) {
  schedule_step step;
  if (w.storing)
    return step;
  // Candidates: peers that have it at an acceptable price, in good standing,
  // not already asked for it, with room in their pipe.
  std::vector<std::pair<const std::string*, peer_stats*>> candidates;
  for (auto& [id, p] : peers_) {
    if (!good_standing(p) || w.requested.count(id) > 0 ||
        p.outstanding.size() >= depth_of(p) || p.dont_haves.count(addr) > 0)
      continue;
    auto h = p.haves.find(addr);
    if (h != p.haves.end()) {
      if (h->second <= opts_.max_price)
        candidates.emplace_back(&id, &p);
      continue;
    }
    // Ask a holder of the tree for the block directly (it answers
    // DONT_HAVE if it lacks it), saving a want-have round trip per block.
    if (holds(p, addr))
      candidates.emplace_back(&id, &p);
  }
  if (!candidates.empty()) {
    auto best = candidates.begin();
    std::uniform_real_distribution<double> coin{0, 1};
    if (candidates.size() > 1 && coin(rng_) < explore) {
      // Exploration: a peer we know least about gets a chance.
      best = std::min_element(
        candidates.begin(), candidates.end(), [](auto& a, auto& b) {
          return a.second->blocks_received < b.second->blocks_received;
        });
    } else {
      best = std::min_element(
        candidates.begin(), candidates.end(), [](auto& a, auto& b) {
          return expected_time(*a.second) < expected_time(*b.second);
        });
    }
    best->second->outstanding[addr] =
      sent_request{now, best->second->bytes_received};
    w.requested.insert(*best->first);
    step.request_from = *best->first;
    return step;
  }
  if (!w.requested.empty()) {
    // In flight somewhere. Peers asked directly that stay silent must not
    // keep the providers from being looked up.
    step.discover = unconfirmed(addr, w) && now - w.since >= silent_after;
    return step;
  }
  bool someone_may_have = false;
  bool holder = false;
  size_t direct = std::holds_alternative<cid>(addr) ? direct_asks : 0;
  for (auto& [id, p] : peers_) {
    if (!may_serve(p, addr))
      continue;
    if (holds(p, addr)) {
      // Has it (or its tree), but busy for now: asked once its pipe has
      // room, not want-have meanwhile (its HAVE would only add a request).
      someone_may_have = holder = true;
      continue;
    }
    if (w.asked_have.count(id) > 0) {
      someone_may_have = true; // asked, answer pending
    } else if (step.ask_block.size() < direct &&
               p.outstanding.size() < depth_of(p)) {
      p.outstanding[addr] = sent_request{now, p.bytes_received, !p.quoted};
      w.requested.insert(id);
      step.ask_block.push_back(id);
      someone_may_have = true;
    } else {
      w.asked_have.insert(id);
      step.ask_have.push_back(id);
    }
  }
  if (!step.ask_have.empty() || someone_may_have) {
    // Peers asked a while ago that have not answered (slow, or gone
    // silent) must not keep the providers from being looked up.
    step.discover = !holder && now - w.since >= silent_after;
    return step;
  }
  auto lk = lookups_.find(dataset_of(addr));
  bool looked =
    lk != lookups_.end() && !lk->second.in_flight && lk->second.dialed == 0;
  // Every connected peer said it lacks it or quotes too much for it (or
  // none is connected), and a provider lookup that started well after the
  // want found nobody new: an unknown CID is lost in under a second, not
  // after the want's timeout.
  if (looked && lk->second.started >= w.since + give_up_after) {
    step.lost = true;
    return step;
  }
  // Every peer that holds blocks of this dataset said it lacks this one (or
  // none is known to hold any, and every peer asked lacks it), and a recent
  // provider lookup found nobody new: nobody can serve it. Losing it now
  // (not after the want's timeout) lets a download of a protected dataset
  // repair the block from parity at once, even when its first blocks are
  // the lost ones.
  if (auto* leaf = std::get_if<block_address>(&addr)) {
    bool holder_known = false, holder_lacks = false, asked_lacks = false;
    for (auto& [id, p] : peers_) {
      bool lacks = good_standing(p) && p.dont_haves.count(addr) > 0;
      asked_lacks = asked_lacks || lacks;
      if (p.trees.count(leaf->tree) > 0) {
        holder_known = true;
        holder_lacks = holder_lacks || lacks;
      }
    }
    if ((holder_lacks || (!holder_known && asked_lacks)) && looked &&
        lk->second.finished + rediscover_after >= w.since) {
      step.lost = true;
      return step;
    }
  }
  step.discover = true;
  return step;
}

bool peer_scheduler::unconfirmed(const wire::address& addr,
                                 const want_state& w) const {
  if (w.requested.empty() || !std::holds_alternative<cid>(addr))
    return false;
  return std::none_of(w.requested.begin(), w.requested.end(),
                      [&](auto& id) { return has(id, addr); });
}

void peer_scheduler::manifest_from(const std::string& peer,
                                   const cid& manifest_id, const cid& tree) {
  wire::address addr{manifest_id};
  for (auto& [id, p] : peers_) {
    auto h = p.haves.find(addr);
    if (h != p.haves.end())
      p.trees.try_emplace(tree, h->second);
    else if (id == peer)
      p.trees.try_emplace(tree, p.price);
  }
}

bool peer_scheduler::end_game(const want_state& w, size_t wants,
                              sched_clock::time_point now) {
  return wants <= end_game_wants && w.requested.size() == 1 &&
         now - w.since > end_game_after;
}

// -- events -------------------------------------------------------------------

bool peer_scheduler::on_presence(const std::string& peer,
                                 const wire::address& addr, bool have,
                                 uint64_t price) {
  auto* p = stats_of(peer);
  if (!p)
    return false;
  p->quoted = true;
  p->price = price;
  if (have) {
    p->haves[addr] = price;
    p->dont_haves.erase(addr);
    if (auto* a = std::get_if<block_address>(&addr))
      p->trees[a->tree] = price;
    // A seeder that charges answered a want-block sent before it quoted
    // with its price, not the block: ask again (or elsewhere, if too dear).
    auto out = p->outstanding.find(addr);
    if (price > 0 && out != p->outstanding.end() && out->second.unquoted) {
      p->outstanding.erase(out);
      return true;
    }
    return false;
  }
  p->haves.erase(addr);
  p->dont_haves.insert(addr);
  // A block asked for directly that the peer lacks: ask others.
  return p->outstanding.erase(addr) > 0;
}

bool peer_scheduler::in_flight(const std::string& peer,
                               const wire::address& addr) const {
  auto* p = find(peer);
  return p && p->outstanding.count(addr) > 0;
}

bool peer_scheduler::expect(const std::string& peer, const wire::address& addr,
                            const sent_request& sent) {
  auto* p = stats_of(peer);
  if (!p)
    return false;
  auto [it, fresh] = p->outstanding.try_emplace(addr, sent);
  if (fresh)
    it->second.in_batch = true;
  return true;
}

bool peer_scheduler::forget_cancelled(const std::string& peer,
                                      const wire::address& addr) {
  auto* p = stats_of(peer);
  if (!p)
    return false;
  auto i = p->cancelled.find(addr);
  if (i == p->cancelled.end())
    return false;
  p->cancelled.erase(i);
  return true;
}

void peer_scheduler::delivered(const std::string& peer,
                               const wire::address& addr, uint64_t size,
                               sched_clock::time_point now) {
  auto* p = stats_of(peer);
  if (!p)
    return;
  ++p->blocks_received;
  p->bytes_received += size;
  p->last_delivery = now;
  // Measure: the rate of what arrived over the request's lifetime, latency
  // as its duration.
  if (auto out = p->outstanding.find(addr); out != p->outstanding.end()) {
    double secs = std::max(
      1e-4, std::chrono::duration<double>(now - out->second.at).count());
    double inflight = static_cast<double>(p->outstanding.size());
    p->pipe.delivered(
      static_cast<double>(p->bytes_received - out->second.received_before),
      secs, now, static_cast<double>(size));
    p->latency =
      (1 - ewma) * p->latency + ewma * secs / std::max(1.0, inflight);
    p->outstanding.erase(out);
  }
}

void peer_scheduler::delivery_failed(const std::string& peer,
                                     const wire::address& addr) {
  auto* p = stats_of(peer);
  if (!p)
    return;
  p->outstanding.erase(addr);
  p->haves.erase(addr);
  p->dont_haves.insert(addr);
}

uint64_t peer_scheduler::price_of(const std::string& peer,
                                  const wire::address& addr) const {
  auto* p = find(peer);
  if (!p)
    return 0;
  if (auto h = p->haves.find(addr); h != p->haves.end())
    return h->second;
  if (auto* a = std::get_if<block_address>(&addr)) {
    auto t = p->trees.find(a->tree);
    return t != p->trees.end() ? t->second : 0;
  }
  return 0;
}

void peer_stats::remember_cancelled(const wire::address& addr) {
  cancelled.emplace(addr, cancels++);
  if (cancelled.size() <= peer_scheduler::max_cancelled)
    return;
  // The oldest is the least likely to come still. Forgetting only it keeps
  // the late blocks of every other cancel blameless (all of them were
  // forgotten at once before, and a busy seeder's next few late blocks
  // counted as unrequested).
  auto oldest = std::min_element(
    cancelled.begin(), cancelled.end(),
    [](const auto& a, const auto& b) { return a.second < b.second; });
  cancelled.erase(oldest);
}

bool peer_scheduler::cancel(const std::string& peer,
                            const wire::address& addr) {
  auto* p = stats_of(peer);
  if (!p || p->outstanding.erase(addr) == 0)
    return false;
  p->remember_cancelled(addr);
  return true;
}

uint32_t peer_scheduler::penalize(const std::string& peer) {
  auto* p = stats_of(peer);
  return p ? ++p->bad_blocks : 0;
}

std::vector<std::pair<std::string, wire::address>>
peer_scheduler::expire_requests(sched_clock::time_point now,
                                sched_clock::duration timeout) {
  std::vector<std::pair<std::string, wire::address>> expired;
  for (auto& [id, p] : peers_) {
    for (auto i = p.outstanding.begin(); i != p.outstanding.end();) {
      // A batch's last leaves wait behind its first ones on a slow link.
      auto since = i->second.in_batch ? std::max(i->second.at, p.last_delivery)
                                      : i->second.at;
      if (now - since > timeout) {
        ++p.timeouts;
        expired.emplace_back(id, i->first);
        // A busy peer may still deliver it: late, not unasked.
        p.remember_cancelled(i->first);
        i = p.outstanding.erase(i);
      } else {
        ++i;
      }
    }
  }
  return expired;
}

// -- provider lookups ---------------------------------------------------------

lookup_step peer_scheduler::begin_lookup(const cid& key,
                                         sched_clock::time_point now) {
  lookup_step step;
  auto& lk = lookups_[key];
  if (lk.in_flight)
    return step;
  // A dataset wanted again long after its last lookup starts afresh.
  if (now - lk.finished > 2 * rediscover_after)
    lk.fruitless = 0;
  auto ready_at = lk.finished + lookup_pause(lk);
  if (now < ready_at) {
    if (!lk.retry_armed) {
      lk.retry_armed = true;
      step.retry_after = ready_at - now;
    }
    return step;
  }
  lk.in_flight = true;
  lk.started = now;
  step.start = true;
  if (lookups_.size() > max_lookups) // forget finished lookups of old datasets
    for (auto i = lookups_.begin(); i != lookups_.end();)
      i = !i->second.in_flight && !i->second.retry_armed &&
              now - i->second.finished > rediscover_after
            ? lookups_.erase(i)
            : std::next(i);
  return step;
}

void peer_scheduler::end_lookup(const cid& key, size_t dialed,
                                sched_clock::time_point now) {
  auto& lk = lookups_[key];
  lk.in_flight = false;
  lk.finished = now;
  lk.dialed = dialed;
  lk.fruitless = dialed > 0 ? 0 : lk.fruitless + 1;
}

void peer_scheduler::retry_due(const cid& key) {
  auto lk = lookups_.find(key);
  if (lk != lookups_.end())
    lk->second.retry_armed = false;
}

sched_clock::duration peer_scheduler::lookup_pause(const provider_lookup& lk) {
  if (lk.dialed > 0)
    return rediscover_after;
  if (lk.fruitless == 0)
    return sched_clock::duration::zero();
  auto shift = std::min<uint32_t>(lk.fruitless - 1, 16);
  return std::min<sched_clock::duration>(first_rediscover * (1u << shift),
                                         rediscover_after);
}

} // namespace cairn::storage
