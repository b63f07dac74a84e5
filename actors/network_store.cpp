#include "actors/network_store.hpp"

#include <tuple>
#include <type_traits>

#include <spdlog/spdlog.h>

#include "messages/error.hpp"
#include "storage/lmdb_store.hpp"

namespace cairn::actors {

namespace {

using network_store_ptr =
  network_store_actor::stateful_pointer<network_store_state>;

// The local store answered `err`: a miss is asked of the engine (with the
// request arguments `engine`; it answers `rp`'s requester), any other
// error, or a miss with no engine, is final.
template <class... Rs, class... Engine>
void after_local_error(network_store_ptr self,
                       caf::typed_response_promise<Rs...> rp, caf::error err,
                       const std::tuple<Engine...>& engine) {
  if (!is(err, ec::not_found) || !self->state.engine) {
    rp.deliver(std::move(err));
    return;
  }
  std::apply([&](auto&... xs) { rp.delegate(self->state.engine, xs...); },
             engine);
}

// Local store first; on a miss, the engine (`after_local_error`).
// `local` and `engine` are the arguments of the request to each; both answer
// with `Rs`.
template <class... Rs, class... Local, class... Engine>
caf::result<Rs...> local_first(network_store_ptr self,
                               std::tuple<Local...> local,
                               std::tuple<Engine...> engine) {
  auto rp = self->make_response_promise<Rs...>();
  auto on_miss = [self, rp, engine](caf::error& err) {
    after_local_error(self, rp, std::move(err), engine);
  };
  // Swept, not timed by CAF: one of these per block of every download.
  std::apply(
    [&](auto&... xs) {
      swept_request<caf::message_priority::high, Rs...>(
        self, self->state.local, std::chrono::seconds{30},
        [rp](Rs&... rs) mutable { rp.deliver(std::move(rs)...); },
        std::move(on_miss), xs...);
    },
    local);
  return rp;
}

// What the store read on this thread, as the answer of a request.
caf::result<block> answer(block& b) {
  return std::move(b);
}
caf::result<block, merkle_proof> answer(std::pair<block, merkle_proof>& x) {
  return {std::move(x.first), std::move(x.second)};
}

// `read(store)` here if the store is published, else the local store asked
// with `local`; on a miss, the engine (`after_local_error`).
template <class... Rs, class Read, class... Local, class... Engine>
caf::result<Rs...> read_first(network_store_ptr self, Read read,
                              std::tuple<Local...> local,
                              std::tuple<Engine...> engine) {
  if (auto& readers = self->state.readers)
    if (auto here = readers->read(read)) {
      if (*here)
        return answer(**here);
      auto rp = self->make_response_promise<Rs...>();
      after_local_error(self, rp, std::move(here->error()), engine);
      return rp;
    }
  return local_first<Rs...>(self, std::move(local), std::move(engine));
}

// A block by CID or leaf address.
template <class Key>
caf::result<block> fetch(network_store_ptr self, const Key& key) {
  return read_first<block>(
    self,
    [&](storage::lmdb_store& store) {
      if constexpr (std::is_same_v<Key, cid>)
        return store.get_block(key);
      else
        return store.get_leaf_block(key);
    },
    std::make_tuple(get_atom::value, key),
    std::make_tuple(get_atom::value, key));
}

// A leaf with its proof (the engine answers a fetched leaf with the proof
// it verified, and stores both if `keep`).
caf::result<block, merkle_proof>
fetch_proof(network_store_ptr self, const block_address& addr, bool keep) {
  return read_first<block, merkle_proof>(
    self,
    [&](storage::lmdb_store& store) { return store.get_leaf_proof(addr); },
    std::make_tuple(get_atom::value, leaf_atom::value, addr),
    std::make_tuple(get_atom::value, proof_atom::value, addr, keep));
}

} // namespace

network_store_actor::behavior_type
network_store(network_store_actor::stateful_pointer<network_store_state> self,
              local_store_actor local, engine_actor engine,
              std::shared_ptr<storage::store_readers> readers) {
  self->state.local = std::move(local);
  self->state.engine = std::move(engine);
  self->state.readers = std::move(readers);
  return instrumented<network_store_actor::behavior_type>(
    self, self->state.stats,
    [self](get_atom, const cid& id) -> caf::result<block> {
      return fetch(self, id);
    },
    [self](get_atom, const block_address& addr) -> caf::result<block> {
      return fetch(self, addr);
    },
    [self](get_atom, manifest_atom, const cid& id,
           uint32_t leaves) -> caf::result<block> {
      return local_first<block>(
        self, std::make_tuple(get_atom::value, id),
        std::make_tuple(get_atom::value, manifest_atom::value, id, leaves));
    },
    [self](put_atom, std::vector<block>& blocks) {
      return self->delegate(self->state.local, put_atom::value,
                            std::move(blocks));
    },
    [self](commit_atom, block& manifest_block, std::vector<digest256>& leaves) {
      return self->delegate(self->state.local, commit_atom::value,
                            std::move(manifest_block), std::move(leaves));
    },
    [self](get_atom, proof_atom, const block_address& addr,
           bool keep) -> caf::result<block, merkle_proof> {
      return fetch_proof(self, addr, keep);
    },
    [self](get_atom, local_atom, const cid& id) {
      return self->delegate(self->state.local, get_atom::value, id);
    },
    [self](get_atom, local_atom, const block_address& addr) {
      return self->delegate(self->state.local, get_atom::value, addr);
    },
    [self](get_atom, local_atom, proof_atom, const block_address& addr, bool) {
      return self->delegate(self->state.local, get_atom::value,
                            leaf_atom::value, addr);
    },
    [self](put_atom, leaf_atom, std::vector<leaf_block>& leaves) {
      return self->delegate(self->state.local, put_atom::value,
                            leaf_atom::value, std::move(leaves));
    },
    [self](put_atom, link_atom, std::vector<leaf_link>& links) {
      return self->delegate(self->state.local, put_atom::value,
                            link_atom::value, std::move(links));
    },
    [self](release_atom, std::vector<cid>& ids) {
      return self->delegate(self->state.local, release_atom::value,
                            std::move(ids));
    },
    [self](release_atom, manifest_atom, const cid& id) {
      return self->delegate(self->state.local, release_atom::value,
                            manifest_atom::value, id);
    },
    [self](update_atom, local_store_actor local) {
      spdlog::debug("network_store: local_store is now {}", local.id());
      self->state.local = std::move(local);
    },
    [self](update_atom, engine_actor engine) {
      self->state.engine = std::move(engine);
    },
    [self](sweep_atom, int64_t t) { sweep_deadlines(self, t); });
}

} // namespace cairn::actors
