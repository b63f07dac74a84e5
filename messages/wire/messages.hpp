#pragma once

// The messages peers exchange over a Cairn connection and their msgpack codec.
// The byte-level format (framing, envelope, keys, limits, handshake) is
// specified in messages/wire/FORMAT.md; keep the two in sync.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <caf/expected.hpp>

#include "messages/bytes.hpp"
#include "messages/cid.hpp"
#include "messages/proof.hpp"
#include "messages/wire/frame.hpp"

namespace cairn::wire {

// -- protocol constants -------------------------------------------------------

/// Version a node sends in its HELLO; a peer with another version is refused.
constexpr uint32_t protocol_version = 2;

/// Largest frame accepted before a session is established: the Noise
/// handshake messages, HELLO (16 addresses of 256 bytes at most), AUTH and
/// GOODBYE, each with its AEAD tag.
constexpr size_t max_handshake_frame_size = 8192;

/// Most entries in one WANT_LIST (larger lists are split by the sender).
constexpr size_t max_want_entries = 1024;
/// Leaves a want-block of a manifest may ask to come with it
/// (`want_entry::leaves`): as many as one WANT_LIST may ask for.
constexpr size_t max_leaves_with_manifest = max_want_entries;

/// Most presences in one BLOCK_PRESENCE.
constexpr size_t max_presences = 1024;

/// Most blocks in one BLOCK_DELIVERY.
constexpr size_t max_deliveries = 1024;

/// Most bytes of block data (summed over its blocks) in one BLOCK_DELIVERY.
/// The whole payload must also fit `max_frame_size`, so a sender leaves room
/// for the per-block overhead (addresses and proofs, about 2.2 KiB a block).
constexpr size_t max_delivery_bytes = max_frame_size;

/// Most listen addresses in a HELLO, and the longest one in bytes.
constexpr size_t max_addrs = 16;
constexpr size_t max_addr_size = 256;

/// Longest GOODBYE reason in bytes (`encode` truncates longer ones).
constexpr size_t max_reason_size = 1024;

/// Most sibling digests in a proof (trees of up to 2^64 leaves).
constexpr size_t max_proof_path = 64;

/// Size of an Ed25519 public key, handshake nonce and signature.
constexpr size_t public_key_size = 32;
constexpr size_t nonce_size = 32;
constexpr size_t signature_size = 64;

// -- addresses ----------------------------------------------------------------

/// What a message is about: a block by its CID (manifests, or any block the
/// peer may hold on its own), or a leaf of a dataset by (tree CID, index).
using address = std::variant<cid, block_address>;

/// "z…" for a CID, "z…/7" for a leaf.
std::string to_string(const address& x);

// -- messages -----------------------------------------------------------------

/// First message of each side, sent as soon as the connection is up.
struct hello {
  /// Protocol version of the sender (`protocol_version`).
  uint32_t version = protocol_version;
  /// The sender's Ed25519 public key; its peer ID derives from it.
  std::array<uint8_t, 32> public_key{};
  /// Addresses ("host:port") where the sender accepts connections; at most
  /// `max_addrs`, each at most `max_addr_size` bytes. May be empty.
  std::vector<std::string> addrs;
  /// Fresh random challenge the peer must sign in its AUTH.
  std::array<uint8_t, 32> nonce{};

  friend bool operator==(const hello& x, const hello& y) {
    return x.version == y.version && x.public_key == y.public_key &&
           x.addrs == y.addrs && x.nonce == y.nonce;
  }
};

/// Second message of each side, after it has received the peer's HELLO.
struct auth {
  /// Ed25519 signature (exactly 64 bytes) by the sender's key of
  /// `auth_payload(peer's nonce, sender's nonce, sender's public key)`.
  bytes signature;

  friend bool operator==(const auth& x, const auth& y) {
    return x.signature == y.signature;
  }
};

/// One request of a WANT_LIST.
struct want_entry {
  /// What kind of answer the sender wants.
  enum class want_type : uint8_t {
    /// Send the block itself (BLOCK_DELIVERY).
    block = 0,
    /// Only say whether you have it (BLOCK_PRESENCE).
    have = 1,
  };

