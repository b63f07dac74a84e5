// Tests of messages/http.hpp: strict decimal numbers from URLs.

#include <cstdint>

#include <gtest/gtest.h>

#include "messages/http.hpp"

using cairn::parse_decimal;

TEST(HttpTest, ParseDecimalTakesDigitsOnly) {
  EXPECT_EQ(parse_decimal("0"), 0u);
  EXPECT_EQ(parse_decimal("42"), 42u);
  EXPECT_EQ(parse_decimal("18446744073709551615"), UINT64_MAX);
  for (auto bad : {"", "-1", "+1", " 1", "1 ", "1x", "0x10", "1.0",
                   "18446744073709551616", "99999999999999999999"})
    EXPECT_FALSE(parse_decimal(bad)) << "'" << bad << "'";
}

TEST(HttpTest, ParseDecimalHonoursItsMaximum) {
  EXPECT_EQ(parse_decimal("65535", 65535), 65535u);
  EXPECT_FALSE(parse_decimal("65536", 65535));
  EXPECT_FALSE(parse_decimal("4294967297", 65535));
}
