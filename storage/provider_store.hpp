#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "messages/cid.hpp"
#include "messages/peer_record.hpp"
#include "messages/sha256.hpp"
#include "storage/routing_table.hpp"

namespace cairn::storage {

/// The DHT key under which providers of `c` are stored: SHA-256 of the CID's
/// binary form, so the key space matches node IDs.
digest256 provider_key(const cid& c);

/// What `provider_store::add` did.
enum class provide_status {
  /// A new provider of the key was stored.
  added,
  /// The peer already provided the key: its expiry was extended, and its
  /// record replaced if the new one has a larger seq.
  refreshed,
  /// The peer already provided the key with a larger seq: nothing changed.
  stale,
  /// Refused: the key is new and the store holds `max_keys` keys, or the key
  /// has `max_per_key` providers that all expire later than this one would.
  full,
};

/// One provider of a key.
struct provider_entry {
  /// The provider's signed record (verified by the codec before `add`).
  peer_record record;
  /// When the entry lapses unless re-provided.
  dht_clock::time_point expiry{};
};

/// Provider records the local node holds for the DHT: key → up to
/// `max_per_key` providers, each with an expiry. Bounded: at most `max_keys`
/// keys. Expired entries are never returned; they are freed by `expire`,
/// which the owner runs periodically (and which a refused new key does not
/// trigger, so a full store costs no sweep per packet).
///
/// Not thread-safe: owned by the discovery actor. Time comes from the caller.
class provider_store {
public:
  /// How long a provider record lives unless re-provided
  /// (messages/wire/DHT_FORMAT.md).
  static constexpr std::chrono::seconds default_ttl{24 * 3600};

  /// An empty store with the given bounds.
  explicit provider_store(size_t max_keys = 100000, size_t max_per_key = 20);

  /// Stores that `record`'s peer provides `key` until `now + ttl`. A peer is
  /// identified by its public key: one entry per peer and key. When the key
  /// already has `max_per_key` providers, the one that expires first is
  /// dropped for the newcomer (unless the newcomer would expire even
  /// earlier). Expired entries of `key` are dropped first.
  provide_status add(const digest256& key, const peer_record& record,
                     dht_clock::time_point now,
                     dht_clock::duration ttl = default_ttl);

  /// Up to `max` unexpired providers of `key`, latest expiry first.
  std::vector<peer_record> get(const digest256& key, dht_clock::time_point now,
                               size_t max = 20) const;

  /// Removes every entry with `expiry <= now` (and keys left empty); returns
  /// the number of entries removed.
  size_t expire(dht_clock::time_point now);

  /// Number of keys held (including keys whose entries expired but were not
  /// swept by `expire` yet).
  size_t size() const { return keys_.size(); }

  /// Number of provider entries over all keys.
  size_t provider_count() const { return entries_; }

private:
  struct key_hash {
    size_t operator()(const digest256& x) const noexcept {
      size_t h;
      std::memcpy(&h, x.data(), sizeof(h));
      return h;
    }
  };

  size_t max_keys_;
  size_t max_per_key_;
  size_t entries_ = 0;
  std::unordered_map<digest256, std::vector<provider_entry>, key_hash> keys_;
};

} // namespace cairn::storage
