#include "tools/cairnctl/transfer.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <vector>

#include "tools/cairnctl/format.hpp"

namespace cairn::tools::cairnctl {

namespace {

// Transfers may wait long for blocks fetched from the network.
constexpr int transfer_io_seconds = 300;

std::size_t stderr_columns() {
  winsize ws{};
  if (::ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  return 80;
}

bool write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    auto w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

std::string errno_text() {
  return std::strerror(errno);
}

// The name for Content-Disposition: quotes, backslashes and control
// characters would break the header's quoted string.
std::string header_filename(const std::string& path) {
  auto name = std::filesystem::path(path).filename().string();
  for (auto& c : name)
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 ||
        c == 0x7F)
      c = '_';
  return name;
}

// The temporary file of a running download, removed if SIGINT or SIGTERM
// ends cairnctl (unlink is async-signal-safe).
char partial_path[4096];

extern "C" void remove_partial_and_exit(int sig) {
  if (partial_path[0] != '\0')
    ::unlink(partial_path);
  ::_exit(128 + sig);
}

/// Where a download writes: stdout, a device or FIFO as is, or a temporary
/// file next to the target that replaces it only when the download worked.
class output_file {
public:
  explicit output_file(std::string target) : target_(std::move(target)) {}

  ~output_file() { discard(); }

  /// Opens the output; false with `error()` set on failure.
  bool open() {
    if (target_.empty()) {
      fd_ = 1;
      return true;
    }
    struct stat st {};
    if (::stat(target_.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      fd_ = ::open(target_.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd_ < 0)
        return fail("cannot write " + target_ + ": " + errno_text());
      return true;
    }
    temp_ = target_ + ".part-XXXXXX";
    fd_ = ::mkostemp(temp_.data(), O_CLOEXEC);
    if (fd_ < 0) {
      temp_.clear();
      return fail("cannot write " + target_ + ": " + errno_text());
    }
    std::snprintf(partial_path, sizeof(partial_path), "%s", temp_.c_str());
    auto mask = ::umask(0);
    ::umask(mask);
    ::fchmod(fd_, 0666 & ~mask);
    return true;
  }

  /// Writes all of `data`; false with `error()` set on failure.
  bool write(const char* data, std::size_t n) {
    if (write_all(fd_, data, n))
      return true;
    return fail("writing " + (target_.empty() ? "stdout" : target_) + ": " +
                errno_text());
  }

  /// Closes and moves the temporary file into place.
  bool commit() {
    if (fd_ > 1 && ::close(fd_) != 0) {
      fd_ = -1;
      return fail("writing " + target_ + ": " + errno_text());
    }
    fd_ = -1;
    if (!temp_.empty()) {
      if (::rename(temp_.c_str(), target_.c_str()) != 0)
        return fail("cannot write " + target_ + ": " + errno_text());
      temp_.clear();
      partial_path[0] = '\0';
    }
    return true;
  }

  /// Closes and removes the temporary file, if any.
  void discard() {
    if (fd_ > 1)
      ::close(fd_);
    fd_ = -1;
    if (!temp_.empty()) {
      ::unlink(temp_.c_str());
      temp_.clear();
      partial_path[0] = '\0';
    }
  }

  const std::string& error() const noexcept { return error_; }

private:
  bool fail(std::string why) {
    error_ = std::move(why);
    return false;
  }

  std::string target_;
  std::string temp_;
  std::string error_;
  int fd_ = -1;
};

} // namespace

// -- progress -----------------------------------------------------------------

progress::progress(std::optional<std::uint64_t> total, bool tty, bool waits)
  : total_(total), tty_(tty) {
  if (!waits)
    return;
  ticker_ = std::thread([this] {
    std::unique_lock<std::mutex> guard{mtx_};
    while (!stop_ && !first_byte_) {
      wake_.wait_for(guard, std::chrono::milliseconds(100));
      if (!stop_ && !first_byte_)
        print_if_due(clock::now());
    }
  });
}

progress::~progress() {
  stop_ticker();
}

void progress::stop_ticker() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = true;
  }
  wake_.notify_all();
  if (ticker_.joinable())
    ticker_.join();
}

