// Tests of messages/error.hpp: how errors read in logs and HTTP bodies.

#include <gtest/gtest.h>

#include "messages/error.hpp"

using cairn::describe;
using cairn::ec;
using cairn::make_error;

TEST(ErrorTest, DescribeJoinsCodeAndContext) {
  EXPECT_EQ(describe(make_error(ec::not_found, "no such block", "zDz")),
            "not_found: no such block: zDz");
  EXPECT_EQ(describe(make_error(ec::not_found)), "not_found");
  EXPECT_EQ(describe(caf::error{}), "ok");
}

TEST(ErrorTest, AnErrorMadeFromAnothersDescriptionSaysItsCodeOnce) {
  auto inner = make_error(ec::unavailable, "connection refused");
  auto outer = make_error(ec::unavailable, describe(inner));
  EXPECT_EQ(describe(outer), "unavailable: connection refused");
  // A different code is kept: it says something.
  auto other = make_error(ec::timeout, describe(inner));
  EXPECT_EQ(describe(other), "timeout: unavailable: connection refused");
}

TEST(ErrorTest, AnotherErrorsDescriptionAfterAPrefixSaysTheSameCodeOnce) {
  auto inner = make_error(ec::storage_io, "mdb_txn_commit", "EIO");
  EXPECT_EQ(describe(make_error(ec::storage_io, "start-up store check",
                                describe(inner))),
            "storage_io: start-up store check: mdb_txn_commit: EIO");
  EXPECT_EQ(
    describe(make_error(ec::unavailable, "metrics endpoint", describe(inner))),
    "unavailable: metrics endpoint: storage_io: mdb_txn_commit: EIO");
}
