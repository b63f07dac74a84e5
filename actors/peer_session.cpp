#include "actors/peer_session.hpp"

#include <algorithm>
#include <climits>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "messages/error.hpp"
#include "storage/delivery_check.hpp"

namespace cairn::actors {

namespace {

using peer_session_ptr =
  peer_session_actor::stateful_broker_pointer<peer_session_state>;

// Bytes asked from the socket per read while blocks flow: several blocks
// per read, fewer turns of the I/O loop.
constexpr size_t read_chunk = 256 * 1024;

// Bytes asked per read while no blocks flow: want lists, PINGs and
// presence fit. CAF sizes a connection's read buffer to its read policy
// (zero-filled, so every byte of it is resident) and keeps that capacity
// when the policy shrinks: at 256 KiB, 8600 mostly quiet connection ends
// in a 200-node simulation held over 2 GiB.
constexpr size_t narrow_read_chunk = 8 * 1024;

// A wide session reads narrowly again once no read filled its buffer for
// this long, or for the keep-alive interval if shorter (checked at each
// read and at each keep-alive check).
constexpr auto wide_read_linger = std::chrono::milliseconds{2000};

// Write buffers of a drained, idle socket larger than this are freed at
// the keep-alive check: a burst of blocks leaves CAF's two write buffers
// at the size of the backlog it held (up to the engine's 4 MiB per peer).
constexpr size_t idle_write_capacity = 64 * 1024;

// Sends `x` to the session itself after `after`, without a sender. A
// message whose sender is the session, pending when the session quits,
// holds the session's actor as its sender while the actor's mailbox holds
// the message: neither is ever freed (2.4 KiB per connection closed before
// its handshake timer fired).
template <class Duration, class... Atoms>
void send_later(peer_session_ptr self, Duration after, Atoms... xs) {
  caf::delayed_anon_send(caf::actor_cast<peer_session_actor>(self), after,
                         xs...);
}

// The read size of an established session: narrow until a read fills it,
// then wide while blocks flow. Under a download budget, reads of at most a
// burst keep the pauses short.
size_t established_read_chunk(const peer_session_state& st) {
  if (!st.wide_reads)
    return narrow_read_chunk;
  if (st.cfg.download_budget)
    return std::clamp<size_t>(st.cfg.download_budget->burst(), 16 * 1024,
                              read_chunk);
  return read_chunk;
}

// The owner hears how many bytes are still unsent once the socket has
// drained this much since it was last told, not after every write: each
// report wakes the engine, which only needs it to resume serving a peer it
// stopped at its own limit (4 MiB), and so learns it at most this late.
constexpr uint64_t sent_report_step = 1 << 20;

std::string who(peer_session_ptr self) {
  auto& st = self->state;
  return st.peer.empty() ? "peer (handshake)" : "peer " + st.peer.to_string();
}

// True once frames can go to the peer: after the preambles in clear, after
// the Noise handshake encrypted.
bool can_write_frames(peer_session_ptr self) {
  auto& st = self->state;
  if (st.cfg.insecure_transport)
    return st.phase != session_phase::awaiting_preamble;
  return st.tx.active();
}

// Counts a frame of `framed` bytes written, `buffered` of them into the
// socket's buffer (all, unless written straight to the socket).
void count_out(peer_session_ptr self, size_t framed, size_t buffered) {
  auto& st = self->state;
  if (buffered > 0)
    self->flush(st.hdl);
  st.last_out = std::chrono::steady_clock::now();
  st.bytes_out += framed;
  st.unsent += buffered;
  st.unsent_told += framed;
  ++st.frames_out;
}

void count_out(peer_session_ptr self, size_t framed) {
  count_out(self, framed, framed);
}

// Tells the owner the bytes unsent: the socket's and those the upload budget
// holds back, which its backpressure bounds too.
void tell_unsent(peer_session_ptr self) {
  auto& st = self->state;
  st.unsent_told = st.unsent;
  self->send(st.owner, sent_atom::value, st.peer.to_string(), st.unsent,
             st.block_bytes_taken);
}

// True once the owner should hear the bytes unsent: the socket drained a
// step since it was last told, or drained completely (the owner also
// bounds what all peers' sockets hold together, and must not wait for a
// step that never comes).
bool should_tell_unsent(const peer_session_state& st) {
  return st.unsent_told >= st.unsent + sent_report_step ||
         (st.unsent == 0 && st.unsent_told > 0);
}

// Bytes in the socket's write buffer; the rest of `unsent` is what the
// upload budget holds back and the backlog.
uint64_t socket_unsent(const peer_session_state& st) {
  return st.unsent - st.budget_held_bytes - st.backlog_bytes;
}

// Counts `n` block bytes as held back in the session (`held` is the counter
// of their queue, `budget_held_bytes` or `backlog_bytes`): unsent, and told
// to the owner as such; or, with `release_held`, handed on to be written.
void hold_bytes(peer_session_state& st, uint64_t& held, uint64_t n) {
  held += n;
  st.unsent += n;
  st.unsent_told += n;
}

void release_held(peer_session_state& st, uint64_t& held, uint64_t n) {
  held -= n;
  st.unsent -= n;
  st.unsent_told -= n;
}

// Appends `msg` as one frame to the socket's buffer, sealed in place once the
// channel is encrypted (the tag's room is reserved: no second copy).
caf::error append_message(peer_session_ptr self, const wire::message& msg) {
  auto& st = self->state;
  auto& buf = self->wr_buf(st.hdl);
  auto before = buf.size();
  bool sealed = st.tx.active();
  wire::append_frame(msg, buf, sealed ? noise::tag_size : 0);
  if (sealed) {
    auto n = buf.size() - before - wire::frame_header_size;
    buf.resize(buf.size() + noise::tag_size);
    auto* frame = reinterpret_cast<uint8_t*>(buf.data() + before);
    if (auto err = st.tx.seal(frame + wire::frame_header_size, n)) {
      buf.resize(before);
      return err;
    }
    wire::store_frame_length(frame, n + noise::tag_size);
  }
  count_out(self, buf.size() - before);
  return caf::none;
}

// The descriptor of the session's socket, or -1. CAF 0.17's default
// multiplexer names a connection by its descriptor; the peer's address must
// match what CAF reports, so that another multiplexer turns the direct
// writes off instead of writing to a descriptor that is not this socket.
int socket_of(peer_session_ptr self) {
  auto& st = self->state;
  auto fd = static_cast<int>(st.hdl.id());
  int type = 0;
  socklen_t type_len = sizeof(type);
  sockaddr_storage peer{};
  socklen_t peer_len = sizeof(peer);
  if (fd < 0 || st.hdl.id() > INT32_MAX ||
      ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 ||
      type != SOCK_STREAM ||
      ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0)
    return -1;
  uint16_t port = 0;
  if (peer.ss_family == AF_INET)
    port = ntohs(reinterpret_cast<sockaddr_in*>(&peer)->sin_port);
  else if (peer.ss_family == AF_INET6)
    port = ntohs(reinterpret_cast<sockaddr_in6*>(&peer)->sin6_port);
  return port != 0 && port == self->remote_port(st.hdl) ? fd : -1;
}

// Writes a block delivery's frame straight to the socket when none of the
// session's bytes wait in CAF's write buffers (so the order holds): from
// the blocks where they lie in clear, or sealed into one reused buffer
// encrypted. Only what the kernel does not take is copied into the write
// buffer. Returns false, having written nothing, where that does not apply
// (`err` is set if sealing failed).
bool write_direct(peer_session_ptr self, const wire::message& msg,
                  caf::error& err) {
  auto& st = self->state;
  if (st.direct_fd < 0 || !std::holds_alternative<wire::block_delivery>(msg) ||
      socket_unsent(st) > 0 || !self->wr_buf(st.hdl).empty())
    return false;
  // Brokers run on the middleman's one I/O thread: one of each per thread.
  thread_local wire::frame_pieces frame;
  thread_local std::vector<iovec> iov;
  thread_local std::vector<uint8_t> sealed;
  wire::gather_frame(msg, frame);
  iov.clear();
  if (st.tx.active()) {
    thread_local std::vector<byte_view> parts;
    parts.clear();
    for (size_t i = 0; i < frame.pieces.size(); ++i) {
      auto* p = reinterpret_cast<const uint8_t*>(frame.data(i));
      auto skip = i == 0 ? wire::frame_header_size : 0;
      parts.emplace_back(p + skip, frame.pieces[i].size - skip);
    }
    auto n = frame.size - wire::frame_header_size;
    sealed.resize(frame.size + noise::tag_size);
    wire::store_frame_length(sealed.data(), n + noise::tag_size);
    err = st.tx.seal(parts.data(), parts.size(),
                     sealed.data() + wire::frame_header_size);
    if (err)
      return true;
    iov.push_back({sealed.data(), sealed.size()});
  } else {
    if (frame.pieces.size() > IOV_MAX)
      return false;
    for (size_t i = 0; i < frame.pieces.size(); ++i)
      iov.push_back({const_cast<char*>(frame.data(i)), frame.pieces[i].size});
  }
  size_t total = 0;
  for (auto& v : iov)
    total += v.iov_len;
  msghdr mh{};
  mh.msg_iov = iov.data();
  mh.msg_iovlen = iov.size();
  auto n = ::sendmsg(st.direct_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
  // A full socket takes nothing now; on an error CAF's own write of the
  // rest finds it and closes the connection.
  size_t sent = n > 0 ? static_cast<size_t>(n) : 0;
  auto& buf = self->wr_buf(st.hdl);
  size_t at = 0;
  for (auto& v : iov) {
    auto* p = static_cast<const char*>(v.iov_base);
    if (at + v.iov_len > sent) {
      auto from = sent > at ? sent - at : 0;
      buf.insert(buf.end(), p + from, p + v.iov_len);
    }
    at += v.iov_len;
  }
  st.bytes_direct += sent;
  count_out(self, total, total - sent);
  // Written now: the owner, which counted the blocks as unsent, hears it
  // as it would from a drained socket.
  if (should_tell_unsent(st))
    tell_unsent(self);
  return true;
}

// Writes `msg` as one frame: straight to the socket where it can, else
// into the socket's buffer.
caf::error write_message(peer_session_ptr self, const wire::message& msg) {
  caf::error err;
  if (write_direct(self, msg, err))
    return err;
  return append_message(self, msg);
}

void close_session(peer_session_ptr self, caf::error reason,
                   bool tell_peer = true);

// Frames held for the link latency that fall due within this of each other
// leave in one wake-up.
constexpr auto held_slack = std::chrono::milliseconds{1};

// Holds `x` in `q` for the link latency, and arms the timer (a message of
// `timer...` to the session) if `q` was empty: whenever a delay queue holds
// something, one timer is pending for its head, not one per item.
template <class T, class... Atoms>
void hold_for_latency(peer_session_ptr self, wire::delay_queue<T>& q, T x,
                      Atoms... timer) {
  if (q.push(std::move(x), std::chrono::steady_clock::now()))
    send_later(self, q.delay(), timer...);
}

// The timer of `q` fired: hands every item that is due to `take` (which
// returns false once the session closed), then arms the timer for the next
// head, at least `held_slack` away. Nothing once the session is closing:
// what is held goes with it.
template <class T, class Take, class... Atoms>
void release_due(peer_session_ptr self, wire::delay_queue<T>& q, Take take,
                 Atoms... timer) {
  if (self->state.phase == session_phase::closing)
    return;
  auto now = std::chrono::steady_clock::now();
  while (auto x = q.pop_due(now, held_slack))
    if (!take(std::move(*x)))
      return;
  if (auto due = q.next_due())
    send_later(
      self,
      std::max<std::chrono::steady_clock::duration>(*due - now, held_slack),
      timer...);
}

// Frames held for the link latency beyond which a PING is not answered.
constexpr size_t pong_held_limit = 64;

// Bytes a want list held on arrival costs beyond its entries: its queue
// slot, the message and its receipt.
constexpr uint64_t held_want_list_cost = 256;

// Closes a session whose peer does not read what it is sent.
void check_unsent(peer_session_ptr self);

// The block bytes of `msg`: what the upload budget and
// the engine's backpressure count.
uint64_t block_bytes(const wire::block_delivery& bd) {
  uint64_t n = 0;
  for (auto& d : bd.blocks)
    n += d.data ? d.data->size() : 0;
  return n;
}

uint64_t block_bytes(const wire::message& msg) {
  auto* bd = std::get_if<wire::block_delivery>(&msg);
  return bd ? block_bytes(*bd) : 0;
}

// True if `msg` may go to the socket (or CAF's write buffer) now, before
// the backlog is considered: a block delivery only if nothing waits in that
// buffer; a message without blocks is small and is appended.
bool may_write_now(const peer_session_state& st, const wire::message& msg) {
  return socket_unsent(st) == 0 ||
         !std::holds_alternative<wire::block_delivery>(msg);
}

// True for the answers to a want list: blocks and presences. On a link
// with latency the want list was held as it arrived, so they go at once.
bool answers_want_list(const wire::message& msg) {
  return std::holds_alternative<wire::block_delivery>(msg) ||
         std::holds_alternative<wire::block_presence>(msg);
}

// Writes `msg` now if nothing waits in CAF's write buffer, else queues it
// in the backlog; or, on a link with latency and unless it answers a want
// list, once that has passed: held in order, with one timer pending for the
// head of the queue, not one per frame.
caf::error send_frame(peer_session_ptr self, wire::message msg) {
  auto& st = self->state;
  if (st.held.delay() == st.held.delay().zero() || answers_want_list(msg)) {
    if (st.backlog.empty() && may_write_now(st, msg))
      return write_message(self, msg);
    hold_bytes(st, st.backlog_bytes, block_bytes(msg));
    st.backlog.push_back(std::move(msg));
    return caf::none;
  }
  hold_for_latency(self, st.held, std::move(msg), flush_atom::value);
  return caf::none;
}

// Writes the backlog's frames while nothing waits in CAF's write buffer:
// the first that the kernel does not take whole leaves its rest there, and
// the next `data_transferred_msg` goes on.
void flush_backlog(peer_session_ptr self) {
  auto& st = self->state;
  while (!st.backlog.empty() && may_write_now(st, st.backlog.front()) &&
         st.phase == session_phase::established) {
    auto msg = std::move(st.backlog.front());
    st.backlog.pop_front();
    release_held(st, st.backlog_bytes, block_bytes(msg));
    if (auto err = write_message(self, msg)) {
      close_session(self, std::move(err), false);
      return;
    }
  }
}

// Writes the held frames that are due (want lists and PINGs: small, no
// blocks).
void flush_held(peer_session_ptr self) {
  release_due(
    self, self->state.held,
    [self](wire::message msg) {
      if (auto err = write_message(self, msg)) {
        close_session(self, std::move(err), false);
        return false;
      }
      return true;
    },
    flush_atom::value);
}

// Hands the want lists that are due to the owner.
void release_arrivals(peer_session_ptr self) {
  auto& st = self->state;
  release_due(
    self, st.arrivals,
    [self, &st](peer_session_state::arrival a) {
      self->send(st.owner, peer_msg_atom::value, st.peer.to_string(),
                 std::move(a.msg));
      return true;
    },
    flush_atom::value, wants_atom::value);
}

// Writes a Noise handshake message as one frame.
void write_handshake(peer_session_ptr self, const bytes& msg) {
  auto& buf = self->wr_buf(self->state.hdl);
  auto before = buf.size();
  buf.resize(before + wire::frame_header_size);
  wire::store_frame_length(reinterpret_cast<uint8_t*>(buf.data() + before),
                           msg.size());
  buf.insert(buf.end(), msg.begin(), msg.end());
  count_out(self, buf.size() - before);
}

// Ends the session: tells the peer why (best effort), the owner, and the log.
void close_session(peer_session_ptr self, caf::error reason, bool tell_peer) {
  auto& st = self->state;
  if (st.phase == session_phase::closing)
    return;
  bool was_up = st.phase == session_phase::established;
  bool can_tell = tell_peer && can_write_frames(self);
  st.phase = session_phase::closing;
  st.cfg.handshake_slot.reset();
  spdlog::info("peer_session: closing {}: {}", who(self), describe(reason));
  // Frames of the backlog are not sealed yet: dropped, they leave no gap
  // in the nonces before GOODBYE.
  st.unsent -= st.backlog_bytes;
  st.backlog_bytes = 0;
  st.backlog.clear();
  if (can_tell)
    (void)write_message(self, wire::goodbye{describe(reason)});
  self->close(st.hdl);
  // Before the peer's HELLO we only know whom we dialed; the owner's
  // pending connect for that ID must hear of the failure.
  auto id = st.peer.empty() ? st.cfg.expected_peer : st.peer.to_string();
  if (st.owner) {
    self->send(st.owner, peer_down_atom::value, id, was_up, describe(reason));
    // The monitor lives in the owner and holds this session's address: in
    // CAF 0.17 a weak reference keeps an actor's memory (2.4 KiB, state
    // destroyed) until the owner dies, and the owner is the engine.
    self->demonitor(st.owner.address());
  }
  self->quit(std::move(reason));
}

// -- the node's budgets (--max-upload-rate, --max-download-rate) -----------

using clock = std::chrono::steady_clock;

// A wake-up also releases what falls due this soon after it: the bytes are
// paid for already, so the rate holds, and one wake-up writes several
// deliveries (at 50 MB/s a limited seeder spent about twice the CPU per GiB
// with 1 ms). A timer that fires a hair early still finds its work.
constexpr auto wake_slack = std::chrono::milliseconds{5};

// Schedules a budget wake-up at `t` unless one at or before `t` is pending.
// It is a timeout_atom: the keep-alive check takes it for a stale timer.
void wake_at(peer_session_ptr self, clock::time_point t) {
  auto& st = self->state;
  if (st.wake_at && *st.wake_at <= t)
    return;
  st.wake_at = t;
  auto in = std::max(t - clock::now(), clock::duration::zero());
  send_later(self, in, timeout_atom::value);
}

// Writes `msg` now, or holds it back until the upload budget has its block
// bytes (and after any message held before it: order is kept).
caf::error send_or_hold(peer_session_ptr self, wire::message msg) {
  auto& st = self->state;
  auto n = block_bytes(msg);
  auto now = clock::now();
  auto due = now;
  if (st.cfg.upload_budget && n > 0)
    due += st.cfg.upload_budget->take(n, now);
  if (!st.budget_held.empty())
    due = std::max(due, st.budget_held.back().first);
  if (due <= now)
    return send_frame(self, std::move(msg));
  st.budget_held.emplace_back(due, std::move(msg));
  hold_bytes(st, st.budget_held_bytes, n);
  wake_at(self, due);
  return caf::none;
}

// Stops reading the socket, for the download budget or the gate. CAF's
// I/O loop reads a socket up to `middleman.max-consecutive-reads` (50)
// times per event and goes on after a `halt` in the handler of one: reads
// of a byte for the rest of the turn, not 50 x 256 KiB (12.5 MiB).
void pause_reading(peer_session_ptr self) {
  auto& st = self->state;
  if (st.read_halted)
    return;
  st.read_halted = true;
  self->configure_read(st.hdl, caf::io::receive_policy::at_most(1));
  self->halt(st.hdl);
}

// Reads the socket again once neither the download budget nor the gate
// holds it back.
void resume_reading(peer_session_ptr self) {
  auto& st = self->state;
  if (!st.read_halted || st.read_paused_until || st.inbound->paused())
    return;
  st.read_halted = false;
  // The silence while paused was ours, not the peer's.
  st.last_in = clock::now();
  self->configure_read(
    st.hdl, caf::io::receive_policy::at_most(established_read_chunk(st)));
  self->trigger(st.hdl);
}

// Widens the reads of a session whose read filled its buffer (blocks are
// flowing), narrows them once none did for `wide_read_linger`. A paused
// session keeps its 1-byte reads until it resumes.
void adapt_read_size(peer_session_ptr self, size_t n, clock::time_point now) {
  auto& st = self->state;
  if (st.phase != session_phase::established)
    return;
  bool full = n >= established_read_chunk(st);
  if (full)
    st.last_full_read = now;
  auto linger =
    std::min<clock::duration>(wide_read_linger, st.cfg.keepalive_interval);
  bool wide = full || (st.wide_reads && now - st.last_full_read < linger);
  if (wide == st.wide_reads)
    return;
  st.wide_reads = wide;
  if (!st.read_halted)
    self->configure_read(
      st.hdl, caf::io::receive_policy::at_most(established_read_chunk(st)));
}

// Frees the read buffer of a narrow session if it is still a wide one's:
// `buf` is CAF's own buffer, lent for the read, and CAF resizes what it
// gets back to the read size. Called at the end of a read's handler.
void release_read_buffer(const peer_session_state& st, std::vector<char>& buf) {
  if (!st.wide_reads && buf.capacity() > narrow_read_chunk)
    std::vector<char>{}.swap(buf);
}

// Frees the socket's write buffer once drained if a burst left it large.
// CAF writes from one buffer while this one fills, and swaps them at each
// write: the other is freed at a later check, after a PING went through.
void release_write_buffer(peer_session_ptr self) {
  auto& st = self->state;
  if (socket_unsent(st) > 0 || st.phase != session_phase::established)
    return;
  auto& buf = self->wr_buf(st.hdl);
  if (buf.empty() && buf.capacity() > idle_write_capacity)
    std::vector<char>{}.swap(buf);
}

// Charges `n` bytes read to the download budget, and stops reading the
// socket until the budget has them.
void charge_read(peer_session_ptr self, size_t n) {
  auto& st = self->state;
  if (!st.cfg.download_budget || st.phase != session_phase::established)
    return;
  auto now = clock::now();
  auto wait = st.cfg.download_budget->take(n, now);
  if (wait <= clock::duration::zero())
    return;
  pause_reading(self);
  // Reads already under way in this turn of the I/O loop still arrive; they
  // are charged too and push the resumption back.
  st.read_paused_until = now + wait;
  wake_at(self, now + wait);
}

// Writes the held messages whose time has come and resumes reading if its
// time has come; schedules the next wake-up. False once closing.
bool on_budget_wake(peer_session_ptr self) {
  auto& st = self->state;
  auto now = clock::now() + wake_slack;
  if (st.wake_at && *st.wake_at <= now)
    st.wake_at.reset();
  while (!st.budget_held.empty() && st.budget_held.front().first <= now) {
    auto msg = std::move(st.budget_held.front().second);
    st.budget_held.pop_front();
    release_held(st, st.budget_held_bytes, block_bytes(msg));
    if (auto err = send_frame(self, std::move(msg))) {
      close_session(self, std::move(err), false);
      return false;
    }
  }
  if (st.read_paused_until && *st.read_paused_until <= now)
    st.read_paused_until.reset();
  // Also the gate's wake-up (a timeout_atom too).
  resume_reading(self);
  if (!st.budget_held.empty())
    wake_at(self, st.budget_held.front().first);
  if (st.read_paused_until)
    wake_at(self, *st.read_paused_until);
  return true;
}

caf::error on_hello(peer_session_ptr self, wire::hello& h) {
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
    wire::auth_payload(st.peer_hello.nonce, st.nonce, st.cfg.key->public_key(),
                       st.channel_binding);
  st.phase = session_phase::awaiting_auth;
  return send_frame(self, wire::auth{st.cfg.key->sign(payload)});
}

// Arms the next keep-alive check. The handshake's timer uses the same
// message: one that comes before the check is due is not ours.
void schedule_keepalive(peer_session_ptr self) {
  auto& st = self->state;
  auto every = std::min(st.cfg.keepalive_interval, st.cfg.idle_timeout);
  st.next_check = std::chrono::steady_clock::now() + every;
  send_later(self, every, timeout_atom::value);
}

// Drops a peer silent for too long; PINGs a quiet link (its PONG is the
// peer being heard from).
void check_keepalive(peer_session_ptr self) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  if (now < st.next_check)
    return; // the handshake's timer, or a stale one
  if (now - st.last_in >= st.cfg.idle_timeout && !st.read_halted) {
    auto ms = st.cfg.idle_timeout.count();
    close_session(
      self, make_error(ec::peer_misbehaved,
                       "peer silent for " +
                         (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s"
                                         : std::to_string(ms) + " ms")));
    return;
  }
  adapt_read_size(self, 0, now);
  release_write_buffer(self);
  if (now - st.last_out >= st.cfg.keepalive_interval) {
    uint64_t nonce = 0;
    RAND_bytes(reinterpret_cast<unsigned char*>(&nonce), sizeof(nonce));
    if (auto err = send_frame(self, wire::ping{nonce})) {
      close_session(self, std::move(err), false);
      return;
    }
  }
  schedule_keepalive(self);
}

caf::error on_auth(peer_session_ptr self, const wire::auth& a) {
  auto& st = self->state;
  auto payload =
    wire::auth_payload(st.nonce, st.peer_hello.nonce, st.peer_hello.public_key,
                       st.channel_binding);
  if (!storage::node_key::verify(st.peer_hello.public_key, payload,
                                 a.signature))
    return make_error(ec::handshake_failed,
                      "bad handshake signature from " + st.peer.to_string());
  st.phase = session_phase::established;
  st.cfg.handshake_slot.reset();
  self->configure_read(
    st.hdl, caf::io::receive_policy::at_most(established_read_chunk(st)));
  st.reader.set_limit(wire::max_frame_size +
                      (st.rx.active() ? noise::tag_size : 0));
  spdlog::info("peer_session: established with {} ({})", st.peer.to_string(),
               st.rx.active() ? noise::protocol_name(noise::session_cipher)
                              : "plaintext, --insecure-transport");
  peer_info info{st.peer.to_string(), st.peer_hello.public_key,
                 st.peer_hello.addrs, peer_session_actor{self},
                 std::chrono::duration_cast<caf::timespan>(
                   std::chrono::steady_clock::now() - st.hello_sent)};
  self->send(st.owner, peer_up_atom::value, std::move(info));
  schedule_keepalive(self);
  return caf::none;
}

// Sends our HELLO, held for the link latency like every frame after it
// (the preamble and the Noise messages are not), so that the round trip
// from it to the peer's AUTH is the link's, simulated latency included.
void send_hello(peer_session_ptr self) {
  auto& st = self->state;
  st.phase = session_phase::awaiting_hello;
  st.hello_sent = std::chrono::steady_clock::now();
  (void)send_frame(self,
                   wire::hello{wire::protocol_version, st.cfg.key->public_key(),
                               st.cfg.listen_addrs, st.nonce});
}

wire::transport_mode own_mode(peer_session_ptr self) {
  return self->state.cfg.insecure_transport ? wire::transport_mode::plaintext
                                            : wire::transport_mode::noise;
}

// Both preambles are in: agree on the mode, then start the handshake.
caf::error on_preamble(peer_session_ptr self) {
  auto& st = self->state;
  if (auto err = wire::check_preamble(st.peer_preamble, own_mode(self)))
    return err;
  if (st.cfg.insecure_transport) {
    send_hello(self);
    return caf::none;
  }
  // The preamble is the Noise prologue: both ends hash the same bytes.
  auto prologue = wire::preamble(own_mode(self));
  st.handshake = std::make_unique<noise::handshake_state>(
    st.cfg.initiator, noise::session_cipher,
    byte_view{prologue.data(), prologue.size()});
  st.phase = session_phase::noise_handshake;
  if (st.cfg.initiator) {
    auto m1 = st.handshake->write_message(byte_view{});
    if (!m1)
      return make_error(ec::handshake_failed, "noise", describe(m1.error()));
    write_handshake(self, *m1);
  }
  return caf::none;
}

// One Noise handshake message from the peer (NN: `-> e`, `<- e, ee`).
caf::error on_noise_message(peer_session_ptr self, const bytes& frame) {
  auto& st = self->state;
  auto payload = st.handshake->read_message(byte_view{frame});
  if (!payload)
    return make_error(ec::handshake_failed, "noise handshake",
                      describe(payload.error()));
  if (!payload->empty())
    return make_error(ec::handshake_failed,
                      "noise handshake message with a payload");
  if (!st.handshake->done()) {
    auto m2 = st.handshake->write_message(byte_view{});
    if (!m2)
      return make_error(ec::handshake_failed, "noise", describe(m2.error()));
    write_handshake(self, *m2);
  }
  auto keys = st.handshake->finish();
  st.handshake.reset();
  st.tx = noise::transport_cipher{std::move(keys.send), st.cfg.rekey};
  st.rx = noise::transport_cipher{std::move(keys.recv), st.cfg.rekey};
  st.channel_binding = keys.handshake_hash;
  send_hello(self);
  return caf::none;
}

// Hands the blocks gathered in this read to the owner, in one message.
void forward_arrived(peer_session_ptr self) {
  auto& st = self->state;
  if (st.arrived.blocks.empty())
    return;
  // The receipt goes with the message: the owner drops it once handled.
  st.arrived.receipt =
    storage::inbound_gate::receipt(st.inbound, block_bytes(st.arrived));
  wire::message msg{std::move(st.arrived)};
  st.arrived.blocks.clear();
  st.arrived.receipt.reset();
  self->send(st.owner, peer_msg_atom::value, st.peer.to_string(),
             std::move(msg));
}

// Handles one decoded message; an error closes the session.
caf::error on_message(peer_session_ptr self, wire::message msg) {
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
      // Answered only while nothing of ours waits for the peer to read it
      // (in the socket or the backlog; or held for the link latency,
      // beyond a few frames): the peer hears from us when it reads those
      // bytes, and a peer that floods PINGs and reads nothing cannot pile
      // PONGs up in our buffers. Blocks the upload rate holds back do not
      // count: they may wait longer than the peer's idle timeout.
      if (socket_unsent(st) > 0 || !st.backlog.empty() ||
          st.held.size() >= pong_held_limit)
        return caf::none;
      return send_frame(self, wire::pong{p->nonce});
    }
    if (std::holds_alternative<wire::pong>(msg))
      return caf::none; // keep-alive: being heard from was the point
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
    if (std::holds_alternative<wire::want_list>(msg) &&
        st.arrivals.delay() != st.arrivals.delay().zero()) {
      // Held as it arrives for the link latency that the answers skip.
      // What it holds in memory counts as handed on, unhandled: its entries
      // and the list itself (an empty list too), so that a flood of small
      // lists pauses reading like a flood of blocks.
      auto n =
        held_want_list_cost + sizeof(wire::want_entry) *
                                std::get<wire::want_list>(msg).entries.size();
      auto receipt = storage::inbound_gate::receipt(st.inbound, n);
      hold_for_latency(
        self, st.arrivals,
        peer_session_state::arrival{std::move(msg), std::move(receipt)},
        flush_atom::value, wants_atom::value);
      return caf::none;
    }
    forward_arrived(self);
    self->send(st.owner, peer_msg_atom::value, st.peer.to_string(),
               std::move(msg));
    return caf::none;
  case session_phase::awaiting_preamble:
  case session_phase::noise_handshake:
  case session_phase::closing:
    return caf::none;
  }
  return caf::none;
}

