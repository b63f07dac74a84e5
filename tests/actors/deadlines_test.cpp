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
  book.disarm(t0 + 30s);
  EXPECT_FALSE(book.arm(t0 + 40s))
    << "the superseded sweep at +30 s must not disarm the one at +5 s";
  book.disarm(t0 + 5s);
  EXPECT_TRUE(book.arm(t0 + 40s));
}

// -- swept requests between actors --------------------------------------------

struct deadline_test_config : caf::actor_system_config {
  deadline_test_config() {
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
// reports (ok_atom, y) or the error to `reporter`. (put_atom, target, n,
// timeout) sends such a request and, from its error handler, the next one,
// n in all. (get_atom) -> sweeps handled so far.
struct requester_state {
  deadline_book deadlines;
  int sweeps = 0;
};

using requester_ptr = caf::stateful_actor<requester_state>*;

void ask_swept(requester_ptr self, const caf::actor& reporter,
               const caf::actor& target, int x, caf::timespan timeout,
               int then = 0) {
  swept_request<caf::message_priority::normal, int>(
    self, target, timeout,
    [self, reporter](int& y) { self->send(reporter, ok_atom::value, y); },
    [=](caf::error& err) {
      self->send(reporter, err);
      if (then > 0)
        ask_swept(self, reporter, target, x, timeout, then - 1);
    },
    get_atom::value, x);
}

caf::behavior requester(requester_ptr self, caf::actor reporter) {
  return {
    [self, reporter](get_atom, caf::actor target, int x,
                     caf::timespan timeout) {
      ask_swept(self, reporter, target, x, timeout);
    },
    [self, reporter](put_atom, caf::actor target, int n,
                     caf::timespan timeout) {
      ask_swept(self, reporter, target, 0, timeout, n - 1);
    },
    [self](get_atom) { return self->state.sweeps; },
    [self](sweep_atom, int64_t t) {
      ++self->state.sweeps;
      sweep_deadlines(self, t);
    },
  };
}

class SweptRequestTest : public ::testing::Test {
protected:
  deadline_test_config cfg;
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

TEST_F(SweptRequestTest, OneSweepPerDeadlineWhenHandlersRequestAgain) {
  // A request of 300 ms, and a chain of five of 200 ms each sent from the
  // error handler of the one before: six deadlines (0.2, 0.3, 0.4, 0.6,
  // 0.8, 1.0 s), each swept once. A sweep that ran the handlers before
  // scheduling the next one, or that let a superseded sweep reset the
  // scheduled one, started a second chain of sweeps here.
  auto silent = spawn_responder(caf::timespan{-1});
  ask(silent, 0, std::chrono::milliseconds{300});
  reporter->send(req, put_atom::value, silent, 5,
                 caf::timespan{std::chrono::milliseconds{200}});
  for (int i = 0; i < 6; ++i)
    ASSERT_EQ(next_report(), "timeout") << "report " << i;
  EXPECT_EQ(next_report(std::chrono::milliseconds{300}), "none");
  int sweeps = -1;
  reporter->request(req, std::chrono::seconds{5}, get_atom::value)
    .receive([&](int n) { sweeps = n; }, [](caf::error&) {});
  EXPECT_GE(sweeps, 6);
  EXPECT_LE(sweeps, 7);
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
