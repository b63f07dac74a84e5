#include "storage/lmdb_store.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <lmdb.h>

#include "messages/buffer_pool.hpp"
#include "messages/error.hpp"
#include "storage/lmdb_records.hpp"
#include "storage/lmdb_write_txn.hpp"
#include "storage/merkle_tree.hpp"

namespace cairn::storage {

// -- environment and transactions ---------------------------------------------

namespace {

// The error of a failed write to the store's file (a commit or a sync). A
// full file system shows as ENOSPC, or as EIO when LMDB's write was cut
// short; the space left tells that EIO from a failing disk.
caf::error write_failed(const std::string& dir, const char* what, int rc) {
  struct statvfs fs;
  bool no_room = rc == ENOSPC || rc == EDQUOT;
  uint64_t free_bytes = 0;
  if (::statvfs(dir.c_str(), &fs) == 0) {
    free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    no_room = no_room || (rc == EIO && free_bytes < (uint64_t{1} << 20));
  }
  if (no_room)
    return make_error(ec::disk_full, what,
                      "no space left on the store's disk (" +
                        std::to_string(free_bytes) + " bytes free in " + dir +
                        ")");
  return make_error(ec::storage_io, what, std::string{mdb_strerror(rc)});
}

} // namespace

template <class F>
caf::error lmdb_store::with_write(const char* what, F&& body) {
  return with_write(what, std::forward<F>(body),
                    []() -> caf::error { return caf::none; });
}

template <class F, class G>
caf::error lmdb_store::with_write(const char* what, F&& body,
                                  G&& before_commit) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    write_txn w{*this};
    if (int rc = mdb_txn_begin(env_, nullptr, 0, &w.txn))
      return make_error(ec::storage_io, "mdb_txn_begin",
                        std::string{mdb_strerror(rc)});
    caf::error err = w.load_stats();
    if (!err)
      err = body(w);
    if (!err)
      err = w.store_stats();
    if (!err && (err = before_commit())) {
      mdb_txn_abort(w.txn);
      return err;
    }
    if (err) {
      mdb_txn_abort(w.txn);
      if (!w.map_full)
        return err;
    } else {
      int rc = mdb_txn_commit(w.txn);
      if (rc == 0)
        return caf::none;
      if (rc != MDB_MAP_FULL)
        return write_failed(opts_.path, what, rc);
    }
    // The map is full: the transaction is gone, grow and redo the batch.
    if (auto gerr = grow_map())
      return gerr;
  }
  return make_error(ec::storage_io, what, "map still full after growing");
}

caf::error lmdb_store::grow_map() {
  std::unique_lock<std::shared_mutex> no_readers{remap_};
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  size_t next = info.me_mapsize * 2;
  if (int rc = mdb_env_set_mapsize(env_, next))
    return make_error(ec::storage_io, "mdb_env_set_mapsize",
                      std::string{mdb_strerror(rc)});
  locate_map();
  return caf::none;
}

void lmdb_store::locate_map() {
  // LMDB does not say where it mapped the file (mdb_env_info reports an
  // address only with MDB_FIXEDMAP): find the mapping of our data.mdb.
  map_addr_ = nullptr;
  map_len_ = 0;
  char* real = ::realpath((opts_.path + "/data.mdb").c_str(), nullptr);
  if (!real)
    return;
  std::string file{real};
  std::free(real);
  std::ifstream maps{"/proc/self/maps"};
  std::string line;
  while (std::getline(maps, line)) {
    if (line.size() < file.size() ||
        line.compare(line.size() - file.size(), file.size(), file) != 0)
      continue;
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2 &&
        hi - lo > map_len_) {
      map_addr_ = reinterpret_cast<void*>(lo);
      map_len_ = hi - lo;
    }
  }
}

int lmdb_store::sync_env() {
  return opts_.fsync_fault ? opts_.fsync_fault() : mdb_env_sync(env_, 1);
}

uint64_t lmdb_store::map_size() const {
  std::shared_lock<std::shared_mutex> no_resize{remap_};
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  return info.me_mapsize;
}

// -- open / close -------------------------------------------------------------

lmdb_store::~lmdb_store() {
  if (env_) {
    mdb_env_sync(env_, 1);
    mdb_env_close(env_);
  }
}

