#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/io/typed_broker.hpp>

#include "actors/instrumented.hpp"
#include "messages/interfaces.hpp"
#include "messages/noise.hpp"
#include "messages/peer_id.hpp"
#include "messages/wire/delay_queue.hpp"
#include "messages/wire/frame.hpp"
#include "messages/wire/messages.hpp"
#include "storage/inbound_gate.hpp"
#include "storage/node_key.hpp"
#include "storage/peer_admission.hpp"
#include "storage/token_bucket.hpp"

namespace cairn::actors {

/// What a session needs to know about its own node.
struct session_config {
  /// The node's key: signs the handshake.
  std::shared_ptr<const storage::node_key> key;
  /// Addresses the node listens on, told to the peer in HELLO.
  std::vector<std::string> listen_addrs;
  /// When dialing a known peer: the ID it must prove; empty to accept any.
  std::string expected_peer;
  /// True on the side that dialed: the Noise initiator.
  bool initiator = false;
  /// Frames in clear (`--insecure-transport`); the peer must agree.
  bool insecure_transport = false;
  /// When each direction of the encrypted channel rekeys.
  noise::rekey_limits rekey;
  /// The handshake must complete within this time.
  std::chrono::milliseconds handshake_timeout{10000};
  /// Unsent bytes above this close the session ("peer too slow"): a peer
  /// that does not read cannot make the node buffer without bound. Above
  /// what a Cairn downloader keeps requested of one peer
  /// (`peer_scheduler::max_depth` blocks, 96 MiB) plus the engine's own
  /// per-peer unsent bytes, so that a long link full of requested blocks
  /// is not "too slow".
  size_t max_unsent_bytes = size_t{128} << 20;
  /// Once established, a PING goes out after this long without sending,
  /// and a peer heard nothing from for `idle_timeout` (not even the PONG)
  /// is dropped: a silent peer holds no session, descriptor or peer slot.
  std::chrono::milliseconds keepalive_interval{15000};
  std::chrono::milliseconds idle_timeout{60000};
  /// The node's budgets for block bytes sent and bytes read, shared by all
  /// its sessions (`--max-upload-rate`, `--max-download-rate`); null for no
  /// limit.
  std::shared_ptr<storage::token_bucket> upload_budget;
  std::shared_ptr<storage::token_bucket> download_budget;
  /// An accepted session's place among the listener's pending handshakes,
  /// given back when the handshake completes or the session ends. Null
  /// for dialed sessions.
  std::shared_ptr<storage::handshake_slot> handshake_slot;
  /// Bytes read from the peer and handed to the owner that the owner has
  /// not handled yet: over this, the session reads no more until the owner
  /// has caught up to half of it (TCP pushes back on the peer meanwhile).
  /// With what the read that crosses it completes and the frame being
  /// assembled (each at most `wire::max_frame_size`), what one peer can
  /// make the node hold in memory.
  size_t max_unhandled_bytes = size_t{8} << 20;
  /// Simulated one-way link latency (`--link-latency`), 0 for none. From
  /// the HELLO on, every frame sent is held this long first, except the
  /// answers to want lists (blocks and presences): the want lists are held
  /// this long as they arrive instead. An answer then reaches the peer at
  /// the same time as if it had been held, but the node holds requests,
  /// not the blocks that answer them. Nothing comes early: the engine sends
  /// blocks and presences only to answer a want it has, as it serves it.
  std::chrono::microseconds link_latency{0};
};

/// Where a session is in its life.
enum class session_phase : uint8_t {
  awaiting_preamble,
  noise_handshake,
  awaiting_hello,
  awaiting_auth,
  established,
  closing
};

/// State of one `peer_session`: one TCP connection to one peer.
struct peer_session_state {
  static inline constexpr const char* name = "peer_session";
  /// Handler counters, published for the inspector.
  std::shared_ptr<actor_stats> stats = std::make_shared<actor_stats>();
  caf::io::connection_handle hdl;
  session_config cfg;
  session_owner_actor owner;
  session_phase phase = session_phase::awaiting_preamble;
  /// The peer's preamble, as far as it arrived.
  wire::preamble_bytes peer_preamble{};
  size_t preamble_len = 0;
  /// During `noise_handshake` only.
  std::unique_ptr<noise::handshake_state> handshake;
  /// The encrypted channel, once the Noise handshake is done.
  noise::transport_cipher tx;
  noise::transport_cipher rx;
  /// The Noise handshake hash both AUTHs sign (zeros in plaintext mode).
  std::array<uint8_t, 32> channel_binding{};
  wire::frame_reader reader;
  /// Blocks received in the current read, checked, not yet forwarded: one
  /// message to the owner per read, not per frame.
  wire::block_delivery arrived;
  std::array<uint8_t, 32> nonce{};
  /// When our HELLO was sent (before the link latency held it): the peer
  /// answers it with its AUTH, one round trip later (`peer_info`).
  std::chrono::steady_clock::time_point hello_sent{};
  wire::hello peer_hello;
  peer_id peer;
  /// Traffic counters (payload + framing).
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  /// The socket's descriptor, for block deliveries written straight to it
  /// (see `write_direct` in peer_session.cpp), or -1.
  int direct_fd = -1;
  /// Of `bytes_out`, those written straight to the socket.
  uint64_t bytes_direct = 0;
  /// Bytes handed to the socket's buffer and not yet written, and those
  /// held in `budget_held` and `backlog`.
  uint64_t unsent = 0;
  /// Frames to write, in order, while bytes wait in CAF's write buffer:
  /// they go once it has drained, straight to the socket where they can.
  /// CAF's buffer then holds at most the rest of one frame, not the whole
  /// queue (a copy of it, in buffers that keep their peak size).
  std::deque<wire::message> backlog;
  /// Block bytes of `backlog` (counted in `unsent`: the engine's
  /// backpressure bounds them).
  uint64_t backlog_bytes = 0;
  /// Block bytes of every message to send taken from the mailbox (told to
  /// the owner, which counts those it sent and the session has not taken
  /// as queued too).
  uint64_t block_bytes_taken = 0;
  /// What the owner was last told is unsent, plus what was queued since:
  /// never less than what the owner believes.
  uint64_t unsent_told = 0;
  /// Keep-alive: when the peer was last heard from and last written to,
  /// and when the next check is due (an earlier timer is a stale one).
  std::chrono::steady_clock::time_point last_in{};
  std::chrono::steady_clock::time_point last_out{};
  std::chrono::steady_clock::time_point next_check{};
  /// Messages the upload budget holds back, each with the time it may be
  /// written, in order (a message behind a held one waits with it).
  std::deque<std::pair<std::chrono::steady_clock::time_point, wire::message>>
    budget_held;
  /// Bytes of `budget_held` (counted in `unsent`: the engine's backpressure
  /// bounds them).
  uint64_t budget_held_bytes = 0;
  /// Reading is paused until then (the download budget).
  std::optional<std::chrono::steady_clock::time_point> read_paused_until;
  /// What the owner has yet to handle of what this session handed it;
  /// reading is paused while `inbound->paused()`.
  std::shared_ptr<storage::inbound_gate> inbound;
  /// The socket is not read (`halt`) for the download budget or the gate.
  bool read_halted = false;
  /// Reads are wide (blocks flow) or narrow (a quiet link), and when a read
  /// last filled its buffer.
  bool wide_reads = false;
  std::chrono::steady_clock::time_point last_full_read{};
  /// Capacity of CAF's read buffer as the last read arrived in it.
  size_t read_capacity = 0;
  /// The earliest budget wake-up scheduled, if any.
  std::optional<std::chrono::steady_clock::time_point> wake_at;
  /// Frames sent that are held for `cfg.link_latency` (every one but the
  /// answers to want lists); a `flush_atom` for the head is pending
  /// whenever it is not empty.
  wire::delay_queue<wire::message> held;
  /// Want lists received, held for `cfg.link_latency` before the owner
  /// has them, each with its receipt on `inbound` (they count as
  /// unhandled); a `(flush_atom, wants_atom)` for the head is pending
  /// whenever it is not empty.
  struct arrival {
    wire::message msg;
    std::shared_ptr<const void> receipt;
  };
  wire::delay_queue<arrival> arrivals;

