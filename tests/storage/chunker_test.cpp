// Tests of storage/chunker.hpp: block boundaries around 64 KiB, zero padding
// of the last block, the true size, feeding in arbitrary pieces, bytes
// written in place (as an upload receives them), and errors from the sink.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "messages/block.hpp"
#include "messages/buffer_pool.hpp"
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

enum class way {
  whole,    // one feed()
  pieces,   // feed() in random pieces of 0..999 bytes
  in_place, // written into space() in random amounts across its pieces
};

// Writes `n` bytes of `data` into the chunker's space as a reader receiving
// in place would: as many as `max` pieces, the last one maybe in part.
caf::error write_in_place(chunker& ch, const uint8_t* data, size_t n,
                          size_t max) {
  std::vector<iovec> room(max);
  EXPECT_EQ(ch.space(room.data(), max), max);
  size_t done = 0;
  for (size_t i = 0; i < max && done < n; ++i) {
    size_t k = std::min(n - done, room[i].iov_len);
    std::memcpy(room[i].iov_base, data + done, k);
    done += k;
  }
  EXPECT_EQ(done, n) << "space gave less room than asked for";
  return ch.filled(done);
}

// Gives `data` to a chunker the `how` way; returns the emitted blocks.
std::vector<bytes> chunk(const bytes& data, way how, uint64_t seed,
                         uint64_t* total = nullptr, uint64_t* count = nullptr) {
  std::vector<bytes> out;
  chunker ch{[&](bytes b) -> caf::error {
    out.push_back(std::move(b));
    return caf::none;
  }};
  std::mt19937_64 gen{seed};
  size_t pos = 0;
  while (how == way::whole ? pos == 0 : pos < data.size()) {
    if (how == way::whole) {
      EXPECT_OK(ch.feed(data.data(), data.size()));
      break;
    }
    if (how == way::pieces) {
      size_t n = std::min<size_t>(gen() % 1000, data.size() - pos);
      EXPECT_OK(ch.feed(data.data() + pos, n));
      pos += n;
      continue;
    }
    // At most what `max` pieces hold: the rest of a block, then whole ones.
    size_t max = 1 + gen() % 4;
    size_t room = (block_len - ch.total() % block_len) + (max - 1) * block_len;
    size_t n = std::min<size_t>(gen() % (room + 1), data.size() - pos);
    EXPECT_OK(write_in_place(ch, data.data() + pos, n, max));
    pos += n;
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
    auto blocks = chunk(data, way::whole, 0, &total, &count);
    check_blocks(data, blocks, total, count);
  }
}

// Every edge size, given `how`, with `seeds` seeds of the random pieces.
void check_edge_sizes(way how, uint64_t seeds) {
  for (size_t n : edge_sizes) {
    for (uint64_t seed = 0; seed < seeds; ++seed) {
      SCOPED_TRACE(std::to_string(n) + " bytes, seed " + std::to_string(seed));
      auto data = random_bytes(n, n + 7);
      uint64_t total = 0, count = 0;
      auto blocks = chunk(data, how, seed, &total, &count);
      check_blocks(data, blocks, total, count);
    }
  }
}

TEST(ChunkerTest, EdgeSizesInRandomPieces) {
  check_edge_sizes(way::pieces, 3);
}

TEST(ChunkerTest, EdgeSizesWrittenInPlace) {
  check_edge_sizes(way::in_place, 5);
}

TEST(ChunkerTest, CopiesAndInPlaceWritesMix) {
  // An upload's first piece is copied from httplib's buffer, the rest is
  // received in place: the blocks come out in order either way.
  auto data = random_bytes(5 * block_len + 333, 17);
  std::vector<bytes> blocks;
  chunker ch{[&](bytes b) -> caf::error {
    blocks.push_back(std::move(b));
    return caf::none;
  }};
  size_t pos = 0;
  for (size_t step = 0; pos < data.size(); ++step) {
    size_t n =
      std::min<size_t>(step % 2 ? 40000 : 3 * block_len / 2, data.size() - pos);
    if (step % 2)
      ASSERT_OK(ch.feed(data.data() + pos, n));
    else
      ASSERT_OK(write_in_place(ch, data.data() + pos, n, 3));
    pos += n;
  }
  ASSERT_OK(ch.finish());
  check_blocks(data, blocks, ch.total(), ch.blocks());
}

TEST(ChunkerTest, SpaceWithoutWritesEmitsNothing) {
  // Room asked for and not used (the client went): no block, no bytes.
  size_t calls = 0;
  {
    chunker ch{[&](bytes) -> caf::error {
      ++calls;
      return caf::none;
    }};
    iovec room[4];
    ASSERT_EQ(ch.space(room, 4), 4u);
    EXPECT_EQ(room[0].iov_len, block_len);
    ASSERT_OK(ch.filled(0));
    ASSERT_OK(ch.finish());
    EXPECT_EQ(ch.total(), 0u);
    EXPECT_EQ(ch.space(room, 0), 0u);
  }
  EXPECT_EQ(calls, 0u);
}

TEST(ChunkerTest, BlocksAreBuffersOfThePool) {
  // Emitted blocks are the pool's buffers, so an upload's come back to it
  // once stored, and the room given but not used goes back with the chunker.
  auto& pool = buffer_pool::blocks();
  // Eight buffers taken (from the idle ones first), eight given back.
  auto all = std::max<size_t>(pool.kept(), 8);
  auto data = random_bytes(3 * block_len, 18);
  std::vector<shared_bytes> held;
  {
    chunker ch{[&](bytes b) -> caf::error {
      EXPECT_EQ(b.capacity(), block_len);
      held.push_back(pool.share(std::move(b)));
      return caf::none;
    }};
    ASSERT_OK(write_in_place(ch, data.data(), data.size(), 8));
    ASSERT_EQ(held.size(), 3u);
  }
  EXPECT_EQ(pool.kept(), all - 3) << "the 5 unused went back to the pool";
  held.clear();
  EXPECT_EQ(pool.kept(), all) << "stored blocks go back to the pool";
}

TEST(ChunkerTest, PaddingOverwritesWhatAReusedBufferHeld) {
  // The pool hands out buffers that held other blocks: the last block's
  // padding is zeros all the same, whichever way its bytes came.
  auto& pool = buffer_pool::blocks();
  {
    std::vector<shared_bytes> dirty;
    for (int i = 0; i < 8; ++i) {
      auto b = pool.take(block_len);
      std::fill(b.begin(), b.end(), uint8_t{0xa5});
      dirty.push_back(pool.share(std::move(b)));
    }
  }
  ASSERT_GE(pool.kept(), 8u);
  auto data = random_bytes(block_len + 100, 19);
  for (auto how : {way::whole, way::pieces, way::in_place}) {
    uint64_t total = 0, count = 0;
    auto blocks = chunk(data, how, 3, &total, &count);
    check_blocks(data, blocks, total, count);
    for (auto& b : blocks)
      pool.share(std::move(b)); // dirty again for the next way
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
  auto blocks = chunk(data, way::whole, 0, &total, &count);
  check_blocks(data, blocks, total, count);
  EXPECT_EQ(total, block_len + 10);
}

TEST(ChunkerTest, BlocksHashLikeCodex) {
  // The block CID is sha256 of the full, padded 64 KiB block.
  std::string text = "some file contents";
  bytes data(text.begin(), text.end());
  auto blocks = chunk(data, way::whole, 0);
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
    ASSERT_OK(ch.feed(data.data(), data.size() / 2));
    ASSERT_OK(write_in_place(ch, data.data() + data.size() / 2,
                             data.size() - data.size() / 2, 3));
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
