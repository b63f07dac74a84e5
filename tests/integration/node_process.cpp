#include "tests/integration/node_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace cairn::test {

namespace {

using clock_type = std::chrono::steady_clock;

// A node may close a connection while a test still writes to it (e.g. an
// early 413); httplib's client writes without MSG_NOSIGNAL, so a SIGPIPE
// would kill the whole test binary. Ignore it process-wide; children get the
// default disposition back before exec.
const bool sigpipe_ignored = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

constexpr const char* ready_prefix = "cairn-node ready ";

// Keep at most this much of a run's stdout in memory.
constexpr std::size_t max_stdout_bytes = 1 << 20;

std::string tail_of(const std::string& s, std::size_t n) {
  if (s.size() <= n)
    return s;
  return "[...]" + s.substr(s.size() - n);
}

// Parses `api=http://HOST:PORT peer-id=ID` (the part after the prefix).
// Returns an error description, or an empty string on success.
std::string parse_ready_fields(const std::string& rest, std::string& host,
                               int& port, std::string& peer_id) {
  std::istringstream in(rest);
  std::string token;
  std::string api;
  while (in >> token) {
    if (token.rfind("api=", 0) == 0)
      api = token.substr(4);
    else if (token.rfind("peer-id=", 0) == 0)
      peer_id = token.substr(8);
  }
  if (api.empty())
    return "no api=... field";
  if (peer_id.empty())
    return "no peer-id=... field";
  const std::string scheme = "http://";
  if (api.rfind(scheme, 0) != 0)
    return "api field does not start with http://";
  auto hostport = api.substr(scheme.size());
  while (!hostport.empty() && hostport.back() == '/')
    hostport.pop_back();
  std::string port_str;
  if (!hostport.empty() && hostport.front() == '[') {
    auto close = hostport.find(']');
    if (close == std::string::npos || close + 1 >= hostport.size() ||
        hostport[close + 1] != ':')
      return "malformed IPv6 host:port";
    host = hostport.substr(1, close - 1);
    port_str = hostport.substr(close + 2);
  } else {
    auto colon = hostport.rfind(':');
    if (colon == std::string::npos)
      return "no :PORT in api field";
    host = hostport.substr(0, colon);
    port_str = hostport.substr(colon + 1);
  }
  if (host.empty())
    return "empty host in api field";
  if (port_str.empty() ||
      port_str.find_first_not_of("0123456789") != std::string::npos ||
      port_str.size() > 5)
    return "port is not a number";
  port = std::stoi(port_str);
  if (port <= 0 || port > 65535)
    return "port out of range (0 is not allowed in the ready line)";
  return {};
}

exit_status decode_wait_status(int st) {
  exit_status result;
  if (WIFEXITED(st)) {
    result.exited = true;
    result.code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    result.signal = WTERMSIG(st);
  }
  return result;
}

} // namespace

// -- temp_dir -----------------------------------------------------------------

temp_dir::temp_dir(const std::string& prefix) {
  std::string base = "/tmp";
  if (const char* env = std::getenv("TMPDIR"); env != nullptr && *env != '\0')
    base = env;
  std::string tmpl = base + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr)
    throw std::runtime_error("mkdtemp(" + tmpl +
                             ") failed: " + std::strerror(errno));
  std::error_code ec;
  auto abs = std::filesystem::absolute(buf.data(), ec);
  path_ = ec ? std::string(buf.data()) : abs.string();
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// -- exit_status --------------------------------------------------------------

std::string exit_status::to_string() const {
  std::string s;
  if (exited)
    s = "exited with code " + std::to_string(code);
  else if (signal != 0)
    s = "killed by signal " + std::to_string(signal) + " (" +
        ::strsignal(signal) + ")";
  else
    s = "not started or status unknown";
  if (escalated_to_sigkill)
    s += " [SIGTERM grace period expired, SIGKILL sent]";
  return s;
}

// -- node_args ----------------------------------------------------------------