  void gauges(std::vector<std::pair<std::string, double>>& out) const {
    out.emplace_back("bytes_in", static_cast<double>(bytes_in));
    out.emplace_back("bytes_out", static_cast<double>(bytes_out));
    out.emplace_back("bytes_out_direct", static_cast<double>(bytes_direct));
    out.emplace_back("frames_in", static_cast<double>(frames_in));
    out.emplace_back("frames_out", static_cast<double>(frames_out));
    out.emplace_back("unsent", static_cast<double>(unsent));
    out.emplace_back("budget_held_bytes",
                     static_cast<double>(budget_held_bytes));
    out.emplace_back("held_frames", static_cast<double>(held.size()));
    out.emplace_back("held_want_lists", static_cast<double>(arrivals.size()));
    out.emplace_back("backlog_frames", static_cast<double>(backlog.size()));
    out.emplace_back("backlog_bytes", static_cast<double>(backlog_bytes));
    out.emplace_back("wide_reads", wide_reads ? 1.0 : 0.0);
    out.emplace_back("read_buffer_bytes", static_cast<double>(read_capacity));
    if (inbound) {
      out.emplace_back("unhandled_bytes", static_cast<double>(inbound->held()));
      out.emplace_back("unhandled_peak", static_cast<double>(inbound->peak()));
    }
  }
};

/// One connection to a peer (messages/wire/FORMAT.md): exchanges preambles,
/// runs the Noise handshake (unless `insecure_transport`), then the Ed25519
/// HELLO/AUTH handshake inside the encrypted channel, bound to it by the
/// Noise handshake hash; then forwards every message to `owner` and writes
/// what `owner` sends, each frame sealed into the socket's write buffer and
/// opened in the frame reader's buffer. Ends, with a logged reason told to
/// `owner` and (best effort) to the peer in GOODBYE, on: a peer of another
/// version or transport mode, a malformed, oversized, unexpected or
/// tampered frame, a failed handshake (Noise, version, signature, own ID,
/// not the expected peer), a handshake timeout, a peer too slow to read, a
/// peer silent for `idle_timeout` (PINGs keep a quiet link alive), the
/// connection closing, or `close_atom`. Over the node's upload budget a
/// session holds block deliveries back and writes them when the budget has
/// their bytes; over the download budget it stops reading the socket until
/// then (TCP pushes back on the peer); either way with one timer, not a
/// poll. It also stops reading while the owner has more than
/// `max_unhandled_bytes` of delivered blocks still to handle (one wake-up
/// when it has caught up). Brokers share the middleman's I/O thread: this actor
/// frames, decodes and hashes delivered blocks (see
/// `wire::delivery::verified`); the owner decides what to do with them.
peer_session_actor::behavior_type peer_session(
  peer_session_actor::stateful_broker_pointer<peer_session_state> self,
  caf::io::connection_handle hdl, session_config cfg,
  session_owner_actor owner);

} // namespace cairn::actors
