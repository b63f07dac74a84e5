#include "actors/advertiser.hpp"

#include <spdlog/spdlog.h>

#include "messages/error.hpp"

namespace cairn::actors {

namespace {

using self_ptr = advertiser_actor::stateful_pointer<advertiser_state>;

// Provides at most this many CIDs per pass, so a large store announces
// itself gradually.
constexpr size_t provides_per_pass = 32;

// Lists the local datasets and provides those not provided recently.
void pass(self_ptr self) {
  auto& st = self->state;
  st.busy = true;
  st.last_pass = std::chrono::steady_clock::now();
  self->request(st.local, std::chrono::seconds{30}, list_atom::value)
    .then(
      [self](std::vector<dataset_entry>& datasets) {
        auto& st = self->state;
        st.busy = false;
        auto now = std::chrono::steady_clock::now();
        size_t sent = 0;
        for (auto& d : datasets) {
          for (auto& id : {d.manifest_cid, d.meta.tree_cid}) {
            auto i = st.provided.find(id);
            if (i != st.provided.end() && now - i->second < st.reprovide)
              continue;
            if (sent++ >= provides_per_pass) {
              // The rest at the next check, not a whole interval later.
              st.seen_blocks = 0;
              st.seen_bytes = 0;
              return;
            }
            st.provided[id] = now;
            self
              ->request(st.discovery, std::chrono::seconds{60},
                        provide_atom::value, id)
              .then(
                [id](ok_atom) {
                  spdlog::debug("advertiser: provided {}", id.to_string());
                },
                [self, id](caf::error& err) {
                  // Try again at the next pass.
                  self->state.provided.erase(id);
                  spdlog::debug("advertiser: providing {} failed: {}",
                                id.to_string(), describe(err));
                });
          }
        }
      },
      [self](caf::error& err) {
        self->state.busy = false;
        spdlog::debug("advertiser: listing datasets failed: {}", describe(err));
      });
}

} // namespace

advertiser_actor::behavior_type
advertiser(advertiser_actor::stateful_pointer<advertiser_state> self,
           local_store_actor local, discovery_actor discovery) {
  self->state.local = std::move(local);
  self->state.discovery = std::move(discovery);
  self->send(self, tick_atom::value);
  return instrumented<advertiser_actor::behavior_type>(
    self, self->state.stats,
    [self](tick_atom) {
      auto& st = self->state;
      self->delayed_send(self, st.check, tick_atom::value);
      if (st.busy || !st.discovery)
        return;
      if (std::chrono::steady_clock::now() - st.last_pass >= st.interval) {
        pass(self);
        return;
      }
      // Between passes, only the store's counters: a committed dataset
      // changes them.
      st.busy = true;
      self->request(st.local, std::chrono::seconds{5}, space_atom::value)
        .then(
          [self](const space_info& s) {
            auto& st = self->state;
            st.busy = false;
            if (s.total_blocks == st.seen_blocks &&
                s.quota_used_bytes == st.seen_bytes)
              return;
            st.seen_blocks = s.total_blocks;
            st.seen_bytes = s.quota_used_bytes;
            pass(self);
          },
          [self](caf::error&) { self->state.busy = false; });
    },
    [self](update_atom, local_store_actor local) {
      self->state.local = std::move(local);
    },
    [self](update_atom, discovery_actor d) {
      self->state.discovery = std::move(d);
    });
}

} // namespace cairn::actors
