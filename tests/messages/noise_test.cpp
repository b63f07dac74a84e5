// messages/noise: the published Noise test vectors (cacophony) for the
// protocols sessions may use, HKDF against RFC 5869, and every way a
// transport message must fail (tampered, replayed, reordered, rekeyed on one
// side only).

#include "messages/noise.hpp"

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_helpers.hpp"

using namespace cairn;
using namespace cairn::noise;
using test::from_hex;

namespace {

key key_from_hex(const std::string& hex) {
  auto b = from_hex(hex);
  key k{};
  std::memcpy(k.data(), b.data(), k.size());
  return k;
}

// One vector of the cacophony suite (snow's tests/vectors/cacophony.txt):
// messages 0 and 1 are the handshake, then transport messages alternate
// initiator → responder, responder → initiator. `handshake_hash` is the
// final `h` as the spec defines it (SHA-256 chain over prologue, both
// ephemeral keys and both payload ciphertexts), recomputed with Python's
// hashlib and cryptography: the file's own `handshake_hash` field does not
// follow from its messages, which match here byte for byte.
struct vector {
  cipher_kind cipher;
  std::string handshake_hash;
  std::vector<std::string> ciphertexts;
};

const std::string prologue = "4a6f686e2047616c74"; // "John Galt"
const std::string init_ephemeral =
  "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a";
const std::string resp_ephemeral =
  "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b";
const std::vector<std::string> payloads = {
  "4c756477696720766f6e204d69736573",
  "4d757272617920526f746862617264",
  "462e20412e20486179656b",
  "4361726c204d656e676572",
  "4a65616e2d426170746973746520536179",
  "457567656e2042f6686d20766f6e2042617765726b",
};

const vector nn_aesgcm{
  cipher_kind::aes_gcm,
  "6301958d25cd7d1ffe6ad7d0ca2ad284b4e478d9acd9198f7750432d225043d0",
  {"ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c7564"
   "77696720766f6e204d69736573",
   "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843934ff7"
   "3eebb9d930ebf62b8e4db8133ca936872b5551efd7c9989c646d8cf0",
   "8d372b94914e80018211a344b8b1c5a2869492a0db46990c0362f3",
   "e183b0abd55550f9955fb05476d988c6f27628d7bbde111c39ccbc",
   "167293a79ad6a647114c4f4eb55bdf713a0d44ae48765c07fc4e57743100825021",
   "2b67a18ae246069c51687bee89141041d9d35a821f852975d169a4f80f75c735807a1f"
   "d157"}};

const vector nn_chachapoly{
  cipher_kind::chacha_poly,
  "9223fec1b892ec9d0dc2fb3bbeb261f170d1ea679f9c44ccf34aa131b4f5d97e",
  {"ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c7564"
   "77696720766f6e204d69736573",
   "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843a0ff96"
   "bdf86b579ef7dbf94e812a7470b903c20a85a87e3a1fe863264ae547",
   "eb1a3e3d80c1792b1bb9cb0e1382f8d8322bfb1ca7c4c8517bb686",
   "c781b198d2a974eb1da2c7d518c000cf6396de87ca540963c03713",
   "c77048eb6919fdfe8fe45842bfc5b8d1ff50d1e20c717453ccdfe6176d805b996d",
   "61834d7069dcfb7a1adf8d5ac910f83fa04c73a67789895c6f5f995c5db2ce88e49b12"
   "4178"}};

bytes seal(transport_cipher& c, const bytes& plain) {
  bytes buf = plain;
  buf.resize(plain.size() + tag_size);
  EXPECT_OK(c.seal(buf.data(), plain.size()));
  return buf;
}

caf::expected<bytes> open(transport_cipher& c, bytes buf) {
  if (auto err = c.open(buf.data(), buf.size()))
    return err;
  buf.resize(buf.size() - tag_size);
  return buf;
}

// Runs `v` through both sides: every message must match byte for byte,
// and each side must decrypt what the other wrote.
void check_vector(const vector& v) {
  auto pro = from_hex(prologue);
  handshake_state init{true, v.cipher, byte_view{pro},
                       key_from_hex(init_ephemeral)};
  handshake_state resp{false, v.cipher, byte_view{pro},
                       key_from_hex(resp_ephemeral)};
  auto m0 = init.write_message(byte_view{from_hex(payloads[0])});
  ASSERT_OK(m0);
  EXPECT_EQ(to_hex(byte_view{*m0}), v.ciphertexts[0]);
  auto p0 = resp.read_message(byte_view{*m0});
  ASSERT_OK(p0);
  EXPECT_EQ(to_hex(byte_view{*p0}), payloads[0]);
  auto m1 = resp.write_message(byte_view{from_hex(payloads[1])});
  ASSERT_OK(m1);
  EXPECT_EQ(to_hex(byte_view{*m1}), v.ciphertexts[1]);
  auto p1 = init.read_message(byte_view{*m1});
  ASSERT_OK(p1);
  EXPECT_EQ(to_hex(byte_view{*p1}), payloads[1]);
  ASSERT_TRUE(init.done());
  ASSERT_TRUE(resp.done());
  auto ik = init.finish();
  auto rk = resp.finish();
  EXPECT_EQ(to_hex(byte_view{ik.handshake_hash.data(), key_size}),
            v.handshake_hash);
  EXPECT_EQ(ik.handshake_hash, rk.handshake_hash);
  transport_cipher i_send{std::move(ik.send), {}};
  transport_cipher i_recv{std::move(ik.recv), {}};
  transport_cipher r_send{std::move(rk.send), {}};
  transport_cipher r_recv{std::move(rk.recv), {}};
  for (size_t i = 2; i < payloads.size(); ++i) {
    bool from_init = i % 2 == 0;
    auto& tx = from_init ? i_send : r_send;
    auto& rx = from_init ? r_recv : i_recv;
    auto ct = seal(tx, from_hex(payloads[i]));
    EXPECT_EQ(to_hex(byte_view{ct}), v.ciphertexts[i]) << "message " << i;
    auto pt = open(rx, ct);
    ASSERT_OK(pt);
    EXPECT_EQ(to_hex(byte_view{*pt}), payloads[i]);
  }
}

// An established pair of directions: `a` seals what `b` opens.
struct channel {
  transport_cipher a;
  transport_cipher b;
};

channel make_channel(rekey_limits a_limits = {}, rekey_limits b_limits = {}) {
  handshake_state init{true, session_cipher, byte_view{}};
  handshake_state resp{false, session_cipher, byte_view{}};
  auto m0 = init.write_message(byte_view{});
  EXPECT_OK(resp.read_message(byte_view{*m0}));
  auto m1 = resp.write_message(byte_view{});
  EXPECT_OK(init.read_message(byte_view{*m1}));
  auto ik = init.finish();
  auto rk = resp.finish();
  return {transport_cipher{std::move(ik.send), a_limits},
          transport_cipher{std::move(rk.recv), b_limits}};
}

} // namespace

