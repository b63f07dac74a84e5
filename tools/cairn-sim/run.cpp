// cairn-sim run: starts local agents if asked, connects to every agent,
// plays the scenario with a sim_coordinator and writes the report.

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/scoped_actor.hpp>

#include "messages/error.hpp"
#include "messages/type_ids.hpp"
#include "tools/cairn-sim/sim.hpp"

namespace cairn::sim {

namespace {

int usage_error(const std::string& why) {
  std::cerr << "cairn-sim: " << why << "\n";
  return 2;
}

int failure(const std::string& why) {
  std::cerr << "cairn-sim: " << why << "\n";
  return 1;
}

/// An agent process started by the coordinator.
struct local_agent {
  pid_t pid = -1;
  std::string address;
  /// Its stderr.
  std::string log;
  /// How it ended (a waitpid status), once reaped.
  int status = 0;
  /// Still running when reap gave up on it.
  bool killed = false;
};

// Starts `exe agent ...`, its stderr into `log`, and waits for its ready
// line (at most 30 s). The agent dies with the coordinator (PDEATHSIG).
std::optional<local_agent>
start_agent(const std::string& exe, const std::string& dir,
            const std::string& tls_dir, const std::string& secret_file,
            const std::string& log, const std::string& level,
            std::string& why) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    why = "pipe failed";
    return std::nullopt;
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    why = "fork failed";
    return std::nullopt;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(1);
    ::dup2(out[1], 1);
    int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (err >= 0)
      ::dup2(err, 2);
    int in = ::open("/dev/null", O_RDONLY);
    if (in >= 0)
      ::dup2(in, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execl(exe.c_str(), exe.c_str(), "agent", "--listen", "127.0.0.1:0",
            "--data-dir", dir.c_str(), "--tls-dir", tls_dir.c_str(),
            "--secret-file", secret_file.c_str(), "--log-level", level.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  while (text.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
    pollfd p{out[0], POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
      break;
    char buf[512];
    auto n = ::read(out[0], buf, sizeof(buf));
    if (n <= 0)
      break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  auto at = text.find("listen=");
  if (at == std::string::npos) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    why = "a local agent did not start (see " + log + ")";
    return std::nullopt;
  }
  auto end = text.find_first_of(" \n", at);
  return local_agent{pid, text.substr(at + 7, end - at - 7), log};
}

// Asks the local agents still running to stop (SIGTERM: they stop their
// nodes first), waits up to `limit` for them to exit, then kills them.
void reap(std::vector<local_agent>& agents, std::chrono::seconds limit) {
  for (auto& a : agents)
    if (a.pid > 0 && ::waitpid(a.pid, &a.status, WNOHANG) == a.pid)
      a.pid = -1;
    else if (a.pid > 0)
      ::kill(a.pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (auto& a : agents) {
    while (a.pid > 0) {
      if (::waitpid(a.pid, &a.status, WNOHANG) == a.pid) {
        a.pid = -1;
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(a.pid, SIGKILL);
        ::waitpid(a.pid, &a.status, 0);
        a.pid = -1;
        a.killed = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
  }
}

// How a reaped local agent ended, if not with exit code 0.
std::string run_bad_end(const local_agent& a, std::chrono::seconds limit) {
  if (a.killed)
    return "did not exit within " + std::to_string(limit.count()) +
           " s of SIGTERM and was killed";
  if (WIFSIGNALED(a.status))
    return "was killed by signal " + std::to_string(WTERMSIG(a.status)) + " (" +
           ::strsignal(WTERMSIG(a.status)) + ")";
  if (WIFEXITED(a.status) && WEXITSTATUS(a.status) != 0)
    return "exited with code " + std::to_string(WEXITSTATUS(a.status));
  return {};
}

// The last `max_lines` lines of the file at `path`.
std::string run_log_tail(const std::string& path, size_t max_lines) {
  std::ifstream in(path);
  std::deque<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(std::move(line));
    if (lines.size() > max_lines)
      lines.pop_front();
  }
  std::string text;
  for (auto& l : lines)
    text += l + "\n";
  return text;
}

// A directory removed with everything in it when this ends.
struct scoped_dir {
  std::string path;
  ~scoped_dir() {
    std::error_code ignored;
    if (!path.empty())
      std::filesystem::remove_all(path, ignored);
  }
};

// Connects to the agent at `host:port` over the TLS control link. CAF's
// own remote_actor waits forever: a peer that never completes the TLS
// handshake (a plaintext listener, a stalled one) must not hang the run.
caf::expected<sim_agent_actor> connect_agent(caf::actor_system& sys,
                                             caf::scoped_actor& self,
                                             const std::string& host,
                                             uint16_t port) {
  caf::expected<sim_agent_actor> res{caf::sec::no_actor_published_at_port};
  self
    ->request(sys.openssl_manager().actor_handle(), std::chrono::seconds{15},
              caf::connect_atom::value, host, port)
    .receive(
      [&](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>& ifs) {
        if (!ptr)
          res = caf::sec::no_actor_published_at_port;
        else if (!sys.assignable<sim_agent_actor>(ifs))
          res = caf::sec::unexpected_actor_messaging_interface;
        else
          res = caf::actor_cast<sim_agent_actor>(std::move(ptr));
      },
      [&](caf::error& err) { res = std::move(err); });
  return res;
}

// Why connect_agent failed, in an operator's terms: CAF reports a refused
// certificate (on either end) as a connection closed in its handshake.
std::string connect_failure(const caf::error& err) {
  if (err == caf::sec::disconnect_during_handshake)
    return "the TLS handshake failed: the agent and this coordinator do not "
           "trust each other's certificate (keys of two cairn-sim cert "
           "runs?)";
  if (err == caf::sec::request_timeout)
    return "no TLS handshake within 15 s (a plaintext or stalled listener?)";
  return describe(err);
}

} // namespace

int run_scenario(const run_options& o) {
  std::string why;
  auto parsed = config::parse_scenario(o.scenario, why);
  if (!parsed)
    return usage_error(why);
  auto& sc = *parsed;
  auto agent_count = static_cast<uint32_t>(o.agents.size()) + o.local_agents;
  if (agent_count == 0)
    return usage_error("no agents: give --agent HOST:PORT or --local-agents N");
  for (auto& g : sc.groups)
    if (g.agent && *g.agent >= agent_count)
      return usage_error(sc.path + ": group '" + g.name + "': agent " +
                         std::to_string(*g.agent) + " out of range (" +
                         std::to_string(agent_count) + " agents)");
  std::vector<std::pair<std::string, uint16_t>> remote;
  for (auto& a : o.agents) {
    auto hp = split_host_port(a);
    if (!hp)
      return usage_error("--agent: '" + a + "' is not HOST:PORT");
    remote.push_back(*hp);
  }
  if (!o.agents.empty() && o.tls_dir.empty())
    return usage_error(
      "--agent needs --tls-dir (the cluster's keys, see cairn-sim cert)");
  std::error_code fs_err;
  std::filesystem::create_directories(o.out, fs_err);
  if (fs_err)
    return failure("cannot create " + o.out + ": " + fs_err.message());
  // Local agents alone: a cluster of this run only, gone with it.
  scoped_dir fresh_keys;
  auto tls_dir = o.tls_dir;
  if (tls_dir.empty()) {
    auto dir = make_temp_dir("cairn-sim-tls", why);
    if (!dir)
      return failure(why);
    fresh_keys.path = tls_dir = *dir;
    if (!make_cluster_keys(tls_dir, why))
      return failure(why);
  }
  auto tls = tls_files::in(tls_dir);
  if (!check_tls_files(tls, why))
    return usage_error("--tls-dir: " + why);
  auto secret_file = o.secret_file.empty() ? tls.secret : o.secret_file;
  auto secret = read_secret(secret_file, why);
  if (!secret)
    return usage_error("--secret-file: " + why);
  setup_logging(o.log_level);

  auto log = std::make_shared<actors::sim_run_log>();
  log->scenario = sc.path;
  log->seed = o.seed ? *o.seed : sc.seed;
  log->steps = config::expand(sc, log->seed);
  for (auto& e : sc.events)
    log->event_after.push_back(config::to_string(e.after));
  for (uint32_t i = 0; i < sc.node_count(); ++i)
    log->placement.push_back(config::placement(sc, i, agent_count));
  for (auto& g : sc.groups)
    log->node_group.insert(log->node_group.end(), g.count, g.name);

  std::vector<local_agent> locals;
  if (o.local_agents > 0) {
    for (uint32_t i = 0; i < o.local_agents; ++i) {
      auto dir = o.out + "/agent-" + std::to_string(i);
      std::filesystem::remove_all(dir, fs_err);
      auto a = start_agent(o.self_exe, dir, tls_dir, secret_file, dir + ".log",
                           o.log_level, why);
      if (!a) {
        reap(locals, std::chrono::seconds{0});
        return failure(why);
      }
      locals.push_back(*a);
      auto hp = split_host_port(a->address);
      remote.push_back(*hp);
    }
  }

  caf::actor_system_config cfg;
  register_types(cfg);
  cfg.load<caf::io::middleman>();
  use_control_tls(cfg, tls);
  cfg.set("scheduler.max-threads", size_t{2});
  cfg.set("logger.console", caf::atom("none"));
  int code = 0;
  {
    caf::actor_system sys{cfg};
    caf::scoped_actor self{sys};
    std::vector<actors::sim_agent_link> links;
    for (auto& [host, port] : remote) {
      auto name = host + ":" + std::to_string(port);
      log->agents.push_back(name);
      auto h = connect_agent(sys, self, host, port);
      if (!h) {
        code = failure("cannot reach agent " + name +
                       " over TLS: " + connect_failure(h.error()));
        break;
      }
      caf::error err;
      self->request(*h, std::chrono::seconds{10}, auth_atom::value, *secret)
        .receive([](ok_atom) {}, [&](caf::error& e) { err = e; });
      if (err) {
        code = failure("agent " + name + " refused the run: " + describe(err));
        break;
      }
      links.push_back(actors::sim_agent_link{name, *h});
    }
    if (code == 0) {
      auto coord = sys.spawn(actors::sim_coordinator, sc, links, log);
      self->monitor(coord);
      self->receive([](caf::down_msg&) {});
      code = log->exit_code;
    } else {
      log->exit_code = code;
      for (auto& l : links)
        self->request(l.handle, std::chrono::seconds{5}, stop_atom::value)
          .receive([](ok_atom) {}, [](caf::error&) {});
    }
  }
  // More than the 30 s an agent gives its nodes to stop before it exits
  // with code 1 on its own.
  constexpr auto agent_stop_limit = std::chrono::seconds{40};
  reap(locals, agent_stop_limit);
  // A local agent that crashed or failed says why on this program's
  // stderr (a sanitizer's report, a failed check): its log lives in the
  // output directory, which a test or a script may remove.
  for (size_t i = 0; i < locals.size(); ++i) {
    auto bad = run_bad_end(locals[i], agent_stop_limit);
    if (bad.empty())
      continue;
    std::cerr << "cairn-sim: local agent " << i << " (" << locals[i].address
              << ") " << bad << "; the end of " << locals[i].log << ":\n"
              << run_log_tail(locals[i].log, 60);
    if (log->exit_code == 0) {
      log->exit_code = 1;
      log->reason = "local agent " + std::to_string(i) + " " + bad;
    }
  }
  code = log->exit_code;
  if (auto err = write_report(*log, o.out); !err.empty())
    std::cerr << "cairn-sim: " << err << "\n";
  size_t done = 0;
  for (auto& d : log->downloads)
    done += d.state == "done";
  if (log->exit_code != 0 && !log->reason.empty())
    std::cerr << "cairn-sim: " << log->reason << "\n";
  std::printf("cairn-sim: %zu/%zu downloads done; report in %s/report.md\n",
              done, log->downloads.size(), o.out.c_str());
  return code;
}

} // namespace cairn::sim
