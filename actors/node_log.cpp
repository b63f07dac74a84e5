#include "actors/node_log.hpp"

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>

#include <caf/logger.hpp>
#include <spdlog/spdlog.h>

namespace cairn::actors {

spdlog::level::level_enum spdlog_level(std::string_view level) {
  if (level == "trace")
    return spdlog::level::trace;
  if (level == "debug")
    return spdlog::level::debug;
  if (level == "warn")
    return spdlog::level::warn;
  if (level == "error")
    return spdlog::level::err;
  if (level == "fatal")
    return spdlog::level::critical;
  return spdlog::level::info; // info, notice
}

std::shared_ptr<node_log_sink> node_log_sink::install() {
  auto logger = spdlog::default_logger();
  auto sink = std::make_shared<node_log_sink>(logger->sinks(), logger->level());
  logger->sinks() = {sink};
  return sink;
}

node_log_sink::node_log_sink(std::vector<spdlog::sink_ptr> out,
                             spdlog::level::level_enum process_level)
  : out_(std::move(out)), process_level_(process_level) {
  // Filters by itself: the logger in front decides what is formatted.
}

void node_log_sink::set_level_of(uint32_t node,
                                 spdlog::level::level_enum level) {
  auto lowest = process_level_;
  {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    levels_[node] = level;
    for (auto& [n, l] : levels_)
      lowest = std::min(lowest, l);
  }
  spdlog::default_logger()->set_level(lowest);
}

void node_log_sink::track(caf::actor_id id, uint32_t node) {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  actors_[id] = node;
}

void node_log_sink::untrack(caf::actor_id id) {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  actors_.erase(id);
}

void node_log_sink::log(const spdlog::details::log_msg& msg) {
  caf::actor_id running = 0;
  if (auto* caf_logger = caf::logger::current_logger())
    running = caf_logger->thread_local_aid();
  auto level = process_level_;
  std::optional<uint32_t> node;
  if (running != 0) {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto i = actors_.find(running);
    if (i != actors_.end()) {
      node = i->second;
      auto l = levels_.find(i->second);
      if (l != levels_.end())
        level = l->second;
    }
  }
  if (msg.level < level)
    return;
  if (!node) {
    for (auto& s : out_)
      s->log(msg);
    return;
  }
  auto text = "node " + std::to_string(*node) + ": " +
              std::string{msg.payload.data(), msg.payload.size()};
  auto tagged = msg;
  tagged.payload = text;
  for (auto& s : out_)
    s->log(tagged);
}

void node_log_sink::flush() {
  for (auto& s : out_)
    s->flush();
}

void node_log_sink::set_pattern(const std::string& pattern) {
  for (auto& s : out_)
    s->set_pattern(pattern);
}

void node_log_sink::set_formatter(std::unique_ptr<spdlog::formatter> f) {
  for (auto& s : out_)
    s->set_formatter(f->clone());
}

void set_log_level(const std::shared_ptr<node_log>& log,
                   spdlog::level::level_enum level) {
  if (log && log->sink)
    log->sink->set_level_of(log->node, level);
  else
    spdlog::set_level(level);
}

} // namespace cairn::actors
