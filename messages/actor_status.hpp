#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace cairn {

/// What an actor reports about itself to the inspector (README "Actors"), and
/// what the operator sees in `GET /api/cairn/v1/actors` and `cairnctl actors`.
struct actor_status {
  /// Its name in the node: a supervisor child's name ("engine", ...),
  /// "peer_session/<peer id>" or "store_stream/<n>".
  std::string name;
  /// CAF's actor ID (unique within the process).
  uint64_t id = 0;
  /// "supervisor", "event_based", "detached" or "broker".
  std::string kind;
  /// Name of the actor that spawned it ("" for the root).
  std::string parent;
  /// Messages waiting in its mailbox when it answered.
  uint64_t mailbox = 0;
  /// Messages its handlers processed, and the time they took.
  uint64_t processed = 0;
  double busy_seconds = 0;
  /// Times the supervisor restarted an actor of this name.
  uint32_t restarts = 0;
  /// Why the last actor of this name died abnormally ("" if never).
  std::string last_error;
  /// False when it did not answer in time (busy in a long handler); the
  /// counters are then the last ones it published.
  bool responsive = true;
  /// Its own measurements (engine: peers, pending blocks, bytes in/out;
  /// local_store: blocks, bytes; ...), by name.
  std::vector<std::pair<std::string, double>> gauges;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_status& x) {
  return f(caf::meta::type_name("actor_status"), x.name, x.id, x.kind, x.parent,
           x.mailbox, x.processed, x.busy_seconds, x.restarts, x.last_error,
           x.responsive, x.gauges);
}

} // namespace cairn
