#include "storage/lmdb_records.hpp"

#include <cstring>

namespace cairn::storage {

void put_le(uint8_t* p, uint64_t x, size_t n) {
  for (size_t i = 0; i < n; ++i)
    p[i] = static_cast<uint8_t>(x >> (8 * i));
}

uint64_t get_le(const uint8_t* p, size_t n) {
  uint64_t x = 0;
  for (size_t i = 0; i < n; ++i)
    x |= static_cast<uint64_t>(p[i]) << (8 * i);
  return x;
}

void put_be64(bytes& out, uint64_t x) {
  for (int i = 7; i >= 0; --i)
    out.push_back(static_cast<uint8_t>(x >> (8 * i)));
}

uint64_t get_be64(const uint8_t* p) {
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i)
    x = (x << 8) | p[i];
  return x;
}

MDB_val as_val(const bytes& b) {
  return MDB_val{b.size(), const_cast<uint8_t*>(b.data())};
}

MDB_val as_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

int read_counter(MDB_txn* txn, MDB_dbi stats, std::string_view key,
                 uint64_t& out) {
  MDB_val k = as_val(key), v;
  int rc = mdb_get(txn, stats, &k, &v);
  if (rc == MDB_NOTFOUND)
    out = 0;
  else if (rc == 0 && v.mv_size == 8)
    out = get_le(static_cast<uint8_t*>(v.mv_data), 8);
  return rc;
}

void encode_meta(const block_meta& m, uint8_t (&buf)[meta_size]) {
  put_le(buf, m.refcount, 4);
  put_le(buf + 4, m.size, 4);
  put_le(buf + 8, m.expiry, 8);
}

block_meta decode_meta(const uint8_t* d) {
  block_meta m;
  m.refcount = static_cast<uint32_t>(get_le(d, 4));
  m.size = static_cast<uint32_t>(get_le(d + 4, 4));
  m.expiry = get_le(d + 8, 8);
  return m;
}

bytes expiry_key(uint64_t expiry, const bytes& cid_bytes) {
  bytes k;
  k.reserve(8 + cid_bytes.size());
  put_be64(k, expiry);
  k.insert(k.end(), cid_bytes.begin(), cid_bytes.end());
  return k;
}

bytes leaf_key(const block_address& addr) {
  bytes k = addr.tree.to_bytes();
  put_be64(k, addr.index);
  return k;
}

bytes encode_leaf(const digest256& digest, const merkle_proof& p) {
  bytes v(32 + 8 + 2 + 32 * p.path.size());
  std::memcpy(v.data(), digest.data(), 32);
  put_le(v.data() + 32, p.nleaves, 8);
  put_le(v.data() + 40, p.path.size(), 2);
  for (size_t i = 0; i < p.path.size(); ++i)
    std::memcpy(v.data() + 42 + 32 * i, p.path[i].data(), 32);
  return v;
}

bool decode_leaf(const MDB_val& v, uint64_t index, digest256& digest,
                 merkle_proof& p) {
  auto* d = static_cast<const uint8_t*>(v.mv_data);
  if (v.mv_size < 42)
    return false;
  size_t n = get_le(d + 40, 2);
  if (v.mv_size != 42 + 32 * n)
    return false;
  std::memcpy(digest.data(), d, 32);
  p.index = index;
  p.nleaves = get_le(d + 32, 8);
  p.path.resize(n);
  for (size_t i = 0; i < n; ++i)
    std::memcpy(p.path[i].data(), d + 42 + 32 * i, 32);
  return true;
}

cid leaf_block_cid(const MDB_val& v) {
  cid bc{multicodec::codex_block, {}};
  std::memcpy(bc.digest.data(), v.mv_data, 32);
  return bc;
}

} // namespace cairn::storage
