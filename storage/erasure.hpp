#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace cairn::storage {

// -- backends -----------------------------------------------------------------

/// Which library computes the GF(2^8) arithmetic. Both use the same coding
/// matrix and field polynomial (0x11d), so their parity is byte-identical and
/// either one can decode what the other encoded.
enum class ec_backend {
  /// Jerasure 2.0 (`jerasure_matrix_encode` / `jerasure_matrix_decode`).
  jerasure,
  /// Intel ISA-L (`ec_encode_data`), several times faster on x86-64.
  isal,
};

/// Parses "jerasure" or "isal". Errors: `ec::invalid_argument` for anything
/// else.
caf::expected<ec_backend> parse_ec_backend(const std::string& text);

/// The name `parse_ec_backend` accepts: "jerasure" or "isal".
const char* to_string(ec_backend b);

// -- layout -------------------------------------------------------------------

/// Codex's stepped layout of a protected dataset (README "Data model and
/// store"). The dataset's `blocks` data blocks are padded with all-zero blocks
/// to `rounded`, a multiple of `k`; the tree of the protected dataset has
/// `total()` leaves: data `0..rounded-1`, then parity. Step `s` groups the `k`
/// data blocks `s, s+steps, s+2·steps, …` (shards `0..k-1`) and the `m` parity
/// blocks `rounded + s + j·steps` (shards `k..k+m-1`). A plain value; any
/// thread.
struct ec_layout {
  /// Data blocks of the original dataset (>= 1).
  uint64_t blocks = 0;
  /// Data shards per step.
  uint32_t k = 0;
  /// Parity shards per step.
  uint32_t m = 0;
  /// `roundUp(blocks, k)`: data leaves including the zero padding blocks.
  uint64_t rounded = 0;
  /// `rounded / k`: number of steps (and blocks per shard column).
  uint64_t steps = 0;

  /// The layout of `blocks` data blocks coded with `k` data and `m` parity
  /// shards. Errors: `ec::invalid_argument` unless `blocks >= 1`, `k >= 1`,
  /// `m >= 1`, `k + m <= 256` and `total()` fits in 64 bits.
  static caf::expected<ec_layout> make(uint64_t blocks, uint32_t k, uint32_t m);

  /// Leaves in the protected tree: `rounded + steps * m`.
  uint64_t total() const { return rounded + steps * m; }

  /// True if leaf `index` holds parity (`index >= rounded`).
  bool is_parity(uint64_t index) const { return index >= rounded; }

  /// True if leaf `index` is a zero padding block (`blocks <= index <
  /// rounded`): all-zero, never stored by the uploader's chunker.
  bool is_padding(uint64_t index) const {
    return index >= blocks && index < rounded;
  }

  /// The step leaf `index` belongs to. Precondition: `index < total()`.
  uint64_t step_of(uint64_t index) const {
    return (is_parity(index) ? index - rounded : index) % steps;
  }

  /// The shard of leaf `index` within its step: `0..k-1` for data,
  /// `k..k+m-1` for parity. Precondition: `index < total()`.
  uint32_t shard_of(uint64_t index) const {
    return is_parity(index)
             ? k + static_cast<uint32_t>((index - rounded) / steps)
             : static_cast<uint32_t>(index / steps);
  }

  /// The leaf holding `shard` of `step`; the inverse of `step_of` and
  /// `shard_of`. Precondition: `step < steps`, `shard < k + m`.
  uint64_t index_of(uint64_t step, uint32_t shard) const {
    return shard < k ? step + shard * steps
                     : rounded + step + (shard - k) * steps;
  }
};

// -- codec --------------------------------------------------------------------

