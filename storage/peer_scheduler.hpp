#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "messages/block.hpp"
#include "messages/cid.hpp"
#include "messages/wire/messages.hpp"
#include "storage/pipe_meter.hpp"

namespace cairn::storage {

/// The clock of every time a `peer_scheduler` is given.
using sched_clock = std::chrono::steady_clock;

/// The dataset key (tree or manifest CID) whose providers can serve `addr`.
const cid& dataset_of(const wire::address& addr);

/// Settings of a `peer_scheduler` (the engine's `engine_config`).
struct scheduler_options {
  /// Peers quoting more than this per byte are not asked for blocks.
  uint64_t max_price = 0;
  /// Invalid or unrequested blocks after which a peer gets no more requests.
  uint32_t max_bad_blocks = 3;
};

/// A block request in flight (`peer_stats::outstanding`).
struct sent_request {
  sched_clock::time_point at{};
  uint64_t received_before = 0;
  /// Sent before the peer quoted a price (`peer_stats::quoted`): a seeder
  /// that charges answers it with a HAVE and its price instead of the block.
  bool unquoted = false;
  /// Asked for along with another block (`peer_scheduler::expect`): one of
  /// a batch the peer sends in order, so it times out only once the peer
  /// has also delivered nothing for the timeout.
  bool in_batch = false;
};

/// What the requester side knows about one connected peer.
struct peer_stats {
  /// What the peer has (with the price it quoted), and does not have.
  std::map<wire::address, uint64_t> haves;
  std::set<wire::address> dont_haves;
  /// Trees the peer said it has blocks of, with the price it quoted.
  std::map<cid, uint64_t> trees;
  /// Block requests in flight to the peer: when each was sent, and
  /// `bytes_received` then (what arrives until its answer is the rate).
  std::map<wire::address, sent_request> outstanding;
  /// Requests cancelled: their blocks may still arrive, without blame.
  /// One entry per request (a block asked for again after a timeout may
  /// come twice), each with the order it was cancelled in: past
  /// `peer_scheduler::max_cancelled`, the oldest is forgotten.
  std::multimap<wire::address, uint64_t> cancelled;
  uint64_t cancels = 0;
  /// Remembers `addr` as cancelled.
  void remember_cancelled(const wire::address& addr);
  /// Measured delivery rate and round trip of its requests (zeros: not
  /// measured), and per-block latency (s).
  pipe_meter pipe;
  double latency = 0.05;
  /// The handshake's round trip in seconds (0: not known).
  double handshake_rtt = 0;
  uint64_t blocks_received = 0;
  uint64_t bytes_received = 0;
  /// When it last delivered a valid block (the epoch: never).
  sched_clock::time_point last_delivery{};
  uint32_t bad_blocks = 0;
  uint32_t timeouts = 0;
  /// It sent a presence, and the price in the last one (its node's
  /// setting, the same for all its blocks).
  bool quoted = false;
  uint64_t price = 0;
};

/// The scheduling side of one wanted block (the engine keeps its waiters).
struct want_state {
  /// Peers asked whether they have it, and asked for it.
  std::set<std::string> asked_have;
  std::set<std::string> requested;
  /// When it was first wanted.
  sched_clock::time_point since{};
  /// A verified copy arrived and is being stored: ask nobody else.
  bool storing = false;
};

/// A provider lookup of one dataset key (tree or manifest CID), shared by
/// every want of that dataset.
struct provider_lookup {
  bool in_flight = false;
  /// When the last lookup started and answered, and how many new peers it
  /// dialed.
  sched_clock::time_point started{};
  sched_clock::time_point finished{};
  size_t dialed = 0;
  /// Lookups in a row that dialed nobody: the wait before the next one
  /// doubles with each (a provider record may be on its way).
  uint32_t fruitless = 0;
  /// A retry of this key is on its way to the owner.
  bool retry_armed = false;
};

/// What to do next for one wanted block (`peer_scheduler::schedule`).
struct schedule_step {
  /// Send a want-block to this peer (already recorded as in flight), or
  /// empty.
  std::string request_from;
  /// Send a want-block (with send-dont-have) to these peers, not known to
  /// have it (already recorded as in flight): `peer_scheduler::direct_asks`.
  std::vector<std::string> ask_block;
  /// Send a want-have to these peers (already recorded as asked).
  std::vector<std::string> ask_have;
  /// Look up the providers of the block's dataset (`begin_lookup`).
  bool discover = false;
  /// Nobody can serve it: the want fails with `not_found`.
  bool lost = false;
};

/// What to do about a provider lookup (`peer_scheduler::begin_lookup`).
struct lookup_step {
  /// Start the lookup now (recorded as in flight).
  bool start = false;
  /// Not yet: call `retry_due` and schedule the dataset's wants again after
  /// this long. Empty when a retry is already on its way.
  std::optional<sched_clock::duration> retry_after;
};

/// The decisions of the block-exchange engine's requester side: which peer
/// gets a want-block (the one expected to deliver first, within the depth
/// its rate earns), which peers are asked want-have, when a block counts as
/// lost, when providers are looked up again, and which requests time out.
/// It keeps per-peer statistics and provider-lookup state; the caller keeps
/// the waiters, sends the messages and arms the timers.
///
/// Not thread-safe: owned by the engine actor. Time comes from the caller
/// and is never read here, so that the same inputs give the same decisions
/// (the exploration coin comes from a generator seeded at construction).
class peer_scheduler {
public:
  /// Bytes of a full block, the unit of depths and expected times.
  static constexpr double block_bytes = default_block_size;
  /// Smoothing of rate and latency measurements.
  static constexpr double ewma = 0.2;
  /// Chance of trying the peer with the fewest deliveries instead of the
  /// one expected to deliver first.
  static constexpr double explore = 0.1;
  /// Block requests a peer gets at least / at most in flight; in between,
  /// as many as it delivers in ~100 ms, up to `short_depth` (on a short
  /// link the sender's own queue keeps it busy), or what its pipe meter
  /// gives for its bandwidth-delay product if that is more (a long link,
  /// `pipe_meter`). During the meter's start-up a peer gets at least its
  /// slow-start window from `start_depth`: the first round trip of a long
  /// link carries 4 MiB, and each next one four times as much.
  /// Which peer gets a request is decided by expected time, so unmeasured
  /// peers share the first requests instead of each taking `start_depth`.
  /// `max_depth` (96 MiB of blocks) covers twice the product of a 100 ms
  /// round trip at ~400 MB/s, the seeder's own queue in front of it
  /// included, and stays below the wants a peer queues for us
  /// (`engine_config::max_queued_wants`).
  static constexpr size_t min_depth = 4;
  static constexpr size_t short_depth = 64;
  static constexpr size_t start_depth = 64;
  static constexpr size_t max_depth = 1536;
  /// The link rate a manifest's first leaves are asked for at
  /// (`leaves_with_manifest`), bytes/s.
  static constexpr double assumed_link_rate = 1e9;
  /// A provider lookup that dialed nobody is repeated after 100 ms, then
  /// 200 ms, 400 ms ... up to `rediscover_after`: a dataset uploaded
  /// elsewhere a moment ago may have its provider record on the way, and a
  /// lookup on a small network takes milliseconds. One that dialed
  /// providers waits the whole `rediscover_after` (they are asked once
  /// connected).
  static constexpr auto first_rediscover = std::chrono::milliseconds{100};
  static constexpr auto rediscover_after = std::chrono::seconds{5};
  /// A want that no connected peer may have is lost once a provider lookup
  /// that started this long after it found nobody new (the fourth, after
  /// those at 0, 0.1 and 0.3 s: a CID nobody has answers in under a
  /// second). The block timeout is for slow peers, not for peers that do
  /// not exist.
  static constexpr auto give_up_after = std::chrono::milliseconds{700};
  /// Connected peers asked whether they have a block get this long to
  /// answer before the providers are looked up as well.
  static constexpr auto silent_after = std::chrono::milliseconds{250};
  /// End-game: with at most this many wants left, one requested from a
  /// single peer for longer than `end_game_after` is asked elsewhere too.
  static constexpr size_t end_game_wants = 8;
  static constexpr auto end_game_after = std::chrono::milliseconds{500};
  /// A block wanted by CID (a dataset's manifest) that no peer is known to
  /// have is asked for as a block, with send-dont-have, of at most this many
  /// of the peers it would ask want-have (the others still are): each
  /// answers with the block or DONT_HAVE, one round trip instead of a
  /// want-have's and a want-block's. Few, so that a large swarm does not
  /// send the manifest that many times.
  static constexpr size_t direct_asks = 2;
  /// Cancelled requests remembered per peer (the oldest are forgotten
  /// beyond).
  static constexpr size_t max_cancelled = 4096;
  /// Lookups remembered before finished ones of old datasets are dropped.
  static constexpr size_t max_lookups = 1024;

