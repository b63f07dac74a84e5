// Tests of messages/wire/dht_messages.hpp: round trips of every DHT message,
// the documented header bytes, the datagram size limit and trimming, and
// rejection (an error, never a crash) of truncated, random, hand-crafted and
// tampered datagrams, including forged signatures.

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include "messages/ed25519.hpp"
#include "messages/error.hpp"
#include "messages/msgpack_pack.hpp"
#include "messages/peer_record.hpp"
#include "messages/sha256.hpp"
#include "messages/wire/dht_messages.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace cairn::wire;
using cairn::test::random_bytes;

namespace {

using packer = msgpack::packer<msgpack::sbuffer>;

ed25519_seed record_seed(uint64_t n) {
  auto b = random_bytes(32, n + 1000);
  ed25519_seed s{};
  std::copy(b.begin(), b.end(), s.begin());
  return s;
}

peer_record record_of(uint64_t n) {
  return peer_record::make(
    record_seed(n), 1700000000000 + n,
    {"/ip4/10.0.0." + std::to_string(n % 250 + 1) + "/udp/8090",
     "/ip4/10.0.0." + std::to_string(n % 250 + 1) + "/tcp/8070"});
}

std::vector<peer_record> records(uint64_t first, size_t n) {
  std::vector<peer_record> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(record_of(first + i));
  return out;
}

digest256 id_of(uint64_t n) {
  return sha256(random_bytes(16, n));
}

dht::packet make_packet(dht::body b, uint64_t request_id = 42) {
  dht::packet p;
  p.request_id = request_id;
  p.sender = record_of(0);
  p.body = std::move(b);
  return p;
}

bytes encoded(const dht::packet& p) {
  auto b = dht::encode(p);
  EXPECT_OK(b);
  return b ? *b : bytes{};
}

std::vector<dht::packet> one_of_each() {
  auto sender = record_of(0);
  return {make_packet(dht::ping{}, 0),
          make_packet(dht::pong{}, 1),
          make_packet(dht::find_node{id_of(1)}, 127),
          make_packet(dht::nodes{records(10, 16)}, 128),
          make_packet(dht::nodes{}, 65536),
          make_packet(dht::add_provider{id_of(2), sender}, ~uint64_t{0}),
          make_packet(dht::get_providers{id_of(3)}, 7),
          make_packet(dht::providers{records(30, 5), records(40, 8)}, 8),
          make_packet(dht::providers{}, 9)};
}

// A hand-made datagram: header fields as given, body written by `body`.
bytes raw_packet(uint64_t version, uint64_t type,
                 const std::function<void(packer&)>& body,
                 const bytes& sender = record_of(0).encode()) {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_array(5);
  pk.pack_uint64(version);
  pk.pack_uint64(1);
  pack_bin(pk, sender);
  pk.pack_uint64(type);
  body(pk);
  auto p = reinterpret_cast<const uint8_t*>(buf.data());
  return bytes(p, p + buf.size());
}

} // namespace

TEST(DhtMessagesTest, RoundTripsEveryMessageType) {
  for (const auto& p : one_of_each()) {
    auto b = encoded(p);
    auto d = dht::decode(b);
    ASSERT_OK(d) << dht::kind_name(p.body);
    EXPECT_EQ(d->request_id, p.request_id);
    EXPECT_EQ(d->sender, p.sender);
    ASSERT_EQ(d->body.index(), p.body.index());
    std::visit(
      [&](const auto& want) {
        using T = std::decay_t<decltype(want)>;
        const auto& got = std::get<T>(d->body);
        if constexpr (std::is_same_v<T, dht::find_node>) {
          EXPECT_EQ(got.target, want.target);
        } else if constexpr (std::is_same_v<T, dht::nodes>) {
          EXPECT_EQ(got.closer, want.closer);
        } else if constexpr (std::is_same_v<T, dht::add_provider>) {
          EXPECT_EQ(got.key, want.key);
          EXPECT_EQ(got.provider, want.provider);
        } else if constexpr (std::is_same_v<T, dht::get_providers>) {
          EXPECT_EQ(got.key, want.key);
        } else if constexpr (std::is_same_v<T, dht::providers>) {
          EXPECT_EQ(got.providers, want.providers);
          EXPECT_EQ(got.closer, want.closer);
        }
      },
      p.body);
  }
}