caf::expected<std::unique_ptr<lmdb_store>> lmdb_store::open(lmdb_options opts) {
  if (::mkdir(opts.path.c_str(), 0755) != 0 && errno != EEXIST)
    return make_error(ec::storage_io, "mkdir " + opts.path,
                      std::string{strerror(errno)});
  struct stat sb;
  if (::stat(opts.path.c_str(), &sb) != 0 || !S_ISDIR(sb.st_mode))
    return make_error(ec::storage_io, opts.path, "not a directory");
  std::unique_ptr<lmdb_store> st{new lmdb_store(std::move(opts))};
  auto fail = [&](const char* op, int rc) {
    return make_error(ec::storage_io, std::string{op} + " " + st->opts_.path,
                      std::string{mdb_strerror(rc)});
  };
  if (int rc = mdb_env_create(&st->env_))
    return fail("mdb_env_create", rc);
  uint64_t map = st->opts_.initial_map_size;
  if (map == 0)
    map =
      st->opts_.quota_bytes + st->opts_.quota_bytes / 8 + (uint64_t{64} << 20);
  if (int rc = mdb_env_set_mapsize(st->env_, map))
    return fail("mdb_env_set_mapsize", rc);
  mdb_env_set_maxdbs(st->env_, 8);
  // NOSYNC: commits reach the page cache (safe against process crashes);
  // put_dataset fsyncs explicitly. NOTLS: read txns are not thread-bound.
  if (int rc = mdb_env_open(st->env_, st->opts_.path.c_str(),
                            MDB_NOSYNC | MDB_NOTLS, 0644))
    return fail("mdb_env_open", rc);
  // An environment created with a larger map keeps it; honour the file.
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(st->env_, nullptr, 0, &txn))
    return fail("mdb_txn_begin", rc);
  struct {
    const char* name;
    MDB_dbi* dbi;
  } dbs[] = {{"blocks", &st->blocks_}, {"meta", &st->meta_},
             {"expiry", &st->expiry_}, {"leaves", &st->leaves_},
             {"trees", &st->trees_},   {"manifests", &st->manifests_},
             {"stats", &st->stats_}};
  for (auto& d : dbs) {
    if (int rc = mdb_dbi_open(txn, d.name, MDB_CREATE, d.dbi)) {
      mdb_txn_abort(txn);
      return fail("mdb_dbi_open", rc);
    }
  }
  if (int rc = mdb_txn_commit(txn))
    return fail("mdb_txn_commit", rc);
  st->locate_map();
  return st;
}

// -- writes -------------------------------------------------------------------

caf::expected<uint64_t> lmdb_store::put_blocks(const std::vector<block>& blocks,
                                               uint64_t now) {
  uint64_t added = 0;
  uint64_t expiry = now + static_cast<uint64_t>(opts_.block_ttl.count());
  auto err = with_write("put_blocks", [&](write_txn& w) -> caf::error {
    added = 0;
    for (const auto& b : blocks)
      if (auto e = w.add_ref(b, expiry, added))
        return e;
    return caf::none;
  });
  if (err)
    return err;
  start_writeback(added);
  return added;
}

// Bytes of blocks stored between two writebacks.
constexpr uint64_t writeback_every = uint64_t{32} << 20;