std::vector<std::string> node_args(const std::string& data_dir,
                                   const std::vector<std::string>& extra,
                                   const std::string& api_port) {
  std::vector<std::string> args{
    "--data-dir",  data_dir, "--api-bindaddr", "127.0.0.1",
    "--api-port",  api_port, "--listen-port",  "0",
    "--disc-port", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// -- node_process -------------------------------------------------------------

node_process::node_process(std::vector<std::string> args,
                           std::string stderr_log, std::string binary)
  : binary_(std::move(binary)), args_(std::move(args)),
    stderr_log_(std::move(stderr_log)) {
  // The process starts in start() or run_until_exit().
}

node_process::~node_process() {
  try {
    if (running()) {
      // A node that crashed while the test looked elsewhere, or that ends
      // its stop with a sanitizer's report (a leak, in a sanitized build),
      // fails the test, with the end of its stderr. A grace period that
      // ran out is the test's business, not the node's.
      auto st = stop();
      bool failed =
        (st.exited && st.code != 0) ||
        (st.signal != 0 && st.signal != SIGKILL && st.signal != SIGTERM);
      if (failed)
        ADD_FAILURE() << "cairn-node " << st.to_string()
                      << " at the end of the test" << diagnostics();
    } else {
      finish_reader();
    }
  } catch (...) {
    // Never throw from a destructor; the process is gone or killed by
    // PR_SET_PDEATHSIG when the test binary exits.
  }
}

std::string node_process::command_line() const {
  std::string s = binary_;
  for (auto& a : args_) {
    s += ' ';
    if (a.empty() || a.find_first_of(" \t\"'") != std::string::npos)
      s += "'" + a + "'";
    else
      s += a;
  }
  return s;
}

std::string node_process::base_url() const {
  if (host_.find(':') != std::string::npos)
    return "http://[" + host_ + "]:" + std::to_string(port_);
  return "http://" + host_ + ":" + std::to_string(port_);
}

bool node_process::saw_ready_line() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return ready_;
}

httplib::Client node_process::client() const {
  httplib::Client cli(host_, port_);
  cli.set_connection_timeout(5, 0);
  cli.set_read_timeout(30, 0);
  cli.set_write_timeout(30, 0);
  return cli;
}

std::string node_process::stdout_text() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return stdout_ + partial_line_;
}

std::string node_process::stderr_text() const {
  std::ifstream in(stderr_log_, std::ios::binary);
  if (!in)
    return {};
  in.seekg(stderr_offset_);
  std::ostringstream out;
  out << in.rdbuf();
  return tail_of(out.str(), 64 * 1024);
}

std::string node_process::stderr_tail(std::size_t max_bytes) const {
  std::ifstream in(stderr_log_, std::ios::binary | std::ios::ate);
  if (!in)
    return {};
  auto size = static_cast<std::int64_t>(in.tellg());
  auto from = size > static_cast<std::int64_t>(max_bytes)
                ? size - static_cast<std::int64_t>(max_bytes)
                : 0;
  in.seekg(from);
  std::ostringstream out;
  out << in.rdbuf();
  return (from > 0 ? "[...]" : "") + out.str();
}

std::string node_process::diagnostics() const {
  std::ostringstream out;
  out << "\n  command: " << command_line();
  out << "\n  state: "
      << (running() ? "running (pid " + std::to_string(pid_) + ")"
                    : last_status_.to_string());
  out << "\n  --- stdout of this run ---\n" << tail_of(stdout_text(), 4096);
  out << "\n  --- stderr log tail (" << stderr_log_ << ") ---\n"
      << stderr_tail(4096) << "\n";
  return out.str();
}

