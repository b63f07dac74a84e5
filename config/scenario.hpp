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

/// What an event of the timeline does. `churn` expands into kills and
/// restarts; every other kind is also the kind of its steps.
enum class event_kind { upload, download, kill, restart, protect, del, churn };

/// The name of `k` as a scenario writes it ("delete" for `del`).
const char* event_name(event_kind k);

/// Which nodes an event acts on: every node of `group` (or of every group)
/// unless `fraction` (seeded) or `nodes` (a list) narrow it.
struct node_selector {
  std::string group;
  std::optional<double> fraction;
  std::vector<uint32_t> nodes;
};

/// A random duration in seconds (`down = "exp:5s"`): fixed, exponential
/// with a mean, or uniform within bounds.
struct duration_dist {
  enum class shape { fixed, exponential, uniform };
  shape kind = shape::fixed;
  /// fixed: the value; exponential: the mean; uniform: the bounds.
  double a = 0;
  double b = 0;
};

/// When an event's `at` counts from: the start of the timeline, or the
/// moment a condition holds (`after = "event:NAME"`: every request of
/// the named event was answered; `after = "downloads-done:DATA"`: every
/// download of the dataset ended, whatever its state).
struct event_condition {
  enum class what { start, event_done, downloads_done };
  what kind = what::start;
  /// The event's name or the dataset's.
  std::string name;
};

/// One entry of the timeline (`[[event]]`).
struct scenario_event {
  event_kind kind = event_kind::upload;
  /// Seconds after `after` holds (by default: after the nodes are up).
  double at = 0;
  event_condition after;
  /// Optional, for `after = "event:NAME"`.
  std::string name;
  /// Line of the event in the file, for messages.
  int line = 0;
  /// upload, protect: the node (protect: unset means the dataset's
  /// uploader); the dataset's name; upload: its size and data seed.
  std::optional<uint32_t> node;
  std::string data;
  uint64_t size = 0;
  std::optional<uint64_t> data_seed;
  /// protect: erasure coding with K data and M parity blocks per step; the
  /// protected dataset is named `as` (default `<data>.ec`).
  uint32_t k = 0;
  uint32_t m = 0;
  std::string as;
  /// download, kill, restart, delete, churn: which nodes. A download leaves
  /// out the node the dataset came from.
  node_selector select;
  /// download: starts spread uniformly over [at, at + spread].
  double spread = 0;
  /// kill: restart each node after a time drawn from this (unset: stays
  /// down). churn: also the time each node stays down.
  std::optional<duration_dist> down;
  /// churn: the time each node stays up between kills, and for how long
  /// (from `at`) nodes are killed.
  std::optional<duration_dist> up;
  double duration = 0;
  /// delete: the fraction of the dataset's blocks each node drops (seeded).
  double blocks = 0;
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
  /// Seconds after the condition of its event (scenario::events[event]).
  double at = 0;
  event_kind kind = event_kind::upload;
  uint32_t node = 0;
  /// upload, download, protect, delete: the dataset (name, size, data
  /// seed); protect: the name of the protected dataset in `as`.
  std::string data;
  uint64_t size = 0;
  uint64_t data_seed = 0;
  std::string as;
  /// protect: K and M.
  uint32_t k = 0;
  uint32_t m = 0;
  /// delete: the fraction of blocks to drop and the seed that picks them.
  double blocks = 0;
  uint64_t pick_seed = 0;
  /// The event it comes from (index into scenario::events).
  size_t event = 0;
};

/// The indices among `count` blocks that a delete step with `fraction`
/// and `seed` drops, in order.
std::vector<uint64_t> pick_blocks(uint64_t count, double fraction,
                                  uint64_t seed);

/// The condition as a scenario writes it ("", "event:NAME",
/// "downloads-done:DATA").
std::string to_string(const event_condition& c);

/// The steps of `s`, ordered by condition then time. The same scenario and
/// seed always give the same steps.
std::vector<sim_step> expand(const scenario& s, uint64_t seed);

/// The agent (0..agents-1) hosting node `index`.
uint32_t placement(const scenario& s, uint32_t index, uint32_t agents);

} // namespace cairn::config