  /// The wanted block or leaf.
  address addr;
  /// Higher is more urgent; relative to the sender's other wants.
  int32_t priority = 0;
  /// True: withdraw an earlier want of `addr` (other fields are ignored).
  bool cancel = false;
  /// Block or presence.
  want_type type = want_type::block;
  /// True: answer with a "don't have" presence if the block is missing,
  /// instead of staying silent.
  bool send_dont_have = false;
  /// Only on a want-block of a manifest (by CID): send leaves
  /// `0 .. leaves - 1` of the tree it names right after it, as if each had
  /// been asked for, so that a download's first blocks take one round trip
  /// instead of two. At most `max_leaves_with_manifest`; 0: none.
  uint32_t leaves = 0;

  friend bool operator==(const want_entry& x, const want_entry& y) {
    return x.addr == y.addr && x.priority == y.priority &&
           x.cancel == y.cancel && x.type == y.type &&
           x.send_dont_have == y.send_dont_have && x.leaves == y.leaves;
  }
};

/// Name of a want type ("block", "have").
std::string to_string(want_entry::want_type x);

/// The sender's wants (Codex `WantList`).
struct want_list {
  /// At most `max_want_entries`.
  std::vector<want_entry> entries;
  /// True: this list replaces all earlier wants of the sender; false: it
  /// adds to (or, with `cancel`, removes from) them.
  bool full = false;

  friend bool operator==(const want_list& x, const want_list& y) {
    return x.entries == y.entries && x.full == y.full;
  }
};

/// Whether the sender has one block, and at what price.
struct presence {
  /// The block or leaf.
  address addr;
  /// True: "have"; false: "don't have".
  bool have = false;
  /// Price per byte the sender asks for the block (0: free).
  uint64_t price = 0;

  friend bool operator==(const presence& x, const presence& y) {
    return x.addr == y.addr && x.have == y.have && x.price == y.price;
  }
};

/// Answers to want-haves (Codex `BlockPresence`).
struct block_presence {
  /// At most `max_presences`.
  std::vector<presence> presences;

  friend bool operator==(const block_presence& x, const block_presence& y) {
    return x.presences == y.presences;
  }
};

/// One delivered block. The receiver re-hashes it before use: the codec only
/// checks the shape, never the content.
struct delivery {
  /// The block's CID or leaf address.
  address addr;
  /// The block's bytes (shared, never copied after decoding); a null pointer
  /// encodes as empty.
  shared_bytes data;
  /// Inclusion proof of the leaf in its tree: present exactly when `addr` is
  /// a `block_address`, with `proof->index == addr.index`.
  std::optional<merkle_proof> proof;
  /// Not on the wire: the digest of `data`, set by the receiving session
  /// once `storage::check_delivery` passed (hashing happens there, beside
  /// the socket, not in the engine). Unset: not checked yet, or failed.
  std::optional<digest256> verified = std::nullopt;

  friend bool operator==(const delivery& x, const delivery& y) {
    auto size = [](const shared_bytes& b) { return b ? b->size() : 0; };
    bool same_data = x.data == y.data ||
                     (size(x.data) == 0 && size(y.data) == 0) ||
                     (x.data && y.data && *x.data == *y.data);
    return x.addr == y.addr && same_data && x.proof == y.proof;
  }
};

/// Blocks sent to the peer (Codex `BlockDelivery`).
struct block_delivery {
  /// At most `max_deliveries`, data summing to at most `max_delivery_bytes`.
  std::vector<delivery> blocks;
  /// Not on the wire: held by the message from the receiving session to its
  /// owner, and dropped with it (see `storage::inbound_gate`).
  std::shared_ptr<const void> receipt = nullptr;

  friend bool operator==(const block_delivery& x, const block_delivery& y) {
    return x.blocks == y.blocks;
  }
};

/// Liveness probe and latency measurement; the peer answers with a PONG.
struct ping {
  /// Arbitrary value the PONG echoes.
  uint64_t nonce = 0;

  friend bool operator==(const ping& x, const ping& y) {
    return x.nonce == y.nonce;
  }
};

/// Answer to a PING.
struct pong {
  /// The `nonce` of the PING answered.
  uint64_t nonce = 0;

  friend bool operator==(const pong& x, const pong& y) {
    return x.nonce == y.nonce;
  }
};

/// Last message before the sender closes the connection.
struct goodbye {
  /// Why, for the peer's log (at most `max_reason_size` bytes of UTF-8).
  std::string reason;