void lmdb_store::start_writeback(uint64_t new_bytes) {
  // Starts writing committed pages to disk without waiting, once every
  // `writeback_every` bytes, so that the fsync in put_dataset finds little
  // left to do and the disk works while an upload is still streaming in.
  // Not after every batch: each call walks all of the file's dirty pages,
  // and small batches (blocks a download parks) made it a tenth of the
  // store thread's time.
  unflushed_bytes_ += new_bytes;
  if (unflushed_bytes_ < writeback_every)
    return;
  unflushed_bytes_ = 0;
  int fd = -1;
  if (mdb_env_get_fd(env_, &fd) == 0 && fd >= 0)
    ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

caf::expected<cid> lmdb_store::put_dataset(const block& manifest_block,
                                           const std::vector<digest256>& leaves,
                                           uint64_t now) {
  bool recorded = false;
  return store_dataset(manifest_block, leaves, now, recorded);
}

caf::expected<cid>
lmdb_store::commit_upload(const block& manifest_block,
                          const std::vector<digest256>& leaves, uint64_t now) {
  bool recorded = false;
  auto res = store_dataset(manifest_block, leaves, now, recorded);
  if (res || recorded)
    return res;
  std::vector<cid> ids;
  ids.reserve(leaves.size());
  for (const auto& d : leaves)
    ids.push_back(cid{multicodec::codex_block, d});
  // If the release fails too (the same disk), the blocks stay as orphans,
  // which the start-up check reclaims: the commit's error is what counts.
  release_blocks(ids);
  return res;
}

caf::expected<cid>
lmdb_store::store_dataset(const block& manifest_block,
                          const std::vector<digest256>& leaves, uint64_t now,
                          bool& recorded) {
  auto m = manifest_from_block(manifest_block);
  if (!m)
    return m.error();
  if (leaves.size() != m->blocks_count())
    return make_error(ec::invalid_manifest,
                      "manifest has " + std::to_string(m->blocks_count()) +
                        " blocks, upload has " + std::to_string(leaves.size()));
  // Every block this dataset references reaches the disk before the manifest
  // that makes the dataset visible. The fsync of the blocks (the disk's
  // time) runs on a thread of its own while this one checks the tree and
  // builds the dataset's transaction (leaf records and references: CPU), and
  // the transaction commits only once the fsync succeeded. Leaving early,
  // the future's destructor waits for the thread.
  std::future<int> synced;
  try {
    synced = std::async(std::launch::async, [this] { return sync_env(); });
  } catch (const std::system_error&) {
    // No thread to spare: the fsync runs here, before the transaction.
    std::promise<int> now;
    now.set_value(sync_env());
    synced = now.get_future();
  }
  int sync_rc = 0;
  bool sync_done = false;
  auto blocks_synced = [&]() -> caf::error {
    if (!sync_done) {
      sync_rc = synced.get();
      sync_done = true;
    }
    if (sync_rc)
      return write_failed(opts_.path, "mdb_env_sync", sync_rc);
    return caf::none;
  };
  auto tree = merkle_tree::build(leaves);
  if (!tree)
    return tree.error();
  if (tree->root_cid() != m->tree_cid)
    return make_error(ec::invalid_manifest,
                      "treeCid does not match the leaves");
  uint64_t expiry = now + static_cast<uint64_t>(opts_.block_ttl.count());
  auto body = [&](write_txn& w) -> caf::error {
    auto mkey = manifest_block.id.to_bytes();
    MDB_val k = as_val(mkey), v;
    int rc = mdb_get(w.txn, manifests_, &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND)
      return w.fail("mdb_get(manifests)", rc);
    bool manifest_known = rc == 0;
    bool marked_fetched = manifest_known && v.mv_size != 0;
    auto tkey = m->tree_cid.to_bytes();
    auto refs = w.tree_refs(tkey);
    if (!refs)
      return refs.error();
    // Leaves stored already hold a reference of their block each, so the
    // upload's references for them are extra. A tree may be stored in part
    // (a network download of the same dataset in progress): the upload
    // fills in the leaves that are missing, and its references serve them.
    bool tree_known = manifest_known || *refs > 0;
    std::vector<bool> leaf_stored(leaves.size(), false);
    std::map<digest256, uint32_t> added_refs, stored_refs;
    for (uint64_t i = 0; i < leaves.size(); ++i) {
      ++added_refs[leaves[i]];
      if (!tree_known)
        continue;
      auto known = w.has_leaf(block_address{m->tree_cid, i});
      if (!known)
        return known.error();
      if (*known) {
        leaf_stored[i] = true;
        ++stored_refs[leaves[i]];
      }
    }
    for (const auto& [digest, n] : added_refs) {
      auto key = cid{multicodec::codex_block, digest}.to_bytes();
      block_meta bm;
      auto found = w.get_meta(key, bm);
      if (!found)
        return found.error();
      if (!*found)
        return make_error(ec::not_found,
                          "block " + to_hex(byte_view{digest.data(), 32}) +
                            " of the dataset is not stored");
      // If the refcount is only the upload's n, the block had expired and
      // this upload stored it again: its references serve the stored leaves
      // as well as the new ones.
      auto stored = stored_refs[digest];
      if (stored > 0 && bm.refcount > n)
        bm.refcount -= stored;
      // The dataset's blocks expire with its manifest, as one unit.
      if (auto e = w.touch(key, bm, expiry))
        return e;
    }
    for (uint64_t i = 0; i < leaves.size(); ++i) {
      if (leaf_stored[i])
        continue;
      auto p = tree->proof(i);
      if (auto e = w.put_leaf(block_address{m->tree_cid, i}, leaves[i], *p))
        return e;
    }
    if (marked_fetched) {
      // Whole now, and uploaded here: listed, and never dropped as the
      // partial copy of a failed download.
      MDB_val whole{0, nullptr};
      if (int rc2 = mdb_put(w.txn, manifests_, &k, &whole, 0))
        return w.fail("mdb_put(manifests)", rc2);
    }
    if (manifest_known) {
      // Storing a dataset again refreshes its manifest's expiry too.
      block_meta mm;
      auto found = w.get_meta(mkey, mm);
      if (!found)
        return found.error();
      if (*found)
        return w.touch(mkey, mm, expiry);
      // The manifest block itself expired: store it again below.
      uint64_t added = 0;
      return w.add_ref(manifest_block, expiry, added);
    }
    if (auto e = w.set_tree_refs(tkey, *refs + 1))
      return e;
    uint64_t added = 0;
    if (auto e = w.add_ref(manifest_block, expiry, added))
      return e;
    MDB_val empty{0, nullptr};
    if (int rc2 = mdb_put(w.txn, manifests_, &k, &empty, 0))
      return w.fail("mdb_put(manifests)", rc2);
    return caf::none;
  };
  auto err = with_write("put_dataset", body, blocks_synced);
  if (err)
    return err;
  recorded = true;
  if (int rc = sync_env())
    return write_failed(opts_.path, "mdb_env_sync", rc);
  return manifest_block.id;
}

caf::error lmdb_store::put_leaves(const std::vector<leaf_block>& leaves,
                                  uint64_t now) {
  uint64_t expiry = now + static_cast<uint64_t>(opts_.block_ttl.count());
  return with_write("put_leaves", [&](write_txn& w) -> caf::error {
    for (const auto& l : leaves) {
      // A leaf whose dataset was dropped while it was on its way (a download
      // failed with blocks in flight from other peers): nothing would ever
      // reference it, and it would hold quota until its TTL.
      auto users = w.tree_refs(l.addr.tree.to_bytes());
      if (!users)
        return users.error();
      if (*users == 0)
        continue;
      auto leaf_known = w.has_leaf(l.addr);
      if (!leaf_known)
        return leaf_known.error();
      auto bkey = l.data.id.to_bytes();
      block_meta m;
      auto found = w.get_meta(bkey, m);
      if (!found)
        return found.error();
      if (*leaf_known &&
          *found) { // complete already: the leaf holds its reference
        if (auto e = w.touch(bkey, m, expiry))
          return e;
        continue;
      }
      // The leaf's reference (a leaf whose block expired gets it back).
      uint64_t added = 0;
      if (auto e = w.add_ref(l.data, expiry, added))
        return e;
      if (*leaf_known)
        continue;
      if (auto e = w.put_leaf(l.addr, l.data.id.digest, l.proof))
        return e;
    }
    return caf::none;
  });
}

caf::expected<uint64_t>
lmdb_store::link_leaves(const std::vector<leaf_link>& links, uint64_t now) {
  uint64_t expiry = now + static_cast<uint64_t>(opts_.block_ttl.count());
  uint64_t linked = 0;
  auto err = with_write("link_leaves", [&](write_txn& w) -> caf::error {
    linked = 0;
    for (const auto& l : links) {
      auto bkey = l.id.to_bytes();
      block_meta m;
      auto found = w.get_meta(bkey, m);
      if (!found)
        return found.error();
      if (!*found)
        return make_error(ec::not_found, "no block " + l.id.to_string() +
                                           " to link as leaf " +
                                           to_string(l.addr));
      auto leaf_known = w.has_leaf(l.addr);
      if (!leaf_known)
        return leaf_known.error();
      if (auto e = w.touch(bkey, m, expiry))
        return e;
      // A leaf stored already holds a reference of its own, unless its
      // block expired and the caller stored it anew: then the handed
      // reference is the only one, and it stays the leaf's.
      if (*leaf_known) {
        if (m.refcount > 1) {
          if (auto e = w.drop_ref(bkey))
            return e;
        }
        continue;
      }
      if (auto e = w.put_leaf(l.addr, l.id.digest, l.proof))
        return e;
      ++linked;
    }
    return caf::none;
  });
  if (err)
    return err;
  return linked;
}

caf::expected<cid> lmdb_store::put_manifest(const block& manifest_block,
                                            uint64_t now) {
  auto m = manifest_from_block(manifest_block);
  if (!m)
    return m.error();
  if (!manifest_block.verify())
    return make_error(ec::verification_failed,
                      "manifest bytes do not match its CID");
  uint64_t expiry = now + static_cast<uint64_t>(opts_.block_ttl.count());
  auto err = with_write("put_manifest", [&](write_txn& w) -> caf::error {
    auto mkey = manifest_block.id.to_bytes();
    MDB_val k = as_val(mkey), v;
    int rc = mdb_get(w.txn, manifests_, &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND)
      return w.fail("mdb_get(manifests)", rc);
    block_meta mm;
    auto found = w.get_meta(mkey, mm);
    if (!found)
      return found.error();
    if (rc == 0 && *found)
      return w.touch(mkey, mm, expiry);
    uint64_t added = 0;
    if (auto e = w.add_ref(manifest_block, expiry, added))
      return e;
    if (rc == 0)
      return caf::none; // indexed, only its block had expired
    auto tkey = m->tree_cid.to_bytes();
    auto refs = w.tree_refs(tkey);
    if (!refs)
      return refs.error();
    if (auto e = w.set_tree_refs(tkey, *refs + 1))
      return e;
    uint8_t fetched = manifest_fetched;
    MDB_val mark{1, &fetched};
    if (int rc2 = mdb_put(w.txn, manifests_, &k, &mark, 0))
      return w.fail("mdb_put(manifests)", rc2);
    return caf::none;
  });
  if (err)
    return err;
  return manifest_block.id;
}

caf::error lmdb_store::mark_whole(const std::vector<cid>& ids) {
  return with_write("mark_whole", [&](write_txn& w) -> caf::error {
    for (const auto& id : ids) {
      auto key = id.to_bytes();
      MDB_val k = as_val(key), v;
      int rc = mdb_get(w.txn, manifests_, &k, &v);
      if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size == 0))
        continue;
      if (rc != 0)
        return w.fail("mdb_get(manifests)", rc);
      MDB_val empty{0, nullptr};
      if (int rc2 = mdb_put(w.txn, manifests_, &k, &empty, 0))
        return w.fail("mdb_put(manifests)", rc2);
    }
    return caf::none;
  });
}

