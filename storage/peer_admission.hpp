#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace cairn::storage {

// Who may hold a peer connection, and for how long: the caps on
// connections still in their handshake, the choice of the peer to evict
// when `--max-peers` is reached, and the backoff of redialing lost peers.
// No actors and no sockets: the peer listener and the engine ask these.

using admission_clock = std::chrono::steady_clock;

/// Caps on peer connections that have not completed their handshake.
struct handshake_limits {
  /// In all.
  size_t total = 128;
  /// From one remote address.
  size_t per_ip = 8;
};

/// Counts the peer connections in their handshake, in all and per remote
/// address, and refuses those over `handshake_limits`: an attacker that
/// opens connections and never completes a handshake holds a bounded
/// number of sessions (and of their buffers), and one address holds at
/// most `per_ip` of them. Any thread may call it.
class handshake_slots {
public:
  explicit handshake_slots(handshake_limits limits) : limits_(limits) {}

  /// Takes a slot for a connection from `ip`: nullopt when taken, else the
  /// reason it is refused (one line).
  std::optional<std::string> admit(const std::string& ip);

  /// Gives back a slot that `admit` took for `ip`.
  void release(const std::string& ip);

  /// Connections holding a slot, in all and from `ip`.
  size_t pending() const;
  size_t pending(const std::string& ip) const;

  /// Connections refused since construction.
  uint64_t refused() const;

  const handshake_limits& limits() const { return limits_; }

private:
  handshake_limits limits_;
  mutable std::mutex mtx_;
  size_t total_ = 0;
  std::map<std::string, size_t> per_ip_;
  uint64_t refused_ = 0;
};

/// One slot taken from a `handshake_slots`, given back once: by `release`
/// (the handshake completed, or the session closed) or by the destructor
/// (the session died without saying so). Movable, not copyable.
class handshake_slot {
public:
  handshake_slot() = default;
  handshake_slot(std::shared_ptr<handshake_slots> slots, std::string ip)
    : slots_(std::move(slots)), ip_(std::move(ip)) {}
  handshake_slot(handshake_slot&& other) noexcept = default;
  handshake_slot& operator=(handshake_slot&& other) noexcept;
  handshake_slot(const handshake_slot&) = delete;
  handshake_slot& operator=(const handshake_slot&) = delete;
  ~handshake_slot() { release(); }

  /// Gives the slot back; no-op if it was given back or never taken.
  void release();

  /// True while the slot is held.
  bool held() const { return slots_ != nullptr; }

private:
  std::shared_ptr<handshake_slots> slots_;
  std::string ip_;
};

/// Block bytes a peer delivered recently: those of the current window and
/// of the previous one (so a peer does not look useless the moment a
/// window starts).
class recent_bytes {
public:
  /// Length of a window.
  static constexpr std::chrono::minutes window{5};

  /// Counts `n` bytes delivered at `now`.
  void add(uint64_t n, admission_clock::time_point now);

  /// Bytes delivered in the current and the previous window at `now`.
  uint64_t total(admission_clock::time_point now) const;

private:
  void roll(admission_clock::time_point now);
  admission_clock::time_point start_{};
  uint64_t current_ = 0;
  uint64_t previous_ = 0;
};

/// What eviction looks at for one connected peer.
struct peer_usefulness {
  std::string id;
  /// Block requests from us in flight to it.
  size_t outstanding = 0;
  /// Block bytes it delivered to us recently (`recent_bytes`).
  uint64_t recent_bytes = 0;
  /// When it last delivered a block, or connected if it never did.
  admission_clock::time_point last_useful{};
  /// Its block wants we are serving: queued, being read, or their bytes
  /// still on the way (an upload in progress).
  size_t serving = 0;
};

/// The peer to drop so a newcomer can connect when `--max-peers` are: never
/// one with a request of ours in flight (a download in progress), nor one
/// we are serving (its download in progress: a seeder that dropped its
/// downloaders for newcomers would restart them all, over and over); of the
/// rest, the one that delivered the fewest block bytes recently, and of
/// those the one useful longest ago. Nullopt when every peer has requests
/// in flight or is being served: then the newcomer is refused.
std::optional<std::string>
choose_eviction(const std::vector<peer_usefulness>& peers);

