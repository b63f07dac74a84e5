// Tests of messages/wire/messages.hpp: round trips of every message, the byte
// layout of FORMAT.md (hand-built msgpack must equal `encode`), rejection of
// malformed or hostile payloads (always ec::protocol_error, never a crash or
// an exception), the limits, and the signed handshake payload.

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include "messages/bytes.hpp"
#include "messages/cid.hpp"
#include "messages/error.hpp"
#include "messages/peer_id.hpp"
#include "messages/wire/frame.hpp"
#include "messages/wire/messages.hpp"
#include "storage/node_key.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using namespace cairn::wire;
using cairn::test::random_bytes;

namespace {

// -- sample values ------------------------------------------------------------

cid random_cid(multicodec codec, uint64_t seed) {
  return cid::of(codec, random_bytes(16, seed));
}

cid block_cid(uint64_t seed) {
  return random_cid(multicodec::codex_block, seed);
}

block_address leaf_address(uint64_t seed, uint64_t index) {
  return block_address{random_cid(multicodec::codex_root, seed), index};
}

template <size_t N>
std::array<uint8_t, N> fixed(uint64_t seed) {
  auto b = random_bytes(N, seed);
  std::array<uint8_t, N> out;
  std::copy(b.begin(), b.end(), out.begin());
  return out;
}

merkle_proof proof_for(uint64_t index, uint64_t nleaves, size_t depth) {
  merkle_proof p;
  p.index = index;
  p.nleaves = nleaves;
  for (size_t i = 0; i < depth; ++i)
    p.path.push_back(fixed<32>(1000 + i));
  return p;
}

shared_bytes data_of(size_t n, uint64_t seed) {
  return std::make_shared<const bytes>(random_bytes(n, seed));
}

hello sample_hello() {
  return hello{protocol_version,
               fixed<32>(1),
               {"127.0.0.1:8070", "[::1]:8070"},
               fixed<32>(2)};
}

auth sample_auth() {
  return auth{random_bytes(64, 3)};
}

want_list sample_want_list() {
  want_list w;
  w.entries.push_back(
    want_entry{block_cid(4), 5, false, want_entry::want_type::block, false});
  w.entries.push_back(want_entry{leaf_address(5, 7), -3, false,
                                 want_entry::want_type::have, true});
  w.entries.push_back(want_entry{leaf_address(6, 0), INT32_MIN, true,
                                 want_entry::want_type::block, true});
  w.entries.push_back(want_entry{block_cid(7), INT32_MAX, false,
                                 want_entry::want_type::have, false});
  w.full = true;
  return w;
}

block_presence sample_presence() {
  block_presence p;
  p.presences.push_back(presence{block_cid(8), true, 0});
  p.presences.push_back(presence{leaf_address(9, 3), false, 17});
  p.presences.push_back(
    presence{leaf_address(10, UINT64_MAX - 1), true, UINT64_MAX});
  return p;
}

block_delivery sample_delivery() {
  block_delivery d;
  // A block by CID: no proof.
  d.blocks.push_back(delivery{block_cid(11), data_of(100, 12), std::nullopt});
  // A leaf: with its proof.
  d.blocks.push_back(
    delivery{leaf_address(13, 5), data_of(300, 14), proof_for(5, 9, 4)});
  // An empty block, and a leaf of a one-leaf tree (empty proof path).
  d.blocks.push_back(delivery{block_cid(15), data_of(0, 16), std::nullopt});
  d.blocks.push_back(
    delivery{leaf_address(17, 0), data_of(10, 18), proof_for(0, 1, 0)});
  return d;
}

std::vector<message> samples() {
  return {sample_hello(),    sample_auth(),           sample_want_list(),
          sample_presence(), sample_delivery(),       ping{42},
          pong{UINT64_MAX},  goodbye{"shutting down"}};
}

void expect_round_trip(const message& x) {
  auto enc = encode(x);
  auto dec = decode(enc);
  ASSERT_OK(dec);
  EXPECT_EQ(dec->index(), x.index());
  EXPECT_TRUE(*dec == x) << type_name(x) << " does not round-trip";
  // Deterministic: decoding and re-encoding gives the same bytes.
  EXPECT_EQ(encode(*dec), enc);
}

std::string describe_of(const caf::expected<message>& x) {
  return x ? std::string{"ok"} : describe(x.error());
}

// -- a msgpack value tree for hand-built payloads -----------------------------

/// A msgpack value built by hand (to write the layout of FORMAT.md
/// independently of `encode`, and to corrupt it field by field).
struct mp {
  enum kind_t { nil, boolean, uint, sint, str, bin, arr, map } kind = nil;
  uint64_t u = 0;
  int64_t i = 0;
  bool b = false;
  std::string s;
  bytes bn;
  std::vector<mp> a;
  std::vector<std::pair<std::string, mp>> m;

  static mp Nil() { return mp{}; }
  static mp Bool(bool x) {
    mp v;
    v.kind = boolean;
    v.b = x;
    return v;
  }
  static mp U(uint64_t x) {
    mp v;
    v.kind = uint;
    v.u = x;
    return v;
  }
  static mp I(int64_t x) {
    if (x >= 0)
      return U(static_cast<uint64_t>(x));
    mp v;
    v.kind = sint;
    v.i = x;
    return v;
  }
  static mp S(std::string x) {
    mp v;
    v.kind = str;
    v.s = std::move(x);
    return v;
  }
  static mp B(bytes x) {
    mp v;
    v.kind = bin;
    v.bn = std::move(x);
    return v;
  }
  template <size_t N>
  static mp B(const std::array<uint8_t, N>& x) {
    return B(bytes(x.begin(), x.end()));
  }
  static mp A(std::vector<mp> xs) {
    mp v;
    v.kind = arr;
    v.a = std::move(xs);
    return v;
  }
  static mp M(std::vector<std::pair<std::string, mp>> xs) {
    mp v;
    v.kind = map;
    v.m = std::move(xs);
    return v;
  }