caf::expected<bool> lmdb_store::remove_partial(const cid& id) {
  bool removed = false;
  auto err = with_write("remove_partial", [&](write_txn& w) -> caf::error {
    removed = false;
    auto key = id.to_bytes();
    MDB_val k = as_val(key), v;
    int rc = mdb_get(w.txn, manifests_, &k, &v);
    if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size == 0))
      return caf::none;
    if (rc != 0)
      return w.fail("mdb_get(manifests)", rc);
    auto b = read_block(w.txn, id);
    if (b) {
      auto m = manifest_from_block(*b);
      if (!m)
        return caf::none; // not a dataset this can judge; verify's to say
      auto have = count_stored_leaves(w.txn, m->tree_cid);
      if (!have)
        return have.error();
      if (*have >= m->blocks_count())
        return caf::none;
    }
    return w.remove_dataset(id, removed);
  });
  if (err)
    return err;
  return removed;
}

caf::error lmdb_store::release_blocks(const std::vector<cid>& ids) {
  return with_write("release_blocks", [&](write_txn& w) -> caf::error {
    for (const auto& id : ids)
      if (auto e = w.drop_ref(id.to_bytes()))
        return e;
    return caf::none;
  });
}

caf::error lmdb_store::remove(const cid& id) {
  return with_write("remove", [&](write_txn& w) -> caf::error {
    bool removed = false;
    if (auto e = w.remove_dataset(id, removed))
      return e;
    if (removed)
      return caf::none;
    auto key = id.to_bytes();
    block_meta m;
    auto found = w.get_meta(key, m);
    if (!found)
      return found.error();
    return *found ? w.erase_block(key, m) : caf::none;
  });
}

