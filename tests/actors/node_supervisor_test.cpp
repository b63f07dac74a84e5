// Supervision in a real actor system: crashed children are restarted under
// the same name and re-wired, callers never hang, and too many restarts
// escalate.

#include <chrono>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "actors/actor_test_config.hpp"
#include "actors/node_supervisor.hpp"
#include "actors/store_stream.hpp"
#include "messages/error.hpp"
#include "messages/type_ids.hpp"
#include "storage/chunker.hpp"
#include "storage/merkle_tree.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace std::chrono_literals;

namespace {

using test_config = cairn::test::actor_test_config;

// A node without its HTTP clients: supervisor + children on a temp dir.
class SupervisorFixture : public ::testing::Test {
protected:
  void SetUp() override {
    ctx_ = std::make_shared<actors::node_context>();
    ctx_->options.data_dir = dir_.path();
    ctx_->options.api_port = 0;
    ctx_->options.listen_ip = "127.0.0.1";
    ctx_->options.listen_port = 0;
    ctx_->options.disc_port = 0;
    auto key = storage::node_key::load_or_create(dir_.path() + "/node.key");
    ASSERT_TRUE(key) << describe(key.error());
    ctx_->key = *key;
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    self_ = std::make_unique<caf::scoped_actor>(*sys_);
  }

  void TearDown() override {
    if (sup_) {
      (*self_)
        ->request(sup_, 10s, stop_atom::value)
        .receive([](ok_atom) {}, [](caf::error&) {});
    }
    self_.reset();
    sys_.reset();
  }

  void start(actors::restart_policy policy = {}) {
    sup_ = sys_->spawn(actors::node_supervisor, ctx_, policy);
    caf::error err;
    (*self_)
      ->request(sup_, 30s, start_atom::value)
      .receive([](node_info&) {}, [&](caf::error& e) { err = e; });
    ASSERT_FALSE(err) << describe(err);
  }

  caf::actor child(const std::string& name) {
    caf::actor out;
    (*self_)
      ->request(sup_, 5s, get_atom::value, name)
      .receive([&](caf::actor& a) { out = a; }, [](caf::error&) {});
    return out;
  }

  // Waits until the supervisor reports a running child other than `old`.
  caf::actor wait_restarted(const std::string& name, const caf::actor& old) {
    for (int i = 0; i < 100; ++i) {
      auto h = child(name);
      if (h && h != old)
        return h;
      std::this_thread::sleep_for(20ms);
    }
    return nullptr;
  }

  // Stores `data` as a dataset through the network store; returns the tree.
  cid store_dataset(const bytes& data) {
    auto net = caf::actor_cast<network_store_actor>(child("network_store"));
    std::vector<digest256> leaves;
    std::vector<block> blocks;
    storage::chunker ch([&](bytes b) -> caf::error {
      blocks.push_back(block::make(std::move(b)));
      leaves.push_back(blocks.back().id.digest);
      return caf::none;
    });
    EXPECT_FALSE(ch.feed(data.data(), data.size()));
    EXPECT_FALSE(ch.finish());
    caf::error err;
    (*self_)
      ->request(net, 30s, put_atom::value, blocks)
      .receive([](uint64_t) {}, [&](caf::error& e) { err = e; });
    EXPECT_FALSE(err) << describe(err);
    auto tree = storage::merkle_tree::build(leaves);
    manifest m;
    m.tree_cid = tree->root_cid();
    m.dataset_size = data.size();
    (*self_)
      ->request(net, 30s, commit_atom::value, m.to_block(), leaves)
      .receive([](cid&) {}, [&](caf::error& e) { err = e; });
    EXPECT_FALSE(err) << describe(err);
    return m.tree_cid;
  }

  // The status of every live actor, as the current inspector lists it.
  std::vector<actor_status> statuses() {
    auto insp = caf::actor_cast<inspector_actor>(child("inspector"));
    std::vector<actor_status> out;
    if (!insp)
      return out;
    (*self_)
      ->request(insp, 5s, list_atom::value)
      .receive([&](std::vector<actor_status>& x) { out = std::move(x); },
               [](caf::error&) {});
    return out;
  }

  // The listed status of `name`, or one with an empty name.
  actor_status status_of(const std::string& name) {
    for (auto& s : statuses())
      if (s.name == name)
        return s;
    return actor_status{};
  }