  /// Integers of either sign count as one kind when picking wrong types.
  kind_t family() const { return kind == sint ? uint : kind; }
};

using packer = msgpack::packer<msgpack::sbuffer>;

void pack(packer& pk, const mp& v) {
  switch (v.kind) {
  case mp::nil:
    pk.pack_nil();
    break;
  case mp::boolean:
    v.b ? pk.pack_true() : pk.pack_false();
    break;
  case mp::uint:
    pk.pack_uint64(v.u);
    break;
  case mp::sint:
    pk.pack_int64(v.i);
    break;
  case mp::str:
    pk.pack_str(static_cast<uint32_t>(v.s.size()));
    pk.pack_str_body(v.s.data(), static_cast<uint32_t>(v.s.size()));
    break;
  case mp::bin:
    pk.pack_bin(static_cast<uint32_t>(v.bn.size()));
    pk.pack_bin_body(reinterpret_cast<const char*>(v.bn.data()),
                     static_cast<uint32_t>(v.bn.size()));
    break;
  case mp::arr:
    pk.pack_array(static_cast<uint32_t>(v.a.size()));
    for (auto& x : v.a)
      pack(pk, x);
    break;
  case mp::map:
    pk.pack_map(static_cast<uint32_t>(v.m.size()));
    for (auto& [k, x] : v.m) {
      pk.pack_str(static_cast<uint32_t>(k.size()));
      pk.pack_str_body(k.data(), static_cast<uint32_t>(k.size()));
      pack(pk, x);
    }
    break;
  }
}

bytes to_bytes(const mp& v) {
  msgpack::sbuffer buf;
  packer pk(buf);
  pack(pk, v);
  auto p = reinterpret_cast<const uint8_t*>(buf.data());
  return bytes(p, p + buf.size());
}

mp cid_mp(const cid& c) {
  return mp::B(c.to_bytes());
}

mp addr_mp(const address& a) {
  if (auto c = std::get_if<cid>(&a))
    return mp::M({{"c", cid_mp(*c)}});
  auto& l = std::get<block_address>(a);
  return mp::M({{"t", cid_mp(l.tree)}, {"i", mp::U(l.index)}});
}

mp proof_mp(const merkle_proof& p) {
  std::vector<mp> path;
  for (auto& d : p.path)
    path.push_back(mp::B(d));
  return mp::M({{"i", mp::U(p.index)},
                {"n", mp::U(p.nleaves)},
                {"p", mp::A(std::move(path))}});
}

/// The FORMAT.md layout of the body of each sample message, written out.
mp body_mp(const message& x) {
  if (auto h = std::get_if<hello>(&x)) {
    std::vector<mp> addrs;
    for (auto& a : h->addrs)
      addrs.push_back(mp::S(a));
    return mp::M({{"v", mp::U(h->version)},
                  {"k", mp::B(h->public_key)},
                  {"a", mp::A(std::move(addrs))},
                  {"n", mp::B(h->nonce)}});
  }
  if (auto a = std::get_if<auth>(&x))
    return mp::M({{"s", mp::B(a->signature)}});
  if (auto w = std::get_if<want_list>(&x)) {
    std::vector<mp> es;
    for (auto& e : w->entries) {
      es.push_back(mp::M({{"a", addr_mp(e.addr)},
                          {"p", mp::I(e.priority)},
                          {"c", mp::Bool(e.cancel)},
                          {"t", mp::U(static_cast<uint8_t>(e.type))},
                          {"d", mp::Bool(e.send_dont_have)}}));
      if (e.leaves > 0)
        es.back().m.emplace_back("l", mp::U(e.leaves));
    }
    return mp::M({{"e", mp::A(std::move(es))}, {"f", mp::Bool(w->full)}});
  }
  if (auto p = std::get_if<block_presence>(&x)) {
    std::vector<mp> ps;
    for (auto& e : p->presences)
      ps.push_back(mp::M({{"a", addr_mp(e.addr)},
                          {"h", mp::Bool(e.have)},
                          {"p", mp::U(e.price)}}));
    return mp::M({{"p", mp::A(std::move(ps))}});
  }
  if (auto d = std::get_if<block_delivery>(&x)) {
    std::vector<mp> bs;
    for (auto& b : d->blocks) {
      auto e = mp::M({{"a", addr_mp(b.addr)}, {"d", mp::B(*b.data)}});
      if (b.proof)
        e.m.emplace_back("p", proof_mp(*b.proof));
      bs.push_back(std::move(e));
    }
    return mp::M({{"b", mp::A(std::move(bs))}});
  }
  if (auto p = std::get_if<ping>(&x))
    return mp::M({{"n", mp::U(p->nonce)}});
  if (auto p = std::get_if<pong>(&x))
    return mp::M({{"n", mp::U(p->nonce)}});
  return mp::M({{"r", mp::S(std::get<goodbye>(x).reason)}});
}

mp envelope(uint64_t type, mp body) {
  return mp::A({mp::U(type), std::move(body)});
}

const char* body_name(const message& x) {
  static constexpr const char* names[] = {
    "hello",          "auth", "want_list", "block_presence",
    "block_delivery", "ping", "pong",      "goodbye",
  };
  return names[x.index()];
}

/// One corruption of a valid body: where, how, and the body it gives.
struct mutation {
  std::string path;
  std::string what;
  mp body;
  /// True if the change puts a container below the nesting limit (depth 6,
  /// counting the envelope as 1), which is rejected before fields are read.
  bool too_deep = false;
};

/// Every body obtained by removing one map field, or by replacing one map
/// value or array element with a value of another msgpack type.
void mutations(const mp& root, const std::string& root_path,
               std::vector<mutation>& out) {
  static const std::vector<mp> wrong = {
    mp::Nil(),  mp::Bool(true), mp::U(7),  mp::I(-7),
    mp::S("x"), mp::B({1, 2}),  mp::A({}), mp::M({}),
  };
  // Walks `v` (at `path`) and calls `emit(path, what, replacement_of_v)`
  // through `rebuild`, which puts a changed child back into its parents.
  // `depth` is that of `v`'s children (the body is at 2).
  std::function<void(const mp&, const std::string&,
                     const std::function<mp(mp)>&, size_t)>
    walk = [&](const mp& v, const std::string& path,
               const std::function<mp(mp)>& rebuild, size_t depth) {
      auto replace_with_wrong = [&](const std::string& p, const mp& child,
                                    const std::function<mp(mp)>& put) {
        for (auto& w : wrong)
          if (w.family() != child.family()) {
            bool container = w.kind == mp::arr || w.kind == mp::map;
            out.push_back(
              mutation{p, "wrong type", put(w), container && depth > 6});
          }
      };
      if (v.kind == mp::map) {
        for (size_t k = 0; k < v.m.size(); ++k) {
          auto p = path + "." + v.m[k].first;
          auto removed = v;
          removed.m.erase(removed.m.begin() + k);
          out.push_back(mutation{p, "missing", rebuild(removed)});
          auto put = [&, k](mp child) {
            auto copy = v;
            copy.m[k].second = std::move(child);
            return rebuild(std::move(copy));
          };
          replace_with_wrong(p, v.m[k].second, put);
          walk(v.m[k].second, p, put, depth + 1);
        }
      } else if (v.kind == mp::arr) {
        for (size_t k = 0; k < v.a.size(); ++k) {
          auto p = path + "[" + std::to_string(k) + "]";
          auto put = [&, k](mp child) {
            auto copy = v;
            copy.a[k] = std::move(child);
            return rebuild(std::move(copy));
          };
          replace_with_wrong(p, v.a[k], put);
          walk(v.a[k], p, put, depth + 1);
        }
      }
    };
  for (auto& w : wrong)
    if (w.family() != root.family())
      out.push_back(mutation{root_path, "wrong type", w});
  walk(
    root, root_path, [](mp x) { return x; }, 3);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

} // namespace

// -- round trips --------------------------------------------------------------

TEST(WireMessagesTest, EveryMessageTypeRoundTrips) {
  for (auto& x : samples()) {
    SCOPED_TRACE(type_name(x));
    expect_round_trip(x);
  }
}

TEST(WireMessagesTest, EmptyAndDefaultMessagesRoundTrip) {
  expect_round_trip(hello{});
  expect_round_trip(want_list{});
  expect_round_trip(block_presence{});
  expect_round_trip(block_delivery{});
  expect_round_trip(ping{});
  expect_round_trip(goodbye{});
  expect_round_trip(goodbye{"ünïcødé ✓ 🚀"});
}

TEST(WireMessagesTest, BothAddressKindsRoundTrip) {
  for (address a :
       {address{block_cid(1)},
        address{random_cid(multicodec::codex_manifest, 2)},
        address{leaf_address(3, 0)}, address{leaf_address(4, UINT64_MAX)}}) {
    want_list w;
    w.entries.push_back(
      want_entry{a, 1, false, want_entry::want_type::have, true});
    expect_round_trip(w);
    expect_round_trip(block_presence{{presence{a, true, 3}}});
  }
}

TEST(WireMessagesTest, DeliveryProofAbsentForCidPresentForLeaf) {
  auto d = sample_delivery();
  auto dec = decode(encode(d));
  ASSERT_OK(dec);
  auto& got = std::get<block_delivery>(*dec);
  ASSERT_EQ(got.blocks.size(), 4u);
  EXPECT_FALSE(got.blocks[0].proof);
  ASSERT_TRUE(got.blocks[1].proof);
  EXPECT_EQ(*got.blocks[1].proof, proof_for(5, 9, 4));
  EXPECT_EQ(*got.blocks[1].data, *d.blocks[1].data);
  ASSERT_TRUE(got.blocks[2].data);
  EXPECT_TRUE(got.blocks[2].data->empty());
  ASSERT_TRUE(got.blocks[3].proof);
  EXPECT_TRUE(got.blocks[3].proof->path.empty());
}

TEST(WireMessagesTest, NullDataEncodesAsEmpty) {
  block_delivery d{{delivery{block_cid(1), nullptr, std::nullopt}}};
  auto dec = decode(encode(d));
  ASSERT_OK(dec);
  auto& got = std::get<block_delivery>(*dec);
  ASSERT_TRUE(got.blocks[0].data);
  EXPECT_TRUE(got.blocks[0].data->empty());
}

TEST(WireMessagesTest, LargeDeliveryWithinTheFrameRoundTrips) {
  // 63 leaves of 64 KiB with full-depth proofs: just under 4 MiB.
  block_delivery d;
  for (uint64_t i = 0; i < 63; ++i)
    d.blocks.push_back(delivery{leaf_address(1, i), data_of(65536, i),
                                proof_for(i, 1u << 20, 20)});
  auto enc = encode(d);
  EXPECT_LE(enc.size(), max_frame_size);
  auto dec = decode(enc);
  ASSERT_OK(dec);
  EXPECT_TRUE(*dec == message{d});
}

TEST(WireMessagesTest, EncodingMatchesTheDocumentedLayout) {
  for (auto& x : samples()) {
    SCOPED_TRACE(type_name(x));
    EXPECT_EQ(encode(x), to_bytes(envelope(type_of(x), body_mp(x))));
  }
  // Spot-check the first bytes: fixarray(2), type, fixmap.
  auto ping_bytes = encode(ping{5});
  EXPECT_EQ(ping_bytes, (bytes{0x92, 0x06, 0x81, 0xa1, 'n', 0x05}));
}

TEST(WireMessagesTest, TypeNamesAndNumbers) {
  std::vector<std::string> names;
  std::vector<int> types;
  for (auto& x : samples()) {
    names.push_back(type_name(x));
    types.push_back(type_of(x));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"HELLO", "AUTH", "WANT_LIST",
                                             "BLOCK_PRESENCE", "BLOCK_DELIVERY",
                                             "PING", "PONG", "GOODBYE"}));
  EXPECT_EQ(types, (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(to_string(address{leaf_address(1, 7)}),
            leaf_address(1, 7).tree.to_string() + "/7");
  EXPECT_EQ(to_string(address{block_cid(2)}), block_cid(2).to_string());
}

TEST(WireMessagesTest, DecodeIgnoresUnknownKeys) {
  auto body = body_mp(ping{9});
  body.m.emplace_back("zz", mp::A({mp::U(1), mp::S("later")}));
  auto dec = decode(to_bytes(envelope(6, body)));
  ASSERT_OK(dec);
  EXPECT_TRUE(*dec == message{ping{9}});
}

TEST(WireMessagesTest, LeavesWithAManifestRoundTripOnItsWantBlockOnly) {
  auto manifest_id = random_cid(multicodec::codex_manifest, 5);
  want_list w{
    {want_entry{manifest_id, 0, false, want_entry::want_type::block, true, 64}},
    false};
  expect_round_trip(w);
  EXPECT_EQ(encode(w), to_bytes(envelope(3, body_mp(w))));
  w.entries[0].leaves = max_leaves_with_manifest;
  expect_round_trip(w);
  // An explicit 0 means none.
  auto body = body_mp(w);
  auto& entry = body.m[0].second.a[0];
  entry.m.back().second = mp::U(0);
  auto dec = decode(to_bytes(envelope(3, body)));
  ASSERT_OK(dec);
  EXPECT_EQ(std::get<want_list>(*dec).entries[0].leaves, 0u);
  // More than one WANT_LIST may ask for.
  entry.m.back().second = mp::U(max_leaves_with_manifest + 1);
  dec = decode(to_bytes(envelope(3, body)));
  ASSERT_ERR(dec, ec::protocol_error);
  EXPECT_TRUE(contains(describe_of(dec), "want_list.e[0].l"))
    << describe_of(dec);
  // Anywhere but on a want-block of a manifest.
  for (auto other :
       {want_entry{manifest_id, 0, false, want_entry::want_type::have, true},
        want_entry{manifest_id, 0, true, want_entry::want_type::block, true},
        want_entry{block_cid(6), 0, false, want_entry::want_type::block, true},
        want_entry{leaf_address(7, 0), 0, false, want_entry::want_type::block,
                   true}}) {
    other.leaves = 8;
    dec = decode(encode(want_list{{other}, false}));
    ASSERT_ERR(dec, ec::protocol_error) << to_string(other.addr);
    EXPECT_TRUE(contains(describe_of(dec), "want_list.e[0].l is only allowed"))
      << describe_of(dec);
  }
}

// -- limits -------------------------------------------------------------------

TEST(WireMessagesTest, WantList1024EntriesAcceptedAnd1025Rejected) {
  want_list w;
  for (uint64_t i = 0; i < max_want_entries; ++i)
    w.entries.push_back(want_entry{leaf_address(1, i), static_cast<int32_t>(i),
                                   false, want_entry::want_type::have, true});
  expect_round_trip(w);
  w.entries.push_back(w.entries.back());
  EXPECT_ERR(decode(encode(w)), ec::protocol_error);
}

TEST(WireMessagesTest, BlockPresence1024AcceptedAnd1025Rejected) {
  block_presence p;
  for (uint64_t i = 0; i < max_presences; ++i)
    p.presences.push_back(presence{leaf_address(2, i), i % 2 == 0, i});
  expect_round_trip(p);
  p.presences.push_back(p.presences.back());
  EXPECT_ERR(decode(encode(p)), ec::protocol_error);
}

TEST(WireMessagesTest, HelloAddressLimits) {
  auto h = sample_hello();
  h.addrs.assign(max_addrs, std::string(max_addr_size, 'a'));
  expect_round_trip(h);
  auto too_many = h;
  too_many.addrs.push_back("x:1");
  EXPECT_ERR(decode(encode(too_many)), ec::protocol_error);
  auto too_long = sample_hello();
  too_long.addrs.push_back(std::string(max_addr_size + 1, 'a'));
  auto dec = decode(encode(too_long));
  ASSERT_ERR(dec, ec::protocol_error);
  EXPECT_TRUE(contains(describe_of(dec), "hello.a[2]")) << describe_of(dec);
}

TEST(WireMessagesTest, GoodbyeReasonLimitAndTruncation) {
  expect_round_trip(goodbye{std::string(max_reason_size, 'r')});
  // A hand-built reason over the limit is rejected...
  auto body = mp::M({{"r", mp::S(std::string(max_reason_size + 1, 'r'))}});
  EXPECT_ERR(decode(to_bytes(envelope(8, body))), ec::protocol_error);
  // ...while `encode` truncates, without splitting a UTF-8 character.
  std::string reason(max_reason_size - 1, 'r');
  reason += "€€€"; // 3 bytes each: the first one straddles the limit
  auto dec = decode(encode(goodbye{reason}));
  ASSERT_OK(dec);
  EXPECT_EQ(std::get<goodbye>(*dec).reason,
            std::string(max_reason_size - 1, 'r'));
}

TEST(WireMessagesTest, StringsMustBeValidUtf8) {
  for (std::string s :
       {std::string{"\xff"}, std::string{"a\xc3"}, std::string{"\xc0\xaf"},
        std::string{"\xed\xa0\x80"}, std::string{"\xf4\x90\x80\x80"}}) {
    auto body = mp::M({{"r", mp::S(s)}});
    auto dec = decode(to_bytes(envelope(8, body)));
    ASSERT_ERR(dec, ec::protocol_error);
    EXPECT_TRUE(contains(describe_of(dec), "UTF-8")) << describe_of(dec);
  }
}

TEST(WireMessagesTest, ProofPathLimit) {
  block_delivery d{{delivery{leaf_address(1, 3), data_of(10, 2),
                             proof_for(3, 4, max_proof_path)}}};
  expect_round_trip(d);
  d.blocks[0].proof = proof_for(3, 4, max_proof_path + 1);
  auto dec = decode(encode(d));
  ASSERT_ERR(dec, ec::protocol_error);
  EXPECT_TRUE(contains(describe_of(dec), "block_delivery.b[0].p.p"))
    << describe_of(dec);
}

TEST(WireMessagesTest, InconsistentProofsAreRejected) {
  // Proof for another leaf.
  block_delivery d{
    {delivery{leaf_address(1, 3), data_of(10, 2), proof_for(4, 8, 3)}}};
  EXPECT_ERR(decode(encode(d)), ec::protocol_error);
  // Leaf without proof.
  d.blocks[0].proof.reset();
  EXPECT_ERR(decode(encode(d)), ec::protocol_error);
  // Proof for a block addressed by CID.
  d.blocks[0] = delivery{block_cid(1), data_of(10, 2), proof_for(0, 1, 0)};
  EXPECT_ERR(decode(encode(d)), ec::protocol_error);
  // Index outside the tree.
  d.blocks[0] =
    delivery{leaf_address(1, 8), data_of(10, 2), proof_for(8, 8, 3)};
  EXPECT_ERR(decode(encode(d)), ec::protocol_error);
}

TEST(WireMessagesTest, DeliveryDataOverTheFrameLimitIsRejected) {
  block_delivery d;
  d.blocks.push_back(
    delivery{block_cid(1), data_of(max_frame_size / 2 + 1, 1), std::nullopt});
  d.blocks.push_back(
    delivery{block_cid(2), data_of(max_frame_size / 2 + 1, 2), std::nullopt});
  auto dec = decode(encode(d));
  ASSERT_ERR(dec, ec::protocol_error);
  // One block of exactly the limit does not fit a frame with its envelope.
  block_delivery one{
    {delivery{block_cid(1), data_of(max_delivery_bytes, 3), std::nullopt}}};
  EXPECT_ERR(decode(encode(one)), ec::protocol_error);
}

TEST(WireMessagesTest, WrongSizeKeysNoncesAndSignaturesAreRejected) {
  for (size_t n : {0, 31, 33, 64}) {
    SCOPED_TRACE(n);
    auto body = body_mp(sample_hello());
    body.m[1].second = mp::B(random_bytes(n, 1)); // k
    auto dec = decode(to_bytes(envelope(1, body)));
    ASSERT_ERR(dec, ec::protocol_error);
    EXPECT_TRUE(contains(describe_of(dec), "hello.k")) << describe_of(dec);
    body = body_mp(sample_hello());
    body.m[3].second = mp::B(random_bytes(n, 2)); // n
    dec = decode(to_bytes(envelope(1, body)));
    ASSERT_ERR(dec, ec::protocol_error);
    EXPECT_TRUE(contains(describe_of(dec), "hello.n")) << describe_of(dec);
  }
  for (size_t n : {0, 32, 63, 65, 128}) {
    SCOPED_TRACE(n);
    auto dec = decode(encode(auth{random_bytes(n, 3)}));
    ASSERT_ERR(dec, ec::protocol_error);
    EXPECT_TRUE(contains(describe_of(dec), "auth.s")) << describe_of(dec);
  }
  // A proof digest of the wrong size.
  auto body = body_mp(sample_delivery());
  body.m[0].second.a[1].m[2].second.m[2].second.a[0] = mp::B(bytes(31, 0));
  auto dec = decode(to_bytes(envelope(5, body)));
  ASSERT_ERR(dec, ec::protocol_error);
  EXPECT_TRUE(contains(describe_of(dec), "block_delivery.b[1].p.p[0]"))
    << describe_of(dec);
}

TEST(WireMessagesTest, OutOfRangeIntegersAreRejected) {
  auto w = body_mp(sample_want_list());
  auto& entry = w.m[0].second.a[0];
  entry.m[1].second = mp::U(uint64_t{INT32_MAX} + 1); // priority
  EXPECT_ERR(decode(to_bytes(envelope(3, w))), ec::protocol_error);
  entry.m[1].second = mp::I(int64_t{INT32_MIN} - 1);
  EXPECT_ERR(decode(to_bytes(envelope(3, w))), ec::protocol_error);
  entry.m[1].second = mp::I(0);
  entry.m[3].second = mp::U(2); // want type
  auto dec = decode(to_bytes(envelope(3, w)));
  ASSERT_ERR(dec, ec::protocol_error);
  EXPECT_TRUE(contains(describe_of(dec), "want_list.e[0].t"))
    << describe_of(dec);
  auto h = body_mp(sample_hello());
  h.m[0].second = mp::U(uint64_t{UINT32_MAX} + 1); // version
  EXPECT_ERR(decode(to_bytes(envelope(1, h))), ec::protocol_error);
}

TEST(WireMessagesTest, BadCidsAndAddressesAreRejected) {
  auto body = body_mp(sample_presence());
  auto& addr = body.m[0].second.a[0].m[0].second;
  // A CID that does not parse.
  addr = mp::M({{"c", mp::B(random_bytes(38, 1))}});
  EXPECT_ERR(decode(to_bytes(envelope(4, body))), ec::protocol_error);
  // Both kinds at once.
  addr = mp::M({{"c", cid_mp(block_cid(1))},
                {"t", cid_mp(leaf_address(2, 0).tree)},
                {"i", mp::U(0)}});
  EXPECT_ERR(decode(to_bytes(envelope(4, body))), ec::protocol_error);
  // A leaf whose tree is not a codex-root CID.
  addr = mp::M({{"t", cid_mp(block_cid(3))}, {"i", mp::U(0)}});
  EXPECT_ERR(decode(to_bytes(envelope(4, body))), ec::protocol_error);
  // A duplicate key.
  addr = mp::M({{"c", cid_mp(block_cid(1))}, {"c", cid_mp(block_cid(2))}});
  EXPECT_ERR(decode(to_bytes(envelope(4, body))), ec::protocol_error);
  // A non-string key.
  auto p = to_bytes(envelope(6, mp::M({})));
  p.back() = 0x81; // fixmap(1)
  p.push_back(0x01);
  p.push_back(0x02);
  EXPECT_ERR(decode(p), ec::protocol_error);
}

// -- malformed payloads -------------------------------------------------------

TEST(WireMessagesTest, WrongTypeOrMissingFieldIsRejectedNamingIt) {
  size_t checked = 0;
  for (auto& x : samples()) {
    std::vector<mutation> ms;
    mutations(body_mp(x), body_name(x), ms);
    for (auto& m : ms) {
      auto dec = decode(to_bytes(envelope(type_of(x), m.body)));
      ASSERT_ERR(dec, ec::protocol_error) << m.what << " " << m.path;
      auto expected = m.too_deep ? std::string{"nesting deeper"} : m.path;
      EXPECT_TRUE(contains(describe_of(dec), expected))
        << m.what << " " << m.path << ": " << describe_of(dec);
      ++checked;
    }
  }
  EXPECT_GT(checked, 500u);
}

TEST(WireMessagesTest, MalformedEnvelopesAreRejected) {
  auto body = body_mp(ping{1});
  std::vector<std::pair<mp, std::string>> cases = {
    {mp::U(6), "2-element array"},
    {mp::M({{"n", mp::U(1)}}), "2-element array"},
    {mp::A({}), "2-element array"},
    {mp::A({mp::U(6)}), "2-element array"},
    {mp::A({mp::U(6), body, mp::Nil()}), "2-element array"},
    {mp::A({mp::S("ping"), body}), "message type"},
    {mp::A({mp::I(-1), body}), "message type"},
    {envelope(0, body), "unknown message type 0"},
    {envelope(9, body), "unknown message type 9"},
    {envelope(255, body), "unknown message type 255"},
    {envelope(UINT64_MAX, body), "unknown message type"},
  };
  for (auto& [v, why] : cases) {
    auto dec = decode(to_bytes(v));
    ASSERT_ERR(dec, ec::protocol_error) << why;
    EXPECT_TRUE(contains(describe_of(dec), why)) << describe_of(dec);
  }
  EXPECT_ERR(decode(bytes{}), ec::protocol_error);
  EXPECT_ERR(decode(byte_view{nullptr, 0}), ec::protocol_error);
}

TEST(WireMessagesTest, TrailingBytesAreRejected) {
  for (auto& x : samples()) {
    auto enc = encode(x);
    for (auto extra : {bytes{0}, bytes{0xc0}, encode(ping{1})}) {
      auto p = enc;
      p.insert(p.end(), extra.begin(), extra.end());
      auto dec = decode(p);
      ASSERT_ERR(dec, ec::protocol_error) << type_name(x);
      EXPECT_TRUE(contains(describe_of(dec), "trailing")) << describe_of(dec);
    }
  }
}

TEST(WireMessagesTest, EveryTruncationIsRejected) {
  for (auto& x : samples()) {
    auto enc = encode(x);
    for (size_t n = 0; n < enc.size(); ++n)
      ASSERT_ERR(decode(byte_view{enc.data(), n}), ec::protocol_error)
        << type_name(x) << " cut at " << n << " of " << enc.size();
  }
}

TEST(WireMessagesTest, OversizedContainersAndStringsAreRejected) {
  auto check = [](const bytes& p, const char* why) {
    auto dec = decode(p);
    ASSERT_ERR(dec, ec::protocol_error) << why;
  };
  // An array32 header announcing 2^32-1 elements (no allocation happens).
  check(bytes{0x92, 0x03, 0x81, 0xa1, 'e', 0xdd, 0xff, 0xff, 0xff, 0xff},
        "huge array header");
  // A map32 header announcing 2^32-1 pairs.
  check(bytes{0x92, 0x06, 0xdf, 0xff, 0xff, 0xff, 0xff}, "huge map header");
  // A bin32 / str32 header announcing 4 GiB with a few bytes present.
  check(bytes{0x92, 0x02, 0x81, 0xa1, 's', 0xc6, 0xff, 0xff, 0xff, 0xff, 1, 2},
        "huge bin header");
  check(bytes{0x92, 0x08, 0x81, 0xa1, 'r', 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},
        "huge str header");
  // A real array of 1025 elements, a map of 17 pairs, a 1025-byte key.
  std::vector<mp> many(1025, mp::Nil());
  check(to_bytes(envelope(1, mp::M({{"a", mp::A(many)}}))), "1025 elements");
  std::vector<std::pair<std::string, mp>> pairs;
  for (int i = 0; i < 17; ++i)
    pairs.emplace_back("k" + std::to_string(i), mp::U(1));
  check(to_bytes(envelope(6, mp::M(pairs))), "17 pairs");
  check(to_bytes(envelope(6, mp::M({{std::string(1025, 'k'), mp::U(1)}}))),
        "1025-byte key");
  // Nesting deeper than 6.
  auto deep = mp::A({});
  for (int i = 0; i < 10; ++i)
    deep = mp::A({deep});
  check(to_bytes(envelope(6, mp::M({{"n", deep}}))), "deep nesting");
  // 100k nested array headers (would be a deep stack without a depth limit).
  bytes nested{0x92, 0x06};
  nested.insert(nested.end(), 100000, 0x91);
  nested.push_back(0xc0);
  check(nested, "100k nesting");
  // More objects than the budget: 200 arrays of 1000 nils (~200 KB of
  // payload that msgpack would expand to ~5 MB of objects).
  std::vector<mp> inner(1000, mp::Nil());
  std::vector<mp> outer(200, mp::A(inner));
  auto dec = decode(to_bytes(envelope(1, mp::M({{"a", mp::A(outer)}}))));
  ASSERT_ERR(dec, ec::protocol_error);
  EXPECT_TRUE(contains(describe_of(dec), "objects")) << describe_of(dec);
  // A payload over the frame limit.
  bytes huge(max_frame_size + 1, 0xc0);
  check(huge, "payload over 4 MiB");
  // ext types are not used by the format.
  check(bytes{0x92, 0x06, 0x81, 0xa1, 'n', 0xd4, 0x01, 0x00}, "fixext");
  // Neither are floats in place of integers.
  auto body = mp::M({{"n", mp::U(1)}});
  auto p = to_bytes(envelope(6, body));
  p.pop_back();
  bytes f64{0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0};
  p.insert(p.end(), f64.begin(), f64.end());
  check(p, "float nonce");
}

TEST(WireMessagesTest, FuzzedPayloadsNeverCrash) {
  std::mt19937_64 gen{20240501};
  auto rnd = [&](uint64_t n) { return gen() % n; };
  auto check = [](const bytes& p) {
    auto dec = decode(p);
    if (dec) {
      // Whatever decodes must re-encode to something that decodes the same.
      auto again = decode(encode(*dec));
      ASSERT_OK(again);
      ASSERT_TRUE(*again == *dec);
    } else {
      ASSERT_TRUE(is(dec.error(), ec::protocol_error)) << describe(dec.error());
    }
  };
  auto valid = samples();
  size_t accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    bytes p;
    switch (iter % 4) {
    case 0: // plain random bytes
      p = random_bytes(1 + rnd(64), gen());
      break;
    case 1: { // a plausible envelope followed by random bytes
      p = {0x92, static_cast<uint8_t>(1 + rnd(8))};
      auto tail = random_bytes(rnd(96), gen());
      p.insert(p.end(), tail.begin(), tail.end());
      break;
    }
    default: { // a valid encoding with a few bytes changed, cut or inserted
      p = encode(valid[rnd(valid.size())]);
      auto edits = 1 + rnd(4);
      for (uint64_t e = 0; e < edits && !p.empty(); ++e) {
        auto at = rnd(p.size());
        switch (rnd(4)) {
        case 0:
          p[at] ^= static_cast<uint8_t>(1u << rnd(8));
          break;
        case 1:
          p[at] = static_cast<uint8_t>(gen());
          break;
        case 2:
          p.resize(at);
          break;
        default:
          p.insert(p.begin() + at, static_cast<uint8_t>(gen()));
        }
      }
    }
    }
    check(p);
    if (HasFatalFailure())
      return;
    accepted += decode(p) ? 1 : 0;
  }
  // Some edits (inside block data, nonces, ...) keep the payload valid.
  EXPECT_GT(accepted, 0u);
}

