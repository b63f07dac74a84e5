#include "messages/wire/messages.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <string_view>

#include <msgpack.hpp>

#include "messages/buffer_pool.hpp"
#include "messages/error.hpp"
#include "messages/msgpack_pack.hpp"
#include "messages/wire/frame.hpp"

// Encoding (FORMAT.md has the details): a 2-element array [type, body], body
// a map with one-letter keys. CIDs are BIN of cid::to_bytes(), addresses the
// map {"c": cid} or {"t": tree cid, "i": index}, proofs {"i", "n", "p"}.
//   1 HELLO          {"v": uint, "k": bin32, "a": [str], "n": bin32}
//   2 AUTH           {"s": bin64}
//   3 WANT_LIST      {"e": [{"a", "p": int, "c": bool, "t": uint,
//                            "d": bool, "l"?: uint}], "f": bool}
//   4 BLOCK_PRESENCE {"p": [{"a", "h": bool, "p": uint}]}
//   5 BLOCK_DELIVERY {"b": [{"a", "d": bin, "p"?: proof}]}
//   6 PING, 7 PONG   {"n": uint}
//   8 GOODBYE        {"r": str}

namespace cairn::wire {

// -- small helpers ------------------------------------------------------------

std::string to_string(const address& x) {
  if (auto c = std::get_if<cid>(&x))
    return c->to_string();
  return cairn::to_string(std::get<block_address>(x));
}

std::string to_string(want_entry::want_type x) {
  switch (x) {
  case want_entry::want_type::block:
    return "block";
  case want_entry::want_type::have:
    return "have";
  }
  return "unknown";
}

namespace {

constexpr const char* type_names[] = {
  "HELLO",          "AUTH", "WANT_LIST", "BLOCK_PRESENCE",
  "BLOCK_DELIVERY", "PING", "PONG",      "GOODBYE",
};

/// Number of alternatives in `message`, i.e. the highest wire type.
constexpr uint8_t num_types = std::variant_size_v<message>;

static_assert(sizeof(type_names) / sizeof(type_names[0]) == num_types);

} // namespace

uint8_t type_of(const message& x) {
  return static_cast<uint8_t>(x.index() + 1);
}

std::string type_name(const message& x) {
  return type_names[x.index()];
}

bytes auth_payload(const std::array<uint8_t, 32>& receiver_nonce,
                   const std::array<uint8_t, 32>& sender_nonce,
                   const std::array<uint8_t, 32>& sender_public_key,
                   const std::array<uint8_t, 32>& channel_binding) {
  static constexpr std::string_view tag = "cairn-auth-v2";
  bytes out;
  out.reserve(tag.size() + 4 * 32);
  out.insert(out.end(), tag.begin(), tag.end());
  out.insert(out.end(), receiver_nonce.begin(), receiver_nonce.end());
  out.insert(out.end(), sender_nonce.begin(), sender_nonce.end());
  out.insert(out.end(), sender_public_key.begin(), sender_public_key.end());
  out.insert(out.end(), channel_binding.begin(), channel_binding.end());
  return out;
}

// -- preamble -----------------------------------------------------------------

namespace {

constexpr std::string_view preamble_magic{"cairn\0", 6};

} // namespace

preamble_bytes preamble(transport_mode mode) {
  preamble_bytes out{};
  std::copy(preamble_magic.begin(), preamble_magic.end(), out.begin());
  out[6] = static_cast<uint8_t>(protocol_version);
  out[7] = static_cast<uint8_t>(mode);
  return out;
}

caf::error check_preamble(const preamble_bytes& peer, transport_mode own) {
  if (!std::equal(preamble_magic.begin(), preamble_magic.end(), peer.begin()))
    return make_error(ec::handshake_failed,
                      "peer sent no Cairn preamble (first bytes " +
                        to_hex(byte_view{peer.data(), peer.size()}) +
                        "): not a Cairn node of protocol version " +
                        std::to_string(protocol_version));
  if (peer[6] != protocol_version)
    return make_error(ec::handshake_failed,
                      "protocol version " + std::to_string(peer[6]) +
                        ", expected " + std::to_string(protocol_version));
  auto theirs = peer[7];
  if (theirs == static_cast<uint8_t>(own))
    return caf::none;
  if (theirs == static_cast<uint8_t>(transport_mode::plaintext))
    return make_error(ec::handshake_failed,
                      "peer uses plaintext transport (--insecure-transport); "
                      "this node requires encryption");
  if (theirs == static_cast<uint8_t>(transport_mode::noise))
    return make_error(ec::handshake_failed,
                      "peer requires encrypted transport; this node runs "
                      "with --insecure-transport");
  return make_error(ec::handshake_failed, "peer uses unknown transport mode " +
                                            std::to_string(theirs));
}

// -- encoding -----------------------------------------------------------------

namespace {

/// msgpack output stream that appends to a byte vector (one copy of block
/// data, straight into the result): `bytes` or a socket's `vector<char>`.
struct byte_sink {
  void* out;
  void (*append)(void* out, const char* p, size_t n);
  void write(const char* p, size_t n) { append(out, p, n); }

