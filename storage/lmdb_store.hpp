#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/block.hpp"
#include "messages/cid.hpp"
#include "messages/manifest.hpp"
#include "messages/proof.hpp"
#include "messages/space.hpp"

typedef struct MDB_env MDB_env;
typedef unsigned int MDB_dbi;
typedef struct MDB_txn MDB_txn;
typedef struct MDB_val MDB_val;

namespace cairn::storage {

/// Options of an `lmdb_store`.
struct lmdb_options {
  /// Directory of the LMDB environment (created if missing).
  std::string path;
  /// Bytes of blocks the store may hold; a put that would exceed it fails
  /// with `ec::quota_exceeded` and stores nothing of its batch.
  uint64_t quota_bytes = uint64_t{20} << 30;
  /// Lifetime of a block after its last put.
  std::chrono::seconds block_ttl = std::chrono::hours{24 * 30};
  /// Initial LMDB map size in bytes; 0 picks quota + 1/8 + 64 MiB. The map
  /// doubles whenever it fills, so this only saves remapping.
  uint64_t initial_map_size = 0;
  /// Fault injection for tests: called instead of each fsync that makes a
  /// dataset durable (`mdb_env_sync`), as if the disk had answered its
  /// result (0, or an errno). Empty: the real fsync.
  std::function<int()> fsync_fault;
};

/// A leaf of a stored dataset: the block's CID and its inclusion proof.
struct leaf_info {
  cid block_cid;
  merkle_proof proof;
};

/// Cairn's block repository in one LMDB environment (README "Data model and
/// store").
///
/// Named databases: `blocks` (CID → bytes), `meta` (CID → refcount, size,
/// expiry), `expiry` (expiry ‖ CID, for maintenance), `leaves` (treeCid ‖
/// index → block digest + proof), `trees` (treeCid → manifests using it),
/// `manifests` (manifest CID → ∅) and `stats` (used bytes, block count);
/// their byte layouts are in storage/lmdb_records.hpp, and the steps that
/// keep them consistent in storage/lmdb_write_txn.hpp.
///
/// Refcounts: each put of a block adds one reference; a dataset's leaves own
/// the references its upload added; deleting the dataset (or its last
/// manifest over the same tree) drops them and deletes blocks that reach 0.
/// An expired block is deleted whatever its refcount (Codex semantics).
///
/// Durability: block batches commit without fsync (they survive a process
/// crash, not an OS crash); `put_dataset` fsyncs all blocks before it commits
/// the manifest, and fsyncs the manifest, so a dataset whose manifest exists
/// survives both. The blocks' fsync runs on a thread of its own while the
/// manifest's transaction is built; the transaction commits after it.
///
/// Memory: pages of the map that the process touches count in its RssFile,
/// not RssAnon; they are page cache (shared, reclaimed by the kernel), so
/// the store leaves them mapped. Dropping them costs a TLB shootdown per
/// drop and a page fault per later access.
///
/// Thread safety: writes (the functions under "writes") and `open`/the
/// destructor come from one thread at a time, the owner's (the detached
/// `local_store` actor). Reads (the functions under "reads") may run on any
/// thread, concurrently with each other and with the owner's writes: each
/// is one read-only transaction (`MDB_NOTLS`, not bound to its thread),
/// held off only while a write grows the map. The store must outlive every
/// read. Times are seconds since the Unix epoch.
class lmdb_store {
public:
  ~lmdb_store();
  lmdb_store(const lmdb_store&) = delete;
  lmdb_store& operator=(const lmdb_store&) = delete;

  /// Opens or creates the store. Errors: `ec::storage_io` with the path and
  /// LMDB's reason (not a directory, permission denied, ...).
  static caf::expected<std::unique_ptr<lmdb_store>> open(lmdb_options opts);

  // -- writes -----------------------------------------------------------------

  /// Stores `blocks` in one transaction (group commit): adds a reference to
  /// each and sets its expiry to `now + ttl`. Only bytes of blocks not yet
  /// stored count against the quota. Returns those new bytes. Errors:
  /// `ec::quota_exceeded` (nothing stored), `ec::storage_io`.
  caf::expected<uint64_t> put_blocks(const std::vector<block>& blocks,
                                     uint64_t now);

  /// Records a dataset whose blocks were stored by `put_blocks` (one
  /// reference per leaf): its leaf index with proofs, its manifest block, and
  /// its manifest index entry; then fsyncs. For leaves already stored the
  /// upload's references are dropped instead, so storing a dataset twice is
  /// harmless; a dataset stored in part (a network download of it in
  /// progress) gets its missing leaves and is whole and uploaded from then
  /// on: listed, and never dropped as a failed download's partial copy.
  /// `leaves[i]` is the digest of block i.
  /// Errors: `ec::invalid_manifest` (leaves do not match the tree or size),
  /// `ec::quota_exceeded`, `ec::storage_io`.
  caf::expected<cid> put_dataset(const block& manifest_block,
                                 const std::vector<digest256>& leaves,
                                 uint64_t now);