caf::error lmdb_store::remove_leaf(const block_address& addr) {
  return with_write("remove_leaf", [&](write_txn& w) -> caf::error {
    auto erased = w.erase_leaf(addr);
    if (!erased)
      return erased.error();
    if (!*erased)
      return make_error(ec::not_found, "no leaf " + to_string(addr));
    return caf::none;
  });
}

caf::expected<uint64_t> lmdb_store::expire(uint64_t now, size_t max) {
  uint64_t deleted = 0;
  auto err = with_write("expire", [&](write_txn& w) -> caf::error {
    deleted = 0;
    std::vector<bytes> due;
    MDB_cursor* cur = nullptr;
    if (int rc = mdb_cursor_open(w.txn, expiry_, &cur))
      return w.fail("mdb_cursor_open", rc);
    MDB_val k, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0 && due.size() < max && k.mv_size > 8) {
      auto* d = static_cast<uint8_t*>(k.mv_data);
      if (get_be64(d) > now)
        break;
      due.emplace_back(d + 8, d + k.mv_size);
      rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
      return w.fail("mdb_cursor_get(expiry)", rc);
    uint64_t before = w.count;
    for (const auto& key : due) {
      auto id = cid::from_bytes(key);
      if (id && id->codec == multicodec::codex_manifest) {
        bool removed = false;
        if (auto e = w.remove_dataset(*id, removed))
          return e;
      }
      block_meta m;
      auto found = w.get_meta(key, m);
      if (!found)
        return found.error();
      if (*found)
        if (auto e = w.erase_block(key, m))
          return e;
    }
    deleted = before - w.count;
    return caf::none;
  });
  if (err)
    return err;
  return deleted;
}

