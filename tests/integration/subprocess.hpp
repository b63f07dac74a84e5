#pragma once

// Runs a program as a subprocess for integration tests (e.g. cairnctl) and
// captures its exit code, stdout and stderr; or starts one in the background
// (e.g. a cairn-sim agent) and kills it with the test.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
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

  /// The start of stdout and the end of stderr, where a sanitizer's report
  /// or a child's last words are.
  std::string describe() const {
    auto err_tail =
      err.size() > 8000 ? "[...]" + err.substr(err.size() - 8000) : err;
    return "\n  command: " + command + "\n  exit: " + std::to_string(code) +
           "\n  stdout: " + out.substr(0, 3000) + "\n  stderr: " + err_tail;
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

/// `argv` running in the background (argv[0] looked up in PATH), stdin from
/// the test's, stderr to the file `log`; stdout to `log` as well, or to a
/// pipe that `first_line` reads. Killed (SIGKILL) by the destructor, and
/// with the test process.
class background_process {
public:
  enum class stdout_to { log, pipe };

  background_process(std::vector<std::string> args, const std::string& log,
                     stdout_to out = stdout_to::log) {
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    int pipe_fds[2] = {-1, -1};
    if (out == stdout_to::pipe && ::pipe2(pipe_fds, O_CLOEXEC) != 0)
      return;
    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent)
        ::_exit(1);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0)
        ::dup2(fd, 2);
      ::dup2(out == stdout_to::pipe ? pipe_fds[1] : fd, 1);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    if (out == stdout_to::pipe) {
      ::close(pipe_fds[1]);
      stdout_ = pipe_fds[0];
    }
  }

  ~background_process() {
    kill9();
    if (stdout_ >= 0)
      ::close(stdout_);
  }

  background_process(const background_process&) = delete;
  background_process& operator=(const background_process&) = delete;

  /// The first line the process writes to its piped stdout (without the
  /// newline), or what it wrote until `limit` passed or it closed stdout.
  std::string first_line(std::chrono::milliseconds limit) {
    std::string text;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (stdout_ >= 0 && text.find('\n') == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd p{stdout_, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0)
        continue;
      char buf[256];
      auto n = ::read(stdout_, buf, sizeof(buf));
      if (n <= 0)
        break;
      text.append(buf, static_cast<size_t>(n));
    }
    return text.substr(0, text.find('\n'));
  }

  void kill9() {
    if (pid_ <= 0)
      return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  /// Waits up to `limit` for the process to exit on its own.
  bool wait_exit(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_)
        pid_ = -1;
      else
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    return pid_ <= 0;
  }

private:
  pid_t pid_ = -1;
  int stdout_ = -1;
};

} // namespace cairn::test
