#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "config/scenario.hpp"
#include "messages/sim.hpp"

namespace cairn::actors {

/// A dataset uploaded (or protected) during a run.
struct sim_upload_record {
  std::string data;
  uint32_t node = 0;
  uint64_t size = 0;
  uint64_t data_seed = 0;
  /// A protected dataset: the upload it encodes, K and M.
  std::string source;
  uint32_t k = 0;
  uint32_t m = 0;
  /// Seconds into the run when it was asked for; its result when done.
  double at = 0;
  std::optional<sim_upload_result> result;
  std::string error;
};

/// A download of a run: where, what, when and how it ended.
struct sim_download_record {
  uint32_t node = 0;
  std::string data;
  /// Seconds into the run when it was asked for.
  double at = 0;
  /// pending, running, done, failed (bytes wrong or an error), interrupted
  /// (its node was killed meanwhile), skipped (its node was down), or
  /// unfinished (the run ended first).
  std::string state = "pending";
  sim_download_result result;
  /// Its step (index into sim_run_log::steps).
  size_t step = 0;
};

/// Something that happened during a run, for the report.
struct sim_event_record {
  double at = 0;
  std::string what;
  std::optional<uint32_t> node;
  std::string detail;
};

/// Everything a run collected; written into the report when the run ends
/// (also when it ends early). Filled by the coordinator only; read by
/// others once it has quit.
struct sim_run_log {
  std::string scenario;
  uint64_t seed = 0;
  std::vector<std::string> agents;
  /// The agent and the group of each node.
  std::vector<uint32_t> placement;
  std::vector<std::string> node_group;
  std::vector<config::sim_step> steps;
  /// Per scenario event: its condition as written ("" for the start).
  std::vector<std::string> event_after;
  std::vector<sim_event_record> events;
  std::map<std::string, sim_upload_record> uploads;
  std::vector<sim_download_record> downloads;
  /// Per node, from the agents at the end (those still reachable).
  std::vector<sim_node_stats> nodes;
  /// Seconds to start every node; seconds of the timeline until the end.
  double startup_seconds = 0;
  double run_seconds = 0;
  /// 0 when every download on a node that stayed up completed and matched;
  /// 1 otherwise, with `reason` (one line).
  int exit_code = 0;
  std::string reason;
};

/// An agent of the run, as the coordinator reaches it.
struct sim_agent_link {
  /// How the operator named it (`HOST:PORT`).
  std::string name;
  sim_agent_actor handle;
  /// Set when its connection went down.
  bool lost = false;
};

/// State of the `sim_coordinator` actor.
struct sim_coordinator_state {
  static inline constexpr const char* name = "sim_coordinator";
  config::scenario scenario;
  std::vector<sim_agent_link> agents;
  std::shared_ptr<sim_run_log> log;
  std::chrono::steady_clock::time_point started;
  std::chrono::steady_clock::time_point t0;
  bool running = false;
  bool finished = false;
  uint32_t nodes_up = 0;
  /// Per node: currently up (as far as the coordinator knows), and the
  /// number of kills so far (a download interrupted by one is no failure).
  std::vector<bool> up;
  std::vector<uint32_t> kills;
  /// Steps not yet dispatched, requests not yet answered.
  size_t steps_left = 0;
  size_t outstanding = 0;
  /// Downloads (by download index) and protect and delete steps (by step
  /// index) waiting for their dataset (by data name).
  std::multimap<std::string, size_t> waiting;
  std::multimap<std::string, size_t> waiting_steps;
  /// Per scenario event: its steps, those not finished yet, and whether
  /// its condition held (its steps are scheduled).
  std::vector<std::vector<size_t>> event_steps;
  std::vector<size_t> event_left;
  std::vector<bool> event_started;
  /// Per dataset: downloads not ended yet (`downloads-done:DATA`).
  std::map<std::string, size_t> downloads_left;
  /// Whether the progress line goes to a terminal (rewritten in place).
  bool tty = false;
  double last_progress = -10;
};

/// Runs a scenario on connected, admitted agents (README "cairn-sim"):
/// starts the bootstrap node, then every other node bootstrapping from it,
/// then plays the timeline of `log->steps`; monitors every agent (losing
/// one ends the run at once, exit 1, naming it); shows a progress line on
/// stderr; ends when every step ran and every request was answered, or at
/// the time limit; then collects the nodes' stats, stops the agents and
/// quits. The outcome is in `log`.
caf::behavior sim_coordinator(caf::stateful_actor<sim_coordinator_state>* self,
                              config::scenario scenario,
                              std::vector<sim_agent_link> agents,
                              std::shared_ptr<sim_run_log> log);

} // namespace cairn::actors
