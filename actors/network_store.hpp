#pragma once

#include <chrono>

#include <caf/typed_event_based_actor.hpp>

#include "actors/deadlines.hpp"
#include "actors/instrumented.hpp"
#include "messages/interfaces.hpp"
#include "storage/store_readers.hpp"

namespace cairn::actors {

/// State of the `network_store` actor.
struct network_store_state {
  static inline constexpr const char* name = "network_store";
  /// Handler counters, published for the inspector.
  std::shared_ptr<actor_stats> stats = std::make_shared<actor_stats>();
  /// The current local store and engine; replaced by the supervisor after
  /// a restart. Without an engine, a local miss is final.
  local_store_actor local;
  engine_actor engine;
  /// Timeouts of the lookups in the local store (see deadlines.hpp).
  deadline_book deadlines;
  /// The local store's reads on this actor's thread, while it publishes
  /// one (null or unpublished: asked of the local store).
  std::shared_ptr<storage::store_readers> readers;
};

/// Serves blocks from the local store, and asks the engine for blocks the
/// store lacks (the engine verifies and stores them before answering).
/// A block by CID or leaf address, and a leaf with its proof, is read on
/// this actor's own thread through `readers` while the store publishes
/// itself there, so that a download's requests do not each wait for the
/// store's thread (busy with the writes of the blocks that arrive) to say
/// it lacks them.
/// Puts and commits are delegated to the local store: it answers the caller
/// directly, and a dead local store bounces them to the caller as errors.
network_store_actor::behavior_type
network_store(network_store_actor::stateful_pointer<network_store_state> self,
              local_store_actor local, engine_actor engine,
              std::shared_ptr<storage::store_readers> readers = nullptr);

} // namespace cairn::actors
