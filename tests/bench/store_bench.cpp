// CPU cost of the per-block work a network download cannot avoid, in the
// code paths the node uses: SHA-256 of a 64 KiB block (every delivered block
// is hashed once), `lmdb_store::put_leaves` of batches of fetched blocks (the
// downloader stores every block) and `lmdb_store::get_leaf_proofs` of
// batches (the seeder reads every block it serves); and `commit_upload`, the
// transaction that ends an upload of 1 GiB. Each benchmark measures
// the process's CPU time, user and kernel (`MeasureProcessCPUTime`), so its
// bytes_per_second is bytes per CPU-second: its inverse is the CPU-seconds
// per byte that `tests/bench/network_throughput.sh` adds up into the floor
// of a download's cost.
//
// The store runs in a temporary directory ($TMPDIR) with its production
// options. `BM_PutLeaves/1` first writes and deletes as many blocks as it
// measures, so that the timed writes reuse LMDB pages, as a node does once
// its file has grown; `BM_PutLeaves/0` writes into a fresh file (growing a
// file is about 3x dearer on this VM, where memory touched for the first
// time is slow).
//
//   store_bench [--benchmark_filter=Put] [--benchmark_format=json]

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "messages/block.hpp"
#include "messages/error.hpp"
#include "messages/manifest.hpp"
#include "messages/sha256.hpp"
#include "storage/lmdb_store.hpp"
#include "storage/merkle_tree.hpp"

using namespace cairn;
using namespace cairn::storage;

namespace {

constexpr size_t block_len = default_block_size;

// Blocks per transaction: a download's group commits hold up to this many
// (`storage::store_batcher::full_batch`), 30-45 on average in a 1 GiB
// download on loopback.
constexpr size_t batch = 64;

// Batches per timed run: 1 GiB of blocks.
constexpr size_t batches = (size_t{1} << 30) / (batch * block_len);

shared_bytes random_block(uint64_t seed) {
  std::mt19937_64 gen{seed};
  auto b = std::make_shared<bytes>(block_len);
  for (auto& x : *b)
    x = static_cast<uint8_t>(gen());
  return b;
}

// The tree of every benchmark's leaves.
cid tree_cid() {
  return cid{multicodec::codex_root, digest256{1}};
}

// A store in a fresh temporary directory, removed with it, with a dataset
// of `tree_cid()` for the leaves.
struct temp_store {
  std::filesystem::path dir;
  std::unique_ptr<lmdb_store> store;

  explicit temp_store(benchmark::State& state) {
    std::string tmpl =
      (std::filesystem::temp_directory_path() / "cairn-store-bench-XXXXXX")
        .string();
    if (!::mkdtemp(tmpl.data())) {
      state.SkipWithError("mkdtemp failed");
      return;
    }
    dir = tmpl;
    lmdb_options opts;
    opts.path = dir.string();
    opts.quota_bytes = uint64_t{4} << 30;
    auto st = lmdb_store::open(opts);
    if (!st) {
      state.SkipWithError(describe(st.error()).c_str());
      return;
    }
    store = std::move(*st);
    // Leaves are stored only for a dataset that uses their tree.
    manifest m;
    m.tree_cid = tree_cid();
    m.dataset_size = uint64_t{batch} * batches * block_len;
    m.block_size = static_cast<uint32_t>(block_len);
    if (auto id = store->put_manifest(m.to_block(), 0); !id) {
      state.SkipWithError(describe(id.error()).c_str());
      store.reset();
    }
  }

  ~temp_store() {
    store.reset();
    if (!dir.empty())
      std::filesystem::remove_all(dir);
  }
};

// A distinct digest for block `i`: its number in the first 8 bytes, `tag`
// in the last (for each benchmark its own).
digest256 numbered_digest(uint64_t i, uint8_t tag) {
  digest256 d{};
  for (size_t j = 0; j < 8; ++j)
    d[j] = static_cast<uint8_t>(i >> (8 * j));
  d[31] = tag;
  return d;
}

// `n` leaves of one tree from `first` on, each a distinct CID over the
// same bytes (the store copies every block; hashing is measured apart),
// with a proof as long as a 16384-leaf tree's.
std::vector<leaf_block> leaves(const shared_bytes& data, uint64_t first,
                               size_t n) {
  auto tree = tree_cid();
  std::vector<leaf_block> out;
  out.reserve(n);
  for (uint64_t i = first; i < first + n; ++i) {
    auto d = numbered_digest(i, 0xb1);
    merkle_proof proof{i, batch * batches, std::vector<digest256>(14, d)};
    out.push_back(leaf_block{block_address{tree, i},
                             block::wrap(cid{multicodec::codex_block, d}, data),
                             std::move(proof)});
  }
  return out;
}

// Writes `batches` batches of leaves over `data` into `st`: 1 GiB. False
// (and the benchmark skipped) if a write fails.
bool fill(benchmark::State& state, lmdb_store& st, const shared_bytes& data) {
  for (size_t b = 0; b < batches; ++b)
    if (auto err = st.put_leaves(leaves(data, b * batch, batch), 0)) {
      state.SkipWithError(describe(err).c_str());
      return false;
    }
  return true;
}

void BM_Sha256Block(benchmark::State& state) {
  auto data = random_block(1);
  for (auto _ : state)
    benchmark::DoNotOptimize(sha256(byte_view{data->data(), data->size()}));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(block_len));
}
BENCHMARK(BM_Sha256Block)->MeasureProcessCPUTime();

