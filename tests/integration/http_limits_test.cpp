// The REST API under clients that are slow on purpose (slowloris): request
// heads sent a byte at a time, heads never finished, heads too large, and
// bodies that trickle. Against real cairn-node processes over real sockets;
// each test checks that other clients are still answered, and within what
// bound.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "tests/integration/api_helpers.hpp"
#include "tests/integration/loopback.hpp"
#include "tests/integration/net_helpers.hpp"

using namespace cairn::test;
using namespace std::chrono_literals;

namespace {

/// A connection to 127.0.0.1:`port` from the local address `from`, with
/// `text` sent and nothing more. -1 if it could not connect.
int open_from(const char* from, int port, const std::string& text) {
  int fd = connect_from(from, port);
  if (fd >= 0 && !text.empty())
    ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  return fd;
}

/// What the server sent on `fd` until it closed or `timeout` passed.
std::string read_all(int fd, std::chrono::milliseconds timeout) {
  std::string got;
  auto deadline = steady::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - steady::now())
                  .count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
      break;
    char buf[4096];
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

/// Connections the test holds open, closed at the end.
struct held_connections {
  std::vector<int> fds;
  ~held_connections() {
    for (int fd : fds)
      ::close(fd);
  }
};

/// Raises this process's descriptor limit (the node inherits it) so that a
/// test can hold `wanted` connections; false if the hard limit is too low.
bool allow_descriptors(rlim_t wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return false;
  if (lim.rlim_cur >= wanted)
    return true;
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < wanted)
    return false;
  lim.rlim_cur = wanted;
  return ::setrlimit(RLIMIT_NOFILE, &lim) == 0;
}

/// The slowest of `n` GETs of /space from 127.0.0.1, in seconds; a failed
/// request counts as 60 s.
std::vector<double> space_latencies(const test_node& node, int n) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) {
    auto cli = node.proc.client();
    auto t0 = steady::now();
    auto res = cli.Get(api("/space"));
    out.push_back(res && res->status == 200 ? seconds_since(t0) : 60.0);
  }
  std::sort(out.begin(), out.end());
  return out;
}

const std::string slow_head = "GET " + api("/space") + " HTTP/1.1\r\nHo";

} // namespace

