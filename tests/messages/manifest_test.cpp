// Tests of messages/manifest.hpp: msgpack round trips, the manifest block and
// its CID, and decoding of malformed or hostile bytes (always
// ec::invalid_manifest, never an exception or a crash).

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <msgpack.hpp>
#include <openssl/sha.h>

#include "messages/block.hpp"
#include "messages/cid.hpp"
#include "messages/error.hpp"
#include "messages/manifest.hpp"
#include "messages/msgpack_pack.hpp"
#include "test_helpers.hpp"

using namespace cairn;
using cairn::test::random_bytes;

namespace {

using packer = msgpack::packer<msgpack::sbuffer>;

cid some_cid(multicodec codec, uint64_t seed) {
  return cid::of(codec, random_bytes(64, seed));
}

manifest plain_manifest() {
  manifest m;
  m.tree_cid = some_cid(multicodec::codex_root, 1);
  m.dataset_size = 3 * 65536 + 5;
  return m;
}

manifest full_manifest() {
  manifest m;
  m.tree_cid = some_cid(multicodec::codex_root, 2);
  m.block_size = 65536;
  m.version = 1;
  m.filename = "report 2024 (final) – ünïcødé.pdf";
  m.mimetype = "application/pdf";
  m.is_protected = true;
  m.ec_k = 3;
  m.ec_m = 2;
  m.original_tree_cid = some_cid(multicodec::codex_root, 3);
  m.original_dataset_size = 5 * 65536 + 100;
  // Stepped layout: 6 data blocks rounded to K, 2 steps, 2·2 parity blocks.
  m.dataset_size = (6 + 2 * 2) * uint64_t{65536};
  return m;
}

void expect_same(const manifest& a, const manifest& b) {
  EXPECT_EQ(a.tree_cid, b.tree_cid);
  EXPECT_EQ(a.dataset_size, b.dataset_size);
  EXPECT_EQ(a.block_size, b.block_size);
  EXPECT_EQ(a.codec, b.codec);
  EXPECT_EQ(a.hcodec, b.hcodec);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.filename, b.filename);
  EXPECT_EQ(a.mimetype, b.mimetype);
  EXPECT_EQ(a.is_protected, b.is_protected);
  EXPECT_EQ(a.ec_k, b.ec_k);
  EXPECT_EQ(a.ec_m, b.ec_m);
  EXPECT_EQ(a.original_tree_cid, b.original_tree_cid);
  EXPECT_EQ(a.original_dataset_size, b.original_dataset_size);
  EXPECT_EQ(a.strategy, b.strategy);
  EXPECT_TRUE(a == b);
}

// -- hand-built msgpack, so each field can be got wrong
// --------------------------

struct field {
  std::string key;
  std::function<void(packer&)> value;
};

using fields = std::vector<field>;

bytes pack_map(const fields& fs) {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_map(static_cast<uint32_t>(fs.size()));
  for (const auto& f : fs) {
    pack_str(pk, f.key);
    f.value(pk);
  }
  return bytes(buf.data(), buf.data() + buf.size());
}

std::function<void(packer&)> uint_val(uint64_t x) {
  return [x](packer& pk) { pk.pack_uint64(x); };
}
std::function<void(packer&)> str_val(std::string s) {
  return [s](packer& pk) { pack_str(pk, s); };
}
std::function<void(packer&)> bin_val(bytes b) {
  return [b](packer& pk) { pack_bin(pk, b); };
}
std::function<void(packer&)> bool_val(bool x) {
  return [x](packer& pk) {
    if (x)
      pk.pack_true();
    else
      pk.pack_false();
  };
}

