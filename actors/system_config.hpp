#pragma once

#include <cstdint>

#include <caf/actor_system_config.hpp>

namespace cairn::actors {

/// The actor system settings of every program that hosts nodes (cairn-node,
/// cairn-sim's agents): Cairn's message types, the middleman, `threads`
/// scheduler threads (0 = one per core, at least 2), no CAF console log,
/// and idle workers that sleep instead of polling.
void configure_actor_system(caf::actor_system_config& cfg, uint32_t threads);

} // namespace cairn::actors
