#pragma once

#include <functional>
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

struct node_log;

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

/// What is remembered per actor name across deaths.
struct name_history {
  /// Times an actor of this name registered again after one died
  /// abnormally (a supervisor restart).
  uint32_t restarts = 0;
  std::string last_error;
  bool died = false;
  /// An operator asked for the restart under way: its exit is no error.
  bool requested = false;
  /// The actor whose death was recorded last (the supervisor and an
  /// inspector may both report it).
  caf::actor_id last_death = 0;
};

/// Restart counts and last errors of a node's actors, by name. Owned by the
/// node (node_context), so that it outlives every inspector: a restarted
/// inspector still knows what happened before it. Written by the inspector
/// (registrations, deaths it sees) and the supervisor (deaths of its
/// children, restarts it was asked for). Thread-safe.
class actor_history {
public:
  /// Names remembered at most; beyond, names for which `is_live` is false
  /// are forgotten on the next `exited` (sessions and downloads have names
  /// of their own).
  static constexpr size_t max_names = 1024;

  /// An operator asked to restart `name`: its coming exit is not an error.
  void restart_requested(const std::string& name);

  /// The actor `id` named `name` ended with `reason`. An abnormal exit
  /// counts as a death (the next registration is a restart) and becomes
  /// `last_error`, unless the exit was requested. `is_live` tells the names
  /// still alive, to keep when the history is full (none are dropped
  /// without it). A death reported again (same `id`) changes nothing.
  void exited(const std::string& name, caf::actor_id id,
              const caf::error& reason,
              const std::function<bool(const std::string&)>& is_live = {});

  /// An actor named `name` registered: a restart if one of that name died.
  void registered(const std::string& name);

  /// The history of `name` (empty if none).
  name_history get(const std::string& name) const;

private:
  mutable std::mutex mtx_;
  std::map<std::string, name_history> names_;
};

/// The actors a node's inspectors were told of, by address. Owned by the
/// node (node_context), so that a restarted inspector watches again what
/// its predecessor was told of (peer sessions, downloads). Used only by the
/// node's current inspector: the supervisor starts one only after the
/// previous one is gone.
struct actor_registry {
  std::map<caf::actor_addr, inspected_actor> live;
  /// Told of every actor registered and forgotten, so that what they log
  /// is the node's (`node_context::log`); may be null.
  std::shared_ptr<node_log> log;
};

/// State of the `inspector` actor.
struct inspector_state {
  static inline constexpr const char* name = "inspector";
  /// Handler counters, published for the inspector.
  std::shared_ptr<actor_stats> stats = std::make_shared<actor_stats>();
  /// The node's registry of live actors.
  std::shared_ptr<actor_registry> registry;
  /// The node's history, shared with the supervisor and later inspectors.
  std::shared_ptr<actor_history> history;

  void gauges(std::vector<std::pair<std::string, double>>& out) const {
    out.emplace_back("actors", static_cast<double>(registry->live.size()));
  }
};

/// The registry of a node's live actors (README "Actors"): actors are
/// registered by whoever spawns them, monitored, and forgotten when they die
/// (their exit reason is kept per name as `last_error`). A list request asks
/// each live actor for its status with high priority and a short timeout, so a
/// long mailbox does not delay the answer; an actor busy in a long handler
/// is reported with its last status and `responsive = false`. Restart
/// counts and last errors are kept in `history`, the live actors in
/// `registry`; both belong to the node, so that a restarted inspector
/// carries on where its predecessor stopped.
inspector_actor::behavior_type
inspector(inspector_actor::stateful_pointer<inspector_state> self,
          std::shared_ptr<actor_history> history,
          std::shared_ptr<actor_registry> registry);

} // namespace cairn::actors