TEST(HttpLimitsTest, AThousandSlowHeadsLeaveOtherClientsAnswered) {
  if (!allow_descriptors(1400))
    GTEST_SKIP() << "the hard RLIMIT_NOFILE is below 1400";
  test_node node;
  ASSERT_TRUE(node.proc.start()) << node.proc.diagnostics();
  // 1000 connections from four addresses (250 each, under the per-address
  // cap), each sending its head one byte at a time and never finishing.
  held_connections slow;
  const char* sources[] = {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"};
  for (int i = 0; i < 1000; ++i) {
    int fd = open_from(sources[i % 4], node.proc.port(), slow_head);
    ASSERT_GE(fd, 0) << "connection " << i;
    slow.fds.push_back(fd);
  }
  std::atomic<bool> dripping{true};
  std::thread drip{[&] {
    while (dripping) {
      for (int fd : slow.fds)
        ::send(fd, "s", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(1s);
    }
  }};
  std::this_thread::sleep_for(500ms);
  auto lat = space_latencies(node, 20);
  dripping = false;
  drip.join();
  // All of them were held, none refused or closed.
  std::vector<pollfd> polls;
  for (int fd : slow.fds)
    polls.push_back(pollfd{fd, POLLIN, 0});
  EXPECT_EQ(::poll(polls.data(), polls.size(), 0), 0);
  // Median and worst of 20, against the goal of 100 ms; a thread-per-
  // connection server does not answer at all here.
  EXPECT_LT(lat[10], 0.1) << "median " << lat[10] << " s, worst " << lat.back();
  EXPECT_LT(lat.back(), 1.0) << "worst " << lat.back() << " s";
}

TEST(HttpLimitsTest, AnUnfinishedHeadIsAnswered408AfterTheHeaderTimeout) {
  test_node node{{"--http-header-timeout", "1s"}};
  ASSERT_TRUE(node.proc.start()) << node.proc.diagnostics();
  auto t0 = steady::now();
  int fd = open_from("127.0.0.1", node.proc.port(), slow_head);
  ASSERT_GE(fd, 0);
  auto got = read_all(fd, 5s);
  ::close(fd);
  auto secs = seconds_since(t0);
  EXPECT_EQ(got.rfind("HTTP/1.1 408 ", 0), 0u) << got;
  EXPECT_NE(got.find("request head not received within 1 s\n"),
            std::string::npos)
    << got;
  EXPECT_GT(secs, 0.9);
  EXPECT_LT(secs, 3.0);
}

TEST(HttpLimitsTest, OneAddressCannotHoldMorePendingThanItsShare) {
  test_node node{{"--http-max-pending-per-ip", "4"}};
  ASSERT_TRUE(node.proc.start()) << node.proc.diagnostics();
  held_connections slow;
  for (int i = 0; i < 4; ++i)
    slow.fds.push_back(open_from("127.0.0.2", node.proc.port(), slow_head));
  std::this_thread::sleep_for(200ms);
  int fifth = open_from("127.0.0.2", node.proc.port(), "");
  ASSERT_GE(fifth, 0);
  auto got = read_all(fifth, 3s);
  ::close(fifth);
  EXPECT_EQ(got.rfind("HTTP/1.1 429 ", 0), 0u) << got;
  EXPECT_NE(got.find("too many connections from 127.0.0.2"), std::string::npos)
    << got;
  // Another address is not affected.
  auto lat = space_latencies(node, 3);
  EXPECT_LT(lat.back(), 1.0);
}

TEST(HttpLimitsTest, AtThePendingLimitTheOldestSlowConnectionMakesRoom) {
  test_node node{{"--http-max-pending", "8"}};
  ASSERT_TRUE(node.proc.start()) << node.proc.diagnostics();
  held_connections slow;
  for (int i = 0; i < 8; ++i)
    slow.fds.push_back(open_from("127.0.0.2", node.proc.port(), slow_head));
  std::this_thread::sleep_for(200ms);
  auto lat = space_latencies(node, 3);
  EXPECT_LT(lat.back(), 1.0);
  // The first slow connection was told why it was dropped.
  auto got = read_all(slow.fds.front(), 2s);
  EXPECT_EQ(got.rfind("HTTP/1.1 503 ", 0), 0u) << got;
  EXPECT_NE(got.find("too many connections are still sending"),
            std::string::npos)
    << got;
}

TEST(HttpLimitsTest, AHeadOverTheLimitIsAnswered431) {
  test_node node;
  ASSERT_TRUE(node.proc.start()) << node.proc.diagnostics();
  std::string head =
    "GET " + api("/space") + " HTTP/1.1\r\nX-Pad: " + std::string(20000, 'a');
  int fd = open_from("127.0.0.1", node.proc.port(), head);
  ASSERT_GE(fd, 0);
  auto got = read_all(fd, 3s);
  ::close(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 431 ", 0), 0u) << got.substr(0, 200);
  EXPECT_NE(got.find("request head larger than 16384 bytes"), std::string::npos)
    << got.substr(0, 200);
}

TEST(HttpLimitsTest, TricklingBodiesFromOneAddressTakeOnlyItsShareOfThreads) {
  test_node node{{"--http-threads", "3", "--http-threads-per-ip", "2"}};
  ASSERT_TRUE(node.proc.start()) << node.proc.diagnostics();
  // Uploads whose heads are whole but whose bodies never come: each holds a
  // handler thread until httplib's read timeout (5 s). Three from one
  // address may hold only two of the three threads; without the share, the
  // third would hold the last one and the GETs would wait.
  held_connections uploads;
  std::string head = "POST " + api("/data") +
                     " HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     "application/octet-stream\r\nContent-Length: "
                     "1000000\r\n\r\nfirst bytes";
  for (int i = 0; i < 3; ++i)
    uploads.fds.push_back(open_from("127.0.0.2", node.proc.port(), head));
  std::this_thread::sleep_for(300ms);
  auto lat = space_latencies(node, 5);
  EXPECT_LT(lat.back(), 1.0) << "worst " << lat.back() << " s";
}

TEST(HttpLimitsTest, ABodyTooLargeForItsRouteIsRefusedBeforeItIsRead) {
  test_node node;
  ASSERT_TRUE(node.proc.start()) << node.proc.diagnostics();
  // httplib reads the body of any route but an upload into memory whole:
  // 50 GB announced to the log level, to a route that does not exist, or
  // of unknown length, is refused at once and the connection closed, with
  // none of the body sent.
  struct refused {
    std::string head;
    const char* status;
    const char* reason;
  };
  auto with_length = [](const std::string& path) {
    return "POST " + path +
           " HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000000\r\n\r\n";
  };
  for (auto& r :
       {refused{with_length(api("/debug/chronicles/loglevel?level=info")),
                "413", "at most 1048576"},
        refused{with_length(api("/no/such/route")), "413", "at most 1048576"},
        refused{"POST " + api("/sales/availability") +
                  " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                "411", "needs a Content-Length"}}) {
    SCOPED_TRACE(r.head);
    int fd = open_from("127.0.0.1", node.proc.port(), r.head);
    ASSERT_GE(fd, 0);
    auto t0 = steady::now();
    auto got = read_all(fd, 5s);
    ::close(fd);
    EXPECT_EQ(got.rfind(std::string("HTTP/1.1 ") + r.status + " ", 0), 0u)
      << got.substr(0, 200);
    EXPECT_NE(got.find(r.reason), std::string::npos) << got.substr(0, 200);
    EXPECT_LT(seconds_since(t0), 3.0) << "the connection was not closed";
  }
  // An upload streams its body: the same length is not refused for size
  // (the quota answers it, after its own check of the declared length).
  int fd = open_from("127.0.0.1", node.proc.port(), with_length(api("/data")));
  ASSERT_GE(fd, 0);
  auto got = read_all(fd, 5s);
  ::close(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 413 ", 0), 0u) << got.substr(0, 200);
  EXPECT_NE(got.find("quota_exceeded"), std::string::npos)
    << got.substr(0, 200);
}

TEST(HttpLimitsTest, EachConnectionCarriesOneRequest) {
  test_node node;
  ASSERT_TRUE(node.proc.start()) << node.proc.diagnostics();
  // Two requests at once on one connection: the first is answered and the
  // connection closed. httplib would read the second on the handler thread,
  // where the acceptor's limits on heads do not hold.
  std::string one = "GET " + api("/space") + " HTTP/1.1\r\nHost: x\r\n\r\n";
  int fd = open_from("127.0.0.1", node.proc.port(), one + one);
  ASSERT_GE(fd, 0);
  auto t0 = steady::now();
  auto got = read_all(fd, 5s);
  ::close(fd);
  size_t answers = 0;
  for (auto at = got.find("HTTP/1.1 200"); at != std::string::npos;
       at = got.find("HTTP/1.1 200", at + 1))
    ++answers;
  EXPECT_EQ(answers, 1u) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
  EXPECT_LT(seconds_since(t0), 3.0) << "the connection was not closed";
}
