#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/deadlines.hpp"
#include "actors/instrumented.hpp"
#include "messages/interfaces.hpp"
#include "messages/tree_sources.hpp"
#include "storage/erasure.hpp"
#include "storage/index_runs.hpp"
#include "storage/pipe_meter.hpp"
#include "storage/tree_witness.hpp"

namespace cairn::actors {

/// Progress of one download, shared by its store_stream (writer) and the
/// API (readers): readable at any time without asking the actor.
struct download_progress {
  enum class phase : int { running = 0, done = 1, failed = 2 };
  /// The dataset (manifest CID) and its tree.
  std::string manifest_cid;
  std::string tree_cid;
  /// "stream" (an HTTP reader) or "background" (POST .../network).
  std::string kind;
  uint64_t blocks_total = 0;
  /// The dataset's size in bytes: the padding of its last block is not
  /// counted in `bytes_done` (0: count whole blocks).
  uint64_t dataset_size = 0;
  uint32_t block_size = 0;
  std::atomic<uint64_t> blocks_done{0};
  std::atomic<uint64_t> bytes_done{0};
  /// Blocks rebuilt from parity (protected datasets).
  std::atomic<uint64_t> blocks_repaired{0};
  std::atomic<int> state{0};
  /// When the request came (discovery and the manifest fetch included).
  std::chrono::steady_clock::time_point started =
    std::chrono::steady_clock::now();
  /// Microseconds after `started` when the download ended (when not
  /// running), and when its first data byte was had (-1: not yet).
  std::atomic<int64_t> finished_us{0};
  std::atomic<int64_t> first_byte_us{-1};
  mutable std::mutex mtx;
  std::string error; ///< guarded by mtx
  /// Which peers delivered this download's blocks, and the duplicates:
  /// begun when the download is set up, frozen when it ends.
  download_sources sources;

  /// Microseconds since `started`.
  int64_t elapsed_us() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now() - started)
      .count();
  }

  /// Counts data block `index` of `size` bytes as had.
  void block_done(uint64_t index, uint64_t size) {
    if (dataset_size > 0 && block_size > 0) {
      uint64_t start = index * block_size;
      size = start >= dataset_size ? 0 : std::min(size, dataset_size - start);
    }
    ++blocks_done;
    bytes_done += size;
    int64_t none = -1;
    first_byte_us.compare_exchange_strong(none, elapsed_us());
  }

  /// Ends a running download; the first end counts (a write that fails
  /// after the reader got every byte does not turn done into failed).
  void finish(phase p, std::string why = {}) {
    std::lock_guard<std::mutex> guard{mtx};
    if (state != static_cast<int>(phase::running))
      return;
    error = std::move(why);
    finished_us = elapsed_us();
    sources.end();
    state = static_cast<int>(p);
  }
};

/// The node's recent downloads, newest last (the last `max_kept`), for
/// `GET /api/cairn/v1/downloads`. Owned by the node (it outlives API
/// restarts); thread-safe.
class download_log {
public:
  static constexpr size_t max_kept = 100;

  void track(std::shared_ptr<download_progress> p) {
    std::lock_guard<std::mutex> guard{mtx_};
    list_.push_back(std::move(p));
    while (list_.size() > max_kept)
      list_.pop_front();
  }

  std::deque<std::shared_ptr<download_progress>> list() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return list_;
  }

private:
  mutable std::mutex mtx_;
  std::deque<std::shared_ptr<download_progress>> list_;
};

/// What one download fetches and how.
struct stream_spec {
  /// The dataset's tree.
  cid tree;
  /// First and last leaf index to deliver (inclusive).
  uint64_t first = 0;
  uint64_t last = 0;
  /// Block requests kept in flight ahead of the reader, at least; a long
  /// round trip grows it to the bandwidth-delay product (`store_stream`).
  uint32_t window = 16;
  /// Leaves were asked for with the manifest at `with_manifest_at`
  /// (`get_atom, manifest_atom`): the first window, or one round trip's
  /// worth on a long link, as the engine decides. The round trips of leaves
  /// `first` .. `first + wire::max_leaves_with_manifest - 1`, and the bytes
  /// that arrived meanwhile, count from then, not from the stream's own
  /// requests, which find them on their way or stored already (a short
  /// round trip measured there would keep the window small on a long link).
  bool with_manifest = false;
  std::chrono::steady_clock::time_point with_manifest_at{};
  /// Timeout of one block request.
  std::chrono::milliseconds block_timeout{30000};
  /// Attempts per block after the source failed (crashed, timed out).
  uint32_t max_attempts = 4;
  /// The stream quits when nobody pulled for this long (reader gone).
  std::chrono::milliseconds idle_timeout{120000};
  /// Without a reader: fetch every block (the network store keeps them),
  /// hand none out, quit when done or failed.
  bool drain = false;
  /// Read only what the local store holds (`GET /data/{cid}`): a missing
  /// block fails the stream with not_found at once, never asking peers.
  bool local_only = false;
  /// Where progress is published (optional).
  std::shared_ptr<download_progress> progress;
  /// The dataset's manifest, for a network download: if the stream fails
  /// (not when its reader leaves or the node stops), the dataset is
  /// dropped unless it is whole, so that a partial one frees its space.
  std::optional<cid> manifest;
  /// Set for a protected dataset (`tree` covers data and parity): a data
  /// block nobody has is rebuilt from any `k` blocks of its step.
  std::optional<storage::ec_layout> ec;
  storage::ec_backend ec_backend = storage::ec_backend::jerasure;
  uint32_t block_size = default_block_size;
};

