#pragma once

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>

namespace cairn::actors {

/// A worker that decodes erasure-coded steps for a download's store_stream.
/// Spawn it detached (erasure coding of a whole step stays off the
/// cooperative scheduler) and linked to its stream.
///
/// (decode_atom, k, m, backend, shards) -> (shards)
///   `shards` has k + m entries, the absent ones without data; the answer
///   has the absent shards rebuilt and the others empty.
///   errors: those of storage::erasure_codec (bad parameters, too few
///   shards)
caf::behavior step_decoder(caf::event_based_actor* self);

} // namespace cairn::actors
