#include "actors/sim_coordinator.hpp"

#include <unistd.h>

#include <cstdio>

#include <spdlog/spdlog.h>

#include "messages/error.hpp"

namespace cairn::actors {

namespace {

using self_ptr = caf::stateful_actor<sim_coordinator_state>*;

using step_atom = caf::atom_constant<caf::atom("step")>;
using limit_atom = caf::atom_constant<caf::atom("limit")>;

constexpr auto spawn_timeout = std::chrono::seconds{120};
constexpr auto command_timeout = std::chrono::seconds{60};
constexpr auto stats_timeout = std::chrono::seconds{5};

double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t)
    .count();
}

// Seconds into the timeline (negative while the nodes start).
double now(self_ptr self) {
  return self->state.running ? since(self->state.t0) : 0.0;
}

const sim_agent_link& agent_of(self_ptr self, uint32_t node) {
  return self->state.agents[self->state.log->placement[node]];
}

void note(self_ptr self, std::string what, std::optional<uint32_t> node,
          std::string detail = {}) {
  self->state.log->events.push_back(
    sim_event_record{now(self), std::move(what), node, std::move(detail)});
}

std::string fixed(double x, int digits = 1) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, x);
  return buf;
}

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", bytes / 1048576.0);
  return buf;
}

void progress(self_ptr self, bool force = false) {
  auto& st = self->state;
  double t = since(st.started);
  if (!force && !st.tty && t - st.last_progress < 5)
    return;
  st.last_progress = t;
  size_t done = 0, failed = 0, interrupted = 0;
  uint64_t moved = 0;
  for (auto& d : st.log->downloads) {
    done += d.state == "done";
    failed += d.state == "failed";
    interrupted += d.state == "interrupted";
    moved += d.result.bytes;
  }
  std::fprintf(stderr,
               "%s[%6.1fs] nodes %u/%u up · downloads %zu/%zu done, %zu "
               "failed, %zu interrupted · %s moved%s",
               st.tty ? "\r" : "", t, st.nodes_up, st.scenario.node_count(),
               done, st.log->downloads.size(), failed, interrupted,
               mib(moved).c_str(), st.tty ? "   " : "\n");
  std::fflush(stderr);
}

// Collects the nodes' stats from the agents still there, stops them, and
// quits. `code` and `reason` are the run's outcome.
void finish(self_ptr self, int code, std::string reason) {
  auto& st = self->state;
  if (st.finished)
    return;
  st.finished = true;
  st.log->run_seconds = now(self);
  if (st.log->exit_code == 0) {
    st.log->exit_code = code;
    st.log->reason = std::move(reason);
  }
  for (auto& d : st.log->downloads)
    if (d.state == "pending" || d.state == "running")
      d.state = "unfinished";
  progress(self, true);
  if (st.tty)
    std::fputc('\n', stderr);
  auto left = std::make_shared<size_t>(0);
  for (auto& a : st.agents)
    *left += !a.lost;
  auto one_done = [self, left] {
    if (--*left == 0)
      self->quit();
  };
  if (*left == 0)
    return self->quit();
  for (auto& a : st.agents) {
    if (a.lost)
      continue;
    auto h = a.handle;
    self->request(h, stats_timeout, stats_atom::value)
      .then(
        [self, h, one_done](std::vector<sim_node_stats>& xs) {
          auto& log = *self->state.log;
          log.nodes.insert(log.nodes.end(), xs.begin(), xs.end());
          self->request(h, stats_timeout, stop_atom::value)
            .then([one_done](ok_atom) { one_done(); },
                  [one_done](caf::error&) { one_done(); });
        },
        [one_done](caf::error&) { one_done(); });
  }
}

// Ends the run if nothing is left to do.
void check_done(self_ptr self) {
  auto& st = self->state;
  if (st.finished || !st.running || st.steps_left > 0 || st.outstanding > 0)
    return;
  size_t failed = 0, uploads_failed = 0;
  for (auto& d : st.log->downloads)
    failed += d.state == "failed";
  for (auto& [name, u] : st.log->uploads)
    uploads_failed += !u.error.empty();
  if (uploads_failed > 0)
    return finish(self, 1,
                  std::to_string(uploads_failed) + " upload(s) failed");
  if (failed > 0)
    return finish(self, 1,
                  std::to_string(failed) + " of " +
                    std::to_string(st.log->downloads.size()) +
                    " downloads failed");
  finish(self, 0, {});
}

void start_download(self_ptr self, size_t index);

// A command of the timeline was answered: records it, and ends the run if
// it was the last thing to wait for.
void answered(self_ptr self, std::string what, uint32_t node,
              std::string detail = {}) {
  note(self, std::move(what), node, std::move(detail));
  --self->state.outstanding;
  check_done(self);
}

