#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "messages/peer_id.hpp"
#include "messages/peer_record.hpp"
#include "messages/sha256.hpp"

namespace cairn::storage {

/// A 256-bit Kademlia node ID (also the key space of provider records).
using node_id = digest256;

/// The clock of the DHT: contacts and provider records age in steady time.
using dht_clock = std::chrono::steady_clock;

/// A node's ID: SHA-256 of its binary peer ID, so IDs are spread uniformly
/// over the key space and bound to the node's key. Thread-safe.
node_id node_id_of(const peer_id& id);

/// Same as `node_id_of(record.id())`.
node_id node_id_of(const peer_record& record);

/// `x XOR y`, the Kademlia distance; compare distances as big-endian
/// numbers, i.e. with `operator<` of `std::array`.
node_id xor_distance(const node_id& x, const node_id& y);

/// The length of the common bit prefix of `self` and `other` (0..255), which
/// is the index of the bucket `other` belongs to in `self`'s table: bucket 0
/// holds the far half of the key space, bucket 255 the single nearest ID.
/// Returns -1 if `other == self`.
int bucket_index(const node_id& self, const node_id& other);

/// What a routing table knows about one node.
struct contact {
  /// `node_id_of(record)`.
  node_id id{};
  /// The node's newest signed record seen (addresses to reach it).
  peer_record record;
  /// When it last answered or sent us a packet.
  dht_clock::time_point last_seen{};
  /// Requests to it that failed since it last answered.
  uint32_t failures = 0;
};

/// What `routing_table::update` did.
enum class update_status {
  /// A new contact went into its bucket.
  added,
  /// A known contact moved to the most-recently-seen end of its bucket
  /// (its record replaced if the new one has a larger seq).
  refreshed,
  /// The bucket is full: the newcomer waits in the bucket's replacement
  /// cache, and `ping_candidate` should be pinged (see `update`).
  pending,
  /// The record is the table's own node: never stored.
  ignored,
};

/// Result of `routing_table::update`.
struct insert_result {
  /// True if the record's node is in a bucket after the call (added or
  /// refreshed).
  bool inserted = false;
  /// What happened.
  update_status status = update_status::ignored;
  /// Set iff `status == pending`: the least-recently-seen contact of the full
  /// bucket. The caller pings it; an answer (`update` with its record) keeps
  /// it, timeouts (`failed`) eventually evict it in favour of the newcomer.
  std::optional<contact> ping_candidate;
};

/// A Kademlia routing table: 256 buckets of at most `k` contacts, indexed by
/// common prefix length with the local ID, each ordered from least to most
/// recently seen, plus a small replacement cache per bucket of nodes seen
/// while the bucket was full (newest last).
///
/// Classic Kademlia policy: a full bucket keeps its old contacts (long-lived
/// nodes are likely to stay), so new nodes can only enter when an old one
/// fails `max_failures` times in a row or is removed; then the newest
/// replacement is promoted.
///
/// Not thread-safe: owned by the discovery actor. No I/O; time comes from
/// the caller.
class routing_table {
public:
  /// Failures in a row after which a contact is evicted.
  static constexpr uint32_t default_max_failures = 3;

  /// Capacity of each bucket's replacement cache.
  static constexpr size_t default_max_replacements = 8;

  /// An empty table for the node `self`, with buckets of `k` contacts
  /// (k >= 1).
  explicit routing_table(node_id self, size_t k = 16,
                         uint32_t max_failures = default_max_failures,
                         size_t max_replacements = default_max_replacements);

  /// The local node's ID.
  const node_id& self() const { return self_; }

  /// Bucket capacity.
  size_t k() const { return k_; }

  /// Records that the node of `record` is alive at `now`. The caller has
  /// verified the record's signature and seen the node answer a request
  /// sent to the address the record claims (a packet that merely names
  /// the node proves nothing: anyone can replay a record, or sign one with
  /// a third party's address). A
  /// known contact moves to the most-recently-seen end, its failures reset,
  /// and its record is replaced if `record.seq` is larger. A new contact
  /// goes into its bucket if there is room; otherwise into the bucket's
  /// replacement cache (dropping the oldest cached entry when the cache is
  /// full), and the result names the bucket's least-recently-seen contact
  /// as the one to ping. The local node itself is ignored.
  insert_result update(const peer_record& record, dht_clock::time_point now);

  /// Counts a failed request (timeout) to `id`. A contact that reaches
  /// `max_failures` failures is evicted and the newest replacement of its
  /// bucket, if any, takes its place. A node that is only in a replacement
  /// cache is dropped from it at once (it was never confirmed). Unknown IDs
  /// are ignored.
  void failed(const node_id& id);

  /// Forgets `id` (from its bucket, promoting the newest replacement, or
  /// from the replacement cache). Unknown IDs are ignored.
  void remove(const node_id& id);

  /// The contact `id`, if it is in a bucket (not the replacement cache).
  std::optional<contact> find(const node_id& id) const;

  /// True if `id` is in a bucket.
  bool contains(const node_id& id) const { return find(id).has_value(); }

  /// Up to `n` contacts in buckets, sorted by XOR distance to `target`,
  /// nearest first.
  std::vector<contact> closest(const node_id& target, size_t n) const;

  /// Number of contacts in buckets (replacement caches not counted).
  size_t size() const { return size_; }

  /// Number of contacts waiting in replacement caches.
  size_t replacement_count() const;

  /// Number of contacts in bucket `index` (0..255); 0 for other indices.
  size_t bucket_size(int index) const;

  /// Every contact in buckets, bucket 0 first, each bucket from least to
  /// most recently seen.
  std::vector<contact> all() const;

private:
  struct bucket {
    std::vector<contact> entries;     // least recently seen first
    std::deque<contact> replacements; // newest last
  };

  // Removes entry `pos` of `b` and promotes the newest replacement.
  void evict(bucket& b, size_t pos);

  node_id self_;
  size_t k_;
  uint32_t max_failures_;
  size_t max_replacements_;
  size_t size_ = 0;
  std::vector<bucket> buckets_;
};

} // namespace cairn::storage