// The fields of a valid protected manifest, as manifest.cpp documents them.
fields valid_fields() {
  return {
    {"treeCid", bin_val(some_cid(multicodec::codex_root, 4).to_bytes())},
    {"datasetSize", uint_val(10 * 65536)},
    {"blockSize", uint_val(65536)},
    {"codec", uint_val(0xcd02)},
    {"hcodec", uint_val(0x12)},
    {"version", uint_val(1)},
    {"filename", str_val("a.txt")},
    {"mimetype", str_val("text/plain")},
    {"protected", bool_val(true)},
    {"ecK", uint_val(3)},
    {"ecM", uint_val(2)},
    {"originalTreeCid",
     bin_val(some_cid(multicodec::codex_root, 5).to_bytes())},
    {"originalDatasetSize", uint_val(5 * 65536 + 1)},
    {"strategy", uint_val(0)},
  };
}

fields without(fields fs, const std::string& key) {
  fs.erase(std::remove_if(fs.begin(), fs.end(),
                          [&](const field& f) { return f.key == key; }),
           fs.end());
  return fs;
}

fields with(fields fs, const std::string& key,
            std::function<void(packer&)> value) {
  for (auto& f : fs)
    if (f.key == key) {
      f.value = std::move(value);
      return fs;
    }
  fs.push_back(field{key, std::move(value)});
  return fs;
}

// Decodes without letting an exception escape the test.
caf::expected<manifest> safe_decode(const bytes& in) {
  try {
    return manifest::decode(in);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "decode threw: " << e.what();
  } catch (...) {
    ADD_FAILURE() << "decode threw a non-std exception";
  }
  return make_error(ec::unavailable, "decode threw");
}

} // namespace

// -- round trips
// -------------------------------------------------------------------

TEST(ManifestTest, RoundTripWithAllFields) {
  auto m = full_manifest();
  auto enc = m.encode();
  auto dec = manifest::decode(enc);
  ASSERT_OK(dec);
  expect_same(*dec, m);
  EXPECT_EQ(dec->encode(), enc);
  EXPECT_EQ(dec->content_size(), m.original_dataset_size);
  EXPECT_EQ(dec->blocks_count(), 10u);
}

TEST(ManifestTest, RoundTripWithoutOptionalFields) {
  auto m = plain_manifest();
  auto dec = manifest::decode(m.encode());
  ASSERT_OK(dec);
  expect_same(*dec, m);
  EXPECT_FALSE(dec->filename.has_value());
  EXPECT_FALSE(dec->mimetype.has_value());
  EXPECT_FALSE(dec->original_tree_cid.has_value());
  EXPECT_FALSE(dec->is_protected);
  EXPECT_EQ(dec->blocks_count(), 4u);
  EXPECT_EQ(dec->content_size(), m.dataset_size);
}

TEST(ManifestTest, RoundTripWithEachOptionalFieldAlone) {
  auto a = plain_manifest();
  a.filename = "only-name.bin";
  auto b = plain_manifest();
  b.mimetype = "image/png";
  auto c = plain_manifest();
  c.filename = ""; // present but empty is not absent
  for (const auto& m : {a, b, c}) {
    auto dec = manifest::decode(m.encode());
    ASSERT_OK(dec);
    expect_same(*dec, m);
  }
  EXPECT_NE(c.encode(), plain_manifest().encode());
}

TEST(ManifestTest, RoundTripOfExtremeValues) {
  auto m = plain_manifest();
  m.dataset_size = 1;
  m.block_size = 1;
  auto dec = manifest::decode(m.encode());
  ASSERT_OK(dec);
  expect_same(*dec, m);
  m.block_size = 1u << 24;
  m.dataset_size = uint64_t{1} << 50;
  m.filename = std::string(4096, 'f');
  dec = manifest::decode(m.encode());
  ASSERT_OK(dec);
  expect_same(*dec, m);
}

TEST(ManifestTest, EncodingIsDeterministicAndFieldSensitive) {
  auto m = full_manifest();
  EXPECT_EQ(m.encode(), full_manifest().encode());
  auto n = m;
  n.filename = "other.pdf";
  EXPECT_NE(n.encode(), m.encode());
  EXPECT_FALSE(n == m);
}