  template <class Vector>
  static byte_sink to(Vector& v) {
    return {&v, [](void* out, const char* p, size_t n) {
              using value_type = typename Vector::value_type;
              auto b = reinterpret_cast<const value_type*>(p);
              auto& vec = *static_cast<Vector*>(out);
              vec.insert(vec.end(), b, b + n);
            }};
  }
};

using packer = msgpack::packer<byte_sink>;

void pack_bool(packer& pk, bool x) {
  if (x)
    pk.pack_true();
  else
    pk.pack_false();
}

void pack_cid(packer& pk, const cid& c) {
  auto b = c.to_bytes();
  pack_bin(pk, b.data(), b.size());
}

void pack_address(packer& pk, const address& a) {
  if (auto c = std::get_if<cid>(&a)) {
    pk.pack_map(1);
    pack_str(pk, "c");
    pack_cid(pk, *c);
  } else {
    auto& l = std::get<block_address>(a);
    pk.pack_map(2);
    pack_str(pk, "t");
    pack_cid(pk, l.tree);
    pack_str(pk, "i");
    pk.pack_uint64(l.index);
  }
}

void pack_proof(packer& pk, const merkle_proof& p) {
  pk.pack_map(3);
  pack_str(pk, "i");
  pk.pack_uint64(p.index);
  pack_str(pk, "n");
  pk.pack_uint64(p.nleaves);
  pack_str(pk, "p");
  pk.pack_array(static_cast<uint32_t>(p.path.size()));
  for (auto& d : p.path)
    pack_bin(pk, d.data(), d.size());
}

void pack_body(packer& pk, const hello& x) {
  pk.pack_map(4);
  pack_str(pk, "v");
  pk.pack_uint32(x.version);
  pack_str(pk, "k");
  pack_bin(pk, x.public_key.data(), x.public_key.size());
  pack_str(pk, "a");
  pk.pack_array(static_cast<uint32_t>(x.addrs.size()));
  for (auto& a : x.addrs)
    pack_str(pk, a);
  pack_str(pk, "n");
  pack_bin(pk, x.nonce.data(), x.nonce.size());
}

void pack_body(packer& pk, const auth& x) {
  pk.pack_map(1);
  pack_str(pk, "s");
  pack_bin(pk, x.signature.data(), x.signature.size());
}

void pack_body(packer& pk, const want_list& x) {
  pk.pack_map(2);
  pack_str(pk, "e");
  pk.pack_array(static_cast<uint32_t>(x.entries.size()));
  for (auto& e : x.entries) {
    pk.pack_map(e.leaves > 0 ? 6 : 5);
    pack_str(pk, "a");
    pack_address(pk, e.addr);
    pack_str(pk, "p");
    pk.pack_int32(e.priority);
    pack_str(pk, "c");
    pack_bool(pk, e.cancel);
    pack_str(pk, "t");
    pk.pack_uint8(static_cast<uint8_t>(e.type));
    pack_str(pk, "d");
    pack_bool(pk, e.send_dont_have);
    if (e.leaves > 0) {
      pack_str(pk, "l");
      pk.pack_uint32(e.leaves);
    }
  }
  pack_str(pk, "f");
  pack_bool(pk, x.full);
}

void pack_body(packer& pk, const block_presence& x) {
  pk.pack_map(1);
  pack_str(pk, "p");
  pk.pack_array(static_cast<uint32_t>(x.presences.size()));
  for (auto& p : x.presences) {
    pk.pack_map(3);
    pack_str(pk, "a");
    pack_address(pk, p.addr);
    pack_str(pk, "h");
    pack_bool(pk, p.have);
    pack_str(pk, "p");
    pk.pack_uint64(p.price);
  }
}

void pack_body(packer& pk, const block_delivery& x) {
  pk.pack_map(1);
  pack_str(pk, "b");
  pk.pack_array(static_cast<uint32_t>(x.blocks.size()));
  for (auto& b : x.blocks) {
    pk.pack_map(b.proof ? 3 : 2);
    pack_str(pk, "a");
    pack_address(pk, b.addr);
    pack_str(pk, "d");
    if (b.data)
      pack_bin(pk, b.data->data(), b.data->size());
    else
      pack_bin(pk, nullptr, 0);
    if (b.proof) {
      pack_str(pk, "p");
      pack_proof(pk, *b.proof);
    }
  }
}

void pack_nonce_body(packer& pk, uint64_t nonce) {
  pk.pack_map(1);
  pack_str(pk, "n");
  pk.pack_uint64(nonce);
}

void pack_body(packer& pk, const ping& x) {
  pack_nonce_body(pk, x.nonce);
}

void pack_body(packer& pk, const pong& x) {
  pack_nonce_body(pk, x.nonce);
}

void pack_body(packer& pk, const goodbye& x) {
  std::string_view reason = x.reason;
  if (reason.size() > max_reason_size) {
    // Cut before the first byte that does not fit, backing up over UTF-8
    // continuation bytes so that no character is split.
    size_t cut = max_reason_size;
    while (cut > 0 && (static_cast<uint8_t>(reason[cut]) & 0xC0) == 0x80)
      --cut;
    reason = reason.substr(0, cut);
  }
  pk.pack_map(1);
  pack_str(pk, "r");
  pack_str(pk, reason);
}

/// A guess of the encoded size, so that block data is appended without
/// reallocating the output.
size_t size_hint(const message& x) {
  if (auto d = std::get_if<block_delivery>(&x)) {
    size_t n = 16;
    for (auto& b : d->blocks)
      n += (b.data ? b.data->size() : 0) + 128 +
           (b.proof ? b.proof->path.size() * 34 : 0);
    return n;
  }
  if (auto w = std::get_if<want_list>(&x))
    return 16 + w->entries.size() * 72;
  if (auto p = std::get_if<block_presence>(&x))
    return 16 + p->presences.size() * 72;
  return 256;
}

} // namespace

namespace {

void pack_message(byte_sink& sink, const message& x) {
  packer pk(sink);
  pk.pack_array(2);
  pk.pack_uint8(type_of(x));
  std::visit([&](const auto& body) { pack_body(pk, body); }, x);
}

/// Writes shorter than this are copied by `gather_frame`: the packer's own
/// headers and a CID's bytes come from temporaries.
constexpr size_t min_gather_ref = 256;

/// msgpack output stream of `gather_frame`: short writes go to the head,
/// long ones (block data) are referenced.
struct gather_sink {
  frame_pieces* out;
  size_t min_ref;