/// One step being repaired: the shards fetched so far.
struct step_repair {
  /// `k + m` shards; those not (yet) had have no data.
  std::vector<block> shards;
  uint32_t have = 0;
  uint32_t in_flight = 0;
  /// Shards asked for already (each is asked once).
  std::vector<bool> tried;
  bool decoding = false;
};

struct store_stream_state;
uint32_t window_of(const store_stream_state& st);

/// State of one `store_stream` actor.
struct store_stream_state {
  static inline constexpr const char* name = "store_stream";
  /// Handler counters, published for the inspector.
  std::shared_ptr<actor_stats> stats = std::make_shared<actor_stats>();
  stream_spec spec;
  /// Timeouts of the block requests to `source` (see deadlines.hpp).
  deadline_book deadlines;
  /// Where blocks come from (the network store), and who knows its current
  /// handle after a restart.
  network_store_actor source;
  node_supervisor_actor supervisor;
  /// Next index to request and next index to deliver.
  uint64_t next_request = 0;
  uint64_t next_deliver = 0;
  /// Requests in flight (a rebuilt block handed to the reader before its
  /// write ended holds its slot until the write ends).
  uint32_t in_flight = 0;
  /// Rate and round trip of the block requests, which size the window, and
  /// the bytes they fetched so far.
  storage::pipe_meter pipe;
  uint64_t bytes_fetched = 0;
  /// Blocks received, not yet delivered (at most `window`).
  std::map<uint64_t, block> ready;
  /// Failed attempts per index.
  std::map<uint64_t, uint32_t> attempts;
  /// The last answer to a pull and the index of its first block.
  std::vector<block> last_batch;
  uint64_t last_batch_first = 0;
  /// The reader's pending pull, if it is waiting.
  caf::typed_response_promise<std::vector<block>> waiting;
  bool has_waiting = false;
  /// Set once the stream cannot complete, or is closing.
  caf::error failure;
  /// Set when the stream ends (an exit message, an idle reader, a failed
  /// `drain`): it quits with `close_reason` once no write it started is in
  /// flight.
  bool closing = false;
  caf::error close_reason;
  /// Bumped by every pull, checked by the idle timer.
  uint64_t pulls = 0;

