#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace cairn {

/// Byte strings that passed a check whose result depends on nothing but
/// those bytes (an Ed25519 signature over a payload, with the key inside the
/// payload), so that the same bytes arriving again are not checked again.
/// Holds at most `capacity` entries; beyond, the oldest is forgotten (and
/// checked again when it comes back). Only bytes that passed go in: a
/// failed check is never remembered, so a forged copy of a remembered
/// string differs in some byte and is checked.
///
/// Thread-safe: every node of a process shares one (a DHT packet carries up
/// to 33 records, most of them the same few hundred every time).
class verified_set {
public:
  /// An empty set holding at most `capacity` (at least 1) strings.
  explicit verified_set(size_t capacity);

  /// Whether `key` was inserted and not forgotten since.
  bool contains(std::string_view key) const;

  /// Remembers `key`, forgetting the oldest entry if the set is full.
  void insert(std::string key);

  /// Entries held.
  size_t size() const;

private:
  size_t capacity_;
  mutable std::mutex mtx_;
  std::unordered_set<std::string> keys_;
  std::deque<std::string> order_;
};

} // namespace cairn
