#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace cairn::actors {

/// Limits of the API's connection handling (README "Limits").
struct http_limits {
  /// Handler threads: each request being answered holds one.
  size_t workers = 32;
  /// Share of the handler threads one client address may hold at once; its
  /// further requests wait in line instead of taking the rest.
  size_t workers_per_ip = 8;
  /// Connections whose request head has not fully arrived, in all and per
  /// client address. At the total, the oldest is dropped for a new one.
  size_t max_pending = 2048;
  size_t max_pending_per_ip = 256;
  /// Time a connection has to send its whole request head.
  std::chrono::milliseconds header_timeout{10'000};
  /// Largest request head (request line and headers).
  size_t max_header_bytes = 16 * 1024;
};

/// Counters of what the limits refused, for /metrics.
struct http_acceptor_counters {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> header_timeouts{0};
  std::atomic<uint64_t> refused_per_ip{0};
  std::atomic<uint64_t> evicted{0};
  std::atomic<uint64_t> oversized{0};
  std::atomic<uint64_t> pending{0};
};

/// Accepts the API's connections for a bound httplib server without a
/// thread per slow client. httplib 0.11 gives each connection a thread from
/// the moment it is accepted, so 32 clients that send their headers one byte
/// at a time would hold every thread (slowloris). Here one epoll thread holds
/// connections until their request head has arrived (peeked, not read, so
/// httplib parses it as usual), with a deadline and caps in all and per
/// address; only then does a handler thread run httplib's own connection
/// loop on it. A client's later requests on a kept-alive connection are
/// bounded by httplib's keep-alive and read timeouts and by
/// `workers_per_ip`.
class http_acceptor {
public:
  /// `server` must be bound (`bind_to_port`) and must not be listening.
  http_acceptor(std::shared_ptr<httplib::Server> server, http_limits limits,
                std::shared_ptr<http_acceptor_counters> counters);
  ~http_acceptor();
  http_acceptor(const http_acceptor&) = delete;
  http_acceptor& operator=(const http_acceptor&) = delete;

  /// Starts the accepting thread and the handler threads.
  void start();

  /// Closes the listening socket, drops connections still sending their
  /// heads and waits for the handler threads to finish their requests.
  void stop();

  /// The socket of the connection the calling thread answers, if it is a
  /// handler thread of an http_acceptor; -1 otherwise. A handler may read
  /// a large request body from it directly (see `read_request_body`).
  static int current_connection();

private:
  struct pending_conn {
    uint64_t seq; // tells a reused descriptor number from its earlier use
    std::string ip;
    std::chrono::steady_clock::time_point deadline;
  };
  struct ready_conn {
    int fd;
    std::string ip;
  };

  void accept_loop();
  /// Accepts what is waiting; false when out of descriptors.
  bool accept_ready();
  void on_readable(int fd, bool hung_up);
  /// Drops the connections past their deadline; with `time_point::max()`,
  /// the oldest one.
  void expire(std::chrono::steady_clock::time_point now);
  /// Closes a connection still sending its head, with an answer unless
  /// `status` is 0.
  void drop_pending(int fd, int status, const char* phrase,
                    const std::string& why);
  void release_pending(std::map<int, pending_conn>::iterator it);
  void hand_over(int fd);
  void worker_loop();

  std::shared_ptr<httplib::Server> server_;
  http_limits limits_;
  std::shared_ptr<http_acceptor_counters> counters_;
  int listen_fd_ = -1;
  int epfd_ = -1;
  int wake_fd_ = -1;
  std::thread acceptor_;
  std::vector<std::thread> workers_;

  // Accepting thread only.
  std::map<int, pending_conn> pending_;
  // (seq, fd) by accept time, so deadlines are in order.
  std::deque<std::pair<uint64_t, int>> pending_order_;
  std::map<std::string, size_t> pending_per_ip_;
  uint64_t next_seq_ = 0;
  std::vector<char> peek_buf_;
  bool warned_fds_ = false;

  // Shared with the handler threads.
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<ready_conn> ready_;
  std::map<std::string, size_t> active_per_ip_;
  // A duplicate of each connection a handler thread is answering: `stop`
  // shuts down those still busy after `stop_grace`, so that a send blocked
  // on a slow client returns (the duplicate is ours, never a reused fd).
  std::set<int> busy_dups_;
  bool stopping_ = false;
};

} // namespace cairn::actors
