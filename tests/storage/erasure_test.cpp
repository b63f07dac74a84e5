// Tests of storage/erasure.hpp: Codex's stepped layout (README "Data model and
// store") on concrete numbers, the Reed–Solomon codec against an independent
// GF(2^8) reference, every loss pattern of small codes, protected datasets that
// are not a multiple of K blocks, both backends in lockstep (byte-identical
// parity, cross decoding), extreme shapes (k + m = 256), misaligned buffers
// and concurrent use of one codec.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "messages/block.hpp"
#include "messages/error.hpp"
#include "storage/chunker.hpp"
#include "storage/erasure.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace cairn::storage;
using cairn::test::random_bytes;

namespace {

constexpr ec_backend backends[] = {ec_backend::jerasure, ec_backend::isal};

// Filler for buffers that a decode must overwrite.
constexpr uint8_t garbage = 0xA5;

std::shared_ptr<const erasure_codec> must_get(uint32_t k, uint32_t m,
                                              ec_backend b) {
  auto codec = erasure_codec::get(k, m, b);
  if (!codec)
    throw std::runtime_error(describe(codec.error()));
  return *codec;
}

ec_layout must_layout(uint64_t blocks, uint32_t k, uint32_t m) {
  auto l = ec_layout::make(blocks, k, m);
  if (!l)
    throw std::runtime_error(describe(l.error()));
  return *l;
}

std::string name(uint32_t k, uint32_t m, ec_backend b) {
  return std::to_string(k) + "+" + std::to_string(m) + " " + to_string(b);
}

// -- an independent GF(2^8) reference (polynomial 0x11d, as both libraries) --

uint8_t ref_mul(uint8_t a, uint8_t b) {
  uint8_t p = 0;
  while (b != 0) {
    if (b & 1)
      p ^= a;
    bool carry = a & 0x80;
    a <<= 1;
    if (carry)
      a ^= 0x1d;
    b >>= 1;
  }
  return p;
}

// Parity row `j` of `codec` applied to `data`, byte by byte.
bytes ref_parity(const erasure_codec& codec, const std::vector<bytes>& data,
                 uint32_t j) {
  bytes out(data[0].size(), 0);
  const uint8_t* row = &codec.coding_matrix()[size_t{j} * codec.k()];
  for (uint32_t i = 0; i < codec.k(); ++i)
    for (size_t x = 0; x < out.size(); ++x)
      out[x] ^= ref_mul(row[i], data[i][x]);
  return out;
}

// -- one step: k data + m parity shards
// ----------------------------------------

// The k + m shards of one step, data random (from `seed`), parity encoded.
std::vector<bytes> make_step(const erasure_codec& codec, size_t len,
                             uint64_t seed) {
  std::vector<bytes> shards;
  for (uint32_t i = 0; i < codec.k(); ++i)
    shards.push_back(random_bytes(len, seed * 1000 + i));
  for (uint32_t j = 0; j < codec.m(); ++j)
    shards.emplace_back(len, garbage);
  std::vector<const uint8_t*> data;
  std::vector<uint8_t*> parity;
  for (uint32_t i = 0; i < codec.k(); ++i)
    data.push_back(shards[i].data());
  for (uint32_t j = 0; j < codec.m(); ++j)
    parity.push_back(shards[codec.k() + j].data());
  auto err = codec.encode(data, parity, len);
  if (err)
    throw std::runtime_error(describe(err));
  return shards;
}

std::vector<uint8_t*> ptrs(std::vector<bytes>& shards) {
  std::vector<uint8_t*> out;
  for (auto& s : shards)
    out.push_back(s.data());
  return out;
}

// Copies `step`, overwrites the shards in `lost` with garbage, decodes.
// Returns the error of decode; `out` receives the shards afterwards.
caf::error lose_and_decode(const erasure_codec& codec,
                           const std::vector<bytes>& step,
                           const std::vector<uint32_t>& lost,
                           std::vector<bytes>& out) {
  out = step;
  std::vector<bool> present(step.size(), true);
  for (auto i : lost) {
    present[i] = false;
    std::fill(out[i].begin(), out[i].end(), garbage);
  }
  return codec.decode(ptrs(out), present, step[0].size());
}

// Every subset of {0..n-1} with 1..max_size elements.
std::vector<std::vector<uint32_t>> subsets(uint32_t n, uint32_t max_size) {
  std::vector<std::vector<uint32_t>> out;
  for (uint64_t mask = 1; mask < (uint64_t{1} << n); ++mask) {
    std::vector<uint32_t> s;
    for (uint32_t i = 0; i < n; ++i)
      if (mask & (uint64_t{1} << i))
        s.push_back(i);
    if (s.size() <= max_size)
      out.push_back(std::move(s));
  }
  return out;
}

// `count` distinct shards of `0..n-1`, reproducible from `gen`.
std::vector<uint32_t> random_loss(uint32_t n, uint32_t count,
                                  std::mt19937_64& gen) {
  std::vector<uint32_t> all(n);
  for (uint32_t i = 0; i < n; ++i)
    all[i] = i;
  std::shuffle(all.begin(), all.end(), gen);
  all.resize(count);
  std::sort(all.begin(), all.end());
  return all;
}

std::string show(const std::vector<uint32_t>& lost) {
  std::string out = "lost {";
  for (auto i : lost)
    out += " " + std::to_string(i);
  return out + " }";
}

// -- a protected dataset, as an uploader builds it
// -----------------------------

// The leaves of a protected dataset (data, zero padding, parity) built from
// `content` cut into `block_size` blocks by the chunker.
std::vector<bytes> protect(const bytes& content, uint32_t block_size,
                           const erasure_codec& codec, ec_layout& layout) {
  std::vector<bytes> leaves;
  chunker ch{[&](bytes b) -> caf::error {
               leaves.push_back(std::move(b));
               return caf::none;
             },
             block_size};
  if (auto err = ch.feed(content.data(), content.size()))
    throw std::runtime_error(describe(err));
  if (auto err = ch.finish())
    throw std::runtime_error(describe(err));
  layout = must_layout(leaves.size(), codec.k(), codec.m());
  leaves.resize(layout.total(), bytes(block_size, 0));
  for (uint64_t s = 0; s < layout.steps; ++s) {
    std::vector<const uint8_t*> data;
    std::vector<uint8_t*> parity;
    for (uint32_t i = 0; i < codec.k(); ++i)
      data.push_back(leaves[layout.index_of(s, i)].data());
    for (uint32_t j = 0; j < codec.m(); ++j)
      parity.push_back(leaves[layout.index_of(s, codec.k() + j)].data());
    if (auto err = codec.encode(data, parity, block_size))
      throw std::runtime_error(describe(err));
  }
  return leaves;
}

} // namespace

