#include "actors/http_acceptor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <httplib.h>
#include <spdlog/spdlog.h>

namespace cairn::actors {

namespace {

// httplib 0.11 keeps both the per-connection request loop
// (process_and_close_socket, virtual so that its TLS server can replace it)
// and the listening socket private, and offers no way to hand it an accepted
// connection. An explicit instantiation may name private members
// ([temp.explicit]/12): this is how the acceptor reaches them without
// patching the library (Debian 12 ships 0.11.4).
template <typename Tag, typename Tag::type Member>
struct expose {
  friend typename Tag::type get(Tag) { return Member; }
};
struct process_socket_tag {
  using type = bool (httplib::Server::*)(int);
  friend type get(process_socket_tag);
};
struct listen_socket_tag {
  using type = std::atomic<int> httplib::Server::*;
  friend type get(listen_socket_tag);
};
template struct expose<process_socket_tag,
                       &httplib::Server::process_and_close_socket>;
template struct expose<listen_socket_tag, &httplib::Server::svr_sock_>;

using clock = std::chrono::steady_clock;

// A complete answer for a connection refused before httplib saw it: one
// line of reason, and the connection closes.
std::string refusal(int status, const char* phrase, const std::string& why) {
  auto body = why + "\n";
  return "HTTP/1.1 " + std::to_string(status) + " " + phrase +
         "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

std::string peer_ip(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
  } else if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
  }
  return text;
}

// Answers a connection httplib never saw with one line of reason, and
// closes it. What the client sent is read first, so that the close does not
// reset the connection before the client could read the answer.
void refuse(int fd, int status, const char* phrase, const std::string& why) {
  char sink[4096];
  while (::recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) {
  }
  auto reply = refusal(status, phrase, why);
  [[maybe_unused]] auto n =
    ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

// How long `stop` lets answers under way end before it cuts them off.
constexpr auto stop_grace = std::chrono::milliseconds{500};

// Ready for httplib: blocking I/O with its default timeouts, as its own
// accept loop sets them.
void prepare_for_httplib(int fd) {
  int flags = ::fcntl(fd, F_GETFL, 0);
  if (flags >= 0)
    ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  timeval tv{CPPHTTPLIB_READ_TIMEOUT_SECOND, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  tv = timeval{CPPHTTPLIB_WRITE_TIMEOUT_SECOND, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

} // namespace

http_acceptor::http_acceptor(std::shared_ptr<httplib::Server> server,
                             http_limits limits,
                             std::shared_ptr<http_acceptor_counters> counters)
  : server_(std::move(server)), limits_(limits),
    counters_(std::move(counters)) {
  limits_.workers = std::max<size_t>(1, limits_.workers);
  limits_.workers_per_ip = std::max<size_t>(1, limits_.workers_per_ip);
  limits_.max_pending = std::max<size_t>(1, limits_.max_pending);
  limits_.max_pending_per_ip = std::max<size_t>(1, limits_.max_pending_per_ip);
}

http_acceptor::~http_acceptor() {
  stop();
}

void http_acceptor::start() {
  listen_fd_ = (server_.get()->*get(listen_socket_tag{})).load();
  // httplib listens with a backlog of 5: a burst of connections would have
  // its SYNs dropped and retried a second later. The accept loop is quick;
  // let the kernel queue what arrives meanwhile.
  ::listen(listen_fd_, SOMAXCONN);
  ::fcntl(listen_fd_, F_SETFL, ::fcntl(listen_fd_, F_GETFL, 0) | O_NONBLOCK);
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd_;
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.fd = wake_fd_;
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  for (size_t i = 0; i < limits_.workers; ++i)
    workers_.emplace_back([this] { worker_loop(); });
  acceptor_ = std::thread{[this] { accept_loop(); }};
}

void http_acceptor::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_ || epfd_ < 0)
      return;
    stopping_ = true;
  }
  // httplib's keep-alive loops end once the server has no listening socket.
  auto fd = (server_.get()->*get(listen_socket_tag{})).exchange(-1);
  if (fd >= 0) {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof(one));
  if (acceptor_.joinable())
    acceptor_.join();
  for (auto& [pfd, conn] : pending_)
    ::close(pfd);
  pending_.clear();
  counters_->pending = 0;
  cv_.notify_all();
  {
    // Answers under way may end for `stop_grace`; then a handler still
    // sending to a client that reads slowly, or not at all, is cut off.
    std::unique_lock<std::mutex> lock{mtx_};
    cv_.wait_for(lock, stop_grace, [&] { return busy_dups_.empty(); });
    for (int dup : busy_dups_)
      ::shutdown(dup, SHUT_RDWR);
  }
  for (auto& w : workers_)
    if (w.joinable())
      w.join();
  for (auto& r : ready_)
    ::close(r.fd);
  ready_.clear();
  ::close(epfd_);
  ::close(wake_fd_);
}

void http_acceptor::accept_loop() {
  std::vector<epoll_event> events(64);
  bool listening = true;
  clock::time_point resume_at{};
  for (;;) {
    auto now = clock::now();
    if (!listening && now >= resume_at) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = listen_fd_;
      ::epoll_ctl(epfd_, EPOLL_CTL_ADD, listen_fd_, &ev);
      listening = true;
    }
    int timeout = -1;
    if (!pending_order_.empty()) {
      // A stale first entry (its connection went) wakes the loop at once,
      // and expire() drops it.
      auto [seq, fd] = pending_order_.front();
      auto first = pending_.find(fd);
      auto until = first == pending_.end() || first->second.seq != seq
                     ? now
                     : first->second.deadline;
      timeout = static_cast<int>(
        std::chrono::ceil<std::chrono::milliseconds>(until - now).count());
      timeout = std::max(timeout, 0);
    }
    if (!listening) {
      auto wait = static_cast<int>(
        std::chrono::ceil<std::chrono::milliseconds>(resume_at - now).count());
      timeout = timeout < 0 ? wait : std::min(timeout, wait);
    }
    int n = ::epoll_wait(epfd_, events.data(), static_cast<int>(events.size()),
                         timeout);
    if (n < 0 && errno != EINTR) {
      spdlog::error("api: epoll_wait: {}", std::strerror(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == wake_fd_)
        return;
      if (fd == listen_fd_) {
        if (!accept_ready()) {
          // Out of descriptors: the listening socket stays readable, so
          // stop watching it for a moment instead of spinning on it.
          ::epoll_ctl(epfd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
          listening = false;
          resume_at = clock::now() + std::chrono::milliseconds{100};
        }
      } else {
        on_readable(fd, (events[i].events & (EPOLLRDHUP | EPOLLHUP)) != 0);
      }
    }
    expire(clock::now());
  }
}

bool http_acceptor::accept_ready() {
  for (;;) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        if (!warned_fds_) {
          spdlog::warn("api: out of file descriptors; new connections wait");
          warned_fds_ = true;
        }
        return false;
      }
      return true; // EAGAIN: all taken; others are the client's problem
    }
    ++counters_->accepted;
    auto ip = peer_ip(addr);
    auto from_ip = pending_per_ip_.find(ip);
    if (from_ip != pending_per_ip_.end() &&
        from_ip->second >= limits_.max_pending_per_ip) {
      ++counters_->refused_per_ip;
      refuse(fd, 429, "Too Many Requests",
             "too many connections from " + ip +
               " are still sending their request");
      continue;
    }
    if (pending_.size() >= limits_.max_pending) {
      ++counters_->evicted;
      expire(clock::time_point::max());
    }
    ++pending_per_ip_[ip];
    auto seq = ++next_seq_;
    pending_[fd] = pending_conn{seq, ip, clock::now() + limits_.header_timeout};
    pending_order_.emplace_back(seq, fd);
    counters_->pending = pending_.size();
    epoll_event ev{};
    // Edge-triggered: the head is only peeked at, so the socket stays
    // readable until httplib reads it; wake up for new bytes only.
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    ev.data.fd = fd;
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
  }
}

