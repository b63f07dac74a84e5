#pragma once

#include <caf/actor_system_config.hpp>

namespace cairn {

/// Registers Cairn's message types and its error category (`cairn`) with a
/// CAF configuration. Call once per `actor_system_config`, before the system
/// is built.
void register_types(caf::actor_system_config& cfg);

} // namespace cairn
