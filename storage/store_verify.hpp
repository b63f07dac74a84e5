#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

#include "storage/lmdb_store.hpp"

namespace cairn::storage {

/// What a problem found by `verify_store` concerns. The comment of each
/// kind says what `repair_store` does about it.
enum class store_problem_kind {
  /// A block's bytes do not hash to its CID. Repair deletes the block, and
  /// drops the datasets whose leaves use it.
  bad_hash,
  /// Leaves of a dataset point to blocks that are not stored. Repair drops
  /// the dataset.
  missing_block,
  /// Leaves of a dataset whose proofs do not lead to its tree's root (or
  /// that do not decode). Repair drops the dataset.
  bad_proof,
  /// An indexed manifest whose block is not stored or does not decode.
  /// Repair drops the dataset.
  bad_manifest,
  /// Leaf entries of a tree that no stored manifest uses. Repair deletes
  /// them.
  stray_leaf,
  /// A block's refcount differs from the references that exist (its leaf
  /// entries, and its manifest index entry). Repair sets it.
  refcount,
  /// A tree's manifest count differs from the manifests that use it.
  /// Repair sets it.
  tree_refcount,
  /// A block that no leaf and no manifest index entry references (left by
  /// an upload or download cut short). Repair deletes it.
  orphan,
  /// A block's metadata and bytes disagree (one without the other, or
  /// sizes differ), or the expiry index does not match the metadata.
  /// Repair rebuilds the metadata and the index from the bytes.
  bad_meta,
  /// The store's byte or block counters differ from the blocks stored.
  /// Repair recounts them.
  quota,
};

/// The kind's name in problem lines: `bad-hash`, `missing-block`, ...
const char* to_string(store_problem_kind kind);

/// One problem: a kind and a line of text that names the block, dataset or
/// counter concerned.
struct store_problem {
  store_problem_kind kind;
  std::string text;
};

/// How `verify_store` runs.
struct verify_options {
  /// Hash every block (the slow part: ~1 s per 2 GB).
  bool check_hashes = true;
  /// Unix time since when running operations may hold references that no
  /// leaf owns yet (uploads before their manifest, blocks a download
  /// parks): a block put at or after it is not reported as an orphan or
  /// for a refcount above its references. 0: nothing runs (the store is
  /// offline), every reference must be owned.
  uint64_t busy_since = 0;
  /// Checked between blocks; once set, `verify_store` fails with
  /// `ec::shutting_down`.
  const std::atomic<bool>* cancel = nullptr;
};

/// What `verify_store` found.
struct verify_report {
  /// In the order found; empty for a clean store.
  std::vector<store_problem> problems;
  /// Blocks stored, their bytes, indexed datasets and leaf entries.
  uint64_t blocks = 0;
  uint64_t bytes = 0;
  uint64_t datasets = 0;
  uint64_t leaves = 0;
  /// Keys (CID bytes) of blocks whose bytes do not hash to their CID.
  std::vector<std::string> bad_blocks;
  /// Datasets (manifest CID bytes) to drop, each with the reason.
  std::vector<std::pair<std::string, std::string>> damaged_datasets;

  bool clean() const { return problems.empty(); }
};

/// Checks the whole store in one read-only transaction: every block's bytes
/// against its CID (`opts.check_hashes`); every leaf's block and proof;
/// refcounts against the references that exist; the byte and block
/// counters against the blocks stored; orphan blocks; metadata and the
/// expiry index against the blocks. Any thread may call it (it reads as
/// the store's reads do). Errors: `ec::storage_io`, `ec::shutting_down`.
caf::expected<verify_report> verify_store(lmdb_store& st,
                                          const verify_options& opts = {});

/// How `repair_store` runs.
struct repair_options {
  /// Drop the datasets `found` names as damaged (and the manifest index
  /// entries whose manifest is gone). Without it, only references,
  /// counters, metadata and strays are fixed.
  bool drop_datasets = true;
  /// Unix time; blocks that get their metadata back expire at `now + ttl`.
  uint64_t now = 0;
};

/// What `repair_store` changed.
struct repair_report {
  /// One line per change, e.g. `dropped dataset z...: leaf 3 ...`.
  std::vector<std::string> actions;
  /// Orphan blocks deleted, and their bytes.
  uint64_t orphans = 0;
  uint64_t orphan_bytes = 0;
};

/// Fixes what can be fixed safely, in one write transaction (then fsyncs):
/// deletes the blocks `found.bad_blocks` names, drops the datasets it
/// names (`opts.drop_datasets`), then rebuilds every derived record from
/// the blocks, leaves and manifest index: refcounts, tree counts, the
/// metadata and expiry index, the counters; deletes orphan blocks and
/// stray leaves. `found` may be empty (a start-up pass without hashing).
/// Only while no operation holds references (the store is offline or just
/// opened), and on the store owner's thread. Errors: `ec::storage_io`.
caf::expected<repair_report> repair_store(lmdb_store& st,
                                          const verify_report& found,
                                          const repair_options& opts);

/// Opens the store of `opts` as a node starts, when nothing uses it yet,
/// and reclaims what a crash left: the references that no leaf or manifest
/// owns (uploads and downloads cut short; `repair_store` keeping every
/// dataset), with `now` the current Unix time. `reclaimed` gets what
/// changed.
caf::expected<std::unique_ptr<lmdb_store>>
open_after_crash(const lmdb_options& opts, uint64_t now,
                 repair_report& reclaimed);

} // namespace cairn::storage
