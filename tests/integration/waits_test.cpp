// Nothing a user waits for without reason: real `cairn-node` processes on
// 127.0.0.1 check that a download right after an upload elsewhere starts
// at once, that a CID nobody has answers 404 promptly, that SIGTERM stops a
// node with fetches in flight, that an engine restart keeps the node's
// peers, and that a node restarted without `--bootstrap-node` rejoins the
// DHT through the contacts it saved.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/api_helpers.hpp"
#include "tests/integration/net_helpers.hpp"
#include "tests/integration/node_process.hpp"

using namespace cairn::test;

namespace {

constexpr std::size_t kib = 1024;

#define START(node) ASSERT_TRUE((node).proc.start())

// The node's signed peer record, as text.
std::string spr_of(const node_process& n) {
  auto cli = n.client();
  httplib::Headers h{{"Accept", "text/plain"}};
  auto res = cli.Get(api("/spr"), h);
  return res && res->status == 200 ? res->body : std::string{};
}

// A manifest CID that no node has: uploaded to `n`, then deleted there.
std::string absent_cid(node_process& n, std::uint64_t seed) {
  auto cli = n.client();
  std::string cid;
  EXPECT_TRUE(upload(cli, random_bytes(70000, seed), &cid));
  auto del = cli.Delete(api("/data/" + cid));
  EXPECT_TRUE(del && del->status == 204);
  return cid;
}

// GET `path` on `n`; the seconds until the status line and first byte of
// the body arrived (or until it failed), the status, the body.
struct timed_get {
  double first_byte = -1;
  double total = 0;
  int status = 0;
  std::string body;
  std::string error;
};

timed_get get_timed(const node_process& n, const std::string& path,
                    int read_timeout_s = 30) {
  timed_get out;
  auto cli = long_client(n.host(), n.port());
  cli.set_read_timeout(read_timeout_s, 0);
  auto t0 = steady::now();
  auto res = cli.Get(
    path, httplib::Headers{},
    [&](const httplib::Response& r) {
      out.status = r.status;
      return true;
    },
    [&](const char* p, std::size_t len) {
      if (out.first_byte < 0)
        out.first_byte = seconds_since(t0);
      out.body.append(p, len);
      return true;
    });
  out.total = seconds_since(t0);
  if (!res)
    out.error = httplib::to_string(res.error());
  else
    out.status = res->status;
  return out;
}

// Polls `n`'s peers until `peer` is among them or `timeout` passes.
bool wait_peer(const node_process& n, const std::string& peer,
               std::chrono::milliseconds timeout) {
  auto until = steady::now() + timeout;
  for (;;) {
    std::map<std::string, json> peers;
    if (peers_of(n, &peers) && peers.count(peer) > 0)
      return true;
    if (steady::now() >= until)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
}

// Starts A and B, uploads `data` to A and connects B to A; `*cid` is the
// dataset's CID.
::testing::AssertionResult seeded_pair(test_node& a, test_node& b,
                                       const std::string& data,
                                       std::string* cid) {
  for (auto* n : {&a, &b})
    if (auto r = n->proc.start(); !r)
      return r;
  auto ca = a.proc.client();
  if (auto r = upload(ca, data, cid); !r)
    return r;
  return connect_nodes(b.proc, a.proc);
}

} // namespace

// The first lookup may come before the provider record: the uploader
// provides within ~200 ms of the commit, and the downloader looks again
// after 100, 200, 400 ms ... (not after a fixed 5 s).
TEST(WaitsTest, NetworkDownloadRightAfterAnUploadElsewhereStartsAtOnce) {
  test_node a;
  START(a);
  auto spr = spr_of(a.proc);
  ASSERT_EQ(spr.rfind("spr:", 0), 0u) << spr;
  test_node b({"--bootstrap-node", spr});
  START(b);
  for (std::uint64_t run = 0; run < 2; ++run) {
    auto data = random_bytes(512 * kib + 17, 1600 + run);
    auto ca = a.proc.client();
    std::string cid;
    ASSERT_TRUE(upload(ca, data, &cid));
    auto got = get_timed(b.proc, api("/data/" + cid + "/network/stream"));
    std::cout << "[  info    ] first byte after " << got.first_byte
              << " s, whole after " << got.total << " s\n";
    ASSERT_EQ(got.status, 200) << got.error << " " << got.body.substr(0, 200);
    EXPECT_EQ(sha256_hex(got.body), sha256_hex(data));
    EXPECT_GE(got.first_byte, 0.0);
    EXPECT_LT(got.first_byte, 3.0) << b.proc.stderr_tail();
  }
}

// A connected peer that never answers a want (the manifest's want-block)
// must not keep the engine from looking the providers up in the DHT.
TEST(WaitsTest, SilentConnectedPeerDoesNotHoldUpTheDhtLookup) {
  test_node a, silent;
  START(a);
  START(silent);
  auto spr = spr_of(a.proc);
  ASSERT_EQ(spr.rfind("spr:", 0), 0u) << spr;
  test_node b({"--bootstrap-node", spr});
  START(b);
  ASSERT_TRUE(connect_nodes(b.proc, silent.proc));
  ::kill(silent.proc.pid(), SIGSTOP);
  auto data = random_bytes(300 * kib + 11, 1650);
  std::string cid;
  auto ca = a.proc.client();
  EXPECT_TRUE(upload(ca, data, &cid));
  auto got = get_timed(b.proc, api("/data/" + cid + "/network/stream"));
  ::kill(silent.proc.pid(), SIGCONT);
  std::cout << "[  info    ] first byte after " << got.first_byte << " s\n";
  EXPECT_EQ(got.status, 200) << got.error << " " << got.body.substr(0, 200);
  EXPECT_EQ(sha256_hex(got.body), sha256_hex(data));
  EXPECT_LT(got.first_byte, 3.0) << b.proc.stderr_tail();
}

// A CID nobody has fails once a lookup found no provider, not after the
// engine's 20 s want timeout (meant for slow peers, not absent ones).
TEST(WaitsTest, UnknownCidWithOnePeerAnswers404WithinTwoSeconds) {
  test_node a, b;
  START(a);
  START(b);
  auto cid = absent_cid(a.proc, 1700);
  ASSERT_TRUE(connect_nodes(b.proc, a.proc));
  for (auto* what : {"/network/stream", "/network/manifest"}) {
    auto got = get_timed(b.proc, api("/data/" + cid + what));
    std::cout << "[  info    ] " << what << " of an absent CID answered "
              << got.status << " in " << got.total << " s\n";
    EXPECT_EQ(got.status, 404) << got.error << " " << got.body;
    EXPECT_LT(got.total, 2.0);
  }
  // A node without any peer answers as promptly.
  test_node c;
  START(c);
  auto got = get_timed(c.proc, api("/data/" + cid + "/network/manifest"));
  EXPECT_EQ(got.status, 404) << got.error << " " << got.body;
  EXPECT_LT(got.total, 2.0);
}

// A peer that has it but quotes more than this node pays will not sell it
// later either: no reason to wait for the want timeout.
TEST(WaitsTest, CidOnlyATooDearPeerHasAnswers404WithinTwoSeconds) {
  test_node seller({"--price-per-byte", "5"});
  test_node frugal; // --max-price 0
  START(seller);
  START(frugal);
  std::string cid;
  {
    auto cs = seller.proc.client();
    ASSERT_TRUE(upload(cs, random_bytes(90000, 1750), &cid));
  }
  ASSERT_TRUE(connect_nodes(frugal.proc, seller.proc));
  auto got = get_timed(frugal.proc, api("/data/" + cid + "/network/manifest"));
  EXPECT_EQ(got.status, 404) << got.error << " " << got.body;
  EXPECT_LT(got.total, 2.0);
}

// SIGTERM must not wait for the API's handler threads to wait out the
// engine's 20 s want timeout. A stopped (SIGSTOP) peer that has the
// dataset is asked and never answers.
TEST(WaitsTest, SigtermStopsANodeWhoseFetchWaitsForASilentPeer) {
  test_node a, b;
  auto data = random_bytes(4 * 1024 * kib, 1800);
  std::string cid;
  ASSERT_TRUE(seeded_pair(a, b, data, &cid));
  ::kill(a.proc.pid(), SIGSTOP);
  std::thread fetch{
    [&] { get_timed(b.proc, api("/data/" + cid + "/network/stream"), 40); }};
  std::this_thread::sleep_for(std::chrono::milliseconds{700});
  auto t0 = steady::now();
  b.proc.send_signal(SIGTERM);
  auto st = b.proc.wait_exit(std::chrono::seconds{5});
  auto took = seconds_since(t0);
  ::kill(a.proc.pid(), SIGCONT);
  fetch.join();
  ASSERT_TRUE(st) << "still running 5 s after SIGTERM";
  std::cout << "[  info    ] stopped " << took << " s after SIGTERM\n";
  EXPECT_TRUE(st->clean()) << st->to_string();
  EXPECT_LT(took, 2.5) << b.proc.stderr_tail();
}

// The same with a download streaming when its peer goes silent.
TEST(WaitsTest, SigtermStopsANodeDuringASlowDownload) {
  test_node a, b;
  auto data = random_bytes(24 * 1024 * kib, 1900);
  std::string cid;
  ASSERT_TRUE(seeded_pair(a, b, data, &cid));
  std::atomic<std::size_t> got{0};
  std::atomic<bool> stalled{false};
  std::atomic<bool> quit{false};
  std::thread fetch{[&] {
    auto cli = long_client(b.proc.host(), b.proc.port());
    cli.Get(api("/data/" + cid + "/network/stream"), httplib::Headers{},
            [&](const char*, std::size_t n) {
              got += n;
              // A slow reader: once the peer is silent, reads pause.
              if (stalled)
                std::this_thread::sleep_for(std::chrono::milliseconds{50});
              return !quit;
            });
  }};
  auto until = steady::now() + std::chrono::seconds{20};
  while (got < 64 * kib && steady::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  ::kill(a.proc.pid(), SIGSTOP);
  stalled = true;
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  auto t0 = steady::now();
  b.proc.send_signal(SIGTERM);
  auto st = b.proc.wait_exit(std::chrono::seconds{5});
  auto took = seconds_since(t0);
  quit = true;
  ::kill(a.proc.pid(), SIGCONT);
  fetch.join();
  ASSERT_TRUE(st) << "still running 5 s after SIGTERM";
  std::cout << "[  info    ] stopped " << took << " s after SIGTERM, "
            << got.load() << " bytes received\n";
  EXPECT_TRUE(st->clean()) << st->to_string();
  EXPECT_LT(took, 2.5) << b.proc.stderr_tail();
}

// A client that keeps its connection open after the answer must not hold
// the node's stop: the API stops once its workers are done, and an idle
// keep-alive connection held one for the server's keep-alive timeout
// (cpp-httplib's default of 5 s: this took 4.8 s). A connection now
// carries one request and is closed after its answer.
TEST(WaitsTest, SigtermStopsANodeWithAnIdleKeepAliveConnection) {
  test_node a;
  START(a);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(a.proc.port()));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::string req = "GET /api/codex/v1/space HTTP/1.1\r\nHost: a\r\n\r\n";
  ASSERT_EQ(::write(fd, req.data(), req.size()),
            static_cast<ssize_t>(req.size()));
  char buf[4096];
  ASSERT_GT(::read(fd, buf, sizeof(buf)), 0); // the answer; the socket stays
  auto t0 = steady::now();
  a.proc.send_signal(SIGTERM);
  auto st = a.proc.wait_exit(std::chrono::seconds{8});
  auto took = seconds_since(t0);
  ::close(fd);
  ASSERT_TRUE(st) << "still running 8 s after SIGTERM";
  std::cout << "[  info    ] stopped " << took << " s after SIGTERM\n";
  EXPECT_TRUE(st->clean()) << st->to_string();
  EXPECT_LT(took, 2.5);
}

// A restarted engine dials the peers the old one had.
TEST(WaitsTest, EngineRestartReconnectsToItsPeers) {
  test_node a, b;
  START(a);
  START(b);
  ASSERT_TRUE(connect_nodes(b.proc, a.proc));
  ASSERT_TRUE(wait_peer(b.proc, a.proc.peer_id(), std::chrono::seconds{5}));
  {
    auto cb = b.proc.client();
    auto res = cb.Post("/api/cairn/v1/actors/engine/restart", "", "text/plain");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    ASSERT_EQ(res->status, 200) << res->body;
  }
  auto t0 = steady::now();
  EXPECT_TRUE(wait_peer(b.proc, a.proc.peer_id(), std::chrono::seconds{5}))
    << b.proc.stderr_tail();
  EXPECT_TRUE(wait_peer(a.proc, b.proc.peer_id(), std::chrono::seconds{5}))
    << a.proc.stderr_tail();
  std::cout << "[  info    ] peers again " << seconds_since(t0)
            << " s after the engine restart\n";
  // Blocks still flow, over the session the new engine opened.
  auto data = random_bytes(300 * kib + 5, 2000);
  std::string cid;
  auto ca = a.proc.client();
  ASSERT_TRUE(upload(ca, data, &cid));
  auto r = stream_network(b.proc, cid);
  EXPECT_TRUE(is_whole(r, data)) << b.proc.diagnostics();
}

// A node restarted without --bootstrap-node rejoins through the contacts
// it saved.
TEST(WaitsTest, NodeRestartedWithoutBootstrapRejoinsTheDht) {
  test_node b;
  START(b);
  auto spr = spr_of(b.proc);
  ASSERT_EQ(spr.rfind("spr:", 0), 0u) << spr;
  test_node a({"--bootstrap-node", spr});
  test_node c({"--bootstrap-node", spr});
  START(a);
  START(c);
  // C saves the contacts it learnt about a second after learning them:
  // even a crash keeps them.
  auto saved = c.dir.file("data/dht-contacts");
  auto until = steady::now() + std::chrono::seconds{5};
  while (::access(saved.c_str(), R_OK) != 0 && steady::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  ASSERT_EQ(::access(saved.c_str(), R_OK), 0) << c.proc.stderr_tail();
  c.proc.kill9();

  node_process again(node_args(c.data_dir, test_node::with_defaults({})),
                     c.dir.file("node-stderr.log"));
  ASSERT_TRUE(again.start());
  auto data = random_bytes(200 * kib + 3, 2100);
  std::string cid;
  auto ca = a.proc.client();
  ASSERT_TRUE(upload(ca, data, &cid));
  auto r = stream_network(again, cid);
  EXPECT_TRUE(is_whole(r, data)) << again.diagnostics();
  std::map<std::string, json> peers;
  EXPECT_TRUE(peers_of(again, &peers));
  EXPECT_EQ(peers.count(a.proc.peer_id()), 1u);
}