::testing::AssertionResult node_process::spawn() {
  if (running())
    return ::testing::AssertionFailure()
           << "node_process::spawn: already running" << diagnostics();
  finish_reader();
  {
    std::lock_guard<std::mutex> guard(mtx_);
    stdout_.clear();
    partial_line_.clear();
    eof_ = false;
    ready_ = false;
    ready_error_.clear();
    host_.clear();
    port_ = 0;
    peer_id_.clear();
  }
  last_status_ = exit_status{};
  stop_reader_ = false;
  ++starts_;

  // Everything the child needs is prepared before fork: between fork and
  // exec only async-signal-safe calls are allowed.
  std::vector<std::string> argv_strings;
  argv_strings.push_back(binary_);
  argv_strings.insert(argv_strings.end(), args_.begin(), args_.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings)
    argv.push_back(s.data());
  argv.push_back(nullptr);
  std::string exec_error = "node_process: execv(" + binary_ + ") failed\n";

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0)
    return ::testing::AssertionFailure()
           << "pipe2 failed: " << std::strerror(errno);
  int err_fd = ::open(stderr_log_.c_str(),
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (err_fd < 0) {
    ::close(out[0]);
    ::close(out[1]);
    return ::testing::AssertionFailure()
           << "cannot open stderr log " << stderr_log_ << ": "
           << std::strerror(errno);
  }
  std::string marker =
    "=== start #" + std::to_string(starts_) + ": " + command_line() + " ===\n";
  if (::write(err_fd, marker.data(), marker.size()) < 0) {
    // Not fatal: the marker only helps reading the log.
  }
  stderr_offset_ = ::lseek(err_fd, 0, SEEK_END);

  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(out[0]);
    ::close(out[1]);
    ::close(err_fd);
    return ::testing::AssertionFailure()
           << "fork failed: " << std::strerror(err);
  }
  if (pid == 0) {
    // Child. Die with the test process, even if it crashes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(126);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      ::dup2(devnull, 0);
    ::dup2(out[1], 1);
    ::dup2(err_fd, 2);
    // Do not leak the test's sockets or other nodes' pipes into the node.
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD})
      ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    if (::write(2, exec_error.data(), exec_error.size()) < 0) {
      // nothing left to do
    }
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err_fd);
  pid_ = pid;
  stdout_fd_ = out[0];
  reader_ = std::thread([this] { read_stdout(); });
  return ::testing::AssertionSuccess();
}

void node_process::read_stdout() {
  char buf[4096];
  for (;;) {
    if (stop_reader_)
      break;
    pollfd pfd{stdout_fd_, POLLIN, 0};
    int rc = ::poll(&pfd, 1, 100);
    if (rc < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (rc == 0)
      continue;
    ssize_t n = ::read(stdout_fd_, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      break;
    }
    if (n == 0)
      break;
    std::lock_guard<std::mutex> guard(mtx_);
    partial_line_.append(buf, static_cast<std::size_t>(n));
    std::size_t pos;
    while ((pos = partial_line_.find('\n')) != std::string::npos) {
      std::string line = partial_line_.substr(0, pos);
      partial_line_.erase(0, pos + 1);
      stdout_ += line;
      stdout_ += '\n';
      if (!line.empty() && line.back() == '\r')
        line.pop_back();
      on_line(line);
    }
    if (stdout_.size() > max_stdout_bytes)
      stdout_.erase(0, stdout_.size() - max_stdout_bytes);
    cv_.notify_all();
  }
  std::lock_guard<std::mutex> guard(mtx_);
  eof_ = true;
  cv_.notify_all();
}

void node_process::on_line(const std::string& line) {
  if (ready_ || line.rfind(ready_prefix, 0) != 0)
    return;
  std::string host;
  int port = 0;
  std::string peer;
  auto err = parse_ready_fields(line.substr(std::strlen(ready_prefix)), host,
                                port, peer);
  if (!err.empty()) {
    ready_error_ = "malformed ready line (" + err + "): '" + line + "'";
    return;
  }
  host_ = host;
  port_ = port;
  peer_id_ = peer;
  ready_ = true;
}

bool node_process::try_reap() {
  if (pid_ <= 0)
    return true;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    last_status_ = decode_wait_status(st);
    pid_ = -1;
    return true;
  }
  if (r < 0 && errno == ECHILD) {
    pid_ = -1;
    return true;
  }
  return false;
}

