#pragma once

#include <cstdint>
#include <deque>
#include <functional>

#include <sys/uio.h>

#include "messages/block.hpp"

namespace cairn::storage {

/// Cuts a byte stream into fixed-size blocks, as Codex does: every block is
/// `block_size` bytes, the last one zero-padded; `total()` keeps the true
/// length. Bytes come either copied in (`feed`) or written in place by
/// the caller (`space`, then `filled`): a reader that receives straight
/// into the blocks saves a copy of every byte. Block buffers come from
/// `buffer_pool::blocks()`. Not thread-safe; one chunker per upload.
class chunker {
public:
  /// Receives each finished block (data bytes, `block_size` long, a buffer
  /// of the block pool: `buffer_pool::blocks().share` gives it back once
  /// done with). May return an error to stop the upload; `feed`, `filled`
  /// and `finish` then return it.
  using sink = std::function<caf::error(bytes)>;

  explicit chunker(sink emit, uint32_t block_size = default_block_size)
    : emit_(std::move(emit)), block_size_(block_size) {}

  ~chunker();

  chunker(const chunker&) = delete;
  chunker& operator=(const chunker&) = delete;

  /// Appends a copy of `n` bytes, emitting every block that fills.
  caf::error feed(const uint8_t* data, size_t n);

  /// Where the next bytes go, to be written in place: the rest of the block
  /// being filled, then `max - 1` whole blocks after it. Sets
  /// `out[0..max)` and returns `max`.
  size_t space(iovec* out, size_t max);

  /// Takes `n` bytes written in order into what `space` gave (at most its
  /// total), emitting every block that filled.
  caf::error filled(size_t n);

  /// Emits the last partial block, zero-padded. No-op if it is empty.
  caf::error finish();

  /// Bytes fed so far (the dataset's true size).
  uint64_t total() const { return total_; }

  /// Blocks emitted so far.
  uint64_t blocks() const { return blocks_; }

private:
  // A block buffer of `block_size_` bytes from the pool.
  bytes take_buffer() const;

  sink emit_;
  uint32_t block_size_;
  bytes buf_;               // the block being filled (empty until needed)
  size_t fill_ = 0;         // bytes of `buf_` written
  std::deque<bytes> spare_; // the blocks after it that `space` gave
  uint64_t total_ = 0;
  uint64_t blocks_ = 0;
};

} // namespace cairn::storage
