#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "messages/interfaces.hpp"

namespace cairn::actors {

/// What one download fetches and how.
struct stream_spec {
  /// The dataset's tree.
  cid tree;
  /// First and last leaf index to deliver (inclusive).
  uint64_t first = 0;
  uint64_t last = 0;
  /// Block requests kept in flight ahead of the reader.
  uint32_t window = 16;
  /// Timeout of one block request.
  std::chrono::milliseconds block_timeout{30000};
  /// Attempts per block after the source failed (crashed, timed out).
  uint32_t max_attempts = 4;
  /// The stream quits when nobody pulled for this long (reader gone).
  std::chrono::milliseconds idle_timeout{120000};
};

/// State of one `store_stream` actor.
struct store_stream_state {
  static inline constexpr const char* name = "store_stream";
  stream_spec spec;
  /// Where blocks come from (the network store), and who knows its current
  /// handle after a restart.
  network_store_actor source;
  node_supervisor_actor supervisor;
  /// Next index to request and next index to deliver.
  uint64_t next_request = 0;
  uint64_t next_deliver = 0;
  /// Requests in flight.
  uint32_t in_flight = 0;
  /// Blocks received, not yet delivered (at most `window`).
  std::map<uint64_t, block> ready;
  /// Failed attempts per index.
  std::map<uint64_t, uint32_t> attempts;
  /// The reader's pending pull, if it is waiting.
  caf::typed_response_promise<std::vector<block>> waiting;
  bool has_waiting = false;
  /// Set once the stream cannot complete.
  caf::error failure;
  /// Bumped by every pull, checked by the idle timer.
  uint64_t pulls = 0;
};

/// Delivers blocks `spec.first..spec.last` of `spec.tree` in order to
/// whoever pulls, with at most `spec.window` blocks requested or buffered.
/// A request that fails because the source died or timed out is retried
/// with the supervisor's current `network_store`; a missing block
/// (`not_found`) or exhausted attempts fail the stream: the pending and every
/// later pull get the error.
store_stream_actor::behavior_type
store_stream(store_stream_actor::stateful_pointer<store_stream_state> self,
             stream_spec spec, network_store_actor source,
             node_supervisor_actor supervisor);

} // namespace cairn::actors
