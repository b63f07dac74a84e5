#include "actors/sim_coordinator.hpp"

#include <unistd.h>

#include <cstdio>

#include <spdlog/spdlog.h>

#include "messages/error.hpp"

namespace cairn::actors {

namespace {

using sim_coordinator_ptr = caf::stateful_actor<sim_coordinator_state>*;

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
double now(sim_coordinator_ptr self) {
  return self->state.running ? since(self->state.t0) : 0.0;
}

const sim_agent_link& agent_of(sim_coordinator_ptr self, uint32_t node) {
  return self->state.agents[self->state.log->placement[node]];
}

void note(sim_coordinator_ptr self, std::string what,
          std::optional<uint32_t> node, std::string detail = {}) {
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

void progress(sim_coordinator_ptr self, bool force = false) {
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
void finish(sim_coordinator_ptr self, int code, std::string reason) {
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
void check_done(sim_coordinator_ptr self) {
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
                  std::to_string(uploads_failed) +
                    " upload(s) or protect(s) failed");
  if (failed > 0)
    return finish(self, 1,
                  std::to_string(failed) + " of " +
                    std::to_string(st.log->downloads.size()) +
                    " downloads failed");
  finish(self, 0, {});
}

void start_download(sim_coordinator_ptr self, size_t index);
void run_dataset_step(sim_coordinator_ptr self, size_t i);
void step_finished(sim_coordinator_ptr self, size_t i);

// A command of the timeline was answered: records it, and ends the run if
// it was the last thing to wait for.
void answered(sim_coordinator_ptr self, size_t step, std::string what,
              uint32_t node, std::string detail = {}) {
  note(self, std::move(what), node, std::move(detail));
  --self->state.outstanding;
  step_finished(self, step);
  check_done(self);
}

// Starts (or settles) the steps that waited for dataset `data`.
void release_waiting(sim_coordinator_ptr self, const std::string& data) {
  auto& st = self->state;
  auto take = [&](std::multimap<std::string, size_t>& from) {
    std::vector<size_t> out;
    auto [b, e] = from.equal_range(data);
    for (auto i = b; i != e; ++i)
      out.push_back(i->second);
    from.erase(data);
    return out;
  };
  for (auto index : take(st.waiting))
    start_download(self, index);
  for (auto step : take(st.waiting_steps))
    run_dataset_step(self, step);
}

// Whether dataset `data` was made (or failed to be).
bool settled(sim_coordinator_ptr self, const std::string& data) {
  auto& up = self->state.log->uploads[data];
  return up.result || !up.error.empty();
}

// The download ended (in `d.state`): its step is done.
void download_ended(sim_coordinator_ptr self, size_t index) {
  step_finished(self, self->state.log->downloads[index].step);
}

void start_download(sim_coordinator_ptr self, size_t index) {
  auto& st = self->state;
  auto& d = st.log->downloads[index];
  auto& up = st.log->uploads[d.data];
  if (!up.error.empty()) {
    d.state = "failed";
    d.result.error = "its dataset failed: " + up.error;
    return download_ended(self, index);
  }
  if (!st.up[d.node]) {
    d.state = "skipped";
    d.result.error = "node down";
    return download_ended(self, index);
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
        download_ended(self, index);
        check_done(self);
      },
      [self, index](caf::error& err) {
        auto& st = self->state;
        auto& d = st.log->downloads[index];
        d.state = "failed";
        d.result.error = describe(err);
        --st.outstanding;
        download_ended(self, index);
        check_done(self);
      });
}

// A protect or delete step whose dataset is settled.
void run_dataset_step(sim_coordinator_ptr self, size_t i) {
  auto& st = self->state;
  auto step = st.log->steps[i];
  auto& agent = agent_of(self, step.node).handle;
  auto& src = st.log->uploads[step.data];
  if (step.kind == config::event_kind::protect) {
    auto& rec = st.log->uploads[step.as];
    rec.data = step.as;
    rec.node = step.node;
    rec.size = step.size;
    rec.data_seed = step.data_seed;
    rec.source = step.data;
    rec.k = step.k;
    rec.m = step.m;
    rec.at = now(self);
    if (!src.error.empty() || !st.up[step.node]) {
      rec.error =
        !src.error.empty() ? "its upload failed: " + src.error : "node down";
      note(self, "protect failed", step.node, step.as + ": " + rec.error);
      release_waiting(self, step.as);
      return step_finished(self, i);
    }
    ++st.outstanding;
    self
      ->request(agent, command_timeout, protect_atom::value, step.node,
                src.result->cid, step.k, step.m)
      .then(
        [self, step, i](sim_upload_result& r) {
          auto& ups = self->state.log->uploads;
          // The same bytes as its source's, under a new CID.
          r.sha256 = ups[step.data].result->sha256;
          auto detail = step.as + " " + r.cid +
                        " (K=" + std::to_string(step.k) +
                        ", M=" + std::to_string(step.m) + ")";
          ups[step.as].result = std::move(r);
          release_waiting(self, step.as);
          answered(self, i, "protected", step.node, detail);
        },
        [self, step, i](caf::error& err) {
          self->state.log->uploads[step.as].error = describe(err);
          release_waiting(self, step.as);
          answered(self, i, "protect failed", step.node, describe(err));
        });
    return;
  }
  // delete
  if (!src.result) {
    note(self, "delete skipped", step.node, step.data + ": no dataset");
    return step_finished(self, i);
  }
  if (!st.up[step.node]) {
    note(self, "delete skipped", step.node, step.data + ": node down");
    return step_finished(self, i);
  }
  ++st.outstanding;
  self
    ->request(agent, command_timeout, delete_atom::value, step.node,
              src.result->cid, step.blocks, step.pick_seed)
    .then(
      [self, step, i](uint64_t dropped) {
        answered(self, i, "deleted blocks", step.node,
                 step.data + ": " + std::to_string(dropped) + " blocks");
      },
      [self, step, i](caf::error& err) {
        answered(self, i, "delete failed", step.node,
                 step.data + ": " + describe(err));
      });
}

void run_step(sim_coordinator_ptr self, size_t i) {
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
        [self, step, i](sim_upload_result& r) {
          auto detail = step.data + " " + r.cid;
          self->state.log->uploads[step.data].result = std::move(r);
          release_waiting(self, step.data);
          answered(self, i, "uploaded", step.node, detail);
        },
        [self, step, i](caf::error& err) {
          self->state.log->uploads[step.data].error = describe(err);
          release_waiting(self, step.data);
          answered(self, i, "upload failed", step.node, describe(err));
        });
    break;
  }
  case config::event_kind::download: {
    sim_download_record d;
    d.node = step.node;
    d.data = step.data;
    d.at = now(self);
    d.step = i;
    st.log->downloads.push_back(std::move(d));
    auto index = st.log->downloads.size() - 1;
    if (settled(self, step.data))
      start_download(self, index);
    else
      st.waiting.emplace(step.data, index);
    break;
  }
  case config::event_kind::protect:
  case config::event_kind::del:
    if (settled(self, step.data))
      run_dataset_step(self, i);
    else
      st.waiting_steps.emplace(step.data, i);
    break;
  case config::event_kind::kill: {
    if (!st.up[step.node]) {
      note(self, "kill skipped", step.node, "already down");
      step_finished(self, i);
      break;
    }
    st.up[step.node] = false;
    ++st.kills[step.node];
    --st.nodes_up;
    ++st.outstanding;
    self->request(agent, command_timeout, kill_atom::value, step.node)
      .then(
        [self, step, i](ok_atom) { answered(self, i, "killed", step.node); },
        [self, step, i](caf::error& err) {
          answered(self, i, "kill failed", step.node, describe(err));
        });
    break;
  }
  case config::event_kind::restart: {
    if (st.up[step.node]) {
      note(self, "restart skipped", step.node, "already up");
      step_finished(self, i);
      break;
    }
    ++st.outstanding;
    self->request(agent, command_timeout, restart_atom::value, step.node)
      .then(
        [self, step, i](std::string&) {
          self->state.up[step.node] = true;
          ++self->state.nodes_up;
          answered(self, i, "restarted", step.node);
        },
        [self, step, i](caf::error& err) {
          answered(self, i, "restart failed", step.node, describe(err));
        });
    break;
  }
  case config::event_kind::churn:
    // Expanded into kills and restarts: never a step.
    step_finished(self, i);
    break;
  }
  check_done(self);
}