TEST(ManifestTest, ToBlockHasManifestCidOfEncoding) {
  for (const auto& m : {plain_manifest(), full_manifest()}) {
    auto enc = m.encode();
    auto b = m.to_block();
    EXPECT_EQ(b.id.codec, multicodec::codex_manifest);
    digest256 expected;
    SHA256(enc.data(), enc.size(), expected.data());
    EXPECT_EQ(b.id.digest, expected);
    ASSERT_TRUE(b.data);
    EXPECT_EQ(*b.data, enc);
    EXPECT_TRUE(b.verify());
    auto back = manifest_from_block(b);
    ASSERT_OK(back);
    expect_same(*back, m);
  }
}

TEST(ManifestTest, SameDataDifferentFilenameHasDifferentCid) {
  auto a = plain_manifest();
  auto b = a;
  b.filename = "x";
  EXPECT_NE(a.to_block().id, b.to_block().id);
  EXPECT_EQ(a.tree_cid, b.tree_cid);
}

TEST(ManifestTest, HandBuiltValidMapDecodes) {
  // Sanity check of the helpers the rejection tests build on.
  auto dec = manifest::decode(pack_map(valid_fields()));
  ASSERT_OK(dec);
  EXPECT_TRUE(dec->is_protected);
  EXPECT_EQ(dec->ec_k, 3u);
  EXPECT_EQ(dec->filename, std::string{"a.txt"});
  auto plain = without(
    without(
      without(
        without(without(without(valid_fields(), "protected"), "ecK"), "ecM"),
        "originalTreeCid"),
      "originalDatasetSize"),
    "strategy");
  EXPECT_OK(manifest::decode(pack_map(plain)));
}

TEST(ManifestTest, DecodeIgnoresUnknownKeys) {
  auto fs = valid_fields();
  fs.push_back({"futureField", str_val("whatever")});
  fs.push_back({"anotherOne", uint_val(7)});
  EXPECT_OK(manifest::decode(pack_map(fs)));
}

TEST(ManifestTest, ManifestFromNonManifestBlockFails) {
  auto m = plain_manifest();
  auto enc = m.encode();
  // The right bytes under a codex-block or codex-root CID.
  EXPECT_ERR(manifest_from_block(block::make(enc, multicodec::codex_block)),
             ec::invalid_manifest);
  EXPECT_ERR(manifest_from_block(block::make(enc, multicodec::codex_root)),
             ec::invalid_manifest);
  // A manifest CID over bytes that are no manifest.
  EXPECT_ERR(manifest_from_block(
               block::make(random_bytes(100, 1), multicodec::codex_manifest)),
             ec::invalid_manifest);
}

// -- rejections
// ----------------------------------------------------------------------

TEST(ManifestTest, DecodeRejectsEmpty) {
  EXPECT_ERR(safe_decode({}), ec::invalid_manifest);
  EXPECT_ERR(manifest::decode(byte_view{}), ec::invalid_manifest);
}

TEST(ManifestTest, DecodeRejectsEveryTruncation) {
  for (const auto& m : {plain_manifest(), full_manifest()}) {
    auto enc = m.encode();
    for (size_t n = 0; n < enc.size(); ++n) {
      bytes cut(enc.begin(), enc.begin() + static_cast<std::ptrdiff_t>(n));
      EXPECT_ERR(safe_decode(cut), ec::invalid_manifest) << "length " << n;
    }
  }
}

TEST(ManifestTest, DecodeRejectsNonMaps) {
  msgpack::sbuffer buf;
  packer pk(buf);
  // An array holding the values, as another encoder might.
  pk.pack_array(3);
  pack_bin(pk, some_cid(multicodec::codex_root, 1).to_bytes());
  pk.pack_uint64(100);
  pk.pack_uint64(65536);
  bytes arr(buf.data(), buf.data() + buf.size());
  EXPECT_ERR(safe_decode(arr), ec::invalid_manifest);
  EXPECT_ERR(safe_decode(bytes{0x90}), ec::invalid_manifest); // []
  EXPECT_ERR(safe_decode(bytes{0x80}), ec::invalid_manifest); // {}
  EXPECT_ERR(safe_decode(bytes{0xc0}), ec::invalid_manifest); // nil
  EXPECT_ERR(safe_decode(bytes{0x2a}), ec::invalid_manifest); // 42
  EXPECT_ERR(safe_decode(bytes{0xa3, 'a', 'b', 'c'}), ec::invalid_manifest);
  EXPECT_ERR(safe_decode(bytes{0xc4, 0x01, 0x00}), ec::invalid_manifest); // bin
}

