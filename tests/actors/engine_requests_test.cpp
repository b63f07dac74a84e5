// The engine's requester side against a stand-in session (the test): the
// room in a peer's pipe that a delivery frees goes at once to the wants
// that waited for it, not at the next tick.

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
#include "messages/error.hpp"
#include "storage/peer_scheduler.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace std::chrono_literals;

namespace {

class EngineRequestsTest : public ::testing::Test {
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
      held_.push_back(block::make(test::random_bytes(block_size_, i)));
    actors::engine_config ecfg;
    // No tick during the test: what is asked, is asked by the handlers.
    ecfg.tick = std::chrono::milliseconds{60'000};
    engine_ = sys_->spawn(actors::engine, ecfg, local_, discovery_actor{});
    peer_info info;
    info.peer_id = "p";
    info.session = caf::actor_cast<peer_session_actor>(*session_);
    (*session_)->send(engine_, peer_up_atom::value, std::move(info));
  }

  void TearDown() override {
    caf::anon_send_exit(engine_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(local_, caf::exit_reason::user_shutdown);
    engine_ = nullptr;
    local_ = nullptr;
    session_.reset();
    self_.reset();
    sys_.reset();
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

  void from_peer(wire::message m) {
    (*session_)->send(engine_, peer_msg_atom::value, std::string{"p"},
                      std::move(m));
  }

  static constexpr uint64_t blocks_ = 100;
  static constexpr size_t block_size_ = 64 * 1024;
  test::temp_dir dir_{"cairn-engine-requests"};
  test::actor_test_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<caf::scoped_actor> self_;
  std::unique_ptr<caf::scoped_actor> session_;
  local_store_actor local_;
  engine_actor engine_;
  std::vector<block> held_;
};

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
  ASSERT_EQ(requested.size() + haves.presences.size(), blocks_);
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
      bd.blocks.push_back(wire::delivery{wire::address{b.id}, b.data});
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

} // namespace
