#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/inspector.hpp"
#include "actors/instrumented.hpp"
#include "actors/peer_session.hpp"
#include "messages/interfaces.hpp"
#include "messages/tree_sources.hpp"
#include "storage/peer_admission.hpp"
#include "storage/peer_scheduler.hpp"
#include "storage/store_batcher.hpp"
#include "storage/store_readers.hpp"

namespace cairn::actors {

/// The peers a node's engine is connected to, with the addresses they
/// listen on. Owned by the node (its supervisor), not by an engine, so that
/// an engine restarted by the supervisor dials them again. Any thread may
/// use it.
class peer_book {
public:
  /// Records (or updates) a connected peer.
  void put(const std::string& peer_id, std::vector<std::string> addrs) {
    std::lock_guard<std::mutex> guard{mtx_};
    peers_[peer_id] = std::move(addrs);
  }
  /// Forgets a peer that disconnected.
  void erase(const std::string& peer_id) {
    std::lock_guard<std::mutex> guard{mtx_};
    peers_.erase(peer_id);
  }
  /// The peers recorded, peer ID -> addresses.
  std::map<std::string, std::vector<std::string>> snapshot() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return peers_;
  }

private:
  mutable std::mutex mtx_;
  std::map<std::string, std::vector<std::string>> peers_;
};

/// Settings of the block-exchange engine.
struct engine_config {
  /// Signs handshakes of the sessions the engine dials.
  session_config session;
  /// Price per byte quoted to peers in presences.
  uint64_t price_per_byte = 0;
  /// The engine buys only from peers quoting at most this per byte.
  uint64_t max_price = 0;
  /// A block request unanswered this long counts against the peer and is
  /// sent elsewhere.
  std::chrono::milliseconds block_timeout{5000};
  /// A wanted block fails with `not_found` after this long (a peer was
  /// asked and never answered), unless a peer that has it delivered
  /// blocks within this long (slow, not gone: it is waited for). One that
  /// every connected peer lacks and that provider lookups find nobody for
  /// fails within a second.
  std::chrono::milliseconds want_timeout{20000};
  /// Invalid or unrequested blocks a peer may send before it is dropped.
  uint32_t max_bad_blocks = 3;
  /// Queued block wants per peer on the serving side; want-blocks beyond
  /// are dropped unanswered (messages/wire/FORMAT.md, WANT_LIST).
  size_t max_queued_wants = 2048;
  /// Bytes queued in a peer's socket above which serving it pauses.
  uint64_t max_unsent_bytes = uint64_t{4} << 20;
  /// Bytes queued in all peers' sockets above which serving pauses
  /// (`--max-unsent`): the node's send buffers, whatever the number of
  /// peers it serves.
  uint64_t max_unsent_total = uint64_t{16} << 20;
  /// How often timeouts, end-game and re-discovery are checked.
  std::chrono::milliseconds tick{200};
  /// Connected peers at most: a newcomer beyond them takes the place of the
  /// least useful peer (`storage::choose_eviction`), or is refused.
  uint32_t max_peers = 160;
  /// Providers of a dataset a lookup dials at most, counting those already
  /// connected (`storage::choose_dials`); 0: every one found.
  uint32_t max_dials_per_lookup = 8;
  /// When peers this engine dialed are dialed again after their session is
  /// lost.
  storage::redial_policy redial;
  /// Fault injection: serve every block with one byte flipped.
  bool corrupt_served = false;
  /// Where established peer sessions are registered for operators.
  std::shared_ptr<inspector_ref> inspector;
  /// The node's connected peers; a new engine dials those recorded in it
  /// (a previous engine's). Null: none.
  std::shared_ptr<peer_book> book;
  /// The open store, read on the engine's own thread to serve peers'
  /// leaves: a read transaction, not a request to `local_store` and a
  /// wake-up of its thread and then of the engine's for every batch. Null,
  /// or no store published: ask `local_store`.
  std::shared_ptr<storage::store_readers> readers;
  /// Where the blocks of datasets delivered by each peer, and those that
  /// arrived again, are counted (the node's, kept across engine restarts).
  /// Null: not counted.
  std::shared_ptr<tree_sources> sources;
};

