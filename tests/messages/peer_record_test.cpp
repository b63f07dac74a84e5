// Tests of messages/peer_record.hpp (signed peer records, their binary and
// `spr:` text forms, multiaddr helpers), messages/base64url.hpp and
// messages/ed25519.hpp. Malformed input must give an error, never a crash.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "messages/base64url.hpp"
#include "messages/ed25519.hpp"
#include "messages/error.hpp"
#include "messages/peer_record.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using cairn::test::random_bytes;

namespace {

bytes from_hex(std::string_view hex) {
  bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(
      std::stoi(std::string{hex.substr(i, 2)}, nullptr, 16)));
  return out;
}

template <size_t N>
std::array<uint8_t, N> array_from_hex(std::string_view hex) {
  auto b = from_hex(hex);
  std::array<uint8_t, N> out{};
  std::copy(b.begin(), b.end(), out.begin());
  return out;
}

ed25519_seed seed_of(uint64_t n) {
  auto b = random_bytes(32, n);
  ed25519_seed s{};
  std::copy(b.begin(), b.end(), s.begin());
  return s;
}

peer_record sample_record(uint64_t n = 1) {
  return peer_record::make(
    seed_of(n), 1700000000000 + n,
    {"/ip4/127.0.0.1/tcp/8070", "/ip4/127.0.0.1/udp/8090"});
}

std::string text_of(const bytes& b) {
  return std::string(b.begin(), b.end());
}

} // namespace

// -- ed25519 ------------------------------------------------------------------