TEST(DhtMessagesTest, PeekReadsRequestIdAndKindWithoutVerifying) {
  for (const auto& p : one_of_each()) {
    auto h = dht::peek(encoded(p));
    ASSERT_OK(h) << dht::kind_name(p.body);
    EXPECT_EQ(h->request_id, p.request_id);
    EXPECT_EQ(h->request, dht::is_request(p.body)) << dht::kind_name(p.body);
  }
  EXPECT_TRUE(dht::is_request(dht::ping{}));
  EXPECT_FALSE(dht::is_request(dht::pong{}));
  // A forged signature is decode's business: peek only reads the header.
  auto forged = make_packet(dht::find_node{id_of(1)});
  forged.sender.signature[0] ^= 0x01;
  auto h = dht::peek(encoded(forged));
  ASSERT_OK(h);
  EXPECT_TRUE(h->request);
  EXPECT_ERR(dht::decode(encoded(forged)), ec::verification_failed);
  // What decode refuses at the top level, peek refuses too.
  EXPECT_ERR(dht::peek(raw_packet(2, 1, [](packer& pk) { pk.pack_array(0); })),
             ec::protocol_error);
  EXPECT_ERR(dht::peek(raw_packet(1, 8, [](packer& pk) { pk.pack_array(0); })),
             ec::protocol_error);
  EXPECT_ERR(
    dht::peek(raw_packet(1, 257, [](packer& pk) { pk.pack_array(0); })),
    ec::protocol_error);
  auto b = encoded(make_packet(dht::ping{}));
  EXPECT_ERR(dht::peek(byte_view{b.data(), b.size() - 1}), ec::protocol_error);
}

TEST(DhtMessagesTest, KindNamesMatchTypes) {
  EXPECT_EQ(dht::kind_name(dht::ping{}), "ping");
  EXPECT_EQ(dht::kind_name(dht::find_node{}), "find_node");
  EXPECT_EQ(dht::kind_name(dht::providers{}), "providers");
}

TEST(DhtMessagesTest, EncodingStartsWithDocumentedHeader) {
  auto b = encoded(make_packet(dht::ping{}, 5));
  ASSERT_GT(b.size(), 5u);
  EXPECT_EQ(b[0], 0x95); // fixarray of 5
  EXPECT_EQ(b[1], 0x01); // version
  EXPECT_EQ(b[2], 0x05); // request_id
  EXPECT_EQ(b[3], 0xc4); // sender: bin 8
  auto rec = record_of(0).encode();
  EXPECT_EQ(b[4], rec.size());
  EXPECT_EQ(b[5 + rec.size()], 0x01); // type ping
  EXPECT_EQ(b[6 + rec.size()], 0x90); // empty body
  EXPECT_EQ(b.size(), 7 + rec.size());
}

TEST(DhtMessagesTest, TypicalNodesAnswerIsWellBelowTheLimit) {
  auto b = encoded(make_packet(dht::nodes{records(10, 16)}));
  EXPECT_LT(b.size(), 4096u);
}

TEST(DhtMessagesTest, RejectsEveryTruncation) {
  for (const auto& p : one_of_each()) {
    auto b = encoded(p);
    for (size_t n = 0; n < b.size(); ++n)
      EXPECT_ERR(dht::decode(byte_view{b.data(), n}), ec::protocol_error)
        << dht::kind_name(p.body) << " prefix " << n;
    b.push_back(0xc0);
    EXPECT_ERR(dht::decode(b), ec::protocol_error);
  }
}

TEST(DhtMessagesTest, RejectsRandomBytesWithoutCrash) {
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    auto junk = random_bytes(seed % 300, seed);
    EXPECT_FALSE(dht::decode(junk));
  }
  // Random bytes behind a valid-looking header.
  for (uint64_t seed = 0; seed < 500; ++seed) {
    auto junk = random_bytes(seed % 300, seed + 7);
    junk.insert(junk.begin(), {0x95, 0x01, 0x01});
    EXPECT_FALSE(dht::decode(junk));
  }
}