void BM_PutLeaves(benchmark::State& state) {
  temp_store ts{state};
  if (!ts.store)
    return;
  auto data = random_block(2);
  // Grow the file first, then free its pages for the timed writes.
  if (state.range(0) != 0) {
    if (!fill(state, *ts.store, data))
      return;
    for (uint64_t i = 0; i < batch * batches; ++i)
      if (auto err = ts.store->remove_leaf(block_address{tree_cid(), i})) {
        state.SkipWithError(describe(err).c_str());
        return;
      }
  }
  uint64_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto ls = leaves(data, next, batch);
    next += batch;
    state.ResumeTiming();
    if (auto err = ts.store->put_leaves(ls, 0)) {
      state.SkipWithError(describe(err).c_str());
      return;
    }
  }
  state.SetBytesProcessed(
    static_cast<int64_t>(state.iterations() * batch * block_len));
}
BENCHMARK(BM_PutLeaves)
  ->Arg(0)
  ->Arg(1)
  ->MeasureProcessCPUTime()
  ->Iterations(static_cast<int64_t>(batches));

void BM_GetLeafProofs(benchmark::State& state) {
  temp_store ts{state};
  if (!ts.store)
    return;
  if (!fill(state, *ts.store, random_block(3)))
    return;
  auto tree = tree_cid();
  uint64_t next = 0;
  for (auto _ : state) {
    std::vector<block_address> addrs;
    for (size_t i = 0; i < batch; ++i)
      addrs.push_back(block_address{tree, (next + i) % (batch * batches)});
    next += batch;
    auto got = ts.store->get_leaf_proofs(addrs);
    if (!got || got->size() != batch) {
      state.SkipWithError("a stored leaf was not read");
      return;
    }
    benchmark::DoNotOptimize(got->data());
  }
  state.SetBytesProcessed(
    static_cast<int64_t>(state.iterations() * batch * block_len));
}
BENCHMARK(BM_GetLeafProofs)
  ->MeasureProcessCPUTime()
  ->Iterations(static_cast<int64_t>(batches));

// The transaction that ends an upload: `commit_upload` of a dataset of
// 1 GiB (16384 leaves) whose blocks `put_blocks` stored, as an upload's
// batches do, before the timer starts. It runs after the last byte of the
// body came in and before the upload answers, on one thread: what it costs
// is added to every upload's time. Real time includes its two fsyncs.
void BM_CommitUpload(benchmark::State& state) {
  temp_store ts{state};
  if (!ts.store)
    return;
  auto data = random_block(4);
  constexpr size_t leaf_count = batch * batches;
  uint64_t round = 0;
  for (auto _ : state) {
    state.PauseTiming();
    ++round;
    std::vector<digest256> digests;
    digests.reserve(leaf_count);
    std::vector<block> blocks;
    for (uint64_t i = 0; i < leaf_count; ++i) {
      auto d = numbered_digest(i, 0xc0);
      d[30] = static_cast<uint8_t>(round);
      digests.push_back(d);
      blocks.push_back(block::wrap(cid{multicodec::codex_block, d}, data));
      if (blocks.size() == batch || i + 1 == leaf_count) {
        if (auto added = ts.store->put_blocks(blocks, 0); !added) {
          state.SkipWithError(describe(added.error()).c_str());
          return;
        }
        blocks.clear();
      }
    }
    auto tree = merkle_tree::build(digests);
    if (!tree) {
      state.SkipWithError(describe(tree.error()).c_str());
      return;
    }
    manifest m;
    m.tree_cid = tree->root_cid();
    m.dataset_size = uint64_t{leaf_count} * block_len;
    m.block_size = static_cast<uint32_t>(block_len);
    auto mb = m.to_block();
    state.ResumeTiming();
    auto id = ts.store->commit_upload(mb, digests, 0);
    state.PauseTiming();
    // Its pages freed for the next round, as a node that deletes what it
    // uploaded.
    if (!id || ts.store->remove(*id)) {
      state.SkipWithError(id ? "remove failed" : describe(id.error()).c_str());
      return;
    }
    state.ResumeTiming();
  }
  state.SetItemsProcessed(
    static_cast<int64_t>(state.iterations() * leaf_count));
}
BENCHMARK(BM_CommitUpload)
  ->MeasureProcessCPUTime()
  ->Unit(benchmark::kMillisecond)
  ->Iterations(3);

} // namespace