  /// A scheduler with no peers; `seed` seeds the exploration coin.
  explicit peer_scheduler(scheduler_options opts = {}, uint64_t seed = 0);

  // -- peers ------------------------------------------------------------------

  /// Starts tracking a connected peer whose handshake took `handshake_rtt`
  /// seconds (0: not known); a tracked one only takes the round trip.
  void add(const std::string& peer, double handshake_rtt = 0);

  /// Stops tracking `peer`; returns the blocks it was asked for and had not
  /// delivered (the caller asks elsewhere).
  std::vector<wire::address> remove(const std::string& peer);

  /// What is known about `peer`, or null if it is not tracked.
  const peer_stats* find(const std::string& peer) const;

  /// Every tracked peer, by peer ID.
  const std::map<std::string, peer_stats>& peers() const { return peers_; }

  // -- decisions --------------------------------------------------------------

  /// Block requests `p` may have in flight: `min_depth` .. `max_depth`, as
  /// many as it delivers in ~100 ms at its measured rate (at most
  /// `short_depth`), what its pipe meter asks for (`pipe_meter::requests`)
  /// or, during the meter's start-up, its slow-start window from
  /// `start_depth`, whichever is most.
  static size_t depth_of(const peer_stats& p);

  /// The first leaves to ask `p` for with a manifest a download starts
  /// with, whose first window is `first_window` (0: none asked). The
  /// download's own requests go out once the manifest is in and are
  /// answered a round trip later: the leaves keep the link busy meanwhile,
  /// as many as a handshake round trip carries at `assumed_link_rate` if
  /// that is more than the window, at most
  /// `wire::max_leaves_with_manifest`. On a short link the window.
  static uint32_t leaves_with_manifest(const peer_stats& p,
                                       uint32_t first_window);