// Starts (or settles) the downloads that waited for the upload of `data`.
void release_waiting(self_ptr self, const std::string& data) {
  auto& st = self->state;
  std::vector<size_t> ready;
  auto [b, e] = st.waiting.equal_range(data);
  for (auto i = b; i != e; ++i)
    ready.push_back(i->second);
  st.waiting.erase(data);
  for (auto index : ready)
    start_download(self, index);
}

void start_download(self_ptr self, size_t index) {
  auto& st = self->state;
  auto& d = st.log->downloads[index];
  auto& up = st.log->uploads[d.data];
  if (!up.error.empty()) {
    d.state = "failed";
    d.result.error = "its upload failed: " + up.error;
    return;
  }
  if (!st.up[d.node]) {
    d.state = "skipped";
    d.result.error = "node down";
    return;
  }
  d.state = "running";
  ++st.outstanding;
  auto kills = st.kills[d.node];
  self
    ->request(agent_of(self, d.node).handle, caf::infinite,
              download_atom::value, d.node, up.result->cid, up.size,
              up.data_seed)
    .then(
      [self, index, kills](sim_download_result& r) {
        auto& st = self->state;
        auto& d = st.log->downloads[index];
        auto& up = st.log->uploads[d.data];
        d.result = std::move(r);
        if (d.result.error.empty() && d.result.verified &&
            d.result.sha256 == up.result->sha256)
          d.state = "done";
        else if (st.kills[d.node] != kills)
          d.state = "interrupted";
        else
          d.state = "failed";
        if (d.state == "done" || d.state == "failed")
          note(self, "download " + d.state, d.node,
               d.data + (d.result.error.empty() ? "" : ": " + d.result.error));
        --st.outstanding;
        check_done(self);
      },
      [self, index](caf::error& err) {
        auto& st = self->state;
        auto& d = st.log->downloads[index];
        d.state = "failed";
        d.result.error = describe(err);
        --st.outstanding;
        check_done(self);
      });
}

void run_step(self_ptr self, size_t i) {
  auto& st = self->state;
  auto step = st.log->steps[i];
  --st.steps_left;
  auto& agent = agent_of(self, step.node).handle;
  switch (step.kind) {
  case config::event_kind::upload: {
    auto& up = st.log->uploads[step.data];
    up.data = step.data;
    up.node = step.node;
    up.size = step.size;
    up.data_seed = step.data_seed;
    up.at = now(self);
    ++st.outstanding;
    self
      ->request(agent, command_timeout, upload_atom::value, step.node,
                step.size, step.data_seed)
      .then(
        [self, step](sim_upload_result& r) {
          auto detail = step.data + " " + r.cid;
          self->state.log->uploads[step.data].result = std::move(r);
          release_waiting(self, step.data);
          answered(self, "uploaded", step.node, detail);
        },
        [self, step](caf::error& err) {
          self->state.log->uploads[step.data].error = describe(err);
          release_waiting(self, step.data);
          answered(self, "upload failed", step.node, describe(err));
        });
    break;
  }
  case config::event_kind::download: {
    sim_download_record d;
    d.node = step.node;
    d.data = step.data;
    d.at = now(self);
    st.log->downloads.push_back(std::move(d));
    auto index = st.log->downloads.size() - 1;
    auto& up = st.log->uploads[step.data];
    if (up.result || !up.error.empty())
      start_download(self, index);
    else
      st.waiting.emplace(step.data, index);
    break;
  }
  case config::event_kind::kill: {
    if (!st.up[step.node]) {
      note(self, "kill skipped", step.node, "already down");
      break;
    }
    st.up[step.node] = false;
    ++st.kills[step.node];
    --st.nodes_up;
    ++st.outstanding;
    self->request(agent, command_timeout, kill_atom::value, step.node)
      .then([self, step](ok_atom) { answered(self, "killed", step.node); },
            [self, step](caf::error& err) {
              answered(self, "kill failed", step.node, describe(err));
            });
    break;
  }
  case config::event_kind::restart: {
    if (st.up[step.node]) {
      note(self, "restart skipped", step.node, "already up");
      break;
    }
    ++st.outstanding;
    self->request(agent, command_timeout, restart_atom::value, step.node)
      .then(
        [self, step](std::string&) {
          self->state.up[step.node] = true;
          ++self->state.nodes_up;
          answered(self, "restarted", step.node);
        },
        [self, step](caf::error& err) {
          answered(self, "restart failed", step.node, describe(err));
        });
    break;
  }
  }
  check_done(self);
}

