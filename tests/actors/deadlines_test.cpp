// Request timeouts kept by the requester (actors/deadlines.hpp): the book on
// its own, then swept requests between real actors that answer at once,
// late, or never.

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <gtest/gtest.h>

#include "actors/deadlines.hpp"
#include "messages/type_ids.hpp"

using namespace cairn;
using namespace cairn::actors;
using namespace std::chrono_literals;

namespace {

using clock_type = deadline_book::clock;

// -- the book -----------------------------------------------------------------

TEST(DeadlineBookTest, ExpiresOnlyWhatIsDueEarliestFirst) {
  deadline_book book;
  auto t0 = clock_type::now();
  std::vector<std::string> fired;
  auto note = [&fired](std::string what) {
    return [&fired, what](caf::error&) { fired.push_back(what); };
  };
  book.add(t0 + 30ms, note("c"));
  book.add(t0 + 10ms, note("a"));
  book.add(t0 + 20ms, note("b"));
  EXPECT_EQ(book.size(), 3u);
  ASSERT_TRUE(book.next_deadline());
  EXPECT_EQ(*book.next_deadline(), t0 + 10ms);
  auto due = book.expire(t0 + 20ms);
  ASSERT_EQ(due.size(), 2u);
  caf::error err;
  for (auto& fn : due)
    fn(err);
  EXPECT_EQ(fired, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(book.size(), 1u);
  EXPECT_EQ(*book.next_deadline(), t0 + 30ms);
  EXPECT_TRUE(book.expire(t0 + 29ms).empty());
}

TEST(DeadlineBookTest, ASettledTicketNeverExpiresAndSettlesOnce) {
  deadline_book book;
  auto t0 = clock_type::now();
  bool fired = false;
  auto id = book.add(t0 + 10ms, [&fired](caf::error&) { fired = true; });
  auto other = book.add(t0 + 10ms, [](caf::error&) {});
  EXPECT_TRUE(book.settle(id));
  EXPECT_FALSE(book.settle(id)) << "an answer is taken once";
  EXPECT_EQ(book.expire(t0 + 1s).size(), 1u) << "only the other ticket";
  EXPECT_FALSE(fired);
  EXPECT_FALSE(book.take(other)) << "expired: a late answer is dropped";
  EXPECT_TRUE(book.empty());
  EXPECT_FALSE(book.next_deadline());
}

TEST(DeadlineBookTest, ArmsOnlyForAnEarlierDeadline) {
  deadline_book book;
  auto t0 = clock_type::now();
  EXPECT_TRUE(book.arm(t0 + 30s));
  EXPECT_FALSE(book.arm(t0 + 40s)) << "the sweep at +30 s comes first";
  EXPECT_FALSE(book.arm(t0 + 30s));
  EXPECT_TRUE(book.arm(t0 + 5s)) << "a shorter timeout needs its own sweep";
  book.disarm();
  EXPECT_TRUE(book.arm(t0 + 40s));
}

// -- swept requests between actors --------------------------------------------

struct test_config : caf::actor_system_config {
  test_config() {
    register_types(*this);
    set("scheduler.max-threads", size_t{2});
    set("logger.console", caf::atom("none"));
  }
};

// Answers (get_atom, x) with x + 1: at once if `delay` is zero, after
// `delay` if it is positive, never if it is negative (the promise is held
// until the actor ends).
struct responder_state {
  std::map<int, caf::response_promise> held;
  int next = 0;
};

caf::behavior responder(caf::stateful_actor<responder_state>* self,
                        caf::timespan delay) {
  return {
    [self, delay](get_atom, int x) -> caf::result<int> {
      if (delay == caf::timespan{0})
        return x + 1;
      auto key = self->state.next++;
      self->state.held.emplace(key, self->make_response_promise());
      if (delay > caf::timespan{0})
        self->delayed_send(self, delay, put_atom::value, key, x + 1);
      return caf::delegated<int>{};
    },
    [self](put_atom, int key, int y) {
      auto i = self->state.held.find(key);
      i->second.deliver(y);
      self->state.held.erase(i);
    },
  };
}

// Sends (get_atom, x) to `target` as a swept request with `timeout`, and
// reports (ok_atom, y) or the error to `reporter`.
struct requester_state {
  deadline_book deadlines;
};

caf::behavior requester(caf::stateful_actor<requester_state>* self,
                        caf::actor reporter) {
  return {
    [self, reporter](get_atom, caf::actor target, int x,
                     caf::timespan timeout) {
      swept_request<caf::message_priority::normal, int>(
        self, target, timeout,
        [self, reporter](int& y) { self->send(reporter, ok_atom::value, y); },
        [self, reporter](caf::error& err) { self->send(reporter, err); },
        get_atom::value, x);
    },
    [self](sweep_atom) { sweep_deadlines(self); },
  };
}

class SweptRequestTest : public ::testing::Test {
protected:
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor reporter{sys};
  caf::actor req = sys.spawn(requester, caf::actor{reporter});
  std::vector<caf::actor> targets;

  // A responder (see above); it ends with the test.
  caf::actor spawn_responder(caf::timespan delay) {
    targets.push_back(sys.spawn(responder, delay));
    return targets.back();
  }

  // A promise held forever keeps its actor alive: end them.
  void TearDown() override {
    for (auto& t : targets)
      caf::anon_send_exit(t, caf::exit_reason::user_shutdown);
  }

  // Asks `target` for `x` with `timeout` through the requester.
  void ask(const caf::actor& target, int x, caf::timespan timeout) {
    reporter->send(req, get_atom::value, target, x, timeout);
  }

  // The next report: "value N", "timeout" or "error ...", or "none" after
  // `wait`.
  std::string next_report(caf::timespan wait = std::chrono::seconds{5}) {
    std::string out = "none";
    reporter->receive(
      [&](ok_atom, int y) { out = "value " + std::to_string(y); },
      [&](caf::error& err) {
        out = err == caf::sec::request_timeout ? "timeout"
                                               : "error " + sys.render(err);
      },
      caf::after(wait) >> [] {});
    return out;
  }
};

TEST_F(SweptRequestTest, AnAnswerInTimeIsDeliveredOnceAndNeverTimesOut) {
  auto target = spawn_responder(caf::timespan{0});
  ask(target, 1, std::chrono::milliseconds{100});
  EXPECT_EQ(next_report(), "value 2");
  EXPECT_EQ(next_report(std::chrono::milliseconds{400}), "none");
}

TEST_F(SweptRequestTest, ASilentCalleeTimesOutAfterTheTimeout) {
  auto target = spawn_responder(caf::timespan{-1});
  auto t0 = std::chrono::steady_clock::now();
  ask(target, 1, std::chrono::milliseconds{200});
  EXPECT_EQ(next_report(), "timeout");
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, std::chrono::milliseconds{200});
  EXPECT_LT(waited, std::chrono::seconds{2});
}

TEST_F(SweptRequestTest, ALateAnswerIsDroppedAfterTheTimeout) {
  auto target = spawn_responder(caf::timespan{std::chrono::milliseconds{300}});
  ask(target, 1, std::chrono::milliseconds{100});
  EXPECT_EQ(next_report(), "timeout");
  EXPECT_EQ(next_report(std::chrono::milliseconds{600}), "none")
    << "the answer at 300 ms must not reach the handler";
}

TEST_F(SweptRequestTest, EveryOneOfManyRequestsEndsExactlyOnce) {
  auto quick = spawn_responder(caf::timespan{0});
  auto silent = spawn_responder(caf::timespan{-1});
  auto late = spawn_responder(caf::timespan{std::chrono::milliseconds{400}});
  // Three timeouts, so that sweeps are armed for earlier deadlines too.
  for (int i = 0; i < 300; ++i) {
    const auto& target = i % 3 == 0 ? quick : i % 3 == 1 ? silent : late;
    auto timeout = std::chrono::milliseconds{100 + 50 * (i % 5)};
    ask(target, i, timeout);
  }
  int values = 0, timeouts = 0;
  for (int i = 0; i < 300; ++i) {
    auto r = next_report();
    if (r.rfind("value ", 0) == 0)
      ++values;
    else if (r == "timeout")
      ++timeouts;
    else
      FAIL() << "report " << i << ": " << r;
  }
  EXPECT_EQ(values, 100);
  EXPECT_EQ(timeouts, 200);
  EXPECT_EQ(next_report(std::chrono::milliseconds{600}), "none");
}

} // namespace
