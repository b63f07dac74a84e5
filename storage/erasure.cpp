#include "storage/erasure.hpp"

#include <climits>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <new>
#include <tuple>

#include <immintrin.h>
#include <isa-l/erasure_code.h>

extern "C" {
#include <galois.h>
#include <jerasure.h>
#include <reed_sol.h>
}

#include "messages/error.hpp"

namespace cairn::storage {

namespace {

constexpr uint32_t max_shards = 256; // 2^w for w = 8
constexpr int w = 8;

// gf-complete's SIMD region multiply (under Jerasure) asserts that source and
// destination have the same address modulo 16; buffers that are not
// 16-aligned are staged through aligned copies.
constexpr uintptr_t gf_align = 16;

bool aligned(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % gf_align == 0;
}

// An uninitialised, 16-aligned scratch buffer of at least `n` bytes.
struct aligned_buf {
  explicit aligned_buf(size_t n)
    : ptr(static_cast<uint8_t*>(std::aligned_alloc(
        gf_align, (n + gf_align - 1) / gf_align * gf_align))) {
    if (ptr == nullptr)
      throw std::bad_alloc{};
  }
  ~aligned_buf() { std::free(ptr); }
  aligned_buf(const aligned_buf&) = delete;
  aligned_buf& operator=(const aligned_buf&) = delete;
  aligned_buf(aligned_buf&& other) noexcept : ptr(other.ptr) {
    other.ptr = nullptr;
  }
  uint8_t* ptr;
};

// ISA-L's AVX2/AVX-512 kernels return without `vzeroupper`. With the upper
// vector state left dirty, legacy-SSE code that runs later on the same thread
// (gf-complete under Jerasure, glibc, OpenSSL) pays a transition penalty on
// every instruction: Jerasure decode measured 4x slower after one ISA-L call.
__attribute__((target("avx"))) void zero_upper_avx() {
  _mm256_zeroupper();
}

// ec_encode_data, leaving the vector state clean.
void isal_encode(size_t len, uint32_t k, size_t rows, uint8_t* tables,
                 uint8_t** src, uint8_t** dst) {
  static const bool has_avx =
    (__builtin_cpu_init(), __builtin_cpu_supports("avx"));
  ec_encode_data(static_cast<int>(len), static_cast<int>(k),
                 static_cast<int>(rows), tables, src, dst);
  if (has_avx)
    zero_upper_avx();
}

caf::error check_km(uint32_t k, uint32_t m) {
  if (k < 1 || m < 1 || k > max_shards || m > max_shards || k + m > max_shards)
    return make_error(ec::invalid_argument, "erasure k/m",
                      "need k >= 1, m >= 1, k + m <= 256; got k=" +
                        std::to_string(k) + " m=" + std::to_string(m));
  return caf::none;
}

// 0 on success, else what galois_init_default_field returned.
int init_field() {
  static std::once_flag once;
  static int rc = 0;
  std::call_once(once, [] { rc = galois_init_default_field(w); });
  return rc;
}

// The m × k coding matrix, built by Jerasure. Empty on allocation failure.
std::vector<int> make_jerasure_matrix(uint32_t k, uint32_t m) {
  int* raw = reed_sol_vandermonde_coding_matrix(static_cast<int>(k),
                                                static_cast<int>(m), w);
  if (raw == nullptr)
    return {};
  std::vector<int> out(raw, raw + size_t{k} * m);
  std::free(raw);
  return out;
}

} // namespace

// -- backends -----------------------------------------------------------------

caf::expected<ec_backend> parse_ec_backend(const std::string& text) {
  if (text == "jerasure")
    return ec_backend::jerasure;
  if (text == "isal")
    return ec_backend::isal;
  return make_error(ec::invalid_argument, "erasure backend",
                    "expected \"jerasure\" or \"isal\", got \"" + text + "\"");
}

const char* to_string(ec_backend b) {
  switch (b) {
  case ec_backend::jerasure:
    return "jerasure";
  case ec_backend::isal:
    return "isal";
  }
  return "unknown";
}

// -- layout -------------------------------------------------------------------

caf::expected<ec_layout> ec_layout::make(uint64_t blocks, uint32_t k,
                                         uint32_t m) {
  if (blocks < 1)
    return make_error(ec::invalid_argument, "erasure layout",
                      "a dataset needs at least one block");
  if (auto err = check_km(k, m))
    return err;
  constexpr auto max = std::numeric_limits<uint64_t>::max();
  uint64_t steps = (blocks - 1) / k + 1; // roundUp without overflow
  if (steps > max / (uint64_t{k} + m))
    return make_error(ec::invalid_argument, "erasure layout",
                      std::to_string(blocks) + " blocks overflow the tree");
  ec_layout out;
  out.blocks = blocks;
  out.k = k;
  out.m = m;
  out.steps = steps;
  out.rounded = steps * k;
  return out;
}

// -- codec: construction ------------------------------------------------------

erasure_codec::erasure_codec(uint32_t k, uint32_t m, ec_backend backend,
                             std::vector<int> jerasure_matrix)
  : k_(k), m_(m), backend_(backend), jmatrix_(std::move(jerasure_matrix)) {
  coding_.reserve(jmatrix_.size());
  for (int x : jmatrix_)
    coding_.push_back(static_cast<uint8_t>(x));
  row_k_ones_ = true;
  for (uint32_t j = 0; j < k_; ++j)
    row_k_ones_ = row_k_ones_ && jmatrix_[j] == 1;
  if (backend_ == ec_backend::isal) {
    isal_tables_.resize(size_t{32} * k_ * m_);
    ec_init_tables(static_cast<int>(k_), static_cast<int>(m_),
                   const_cast<uint8_t*>(coding_.data()), isal_tables_.data());
  }
}

caf::expected<std::shared_ptr<const erasure_codec>>
erasure_codec::get(uint32_t k, uint32_t m, ec_backend backend) {
  if (auto err = check_km(k, m))
    return err;
  if (backend != ec_backend::jerasure && backend != ec_backend::isal)
    return make_error(ec::invalid_argument, "erasure backend",
                      "unknown backend");
  // Both backends take their matrix from Jerasure, so the field comes first.
  if (int rc = init_field(); rc != 0)
    return make_error(ec::unavailable, "galois_init_default_field",
                      std::strerror(rc));
  using key = std::tuple<uint32_t, uint32_t, ec_backend>;
  static std::mutex mtx;
  static std::map<key, std::shared_ptr<const erasure_codec>> cache;
  std::lock_guard<std::mutex> guard{mtx};
  auto& slot = cache[key{k, m, backend}];
  if (slot)
    return slot;
  // Jerasure's matrix constructors are not thread-safe either (static
  // tables); the lock covers them too.
  auto matrix = make_jerasure_matrix(k, m);
  if (matrix.empty()) {
    cache.erase(key{k, m, backend});
    return make_error(ec::unavailable, "reed_sol_vandermonde_coding_matrix",
                      "k=" + std::to_string(k) + " m=" + std::to_string(m));
  }
  slot.reset(new erasure_codec(k, m, backend, std::move(matrix)));
  return slot;
}

// -- codec: encode ------------------------------------------------------------

caf::error erasure_codec::check_len(size_t len) const {
  if (len == 0 || len % sizeof(long) != 0 || len > INT_MAX)
    return make_error(ec::invalid_argument, "erasure shard length",
                      "need a positive multiple of " +
                        std::to_string(sizeof(long)) + " up to INT_MAX, got " +
                        std::to_string(len));
  return caf::none;
}

caf::error erasure_codec::encode(const std::vector<const uint8_t*>& data,
                                 const std::vector<uint8_t*>& parity,
                                 size_t len) const {
  if (data.size() != k_ || parity.size() != m_)
    return make_error(ec::invalid_argument, "erasure encode",
                      "need " + std::to_string(k_) + " data and " +
                        std::to_string(m_) + " parity buffers, got " +
                        std::to_string(data.size()) + " and " +
                        std::to_string(parity.size()));
  if (auto err = check_len(len))
    return err;
  for (auto p : data)
    if (p == nullptr)
      return make_error(ec::invalid_argument, "erasure encode",
                        "null data buffer");
  for (auto p : parity)
    if (p == nullptr)
      return make_error(ec::invalid_argument, "erasure encode",
                        "null parity buffer");
  return backend_ == ec_backend::isal ? encode_isal(data, parity, len)
                                      : encode_jerasure(data, parity, len);
}

caf::error erasure_codec::encode_isal(const std::vector<const uint8_t*>& data,
                                      const std::vector<uint8_t*>& parity,
                                      size_t len) const {
  // ISA-L reads through non-const pointers but does not write its sources.
  std::vector<uint8_t*> src(k_);
  for (uint32_t i = 0; i < k_; ++i)
    src[i] = const_cast<uint8_t*>(data[i]);
  std::vector<uint8_t*> dst(parity);
  isal_encode(len, k_, m_, const_cast<uint8_t*>(isal_tables_.data()),
              src.data(), dst.data());
  return caf::none;
}

caf::error
erasure_codec::encode_jerasure(const std::vector<const uint8_t*>& data,
                               const std::vector<uint8_t*>& parity,
                               size_t len) const {
  std::vector<char*> dptrs(k_), cptrs(m_);
  std::vector<aligned_buf> staged;
  std::vector<std::pair<uint8_t*, char*>> copy_back;
  for (uint32_t i = 0; i < k_; ++i) {
    auto p = const_cast<uint8_t*>(data[i]);
    if (!aligned(p)) {
      staged.emplace_back(len);
      std::memcpy(staged.back().ptr, p, len);
      p = staged.back().ptr;
    }
    dptrs[i] = reinterpret_cast<char*>(p);
  }
  for (uint32_t j = 0; j < m_; ++j) {
    auto p = parity[j];
    if (!aligned(p)) {
      staged.emplace_back(len);
      copy_back.emplace_back(p, reinterpret_cast<char*>(staged.back().ptr));
      p = staged.back().ptr;
    }
    cptrs[j] = reinterpret_cast<char*>(p);
  }
  // Jerasure takes non-const pointers; it only reads the matrix and data.
  jerasure_matrix_encode(static_cast<int>(k_), static_cast<int>(m_), w,
                         const_cast<int*>(jmatrix_.data()), dptrs.data(),
                         cptrs.data(), static_cast<int>(len));
  for (auto& [dst, src] : copy_back)
    std::memcpy(dst, src, len);
  return caf::none;
}

// -- codec: decode ------------------------------------------------------------

caf::error erasure_codec::decode(const std::vector<uint8_t*>& shards,
                                 const std::vector<bool>& present,
                                 size_t len) const {
  const size_t n = size_t{k_} + m_;
  if (shards.size() != n || present.size() != n)
    return make_error(ec::invalid_argument, "erasure decode",
                      "need " + std::to_string(n) + " shards and flags, got " +
                        std::to_string(shards.size()) + " and " +
                        std::to_string(present.size()));
  if (auto err = check_len(len))
    return err;
  uint32_t have = 0;
  for (size_t i = 0; i < n; ++i) {
    if (shards[i] == nullptr)
      return make_error(ec::invalid_argument, "erasure decode",
                        "null buffer for shard " + std::to_string(i));
    if (present[i])
      ++have;
  }
  if (have < k_)
    return make_error(ec::not_found, "erasure decode",
                      "step has only " + std::to_string(have) + " of " +
                        std::to_string(k_) + " shards");
  if (have == n)
    return caf::none;
  return backend_ == ec_backend::isal ? decode_isal(shards, present, len)
                                      : decode_jerasure(shards, present, len);
}

caf::error erasure_codec::decode_isal(const std::vector<uint8_t*>& shards,
                                      const std::vector<bool>& present,
                                      size_t len) const {
  const uint32_t n = k_ + m_;
  // The first k present shards; row r of the full (identity over coding)
  // generator matrix maps the data to shard r.
  std::vector<uint32_t> survivors;
  survivors.reserve(k_);
  for (uint32_t i = 0; i < n && survivors.size() < k_; ++i)
    if (present[i])
      survivors.push_back(i);
  std::vector<uint8_t> sub(size_t{k_} * k_, 0);
  for (uint32_t r = 0; r < k_; ++r) {
    uint32_t s = survivors[r];
    if (s < k_)
      sub[size_t{r} * k_ + s] = 1;
    else
      std::memcpy(&sub[size_t{r} * k_], &coding_[size_t{s - k_} * k_], k_);
  }
  std::vector<uint8_t> inv(size_t{k_} * k_);
  if (gf_invert_matrix(sub.data(), inv.data(), static_cast<int>(k_)) != 0)
    return make_error(ec::invalid_argument, "gf_invert_matrix",
                      "singular decoding matrix");
  // inv maps the survivors to the data; a missing data shard is one row of
  // it, a missing parity shard its coding row times inv.
  std::vector<uint8_t> rows;
  std::vector<uint8_t*> outs;
  for (uint32_t i = 0; i < n; ++i) {
    if (present[i])
      continue;
    outs.push_back(shards[i]);
    if (i < k_) {
      rows.insert(rows.end(), inv.begin() + size_t{i} * k_,
                  inv.begin() + size_t{i + 1} * k_);
      continue;
    }
    const uint8_t* c = &coding_[size_t{i - k_} * k_];
    for (uint32_t col = 0; col < k_; ++col) {
      uint8_t acc = 0;
      for (uint32_t l = 0; l < k_; ++l)
        acc ^= gf_mul(c[l], inv[size_t{l} * k_ + col]);
      rows.push_back(acc);
    }
  }
  std::vector<uint8_t*> srcs(k_);
  for (uint32_t r = 0; r < k_; ++r)
    srcs[r] = shards[survivors[r]];
  std::vector<uint8_t> tables(size_t{32} * k_ * outs.size());
  ec_init_tables(static_cast<int>(k_), static_cast<int>(outs.size()),
                 rows.data(), tables.data());
  isal_encode(len, k_, outs.size(), tables.data(), srcs.data(), outs.data());
  return caf::none;
}

caf::error erasure_codec::decode_jerasure(const std::vector<uint8_t*>& shards,
                                          const std::vector<bool>& present,
                                          size_t len) const {
  const uint32_t n = k_ + m_;
  std::vector<char*> ptrs(n);
  std::vector<aligned_buf> staged;
  std::vector<std::pair<uint8_t*, char*>> copy_back;
  std::vector<int> erasures;
  for (uint32_t i = 0; i < n; ++i) {
    auto p = shards[i];
    if (!present[i])
      erasures.push_back(static_cast<int>(i));
    if (!aligned(p)) {
      staged.emplace_back(len);
      if (present[i])
        std::memcpy(staged.back().ptr, p, len);
      else
        copy_back.emplace_back(p, reinterpret_cast<char*>(staged.back().ptr));
      p = staged.back().ptr;
    }
    ptrs[i] = reinterpret_cast<char*>(p);
  }
  erasures.push_back(-1);
  // row_k_ones lets Jerasure rebuild the last lost data shard by XOR with
  // the first parity shard instead of through the inverted matrix.
  int rc = jerasure_matrix_decode(
    static_cast<int>(k_), static_cast<int>(m_), w,
    const_cast<int*>(jmatrix_.data()), row_k_ones_ ? 1 : 0, erasures.data(),
    ptrs.data(), ptrs.data() + k_, static_cast<int>(len));
  if (rc != 0)
    return make_error(ec::invalid_argument, "jerasure_matrix_decode",
                      "failed with " + std::to_string(rc));
  for (auto& [dst, src] : copy_back)
    std::memcpy(dst, src, len);
  return caf::none;
}

} // namespace cairn::storage
