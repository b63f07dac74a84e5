#pragma once

#include <caf/expected.hpp>

#include "messages/sha256.hpp"
#include "messages/wire/messages.hpp"

namespace cairn::storage {

/// Checks a delivered block against its address: the bytes must hash to the
/// CID, or (for a leaf) hash to a leaf whose proof leads to the tree's root
/// at the leaf's index. Returns the block's SHA-256 digest. Errors:
/// `ec::verification_failed` with the reason. Thread-safe (pure).
caf::expected<digest256> check_delivery(const wire::delivery& d);

} // namespace cairn::storage
