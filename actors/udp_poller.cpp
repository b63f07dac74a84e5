#include "actors/udp_poller.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/discovery.hpp"
#include "messages/wire/dht_messages.hpp"

namespace cairn::actors {

struct udp_poller::registration::entry {
  std::shared_ptr<udp_socket> socket;
  handler on_datagram;
};

namespace {

// The running poller, if any: registrations own it, this only finds it.
std::mutex instance_mtx;
std::weak_ptr<udp_poller> current;

// Datagrams read from one socket before the next ready socket gets its
// turn, so a flooded node cannot starve the others.
constexpr int batch = 32;

} // namespace

udp_poller::registration::registration(std::shared_ptr<udp_poller> poller,
                                       std::shared_ptr<entry> e)
  : poller_(std::move(poller)), entry_(std::move(e)) {}

udp_poller::registration::~registration() {
  poller_->remove(entry_);
}

std::shared_ptr<udp_poller> udp_poller::instance() {
  std::lock_guard<std::mutex> guard{instance_mtx};
  if (auto p = current.lock())
    return p;
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake;
  if (ep < 0 || wake < 0 || ::epoll_ctl(ep, EPOLL_CTL_ADD, wake, &ev) != 0) {
    spdlog::error("discovery: cannot start the UDP poller: {}",
                  strerror(errno));
    if (ep >= 0)
      ::close(ep);
    if (wake >= 0)
      ::close(wake);
    return nullptr;
  }
  std::shared_ptr<udp_poller> p{new udp_poller(ep, wake)};
  current = p;
  return p;
}

udp_poller::udp_poller(int epoll_fd, int wake_fd)
  : epoll_fd_(epoll_fd), wake_fd_(wake_fd) {
  thread_ = std::thread{[this] { run(); }};
}

udp_poller::~udp_poller() {
  stop_ = true;
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof(one));
  thread_.join();
  ::close(epoll_fd_);
  ::close(wake_fd_);
}

std::unique_ptr<udp_poller::registration>
udp_poller::add(std::shared_ptr<udp_socket> sock, handler h) {
  auto self = instance();
  if (!self)
    return nullptr;
  int fd = sock->fd();
  auto e = std::make_shared<registration::entry>(
    registration::entry{std::move(sock), std::move(h)});
  {
    std::lock_guard<std::mutex> guard{self->mtx_};
    auto i = self->entries_.find(fd);
    if (i != self->entries_.end()) {
      i->second = e;
    } else {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      if (::epoll_ctl(self->epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        spdlog::error("discovery: cannot poll UDP socket {}: {}", fd,
                      strerror(errno));
        return nullptr;
      }
      self->entries_.emplace(fd, e);
    }
  }
  return std::unique_ptr<registration>{new registration(self, std::move(e))};
}

void udp_poller::remove(const std::shared_ptr<registration::entry>& e) {
  std::shared_ptr<registration::entry> gone;
  std::lock_guard<std::mutex> guard{mtx_};
  int fd = e->socket->fd();
  auto i = entries_.find(fd);
  if (i == entries_.end() || i->second != e)
    return;
  // Deregistered while the socket is still open: the descriptor cannot
  // have been reused for another socket yet.
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  gone = std::move(i->second);
  entries_.erase(i);
}

size_t udp_poller::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return entries_.size();
}

void udp_poller::run() {
  std::vector<uint8_t> buf(wire::dht::max_datagram_size + 1);
  epoll_event events[64];
  while (!stop_) {
    int n = ::epoll_wait(epoll_fd_, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      spdlog::error("discovery: epoll_wait: {}", strerror(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == wake_fd_)
        continue;
      std::shared_ptr<registration::entry> e;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        auto it = entries_.find(fd);
        if (it != entries_.end())
          e = it->second;
      }
      if (!e)
        continue;
      for (int j = 0; j < batch; ++j) {
        sockaddr_in from{};
        socklen_t len = sizeof(from);
        auto got = ::recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT,
                              reinterpret_cast<sockaddr*>(&from), &len);
        if (got < 0)
          break; // drained (EAGAIN), or a transient error
        if (got == 0 || from.sin_family != AF_INET)
          continue;
        e->on_datagram(byte_view{buf.data(), static_cast<size_t>(got)}, from);
      }
    }
  }
}

} // namespace cairn::actors
