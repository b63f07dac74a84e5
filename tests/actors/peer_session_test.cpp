// Peer sessions over real loopback TCP: the handshake, message forwarding,
// and every way a bad peer is turned away without hurting the node.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>

#include "actors/peer_listener.hpp"
#include "actors/peer_session.hpp"
#include "messages/error.hpp"
#include "messages/type_ids.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace std::chrono_literals;

namespace {

struct io_config : caf::actor_system_config {
  io_config() {
    register_types(*this);
    load<caf::io::middleman>();
    set("scheduler.max-threads", size_t{2});
    set("logger.console", caf::atom("none"));
  }
};

// A raw TCP client that speaks bytes, not the protocol.
class raw_client {
public:
  explicit raw_client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ =
      ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~raw_client() { ::close(fd_); }
  bool connected() const { return connected_; }
  void send(const bytes& b) {
    (void)::send(fd_, b.data(), b.size(), MSG_NOSIGNAL);
  }
  // True once the peer closed the connection (reads until EOF, bounded).
  bool closed_by_peer(std::chrono::milliseconds within) {
    timeval tv{static_cast<time_t>(within.count() / 1000),
               static_cast<suseconds_t>((within.count() % 1000) * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[65536];
    for (;;) {
      auto n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n == 0)
        return true;
      if (n < 0)
        return false;
    }
  }

private:
  int fd_ = -1;
  bool connected_ = false;
};

class PeerSessionTest : public ::testing::Test {
protected:
  void SetUp() override {
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    self_ = std::make_unique<caf::scoped_actor>(*sys_);
    owner_ = caf::actor_cast<session_owner_actor>(*self_);
    key_a_ = load_key("a");
    key_b_ = load_key("b");
    auto bound = actors::bind_peer_listener(*sys_, "127.0.0.1", 0);
    ASSERT_TRUE(bound) << describe(bound.error());
    port_ = bound->port;
    listener_ = sys_->middleman().spawn_broker(
      actors::peer_listener, bound->doorman, config(key_a_), owner_);
  }

  void TearDown() override {
    caf::anon_send_exit(listener_, caf::exit_reason::user_shutdown);
    self_.reset();
    sys_.reset();
  }

  std::shared_ptr<const storage::node_key> load_key(const std::string& name) {
    auto k =
      storage::node_key::load_or_create(dir_.path() + "/" + name + ".key");
    EXPECT_TRUE(k) << describe(k.error());
    return std::make_shared<const storage::node_key>(*k);
  }

  actors::session_config config(std::shared_ptr<const storage::node_key> key,
                                std::string expected = "") {
    actors::session_config c;
    c.key = std::move(key);
    c.listen_addrs = {"/ip4/127.0.0.1/tcp/1"};
    c.expected_peer = std::move(expected);
    c.handshake_timeout = 500ms;
    return c;
  }

  // Waits for the next session event; fails the test on timeout.
  struct event {
    enum { up, msg, down, none } kind = none;
    std::string peer;
    peer_info info;
    wire::message message;
    bool was_up = false;
    std::string reason;
  };

  event next_event(std::chrono::milliseconds within = 3000ms) {
    event e;
    (*self_)->receive(
      [&](peer_up_atom, peer_info& i) {
        e.kind = event::up;
        e.peer = i.peer_id;
        e.info = std::move(i);
      },
      [&](peer_msg_atom, std::string& p, wire::message& m) {
        e.kind = event::msg;
        e.peer = p;
        e.message = std::move(m);
      },
      [&](peer_down_atom, std::string& p, bool was_up, std::string& why) {
        e.kind = event::down;
        e.peer = p;
        e.was_up = was_up;
        e.reason = why;
      },
      caf::after(within) >> [] {});
    return e;
  }

  // A well-behaved peer B dials A; both sides report each other.
  void expect_good_session() {
    auto s =
      actors::dial_peer(*sys_, "127.0.0.1", port_, config(key_b_), owner_);
    ASSERT_TRUE(s) << describe(s.error());
    std::set<std::string> ups;
    for (int i = 0; i < 2; ++i) {
      auto e = next_event();
      ASSERT_EQ(e.kind, event::up) << "reason: " << e.reason;
      ups.insert(e.peer);
    }
    EXPECT_EQ(ups, (std::set<std::string>{key_a_->peer_id().to_string(),
                                          key_b_->peer_id().to_string()}));
    caf::anon_send(*s, close_atom::value, std::string{"test done"});
    for (int i = 0; i < 2; ++i)
      EXPECT_EQ(next_event().kind, event::down);
  }