  /// Expected seconds until `p` would deliver one more block, behind those
  /// in flight (an unmeasured peer is assumed at one block per 50 ms).
  static double expected_time(const peer_stats& p);

  /// Whether `p` has sent fewer bad blocks than `max_bad_blocks`.
  bool good_standing(const peer_stats& p) const;

  /// Whether `p` may still serve `addr`: in good standing, not known to
  /// lack it, and not quoting more than `max_price` for it (its price is its
  /// node's setting: asking again would not lower it).
  bool may_serve(const peer_stats& p, const wire::address& addr) const;

  /// Whether `p` holds `addr`: it said it has it, or it holds blocks of
  /// its tree at a price we accept (it most likely holds this one too).
  bool holds(const peer_stats& p, const wire::address& addr) const;

  /// Whether any tracked peer may still serve `addr`.
  bool anyone_may_serve(const wire::address& addr) const;

  /// Whether a peer in good standing that may serve `addr` and holds it
  /// (said so, or holds blocks of its tree) delivered a block at or after
  /// `since`: a holder that is slow (busy serving others), not one that is
  /// gone or silent.
  bool holder_delivering(const wire::address& addr,
                         sched_clock::time_point since) const;

  /// Whether `peer` said it has `addr`.
  bool has(const std::string& peer, const wire::address& addr) const;

  /// Decides what to do next for `addr`, wanted as `w`, at `now`, and
  /// records it (the request in flight in the peer's stats and in
  /// `w.requested`, want-haves in `w.asked_have`). In order:
  ///  - a want-block to the candidate expected to deliver first (a peer
  ///    that has it, or blocks of its tree, at an acceptable price, in good
  ///    standing, not asked for it yet, below its depth);
  ///  - nothing while it is requested from a peer, but a lookup once the
  ///    want is `unconfirmed` for `silent_after`;
  ///  - want-haves to the peers that may serve it and were not asked (for
  ///    a block by CID, want-blocks to the first `direct_asks` of them); a
  ///    lookup as well once they stayed silent for `silent_after`;
  ///  - lost, when nobody may serve it and a lookup found nobody new,
  ///    started `give_up_after` after the want or (for a leaf whose holders
  ///    all lack it) finished recently;
  ///  - else a provider lookup.
  /// Nothing while `w.storing`.
  schedule_step schedule(const wire::address& addr, want_state& w,
                         sched_clock::time_point now);