TEST(ManifestTest, DecodeRejectsMissingRequiredFields) {
  for (auto key : {"treeCid", "datasetSize", "blockSize"})
    EXPECT_ERR(safe_decode(pack_map(without(valid_fields(), key))),
               ec::invalid_manifest)
      << "without " << key;
}

TEST(ManifestTest, DecodeRejectsTreeCidOfWrongCodec) {
  for (auto codec : {multicodec::codex_block, multicodec::codex_manifest}) {
    auto fs =
      with(valid_fields(), "treeCid", bin_val(some_cid(codec, 9).to_bytes()));
    EXPECT_ERR(safe_decode(pack_map(fs)), ec::invalid_manifest);
  }
}

TEST(ManifestTest, DecodeRejectsMalformedTreeCid) {
  auto good = some_cid(multicodec::codex_root, 9).to_bytes();
  std::vector<std::function<void(packer&)>> bad_values{
    bin_val({}),
    bin_val(bytes(good.begin(), good.end() - 1)),
    bin_val(random_bytes(38, 1)),
    str_val(some_cid(multicodec::codex_root, 9).to_string()), // text, not bin
    str_val(std::string(good.begin(), good.end())),           // str, not bin
    uint_val(5),
    [](packer& pk) { pk.pack_nil(); },
  };
  for (size_t i = 0; i < bad_values.size(); ++i)
    EXPECT_ERR(
      safe_decode(pack_map(with(valid_fields(), "treeCid", bad_values[i]))),
      ec::invalid_manifest)
      << "case " << i;
  // The same for originalTreeCid.
  for (size_t i = 0; i < bad_values.size(); ++i)
    EXPECT_ERR(safe_decode(pack_map(
                 with(valid_fields(), "originalTreeCid", bad_values[i]))),
               ec::invalid_manifest)
      << "case " << i;
}

TEST(ManifestTest, DecodeRejectsBadBlockSize) {
  for (uint64_t bs : {uint64_t{0}, (uint64_t{1} << 24) + 1, uint64_t{1} << 32,
                      std::numeric_limits<uint64_t>::max()})
    EXPECT_ERR(
      safe_decode(pack_map(with(valid_fields(), "blockSize", uint_val(bs)))),
      ec::invalid_manifest)
      << bs;
}

TEST(ManifestTest, DecodeRejectsUnsupportedCodecOrHashOrStrategy) {
  EXPECT_ERR(
    safe_decode(pack_map(with(valid_fields(), "codec", uint_val(0x55)))),
    ec::invalid_manifest);
  EXPECT_ERR(
    safe_decode(pack_map(with(valid_fields(), "codec", uint_val(0xcd01)))),
    ec::invalid_manifest);
  EXPECT_ERR(
    safe_decode(pack_map(with(valid_fields(), "hcodec", uint_val(0x13)))),
    ec::invalid_manifest);
  EXPECT_ERR(
    safe_decode(pack_map(with(valid_fields(), "strategy", uint_val(1)))),
    ec::invalid_manifest);
}

