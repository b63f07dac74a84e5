#include "actors/local_store.hpp"

#include <chrono>

#include <spdlog/spdlog.h>

#include "messages/error.hpp"
#include "storage/store_verify.hpp"

namespace cairn::actors {

uint64_t unix_now() {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count());
}

namespace {

// Turns `expected<T>` into a handler result (value or error).
template <class T>
caf::result<T> reply(caf::expected<T>&& x) {
  if (x)
    return std::move(*x);
  return std::move(x.error());
}

caf::result<ok_atom> reply(caf::error&& err) {
  if (err)
    return std::move(err);
  return ok_atom::value;
}

// Starts a store check on a thread of its own; its result comes back as
// (verify_atom, store_check).
void start_check(local_store_actor::stateful_pointer<local_store_state> self) {
  auto& st = self->state;
  if (st.checker.joinable())
    st.checker.join(); // the last check, finished: it has answered
  st.checker = std::thread{[store = st.store.get(), stop = st.stop_check,
                            me = caf::actor_cast<local_store_actor>(self),
                            since = st.busy_since] {
    auto t0 = std::chrono::steady_clock::now();
    auto r = storage::verify_store(*store, {true, since, stop.get()});
    store_check out;
    out.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
        .count();
    if (!r) {
      out.error = describe(r.error());
    } else {
      for (auto& p : r->problems)
        out.problems.push_back(std::string{to_string(p.kind)} + ": " + p.text);
      out.blocks = r->blocks;
      out.bytes = r->bytes;
      out.datasets = r->datasets;
      out.leaves = r->leaves;
    }
    caf::anon_send(me, verify_atom::value, std::move(out));
  }};
}

// Drops the partial dataset of a failed download. One the store has no
// room to delete yet is tried again at the next maintenance pass.
caf::expected<bool> drop_partial(local_store_state& st, const cid& id) {
  auto res = st.store->remove_partial(id);
  if (!res) {
    spdlog::warn("local_store: dropping the partial dataset {} of a failed "
                 "download failed: {}",
                 id.to_string(), describe(res.error()));
    if (is(res.error(), ec::disk_full))
      st.drops_due.insert(id);
  } else if (*res) {
    spdlog::info(
      "local_store: dropped the partial dataset {} of a failed download",
      id.to_string());
  }
  return res;
}

} // namespace

