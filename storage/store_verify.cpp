#include "storage/store_verify.hpp"

#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>

#include <lmdb.h>

#include "messages/error.hpp"
#include "messages/manifest.hpp"
#include "messages/sha256.hpp"
#include "storage/merkle_tree.hpp"

// Reads the value layouts lmdb_store.cpp documents at its top: meta is
// refcount u32 | size u32 | expiry u64 (little-endian); expiry keys are
// expiry u64 big-endian | CID bytes; leaf keys are treeCid bytes | index
// u64 big-endian, leaf values digest[32] | nleaves u64 | path count u16 |
// path[32]...; trees hold a u32 manifest count; stats "used" and "blocks"
// a u64 each.

namespace cairn::storage {

namespace {

constexpr size_t meta_len = 16;

uint64_t le(const uint8_t* p, size_t n) {
  uint64_t x = 0;
  for (size_t i = 0; i < n; ++i)
    x |= static_cast<uint64_t>(p[i]) << (8 * i);
  return x;
}

void put_le(std::string& out, uint64_t x, size_t n) {
  for (size_t i = 0; i < n; ++i)
    out.push_back(static_cast<char>(static_cast<uint8_t>(x >> (8 * i))));
}

uint64_t be64(const uint8_t* p) {
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i)
    x = (x << 8) | p[i];
  return x;
}

std::string expiry_key(uint64_t expiry, const std::string& key) {
  std::string k;
  for (int i = 7; i >= 0; --i)
    k.push_back(static_cast<char>(static_cast<uint8_t>(expiry >> (8 * i))));
  return k + key;
}

struct meta_rec {
  uint32_t refcount = 0;
  uint32_t size = 0;
  uint64_t expiry = 0;
};

std::string encode_meta(const meta_rec& m) {
  std::string v;
  put_le(v, m.refcount, 4);
  put_le(v, m.size, 4);
  put_le(v, m.expiry, 8);
  return v;
}

std::string str(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

MDB_val val(const std::string& s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

const uint8_t* data(const MDB_val& v) {
  return static_cast<const uint8_t*>(v.mv_data);
}

byte_view view(const std::string& s) {
  return byte_view{reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A key as text: its CID if it parses, else hex.
std::string show(const std::string& key) {
  auto id = cid::from_bytes(view(key));
  return id ? id->to_string() : "0x" + to_hex(view(key));
}

std::string block_key(const digest256& d) {
  auto b = cid{multicodec::codex_block, d}.to_bytes();
  return {b.begin(), b.end()};
}

caf::error lmdb_error(const char* op, int rc) {
  return make_error(ec::storage_io, op, std::string{mdb_strerror(rc)});
}

// Calls `f(key, value)` for every record of `dbi`; `f` returns false to
// stop. Returns LMDB's error, if any.
template <class F>
caf::error each(MDB_txn* txn, MDB_dbi dbi, F&& f) {
  MDB_cursor* cur = nullptr;
  if (int rc = mdb_cursor_open(txn, dbi, &cur))
    return lmdb_error("mdb_cursor_open", rc);
  MDB_val k, v;
  int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    if (!f(cur, k, v))
      break;
  mdb_cursor_close(cur);
  if (rc != 0 && rc != MDB_NOTFOUND)
    return lmdb_error("mdb_cursor_get", rc);
  return caf::none;
}

bool get(MDB_txn* txn, MDB_dbi dbi, const std::string& key, MDB_val* out) {
  MDB_val k = val(key), v;
  if (mdb_get(txn, dbi, &k, out ? out : &v) != 0)
    return false;
  return true;
}

bool read_meta(MDB_txn* txn, MDB_dbi dbi, const std::string& key, meta_rec& m) {
  MDB_val v;
  if (!get(txn, dbi, key, &v) || v.mv_size != meta_len)
    return false;
  m = {static_cast<uint32_t>(le(data(v), 4)),
       static_cast<uint32_t>(le(data(v) + 4, 4)), le(data(v) + 8, 8)};
  return true;
}

// A tree the manifest index uses: its manifests and its leaf count.
struct tree_use {
  std::vector<std::string> manifests;
  uint64_t nleaves = 0;
};

// Reads the manifest index: which trees are used and by whom; each
// indexed manifest owns one reference of its block. `bad(key, why)` is
// called for an entry whose manifest is gone or does not decode.
template <class Bad>
caf::error scan_manifests(MDB_txn* txn, const lmdb_store::handles& h,
                          std::map<std::string, tree_use>& trees,
                          std::unordered_map<std::string, uint32_t>& owners,
                          uint64_t& datasets, Bad&& bad) {
  return each(txn, h.manifests, [&](MDB_cursor*, MDB_val& k, MDB_val&) {
    ++datasets;
    auto key = str(k);
    MDB_val b;
    if (!get(txn, h.blocks, key, &b)) {
      bad(key, "its manifest block is not stored");
      return true;
    }
    auto m = manifest::decode(byte_view{data(b), b.mv_size});
    if (!m) {
      bad(key, "its manifest does not decode: " + describe(m.error()));
      return true;
    }
    auto tkey = m->tree_cid.to_bytes();
    auto& use = trees[std::string{tkey.begin(), tkey.end()}];
    use.manifests.push_back(key);
    use.nleaves = m->blocks_count();
    ++owners[key];
    return true;
  });
}

// Per tree: leaves whose block is missing or bad, or whose proof fails.
struct leaf_tally {
  uint64_t missing = 0, bad_bytes = 0, bad_proof = 0;
  uint64_t first_missing = 0, first_bad_bytes = 0, first_bad_proof = 0;
  uint64_t stray = 0;
};

void count(uint64_t& n, uint64_t& first, uint64_t index) {
  if (n++ == 0)
    first = index;
}

std::string leaves_text(uint64_t n, uint64_t first) {
  return std::to_string(n) + (n == 1 ? " leaf" : " leaves") +
         " (first: " + std::to_string(first) + ")";
}

} // namespace

const char* to_string(store_problem_kind kind) {
  switch (kind) {
  case store_problem_kind::bad_hash:
    return "bad-hash";
  case store_problem_kind::missing_block:
    return "missing-block";
  case store_problem_kind::bad_proof:
    return "bad-proof";
  case store_problem_kind::bad_manifest:
    return "bad-manifest";
  case store_problem_kind::stray_leaf:
    return "stray-leaf";
  case store_problem_kind::refcount:
    return "refcount";
  case store_problem_kind::tree_refcount:
    return "tree-refcount";
  case store_problem_kind::orphan:
    return "orphan";
  case store_problem_kind::bad_meta:
    return "bad-meta";
  case store_problem_kind::quota:
    return "quota";
  }
  return "unknown";
}

caf::expected<verify_report> verify_store(lmdb_store& st,
                                          const verify_options& opts) {
  auto h = st.raw_handles();
  std::shared_lock<std::shared_mutex> no_resize{*h.remap};
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(h.env, nullptr, MDB_RDONLY, &txn))
    return lmdb_error("mdb_txn_begin(read)", rc);
  struct abort_on_exit {
    MDB_txn* t;
    ~abort_on_exit() { mdb_txn_abort(t); }
  } guard{txn};
  verify_report out;
  auto problem = [&](store_problem_kind kind, std::string text) {
    out.problems.push_back(store_problem{kind, std::move(text)});
  };
  auto damaged = [&](const std::string& manifest, std::string why) {
    for (auto& d : out.damaged_datasets)
      if (d.first == manifest)
        return;
    out.damaged_datasets.emplace_back(manifest, std::move(why));
  };
  uint64_t ttl = static_cast<uint64_t>(st.options().block_ttl.count());

  // Manifests: which trees are used, and the references they own.
  std::map<std::string, tree_use> trees;
  std::unordered_map<std::string, uint32_t> owners;
  auto err =
    scan_manifests(txn, h, trees, owners, out.datasets,
                   [&](const std::string& key, const std::string& why) {
                     problem(store_problem_kind::bad_manifest,
                             "dataset " + show(key) + ": " + why);
                     damaged(key, why);
                   });
  if (err)
    return err;

  // Blocks: bytes against CID and metadata.
  std::set<std::string> bad;
  bool cancelled = false;
  err = each(txn, h.blocks, [&](MDB_cursor*, MDB_val& k, MDB_val& v) {
    if (opts.cancel && opts.cancel->load()) {
      cancelled = true;
      return false;
    }
    ++out.blocks;
    out.bytes += v.mv_size;
    auto key = str(k);
    auto id = cid::from_bytes(view(key));
    if (!id) {
      problem(store_problem_kind::bad_meta,
              "block key " + show(key) + " is not a CID");
      return true;
    }
    if (opts.check_hashes &&
        sha256(byte_view{data(v), v.mv_size}) != id->digest) {
      problem(store_problem_kind::bad_hash,
              "block " + id->to_string() + ": its " +
                std::to_string(v.mv_size) + " bytes do not hash to its CID");
      bad.insert(key);
      out.bad_blocks.push_back(key);
    }
    meta_rec m;
    if (!read_meta(txn, h.meta, key, m)) {
      problem(store_problem_kind::bad_meta,
              "block " + id->to_string() + " has no metadata");
      return true;
    }
    if (m.size != v.mv_size)
      problem(store_problem_kind::bad_meta,
              "block " + id->to_string() + ": metadata says " +
                std::to_string(m.size) + " bytes, " +
                std::to_string(v.mv_size) + " are stored");
    if (!get(txn, h.expiry, expiry_key(m.expiry, key), nullptr))
      problem(store_problem_kind::bad_meta,
              "block " + id->to_string() + " is not in the expiry index");
    return true;
  });
  if (err)
    return err;
  if (cancelled)
    return make_error(ec::shutting_down, "store verification cancelled");

  // Leaves: each owns a reference of its block, which must be stored, and
  // its proof must lead to the tree's root.
  std::map<std::string, leaf_tally> tallies;
  err = each(txn, h.leaves, [&](MDB_cursor*, MDB_val& k, MDB_val& v) {
    ++out.leaves;
    if (k.mv_size <= 8)
      return true;
    std::string tkey{static_cast<const char*>(k.mv_data), k.mv_size - 8};
    uint64_t index = be64(data(k) + k.mv_size - 8);
    auto& tally = tallies[tkey];
    auto use = trees.find(tkey);
    if (use == trees.end()) {
      if (tally.stray++ == 0)
        tally.first_missing = index;
      return true;
    }
    auto tree = cid::from_bytes(view(tkey));
    size_t npath = v.mv_size >= 42 ? le(data(v) + 40, 2) : 0;
    if (!tree || v.mv_size < 42 || v.mv_size != 42 + 32 * npath) {
      count(tally.bad_proof, tally.first_bad_proof, index);
      return true;
    }
    digest256 digest;
    std::memcpy(digest.data(), data(v), 32);
    merkle_proof proof;
    proof.index = index;
    proof.nleaves = le(data(v) + 32, 8);
    proof.path.resize(npath);
    for (size_t i = 0; i < npath; ++i)
      std::memcpy(proof.path[i].data(), data(v) + 42 + 32 * i, 32);
    if (index >= use->second.nleaves || proof.nleaves != use->second.nleaves ||
        !verify_proof(digest, proof, *tree))
      count(tally.bad_proof, tally.first_bad_proof, index);
    auto bkey = block_key(digest);
    ++owners[bkey];
    if (!get(txn, h.blocks, bkey, nullptr))
      count(tally.missing, tally.first_missing, index);
    else if (bad.count(bkey) > 0)
      count(tally.bad_bytes, tally.first_bad_bytes, index);
    return true;
  });
  if (err)
    return err;
  for (auto& [tkey, t] : tallies) {
    if (t.stray > 0) {
      problem(store_problem_kind::stray_leaf,
              "tree " + show(tkey) + ": " +
                leaves_text(t.stray, t.first_missing) +
                " that no stored manifest uses");
      continue;
    }
    for (auto& m : trees[tkey].manifests) {
      if (t.missing > 0) {
        auto why = leaves_text(t.missing, t.first_missing) +
                   " point to blocks that are not stored";
        problem(store_problem_kind::missing_block,
                "dataset " + show(m) + ": " + why);
        damaged(m, why);
      }
      if (t.bad_proof > 0) {
        auto why = leaves_text(t.bad_proof, t.first_bad_proof) +
                   " with proofs that do not lead to the tree's root";
        problem(store_problem_kind::bad_proof,
                "dataset " + show(m) + ": " + why);
        damaged(m, why);
      }
      if (t.bad_bytes > 0)
        damaged(m, leaves_text(t.bad_bytes, t.first_bad_bytes) +
                     " point to blocks with bad bytes");
    }
  }

  // Metadata: refcounts against the references that exist.
  err = each(txn, h.meta, [&](MDB_cursor*, MDB_val& k, MDB_val& v) {
    auto key = str(k);
    if (v.mv_size != meta_len) {
      problem(store_problem_kind::bad_meta,
              "metadata of block " + show(key) + " has " +
                std::to_string(v.mv_size) + " bytes, not " +
                std::to_string(meta_len));
      return true;
    }
    if (!get(txn, h.blocks, key, nullptr)) {
      problem(store_problem_kind::bad_meta,
              "metadata of block " + show(key) + " without its bytes");
      return true;
    }
    auto refs = static_cast<uint32_t>(le(data(v), 4));
    uint64_t expiry = le(data(v) + 8, 8);
    bool busy = opts.busy_since != 0 && expiry >= opts.busy_since + ttl;
    auto it = owners.find(key);
    uint32_t owned = it == owners.end() ? 0 : it->second;
    if (owned == 0 && !busy)
      problem(store_problem_kind::orphan,
              "block " + show(key) + " (" + std::to_string(le(data(v) + 4, 4)) +
                " bytes, refcount " + std::to_string(refs) +
                "): no leaf or manifest references it");
    else if (owned > 0 && refs != owned && !(busy && refs > owned))
      problem(store_problem_kind::refcount,
              "block " + show(key) + ": refcount " + std::to_string(refs) +
                ", " + std::to_string(owned) + " references exist");
    return true;
  });
  if (err)
    return err;

  // The expiry index: one entry per block, at its metadata's expiry.
  err = each(txn, h.expiry, [&](MDB_cursor*, MDB_val& k, MDB_val&) {
    if (k.mv_size <= 8) {
      problem(store_problem_kind::bad_meta,
              "expiry entry of " + std::to_string(k.mv_size) + " bytes");
      return true;
    }
    std::string key{static_cast<const char*>(k.mv_data) + 8, k.mv_size - 8};
    meta_rec m;
    uint64_t at = be64(data(k));
    if (!read_meta(txn, h.meta, key, m) || m.expiry != at)
      problem(store_problem_kind::bad_meta,
              "expiry entry of block " + show(key) + " at " +
                std::to_string(at) + " without matching metadata");
    return true;
  });
  if (err)
    return err;

  // Tree counts: the manifests that use each tree.
  err = each(txn, h.trees, [&](MDB_cursor*, MDB_val& k, MDB_val& v) {
    auto tkey = str(k);
    auto it = trees.find(tkey);
    size_t used = it == trees.end() ? 0 : it->second.manifests.size();
    uint64_t stored = v.mv_size == 4 ? le(data(v), 4) : 0;
    if (stored != used)
      problem(store_problem_kind::tree_refcount,
              "tree " + show(tkey) + ": count " + std::to_string(stored) +
                ", " + std::to_string(used) + " manifests use it");
    return true;
  });
  if (err)
    return err;
  for (auto& [tkey, use] : trees)
    if (!get(txn, h.trees, tkey, nullptr))
      problem(store_problem_kind::tree_refcount,
              "tree " + show(tkey) + ": no count, " +
                std::to_string(use.manifests.size()) + " manifests use it");

  // Counters.
  for (auto [name, want] : {std::pair<const char*, uint64_t>{"used", out.bytes},
                            {"blocks", out.blocks}}) {
    MDB_val v;
    uint64_t have =
      get(txn, h.stats, name, &v) && v.mv_size == 8 ? le(data(v), 8) : 0;
    if (have != want)
      problem(store_problem_kind::quota,
              std::string{"counter '"} + name + "' is " + std::to_string(have) +
                ", the blocks stored make " + std::to_string(want));
  }
  return out;
}

caf::expected<repair_report> repair_store(lmdb_store& st,
                                          const verify_report& found,
                                          const repair_options& opts) {
  auto h = st.raw_handles();
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(h.env, nullptr, 0, &txn))
    return lmdb_error("mdb_txn_begin", rc);
  repair_report out;
  caf::error failed;
  // Whether anything was written: a store with nothing to fix is left as
  // it is (no commit, no fsync).
  bool changed = false;
  auto del = [&](MDB_dbi dbi, const std::string& key) {
    MDB_val k = val(key);
    int rc = mdb_del(txn, dbi, &k, nullptr);
    changed = changed || rc == 0;
    if (rc != 0 && rc != MDB_NOTFOUND && !failed)
      failed = lmdb_error("mdb_del", rc);
  };
  auto put = [&](MDB_dbi dbi, const std::string& key,
                 const std::string& value) {
    MDB_val k = val(key), v = val(value);
    changed = true;
    if (int rc = mdb_put(txn, dbi, &k, &v, 0); rc != 0 && !failed)
      failed = lmdb_error("mdb_put", rc);
  };
  auto cursor_del = [&](MDB_cursor* cur) {
    changed = true;
    if (int rc = mdb_cursor_del(cur, 0); rc != 0 && !failed)
      failed = lmdb_error("mdb_cursor_del", rc);
  };
  uint64_t ttl = static_cast<uint64_t>(st.options().block_ttl.count());

  for (auto& key : found.bad_blocks) {
    del(h.blocks, key);
    out.actions.push_back("deleted block " + show(key) +
                          ": its bytes do not hash to its CID");
  }
  if (opts.drop_datasets) {
    for (auto& [key, why] : found.damaged_datasets) {
      del(h.manifests, key);
      out.actions.push_back("dropped dataset " + show(key) + ": " + why);
    }
  }

  // Rebuild every derived record from the manifest index, the leaves and
  // the blocks.
  std::map<std::string, tree_use> trees;
  std::unordered_map<std::string, uint32_t> owners;
  uint64_t datasets = 0;
  std::vector<std::string> gone;
  auto err = scan_manifests(
    txn, h, trees, owners, datasets,
    [&](const std::string& key, const std::string& why) {
      if (!opts.drop_datasets)
        return;
      gone.push_back(key);
      out.actions.push_back("dropped dataset " + show(key) + ": " + why);
    });
  for (auto& key : gone)
    del(h.manifests, key);

  std::map<std::string, uint64_t> strays;
  if (!err)
    err = each(txn, h.leaves, [&](MDB_cursor* cur, MDB_val& k, MDB_val& v) {
      std::string tkey{static_cast<const char*>(k.mv_data),
                       k.mv_size > 8 ? k.mv_size - 8 : 0};
      if (k.mv_size <= 8 || v.mv_size < 32 || trees.count(tkey) == 0) {
        ++strays[tkey];
        cursor_del(cur);
        return !failed;
      }
      digest256 digest;
      std::memcpy(digest.data(), v.mv_data, 32);
      ++owners[block_key(digest)];
      return true;
    });
  for (auto& [tkey, n] : strays)
    out.actions.push_back("deleted " + std::to_string(n) +
                          " leaf entries of tree " + show(tkey) +
                          " that no stored manifest uses");

  if (!err)
    err = each(txn, h.trees, [&](MDB_cursor* cur, MDB_val& k, MDB_val&) {
      if (trees.count(str(k)) == 0)
        cursor_del(cur);
      return !failed;
    });
  for (auto& [tkey, use] : trees) {
    std::string v;
    put_le(v, use.manifests.size(), 4);
    MDB_val have;
    if (!get(txn, h.trees, tkey, &have) || str(have) != v)
      put(h.trees, tkey, v);
  }

  // Metadata: orphans go, refcounts follow the references.
  if (!err)
    err = each(txn, h.meta, [&](MDB_cursor* cur, MDB_val& k, MDB_val& v) {
      auto key = str(k);
      MDB_val b;
      bool has_bytes = get(txn, h.blocks, key, &b);
      if (v.mv_size != meta_len || !has_bytes) {
        if (v.mv_size == meta_len)
          del(h.expiry, expiry_key(le(data(v) + 8, 8), key));
        cursor_del(cur);
        out.actions.push_back("deleted the metadata of block " + show(key) +
                              (has_bytes ? " (corrupt)" : " (no bytes)"));
        return !failed;
      }
      meta_rec m{static_cast<uint32_t>(le(data(v), 4)),
                 static_cast<uint32_t>(le(data(v) + 4, 4)), le(data(v) + 8, 8)};
      auto it = owners.find(key);
      uint32_t owned = it == owners.end() ? 0 : it->second;
      if (owned == 0) {
        ++out.orphans;
        out.orphan_bytes += b.mv_size;
        del(h.blocks, key);
        del(h.expiry, expiry_key(m.expiry, key));
        cursor_del(cur);
        out.actions.push_back("deleted orphan block " + show(key));
        return !failed;
      }
      bool fix = m.refcount != owned || m.size != b.mv_size;
      if (fix) {
        out.actions.push_back("block " + show(key) + ": refcount " +
                              std::to_string(m.refcount) + " set to " +
                              std::to_string(owned));
        m.refcount = owned;
        m.size = static_cast<uint32_t>(b.mv_size);
        changed = true;
        auto mv = encode_meta(m);
        MDB_val nv = val(mv);
        if (int rc = mdb_cursor_put(cur, &k, &nv, MDB_CURRENT);
            rc != 0 && !failed)
          failed = lmdb_error("mdb_cursor_put(meta)", rc);
      }
      if (!get(txn, h.expiry, expiry_key(m.expiry, key), nullptr))
        put(h.expiry, expiry_key(m.expiry, key), std::string{});
      return !failed;
    });

  // Bytes without metadata: owned ones get it back, the rest go; then the
  // counters.
  uint64_t used = 0, blocks = 0;
  if (!err)
    err = each(txn, h.blocks, [&](MDB_cursor* cur, MDB_val& k, MDB_val& v) {
      auto key = str(k);
      meta_rec m;
      if (!read_meta(txn, h.meta, key, m)) {
        auto it = owners.find(key);
        if (it == owners.end() || it->second == 0) {
          ++out.orphans;
          out.orphan_bytes += v.mv_size;
          cursor_del(cur);
          out.actions.push_back("deleted orphan block " + show(key) +
                                " (no metadata)");
          return !failed;
        }
        m = {it->second, static_cast<uint32_t>(v.mv_size), opts.now + ttl};
        put(h.meta, key, encode_meta(m));
        put(h.expiry, expiry_key(m.expiry, key), std::string{});
        out.actions.push_back("block " + show(key) + ": metadata rebuilt");
      }
      used += v.mv_size;
      ++blocks;
      return !failed;
    });

  // Expiry entries that no metadata matches.
  uint64_t stale = 0;
  if (!err)
    err = each(txn, h.expiry, [&](MDB_cursor* cur, MDB_val& k, MDB_val&) {
      meta_rec m;
      std::string key =
        k.mv_size > 8
          ? std::string{static_cast<const char*>(k.mv_data) + 8, k.mv_size - 8}
          : std::string{};
      if (k.mv_size <= 8 || !read_meta(txn, h.meta, key, m) ||
          m.expiry != be64(data(k))) {
        ++stale;
        cursor_del(cur);
      }
      return !failed;
    });
  if (stale > 0)
    out.actions.push_back("deleted " + std::to_string(stale) +
                          " stale expiry entries");

  for (auto [name, value] :
       {std::pair<const char*, uint64_t>{"used", used}, {"blocks", blocks}}) {
    MDB_val v;
    uint64_t have =
      get(txn, h.stats, name, &v) && v.mv_size == 8 ? le(data(v), 8) : 0;
    if (have == value)
      continue;
    std::string enc;
    put_le(enc, value, 8);
    put(h.stats, name, enc);
    out.actions.push_back(std::string{"counter '"} + name + "' set from " +
                          std::to_string(have) + " to " +
                          std::to_string(value));
  }
  if (!err)
    err = failed;
  if (err || !changed) {
    mdb_txn_abort(txn);
    if (err)
      return err;
    return out;
  }
  if (int rc = mdb_txn_commit(txn))
    return lmdb_error("mdb_txn_commit", rc);
  if (int rc = mdb_env_sync(h.env, 1))
    return lmdb_error("mdb_env_sync", rc);
  return out;
}

caf::expected<std::unique_ptr<lmdb_store>>
open_after_crash(const lmdb_options& opts, uint64_t now,
                 repair_report& reclaimed) {
  auto st = lmdb_store::open(opts);
  if (!st)
    return st.error();
  auto rep = repair_store(**st, {}, repair_options{false, now});
  if (!rep)
    return make_error(ec::storage_io, "start-up store check",
                      describe(rep.error()));
  reclaimed = std::move(*rep);
  return st;
}

} // namespace cairn::storage
