#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>

namespace cairn::storage {

/// A set of indices (leaves of a tree) kept as disjoint runs [first, end),
/// for sets that grow in long runs: a download's lost leaves. Lookups cost
/// one search among the runs, whatever their length.
///
/// Not thread-safe: owned by one actor (a `store_stream`).
class index_runs {
public:
  /// Adds `index`, merging it with the runs it touches.
  void insert(uint64_t index);

  /// Whether `index` is in the set.
  bool contains(uint64_t index) const {
    return first_outside(index, index + 1) != index;
  }

  /// The first index in [first, end) that is not in the set, or `end`.
  uint64_t first_outside(uint64_t first, uint64_t end) const;

  /// Calls `f(index)` for each index of the set in [first, end), in order,
  /// until it returns false.
  template <class F>
  void visit(uint64_t first, uint64_t end, F&& f) const {
    auto r = runs_.upper_bound(first);
    if (r != runs_.begin() && std::prev(r)->second > first)
      r = std::prev(r);
    for (; r != runs_.end() && r->first < end; ++r)
      for (auto j = std::max(r->first, first); j < std::min(r->second, end);
           ++j)
        if (!f(j))
          return;
  }

  /// Number of runs (not of indices).
  size_t runs() const { return runs_.size(); }

private:
  // first -> end of each run.
  std::map<uint64_t, uint64_t> runs_;
};

} // namespace cairn::storage