TEST(PeerRecordEd25519Test, Rfc8032TestVector1) {
  auto seed = array_from_hex<32>(
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  auto pub = ed25519_public_key(seed);
  ASSERT_TRUE(pub);
  EXPECT_EQ(to_hex(bytes(pub->begin(), pub->end())),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  auto sig = ed25519_sign(seed, byte_view{});
  EXPECT_EQ(to_hex(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555f"
            "b8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  EXPECT_TRUE(ed25519_verify(*pub, byte_view{}, sig));
}

TEST(PeerRecordEd25519Test, VerifyRejectsTamperingAndBadSizes) {
  auto seed = seed_of(7);
  auto pub = *ed25519_public_key(seed);
  bytes msg = random_bytes(100, 8);
  auto sig = ed25519_sign(seed, msg);
  ASSERT_EQ(sig.size(), ed25519_signature_size);
  EXPECT_TRUE(ed25519_verify(pub, msg, sig));
  auto bad_msg = msg;
  bad_msg[50] ^= 1;
  EXPECT_FALSE(ed25519_verify(pub, bad_msg, sig));
  auto bad_sig = sig;
  bad_sig[10] ^= 0x80;
  EXPECT_FALSE(ed25519_verify(pub, msg, bad_sig));
  EXPECT_FALSE(ed25519_verify(pub, msg, bytes(sig.begin(), sig.end() - 1)));
  EXPECT_FALSE(ed25519_verify(*ed25519_public_key(seed_of(9)), msg, sig));
}

// -- base64url ----------------------------------------------------------------

TEST(Base64UrlTest, EncodesRfc4648Vectors) {
  EXPECT_EQ(base64url_encode(std::string_view{""}), "");
  EXPECT_EQ(base64url_encode(std::string_view{"f"}), "Zg");
  EXPECT_EQ(base64url_encode(std::string_view{"fo"}), "Zm8");
  EXPECT_EQ(base64url_encode(std::string_view{"foo"}), "Zm9v");
  EXPECT_EQ(base64url_encode(std::string_view{"foob"}), "Zm9vYg");
  EXPECT_EQ(base64url_encode(std::string_view{"fooba"}), "Zm9vYmE");
  EXPECT_EQ(base64url_encode(std::string_view{"foobar"}), "Zm9vYmFy");
}

TEST(Base64UrlTest, DecodesRfc4648VectorsWithAndWithoutPadding) {
  std::vector<std::pair<std::string, std::string>> vectors = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, padded] : vectors) {
    auto a = base64url_decode(padded);
    ASSERT_TRUE(a) << padded;
    EXPECT_EQ(text_of(*a), plain);
    auto unpadded = padded.substr(0, padded.find('='));
    auto b = base64url_decode(unpadded);
    ASSERT_TRUE(b) << unpadded;
    EXPECT_EQ(text_of(*b), plain);
  }
}

TEST(Base64UrlTest, UsesUrlSafeAlphabet) {
  bytes x{0xfb, 0xff, 0xbf};
  EXPECT_EQ(base64url_encode(x), "-_-_");
  auto back = base64url_decode("-_-_");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, x);
  // The standard alphabet's '+' and '/' are not base64url.
  EXPECT_FALSE(base64url_decode("+/+/"));
}

TEST(Base64UrlTest, RoundTripsAllLengths) {
  for (size_t n = 0; n < 200; ++n) {
    auto x = random_bytes(n, n + 1);
    auto text = base64url_encode(x);
    EXPECT_EQ(text.find('='), std::string::npos);
    auto back = base64url_decode(text);
    ASSERT_TRUE(back) << n;
    EXPECT_EQ(*back, x) << n;
  }
}

TEST(Base64UrlTest, RejectsMalformedText) {
  for (std::string bad : std::vector<std::string>{
         "Z", "Zm9vY", "Zg=", "Zg===", "Z===", "====", "==", "Zm 9v", "Zm9v\n",
         "Zm=v", "Zh", "Zm9", "Zm8=Zm8=", "Zm9v!", std::string("Zm\0v", 4)})
    EXPECT_FALSE(base64url_decode(bad)) << "accepted '" << bad << "'";
}

TEST(Base64UrlTest, RejectsTextLongerThanMaxLen) {
  EXPECT_TRUE(base64url_decode("Zm9vYmFy", 8));
  EXPECT_FALSE(base64url_decode("Zm9vYmFy", 7));
}

// -- peer records -------------------------------------------------------------

TEST(PeerRecordTest, MakeSignsARecordThatVerifies) {
  auto r = sample_record();
  EXPECT_EQ(r.public_key, *ed25519_public_key(seed_of(1)));
  EXPECT_EQ(r.signature.size(), 64u);
  EXPECT_TRUE(r.verify());
  EXPECT_EQ(r.id(), peer_id::from_ed25519(r.public_key));
  EXPECT_EQ(r.id().to_string().rfind("12D3KooW", 0), 0u);
}

TEST(PeerRecordTest, MakeWithSignerEqualsMakeWithSeed) {
  auto seed = seed_of(3);
  auto pub = *ed25519_public_key(seed);
  std::vector<std::string> addrs{"/ip4/10.0.0.1/udp/9000"};
  auto a = peer_record::make(seed, 42, addrs);
  auto b = peer_record::make(
    pub, 42, addrs, [&](byte_view m) { return ed25519_sign(seed, m); });
  EXPECT_EQ(a, b);
}

TEST(PeerRecordTest, SigningPayloadIsDomainSeparatedMsgpack) {
  auto r = sample_record();
  auto p = r.signing_payload();
  ASSERT_GT(p.size(), 14u);
  EXPECT_EQ(p[0], 0x94);      // fixarray of 4
  EXPECT_EQ(p[1], 0xa0 | 12); // fixstr of 12
  EXPECT_EQ(std::string(p.begin() + 2, p.begin() + 14), "cairn-spr-v1");
  EXPECT_EQ(p[14], 0xc4); // bin 8 public key
}

TEST(PeerRecordTest, EncodingMatchesDocumentedLayout) {
  auto r =
    peer_record::make(seed_of(1), 1700000000000, {"/ip4/127.0.0.1/udp/8090"});
  auto b = r.encode();
  ASSERT_EQ(b.size(), 135u); // DHT_FORMAT.md's example
  EXPECT_EQ(b[0], 0x94);
  EXPECT_EQ(b[1], 0xc4);
  EXPECT_EQ(b[2], 0x20);
  EXPECT_EQ(b[35], 0xcf);
  EXPECT_EQ(b[44], 0x91);
  EXPECT_EQ(b[45], 0xa0 | 23);
  EXPECT_EQ(b[69], 0xc4);
  EXPECT_EQ(b[70], 0x40);
}

TEST(PeerRecordTest, EncodeDecodeRoundTrip) {
  for (uint64_t seq :
       {uint64_t{0}, uint64_t{127}, uint64_t{1} << 40, ~uint64_t{0}}) {
    auto r = peer_record::make(seed_of(seq), seq,
                               {"/ip4/1.2.3.4/tcp/1", "/dns4/x.example/udp/2"});
    auto d = peer_record::decode(r.encode());
    ASSERT_OK(d);
    EXPECT_EQ(*d, r);
  }
  auto empty = peer_record::make(seed_of(5), 1, {});
  auto d = peer_record::decode(empty.encode());
  ASSERT_OK(d);
  EXPECT_EQ(*d, empty);
}

TEST(PeerRecordTest, MaximalRecordFitsTheLimit) {
  std::vector<std::string> addrs(peer_record::max_addrs,
                                 std::string(peer_record::max_addr_len, 'a'));
  auto r = peer_record::make(seed_of(1), ~uint64_t{0}, addrs);
  auto b = r.encode();
  EXPECT_LE(b.size(), peer_record::max_encoded_size);
  ASSERT_OK(peer_record::decode(b));
  ASSERT_OK(peer_record::from_text(r.to_text()));
}

TEST(PeerRecordTest, TamperedFieldsFailVerification) {
  auto r = sample_record();
  auto seq = r;
  seq.seq += 1;
  EXPECT_ERR(peer_record::decode(seq.encode()), ec::verification_failed);
  auto addr = r;
  addr.addrs[0] = "/ip4/6.6.6.6/tcp/8070";
  EXPECT_ERR(peer_record::decode(addr.encode()), ec::verification_failed);
  auto key = r;
  key.public_key = *ed25519_public_key(seed_of(99));
  EXPECT_ERR(peer_record::decode(key.encode()), ec::verification_failed);
  auto sig = r;
  sig.signature[63] ^= 0x01;
  EXPECT_ERR(peer_record::decode(sig.encode()), ec::verification_failed);
}

TEST(PeerRecordTest, EveryFlippedByteIsRejected) {
  auto b = sample_record().encode();
  for (size_t i = 0; i < b.size(); ++i) {
    auto x = b;
    x[i] ^= 0x01;
    auto d = peer_record::decode(x);
    EXPECT_FALSE(d) << "byte " << i;
  }
}

TEST(PeerRecordTest, MalformedBytesAreProtocolErrors) {
  auto b = sample_record().encode();
  for (size_t n = 0; n < b.size(); ++n)
    EXPECT_ERR(peer_record::decode(byte_view{b.data(), n}), ec::protocol_error)
      << "prefix " << n;
  auto trailing = b;
  trailing.push_back(0);
  EXPECT_ERR(peer_record::decode(trailing), ec::protocol_error);
  for (uint64_t seed = 0; seed < 300; ++seed) {
    auto junk = random_bytes(seed % 200, seed);
    EXPECT_FALSE(peer_record::decode(junk));
  }
  // Hostile headers: a huge array, a huge string.
  bytes huge_array{0xdd, 0xff, 0xff, 0xff, 0xff};
  EXPECT_ERR(peer_record::decode(huge_array), ec::protocol_error);
  bytes huge_str{0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'};
  EXPECT_ERR(peer_record::decode(huge_str), ec::protocol_error);
  EXPECT_ERR(peer_record::decode(bytes(peer_record::max_encoded_size + 1, 0)),
             ec::protocol_error);
}

TEST(PeerRecordTest, RejectsTooManyOrTooLongAddrs) {
  std::vector<std::string> many(peer_record::max_addrs + 1,
                                "/ip4/1.2.3.4/tcp/1");
  EXPECT_ERR(
    peer_record::decode(peer_record::make(seed_of(1), 1, many).encode()),
    ec::protocol_error);
  std::vector<std::string> longer{
    std::string(peer_record::max_addr_len + 1, 'a')};
  EXPECT_ERR(
    peer_record::decode(peer_record::make(seed_of(1), 1, longer).encode()),
    ec::protocol_error);
}

TEST(PeerRecordTest, TextFormRoundTrips) {
  auto r = sample_record();
  auto text = r.to_text();
  EXPECT_EQ(text.rfind("spr:", 0), 0u);
  EXPECT_EQ(text.find('='), std::string::npos);
  auto back = peer_record::from_text(text);
  ASSERT_OK(back);
  EXPECT_EQ(*back, r);
  auto spaced = peer_record::from_text("  " + text + "\n");
  ASSERT_OK(spaced);
  EXPECT_EQ(*spaced, r);
}

TEST(PeerRecordTest, FromTextRejectsMalformedText) {
  auto text = sample_record().to_text();
  EXPECT_ERR(peer_record::from_text(text.substr(4)), ec::invalid_argument);
  EXPECT_ERR(peer_record::from_text("SPR:" + text.substr(4)),
             ec::invalid_argument);
  EXPECT_ERR(peer_record::from_text(""), ec::invalid_argument);
  EXPECT_ERR(peer_record::from_text("spr:"), ec::protocol_error);
  EXPECT_ERR(peer_record::from_text(text + "!"), ec::invalid_argument);
  EXPECT_ERR(peer_record::from_text("spr:" + std::string(6000, 'A')),
             ec::invalid_argument);
  EXPECT_ERR(peer_record::from_text(
               "spr:" + base64url_encode(std::string_view{"garbage"})),
             ec::protocol_error);
  auto tampered = sample_record();
  tampered.seq = 1;
  EXPECT_ERR(peer_record::from_text(tampered.to_text()),
             ec::verification_failed);
}

// -- multiaddr ----------------------------------------------------------------

TEST(MultiaddrTest, ParsesIp4TcpAndUdp) {
  auto tcp = parse_multiaddr("/ip4/127.0.0.1/tcp/8070");
  ASSERT_TRUE(tcp);
  EXPECT_EQ(*tcp, (endpoint{"127.0.0.1", 8070, false}));
  auto udp = parse_multiaddr("/ip4/255.255.255.255/udp/65535");
  ASSERT_TRUE(udp);
  EXPECT_EQ(*udp, (endpoint{"255.255.255.255", 65535, true}));
  auto zero = parse_multiaddr("/ip4/0.0.0.0/udp/1");
  ASSERT_TRUE(zero);
  EXPECT_EQ(zero->host, "0.0.0.0");
}

TEST(MultiaddrTest, ParsesDns4) {
  auto a = parse_multiaddr("/dns4/node-1.example.org/tcp/443");
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, (endpoint{"node-1.example.org", 443, false}));
  auto b = parse_multiaddr("/dns4/localhost/udp/8090");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->udp);
}

