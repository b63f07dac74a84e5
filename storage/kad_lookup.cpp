#include "storage/kad_lookup.hpp"

#include <algorithm>
#include <iterator>

namespace cairn::storage {

kad_lookup::kad_lookup(node_id target, std::vector<contact> seeds, size_t k,
                       size_t alpha, std::optional<node_id> self)
  : target_(target), k_(std::max<size_t>(k, 1)),
    alpha_(std::max<size_t>(alpha, 1)), self_(self) {
  for (const auto& c : seeds)
    add(c);
  prune();
}

void kad_lookup::add(const contact& c) {
  if (self_ && c.id == *self_)
    return;
  auto dist = xor_distance(c.id, target_);
  auto i = candidates_.find(dist);
  if (i == candidates_.end()) {
    candidate x;
    x.who = c;
    x.who.failures = 0;
    candidates_.emplace(dist, std::move(x));
  } else if (i->second.st == state::fresh &&
             c.record.seq > i->second.who.record.seq) {
    i->second.who.record = c.record;
  }
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
    if (rank++ >= limit && i->second.st == state::fresh)
      i = candidates_.erase(i);
    else
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
  for (const auto& r : closer) {
    contact c;
    c.record = r;
    c.id = node_id_of(r);
    add(c);
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
