// Tests of actors/fd_budget.hpp: the budget arithmetic, and the count of
// open descriptors against descriptors opened and closed here.

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>

#include <gtest/gtest.h>

#include "actors/fd_budget.hpp"

using namespace cairn::actors;

TEST(FdBudgetTest, KeepsTheReserveButAtMostHalfTheLimit) {
  auto big = make_fd_budget(1048576, 256);
  EXPECT_EQ(big.pause_at, 1048576u - 256);
  EXPECT_EQ(big.resume_at, big.pause_at - 32);
  auto small = make_fd_budget(64, 256);
  EXPECT_EQ(small.pause_at, 32u);
  EXPECT_EQ(small.resume_at, 28u);
  auto tiny = make_fd_budget(2, 256);
  EXPECT_EQ(tiny.pause_at, 1u);
  EXPECT_EQ(tiny.resume_at, 0u);
  auto unknown = make_fd_budget(0, 256);
  EXPECT_EQ(unknown.pause_at, SIZE_MAX);
}

TEST(FdBudgetTest, CountsOpenDescriptors) {
  auto before = open_fds();
  ASSERT_GT(before, 2u); // stdin, stdout, stderr at least
  int a = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int b = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  EXPECT_EQ(open_fds(), before + 2);
  ::close(a);
  ::close(b);
  EXPECT_EQ(open_fds(), before);
}

TEST(FdBudgetTest, RaisedLimitIsTheLimitInForce) {
  auto raised = raise_fd_limit();
  EXPECT_GT(raised, 0u);
  EXPECT_EQ(fd_limit(), raised);
}

TEST(FdBudgetTest, ARecentCountIsSharedFarFromTheLimitAndTakenAfreshNearIt) {
  using namespace std::chrono_literals;
  auto first = recent_open_fds(1h, 0); // counts: nothing is far from 0
  EXPECT_EQ(first, open_fds());
  int a = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(a, 0);
  // Far below the bound: the count of a moment ago.
  EXPECT_EQ(recent_open_fds(1h, SIZE_MAX), first);
  // The same count near the bound, or once older than allowed: counted.
  EXPECT_EQ(recent_open_fds(1h, first), first + 1);
  ::close(a);
  EXPECT_EQ(recent_open_fds(0ms, SIZE_MAX), first);
}