TEST(MultiaddrTest, RejectsMalformedAddresses) {
  for (const char* bad : {"",
                          "/",
                          "ip4/1.2.3.4/tcp/1",
                          "/ip4/1.2.3.4/tcp/1/",
                          "/ip4/1.2.3.4/tcp",
                          "/ip4/1.2.3.4/tcp/0",
                          "/ip4/1.2.3.4/tcp/65536",
                          "/ip4/1.2.3.4/tcp/080",
                          "/ip4/1.2.3.4/tcp/-1",
                          "/ip4/1.2.3.4/tcp/1x",
                          "/ip4/1.2.3.4/sctp/1",
                          "/ip4/1.2.3/tcp/1",
                          "/ip4/1.2.3.4.5/tcp/1",
                          "/ip4/256.1.1.1/tcp/1",
                          "/ip4/01.1.1.1/tcp/1",
                          "/ip4/1..1.1/tcp/1",
                          "/ip4/a.b.c.d/tcp/1",
                          "/ip4//tcp/1",
                          "/ip6/::1/tcp/1",
                          "/dns4/bad_name/tcp/1",
                          "/dns4/a..b/tcp/1",
                          "/dns4/.a/tcp/1",
                          "/dns4/a./tcp/1",
                          "/ip4/1.2.3.4/tcp/1/p2p/12D3KooW",
                          "//ip4/1.2.3.4/tcp/1",
                          "/ip4/1.2.3.4/tcp/99999999999"})
    EXPECT_FALSE(parse_multiaddr(bad)) << "accepted " << bad;
  EXPECT_FALSE(parse_multiaddr("/dns4/" + std::string(64, 'a') + "/tcp/1"));
  EXPECT_TRUE(parse_multiaddr("/dns4/" + std::string(63, 'a') + "/tcp/1"));
}

