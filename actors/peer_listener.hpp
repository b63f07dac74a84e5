#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/io/typed_broker.hpp>

#include "actors/fd_budget.hpp"
#include "actors/instrumented.hpp"
#include "actors/peer_session.hpp"
#include "messages/interfaces.hpp"
#include "storage/peer_admission.hpp"

namespace cairn::actors {

/// State of the `peer_listener` actor.
struct peer_listener_state {
  static inline constexpr const char* name = "peer_listener";
  /// Handler counters, published for the inspector.
  std::shared_ptr<actor_stats> stats = std::make_shared<actor_stats>();
  session_config cfg;
  session_owner_actor owner;
  /// Connections accepted since start.
  uint64_t accepted = 0;
  /// When accepting pauses and resumes.
  fd_budget budget;
  /// The listening socket, and whether it is watched.
  caf::io::accept_handle listener;
  bool paused = false;
  /// Times accepting paused since start; the first one is logged as a
  /// warning, the others at debug level (an attack keeps the node at its
  /// limit, and the log must not grow with it).
  uint64_t pauses = 0;
  /// Descriptors open at the last count.
  size_t open = 0;
  /// Connections still in their handshake, shared with their sessions,
  /// which give their slot back when the handshake ends either way.
  std::shared_ptr<storage::handshake_slots> slots;
  /// The most handshakes pending at once since the heap was last trimmed,
  /// since when none is pending, and how many times the heap was trimmed.
  size_t burst_peak = 0;
  std::optional<std::chrono::steady_clock::time_point> quiet_since;
  uint64_t trims = 0;
  /// Accepted, refused, pending handshakes, pauses, whether paused,
  /// descriptors open, the budget, and heap trims.
  void gauges(std::vector<std::pair<std::string, double>>& out) const {
    out.emplace_back("accepted", accepted);
    out.emplace_back("heap_trims", trims);
    out.emplace_back("handshakes_pending", slots ? slots->pending() : 0);
    out.emplace_back("handshakes_refused", slots ? slots->refused() : 0);
    out.emplace_back("accept_pauses", pauses);
    out.emplace_back("accept_paused", paused ? 1 : 0);
    out.emplace_back("open_fds", open);
    out.emplace_back("fd_limit", fd_limit());
    out.emplace_back("pause_at", budget.pause_at);
  }
};

/// A bound listening socket and its port (resolved when 0 was asked for).
struct bound_listener {
  caf::io::doorman_ptr doorman;
  uint16_t port = 0;
};

/// Binds the peer listener's socket on `ip:port` (port 0 picks a free one).
/// Errors: `ec::unavailable` with the address and the system's reason.
caf::expected<bound_listener> bind_peer_listener(caf::actor_system& sys,
                                                 const std::string& ip,
                                                 uint16_t port);

/// Accepts peer connections on `listener`; each becomes a `peer_session`
/// (forked from this broker, so it runs on the middleman's I/O thread too)
/// that reports to `owner`. A connection over the `limits` on pending
/// handshakes (in all, or from its address) is closed at once, with a
/// debug line and a count in the gauges. When a burst of 32 or more
/// pending handshakes is over (none pending for the handshake timeout and
/// a second), it gives the heap's free pages back to the system
/// (`malloc_trim`): the sessions' memory is free, but glibc keeps it.
/// Counts the process's open
/// descriptors after
/// each connection and every `check_interval`: at `budget.pause_at` it stops
/// watching the listening socket (connections wait in the kernel's listen
/// queue; a warning is logged the first time), at `budget.resume_at` it
/// watches it again.
peer_listener_actor::behavior_type budgeted_peer_listener(
  peer_listener_actor::stateful_broker_pointer<peer_listener_state> self,
  caf::io::doorman_ptr listener, session_config cfg, session_owner_actor owner,
  fd_budget budget, std::chrono::milliseconds check_interval,
  storage::handshake_limits limits);

/// `budgeted_peer_listener` with the budget of the process's descriptor
/// limit and the default `--fd-reserve`, checked every 250 ms, and the
/// default caps on pending handshakes.
peer_listener_actor::behavior_type peer_listener(
  peer_listener_actor::stateful_broker_pointer<peer_listener_state> self,
  caf::io::doorman_ptr listener, session_config cfg, session_owner_actor owner);

/// Dials `host:port` and starts a `peer_session` on the connection. Blocks
/// the calling thread during the TCP connect: call it from a detached actor
/// or a non-scheduler thread. The session is the Noise initiator. Errors:
/// `ec::unavailable` (connect failed).
caf::expected<peer_session_actor> dial_peer(caf::actor_system& sys,
                                            const std::string& host,
                                            uint16_t port, session_config cfg,
                                            session_owner_actor owner);

} // namespace cairn::actors
