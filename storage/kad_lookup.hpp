#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "messages/peer_record.hpp"
#include "storage/routing_table.hpp"

namespace cairn::storage {

/// The state machine of one iterative Kademlia lookup (FIND_NODE, or the
/// node-finding part of GET_PROVIDERS) for `target`, without any I/O: the
/// caller sends the queries that `next_queries` returns, and reports each
/// answer (`on_response`) or timeout (`on_failure`).
///
/// Candidates are kept sorted by XOR distance to the target. The *window* is
/// the `k` nearest candidates that have not failed. `next_queries` picks the
/// nearest not-yet-queried candidates of the window while fewer than `alpha`
/// queries are in flight. The lookup is `done` when every candidate of the
/// window has answered and nothing is in flight (so a failed node near the
/// target is replaced by the next nearest one, and the result has `k`
/// answered nodes whenever `k` live nodes were found), or when the query
/// budget (`max_queries`) is spent and nothing is in flight, or when there
/// is nobody left to ask.
///
/// Which nodes are candidates: the seeds and every record in an answer,
/// including the target's own node if it exists (a FIND_NODE for a node's
/// ID is how one finds that node), but never `self` (the local node: asking
/// ourselves is pointless, and other nodes' answers will list us). Answers
/// from nodes that are not in flight (unsolicited, duplicate, or after
/// `on_failure`) are ignored. Memory is bounded: beyond the
/// `k * candidates_per_k` nearest candidates, never-queried ones are dropped
/// (queried ones are kept, at most the query budget).
///
/// One candidate per UDP address: a record that claims the address of
/// another candidate is ignored, so that answers listing made-up nodes at
/// one address (a third party's) make the lookup send there once at most.
///
/// Not thread-safe: owned by the discovery actor.
class kad_lookup {
public:
  /// Never-queried candidates are kept only among this many (times `k`)
  /// nearest candidates.
  static constexpr size_t candidates_per_k = 8;

  /// Queries sent at most, as a multiple of `k`; only an adversarial or
  /// very churny network reaches it.
  static constexpr size_t queries_per_k = 16;

  /// A lookup of `target` starting from `seeds` (usually the local routing
  /// table's `closest(target, k)`), returning `k` nodes, with at most
  /// `alpha` queries in flight (k, alpha >= 1). Contacts whose ID is `self`
  /// are ignored.
  kad_lookup(node_id target, std::vector<contact> seeds, size_t k = 16,
             size_t alpha = 3, std::optional<node_id> self = std::nullopt);

  /// The target ID.
  const node_id& target() const { return target_; }

  /// The contacts to query now, nearest first, marked in flight: up to
  /// `alpha - in_flight()` not-yet-queried candidates of the window. Empty
  /// when the window has none or `alpha` queries are in flight.
  std::vector<contact> next_queries();

  /// `from` answered with the records `closer` (verified by the codec). New
  /// records become candidates; a known candidate that was not queried yet
  /// gets the newer record. Ignored if `from` is not in flight.
  void on_response(const node_id& from, const std::vector<peer_record>& closer);

  /// The query to `from` failed (timeout, error). Ignored if `from` is not
  /// in flight.
  void on_failure(const node_id& from);

  /// True when the lookup is over (see the class comment).
  bool done() const;

  /// The up to `k` nearest nodes that answered, nearest first. Final once
  /// `done()`; before that, the best so far.
  std::vector<contact> result() const;

  /// Number of queries in flight.
  size_t in_flight() const { return in_flight_; }

  /// Number of queries handed out by `next_queries` so far.
  size_t queries_sent() const { return queries_sent_; }

  /// The lookup's depth so far: the most hops from this node to a node
  /// that answered, where a seed is 1 hop away and a node first learnt
  /// from the answer of a node `h` hops away is `h + 1` (the fewest, if
  /// several answers named it). 0 until a node answered. With `alpha`
  /// queries in parallel, the rounds of the walk; the count of queries is
  /// `queries_sent`.
  uint32_t hops() const { return hops_; }

  /// Number of candidates currently known (any state); at most
  /// `k * (candidates_per_k + queries_per_k)`.
  size_t candidate_count() const { return candidates_.size(); }

private:
  enum class state : uint8_t { fresh, in_flight, answered, failed };

  struct candidate {
    contact who;
    state st = state::fresh;
    /// Hops from this node (see `hops`).
    uint32_t hop = 1;
  };

  // Keyed by XOR distance to the target: IDs are unique, so are distances.
  using candidate_map = std::map<node_id, candidate>;

  void add(const contact& c, uint32_t hop);
  void erase_address(const node_id& dist);
  void prune();
  bool budget_spent() const;

  node_id target_;
  size_t k_;
  size_t alpha_;
  std::optional<node_id> self_;
  candidate_map candidates_;
  // The UDP address of each candidate that has one ("host:port"), and the
  // candidate's distance.
  std::map<std::string, node_id> addresses_;
  size_t in_flight_ = 0;
  size_t queries_sent_ = 0;
  uint32_t hops_ = 0;
};

} // namespace cairn::storage
