#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cairn::config {

/// A group of nodes of a scenario, configured alike.
struct scenario_group {
  std::string name;
  uint32_t count = 0;
  /// The agent (by position in the run's agent list) that hosts every node
  /// of the group; unset: nodes go to the agents round-robin by index.
  std::optional<uint32_t> agent;
  /// cairn-node settings of the group's nodes, as flags `--key=value`.
  std::vector<std::string> node_flags;
  /// Global index of the group's first node (groups are numbered in order).
  uint32_t first = 0;
};

/// What an event of the timeline does.
enum class event_kind { upload, download, kill, restart };

/// One entry of the timeline (`[[event]]`).
struct scenario_event {
  event_kind kind = event_kind::upload;
  /// Seconds after the nodes are up.
  double at = 0;
  /// Line of the event in the file, for messages.
  int line = 0;
  /// upload: the node, the dataset's name, size and data seed.
  uint32_t node = 0;
  std::string data;
  uint64_t size = 0;
  std::optional<uint64_t> data_seed;
  /// download, kill, restart: which nodes. All of the group (or of every
  /// node) unless `fraction` or `nodes` say otherwise; a download leaves
  /// out the dataset's uploader.
  std::string group;
  std::optional<double> fraction;
  std::vector<uint32_t> nodes;
  /// download: starts spread uniformly over [at, at + spread].
  double spread = 0;
  /// kill: restart each node this many seconds later (unset: stays down).
  std::optional<double> restart_after;
};

/// A simulation scenario (README "cairn-sim", the scenario format).
struct scenario {
  /// Seeds every random choice: placements, selections, spreads, data.
  uint64_t seed = 1;
  std::vector<scenario_group> groups;
  /// Every node bootstraps its DHT from this one (started first).
  uint32_t bootstrap_node = 0;
  std::vector<scenario_event> events;
  /// The run stops here, finished or not (seconds after the nodes are up).
  double time_limit = 120;
  /// The file it came from.
  std::string path;

  uint32_t node_count() const {
    return groups.empty() ? 0 : groups.back().first + groups.back().count;
  }
};

/// Reads and checks a scenario file. On error, sets `why` to one line
/// naming the file, the line and the key ("s.toml:12: event: unknown key
/// 'sise'") and returns nothing.
std::optional<scenario> parse_scenario(const std::string& path,
                                       std::string& why);

/// One concrete step of a run, the timeline expanded with the seed.
struct sim_step {
  double at = 0;
  event_kind kind = event_kind::upload;
  uint32_t node = 0;
  /// upload and download: the dataset (name, size, data seed).
  std::string data;
  uint64_t size = 0;
  uint64_t data_seed = 0;
  /// The event it comes from (index into scenario::events).
  size_t event = 0;
};

/// The steps of `s` in time order. The same scenario and seed always give
/// the same steps.
std::vector<sim_step> expand(const scenario& s, uint64_t seed);

/// The agent (0..agents-1) hosting node `index`.
uint32_t placement(const scenario& s, uint32_t index, uint32_t agents);

} // namespace cairn::config