TEST(NoiseTest, CacophonyVectorNnAesGcmSha256) {
  check_vector(nn_aesgcm);
}

TEST(NoiseTest, CacophonyVectorNnChaChaPolySha256) {
  check_vector(nn_chachapoly);
}

TEST(NoiseTest, ProtocolNames) {
  EXPECT_EQ(protocol_name(cipher_kind::aes_gcm),
            "Noise_NN_25519_AESGCM_SHA256");
  EXPECT_EQ(protocol_name(cipher_kind::chacha_poly),
            "Noise_NN_25519_ChaChaPoly_SHA256");
}

// Noise's HKDF is RFC 5869's with salt = chaining key and empty info; an
// empty salt is HMAC's all-zero key. RFC 5869 test case 3.
TEST(NoiseTest, HkdfMatchesRfc5869) {
  bytes ikm(22, 0x0b);
  auto [out1, out2] = hkdf2(key{}, byte_view{ikm});
  // The first 42 bytes of out1 || out2.
  EXPECT_EQ(to_hex(byte_view{out1.data(), out1.size()}) +
              to_hex(byte_view{out2.data(), 10}),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
            "9d201395faa4b61a96c8");
}

TEST(NoiseTest, FlippedBitFailsTheIntegrityCheck) {
  auto ch = make_channel();
  auto ct = seal(ch.a, bytes(1000, 0x55));
  for (size_t at : {size_t{0}, size_t{999}, size_t{1000}, ct.size() - 1}) {
    auto bad = ct;
    bad[at] ^= 0x01;
    auto got = open(ch.b, bad);
    ASSERT_ERR(got, ec::protocol_error);
    EXPECT_NE(describe(got.error()).find("integrity"), std::string::npos);
  }
  // A failed open does not advance the nonce: the genuine frame still opens.
  auto good = open(ch.b, ct);
  ASSERT_OK(good);
  EXPECT_EQ(*good, bytes(1000, 0x55));
}

TEST(NoiseTest, ReplayedOrReorderedFrameIsRejected) {
  auto ch = make_channel();
  auto c1 = seal(ch.a, bytes{1, 2, 3});
  auto c2 = seal(ch.a, bytes{4, 5, 6});
  EXPECT_ERR(open(ch.b, c2), ec::protocol_error); // out of order
  ASSERT_OK(open(ch.b, c1));
  EXPECT_ERR(open(ch.b, c1), ec::protocol_error); // replayed
  ASSERT_OK(open(ch.b, c2));
}

TEST(NoiseTest, TruncatedFrameIsRejected) {
  auto ch = make_channel();
  EXPECT_ERR(open(ch.b, bytes(tag_size - 1, 0)), ec::protocol_error);
}

