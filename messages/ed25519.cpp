#include "messages/ed25519.hpp"

#include <memory>

#include <openssl/evp.h>

namespace cairn {

namespace {

using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

pkey_ptr private_key(const ed25519_seed& seed) {
  return pkey_ptr{EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                               seed.data(), seed.size()),
                  EVP_PKEY_free};
}

// OpenSSL wants a non-null pointer even for an empty message.
const uint8_t* data_or_empty(byte_view x) {
  static const uint8_t empty = 0;
  return x.data != nullptr ? x.data : &empty;
}

} // namespace

bytes ed25519_sign(const ed25519_seed& seed, byte_view msg) {
  auto pk = private_key(seed);
  md_ctx_ptr ctx{EVP_MD_CTX_new(), EVP_MD_CTX_free};
  if (!pk || !ctx)
    return {};
  bytes sig(ed25519_signature_size);
  size_t len = sig.size();
  // Ed25519 is a one-shot ("pure") signature: no digest, EVP_DigestSign only.
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pk.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len, data_or_empty(msg),
                     msg.size) != 1 ||
      len != ed25519_signature_size)
    return {};
  return sig;
}

bool ed25519_verify(const ed25519_public& pub, byte_view msg, byte_view sig) {
  if (sig.size != ed25519_signature_size)
    return false;
  pkey_ptr pk{EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub.data(),
                                          pub.size()),
              EVP_PKEY_free};
  md_ctx_ptr ctx{EVP_MD_CTX_new(), EVP_MD_CTX_free};
  if (!pk || !ctx)
    return false;
  return EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pk.get()) ==
           1 &&
         EVP_DigestVerify(ctx.get(), sig.data, sig.size, data_or_empty(msg),
                          msg.size) == 1;
}

std::optional<ed25519_public> ed25519_public_key(const ed25519_seed& seed) {
  auto pk = private_key(seed);
  ed25519_public pub{};
  size_t len = pub.size();
  if (!pk || EVP_PKEY_get_raw_public_key(pk.get(), pub.data(), &len) != 1 ||
      len != pub.size())
    return std::nullopt;
  return pub;
}

} // namespace cairn
