#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <openssl/evp.h>

#include "messages/bytes.hpp"
#include "messages/sha256.hpp"

namespace cairn::storage {

/// Bytes `[offset, offset + n)` of the synthetic dataset of `seed`: an
/// endless pseudo-random stream in which every 8-byte word depends only on
/// the seed and its position, so that any range can be regenerated on its
/// own (the simulator checks downloaded blocks against it byte for byte,
/// and the same seed always gives the same dataset, hence the same CID).
bytes synthetic_data(uint64_t seed, uint64_t offset, size_t n);

/// Incremental SHA-256 over many buffers (OpenSSL EVP). Not thread-safe.
class sha256_stream {
public:
  sha256_stream();
  void update(byte_view x);
  /// The digest of everything updated so far; the stream is spent after.
  digest256 finish();
  /// `finish()` as lower-case hex.
  std::string finish_hex();

private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

} // namespace cairn::storage
