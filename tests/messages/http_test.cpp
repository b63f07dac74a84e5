// Tests of messages/http.hpp: strict decimal numbers from URLs.

#include <cstdint>
#include <string>

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
  EXPECT_EQ(parse_decimal("5", 5), 5u);
  EXPECT_FALSE(parse_decimal("42", 0));
  EXPECT_FALSE(parse_decimal("7", 5));
}

TEST(HttpTest, PreferredMediaTypeFollowsQualityThenSpecificity) {
  using cairn::preferred_media_type;
  auto pick = [](const char* accept) {
    auto t = preferred_media_type(accept, {"application/json", "text/plain"});
    return t ? std::string{*t} : std::string{"none"};
  };
  EXPECT_EQ(pick(""), "application/json");
  EXPECT_EQ(pick("*/*"), "application/json");
  EXPECT_EQ(pick("application/json"), "application/json");
  EXPECT_EQ(pick("text/plain"), "text/plain");
  EXPECT_EQ(pick("TEXT/Plain"), "text/plain");
  EXPECT_EQ(pick("text/*"), "text/plain");
  EXPECT_EQ(pick("text/plain, application/json"), "application/json");
  EXPECT_EQ(pick("text/plain, application/json;q=0.5"), "text/plain");
  EXPECT_EQ(pick("text/plain;q=0.2, */*;q=0.9"), "application/json");
  EXPECT_EQ(pick("application/json;q=0, text/plain;q=0.1"), "text/plain");
  EXPECT_EQ(pick("text/html, */*;q=0.1"), "application/json");
  EXPECT_EQ(pick("image/png"), "none");
  EXPECT_EQ(pick("garbage"), "application/json");
  EXPECT_EQ(pick("text/plain;q=2"), "application/json");
}

TEST(HttpTest, FilenamesAreCheckedAsCodexDoes) {
  using cairn::is_valid_filename;
  for (auto good : {"a.txt", "codex.png", "notes v2.txt", "é.bin", ".hidden"})
    EXPECT_TRUE(is_valid_filename(good)) << good;
  for (auto bad : {"", ".", "..", "a/b", "../x", "a\\b", "x:y", "a*", "a?",
                   "a\"b", "<a>", "a|b", "a\tb"})
    EXPECT_FALSE(is_valid_filename(bad)) << bad;
  EXPECT_TRUE(is_valid_filename(std::string(255, 'a')));
  EXPECT_FALSE(is_valid_filename(std::string(256, 'a')));
}

TEST(HttpTest, MediaTypesFollowRfc6838) {
  using cairn::is_valid_media_type;
  for (auto good :
       {"image/png", "text/plain; charset=utf-8", "application/vnd.api+json",
        "text/plain;charset=\"a b\"", "application/x-www-form-urlencoded"})
    EXPECT_TRUE(is_valid_media_type(good)) << good;
  for (auto bad : {"", "image", "image/", "/png", "text plain", "a/b;c",
                   "image/png; charset", "te(xt/plain", "*/*x"})
    EXPECT_FALSE(is_valid_media_type(bad)) << bad;
  EXPECT_FALSE(is_valid_media_type("a/" + std::string(300, 'b')));
}

TEST(HttpTest, FilenameFromDispositionKeepsTheNameAsGiven) {
  using cairn::filename_from_disposition;
  EXPECT_EQ(filename_from_disposition("attachment; filename=\"a b.txt\""),
            "a b.txt");
  EXPECT_EQ(filename_from_disposition("attachment; filename=dir/a.txt"),
            "dir/a.txt");
  EXPECT_EQ(filename_from_disposition(
              "attachment; filename=x; filename*=UTF-8''%C3%A9.txt"),
            "\xC3\xA9.txt");
  EXPECT_FALSE(filename_from_disposition("attachment"));
}

TEST(HttpTest, BearerMatchesOnlyTheWholeSecretAfterTheScheme) {
  using cairn::bearer_matches;
  EXPECT_TRUE(bearer_matches("Bearer s3cret", "s3cret"));
  EXPECT_FALSE(bearer_matches("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(bearer_matches("Bearer s3cretX", "s3cret"));
  EXPECT_FALSE(bearer_matches("Bearer S3cret", "s3cret"));
  EXPECT_FALSE(bearer_matches("Basic  s3cret", "s3cret"));
  EXPECT_FALSE(bearer_matches("s3cret", "s3cret"));
  EXPECT_FALSE(bearer_matches("", ""));
  EXPECT_FALSE(bearer_matches("Bearer ", ""));
}
