#pragma once

#include <cstdint>
#include <functional>

#include "messages/block.hpp"

namespace cairn::storage {

/// Cuts a byte stream into fixed-size blocks, as Codex does: every block is
/// `block_size` bytes, the last one zero-padded; `total()` keeps the true
/// length. Not thread-safe; one chunker per upload.
class chunker {
public:
  /// Receives each finished block (data bytes, `block_size` long). May return
  /// an error to stop the upload; `feed`/`finish` then return it.
  using sink = std::function<caf::error(bytes)>;

  explicit chunker(sink emit, uint32_t block_size = default_block_size)
    : emit_(std::move(emit)), block_size_(block_size) {
    buf_.reserve(block_size_);
  }

  /// Appends `n` bytes, emitting every block that fills.
  caf::error feed(const uint8_t* data, size_t n);

  /// Emits the last partial block, zero-padded. No-op if it is empty.
  caf::error finish();

  /// Bytes fed so far (the dataset's true size).
  uint64_t total() const { return total_; }

  /// Blocks emitted so far.
  uint64_t blocks() const { return blocks_; }

private:
  sink emit_;
  uint32_t block_size_;
  bytes buf_;
  uint64_t total_ = 0;
  uint64_t blocks_ = 0;
};

} // namespace cairn::storage