void http_acceptor::on_readable(int fd, bool hung_up) {
  if (pending_.count(fd) == 0)
    return;
  peek_buf_.resize(limits_.max_header_bytes);
  auto n = ::recv(fd, peek_buf_.data(), peek_buf_.size(), MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return;
  if (n <= 0) {
    drop_pending(fd, 0, nullptr, {}); // closed or failed before a request
    return;
  }
  std::string_view head{peek_buf_.data(), static_cast<size_t>(n)};
  if (head.find("\r\n\r\n") != std::string_view::npos) {
    hand_over(fd);
    return;
  }
  if (hung_up) {
    drop_pending(fd, 0, nullptr, {}); // no more is coming
    return;
  }
  if (static_cast<size_t>(n) >= limits_.max_header_bytes) {
    ++counters_->oversized;
    drop_pending(fd, 431, "Request Header Fields Too Large",
                 "request head larger than " +
                   std::to_string(limits_.max_header_bytes) + " bytes");
  }
}

void http_acceptor::expire(clock::time_point now) {
  bool evict = now == clock::time_point::max();
  while (!pending_order_.empty()) {
    auto [seq, fd] = pending_order_.front();
    auto it = pending_.find(fd);
    if (it == pending_.end() || it->second.seq != seq) {
      pending_order_.pop_front(); // handed over or dropped already
      continue;
    }
    if (evict) {
      // The slowest clients are shed first: the oldest is the one that has
      // taken longest to send its request head.
      drop_pending(fd, 503, "Service Unavailable",
                   "too many connections are still sending their request");
      return;
    }
    if (it->second.deadline > now)
      return;
    ++counters_->header_timeouts;
    auto secs =
      std::chrono::duration_cast<std::chrono::seconds>(limits_.header_timeout)
        .count();
    drop_pending(fd, 408, "Request Timeout",
                 "request head not received within " + std::to_string(secs) +
                   " s");
  }
}

void http_acceptor::drop_pending(int fd, int status, const char* phrase,
                                 const std::string& why) {
  auto it = pending_.find(fd);
  if (it == pending_.end())
    return;
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  if (status != 0)
    refuse(fd, status, phrase, why);
  else
    ::close(fd);
  release_pending(it);
}

void http_acceptor::release_pending(std::map<int, pending_conn>::iterator it) {
  auto ip = pending_per_ip_.find(it->second.ip);
  if (ip != pending_per_ip_.end() && --ip->second == 0)
    pending_per_ip_.erase(ip);
  pending_.erase(it);
  counters_->pending = pending_.size();
}

void http_acceptor::hand_over(int fd) {
  auto it = pending_.find(fd);
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  prepare_for_httplib(fd);
  ready_conn conn{fd, it->second.ip};
  release_pending(it);
  {
    std::lock_guard<std::mutex> guard{mtx_};
    ready_.push_back(std::move(conn));
  }
  cv_.notify_one();
}

namespace {

thread_local int current_fd = -1;

} // namespace

int http_acceptor::current_connection() {
  return current_fd;
}

void http_acceptor::worker_loop() {
  auto process = get(process_socket_tag{});
  for (;;) {
    ready_conn conn;
    int dup = -1;
    {
      std::unique_lock<std::mutex> lock{mtx_};
      // The first waiting connection whose address is under its share.
      auto next = ready_.end();
      cv_.wait(lock, [&] {
        if (stopping_)
          return true;
        next = std::find_if(ready_.begin(), ready_.end(), [&](auto& r) {
          auto a = active_per_ip_.find(r.ip);
          return a == active_per_ip_.end() ||
                 a->second < limits_.workers_per_ip;
        });
        return next != ready_.end();
      });
      if (stopping_)
        return;
      conn = std::move(*next);
      ready_.erase(next);
      ++active_per_ip_[conn.ip];
      dup = ::dup(conn.fd);
      if (dup >= 0)
        busy_dups_.insert(dup);
    }
    current_fd = conn.fd;
    (server_.get()->*process)(conn.fd); // reads, answers, closes
    current_fd = -1;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (dup >= 0) {
        busy_dups_.erase(dup);
        ::close(dup);
      }
      auto a = active_per_ip_.find(conn.ip);
      if (--a->second == 0)
        active_per_ip_.erase(a);
    }
    // A connection held back by its address's share may go now.
    cv_.notify_all();
  }
}

} // namespace cairn::actors
