#pragma once

// Log levels per node for nodes that share one process and its logger
// (cairn-sim's agent). Not an actor.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/fwd.hpp>
#include <spdlog/sinks/sink.h>

namespace cairn::actors {

/// The spdlog level of one of Cairn's log levels (`config::is_log_level`:
/// trace, debug, info, notice, warn, error, fatal); info if unknown.
spdlog::level::level_enum spdlog_level(std::string_view level);

/// A sink in front of the process's own sinks. A line logged while an
/// actor of a node runs (CAF's scheduler records the running actor per
/// thread) is kept if it is at or above that node's level, and starts with
/// `node <i>: `; any other line is kept if at or above the process's level.
/// Lines logged outside an actor (a store's own thread, the DHT
/// sockets' poller, an HTTP handler) are the process's. Thread-safe.
class node_log_sink : public spdlog::sinks::sink {
public:
  /// Puts a node_log_sink in front of the default logger's sinks; the
  /// logger's current level becomes the process's level.
  static std::shared_ptr<node_log_sink> install();

  node_log_sink(std::vector<spdlog::sink_ptr> out,
                spdlog::level::level_enum process_level);

  /// Node `node` logs at `level` and above, and the default logger lets
  /// through the most verbose level anyone asks for.
  void set_level_of(uint32_t node, spdlog::level::level_enum level);

  /// Lines logged while actor `id` runs are node `node`'s.
  void track(caf::actor_id id, uint32_t node);
  void untrack(caf::actor_id id);

  void log(const spdlog::details::log_msg& msg) override;
  void flush() override;
  void set_pattern(const std::string& pattern) override;
  void set_formatter(std::unique_ptr<spdlog::formatter> f) override;

private:
  std::vector<spdlog::sink_ptr> out_;
  spdlog::level::level_enum process_level_;
  mutable std::shared_mutex mtx_;
  std::unordered_map<caf::actor_id, uint32_t> actors_;
  std::map<uint32_t, spdlog::level::level_enum> levels_;
};

/// A node's part of a shared node_log_sink (`node_context::log`).
struct node_log {
  std::shared_ptr<node_log_sink> sink;
  uint32_t node = 0;
};

/// Sets the log level of `log`'s node, or of the whole process when `log`
/// is null (a node alone in its process: cairn-node).
void set_log_level(const std::shared_ptr<node_log>& log,
                   spdlog::level::level_enum level);

} // namespace cairn::actors