TEST(NoiseTest, RekeyOnBothSidesKeepsTheChannel) {
  rekey_limits every3{3, uint64_t{1} << 40};
  auto ch = make_channel(every3, every3);
  for (uint8_t i = 0; i < 10; ++i) {
    auto got = open(ch.b, seal(ch.a, bytes(100, i)));
    ASSERT_OK(got) << "frame " << int{i};
    EXPECT_EQ(*got, bytes(100, i));
  }
  EXPECT_EQ(ch.a.rekeys(), 3u);
  EXPECT_EQ(ch.b.rekeys(), 3u);
}

TEST(NoiseTest, RekeyByBytesCountsPlaintext) {
  rekey_limits per_kib{uint64_t{1} << 40, 1024};
  auto ch = make_channel(per_kib, per_kib);
  for (int i = 0; i < 5; ++i)
    ASSERT_OK(open(ch.b, seal(ch.a, bytes(600, 7))));
  EXPECT_EQ(ch.a.rekeys(), 2u);
  EXPECT_EQ(ch.b.rekeys(), 2u);
}

TEST(NoiseTest, RekeyOnOneSideOnlyBreaksTheChannel) {
  auto ch = make_channel(rekey_limits{2, uint64_t{1} << 40},
                         rekey_limits{3, uint64_t{1} << 40});
  ASSERT_OK(open(ch.b, seal(ch.a, bytes{1})));
  ASSERT_OK(open(ch.b, seal(ch.a, bytes{2})));
  EXPECT_ERR(open(ch.b, seal(ch.a, bytes{3})), ec::protocol_error);
}

TEST(NoiseTest, HandshakeMessagesOutOfTurnOrShortAreRejected) {
  handshake_state init{true, session_cipher, byte_view{}};
  EXPECT_ERR(init.read_message(byte_view{bytes(32, 1)}), ec::protocol_error);
  handshake_state resp{false, session_cipher, byte_view{}};
  EXPECT_ERR(resp.write_message(byte_view{}), ec::protocol_error);
  EXPECT_ERR(resp.read_message(byte_view{bytes(31, 1)}), ec::protocol_error);
}

TEST(NoiseTest, DifferentProloguesFailTheHandshake) {
  bytes p1{'a'}, p2{'b'};
  handshake_state init{true, session_cipher, byte_view{p1}};
  handshake_state resp{false, session_cipher, byte_view{p2}};
  auto m0 = init.write_message(byte_view{});
  ASSERT_OK(resp.read_message(byte_view{*m0}));
  auto m1 = resp.write_message(byte_view{});
  ASSERT_OK(m1);
  EXPECT_ERR(init.read_message(byte_view{*m1}), ec::protocol_error);
}

TEST(NoiseTest, LowOrderEphemeralKeyIsRejected) {
  handshake_state init{true, session_cipher, byte_view{}};
  ASSERT_OK(init.write_message(byte_view{}));
  // The all-zero point: X25519 with it gives zero, which OpenSSL refuses.
  EXPECT_ERR(init.read_message(byte_view{bytes(48, 0)}), ec::protocol_error);
}

TEST(NoiseTest, LargeFrameRoundTripsInPlace) {
  auto ch = make_channel();
  auto plain = test::random_bytes(4 << 20, 1);
  auto ct = seal(ch.a, plain);
  EXPECT_NE(bytes(ct.begin(), ct.begin() + 64),
            bytes(plain.begin(), plain.begin() + 64));
  auto got = open(ch.b, ct);
  ASSERT_OK(got);
  EXPECT_EQ(*got, plain);
}

TEST(NoiseTest, SealOfPartsOpensAsTheirConcatenation) {
  auto ch = make_channel();
  auto plain = test::random_bytes(200003, 2);
  // Uneven parts, an empty one among them, read where they lie.
  std::vector<byte_view> parts{{plain.data(), 1},
                               {plain.data() + 1, 0},
                               {plain.data() + 1, 65536},
                               {plain.data() + 65537, plain.size() - 65537}};
  bytes ct(plain.size() + tag_size);
  ASSERT_OK(ch.a.seal(parts.data(), parts.size(), ct.data()));
  auto got = open(ch.b, ct);
  ASSERT_OK(got);
  EXPECT_EQ(*got, plain);
  // The next frame, sealed in place, still opens: one nonce per frame.
  auto next = open(ch.b, seal(ch.a, bytes(100, 9)));
  ASSERT_OK(next);
  EXPECT_EQ(*next, bytes(100, 9));
  // Without a key the parts are copied, no tag.
  cipher_state none;
  bytes copy(plain.size());
  ASSERT_OK(none.encrypt(byte_view{}, parts.data(), parts.size(), copy.data()));
  EXPECT_EQ(copy, plain);
}