  // -- repair of protected datasets ------------------------------------------
  /// Steps being repaired, and steps already decoded.
  std::map<uint64_t, step_repair> repairs;
  std::set<uint64_t> repaired;
  /// Leaves that cannot be had from anyone (losses come in long runs).
  storage::index_runs lost;
  /// Lost leaves in the range, waiting to be rebuilt and proven.
  std::set<uint64_t> awaiting;
  /// Rebuilt blocks not yet proven against the tree.
  std::map<uint64_t, block> rebuilt;
  /// Rebuilt data blocks the reader has not asked for yet: proven and
  /// stored as soon as the witness allows, so that the reader finds them in
  /// the store instead of repairing their step a second time.
  std::set<uint64_t> storing_ahead;
  /// Such blocks being written, and those of them (or of `parking_now`)
  /// the reader asked for meanwhile (handed over, or asked for again, when
  /// the write completes).
  std::set<uint64_t> storing;
  std::set<uint64_t> wanted_from_store;
  /// Proven rebuilt blocks waiting to be stored under their leaves, whether
  /// each was rebuilt ahead of the reader, and whether a write is in flight
  /// (one at a time; the queue goes in the next).
  std::vector<leaf_block> store_queue;
  std::vector<bool> store_queue_ahead;
  bool store_writing = false;
  /// Rebuilt data blocks beyond those held in memory: stored by CID (a
  /// reference held by this download), so that their step is not decoded
  /// again, until proven and linked as leaves (see `linking`); one the
  /// reader gets to first is read back, proven and stored under its leaf.
  /// Shared with the functor attached for the actor's exit, which drops the
  /// references of blocks never used (a failure drops them at once).
  struct parking {
    std::map<uint64_t, cid> blocks;
    network_store_actor store;
  };
  std::shared_ptr<parking> parked = std::make_shared<parking>();
  /// Blocks being parked (written, or queued for the next write), the
  /// queued ones, and whether a write is in flight.
  std::set<uint64_t> parking_now;
  std::vector<std::pair<uint64_t, block>> park_queue;
  bool park_writing = false;
  /// Parked blocks proven ahead of the reader (by their CIDs' digests, no
  /// read back) and being linked as leaves in one transaction: their
  /// references go to the leaves, so the reader finds them like any stored
  /// block. An exit waits for the link (see `closing`): rolled back, the
  /// blocks go back to `parked` and are released.
  std::map<uint64_t, cid> linking;
  /// Where the last sweep over parked blocks stopped: the block, the leaf
  /// the witness needed for it and whether that leaf was lost then (see
  /// `blocked`). The next sweep starts only when one of them changed.
  struct link_stop {
    uint64_t index = 0;
    uint64_t leaf = 0;
    bool leaf_lost = false;
  };
  std::optional<link_stop> link_wait;
  /// Set when a link failed or a parked block did not prove: the rest are
  /// read back and proven when the reader gets there.
  bool link_off = false;
  /// Rebuilt leaves the witness could not prove yet: the leaf it needed and
  /// whether that leaf was lost then. Not tried again until that changes
  /// (a proof or candidate arrives, or the leaf turns out lost).
  std::map<uint64_t, std::pair<uint64_t, bool>> blocked;
  /// Leaves whose proofs are being fetched for the witness, and failed
  /// fetches per leaf.
  std::set<uint64_t> proof_fetches;
  std::map<uint64_t, uint32_t> proof_attempts;
  std::unique_ptr<storage::tree_witness> witness;
  /// A (proof_atom) to self is on its way: new events wait for it.
  bool prove_scheduled = false;
  /// Decodes steps off the cooperative scheduler (spawned when needed).
  caf::actor decoder;

  void gauges(std::vector<std::pair<std::string, double>>& out) const {
    out.emplace_back("next_block", static_cast<double>(next_deliver));
    out.emplace_back("last_block", static_cast<double>(spec.last));
    out.emplace_back("in_flight", static_cast<double>(in_flight));
    out.emplace_back("window", static_cast<double>(window_of(*this)));
    out.emplace_back("ready", static_cast<double>(ready.size()));
    out.emplace_back("repairing_steps", static_cast<double>(repairs.size()));
    out.emplace_back("parked", static_cast<double>(parked->blocks.size()));
    out.emplace_back("closing", closing ? 1.0 : 0.0);
    if (spec.progress)
      out.emplace_back("blocks_repaired",
                       static_cast<double>(spec.progress->blocks_repaired));
  }
};

/// Blocks a stream keeps requested or buffered: `spec.window`, or what its
/// pipe meter asks for (`pipe_meter::requests`: a slow start, then twice
/// the bandwidth-delay product of its requests; a long link), at most
/// `max_stream_window` (128 MiB of full blocks). Its requests' round trips
/// include the engine's store of each block, so the window covers a peer's
/// `peer_scheduler::max_depth` and the blocks being stored.
constexpr uint32_t max_stream_window = 2048;
uint32_t window_of(const store_stream_state& st);

/// Delivers blocks `spec.first..spec.last` of `spec.tree` in order to
/// whoever pulls, with at most `window_of(state)` blocks requested or
/// buffered.
/// A request that fails because the source died or timed out is retried
/// with the supervisor's current `network_store`; a missing block
/// (`not_found`) or exhausted attempts fail the stream: the pending and every
/// later pull get the error.
///
/// For a protected dataset (`spec.ec`), a missing data block is rebuilt
/// instead: the stream fetches any `k` blocks of its step (with proofs),
/// decodes the step in a detached worker, proves each rebuilt block against
/// the tree (`storage::tree_witness`), and delivers it in order while the
/// store writes it.
/// Rebuilt blocks far ahead of the reader are parked in the store by CID
/// until it gets there (see `store_stream_state::parked`).
/// A step with fewer than `k` blocks to be had fails the stream with
/// `not_found`; a rebuilt block that does not match the tree fails it with
/// `verification_failed`.
store_stream_actor::behavior_type
store_stream(store_stream_actor::stateful_pointer<store_stream_state> self,
             stream_spec spec, network_store_actor source,
             node_supervisor_actor supervisor);

} // namespace cairn::actors
