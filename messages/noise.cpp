#include "messages/noise.hpp"

#include <cstring>
#include <limits>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "messages/error.hpp"
#include "messages/sha256.hpp"

namespace cairn::noise {

namespace {

EVP_CIPHER_CTX* as_ctx(void* p) {
  return static_cast<EVP_CIPHER_CTX*>(p);
}

EVP_PKEY* as_pkey(void* p) {
  return static_cast<EVP_PKEY*>(p);
}

const EVP_CIPHER* evp_cipher(cipher_kind c) {
  return c == cipher_kind::aes_gcm ? EVP_aes_256_gcm()
                                   : EVP_chacha20_poly1305();
}

caf::error crypto_error(const char* what) {
  return make_error(ec::protocol_error, std::string{"noise: "} + what);
}

// The 96-bit AEAD nonce of the spec: 32 zero bits, then `n` big-endian
// (AESGCM) or little-endian (ChaChaPoly).
std::array<uint8_t, 12> nonce_bytes(cipher_kind c, uint64_t n) {
  std::array<uint8_t, 12> iv{};
  for (int i = 0; i < 8; ++i) {
    auto b = static_cast<uint8_t>(n >> (8 * i));
    if (c == cipher_kind::aes_gcm)
      iv[11 - i] = b;
    else
      iv[4 + i] = b;
  }
  return iv;
}

key hmac_sha256(const key& k, byte_view data) {
  key out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), k.data(), static_cast<int>(k.size()), data.data, data.size,
       out.data(), &len);
  return out;
}

EVP_PKEY* x25519_keypair(const std::optional<key>& priv) {
  if (priv)
    return EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv->data(),
                                        priv->size());
  EVP_PKEY* pkey = nullptr;
  auto* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr);
  if (ctx && EVP_PKEY_keygen_init(ctx) > 0)
    EVP_PKEY_keygen(ctx, &pkey);
  EVP_PKEY_CTX_free(ctx);
  return pkey;
}

key x25519_public(EVP_PKEY* pkey) {
  key out{};
  size_t len = out.size();
  EVP_PKEY_get_raw_public_key(pkey, out.data(), &len);
  return out;
}

// DH(key_pair, public_key). OpenSSL refuses a result of all zeros (a
// low-order peer key), which Noise allows us to treat as an error.
caf::expected<key> x25519(EVP_PKEY* own, const key& peer_public) {
  auto* peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr,
                                           peer_public.data(), key_size);
  auto* ctx = own ? EVP_PKEY_CTX_new(own, nullptr) : nullptr;
  key out{};
  size_t len = out.size();
  bool ok = peer && ctx && EVP_PKEY_derive_init(ctx) > 0 &&
            EVP_PKEY_derive_set_peer(ctx, peer) > 0 &&
            EVP_PKEY_derive(ctx, out.data(), &len) > 0 && len == key_size;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(peer);
  if (!ok)
    return crypto_error("X25519 with the peer's ephemeral key failed");
  return out;
}

} // namespace

std::string protocol_name(cipher_kind c) {
  return std::string{"Noise_NN_25519_"} +
         (c == cipher_kind::aes_gcm ? "AESGCM" : "ChaChaPoly") + "_SHA256";
}

// -- cipher_state -------------------------------------------------------------

cipher_state::cipher_state() = default;

cipher_state::~cipher_state() {
  EVP_CIPHER_CTX_free(as_ctx(ctx_));
  OPENSSL_cleanse(k_.data(), k_.size());
}

cipher_state::cipher_state(cipher_state&& other) noexcept
  : ctx_(other.ctx_), kind_(other.kind_), k_(other.k_),
    has_key_(other.has_key_), keyed_for_(other.keyed_for_), n_(other.n_) {
  other.ctx_ = nullptr;
  other.has_key_ = false;
  other.keyed_for_ = -1;
}

