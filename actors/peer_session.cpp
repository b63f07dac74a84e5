#include "actors/peer_session.hpp"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "messages/error.hpp"
#include "storage/delivery_check.hpp"

namespace cairn::actors {

namespace {

using self_ptr =
  peer_session_actor::stateful_broker_pointer<peer_session_state>;

// Bytes asked from the socket per read: several blocks per read, fewer
// turns of the I/O loop.
constexpr size_t read_chunk = 256 * 1024;

std::string who(self_ptr self) {
  auto& st = self->state;
  return st.peer.empty() ? "peer (handshake)" : "peer " + st.peer.to_string();
}

void write_message(self_ptr self, const wire::message& msg) {
  auto& st = self->state;
  auto& buf = self->wr_buf(st.hdl);
  auto before = buf.size();
  wire::append_frame(msg, buf);
  auto framed = buf.size() - before;
  self->flush(st.hdl);
  st.bytes_out += framed;
  st.unsent += framed;
  ++st.frames_out;
}

// Ends the session: tells the peer why (best effort), the owner, and the log.
void close_session(self_ptr self, caf::error reason, bool tell_peer = true) {
  auto& st = self->state;
  if (st.phase == session_phase::closing)
    return;
  bool was_up = st.phase == session_phase::established;
  st.phase = session_phase::closing;
  spdlog::info("peer_session: closing {}: {}", who(self), describe(reason));
  if (tell_peer) {
    write_message(self, wire::goodbye{describe(reason)});
  }
  self->close(st.hdl);
  // Before the peer's HELLO we only know whom we dialed; the owner's
  // pending connect for that ID must hear of the failure.
  auto id = st.peer.empty() ? st.cfg.expected_peer : st.peer.to_string();
  if (st.owner)
    self->send(st.owner, peer_down_atom::value, id, was_up, describe(reason));
  self->quit(std::move(reason));
}

caf::error on_hello(self_ptr self, wire::hello& h) {
  auto& st = self->state;
  if (h.version != wire::protocol_version)
    return make_error(ec::handshake_failed,
                      "protocol version " + std::to_string(h.version) +
                        ", expected " + std::to_string(wire::protocol_version));
  if (h.public_key == st.cfg.key->public_key())
    return make_error(ec::handshake_failed, "connected to ourselves");
  auto id = peer_id::from_ed25519(h.public_key);
  if (!st.cfg.expected_peer.empty() && id.to_string() != st.cfg.expected_peer)
    return make_error(ec::handshake_failed, "peer is " + id.to_string() +
                                              ", dialed " +
                                              st.cfg.expected_peer);
  st.peer = id;
  st.peer_hello = std::move(h);
  auto payload =
    wire::auth_payload(st.peer_hello.nonce, st.nonce, st.cfg.key->public_key());
  write_message(self, wire::auth{st.cfg.key->sign(payload)});
  st.phase = session_phase::awaiting_auth;
  return caf::none;
}

caf::error on_auth(self_ptr self, const wire::auth& a) {
  auto& st = self->state;
  auto payload =
    wire::auth_payload(st.nonce, st.peer_hello.nonce, st.peer_hello.public_key);
  if (!storage::node_key::verify(st.peer_hello.public_key, payload,
                                 a.signature))
    return make_error(ec::handshake_failed,
                      "bad handshake signature from " + st.peer.to_string());
  st.phase = session_phase::established;
  spdlog::info("peer_session: established with {}", st.peer.to_string());
  peer_info info{st.peer.to_string(), st.peer_hello.public_key,
                 st.peer_hello.addrs, peer_session_actor{self}};
  self->send(st.owner, peer_up_atom::value, std::move(info));
  return caf::none;
}

// Hands the blocks gathered in this read to the owner, in one message.
void forward_arrived(self_ptr self) {
  auto& st = self->state;
  if (st.arrived.blocks.empty())
    return;
  wire::message msg{std::move(st.arrived)};
  st.arrived.blocks.clear();
  self->send(st.owner, peer_msg_atom::value, st.peer.to_string(),
             std::move(msg));
}

// Handles one decoded message; an error closes the session.
caf::error on_message(self_ptr self, wire::message msg) {
  auto& st = self->state;
  if (auto* g = std::get_if<wire::goodbye>(&msg)) {
    spdlog::info("peer_session: {} said goodbye: {}", who(self), g->reason);
    close_session(self, make_error(ec::unavailable, "peer left: " + g->reason),
                  false);
    return caf::none;
  }
  switch (st.phase) {
  case session_phase::awaiting_hello:
    if (auto* h = std::get_if<wire::hello>(&msg))
      return on_hello(self, *h);
    return make_error(ec::protocol_error,
                      wire::type_name(msg) + " before HELLO");
  case session_phase::awaiting_auth:
    if (auto* a = std::get_if<wire::auth>(&msg))
      return on_auth(self, *a);
    return make_error(ec::protocol_error,
                      wire::type_name(msg) + " before AUTH");
  case session_phase::established:
    if (std::holds_alternative<wire::hello>(msg) ||
        std::holds_alternative<wire::auth>(msg))
      return make_error(ec::protocol_error, "repeated " + wire::type_name(msg));
    if (auto* p = std::get_if<wire::ping>(&msg)) {
      write_message(self, wire::pong{p->nonce});
      return caf::none;
    }
    if (auto* bd = std::get_if<wire::block_delivery>(&msg)) {
      // Hashed here, off the engine; a block that fails goes on unmarked
      // and the engine rejects it (and penalises the peer).
      for (auto& d : bd->blocks) {
        if (auto digest = storage::check_delivery(d))
          d.verified = *digest;
        st.arrived.blocks.push_back(std::move(d));
      }
      return caf::none;
    }
    forward_arrived(self);
    self->send(st.owner, peer_msg_atom::value, st.peer.to_string(),
               std::move(msg));
    return caf::none;
  case session_phase::closing:
    return caf::none;
  }
  return caf::none;
}

} // namespace

peer_session_actor::behavior_type peer_session(
  peer_session_actor::stateful_broker_pointer<peer_session_state> self,
  caf::io::connection_handle hdl, session_config cfg,
  session_owner_actor owner) {
  auto& st = self->state;
  st.hdl = hdl;
  st.cfg = std::move(cfg);
  st.owner = std::move(owner);
  RAND_bytes(st.nonce.data(), static_cast<int>(st.nonce.size()));
  self->configure_read(hdl, caf::io::receive_policy::at_most(read_chunk));
  self->ack_writes(hdl, true);
  write_message(self,
                wire::hello{wire::protocol_version, st.cfg.key->public_key(),
                            st.cfg.listen_addrs, st.nonce});
  self->delayed_send(self, st.cfg.handshake_timeout, timeout_atom::value);
  // A session outlives no owner: after an engine restart its peers
  // reconnect to the new one.
  self->monitor(st.owner);
  self->set_down_handler([self](caf::down_msg& dm) {
    if (dm.source == self->state.owner.address())
      close_session(self, make_error(ec::unavailable, "engine stopped"));
  });
  return instrumented<peer_session_actor::behavior_type>(
    self, self->state.stats,
    [self](const caf::io::new_data_msg& msg) {
      auto& st = self->state;
      if (st.phase == session_phase::closing)
        return;
      st.bytes_in += msg.buf.size();
      if (auto err = st.reader.feed(
            reinterpret_cast<const uint8_t*>(msg.buf.data()), msg.buf.size())) {
        close_session(self, std::move(err));
        return;
      }
      while (auto payload = st.reader.next()) {
        ++st.frames_in;
        auto decoded = wire::decode(*payload);
        if (!decoded) {
          close_session(self, std::move(decoded.error()));
          return;
        }
        if (auto err = on_message(self, std::move(*decoded))) {
          close_session(self, std::move(err));
          return;
        }
        if (st.phase == session_phase::closing)
          return;
      }
      forward_arrived(self);
    },
    [self](const caf::io::data_transferred_msg& msg) {
      auto& st = self->state;
      st.unsent = msg.remaining;
      if (st.phase == session_phase::established)
        self->send(st.owner, sent_atom::value, st.peer.to_string(),
                   msg.remaining);
    },
    [self](const caf::io::connection_closed_msg&) {
      close_session(
        self, make_error(ec::unavailable, "connection closed by the peer"),
        false);
    },
    [self](send_atom, wire::message& msg) {
      auto& st = self->state;
      if (st.phase != session_phase::established)
        return;
      write_message(self, msg);
      if (st.unsent > st.cfg.max_unsent_bytes)
        close_session(self,
                      make_error(ec::peer_misbehaved,
                                 "peer too slow: " + std::to_string(st.unsent) +
                                   " bytes unsent"));
    },
    [self](close_atom, std::string& reason) {
      close_session(self, make_error(ec::shutting_down, std::move(reason)));
    },
    [self](timeout_atom) {
      if (self->state.phase == session_phase::awaiting_hello ||
          self->state.phase == session_phase::awaiting_auth)
        close_session(self,
                      make_error(ec::handshake_failed, "handshake timed out"));
    });
}

} // namespace cairn::actors
