#include "messages/sha256.hpp"

#include <cstdlib>
#include <memory>

#include <openssl/evp.h>

namespace cairn {

namespace {

// OpenSSL 3's one-shot SHA256() looks the algorithm up in its provider
// registry (under a lock) on every call, which costs more than hashing the
// 65 bytes of a Merkle node. The algorithm is fetched once, and each thread
// keeps its own context.
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

digest256 hash(const uint8_t* data, size_t n) {
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{
    EVP_MD_CTX_new(), &EVP_MD_CTX_free};
  digest256 out;
  if (!ctx || !sha256_md() ||
      !EVP_DigestInit_ex2(ctx.get(), sha256_md(), nullptr) ||
      !EVP_DigestUpdate(ctx.get(), data, n) ||
      !EVP_DigestFinal_ex(ctx.get(), out.data(), nullptr))
    std::abort(); // only on allocation failure or a broken OpenSSL
  return out;
}

} // namespace

digest256 sha256(byte_view x) {
  return hash(x.data, x.size);
}

digest256 sha256_pair(const digest256& a, const digest256& b, uint8_t key) {
  uint8_t buf[65];
  std::copy(a.begin(), a.end(), buf);
  std::copy(b.begin(), b.end(), buf + 32);
  buf[64] = key;
  return hash(buf, sizeof(buf));
}
std::string to_hex(byte_view x) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(x.size * 2);
  for (size_t i = 0; i < x.size; ++i) {
    out += digits[x.data[i] >> 4];
    out += digits[x.data[i] & 0x0f];
  }
  return out;
}

} // namespace cairn
