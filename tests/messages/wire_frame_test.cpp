// Tests of messages/wire/frame.hpp: the 4-byte length framing and the
// incremental frame_reader (split headers, many frames per feed, the 4 MiB
// limit enforced from the header alone, sticky failure).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "messages/bytes.hpp"
#include "messages/error.hpp"
#include "messages/wire/frame.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using cairn::test::random_bytes;
using wire::encode_frame;
using wire::frame_reader;
using wire::max_frame_size;

namespace {

bytes header(uint32_t n) {
  return bytes{static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
               static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
}

std::vector<bytes> drain(frame_reader& r) {
  std::vector<bytes> out;
  while (auto p = r.next())
    out.push_back(std::move(*p));
  return out;
}

} // namespace

TEST(WireFrameTest, EncodeFramePrependsBigEndianLength) {
  bytes payload{1, 2, 3};
  EXPECT_EQ(encode_frame(payload), (bytes{0, 0, 0, 3, 1, 2, 3}));
  auto big = random_bytes(0x012345, 1);
  auto frame = encode_frame(big);
  ASSERT_EQ(frame.size(), big.size() + 4);
  EXPECT_EQ(bytes(frame.begin(), frame.begin() + 4), (bytes{0, 1, 0x23, 0x45}));
  EXPECT_TRUE(std::equal(big.begin(), big.end(), frame.begin() + 4));
}

TEST(WireFrameTest, RoundTripsOneFrame) {
  frame_reader r;
  auto payload = random_bytes(1000, 2);
  EXPECT_FALSE(r.next());
  ASSERT_OK(r.feed(encode_frame(payload)));
  auto got = r.next();
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, payload);
  EXPECT_FALSE(r.next());
  EXPECT_EQ(r.buffered(), 0u);
  EXPECT_FALSE(r.failed());
}

TEST(WireFrameTest, EmptyFeedIsANoOp) {
  frame_reader r;
  ASSERT_OK(r.feed(nullptr, 0));
  EXPECT_FALSE(r.next());
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(WireFrameTest, HeaderAndBodySplitOneByteAtATime) {
  frame_reader r;
  auto p1 = random_bytes(300, 3);
  auto p2 = random_bytes(1, 4);
  auto stream = encode_frame(p1);
  auto f2 = encode_frame(p2);
  stream.insert(stream.end(), f2.begin(), f2.end());
  std::vector<bytes> got;
  for (size_t i = 0; i < stream.size(); ++i) {
    ASSERT_OK(r.feed(&stream[i], 1));
    // Nothing pops before the last byte of a frame arrives.
    auto ready = drain(r);
    if (i + 1 == p1.size() + 4 || i + 1 == stream.size())
      EXPECT_EQ(ready.size(), 1u) << "at byte " << i;
    else
      EXPECT_TRUE(ready.empty()) << "at byte " << i;
    got.insert(got.end(), ready.begin(), ready.end());
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], p1);
  EXPECT_EQ(got[1], p2);
}

TEST(WireFrameTest, ManyFramesInOneFeed) {
  frame_reader r;
  std::vector<bytes> payloads;
  bytes stream;
  for (size_t i = 0; i < 100; ++i) {
    payloads.push_back(random_bytes(1 + i * 37, 100 + i));
    auto f = encode_frame(payloads.back());
    stream.insert(stream.end(), f.begin(), f.end());
  }
  // Plus the first half of one more frame.
  auto last = random_bytes(5000, 99);
  auto f = encode_frame(last);
  stream.insert(stream.end(), f.begin(), f.begin() + 2500);
  ASSERT_OK(r.feed(stream));
  EXPECT_EQ(drain(r), payloads);
  ASSERT_OK(r.feed(f.data() + 2500, f.size() - 2500));
  auto got = drain(r);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], last);
}

TEST(WireFrameTest, LargeFramesInUnevenChunks) {
  frame_reader r;
  auto p1 = random_bytes(256 * 1024 + 7, 5);
  auto p2 = random_bytes(65536, 6);
  auto stream = encode_frame(p1);
  auto f2 = encode_frame(p2);
  stream.insert(stream.end(), f2.begin(), f2.end());
  std::vector<bytes> got;
  size_t chunk = 1;
  for (size_t off = 0; off < stream.size();) {
    auto n = std::min(chunk, stream.size() - off);
    ASSERT_OK(r.feed(stream.data() + off, n));
    off += n;
    chunk = chunk * 3 + 1; // 1, 4, 13, 40, ... spans frame boundaries
    for (auto& p : drain(r))
      got.push_back(std::move(p));
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], p1);
  EXPECT_EQ(got[1], p2);
}

