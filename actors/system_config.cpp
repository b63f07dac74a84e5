#include "actors/system_config.hpp"

#include <algorithm>
#include <thread>

#include <caf/io/middleman.hpp>

#include "messages/type_ids.hpp"

namespace cairn::actors {

void configure_actor_system(caf::actor_system_config& cfg, uint32_t threads) {
  register_types(cfg);
  cfg.load<caf::io::middleman>();
  if (threads == 0)
    threads = std::max(2u, std::thread::hardware_concurrency());
  cfg.set("scheduler.max-threads", static_cast<size_t>(threads));
  cfg.set("logger.console", caf::atom("none"));
  // An idle worker spins briefly, then sleeps on its condition variable
  // (woken by the next enqueue). CAF's default middle phase of 500 polls
  // with 50 us sleeps costs a context switch per poll: on a small machine
  // that is CPU the I/O thread, the store and the HTTP threads need.
  cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
}

} // namespace cairn::actors
