// Throughput of storage/erasure: Reed–Solomon encode (K data shards → M
// parity shards) and decode (M data shards lost, rebuilt from the K
// survivors) of one step of 64 KiB blocks, single-threaded, for K=10,M=4 and
// K=4,M=2, with the Jerasure and the ISA-L backend. MB/s counts the bytes of
// the K data shards per operation (SetBytesProcessed), so encode and decode
// figures compare directly with the size of the dataset being protected.
//
//   erasure_bench [--benchmark_filter=Decode] [--benchmark_min_time=2]

#include <cstdint>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "messages/block.hpp"
#include "messages/error.hpp"
#include "storage/erasure.hpp"

using namespace cairn;
using namespace cairn::storage;

namespace {

constexpr size_t block_len = default_block_size;

struct step_buffers {
  std::vector<std::vector<uint8_t>> shards;
  std::vector<uint8_t*> ptrs;
  /// The first k of `ptrs` (read-only) and the other m, as `encode` takes
  /// them.
  std::vector<const uint8_t*> data;
  std::vector<uint8_t*> parity;

  step_buffers(uint32_t k, uint32_t m) : shards(k + m) {
    std::mt19937_64 gen{k * 100 + m};
    for (auto& s : shards) {
      s.resize(block_len);
      for (auto& x : s)
        x = static_cast<uint8_t>(gen());
      ptrs.push_back(s.data());
    }
    data.assign(ptrs.begin(), ptrs.begin() + k);
    parity.assign(ptrs.begin() + k, ptrs.end());
  }
};

std::shared_ptr<const erasure_codec> codec_or_skip(benchmark::State& state) {
  auto k = static_cast<uint32_t>(state.range(0));
  auto m = static_cast<uint32_t>(state.range(1));
  auto backend = static_cast<ec_backend>(state.range(2));
  auto codec = erasure_codec::get(k, m, backend);
  if (!codec) {
    state.SkipWithError(describe(codec.error()).c_str());
    return nullptr;
  }
  state.SetLabel(to_string(backend));
  return *codec;
}

void BM_Encode(benchmark::State& state) {
  auto codec = codec_or_skip(state);
  if (!codec)
    return;
  auto k = codec->k(), m = codec->m();
  step_buffers buf{k, m};
  for (auto _ : state) {
    if (auto err = codec->encode(buf.data, buf.parity, block_len)) {
      state.SkipWithError(describe(err).c_str());
      break;
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * k * block_len);
}

void BM_Decode(benchmark::State& state) {
  auto codec = codec_or_skip(state);
  if (!codec)
    return;
  auto k = codec->k(), m = codec->m();
  step_buffers buf{k, m};
  if (auto err = codec->encode(buf.data, buf.parity, block_len)) {
    state.SkipWithError(describe(err).c_str());
    return;
  }
  // The worst case: m data shards lost, every one needing the full matrix.
  std::vector<bool> present(k + m, true);
  for (uint32_t i = 0; i < m; ++i)
    present[i] = false;
  for (auto _ : state) {
    if (auto err = codec->decode(buf.ptrs, present, block_len)) {
      state.SkipWithError(describe(err).c_str());
      break;
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * k * block_len);
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"K", "M", "backend"});
  for (auto backend : {ec_backend::jerasure, ec_backend::isal})
    for (auto [k, m] : {std::pair{10, 4}, std::pair{4, 2}})
      b->Args({k, m, static_cast<int64_t>(backend)});
}

} // namespace

BENCHMARK(BM_Encode)->Apply(shapes);
BENCHMARK(BM_Decode)->Apply(shapes);
