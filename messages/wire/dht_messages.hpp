#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <caf/expected.hpp>

#include "messages/bytes.hpp"
#include "messages/peer_record.hpp"
#include "messages/sha256.hpp"

/// Datagrams of Cairn's Kademlia DHT (messages/wire/DHT_FORMAT.md), one msgpack
/// packet per UDP datagram. The byte layout is in messages/wire/DHT_FORMAT.md.
/// Encoding and decoding are pure functions; thread-safe.
namespace cairn::wire::dht {

/// A 256-bit Kademlia ID or key (same as `storage::node_id`).
using node_id = digest256;

/// Largest datagram Cairn sends or accepts (bytes).
constexpr size_t max_datagram_size = 8192;

/// Most records in one list of a packet (`nodes.closer`, `providers.*`).
constexpr size_t max_records_per_list = 32;

/// Version byte at the start of every packet.
constexpr uint8_t protocol_version = 1;

/// Liveness probe; answered with `pong` of the same request ID.
struct ping {};

/// Answer to `ping`.
struct pong {};

/// Asks for the receiver's `k` nearest contacts to `target`; answered with
/// `nodes`.
struct find_node {
  /// The ID whose nearest nodes are wanted.
  node_id target{};
};

/// Answer to `find_node`: the receiver's nearest contacts to the target.
struct nodes {
  /// Nearest first, at most `max_records_per_list`.
  std::vector<peer_record> closer;
};

/// Tells the receiver that `provider` provides `key` (a CID's
/// `storage::provider_key`). `provider` must be the sender's own record
/// (same public key): decoding rejects anything else, so nobody can
/// announce a third party. Answered with `pong`.
struct add_provider {
  /// The provider key.
  digest256 key{};
  /// The sender's own record.
  peer_record provider;
};

/// Asks for providers of `key`; answered with `providers`.
struct get_providers {
  /// The provider key.
  digest256 key{};
};

/// Answer to `get_providers`: known providers of the key, and the
/// receiver's nearest contacts to the key to continue the lookup.
struct providers {
  /// Providers of the key, freshest first, at most `max_records_per_list`.
  std::vector<peer_record> providers;
  /// Nearest contacts to the key, nearest first, at most
  /// `max_records_per_list`.
  std::vector<peer_record> closer;
};

/// A message body.
using body = std::variant<ping, pong, find_node, nodes, add_provider,
                          get_providers, providers>;

/// One datagram. Every packet carries the sender's signed record, so a
/// receiver learns (and can verify) every node that talks to it.
struct packet {
  /// Chosen by the requester, echoed by the answer to match them up.
  uint64_t request_id = 0;
  /// The sender's current signed record.
  peer_record sender;
  /// What the packet says.
  dht::body body;
};

/// Name of the body's type, e.g. "find_node" (for logs).
std::string kind_name(const body& x);

/// The datagram of `x`. Errors: `ec::invalid_argument` if it would be larger
/// than `max_datagram_size` or a list has more than `max_records_per_list`
/// records. Callers that answer with lists (`nodes`, `providers`) trim them
/// first, e.g. with `trim_to_fit`.
caf::expected<bytes> encode(const packet& x);

/// Drops records from the end of the body's lists (`providers.closer`
/// before `providers.providers`) until `encode(x)` succeeds or the lists are
/// empty, and cuts each list to `max_records_per_list`. Callers list the most
/// useful records first (nearest, or freshest providers). Returns the number
/// of records dropped.
size_t trim_to_fit(packet& x);

/// True for the messages a node answers (ping, find_node, add_provider,
/// get_providers); false for the answers.
bool is_request(const body& x);

/// What `peek` reads of a datagram.
struct header {
  /// As in `packet`.
  uint64_t request_id = 0;
  /// True for a request (see `is_request`), false for an answer.
  bool request = false;
};

/// The request ID and kind of the datagram `in`, checked against the same
/// limits as `decode` but without decoding the body or verifying any
/// record: cheap enough to run on every datagram before deciding whether it
/// is worth the signature checks. Errors: `ec::protocol_error` (what
/// `decode` rejects at the top level: size, msgpack, shape, version, an
/// unknown type). A datagram that passes may still fail `decode`.
caf::expected<header> peek(byte_view in);

/// Parses and verifies a datagram. Errors: `ec::protocol_error` (larger than
/// `max_datagram_size`, not msgpack, unknown version or message type, wrong
/// shape or field types, limits exceeded, trailing bytes, an `add_provider`
/// for another peer, malformed records), `ec::verification_failed` (a
/// record's signature, the sender's or any listed one, does not verify).
/// Never throws.
caf::expected<packet> decode(byte_view in);

} // namespace cairn::wire::dht
