#pragma once

#include <chrono>

#include <caf/typed_event_based_actor.hpp>

#include "messages/interfaces.hpp"

namespace cairn::actors {

/// State of the `network_store` actor.
struct network_store_state {
  static inline constexpr const char* name = "network_store";
  /// The current local store; replaced by the supervisor after a restart.
  local_store_actor local;
};

/// Serves blocks from the local store; forwards puts and commits to it.
/// (The block-exchange engine joins here for blocks the store lacks.)
/// Requests are delegated: the local store answers the caller directly, and
/// a dead local store bounces them to the caller as errors.
network_store_actor::behavior_type
network_store(network_store_actor::stateful_pointer<network_store_state> self,
              local_store_actor local);

} // namespace cairn::actors
