#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <caf/typed_event_based_actor.hpp>

#include "actors/instrumented.hpp"
#include "messages/interfaces.hpp"

namespace cairn::actors {

/// The current inspector of a node, for the actors that register others
/// (engine: peer sessions; api: downloads). Replaced when the supervisor
/// restarts the inspector. Thread-safe.
class inspector_ref {
public:
  void set(inspector_actor x) {
    std::lock_guard<std::mutex> guard{mtx_};
    handle_ = std::move(x);
  }

  inspector_actor get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return handle_;
  }

private:
  mutable std::mutex mtx_;
  inspector_actor handle_;
};

/// A live actor as the inspector knows it.
struct inspected_actor {
  caf::actor handle;
  std::string name;
  std::string kind;
  std::string parent;
  /// Its last answer, reported (as unresponsive) when it does not answer.
  actor_status last;
};

/// What the inspector remembers per name across deaths.
struct name_history {
  /// Times an actor of this name registered again after one died
  /// abnormally (a supervisor restart).
  uint32_t restarts = 0;
  std::string last_error;
  bool died = false;
};

/// State of the `inspector` actor.
struct inspector_state {
  static inline constexpr const char* name = "inspector";
  /// Handler counters, published for the inspector.
  std::shared_ptr<actor_stats> stats = std::make_shared<actor_stats>();
  std::map<caf::actor_addr, inspected_actor> live;
  std::map<std::string, name_history> history;

  void gauges(std::vector<std::pair<std::string, double>>& out) const {
    out.emplace_back("actors", static_cast<double>(live.size()));
  }
};

/// The registry of a node's live actors (README "Actors"): actors are
/// registered by whoever spawns them, monitored, and forgotten when they die
/// (their exit reason is kept per name as `last_error`). A list request asks
/// each live actor for its status with high priority and a short timeout, so a
/// long mailbox does not delay the answer; an actor busy in a long handler
/// is reported with its last status and `responsive = false`.
inspector_actor::behavior_type
inspector(inspector_actor::stateful_pointer<inspector_state> self);

} // namespace cairn::actors