  /// `put_dataset` for an upload that hands its references over with the
  /// commit: on success the dataset holds them, and when nothing was
  /// recorded they are dropped here (one per leaf, as `release_blocks`).
  /// The uploader never releases them itself once it sent the commit: it
  /// cannot tell a commit that failed from one whose answer it did not get
  /// (a timeout), and releasing after the latter would leave the dataset's
  /// blocks a reference short. A dataset recorded whose final fsync failed
  /// keeps them, and the error is returned. Errors: as `put_dataset`.
  caf::expected<cid> commit_upload(const block& manifest_block,
                                   const std::vector<digest256>& leaves,
                                   uint64_t now);

  /// Stores blocks fetched from the network under their leaves, in one
  /// transaction: each block (a reference owned by its leaf) and its leaf
  /// entry with its proof. The caller has verified each proof against its
  /// tree. A leaf that is already complete only gets its expiry refreshed.
  /// A leaf of a tree no dataset uses (its download was dropped) is not
  /// stored. Errors: `ec::quota_exceeded`, `ec::storage_io`.
  caf::error put_leaves(const std::vector<leaf_block>& leaves, uint64_t now);

  /// Records leaves for blocks stored already by CID (rebuilt blocks a
  /// download parked), in one transaction, without rewriting their bytes:
  /// the caller holds a reference of each block and hands it over to the
  /// leaf; for a leaf stored already the handed reference is dropped
  /// (unless it is the block's only one: the leaf's block had expired). The
  /// caller has verified each proof. Refreshes the blocks' expiry. Returns
  /// how many leaves are new. Errors: `ec::not_found` (a block is not
  /// stored; nothing is linked), `ec::storage_io`.
  caf::expected<uint64_t> link_leaves(const std::vector<leaf_link>& links,
                                      uint64_t now);

  /// Stores a manifest fetched from the network and indexes its dataset
  /// (whose leaves arrive later through `put_leaves`), marked as fetched:
  /// `list_datasets` leaves it out until all its leaves are stored. Storing
  /// a known manifest refreshes its expiry. Errors: `ec::invalid_manifest`,
  /// `ec::quota_exceeded`, `ec::storage_io`.
  caf::expected<cid> put_manifest(const block& manifest_block, uint64_t now);

  /// Marks the fetched datasets `ids` as whole (found so by
  /// `list_datasets`), so that listing them no longer counts their leaves.
  /// Absent ones are skipped. Errors: `ec::storage_io`.
  caf::error mark_whole(const std::vector<cid>& ids);

  /// Deletes the dataset of manifest `id` as `remove` does, but only if its
  /// manifest was fetched from the network and some of its leaves are not
  /// stored (a network download that failed): its blocks are freed, and a
  /// dataset that is whole, or was uploaded here, is kept. Returns whether
  /// it was deleted. Errors: `ec::storage_io`.
  caf::expected<bool> remove_partial(const cid& id);

  /// Drops one reference of each block (an aborted upload); deletes those
  /// that reach 0. Missing blocks are ignored.
  caf::error release_blocks(const std::vector<cid>& ids);

  /// Deletes a dataset by manifest CID: removes the manifest, and when no
  /// other manifest uses its tree, the leaves and their references. Deletes a
  /// single block when `id` is not a manifest. Absent → no error.
  caf::error remove(const cid& id);

  /// Deletes one leaf of a dataset: its entry and its block reference (the
  /// block goes when no other leaf or dataset holds it). The dataset stays
  /// indexed; the leaf can be stored again by `put_leaves`. Errors:
  /// `ec::not_found` (no such leaf), `ec::storage_io`.
  caf::error remove_leaf(const block_address& addr);

  /// Deletes up to `max` blocks whose expiry is ≤ `now`; an expired manifest
  /// removes its dataset. Returns how many blocks it deleted.
  caf::expected<uint64_t> expire(uint64_t now, size_t max = 4096);

  // -- reads ------------------------------------------------------------------

  /// The block with CID `id`. Errors: `ec::not_found`, `ec::storage_io`.
  caf::expected<block> get_block(const cid& id);

  /// The leaf at `addr`. Errors: `ec::not_found`, `ec::storage_io`.
  caf::expected<leaf_info> get_leaf(const block_address& addr);

  /// The block at leaf `addr`. Errors: `ec::not_found`, `ec::storage_io`.
  caf::expected<block> get_leaf_block(const block_address& addr);

  /// Copies the blocks of leaves `first`, `first + 1`, ... of `tree`, at
  /// most `max`, one after the other into `out` (room for `max *
  /// block_size` bytes), in one read transaction; returns how many. Stops
  /// before the first leaf (or block) that is not stored, or whose block is
  /// not `block_size` bytes long, so the count may be short or 0. Safe on
  /// any thread (for reads that need not wait for the store's owner): a
  /// local download reads into the buffer it writes to its client.
  /// Errors: `ec::storage_io`.
  caf::expected<size_t> read_leaf_blocks(const cid& tree, uint64_t first,
                                         size_t max, uint32_t block_size,
                                         uint8_t* out);

  /// The block at leaf `addr` and its proof, for serving peers. Errors:
  /// `ec::not_found`, `ec::storage_io`.
  caf::expected<std::pair<block, merkle_proof>>
  get_leaf_proof(const block_address& addr);

