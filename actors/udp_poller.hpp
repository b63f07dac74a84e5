#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "messages/bytes.hpp"

namespace cairn::actors {

class udp_socket;

/// One thread that receives the datagrams of every DHT socket in the
/// process (epoll), so that a process hosting hundreds of nodes (cairn-sim)
/// does not spend a thread per node blocked in `recvfrom`. It holds the
/// registered sockets and their handlers, nothing else: what a handler does
/// with a datagram (rate limits, the node's discovery actor) belongs to
/// whoever registered it.
///
/// The process has at most one poller at a time: `instance()` starts it
/// with the first registration, and its thread ends when the last
/// registration is dropped. Thread-safe.
class udp_poller {
public:
  /// Called on the poller's thread with each datagram of a socket and its
  /// IPv4 source. Must not block: every socket waits for it.
  using handler = std::function<void(byte_view datagram, const sockaddr_in&)>;

  /// A registered socket. Dropping it unregisters the socket: the poller
  /// no longer reads it once the destructor returns, though a datagram it
  /// already read may still reach the handler (which it keeps alive until
  /// then). Owned by the registrant.
  class registration {
  public:
    ~registration();
    registration(const registration&) = delete;
    registration& operator=(const registration&) = delete;

  private:
    friend class udp_poller;
    struct entry;
    registration(std::shared_ptr<udp_poller> poller, std::shared_ptr<entry> e);
    std::shared_ptr<udp_poller> poller_;
    std::shared_ptr<entry> entry_;
  };

  /// The process's poller, started if none runs. Errors (no epoll or
  /// eventfd) are fatal to the caller: `nullptr`.
  static std::shared_ptr<udp_poller> instance();

  /// Reads `sock` (which the registration keeps open) and hands each
  /// datagram to `h` on the poller's thread. A socket registered again
  /// (a restarted discovery actor) goes to its newest handler; dropping an
  /// older registration then leaves it registered. Null if epoll refuses
  /// the socket.
  static std::unique_ptr<registration> add(std::shared_ptr<udp_socket> sock,
                                           handler h);

  /// Sockets registered now (for tests and statistics).
  size_t size() const;

  ~udp_poller();
  udp_poller(const udp_poller&) = delete;
  udp_poller& operator=(const udp_poller&) = delete;

private:
  udp_poller(int epoll_fd, int wake_fd);
  void run();
  void remove(const std::shared_ptr<registration::entry>& e);

  int epoll_fd_;
  int wake_fd_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mtx_;
  /// By file descriptor: the socket's current registration.
  std::map<int, std::shared_ptr<registration::entry>> entries_;
  std::thread thread_;
};

} // namespace cairn::actors