// -- reads --------------------------------------------------------------------

namespace {

// A read-only transaction that aborts itself, holding off map resizes
// (`remap`) while it lives.
struct read_txn {
  std::shared_lock<std::shared_mutex> lock;
  MDB_txn* txn = nullptr;
  int rc = 0;
  read_txn(MDB_env* env, std::shared_mutex& remap) : lock(remap) {
    rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
  }
  ~read_txn() {
    if (txn)
      mdb_txn_abort(txn);
  }
};

caf::expected<leaf_info> read_leaf(MDB_txn* txn, MDB_dbi dbi,
                                   const block_address& addr) {
  auto key = leaf_key(addr);
  MDB_val k = as_val(key), v;
  int rc = mdb_get(txn, dbi, &k, &v);
  if (rc == MDB_NOTFOUND)
    return make_error(ec::not_found, "no leaf " + to_string(addr));
  if (rc != 0)
    return make_error(ec::storage_io, "mdb_get(leaves)",
                      std::string{mdb_strerror(rc)});
  leaf_info out{cid{multicodec::codex_block, {}}, {}};
  if (!decode_leaf(v, addr.index, out.block_cid.digest, out.proof))
    return make_error(ec::storage_io, "corrupt leaf record " + to_string(addr));
  return out;
}

caf::error txn_error(int rc) {
  return make_error(ec::storage_io, "mdb_txn_begin(read)",
                    std::string{mdb_strerror(rc)});
}

} // namespace

// Values of at least this size are read with pread(2) from the file
// instead of copied out of the map: the copy is the same, but the value's
// pages are not faulted in one by one. LMDB's own reads (keys, branch
// pages, an overflow value's first page) still use the map.
constexpr size_t pread_threshold = 16 * 1024;

void lmdb_store::copy_value_into(const void* data, size_t size, uint8_t* out) {
  auto* p = static_cast<const uint8_t*>(data);
  if (size >= pread_threshold) {
    auto* base = static_cast<const uint8_t*>(map_addr_);
    int fd = -1;
    if (base && p >= base && p + size <= base + map_len_ &&
        mdb_env_get_fd(env_, &fd) == 0 && fd >= 0) {
      // The read transaction pins these pages: the file holds exactly the
      // bytes the map shows until it ends.
      auto off = static_cast<off_t>(p - base);
      size_t done = 0;
      while (done < size) {
        auto n =
          ::pread(fd, out + done, size - done, off + static_cast<off_t>(done));
        if (n <= 0)
          break;
        done += static_cast<size_t>(n);
      }
      if (done == size)
        return;
    }
  }
  std::memcpy(out, p, size);
}

shared_bytes lmdb_store::copy_value(const void* data, size_t size) {
  auto& pool = buffer_pool::blocks();
  auto out = pool.take(size);
  copy_value_into(data, size, out.data());
  return pool.share(std::move(out));
}

caf::expected<MDB_val> lmdb_store::block_value(MDB_txn* txn, const cid& id) {
  auto key = id.to_bytes();
  MDB_val k = as_val(key), v;
  int rc = mdb_get(txn, blocks_, &k, &v);
  if (rc == MDB_NOTFOUND)
    return make_error(ec::not_found, "no block " + id.to_string());
  if (rc != 0)
    return make_error(ec::storage_io, "mdb_get(blocks)",
                      std::string{mdb_strerror(rc)});
  return v;
}

caf::expected<block> lmdb_store::read_block(MDB_txn* txn, const cid& id) {
  auto v = block_value(txn, id);
  if (!v)
    return v.error();
  return block::wrap(id, copy_value(v->mv_data, v->mv_size));
}