void progress::set_total(std::optional<std::uint64_t> total) {
  std::lock_guard<std::mutex> guard{mtx_};
  total_ = total;
}

std::uint64_t progress::done() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return done_;
}

void progress::add(std::uint64_t n) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto now = clock::now();
  if (!first_byte_ && n > 0)
    first_byte_ = now;
  done_ += n;
  print_if_due(now);
}

void progress::print_if_due(clock::time_point now) {
  // The first line comes a period after the request: a quick transfer
  // prints only its last line.
  auto due = tty_ ? std::chrono::milliseconds(100) : std::chrono::seconds(1);
  if (now - last_print_ >= due) {
    last_print_ = now;
    print(false, true);
  }
}

void progress::finish(bool ok) {
  stop_ticker();
  std::lock_guard<std::mutex> guard{mtx_};
  if (finished_)
    return;
  finished_ = true;
  if (ok || printed_)
    print(true, ok);
}

std::string progress::summary(bool final, bool ok) const {
  auto now = clock::now();
  auto seconds = std::chrono::duration<double>(now - start_).count();
  std::string s = human_bytes(static_cast<double>(done_));
  if (total_) {
    auto total = static_cast<double>(*total_);
    s += " / " + human_bytes(total);
    auto pct =
      *total_ == 0 ? 100.0 : 100.0 * static_cast<double>(done_) / total;
    s += "  " + fixed(std::min(100.0, pct), 0) + "%";
  }
  if (!first_byte_ && !(final && ok)) {
    // Nothing flows yet: the node looks for peers, or for the manifest.
    s += final ? "  failed after " + human_duration(seconds)
               : "  discovering…  " + human_duration(seconds);
    return s;
  }
  // The last line gives the average over the whole request (rate × time =
  // size); while bytes flow, the rate since the first byte, over at least
  // half a second so that the first chunk alone does not look instant.
  auto flowing = first_byte_
                   ? std::chrono::duration<double>(now - *first_byte_).count()
                   : seconds;
  auto over = final ? seconds : std::max(flowing, 0.5);
  auto rate = over > 0 ? static_cast<double>(done_) / over : 0.0;
  s += "  " + human_rate(rate);
  if (final)
    s += ok ? "  done in " + fixed(seconds, 1) + "s" : "  failed";
  else if (total_ && rate > 0)
    s += "  ETA " +
         human_duration(
           static_cast<double>(*total_ - std::min(*total_, done_)) / rate);
  else if (total_)
    s += "  ETA -";
  return s;
}

void progress::print(bool final, bool ok) {
  printed_ = true;
  auto text = summary(final, ok);
  if (!tty_) {
    std::cerr << text << std::endl;
    return;
  }
  std::string bar;
  if (total_) {
    constexpr std::size_t width = 24;
    auto fill = *total_ == 0
                  ? width
                  : static_cast<std::size_t>(
                      width * std::min<double>(1.0, double(done_) / *total_));
    bar = "[" + std::string(fill, '#') + std::string(width - fill, '-') + "]  ";
  }
  auto line = truncate_columns(bar + text, stderr_columns() - 1);
  std::cerr << "\r" << line << "\x1b[K" << (final ? "\n" : "") << std::flush;
}

// -- upload -------------------------------------------------------------------

