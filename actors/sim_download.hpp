#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/store_stream.hpp"
#include "messages/interfaces.hpp"
#include "messages/sim.hpp"
#include "storage/synthetic_data.hpp"

namespace cairn::actors {

/// One download of a dataset by a hosted node, run once and quit.
using sim_download_actor = caf::typed_actor<
  /// (download_atom) -> (result)   fetches the dataset; a failure is
  ///   reported in the result (with the bytes had until then), not as an
  ///   error
  caf::replies_to<download_atom>::with<sim_download_result>,
  /// (retry_atom) -> ()   internal: go on with a new stream
  caf::reacts_to<retry_atom>>;

/// What a `sim_download` fetches, from which node, and what it compares.
struct sim_download_spec {
  /// The dataset's manifest CID (text).
  std::string cid;
  /// The synthetic dataset the bytes must equal (`expect_size` 0: none).
  uint64_t expect_size = 0;
  uint64_t expect_seed = 0;
  /// Blocks requested ahead (the node's `--stream-window`).
  uint32_t window = 64;
  /// The node's `--ec-backend`: repairs of a protected dataset use it.
  std::string ec_backend = "jerasure";
  /// Fetches of the manifest again, or new streams, after a manifest or
  /// block nobody had (peers that hold part of the dataset may be all a
  /// node knows at first), each a second later, as a client of the REST
  /// API would try again.
  uint32_t max_retries = 3;
  /// The node: its supervisor (the download fails when it goes), store,
  /// discovery, download log, and counts of who delivered what.
  node_supervisor_actor supervisor;
  network_store_actor store;
  discovery_actor discovery;
  std::shared_ptr<download_log> downloads;
  std::shared_ptr<tree_sources> sources;
};

/// State of one `sim_download` actor.
struct sim_download_state {
  static inline constexpr const char* name = "sim_download";
  sim_download_spec spec;
  manifest head;
  /// A protected dataset's layout: blocks nobody has are rebuilt from it.
  std::optional<storage::ec_layout> ec;
  storage::ec_backend backend = storage::ec_backend::jerasure;
  store_stream_actor stream;
  uint64_t next = 0;
  sim_download_result result;
  std::unique_ptr<storage::sha256_stream> hash =
    std::make_unique<storage::sha256_stream>();
  /// False once a byte differed from the expected dataset.
  bool matches = true;
  std::shared_ptr<download_progress> progress;
  std::chrono::steady_clock::time_point started;
  /// When the manifest was last asked for, with the first window of leaves.
  std::chrono::steady_clock::time_point manifest_asked;
  caf::typed_response_promise<sim_download_result> promise;
  bool done = false;
};

/// Fetches the manifest through the node's network store (peers first,
/// then providers found in the DHT), reads every data block in order from
/// a `store_stream` (as `GET /data/{cid}/network/stream` does; of a
/// protected dataset, with repair from parity), hashes the
/// bytes, compares them with the expected synthetic dataset, and answers
/// with the timings, the bytes, the peers that delivered blocks, the
/// duplicates, and the node's DHT lookups for the dataset. A manifest or
/// block nobody has (`not_found`) is asked for again a second later (a
/// block: the stream ends, the download goes on from there with a new
/// one), up to `max_retries` times in all (counted in the result). The download
/// fails (in its result) when the node's supervisor goes down.
sim_download_actor::behavior_type
sim_download(sim_download_actor::stateful_pointer<sim_download_state> self,
             sim_download_spec spec);

} // namespace cairn::actors