caf::expected<block> lmdb_store::get_block(const cid& id) {
  read_txn r{env_, remap_};
  if (r.rc)
    return txn_error(r.rc);
  return read_block(r.txn, id);
}

caf::expected<leaf_info> lmdb_store::get_leaf(const block_address& addr) {
  read_txn r{env_, remap_};
  if (r.rc)
    return txn_error(r.rc);
  return read_leaf(r.txn, leaves_, addr);
}

caf::expected<block> lmdb_store::get_leaf_block(const block_address& addr) {
  read_txn r{env_, remap_};
  if (r.rc)
    return txn_error(r.rc);
  auto leaf = read_leaf(r.txn, leaves_, addr);
  if (!leaf)
    return leaf.error();
  return read_block(r.txn, leaf->block_cid);
}

caf::expected<std::optional<leaf_block>>
lmdb_store::read_stored_leaf(MDB_txn* txn, const block_address& addr) {
  auto leaf = read_leaf(txn, leaves_, addr);
  if (!leaf && is(leaf.error(), ec::not_found))
    return std::optional<leaf_block>{};
  if (!leaf)
    return leaf.error();
  auto b = read_block(txn, leaf->block_cid);
  if (!b && is(b.error(), ec::not_found))
    return std::optional<leaf_block>{};
  if (!b)
    return b.error();
  return std::optional<leaf_block>{
    leaf_block{addr, std::move(*b), std::move(leaf->proof)}};
}

bool lmdb_store::is_stored(MDB_txn* txn, const cid& id) {
  auto key = id.to_bytes();
  MDB_val k = as_val(key), v;
  return mdb_get(txn, meta_, &k, &v) == 0;
}

caf::expected<size_t> lmdb_store::read_leaf_blocks(const cid& tree,
                                                   uint64_t first, size_t max,
                                                   uint32_t block_size,
                                                   uint8_t* out) {
  read_txn r{env_, remap_};
  if (r.rc)
    return txn_error(r.rc);
  size_t n = 0;
  for (; n < max; ++n) {
    auto leaf = read_leaf(r.txn, leaves_, block_address{tree, first + n});
    if (!leaf && is(leaf.error(), ec::not_found))
      break;
    if (!leaf)
      return leaf.error();
    auto v = block_value(r.txn, leaf->block_cid);
    if (!v && is(v.error(), ec::not_found))
      break;
    if (!v)
      return v.error();
    if (v->mv_size != block_size)
      break;
    copy_value_into(v->mv_data, v->mv_size, out + n * size_t{block_size});
  }
  return n;
}

caf::expected<std::pair<block, merkle_proof>>
lmdb_store::get_leaf_proof(const block_address& addr) {
  read_txn r{env_, remap_};
  if (r.rc)
    return txn_error(r.rc);
  auto leaf = read_leaf(r.txn, leaves_, addr);
  if (!leaf)
    return leaf.error();
  auto b = read_block(r.txn, leaf->block_cid);
  if (!b)
    return b.error();
  return std::make_pair(std::move(*b), std::move(leaf->proof));
}

caf::expected<std::vector<leaf_block>>
lmdb_store::get_leaf_proofs(const std::vector<block_address>& addrs) {
  read_txn r{env_, remap_};
  if (r.rc)
    return txn_error(r.rc);
  std::vector<leaf_block> out;
  out.reserve(addrs.size());
  for (auto& addr : addrs) {
    auto leaf = read_stored_leaf(r.txn, addr);
    if (!leaf)
      return leaf.error();
    if (*leaf)
      out.push_back(std::move(**leaf));
  }
  return out;
}

bool lmdb_store::has_leaf(MDB_txn* txn, const block_address& addr) {
  auto leaf = read_leaf(txn, leaves_, addr);
  return leaf && is_stored(txn, leaf->block_cid);
}

bool lmdb_store::has_leaf(const block_address& addr) {
  read_txn r{env_, remap_};
  return r.rc == 0 && has_leaf(r.txn, addr);
}

std::vector<block_address>
lmdb_store::has_leaves(const std::vector<block_address>& addrs) {
  std::vector<block_address> out;
  read_txn r{env_, remap_};
  if (r.rc)
    return out;
  for (const auto& addr : addrs)
    if (has_leaf(r.txn, addr))
      out.push_back(addr);
  return out;
}