cipher_state& cipher_state::operator=(cipher_state&& other) noexcept {
  if (this != &other) {
    EVP_CIPHER_CTX_free(as_ctx(ctx_));
    ctx_ = other.ctx_;
    kind_ = other.kind_;
    k_ = other.k_;
    has_key_ = other.has_key_;
    keyed_for_ = other.keyed_for_;
    n_ = other.n_;
    other.ctx_ = nullptr;
    other.has_key_ = false;
    other.keyed_for_ = -1;
  }
  return *this;
}

void cipher_state::initialize_key(cipher_kind c, const key& k) {
  kind_ = c;
  k_ = k;
  has_key_ = true;
  keyed_for_ = -1;
  n_ = 0;
}

caf::error cipher_state::prepare(int enc, uint64_t n) {
  if (!ctx_)
    ctx_ = EVP_CIPHER_CTX_new();
  if (!ctx_)
    return crypto_error("no cipher context");
  auto* ctx = as_ctx(ctx_);
  // Keying expands the key schedule; a transport cipher runs in one
  // direction, so this happens once per key, not once per frame.
  if (keyed_for_ != enc) {
    if (EVP_CipherInit_ex(ctx, evp_cipher(kind_), nullptr, k_.data(), nullptr,
                          enc) <= 0)
      return crypto_error("cipher init failed");
    keyed_for_ = enc;
  }
  auto iv = nonce_bytes(kind_, n);
  if (EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, iv.data(), -1) <= 0)
    return crypto_error("cipher nonce failed");
  return caf::none;
}

caf::error cipher_state::encrypt(byte_view ad, uint8_t* data, size_t n) {
  byte_view all{data, n};
  return encrypt(ad, &all, 1, data);
}

caf::error cipher_state::encrypt(byte_view ad, const byte_view* parts,
                                 size_t count, uint8_t* out) {
  size_t n = 0;
  for (size_t i = 0; i < count; ++i)
    n += parts[i].size;
  if (!has_key_) {
    for (size_t i = 0, at = 0; i < count; at += parts[i++].size)
      if (parts[i].size > 0 && parts[i].data != out + at)
        std::memmove(out + at, parts[i].data, parts[i].size);
    return caf::none;
  }
  if (n_ == std::numeric_limits<uint64_t>::max())
    return crypto_error("nonce exhausted");
  if (n > static_cast<size_t>(std::numeric_limits<int>::max()))
    return crypto_error("message too large");
  if (auto err = prepare(1, n_))
    return err;
  auto* ctx = as_ctx(ctx_);
  int len = 0;
  bool ok = true;
  if (ad.size > 0)
    ok = EVP_EncryptUpdate(ctx, nullptr, &len, ad.data,
                           static_cast<int>(ad.size)) > 0;
  size_t done = 0;
  for (size_t i = 0; ok && i < count; ++i) {
    if (parts[i].size == 0)
      continue;
    int out_len = 0;
    ok = EVP_EncryptUpdate(ctx, out + done, &out_len, parts[i].data,
                           static_cast<int>(parts[i].size)) > 0;
    done += static_cast<size_t>(out_len);
  }
  int fin = 0;
  ok = ok && EVP_EncryptFinal_ex(ctx, out + done, &fin) > 0 &&
       EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, tag_size, out + n) > 0;
  if (!ok)
    return crypto_error("encryption failed");
  ++n_;
  return caf::none;
}

caf::error cipher_state::decrypt(byte_view ad, uint8_t* data, size_t n) {
  if (!has_key_)
    return caf::none;
  if (n < tag_size)
    return make_error(ec::protocol_error,
                      "integrity check failed: ciphertext of " +
                        std::to_string(n) + " bytes is shorter than its tag");
  if (n_ == std::numeric_limits<uint64_t>::max())
    return crypto_error("nonce exhausted");
  if (auto err = prepare(0, n_))
    return err;
  auto* ctx = as_ctx(ctx_);
  auto body = n - tag_size;
  int len = 0;
  bool ok = true;
  if (ad.size > 0)
    ok = EVP_DecryptUpdate(ctx, nullptr, &len, ad.data,
                           static_cast<int>(ad.size)) > 0;
  int out = 0;
  if (ok && body > 0)
    ok = EVP_DecryptUpdate(ctx, data, &out, data, static_cast<int>(body)) > 0;
  if (!ok)
    return crypto_error("decryption failed");
  int fin = 0;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, tag_size, data + body) <=
        0 ||
      EVP_DecryptFinal_ex(ctx, data + out, &fin) <= 0)
    return make_error(ec::protocol_error,
                      "integrity check failed: bad AEAD tag on message " +
                        std::to_string(n_));
  ++n_;
  return caf::none;
}

