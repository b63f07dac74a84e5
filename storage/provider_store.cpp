#include "storage/provider_store.hpp"

#include <algorithm>

namespace cairn::storage {

digest256 provider_key(const cid& c) {
  return sha256(c.to_bytes());
}

provider_store::provider_store(size_t max_keys, size_t max_per_key)
  : max_keys_(max_keys), max_per_key_(std::max<size_t>(max_per_key, 1)) {
  // nop
}

provide_status provider_store::add(const digest256& key,
                                   const peer_record& record,
                                   dht_clock::time_point now,
                                   dht_clock::duration ttl) {
  auto expiry = now + ttl;
  auto i = keys_.find(key);
  if (i == keys_.end()) {
    if (keys_.size() >= max_keys_)
      return provide_status::full;
    keys_[key].push_back(provider_entry{record, expiry});
    ++entries_;
    return provide_status::added;
  }
  auto& v = i->second;
  auto before = v.size();
  v.erase(std::remove_if(v.begin(), v.end(),
                         [&](const auto& e) { return e.expiry <= now; }),
          v.end());
  entries_ -= before - v.size();
  auto same = std::find_if(v.begin(), v.end(), [&](const auto& e) {
    return e.record.public_key == record.public_key;
  });
  if (same != v.end()) {
    if (record.seq < same->record.seq)
      return provide_status::stale;
    if (record.seq > same->record.seq)
      same->record = record;
    same->expiry = std::max(same->expiry, expiry);
    return provide_status::refreshed;
  }
  if (v.size() >= max_per_key_) {
    auto oldest =
      std::min_element(v.begin(), v.end(), [](const auto& x, const auto& y) {
        return x.expiry < y.expiry;
      });
    if (oldest->expiry >= expiry)
      return provide_status::full;
    *oldest = provider_entry{record, expiry};
    return provide_status::added;
  }
  v.push_back(provider_entry{record, expiry});
  ++entries_;
  return provide_status::added;
}

std::vector<peer_record> provider_store::get(const digest256& key,
                                             dht_clock::time_point now,
                                             size_t max) const {
  std::vector<peer_record> out;
  auto i = keys_.find(key);
  if (i == keys_.end())
    return out;
  std::vector<const provider_entry*> live;
  for (const auto& e : i->second)
    if (e.expiry > now)
      live.push_back(&e);
  std::sort(live.begin(), live.end(),
            [](const auto* x, const auto* y) { return x->expiry > y->expiry; });
  for (size_t j = 0; j < live.size() && j < max; ++j)
    out.push_back(live[j]->record);
  return out;
}

size_t provider_store::expire(dht_clock::time_point now) {
  size_t removed = 0;
  for (auto i = keys_.begin(); i != keys_.end();) {
    auto& v = i->second;
    auto before = v.size();
    v.erase(std::remove_if(v.begin(), v.end(),
                           [&](const auto& e) { return e.expiry <= now; }),
            v.end());
    removed += before - v.size();
    if (v.empty())
      i = keys_.erase(i);
    else
      ++i;
  }
  entries_ -= removed;
  return removed;
}

} // namespace cairn::storage
