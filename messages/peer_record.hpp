#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "messages/bytes.hpp"
#include "messages/ed25519.hpp"
#include "messages/peer_id.hpp"

namespace cairn {

/// A signed peer record (SPR): who a peer is (its Ed25519 public key, hence
/// its peer ID) and where it listens, signed by that key. Records travel in
/// every DHT packet and in provider records, and their text form (`spr:...`)
/// is what `GET /api/codex/v1/spr` returns and `--bootstrap-node` takes.
///
/// Binary form (msgpack, see messages/wire/DHT_FORMAT.md):
///   array(4) [ public_key bin(32), seq uint, addrs array(<=16) of
///              str(<=256), signature bin(64) ]
/// The signature covers `signing_payload()`, which is recomputed from the
/// decoded fields, so only the fields matter, not how an encoder packed them.
///
/// A plain value; not synchronized (copy it across threads).
struct peer_record {
  /// Domain separation string at the start of the signed payload, so an
  /// SPR signature cannot be replayed as any other Cairn signature.
  static constexpr std::string_view domain = "cairn-spr-v1";

  /// Most addresses a record may carry.
  static constexpr size_t max_addrs = 16;

  /// Longest address (characters).
  static constexpr size_t max_addr_len = 256;

  /// Longest binary record: 16 addresses of 256 characters plus the fixed
  /// fields take 4257 bytes in shortest msgpack form; the rest is slack for
  /// encoders that use wider headers. Decoding rejects anything longer.
  static constexpr size_t max_encoded_size = 4352;

  /// The peer's Ed25519 public key.
  ed25519_public public_key{};

  /// Sequence number: a newer record of the same peer has a larger one
  /// (Cairn uses the Unix time in milliseconds at which it was made).
  uint64_t seq = 0;

  /// Listen addresses as multiaddr strings, e.g. `/ip4/1.2.3.4/tcp/8070`
  /// (block exchange) and `/ip4/1.2.3.4/udp/8090` (discovery).
  std::vector<std::string> addrs;

  /// Ed25519 signature of `signing_payload()` (64 bytes).
  bytes signature;

  /// The peer ID derived from `public_key`.
  peer_id id() const;

  /// The bytes that `signature` signs: msgpack
  /// `array(4) [ str "cairn-spr-v1", bin(32) public_key, uint seq,
  /// array of str addrs ]`, every value in its shortest msgpack form.
  bytes signing_payload() const;

  /// True if `signature` is `public_key`'s signature of `signing_payload()`.
  bool verify() const;

  /// A record signed with the private `seed`. Precondition: `addrs` has at
  /// most `max_addrs` entries of at most `max_addr_len` characters
  /// (otherwise `decode` of the result fails with `ec::protocol_error`).
  static peer_record make(const ed25519_seed& seed, uint64_t seq,
                          std::vector<std::string> addrs);

  /// A record of `public_key` signed by `sign` (which must return the Ed25519
  /// signature of its argument under that key), for callers that hold the
  /// key in an object such as `storage::node_key`, e.g.
  /// `make(key.public_key(), seq, addrs, [&](byte_view m) { return
  /// key.sign(m); })`. Same precondition as above.
  static peer_record make(const ed25519_public& public_key, uint64_t seq,
                          std::vector<std::string> addrs,
                          const std::function<bytes(byte_view)>& sign);

  /// The binary form (see above).
  bytes encode() const;

  /// Parses and verifies the binary form. Errors: `ec::protocol_error`
  /// (not msgpack, wrong shape or types, trailing bytes, longer than
  /// `max_encoded_size`, too many or too long addresses, wrong key or
  /// signature size), `ec::verification_failed` (the signature does not
  /// verify). The context says which. The signature of a record whose
  /// exact fields and signature verified lately (the last 1024 such, in
  /// the whole process) is not verified again. Thread-safe.
  static caf::expected<peer_record> decode(byte_view in);

  /// Ed25519 verifications `decode` performed in this process so far.
  static uint64_t signature_checks();

  /// The text form: `spr:` followed by the unpadded base64url of `encode()`.
  std::string to_text() const;

  /// Parses the text form (surrounding ASCII whitespace is ignored). Errors:
  /// `ec::invalid_argument` (no `spr:` prefix, too long, or bad base64url),
  /// else those of `decode`.
  static caf::expected<peer_record> from_text(std::string_view text);

  /// Field-wise equality (including the signature bytes).
  friend bool operator==(const peer_record& x, const peer_record& y) {
    return x.public_key == y.public_key && x.seq == y.seq &&
           x.addrs == y.addrs && x.signature == y.signature;
  }
  /// Negation of `==`.
  friend bool operator!=(const peer_record& x, const peer_record& y) {
    return !(x == y);
  }
};

/// A network endpoint taken from a multiaddr.
struct endpoint {
  /// Dotted IPv4 address or DNS name.
  std::string host;
  /// Port, 1..65535.
  uint16_t port = 0;
  /// True for UDP (discovery), false for TCP (block exchange).
  bool udp = false;

  /// Field-wise equality.
  friend bool operator==(const endpoint& x, const endpoint& y) {
    return x.host == y.host && x.port == y.port && x.udp == y.udp;
  }
  /// Negation of `==`.
  friend bool operator!=(const endpoint& x, const endpoint& y) {
    return !(x == y);
  }
};

/// Parses `/ip4/A.B.C.D/tcp/PORT`, `/ip4/A.B.C.D/udp/PORT` and
/// `/dns4/NAME/tcp|udp/PORT`. Returns `std::nullopt` for anything else:
/// other protocols (ip6, p2p suffixes, ...), an IPv4 octet above 255 or with
/// a leading zero, a DNS name that is not letters, digits, `-` and `.` in
/// labels of 1..63 characters (253 at most in all), or port 0 or > 65535.
/// Thread-safe.
std::optional<endpoint> parse_multiaddr(std::string_view addr);

/// The multiaddr of an endpoint: `/ip4/...` if `host` is a dotted IPv4
/// address, else `/dns4/...`; then `/udp/PORT` or `/tcp/PORT`. Thread-safe.
std::string make_multiaddr(std::string_view host, uint16_t port, bool udp);

/// Same as `make_multiaddr(x.host, x.port, x.udp)`.
inline std::string make_multiaddr(const endpoint& x) {
  return make_multiaddr(x.host, x.port, x.udp);
}

} // namespace cairn
