#pragma once

// A TCP proxy on 127.0.0.1 between a peer that dials and a peer that
// listens, which can flip one bit inside one frame of the Cairn stream
// (messages/wire/FORMAT.md: an 8-byte preamble, then length-prefixed frames).
// Used by the session and integration tests to show that a tampered frame
// ends the session with an integrity error instead of being delivered.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

namespace cairn::test {

/// Forwards one connection from `port()` to `target`, both on loopback. The
/// destructor closes both sides and joins the forwarding thread.
class tampering_proxy {
public:
  /// Which way the bytes flow.
  enum direction { to_target = 0, to_dialer = 1 };

  explicit tampering_proxy(uint16_t target) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = loopback(0);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(listen_fd_, 1);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, target] { run(target); });
  }

  ~tampering_proxy() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }

  tampering_proxy(const tampering_proxy&) = delete;
  tampering_proxy& operator=(const tampering_proxy&) = delete;

  /// The port to dial.
  uint16_t port() const { return port_; }

  /// Flips the lowest bit of the first body byte of the first frame that
  /// goes `d` after `after` more bytes went that way. Once.
  void tamper(direction d, uint64_t after = 0) {
    threshold_[d] = seen_[d] + after;
    armed_[d] = true;
  }

  /// True once the armed flip has happened.
  bool tampered(direction d) const { return done_[d]; }

private:
  // Where one direction's stream is: preamble, then header and body.
  struct scanner {
    size_t preamble = 0;
    uint8_t header[4] = {};
    size_t header_len = 0;
    size_t body_left = 0;
  };

  static sockaddr_in loopback(uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
  }

  void scan(int d, char* buf, size_t n) {
    auto& s = scanners_[d];
    size_t i = 0;
    while (i < n) {
      if (s.preamble < 8) {
        auto k = std::min(n - i, 8 - s.preamble);
        s.preamble += k;
        i += k;
      } else if (s.body_left == 0) {
        s.header[s.header_len++] = static_cast<uint8_t>(buf[i++]);
        if (s.header_len == 4) {
          s.body_left = (size_t{s.header[0]} << 24) |
                        (size_t{s.header[1]} << 16) |
                        (size_t{s.header[2]} << 8) | size_t{s.header[3]};
          s.header_len = 0;
        }
      } else {
        if (armed_[d] && seen_[d] + i >= threshold_[d]) {
          buf[i] ^= 0x01;
          armed_[d] = false;
          done_[d] = true;
        }
        auto k = std::min(n - i, s.body_left);
        s.body_left -= k;
        i += k;
      }
    }
    seen_[d] += n;
  }

  void run(uint16_t target) {
    int a = ::accept(listen_fd_, nullptr, nullptr);
    if (a < 0)
      return;
    int b = ::socket(AF_INET, SOCK_STREAM, 0);
    auto addr = loopback(target);
    if (::connect(b, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(a);
      ::close(b);
      return;
    }
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    static constexpr size_t chunk = 256 * 1024;
    auto buf = std::make_unique<char[]>(chunk);
    while (!stop_) {
      if (::poll(fds, 2, 50) <= 0)
        continue;
      bool open = true;
      for (int i = 0; i < 2 && open; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
          continue;
        auto n = ::recv(fds[i].fd, buf.get(), chunk, 0);
        if (n <= 0) {
          open = false;
          break;
        }
        // fds[0] is the dialer: what it sends goes to the target.
        scan(i == 0 ? to_target : to_dialer, buf.get(), static_cast<size_t>(n));
        size_t off = 0;
        while (off < static_cast<size_t>(n)) {
          auto w = ::send(fds[1 - i].fd, buf.get() + off,
                          static_cast<size_t>(n) - off, MSG_NOSIGNAL);
          if (w <= 0) {
            open = false;
            break;
          }
          off += static_cast<size_t>(w);
        }
      }
      if (!open)
        break;
    }
    ::close(a);
    ::close(b);
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> armed_[2] = {{false}, {false}};
  std::atomic<bool> done_[2] = {{false}, {false}};
  std::atomic<uint64_t> seen_[2] = {{0}, {0}};
  std::atomic<uint64_t> threshold_[2] = {{0}, {0}};
  scanner scanners_[2];
  std::thread thread_;
};

} // namespace cairn::test