TEST(MultiaddrTest, MakeRoundTripsThroughParse) {
  EXPECT_EQ(make_multiaddr("127.0.0.1", 8070, false),
            "/ip4/127.0.0.1/tcp/8070");
  EXPECT_EQ(make_multiaddr("10.1.2.3", 8090, true), "/ip4/10.1.2.3/udp/8090");
  EXPECT_EQ(make_multiaddr("example.org", 1, true), "/dns4/example.org/udp/1");
  for (const auto& e : {endpoint{"192.168.1.20", 1234, true},
                        endpoint{"host.example", 65535, false}}) {
    auto back = parse_multiaddr(make_multiaddr(e));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, e);
  }
}

TEST(PeerRecordTest, TheSameRecordIsVerifiedOnceAForgedCopyAgain) {
  // A seed no other test uses: the process-wide cache has not seen it.
  auto r = peer_record::make(seed_of(0x5ca1e), 7, {"/ip4/1.2.3.4/udp/9"});
  auto b = r.encode();
  auto before = peer_record::signature_checks();
  ASSERT_OK(peer_record::decode(b));
  EXPECT_EQ(peer_record::signature_checks(), before + 1);
  for (int i = 0; i < 5; ++i)
    ASSERT_OK(peer_record::decode(b));
  EXPECT_EQ(peer_record::signature_checks(), before + 1);
  auto forged = r;
  forged.addrs[0] = "/ip4/6.6.6.6/udp/9";
  EXPECT_ERR(peer_record::decode(forged.encode()), ec::verification_failed);
  EXPECT_ERR(peer_record::decode(forged.encode()), ec::verification_failed);
  EXPECT_EQ(peer_record::signature_checks(), before + 3);
}
