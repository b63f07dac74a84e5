#pragma once

#include <memory>

#include <caf/typed_event_based_actor.hpp>

#include "actors/instrumented.hpp"
#include "messages/interfaces.hpp"
#include "storage/lmdb_store.hpp"

namespace cairn::actors {

/// State of the `local_store` actor: the node's LMDB repository.
struct local_store_state {
  static inline constexpr const char* name = "local_store";
  /// Handler counters, published for the inspector.
  std::shared_ptr<actor_stats> stats = std::make_shared<actor_stats>();
  std::unique_ptr<storage::lmdb_store> store;
};

/// Serves `local_store_actor` from `store`, or from a store it opens with
/// `opts` when `store` is null (after a restart). Must be spawned
/// `detached`: LMDB write transactions are bound to one thread. Quits with
/// the open error if the store cannot be opened.
local_store_actor::behavior_type
local_store(local_store_actor::stateful_pointer<local_store_state> self,
            storage::lmdb_options opts,
            std::shared_ptr<std::unique_ptr<storage::lmdb_store>> preopened);

/// Seconds since the Unix epoch (the store's clock).
uint64_t unix_now();

} // namespace cairn::actors