void node_process::reap_blocking() {
  if (pid_ <= 0)
    return;
  int st = 0;
  for (;;) {
    pid_t r = ::waitpid(pid_, &st, 0);
    if (r == pid_) {
      last_status_ = decode_wait_status(st);
      break;
    }
    if (r < 0 && errno != EINTR)
      break;
  }
  pid_ = -1;
}

void node_process::finish_reader() {
  if (reader_.joinable()) {
    {
      // The pipe reaches EOF when the process is gone; give the reader a
      // moment to collect the last output before forcing it to stop.
      std::unique_lock<std::mutex> lk(mtx_);
      cv_.wait_for(lk, std::chrono::seconds(1), [this] { return eof_; });
    }
    stop_reader_ = true;
    reader_.join();
  }
  if (stdout_fd_ >= 0) {
    ::close(stdout_fd_);
    stdout_fd_ = -1;
  }
}

::testing::AssertionResult
node_process::start(std::chrono::milliseconds ready_timeout) {
  auto spawned = spawn();
  if (!spawned)
    return spawned;
  auto deadline = clock_type::now() + ready_timeout;
  for (;;) {
    bool eof = false;
    {
      std::unique_lock<std::mutex> lk(mtx_);
      cv_.wait_for(lk, std::chrono::milliseconds(50),
                   [this] { return ready_ || !ready_error_.empty() || eof_; });
      if (ready_)
        return ::testing::AssertionSuccess();
      if (!ready_error_.empty()) {
        auto err = ready_error_;
        lk.unlock();
        kill9();
        return ::testing::AssertionFailure()
               << "cairn-node printed a " << err << diagnostics();
      }
      eof = eof_;
    }
    if (try_reap()) {
      finish_reader();
      return ::testing::AssertionFailure()
             << "cairn-node exited before printing its ready line"
             << diagnostics();
    }
    if (eof) {
      // stdout closed but the process lives on: wait briefly for the exit.
      if (auto st = wait_exit(std::chrono::seconds(2)))
        return ::testing::AssertionFailure()
               << "cairn-node exited before printing its ready line"
               << diagnostics();
      kill9();
      return ::testing::AssertionFailure()
             << "cairn-node closed stdout without printing its ready line"
             << diagnostics();
    }
    if (clock_type::now() >= deadline) {
      kill9();
      return ::testing::AssertionFailure()
             << "cairn-node did not print its ready line within "
             << ready_timeout.count() << " ms (killed)" << diagnostics();
    }
  }
}

std::optional<exit_status>
node_process::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (try_reap()) {
      finish_reader();
      return last_status_;
    }
    if (clock_type::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void node_process::send_signal(int sig) {
  if (pid_ > 0)
    ::kill(pid_, sig);
}

exit_status node_process::stop(std::chrono::milliseconds grace) {
  if (!running()) {
    finish_reader();
    return last_status_;
  }
  ::kill(pid_, SIGTERM);
  if (auto st = wait_exit(grace))
    return *st;
  ::kill(pid_, SIGKILL);
  reap_blocking();
  last_status_.escalated_to_sigkill = true;
  finish_reader();
  return last_status_;
}

exit_status node_process::kill9() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    reap_blocking();
  }
  finish_reader();
  return last_status_;
}

::testing::AssertionResult node_process::restart() {
  auto st = stop();
  if (!st.clean())
    return ::testing::AssertionFailure()
           << "SIGTERM did not end cairn-node with exit code 0: "
           << st.to_string() << diagnostics();
  return start();
}

std::optional<exit_status>
node_process::run_until_exit(std::chrono::milliseconds timeout) {
  if (!spawn())
    return std::nullopt;
  auto deadline = clock_type::now() + timeout;
  bool shortened = false;
  for (;;) {
    if (try_reap()) {
      finish_reader();
      return last_status_;
    }
    if (!shortened && saw_ready_line()) {
      // A node that came up is not going to fail on its own any more.
      deadline =
        std::min(deadline, clock_type::now() + std::chrono::seconds(1));
      shortened = true;
    }
    if (clock_type::now() >= deadline) {
      kill9();
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

} // namespace cairn::test