// -- layout -------------------------------------------------------------------

TEST(ErasureLayoutTest, FormulasOnConcreteNumbers) {
  auto l = ec_layout::make(10, 4, 2);
  ASSERT_OK(l);
  EXPECT_EQ(l->blocks, 10u);
  EXPECT_EQ(l->k, 4u);
  EXPECT_EQ(l->m, 2u);
  EXPECT_EQ(l->rounded, 12u);
  EXPECT_EQ(l->steps, 3u);
  EXPECT_EQ(l->total(), 18u);
  // Step 1: data 1, 4, 7, 10 (10 is padding), parity 13 and 16.
  EXPECT_EQ(l->index_of(1, 0), 1u);
  EXPECT_EQ(l->index_of(1, 1), 4u);
  EXPECT_EQ(l->index_of(1, 2), 7u);
  EXPECT_EQ(l->index_of(1, 3), 10u);
  EXPECT_EQ(l->index_of(1, 4), 13u);
  EXPECT_EQ(l->index_of(1, 5), 16u);
  EXPECT_EQ(l->index_of(0, 4), 12u);
  EXPECT_EQ(l->index_of(2, 5), 17u);
  EXPECT_EQ(l->step_of(13), 1u);
  EXPECT_EQ(l->shard_of(13), 4u);
  EXPECT_EQ(l->step_of(16), 1u);
  EXPECT_EQ(l->shard_of(16), 5u);
  EXPECT_EQ(l->step_of(7), 1u);
  EXPECT_EQ(l->shard_of(7), 2u);
  EXPECT_FALSE(l->is_parity(11));
  EXPECT_TRUE(l->is_parity(12));
  EXPECT_TRUE(l->is_parity(17));
  EXPECT_FALSE(l->is_padding(9));
  EXPECT_TRUE(l->is_padding(10));
  EXPECT_TRUE(l->is_padding(11));
  EXPECT_FALSE(l->is_padding(12));
}