caf::error cipher_state::rekey() {
  if (!has_key_)
    return caf::none;
  std::array<uint8_t, key_size + tag_size> buf{};
  if (auto err = prepare(1, std::numeric_limits<uint64_t>::max()))
    return err;
  auto* ctx = as_ctx(ctx_);
  int out = 0;
  int fin = 0;
  if (EVP_EncryptUpdate(ctx, buf.data(), &out, buf.data(), key_size) <= 0 ||
      EVP_EncryptFinal_ex(ctx, buf.data() + out, &fin) <= 0)
    return crypto_error("rekey failed");
  std::memcpy(k_.data(), buf.data(), key_size);
  keyed_for_ = -1;
  return caf::none;
}

// -- symmetric_state ----------------------------------------------------------

std::pair<key, key> hkdf2(const key& chaining_key, byte_view ikm) {
  auto temp = hmac_sha256(chaining_key, ikm);
  uint8_t one = 0x01;
  auto out1 = hmac_sha256(temp, byte_view{&one, 1});
  std::array<uint8_t, key_size + 1> in2{};
  std::memcpy(in2.data(), out1.data(), key_size);
  in2[key_size] = 0x02;
  auto out2 = hmac_sha256(temp, byte_view{in2.data(), in2.size()});
  OPENSSL_cleanse(temp.data(), temp.size());
  return {out1, out2};
}

void symmetric_state::initialize(const std::string& name, cipher_kind c) {
  kind_ = c;
  h_.fill(0);
  if (name.size() <= key_size)
    std::memcpy(h_.data(), name.data(), name.size());
  else
    h_ = sha256(byte_view{name});
  ck_ = h_;
  cs_ = cipher_state{};
}

void symmetric_state::mix_key(byte_view ikm) {
  auto [ck, temp_k] = hkdf2(ck_, ikm);
  ck_ = ck;
  cs_.initialize_key(kind_, temp_k);
}

void symmetric_state::mix_hash(byte_view data) {
  bytes buf(h_.begin(), h_.end());
  buf.insert(buf.end(), data.data, data.data + data.size);
  h_ = sha256(byte_view{buf});
}

caf::error symmetric_state::encrypt_and_hash(byte_view plaintext, bytes& out) {
  auto start = out.size();
  out.insert(out.end(), plaintext.data, plaintext.data + plaintext.size);
  if (cs_.has_key())
    out.resize(out.size() + tag_size);
  if (auto err = cs_.encrypt(byte_view{h_.data(), h_.size()},
                             out.data() + start, plaintext.size))
    return err;
  mix_hash(byte_view{out.data() + start, out.size() - start});
  return caf::none;
}

caf::expected<bytes> symmetric_state::decrypt_and_hash(byte_view ciphertext) {
  bytes buf(ciphertext.data, ciphertext.data + ciphertext.size);
  if (auto err =
        cs_.decrypt(byte_view{h_.data(), h_.size()}, buf.data(), buf.size()))
    return err;
  mix_hash(ciphertext);
  if (cs_.has_key())
    buf.resize(buf.size() - tag_size);
  return buf;
}

std::pair<cipher_state, cipher_state> symmetric_state::split() {
  auto [k1, k2] = hkdf2(ck_, byte_view{});
  std::pair<cipher_state, cipher_state> out;
  out.first.initialize_key(kind_, k1);
  out.second.initialize_key(kind_, k2);
  return out;
}

