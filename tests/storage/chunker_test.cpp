// Tests of storage/chunker.hpp: block boundaries around 64 KiB, zero padding
// of the last block, the true size, feeding in arbitrary pieces, and errors
// from the sink.

#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "messages/block.hpp"
#include "messages/error.hpp"
#include "storage/chunker.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace cairn::storage;
using cairn::test::random_bytes;

namespace {

constexpr size_t block_len = default_block_size;

const size_t edge_sizes[] = {
  0, 1, block_len - 1, block_len, block_len + 1, 3 * block_len + 5};

// Feeds `data` in one call (pieces == false) or in random pieces of 0..999
// bytes; returns the emitted blocks.
std::vector<bytes> chunk(const bytes& data, bool pieces, uint64_t seed,
                         uint64_t* total = nullptr, uint64_t* count = nullptr) {
  std::vector<bytes> out;
  chunker ch{[&](bytes b) -> caf::error {
    out.push_back(std::move(b));
    return caf::none;
  }};
  if (!pieces) {
    EXPECT_OK(ch.feed(data.data(), data.size()));
  } else {
    std::mt19937_64 gen{seed};
    size_t pos = 0;
    while (pos < data.size()) {
      size_t n = std::min<size_t>(gen() % 1000, data.size() - pos);
      EXPECT_OK(ch.feed(data.data() + pos, n));
      pos += n;
    }
  }
  EXPECT_OK(ch.finish());
  if (total)
    *total = ch.total();
  if (count)
    *count = ch.blocks();
  return out;
}

void check_blocks(const bytes& data, const std::vector<bytes>& blocks,
                  uint64_t total, uint64_t count) {
  size_t expected_blocks = (data.size() + block_len - 1) / block_len;
  ASSERT_EQ(blocks.size(), expected_blocks) << data.size() << " bytes";
  EXPECT_EQ(count, expected_blocks);
  EXPECT_EQ(total, data.size());
  bytes joined;
  for (const auto& b : blocks) {
    EXPECT_EQ(b.size(), block_len);
    joined.insert(joined.end(), b.begin(), b.end());
  }
  // Zero padding after the data.
  for (size_t i = data.size(); i < joined.size(); ++i)
    ASSERT_EQ(joined[i], 0) << "padding byte " << i;
  joined.resize(total);
  EXPECT_EQ(joined, data);
}

} // namespace

TEST(ChunkerTest, EdgeSizesInOneCall) {
  for (size_t n : edge_sizes) {
    auto data = random_bytes(n, n);
    uint64_t total = 0, count = 0;
    auto blocks = chunk(data, false, 0, &total, &count);
    check_blocks(data, blocks, total, count);
  }
}

TEST(ChunkerTest, EdgeSizesInRandomPieces) {
  for (size_t n : edge_sizes) {
    for (uint64_t seed = 0; seed < 3; ++seed) {
      auto data = random_bytes(n, n + 7);
      uint64_t total = 0, count = 0;
      auto blocks = chunk(data, true, seed, &total, &count);
      check_blocks(data, blocks, total, count);
    }
  }
}

TEST(ChunkerTest, ByteByByte) {
  auto data = random_bytes(block_len + 3, 11);
  std::vector<bytes> blocks;
  chunker ch{[&](bytes b) -> caf::error {
    blocks.push_back(std::move(b));
    return caf::none;
  }};
  for (size_t i = 0; i < data.size(); ++i) {
    ASSERT_OK(ch.feed(&data[i], 1));
    EXPECT_EQ(blocks.size(), (i + 1) / block_len);
  }
  ASSERT_OK(ch.finish());
  check_blocks(data, blocks, ch.total(), ch.blocks());
}

TEST(ChunkerTest, EmptyInputEmitsNothing) {
  size_t calls = 0;
  chunker ch{[&](bytes) -> caf::error {
    ++calls;
    return caf::none;
  }};
  ASSERT_OK(ch.feed(nullptr, 0));
  ASSERT_OK(ch.finish());
  EXPECT_EQ(calls, 0u);
  EXPECT_EQ(ch.total(), 0u);
  EXPECT_EQ(ch.blocks(), 0u);
}

