#include "storage/kad_lookup.hpp"

#include <algorithm>
#include <iterator>

namespace cairn::storage {

namespace {

// "host:port" of the first UDP address of `r`; empty if it has none.
std::string udp_key(const peer_record& r) {
  for (const auto& a : r.addrs)
    if (auto ep = parse_multiaddr(a); ep && ep->udp)
      return ep->host + ":" + std::to_string(ep->port);
  return {};
}

} // namespace

kad_lookup::kad_lookup(node_id target, std::vector<contact> seeds, size_t k,
                       size_t alpha, std::optional<node_id> self)
  : target_(target), k_(std::max<size_t>(k, 1)),
    alpha_(std::max<size_t>(alpha, 1)), self_(self) {
  for (const auto& c : seeds)
    add(c, 1);
  prune();
}

void kad_lookup::add(const contact& c, uint32_t hop) {
  if (self_ && c.id == *self_)
    return;
  auto dist = xor_distance(c.id, target_);
  auto addr = udp_key(c.record);
  auto taken = [&] {
    auto a = addresses_.find(addr);
    return !addr.empty() && a != addresses_.end() && a->second != dist;
  };
  auto i = candidates_.find(dist);
  if (i != candidates_.end() && i->second.st == state::fresh)
    i->second.hop = std::min(i->second.hop, hop);
  if (i == candidates_.end()) {
    if (taken())
      return;
    candidate x;
    x.who = c;
    x.who.failures = 0;
    x.hop = hop;
    candidates_.emplace(dist, std::move(x));
    if (!addr.empty())
      addresses_[addr] = dist;
  } else if (i->second.st == state::fresh &&
             c.record.seq > i->second.who.record.seq && !taken()) {
    erase_address(dist);
    i->second.who.record = c.record;
    if (!addr.empty())
      addresses_[addr] = dist;
  }
}

void kad_lookup::erase_address(const node_id& dist) {
  auto i = candidates_.find(dist);
  if (i == candidates_.end())
    return;
  auto a = addresses_.find(udp_key(i->second.who.record));
  if (a != addresses_.end() && a->second == dist)
    addresses_.erase(a);
}

void kad_lookup::prune() {
  // Keep the `limit` nearest candidates whatever their state, and beyond them
  // only queried ones (so a node is never asked twice and no answer is
  // lost); those are bounded by the query budget.
  auto limit = k_ * candidates_per_k;
  if (candidates_.size() <= limit)
    return;
  size_t rank = 0;
  for (auto i = candidates_.begin(); i != candidates_.end();) {
    if (rank++ >= limit && i->second.st == state::fresh) {
      erase_address(i->first);
      i = candidates_.erase(i);
    } else
      ++i;
  }
}

bool kad_lookup::budget_spent() const {
  return queries_sent_ >= k_ * queries_per_k;
}

std::vector<contact> kad_lookup::next_queries() {
  std::vector<contact> out;
  size_t seen = 0;
  for (auto& [dist, c] : candidates_) {
    if (in_flight_ >= alpha_ || seen >= k_ || budget_spent())
      break;
    if (c.st == state::failed)
      continue;
    ++seen;
    if (c.st == state::fresh) {
      c.st = state::in_flight;
      ++in_flight_;
      ++queries_sent_;
      out.push_back(c.who);
    }
  }
  return out;
}

void kad_lookup::on_response(const node_id& from,
                             const std::vector<peer_record>& closer) {
  auto i = candidates_.find(xor_distance(from, target_));
  if (i == candidates_.end() || i->second.st != state::in_flight)
    return;
  i->second.st = state::answered;
  --in_flight_;
  auto hop = i->second.hop;
  hops_ = std::max(hops_, hop);
  for (const auto& r : closer) {
    contact c;
    c.record = r;
    c.id = node_id_of(r);
    add(c, hop + 1);
  }
  prune();
}

void kad_lookup::on_failure(const node_id& from) {
  auto i = candidates_.find(xor_distance(from, target_));
  if (i == candidates_.end() || i->second.st != state::in_flight)
    return;
  i->second.st = state::failed;
  --in_flight_;
}

bool kad_lookup::done() const {
  if (in_flight_ > 0)
    return false;
  if (budget_spent())
    return true;
  size_t seen = 0;
  for (const auto& [dist, c] : candidates_) {
    if (seen >= k_)
      break;
    if (c.st == state::failed)
      continue;
    ++seen;
    if (c.st == state::fresh)
      return false;
  }
  return true;
}

std::vector<contact> kad_lookup::result() const {
  std::vector<contact> out;
  for (const auto& [dist, c] : candidates_) {
    if (out.size() >= k_)
      break;
    if (c.st == state::answered)
      out.push_back(c.who);
  }
  return out;
}

} // namespace cairn::storage