TEST(ManifestTest, DecodeRejectsWrongFieldTypes) {
  struct {
    const char* key;
    std::function<void(packer&)> value;
  } cases[] = {
    {"datasetSize", str_val("1000")},
    {"blockSize", str_val("65536")},
    {"codec", str_val("codex-block")},
    {"hcodec", str_val("sha2-256")},
    {"version", str_val("1")},
    {"ecK", str_val("3")},
    {"ecM", str_val("2")},
    {"originalDatasetSize", str_val("5")},
    {"strategy", str_val("stepped")},
    {"filename", uint_val(7)},
    {"mimetype", bool_val(true)},
    {"protected", uint_val(1)},
    {"protected", str_val("true")},
    {"datasetSize", [](packer& pk) { pk.pack_int64(-1); }},
    // (msgpack-c packs an integral double as an integer, hence the .5)
    {"blockSize", [](packer& pk) { pk.pack_double(65536.5); }},
    {"datasetSize", [](packer& pk) { pk.pack_float(1.5f); }},
    {"version", uint_val(uint64_t{1} << 40)}, // does not fit u32
    {"ecK", uint_val(uint64_t{1} << 33)},
    {"filename", [](packer& pk) { pk.pack_nil(); }},
    {"datasetSize",
     [](packer& pk) {
       pk.pack_map(1);
       pk.pack_uint8(1);
       pk.pack_uint8(2);
     }},
  };
  for (const auto& c : cases)
    EXPECT_ERR(safe_decode(pack_map(with(valid_fields(), c.key, c.value))),
               ec::invalid_manifest)
      << c.key;
}

TEST(ManifestTest, DecodeRejectsNonStringKeys) {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_map(1);
  pk.pack_uint8(1);
  pk.pack_uint8(2);
  EXPECT_ERR(safe_decode(bytes(buf.data(), buf.data() + buf.size())),
             ec::invalid_manifest);
}

TEST(ManifestTest, DecodeRejectsOversizedInput) {
  // A filename beyond the 4 KiB string limit.
  auto m = plain_manifest();
  m.filename = std::string(5000, 'x');
  EXPECT_ERR(safe_decode(m.encode()), ec::invalid_manifest);
  // A map of more than 32 entries (padding with unknown keys).
  auto fs = valid_fields();
  for (int i = 0; i < 40; ++i)
    fs.push_back({"pad" + std::to_string(i), uint_val(0)});
  EXPECT_ERR(safe_decode(pack_map(fs)), ec::invalid_manifest);
  // A huge bin as treeCid.
  EXPECT_ERR(safe_decode(pack_map(
               with(valid_fields(), "treeCid", bin_val(bytes(1 << 16, 1))))),
             ec::invalid_manifest);
  // Headers that claim 4 GiB strings, maps and arrays with nothing behind.
  EXPECT_ERR(safe_decode(bytes{0x81, 0xdb, 0xff, 0xff, 0xff, 0xff}),
             ec::invalid_manifest);
  EXPECT_ERR(safe_decode(bytes{0xdf, 0xff, 0xff, 0xff, 0xff}),
             ec::invalid_manifest);
  EXPECT_ERR(safe_decode(bytes{0xdd, 0xff, 0xff, 0xff, 0xff}),
             ec::invalid_manifest);
  EXPECT_ERR(safe_decode(bytes{0x81, 0xa1, 'a', 0xc6, 0xff, 0xff, 0xff, 0xff}),
             ec::invalid_manifest);
  // Deep nesting inside an unknown key.
  bytes deep{0x81, 0xa1, 'x'};
  for (int i = 0; i < 1000; ++i)
    deep.push_back(0x91);
  deep.push_back(0xc0);
  EXPECT_ERR(safe_decode(deep), ec::invalid_manifest);
  // An ext value.
  EXPECT_ERR(safe_decode(bytes{0x81, 0xa1, 'x', 0xd4, 0x01, 0x00}),
             ec::invalid_manifest);
}