TEST(DhtMessagesTest, RandomMutationsNeverCrash) {
  std::mt19937_64 gen{1};
  std::vector<bytes> packets;
  for (const auto& p : one_of_each())
    packets.push_back(encoded(p));
  size_t accepted = 0;
  for (int round = 0; round < 1000; ++round) {
    auto b = packets[gen() % packets.size()];
    int flips = 1 + static_cast<int>(gen() % 3);
    for (int i = 0; i < flips; ++i)
      b[gen() % b.size()] ^= static_cast<uint8_t>(1 + gen() % 255);
    auto d = dht::decode(b);
    if (d)
      ++accepted; // e.g. a flip inside request_id: harmless
    else
      EXPECT_TRUE(is(d.error(), ec::protocol_error) ||
                  is(d.error(), ec::verification_failed))
        << describe(d.error());
  }
  EXPECT_LT(accepted, 1000u / 10);
}

TEST(DhtMessagesTest, TamperedSenderSignatureIsDetected) {
  auto p = make_packet(dht::ping{});
  p.sender.signature[0] ^= 0x01;
  EXPECT_ERR(dht::decode(encoded(p)), ec::verification_failed);
  auto q = make_packet(dht::ping{});
  q.sender.addrs[0] = "/ip4/6.6.6.6/udp/8090"; // hijack the address
  EXPECT_ERR(dht::decode(encoded(q)), ec::verification_failed);
}

TEST(DhtMessagesTest, TamperedListedRecordIsDetected) {
  auto p = make_packet(dht::nodes{records(10, 16)});
  std::get<dht::nodes>(p.body).closer[7].seq += 1;
  EXPECT_ERR(dht::decode(encoded(p)), ec::verification_failed);
  auto q = make_packet(dht::providers{records(10, 3), records(20, 3)});
  std::get<dht::providers>(q.body).providers[2].signature[5] ^= 0x40;
  EXPECT_ERR(dht::decode(encoded(q)), ec::verification_failed);
}

TEST(DhtMessagesTest, TamperedSignatureBytesInDatagramAreDetected) {
  auto b = encoded(make_packet(dht::find_node{id_of(1)}));
  // The sender record's signature is its last 64 bytes; the record ends
  // right before the type byte and the body (1 + 1 + 2 + 32 bytes).
  size_t sig_end = b.size() - 36;
  for (size_t i = sig_end - 64; i < sig_end; ++i) {
    auto x = b;
    x[i] ^= 0x10;
    EXPECT_ERR(dht::decode(x), ec::verification_failed) << "byte " << i;
  }
}

TEST(DhtMessagesTest, AddProviderForAnotherPeerIsRejected) {
  auto p = make_packet(dht::add_provider{id_of(1), record_of(5)});
  EXPECT_ERR(dht::encode(p), ec::invalid_argument);
  auto key = id_of(1);
  auto raw = raw_packet(1, 5, [&key](packer& pk) {
    pk.pack_array(2);
    pack_bin(pk, bytes(key.begin(), key.end()));
    pack_bin(pk, record_of(5).encode());
  });
  EXPECT_ERR(dht::decode(raw), ec::protocol_error);
}

TEST(DhtMessagesTest, RejectsUnknownVersionTypeAndBodyShape) {
  auto empty = [](packer& pk) { pk.pack_array(0); };
  EXPECT_OK(dht::decode(raw_packet(1, 1, empty)));
  EXPECT_ERR(dht::decode(raw_packet(2, 1, empty)), ec::protocol_error);
  EXPECT_ERR(dht::decode(raw_packet(0, 1, empty)), ec::protocol_error);
  EXPECT_ERR(dht::decode(raw_packet(1, 0, empty)), ec::protocol_error);
  EXPECT_ERR(dht::decode(raw_packet(1, 8, empty)), ec::protocol_error);
  EXPECT_ERR(dht::decode(raw_packet(1, 3, empty)), ec::protocol_error);
  EXPECT_ERR(dht::decode(raw_packet(1, 1,
                                    [](packer& pk) {
                                      pk.pack_array(1);
                                      pk.pack_nil();
                                    })),
             ec::protocol_error);
  // find_node with a 31-byte target.
  EXPECT_ERR(dht::decode(raw_packet(1, 3,
                                    [](packer& pk) {
                                      pk.pack_array(1);
                                      pack_bin(pk, bytes(31, 1));
                                    })),
             ec::protocol_error);
  // nodes whose list holds a string instead of a record.
  EXPECT_ERR(dht::decode(raw_packet(1, 4,
                                    [](packer& pk) {
                                      pk.pack_array(1);
                                      pk.pack_array(1);
                                      pk.pack_str(1);
                                      pk.pack_str_body("x", 1);
                                    })),
             ec::protocol_error);
  // A map body, and a body nested too deep.
  EXPECT_ERR(dht::decode(raw_packet(1, 1, [](packer& pk) { pk.pack_map(0); })),
             ec::protocol_error);
  EXPECT_ERR(dht::decode(raw_packet(1, 4,
                                    [](packer& pk) {
                                      pk.pack_array(1);
                                      pk.pack_array(1);
                                      pk.pack_array(0);
                                    })),
             ec::protocol_error);
  // A sender that is not a record.
  EXPECT_ERR(dht::decode(raw_packet(1, 1, empty, bytes{0x90})),
             ec::protocol_error);
}

