#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/bytes.hpp"

// The Noise Protocol Framework (revision 34, noiseprotocol.org/noise.html)
// for one protocol, `Noise_NN_25519_<cipher>_SHA256`, on OpenSSL's EVP: the
// peer session's encrypted channel (messages/wire/FORMAT.md §1). No actors,
// no sockets: bytes in, bytes out.
//
// Thread-safety: none of these objects is thread-safe; each belongs to one
// session (one actor) at a time. They may be moved between threads.
namespace cairn::noise {

/// The AEAD of the protocol name: "AESGCM" (AES-256-GCM, big-endian counter
/// nonce) or "ChaChaPoly" (ChaCha20-Poly1305, little-endian counter nonce).
enum class cipher_kind : uint8_t { aes_gcm, chacha_poly };

/// Bytes of a cipher key, a SHA-256 digest and an X25519 key.
constexpr size_t key_size = 32;
/// Bytes of the AEAD tag appended to every ciphertext.
constexpr size_t tag_size = 16;

using key = std::array<uint8_t, key_size>;

/// The cipher sessions use (chosen on measured cost, see FORMAT.md §1.3).
constexpr cipher_kind session_cipher = cipher_kind::chacha_poly;

/// "Noise_NN_25519_<cipher>_SHA256".
std::string protocol_name(cipher_kind c);

/// A Noise CipherState: a key `k` (or none) and a 64-bit nonce counter `n`.
/// Holds one OpenSSL cipher context, keyed once per key (and per direction),
/// so that a transport message costs one IV set, one update and one final.
/// Move-only.
class cipher_state {
public:
  cipher_state();
  ~cipher_state();
  cipher_state(cipher_state&& other) noexcept;
  cipher_state& operator=(cipher_state&& other) noexcept;
  cipher_state(const cipher_state&) = delete;
  cipher_state& operator=(const cipher_state&) = delete;

  /// InitializeKey(k): sets the key and resets `n` to 0.
  void initialize_key(cipher_kind c, const key& k);

  /// HasKey().
  bool has_key() const { return has_key_; }

  /// The nonce the next encryption or decryption uses.
  uint64_t nonce() const { return n_; }

  /// SetNonce(n).
  void set_nonce(uint64_t n) { n_ = n; }

  /// EncryptWithAd(ad, plaintext), in place: encrypts the `n` bytes at
  /// `data` and writes the tag to `data + n` (the caller provides
  /// `n + tag_size` bytes). Without a key, leaves the bytes as they are
  /// and writes no tag (Noise: returns the plaintext). Errors:
  /// `protocol_error` when the nonce is exhausted or OpenSSL fails.
  caf::error encrypt(byte_view ad, uint8_t* data, size_t n);

  /// EncryptWithAd(ad, plaintext) of the concatenation of `parts`, written
  /// to `out` (their total size plus `tag_size` bytes): the plaintext is
  /// read where it lies, so that sealing a frame is its only copy. `out`
  /// may be a part's own memory only where that part is encrypted in
  /// place. Without a key, copies the parts and writes no tag.
  caf::error encrypt(byte_view ad, const byte_view* parts, size_t count,
                     uint8_t* out);

  /// DecryptWithAd(ad, ciphertext), in place: `n` counts the ciphertext
  /// with its tag; on success the first `n - tag_size` bytes are the
  /// plaintext. Without a key, accepts the bytes as plaintext. Errors:
  /// `protocol_error` ("integrity check failed ...") if the tag does not
  /// verify, in which case `n` is not advanced and the bytes are garbage.
  caf::error decrypt(byte_view ad, uint8_t* data, size_t n);

  /// Rekey(): k = first 32 bytes of ENCRYPT(k, 2^64-1, empty, 32 zeros).
  /// Leaves `n` as it is.
  caf::error rekey();

private:
  caf::error prepare(int enc, uint64_t n);

  void* ctx_ = nullptr; // EVP_CIPHER_CTX*
  cipher_kind kind_ = cipher_kind::aes_gcm;
  key k_{};
  bool has_key_ = false;
  /// The direction `ctx_` is keyed for: -1 none, 0 decrypt, 1 encrypt.
  int keyed_for_ = -1;
  uint64_t n_ = 0;
};

/// A Noise SymmetricState: chaining key `ck`, handshake hash `h` and a
/// CipherState, with SHA-256 and HKDF over HMAC-SHA256.
class symmetric_state {
public:
  /// InitializeSymmetric(protocol_name).
  void initialize(const std::string& protocol_name, cipher_kind c);

