#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <array>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/io/typed_broker.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/actor_status.hpp"
#include "messages/atoms.hpp"
#include "messages/block.hpp"
#include "messages/cid.hpp"
#include "messages/manifest.hpp"
#include "messages/node_info.hpp"
#include "messages/space.hpp"
#include "messages/wire/messages.hpp"

// The typed interfaces of Cairn's actors. Every request sent to one of these
// carries a timeout (README "Actors"): a request to an actor that has died gets
// `sec::request_receiver_down`, one to an actor that dies while working on it
// gets only the requester's timeout.

namespace cairn {

/// What every actor of a node answers (actors/instrumented.hpp).
using inspectable_actor = caf::typed_actor<
  /// (status_atom) -> (status)   its counters, mailbox and gauges; sent with
  ///   high priority by the inspector
  caf::replies_to<status_atom>::with<actor_status>,
  /// (crash_atom, why) -> ()   fault injection: the actor dies with
  ///   `injected_fault`
  caf::reacts_to<crash_atom, std::string>>;

/// Signatures of `inspectable_actor`, for interfaces that extend others.
#define CAIRN_INSPECTABLE                                                      \
  caf::replies_to<status_atom>::with<actor_status>,                            \
    caf::reacts_to<crash_atom, std::string>

/// Where a download reads blocks from: both stores implement it.
using block_source_actor = inspectable_actor::extend<
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
  ///   records a dataset whose blocks were put; durable when answered.
  ///   Takes over the references the puts added: the dataset holds them,
  ///   or, if nothing was recorded, they are dropped; the sender never
  ///   releases them once this is sent
  ///   errors: invalid_manifest, quota_exceeded, storage_io
  caf::replies_to<commit_atom, block, std::vector<digest256>>::with<cid>,
  /// (release_atom, cids) -> (ok_atom)   drops an aborted upload's references
  caf::replies_to<release_atom, std::vector<cid>>::with<ok_atom>,
  /// (release_atom, manifest_atom, manifest_cid) -> (deleted)   drops the
  ///   dataset of a failed network download if it is not whole
  ///   errors: storage_io
  caf::replies_to<release_atom, manifest_atom, cid>::with<bool>,
  /// (has_atom, cid) -> (bool)
  caf::replies_to<has_atom, cid>::with<bool>,
  /// (delete_atom, cid) -> (ok_atom)   a dataset (manifest CID) or one block
  ///   errors: storage_io
  caf::replies_to<delete_atom, cid>::with<ok_atom>,
  /// (list_atom) -> (datasets)   every whole stored dataset (one fetched
  ///   from the network is listed once all its leaves are stored)
  caf::replies_to<list_atom>::with<std::vector<dataset_entry>>,
  /// (space_atom) -> (space_info)
  caf::replies_to<space_atom>::with<space_info>,
  /// (expire_atom, now, max) -> (deleted)   deletes expired blocks
  caf::replies_to<expire_atom, uint64_t, uint32_t>::with<uint64_t>,
  /// (get_atom, leaf_atom, address) -> (block, proof)   for serving peers
  ///   errors: not_found, storage_io
  caf::replies_to<get_atom, leaf_atom, block_address>::with<block,
                                                            merkle_proof>,
  /// (get_atom, leaf_atom, addresses) -> (leaves)   the stored ones, in
  ///   order, with blocks and proofs, in one transaction (serving in batches)
  ///   errors: storage_io
  caf::replies_to<get_atom, leaf_atom,
                  std::vector<block_address>>::with<std::vector<leaf_block>>,
  /// (has_atom, address) -> (bool)   the leaf and its block are stored
  caf::replies_to<has_atom, block_address>::with<bool>,
  /// (has_atom, addresses) -> (addresses)   the stored ones, in order, in
  ///   one transaction (a peer's want-haves)
  caf::replies_to<has_atom,
                  std::vector<block_address>>::with<std::vector<block_address>>,
  /// (list_atom, leaf_atom, tree) -> (count)   how many leaves of the tree
  ///   are stored with their blocks (the dataset is complete at its
  ///   blocks_count), counted in one transaction
  ///   errors: storage_io
  caf::replies_to<list_atom, leaf_atom, cid>::with<uint64_t>,
  /// (put_atom, leaf_atom, leaves) -> (ok_atom)   verified blocks from the
  ///   network, stored under their leaves in one transaction
  ///   errors: quota_exceeded, storage_io
  caf::replies_to<put_atom, leaf_atom, std::vector<leaf_block>>::with<ok_atom>,
  /// (put_atom, link_atom, links) -> (linked)   leaves for blocks stored by
  ///   CID, each handing the caller's reference over to its leaf, in one
  ///   transaction; returns how many leaves are new (for a leaf stored
  ///   already the handed reference is dropped)
  ///   errors: not_found (a block is not stored: nothing is linked),
  ///   storage_io
  caf::replies_to<put_atom, link_atom, std::vector<leaf_link>>::with<uint64_t>,
  /// (put_atom, manifest_atom, block) -> (cid)   a manifest from the network
  ///   errors: invalid_manifest, verification_failed, quota_exceeded
  caf::replies_to<put_atom, manifest_atom, block>::with<cid>,
  /// (delete_atom, address) -> (ok_atom)   one leaf and its block reference
  ///   errors: not_found (no such leaf), storage_io
  caf::replies_to<delete_atom, block_address>::with<ok_atom>,
  /// (verify_atom) -> (store_check)   checks the whole store on a thread of
  ///   its own (read-only, one transaction), while requests go on being
  ///   served; a request while a check runs gets that check's result
  ///   errors: storage_io, shutting_down
  caf::replies_to<verify_atom>::with<store_check>,
  /// (verify_atom, store_check) -> ()   internal: the checking thread's
  ///   result, answered to the waiting requests
  caf::reacts_to<verify_atom, store_check>>;

/// One TCP connection to a peer (a CAF broker on the middleman's thread).
using peer_session_actor = caf::io::connection_handler::extend<
  /// (data_transferred_msg) -> ()   socket progress (write acknowledgements)
  caf::reacts_to<caf::io::data_transferred_msg>,
  /// (send_atom, message) -> ()   writes one message; ignored until the
  ///   handshake completed
  caf::reacts_to<send_atom, wire::message>,
  /// (close_atom, reason) -> ()   says GOODBYE with `reason` and closes
  caf::reacts_to<close_atom, std::string>,
  /// (timeout_atom) -> ()   internal: the handshake deadline, then the
  ///   keep-alive check and the rate limits' wake-ups
  caf::reacts_to<timeout_atom>,
  /// (flush_atom) -> ()   internal: frames held for the link latency are due
  caf::reacts_to<flush_atom>,
  /// (flush_atom, wants_atom) -> ()   internal: want lists held on arrival
  ///   for the link latency are due
  caf::reacts_to<flush_atom, wants_atom>, CAIRN_INSPECTABLE>;

/// A peer whose handshake completed.
struct peer_info {
  /// Its peer ID (text form), proven by the handshake signature.
  std::string peer_id;
  std::array<uint8_t, 32> public_key{};
  /// The addresses it says it listens on.
  std::vector<std::string> addrs;
  /// Its session: where to send messages for it.
  peer_session_actor session;
  /// The handshake's round trip: from our HELLO to its AUTH, the link
  /// latency a node simulates included.
  caf::timespan round_trip{0};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_info& x) {
  return f(caf::meta::type_name("peer_info"), x.peer_id, x.public_key, x.addrs,
           x.session, x.round_trip);
}

/// Who hears from peer sessions (the engine; tests).
using session_owner_actor = caf::typed_actor<
  /// (peer_up_atom, info) -> ()   a session completed its handshake
  caf::reacts_to<peer_up_atom, peer_info>,
  /// (peer_msg_atom, peer_id, message) -> ()   a message from an
  ///   established session (never HELLO, AUTH, PING or GOODBYE)
  caf::reacts_to<peer_msg_atom, std::string, wire::message>,
  /// (peer_down_atom, peer_id, was_established, reason) -> ()   a session
  ///   ended; peer_id is empty if it ended before the peer's HELLO
  caf::reacts_to<peer_down_atom, std::string, bool, std::string>,
  /// (sent_atom, peer_id, unsent_bytes, taken_bytes) -> ()   the socket
  ///   wrote data; what is still queued, and the block bytes of all the
  ///   messages the session has taken from its mailbox so far (those
  ///   still in it are queued too: for serving backpressure)
  caf::reacts_to<sent_atom, std::string, uint64_t, uint64_t>>;

/// What the engine tells operators about a connected peer.
struct peer_summary {
  std::string peer_id;
  std::vector<std::string> addrs;
  uint64_t blocks_received = 0;
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  /// Measured delivery rate, bytes/s.
  double rate = 0;
  /// Measured per-block latency, seconds.
  double latency = 0;
  uint32_t bad_blocks = 0;
  uint32_t timeouts = 0;
  /// Block requests in flight to the peer / its wants queued here.
  uint64_t outstanding = 0;
  uint64_t queued = 0;
  /// The handshake's round trip, seconds (`peer_info::round_trip`).
  double round_trip = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_summary& x) {
  return f(caf::meta::type_name("peer_summary"), x.peer_id, x.addrs,
           x.blocks_received, x.bytes_received, x.bytes_sent, x.rate, x.latency,
           x.bad_blocks, x.timeouts, x.outstanding, x.queued, x.round_trip);
}

/// A block the engine waits for, as operators see it.
struct want_summary {
  /// `<treeCid>/<index>` or a CID.
  std::string address;
  double age_seconds = 0;
  /// Peers it is requested from.
  std::vector<std::string> peers;
  uint32_t waiters = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, want_summary& x) {
  return f(caf::meta::type_name("want_summary"), x.address, x.age_seconds,
           x.peers, x.waiters);
}

/// Kademlia discovery (messages/wire/DHT_FORMAT.md).
using discovery_actor = inspectable_actor::extend<
  /// (find_atom, cid) -> (records)   providers of `cid` as signed peer
  ///   records in text form (`spr:...`); empty if none found
  caf::replies_to<find_atom, cid>::with<std::vector<std::string>>,
  /// (find_atom, peer_id_text) -> (records)   the signed record of that
  ///   peer, from the routing table or a node lookup of its ID; empty if
  ///   not found (or the text is not a peer ID)
  caf::replies_to<find_atom, std::string>::with<std::vector<std::string>>,
  /// (provide_atom, cid) -> (ok_atom)   announces that this node has `cid`
  caf::replies_to<provide_atom, cid>::with<ok_atom>,
  /// (get_atom, spr_atom) -> (record)   this node's signed peer record
  caf::replies_to<get_atom, spr_atom>::with<std::string>,
  /// (get_atom, find_atom, cid) -> (lookups, queries, hops)   the provider
  ///   lookups of `cid` this node finished, the DHT nodes they queried, and
  ///   each one's depth (`storage::kad_lookup::hops`; the first 64)
  caf::replies_to<get_atom, find_atom, cid>::with<uint64_t, uint64_t,
                                                  std::vector<uint32_t>>,
  /// (list_atom) -> (records)   the routing table's contacts
  caf::replies_to<list_atom>::with<std::vector<std::string>>,
  /// (udp_atom, datagram, from) -> ()   internal: from the receiver thread
  caf::reacts_to<udp_atom, bytes, std::string>,
  /// (tick_atom) -> ()   internal: request timeouts, record expiry
  caf::reacts_to<tick_atom>>;

/// The block-exchange engine: owner of all peer sessions.
using engine_actor = session_owner_actor::extend<
  /// (get_atom, block_address) -> (block)   a leaf fetched from peers,
  ///   verified against its tree and stored locally
  ///   errors: not_found (no peer has it), quota_exceeded, timeout
  caf::replies_to<get_atom, block_address>::with<block>,
  /// (get_atom, proof_atom, block_address, keep) -> (block, proof)   the
  ///   same, with the inclusion proof it was verified with; stored only if
  ///   `keep` or another waiter wants it kept (shards fetched only to
  ///   rebuild others are not)
  caf::replies_to<get_atom, proof_atom, block_address,
                  bool>::with<block, merkle_proof>,
  /// (get_atom, cid) -> (block)   a block (e.g. a manifest) by CID
  caf::replies_to<get_atom, cid>::with<block>,
  /// (get_atom, manifest_atom, cid, leaves) -> (block)   a manifest a
  ///   download starts with: as (get_atom, cid), and the peer asked for it
  ///   is asked to send the first `leaves` leaves of its tree with it
  ///   (messages/wire/FORMAT.md, "Leaves with the manifest")
  caf::replies_to<get_atom, manifest_atom, cid, uint32_t>::with<block>,
  /// (connect_atom, peer_id, multiaddrs) -> (ok_atom)   dials a peer and
  ///   answers once its handshake proved `peer_id`
  ///   errors: unavailable (cannot connect), handshake_failed, timeout
  caf::replies_to<connect_atom, std::string,
                  std::vector<std::string>>::with<ok_atom>,
  /// (peers_atom) -> (summaries)   the connected peers
  caf::replies_to<peers_atom>::with<std::vector<peer_summary>>,
  /// (tick_atom) -> ()   internal: timeouts, end-game, re-discovery
  caf::reacts_to<tick_atom>,
  /// (lost_atom) -> ()   internal: fail the wants no known holder has
  caf::reacts_to<lost_atom>,
  /// (flush_atom) -> ()   internal: send the wants of new requests
  caf::reacts_to<flush_atom>,
  /// (put_atom) -> ()   internal: store the verified blocks gathered so far
  caf::reacts_to<put_atom>,
  /// (retry_atom, key) -> ()   internal: the provider lookup of a dataset
  ///   may run again
  caf::reacts_to<retry_atom, cid>,
  /// (stop_atom) -> ()   the node is stopping: every pending and later
  ///   want fails with shutting_down at once, so no caller waits for it
  caf::reacts_to<stop_atom>,
  /// (update_atom, local_store) -> ()   the supervisor's re-wiring
  caf::reacts_to<update_atom, local_store_actor>,
  /// (update_atom, discovery) -> ()
  caf::reacts_to<update_atom, discovery_actor>,
  /// (wants_atom) -> (wants)   the blocks this node waits for
  caf::replies_to<wants_atom>::with<std::vector<want_summary>>,
  CAIRN_INSPECTABLE>;

/// Accepts peer connections; each becomes a peer_session.
using peer_listener_actor = caf::io::accept_handler::extend<
  /// (update_atom, owner) -> ()   sessions accepted from now on report here
  caf::reacts_to<update_atom, session_owner_actor>,
  /// (tick_atom) -> ()   internal: counts open descriptors, pauses or
  ///   resumes accepting
  caf::reacts_to<tick_atom>, CAIRN_INSPECTABLE>;

/// Blocks from anywhere: the local store first, the network later.
using network_store_actor = block_source_actor::extend<
  /// (put_atom, blocks) -> (new_bytes)   stores blocks (see local_store)
  caf::replies_to<put_atom, std::vector<block>>::with<uint64_t>,
  /// (commit_atom, manifest_block, leaf_digests) -> (manifest_cid)
  caf::replies_to<commit_atom, block, std::vector<digest256>>::with<cid>,
  /// (get_atom, manifest_atom, cid, leaves) -> (block)   a manifest a
  ///   download starts with: stored here, or fetched from peers with its
  ///   first `leaves` leaves (see engine)
  ///   errors: as (get_atom, cid)
  caf::replies_to<get_atom, manifest_atom, cid, uint32_t>::with<block>,
  /// (get_atom, proof_atom, address, keep) -> (block, proof)   a leaf with
  ///   its inclusion proof, fetched from peers first if it is not stored
  ///   here (and then stored only if `keep`, see engine)
  ///   errors: as (get_atom, block_address)
  caf::replies_to<get_atom, proof_atom, block_address,
                  bool>::with<block, merkle_proof>,
  /// (get_atom, local_atom, cid) -> (block)   from the local store only,
  ///   never from peers (a local download)
  ///   errors: not_found, storage_io
  caf::replies_to<get_atom, local_atom, cid>::with<block>,
  /// (get_atom, local_atom, address) -> (block)   as above, by leaf address
  caf::replies_to<get_atom, local_atom, block_address>::with<block>,
  /// (get_atom, local_atom, proof_atom, address, keep) -> (block, proof)
  ///   a stored leaf with its proof; never from peers (`keep` is ignored)
  caf::replies_to<get_atom, local_atom, proof_atom, block_address,
                  bool>::with<block, merkle_proof>,
  /// (put_atom, leaf_atom, leaves) -> (ok_atom)   verified leaves (e.g.
  ///   rebuilt from parity), see local_store
  caf::replies_to<put_atom, leaf_atom, std::vector<leaf_block>>::with<ok_atom>,
  /// (put_atom, link_atom, links) -> (linked)   leaves for blocks the caller
  ///   parked by CID (see local_store)
  caf::replies_to<put_atom, link_atom, std::vector<leaf_link>>::with<uint64_t>,
  /// (release_atom, cids) -> (ok_atom)   drops one reference of each block
  ///   (see local_store)
  caf::replies_to<release_atom, std::vector<cid>>::with<ok_atom>,
  /// (release_atom, manifest_atom, manifest_cid) -> (deleted)   see
  ///   local_store
  caf::replies_to<release_atom, manifest_atom, cid>::with<bool>,
  /// (update_atom, local_store) -> ()   the supervisor's re-wiring
  caf::reacts_to<update_atom, local_store_actor>,
  /// (update_atom, engine) -> ()
  caf::reacts_to<update_atom, engine_actor>,
  /// (sweep_atom, deadline) -> ()   internal: fail requests past their
  ///   deadline (see actors/deadlines.hpp)
  caf::reacts_to<sweep_atom, int64_t>>;

/// One download: fetches blocks [first, last] of a tree in order, keeping a
/// window of requests in flight; the HTTP writer pulls.
using store_stream_actor = inspectable_actor::extend<
  /// (pull_atom, next) -> (blocks)   the blocks from index `next` on, in
  ///   order, at least one; empty when the range is done. A new pull
  ///   replaces a pending one (which gets `timeout`); a pull of the last
  ///   answer's first index gets that answer again (the reader missed it)
  ///   errors: not_found (a block is missing), unavailable, timeout,
  ///   invalid_argument (`next` is neither)
  caf::replies_to<pull_atom, uint64_t>::with<std::vector<block>>,
  /// (retry_atom, index) -> ()   internal: re-request a block after backoff
  caf::reacts_to<retry_atom, uint64_t>,
  /// (tick_atom, pulls_seen) -> ()   internal: idle check
  caf::reacts_to<tick_atom, uint64_t>,
  /// (proof_atom) -> ()   internal: prove rebuilt blocks, once for all the
  ///   events handled since it was sent
  caf::reacts_to<proof_atom>,
  /// (sweep_atom, deadline) -> ()   internal: fail requests past their
  ///   deadline (see actors/deadlines.hpp)
  caf::reacts_to<sweep_atom, int64_t>>;

/// Deletes expired blocks periodically.
using maintenance_actor = inspectable_actor::extend<
  /// (tick_atom) -> ()   one pass (sent to itself on a timer)
  caf::reacts_to<tick_atom>,
  /// (update_atom, local_store) -> ()
  caf::reacts_to<update_atom, local_store_actor>>;

/// Announces the local datasets (manifest and tree CIDs) to discovery.
using advertiser_actor = inspectable_actor::extend<
  /// (tick_atom) -> ()   internal: one pass over the local datasets
  caf::reacts_to<tick_atom>,
  /// (update_atom, local_store) -> ()
  caf::reacts_to<update_atom, local_store_actor>,
  /// (update_atom, discovery) -> ()
  caf::reacts_to<update_atom, discovery_actor>>;

/// The REST API front: owns the HTTP server (detached).
using api_actor = inspectable_actor::extend<
  /// (update_atom, local_store) -> ()
  caf::reacts_to<update_atom, local_store_actor>,
  /// (update_atom, network_store) -> ()
  caf::reacts_to<update_atom, network_store_actor>,
  /// (update_atom, engine) -> ()
  caf::reacts_to<update_atom, engine_actor>,
  /// (update_atom, discovery) -> ()
  caf::reacts_to<update_atom, discovery_actor>>;

/// The root of a node: starts, restarts and stops the node's actors.
using node_supervisor_actor = inspectable_actor::extend<
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
  caf::reacts_to<retry_atom, std::string>,
  /// (restart_atom, name) -> (ok_atom)   stops child `name`; it restarts
  ///   as after a crash (and counts against the restart budget)
  ///   errors: not_found (no such child), unavailable (restarting)
  caf::replies_to<restart_atom, std::string>::with<ok_atom>>;

/// The registry of a node's live actors, for operators (README "Actors").
using inspector_actor = inspectable_actor::extend<
  /// (put_atom, handle, name, kind, parent) -> ()   registers (or renames)
  ///   a live actor; it is monitored and forgotten when it dies
  caf::reacts_to<put_atom, caf::actor, std::string, std::string, std::string>,
  /// (list_atom) -> (statuses)   every live actor, asked for its status
  ///   with high priority (a busy actor gets its published counters)
  caf::replies_to<list_atom>::with<std::vector<actor_status>>,
  /// (get_atom, name) -> (handle)   a live actor by name
  ///   errors: not_found
  caf::replies_to<get_atom, std::string>::with<caf::actor>>;

} // namespace cairn

// Peer messages stay inside one process (session <-> engine); they are
// never serialized by CAF.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cairn::wire::message)