local_store_actor::behavior_type
local_store(local_store_actor::stateful_pointer<local_store_state> self,
            storage::lmdb_options opts,
            std::shared_ptr<std::unique_ptr<storage::lmdb_store>> preopened,
            std::shared_ptr<storage::store_readers> readers,
            uint64_t busy_since) {
  self->state.busy_since = busy_since;
  if (preopened && *preopened) {
    self->state.store = std::move(*preopened);
  } else {
    auto st = storage::lmdb_store::open(opts);
    if (!st) {
      spdlog::error("local_store: cannot open {}: {}", opts.path,
                    describe(st.error()));
      self->quit(st.error());
      return local_store_actor::behavior_type::make_empty_behavior();
    }
    self->state.store = std::move(*st);
    spdlog::info("local_store: opened {}", opts.path);
  }
  if (readers) {
    readers->publish(self->state.store.get());
    self->state.readers = std::move(readers);
  }
  return instrumented<local_store_actor::behavior_type>(
    self, self->state.stats,
    [self](get_atom, const cid& id) -> caf::result<block> {
      ++self->state.reads;
      return reply(self->state.store->get_block(id));
    },
    [self](get_atom, const block_address& addr) -> caf::result<block> {
      ++self->state.reads;
      return reply(self->state.store->get_leaf_block(addr));
    },
    [self](put_atom,
           const std::vector<block>& blocks) -> caf::result<uint64_t> {
      ++self->state.writes;
      return reply(self->state.store->put_blocks(blocks, unix_now()));
    },
    [self](commit_atom, const block& manifest_block,
           const std::vector<digest256>& leaves) -> caf::result<cid> {
      ++self->state.writes;
      auto res =
        self->state.store->commit_upload(manifest_block, leaves, unix_now());
      if (res)
        spdlog::info("local_store: stored dataset {} ({} blocks)",
                     res->to_string(), leaves.size());
      return reply(std::move(res));
    },
    [self](release_atom, const std::vector<cid>& ids) -> caf::result<ok_atom> {
      ++self->state.writes;
      return reply(self->state.store->release_blocks(ids));
    },
    [self](has_atom, const cid& id) -> bool {
      ++self->state.reads;
      return self->state.store->has_block(id);
    },
    [self](delete_atom, const cid& id) -> caf::result<ok_atom> {
      ++self->state.writes;
      return reply(self->state.store->remove(id));
    },
    [self](list_atom) -> caf::result<std::vector<dataset_entry>> {
      ++self->state.reads;
      std::vector<cid> whole;
      auto list = self->state.store->list_datasets(&whole);
      // Once whole, a fetched dataset is not counted at every listing.
      if (list && !whole.empty())
        if (auto err = self->state.store->mark_whole(whole))
          spdlog::warn("local_store: marking {} downloads whole failed: {}",
                       whole.size(), describe(err));
      return reply(std::move(list));
    },
    [self](release_atom, manifest_atom, const cid& id) -> caf::result<bool> {
      ++self->state.writes;
      return reply(drop_partial(self->state, id));
    },
    [self](space_atom) -> space_info {
      ++self->state.reads;
      return self->state.store->space();
    },
    [self](expire_atom, uint64_t now, uint32_t max) -> caf::result<uint64_t> {
      ++self->state.writes;
      auto due = std::move(self->state.drops_due);
      self->state.drops_due.clear();
      for (auto& id : due)
        (void)drop_partial(self->state, id);
      return reply(self->state.store->expire(now, max));
    },
    [self](get_atom, leaf_atom,
           const block_address& addr) -> caf::result<block, merkle_proof> {
      ++self->state.reads;
      auto res = self->state.store->get_leaf_proof(addr);
      if (!res)
        return std::move(res.error());
      return {std::move(res->first), std::move(res->second)};
    },
    [self](get_atom, leaf_atom, const std::vector<block_address>& addrs)
      -> caf::result<std::vector<leaf_block>> {
      self->state.reads += addrs.size();
      return reply(self->state.store->get_leaf_proofs(addrs));
    },
    [self](has_atom, const block_address& addr) -> bool {
      ++self->state.reads;
      return self->state.store->has_leaf(addr);
    },
    [self](has_atom, const std::vector<block_address>& addrs)
      -> std::vector<block_address> {
      self->state.reads += addrs.size();
      return self->state.store->has_leaves(addrs);
    },
    [self](list_atom, leaf_atom, const cid& tree) -> caf::result<uint64_t> {
      ++self->state.reads;
      return reply(self->state.store->count_leaves(tree));
    },
    [self](put_atom, leaf_atom,
           const std::vector<leaf_block>& leaves) -> caf::result<ok_atom> {
      ++self->state.writes;
      return reply(self->state.store->put_leaves(leaves, unix_now()));
    },
    [self](put_atom, link_atom,
           const std::vector<leaf_link>& links) -> caf::result<uint64_t> {
      ++self->state.writes;
      return reply(self->state.store->link_leaves(links, unix_now()));
    },
    [self](put_atom, manifest_atom, const block& b) -> caf::result<cid> {
      ++self->state.writes;
      return reply(self->state.store->put_manifest(b, unix_now()));
    },
    [self](delete_atom, const block_address& addr) -> caf::result<ok_atom> {
      ++self->state.writes;
      return reply(self->state.store->remove_leaf(addr));
    },
    [self](verify_atom) -> caf::result<store_check> {
      auto& st = self->state;
      auto rp = self->make_response_promise<store_check>();
      st.check_waiters.push_back(rp);
      if (st.check_waiters.size() == 1) {
        spdlog::info("local_store: checking the store");
        start_check(self);
      }
      return rp;
    },
    [self](verify_atom, store_check& result) {
      auto& st = self->state;
      if (result.error.empty())
        spdlog::info("local_store: store check found {} problems in {:.1f} s",
                     result.problems.size(), result.seconds);
      else
        spdlog::warn("local_store: store check failed: {}", result.error);
      for (auto& rp : st.check_waiters) {
        if (result.error.empty())
          rp.deliver(result);
        else
          rp.deliver(make_error(ec::storage_io, "store check", result.error));
      }
      st.check_waiters.clear();
    });
}

} // namespace cairn::actors
