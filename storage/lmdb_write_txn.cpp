#include "storage/lmdb_write_txn.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "messages/error.hpp"
#include "messages/manifest.hpp"

namespace cairn::storage {

caf::error lmdb_store::write_txn::fail(const char* op, int rc) {
  if (rc == MDB_MAP_FULL)
    map_full = true;
  return make_error(ec::storage_io, op, std::string{mdb_strerror(rc)});
}

caf::error lmdb_store::write_txn::load_stats() {
  for (auto [key, dst] :
       {std::pair{used_key, &used}, std::pair{count_key, &count}}) {
    int rc = read_counter(txn, st.stats_, key, *dst);
    if (rc != 0 && rc != MDB_NOTFOUND)
      return fail("mdb_get(stats)", rc);
  }
  return caf::none;
}

caf::error lmdb_store::write_txn::store_stats() {
  for (auto [key, val] :
       {std::pair{used_key, used}, std::pair{count_key, count}}) {
    uint8_t buf[8];
    put_le(buf, val, 8);
    MDB_val k = as_val(key), v{8, buf};
    if (int rc = mdb_put(txn, st.stats_, &k, &v, 0))
      return fail("mdb_put(stats)", rc);
  }
  return caf::none;
}

caf::expected<bool> lmdb_store::write_txn::get_meta(const bytes& key,
                                                    block_meta& m) {
  MDB_val k = as_val(key), v;
  int rc = mdb_get(txn, st.meta_, &k, &v);
  if (rc == MDB_NOTFOUND)
    return false;
  if (rc != 0)
    return fail("mdb_get(meta)", rc);
  if (v.mv_size != meta_size)
    return make_error(ec::storage_io, "corrupt meta record");
  m = decode_meta(static_cast<uint8_t*>(v.mv_data));
  return true;
}

caf::error lmdb_store::write_txn::put_meta(const bytes& key,
                                           const block_meta& m) {
  uint8_t buf[meta_size];
  encode_meta(m, buf);
  MDB_val k = as_val(key), v{meta_size, buf};
  if (int rc = mdb_put(txn, st.meta_, &k, &v, 0))
    return fail("mdb_put(meta)", rc);
  return caf::none;
}

caf::error lmdb_store::write_txn::set_expiry(const bytes& key,
                                             uint64_t old_expiry,
                                             uint64_t new_expiry,
                                             bool had_old) {
  if (had_old) {
    auto ok = expiry_key(old_expiry, key);
    MDB_val k = as_val(ok);
    int rc = mdb_del(txn, st.expiry_, &k, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND)
      return fail("mdb_del(expiry)", rc);
  }
  auto nk = expiry_key(new_expiry, key);
  MDB_val k = as_val(nk), v{0, nullptr};
  if (int rc = mdb_put(txn, st.expiry_, &k, &v, 0))
    return fail("mdb_put(expiry)", rc);
  return caf::none;
}

caf::error lmdb_store::write_txn::touch(const bytes& key, block_meta& m,
                                        uint64_t expiry) {
  if (auto e = set_expiry(key, m.expiry, expiry, true))
    return e;
  m.expiry = expiry;
  return put_meta(key, m);
}

caf::error lmdb_store::write_txn::add_ref(const block& b, uint64_t expiry,
                                          uint64_t& added) {
  auto key = b.id.to_bytes();
  block_meta m;
  auto found = get_meta(key, m);
  if (!found)
    return found.error();
  uint64_t old_expiry = m.expiry;
  if (*found) {
    ++m.refcount;
  } else {
    if (used + b.size() > st.opts_.quota_bytes)
      return make_error(ec::quota_exceeded,
                        "storing " + std::to_string(b.size()) + " more bytes" +
                          " would exceed the quota of " +
                          std::to_string(st.opts_.quota_bytes) + " bytes (" +
                          std::to_string(used) + " used)");
    MDB_val k = as_val(key), v{b.size(), nullptr};
    if (int rc = mdb_put(txn, st.blocks_, &k, &v, MDB_RESERVE))
      return fail("mdb_put(blocks)", rc);
    std::memcpy(v.mv_data, b.data->data(), b.size());
    m = block_meta{1, static_cast<uint32_t>(b.size()), 0};
    used += b.size();
    added += b.size();
    ++count;
  }
  m.expiry = expiry;
  if (auto err = put_meta(key, m))
    return err;
  return set_expiry(key, old_expiry, expiry, *found);
}

caf::error lmdb_store::write_txn::erase_block(const bytes& key,
                                              const block_meta& m) {
  MDB_val k = as_val(key);
  for (auto dbi : {st.blocks_, st.meta_}) {
    int rc = mdb_del(txn, dbi, &k, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND)
      return fail("mdb_del(block)", rc);
  }
  auto ek = expiry_key(m.expiry, key);
  MDB_val e = as_val(ek);
  int rc = mdb_del(txn, st.expiry_, &e, nullptr);
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail("mdb_del(expiry)", rc);
  used -= std::min<uint64_t>(used, m.size);
  count -= std::min<uint64_t>(count, 1);
  return caf::none;
}

caf::error lmdb_store::write_txn::drop_ref(const bytes& key) {
  block_meta m;
  auto found = get_meta(key, m);
  if (!found)
    return found.error();
  if (!*found)
    return caf::none;
  if (m.refcount > 1) {
    --m.refcount;
    return put_meta(key, m);
  }
  return erase_block(key, m);
}

caf::expected<bool> lmdb_store::write_txn::has_leaf(const block_address& addr) {
  auto lk = leaf_key(addr);
  MDB_val k = as_val(lk), v;
  int rc = mdb_get(txn, st.leaves_, &k, &v);
  if (rc != 0 && rc != MDB_NOTFOUND)
    return fail("mdb_get(leaves)", rc);
  return rc == 0;
}

caf::error lmdb_store::write_txn::put_leaf(const block_address& addr,
                                           const digest256& digest,
                                           const merkle_proof& proof) {
  auto lk = leaf_key(addr);
  auto lv = encode_leaf(digest, proof);
  MDB_val k = as_val(lk), v = as_val(lv);
  if (int rc = mdb_put(txn, st.leaves_, &k, &v, 0))
    return fail("mdb_put(leaves)", rc);
  return caf::none;
}

caf::expected<bool>
lmdb_store::write_txn::erase_leaf(const block_address& addr) {
  auto lk = leaf_key(addr);
  MDB_val k = as_val(lk), v;
  int rc = mdb_get(txn, st.leaves_, &k, &v);
  if (rc == MDB_NOTFOUND)
    return false;
  if (rc != 0)
    return fail("mdb_get(leaves)", rc);
  if (v.mv_size < 32)
    return make_error(ec::storage_io, "corrupt leaf record");
  auto bc = leaf_block_cid(v);
  if ((rc = mdb_del(txn, st.leaves_, &k, nullptr)) != 0)
    return fail("mdb_del(leaves)", rc);
  if (auto err = drop_ref(bc.to_bytes()))
    return err;
  return true;
}

caf::expected<uint32_t> lmdb_store::write_txn::tree_refs(const bytes& key) {
  MDB_val k = as_val(key), v;
  int rc = mdb_get(txn, st.trees_, &k, &v);
  if (rc == MDB_NOTFOUND)
    return uint32_t{0};
  if (rc != 0)
    return fail("mdb_get(trees)", rc);
  return static_cast<uint32_t>(get_le(static_cast<uint8_t*>(v.mv_data), 4));
}

caf::error lmdb_store::write_txn::set_tree_refs(const bytes& key,
                                                uint32_t refs) {
  MDB_val k = as_val(key);
  if (refs == 0) {
    int rc = mdb_del(txn, st.trees_, &k, nullptr);
    return rc == 0 || rc == MDB_NOTFOUND ? caf::none
                                         : fail("mdb_del(trees)", rc);
  }
  uint8_t buf[4];
  put_le(buf, refs, 4);
  MDB_val v{4, buf};
  if (int rc = mdb_put(txn, st.trees_, &k, &v, 0))
    return fail("mdb_put(trees)", rc);
  return caf::none;
}

caf::error lmdb_store::write_txn::remove_dataset(const cid& id, bool& removed) {
  removed = false;
  auto key = id.to_bytes();
  MDB_val k = as_val(key), v;
  int rc = mdb_get(txn, st.manifests_, &k, &v);
  if (rc == MDB_NOTFOUND)
    return caf::none;
  if (rc != 0)
    return fail("mdb_get(manifests)", rc);
  removed = true;
  if ((rc = mdb_del(txn, st.manifests_, &k, nullptr)) != 0)
    return fail("mdb_del(manifests)", rc);
  MDB_val bv;
  rc = mdb_get(txn, st.blocks_, &k, &bv);
  if (rc == 0) {
    auto m = manifest::decode(
      byte_view{static_cast<uint8_t*>(bv.mv_data), bv.mv_size});
    if (m) {
      if (auto err = release_tree(m->tree_cid, m->blocks_count()))
        return err;
    }
  } else if (rc != MDB_NOTFOUND) {
    return fail("mdb_get(blocks)", rc);
  }
  return drop_ref(key);
}

caf::error lmdb_store::write_txn::release_tree(const cid& tree,
                                               uint64_t nleaves) {
  auto tkey = tree.to_bytes();
  auto refs = tree_refs(tkey);
  if (!refs)
    return refs.error();
  if (*refs > 1)
    return set_tree_refs(tkey, *refs - 1);
  for (uint64_t i = 0; i < nleaves; ++i)
    if (auto erased = erase_leaf(block_address{tree, i}); !erased)
      return erased.error();
  return set_tree_refs(tkey, 0);
}

} // namespace cairn::storage
