#include "messages/wire/dht_messages.hpp"

#include <cstring>
#include <type_traits>

#include <msgpack.hpp>

#include "messages/error.hpp"
#include "messages/msgpack_pack.hpp"

// Layout: see DHT_FORMAT.md next to this file. In short, a packet is
//   array(5) [ version uint, request_id uint, sender bin, type uint, body ]
// with records nested as bin (their own msgpack, see peer_record.hpp).

namespace cairn::wire::dht {

namespace {

using packer = msgpack::packer<msgpack::sbuffer>;

// Message type codes (the "type" field).
enum class type_code : uint8_t {
  ping = 1,
  pong = 2,
  find_node = 3,
  nodes = 4,
  add_provider = 5,
  get_providers = 6,
  providers = 7,
};

template <class T>
constexpr type_code code_of() {
  if constexpr (std::is_same_v<T, ping>)
    return type_code::ping;
  else if constexpr (std::is_same_v<T, pong>)
    return type_code::pong;
  else if constexpr (std::is_same_v<T, find_node>)
    return type_code::find_node;
  else if constexpr (std::is_same_v<T, nodes>)
    return type_code::nodes;
  else if constexpr (std::is_same_v<T, add_provider>)
    return type_code::add_provider;
  else if constexpr (std::is_same_v<T, get_providers>)
    return type_code::get_providers;
  else
    return type_code::providers;
}

void pack_id(packer& pk, const digest256& x) {
  pack_bin(pk, x.data(), x.size());
}

void pack_records(packer& pk, const std::vector<peer_record>& xs) {
  pk.pack_array(static_cast<uint32_t>(xs.size()));
  for (const auto& r : xs)
    pack_bin(pk, r.encode());
}

caf::error bad(std::string what) {
  return make_error(ec::protocol_error, "dht packet: " + std::move(what));
}

// Outer limits: arrays hold at most one list of records; strings, maps and
// extensions never occur; a bin is a record or a 32-byte ID; nesting is
// packet → body → list.
msgpack::unpack_limit packet_limits() {
  return msgpack::unpack_limit(/*array*/ max_records_per_list, /*map*/ 0,
                               /*str*/ 0, /*bin*/ peer_record::max_encoded_size,
                               /*ext*/ 0, /*depth*/ 3);
}

byte_view bin_view(const msgpack::object& o) {
  return byte_view{reinterpret_cast<const uint8_t*>(o.via.bin.ptr),
                   o.via.bin.size};
}

caf::expected<digest256> get_id(const msgpack::object& o, const char* what) {
  if (o.type != msgpack::type::BIN || o.via.bin.size != 32)
    return bad(std::string{what} + " is not bin(32)");
  digest256 out;
  std::memcpy(out.data(), o.via.bin.ptr, 32);
  return out;
}

caf::expected<peer_record> get_record(const msgpack::object& o,
                                      const std::string& what) {
  if (o.type != msgpack::type::BIN)
    return bad(what + " is not bin");
  auto r = peer_record::decode(bin_view(o));
  if (!r)
    return make_error(is(r.error(), ec::verification_failed)
                        ? ec::verification_failed
                        : ec::protocol_error,
                      "dht packet: " + what, describe(r.error()));
  return r;
}

caf::expected<std::vector<peer_record>> get_records(const msgpack::object& o,
                                                    const char* what) {
  if (o.type != msgpack::type::ARRAY)
    return bad(std::string{what} + " is not an array");
  std::vector<peer_record> out;
  out.reserve(o.via.array.size);
  for (uint32_t i = 0; i < o.via.array.size; ++i) {
    auto r = get_record(o.via.array.ptr[i],
                        std::string{what} + "[" + std::to_string(i) + "]");
    if (!r)
      return r.error();
    out.push_back(std::move(*r));
  }
  return out;
}

caf::error check_lists(const packet& x) {
  auto too_long = [](const std::vector<peer_record>& v) {
    return v.size() > max_records_per_list;
  };
  if (auto n = std::get_if<nodes>(&x.body); n && too_long(n->closer))
    return make_error(ec::invalid_argument, "dht packet: too many records");
  if (auto p = std::get_if<providers>(&x.body);
      p && (too_long(p->providers) || too_long(p->closer)))
    return make_error(ec::invalid_argument, "dht packet: too many records");
  if (auto a = std::get_if<add_provider>(&x.body);
      a && a->provider.public_key != x.sender.public_key)
    return make_error(ec::invalid_argument,
                      "dht packet: add_provider for another peer");
  return caf::none;
}

} // namespace

std::string kind_name(const body& x) {
  static constexpr const char* names[] = {
    "ping",         "pong",          "find_node", "nodes",
    "add_provider", "get_providers", "providers"};
  return names[x.index()];
}

caf::expected<bytes> encode(const packet& x) {
  if (auto err = check_lists(x))
    return err;
  msgpack::sbuffer buf;
  packer pk(buf);
  pk.pack_array(5);
  pk.pack_uint8(protocol_version);
  pk.pack_uint64(x.request_id);
  pack_bin(pk, x.sender.encode());
  std::visit(
    [&](const auto& b) {
      using T = std::decay_t<decltype(b)>;
      pk.pack_uint8(static_cast<uint8_t>(code_of<T>()));
      if constexpr (std::is_same_v<T, ping> || std::is_same_v<T, pong>) {
        pk.pack_array(0);
      } else if constexpr (std::is_same_v<T, find_node>) {
        pk.pack_array(1);
        pack_id(pk, b.target);
      } else if constexpr (std::is_same_v<T, nodes>) {
        pk.pack_array(1);
        pack_records(pk, b.closer);
      } else if constexpr (std::is_same_v<T, add_provider>) {
        pk.pack_array(2);
        pack_id(pk, b.key);
        pack_bin(pk, b.provider.encode());
      } else if constexpr (std::is_same_v<T, get_providers>) {
        pk.pack_array(1);
        pack_id(pk, b.key);
      } else {
        pk.pack_array(2);
        pack_records(pk, b.providers);
        pack_records(pk, b.closer);
      }
    },
    x.body);
  if (buf.size() > max_datagram_size)
    return make_error(ec::invalid_argument, "dht packet: encoded size",
                      std::to_string(buf.size()) + " > " +
                        std::to_string(max_datagram_size));
  auto p = reinterpret_cast<const uint8_t*>(buf.data());
  return bytes(p, p + buf.size());
}

size_t trim_to_fit(packet& x) {
  size_t dropped = 0;
  auto cut = [&](std::vector<peer_record>& v) {
    if (v.size() > max_records_per_list) {
      dropped += v.size() - max_records_per_list;
      v.resize(max_records_per_list);
    }
  };
  // Lists to shorten, in order of preference.
  std::vector<std::vector<peer_record>*> lists;
  if (auto n = std::get_if<nodes>(&x.body)) {
    lists.push_back(&n->closer);
  } else if (auto p = std::get_if<providers>(&x.body)) {
    lists.push_back(&p->closer);
    lists.push_back(&p->providers);
  }
  for (auto* v : lists)
    cut(*v);
  for (auto* v : lists) {
    while (!v->empty() && !encode(x)) {
      v->pop_back();
      ++dropped;
    }
  }
  return dropped;
}

namespace {

// Unpacks `in` into `oh` and checks the packet's five fields (version,
// request ID, type and body kinds); returns them.
caf::expected<const msgpack::object*>
unpack_fields(byte_view in, msgpack::object_handle& oh) {
  if (in.size > max_datagram_size)
    return bad("datagram larger than " + std::to_string(max_datagram_size) +
               " bytes");
  try {
    size_t offset = 0;
    oh = msgpack::unpack(reinterpret_cast<const char*>(in.data), in.size,
                         offset, nullptr, nullptr, packet_limits());
    if (offset != in.size)
      return bad("trailing bytes");
  } catch (const std::exception& e) {
    return bad(std::string{"msgpack: "} + e.what());
  }
  const auto& obj = oh.get();
  if (obj.type != msgpack::type::ARRAY || obj.via.array.size != 5)
    return bad("not an array of 5 fields");
  const auto* f = obj.via.array.ptr;
  if (f[0].type != msgpack::type::POSITIVE_INTEGER ||
      f[0].via.u64 != protocol_version)
    return bad("unknown protocol version");
  if (f[1].type != msgpack::type::POSITIVE_INTEGER)
    return bad("request_id is not an unsigned integer");
  if (f[3].type != msgpack::type::POSITIVE_INTEGER)
    return bad("type is not an unsigned integer");
  if (f[4].type != msgpack::type::ARRAY)
    return bad("body is not an array");
  return f;
}

} // namespace

bool is_request(const body& x) {
  return std::holds_alternative<ping>(x) ||
         std::holds_alternative<find_node>(x) ||
         std::holds_alternative<add_provider>(x) ||
         std::holds_alternative<get_providers>(x);
}

caf::expected<header> peek(byte_view in) {
  msgpack::object_handle oh;
  auto f = unpack_fields(in, oh);
  if (!f)
    return f.error();
  auto type = (*f)[3].via.u64;
  if (type < static_cast<uint64_t>(type_code::ping) ||
      type > static_cast<uint64_t>(type_code::providers))
    return bad("unknown message type " + std::to_string(type));
  header out;
  out.request_id = (*f)[1].via.u64;
  auto code = static_cast<type_code>(type);
  out.request = code == type_code::ping || code == type_code::find_node ||
                code == type_code::add_provider ||
                code == type_code::get_providers;
  return out;
}

caf::expected<packet> decode(byte_view in) {
  msgpack::object_handle oh;
  auto fields = unpack_fields(in, oh);
  if (!fields)
    return fields.error();
  const auto* f = *fields;
  packet out;
  out.request_id = f[1].via.u64;
  auto sender = get_record(f[2], "sender");
  if (!sender)
    return sender.error();
  out.sender = std::move(*sender);
  const auto& b = f[4].via.array;
  auto want = [&](uint32_t n, const char* what) -> caf::error {
    if (b.size != n)
      return bad(std::string{what} + " body must have " + std::to_string(n) +
                 " fields");
    return caf::none;
  };
  switch (f[3].via.u64) {
  case static_cast<uint64_t>(type_code::ping):
    if (auto err = want(0, "ping"))
      return err;
    out.body = ping{};
    break;
  case static_cast<uint64_t>(type_code::pong):
    if (auto err = want(0, "pong"))
      return err;
    out.body = pong{};
    break;
  case static_cast<uint64_t>(type_code::find_node): {
    if (auto err = want(1, "find_node"))
      return err;
    auto t = get_id(b.ptr[0], "target");
    if (!t)
      return t.error();
    out.body = find_node{*t};
    break;
  }
  case static_cast<uint64_t>(type_code::nodes): {
    if (auto err = want(1, "nodes"))
      return err;
    auto c = get_records(b.ptr[0], "closer");
    if (!c)
      return c.error();
    out.body = nodes{std::move(*c)};
    break;
  }
  case static_cast<uint64_t>(type_code::add_provider): {
    if (auto err = want(2, "add_provider"))
      return err;
    auto k = get_id(b.ptr[0], "key");
    if (!k)
      return k.error();
    auto p = get_record(b.ptr[1], "provider");
    if (!p)
      return p.error();
    if (p->public_key != out.sender.public_key)
      return bad("add_provider for another peer");
    out.body = add_provider{*k, std::move(*p)};
    break;
  }
  case static_cast<uint64_t>(type_code::get_providers): {
    if (auto err = want(1, "get_providers"))
      return err;
    auto k = get_id(b.ptr[0], "key");
    if (!k)
      return k.error();
    out.body = get_providers{*k};
    break;
  }
  case static_cast<uint64_t>(type_code::providers): {
    if (auto err = want(2, "providers"))
      return err;
    auto p = get_records(b.ptr[0], "providers");
    if (!p)
      return p.error();
    auto c = get_records(b.ptr[1], "closer");
    if (!c)
      return c.error();
    out.body = providers{std::move(*p), std::move(*c)};
    break;
  }
  default:
    return bad("unknown message type " + std::to_string(f[3].via.u64));
  }
  return out;
}

} // namespace cairn::wire::dht