  friend bool operator==(const goodbye& x, const goodbye& y) {
    return x.reason == y.reason;
  }
};

/// Any message. The index of the alternative plus one is its wire type
/// (hello = 1 … goodbye = 8).
using message = std::variant<hello, auth, want_list, block_presence,
                             block_delivery, ping, pong, goodbye>;

// -- codec --------------------------------------------------------------------

/// The msgpack payload of `x` (without the frame header; see `encode_frame`).
/// Does not validate: the caller keeps to the limits above (split want lists
/// and deliveries), except that a GOODBYE reason longer than
/// `max_reason_size` is truncated (at a UTF-8 character boundary).
/// Thread-safe.
bytes encode(const message& x);

/// Appends the frame of `x` to `out`: what `encode_frame(encode(x))` returns,
/// written straight into `out` (a socket's write buffer) with one copy of
/// the block data. `trailer` more bytes are reserved after the frame, so
/// that the caller can append them (a session's AEAD tag) without moving
/// the buffer. Thread-safe.
void append_frame(const message& x, std::vector<char>& out, size_t trailer = 0);

/// The frame of `x` as pieces, for a gathered write (`writev`): the same
/// bytes as `append_frame`, with the data of its blocks referenced where it
/// lies instead of copied. `head` holds the frame header and every other
/// byte; each piece is a run of `head` or a referenced run of block data,
/// valid while `x` lives and is not changed.
struct frame_pieces {
  struct piece {
    /// Null: `head` from `offset` on; otherwise block data.
    const char* ref = nullptr;
    size_t offset = 0;
    size_t size = 0;
  };
  std::vector<char> head;
  std::vector<piece> pieces;
  /// Bytes of the whole frame.
  size_t size = 0;

  /// Where piece `i` starts in memory.
  const char* data(size_t i) const {
    auto& p = pieces[i];
    return p.ref ? p.ref : head.data() + p.offset;
  }
};

/// Fills `out` (cleared first, its capacity reused) with the frame of `x`.
/// Block data of at least `min_ref` bytes (and at least 256) is referenced;
/// shorter runs are copied.
/// Thread-safe.
void gather_frame(const message& x, frame_pieces& out, size_t min_ref = 1024);

/// Decodes one payload. Errors: `ec::protocol_error` whose context says what
/// is wrong (not msgpack, limit exceeded, trailing bytes, "unknown message
/// type N", a missing or mistyped field named by its path such as
/// "want_list.e[3].a.t", a CID that does not parse, a limit above broken).
/// Never throws; allocates at most a small multiple of `payload.size`.
/// Block data is copied once out of `payload`. Thread-safe.
caf::expected<message> decode(byte_view payload);

/// Upper-case name of the message's type ("HELLO", "WANT_LIST", ...), for
/// logs.
std::string type_name(const message& x);

/// The wire type of `x` (1..8, see FORMAT.md).
uint8_t type_of(const message& x);

// -- handshake ----------------------------------------------------------------

/// The bytes a node signs in its AUTH (141 bytes): ASCII "cairn-auth-v2",
/// then `receiver_nonce` (the nonce from the peer's HELLO), `sender_nonce`
/// (the signer's own HELLO nonce), `sender_public_key` (the signer's key)
/// and `channel_binding` (the session's Noise handshake hash, or 32 zero
/// bytes with `--insecure-transport`). The verifier rebuilds it from its own
/// nonce, the peer's HELLO and its own copy of the handshake hash.
bytes auth_payload(const std::array<uint8_t, 32>& receiver_nonce,
                   const std::array<uint8_t, 32>& sender_nonce,
                   const std::array<uint8_t, 32>& sender_public_key,
                   const std::array<uint8_t, 32>& channel_binding);

// -- preamble -----------------------------------------------------------------

/// Bytes each side sends first on a connection, before any frame.
constexpr size_t preamble_size = 8;

/// How frames travel after the preamble (FORMAT.md §1).
enum class transport_mode : uint8_t {
  /// Frames in clear (`--insecure-transport`, for benchmarks).
  plaintext = 0,
  /// Noise_NN_25519_ChaChaPoly_SHA256 handshake, then encrypted frames.
  noise = 1,
};

using preamble_bytes = std::array<uint8_t, preamble_size>;

/// The preamble of `mode`: ASCII "cairn", 0x00, the protocol version, the
/// mode. It is also the Noise prologue, so both ends hash the same bytes.
preamble_bytes preamble(transport_mode mode);

/// Checks the peer's preamble against this node's `own` mode. Returns
/// `ec::handshake_failed` with a one-line reason (not a Cairn peer, another
/// version, or the other mode naming `--insecure-transport`), or none.
caf::error check_preamble(const preamble_bytes& peer, transport_mode own);

} // namespace cairn::wire