  // Waits until the inspector lists `name` with `restarts` restarts.
  bool wait_restarts(const std::string& name, uint32_t restarts) {
    for (int i = 0; i < 100; ++i) {
      auto s = status_of(name);
      if (s.name == name && s.restarts == restarts)
        return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  test::temp_dir dir_;
  test_config cfg_;
  std::shared_ptr<actors::node_context> ctx_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<caf::scoped_actor> self_;
  node_supervisor_actor sup_;
};

} // namespace

TEST_F(SupervisorFixture, CrashedChildIsRestartedUnderTheSameName) {
  start();
  auto old = child("local_store");
  ASSERT_TRUE(old);
  caf::anon_send_exit(old, caf::exit_reason::kill);
  auto fresh = wait_restarted("local_store", old);
  ASSERT_TRUE(fresh) << "local_store was not restarted";
  // The dependents were re-wired: a read through network_store works.
  auto data = test::random_bytes(3 * 65536 + 7, 1);
  auto tree = store_dataset(data);
  auto net = caf::actor_cast<network_store_actor>(child("network_store"));
  caf::error err;
  block got;
  (*self_)
    ->request(net, 5s, get_atom::value, block_address{tree, 2})
    .receive([&](block& b) { got = b; }, [&](caf::error& e) { err = e; });
  ASSERT_FALSE(err) << describe(err);
  EXPECT_TRUE(got.verify());
}

TEST_F(SupervisorFixture, RequestToCrashedActorFailsInsteadOfHanging) {
  start();
  auto old = child("local_store");
  auto local = caf::actor_cast<local_store_actor>(old);
  caf::anon_send_exit(old, caf::exit_reason::kill);
  std::this_thread::sleep_for(50ms);
  auto t0 = std::chrono::steady_clock::now();
  caf::error err;
  (*self_)
    ->request(local, 5s, space_atom::value)
    .receive([](space_info&) {}, [&](caf::error& e) { err = e; });
  EXPECT_TRUE(err) << "a dead actor answered";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST_F(SupervisorFixture,
       KillingLocalStoreMidDownloadEndsInDataOrErrorWithinBoundedTime) {
  start();
  auto data = test::random_bytes(64 * 65536, 2);
  auto tree = store_dataset(data);
  actors::stream_spec spec;
  spec.tree = tree;
  spec.first = 0;
  spec.last = 63;
  spec.window = 4;
  spec.block_timeout = 2000ms;
  auto net = caf::actor_cast<network_store_actor>(child("network_store"));
  auto stream = sys_->spawn(actors::store_stream, spec, net, sup_);
  bytes got;
  caf::error err;
  bool done = false;
  bool killed = false;
  uint64_t next = spec.first;
  auto t0 = std::chrono::steady_clock::now();
  while (!done && !err) {
    (*self_)
      ->request(stream, 20s, pull_atom::value, next)
      .receive(
        [&](std::vector<block>& bs) {
          if (bs.empty())
            done = true;
          next += bs.size();
          for (auto& b : bs)
            got.insert(got.end(), b.data->begin(), b.data->end());
        },
        [&](caf::error& e) { err = e; });
    if (!killed && got.size() >= 8 * 65536) {
      caf::anon_send_exit(child("local_store"), caf::exit_reason::kill);
      killed = true;
    }
  }
  EXPECT_TRUE(killed);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 15s);
  if (err) {
    // Acceptable: a clear error, never wrong bytes.
    EXPECT_TRUE(is(err, ec::unavailable) || is(err, ec::storage_io))
      << describe(err);
  } else {
    ASSERT_EQ(got.size(), data.size());
    EXPECT_TRUE(got == data) << "bytes differ after a local_store restart";
  }
  caf::anon_send_exit(stream, caf::exit_reason::user_shutdown);
}

TEST_F(SupervisorFixture, TooManyRestartsEscalate) {
  start(actors::restart_policy{3, std::chrono::milliseconds{10000}});
  auto down = std::make_shared<std::atomic<bool>>(false);
  auto reason = std::make_shared<caf::error>();
  caf::actor_cast<caf::actor>(sup_)->attach_functor(
    [down, reason](const caf::error& r) {
      *reason = r;
      down->store(true);
    });
  caf::actor h = child("maintenance");
  for (int i = 0; i < 4 && !down->load(); ++i) {
    ASSERT_TRUE(h);
    caf::anon_send_exit(h, caf::exit_reason::kill);
    if (i < 3)
      h = wait_restarted("maintenance", h);
  }
  for (int i = 0; i < 200 && !down->load(); ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(down->load()) << "the supervisor did not escalate";
  EXPECT_TRUE(is(*reason, ec::unavailable)) << describe(*reason);
  EXPECT_NE(describe(*reason).find("maintenance"), std::string::npos)
    << describe(*reason);
  sup_ = nullptr;
}

TEST_F(SupervisorFixture, StopShutsChildrenDownInReverseOrder) {
  start();
  auto local = child("local_store");
  caf::error err;
  (*self_)
    ->request(sup_, 10s, stop_atom::value)
    .receive([](ok_atom) {}, [&](caf::error& e) { err = e; });
  EXPECT_FALSE(err) << describe(err);
  // The store is closed: a new one can open the same environment.
  sup_ = nullptr;
  std::this_thread::sleep_for(50ms);
  auto reopened =
    storage::lmdb_store::open(actors::store_options(ctx_->options));
  EXPECT_TRUE(reopened) << describe(reopened.error());
}

TEST_F(SupervisorFixture, RestartedInspectorKeepsRestartCountsAndLastErrors) {
  start();
  auto maint = child("maintenance");
  ASSERT_TRUE(maint);
  caf::anon_send_exit(maint, caf::exit_reason::kill);
  ASSERT_TRUE(wait_restarted("maintenance", maint));
  ASSERT_TRUE(wait_restarts("maintenance", 1));
  auto before = status_of("maintenance");
  EXPECT_FALSE(before.last_error.empty());
  auto insp = child("inspector");
  caf::error err;
  (*self_)
    ->request(sup_, 5s, restart_atom::value, std::string{"inspector"})
    .receive([](ok_atom) {}, [&](caf::error& e) { err = e; });
  ASSERT_FALSE(err) << describe(err);
  ASSERT_TRUE(wait_restarted("inspector", insp));
  ASSERT_TRUE(wait_restarts("inspector", 1))
    << "the inspector's own restart is not counted";
  auto after = status_of("maintenance");
  EXPECT_EQ(after.restarts, 1u);
  EXPECT_EQ(after.last_error, before.last_error);
  // A requested restart is counted, but is not an error.
  EXPECT_EQ(status_of("inspector").last_error, "");
}

TEST_F(SupervisorFixture, RestartedInspectorStillListsActorsRegisteredBefore) {
  start();
  // An actor registered by whoever spawned it, as the engine registers
  // peer sessions.
  auto session = sys_->spawn(
    [](caf::event_based_actor*) -> caf::behavior { return {[](int) {}}; });
  auto insp = child("inspector");
  caf::anon_send(caf::actor_cast<inspector_actor>(insp), put_atom::value,
                 session, std::string{"peer_session/test"},
                 std::string{"broker"}, std::string{"engine"});
  ASSERT_EQ(status_of("peer_session/test").name, "peer_session/test");
  caf::error err;
  (*self_)
    ->request(sup_, 5s, restart_atom::value, std::string{"inspector"})
    .receive([](ok_atom) {}, [&](caf::error& e) { err = e; });
  ASSERT_FALSE(err) << describe(err);
  ASSERT_TRUE(wait_restarted("inspector", insp));
  ASSERT_TRUE(wait_restarts("inspector", 1));
  EXPECT_EQ(status_of("peer_session/test").parent, "engine");
  // And the new inspector watches it: its end is seen.
  caf::anon_send_exit(session, caf::exit_reason::kill);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = status_of("peer_session/test").name.empty();
    if (!gone)
      std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(gone) << "a dead session is still listed";
  auto listed = statuses();
  size_t inspectors = 0;
  for (auto& s : listed)
    inspectors += s.name == "inspector";
  EXPECT_EQ(inspectors, 1u);
}

namespace {

// Captures what spdlog logs while it lives (it must outlive the actor
// system, whose threads log through the default logger).
class log_capture {
public:
  log_capture() {
    previous_ = spdlog::default_logger();
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    sink->set_pattern("%l %v");
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }

  ~log_capture() { spdlog::set_default_logger(previous_); }

  // The lines logged so far that contain `part`.
  std::vector<std::string> lines_with(const std::string& part) {
    spdlog::default_logger()->flush();
    std::vector<std::string> out;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);)
      if (line.find(part) != std::string::npos)
        out.push_back(line);
    return out;
  }

private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

// A node whose log is captured: the capture ends after TearDown has
// stopped the actor system.
class SupervisorLogTest : public SupervisorFixture {
protected:
  log_capture log;
};

} // namespace

TEST_F(SupervisorLogTest, RequestedRestartIsLoggedAtInfoACrashAsWarning) {
  start();
  auto engine = child("engine");
  caf::error err;
  (*self_)
    ->request(sup_, 5s, restart_atom::value, std::string{"engine"})
    .receive([](ok_atom) {}, [&](caf::error& e) { err = e; });
  ASSERT_FALSE(err) << describe(err);
  engine = wait_restarted("engine", engine);
  ASSERT_TRUE(engine);
  auto requested = log.lines_with("engine");
  ASSERT_FALSE(requested.empty());
  EXPECT_EQ(requested.front(),
            "info node_supervisor: restarting engine as requested");
  for (auto& line : requested)
    EXPECT_EQ(line.rfind("info ", 0), 0u) << line;
  caf::anon_send_exit(engine, caf::exit_reason::kill);
  ASSERT_TRUE(wait_restarted("engine", engine));
  auto warnings = log.lines_with("warning node_supervisor: engine exited");
  EXPECT_EQ(warnings.size(), 1u) << "a crash is a warning";
}
