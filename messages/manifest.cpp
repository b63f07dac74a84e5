#include "messages/manifest.hpp"

#include <msgpack.hpp>

#include "messages/error.hpp"
#include "messages/msgpack_pack.hpp"

// Encoding: one msgpack map, keys are the Codex field names. Binary CIDs are
// msgpack BIN; optional fields are omitted when absent.
//   treeCid bin, datasetSize uint, blockSize uint, codec uint, hcodec uint,
//   version uint, filename str?, mimetype str?, protected bool,
//   ecK uint, ecM uint, originalTreeCid bin?, originalDatasetSize uint,
//   strategy uint

namespace cairn {

namespace {

void pack_cid(msgpack::packer<msgpack::sbuffer>& pk, const cid& c) {
  auto b = c.to_bytes();
  pk.pack_bin(static_cast<uint32_t>(b.size()));
  pk.pack_bin_body(reinterpret_cast<const char*>(b.data()),
                   static_cast<uint32_t>(b.size()));
}

// Limits for decoding: a manifest is a flat map of at most 32 entries with
// strings shorter than 4 KiB; anything larger is rejected before allocation.
msgpack::unpack_limit manifest_limits() {
  return msgpack::unpack_limit(/*array*/ 0, /*map*/ 32, /*str*/ 4096,
                               /*bin*/ 64, /*ext*/ 0, /*depth*/ 2);
}

} // namespace

bytes manifest::encode() const {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  uint32_t n = 10 + (filename ? 1 : 0) + (mimetype ? 1 : 0) +
               (original_tree_cid ? 1 : 0) + 1;
  pk.pack_map(n);
  pack_str(pk, "treeCid");
  pack_cid(pk, tree_cid);
  pack_str(pk, "datasetSize");
  pk.pack_uint64(dataset_size);
  pack_str(pk, "blockSize");
  pk.pack_uint32(block_size);
  pack_str(pk, "codec");
  pk.pack_uint64(static_cast<uint64_t>(codec));
  pack_str(pk, "hcodec");
  pk.pack_uint64(hcodec);
  pack_str(pk, "version");
  pk.pack_uint32(version);
  if (filename) {
    pack_str(pk, "filename");
    pack_str(pk, *filename);
  }
  if (mimetype) {
    pack_str(pk, "mimetype");
    pack_str(pk, *mimetype);
  }
  pack_str(pk, "protected");
  if (is_protected)
    pk.pack_true();
  else
    pk.pack_false();
  pack_str(pk, "ecK");
  pk.pack_uint32(ec_k);
  pack_str(pk, "ecM");
  pk.pack_uint32(ec_m);
  if (original_tree_cid) {
    pack_str(pk, "originalTreeCid");
    pack_cid(pk, *original_tree_cid);
  }
  pack_str(pk, "originalDatasetSize");
  pk.pack_uint64(original_dataset_size);
  pack_str(pk, "strategy");
  pk.pack_uint8(static_cast<uint8_t>(strategy));
  return bytes(reinterpret_cast<const uint8_t*>(buf.data()),
               reinterpret_cast<const uint8_t*>(buf.data()) + buf.size());
}

caf::expected<manifest> manifest::decode(byte_view in) {
  msgpack::object_handle oh;
  try {
    size_t offset = 0;
    oh = msgpack::unpack(reinterpret_cast<const char*>(in.data), in.size,
                         offset, nullptr, nullptr, manifest_limits());
    // One manifest has one encoding: trailing bytes would give it more CIDs.
    if (offset != in.size)
      return make_error(ec::invalid_manifest,
                        "trailing bytes after the manifest");
  } catch (const std::exception& e) {
    return make_error(ec::invalid_manifest,
                      std::string{"msgpack: "} + e.what());
  }
  const auto& obj = oh.get();
  if (obj.type != msgpack::type::MAP)
    return make_error(ec::invalid_manifest, "not a msgpack map");
  manifest m;
  bool have_tree = false, have_size = false, have_bs = false;
  try {
    for (uint32_t i = 0; i < obj.via.map.size; ++i) {
      const auto& kv = obj.via.map.ptr[i];
      if (kv.key.type != msgpack::type::STR)
        return make_error(ec::invalid_manifest, "non-string key");
      std::string key = kv.key.as<std::string>();
      const auto& v = kv.val;
      auto as_cid = [&](const char* what) -> caf::expected<cid> {
        if (v.type != msgpack::type::BIN)
          return make_error(ec::invalid_manifest,
                            std::string{what} + " is not bin");
        auto c = cid::from_bytes(byte_view{
          reinterpret_cast<const uint8_t*>(v.via.bin.ptr), v.via.bin.size});
        if (!c)
          return make_error(ec::invalid_manifest,
                            std::string{what} + ": " + describe(c.error()));
        return c;
      };
      if (key == "treeCid") {
        auto c = as_cid("treeCid");
        if (!c)
          return c.error();
        m.tree_cid = *c;
        have_tree = true;
      } else if (key == "datasetSize") {
        m.dataset_size = v.as<uint64_t>();
        have_size = true;
      } else if (key == "blockSize") {
        m.block_size = v.as<uint32_t>();
        have_bs = true;
      } else if (key == "codec") {
        m.codec = static_cast<multicodec>(v.as<uint64_t>());
      } else if (key == "hcodec") {
        m.hcodec = v.as<uint64_t>();
      } else if (key == "version") {
        m.version = v.as<uint32_t>();
      } else if (key == "filename") {
        m.filename = v.as<std::string>();
      } else if (key == "mimetype") {
        m.mimetype = v.as<std::string>();
      } else if (key == "protected") {
        m.is_protected = v.as<bool>();
      } else if (key == "ecK") {
        m.ec_k = v.as<uint32_t>();
      } else if (key == "ecM") {
        m.ec_m = v.as<uint32_t>();
      } else if (key == "originalTreeCid") {
        auto c = as_cid("originalTreeCid");
        if (!c)
          return c.error();
        m.original_tree_cid = *c;
      } else if (key == "originalDatasetSize") {
        m.original_dataset_size = v.as<uint64_t>();
      } else if (key == "strategy") {
        if (v.as<uint32_t>() != 0)
          return make_error(ec::invalid_manifest, "unknown strategy");
        m.strategy = ec_strategy::stepped;
      }
      // Unknown keys are ignored for forward compatibility.
    }
  } catch (const std::exception& e) {
    return make_error(ec::invalid_manifest,
                      std::string{"field type: "} + e.what());
  }
  if (!have_tree || !have_size || !have_bs)
    return make_error(ec::invalid_manifest,
                      "missing treeCid, datasetSize or blockSize");
  if (m.tree_cid.codec != multicodec::codex_root)
    return make_error(ec::invalid_manifest, "treeCid is not a codex-root CID");
  if (m.block_size == 0 || m.block_size > (1u << 24))
    return make_error(ec::invalid_manifest, "blockSize out of range");
  // 2^56 bytes (64 PiB) is far beyond any store and keeps index math exact.
  if (m.dataset_size == 0 || m.dataset_size > (uint64_t{1} << 56))
    return make_error(ec::invalid_manifest, "datasetSize out of range");
  if (m.codec != multicodec::codex_block || m.hcodec != sha2_256_code)
    return make_error(ec::invalid_manifest, "unsupported block codec or hash");
  if (m.is_protected) {
    if (m.ec_k == 0 || m.ec_m == 0 || m.ec_k + m.ec_m > 256 ||
        !m.original_tree_cid ||
        m.original_tree_cid->codec != multicodec::codex_root ||
        m.original_dataset_size == 0 ||
        m.original_dataset_size > m.dataset_size)
      return make_error(ec::invalid_manifest,
                        "inconsistent erasure-coding fields");
  }
  return m;
}

caf::expected<manifest> manifest_from_block(const block& b) {
  if (b.id.codec != multicodec::codex_manifest)
    return make_error(ec::invalid_manifest,
                      b.id.to_string() + " is not a manifest CID");
  return manifest::decode(*b.data);
}

} // namespace cairn
