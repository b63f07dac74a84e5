#pragma once

#include <chrono>
#include <map>

#include <caf/typed_event_based_actor.hpp>

#include "actors/instrumented.hpp"
#include "messages/interfaces.hpp"

namespace cairn::actors {

/// State of the `advertiser` actor.
struct advertiser_state {
  static inline constexpr const char* name = "advertiser";
  /// Handler counters, published for the inspector.
  std::shared_ptr<actor_stats> stats = std::make_shared<actor_stats>();
  local_store_actor local;
  discovery_actor discovery;
  /// How often the local datasets are looked at, and how often each CID is
  /// provided again (provider records expire after 24 h).
  std::chrono::milliseconds interval{3000};
  std::chrono::hours reprovide{12};
  /// How often the store's block count and bytes are compared with the
  /// last pass's: a change (a dataset committed) starts a pass at once, so
  /// that a new dataset is provided within this of its upload.
  std::chrono::milliseconds check{200};
  /// The store's counters at the last pass, and when it started.
  uint64_t seen_blocks = 0;
  uint64_t seen_bytes = 0;
  std::chrono::steady_clock::time_point last_pass{};
  /// When each CID was last provided.
  std::map<cid, std::chrono::steady_clock::time_point> provided;
  /// When the leaves of each dataset (tree CID) due to be provided were
  /// last counted, while the count is pending or found some missing.
  std::map<cid, std::chrono::steady_clock::time_point> counted;
  bool busy = false;

  /// Sizes of `provided` and `counted`, for the inspector: each pass drops
  /// the entries of datasets no longer stored, so they follow the store.
  void gauges(std::vector<std::pair<std::string, double>>& out) const {
    out.emplace_back("provided", static_cast<double>(provided.size()));
    out.emplace_back("counted", static_cast<double>(counted.size()));
  }
};

/// Provides every complete local dataset's manifest CID and tree CID to
/// discovery: new ones within `check` of being stored (at most `interval`),
/// all of them again every `reprovide`. A dataset is complete once the
/// store holds every leaf of its tree; one still downloading is counted
/// again at most every `interval` and provided once complete (its blocks
/// reach connected peers through want-have meanwhile). Polls the local
/// store (its cheap counters often, its dataset list when they change), so
/// no other actor has to tell it.
advertiser_actor::behavior_type
advertiser(advertiser_actor::stateful_pointer<advertiser_state> self,
           local_store_actor local, discovery_actor discovery);

} // namespace cairn::actors