  static void append(void* self, const char* p, size_t n) {
    auto& s = *static_cast<gather_sink*>(self);
    auto& f = *s.out;
    if (n >= s.min_ref) {
      f.pieces.push_back({p, 0, n});
    } else {
      if (f.pieces.empty() || f.pieces.back().ref)
        f.pieces.push_back({nullptr, f.head.size(), 0});
      f.head.insert(f.head.end(), p, p + n);
      f.pieces.back().size += n;
    }
    f.size += n;
  }
};

} // namespace

bytes encode(const message& x) {
  bytes out;
  out.reserve(size_hint(x));
  auto sink = byte_sink::to(out);
  pack_message(sink, x);
  return out;
}

void append_frame(const message& x, std::vector<char>& out, size_t trailer) {
  auto start = out.size();
  // Geometric growth: `out` may already hold frames waiting for the socket.
  auto need = start + frame_header_size + size_hint(x) + trailer;
  if (out.capacity() < need)
    out.reserve(std::max(need, 2 * out.capacity()));
  out.resize(start + frame_header_size);
  auto sink = byte_sink::to(out);
  pack_message(sink, x);
  store_frame_length(reinterpret_cast<uint8_t*>(out.data() + start),
                     out.size() - start - frame_header_size);
}

void gather_frame(const message& x, frame_pieces& out, size_t min_ref) {
  out.head.clear();
  out.pieces.clear();
  out.size = 0;
  // Shorter writes come from temporaries too (a CID's bytes, msgpack's
  // headers): those are copied whatever the caller asks.
  gather_sink g{&out, std::max(min_ref, min_gather_ref)};
  out.head.resize(frame_header_size);
  out.pieces.push_back({nullptr, 0, frame_header_size});
  out.size = frame_header_size;
  byte_sink sink{&g, &gather_sink::append};
  pack_message(sink, x);
  store_frame_length(reinterpret_cast<uint8_t*>(out.head.data()),
                     out.size - frame_header_size);
}

// -- decoding -----------------------------------------------------------------

namespace {

using object = msgpack::object;

/// Most msgpack objects (array elements plus map keys and values, as
/// announced by their headers) one payload may hold. msgpack-c allocates an
/// object (24 bytes) per announced element before reading it, so a payload of
/// one-byte elements would cost ~24x its size; this caps the tree at ~3 MiB.
/// The largest legitimate payload, 1024 leaf deliveries with 64-digest proofs,
/// announces about 84k objects.
constexpr size_t max_objects = size_t{1} << 17;

/// Deepest nesting of arrays and maps: envelope, body, list, entry, address
/// or proof, proof path.
constexpr size_t max_depth = 6;

msgpack::unpack_limit wire_limits() {
  return msgpack::unpack_limit(/*array*/ 1024, /*map*/ 16, /*str*/ 1024,
                               /*bin*/ max_frame_size, /*ext*/ 0,
                               /*depth*/ max_depth);
}

/// Pre-pass over the payload that counts announced objects and tracks depth
/// without allocating, so that `msgpack::unpack` only ever runs on payloads
/// whose object tree is small (see `max_objects`).
struct budget_visitor : msgpack::null_visitor {
  size_t objects = 0;
  size_t depth = 0;
  bool too_many = false;
  bool too_deep = false;