void trigger_event(sim_coordinator_ptr self, size_t ev);

// Starts the events waiting for `cond` ("event:NAME",
// "downloads-done:DATA").
void fire(sim_coordinator_ptr self, const std::string& cond) {
  auto& st = self->state;
  for (size_t j = 0; j < st.scenario.events.size(); ++j)
    if (!st.event_started[j] &&
        config::to_string(st.scenario.events[j].after) == cond)
      trigger_event(self, j);
}

void event_finished(sim_coordinator_ptr self, size_t ev) {
  auto& e = self->state.scenario.events[ev];
  if (!e.name.empty())
    fire(self, "event:" + e.name);
}

void step_finished(sim_coordinator_ptr self, size_t i) {
  auto& st = self->state;
  auto& step = st.log->steps[i];
  if (step.kind == config::event_kind::download &&
      --st.downloads_left[step.data] == 0)
    fire(self, "downloads-done:" + step.data);
  if (--st.event_left[step.event] == 0)
    event_finished(self, step.event);
}

// The condition of event `ev` holds: its steps run at their times from now.
void trigger_event(sim_coordinator_ptr self, size_t ev) {
  auto& st = self->state;
  st.event_started[ev] = true;
  auto& e = st.scenario.events[ev];
  if (e.after.kind != config::event_condition::what::start)
    note(self,
         std::string{"event '"} + config::event_name(e.kind) + "'" +
           (e.name.empty() ? "" : " " + e.name) + " starts",
         std::nullopt, "after " + config::to_string(e.after));
  for (auto i : st.event_steps[ev]) {
    auto at = std::chrono::microseconds{
      static_cast<int64_t>(st.log->steps[i].at * 1e6)};
    self->delayed_send(self, at, step_atom::value, uint64_t{i});
  }
  if (st.event_steps[ev].empty())
    event_finished(self, ev);
}

