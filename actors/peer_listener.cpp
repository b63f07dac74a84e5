#include "actors/peer_listener.hpp"

#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>
#include <spdlog/spdlog.h>

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

peer_listener_actor::behavior_type peer_listener(
  peer_listener_actor::stateful_broker_pointer<peer_listener_state> self,
  caf::io::doorman_ptr listener, session_config cfg,
  session_owner_actor owner) {
  self->state.cfg = std::move(cfg);
  self->state.owner = std::move(owner);
  self->add_doorman(std::move(listener));
  return instrumented<peer_listener_actor::behavior_type>(
    self, self->state.stats,
    [self](const caf::io::new_connection_msg& msg) {
      auto& st = self->state;
      ++st.accepted;
      self->fork(peer_session, msg.handle, st.cfg, st.owner);
    },
    [self](update_atom, session_owner_actor owner) {
      self->state.owner = std::move(owner);
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
