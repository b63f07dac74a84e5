#pragma once

#include <string>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>

#include "messages/error.hpp"
#include "messages/interfaces.hpp"
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

/// The named gauge of `actor` (-1 if it has none), asked by `self` within
/// `within`.
template <class Handle>
double gauge_of(caf::scoped_actor& self, const Handle& actor,
                const std::string& name, caf::timespan within) {
  double out = -1;
  self->request(actor, within, status_atom::value)
    .receive(
      [&](const actor_status& s) {
        for (auto& [k, v] : s.gauges)
          if (k == name)
            out = v;
      },
      [&](caf::error& err) { ADD_FAILURE() << describe(err); });
  return out;
}

} // namespace cairn::test