TEST(WireFrameTest, ExactlyFourMiBIsAccepted) {
  frame_reader r;
  auto payload = random_bytes(max_frame_size, 7);
  auto frame = encode_frame(payload);
  // Feed in 64 KiB reads, as a socket would deliver them.
  for (size_t off = 0; off < frame.size(); off += 65536)
    ASSERT_OK(
      r.feed(frame.data() + off, std::min<size_t>(65536, frame.size() - off)));
  auto got = r.next();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), max_frame_size);
  EXPECT_EQ(*got, payload);
}

TEST(WireFrameTest, OverFourMiBIsRejectedFromTheHeaderAlone) {
  frame_reader r;
  auto h = header(max_frame_size + 1);
  // Three header bytes say nothing yet.
  ASSERT_OK(r.feed(h.data(), 3));
  // The fourth fails, before any of the body arrives.
  auto err = r.feed(h.data() + 3, 1);
  ASSERT_ERR(err, ec::protocol_error);
  EXPECT_NE(describe(err).find(
              "frame of 4194305 bytes exceeds the limit of 4194304 bytes"),
            std::string::npos)
    << describe(err);
  EXPECT_TRUE(r.failed());
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(WireFrameTest, HugeLengthIsRejected) {
  frame_reader r;
  EXPECT_ERR(r.feed(header(0xFFFFFFFF)), ec::protocol_error);
}

TEST(WireFrameTest, ZeroLengthFrameIsRejected) {
  frame_reader r;
  auto err = r.feed(header(0));
  ASSERT_ERR(err, ec::protocol_error);
  EXPECT_NE(describe(err).find("zero-length"), std::string::npos);
}

TEST(WireFrameTest, BadHeaderAfterGoodFramesInOneFeed) {
  frame_reader r;
  auto stream = encode_frame(bytes{1, 2, 3});
  auto h = header(max_frame_size + 100);
  stream.insert(stream.end(), h.begin(), h.end());
  EXPECT_ERR(r.feed(stream), ec::protocol_error);
  // The reader is unusable: even the good frame before the bad header is gone.
  EXPECT_FALSE(r.next());
}

TEST(WireFrameTest, StaysFailedAfterAnError) {
  frame_reader r;
  ASSERT_OK(r.feed(encode_frame(bytes{9})));
  ASSERT_ERR(r.feed(header(0)), ec::protocol_error);
  EXPECT_TRUE(r.failed());
  EXPECT_FALSE(r.next());
  // Valid frames no longer help.
  EXPECT_ERR(r.feed(encode_frame(bytes{1, 2, 3})), ec::protocol_error);
  EXPECT_FALSE(r.next());
  EXPECT_ERR(r.feed(nullptr, 0), ec::protocol_error);
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(WireFrameTest, BuffersOnlyWhatArrived) {
  frame_reader r;
  // A header announcing 4 MiB followed by one byte holds one byte, not 4 MiB.
  ASSERT_OK(r.feed(header(max_frame_size)));
  bytes one{42};
  ASSERT_OK(r.feed(one));
  EXPECT_EQ(r.buffered(), 5u);
  EXPECT_FALSE(r.next());
}

TEST(WireFrameTest, BufferGrowsWithWhatArrivedNotWithTheHeader) {
  frame_reader r;
  ASSERT_OK(r.feed(header(max_frame_size)));
  auto part = random_bytes(1000, 7);
  ASSERT_OK(r.feed(part));
  // One small buffer for a peer that announces 4 MiB and sends 1000 bytes.
  EXPECT_LE(r.reserved(), wire::frame_body_growth * part.size());
  for (int i = 0; i < 64; ++i) {
    ASSERT_OK(r.feed(part));
    EXPECT_LE(r.reserved(),
              wire::frame_body_growth * (part.size() * (i + 2)) + 4096);
  }
}

TEST(WireFrameTest, FrameInLargeReadsIsBufferedInOneAllocation) {
  // A 1 MiB delivery read 256 KiB at a time: the first read reserves the
  // whole frame, so its bytes are never moved to a larger buffer.
  frame_reader r;
  auto payload = random_bytes(1024 * 1024 + 300, 8);
  auto stream = encode_frame(payload);
  size_t chunk = 256 * 1024;
  ASSERT_OK(r.feed(stream.data(), chunk));
  EXPECT_EQ(r.reserved(), payload.size());
  for (size_t off = chunk; off < stream.size(); off += chunk) {
    ASSERT_OK(
      r.feed(stream.data() + off, std::min(chunk, stream.size() - off)));
    if (r.buffered() < payload.size())
      EXPECT_EQ(r.reserved(), payload.size());
  }
  auto got = drain(r);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], payload);
}
