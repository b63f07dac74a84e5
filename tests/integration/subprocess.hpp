#pragma once

// Runs a program as a subprocess for integration tests (e.g. cairnctl) and
// captures its exit code, stdout and stderr.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace cairn::test {

/// How a finished subprocess ended and what it wrote.
struct run_result {
  /// Exit code, or -N if killed by signal N, or -1000 if it could not start.
  int code = -1000;
  std::string out;
  std::string err;
  /// For failure messages.
  std::string command;

  std::string describe() const {
    return "\n  command: " + command + "\n  exit: " + std::to_string(code) +
           "\n  stdout: " + out.substr(0, 3000) +
           "\n  stderr: " + err.substr(0, 3000);
  }

  /// The lines of stderr (without newlines).
  std::vector<std::string> err_lines() const {
    std::vector<std::string> lines;
    std::istringstream in(err);
    for (std::string l; std::getline(in, l);)
      lines.push_back(l);
    return lines;
  }
};

/// Runs `argv` (argv[0] looked up in PATH), stdin from /dev/null, capturing
/// stdout and stderr. `env` entries (NAME=VALUE) are added to the
/// environment, and names in `unset` removed. Killed after `timeout`.
inline run_result
run_process(const std::vector<std::string>& argv,
            const std::vector<std::string>& env = {},
            const std::vector<std::string>& unset = {},
            std::chrono::milliseconds timeout = std::chrono::seconds{60}) {
  run_result r;
  for (auto& a : argv)
    r.command += (r.command.empty() ? "" : " ") + a;
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    auto name = entry.substr(0, entry.find('='));
    bool drop = false;
    for (auto& u : unset)
      drop = drop || name == u;
    for (auto& add : env)
      drop = drop || name == add.substr(0, add.find('='));
    if (!drop)
      env_strings.push_back(entry);
  }
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& s : args)
    argp.push_back(s.data());
  argp.push_back(nullptr);

  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0)
    return r;
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  // The test binary ignores SIGPIPE; the child gets the usual default.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t def;
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &def);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argp[0], &fa, &attr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(out[0]);
    ::close(err[0]);
    r.err = std::string("posix_spawnp failed: ") + std::strerror(rc);
    return r;
  }
  using steady = std::chrono::steady_clock;
  auto deadline = steady::now() + timeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  bool killed = false;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - steady::now())
                  .count();
    if (left <= 0 && !killed) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    int n = ::poll(fds, 2, left > 0 ? static_cast<int>(left) : 100);
    if (n < 0 && errno != EINTR)
      break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0)
        continue;
      char buf[65536];
      auto got = ::read(fds[i].fd, buf, sizeof(buf));
      if (got > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0)
      ::close(f.fd);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
  if (killed)
    r.err += "\n[killed after the test's timeout]";
  return r;
}

} // namespace cairn::test