  /// The leaves of `addrs` that are stored, with their blocks and proofs, in
  /// the order asked, read in one transaction (serving peers in batches).
  /// Absent leaves are left out. Errors: `ec::storage_io`.
  caf::expected<std::vector<leaf_block>>
  get_leaf_proofs(const std::vector<block_address>& addrs);

  /// True if the leaf at `addr` and its block are stored.
  bool has_leaf(const block_address& addr);
  /// The leaves of `addrs` stored with their blocks, in the order given,
  /// looked up in one read transaction.
  std::vector<block_address>
  has_leaves(const std::vector<block_address>& addrs);

  /// How many leaves of `tree` are stored with their blocks, counted in one
  /// read transaction: a dataset of n blocks is complete here at n. Errors:
  /// `ec::storage_io`.
  caf::expected<uint64_t> count_leaves(const cid& tree);

  /// True if a block with CID `id` is stored.
  bool has_block(const cid& id);

  /// Every whole stored dataset, ordered by manifest CID: a dataset fetched
  /// from the network is left out while some of its leaves are missing.
  /// Those found whole are added to `whole_fetched` (if given) for
  /// `mark_whole`. Errors: `ec::storage_io`.
  caf::expected<std::vector<dataset_entry>>
  list_datasets(std::vector<cid>* whole_fetched = nullptr);

  /// Quota and block counts.
  space_info space();

  /// The expiry time of block `id`. Errors: `ec::not_found`.
  caf::expected<uint64_t> expiry_of(const cid& id);

  /// The refcount of block `id`. Errors: `ec::not_found`.
  caf::expected<uint32_t> refcount_of(const cid& id);

  /// The current LMDB map size in bytes.
  uint64_t map_size() const;

  const lmdb_options& options() const { return opts_; }

  /// The environment and its named databases, for `store_verify`, which
  /// reads them in its own transactions (holding `remap` shared, as every
  /// read does) and repairs them in its own write transaction (on the
  /// owner's thread, as every write).
  struct handles {
    MDB_env* env;
    MDB_dbi blocks, meta, expiry, leaves, trees, manifests, stats;
    std::shared_mutex* remap;
  };
  handles raw_handles() {
    return {env_,   blocks_,    meta_,  expiry_, leaves_,
            trees_, manifests_, stats_, &remap_};
  }

private:
  explicit lmdb_store(lmdb_options opts) : opts_(std::move(opts)) {}

  struct write_txn;
  template <class F>
  caf::error with_write(const char* what, F&& body);
  // As above; `before_commit` runs after `body`, and its error aborts the
  // transaction instead of committing it.
  template <class F, class G>
  caf::error with_write(const char* what, F&& body, G&& before_commit);
  caf::error grow_map();
  // fsyncs the environment (or `opts_.fsync_fault`); 0 or LMDB's error.
  int sync_env();

  // `put_dataset`; sets `recorded` once its transaction committed.
  caf::expected<cid> store_dataset(const block& manifest_block,
                                   const std::vector<digest256>& leaves,
                                   uint64_t now, bool& recorded);
  void start_writeback(uint64_t new_bytes);
  void locate_map();
  shared_bytes copy_value(const void* data, size_t size);
  // Copies `size` bytes of a value at `data` in the map into `out`.
  void copy_value_into(const void* data, size_t size, uint8_t* out);
  // Where the bytes of block `id` lie in the map. Errors: `ec::not_found`,
  // `ec::storage_io`.
  caf::expected<MDB_val> block_value(MDB_txn* txn, const cid& id);
  caf::expected<block> read_block(MDB_txn* txn, const cid& id);
  // Whether `id` is stored (its metadata is; its bytes are not read).
  bool is_stored(MDB_txn* txn, const cid& id);
  // Whether the leaf at `addr` and its block are both stored.
  bool has_leaf(MDB_txn* txn, const block_address& addr);
  // How many leaves of `tree` are stored with their blocks.
  caf::expected<uint64_t> count_stored_leaves(MDB_txn* txn, const cid& tree);
  // The leaf at `addr` with its block, or nothing if either is missing: a
  // leaf can outlive its expired block, and then it is missing too. An
  // error only if LMDB fails.
  caf::expected<std::optional<leaf_block>>
  read_stored_leaf(MDB_txn* txn, const block_address& addr);

  lmdb_options opts_;
  MDB_env* env_ = nullptr;
  MDB_dbi blocks_ = 0, meta_ = 0, expiry_ = 0, leaves_ = 0, trees_ = 0,
          manifests_ = 0, stats_ = 0;
  // Bytes `put_blocks` stored since it last started writeback.
  uint64_t unflushed_bytes_ = 0;
  // Held shared by every read transaction, exclusively while the map is
  // resized: LMDB requires that no transaction of the process is active
  // then, and `map_addr_` changes.
  mutable std::shared_mutex remap_;
  // Where LMDB mapped data.mdb (looked up at open and after the map grows;
  // null if /proc/self/maps did not show it).
  void* map_addr_ = nullptr;
  size_t map_len_ = 0;
};

} // namespace cairn::storage