TEST(DhtMessagesTest, RejectsHostileHeaders) {
  // A list that claims 2^32 - 1 records: refused before allocation.
  auto huge = raw_packet(1, 4, [](packer& pk) {
    pk.pack_array(1);
    pk.pack_array(0xffffffff);
  });
  EXPECT_ERR(dht::decode(huge), ec::protocol_error);
  // A bin that claims 4 GiB.
  bytes big_bin{0x95, 0x01, 0x01, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00};
  EXPECT_ERR(dht::decode(big_bin), ec::protocol_error);
}

TEST(DhtMessagesTest, RejectsListsLongerThanTheLimit) {
  auto p = make_packet(dht::nodes{
    std::vector<peer_record>(dht::max_records_per_list + 1, record_of(1))});
  EXPECT_ERR(dht::encode(p), ec::invalid_argument);
  // Small (empty-address) records so that the datagram itself is not too big.
  auto tiny = peer_record::make(record_seed(1), 1, {}).encode();
  auto raw = raw_packet(1, 4, [&](packer& pk) {
    pk.pack_array(1);
    pk.pack_array(dht::max_records_per_list + 1);
    for (size_t i = 0; i <= dht::max_records_per_list; ++i)
      pack_bin(pk, tiny);
  });
  ASSERT_LE(raw.size(), dht::max_datagram_size);
  EXPECT_ERR(dht::decode(raw), ec::protocol_error);
}

TEST(DhtMessagesTest, OversizedPacketFailsToEncodeAndTrimToFitFixesIt) {
  std::vector<std::string> long_addrs(8, "/dns4/" + std::string(200, 'a') +
                                           "/udp/8090");
  std::vector<peer_record> fat;
  for (uint64_t i = 0; i < 16; ++i)
    fat.push_back(peer_record::make(record_seed(i), i, long_addrs));
  auto p = make_packet(dht::providers{fat, fat});
  EXPECT_ERR(dht::encode(p), ec::invalid_argument);
  auto dropped = dht::trim_to_fit(p);
  EXPECT_GT(dropped, 0u);
  auto b = dht::encode(p);
  ASSERT_OK(b);
  EXPECT_LE(b->size(), dht::max_datagram_size);
  const auto& body = std::get<dht::providers>(p.body);
  // Closer contacts are dropped before providers, from the end.
  EXPECT_TRUE(body.closer.empty());
  ASSERT_FALSE(body.providers.empty());
  EXPECT_EQ(body.providers.front(), fat.front());
  EXPECT_EQ(body.providers.size() + dropped, 32u);
  auto d = dht::decode(*b);
  ASSERT_OK(d);
}

TEST(DhtMessagesTest, TrimToFitLeavesFittingPacketsAlone) {
  auto p = make_packet(dht::nodes{records(10, 16)});
  EXPECT_EQ(dht::trim_to_fit(p), 0u);
  EXPECT_EQ(std::get<dht::nodes>(p.body).closer.size(), 16u);
  auto q = make_packet(dht::nodes{std::vector<peer_record>(40, record_of(1))});
  EXPECT_EQ(dht::trim_to_fit(q), 8u);
  EXPECT_OK(dht::encode(q));
}

TEST(DhtMessagesTest, RejectsDatagramsOverTheLimit) {
  auto b = encoded(make_packet(dht::ping{}));
  b.resize(dht::max_datagram_size + 1, 0);
  EXPECT_ERR(dht::decode(b), ec::protocol_error);
}
