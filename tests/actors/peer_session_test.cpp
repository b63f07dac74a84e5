// Peer sessions over real loopback TCP: the handshake, message forwarding,
// encryption, and every way a bad peer is turned away without hurting the
// node. A hand-driven Noise client sends what a real session never would; a
// TCP proxy between two real sessions tampers with the stream.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <optional>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>

#include "actors/actor_test_config.hpp"
#include "actors/peer_listener.hpp"
#include "actors/peer_session.hpp"
#include "messages/error.hpp"
#include "messages/noise.hpp"
#include "messages/type_ids.hpp"
#include "tampering_proxy.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace std::chrono_literals;

namespace {

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
  // Sends what the socket takes at once of `b` from `offset`; the offset
  // after it.
  size_t send_nowait(const bytes& b, size_t offset) {
    auto k = ::send(fd_, b.data() + offset, b.size() - offset,
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    return k > 0 ? offset + static_cast<size_t>(k) : offset;
  }
  // Exactly `n` bytes, or nothing if they do not come within `within`.
  std::optional<bytes> recv_exact(size_t n,
                                  std::chrono::milliseconds within = 3000ms) {
    set_timeout(within);
    bytes out(n);
    size_t got = 0;
    while (got < n) {
      auto k = ::recv(fd_, out.data() + got, n - got, 0);
      if (k <= 0)
        return std::nullopt;
      got += static_cast<size_t>(k);
    }
    return out;
  }
  // True once the peer closed the connection (reads until EOF, bounded).
  bool closed_by_peer(std::chrono::milliseconds within) {
    set_timeout(within);
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
  void set_timeout(std::chrono::milliseconds within) {
    timeval tv{static_cast<time_t>(within.count() / 1000),
               static_cast<suseconds_t>((within.count() % 1000) * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }

  int fd_ = -1;
  bool connected_ = false;
};

// Speaks the encrypted protocol by hand (as the Noise initiator), keeping a
// copy of every byte it sent so that a test can replay them.
class noise_client {
public:
  explicit noise_client(uint16_t port) : sock_(port) {}

  raw_client& socket() { return sock_; }

  void send(const bytes& b) {
    log_.insert(log_.end(), b.begin(), b.end());
    sock_.send(b);
  }

  // Preambles, then Noise NN; false if the node does not answer in kind.
  bool handshake() {
    auto pre = wire::preamble(wire::transport_mode::noise);
    send(bytes(pre.begin(), pre.end()));
    auto peer = sock_.recv_exact(pre.size());
    if (!peer || !std::equal(pre.begin(), pre.end(), peer->begin()))
      return false;
    noise::handshake_state hs{true, noise::session_cipher,
                              byte_view{pre.data(), pre.size()}};
    auto m1 = hs.write_message(byte_view{});
    send(wire::encode_frame(byte_view{*m1}));
    auto m2 = recv_frame();
    if (!m2 || !hs.read_message(byte_view{*m2}))
      return false;
    auto keys = hs.finish();
    h_ = keys.handshake_hash;
    tx_ = noise::transport_cipher{std::move(keys.send), {}};
    rx_ = noise::transport_cipher{std::move(keys.recv), {}};
    return true;
  }

  // Seals `payload` as the next frame, for the caller to send (unlogged).
  bytes sealed_frame(bytes payload) {
    auto n = payload.size();
    payload.resize(n + noise::tag_size);
    EXPECT_OK(tx_.seal(payload.data(), n));
    return wire::encode_frame(byte_view{payload});
  }

  // Seals `payload` as the next frame and sends it.
  void send_sealed(bytes payload) { send(sealed_frame(std::move(payload))); }

  void send_sealed(const wire::message& m) { send_sealed(wire::encode(m)); }

  // The next message from the node, opened and decoded.
  std::optional<wire::message>
  recv_message(std::chrono::milliseconds within = 3000ms) {
    auto f = recv_frame(within);
    if (!f || rx_.open(f->data(), f->size()))
      return std::nullopt;
    f->resize(f->size() - noise::tag_size);
    auto m = wire::decode(*f);
    return m ? std::optional<wire::message>{std::move(*m)} : std::nullopt;
  }

  // Receives the node's HELLO and answers with HELLO and AUTH for `claimed`
  // signed by `signer` over `binding` (the session's own `h` unless given).
  void authenticate(const storage::node_key& claimed,
                    const storage::node_key& signer,
                    std::optional<std::array<uint8_t, 32>> binding = {}) {
    auto m = recv_message();
    ASSERT_TRUE(m && std::holds_alternative<wire::hello>(*m));
    auto& theirs = std::get<wire::hello>(*m);
    std::array<uint8_t, 32> nonce{};
    nonce.fill(7);
    send_sealed(
      wire::hello{wire::protocol_version, claimed.public_key(), {}, nonce});
    auto payload = wire::auth_payload(theirs.nonce, nonce, claimed.public_key(),
                                      binding ? *binding : h_);
    send_sealed(wire::auth{signer.sign(payload)});
  }

  const bytes& sent() const { return log_; }

private:
  std::optional<bytes> recv_frame(std::chrono::milliseconds within = 3000ms) {
    auto header = sock_.recv_exact(wire::frame_header_size, within);
    if (!header)
      return std::nullopt;
    size_t n = (size_t{(*header)[0]} << 24) | (size_t{(*header)[1]} << 16) |
               (size_t{(*header)[2]} << 8) | size_t{(*header)[3]};
    return sock_.recv_exact(n, within);
  }

  raw_client sock_;
  bytes log_;
  noise::transport_cipher tx_;
  noise::transport_cipher rx_;
  std::array<uint8_t, 32> h_{};
};

class PeerSessionTest : public ::testing::Test {
protected:
  void SetUp() override {
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    self_ = std::make_unique<caf::scoped_actor>(*sys_);
    owner_ = caf::actor_cast<session_owner_actor>(*self_);
    key_a_ = load_key("a");
    key_b_ = load_key("b");
    key_c_ = load_key("c");
    auto bound = actors::bind_peer_listener(*sys_, "127.0.0.1", 0);
    ASSERT_TRUE(bound) << describe(bound.error());
    port_ = bound->port;
    listener_ = sys_->middleman().spawn_broker(
      actors::peer_listener, bound->doorman, config(key_a_), owner_);
  }

  void TearDown() override {
    caf::anon_send_exit(listener_, caf::exit_reason::user_shutdown);
    if (plain_listener_)
      caf::anon_send_exit(plain_listener_, caf::exit_reason::user_shutdown);
    // A session holds its owner (the scoped actor here), whose mailbox
    // holds the session's messages: one still closing when the system
    // stops would keep both alive, a leak LeakSanitizer reports. They end
    // first.
    for (auto& s : sessions_) {
      caf::anon_send_exit(s, caf::exit_reason::kill);
      (*self_)->wait_for(s);
    }
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
                                std::string expected = "",
                                bool insecure = false) {
    actors::session_config c;
    c.key = std::move(key);
    c.listen_addrs = {"/ip4/127.0.0.1/tcp/1"};
    c.expected_peer = std::move(expected);
    c.handshake_timeout = 500ms;
    c.insecure_transport = insecure;
    return c;
  }

  // A second listener of A's, with the settings `c`; its port.
  uint16_t start_second_listener(actors::session_config c) {
    auto bound = actors::bind_peer_listener(*sys_, "127.0.0.1", 0);
    EXPECT_TRUE(bound) << describe(bound.error());
    plain_listener_ = sys_->middleman().spawn_broker(
      actors::peer_listener, bound->doorman, std::move(c), owner_);
    return bound->port;
  }

  // A second listener of A's, with --insecure-transport; its port.
  uint16_t start_plaintext_listener() {
    return start_second_listener(config(key_a_, "", true));
  }

  // B dials a second listener of A's whose sessions have the link latency
  // `latency`; once both are up, `b_side` is B's session and `a_side` A's.
  void establish_with_latency(std::chrono::milliseconds latency,
                              peer_session_actor& b_side,
                              peer_session_actor& a_side) {
    auto c = config(key_a_);
    c.link_latency = latency;
    // A holds its HELLO and AUTH for the latency: B waits that much longer.
    auto b = config(key_b_);
    b.handshake_timeout += 2 * latency;
    auto s = actors::dial_peer(*sys_, "127.0.0.1", start_second_listener(c), b,
                               owner_);
    ASSERT_TRUE(s) << describe(s.error());
    b_side = *s;
    auto b_id = key_b_->peer_id().to_string();
    for (int i = 0; i < 2; ++i) {
      auto e = next_event();
      ASSERT_EQ(e.kind, event::up) << e.reason;
      if (e.peer == b_id)
        a_side = e.info.session;
    }
    ASSERT_TRUE(a_side);
  }

  // A second listener of A's with a short keep-alive (a PING after 100 ms
  // without traffic, the peer dropped after 400 ms without a word from it),
  // and a hand-driven B established with it, A's AUTH read.
  void establish_with_short_keepalive(std::unique_ptr<noise_client>& peer) {
    auto c = config(key_a_);
    c.keepalive_interval = 100ms;
    c.idle_timeout = 400ms;
    peer = std::make_unique<noise_client>(start_second_listener(c));
    ASSERT_TRUE(peer->handshake());
    peer->authenticate(*key_b_, *key_b_);
    auto up = next_event();
    ASSERT_EQ(up.kind, event::up) << up.reason;
    auto auth = peer->recv_message();
    ASSERT_TRUE(auth && std::holds_alternative<wire::auth>(*auth));
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
        sessions_.push_back(i.session);
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
  void expect_good_session(uint16_t port = 0, bool insecure = false) {
    auto s = actors::dial_peer(*sys_, "127.0.0.1", port ? port : port_,
                               config(key_b_, "", insecure), owner_);
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

  // A drops the hand-driven client's session with a reason naming `what`.
  void expect_refused(noise_client& c, const std::string& what) {
    auto e = next_event();
    ASSERT_EQ(e.kind, event::down);
    EXPECT_FALSE(e.was_up);
    EXPECT_NE(e.reason.find(what), std::string::npos) << e.reason;
    EXPECT_TRUE(c.socket().closed_by_peer(2000ms));
  }

  test::temp_dir dir_;
  test::actor_test_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<caf::scoped_actor> self_;
  session_owner_actor owner_;
  std::shared_ptr<const storage::node_key> key_a_, key_b_, key_c_;
  uint16_t port_ = 0;
  peer_listener_actor listener_;
  peer_listener_actor plain_listener_;
  /// Every session that came up (see TearDown).
  std::vector<peer_session_actor> sessions_;
};

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

TEST_F(PeerSessionTest, NonCairnBytesAreRefusedAtThePreamble) {
  expect_rejected(bytes{0, 0, 0, 5, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1},
                  "no Cairn preamble");
  expect_good_session();
}

TEST_F(PeerSessionTest, GarbageFrameClosesOnlyThatSession) {
  noise_client c{port_};
  ASSERT_TRUE(c.handshake());
  c.send_sealed(bytes{0xc1, 0xc1, 0xc1, 0xc1, 0xc1});
  expect_refused(c, "protocol_error");
  expect_good_session();
}

TEST_F(PeerSessionTest, OversizedFrameIsRefusedFromItsHeader) {
  auto pre = wire::preamble(wire::transport_mode::noise);
  bytes data(pre.begin(), pre.end());
  data.insert(data.end(), {0x7f, 0xff, 0xff, 0xff});
  expect_rejected(data, "protocol_error");
  expect_good_session();
}

TEST_F(PeerSessionTest, FrameOverTheHandshakeLimitIsRefusedBeforeAuth) {
  noise_client c{port_};
  ASSERT_TRUE(c.handshake());
  // Legal once established, not before: a peer that has not proved who it
  // is cannot make the node buffer megabytes.
  c.send_sealed(bytes(wire::max_handshake_frame_size, 0));
  expect_refused(c, "exceeds the limit of 8192");
}

TEST_F(PeerSessionTest, MessageBeforeHandshakeIsRefused) {
  noise_client c{port_};
  ASSERT_TRUE(c.handshake());
  c.send_sealed(wire::ping{1});
  expect_refused(c, "before HELLO");
  expect_good_session();
}

TEST_F(PeerSessionTest, SilentPeerTimesOut) {
  expect_rejected(bytes{}, "handshake timed out");
  expect_good_session();
}

TEST_F(PeerSessionTest, WrongVersionFailsTheHandshake) {
  noise_client c{port_};
  ASSERT_TRUE(c.handshake());
  c.send_sealed(
    wire::hello{wire::protocol_version + 1, key_b_->public_key(), {}, {}});
  expect_refused(c, "version");
}

TEST_F(PeerSessionTest, ForgedAuthFailsTheHandshake) {
  // HELLO with B's key, then an AUTH that B's key did not sign.
  noise_client c{port_};
  ASSERT_TRUE(c.handshake());
  c.send_sealed(
    wire::hello{wire::protocol_version, key_b_->public_key(), {}, {}});
  c.send_sealed(wire::auth{bytes(64, 0x42)});
  expect_refused(c, "signature");
  expect_good_session();
}

TEST_F(PeerSessionTest, HandDrivenClientWithTheRightKeyIsAccepted) {
  // The client below is a faithful peer unless a test makes it lie.
  noise_client c{port_};
  ASSERT_TRUE(c.handshake());
  c.authenticate(*key_b_, *key_b_);
  auto e = next_event();
  ASSERT_EQ(e.kind, event::up) << e.reason;
  EXPECT_EQ(e.peer, key_b_->peer_id().to_string());
}

TEST_F(PeerSessionTest, HandshakeSignedByAnotherKeyIsRefused) {
  // Claims B's ID, signs with C's key (valid signature, wrong signer).
  noise_client c{port_};
  ASSERT_TRUE(c.handshake());
  c.authenticate(*key_b_, *key_c_);
  expect_refused(c, "bad handshake signature from " +
                      key_b_->peer_id().to_string());
}

TEST_F(PeerSessionTest, RelayedAuthFromAnotherChannelIsRefused) {
  // B's own key, but signing another channel's handshake hash: what a
  // relay between two encrypted sessions would forward.
  noise_client c{port_};
  ASSERT_TRUE(c.handshake());
  std::array<uint8_t, 32> other{};
  other.fill(0x5a);
  c.authenticate(*key_b_, *key_b_, other);
  expect_refused(c, "bad handshake signature");
}

TEST_F(PeerSessionTest, ReplayedHandshakeIsRefused) {
  bytes recorded;
  {
    noise_client c{port_};
    ASSERT_TRUE(c.handshake());
    c.authenticate(*key_b_, *key_b_);
    auto e = next_event();
    ASSERT_EQ(e.kind, event::up) << e.reason;
    recorded = c.sent();
  }
  ASSERT_EQ(next_event().kind, event::down); // the recorded session ended
  // Every byte B sent, again, on a new connection: A's new ephemeral key
  // gives new session keys, so the old HELLO does not even decrypt.
  raw_client replay{port_};
  replay.send(recorded);
  auto e = next_event();
  ASSERT_EQ(e.kind, event::down);
  EXPECT_FALSE(e.was_up);
  EXPECT_NE(e.reason.find("integrity check failed"), std::string::npos)
    << e.reason;
}

TEST_F(PeerSessionTest, PlaintextPeerIsRefusedByAnEncryptedOneOnBothSides) {
  auto s = actors::dial_peer(*sys_, "127.0.0.1", port_,
                             config(key_b_, "", true), owner_);
  ASSERT_TRUE(s);
  std::vector<std::string> reasons;
  for (int i = 0; i < 2; ++i) {
    auto e = next_event();
    ASSERT_EQ(e.kind, event::down);
    reasons.push_back(e.reason);
  }
  std::sort(reasons.begin(), reasons.end());
  EXPECT_NE(reasons[0].find("peer requires encrypted transport; this node "
                            "runs with --insecure-transport"),
            std::string::npos)
    << reasons[0];
  EXPECT_NE(reasons[1].find("peer uses plaintext transport"), std::string::npos)
    << reasons[1];
}

TEST_F(PeerSessionTest, InsecureTransportSessionsWorkBetweenInsecureNodes) {
  expect_good_session(start_plaintext_listener(), true);
}

TEST_F(PeerSessionTest, FlippedBitAfterTheHandshakeClosesWithIntegrityError) {
  test::tampering_proxy proxy{port_};
  auto s =
    actors::dial_peer(*sys_, "127.0.0.1", proxy.port(), config(key_b_), owner_);
  ASSERT_TRUE(s) << describe(s.error());
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(next_event().kind, event::up);
  // B → proxy → A: the proxy flips a bit of B's next frame.
  proxy.tamper(test::tampering_proxy::to_target);
  caf::anon_send(*s, send_atom::value, wire::message{wire::ping{9}});
  std::vector<std::string> reasons;
  for (int i = 0; i < 2; ++i) {
    auto e = next_event();
    ASSERT_EQ(e.kind, event::down) << "a tampered frame was delivered";
    EXPECT_TRUE(e.was_up);
    reasons.push_back(e.reason);
  }
  // A detects it; B hears why in A's GOODBYE.
  for (auto& r : reasons)
    EXPECT_NE(r.find("integrity check failed"), std::string::npos) << r;
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

TEST_F(PeerSessionTest, SilentAuthenticatedPeerIsPingedThenDropped) {
  std::unique_ptr<noise_client> peer;
  ASSERT_NO_FATAL_FAILURE(establish_with_short_keepalive(peer));
  auto ping = peer->recv_message();
  ASSERT_TRUE(ping && std::holds_alternative<wire::ping>(*ping));
  auto down = next_event(2000ms);
  ASSERT_EQ(down.kind, event::down);
  EXPECT_TRUE(down.was_up);
  EXPECT_NE(down.reason.find("peer silent for 400 ms"), std::string::npos)
    << down.reason;
  EXPECT_TRUE(peer->socket().closed_by_peer(2000ms));
}

TEST_F(PeerSessionTest, PeerThatAnswersPingsStaysConnected) {
  std::unique_ptr<noise_client> peer;
  ASSERT_NO_FATAL_FAILURE(establish_with_short_keepalive(peer));
  // Three idle timeouts long, answering every PING and saying nothing else.
  int pings = 0;
  auto until = std::chrono::steady_clock::now() + 1200ms;
  while (std::chrono::steady_clock::now() < until) {
    auto m = peer->recv_message();
    ASSERT_TRUE(m && std::holds_alternative<wire::ping>(*m));
    ++pings;
    peer->send_sealed(wire::pong{std::get<wire::ping>(*m).nonce});
  }
  EXPECT_GE(pings, 5);
  // Nothing came meanwhile (looked at at once: from now on the peer is
  // silent, and on a loaded machine the session may soon say so).
  EXPECT_EQ(next_event(0ms).kind, event::none);
}

TEST_F(PeerSessionTest, PingsOfAPeerThatDoesNotReadAreNotAnswered) {
  auto c = config(key_a_);
  c.max_unsent_bytes = size_t{256} << 20;
  noise_client peer{start_second_listener(c)};
  ASSERT_TRUE(peer.handshake());
  peer.authenticate(*key_b_, *key_b_);
  auto up = next_event();
  ASSERT_EQ(up.kind, event::up) << up.reason;
  auto auth = peer.recv_message();
  ASSERT_TRUE(auth && std::holds_alternative<wire::auth>(*auth));
  // 16 MiB of blocks that the peer does not read: most of them wait in A's
  // buffers.
  constexpr size_t total = 16;
  auto data = std::make_shared<const bytes>(size_t{1} << 20, uint8_t{7});
  for (size_t i = 0; i < total; ++i) {
    wire::block_delivery bd;
    bd.blocks.push_back(
      {cid::of(multicodec::codex_block, byte_view{*data}), data, std::nullopt});
    (*self_)->send(up.info.session, send_atom::value, wire::message{bd});
  }
  // Answered once the session has handled the deliveries (one sender's
  // messages stay in order).
  auto gauge = [&](const std::string& name) {
    return test::gauge_of(*self_, up.info.session, name, 60s);
  };
  ASSERT_GT(gauge("unsent"), 0.0) << "the socket took every block";
  auto frames_before = gauge("frames_in");
  // A flood of PINGs meanwhile: not one PONG joins what waits.
  constexpr uint64_t pings = 2000;
  bytes flood;
  for (uint64_t i = 0; i < pings; ++i) {
    auto f = peer.sealed_frame(wire::encode(wire::message{wire::ping{i}}));
    flood.insert(flood.end(), f.begin(), f.end());
  }
  peer.send(flood);
  auto until = std::chrono::steady_clock::now() + 30s;
  while (gauge("frames_in") < frames_before + pings &&
         std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(20ms);
  ASSERT_GE(gauge("frames_in"), frames_before + pings);
  size_t blocks = 0, pongs = 0;
  while (auto m = peer.recv_message(1000ms)) {
    if (auto* bd = std::get_if<wire::block_delivery>(&*m))
      blocks += bd->blocks.size();
    pongs += std::holds_alternative<wire::pong>(*m) ? 1 : 0;
  }
  EXPECT_EQ(blocks, total);
  EXPECT_EQ(pongs, 0u);
  // All read: a PING is answered again.
  peer.send_sealed(wire::ping{77});
  auto pong = peer.recv_message();
  ASSERT_TRUE(pong && std::holds_alternative<wire::pong>(*pong));
  EXPECT_EQ(std::get<wire::pong>(*pong).nonce, 77u);
}

TEST_F(PeerSessionTest, FastPeerIsReadNoFasterThanTheOwnerHandlesItsBlocks) {
  auto c = config(key_a_);
  c.max_unhandled_bytes = size_t{2} << 20;
  noise_client peer{start_second_listener(c)};
  ASSERT_TRUE(peer.handshake());
  peer.authenticate(*key_b_, *key_b_);
  ASSERT_EQ(next_event().kind, event::up);
  // More 1 MiB blocks than the loopback socket buffers hold (tcp_rmem's
  // ceiling is 32 MiB on some kernels).
  constexpr size_t total = 96;
  auto data = std::make_shared<const bytes>(size_t{1} << 20, uint8_t{0x5a});
  wire::block_delivery bd;
  bd.blocks.push_back(
    {cid::of(multicodec::codex_block, byte_view{*data}), data, std::nullopt});
  auto payload = wire::encode(wire::message{bd});
  size_t sent = 0;
  size_t offset = 0;
  bytes frame = peer.sealed_frame(payload);
  // Sends what the socket takes of the current frame; true if it took any.
  auto push = [&] {
    if (sent == total)
      return false;
    auto was = offset;
    offset = peer.socket().send_nowait(frame, offset);
    bool moved = offset != was;
    if (offset == frame.size()) {
      offset = 0;
      if (++sent < total)
        frame = peer.sealed_frame(payload);
    }
    return moved;
  };
  // The owner handles nothing: the session must stop reading.
  auto last_progress = std::chrono::steady_clock::now();
  while (sent < total &&
         std::chrono::steady_clock::now() - last_progress < 500ms) {
    if (push())
      last_progress = std::chrono::steady_clock::now();
    else
      std::this_thread::sleep_for(1ms);
  }
  EXPECT_LT(sent, total) << "the node read every byte sent";
  // What reached the owner, kept unhandled (a message holds its receipt).
  std::vector<event> held;
  uint64_t held_bytes = 0;
  for (auto e = next_event(200ms); e.kind != event::none;
       e = next_event(200ms)) {
    ASSERT_EQ(e.kind, event::msg);
    for (auto& d : std::get<wire::block_delivery>(e.message).blocks)
      held_bytes += d.data->size();
    held.push_back(std::move(e));
  }
  std::cout << "[  info    ] " << sent << " of " << total
            << " MiB taken by the socket, " << (held_bytes >> 10)
            << " KiB handed to the owner\n";
  // The limit, the frame that crossed it, and one read.
  EXPECT_GT(held_bytes, 0u);
  EXPECT_LE(held_bytes, c.max_unhandled_bytes + (size_t{3} << 19))
    << "sent " << sent << " MiB";
  // Once handled, the rest is read.
  size_t received = held_bytes >> 20;
  held.clear();
  auto until = std::chrono::steady_clock::now() + 30s;
  while (received < total && std::chrono::steady_clock::now() < until) {
    while (push()) {
      // As much as the socket takes.
    }
    auto e = next_event(10ms);
    if (e.kind == event::msg)
      received += std::get<wire::block_delivery>(e.message).blocks.size();
    else
      ASSERT_EQ(e.kind, event::none) << e.reason;
  }
  EXPECT_EQ(received, total);
}

TEST_F(PeerSessionTest, ReadsWidenWhileBlocksFlowAndNarrowWhenQuiet) {
  // Reads stay wide for the keep-alive interval after the last full one:
  // long enough that a loaded machine still asks for the gauges in time.
  auto c = config(key_a_);
  c.keepalive_interval = 1000ms;
  c.idle_timeout = 4000ms;
  noise_client peer{start_second_listener(c)};
  ASSERT_TRUE(peer.handshake());
  peer.authenticate(*key_b_, *key_b_);
  auto up = next_event();
  ASSERT_EQ(up.kind, event::up) << up.reason;
  auto session = up.info.session;
  auto gauge = [&](const std::string& name) {
    return test::gauge_of(*self_, session, name, 3s);
  };
  // Answers A's PINGs for `d`, saying nothing else.
  auto answer_pings = [&](std::chrono::milliseconds d) {
    auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until) {
      auto m = peer.recv_message(500ms);
      if (m && std::holds_alternative<wire::ping>(*m))
        peer.send_sealed(wire::pong{std::get<wire::ping>(*m).nonce});
    }
  };
  answer_pings(300ms);
  EXPECT_EQ(gauge("wide_reads"), 0.0);
  EXPECT_LE(gauge("read_buffer_bytes"), 8192.0);
  // A block of 1 MiB: reads fill the narrow buffer, and widen.
  auto data = std::make_shared<const bytes>(size_t{1} << 20, uint8_t{0x5a});
  wire::block_delivery bd;
  bd.blocks.push_back(
    {cid::of(multicodec::codex_block, byte_view{*data}), data, std::nullopt});
  peer.send_sealed(wire::message{bd});
  auto e = next_event();
  ASSERT_EQ(e.kind, event::msg) << e.reason;
  EXPECT_EQ(gauge("wide_reads"), 1.0);
  EXPECT_GT(gauge("read_buffer_bytes"), 8192.0);
  // Quiet again (PINGs and PONGs only): narrow, and the wide buffer freed.
  answer_pings(2500ms);
  EXPECT_EQ(gauge("wide_reads"), 0.0);
  EXPECT_LE(gauge("read_buffer_bytes"), 8192.0);
}

namespace {

// A's session (a listener at `a_port` that allows 256 MiB unsent) writes
// `total` deliveries of 1 MiB to B, which stops reading
// (its owner, the test, handles nothing) after `b_unhandled` bytes. Blocks
// go straight to the socket while nothing waits in CAF's buffers, the rest
// wait in the session's backlog; B must get every block, whole and in
// order.
void expect_deliveries_whole_and_in_order(
  caf::actor_system& sys, caf::scoped_actor& self, actors::session_config b,
  uint16_t a_port, const std::string& a_id, const std::string& b_id) {
  constexpr size_t total = 80;
  b.max_unhandled_bytes = size_t{2} << 20;
  auto dialed = actors::dial_peer(sys, "127.0.0.1", a_port, b,
                                  caf::actor_cast<session_owner_actor>(self));
  ASSERT_TRUE(dialed) << describe(dialed.error());
  peer_session_actor a_session;
  for (int i = 0; i < 2; ++i)
    self->receive(
      [&](peer_up_atom, peer_info& info) {
        if (info.peer_id == b_id)
          a_session = info.session;
      },
      caf::after(3s) >> [] { ADD_FAILURE() << "no session up"; });
  ASSERT_TRUE(a_session);
  std::vector<std::shared_ptr<const bytes>> data;
  for (size_t i = 0; i < total; ++i) {
    data.push_back(
      std::make_shared<const bytes>(size_t{1} << 20, static_cast<uint8_t>(i)));
    wire::block_delivery bd;
    bd.blocks.push_back({cid::of(multicodec::codex_block, byte_view{*data[i]}),
                         data[i], std::nullopt});
    self->send(a_session, send_atom::value, wire::message{bd});
  }
  // Answered once A has handled the deliveries before it (one sender's
  // messages stay in order): slow on a loaded machine, hence the bound.
  auto gauge = [&](const std::string& name) {
    return test::gauge_of(self, a_session, name, 60s);
  };
  // B reads no more: what the kernel did not take waits in A's buffer.
  std::this_thread::sleep_for(300ms);
  auto direct = gauge("bytes_out_direct");
  EXPECT_GT(direct, 0.0) << "no delivery went straight to the socket";
  EXPECT_LT(direct, static_cast<double>(total << 20) * 0.75)
    << "the socket took nearly everything while B did not read";
  EXPECT_GT(gauge("unsent"), 0.0);
  // The rest waits in the session's backlog, uncopied: CAF's buffer holds
  // at most the rest of one frame, not the whole queue.
  EXPECT_GT(gauge("backlog_frames"), 0.0);
  EXPECT_LE(gauge("unsent") - gauge("backlog_bytes"), (1 << 20) + 4096.0);
  size_t next = 0;
  auto until = std::chrono::steady_clock::now() + 30s;
  while (next < total && std::chrono::steady_clock::now() < until) {
    self->receive(
      [&](peer_msg_atom, std::string& from, wire::message& m) {
        ASSERT_EQ(from, a_id);
        for (auto& d : std::get<wire::block_delivery>(m).blocks) {
          ASSERT_LT(next, total);
          EXPECT_TRUE(*d.data == *data[next]) << "block " << next;
          ++next;
        }
      },
      [&](peer_down_atom, std::string&, bool, std::string& why) {
        ADD_FAILURE() << "session down: " << why;
        next = total;
      },
      caf::after(3s) >> [&] { until = std::chrono::steady_clock::now(); });
  }
  EXPECT_EQ(next, total);
  // Drained: later deliveries go straight to the socket again.
  auto before = gauge("bytes_out_direct");
  wire::block_delivery last;
  last.blocks.push_back({cid::of(multicodec::codex_block, byte_view{*data[0]}),
                         data[0], std::nullopt});
  std::this_thread::sleep_for(100ms);
  self->send(a_session, send_atom::value, wire::message{last});
  self->receive([&](peer_msg_atom, std::string&, wire::message&) {},
                caf::after(3s) >> [] { ADD_FAILURE() << "last block lost"; });
  EXPECT_GT(gauge("bytes_out_direct"), before + (1 << 20));
  caf::anon_send(*dialed, close_atom::value, std::string{"test done"});
}

} // namespace

TEST_F(PeerSessionTest, DeliveriesGoStraightToTheSocketInOrderEncrypted) {
  auto c = config(key_a_);
  c.max_unsent_bytes = size_t{256} << 20;
  auto port = start_second_listener(c);
  expect_deliveries_whole_and_in_order(*sys_, *self_, config(key_b_), port,
                                       key_a_->peer_id().to_string(),
                                       key_b_->peer_id().to_string());
}

TEST_F(PeerSessionTest, DeliveriesGoStraightToTheSocketInOrderInClear) {
  auto c = config(key_a_, "", true);
  c.max_unsent_bytes = size_t{256} << 20;
  auto port = start_second_listener(c);
  expect_deliveries_whole_and_in_order(*sys_, *self_, config(key_b_, "", true),
                                       port, key_a_->peer_id().to_string(),
                                       key_b_->peer_id().to_string());
}

// A link latency (`--link-latency`) holds what a session sends, except the
// answers to want lists: the want lists it receives are held instead, so
// that an answer reaches the peer after the same round trip while the node
// holds requests, not blocks. A has 300 ms, B none.
TEST_F(PeerSessionTest, LinkLatencyHoldsWantListsAsTheyArriveNotTheirAnswers) {
  constexpr auto latency = 300ms;
  peer_session_actor b_side, a_side;
  establish_with_latency(latency, b_side, a_side);
  if (HasFatalFailure())
    return;
  auto a_id = key_a_->peer_id().to_string();
  auto b_id = key_b_->peer_id().to_string();
  auto want = [](uint64_t index) {
    wire::want_list wl;
    wl.entries.push_back(
      wire::want_entry{block_address{cid{multicodec::codex_root, {}}, index}});
    return wire::message{wl};
  };
  using steady = std::chrono::steady_clock;
  // B's want list reaches A's owner only after A's latency.
  auto t0 = steady::now();
  caf::anon_send(b_side, send_atom::value, want(1));
  auto e = next_event();
  ASSERT_EQ(e.kind, event::msg);
  EXPECT_EQ(e.peer, b_id);
  ASSERT_TRUE(std::holds_alternative<wire::want_list>(e.message));
  EXPECT_GE(steady::now() - t0, latency) << "the want list was not held";
  // A's own want list is held as it is sent; its answers (a block and a
  // presence, sent after it) are not, and overtake it.
  auto data = std::make_shared<const bytes>(1000, 0x5a);
  wire::block_delivery bd;
  bd.blocks.push_back(
    {cid::of(multicodec::codex_block, byte_view{*data}), data, std::nullopt});
  wire::block_presence bp;
  bp.presences.push_back(wire::presence{
    block_address{cid{multicodec::codex_root, {}}, 2}, false, 0});
  t0 = steady::now();
  caf::anon_send(a_side, send_atom::value, want(3));
  caf::anon_send(a_side, send_atom::value, wire::message{bd});
  caf::anon_send(a_side, send_atom::value, wire::message{bp});
  std::vector<std::string> order;
  for (int i = 0; i < 3; ++i) {
    auto got = next_event();
    ASSERT_EQ(got.kind, event::msg);
    EXPECT_EQ(got.peer, a_id);
    order.push_back(wire::type_name(got.message));
    if (std::holds_alternative<wire::want_list>(got.message)) {
      EXPECT_GE(steady::now() - t0, latency) << "A's want list was not held";
    }
  }
  EXPECT_EQ(order, (std::vector<std::string>{wire::type_name(wire::message{bd}),
                                             wire::type_name(wire::message{bp}),
                                             wire::type_name(want(3))}));
  caf::anon_send(b_side, close_atom::value, std::string{"test done"});
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(next_event().kind, event::down);
}

// Want lists held on arrival count against the session's unhandled bytes,
// each list as well as its entries: a flood of empty lists is held in
// memory like blocks, and the gate pauses reading for it.
TEST_F(PeerSessionTest, WantListsHeldOnArrivalCountAsUnhandled) {
  peer_session_actor b_side, a_side;
  establish_with_latency(500ms, b_side, a_side);
  if (HasFatalFailure())
    return;
  constexpr int lists = 100;
  for (int i = 0; i < lists; ++i)
    caf::anon_send(b_side, send_atom::value, wire::message{wire::want_list{}});
  // Read and held (the latency is far from over): each costs something.
  double held = 0;
  for (int tries = 0; tries < 20 && held < lists; ++tries) {
    std::this_thread::sleep_for(10ms);
    held = test::gauge_of(*self_, a_side, "held_want_lists", 3s);
  }
  EXPECT_EQ(held, lists);
  EXPECT_GE(test::gauge_of(*self_, a_side, "unhandled_bytes", 3s),
            lists * 64.0);
  // Handed on once due, and given back.
  for (int i = 0; i < lists; ++i) {
    auto e = next_event();
    ASSERT_EQ(e.kind, event::msg);
    ASSERT_TRUE(std::holds_alternative<wire::want_list>(e.message));
  }
  EXPECT_EQ(test::gauge_of(*self_, a_side, "unhandled_bytes", 3s), 0.0);
  caf::anon_send(b_side, close_atom::value, std::string{"test done"});
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(next_event().kind, event::down);
}
