#include "storage/routing_table.hpp"

#include <algorithm>
#include <utility>

namespace cairn::storage {

node_id node_id_of(const peer_id& id) {
  return sha256(id.to_bytes());
}

node_id node_id_of(const peer_record& record) {
  // Same bytes as `record.id().to_bytes()` (identity multihash of the
  // protobuf Ed25519 key, see peer_id.cpp) without the base58 text form that
  // `peer_id` also computes: this runs for every record of every DHT answer.
  // RoutingTableTest.NodeIdIsSha256OfBinaryPeerId pins the equivalence.
  std::array<uint8_t, 38> bin{0x00, 0x24, 0x08, 0x01, 0x12, 0x20};
  std::copy(record.public_key.begin(), record.public_key.end(),
            bin.begin() + 6);
  return sha256(byte_view{bin.data(), bin.size()});
}

node_id xor_distance(const node_id& x, const node_id& y) {
  node_id out;
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = x[i] ^ y[i];
  return out;
}

int bucket_index(const node_id& self, const node_id& other) {
  for (size_t i = 0; i < self.size(); ++i) {
    uint8_t d = self[i] ^ other[i];
    if (d != 0) {
      int lead = 0;
      while ((d & 0x80) == 0) {
        d <<= 1;
        ++lead;
      }
      return static_cast<int>(i * 8) + lead;
    }
  }
  return -1;
}

routing_table::routing_table(node_id self, size_t k, uint32_t max_failures,
                             size_t max_replacements)
  : self_(self), k_(std::max<size_t>(k, 1)),
    max_failures_(std::max<uint32_t>(max_failures, 1)),
    max_replacements_(max_replacements), buckets_(256) {
  // nop
}

insert_result routing_table::update(const peer_record& record,
                                    dht_clock::time_point now) {
  insert_result res;
  auto id = node_id_of(record);
  auto idx = bucket_index(self_, id);
  if (idx < 0)
    return res;
  auto& b = buckets_[static_cast<size_t>(idx)];
  auto same = [&](const contact& c) { return c.id == id; };
  auto refresh = [&](contact& c) {
    c.last_seen = now;
    c.failures = 0;
    if (record.seq > c.record.seq)
      c.record = record;
  };
  // The contact for `record`: taken (and refreshed) from the bucket's
  // replacement cache if it waits there, else new.
  auto take_cached = [&] {
    contact c{id, record, now, 0};
    auto i = std::find_if(b.replacements.begin(), b.replacements.end(), same);
    if (i != b.replacements.end()) {
      c = std::move(*i);
      b.replacements.erase(i);
      refresh(c);
    }
    return c;
  };
  if (auto i = std::find_if(b.entries.begin(), b.entries.end(), same);
      i != b.entries.end()) {
    auto c = std::move(*i);
    b.entries.erase(i);
    refresh(c);
    b.entries.push_back(std::move(c));
    res.inserted = true;
    res.status = update_status::refreshed;
    return res;
  }
  if (b.entries.size() < k_) {
    // A cached replacement that shows up again while there is room (after
    // an eviction without replacements) goes straight into the bucket.
    auto c = take_cached();
    b.entries.push_back(std::move(c));
    ++size_;
    res.inserted = true;
    res.status = update_status::added;
    return res;
  }
  // Full bucket: remember the newcomer (newest last) and ask for a ping of
  // the least-recently-seen contact.
  if (max_replacements_ > 0) {
    auto c = take_cached();
    b.replacements.push_back(std::move(c));
    while (b.replacements.size() > max_replacements_)
      b.replacements.pop_front();
  }
  res.status = update_status::pending;
  res.ping_candidate = b.entries.front();
  return res;
}

void routing_table::evict(bucket& b, size_t pos) {
  b.entries.erase(b.entries.begin() + static_cast<std::ptrdiff_t>(pos));
  --size_;
  if (!b.replacements.empty()) {
    // The promoted node is the most recently heard from, so it goes to the
    // most-recently-seen end.
    b.entries.push_back(std::move(b.replacements.back()));
    b.replacements.pop_back();
    ++size_;
  }
}

void routing_table::failed(const node_id& id) {
  auto idx = bucket_index(self_, id);
  if (idx < 0)
    return;
  auto& b = buckets_[static_cast<size_t>(idx)];
  for (size_t i = 0; i < b.entries.size(); ++i) {
    if (b.entries[i].id == id) {
      if (++b.entries[i].failures >= max_failures_)
        evict(b, i);
      return;
    }
  }
  auto same = [&](const contact& c) { return c.id == id; };
  b.replacements.erase(
    std::remove_if(b.replacements.begin(), b.replacements.end(), same),
    b.replacements.end());
}

void routing_table::remove(const node_id& id) {
  auto idx = bucket_index(self_, id);
  if (idx < 0)
    return;
  auto& b = buckets_[static_cast<size_t>(idx)];
  for (size_t i = 0; i < b.entries.size(); ++i) {
    if (b.entries[i].id == id) {
      evict(b, i);
      return;
    }
  }
  auto same = [&](const contact& c) { return c.id == id; };
  b.replacements.erase(
    std::remove_if(b.replacements.begin(), b.replacements.end(), same),
    b.replacements.end());
}

std::optional<contact> routing_table::find(const node_id& id) const {
  auto idx = bucket_index(self_, id);
  if (idx < 0)
    return std::nullopt;
  for (const auto& c : buckets_[static_cast<size_t>(idx)].entries)
    if (c.id == id)
      return c;
  return std::nullopt;
}

std::vector<contact> routing_table::closest(const node_id& target,
                                            size_t n) const {
  // At most 256 * k contacts: sorting them all is cheap next to a network
  // round trip, and simpler to get right than walking buckets outward.
  std::vector<std::pair<node_id, const contact*>> v;
  v.reserve(size_);
  for (const auto& b : buckets_)
    for (const auto& c : b.entries)
      v.emplace_back(xor_distance(c.id, target), &c);
  n = std::min(n, v.size());
  std::partial_sort(
    v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n), v.end(),
    [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<contact> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i)
    out.push_back(*v[i].second);
  return out;
}

size_t routing_table::replacement_count() const {
  size_t n = 0;
  for (const auto& b : buckets_)
    n += b.replacements.size();
  return n;
}

size_t routing_table::bucket_size(int index) const {
  if (index < 0 || index >= static_cast<int>(buckets_.size()))
    return 0;
  return buckets_[static_cast<size_t>(index)].entries.size();
}

std::vector<contact> routing_table::all() const {
  std::vector<contact> out;
  out.reserve(size_);
  for (const auto& b : buckets_)
    out.insert(out.end(), b.entries.begin(), b.entries.end());
  return out;
}

} // namespace cairn::storage