TEST(WireMessagesTest, FramedMessagesThroughTheReader) {
  frame_reader r;
  bytes stream;
  for (auto& x : samples()) {
    auto f = encode_frame(encode(x));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  ASSERT_OK(r.feed(stream));
  auto expected = samples();
  size_t i = 0;
  while (auto payload = r.next()) {
    auto dec = decode(*payload);
    ASSERT_OK(dec);
    ASSERT_LT(i, expected.size());
    EXPECT_TRUE(*dec == expected[i++]);
  }
  EXPECT_EQ(i, expected.size());
}

TEST(WireMessagesTest, AppendFrameEqualsEncodeFrameAndAppends) {
  // Written straight into a buffer that already holds bytes (a socket's
  // write buffer with frames not yet sent): the same bytes, appended.
  std::vector<char> buf{'x', 'y'};
  bytes expected{'x', 'y'};
  for (auto& x : samples()) {
    append_frame(x, buf);
    auto f = encode_frame(encode(x));
    expected.insert(expected.end(), f.begin(), f.end());
  }
  ASSERT_EQ(buf.size(), expected.size());
  EXPECT_TRUE(
    std::equal(buf.begin(), buf.end(), expected.begin(),
               [](char a, uint8_t b) { return static_cast<uint8_t>(a) == b; }));
}

// The pieces of a gathered frame, joined.
bytes joined(const frame_pieces& f) {
  bytes out;
  for (size_t i = 0; i < f.pieces.size(); ++i) {
    auto* p = reinterpret_cast<const uint8_t*>(f.data(i));
    out.insert(out.end(), p, p + f.pieces[i].size);
  }
  return out;
}

TEST(WireMessagesTest, GatheredFrameEqualsEncodeFrameAndReferencesBlockData) {
  frame_pieces f;
  for (auto& x : samples()) {
    gather_frame(x, f);
    auto expected = encode_frame(encode(x));
    EXPECT_EQ(f.size, expected.size());
    EXPECT_TRUE(joined(f) == expected) << type_name(x);
  }
  // 64 KiB blocks are referenced where they lie: the head holds the rest.
  block_delivery d;
  for (uint64_t i = 0; i < 3; ++i)
    d.blocks.push_back(
      delivery{leaf_address(1, i), data_of(65536, i), proof_for(i, 8, 3)});
  gather_frame(d, f);
  EXPECT_TRUE(joined(f) == encode_frame(encode(d)));
  size_t refs = 0;
  for (size_t i = 0; i < f.pieces.size(); ++i) {
    if (!f.pieces[i].ref)
      continue;
    EXPECT_EQ(f.data(i),
              reinterpret_cast<const char*>(d.blocks[refs].data->data()));
    ++refs;
  }
  EXPECT_EQ(refs, 3u);
  EXPECT_LT(f.head.size(), 1024u);
  // Below the threshold the data is copied; the bytes are the same.
  gather_frame(d, f, 1u << 20);
  EXPECT_EQ(f.pieces.size(), 1u);
  EXPECT_TRUE(joined(f) == encode_frame(encode(d)));
}

// -- handshake ----------------------------------------------------------------

TEST(WireMessagesTest, AuthPayloadLayout) {
  auto rn = fixed<32>(1), sn = fixed<32>(2), pk = fixed<32>(3),
       h = fixed<32>(4);
  auto p = auth_payload(rn, sn, pk, h);
  ASSERT_EQ(p.size(), 13u + 128u);
  EXPECT_EQ(std::string(p.begin(), p.begin() + 13), "cairn-auth-v2");
  EXPECT_TRUE(std::equal(rn.begin(), rn.end(), p.begin() + 13));
  EXPECT_TRUE(std::equal(sn.begin(), sn.end(), p.begin() + 45));
  EXPECT_TRUE(std::equal(pk.begin(), pk.end(), p.begin() + 77));
  EXPECT_TRUE(std::equal(h.begin(), h.end(), p.begin() + 109));
}

TEST(WireMessagesTest, PreambleLayoutAndModeAgreement) {
  auto noise = preamble(transport_mode::noise);
  auto plain = preamble(transport_mode::plaintext);
  EXPECT_EQ(to_hex(byte_view{noise.data(), noise.size()}), "636169726e000201");
  EXPECT_EQ(to_hex(byte_view{plain.data(), plain.size()}), "636169726e000200");
  EXPECT_OK(check_preamble(noise, transport_mode::noise));
  EXPECT_OK(check_preamble(plain, transport_mode::plaintext));
  auto a = check_preamble(plain, transport_mode::noise);
  ASSERT_ERR(a, ec::handshake_failed);
  EXPECT_NE(describe(a).find("peer uses plaintext transport"),
            std::string::npos);
  auto b = check_preamble(noise, transport_mode::plaintext);
  ASSERT_ERR(b, ec::handshake_failed);
  EXPECT_NE(describe(b).find("peer requires encrypted transport"),
            std::string::npos);
  auto old = noise;
  old[6] = 1;
  EXPECT_NE(describe(check_preamble(old, transport_mode::noise))
              .find("protocol version 1"),
            std::string::npos);
  // A version 1 node starts with the frame header of its HELLO.
  preamble_bytes v1{0, 0, 0, 0x40, 0x92, 0x01, 0x84, 0xa1};
  EXPECT_NE(describe(check_preamble(v1, transport_mode::noise))
              .find("no Cairn preamble"),
            std::string::npos);
}

TEST(WireMessagesTest, HandshakeSignaturesVerifyAndTamperingFails) {
  test::temp_dir dir{"cairn-wire"};
  auto a = storage::node_key::load_or_create(dir.file("a.key"));
  auto b = storage::node_key::load_or_create(dir.file("b.key"));
  ASSERT_OK(a);
  ASSERT_OK(b);
  // Both sides send HELLO; each decodes the other's.
  hello ha{protocol_version, a->public_key(), {"127.0.0.1:1"}, fixed<32>(10)};
  hello hb{protocol_version, b->public_key(), {}, fixed<32>(11)};
  auto ha_rx = decode(encode(ha));
  auto hb_rx = decode(encode(hb));
  ASSERT_OK(ha_rx);
  ASSERT_OK(hb_rx);
  auto& peer_of_b = std::get<hello>(*ha_rx); // what B received from A
  auto& peer_of_a = std::get<hello>(*hb_rx); // what A received from B
  // The session's handshake hash, the same on both ends.
  auto h = fixed<32>(20);
  // Each signs auth_payload(peer nonce, own nonce, own key, h).
  auth aa{a->sign(auth_payload(peer_of_a.nonce, ha.nonce, a->public_key(), h))};
  auth ab{b->sign(auth_payload(peer_of_b.nonce, hb.nonce, b->public_key(), h))};
  auto aa_rx = decode(encode(aa));
  auto ab_rx = decode(encode(ab));
  ASSERT_OK(aa_rx);
  ASSERT_OK(ab_rx);
  auto& sig_from_a = std::get<auth>(*aa_rx).signature;
  auto& sig_from_b = std::get<auth>(*ab_rx).signature;
  // Each verifies the other against the key in its HELLO and its own nonce.
  auto b_checks_a = [&](const bytes& sig) {
    return storage::node_key::verify(
      peer_of_b.public_key,
      auth_payload(hb.nonce, peer_of_b.nonce, peer_of_b.public_key, h), sig);
  };
  auto a_checks_b = [&](const bytes& sig) {
    return storage::node_key::verify(
      peer_of_a.public_key,
      auth_payload(ha.nonce, peer_of_a.nonce, peer_of_a.public_key, h), sig);
  };
  EXPECT_TRUE(b_checks_a(sig_from_a));
  EXPECT_TRUE(a_checks_b(sig_from_b));
  // The peer ID derives from the key in the HELLO.
  EXPECT_EQ(peer_id::from_ed25519(peer_of_b.public_key), a->peer_id());
  EXPECT_EQ(peer_id::from_ed25519(peer_of_a.public_key), b->peer_id());
  EXPECT_NE(a->peer_id(), b->peer_id());
  // A flipped bit anywhere in the signature fails.
  for (size_t bit : {0, 100, 511}) {
    auto bad = sig_from_a;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(b_checks_a(bad)) << "bit " << bit;
  }
  // A signature over swapped nonces fails.
  auto swapped =
    a->sign(auth_payload(ha.nonce, peer_of_a.nonce, a->public_key(), h));
  EXPECT_FALSE(b_checks_a(swapped));
  // A's signature does not pass as B's, nor does a replay to another nonce.
  EXPECT_FALSE(a_checks_b(sig_from_a));
  EXPECT_FALSE(storage::node_key::verify(
    peer_of_b.public_key,
    auth_payload(fixed<32>(12), peer_of_b.nonce, peer_of_b.public_key, h),
    sig_from_a));
  // A signature made in another session (another h) fails: a relayed
  // or replayed AUTH does not carry over.
  auto other_session = a->sign(
    auth_payload(peer_of_a.nonce, ha.nonce, a->public_key(), fixed<32>(21)));
  EXPECT_FALSE(b_checks_a(other_session));
  // B posing as A (A's key in its HELLO, B's key signing) fails.
  auto impostor = b->sign(auth_payload(hb.nonce, ha.nonce, a->public_key(), h));
  EXPECT_FALSE(b_checks_a(impostor));
}