TEST(ChunkerTest, FullBlockIsEmittedBeforeFinish) {
  size_t calls = 0;
  chunker ch{[&](bytes) -> caf::error {
    ++calls;
    return caf::none;
  }};
  auto data = random_bytes(block_len, 12);
  ASSERT_OK(ch.feed(data.data(), data.size()));
  EXPECT_EQ(calls, 1u);
  // Nothing is left for finish: no padding-only block.
  ASSERT_OK(ch.finish());
  EXPECT_EQ(calls, 1u);
  ASSERT_OK(ch.finish());
  EXPECT_EQ(calls, 1u);
}

TEST(ChunkerTest, ZeroBytesArePaddingNotData) {
  // Data that ends in zeros: total() tells them from the padding.
  bytes data(block_len + 10, 0);
  uint64_t total = 0, count = 0;
  auto blocks = chunk(data, false, 0, &total, &count);
  check_blocks(data, blocks, total, count);
  EXPECT_EQ(total, block_len + 10);
}

TEST(ChunkerTest, BlocksHashLikeCodex) {
  // The block CID is sha256 of the full, padded 64 KiB block.
  std::string text = "some file contents";
  bytes data(text.begin(), text.end());
  auto blocks = chunk(data, false, 0);
  ASSERT_EQ(blocks.size(), 1u);
  bytes padded = data;
  padded.resize(block_len, 0);
  EXPECT_EQ(block::make(blocks[0]).id,
            cid::of(multicodec::codex_block, padded));
}

TEST(ChunkerTest, OtherBlockSizes) {
  for (uint32_t size : {1u, 7u, 4096u}) {
    auto data = random_bytes(3 * size + 1, size);
    std::vector<bytes> blocks;
    chunker ch{[&](bytes b) -> caf::error {
                 blocks.push_back(std::move(b));
                 return caf::none;
               },
               size};
    ASSERT_OK(ch.feed(data.data(), data.size()));
    ASSERT_OK(ch.finish());
    ASSERT_EQ(blocks.size(), 4u);
    for (auto& b : blocks)
      EXPECT_EQ(b.size(), size);
    EXPECT_EQ(blocks[3][0], data.back());
  }
}

TEST(ChunkerTest, SinkErrorStopsFeedingAndIsReturned) {
  // The sink fails on the second block of a 3-block feed.
  size_t calls = 0;
  chunker ch{[&](bytes) -> caf::error {
    ++calls;
    if (calls == 2)
      return make_error(ec::quota_exceeded, "test quota");
    return caf::none;
  }};
  auto data = random_bytes(3 * block_len + 5, 13);
  auto err = ch.feed(data.data(), data.size());
  EXPECT_ERR(err, ec::quota_exceeded);
  EXPECT_EQ(calls, 2u) << "the chunker kept emitting after the sink failed";
}

TEST(ChunkerTest, SinkErrorOnFirstBlockStopsAtOnce) {
  size_t calls = 0;
  chunker ch{[&](bytes) -> caf::error {
    ++calls;
    return make_error(ec::storage_io, "disk full");
  }};
  auto data = random_bytes(5 * block_len, 14);
  EXPECT_ERR(ch.feed(data.data(), data.size()), ec::storage_io);
  EXPECT_EQ(calls, 1u);
}

TEST(ChunkerTest, SinkErrorFromFinishIsReturned) {
  chunker ch{
    [&](bytes) -> caf::error { return make_error(ec::shutting_down, "bye"); }};
  auto data = random_bytes(100, 15);
  ASSERT_OK(ch.feed(data.data(), data.size()));
  EXPECT_ERR(ch.finish(), ec::shutting_down);
}

TEST(ChunkerTest, SinkErrorInPiecewiseFeed) {
  // Fed in small pieces, the piece that completes the failing block returns
  // the error.
  size_t calls = 0;
  chunker ch{[&](bytes) -> caf::error {
    ++calls;
    return make_error(ec::quota_exceeded, "test quota");
  }};
  auto data = random_bytes(2 * block_len, 16);
  caf::error first_err;
  size_t pos = 0;
  while (pos < data.size() && !first_err) {
    size_t n = std::min<size_t>(1000, data.size() - pos);
    first_err = ch.feed(data.data() + pos, n);
    pos += n;
  }
  EXPECT_ERR(first_err, ec::quota_exceeded);
  EXPECT_EQ(calls, 1u);
  EXPECT_GE(pos, block_len);
  EXPECT_LT(pos, block_len + 1000);
}