// Feeds `n` bytes to the frame reader and handles every frame that
// completes; false once the session is closing.
bool feed_and_handle(peer_session_ptr self, const uint8_t* data, size_t n) {
  auto& st = self->state;
  if (auto err = st.reader.feed(data, n)) {
    close_session(self, std::move(err));
    return false;
  }
  while (auto payload = st.reader.next()) {
    ++st.frames_in;
    caf::error err;
    if (st.phase == session_phase::noise_handshake) {
      err = on_noise_message(self, *payload);
    } else {
      if (st.rx.active()) {
        // Opened where the reader assembled it: no copy.
        err = st.rx.open(payload->data(), payload->size());
        if (!err)
          payload->resize(payload->size() - noise::tag_size);
      }
      if (!err) {
        auto decoded = wire::decode(*payload);
        err = decoded ? on_message(self, std::move(*decoded))
                      : std::move(decoded.error());
      }
    }
    if (err) {
      close_session(self, std::move(err));
      return false;
    }
    if (st.phase == session_phase::closing)
      return false;
  }
  return true;
}

void check_unsent(peer_session_ptr self) {
  auto& st = self->state;
  if (st.phase != session_phase::closing && st.unsent > st.cfg.max_unsent_bytes)
    close_session(self,
                  make_error(ec::peer_misbehaved,
                             "peer too slow: " + std::to_string(st.unsent) +
                               " bytes unsent"));
}

} // namespace