/// Which of the providers a lookup found to dial, so that a download works
/// with a bounded set of peers (as a Bitswap session or a libtorrent torrent
/// does) instead of dialing every provider it is told of: `providers` are
/// the providers found that we are neither connected to nor dialing,
/// `connected` the number found that we are. Those connected count first
/// against `max_dials` (`--max-dials-per-lookup`); of the rest, a random
/// choice (`rng`), so that downloaders told of the same providers spread
/// over them instead of all dialing the first few. 0: dial every one.
template <class Rng>
std::vector<std::string> choose_dials(std::vector<std::string> providers,
                                      size_t connected, size_t max_dials,
                                      Rng& rng) {
  if (max_dials == 0)
    return providers;
  auto room = max_dials > connected ? max_dials - connected : 0;
  if (providers.size() > room) {
    std::shuffle(providers.begin(), providers.end(), rng);
    providers.resize(room);
  }
  return providers;
}

/// When to dial a lost peer again.
struct redial_policy {
  /// The first wait, doubled after every failed attempt up to `max_delay`.
  std::chrono::milliseconds first_delay{1000};
  std::chrono::milliseconds max_delay{300000};
  /// Each wait is shortened or lengthened by up to this fraction, at
  /// random: two nodes that lost each other do not dial at the same moment.
  double jitter = 0.2;
  /// Attempts in a row before the peer is given up (about an hour with the
  /// delays above).
  uint32_t max_attempts = 20;
  /// A session shorter than this does not start the waits over: a peer
  /// that keeps closing us (full, or evicting us for others) is dialed
  /// less and less often, not every `first_delay`.
  std::chrono::milliseconds stable_after{60000};
};

/// The peers this node dialed, and when to dial them again after their
/// session is lost: `first_delay` after the loss, doubling (with jitter)
/// after each failed attempt, given up after `max_attempts`. Only peers
/// that were connected once are redialed (a first dial that fails is the
/// caller's to retry), and only while wanted: `forget` drops a peer the
/// node closed on purpose. Owned by one actor; time comes from the caller.
class redial_backoff {
public:
  explicit redial_backoff(redial_policy policy = {}, uint64_t seed = 0)
    : policy_(policy), rng_(seed) {}

  /// Remembers that `peer` was dialed at `addrs`.
  void dialed(const std::string& peer, std::vector<std::string> addrs);

  /// A session with `peer` is up at `now`; attempts start over once it
  /// has lasted `stable_after`. No-op for a peer never dialed.
  void connected(const std::string& peer, admission_clock::time_point now);

  /// The session with `peer` ended, or a dial of it failed, at `now`: the
  /// wait until the next attempt; nullopt if the peer is not redialed (never
  /// dialed or connected, forgotten, or given up now). A loss while an
  /// attempt is already scheduled changes nothing; the loss of a session
  /// that lasted `stable_after` starts the waits over.
  std::optional<std::chrono::milliseconds>
  lost(const std::string& peer, admission_clock::time_point now);

  /// Stops redialing `peer`.
  void forget(const std::string& peer);

  /// The peers whose attempt is due at `now`, with their addresses; each is
  /// not due again before its next `lost`.
  std::vector<std::pair<std::string, std::vector<std::string>>>
  due(admission_clock::time_point now);

  /// Attempts made since `peer` was last connected (0: unknown peer).
  uint32_t attempts(const std::string& peer) const;

  /// Peers remembered.
  size_t size() const { return peers_.size(); }

  const redial_policy& policy() const { return policy_; }

private:
  struct entry {
    std::vector<std::string> addrs;
    bool was_connected = false;
    std::optional<admission_clock::time_point> up_since;
    uint32_t attempts = 0;
    std::optional<admission_clock::time_point> next;
  };
  redial_policy policy_;
  std::mt19937_64 rng_;
  std::map<std::string, entry> peers_;
};

} // namespace cairn::storage