/// Reed–Solomon over GF(2^8), systematic: `k` data shards and `m` parity
/// shards of equal length, any `k` of which rebuild the others. The coding
/// matrix is Jerasure's `reed_sol_vandermonde_coding_matrix(k, m, 8)` used as
/// a plain GF(2^8) matrix (not a bitmatrix), for every `k + m <= 256`.
///
/// Shard length: a positive multiple of `sizeof(long)` (8 bytes) and at most
/// `INT_MAX`, as Jerasure requires; 64 KiB blocks qualify. Buffers may sit
/// at any address, but 16-byte-aligned ones (what `malloc` and `bytes`
/// give) are faster with Jerasure: gf-complete aborts the process unless
/// source and destination agree modulo 16, so other buffers are staged
/// through aligned copies.
///
/// Immutable after `get()`; `encode` and `decode` may be called from several
/// threads at once, on the same codec, with distinct buffers.
class erasure_codec {
public:
  /// The codec for `(k, m, backend)`. Coding matrices (and ISA-L's expanded
  /// tables) are built on the first call for these parameters and cached
  /// for the life of the process; later calls return the same instance.
  /// Thread-safe. The first call also initialises Jerasure's GF(2^8) field
  /// (`galois_init_default_field(8)`, once, under `std::call_once`, before
  /// any other Jerasure call: Jerasure's field init is not thread-safe).
  /// Errors: `ec::invalid_argument` unless `k >= 1`, `m >= 1`,
  /// `k + m <= 256`; `ec::unavailable` if Jerasure cannot build its field
  /// or matrix (out of memory).
  static caf::expected<std::shared_ptr<const erasure_codec>>
  get(uint32_t k, uint32_t m, ec_backend backend = ec_backend::jerasure);

  /// Data shards per step.
  uint32_t k() const { return k_; }

  /// Parity shards per step.
  uint32_t m() const { return m_; }

  /// The library doing the arithmetic.
  ec_backend backend() const { return backend_; }

  /// Computes `parity[0..m-1]` from `data[0..k-1]`; every buffer is `len`
  /// bytes, owned by the caller; parity buffers must not overlap the data.
  /// Errors: `ec::invalid_argument` when the vectors do not hold exactly `k`
  /// and `m` non-null pointers or `len` is not a valid shard length; nothing
  /// is written then.
  caf::error encode(const std::vector<const uint8_t*>& data,
                    const std::vector<uint8_t*>& parity, size_t len) const;

  /// Rebuilds, in place, every shard `i` with `present[i] == false` (data
  /// and parity alike) from the present ones. `shards` holds `k + m`
  /// non-null buffers of `len` bytes (data shards first, then parity), owned
  /// by the caller; `present[i]` says whether shard `i` holds valid content.
  /// A no-op when all are present. Errors: `ec::invalid_argument` for wrong
  /// vector sizes, null buffers or a bad `len`; `ec::not_found` ("step has
  /// only X of K shards") when fewer than `k` shards are present. On error no
  /// buffer has been written.
  caf::error decode(const std::vector<uint8_t*>& shards,
                    const std::vector<bool>& present, size_t len) const;

  /// The coding matrix, `m` rows of `k` coefficients, row-major: parity `j`
  /// is the GF(2^8) dot product of row `j` with the data shards.
  const std::vector<uint8_t>& coding_matrix() const { return coding_; }

private:
  erasure_codec(uint32_t k, uint32_t m, ec_backend backend,
                std::vector<int> jerasure_matrix);

  caf::error check_len(size_t len) const;
  caf::error encode_jerasure(const std::vector<const uint8_t*>& data,
                             const std::vector<uint8_t*>& parity,
                             size_t len) const;
  caf::error encode_isal(const std::vector<const uint8_t*>& data,
                         const std::vector<uint8_t*>& parity, size_t len) const;
  caf::error decode_jerasure(const std::vector<uint8_t*>& shards,
                             const std::vector<bool>& present,
                             size_t len) const;
  caf::error decode_isal(const std::vector<uint8_t*>& shards,
                         const std::vector<bool>& present, size_t len) const;

  uint32_t k_;
  uint32_t m_;
  ec_backend backend_;
  // Jerasure's form of the coding matrix (m × k ints); read-only.
  std::vector<int> jmatrix_;
  // The same coefficients as bytes (m × k).
  std::vector<uint8_t> coding_;
  // Whether the first coding row is all ones (Jerasure's `row_k_ones`).
  bool row_k_ones_ = false;
  // ISA-L's expanded encode tables (32 · k · m bytes); empty for Jerasure.
  std::vector<uint8_t> isal_tables_;
};

} // namespace cairn::storage
