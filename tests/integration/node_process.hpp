#pragma once

// Test helpers that drive a real `cairn-node` process: a self-removing
// temporary directory and an RAII process handle that starts the node,
// waits for its ready line and always stops it again.
//
// The binary is `CAIRN_NODE_BIN`, a string literal set by CMake.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#ifndef CAIRN_NODE_BIN
#error "CAIRN_NODE_BIN must be defined (path of the cairn-node binary)"
#endif

namespace cairn::test {

/// A fresh directory under $TMPDIR (or /tmp), removed recursively by the
/// destructor. Not copyable; owned by the test that created it.
class temp_dir {
public:
  /// Creates `<tmp>/<prefix>-XXXXXX`. Throws `std::runtime_error` on failure.
  explicit temp_dir(const std::string& prefix = "cairn-it");

  /// Removes the directory and everything below it; errors are ignored.
  ~temp_dir();

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// Absolute path of the directory.
  const std::string& path() const noexcept { return path_; }

  /// `path() + "/" + name`; creates nothing.
  std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

/// How a process ended.
struct exit_status {
  /// True if the process called exit (then `code` is valid).
  bool exited = false;
  /// Exit code if `exited`, else -1.
  int code = -1;
  /// Terminating signal if the process was killed by one, else 0.
  int signal = 0;
  /// True if `stop()` had to escalate to SIGKILL after the grace period.
  bool escalated_to_sigkill = false;

  /// True for `exit(0)`.
  bool clean() const noexcept { return exited && code == 0; }

  /// E.g. "exited with code 1" or "killed by signal 9 (SIGKILL after grace)".
  std::string to_string() const;
};

/// The usual command line of a test node: `--data-dir DIR --api-bindaddr
/// 127.0.0.1 --api-port PORT --listen-port 0 --disc-port 0`, followed by
/// `extra`. `api_port` defaults to "0" (the node picks a free port); pass an
/// explicit port only to provoke a clash.
std::vector<std::string> node_args(const std::string& data_dir,
                                   const std::vector<std::string>& extra = {},
                                   const std::string& api_port = "0");

/// One `cairn-node` process, started with fork/execv (no shell).
///
/// - stdout is piped back; a reader thread drains it for the whole life of
///   the process (so the node never blocks on a full pipe) and recognizes the
///   ready line `cairn-node ready api=http://HOST:PORT peer-id=PEERID`.
/// - stderr is appended to a log file (`stderr_log`), one section per start;
///   `stderr_tail()` returns its end for failure messages.
/// - The destructor always stops a running process: SIGTERM, up to 5 s, then
///   SIGKILL. The child also gets SIGKILL if the test process dies
///   (PR_SET_PDEATHSIG).
/// - The object can be started again after `stop()`/`kill9()` with the same
///   arguments (the data dir belongs to the caller), e.g. to test restarts.
///   With `--api-port 0` the port changes on every start: re-read `port()` /
///   call `client()` again after a restart.
///
/// All member functions must be called from the test's thread.
class node_process {
public:
  /// Prepares (does not start) `binary args...`; stderr goes to `stderr_log`.
  node_process(std::vector<std::string> args, std::string stderr_log,
               std::string binary = CAIRN_NODE_BIN);

  /// Stops the process if it is running (see `stop`).
  ~node_process();

  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  /// Starts the process and waits up to `ready_timeout` for the ready line.
  /// Fails (with stdout, stderr tail and exit status in the message) if the
  /// process exits first, prints a malformed ready line, or times out (then
  /// the process is killed).
  ::testing::AssertionResult
  start(std::chrono::milliseconds ready_timeout = std::chrono::seconds(20));

  /// Sends SIGTERM, waits up to `grace`, then SIGKILL. Returns how the process
  /// ended (also when it had already exited). No-op before the first start.
  exit_status stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  /// SIGKILL and reap, no grace period (simulates a crash).
  exit_status kill9();

  /// `stop()` then `start()`. Fails if the stop was not a clean exit(0) or the
  /// start fails.
  ::testing::AssertionResult restart();

  /// Sends `sig` to the running process (no wait).
  void send_signal(int sig);

  /// Waits up to `timeout` for the process to exit; nullopt if still running.
  std::optional<exit_status> wait_exit(std::chrono::milliseconds timeout);

  /// Starts the process and waits up to `timeout` for it to exit on its own
  /// (for bad-flag tests). If it is still running then, it is killed and the
  /// result is nullopt. A node that prints its ready line is given one more
  /// second to exit before it is killed.
  std::optional<exit_status>
  run_until_exit(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  /// True between a successful spawn and the reaping of the process.
  bool running() const noexcept { return pid_ > 0; }

  /// Process id while running, else -1.
  pid_t pid() const noexcept { return pid_; }

  /// From the ready line of the current/last start.
  const std::string& host() const noexcept { return host_; }
  int port() const noexcept { return port_; }
  const std::string& peer_id() const noexcept { return peer_id_; }
  /// "http://HOST:PORT"
  std::string base_url() const;

  /// True if the current/last run printed a (well-formed) ready line.
  bool saw_ready_line() const;

  /// A client for the API with connection timeout 5 s and read/write timeout
  /// 30 s. Valid until the process is restarted.
  httplib::Client client() const;

  /// Everything the current/last run wrote to stdout (last 1 MiB at most).
  std::string stdout_text() const;

  /// What the current/last run wrote to stderr.
  std::string stderr_text() const;

  /// The last `max_bytes` of the stderr log (all runs).
  std::string stderr_tail(std::size_t max_bytes = 4096) const;

  /// A multi-line description for failure messages: command line, status,
  /// stdout, stderr tail.
  std::string diagnostics() const;

  /// The command line, space-separated (for messages).
  std::string command_line() const;

  const std::vector<std::string>& args() const noexcept { return args_; }

private:
  // Forks and execs; starts the reader thread. Fails only if fork/pipe fail.
  ::testing::AssertionResult spawn();
  // Body of the stdout reader thread.
  void read_stdout();
  // Handles one complete stdout line (called with mtx_ held).
  void on_line(const std::string& line);
  // Non-blocking reap; true if the process has been reaped (status stored).
  bool try_reap();
  // Blocking reap after the process has been killed.
  void reap_blocking();
  // Joins the reader thread and closes the pipe (after the process ended).
  void finish_reader();

  std::string binary_;
  std::vector<std::string> args_;
  std::string stderr_log_;
  std::int64_t stderr_offset_ = 0;
  int starts_ = 0;

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::thread reader_;
  std::atomic<bool> stop_reader_{false};
  exit_status last_status_;

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::string stdout_;
  std::string partial_line_;
  bool eof_ = false;
  bool ready_ = false;
  std::string ready_error_;
  std::string host_;
  int port_ = 0;
  std::string peer_id_;
};

} // namespace cairn::test