// The timeline starts once every node is up.
void start_timeline(sim_coordinator_ptr self) {
  auto& st = self->state;
  st.running = true;
  st.t0 = std::chrono::steady_clock::now();
  st.log->startup_seconds = since(st.started);
  note(self, "nodes up", std::nullopt,
       std::to_string(st.nodes_up) + " nodes in " +
         fixed(st.log->startup_seconds) + " s");
  // Shown at once: scripts wait for this line to measure idle nodes.
  progress(self, true);
  auto events = st.scenario.events.size();
  st.event_steps.assign(events, {});
  st.event_started.assign(events, false);
  for (size_t i = 0; i < st.log->steps.size(); ++i) {
    auto& step = st.log->steps[i];
    st.event_steps[step.event].push_back(i);
    if (step.kind == config::event_kind::download)
      ++st.downloads_left[step.data];
  }
  st.event_left.clear();
  for (auto& xs : st.event_steps)
    st.event_left.push_back(xs.size());
  st.steps_left = st.log->steps.size();
  for (size_t j = 0; j < events; ++j)
    if (st.scenario.events[j].after.kind ==
        config::event_condition::what::start)
      trigger_event(self, j);
  // Datasets nobody downloads: their downloads are all done at once.
  for (size_t j = 0; j < events; ++j) {
    auto& c = st.scenario.events[j].after;
    if (!st.event_started[j] &&
        c.kind == config::event_condition::what::downloads_done &&
        st.downloads_left[c.name] == 0)
      trigger_event(self, j);
  }
  self->delayed_send(self,
                     std::chrono::microseconds{
                       static_cast<int64_t>(st.scenario.time_limit * 1e6)},
                     limit_atom::value);
  check_done(self);
}

// Starts every node but the bootstrap node, joining the DHT through `spr`.
void spawn_rest(sim_coordinator_ptr self, std::string spr) {
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