peer_session_actor::behavior_type peer_session(
  peer_session_actor::stateful_broker_pointer<peer_session_state> self,
  caf::io::connection_handle hdl, session_config cfg,
  session_owner_actor owner) {
  auto& st = self->state;
  st.hdl = hdl;
  st.direct_fd = socket_of(self);
  st.cfg = std::move(cfg);
  st.owner = std::move(owner);
  st.held = wire::delay_queue<wire::message>{st.cfg.link_latency};
  st.arrivals =
    wire::delay_queue<peer_session_state::arrival>{st.cfg.link_latency};
  // The gate may wake a session that has quit: a weak reference.
  st.inbound = std::make_shared<storage::inbound_gate>(
    st.cfg.max_unhandled_bytes, [weak = self->address()] {
      if (auto strong = caf::actor_cast<caf::strong_actor_ptr>(weak))
        caf::anon_send(caf::actor_cast<peer_session_actor>(strong),
                       timeout_atom::value);
    });
  RAND_bytes(st.nonce.data(), static_cast<int>(st.nonce.size()));
  // CAF sizes a connection's read buffer to its receive policy: until the
  // handshake completes, a peer that may never complete it gets one
  // handshake frame's worth, not an established session's 256 KiB.
  self->configure_read(
    hdl, caf::io::receive_policy::at_most(wire::max_handshake_frame_size));
  self->ack_writes(hdl, true);
  st.reader.set_limit(wire::max_handshake_frame_size);
  // Nothing else until the peer's preamble is in: a peer of the other mode
  // is told apart before either side sends a frame it cannot read.
  auto pre = wire::preamble(own_mode(self));
  auto& buf = self->wr_buf(hdl);
  buf.insert(buf.end(), pre.begin(), pre.end());
  self->flush(hdl);
  st.bytes_out += pre.size();
  // The HELLO and AUTH are held for the link latency at both ends.
  send_later(self, st.cfg.handshake_timeout + 2 * st.cfg.link_latency,
             timeout_atom::value);
  // A session outlives no owner: after an engine restart its peers
  // reconnect to the new one.
  self->monitor(st.owner);
  self->set_down_handler([self](caf::down_msg& dm) {
    if (dm.source == self->state.owner.address())
      close_session(self, make_error(ec::unavailable, "engine stopped"));
  });
  return instrumented<peer_session_actor::behavior_type>(
    self, self->state.stats,
    [self](caf::io::new_data_msg& msg) {
      auto& st = self->state;
      if (st.phase == session_phase::closing)
        return;
      st.bytes_in += msg.buf.size();
      st.last_in = std::chrono::steady_clock::now();
      st.read_capacity = msg.buf.capacity();
      adapt_read_size(self, msg.buf.size(), st.last_in);
      auto* data = reinterpret_cast<const uint8_t*>(msg.buf.data());
      auto n = msg.buf.size();
      if (st.phase == session_phase::awaiting_preamble) {
        auto k = std::min(n, wire::preamble_size - st.preamble_len);
        std::copy(data, data + k, st.peer_preamble.begin() + st.preamble_len);
        st.preamble_len += k;
        data += k;
        n -= k;
        if (st.preamble_len < wire::preamble_size)
          return;
        if (auto err = on_preamble(self)) {
          close_session(self, std::move(err));
          return;
        }
      }
      // Until the peer's AUTH is verified, frames are fed one byte at a
      // time (a few KiB in all): the frames after its AUTH, which may come in
      // the same read, are then checked against the full limit, not the
      // handshake's.
      while (n > 0 && st.phase != session_phase::established) {
        if (!feed_and_handle(self, data, 1))
          return;
        ++data;
        --n;
      }
      if (n > 0 && !feed_and_handle(self, data, n))
        return;
      forward_arrived(self);
      if (st.inbound->full())
        pause_reading(self);
      charge_read(self, msg.buf.size());
      release_read_buffer(st, msg.buf);
    },
    [self](const caf::io::data_transferred_msg& msg) {
      auto& st = self->state;
      st.unsent = msg.remaining + st.budget_held_bytes + st.backlog_bytes;
      flush_backlog(self);
      if (st.phase == session_phase::established && should_tell_unsent(st))
        tell_unsent(self);
    },
    [self](const caf::io::connection_closed_msg&) {
      close_session(
        self, make_error(ec::unavailable, "connection closed by the peer"),
        false);
    },
    [self](send_atom, wire::message& msg) {
      auto& st = self->state;
      st.block_bytes_taken += block_bytes(msg);
      if (st.phase != session_phase::established)
        return;
      if (auto err = send_or_hold(self, std::move(msg))) {
        close_session(self, std::move(err), false);
        return;
      }
      check_unsent(self);
    },
    [self](flush_atom) { flush_held(self); },
    [self](flush_atom, wants_atom) { release_arrivals(self); },
    [self](close_atom, std::string& reason) {
      close_session(self, make_error(ec::shutting_down, std::move(reason)));
    },
    [self](timeout_atom) {
      auto phase = self->state.phase;
      if (phase == session_phase::established) {
        if (on_budget_wake(self))
          check_keepalive(self);
      } else if (phase != session_phase::closing)
        close_session(self,
                      make_error(ec::handshake_failed, "handshake timed out"));
    });
}

} // namespace cairn::actors
