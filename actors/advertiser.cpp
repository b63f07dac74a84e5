#include "actors/advertiser.hpp"

#include <set>

#include <spdlog/spdlog.h>

#include "messages/error.hpp"

namespace cairn::actors {

namespace {

using advertiser_ptr = advertiser_actor::stateful_pointer<advertiser_state>;

// Provides at most this many CIDs per pass, so a large store announces
// itself gradually.
constexpr size_t provides_per_pass = 32;

void provide(advertiser_ptr self, const cid& id) {
  self->state.provided[id] = std::chrono::steady_clock::now();
  self
    ->request(self->state.discovery, std::chrono::seconds{60},
              provide_atom::value, id)
    .then(
      [id](ok_atom) {
        spdlog::debug("advertiser: provided {}", id.to_string());
      },
      [self, id](caf::error& err) {
        // Try again at the next pass.
        self->state.provided.erase(id);
        spdlog::debug("advertiser: providing {} failed: {}", id.to_string(),
                      describe(err));
      });
}

// Provides the dataset's CIDs that are due if the store holds all of its
// leaves: a provider record promises the whole dataset, and a download in
// progress that announced itself would crowd the seeders out of the
// records (20 per key) while answering DONT_HAVE to the peers it draws.
void provide_if_complete(advertiser_ptr self, const dataset_entry& d,
                         std::vector<cid> due) {
  auto tree = d.meta.tree_cid;
  self->state.counted[tree] = std::chrono::steady_clock::now();
  self
    ->request(self->state.local, std::chrono::seconds{30}, list_atom::value,
              leaf_atom::value, tree)
    .then(
      [self, tree, due = std::move(due),
       want = d.meta.blocks_count()](uint64_t have) {
        if (have < want)
          return; // counted again after `interval`
        self->state.counted.erase(tree);
        for (auto& id : due)
          provide(self, id);
      },
      [self, tree](caf::error& err) {
        self->state.counted.erase(tree);
        spdlog::debug("advertiser: counting the leaves of {} failed: {}",
                      tree.to_string(), describe(err));
      });
}

// Forgets the CIDs of datasets no longer stored (deleted or expired).
void forget_gone(advertiser_state& st,
                 const std::vector<dataset_entry>& datasets) {
  std::set<cid> stored;
  for (auto& d : datasets) {
    stored.insert(d.manifest_cid);
    stored.insert(d.meta.tree_cid);
  }
  for (auto* m : {&st.provided, &st.counted})
    for (auto i = m->begin(); i != m->end();)
      i = stored.count(i->first) > 0 ? std::next(i) : m->erase(i);
}

// Lists the local datasets and provides those not provided recently.
void pass(advertiser_ptr self) {
  auto& st = self->state;
  st.busy = true;
  st.last_pass = std::chrono::steady_clock::now();
  self->request(st.local, std::chrono::seconds{30}, list_atom::value)
    .then(
      [self](std::vector<dataset_entry>& datasets) {
        auto& st = self->state;
        st.busy = false;
        forget_gone(st, datasets);
        auto now = std::chrono::steady_clock::now();
        size_t sent = 0;
        for (auto& d : datasets) {
          std::vector<cid> due;
          for (auto& id : {d.manifest_cid, d.meta.tree_cid}) {
            auto i = st.provided.find(id);
            if (i == st.provided.end() || now - i->second >= st.reprovide)
              due.push_back(id);
          }
          if (due.empty())
            continue;
          // An incomplete dataset (or one being counted) waits: counting a
          // big download's leaves at every check would be wasted work.
          auto c = st.counted.find(d.meta.tree_cid);
          if (c != st.counted.end() && now - c->second < st.interval)
            continue;
          sent += due.size();
          if (sent > provides_per_pass) {
            // The rest at the next check, not a whole interval later.
            st.seen_blocks = 0;
            st.seen_bytes = 0;
            return;
          }
          provide_if_complete(self, d, std::move(due));
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