// -- handshake_state ----------------------------------------------------------

handshake_state::handshake_state(bool initiator, cipher_kind c,
                                 byte_view prologue,
                                 std::optional<key> ephemeral)
  : initiator_(initiator), e_(x25519_keypair(ephemeral)) {
  ss_.initialize(protocol_name(c), c);
  ss_.mix_hash(prologue);
}

handshake_state::~handshake_state() {
  EVP_PKEY_free(as_pkey(e_));
}

caf::expected<bytes> handshake_state::write_message(byte_view payload) {
  if (step_ >= 2 || (step_ == 0) != initiator_)
    return make_error(ec::protocol_error,
                      "noise: not this side's turn to write");
  if (!e_)
    return crypto_error("no ephemeral key");
  // Token `e` (both messages): the ephemeral public key in clear.
  auto e_pub = x25519_public(as_pkey(e_));
  bytes out(e_pub.begin(), e_pub.end());
  ss_.mix_hash(byte_view{e_pub.data(), e_pub.size()});
  if (step_ == 1) {
    // Token `ee`.
    auto dh = x25519(as_pkey(e_), *re_);
    if (!dh)
      return dh.error();
    ss_.mix_key(byte_view{dh->data(), dh->size()});
  }
  if (auto err = ss_.encrypt_and_hash(payload, out))
    return err;
  ++step_;
  return out;
}

caf::expected<bytes> handshake_state::read_message(byte_view message) {
  if (step_ >= 2 || (step_ == 0) == initiator_)
    return make_error(ec::protocol_error,
                      "noise: unexpected handshake message " +
                        std::to_string(step_ + 1));
  auto min = key_size + (step_ == 1 ? tag_size : 0);
  if (message.size < min)
    return make_error(ec::protocol_error,
                      "noise: handshake message " + std::to_string(step_ + 1) +
                        " of " + std::to_string(message.size) +
                        " bytes, expected at least " + std::to_string(min));
  key re{};
  std::memcpy(re.data(), message.data, key_size);
  re_ = re;
  ss_.mix_hash(byte_view{re.data(), re.size()});
  if (step_ == 1) {
    auto dh = x25519(as_pkey(e_), re);
    if (!dh)
      return dh.error();
    ss_.mix_key(byte_view{dh->data(), dh->size()});
  }
  auto payload = ss_.decrypt_and_hash(
    byte_view{message.data + key_size, message.size - key_size});
  if (!payload)
    return payload.error();
  ++step_;
  return payload;
}

transport_keys handshake_state::finish() {
  auto [c1, c2] = ss_.split();
  transport_keys out;
  out.handshake_hash = ss_.handshake_hash();
  if (initiator_) {
    out.send = std::move(c1);
    out.recv = std::move(c2);
  } else {
    out.send = std::move(c2);
    out.recv = std::move(c1);
  }
  return out;
}

// -- transport_cipher ---------------------------------------------------------

caf::error transport_cipher::count(size_t plaintext) {
  ++frames_;
  bytes_ += plaintext;
  if (frames_ < limits_.frames && bytes_ < limits_.bytes)
    return caf::none;
  frames_ = 0;
  bytes_ = 0;
  ++rekeys_;
  return cs_.rekey();
}

caf::error transport_cipher::seal(uint8_t* data, size_t n) {
  if (auto err = cs_.encrypt(byte_view{}, data, n))
    return err;
  return count(n);
}

caf::error transport_cipher::seal(const byte_view* parts, size_t n_parts,
                                  uint8_t* out) {
  if (auto err = cs_.encrypt(byte_view{}, parts, n_parts, out))
    return err;
  size_t n = 0;
  for (size_t i = 0; i < n_parts; ++i)
    n += parts[i].size;
  return count(n);
}

caf::error transport_cipher::open(uint8_t* data, size_t n) {
  if (auto err = cs_.decrypt(byte_view{}, data, n))
    return err;
  return count(n - tag_size);
}

} // namespace cairn::noise
