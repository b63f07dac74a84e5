#include "messages/tree_sources.hpp"

#include <algorithm>

namespace cairn {

uint64_t source_tally::total() const {
  uint64_t n = 0;
  for (auto& [peer, k] : blocks)
    n += k;
  return n;
}

source_tally source_tally::since(const source_tally& before) const {
  if (before.record != record)
    return *this;
  source_tally out;
  out.record = record;
  out.duplicates = duplicates - std::min(duplicates, before.duplicates);
  for (auto& [peer, n] : blocks) {
    auto old = before.blocks.find(peer);
    uint64_t had = old == before.blocks.end() ? 0 : std::min(n, old->second);
    if (n > had)
      out.blocks.emplace(peer, n - had);
  }
  return out;
}

std::pair<uint64_t, uint64_t>& source_batch::entry(const cid& tree) {
  for (auto& [t, counts] : trees_)
    if (t == tree)
      return counts;
  trees_.emplace_back(tree, std::pair<uint64_t, uint64_t>{0, 0});
  return trees_.back().second;
}

tree_sources::tree_sources(size_t max_trees)
  : max_trees_(std::max<size_t>(max_trees, 1)) {
  // nop
}

void tree_sources::record(const std::string& peer, const source_batch& batch) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [tree, counts] : batch.trees_) {
    auto [it, fresh] = trees_.try_emplace(tree);
    auto& e = it->second;
    if (fresh) {
      e.tally.record = ++next_record_;
      e.age = order_.insert(order_.end(), tree);
    } else {
      order_.splice(order_.end(), order_, e.age);
    }
    if (counts.first > 0)
      e.tally.blocks[peer] += counts.first;
    e.tally.duplicates += counts.second;
  }
  while (trees_.size() > max_trees_) {
    trees_.erase(order_.front());
    order_.pop_front();
  }
}

source_tally tree_sources::tally_of(const cid& tree) const {
  auto it = trees_.find(tree);
  return it == trees_.end() ? source_tally{} : it->second.tally;
}

source_tally tree_sources::read(const cid& tree) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return tally_of(tree);
}

void tree_sources::mark(const cid& tree) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (marks_.size() >= max_trees_ && marks_.count(tree) == 0)
    marks_.erase(marks_.begin());
  marks_[tree] = tally_of(tree);
}

source_tally tree_sources::take_mark(const cid& tree) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto m = marks_.find(tree);
  if (m != marks_.end()) {
    auto out = std::move(m->second);
    marks_.erase(m);
    return out;
  }
  return tally_of(tree);
}

size_t tree_sources::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return trees_.size();
}

void download_sources::begin(std::shared_ptr<tree_sources> log,
                             const cid& tree) {
  std::lock_guard<std::mutex> guard{mtx_};
  before_ = log ? log->take_mark(tree) : source_tally{};
  log_ = std::move(log);
  tree_ = tree;
}

void download_sources::end() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!at_end_)
    at_end_ = current();
}

source_tally download_sources::get() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return at_end_ ? *at_end_ : current();
}

source_tally download_sources::current() const {
  return log_ ? log_->read(tree_).since(before_) : source_tally{};
}

} // namespace cairn
