#include "actors/network_store.hpp"

#include <spdlog/spdlog.h>

namespace cairn::actors {

network_store_actor::behavior_type
network_store(network_store_actor::stateful_pointer<network_store_state> self,
              local_store_actor local) {
  self->state.local = std::move(local);
  return {
    [self](get_atom, const cid& id) {
      return self->delegate(self->state.local, get_atom::value, id);
    },
    [self](get_atom, const block_address& addr) {
      return self->delegate(self->state.local, get_atom::value, addr);
    },
    [self](put_atom, std::vector<block>& blocks) {
      return self->delegate(self->state.local, put_atom::value,
                            std::move(blocks));
    },
    [self](commit_atom, block& manifest_block, std::vector<digest256>& leaves) {
      return self->delegate(self->state.local, commit_atom::value,
                            std::move(manifest_block), std::move(leaves));
    },
    [self](update_atom, local_store_actor local) {
      spdlog::debug("network_store: local_store is now {}", local.id());
      self->state.local = std::move(local);
    },
  };
}

} // namespace cairn::actors