  bool enter(uint64_t n) {
    objects += n;
    too_many = objects > max_objects;
    too_deep = ++depth > max_depth;
    return !too_many && !too_deep;
  }
  bool start_array(uint32_t n) { return enter(n); }
  bool start_map(uint32_t n) { return enter(uint64_t{2} * n); }
  bool end_array() {
    --depth;
    return true;
  }
  bool end_map() {
    --depth;
    return true;
  }
};

/// Makes BIN objects point into the payload instead of copying them; every
/// decoded field is copied out before `decode` returns.
bool reference_bins(msgpack::type::object_type type, size_t, void*) {
  return type == msgpack::type::BIN;
}

caf::error bad(std::string what) {
  return make_error(ec::protocol_error, std::move(what));
}

/// The position of a value in the message, rendered only for error messages:
/// "want_list.e[3].a.t".
struct path {
  const path* parent = nullptr;
  /// Field name, or empty for an array element.
  std::string_view name;
  size_t index = 0;

  path child(std::string_view field) const { return path{this, field, 0}; }
  path item(size_t i) const { return path{this, {}, i}; }

  std::string str() const {
    std::string out = parent ? parent->str() : std::string{};
    if (name.empty())
      out += "[" + std::to_string(index) + "]";
    else if (parent)
      out += "." + std::string{name};
    else
      out += std::string{name};
    return out;
  }
};

caf::error missing(const path& p) {
  return bad("missing field " + p.str());
}

caf::error mistyped(const path& p, const char* expected) {
  return bad("field " + p.str() + " is not " + expected);
}

/// True if `s` is well-formed UTF-8 (no overlong forms, surrogates or code
/// points above U+10FFFF).
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= n)
      return false;
    for (size_t j = 1; j <= n; ++j) {
      auto d = static_cast<uint8_t>(s[i + j]);
      if ((d & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    static constexpr uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

/// The values of the known keys of a msgpack map, in the order of `keys`;
/// null where a key is absent. Unknown keys are ignored (room for optional
/// fields of later versions); a non-string or repeated known key is an error.
template <size_t N>
caf::error read_map(const object& o, const path& where,
                    const std::array<std::string_view, N>& keys,
                    std::array<const object*, N>& vals) {
  if (o.type != msgpack::type::MAP)
    return mistyped(where, "a map");
  vals.fill(nullptr);
  for (uint32_t i = 0; i < o.via.map.size; ++i) {
    const auto& kv = o.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR)
      return bad(where.str() + " has a key that is not a string");
    std::string_view key{kv.key.via.str.ptr, kv.key.via.str.size};
    for (size_t k = 0; k < N; ++k) {
      if (key == keys[k]) {
        if (vals[k] != nullptr)
          return bad("duplicate field " + where.child(key).str());
        vals[k] = &kv.val;
        break;
      }
    }
  }
  return caf::none;
}

caf::error get_uint(const object* v, const path& p, uint64_t max,
                    uint64_t& out) {
  if (v == nullptr)
    return missing(p);
  if (v->type != msgpack::type::POSITIVE_INTEGER)
    return mistyped(p, "an unsigned integer");
  if (v->via.u64 > max)
    return bad("field " + p.str() +
               " is out of range: " + std::to_string(v->via.u64));
  out = v->via.u64;
  return caf::none;
}

caf::error get_int32(const object* v, const path& p, int32_t& out) {
  if (v == nullptr)
    return missing(p);
  if (v->type == msgpack::type::POSITIVE_INTEGER) {
    if (v->via.u64 > static_cast<uint64_t>(INT32_MAX))
      return bad("field " + p.str() + " is out of range");
    out = static_cast<int32_t>(v->via.u64);
    return caf::none;
  }
  if (v->type == msgpack::type::NEGATIVE_INTEGER) {
    if (v->via.i64 < INT32_MIN)
      return bad("field " + p.str() + " is out of range");
    out = static_cast<int32_t>(v->via.i64);
    return caf::none;
  }
  return mistyped(p, "an integer");
}

caf::error get_bool(const object* v, const path& p, bool& out) {
  if (v == nullptr)
    return missing(p);
  if (v->type != msgpack::type::BOOLEAN)
    return mistyped(p, "a boolean");
  out = v->via.boolean;
  return caf::none;
}

caf::error get_bin(const object* v, const path& p, byte_view& out) {
  if (v == nullptr)
    return missing(p);
  if (v->type != msgpack::type::BIN)
    return mistyped(p, "bin");
  out = byte_view{reinterpret_cast<const uint8_t*>(v->via.bin.ptr),
                  v->via.bin.size};
  return caf::none;
}

template <size_t N>
caf::error get_fixed(const object* v, const path& p,
                     std::array<uint8_t, N>& out) {
  byte_view b;
  if (auto err = get_bin(v, p, b))
    return err;
  if (b.size != N)
    return bad("field " + p.str() + " has " + std::to_string(b.size) +
               " bytes, expected " + std::to_string(N));
  std::memcpy(out.data(), b.data, N);
  return caf::none;
}

caf::error get_str(const object* v, const path& p, size_t max,
                   std::string& out) {
  if (v == nullptr)
    return missing(p);
  if (v->type != msgpack::type::STR)
    return mistyped(p, "a string");
  std::string_view s{v->via.str.ptr, v->via.str.size};
  if (s.size() > max)
    return bad("field " + p.str() + " is longer than " + std::to_string(max) +
               " bytes");
  // Reasons and addresses end up in logs and JSON, which need valid UTF-8.
  if (!valid_utf8(s))
    return bad("field " + p.str() + " is not valid UTF-8");
  out.assign(s);
  return caf::none;
}

caf::error get_array(const object* v, const path& p, size_t max,
                     const msgpack::object_array*& out) {
  if (v == nullptr)
    return missing(p);
  if (v->type != msgpack::type::ARRAY)
    return mistyped(p, "an array");
  if (v->via.array.size > max)
    return bad("field " + p.str() + " has " +
               std::to_string(v->via.array.size) + " elements, at most " +
               std::to_string(max) + " allowed");
  out = &v->via.array;
  return caf::none;
}

caf::error get_cid(const object* v, const path& p, cid& out) {
  byte_view b;
  if (auto err = get_bin(v, p, b))
    return err;
  auto c = cid::from_bytes(b);
  if (!c)
    return bad("field " + p.str() + ": " + describe(c.error()));
  out = *c;
  return caf::none;
}

caf::error get_address(const object* v, const path& p, address& out) {
  if (v == nullptr)
    return missing(p);
  static constexpr std::array<std::string_view, 3> keys{"c", "t", "i"};
  std::array<const object*, 3> f;
  if (auto err = read_map(*v, p, keys, f))
    return err;
  if (f[0] != nullptr) {
    if (f[1] != nullptr || f[2] != nullptr)
      return bad("address " + p.str() + " has both c and t/i");
    cid c;
    if (auto err = get_cid(f[0], p.child("c"), c))
      return err;
    out = c;
    return caf::none;
  }
  if (f[1] == nullptr)
    return bad("missing field " + p.str() + ".c or " + p.str() + ".t");
  block_address l;
  if (auto err = get_cid(f[1], p.child("t"), l.tree))
    return err;
  if (l.tree.codec != multicodec::codex_root)
    return bad("field " + p.child("t").str() + " is not a codex-root CID");
  if (auto err = get_uint(f[2], p.child("i"),
                          std::numeric_limits<uint64_t>::max(), l.index))
    return err;
  out = l;
  return caf::none;
}

caf::error get_proof(const object* v, const path& p, merkle_proof& out) {
  if (v == nullptr)
    return missing(p);
  static constexpr std::array<std::string_view, 3> keys{"i", "n", "p"};
  std::array<const object*, 3> f;
  if (auto err = read_map(*v, p, keys, f))
    return err;
  constexpr auto u64_max = std::numeric_limits<uint64_t>::max();
  if (auto err = get_uint(f[0], p.child("i"), u64_max, out.index))
    return err;
  if (auto err = get_uint(f[1], p.child("n"), u64_max, out.nleaves))
    return err;
  if (out.index >= out.nleaves)
    return bad("proof " + p.str() + " has index " + std::to_string(out.index) +
               " outside its " + std::to_string(out.nleaves) + " leaves");
  const msgpack::object_array* arr;
  auto pp = p.child("p");
  if (auto err = get_array(f[2], pp, max_proof_path, arr))
    return err;
  out.path.resize(arr->size);
  for (uint32_t i = 0; i < arr->size; ++i)
    if (auto err = get_fixed(&arr->ptr[i], pp.item(i), out.path[i]))
      return err;
  return caf::none;
}

// Each body decoder gets the body object and the path of the message.

caf::error decode_body(const object& o, const path& p, hello& x) {
  static constexpr std::array<std::string_view, 4> keys{"v", "k", "a", "n"};
  std::array<const object*, 4> f;
  if (auto err = read_map(o, p, keys, f))
    return err;
  uint64_t version = 0;
  if (auto err = get_uint(f[0], p.child("v"), UINT32_MAX, version))
    return err;
  x.version = static_cast<uint32_t>(version);
  if (auto err = get_fixed(f[1], p.child("k"), x.public_key))
    return err;
  const msgpack::object_array* arr;
  auto pa = p.child("a");
  if (auto err = get_array(f[2], pa, max_addrs, arr))
    return err;
  x.addrs.resize(arr->size);
  for (uint32_t i = 0; i < arr->size; ++i)
    if (auto err = get_str(&arr->ptr[i], pa.item(i), max_addr_size, x.addrs[i]))
      return err;
  return get_fixed(f[3], p.child("n"), x.nonce);
}

caf::error decode_body(const object& o, const path& p, auth& x) {
  static constexpr std::array<std::string_view, 1> keys{"s"};
  std::array<const object*, 1> f;
  if (auto err = read_map(o, p, keys, f))
    return err;
  std::array<uint8_t, signature_size> sig;
  if (auto err = get_fixed(f[0], p.child("s"), sig))
    return err;
  x.signature.assign(sig.begin(), sig.end());
  return caf::none;
}

caf::error decode_entry(const object& o, const path& p, want_entry& x) {
  static constexpr std::array<std::string_view, 6> keys{"a", "p", "c",
                                                        "t", "d", "l"};
  std::array<const object*, 6> f;
  if (auto err = read_map(o, p, keys, f))
    return err;
  if (auto err = get_address(f[0], p.child("a"), x.addr))
    return err;
  if (auto err = get_int32(f[1], p.child("p"), x.priority))
    return err;
  if (auto err = get_bool(f[2], p.child("c"), x.cancel))
    return err;
  uint64_t type = 0;
  if (auto err = get_uint(f[3], p.child("t"), 1, type))
    return err;
  x.type = static_cast<want_entry::want_type>(type);
  if (auto err = get_bool(f[4], p.child("d"), x.send_dont_have))
    return err;
  if (f[5] == nullptr)
    return caf::none;
  uint64_t leaves = 0;
  if (auto err = get_uint(f[5], p.child("l"), max_leaves_with_manifest, leaves))
    return err;
  auto* id = std::get_if<cid>(&x.addr);
  if (leaves > 0 && (x.cancel || x.type != want_entry::want_type::block ||
                     id == nullptr || id->codec != multicodec::codex_manifest))
    return bad("field " + p.child("l").str() +
               " is only allowed on a want-block of a manifest");
  x.leaves = static_cast<uint32_t>(leaves);
  return caf::none;
}

caf::error decode_body(const object& o, const path& p, want_list& x) {
  static constexpr std::array<std::string_view, 2> keys{"e", "f"};
  std::array<const object*, 2> f;
  if (auto err = read_map(o, p, keys, f))
    return err;
  const msgpack::object_array* arr;
  auto pe = p.child("e");
  if (auto err = get_array(f[0], pe, max_want_entries, arr))
    return err;
  x.entries.resize(arr->size);
  for (uint32_t i = 0; i < arr->size; ++i)
    if (auto err = decode_entry(arr->ptr[i], pe.item(i), x.entries[i]))
      return err;
  return get_bool(f[1], p.child("f"), x.full);
}

caf::error decode_presence(const object& o, const path& p, presence& x) {
  static constexpr std::array<std::string_view, 3> keys{"a", "h", "p"};
  std::array<const object*, 3> f;
  if (auto err = read_map(o, p, keys, f))
    return err;
  if (auto err = get_address(f[0], p.child("a"), x.addr))
    return err;
  if (auto err = get_bool(f[1], p.child("h"), x.have))
    return err;
  return get_uint(f[2], p.child("p"), std::numeric_limits<uint64_t>::max(),
                  x.price);
}

caf::error decode_body(const object& o, const path& p, block_presence& x) {
  static constexpr std::array<std::string_view, 1> keys{"p"};
  std::array<const object*, 1> f;
  if (auto err = read_map(o, p, keys, f))
    return err;
  const msgpack::object_array* arr;
  auto pp = p.child("p");
  if (auto err = get_array(f[0], pp, max_presences, arr))
    return err;
  x.presences.resize(arr->size);
  for (uint32_t i = 0; i < arr->size; ++i)
    if (auto err = decode_presence(arr->ptr[i], pp.item(i), x.presences[i]))
      return err;
  return caf::none;
}

caf::error decode_delivery(const object& o, const path& p, delivery& x,
                           size_t& total) {
  static constexpr std::array<std::string_view, 3> keys{"a", "d", "p"};
  std::array<const object*, 3> f;
  if (auto err = read_map(o, p, keys, f))
    return err;
  if (auto err = get_address(f[0], p.child("a"), x.addr))
    return err;
  byte_view data;
  if (auto err = get_bin(f[1], p.child("d"), data))
    return err;
  total += data.size;
  if (total > max_delivery_bytes)
    return bad("block_delivery carries more than " +
               std::to_string(max_delivery_bytes) + " bytes of data");
  auto leaf = std::get_if<block_address>(&x.addr);
  if (leaf != nullptr) {
    merkle_proof proof;
    if (auto err = get_proof(f[2], p.child("p"), proof))
      return err;
    if (proof.index != leaf->index)
      return bad("proof " + p.child("p").str() + " is for leaf " +
                 std::to_string(proof.index) + ", not " +
                 std::to_string(leaf->index));
    x.proof = std::move(proof);
  } else if (f[2] != nullptr) {
    return bad("field " + p.child("p").str() +
               " (proof) given for a block addressed by CID");
  }
  x.data = buffer_pool::blocks().copy(data.data, data.size);
  return caf::none;
}

caf::error decode_body(const object& o, const path& p, block_delivery& x) {
  static constexpr std::array<std::string_view, 1> keys{"b"};
  std::array<const object*, 1> f;
  if (auto err = read_map(o, p, keys, f))
    return err;
  const msgpack::object_array* arr;
  auto pb = p.child("b");
  if (auto err = get_array(f[0], pb, max_deliveries, arr))
    return err;
  x.blocks.resize(arr->size);
  size_t total = 0;
  for (uint32_t i = 0; i < arr->size; ++i)
    if (auto err = decode_delivery(arr->ptr[i], pb.item(i), x.blocks[i], total))
      return err;
  return caf::none;
}

caf::error decode_nonce(const object& o, const path& p, uint64_t& nonce) {
  static constexpr std::array<std::string_view, 1> keys{"n"};
  std::array<const object*, 1> f;
  if (auto err = read_map(o, p, keys, f))
    return err;
  return get_uint(f[0], p.child("n"), std::numeric_limits<uint64_t>::max(),
                  nonce);
}

caf::error decode_body(const object& o, const path& p, ping& x) {
  return decode_nonce(o, p, x.nonce);
}

caf::error decode_body(const object& o, const path& p, pong& x) {
  return decode_nonce(o, p, x.nonce);
}

caf::error decode_body(const object& o, const path& p, goodbye& x) {
  static constexpr std::array<std::string_view, 1> keys{"r"};
  std::array<const object*, 1> f;
  if (auto err = read_map(o, p, keys, f))
    return err;
  return get_str(f[0], p.child("r"), max_reason_size, x.reason);
}

/// Decodes a body of alternative `I` of `message` (wire type I + 1).
template <size_t I>
caf::expected<message> decode_as(const object& body) {
  static constexpr const char* names[] = {
    "hello",          "auth", "want_list", "block_presence",
    "block_delivery", "ping", "pong",      "goodbye",
  };
  std::variant_alternative_t<I, message> x;
  path root{nullptr, names[I], 0};
  if (auto err = decode_body(body, root, x))
    return err;
  return message{std::in_place_index<I>, std::move(x)};
}

caf::expected<message> decode_envelope(const object& o) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size != 2)
    return bad("message is not a 2-element array [type, body]");
  const auto& t = o.via.array.ptr[0];
  const auto& body = o.via.array.ptr[1];
  if (t.type != msgpack::type::POSITIVE_INTEGER)
    return bad("message type is not an unsigned integer");
  switch (t.via.u64) {
  case 1:
    return decode_as<0>(body);
  case 2:
    return decode_as<1>(body);
  case 3:
    return decode_as<2>(body);
  case 4:
    return decode_as<3>(body);
  case 5:
    return decode_as<4>(body);
  case 6:
    return decode_as<5>(body);
  case 7:
    return decode_as<6>(body);
  case 8:
    return decode_as<7>(body);
  default:
    return bad("unknown message type " + std::to_string(t.via.u64));
  }
}

} // namespace