TEST(ManifestTest, DecodeRejectsInconsistentProtectedFields) {
  struct {
    const char* what;
    fields fs;
  } cases[] = {
    {"ecK 0", with(valid_fields(), "ecK", uint_val(0))},
    {"ecM 0", with(valid_fields(), "ecM", uint_val(0))},
    {"ecK+ecM > 256",
     with(with(valid_fields(), "ecK", uint_val(200)), "ecM", uint_val(100))},
    {"no originalTreeCid", without(valid_fields(), "originalTreeCid")},
    {"originalDatasetSize > datasetSize",
     with(valid_fields(), "originalDatasetSize", uint_val(11 * 65536))},
    // Nothing to download: its stream would send a byte of the first block.
    {"originalDatasetSize 0",
     with(valid_fields(), "originalDatasetSize", uint_val(0))},
    {"no originalDatasetSize", without(valid_fields(), "originalDatasetSize")},
    {"only protected",
     without(without(without(without(valid_fields(), "ecK"), "ecM"),
                     "originalTreeCid"),
             "originalDatasetSize")},
  };
  for (const auto& c : cases)
    EXPECT_ERR(safe_decode(pack_map(c.fs)), ec::invalid_manifest) << c.what;
}

TEST(ManifestTest, DecodeRejectsOriginalTreeCidOfWrongCodec) {
  // originalTreeCid names a tree, like treeCid: it must be a codex-root CID.
  auto fs = with(valid_fields(), "originalTreeCid",
                 bin_val(some_cid(multicodec::codex_block, 11).to_bytes()));
  auto r = safe_decode(pack_map(fs));
  if (r)
    FAIL() << "manifest::decode accepts an originalTreeCid with codec "
              "codex-block (only treeCid's codec is checked)";
  EXPECT_ERR(r, ec::invalid_manifest);
}

TEST(ManifestTest, HugeDatasetSizeIsRejectedOrCountedRight) {
  // blocks_count() is ceil(datasetSize / blockSize); a decoded manifest must
  // not report 0 blocks for 16 EiB of data.
  auto m = plain_manifest();
  m.dataset_size = std::numeric_limits<uint64_t>::max();
  auto dec = safe_decode(m.encode());
  if (!dec) {
    EXPECT_TRUE(is(dec.error(), ec::invalid_manifest));
    return;
  }
  uint64_t expected = uint64_t{1} << 48; // ceil((2^64 - 1) / 2^16)
  if (dec->blocks_count() != expected)
    FAIL() << "manifest::decode accepts datasetSize 2^64-1 and "
              "blocks_count() computes (dataset_size + block_size - 1) / "
              "block_size, which wraps: "
           << dec->blocks_count() << " blocks instead of " << expected;
}

// -- robustness
// -----------------------------------------------------------------------

TEST(ManifestTest, DecodeNeverThrowsOnRandomBytes) {
  std::mt19937_64 gen{77};
  for (int i = 0; i < 3000; ++i) {
    auto in = random_bytes(gen() % 300, gen());
    // Some inputs start like a map, to get further into the decoder.
    if (i % 3 == 0 && !in.empty())
      in[0] = static_cast<uint8_t>(0x80 | (gen() % 16));
    auto r = safe_decode(in);
    if (!r) {
      EXPECT_TRUE(is(r.error(), ec::invalid_manifest)) << describe(r.error());
    }
  }
}

TEST(ManifestTest, DecodeNeverThrowsOnMutatedEncodings) {
  std::mt19937_64 gen{78};
  auto base = full_manifest().encode();
  for (int i = 0; i < 3000; ++i) {
    auto in = base;
    int flips = 1 + static_cast<int>(gen() % 4);
    for (int j = 0; j < flips; ++j)
      in[gen() % in.size()] = static_cast<uint8_t>(gen());
    auto r = safe_decode(in);
    if (r) {
      // Whatever decodes is a usable manifest.
      EXPECT_EQ(r->tree_cid.codec, multicodec::codex_root);
      EXPECT_GT(r->block_size, 0u);
      EXPECT_TRUE(manifest::decode(r->encode()));
    } else {
      EXPECT_TRUE(is(r.error(), ec::invalid_manifest)) << describe(r.error());
    }
  }
}

TEST(ManifestTest, DecodeErrorsSayWhy) {
  auto r = manifest::decode(pack_map(without(valid_fields(), "treeCid")));
  ASSERT_FALSE(r);
  EXPECT_NE(describe(r.error()).find("treeCid"), std::string::npos)
    << describe(r.error());
}
