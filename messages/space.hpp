#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace cairn {

/// Storage accounting of a node, as `GET /space` reports it.
struct space_info {
  /// Blocks currently stored (data, parity and manifests).
  uint64_t total_blocks = 0;
  /// The storage quota (`--storage-quota`).
  uint64_t quota_max_bytes = 0;
  /// Bytes of stored blocks counted against the quota.
  uint64_t quota_used_bytes = 0;
  /// Codex: bytes set aside for storage requests the node will host (its
  /// marketplace availabilities), not yet in use. Cairn has no marketplace
  /// (its sales endpoints answer 503), so it is always 0; uploads and
  /// downloads are counted in `quota_used_bytes` as their blocks arrive.
  uint64_t quota_reserved_bytes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, space_info& x) {
  return f(caf::meta::type_name("space_info"), x.total_blocks,
           x.quota_max_bytes, x.quota_used_bytes, x.quota_reserved_bytes);
}

/// The outcome of checking a running node's store (`POST
/// /api/cairn/v1/store/verify`).
struct store_check {
  /// One line per problem, `kind: text` (empty: the store is clean).
  std::vector<std::string> problems;
  /// Blocks stored, their bytes, indexed datasets and leaf entries.
  uint64_t blocks = 0;
  uint64_t bytes = 0;
  uint64_t datasets = 0;
  uint64_t leaves = 0;
  /// Time the check took.
  double seconds = 0;
  /// Why the check could not run to its end (empty if it did).
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_check& x) {
  return f(caf::meta::type_name("store_check"), x.problems, x.blocks, x.bytes,
           x.datasets, x.leaves, x.seconds, x.error);
}

} // namespace cairn
