// The engine against a stand-in session (the test). Serving: what it sends
// a peer is bounded by what that peer's session has yet to write,
// including deliveries still in the session's mailbox. Requesting: the room
// in a peer's pipe that a delivery frees goes at once to the wants that
// waited for it, not at the next tick.

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>

#include "actors/actor_test_config.hpp"
#include "actors/engine.hpp"
#include "actors/local_store.hpp"
#include "actors/peer_session.hpp"
#include "actors/store_stream.hpp"
#include "messages/error.hpp"
#include "storage/peer_scheduler.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace std::chrono_literals;

namespace {

class EngineServingTest : public ::testing::Test {
protected:
  void SetUp() override {
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    self_ = std::make_unique<caf::scoped_actor>(*sys_);
    session_ = std::make_unique<caf::scoped_actor>(*sys_);
    storage::lmdb_options opts;
    opts.path = dir_.file("store");
    opts.quota_bytes = uint64_t{1} << 30;
    local_ = sys_->spawn<caf::detached>(actors::local_store, opts, nullptr,
                                        nullptr, actors::unix_now());
    for (uint64_t i = 0; i < blocks_; ++i)
      stored_.push_back(block::make(test::random_bytes(block_size_, i)));
    (*self_)
      ->request(local_, 30s, put_atom::value, stored_)
      .receive([](uint64_t) {},
               [](caf::error& err) { FAIL() << describe(err); });
    engine_ = sys_->spawn(actors::engine, ecfg_, local_, discovery_actor{});
  }

