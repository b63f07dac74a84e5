#include "actors/network_store.hpp"

#include <spdlog/spdlog.h>

#include "messages/error.hpp"

namespace cairn::actors {

namespace {

using self_ptr = network_store_actor::stateful_pointer<network_store_state>;

// Local store first; on a miss, the engine. Other local errors are final.
template <class Key>
caf::result<block> fetch(self_ptr self, const Key& key) {
  auto rp = self->make_response_promise<block>();
  self
    ->request<caf::message_priority::high>(
      self->state.local, std::chrono::seconds{30}, get_atom::value, key)
    .then([rp](block& b) mutable { rp.deliver(std::move(b)); },
          [self, rp, key](caf::error& err) mutable {
            if (is(err, ec::not_found) && self->state.engine)
              rp.delegate(self->state.engine, get_atom::value, key);
            else
              rp.deliver(std::move(err));
          });
  return rp;
}

// A leaf with its proof: from the local store, else fetched by the engine
// (which stores it with its proof and answers with both).
caf::result<block, merkle_proof> fetch_proof(self_ptr self,
                                             const block_address& addr) {
  auto rp = self->make_response_promise<block, merkle_proof>();
  self
    ->request<caf::message_priority::high>(
      self->state.local, std::chrono::seconds{30}, get_atom::value,
      leaf_atom::value, addr)
    .then(
      [rp](block& b, merkle_proof& p) mutable {
        rp.deliver(std::move(b), std::move(p));
      },
      [self, rp, addr](caf::error& err) mutable {
        if (is(err, ec::not_found) && self->state.engine)
          rp.delegate(self->state.engine, get_atom::value, proof_atom::value,
                      addr);
        else
          rp.deliver(std::move(err));
      });
  return rp;
}

} // namespace

network_store_actor::behavior_type
network_store(network_store_actor::stateful_pointer<network_store_state> self,
              local_store_actor local, engine_actor engine) {
  self->state.local = std::move(local);
  self->state.engine = std::move(engine);
  return instrumented<network_store_actor::behavior_type>(
    self, self->state.stats,
    [self](get_atom, const cid& id) -> caf::result<block> {
      return fetch(self, id);
    },
    [self](get_atom, const block_address& addr) -> caf::result<block> {
      return fetch(self, addr);
    },
    [self](put_atom, std::vector<block>& blocks) {
      return self->delegate(self->state.local, put_atom::value,
                            std::move(blocks));
    },
    [self](commit_atom, block& manifest_block, std::vector<digest256>& leaves) {
      return self->delegate(self->state.local, commit_atom::value,
                            std::move(manifest_block), std::move(leaves));
    },
    [self](get_atom, proof_atom, const block_address& addr)
      -> caf::result<block, merkle_proof> { return fetch_proof(self, addr); },
    [self](put_atom, leaf_atom, std::vector<leaf_block>& leaves) {
      return self->delegate(self->state.local, put_atom::value,
                            leaf_atom::value, std::move(leaves));
    },
    [self](release_atom, std::vector<cid>& ids) {
      return self->delegate(self->state.local, release_atom::value,
                            std::move(ids));
    },
    [self](update_atom, local_store_actor local) {
      spdlog::debug("network_store: local_store is now {}", local.id());
      self->state.local = std::move(local);
    },
    [self](update_atom, engine_actor engine) {
      self->state.engine = std::move(engine);
    });
}

} // namespace cairn::actors