  /// Whether `w`, a want of a block by CID, waits only on peers asked for
  /// it directly (`schedule_step::ask_block`) that have not said they have
  /// it: as unanswered as a want-have.
  bool unconfirmed(const wire::address& addr, const want_state& w) const;

  /// A dataset's manifest `manifest_id`, of tree `tree`, arrived from
  /// `peer`: it and every peer that said it has the manifest count as
  /// holding the tree's blocks at the price they quoted (`peer`, if it
  /// never quoted: 0, as a seeder that charges quotes before it serves),
  /// so the first leaves are asked for directly, without a want-have round
  /// first.
  void manifest_from(const std::string& peer, const cid& manifest_id,
                     const cid& tree);

  /// Whether `w` is due a second source: with at most `end_game_wants`
  /// wants in all, one requested from a single peer for `end_game_after`.
  static bool end_game(const want_state& w, size_t wants,
                       sched_clock::time_point now);

  // -- events -----------------------------------------------------------------

  /// `peer` said it has (`have`, at `price` per byte) or lacks `addr`.
  /// Returns true when this released a request in flight to it (a
  /// DONT_HAVE answering a want-block, or a HAVE with a price above 0
  /// answering one sent before the peer quoted: a seeder that charges
  /// quotes before it serves): the caller asks elsewhere, or again.
  bool on_presence(const std::string& peer, const wire::address& addr,
                   bool have, uint64_t price);

  /// Whether a request for `addr` is in flight to `peer`.
  bool in_flight(const std::string& peer, const wire::address& addr) const;

  /// A request for `addr` counts as in flight to `peer` since `sent` (asked
  /// for along with another block: the leaves a manifest's want-block
  /// asked for; `in_batch`), unless one already is. False if `peer` is
  /// unknown.
  bool expect(const std::string& peer, const wire::address& addr,
              const sent_request& sent);

  /// Forgets a cancelled request of `peer` for `addr`; true if there was
  /// one (its block may arrive without blame).
  bool forget_cancelled(const std::string& peer, const wire::address& addr);

  /// `peer` delivered a valid `addr` of `size` bytes at `now`: a request in
  /// flight ends and measures its rate and latency.
  void delivered(const std::string& peer, const wire::address& addr,
                 uint64_t size, sched_clock::time_point now);

  /// `peer` delivered `addr` invalid: its request ends, and it counts as
  /// lacking it.
  void delivery_failed(const std::string& peer, const wire::address& addr);

  /// The price per byte `peer` quoted for `addr` (or for its tree), 0 if
  /// none.
  uint64_t price_of(const std::string& peer, const wire::address& addr) const;

  /// Cancels the request of `addr` in flight to `peer` (the block came from
  /// elsewhere); true if there was one (the caller sends the cancel).
  bool cancel(const std::string& peer, const wire::address& addr);

  /// Counts a bad block against `peer`; returns its bad blocks so far.
  uint32_t penalize(const std::string& peer);

  /// Ends every request sent before `now - timeout` (one `in_batch`: whose
  /// peer delivered nothing since then either): each counts as a timeout
  /// of its peer, and is remembered as cancelled (its block may still
  /// arrive, without blame; the caller sends the cancel). Returns them as
  /// (peer, address), by peer.
  std::vector<std::pair<std::string, wire::address>>
  expire_requests(sched_clock::time_point now, sched_clock::duration timeout);

  // -- provider lookups -------------------------------------------------------

  /// Whether to look up the providers of `key` at `now`: not while one is
  /// in flight, nor before the pause after the last one (a retry then).
  lookup_step begin_lookup(const cid& key, sched_clock::time_point now);

  /// The lookup of `key` answered at `now`, having dialed `dialed` new
  /// peers (a failed lookup counts as dialing one: no verdict from it).
  void end_lookup(const cid& key, size_t dialed, sched_clock::time_point now);

  /// The retry of `key` armed by `begin_lookup` came.
  void retry_due(const cid& key);

  /// How long after `lk` answered the next lookup of its key may start.
  static sched_clock::duration lookup_pause(const provider_lookup& lk);

private:
  peer_stats* stats_of(const std::string& peer);

  scheduler_options opts_;
  std::map<std::string, peer_stats> peers_;
  std::map<cid, provider_lookup> lookups_;
  std::mt19937_64 rng_;
};

} // namespace cairn::storage
