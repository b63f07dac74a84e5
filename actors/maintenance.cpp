#include "actors/maintenance.hpp"

#include <spdlog/spdlog.h>

#include "actors/local_store.hpp"
#include "messages/error.hpp"

namespace cairn::actors {

maintenance_actor::behavior_type
maintenance(maintenance_actor::stateful_pointer<maintenance_state> self,
            local_store_actor store, std::chrono::seconds interval,
            uint32_t batch) {
  auto& st = self->state;
  st.store = std::move(store);
  st.interval = interval;
  st.batch = batch;
  self->delayed_send(self, interval, tick_atom::value);
  return instrumented<maintenance_actor::behavior_type>(
    self, self->state.stats,
    [self](tick_atom) {
      auto& st = self->state;
      if (st.busy)
        return;
      st.busy = true;
      self
        ->request(st.store, std::chrono::seconds{60}, expire_atom::value,
                  unix_now(), st.batch)
        .then(
          [self](uint64_t n) {
            auto& st = self->state;
            st.busy = false;
            st.deleted += n;
            if (n > 0)
              spdlog::info("maintenance: deleted {} expired blocks", n);
            if (n >= st.batch)
              self->send(self, tick_atom::value);
            else
              self->delayed_send(self, st.interval, tick_atom::value);
          },
          [self](caf::error& err) {
            auto& st = self->state;
            st.busy = false;
            spdlog::warn("maintenance: expiry pass failed: {}", describe(err));
            self->delayed_send(self, st.interval, tick_atom::value);
          });
    },
    [self](update_atom, local_store_actor store) {
      self->state.store = std::move(store);
    });
}

} // namespace cairn::actors