caf::expected<uint64_t> lmdb_store::count_leaves(const cid& tree) {
  read_txn r{env_, remap_};
  if (r.rc)
    return txn_error(r.rc);
  return count_stored_leaves(r.txn, tree);
}

caf::expected<uint64_t> lmdb_store::count_stored_leaves(MDB_txn* txn,
                                                        const cid& tree) {
  MDB_cursor* cur = nullptr;
  if (int rc = mdb_cursor_open(txn, leaves_, &cur))
    return make_error(ec::storage_io, "mdb_cursor_open",
                      std::string{mdb_strerror(rc)});
  auto prefix = tree.to_bytes();
  auto first = leaf_key(block_address{tree, 0});
  MDB_val k = as_val(first), v;
  uint64_t n = 0;
  int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (k.mv_size != prefix.size() + 8 ||
        std::memcmp(k.mv_data, prefix.data(), prefix.size()) != 0)
      break;
    if (v.mv_size < 32)
      continue;
    // A leaf can outlive its expired block: that leaf is missing.
    if (is_stored(txn, leaf_block_cid(v)))
      ++n;
  }
  mdb_cursor_close(cur);
  if (rc != 0 && rc != MDB_NOTFOUND)
    return make_error(ec::storage_io, "mdb_cursor_get(leaves)",
                      std::string{mdb_strerror(rc)});
  return n;
}

bool lmdb_store::has_block(const cid& id) {
  read_txn r{env_, remap_};
  return r.rc == 0 && is_stored(r.txn, id);
}

caf::expected<std::vector<dataset_entry>>
lmdb_store::list_datasets(std::vector<cid>* whole_fetched) {
  read_txn r{env_, remap_};
  if (r.rc)
    return txn_error(r.rc);
  std::vector<dataset_entry> out;
  MDB_cursor* cur = nullptr;
  if (int rc = mdb_cursor_open(r.txn, manifests_, &cur))
    return make_error(ec::storage_io, "mdb_cursor_open",
                      std::string{mdb_strerror(rc)});
  MDB_val k, v;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    auto id =
      cid::from_bytes(byte_view{static_cast<uint8_t*>(k.mv_data), k.mv_size});
    if (!id)
      continue;
    auto b = read_block(r.txn, *id);
    if (!b)
      continue;
    auto m = manifest_from_block(*b);
    if (!m)
      continue;
    // Fetched ones are counted; in one transaction with the rest, so
    // that the answer is one state of the store.
    if (v.mv_size > 0) {
      auto have = count_stored_leaves(r.txn, m->tree_cid);
      if (!have) {
        mdb_cursor_close(cur);
        return have.error();
      }
      if (*have < m->blocks_count())
        continue;
      if (whole_fetched)
        whole_fetched->push_back(*id);
    }
    out.push_back(dataset_entry{*id, std::move(*m)});
  }
  mdb_cursor_close(cur);
  return out;
}

space_info lmdb_store::space() {
  space_info out;
  out.quota_max_bytes = opts_.quota_bytes;
  read_txn r{env_, remap_};
  if (r.rc)
    return out;
  read_counter(r.txn, stats_, used_key, out.quota_used_bytes);
  read_counter(r.txn, stats_, count_key, out.total_blocks);
  return out;
}

namespace {

// The meta record of block `id`. Errors: `ec::not_found`, `ec::storage_io`.
caf::expected<block_meta> read_meta(MDB_env* env, std::shared_mutex& remap,
                                    MDB_dbi dbi, const cid& id) {
  read_txn r{env, remap};
  if (r.rc)
    return txn_error(r.rc);
  auto key = id.to_bytes();
  MDB_val k = as_val(key), v;
  int rc = mdb_get(r.txn, dbi, &k, &v);
  if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size != meta_size))
    return make_error(ec::not_found, "no block " + id.to_string());
  if (rc != 0)
    return make_error(ec::storage_io, "mdb_get(meta)",
                      std::string{mdb_strerror(rc)});
  return decode_meta(static_cast<const uint8_t*>(v.mv_data));
}

} // namespace

caf::expected<uint64_t> lmdb_store::expiry_of(const cid& id) {
  auto m = read_meta(env_, remap_, meta_, id);
  if (!m)
    return m.error();
  return m->expiry;
}

caf::expected<uint32_t> lmdb_store::refcount_of(const cid& id) {
  auto m = read_meta(env_, remap_, meta_, id);
  if (!m)
    return m.error();
  return m->refcount;
}

} // namespace cairn::storage
