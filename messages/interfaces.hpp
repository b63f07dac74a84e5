#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/atoms.hpp"
#include "messages/block.hpp"
#include "messages/cid.hpp"
#include "messages/manifest.hpp"
#include "messages/node_info.hpp"
#include "messages/space.hpp"

// The typed interfaces of Cairn's actors. Every request sent to one of these
// carries a timeout (DESIGN §1): a request to an actor that has died gets
// `sec::request_receiver_down`, one to an actor that dies while working on it
// gets only the requester's timeout.

namespace cairn {

/// Where a download reads blocks from: both stores implement it.
using block_source_actor = caf::typed_actor<
  /// (get_atom, cid) -> (block)
  ///   errors: not_found, storage_io
  caf::replies_to<get_atom, cid>::with<block>,
  /// (get_atom, block_address) -> (block)   the leaf's block
  ///   errors: not_found, storage_io
  caf::replies_to<get_atom, block_address>::with<block>>;

/// The node's LMDB repository (detached: LMDB transactions are thread-bound).
using local_store_actor = block_source_actor::extend<
  /// (put_atom, blocks) -> (new_bytes)   group commit; a reference per block
  ///   errors: quota_exceeded (nothing stored), storage_io
  caf::replies_to<put_atom, std::vector<block>>::with<uint64_t>,
  /// (commit_atom, manifest_block, leaf_digests) -> (manifest_cid)
  ///   records a dataset whose blocks were put; durable when answered
  ///   errors: invalid_manifest, quota_exceeded, storage_io
  caf::replies_to<commit_atom, block, std::vector<digest256>>::with<cid>,
  /// (release_atom, cids) -> (ok_atom)   drops an aborted upload's references
  caf::replies_to<release_atom, std::vector<cid>>::with<ok_atom>,
  /// (has_atom, cid) -> (bool)
  caf::replies_to<has_atom, cid>::with<bool>,
  /// (delete_atom, cid) -> (ok_atom)   a dataset (manifest CID) or one block
  ///   errors: storage_io
  caf::replies_to<delete_atom, cid>::with<ok_atom>,
  /// (list_atom) -> (datasets)   every stored dataset
  caf::replies_to<list_atom>::with<std::vector<dataset_entry>>,
  /// (space_atom) -> (space_info)
  caf::replies_to<space_atom>::with<space_info>,
  /// (expire_atom, now, max) -> (deleted)   deletes expired blocks
  caf::replies_to<expire_atom, uint64_t, uint32_t>::with<uint64_t>>;

/// Blocks from anywhere: the local store first, the network later.
using network_store_actor = block_source_actor::extend<
  /// (put_atom, blocks) -> (new_bytes)   stores blocks (see local_store)
  caf::replies_to<put_atom, std::vector<block>>::with<uint64_t>,
  /// (commit_atom, manifest_block, leaf_digests) -> (manifest_cid)
  caf::replies_to<commit_atom, block, std::vector<digest256>>::with<cid>,
  /// (update_atom, local_store) -> ()   the supervisor's re-wiring
  caf::reacts_to<update_atom, local_store_actor>>;

/// One download: fetches blocks [first, last] of a tree in order, keeping a
/// window of requests in flight; the HTTP writer pulls.
using store_stream_actor = caf::typed_actor<
  /// (pull_atom) -> (blocks)   the next blocks in order, at least one;
  ///   empty when the range is done
  ///   errors: not_found (a block is missing), unavailable, timeout
  caf::replies_to<pull_atom>::with<std::vector<block>>,
  /// (retry_atom, index) -> ()   internal: re-request a block after backoff
  caf::reacts_to<retry_atom, uint64_t>,
  /// (tick_atom, pulls_seen) -> ()   internal: idle check
  caf::reacts_to<tick_atom, uint64_t>>;

/// Deletes expired blocks periodically.
using maintenance_actor = caf::typed_actor<
  /// (tick_atom) -> ()   one pass (sent to itself on a timer)
  caf::reacts_to<tick_atom>,
  /// (update_atom, local_store) -> ()
  caf::reacts_to<update_atom, local_store_actor>>;

/// The REST API front: owns the HTTP server (detached).
using api_actor = caf::typed_actor<
  /// (update_atom, local_store) -> ()
  caf::reacts_to<update_atom, local_store_actor>,
  /// (update_atom, network_store) -> ()
  caf::reacts_to<update_atom, network_store_actor>>;

/// The root of a node: starts, restarts and stops the node's actors.
using node_supervisor_actor = caf::typed_actor<
  /// (start_atom) -> (node_info)   spawns the children; answers when the
  ///   node serves
  ///   errors: the first child that failed to start, with its reason
  caf::replies_to<start_atom>::with<node_info>,
  /// (get_atom, name) -> (actor)   the current handle of a child by name
  ///   errors: not_found (no such child), unavailable (restarting)
  caf::replies_to<get_atom, std::string>::with<caf::actor>,
  /// (stop_atom) -> (ok_atom)   stops the children in reverse start order,
  ///   then the supervisor itself
  caf::replies_to<stop_atom>::with<ok_atom>,
  /// (retry_atom, name) -> ()   internal: retry a restart that failed
  caf::reacts_to<retry_atom, std::string>>;

} // namespace cairn
