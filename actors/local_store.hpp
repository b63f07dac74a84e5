#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include <caf/typed_event_based_actor.hpp>

#include "actors/instrumented.hpp"
#include "messages/interfaces.hpp"
#include "storage/lmdb_store.hpp"
#include "storage/store_readers.hpp"

namespace cairn::actors {

/// State of the `local_store` actor: the node's LMDB repository.
struct local_store_state {
  static inline constexpr const char* name = "local_store";
  /// Handler counters, published for the inspector.
  std::shared_ptr<actor_stats> stats = std::make_shared<actor_stats>();
  std::unique_ptr<storage::lmdb_store> store;
  /// Other threads' way to read `store` without asking this actor.
  std::shared_ptr<storage::store_readers> readers;
  /// Read and write requests served (a write is one LMDB transaction).
  uint64_t reads = 0;
  uint64_t writes = 0;
  std::chrono::steady_clock::time_point started =
    std::chrono::steady_clock::now();
  /// The store check running on a thread of its own (reads only), the
  /// flag that stops it, and the requests waiting for its result.
  std::thread checker;
  /// When the node started (see `local_store`).
  uint64_t busy_since = 0;
  std::shared_ptr<std::atomic<bool>> stop_check =
    std::make_shared<std::atomic<bool>>(false);
  std::vector<caf::typed_response_promise<store_check>> check_waiters;
  /// Partial datasets of failed downloads whose drop failed (a full disk
  /// leaves LMDB no page to write the delete to); tried again at each
  /// maintenance pass.
  std::set<cid> drops_due;

  local_store_state() = default;
  local_store_state(const local_store_state&) = delete;
  local_store_state& operator=(const local_store_state&) = delete;
  /// Withdraws the store from other readers and stops and joins the check
  /// before `store` closes under them.
  ~local_store_state() {
    if (readers)
      readers->withdraw();
    stop_check->store(true);
    if (checker.joinable())
      checker.join();
  }

  void gauges(std::vector<std::pair<std::string, double>>& out) const {
    if (!store)
      return;
    auto sp = store->space();
    out.emplace_back("blocks", static_cast<double>(sp.total_blocks));
    out.emplace_back("bytes", static_cast<double>(sp.quota_used_bytes));
    out.emplace_back("quota_bytes", static_cast<double>(sp.quota_max_bytes));
    out.emplace_back("map_bytes", static_cast<double>(store->map_size()));
    out.emplace_back("reads", static_cast<double>(reads));
    out.emplace_back("writes", static_cast<double>(writes));
    auto secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
        .count();
    out.emplace_back("txn_per_second", secs > 0 ? writes / secs : 0.0);
  }
};

/// Serves `local_store_actor` from `store`, or from a store it opens with
/// `opts` when `store` is null (after a restart), and publishes it to
/// `readers` (if given) while it is open. `busy_since` is when its node
/// started (Unix time): a store check counts references taken since as
/// possibly held by the node's running uploads and downloads (a
/// `local_store` its supervisor restarted leaves them running), older
/// unowned ones as leaks. Must be spawned `detached`: LMDB write
/// transactions are bound to one thread. Quits with the open error if the
/// store cannot be opened.
local_store_actor::behavior_type
local_store(local_store_actor::stateful_pointer<local_store_state> self,
            storage::lmdb_options opts,
            std::shared_ptr<std::unique_ptr<storage::lmdb_store>> preopened,
            std::shared_ptr<storage::store_readers> readers,
            uint64_t busy_since);

/// Seconds since the Unix epoch (the store's clock).
uint64_t unix_now();

} // namespace cairn::actors
