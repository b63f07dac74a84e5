#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/node_log.hpp"
#include "actors/node_supervisor.hpp"
#include "messages/sim.hpp"

namespace cairn::actors {

/// The agent's nodes as its HTTP server sees them (`cairn-sim agent
/// --api-port`): written by the agent, read by the server's handler
/// threads. Thread-safe.
class sim_node_directory {
public:
  /// Node `index` exists; `ctx` is the context it runs with, null while it
  /// is down or starting.
  void set(uint32_t index, std::shared_ptr<node_context> ctx) {
    std::lock_guard<std::mutex> guard{mtx_};
    nodes_[index] = std::move(ctx);
  }

  /// False if the agent has no node `index`; else sets `ctx` to its running
  /// context, null while it is down or starting.
  bool find(uint32_t index, std::shared_ptr<node_context>& ctx) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = nodes_.find(index);
    if (i == nodes_.end())
      return false;
    ctx = i->second;
    return true;
  }

private:
  mutable std::mutex mtx_;
  std::map<uint32_t, std::shared_ptr<node_context>> nodes_;
};

/// How a `cairn-sim agent` hosts its nodes.
struct sim_agent_config {
  /// The secret a coordinator must present (`--secret-file`).
  std::string secret;
  /// Node i keeps its store and key in `<data_dir>/node-<i>`.
  std::string data_dir = "./cairn-sim-data";
  /// The address the nodes listen on and announce to their peers.
  std::string advertise_ip = "127.0.0.1";
  /// The process's log, in front of its sinks: each node logs at its own
  /// level, its lines tagged `node <i>: `. Null: nodes log as the process.
  std::shared_ptr<node_log_sink> log_sink;
  /// Kept current for the agent's HTTP server, if it has one.
  std::shared_ptr<sim_node_directory> directory =
    std::make_shared<sim_node_directory>();
};

/// A node hosted by the agent, across kills and restarts.
struct sim_node {
  uint32_t index = 0;
  /// The settings and key of the node; a fresh context per start (its
  /// logs, registry and peers start empty, as after a process restart).
  config::node_options options;
  storage::node_key key;
  std::shared_ptr<node_context> ctx;
  node_supervisor_actor supervisor;
  network_store_actor store;
  discovery_actor discovery;
  /// The local_store of the running (or last) start: a restart waits for
  /// it to end, so that one LMDB environment is never open twice.
  caf::actor local;
  bool up = false;
  bool starting = false;
  /// Restarts waiting for `local` and `supervisor` to end.
  std::vector<std::function<void()>> on_closed;
  sim_node_stats stats;
};

/// State of the `sim_agent` actor.
struct sim_agent_state {
  static inline constexpr const char* name = "sim_agent";
  sim_agent_config cfg;
  /// Processes whose actors presented the secret.
  std::set<caf::node_id> admitted;
  std::map<uint32_t, sim_node> nodes;
  /// Set by `stop_atom`: the agent quits once every store closed.
  bool stopping = false;
  /// Downloads started and not ended; the heap is trimmed a while after
  /// the last one ends.
  size_t downloads_running = 0;
};

/// The agent of `cairn-sim` (README "cairn-sim"): hosts nodes as values in
/// its actor system and runs the coordinator's commands on them (see
/// `sim_agent_actor` in messages/sim.hpp). Uploads and downloads run in
/// actors of their own (`sim_upload`, `sim_download`) that answer the
/// coordinator directly.
sim_agent_actor::behavior_type
sim_agent(sim_agent_actor::stateful_pointer<sim_agent_state> self,
          sim_agent_config cfg);

} // namespace cairn::actors
