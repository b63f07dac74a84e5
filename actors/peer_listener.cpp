#include "actors/peer_listener.hpp"

#include <malloc.h>

#include <algorithm>

#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>
#include <spdlog/spdlog.h>

#include "config/options.hpp"
#include "messages/error.hpp"

namespace cairn::actors {

caf::expected<bound_listener> bind_peer_listener(caf::actor_system& sys,
                                                 const std::string& ip,
                                                 uint16_t port) {
  auto dm = sys.middleman().backend().new_tcp_doorman(port, ip.c_str(), true);
  if (!dm)
    return make_error(ec::unavailable,
                      "cannot listen for peers on " + ip + ":" +
                        std::to_string(port),
                      describe(dm.error()));
  auto bound = (*dm)->port();
  return bound_listener{std::move(*dm), bound};
}

namespace {

using listener_ptr =
  peer_listener_actor::stateful_broker_pointer<peer_listener_state>;

// Without a sender: the broker's own tick, queued when it quits, would
// otherwise hold the broker through the message's sender, and neither would
// ever be freed (LeakSanitizer at every node shutdown).
void schedule_tick(listener_ptr self, std::chrono::milliseconds after) {
  caf::delayed_anon_send(caf::actor_cast<peer_listener_actor>(self), after,
                         tick_atom::value);
}

// Pauses or resumes accepting by the number of open descriptors.
void check_budget(listener_ptr self) {
  auto& st = self->state;
  // Exact near the limit; elsewhere one count serves every node of the
  // process for 100 ms.
  auto margin = std::min<size_t>(st.budget.resume_at, 256);
  st.open = recent_open_fds(std::chrono::milliseconds{100},
                            st.budget.resume_at - margin);
  if (!st.paused && st.open >= st.budget.pause_at) {
    self->halt(st.listener);
    st.paused = true;
    if (st.pauses++ == 0)
      spdlog::warn("peer_listener: {} of {} file descriptors open: not "
                   "accepting peer connections until {} are (the rest is "
                   "kept for the API and the store; see --fd-reserve)",
                   st.open, fd_limit(), st.budget.resume_at);
    else
      spdlog::debug("peer_listener: {} descriptors open, accepting paused",
                    st.open);
  } else if (st.paused && st.open <= st.budget.resume_at) {
    self->trigger(st.listener);
    st.paused = false;
    spdlog::debug("peer_listener: {} descriptors open, accepting again",
                  st.open);
  }
}

// Pending handshakes that make a burst worth trimming after.
constexpr size_t trim_burst = 32;

// After a burst of connections that never completed their handshake (or
// did, and left), glibc keeps the memory they freed in its arenas (up to
// M_TRIM_THRESHOLD at each arena's top, and all of it below a chunk still
// in use): hand it back once the burst is over. Over means no handshake
// pending for longer than the handshake timeout, whose timers hold each
// closed session's actor until they fire; and a trim, which walks every
// arena under its lock, happens at most once per burst.
void trim_after_burst(listener_ptr self) {
  auto& st = self->state;
  auto pending = st.slots->pending();
  st.burst_peak = std::max(st.burst_peak, pending);
  auto now = std::chrono::steady_clock::now();
  if (pending > 0 || st.burst_peak < trim_burst) {
    st.quiet_since.reset();
    return;
  }
  if (!st.quiet_since)
    st.quiet_since = now;
  if (now - *st.quiet_since <
      st.cfg.handshake_timeout + std::chrono::seconds{1})
    return;
  auto peak = st.burst_peak;
  st.burst_peak = 0;
  st.quiet_since.reset();
  ++st.trims;
  bool released = ::malloc_trim(0) == 1;
  spdlog::debug("peer_listener: a burst of {} pending handshakes is over; "
                "heap trimmed{}",
                peak, released ? "" : " (nothing to give back)");
}

} // namespace

peer_listener_actor::behavior_type peer_listener(
  peer_listener_actor::stateful_broker_pointer<peer_listener_state> self,
  caf::io::doorman_ptr listener, session_config cfg,
  session_owner_actor owner) {
  return budgeted_peer_listener(
    self, std::move(listener), std::move(cfg), std::move(owner),
    make_fd_budget(fd_limit(), config::node_options{}.fd_reserve),
    std::chrono::milliseconds{250}, storage::handshake_limits{});
}

peer_listener_actor::behavior_type budgeted_peer_listener(
  peer_listener_actor::stateful_broker_pointer<peer_listener_state> self,
  caf::io::doorman_ptr listener, session_config cfg, session_owner_actor owner,
  fd_budget budget, std::chrono::milliseconds check_interval,
  storage::handshake_limits limits) {
  auto& st = self->state;
  st.slots = std::make_shared<storage::handshake_slots>(limits);
  st.cfg = std::move(cfg);
  st.owner = std::move(owner);
  st.budget = budget;
  st.listener = listener->hdl();
  self->add_doorman(std::move(listener));
  check_budget(self);
  schedule_tick(self, check_interval);
  return instrumented<peer_listener_actor::behavior_type>(
    self, self->state.stats,
    [self](const caf::io::new_connection_msg& msg) {
      auto& st = self->state;
      auto ip = self->remote_addr(msg.handle);
      if (auto refusal = st.slots->admit(ip)) {
        // Closed before a session exists: no buffers, no timer, no actor.
        spdlog::debug("peer_listener: refused a connection from {}: {}", ip,
                      *refusal);
        self->close(msg.handle);
        return;
      }
      ++st.accepted;
      auto cfg = st.cfg;
      cfg.handshake_slot =
        std::make_shared<storage::handshake_slot>(st.slots, std::move(ip));
      // An lvalue: CAF 0.17's fork forwards its arguments twice, so a
      // moved cfg would reach the session without its slot.
      self->fork(peer_session, msg.handle, cfg, st.owner);
      st.burst_peak = std::max(st.burst_peak, st.slots->pending());
      check_budget(self);
    },
    [self](update_atom, session_owner_actor owner) {
      self->state.owner = std::move(owner);
    },
    [self, check_interval](tick_atom) {
      check_budget(self);
      trim_after_burst(self);
      schedule_tick(self, check_interval);
    },
    [self](const caf::io::acceptor_closed_msg&) {
      spdlog::warn("peer_listener: listening socket closed");
      self->quit(make_error(ec::unavailable, "peer listener socket closed"));
    });
}

caf::expected<peer_session_actor> dial_peer(caf::actor_system& sys,
                                            const std::string& host,
                                            uint16_t port, session_config cfg,
                                            session_owner_actor owner) {
  cfg.initiator = true;
  auto s = sys.middleman().spawn_client(peer_session, host, port,
                                        std::move(cfg), std::move(owner));
  if (!s)
    return make_error(ec::unavailable,
                      "cannot connect to " + host + ":" + std::to_string(port),
                      describe(s.error()));
  return *s;
}

} // namespace cairn::actors
