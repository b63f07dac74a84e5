#pragma once

// `cairnctl upload` and `cairnctl download`: files streamed to and from a
// node's data API, with progress on stderr.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "tools/cairnctl/commands.hpp"

namespace cairn::tools::cairnctl {

/// Progress of one transfer, on stderr only. On a terminal a bar redrawn in
/// place (at most 10 times a second); otherwise a plain line at most once a
/// second, e.g. "12.0 MiB / 64.0 MiB  18%  45.2 MiB/s  ETA 1s". Time counts
/// from the request (construction), and so does the last line's average;
/// the rate and ETA while bytes flow count from the first byte, so a
/// download that waits for peers says "discovering…  4s" meanwhile rather
/// than a rate near 0 and an ETA of days. `finish` prints a last line if
/// any was printed before, or if the transfer worked. Thread-safe.
class progress {
public:
  /// `total` is the size when known. `tty`: draw a bar rather than lines.
  /// `waits`: the first bytes may take long (a download): until they come,
  /// a line saying so is printed as time passes.
  progress(std::optional<std::uint64_t> total, bool tty, bool waits = false);

  /// Stops the line printed while waiting (as `finish` does).
  ~progress();

  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;

  /// Sets the size once it is known (downloads learn it from the answer).
  void set_total(std::optional<std::uint64_t> total);

  /// Counts `n` more bytes; prints when a line or redraw is due.
  void add(std::uint64_t n);

  /// Prints the last state: "... done in 1.4s" (or "... failed") and a
  /// newline; a failure before anything was printed prints nothing, so that
  /// the error is the only line.
  void finish(bool ok);

  /// Bytes counted so far.
  std::uint64_t done() const;

private:
  using clock = std::chrono::steady_clock;

  std::string summary(bool final, bool ok) const;
  void print(bool final, bool ok);
  void print_if_due(clock::time_point now);
  void stop_ticker();

  mutable std::mutex mtx_;
  std::condition_variable wake_;
  std::thread ticker_;
  bool stop_ = false;
  std::optional<std::uint64_t> total_;
  bool tty_;
  std::uint64_t done_ = 0;
  clock::time_point start_ = clock::now();
  std::optional<clock::time_point> first_byte_;
  clock::time_point last_print_ = clock::now();
  bool printed_ = false;
  bool finished_ = false;
};

/// `upload FILE`: streams FILE (never read whole into memory) with POST
/// /api/codex/v1/data to the first node; prints the CID on stdout (with
/// --json: {"node","cid","bytes"}).
int run_upload(const context& ctx, const std::string& file,
               const std::string& content_type);

/// `download CID [-o FILE]`: GET /api/codex/v1/data/{CID}/network/stream
/// from the first node into `out_file`, or stdout when it is empty. A file
/// that was created is removed again when the download fails.
int run_download(const context& ctx, const std::string& cid,
                 const std::string& out_file);

} // namespace cairn::tools::cairnctl