  // A raw client sends `data`; A must drop it with a reason naming `what`.
  void expect_rejected(const bytes& data, const std::string& what) {
    raw_client c{port_};
    ASSERT_TRUE(c.connected());
    c.send(data);
    auto e = next_event();
    ASSERT_EQ(e.kind, event::down);
    EXPECT_FALSE(e.was_up);
    EXPECT_NE(e.reason.find(what), std::string::npos) << e.reason;
    EXPECT_TRUE(c.closed_by_peer(2000ms));
  }

  test::temp_dir dir_;
  io_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<caf::scoped_actor> self_;
  session_owner_actor owner_;
  std::shared_ptr<const storage::node_key> key_a_, key_b_;
  uint16_t port_ = 0;
  peer_listener_actor listener_;
};

bytes frame_of(const wire::message& m) {
  return wire::encode_frame(wire::encode(m));
}

} // namespace

TEST_F(PeerSessionTest, HandshakeEstablishesBothSidesAndForwardsMessages) {
  auto s = actors::dial_peer(*sys_, "127.0.0.1", port_, config(key_b_), owner_);
  ASSERT_TRUE(s) << describe(s.error());
  peer_session_actor a_side;
  for (int i = 0; i < 2; ++i) {
    auto e = next_event();
    ASSERT_EQ(e.kind, event::up) << e.reason;
    if (e.peer == key_b_->peer_id().to_string()) {
      a_side = e.info.session; // A's session, talking to B
      EXPECT_EQ(e.info.addrs, std::vector<std::string>{"/ip4/127.0.0.1/tcp/1"});
      EXPECT_EQ(e.info.public_key, key_b_->public_key());
    }
  }
  ASSERT_TRUE(a_side);
  wire::want_list wl;
  wl.entries.push_back(
    wire::want_entry{block_address{cid{multicodec::codex_root, {}}, 7}});
  caf::anon_send(a_side, send_atom::value, wire::message{wl});
  auto e = next_event();
  ASSERT_EQ(e.kind, event::msg);
  EXPECT_EQ(e.peer, key_a_->peer_id().to_string()); // B's session got it from A
  auto* got = std::get_if<wire::want_list>(&e.message);
  ASSERT_NE(got, nullptr);
  ASSERT_EQ(got->entries.size(), 1u);
  EXPECT_EQ(std::get<block_address>(got->entries[0].addr).index, 7u);
}

TEST_F(PeerSessionTest, GarbageFrameClosesOnlyThatSession) {
  expect_rejected(bytes{0, 0, 0, 5, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1},
                  "protocol_error");
  expect_good_session();
}

TEST_F(PeerSessionTest, OversizedFrameIsRefusedFromItsHeader) {
  expect_rejected(bytes{0x7f, 0xff, 0xff, 0xff}, "protocol_error");
  expect_good_session();
}

TEST_F(PeerSessionTest, MessageBeforeHandshakeIsRefused) {
  expect_rejected(frame_of(wire::ping{1}), "before HELLO");
  expect_good_session();
}

TEST_F(PeerSessionTest, SilentPeerTimesOut) {
  expect_rejected(bytes{}, "handshake timed out");
  expect_good_session();
}

TEST_F(PeerSessionTest, WrongVersionFailsTheHandshake) {
  wire::hello h{wire::protocol_version + 1, key_b_->public_key(), {}, {}};
  expect_rejected(frame_of(h), "version");
}

TEST_F(PeerSessionTest, ForgedAuthFailsTheHandshake) {
  // HELLO with B's key, then an AUTH that B's key did not sign.
  wire::hello h{wire::protocol_version, key_b_->public_key(), {}, {}};
  auto data = frame_of(h);
  auto forged = frame_of(wire::auth{bytes(64, 0x42)});
  data.insert(data.end(), forged.begin(), forged.end());
  expect_rejected(data, "signature");
  expect_good_session();
}

TEST_F(PeerSessionTest, DialingTheWrongPeerFails) {
  auto s =
    actors::dial_peer(*sys_, "127.0.0.1", port_,
                      config(key_b_, key_b_->peer_id().to_string()), owner_);
  ASSERT_TRUE(s);
  bool b_refused = false;
  for (int i = 0; i < 3 && !b_refused; ++i) {
    auto e = next_event();
    if (e.kind == event::down && e.reason.find("dialed") != std::string::npos)
      b_refused = true;
  }
  EXPECT_TRUE(b_refused);
}

TEST_F(PeerSessionTest, ConnectingToOurselvesFails) {
  auto s = actors::dial_peer(*sys_, "127.0.0.1", port_, config(key_a_), owner_);
  ASSERT_TRUE(s);
  auto e = next_event();
  ASSERT_EQ(e.kind, event::down);
  EXPECT_NE(e.reason.find("ourselves"), std::string::npos) << e.reason;
}