/// What the engine knows about one connected peer ("peers admin") besides
/// what its `peer_scheduler` keeps (what the peer has, requests in flight,
/// rate, latency, standing).
struct peer_entry {
  peer_info info;
  /// Ledger: bytes sent and what we owe at quoted prices.
  uint64_t bytes_sent = 0;
  uint64_t debt = 0;
  /// Serving side: block wants queued by the peer, reads in progress, and
  /// bytes still queued in its socket.
  std::deque<wire::address> serve_queue;
  std::set<wire::address> queued;
  /// Manifests in `serve_queue` whose first leaves go out right after them
  /// (`wire::want_entry::leaves`), with how many.
  std::map<cid, uint32_t> leaves_with;
  uint32_t serving = 0;
  /// Block bytes queued for its socket: in its session's mailbox (sent
  /// there, not yet taken) or in the socket's buffers, as the session last
  /// told; and the block bytes sent to its session so far.
  uint64_t unsent = 0;
  uint64_t sent_to_session = 0;
  /// It got a presence from us, with our price: it may be served.
  bool quoted = false;
  /// When a block last went out to it (the epoch: never).
  std::chrono::steady_clock::time_point last_served{};
  /// What eviction weighs: block bytes it delivered lately, and when it
  /// last delivered one (or connected).
  storage::recent_bytes recent;
  std::chrono::steady_clock::time_point last_useful{};
};

/// A block some caller waits for: its scheduling state and its waiters.
struct pending_want : storage::want_state {
  std::vector<caf::typed_response_promise<block>> waiters;
  /// Waiters that want the leaf's proof too.
  std::vector<caf::typed_response_promise<block, merkle_proof>> proof_waiters;
  /// Store it when it arrives: false while every waiter needs it only once
  /// (a parity shard fetched to rebuild lost data).
  bool keep = false;
  /// A manifest a download starts with: the peer asked for it is asked to
  /// send this many of its first leaves with it (the most any waiter
  /// asked for; 0: none).
  uint32_t leaves_with = 0;
  /// A leaf asked for with its manifest, before any caller wanted it.
  bool with_manifest = false;
};

