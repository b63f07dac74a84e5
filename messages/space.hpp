#pragma once

#include <cstdint>

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
  /// Bytes promised to uploads in progress, not yet stored.
  uint64_t quota_reserved_bytes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, space_info& x) {
  return f(caf::meta::type_name("space_info"), x.total_blocks,
           x.quota_max_bytes, x.quota_used_bytes, x.quota_reserved_bytes);
}

} // namespace cairn