int run_upload(const context& ctx, const std::string& file,
               const std::string& content_type) {
  const auto& node = ctx.nodes.front();
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    report({exit_failed, "cannot open " + file + ": " + errno_text()});
    return exit_failed;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    report({exit_failed, file + ": not a regular file"});
    return exit_failed;
  }
  auto size = static_cast<std::uint64_t>(st.st_size);
  progress prog(size, ::isatty(2) == 1);
  std::vector<char> buf(256 * 1024);
  std::string read_error;
  httplib::Headers headers{
    {"Content-Disposition",
     "attachment; filename=\"" + header_filename(file) + "\""}};
  auto cli = node.make_client(transfer_io_seconds);
  auto res = cli->Post(
    node.path("/api/codex/v1/data"), headers, static_cast<std::size_t>(size),
    [&](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
      auto want = std::min(length, buf.size());
      auto n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset));
      if (n <= 0) {
        read_error = n < 0 ? "reading " + file + ": " + errno_text()
                           : file + " shrank while it was uploaded";
        return false;
      }
      if (!sink.write(buf.data(), static_cast<std::size_t>(n)))
        return false;
      prog.add(static_cast<std::uint64_t>(n));
      return true;
    },
    content_type);
  ::close(fd);
  if (!read_error.empty()) {
    prog.finish(false);
    report({exit_failed, read_error});
    return exit_failed;
  }
  if (!res) {
    prog.finish(false);
    auto err = node.transport_failure(res.error());
    report(err);
    return err.code;
  }
  if (res->status != 200) {
    prog.finish(false);
    auto err = node.http_failure(res->status, res->body);
    report(err);
    return err.code;
  }
  prog.finish(true);
  auto cid = one_line(res->body);
  if (ctx.json)
    std::cout << dump_json(
                   {{"node", node.url().text}, {"cid", cid}, {"bytes", size}})
              << "\n";
  else
    std::cout << cid << "\n";
  return exit_ok;
}

// -- download -----------------------------------------------------------------

int run_download(const context& ctx, const std::string& cid,
                 const std::string& out_file) {
  const auto& node = ctx.nodes.front();
  if (out_file.empty() && ::isatty(1) == 1) {
    report({exit_usage, "not writing binary data to a terminal: use -o FILE "
                        "or redirect stdout"});
    return exit_usage;
  }
  struct sigaction sa {};
  sa.sa_handler = remove_partial_and_exit;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  output_file out{out_file};
  progress prog(std::nullopt, ::isatty(2) == 1, true);
  int status = 0;
  std::string error_body;
  std::optional<std::uint64_t> total;
  bool output_failed = false;
  auto path =
    node.path("/api/codex/v1/data/" + url_encode(cid) + "/network/stream");
  auto cli = node.make_client(transfer_io_seconds);
  auto res = cli->Get(
    path, httplib::Headers{},
    [&](const httplib::Response& r) {
      status = r.status;
      if (status != 200)
        return true;
      auto length = r.get_header_value("Content-Length");
      if (!length.empty() &&
          length.find_first_not_of("0123456789") == std::string::npos &&
          length.size() < 20)
        total = std::stoull(length);
      prog.set_total(total);
      if (!out.open()) {
        output_failed = true;
        return false;
      }
      return true;
    },
    [&](const char* data, std::size_t n) {
      if (status != 200) {
        if (error_body.size() < 4096)
          error_body.append(data, std::min(n, 4096 - error_body.size()));
        return true;
      }
      if (!out.write(data, n)) {
        output_failed = true;
        return false;
      }
      prog.add(n);
      return true;
    });
  auto fail = [&](const failure& err) {
    prog.finish(false);
    out.discard();
    report(err);
    return err.code;
  };
  if (output_failed)
    return fail({exit_failed, out.error()});
  if (!res)
    return fail(node.transport_failure(res.error()));
  if (status != 200)
    return fail(node.http_failure(status, error_body));
  if (total && prog.done() != *total)
    return fail({exit_unreachable, node.url().text +
                                     ": the download ended after " +
                                     std::to_string(prog.done()) + " of " +
                                     std::to_string(*total) + " bytes"});
  if (!out.commit())
    return fail({exit_failed, out.error()});
  prog.finish(true);
  return exit_ok;
}

} // namespace cairn::tools::cairnctl