  /// MixKey(ikm).
  void mix_key(byte_view ikm);

  /// MixHash(data).
  void mix_hash(byte_view data);

  /// EncryptAndHash(plaintext), appended to `out`.
  caf::error encrypt_and_hash(byte_view plaintext, bytes& out);

  /// DecryptAndHash(ciphertext): the plaintext, or the cipher's error.
  caf::expected<bytes> decrypt_and_hash(byte_view ciphertext);

  /// Split(): the initiator's sending and the responder's sending cipher.
  std::pair<cipher_state, cipher_state> split();

  /// GetHandshakeHash().
  const key& handshake_hash() const { return h_; }

private:
  cipher_kind kind_ = cipher_kind::aes_gcm;
  key ck_{};
  key h_{};
  cipher_state cs_;
};

/// HKDF(chaining_key, input_key_material, 2) of the Noise spec (§4.3) with
/// HMAC-SHA256. Exposed for known-answer tests.
std::pair<key, key> hkdf2(const key& chaining_key, byte_view ikm);

/// The two ciphers of an established channel, one per direction.
struct transport_keys {
  cipher_state send;
  cipher_state recv;
  /// The handshake hash `h`: both ends have the same value, and no other
  /// session has it; the peer session's AUTH signs it (channel binding).
  key handshake_hash{};
};

/// A Noise HandshakeState for pattern NN (`-> e`, `<- e, ee`) with empty
/// s, rs, psk: the initiator writes message 1 and reads message 2; the
/// responder reads 1 and writes 2. After message 2, `finish()` gives the
/// transport keys.
class handshake_state {
public:
  /// Initialize(): the protocol name of `c`, `prologue` mixed into `h`.
  /// `ephemeral` fixes the ephemeral private key (tests with published
  /// vectors only); otherwise it is drawn from OpenSSL's RNG.
  handshake_state(bool initiator, cipher_kind c, byte_view prologue,
                  std::optional<key> ephemeral = std::nullopt);
  ~handshake_state();
  handshake_state(const handshake_state&) = delete;
  handshake_state& operator=(const handshake_state&) = delete;

  /// WriteMessage(payload): the next message to send. Errors:
  /// `protocol_error` if it is not this side's turn, or on a crypto failure.
  caf::expected<bytes> write_message(byte_view payload);

  /// ReadMessage(message): the payload it carries. Errors: `protocol_error`
  /// if it is not the peer's turn, the message has the wrong size, the
  /// peer's ephemeral key is unusable (low order) or the tag fails.
  caf::expected<bytes> read_message(byte_view message);

  /// True once both messages have been written or read.
  bool done() const { return step_ == 2; }

  /// Split() into this side's (send, recv) ciphers and the final `h`.
  /// Requires `done()`.
  transport_keys finish();

private:
  bool initiator_;
  int step_ = 0;
  symmetric_state ss_;
  void* e_ = nullptr; // EVP_PKEY*, the local ephemeral key pair
  std::optional<key> re_;
};

/// When a direction of a session rekeys: after this many frames or bytes of
/// plaintext since the last rekey, whichever comes first. Both ends count
/// the same frames, so they rekey at the same frame without telling.
struct rekey_limits {
  uint64_t frames = uint64_t{1} << 20;
  uint64_t bytes = uint64_t{1} << 34;
};

/// One direction of a session's transport: a CipherState that calls
/// Rekey() when `rekey_limits` are reached. Frames are sealed and opened in
/// place; the associated data is empty.
class transport_cipher {
public:
  transport_cipher() = default;
  transport_cipher(cipher_state cs, rekey_limits limits)
    : cs_(std::move(cs)), limits_(limits) {}

  /// True once constructed from a keyed cipher.
  bool active() const { return cs_.has_key(); }

  /// Encrypts the `n` bytes at `data`, tag at `data + n`.
  caf::error seal(uint8_t* data, size_t n);

  /// Encrypts the concatenation of `parts` into `out`, tag after it.
  caf::error seal(const byte_view* parts, size_t count, uint8_t* out);

  /// Decrypts `n` bytes (with the tag) at `data` in place.
  caf::error open(uint8_t* data, size_t n);

  /// Rekeys done so far.
  uint64_t rekeys() const { return rekeys_; }

private:
  caf::error count(size_t plaintext);

  cipher_state cs_;
  rekey_limits limits_;
  uint64_t frames_ = 0;
  uint64_t bytes_ = 0;
  uint64_t rekeys_ = 0;
};

} // namespace cairn::noise
