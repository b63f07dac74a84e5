#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "messages/cid.hpp"

namespace cairn {

/// Blocks of one dataset (its tree) delivered to a node: how many each peer
/// delivered first, and how many arrived again after one copy was had.
struct source_tally {
  /// Peer id -> blocks it delivered first.
  std::map<std::string, uint64_t> blocks;
  uint64_t duplicates = 0;
  /// Which record of the tree this was read from (0: none was kept): a
  /// record forgotten and begun again counts from zero.
  uint64_t record = 0;

  /// Blocks delivered first, by every peer.
  uint64_t total() const;

  /// What was delivered between `before` (read earlier from the same
  /// `tree_sources` and tree) and this: the difference per peer, peers
  /// without one left out. If the record `before` was read from was
  /// forgotten meanwhile, all of this.
  source_tally since(const source_tally& before) const;
};

/// What one delivery message brought, per tree, to be recorded with one
/// lock (a message carries blocks of one or a few trees).
class source_batch {
public:
  void delivered(const cid& tree) { ++entry(tree).first; }
  void duplicate(const cid& tree) { ++entry(tree).second; }
  bool empty() const { return trees_.empty(); }
  void clear() { trees_.clear(); }

private:
  friend class tree_sources;
  std::pair<uint64_t, uint64_t>& entry(const cid& tree);
  /// Tree -> (blocks delivered first, duplicates).
  std::vector<std::pair<cid, std::pair<uint64_t, uint64_t>>> trees_;
};

/// Who delivered the blocks of each dataset a node fetched, for the
/// operator (`GET /api/cairn/v1/downloads`, cairn-sim's report). One per
/// node, owned by its context: it outlives engine restarts. Holds at most
/// `max_trees` trees; beyond, the one recorded into least recently is
/// forgotten. Thread-safe: the engine records, downloads read.
class tree_sources {
public:
  static constexpr size_t default_max_trees = 256;

  explicit tree_sources(size_t max_trees = default_max_trees);

  /// Counts the blocks `peer` delivered in one message.
  void record(const std::string& peer, const source_batch& batch);

  /// The counters of `tree` (empty, record 0, if none are kept).
  source_tally read(const cid& tree) const;

  /// A download of `tree` is about to begin, and its first blocks may
  /// arrive before it does (asked for with the manifest): the next
  /// `take_mark` of `tree` reads its counters as of now.
  void mark(const cid& tree);

  /// The counters of `tree` as of its last `mark`, which this forgets; as
  /// of now (`read`) if there is none.
  source_tally take_mark(const cid& tree);

  /// Trees kept.
  size_t size() const;

private:
  struct entry {
    source_tally tally;
    std::list<cid>::iterator age;
  };
  size_t max_trees_;
  mutable std::mutex mtx_;
  std::map<cid, entry> trees_;
  /// The counters of `tree` (with `mtx_` held).
  source_tally tally_of(const cid& tree) const;
  /// Marked trees and their counters then; at most `max_trees_`.
  std::map<cid, source_tally> marks_;
  /// Least recently recorded first.
  std::list<cid> order_;
  uint64_t next_record_ = 0;
};

/// The blocks delivered for one download of a dataset: what the node's
/// `tree_sources` counted for its tree since the download began, frozen
/// when it ended (the first end counts), so that a later download of the
/// same tree does not change it. Thread-safe.
class download_sources {
public:
  /// Counts what `log` records for `tree` after this call, or after its
  /// last `tree_sources::mark` (null: nothing).
  void begin(std::shared_ptr<tree_sources> log, const cid& tree);

  /// Freezes the figures (a second call changes nothing).
  void end();

  /// What was delivered from `begin` until `end` (so far, while running).
  source_tally get() const;

private:
  source_tally current() const; // with mtx_ held
  mutable std::mutex mtx_;
  std::shared_ptr<const tree_sources> log_;
  cid tree_;
  source_tally before_;
  std::optional<source_tally> at_end_;
};

} // namespace cairn
