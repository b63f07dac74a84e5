#include "storage/synthetic_data.hpp"

#include <cstdlib>
#include <cstring>

namespace cairn::storage {

namespace {

// SplitMix64's finaliser: a bijection that turns neighbouring inputs into
// unrelated outputs.
uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

} // namespace

bytes synthetic_data(uint64_t seed, uint64_t offset, size_t n) {
  bytes out(n);
  uint64_t key = mix(seed);
  size_t done = 0;
  while (done < n) {
    uint64_t pos = offset + done;
    uint64_t word = mix(key ^ (pos / 8));
    uint8_t buf[8];
    std::memcpy(buf, &word, 8);
    size_t from = pos % 8;
    size_t take = std::min<size_t>(8 - from, n - done);
    std::memcpy(out.data() + done, buf + from, take);
    done += take;
  }
  return out;
}

sha256_stream::sha256_stream() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
  if (!ctx_ || !EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr))
    std::abort(); // only on allocation failure or a broken OpenSSL
}

void sha256_stream::update(byte_view x) {
  EVP_DigestUpdate(ctx_.get(), x.data, x.size);
}

digest256 sha256_stream::finish() {
  digest256 out;
  EVP_DigestFinal_ex(ctx_.get(), out.data(), nullptr);
  return out;
}

std::string sha256_stream::finish_hex() {
  auto d = finish();
  return to_hex(byte_view{d.data(), d.size()});
}

} // namespace cairn::storage
