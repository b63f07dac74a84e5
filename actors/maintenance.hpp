#pragma once

#include <chrono>
#include <cstdint>

#include <caf/typed_event_based_actor.hpp>

#include "actors/instrumented.hpp"
#include "messages/interfaces.hpp"

namespace cairn::actors {

/// State of the `maintenance` actor.
struct maintenance_state {
  static inline constexpr const char* name = "maintenance";
  /// Handler counters, published for the inspector.
  std::shared_ptr<actor_stats> stats = std::make_shared<actor_stats>();
  local_store_actor store;
  /// Time between passes, and blocks deleted per pass at most.
  std::chrono::seconds interval{600};
  uint32_t batch = 1000;
  /// True while a pass waits for the store.
  bool busy = false;
  /// Blocks deleted since start.
  uint64_t deleted = 0;
};

/// Every `interval`, asks the local store to delete up to `batch` expired
/// blocks; runs again at once while passes come back full.
maintenance_actor::behavior_type
maintenance(maintenance_actor::stateful_pointer<maintenance_state> self,
            local_store_actor store, std::chrono::seconds interval,
            uint32_t batch);

} // namespace cairn::actors