/// State of the `engine` actor.
struct engine_state {
  static inline constexpr const char* name = "engine";
  /// Handler counters, published for the inspector.
  std::shared_ptr<actor_stats> stats = std::make_shared<actor_stats>();
  engine_config cfg;
  local_store_actor local;
  discovery_actor discovery;
  std::map<std::string, peer_entry> peers;
  /// The peer after which serving resumes when the sockets drained below
  /// `cfg.max_unsent_total` (round robin).
  std::string resume_after;
  std::map<wire::address, pending_want> pending;
  /// Pending wants that the last `schedule` of each left with no request
  /// in flight (no holder had room, or none is known): the room a delivery
  /// frees goes to these, without a walk over every want. A hint: one met
  /// there that is gone, requested or being stored is dropped.
  std::set<wire::address> unrequested;
  /// Which peer gets which request, per-peer statistics, provider lookups.
  storage::peer_scheduler sched;
  /// Picks the providers dialed when a lookup finds more than
  /// `max_dials_per_lookup`.
  std::minstd_rand dial_rng{std::random_device{}()};
  /// Wants that every known holder lacks: failed by the next `lost_atom`.
  std::vector<wire::address> lost;
  /// Wants to send per peer, flushed at the end of each handler, except
  /// those of new requests: they wait for a `flush_atom` (set: one is on its
  /// way), so that the requests already queued go in the same WANT_LIST.
  std::map<std::string, wire::want_list> outbox;
  bool flush_pending = false;
  /// Callers of `connect_atom` waiting for a peer's handshake.
  std::multimap<std::string, caf::typed_response_promise<ok_atom>> connecting;
  /// Peers being dialed (at most one dial per peer at a time).
  std::set<std::string> dialing;
  /// Peers a previous engine was connected to, dialed again at start and
  /// then every second until connected or `restore_rounds` is used up
  /// (the peer may still hold our previous session and refuse the new one
  /// as a duplicate).
  std::map<std::string, std::vector<std::string>> restore;
  uint32_t restore_rounds = 0;
  std::chrono::steady_clock::time_point restore_at{};
  /// Peers this engine dialed, redialed with backoff once lost.
  storage::redial_backoff redial;
  /// Peers evicted for newcomers, and redial attempts, since start.
  uint64_t evictions = 0;
  uint64_t redials = 0;
  /// Verified leaves waiting to be stored together, and when they go.
  std::vector<leaf_block> to_store;
  storage::store_batcher batcher;
  /// The node is stopping: every want fails with `shutting_down`.
  bool stopping = false;
  /// Manifests asked of a peer with their first leaves, not arrived yet:
  /// (peer, manifest) -> how many, and when and after how many of the
  /// peer's bytes the want went out (the leaves' requests count from then).
  struct leaves_ask {
    uint32_t count = 0;
    storage::sent_request sent;
    /// Once the manifest came (from this peer or another): the tree, and
    /// how many of its leaves count as requested from the peer.
    cid tree{};
    uint64_t expected = 0;
  };
  std::map<std::pair<std::string, cid>, leaves_ask> leaves_asked;
  /// Leaves that came with their manifest and were stored before any
  /// caller wanted them, with when: the first want of one in the next
  /// seconds reads it back from the store (its caller missed it there
  /// just before it was written) instead of asking the network again.
  std::map<wire::address, std::chrono::steady_clock::time_point> stored_unasked;
  /// Totals for operators.
  uint64_t blocks_in = 0, blocks_out = 0, bytes_in = 0, bytes_out = 0;
  uint64_t bad_blocks = 0;
  /// Want-have and want-block entries sent to peers (cancels not counted),
  /// and leaves queued for peers that asked for them with a manifest.
  uint64_t want_haves_out = 0, want_blocks_out = 0;
  uint64_t leaves_with_manifests = 0;
  /// Want-blocks dropped because the peer's serve queue was full
  /// (`engine_config::max_queued_wants`).
  uint64_t wants_dropped = 0;

  void gauges(std::vector<std::pair<std::string, double>>& out) const {
    out.emplace_back("peers", static_cast<double>(peers.size()));
    out.emplace_back("pending_blocks", static_cast<double>(pending.size()));
    out.emplace_back("blocks_in", static_cast<double>(blocks_in));
    out.emplace_back("blocks_out", static_cast<double>(blocks_out));
    out.emplace_back("bytes_in", static_cast<double>(bytes_in));
    out.emplace_back("bytes_out", static_cast<double>(bytes_out));
    out.emplace_back("bad_blocks", static_cast<double>(bad_blocks));
    out.emplace_back("want_haves_sent", static_cast<double>(want_haves_out));
    out.emplace_back("want_blocks_sent", static_cast<double>(want_blocks_out));
    out.emplace_back("leaves_queued_with_manifests",
                     static_cast<double>(leaves_with_manifests));
    out.emplace_back("wants_dropped", static_cast<double>(wants_dropped));
    out.emplace_back("peers_evicted", static_cast<double>(evictions));
    out.emplace_back("redials", static_cast<double>(redials));
  }
};

/// The block-exchange engine (README "Download over the network"), both sides:
/// fetches blocks that the local store lacks from peers (want-have, presence,
/// want-block, verified delivery, stored in the local store before its waiters
/// are answered) and serves the local store's blocks to peers. Owns the peer
/// sessions' events; asks discovery for providers when no peer has a block.
engine_actor::behavior_type
engine(engine_actor::stateful_pointer<engine_state> self, engine_config cfg,
       local_store_actor local, discovery_actor discovery);

} // namespace cairn::actors
