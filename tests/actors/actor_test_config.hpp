#pragma once

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/io/middleman.hpp>

#include "messages/type_ids.hpp"

namespace cairn::test {

/// An actor system with Cairn's message types and the middleman, two
/// scheduler threads and no console log: what the supervision and simulator
/// tests run their nodes in.
struct actor_test_config : caf::actor_system_config {
  actor_test_config() {
    register_types(*this);
    load<caf::io::middleman>();
    set("scheduler.max-threads", size_t{2});
    set("logger.console", caf::atom("none"));
  }
};

} // namespace cairn::test
