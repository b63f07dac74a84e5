#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <lmdb.h>

#include "messages/bytes.hpp"
#include "messages/cid.hpp"
#include "messages/proof.hpp"
#include "messages/sha256.hpp"

// The keys and values `lmdb_store` keeps in its named databases, and their
// byte layouts (integers little-endian unless noted):
//   blocks    key: CID bytes; value: the block's bytes
//   meta      key: CID bytes; value: refcount u32 | size u32 | expiry u64
//   expiry    key: expiry u64 big-endian | CID bytes; value empty
//   leaves    key: treeCid bytes | index u64 big-endian;
//             value: digest[32] | nleaves u64 | path count u16 | path[32]...
//   trees     key: treeCid bytes; value: refcount u32
//   manifests key: manifest CID bytes; value empty (a whole dataset), or
//             the byte 0x01 (fetched for a network download, maybe partial)
//   stats     "used" -> u64, "blocks" -> u64
// Used by the lmdb_store*.cpp files only.

namespace cairn::storage {

/// `n` low bytes of `x` to `p`, little-endian.
void put_le(uint8_t* p, uint64_t x, size_t n);

/// `n` bytes at `p` as a little-endian integer.
uint64_t get_le(const uint8_t* p, size_t n);

/// `x` appended to `out`, big-endian (keys that sort by number).
void put_be64(bytes& out, uint64_t x);

/// 8 bytes at `p` as a big-endian integer.
uint64_t get_be64(const uint8_t* p);

/// An MDB_val viewing `b` or `s` (LMDB does not write through it).
MDB_val as_val(const bytes& b);
MDB_val as_val(std::string_view s);

/// The `manifests` value of a dataset whose manifest was fetched from the
/// network: it is listed only once its leaves are all stored.
constexpr uint8_t manifest_fetched = 0x01;

/// Keys of the `stats` counters: bytes of blocks stored, and blocks stored.
constexpr std::string_view used_key = "used";
constexpr std::string_view count_key = "blocks";

/// Reads the `stats` counter `key` into `out` (0 if absent). Returns LMDB's
/// code: 0 or `MDB_NOTFOUND` on success.
int read_counter(MDB_txn* txn, MDB_dbi stats, std::string_view key,
                 uint64_t& out);

/// A `meta` record: a stored block's references, size and expiry.
struct block_meta {
  uint32_t refcount = 0;
  uint32_t size = 0;
  uint64_t expiry = 0;
};

/// Size of an encoded `block_meta`.
constexpr size_t meta_size = 16;

/// `m` encoded into `buf`.
void encode_meta(const block_meta& m, uint8_t (&buf)[meta_size]);

/// The record at `d` (`meta_size` bytes).
block_meta decode_meta(const uint8_t* d);

/// Key of `expiry`: entries sort by expiry, then CID.
bytes expiry_key(uint64_t expiry, const bytes& cid_bytes);

/// Key of `leaves`: a tree's leaves sort by index.
bytes leaf_key(const block_address& addr);

/// Value of `leaves`: the leaf's block digest and proof.
bytes encode_leaf(const digest256& digest, const merkle_proof& p);

/// Decodes a `leaves` value of leaf `index` into `digest` and `p`; false if
/// it is malformed.
bool decode_leaf(const MDB_val& v, uint64_t index, digest256& digest,
                 merkle_proof& p);

/// The CID of the block a `leaves` value names (at least 32 bytes; the
/// caller checks).
cid leaf_block_cid(const MDB_val& v);

} // namespace cairn::storage
