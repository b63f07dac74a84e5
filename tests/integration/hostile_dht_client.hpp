#pragma once

// A hostile DHT client for the integration tests: a UDP socket bound to an
// address of its own (127.0.0.x: Linux routes all of 127/8 to loopback, so
// each client is a source IP of its own), a fresh Ed25519 key, and Cairn's
// real DHT encoders (messages/wire/dht_messages). It signs records with any
// address it likes, sends requests, counts what arrives, and can play an
// honest node that answers pings.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <openssl/rand.h>

#include "messages/ed25519.hpp"
#include "messages/peer_record.hpp"
#include "messages/wire/dht_messages.hpp"

namespace cairn::test {

namespace dht = cairn::wire::dht;

/// One UDP socket and one key. Not thread-safe; closed by the destructor.
class dht_client {
public:
  /// Binds `ip` at a port the OS picks. Throws `std::runtime_error`.
  explicit dht_client(const std::string& ip) : ip_(ip) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    if (fd_ < 0 || ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
      throw std::runtime_error("dht_client: cannot bind " + ip);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    RAND_bytes(seed_.data(), static_cast<int>(seed_.size()));
  }

  ~dht_client() { ::close(fd_); }

  dht_client(const dht_client&) = delete;
  dht_client& operator=(const dht_client&) = delete;

  const std::string& ip() const { return ip_; }
  uint16_t port() const { return port_; }

  /// `/ip4/IP/udp/PORT` of this socket.
  std::string multiaddr() const { return make_multiaddr(ip_, port_, true); }

  /// A record signed with this client's key that claims `addrs`.
  peer_record record(const std::vector<std::string>& addrs) const {
    return peer_record::make(seed_, ++seq_, addrs);
  }

  /// A record signed with a fresh key that claims `addrs`: a node that
  /// does not exist.
  static peer_record made_up(const std::vector<std::string>& addrs) {
    ed25519_seed seed{};
    RAND_bytes(seed.data(), static_cast<int>(seed.size()));
    return peer_record::make(seed, 1, addrs);
  }

  /// Sends `body` with `sender` as the sender's record to `ip:port`.
  void send(const std::string& ip, uint16_t port, const peer_record& sender,
            dht::body body, uint64_t request_id = 0) {
    dht::packet p{request_id == 0 ? next_id_++ : request_id, sender,
                  std::move(body)};
    auto bytes = dht::encode(p);
    if (!bytes)
      throw std::runtime_error("dht_client: cannot encode");
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    ::inet_pton(AF_INET, ip.c_str(), &to.sin_addr);
    ::sendto(fd_, bytes->data(), bytes->size(), 0,
             reinterpret_cast<sockaddr*>(&to), sizeof(to));
  }

  /// The next datagram within `timeout`, decoded (nullopt: none arrived;
  /// a datagram that does not decode counts in `undecodable()`).
  std::optional<dht::packet> receive(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = ms_left(deadline);
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 ||
          ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        return std::nullopt;
      std::vector<uint8_t> buf(dht::max_datagram_size + 1);
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      auto n = ::recvfrom(fd_, buf.data(), buf.size(), 0,
                          reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0)
        continue;
      ++datagrams_;
      bytes_ += static_cast<uint64_t>(n);
      last_from_ = from;
      auto pkt = dht::decode(byte_view{buf.data(), static_cast<size_t>(n)});
      if (!pkt) {
        ++undecodable_;
        continue;
      }
      return std::move(*pkt);
    }
  }

  /// Every datagram that arrives within `window`, decoded.
  std::vector<dht::packet> drain(std::chrono::milliseconds window) {
    std::vector<dht::packet> out;
    auto deadline = std::chrono::steady_clock::now() + window;
    for (;;) {
      auto left = ms_left(deadline);
      if (left.count() <= 0)
        return out;
      if (auto p = receive(left))
        out.push_back(std::move(*p));
    }
  }

  /// Plays an honest node for `window`: answers every ping with a pong
  /// from its own record, at the ping's source. Returns the pings answered.
  size_t answer_pings(std::chrono::milliseconds window) {
    size_t n = 0;
    auto self = record({multiaddr()});
    auto deadline = std::chrono::steady_clock::now() + window;
    for (;;) {
      auto left = ms_left(deadline);
      if (left.count() <= 0)
        return n;
      auto p = receive(left);
      if (!p || !std::holds_alternative<dht::ping>(p->body))
        continue;
      char host[INET_ADDRSTRLEN] = {0};
      ::inet_ntop(AF_INET, &last_from_.sin_addr, host, sizeof(host));
      send(host, ntohs(last_from_.sin_port), self, dht::pong{}, p->request_id);
      ++n;
    }
  }

  /// Datagrams and bytes received so far, and those that did not decode.
  uint64_t datagrams() const { return datagrams_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t undecodable() const { return undecodable_; }

private:
  static std::chrono::milliseconds
  ms_left(std::chrono::steady_clock::time_point deadline) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  }

  std::string ip_;
  int fd_ = -1;
  uint16_t port_ = 0;
  ed25519_seed seed_{};
  mutable uint64_t seq_ = 1;
  uint64_t next_id_ = 1;
  uint64_t datagrams_ = 0, bytes_ = 0, undecodable_ = 0;
  sockaddr_in last_from_{};
};

} // namespace cairn::test
