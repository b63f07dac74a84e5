// Encrypted peer sessions between real `cairn-node` processes on loopback:
// a download through the encrypted channel byte for byte, the refusal of a
// peer of the other transport mode on both sides, and a TCP proxy that flips
// one bit of a frame mid-download (messages/wire/FORMAT.md §1).

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "tampering_proxy.hpp"
#include "tests/integration/api_helpers.hpp"
#include "tests/integration/net_helpers.hpp"
#include "tests/integration/node_process.hpp"

namespace {

using namespace cairn::test;
using namespace std::chrono_literals;

#define START(node) ASSERT_TRUE((node).proc.start())

// True once `n`'s log has a line containing `text` (within `within`).
bool logged(const node_process& n, const std::string& text,
            std::chrono::milliseconds within = 5000ms) {
  auto until = std::chrono::steady_clock::now() + within;
  do {
    if (n.stderr_text().find(text) != std::string::npos)
      return true;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < until);
  return false;
}

} // namespace

TEST(EncryptedTransportTest, SixtyFourMiBThroughTheEncryptedSession) {
  test_node a, b;
  auto data = random_bytes(64 * mib, 2001);
  std::string cid;
  ASSERT_TRUE(seed_and_connect(a, b, data, &cid));
  auto r = stream_network(b.proc, cid);
  ASSERT_TRUE(is_whole(r, data)) << b.proc.diagnostics();
  // The session that carried it was encrypted, on both ends.
  EXPECT_TRUE(logged(a.proc, "established with " + b.proc.peer_id() +
                               " (Noise_NN_25519_ChaChaPoly_SHA256)"))
    << a.proc.stderr_tail();
  EXPECT_TRUE(logged(b.proc, "established with " + a.proc.peer_id() +
                               " (Noise_NN_25519_ChaChaPoly_SHA256)"))
    << b.proc.stderr_tail();
}

TEST(EncryptedTransportTest, InsecureTransportNodesDownloadInClear) {
  test_node a{{"--insecure-transport"}}, b{{"--insecure-transport"}};
  auto data = random_bytes(4 * mib + 17, 2002);
  std::string cid;
  ASSERT_TRUE(seed_and_connect(a, b, data, &cid));
  auto r = stream_network(b.proc, cid);
  ASSERT_TRUE(is_whole(r, data)) << b.proc.diagnostics();
  EXPECT_TRUE(logged(b.proc, "(plaintext, --insecure-transport)"))
    << b.proc.stderr_tail();
}

TEST(EncryptedTransportTest, PeersOfTheOtherModeAreRefusedOnBothSides) {
  test_node a, b{{"--insecure-transport"}};
  START(a);
  START(b);
  std::string addr;
  ASSERT_TRUE(peer_addr(a.proc, &addr));
  auto start = std::chrono::steady_clock::now();
  auto res = connect_raw(b.proc, a.proc.peer_id(), addr);
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_NE(res->status, 200) << res->body;
  EXPECT_NE(res->body.find("peer requires encrypted transport"),
            std::string::npos)
    << res->body;
  // Told from the preambles, not by the 10 s handshake timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(logged(a.proc, "peer uses plaintext transport "
                             "(--insecure-transport); this node requires "
                             "encryption"))
    << a.proc.stderr_tail();
  EXPECT_TRUE(logged(b.proc, "peer requires encrypted transport; this node "
                             "runs with --insecure-transport"))
    << b.proc.stderr_tail();
}

TEST(EncryptedTransportTest, TamperedFrameEndsTheSessionDownloadGoesOn) {
  // A and C hold the dataset; B reaches A through a proxy that flips one bit
  // of a frame from A after the first MiB, and C directly.
  test_node a, b, c;
  START(a);
  START(b);
  START(c);
  auto data = random_bytes(32 * mib, 2003);
  std::string cid;
  ASSERT_TRUE(seed_both(a.proc, c.proc, data, &cid));
  std::string a_addr;
  ASSERT_TRUE(peer_addr(a.proc, &a_addr));
  tampering_proxy proxy{
    static_cast<uint16_t>(std::stoi(a_addr.substr(a_addr.rfind('/') + 1)))};
  auto via = connect_raw(b.proc, a.proc.peer_id(),
                         "/ip4/127.0.0.1/tcp/" + std::to_string(proxy.port()));
  ASSERT_TRUE(via && via->status == 200)
    << (via ? via->body : httplib::to_string(via.error()));
  ASSERT_TRUE(connect_nodes(b.proc, c.proc));
  proxy.tamper(tampering_proxy::to_dialer, mib);
  auto r = stream_network(b.proc, cid);
  ASSERT_TRUE(is_whole(r, data)) << b.proc.diagnostics();
  EXPECT_TRUE(proxy.tampered(tampering_proxy::to_dialer))
    << "A sent less than 1 MiB to B";
  EXPECT_TRUE(logged(b.proc, "integrity check failed")) << b.proc.stderr_tail();
}
