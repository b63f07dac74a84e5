#include "messages/peer_record.hpp"

#include <atomic>
#include <cctype>
#include <cstring>

#include <msgpack.hpp>

#include "messages/base64url.hpp"
#include "messages/error.hpp"
#include "messages/msgpack_pack.hpp"
#include "messages/verified_set.hpp"

namespace cairn {

namespace {

using packer = msgpack::packer<msgpack::sbuffer>;

bytes to_bytes(const msgpack::sbuffer& buf) {
  auto p = reinterpret_cast<const uint8_t*>(buf.data());
  return bytes(p, p + buf.size());
}

// The record is array(4) with one nested array of at most 16 strings. The
// limits are a little looser than the rules so that a violation gets a clear
// message from the checks below instead of msgpack's "size overflow", while
// still bounding what msgpack allocates.
msgpack::unpack_limit record_limits() {
  return msgpack::unpack_limit(/*array*/ 32, /*map*/ 0, /*str*/ 1024,
                               /*bin*/ 128, /*ext*/ 0, /*depth*/ 2);
}

caf::error bad(std::string what) {
  return make_error(ec::protocol_error, "peer record: " + std::move(what));
}

// Records whose signature verified, keyed by signed payload and signature:
// every DHT packet carries the sender's record and up to 32 more, mostly the
// same few hundred, and an Ed25519 verification costs ~50 us.
verified_set& verified_records() {
  static verified_set set{1024};
  return set;
}

std::atomic<uint64_t> checks_done{0};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

} // namespace

peer_id peer_record::id() const {
  return peer_id::from_ed25519(public_key);
}

bytes peer_record::signing_payload() const {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_array(4);
  pack_str(pk, domain);
  pack_bin(pk, public_key.data(), public_key.size());
  pk.pack_uint64(seq);
  pk.pack_array(static_cast<uint32_t>(addrs.size()));
  for (const auto& a : addrs)
    pack_str(pk, a);
  return to_bytes(buf);
}

bool peer_record::verify() const {
  return ed25519_verify(public_key, signing_payload(), signature);
}

peer_record peer_record::make(const ed25519_seed& seed, uint64_t seq,
                              std::vector<std::string> addrs) {
  peer_record r;
  if (auto pub = ed25519_public_key(seed))
    r.public_key = *pub;
  r.seq = seq;
  r.addrs = std::move(addrs);
  r.signature = ed25519_sign(seed, r.signing_payload());
  return r;
}

peer_record peer_record::make(const ed25519_public& public_key, uint64_t seq,
                              std::vector<std::string> addrs,
                              const std::function<bytes(byte_view)>& sign) {
  peer_record r;
  r.public_key = public_key;
  r.seq = seq;
  r.addrs = std::move(addrs);
  r.signature = sign(r.signing_payload());
  return r;
}

bytes peer_record::encode() const {
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_array(4);
  pack_bin(pk, public_key.data(), public_key.size());
  pk.pack_uint64(seq);
  pk.pack_array(static_cast<uint32_t>(addrs.size()));
  for (const auto& a : addrs)
    pack_str(pk, a);
  pack_bin(pk, signature.data(), signature.size());
  return to_bytes(buf);
}

caf::expected<peer_record> peer_record::decode(byte_view in) {
  if (in.size > max_encoded_size)
    return bad("longer than " + std::to_string(max_encoded_size) + " bytes");
  msgpack::object_handle oh;
  try {
    size_t offset = 0;
    oh = msgpack::unpack(reinterpret_cast<const char*>(in.data), in.size,
                         offset, nullptr, nullptr, record_limits());
    if (offset != in.size)
      return bad("trailing bytes");
  } catch (const std::exception& e) {
    return bad(std::string{"msgpack: "} + e.what());
  }
  const auto& obj = oh.get();
  if (obj.type != msgpack::type::ARRAY || obj.via.array.size != 4)
    return bad("not an array of 4 fields");
  const auto* f = obj.via.array.ptr;
  peer_record r;
  if (f[0].type != msgpack::type::BIN || f[0].via.bin.size != 32)
    return bad("public key is not bin(32)");
  std::memcpy(r.public_key.data(), f[0].via.bin.ptr, 32);
  if (f[1].type != msgpack::type::POSITIVE_INTEGER)
    return bad("seq is not an unsigned integer");
  r.seq = f[1].via.u64;
  if (f[2].type != msgpack::type::ARRAY)
    return bad("addrs is not an array");
  if (f[2].via.array.size > max_addrs)
    return bad("more than " + std::to_string(max_addrs) + " addrs");
  r.addrs.reserve(f[2].via.array.size);
  for (uint32_t i = 0; i < f[2].via.array.size; ++i) {
    const auto& a = f[2].via.array.ptr[i];
    if (a.type != msgpack::type::STR)
      return bad("addr " + std::to_string(i) + " is not a string");
    if (a.via.str.size > max_addr_len)
      return bad("addr " + std::to_string(i) + " longer than " +
                 std::to_string(max_addr_len) + " characters");
    r.addrs.emplace_back(a.via.str.ptr, a.via.str.size);
  }
  if (f[3].type != msgpack::type::BIN ||
      f[3].via.bin.size != ed25519_signature_size)
    return bad("signature is not bin(64)");
  auto sig = reinterpret_cast<const uint8_t*>(f[3].via.bin.ptr);
  r.signature.assign(sig, sig + ed25519_signature_size);
  auto payload = r.signing_payload();
  std::string key(payload.begin(), payload.end());
  key.append(r.signature.begin(), r.signature.end());
  if (verified_records().contains(key))
    return r;
  checks_done.fetch_add(1, std::memory_order_relaxed);
  if (!ed25519_verify(r.public_key, payload, r.signature))
    return make_error(ec::verification_failed,
                      "peer record: bad signature for " + r.id().to_string());
  verified_records().insert(std::move(key));
  return r;
}

uint64_t peer_record::signature_checks() {
  return checks_done.load(std::memory_order_relaxed);
}

std::string peer_record::to_text() const {
  return "spr:" + base64url_encode(encode());
}

caf::expected<peer_record> peer_record::from_text(std::string_view text) {
  while (!text.empty() && is_space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_space(text.back()))
    text.remove_suffix(1);
  constexpr std::string_view prefix = "spr:";
  if (text.substr(0, prefix.size()) != prefix)
    return make_error(ec::invalid_argument,
                      "signed peer record must start with 'spr:'");
  text.remove_prefix(prefix.size());
  // Padded base64 of the longest record, rounded up.
  constexpr size_t max_text = (max_encoded_size + 2) / 3 * 4;
  if (text.size() > max_text)
    return make_error(ec::invalid_argument, "signed peer record too long");
  auto bin = base64url_decode(text, max_text);
  if (!bin)
    return make_error(ec::invalid_argument,
                      "signed peer record is not valid base64url");
  return decode(*bin);
}

// -- multiaddr ----------------------------------------------------------------

namespace {

// Splits "/a/b/c" into {"a", "b", "c"}; false for a missing leading '/',
// an empty component or a trailing '/'.
bool split_components(std::string_view s, std::vector<std::string_view>& out) {
  if (s.empty() || s.front() != '/')
    return false;
  s.remove_prefix(1);
  while (true) {
    auto pos = s.find('/');
    auto part = s.substr(0, pos);
    if (part.empty())
      return false;
    out.push_back(part);
    if (pos == std::string_view::npos)
      return true;
    s.remove_prefix(pos + 1);
  }
}

bool all_digits(std::string_view s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (c < '0' || c > '9')
      return false;
  return true;
}

// Decimal 0..max without leading zeros (except "0" itself).
std::optional<uint32_t> parse_canonical_decimal(std::string_view s,
                                                uint32_t max) {
  if (!all_digits(s) || s.size() > 5 || (s.size() > 1 && s.front() == '0'))
    return std::nullopt;
  uint32_t v = 0;
  for (char c : s)
    v = v * 10 + static_cast<uint32_t>(c - '0');
  if (v > max)
    return std::nullopt;
  return v;
}

bool is_ipv4(std::string_view s) {
  for (int i = 0; i < 4; ++i) {
    auto pos = s.find('.');
    if ((i < 3) != (pos != std::string_view::npos))
      return false;
    if (!parse_canonical_decimal(s.substr(0, pos), 255))
      return false;
    if (pos != std::string_view::npos)
      s.remove_prefix(pos + 1);
  }
  return true;
}

bool is_dns_name(std::string_view s) {
  if (s.empty() || s.size() > 253)
    return false;
  size_t label = 0;
  for (char c : s) {
    if (c == '.') {
      if (label == 0)
        return false;
      label = 0;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-')
      return false;
    if (++label > 63)
      return false;
  }
  return label > 0;
}

} // namespace

std::optional<endpoint> parse_multiaddr(std::string_view addr) {
  std::vector<std::string_view> parts;
  if (addr.size() > peer_record::max_addr_len ||
      !split_components(addr, parts) || parts.size() != 4)
    return std::nullopt;
  endpoint out;
  if (parts[0] == "ip4") {
    if (!is_ipv4(parts[1]))
      return std::nullopt;
  } else if (parts[0] == "dns4") {
    if (!is_dns_name(parts[1]))
      return std::nullopt;
  } else {
    return std::nullopt;
  }
  out.host = std::string{parts[1]};
  if (parts[2] == "udp")
    out.udp = true;
  else if (parts[2] != "tcp")
    return std::nullopt;
  auto port = parse_canonical_decimal(parts[3], 65535);
  if (!port || *port == 0)
    return std::nullopt;
  out.port = static_cast<uint16_t>(*port);
  return out;
}

std::string make_multiaddr(std::string_view host, uint16_t port, bool udp) {
  std::string out = is_ipv4(host) ? "/ip4/" : "/dns4/";
  out += host;
  out += udp ? "/udp/" : "/tcp/";
  out += std::to_string(port);
  return out;
}

} // namespace cairn