// The timeline starts once every node is up.
void start_timeline(self_ptr self) {
  auto& st = self->state;
  st.running = true;
  st.t0 = std::chrono::steady_clock::now();
  st.log->startup_seconds = since(st.started);
  note(self, "nodes up", std::nullopt,
       std::to_string(st.nodes_up) + " nodes in " +
         fixed(st.log->startup_seconds) + " s");
  st.steps_left = st.log->steps.size();
  for (size_t i = 0; i < st.log->steps.size(); ++i) {
    auto at = std::chrono::microseconds{
      static_cast<int64_t>(st.log->steps[i].at * 1e6)};
    self->delayed_send(self, at, step_atom::value, uint64_t{i});
  }
  self->delayed_send(self,
                     std::chrono::microseconds{
                       static_cast<int64_t>(st.scenario.time_limit * 1e6)},
                     limit_atom::value);
  check_done(self);
}

// Starts every node but the bootstrap node, joining the DHT through `spr`.
void spawn_rest(self_ptr self, std::string spr) {
  auto& st = self->state;
  uint32_t total = st.scenario.node_count();
  auto left = std::make_shared<uint32_t>(total - 1);
  if (*left == 0)
    return start_timeline(self);
  for (auto& g : st.scenario.groups) {
    for (uint32_t i = g.first; i < g.first + g.count; ++i) {
      if (i == st.scenario.bootstrap_node)
        continue;
      self
        ->request(agent_of(self, i).handle, spawn_timeout, spawn_atom::value, i,
                  uint32_t{1}, g.node_flags, std::vector<std::string>{spr})
        .then(
          [self, i, left](std::vector<std::string>&) {
            auto& st = self->state;
            st.up[i] = true;
            ++st.nodes_up;
            if (--*left == 0)
              start_timeline(self);
          },
          [self, i](caf::error& err) {
            finish(self, 1,
                   "node " + std::to_string(i) + " did not start on " +
                     agent_of(self, i).name + ": " + describe(err));
          });
    }
  }
}

} // namespace

caf::behavior sim_coordinator(caf::stateful_actor<sim_coordinator_state>* self,
                              config::scenario scenario,
                              std::vector<sim_agent_link> agents,
                              std::shared_ptr<sim_run_log> log) {
  auto& st = self->state;
  st.scenario = std::move(scenario);
  st.agents = std::move(agents);
  st.log = std::move(log);
  st.started = std::chrono::steady_clock::now();
  st.tty = ::isatty(STDERR_FILENO) == 1;
  auto n = st.scenario.node_count();
  st.up.assign(n, false);
  st.kills.assign(n, 0);
  for (auto& a : st.agents)
    self->monitor(a.handle);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    for (size_t i = 0; i < st.agents.size(); ++i) {
      if (st.agents[i].handle.address() != dm.source)
        continue;
      st.agents[i].lost = true;
      if (st.finished)
        return;
      finish(self, 1,
             "lost agent " + st.agents[i].name + ": " +
               (dm.reason ? describe(dm.reason) : std::string{"it stopped"}));
      return;
    }
  });
  // The bootstrap node first: every other node joins the DHT through it.
  auto boot = st.scenario.bootstrap_node;
  std::vector<std::string> flags;
  for (auto& g : st.scenario.groups)
    if (boot >= g.first && boot < g.first + g.count)
      flags = g.node_flags;
  self
    ->request(agent_of(self, boot).handle, spawn_timeout, spawn_atom::value,
              boot, uint32_t{1}, flags, std::vector<std::string>{})
    .then(
      [self, boot](std::vector<std::string>& sprs) {
        auto& st = self->state;
        if (sprs.size() != 1)
          return finish(self, 1,
                        "node " + std::to_string(boot) +
                          " started without a peer record");
        st.up[boot] = true;
        ++st.nodes_up;
        spawn_rest(self, sprs.at(0));
      },
      [self, boot](caf::error& err) {
        finish(self, 1,
               "node " + std::to_string(boot) + " did not start on " +
                 agent_of(self, boot).name + ": " + describe(err));
      });
  self->delayed_send(self, std::chrono::seconds{1}, tick_atom::value);
  return {
    [self](step_atom, uint64_t i) {
      if (!self->state.finished)
        run_step(self, static_cast<size_t>(i));
    },
    [self](limit_atom) {
      auto& st = self->state;
      size_t open = 0;
      for (auto& d : st.log->downloads)
        open += d.state == "pending" || d.state == "running";
      finish(self, 1,
             "time limit of " + fixed(st.scenario.time_limit) +
               " s reached with " + std::to_string(open) +
               " downloads unfinished");
    },
    [self](tick_atom) {
      if (self->state.finished)
        return;
      progress(self);
      self->delayed_send(self, std::chrono::seconds{1}, tick_atom::value);
    },
  };
}

} // namespace cairn::actors