  void TearDown() override {
    caf::anon_send_exit(engine_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(local_, caf::exit_reason::user_shutdown);
    // The system waits for the store's thread, which ends once no handle
    // to it is left.
    engine_ = nullptr;
    local_ = nullptr;
    session_.reset();
    self_.reset();
    sys_.reset();
  }

  // The test's stand-in session connects as peer "p".
  void connect() {
    peer_info info;
    info.peer_id = "p";
    info.session = caf::actor_cast<peer_session_actor>(*session_);
    (*session_)->send(engine_, peer_up_atom::value, std::move(info));
  }

  // The stand-in session sends `m` as peer "p".
  void from_peer(wire::message m) {
    (*session_)->send(engine_, peer_msg_atom::value, std::string{"p"},
                      std::move(m));
  }

  // Connects and wants every stored block (asking for DONT_HAVE if
  // `send_dont_have`).
  void connect_and_want_all(bool send_dont_have = false) {
    connect();
    wire::want_list wl;
    for (auto& b : stored_) {
      wire::want_entry e;
      e.addr = wire::address{b.id};
      e.type = wire::want_entry::want_type::block;
      e.send_dont_have = send_dont_have;
      wl.entries.push_back(e);
    }
    from_peer(wire::message{std::move(wl)});
  }

  // Block bytes of the deliveries the engine sends within `quiet` of each
  // other (the session takes them from its mailbox only here).
  uint64_t take_deliveries(std::chrono::milliseconds quiet) {
    uint64_t n = 0;
    for (bool more = true; more;)
      (*session_)->receive(
        [&](send_atom, wire::message& m) {
          if (auto* bd = std::get_if<wire::block_delivery>(&m))
            for (auto& d : bd->blocks)
              n += d.data ? d.data->size() : 0;
        },
        caf::after(quiet) >> [&] { more = false; });
    return n;
  }

  // The session reports its socket empty, having taken `taken` bytes.
  void report(uint64_t taken) {
    (*session_)->send(engine_, sent_atom::value, std::string{"p"}, uint64_t{0},
                      taken);
  }

  static constexpr uint64_t blocks_ = 256;
  static constexpr size_t block_size_ = 64 * 1024;
  test::temp_dir dir_{"cairn-engine-serving"};
  test::actor_test_config cfg_;
  actors::engine_config ecfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<caf::scoped_actor> self_;
  std::unique_ptr<caf::scoped_actor> session_;
  local_store_actor local_;
  engine_actor engine_;
  std::vector<block> stored_;
};

// The requester side: blocks of a dataset the node does not have, held by
// peer "p", and no tick during the test (what is asked, is asked by the
// handlers).
class EngineRequestsTest : public EngineServingTest {
protected:
  EngineRequestsTest() {
    ecfg_.tick = std::chrono::milliseconds{60'000};
    for (uint64_t i = 0; i < wanted_; ++i)
      held_.push_back(
        block::make(test::random_bytes(block_size_, blocks_ + i)));
  }

  void SetUp() override {
    EngineServingTest::SetUp();
    connect();
  }

  // The entries of the want lists the engine sends the stand-in session
  // within `quiet` of each other.
  std::vector<wire::want_entry> take_wants(std::chrono::milliseconds quiet) {
    std::vector<wire::want_entry> out;
    for (bool more = true; more;)
      (*session_)->receive(
        [&](send_atom, wire::message& m) {
          if (auto* wl = std::get_if<wire::want_list>(&m))
            out.insert(out.end(), wl->entries.begin(), wl->entries.end());
        },
        caf::after(quiet) >> [&] { more = false; });
    return out;
  }

  static constexpr uint64_t wanted_ = 100;
  std::vector<block> held_;
};

} // namespace

// The limits a long link fills must fit together: a downloader's requests
// to one peer within the wants that peer queues (beyond, it answers
// DONT_HAVE), a download's window covering them, and the seeder's session
// holding all of them unsent without calling the downloader too slow (a
// download at 100 ms one way failed so when `--link-latency` held blocks).
TEST(EngineLimitsTest, ALongLinksRequestsFitTheSeedersQueueAndSession) {
  using storage::peer_scheduler;
  actors::engine_config engine;
  actors::session_config session;
  EXPECT_LT(peer_scheduler::max_depth, engine.max_queued_wants);
  EXPECT_GE(actors::max_stream_window, peer_scheduler::max_depth);
  // A block on the wire is its bytes and its proof (well under 1 KiB of
  // digests for any tree that fits a store).
  uint64_t held =
    peer_scheduler::max_depth * uint64_t{default_block_size + 1024};
  EXPECT_GT(session.max_unsent_bytes, held + engine.max_unsent_bytes);
}

TEST_F(EngineServingTest, DeliveriesInTheSessionsMailboxCountAsUnsent) {
  connect_and_want_all();
  actors::engine_config defaults;
  // The session takes nothing: the engine stops at its per-peer limit (and
  // the reads it had started).
  auto first = take_deliveries(500ms);
  EXPECT_GE(first, defaults.max_unsent_bytes);
  EXPECT_LE(first, defaults.max_unsent_bytes + (uint64_t{3} << 20));
  // A socket that drained says nothing of the deliveries the session has
  // not taken yet: still at the limit, nothing more is sent.
  report(0);
  EXPECT_EQ(take_deliveries(500ms), 0u);
  // Taken and written: serving goes on, to the last block.
  uint64_t total = first;
  for (int round = 0; round < 100 && total < blocks_ * block_size_; ++round) {
    report(total);
    total += take_deliveries(300ms);
  }
  EXPECT_EQ(total, blocks_ * block_size_);
}

TEST_F(EngineRequestsTest, RoomADeliveryFreesGoesToAWaitingWantAtOnce) {
  // 100 blocks wanted by CID of the one connected peer: as many want-blocks
  // as its pipe takes (an unmeasured peer: 64), want-haves for the rest.
  for (auto& b : held_)
    (*self_)->send(engine_, get_atom::value, b.id);
  std::set<wire::address> requested;
  wire::block_presence haves;
  for (auto& e : take_wants(300ms)) {
    if (e.type == wire::want_entry::want_type::block)
      requested.insert(e.addr);
    else
      haves.presences.push_back(wire::presence{e.addr, true, 0});
  }
  ASSERT_EQ(requested.size(), storage::peer_scheduler::start_depth);
  ASSERT_EQ(requested.size() + haves.presences.size(), wanted_);
  // It has them all: those wait for room in its pipe.
  from_peer(wire::message{std::move(haves)});
  for (auto& e : take_wants(300ms))
    EXPECT_TRUE(e.cancel || requested.count(e.addr) > 0)
      << "asked before any room was freed";
  // One delivery frees room: a waiting want goes out now, not in 60 s.
  auto first = std::get<cid>(*requested.begin());
  wire::block_delivery bd;
  for (auto& b : held_)
    if (b.id == first)
      bd.blocks.push_back(
        wire::delivery{wire::address{b.id}, b.data, std::nullopt});
  ASSERT_EQ(bd.blocks.size(), 1u);
  from_peer(wire::message{std::move(bd)});
  size_t more = 0;
  for (auto& e : take_wants(500ms))
    if (e.type == wire::want_entry::want_type::block && !e.cancel &&
        requested.count(e.addr) == 0)
      ++more;
  EXPECT_GE(more, 1u);
  // The waiter of the delivered block got it.
  (*self_)->receive([&](block& b) { EXPECT_EQ(b.id, first); },
                    [](caf::error& err) { FAIL() << describe(err); },
                    caf::after(5s) >> [] { FAIL() << "no block"; });
}

namespace {

// A serving engine that queues few wants per peer.
class EngineFullQueueTest : public EngineServingTest {
protected:
  EngineFullQueueTest() { ecfg_.max_queued_wants = 100; }
};

} // namespace

TEST_F(EngineFullQueueTest, WantsBeyondAFullQueueAreDroppedNotDenied) {
  // 256 want-blocks with send-dont-have, for blocks the node has: the
  // session takes nothing, so serving stops at its limit with the queue
  // full, and the wants beyond it are dropped.
  connect_and_want_all(true);
  // No block it has is denied, and what it queued is all served once the
  // session writes.
  uint64_t served = 0, denied = 0;
  auto take = [&](std::chrono::milliseconds quiet) {
    for (bool more = true; more;)
      (*session_)->receive(
        [&](send_atom, wire::message& m) {
          if (auto* bd = std::get_if<wire::block_delivery>(&m))
            served += bd->blocks.size();
          if (auto* bp = std::get_if<wire::block_presence>(&m))
            for (auto& p : bp->presences)
              denied += p.have ? 0 : 1;
        },
        caf::after(quiet) >> [&] { more = false; });
  };
  take(500ms);
  for (int round = 0; round < 100 && served < blocks_; ++round) {
    report(served * block_size_);
    auto before = served;
    take(300ms);
    if (served == before)
      break;
  }
  EXPECT_EQ(denied, 0u);
  EXPECT_GE(served, 100u);
  EXPECT_LT(served, blocks_);
  // The dropped wants are counted for operators.
  auto dropped = test::gauge_of(*self_, engine_, "wants_dropped", 5s);
  EXPECT_EQ(dropped, static_cast<double>(blocks_ - served));
}

// A store read that ends after its peer left and came back was for the
// earlier session: it is dropped, and the new session is served as if it
// had never been (its count of reads in flight is its own).
TEST(EngineReconnectTest, AReadForAnEarlierSessionLeavesTheNextOneServed) {
  test::actor_test_config cfg;
  caf::actor_system sys{cfg};
  {
    // The store stands in for local_store: the test holds its answers.
    caf::scoped_actor store{sys}, first{sys}, second{sys};
    actors::engine_config ecfg;
    ecfg.tick = std::chrono::milliseconds{60'000};
    auto engine =
      sys.spawn(actors::engine, ecfg, caf::actor_cast<local_store_actor>(store),
                discovery_actor{});
    auto up = [&](caf::scoped_actor& session) {
      peer_info info;
      info.peer_id = "p";
      info.session = caf::actor_cast<peer_session_actor>(session);
      session->send(engine, peer_up_atom::value, std::move(info));
    };
    auto want = [&](caf::scoped_actor& session, const block& b) {
      wire::want_list wl;
      wire::want_entry e;
      e.addr = wire::address{b.id};
      e.type = wire::want_entry::want_type::block;
      wl.entries.push_back(e);
      session->send(engine, peer_msg_atom::value, std::string{"p"},
                    wire::message{std::move(wl)});
    };
    auto b1 = block::make(test::random_bytes(1024, 1));
    auto b2 = block::make(test::random_bytes(1024, 2));
    up(first);
    want(first, b1);
    caf::typed_response_promise<block> held;
    bool read = false;
    store->receive(
      [&](get_atom, const cid& id) -> caf::result<block> {
        read = id == b1.id;
        held = store->make_response_promise<block>();
        return held;
      },
      caf::after(5s) >> [] {});
    ASSERT_TRUE(read);
    // The peer leaves and comes back before the store answers.
    first->send(engine, peer_down_atom::value, std::string{"p"}, true,
                std::string{"gone"});
    up(second);
    held.deliver(b1);
    want(second, b2);
    read = false;
    store->receive(
      [&](get_atom, const cid& id) -> caf::result<block> {
        read = id == b2.id;
        return b2;
      },
      caf::after(5s) >> [] {});
    EXPECT_TRUE(read) << "the new session's want was never read";
    // It gets what it asked for, and not the earlier session's block.
    std::vector<cid> got;
    // Up to 5 s for the first delivery (a loaded machine), then 500 ms of
    // quiet for any other.
    for (auto quiet = std::chrono::milliseconds{5000}; quiet.count() > 0;)
      second->receive(
        [&](send_atom, wire::message& m) {
          if (auto* bd = std::get_if<wire::block_delivery>(&m)) {
            for (auto& d : bd->blocks)
              got.push_back(std::get<cid>(d.addr));
            quiet = 500ms;
          }
        },
        caf::after(quiet) >> [&] { quiet = std::chrono::milliseconds{0}; });
    EXPECT_EQ(got, std::vector<cid>{b2.id});
    caf::anon_send_exit(engine, caf::exit_reason::user_shutdown);
  }
}
