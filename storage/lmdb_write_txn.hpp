#pragma once

#include <cstdint>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/block.hpp"
#include "messages/bytes.hpp"
#include "messages/cid.hpp"
#include "messages/proof.hpp"
#include "storage/lmdb_records.hpp"
#include "storage/lmdb_store.hpp"

namespace cairn::storage {

/// One write transaction of an `lmdb_store` with the store's counters
/// loaded, and the steps that keep `blocks`, `meta`, `expiry`, `leaves`,
/// `trees`, `manifests` and the counters consistent with each other:
/// references, expiry, leaf records and dataset removal. Every error aborts
/// the whole transaction (`lmdb_store::with_write`). Used by the owner's
/// thread only, inside `with_write`.
struct lmdb_store::write_txn {
  lmdb_store& st;
  MDB_txn* txn = nullptr;
  /// The `stats` counters, written back by `store_stats`.
  uint64_t used = 0;
  uint64_t count = 0;
  /// A step failed with MDB_MAP_FULL: the map grows and the batch is redone.
  bool map_full = false;

  /// `ec::storage_io` for LMDB's `rc` in `op` (noting a full map).
  caf::error fail(const char* op, int rc);

  /// Reads / writes the `stats` counters.
  caf::error load_stats();
  caf::error store_stats();

  /// Reads the meta of block `key` into `m`; false if absent. Errors:
  /// `ec::storage_io` (also for a corrupt record).
  caf::expected<bool> get_meta(const bytes& key, block_meta& m);
  caf::error put_meta(const bytes& key, const block_meta& m);

  /// Moves the `expiry` entry of `key` from `old_expiry` (if `had_old`) to
  /// `new_expiry`.
  caf::error set_expiry(const bytes& key, uint64_t old_expiry,
                        uint64_t new_expiry, bool had_old);

  /// Moves the expiry of stored block `key` (meta `m`) to `expiry`.
  caf::error touch(const bytes& key, block_meta& m, uint64_t expiry);

  /// Adds a reference to `b`, storing it if new (checking the quota), with
  /// its expiry at `expiry`. Adds the bytes newly stored to `added`. Errors:
  /// `ec::quota_exceeded`, `ec::storage_io`.
  caf::error add_ref(const block& b, uint64_t expiry, uint64_t& added);

  /// Deletes block `key` with meta `m` regardless of its refcount.
  caf::error erase_block(const bytes& key, const block_meta& m);

  /// Drops one reference of block `key`; deletes it at 0. Absent: no-op.
  caf::error drop_ref(const bytes& key);

  /// True if leaf `addr` has a record.
  caf::expected<bool> has_leaf(const block_address& addr);

  /// Records leaf `addr`: its block's digest and its proof.
  caf::error put_leaf(const block_address& addr, const digest256& digest,
                      const merkle_proof& proof);

  /// Deletes the record of leaf `addr` and drops the reference it holds;
  /// false if there is none.
  caf::expected<bool> erase_leaf(const block_address& addr);

  /// The manifests using tree `key`; 0 if none.
  caf::expected<uint32_t> tree_refs(const bytes& key);
  caf::error set_tree_refs(const bytes& key, uint32_t refs);

  /// Removes a dataset by manifest CID, if indexed (sets `removed`): its
  /// index entry, its manifest block's reference, and its tree's use.
  caf::error remove_dataset(const cid& id, bool& removed);

  /// Drops one manifest's use of `tree`; at 0 deletes its `nleaves` leaves
  /// and drops the references they hold.
  caf::error release_tree(const cid& tree, uint64_t nleaves);
};

} // namespace cairn::storage
