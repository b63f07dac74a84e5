#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "messages/interfaces.hpp"
#include "messages/sim.hpp"
#include "storage/synthetic_data.hpp"

namespace cairn::actors {

/// One upload of a synthetic dataset, run once and quit.
using sim_upload_actor = caf::typed_actor<
  /// (upload_atom) -> (result)   stores the dataset and answers with its
  ///   CID   errors: as the network store's put and commit
  caf::replies_to<upload_atom>::with<sim_upload_result>>;

/// State of one `sim_upload` actor.
struct sim_upload_state {
  static inline constexpr const char* name = "sim_upload";
  network_store_actor store;
  uint64_t size = 0;
  uint64_t seed = 0;
  /// The next block to generate and the leaves so far.
  uint64_t next = 0;
  std::vector<digest256> leaves;
  std::unique_ptr<storage::sha256_stream> hash =
    std::make_unique<storage::sha256_stream>();
  std::chrono::steady_clock::time_point started;
  caf::typed_response_promise<sim_upload_result> promise;
};

/// Generates the `size` bytes of synthetic dataset `seed`
/// (storage::synthetic_data), stores them through `store` in batches of
/// one transaction each, as the REST upload does, commits the dataset and
/// quits. The same size and seed always give the same CID.
sim_upload_actor::behavior_type
sim_upload(sim_upload_actor::stateful_pointer<sim_upload_state> self,
           network_store_actor store, uint64_t size, uint64_t seed);

} // namespace cairn::actors