caf::expected<message> decode(byte_view payload) {
  static_assert(num_types == 8, "update decode_envelope and FORMAT.md");
  if (payload.size == 0)
    return bad("empty payload");
  if (payload.size > max_frame_size)
    return bad("payload of " + std::to_string(payload.size) +
               " bytes exceeds the 4 MiB frame limit");
  auto data = reinterpret_cast<const char*>(payload.data);
  try {
    {
      budget_visitor v;
      size_t off = 0;
      // A parse error here is reported by the unpack below, with its reason.
      msgpack::parse(data, payload.size, off, v);
      if (v.too_many)
        return bad("msgpack: more than " + std::to_string(max_objects) +
                   " objects");
      if (v.too_deep)
        return bad("msgpack: nesting deeper than " + std::to_string(max_depth));
    }
    size_t off = 0;
    auto oh = msgpack::unpack(data, payload.size, off, reference_bins, nullptr,
                              wire_limits());
    // One message per frame: trailing bytes mean a confused or hostile peer.
    if (off != payload.size)
      return bad(std::to_string(payload.size - off) +
                 " trailing bytes after the message");
    return decode_envelope(oh.get());
  } catch (const std::exception& e) {
    return bad(std::string{"msgpack: "} + e.what());
  } catch (...) {
    return bad("msgpack: unknown exception");
  }
}

} // namespace cairn::wire
