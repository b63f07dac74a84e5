#include "actors/sim_upload.hpp"

#include <spdlog/spdlog.h>

#include "messages/error.hpp"
#include "storage/merkle_tree.hpp"

namespace cairn::actors {

namespace {

using sim_upload_ptr = sim_upload_actor::stateful_pointer<sim_upload_state>;

// Blocks per put (one LMDB transaction), as the REST upload.
constexpr uint64_t batch_blocks = 64;
constexpr auto store_timeout = std::chrono::seconds{60};

void fail(sim_upload_ptr self, caf::error err) {
  self->state.promise.deliver(std::move(err));
  self->quit();
}

void commit(sim_upload_ptr self) {
  auto& st = self->state;
  auto tree = storage::merkle_tree::build(st.leaves);
  if (!tree)
    return fail(self, tree.error());
  manifest m;
  m.tree_cid = tree->root_cid();
  m.dataset_size = st.size;
  self
    ->request(st.store, store_timeout, commit_atom::value, m.to_block(),
              st.leaves)
    .then(
      [self](cid& id) {
        auto& st = self->state;
        sim_upload_result r;
        r.cid = id.to_string();
        r.sha256 = st.hash->finish_hex();
        r.bytes = st.size;
        r.seconds = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - st.started)
                      .count();
        st.promise.deliver(std::move(r));
        self->quit();
      },
      [self](caf::error& err) { fail(self, std::move(err)); });
}

// Generates and stores the next batch of blocks; commits after the last.
void put_next(sim_upload_ptr self) {
  auto& st = self->state;
  uint64_t total = (st.size + default_block_size - 1) / default_block_size;
  if (st.next >= total)
    return commit(self);
  std::vector<block> batch;
  for (; st.next < total && batch.size() < batch_blocks; ++st.next) {
    uint64_t offset = st.next * default_block_size;
    auto len = static_cast<size_t>(
      std::min<uint64_t>(default_block_size, st.size - offset));
    auto data = storage::synthetic_data(st.seed, offset, len);
    st.hash->update(data);
    // Codex pads the last block with zeros; the manifest keeps the size.
    data.resize(default_block_size, 0);
    batch.push_back(block::make(std::move(data)));
    st.leaves.push_back(batch.back().id.digest);
  }
  self->request(st.store, store_timeout, put_atom::value, std::move(batch))
    .then([self](uint64_t) { put_next(self); },
          [self](caf::error& err) { fail(self, std::move(err)); });
}

} // namespace

sim_upload_actor::behavior_type
sim_upload(sim_upload_actor::stateful_pointer<sim_upload_state> self,
           network_store_actor store, uint64_t size, uint64_t seed) {
  auto& st = self->state;
  st.store = std::move(store);
  st.size = size;
  st.seed = seed;
  return {
    [self](upload_atom) -> caf::result<sim_upload_result> {
      auto& st = self->state;
      st.promise = self->make_response_promise<sim_upload_result>();
      st.started = std::chrono::steady_clock::now();
      if (st.size == 0) {
        fail(self, make_error(ec::invalid_argument,
                              "an upload needs at least one byte"));
        return st.promise;
      }
      put_next(self);
      return st.promise;
    },
  };
}

} // namespace cairn::actors