TEST(ErasureLayoutTest, ExactMultipleNeedsNoPadding) {
  auto l = ec_layout::make(8, 4, 1);
  ASSERT_OK(l);
  EXPECT_EQ(l->rounded, 8u);
  EXPECT_EQ(l->steps, 2u);
  EXPECT_EQ(l->total(), 10u);
  // One block, many shards: one step, k - 1 padding blocks.
  auto one = ec_layout::make(1, 10, 4);
  ASSERT_OK(one);
  EXPECT_EQ(one->rounded, 10u);
  EXPECT_EQ(one->steps, 1u);
  EXPECT_EQ(one->total(), 14u);
  EXPECT_EQ(one->index_of(0, 10), 10u);
  EXPECT_EQ(one->index_of(0, 13), 13u);
}

TEST(ErasureLayoutTest, IndexStepShardRoundTripForEveryIndex) {
  for (auto [blocks, k, m] :
       std::vector<std::tuple<uint64_t, uint32_t, uint32_t>>{{1, 1, 1},
                                                             {10, 4, 2},
                                                             {7, 3, 5},
                                                             {100, 10, 4},
                                                             {33, 16, 16},
                                                             {1000, 255, 1},
                                                             {300, 128, 128}}) {
    auto l = must_layout(blocks, k, m);
    SCOPED_TRACE(std::to_string(blocks) + " blocks " + std::to_string(k) + "+" +
                 std::to_string(m));
    ASSERT_EQ(l.rounded % k, 0u);
    ASSERT_GE(l.rounded, blocks);
    ASSERT_LT(l.rounded - blocks, k);
    std::vector<int> seen(l.total(), 0);
    for (uint64_t i = 0; i < l.total(); ++i) {
      auto s = l.step_of(i);
      auto sh = l.shard_of(i);
      ASSERT_LT(s, l.steps) << i;
      ASSERT_LT(sh, k + m) << i;
      ASSERT_EQ(l.is_parity(i), sh >= k) << i;
      ASSERT_EQ(l.index_of(s, sh), i) << i;
    }
    for (uint64_t s = 0; s < l.steps; ++s)
      for (uint32_t sh = 0; sh < k + m; ++sh) {
        auto i = l.index_of(s, sh);
        ASSERT_LT(i, l.total());
        ++seen[i];
        // Data of step s sits at s, s + steps, ... (README "Data model and
        // store").
        if (sh < k)
          ASSERT_EQ(i, s + sh * l.steps);
        else
          ASSERT_EQ(i, l.rounded + s + (sh - k) * l.steps);
      }
    EXPECT_TRUE(
      std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
  }
}

TEST(ErasureLayoutTest, InvalidInputsAreRejected) {
  EXPECT_ERR(ec_layout::make(0, 4, 2), ec::invalid_argument);
  EXPECT_ERR(ec_layout::make(10, 0, 2), ec::invalid_argument);
  EXPECT_ERR(ec_layout::make(10, 4, 0), ec::invalid_argument);
  EXPECT_ERR(ec_layout::make(10, 256, 1), ec::invalid_argument);
  EXPECT_ERR(ec_layout::make(10, 1, 256), ec::invalid_argument);
  EXPECT_ERR(ec_layout::make(10, 200, 57), ec::invalid_argument);
  EXPECT_ERR(ec_layout::make(10, std::numeric_limits<uint32_t>::max(), 1),
             ec::invalid_argument);
  EXPECT_ERR(ec_layout::make(10, 1, std::numeric_limits<uint32_t>::max()),
             ec::invalid_argument);
  constexpr auto max = std::numeric_limits<uint64_t>::max();
  // total() would overflow.
  EXPECT_ERR(ec_layout::make(max, 1, 1), ec::invalid_argument);
  EXPECT_ERR(ec_layout::make(max / 2 + 1, 1, 1), ec::invalid_argument);
  EXPECT_OK(ec_layout::make(max / 2, 1, 1));
}

TEST(ErasureLayoutTest, AtMost256ShardsPerStep) {
  EXPECT_OK(ec_layout::make(10, 255, 1));
  EXPECT_OK(ec_layout::make(10, 1, 255));
  EXPECT_OK(ec_layout::make(10, 128, 128));
  EXPECT_ERR(ec_layout::make(10, 128, 129), ec::invalid_argument);
  EXPECT_ERR(ec_layout::make(10, 255, 2), ec::invalid_argument);
}

// -- backends -----------------------------------------------------------------

TEST(ErasureBackendTest, ParseAndPrint) {
  for (auto b : backends) {
    auto parsed = parse_ec_backend(to_string(b));
    ASSERT_OK(parsed);
    EXPECT_EQ(*parsed, b);
  }
  EXPECT_STREQ(to_string(ec_backend::jerasure), "jerasure");
  EXPECT_STREQ(to_string(ec_backend::isal), "isal");
  for (std::string bad : {"", "ISAL", "Jerasure", "leopard", "isal "})
    EXPECT_ERR(parse_ec_backend(bad), ec::invalid_argument) << bad;
}

// -- codec: parameters --------------------------------------------------------

TEST(ErasureCodecTest, GetRejectsBadParameters) {
  for (auto b : backends) {
    EXPECT_ERR(erasure_codec::get(0, 1, b), ec::invalid_argument);
    EXPECT_ERR(erasure_codec::get(1, 0, b), ec::invalid_argument);
    EXPECT_ERR(erasure_codec::get(256, 1, b), ec::invalid_argument);
    EXPECT_ERR(erasure_codec::get(255, 2, b), ec::invalid_argument);
    EXPECT_ERR(erasure_codec::get(128, 129, b), ec::invalid_argument);
    EXPECT_ERR(erasure_codec::get(std::numeric_limits<uint32_t>::max(), 1, b),
               ec::invalid_argument);
  }
}

TEST(ErasureCodecTest, GetReturnsTheCachedInstance) {
  auto a = erasure_codec::get(4, 2);
  auto b = erasure_codec::get(4, 2, ec_backend::jerasure);
  auto c = erasure_codec::get(4, 2, ec_backend::isal);
  auto d = erasure_codec::get(4, 3);
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_OK(c);
  ASSERT_OK(d);
  EXPECT_EQ(a->get(), b->get());
  EXPECT_NE(a->get(), c->get());
  EXPECT_NE(a->get(), d->get());
  EXPECT_EQ(c->get(), must_get(4, 2, ec_backend::isal).get());
  EXPECT_EQ((*a)->k(), 4u);
  EXPECT_EQ((*a)->m(), 2u);
  EXPECT_EQ((*a)->backend(), ec_backend::jerasure);
  EXPECT_EQ((*c)->backend(), ec_backend::isal);
  // Concurrent first calls agree on one instance.
  std::vector<const erasure_codec*> got(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t)
    threads.emplace_back(
      [&, t] { got[t] = must_get(23, 7, ec_backend::isal).get(); });
  for (auto& th : threads)
    th.join();
  for (auto p : got)
    EXPECT_EQ(p, got[0]);
}

TEST(ErasureCodecTest, CodingMatrixIsJerasureVandermonde) {
  // Pinned: the parity bytes (and so every protected treeCid) depend on it.
  auto codec = must_get(4, 2, ec_backend::jerasure);
  EXPECT_EQ(codec->coding_matrix(),
            (std::vector<uint8_t>{1, 1, 1, 1, 1, 70, 143, 200}));
  for (auto [k, m] : std::vector<std::pair<uint32_t, uint32_t>>{
         {1, 1}, {10, 4}, {3, 5}, {16, 16}, {255, 1}, {1, 255}}) {
    auto j = must_get(k, m, ec_backend::jerasure);
    auto i = must_get(k, m, ec_backend::isal);
    ASSERT_EQ(j->coding_matrix().size(), size_t{k} * m);
    EXPECT_EQ(j->coding_matrix(), i->coding_matrix());
    // Jerasure's Vandermonde: first parity row and first column all ones.
    for (uint32_t c = 0; c < k; ++c)
      EXPECT_EQ(j->coding_matrix()[c], 1) << k << "+" << m;
    for (uint32_t r = 0; r < m; ++r)
      EXPECT_EQ(j->coding_matrix()[size_t{r} * k], 1) << k << "+" << m;
  }
}

TEST(ErasureCodecTest, EncodeRejectsBadArguments) {
  for (auto b : backends) {
    auto codec = must_get(4, 2, b);
    std::vector<bytes> bufs(6, bytes(64, garbage));
    auto p = ptrs(bufs);
    std::vector<const uint8_t*> data(p.begin(), p.begin() + 4);
    std::vector<uint8_t*> parity(p.begin() + 4, p.end());
    EXPECT_ERR(codec->encode({data.begin(), data.end() - 1}, parity, 64),
               ec::invalid_argument);
    EXPECT_ERR(codec->encode(data, {parity.begin(), parity.end() - 1}, 64),
               ec::invalid_argument);
    EXPECT_ERR(codec->encode(data, {parity[0], parity[1], parity[1]}, 64),
               ec::invalid_argument);
    EXPECT_ERR(codec->encode(data, parity, 0), ec::invalid_argument);
    EXPECT_ERR(codec->encode(data, parity, 12), ec::invalid_argument);
    EXPECT_ERR(codec->encode(data, parity, 63), ec::invalid_argument);
    EXPECT_ERR(codec->encode(data, parity, size_t{1} << 31),
               ec::invalid_argument);
    auto with_null = data;
    with_null[2] = nullptr;
    EXPECT_ERR(codec->encode(with_null, parity, 64), ec::invalid_argument);
    EXPECT_ERR(codec->encode(data, {parity[0], nullptr}, 64),
               ec::invalid_argument);
    // Nothing was written.
    for (auto& buf : bufs)
      EXPECT_TRUE(std::all_of(buf.begin(), buf.end(),
                              [](uint8_t x) { return x == garbage; }));
    EXPECT_OK(codec->encode(data, parity, 64));
    EXPECT_OK(codec->encode(data, parity, 8));
  }
}

TEST(ErasureCodecTest, DecodeRejectsBadArguments) {
  for (auto b : backends) {
    auto codec = must_get(4, 2, b);
    auto step = make_step(*codec, 64, 1);
    auto p = ptrs(step);
    std::vector<bool> present(6, true);
    present[0] = false;
    EXPECT_ERR(codec->decode({p.begin(), p.end() - 1}, present, 64),
               ec::invalid_argument);
    EXPECT_ERR(codec->decode(p, {true, false, true, true, true}, 64),
               ec::invalid_argument);
    EXPECT_ERR(codec->decode(p, present, 0), ec::invalid_argument);
    EXPECT_ERR(codec->decode(p, present, 20), ec::invalid_argument);
    auto with_null = p;
    with_null[0] = nullptr;
    EXPECT_ERR(codec->decode(with_null, present, 64), ec::invalid_argument);
    EXPECT_OK(codec->decode(p, present, 64));
  }
}

// -- codec: arithmetic --------------------------------------------------------

TEST(ErasureCodecTest, ParityMatchesReferenceArithmetic) {
  for (auto b : backends)
    for (auto [k, m] : std::vector<std::pair<uint32_t, uint32_t>>{
           {1, 1}, {2, 1}, {4, 2}, {10, 4}, {3, 5}, {16, 16}}) {
      auto codec = must_get(k, m, b);
      SCOPED_TRACE(name(k, m, b));
      auto step = make_step(*codec, 136, k * 31 + m);
      std::vector<bytes> data(step.begin(), step.begin() + k);
      for (uint32_t j = 0; j < m; ++j)
        EXPECT_EQ(step[k + j], ref_parity(*codec, data, j)) << "parity " << j;
    }
}

TEST(ErasureCodecTest, ParityIsIdenticalAcrossBackends) {
  for (auto [k, m] : std::vector<std::pair<uint32_t, uint32_t>>{{1, 1},
                                                                {2, 1},
                                                                {4, 2},
                                                                {10, 4},
                                                                {3, 5},
                                                                {16, 16},
                                                                {6, 3},
                                                                {255, 1},
                                                                {1, 255},
                                                                {128, 128}}) {
    SCOPED_TRACE(std::to_string(k) + "+" + std::to_string(m));
    auto j = must_get(k, m, ec_backend::jerasure);
    auto i = must_get(k, m, ec_backend::isal);
    for (size_t len : {size_t{8}, size_t{40}, size_t{4096}}) {
      if (k + m > 64 && len > 64)
        continue; // keep the extreme shapes quick
      auto seed = k * 1000 + m * 10 + len;
      EXPECT_EQ(make_step(*j, len, seed), make_step(*i, len, seed))
        << len << " bytes";
    }
  }
}

TEST(ErasureCodecTest, BackendsDecodeEachOthersParity) {
  std::mt19937_64 gen{7};
  for (auto [k, m] : std::vector<std::pair<uint32_t, uint32_t>>{
         {4, 2}, {10, 4}, {3, 5}, {16, 16}}) {
    auto j = must_get(k, m, ec_backend::jerasure);
    auto i = must_get(k, m, ec_backend::isal);
    auto step = make_step(*j, 1024, k + m);
    for (int round = 0; round < 20; ++round) {
      auto lost = random_loss(k + m, 1 + round % m, gen);
      SCOPED_TRACE(std::to_string(k) + "+" + std::to_string(m) + " " +
                   show(lost));
      std::vector<bytes> by_j, by_i;
      ASSERT_OK(lose_and_decode(*j, step, lost, by_j));
      ASSERT_OK(lose_and_decode(*i, step, lost, by_i));
      EXPECT_EQ(by_j, step);
      EXPECT_EQ(by_i, step);
    }
  }
}

// -- codec: loss patterns -----------------------------------------------------

TEST(ErasureCodecTest, EveryPatternOfUpToMLossesDecodes) {
  for (auto b : backends)
    for (auto [k, m] : std::vector<std::pair<uint32_t, uint32_t>>{
           {1, 1}, {2, 1}, {4, 2}, {3, 3}, {5, 3}, {2, 6}, {6, 4}}) {
      auto codec = must_get(k, m, b);
      auto step = make_step(*codec, 256, k * 7 + m);
      size_t patterns = 0;
      for (auto& lost : subsets(k + m, m)) {
        std::vector<bytes> out;
        ASSERT_OK(lose_and_decode(*codec, step, lost, out))
          << name(k, m, b) << " " << show(lost);
        ASSERT_EQ(out, step) << name(k, m, b) << " " << show(lost);
        ++patterns;
      }
      EXPECT_GT(patterns, 0u);
    }
}

TEST(ErasureCodecTest, NoLossIsANoOp) {
  for (auto b : backends) {
    auto codec = must_get(4, 2, b);
    auto step = make_step(*codec, 64, 3);
    std::vector<bytes> out;
    ASSERT_OK(lose_and_decode(*codec, step, {}, out));
    EXPECT_EQ(out, step);
  }
}

TEST(ErasureCodecTest, SampledLossPatternsOfLargerCodesDecode) {
  std::mt19937_64 gen{42};
  for (auto b : backends)
    for (auto [k, m] : std::vector<std::pair<uint32_t, uint32_t>>{
           {10, 4}, {16, 16}, {20, 10}, {64, 8}}) {
      auto codec = must_get(k, m, b);
      auto step = make_step(*codec, 512, k * 3 + m);
      for (int round = 0; round < 60; ++round) {
        // Mostly exactly m losses; sometimes fewer; sometimes only parity.
        uint32_t count = round % 4 == 0 ? 1 + round % m : m;
        auto lost = random_loss(k + m, count, gen);
        if (round % 10 == 1)
          for (uint32_t x = 0; x < count; ++x)
            lost[x] = k + x;
        std::vector<bytes> out;
        ASSERT_OK(lose_and_decode(*codec, step, lost, out))
          << name(k, m, b) << " " << show(lost);
        ASSERT_EQ(out, step) << name(k, m, b) << " " << show(lost);
      }
    }
}

TEST(ErasureCodecTest, ExtremeShapesWork) {
  std::mt19937_64 gen{9};
  for (auto b : backends)
    for (auto [k, m] : std::vector<std::pair<uint32_t, uint32_t>>{
           {1, 1}, {255, 1}, {1, 255}, {128, 128}, {200, 56}}) {
      auto codec = must_get(k, m, b);
      auto step = make_step(*codec, 16, k + m);
      std::vector<std::vector<uint32_t>> patterns;
      patterns.push_back(random_loss(k + m, m, gen));
      patterns.push_back(random_loss(k + m, 1, gen));
      std::vector<uint32_t> first_m(m), last_m(m);
      for (uint32_t x = 0; x < m; ++x) {
        first_m[x] = x;
        last_m[x] = k + x;
      }
      patterns.push_back(first_m); // as many data shards as possible
      patterns.push_back(last_m);  // parity only
      for (auto& lost : patterns) {
        std::vector<bytes> out;
        ASSERT_OK(lose_and_decode(*codec, step, lost, out))
          << name(k, m, b) << " " << show(lost);
        ASSERT_EQ(out, step) << name(k, m, b) << " " << show(lost);
      }
    }
  // k = 1: every parity shard is a copy of the data.
  auto one = must_get(1, 3, ec_backend::jerasure);
  auto step = make_step(*one, 32, 5);
  for (uint32_t j = 1; j < 4; ++j)
    EXPECT_EQ(step[j], step[0]);
}

TEST(ErasureCodecTest, TooManyLossesFailWithNotFoundAndWriteNothing) {
  std::mt19937_64 gen{11};
  for (auto b : backends)
    for (auto [k, m] : std::vector<std::pair<uint32_t, uint32_t>>{
           {1, 1}, {4, 2}, {3, 3}, {10, 4}}) {
      auto codec = must_get(k, m, b);
      auto step = make_step(*codec, 64, k + m);
      for (uint32_t extra = 1; extra <= k; ++extra) {
        auto lost = random_loss(k + m, m + extra, gen);
        std::vector<bytes> out;
        auto err = lose_and_decode(*codec, step, lost, out);
        ASSERT_ERR(err, ec::not_found) << name(k, m, b) << " " << show(lost);
        auto have = std::to_string(k - extra);
        EXPECT_NE(describe(err).find("step has only " + have + " of " +
                                     std::to_string(k) + " shards"),
                  std::string::npos)
          << describe(err);
        // Lost shards still hold the filler, present ones their content.
        for (uint32_t i = 0; i < k + m; ++i) {
          bool is_lost = std::find(lost.begin(), lost.end(), i) != lost.end();
          if (is_lost)
            EXPECT_EQ(out[i], bytes(64, garbage)) << i;
          else
            EXPECT_EQ(out[i], step[i]) << i;
        }
      }
    }
}

TEST(ErasureCodecTest, MisalignedBuffersWork) {
  // gf-complete (under Jerasure) aborts when source and destination differ
  // in alignment modulo 16; the codec must cope with any address.
  for (auto b : backends) {
    auto codec = must_get(4, 2, b);
    const size_t len = 1024;
    auto step = make_step(*codec, len, 77);
    const size_t offsets[] = {1, 8, 0, 3, 13, 4};
    std::vector<bytes> arena(6, bytes(len + 16, 0));
    std::vector<uint8_t*> p;
    for (size_t i = 0; i < 6; ++i) {
      p.push_back(arena[i].data() + offsets[i]);
      std::memcpy(p[i], step[i].data(), len);
    }
    std::vector<const uint8_t*> data(p.begin(), p.begin() + 4);
    std::vector<uint8_t*> parity(p.begin() + 4, p.end());
    std::memset(p[4], 0, len);
    std::memset(p[5], 0, len);
    ASSERT_OK(codec->encode(data, parity, len)) << to_string(b);
    EXPECT_EQ(0, std::memcmp(p[4], step[4].data(), len)) << to_string(b);
    EXPECT_EQ(0, std::memcmp(p[5], step[5].data(), len)) << to_string(b);
    std::vector<bool> present{false, true, false, true, true, true};
    std::memset(p[0], garbage, len);
    std::memset(p[2], garbage, len);
    ASSERT_OK(codec->decode(p, present, len)) << to_string(b);
    for (size_t i = 0; i < 6; ++i)
      EXPECT_EQ(0, std::memcmp(p[i], step[i].data(), len))
        << to_string(b) << " shard " << i;
  }
}

// -- protected datasets -------------------------------------------------------

TEST(ErasureCodecTest, ProtectedDatasetsSurviveMLossesPerStep) {
  constexpr uint32_t block_size = 4096;
  std::mt19937_64 gen{5};
  for (auto b : backends)
    for (auto [k, m] : std::vector<std::pair<uint32_t, uint32_t>>{
           {1, 1}, {2, 1}, {4, 2}, {10, 4}, {3, 5}, {16, 16}}) {
      SCOPED_TRACE(name(k, m, b));
      auto codec = must_get(k, m, b);
      // 2k full blocks and a partial one: neither a multiple of k blocks
      // (for k > 1) nor of the block size.
      auto content = random_bytes(size_t{2} * k * block_size + 1001, k + m);
      ec_layout layout;
      auto leaves = protect(content, block_size, *codec, layout);
      ASSERT_EQ(layout.blocks, 2u * k + 1);
      ASSERT_EQ(leaves.size(), layout.total());
      for (uint64_t i = layout.blocks; i < layout.rounded; ++i)
        ASSERT_EQ(leaves[i], bytes(block_size, 0)) << "padding " << i;
      // Lose m shards in every step at once, then decode every step.
      auto damaged = leaves;
      std::vector<std::vector<bool>> present(layout.steps);
      for (uint64_t s = 0; s < layout.steps; ++s) {
        present[s].assign(k + m, true);
        for (auto sh : random_loss(k + m, m, gen)) {
          present[s][sh] = false;
          auto& leaf = damaged[layout.index_of(s, sh)];
          std::fill(leaf.begin(), leaf.end(), garbage);
        }
      }
      for (uint64_t s = 0; s < layout.steps; ++s) {
        std::vector<uint8_t*> shards;
        for (uint32_t sh = 0; sh < k + m; ++sh)
          shards.push_back(damaged[layout.index_of(s, sh)].data());
        ASSERT_OK(codec->decode(shards, present[s], block_size)) << s;
      }
      ASSERT_EQ(damaged, leaves);
      // The original bytes come back from the data leaves.
      bytes restored;
      for (uint64_t i = 0; i < layout.blocks; ++i)
        restored.insert(restored.end(), damaged[i].begin(), damaged[i].end());
      restored.resize(content.size());
      EXPECT_EQ(restored, content);
    }
}

TEST(ErasureCodecTest, DefaultBlockSizeDataset) {
  // Real 64 KiB blocks, 10+4, losing the first four data blocks of each step.
  for (auto b : backends) {
    auto codec = must_get(10, 4, b);
    auto content = random_bytes(23 * size_t{default_block_size} + 5, 3);
    ec_layout layout;
    auto leaves = protect(content, default_block_size, *codec, layout);
    ASSERT_EQ(layout.blocks, 24u);
    ASSERT_EQ(layout.rounded, 30u);
    ASSERT_EQ(layout.steps, 3u);
    ASSERT_EQ(layout.total(), 42u);
    for (uint64_t s = 0; s < layout.steps; ++s) {
      std::vector<bytes> step, out;
      for (uint32_t sh = 0; sh < 14; ++sh)
        step.push_back(leaves[layout.index_of(s, sh)]);
      ASSERT_OK(lose_and_decode(*codec, step, {0, 1, 2, 3}, out))
        << to_string(b);
      EXPECT_EQ(out, step) << to_string(b) << " step " << s;
    }
  }
}

// -- concurrency --------------------------------------------------------------

TEST(ErasureCodecTest, ConcurrentEncodeDecodeOnOneCodec) {
  constexpr uint32_t k = 10, m = 4;
  constexpr size_t len = 8192;
  constexpr int threads = 4, rounds = 40;
  for (auto b : backends) {
    auto codec = must_get(k, m, b);
    // Expected results, computed single-threaded.
    std::vector<std::vector<bytes>> expected;
    for (int t = 0; t < threads; ++t)
      expected.push_back(make_step(*codec, len, 500 + t));
    std::atomic<int> failures{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        std::mt19937_64 gen(t);
        for (int r = 0; r < rounds; ++r) {
          auto& want = expected[t];
          // Encode afresh into new parity buffers.
          std::vector<bytes> shards(want.begin(), want.begin() + k);
          shards.resize(k + m, bytes(len, 0));
          std::vector<const uint8_t*> data;
          std::vector<uint8_t*> parity;
          for (uint32_t i = 0; i < k; ++i)
            data.push_back(shards[i].data());
          for (uint32_t j = 0; j < m; ++j)
            parity.push_back(shards[k + j].data());
          if (codec->encode(data, parity, len) || shards != want)
            ++failures;
          // Decode after losing m random shards.
          std::vector<bytes> out;
          auto lost = random_loss(k + m, m, gen);
          if (lose_and_decode(*codec, want, lost, out) || out != want)
            ++failures;
        }
      });
    for (auto& th : pool)
      th.join();
    EXPECT_EQ(failures.load(), 0) << to_string(b);
  }
}
