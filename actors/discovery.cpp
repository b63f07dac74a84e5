#include "actors/discovery.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "actors/local_store.hpp"
#include "messages/base58.hpp"
#include "messages/error.hpp"
#include "storage/rate_limiter.hpp"

namespace cairn::actors {

namespace dht = wire::dht;

// -- the socket
// ---------------------------------------------------------------------

caf::expected<std::shared_ptr<udp_socket>>
udp_socket::bind(const std::string& ip, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return make_error(ec::unavailable, "socket(UDP)",
                      std::string{strerror(errno)});
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    ::close(fd);
    return make_error(ec::unavailable, "invalid IPv4 address '" + ip + "'");
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    auto why = std::string{strerror(errno)};
    ::close(fd);
    return make_error(
      ec::unavailable,
      "cannot bind the DHT to " + ip + ":" + std::to_string(port), why);
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return std::shared_ptr<udp_socket>{new udp_socket(fd, ntohs(addr.sin_port))};
}

udp_socket::~udp_socket() {
  ::close(fd_);
}

void discovery_state::save_contacts() {
  saved_at = std::chrono::steady_clock::now();
  if (cfg.contacts_file.empty() || !table)
    return;
  std::vector<std::string> lines;
  for (auto& c : table->all())
    lines.push_back(c.record.to_text());
  std::sort(lines.begin(), lines.end());
  // An empty table (a node that lost touch) keeps the contacts it had.
  if (lines.empty() || lines == saved)
    return;
  std::string text;
  for (auto& l : lines)
    text += l + '\n';
  auto tmp = cfg.contacts_file + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 &&
            ::write(fd, text.data(), text.size()) ==
              static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  if (fd >= 0)
    ::close(fd);
  if (!ok) {
    spdlog::warn("discovery: cannot write {}: {}", tmp, strerror(errno));
    return;
  }
  // The rename replaces the old file whole: a crash leaves one or the other.
  if (std::rename(tmp.c_str(), cfg.contacts_file.c_str()) != 0) {
    spdlog::warn("discovery: cannot rename {}: {}", tmp, strerror(errno));
    return;
  }
  saved = std::move(lines);
}

discovery_state::~discovery_state() {
  // Unregistered first: no datagram reaches a mailbox that is gone.
  receiver.reset();
  save_contacts();
}

namespace {

using discovery_ptr = discovery_actor::stateful_pointer<discovery_state>;
using clock = std::chrono::steady_clock;

uint64_t random_id() {
  uint64_t x = 0;
  RAND_bytes(reinterpret_cast<uint8_t*>(&x), sizeof(x));
  return x;
}

// The first IPv4 UDP address in a record, if any (DNS names are not
// resolved: the DHT never blocks on a lookup).
std::optional<udp_address> udp_of(const peer_record& r) {
  for (auto& a : r.addrs) {
    auto ep = parse_multiaddr(a);
    in_addr ip{};
    if (ep && ep->udp && ::inet_pton(AF_INET, ep->host.c_str(), &ip) == 1)
      return udp_address{ntohl(ip.s_addr), ep->port};
  }
  return std::nullopt;
}

// "A.B.C.D:PORT", as the poller's handler writes a datagram's source.
std::optional<udp_address> parse_source(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    return std::nullopt;
  in_addr ip{};
  if (::inet_pton(AF_INET, text.substr(0, colon).c_str(), &ip) != 1)
    return std::nullopt;
  auto port = std::strtoul(text.c_str() + colon + 1, nullptr, 10);
  if (port == 0 || port > 65535)
    return std::nullopt;
  return udp_address{ntohl(ip.s_addr), static_cast<uint16_t>(port)};
}

void send_packet(discovery_ptr self, const udp_address& to, dht::packet pkt) {
  auto& st = self->state;
  dht::trim_to_fit(pkt);
  auto bytes = dht::encode(pkt);
  if (!bytes) {
    spdlog::warn("discovery: cannot encode {}: {}", dht::kind_name(pkt.body),
                 describe(bytes.error()));
    return;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(to.port);
  addr.sin_addr.s_addr = htonl(to.ip);
  ::sendto(st.cfg.socket->fd(), bytes->data(), bytes->size(), MSG_DONTWAIT,
           reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ++st.packets_out;
}

// Sends a request to `c` at the address its record claims; its answer (or
// timeout) goes to lookup `lookup`. The request ID is random, so that only
// who received the request can answer it.
void request(discovery_ptr self, const storage::contact& c, dht::body body,
             uint64_t lookup, bool verify = false) {
  auto& st = self->state;
  auto ep = udp_of(c.record);
  if (!ep) {
    // Unreachable contact: count it as failed right away.
    if (auto l = st.lookups.find(lookup); l != st.lookups.end())
      l->second.walk.on_failure(c.id);
    return;
  }
  auto id = random_id();
  st.requests[id] = dht_request{c.id, *ep, lookup, verify,
                                clock::now() + st.cfg.request_timeout};
  if (verify)
    st.verifying[c.id] = id;
  send_packet(self, *ep, dht::packet{id, st.self_record, std::move(body)});
}

std::vector<peer_record> records_of(const std::vector<storage::contact>& cs) {
  std::vector<peer_record> out;
  for (auto& c : cs)
    out.push_back(c.record);
  return out;
}

void finish(discovery_ptr self, uint64_t id);

bool has_new_provider(const discovery_state& st, const dht_lookup& l) {
  if (l.found.size() >= 5)
    return true;
  auto i = st.answered.find(l.key);
  for (auto& [peer, text] : l.found)
    if (i == st.answered.end() || i->second.count(peer) == 0)
      return true;
  return false;
}

// Sends the next queries of a lookup; finishes it when it is done.
void drive(discovery_ptr self, uint64_t id) {
  auto& st = self->state;
  auto it = st.lookups.find(id);
  if (it == st.lookups.end())
    return;
  auto& l = it->second;
  // Providers are answered as soon as one is known that the last lookup
  // of the key did not answer with, without waiting for the rest of the
  // walk: a contact that is gone would hold the answer for a whole
  // request timeout, and whoever asked looks again later for more (a node
  // answering GET_PROVIDERS sends all it has at once).
  if (l.kind == dht_lookup::mode::find_providers && has_new_provider(st, l)) {
    finish(self, id);
    return;
  }
  for (auto& c : l.walk.next_queries()) {
    if (l.kind == dht_lookup::mode::find_providers)
      request(self, c, dht::get_providers{l.key}, id);
    else
      request(self, c, dht::find_node{l.key}, id);
  }
  if (st.lookups.count(id) > 0 && st.lookups.at(id).walk.done())
    finish(self, id);
}

void finish(discovery_ptr self, uint64_t id) {
  auto& st = self->state;
  auto it = st.lookups.find(id);
  if (it == st.lookups.end())
    return;
  auto l = std::move(it->second);
  st.lookups.erase(it);
  for (auto i = st.requests.begin(); i != st.requests.end();)
    i = i->second.lookup == id ? st.requests.erase(i) : std::next(i);
  if (l.kind == dht_lookup::mode::find_providers) {
    std::vector<std::string> out;
    if (st.answered.size() > 4096)
      st.answered.clear();
    if (st.lookup_tally.size() > 4096)
      st.lookup_tally.clear();
    auto& tally = st.lookup_tally[l.key];
    ++tally.lookups;
    tally.queries += l.walk.queries_sent();
    if (tally.hops.size() < 64)
      tally.hops.push_back(l.walk.hops());
    auto& seen = st.answered[l.key];
    seen.clear();
    for (auto& [peer, text] : l.found) {
      out.push_back(text);
      seen.insert(peer);
    }
    for (auto& p : l.finders)
      p.deliver(out);
  } else if (l.kind == dht_lookup::mode::find_node && !l.finders.empty()) {
    // A peer's record: the node itself answered the walk.
    std::vector<std::string> out;
    for (auto& c : l.walk.result())
      if (c.id == l.key)
        out.push_back(c.record.to_text());
    for (auto& p : l.finders)
      p.deliver(out);
  } else if (l.kind == dht_lookup::mode::provide) {
    // The k closest nodes store our record for the key.
    for (auto& c : l.walk.result())
      request(self, c, dht::add_provider{l.key, st.self_record}, 0);
    for (auto& p : l.providers)
      p.deliver(ok_atom::value);
  }
}

uint64_t start_lookup(discovery_ptr self, dht_lookup::mode kind,
                      const digest256& key) {
  auto& st = self->state;
  auto id = st.next_id++;
  auto seeds = st.table->closest(key, st.table->k());
  // Until the table has k contacts, the bootstrap nodes are asked too: one
  // that did not answer yet (down at start) gets another chance.
  if (st.table->size() < st.table->k())
    for (auto& c : st.seeds)
      if (!st.table->contains(c.id))
        seeds.push_back(c);
  dht_lookup l{
    kind, storage::kad_lookup{key, seeds, st.table->k(), 3, st.self_id},
    key,  {},
    {},   {}};
  st.lookups.emplace(id, std::move(l));
  return id;
}

// `r` answered at `from`: it goes into (or is refreshed in) the routing
// table if `from` is the address its record claims.
void confirm(discovery_ptr self, const peer_record& r,
             const udp_address& from) {
  auto& st = self->state;
  if (r.public_key == st.cfg.key->public_key() || udp_of(r) != from)
    return;
  auto res = st.table->update(r, clock::now());
  // A full bucket: ask its oldest contact whether it is still there.
  if (res.ping_candidate)
    request(self, *res.ping_candidate, dht::ping{}, 0);
}

// `r` sent a request from `from`. A known contact is refreshed; a new one
// is pinged at its address, and enters the table if it answers. A record
// whose address is not where the request came from is left alone: checking
// it would send a packet to whoever that address is.
void heard_from(discovery_ptr self, const peer_record& r,
                const udp_address& from) {
  auto& st = self->state;
  if (r.public_key == st.cfg.key->public_key() || udp_of(r) != from)
    return;
  auto id = storage::node_id_of(r);
  if (st.table->contains(id)) {
    confirm(self, r, from);
    return;
  }
  if (st.verifying.count(id) > 0 ||
      st.verifying.size() >= st.cfg.max_verifications)
    return;
  request(self, storage::contact{id, r, {}, 0}, dht::ping{}, 0, true);
}

// An answer: it ends its request if it comes from the node asked, at the
// address asked; else it is dropped (an off-path sender cannot know the
// random request ID, an on-path one learns nothing it could not send).
void on_answer(discovery_ptr self, dht::packet& pkt, const udp_address& from) {
  auto& st = self->state;
  auto req = st.requests.find(pkt.request_id);
  auto sender = storage::node_id_of(pkt.sender);
  if (req == st.requests.end() || req->second.addr != from ||
      req->second.to != sender) {
    ++st.unsolicited;
    return;
  }
  auto info = req->second;
  st.requests.erase(req);
  if (info.verify)
    st.verifying.erase(info.to);
  confirm(self, pkt.sender, from);
  auto l = st.lookups.find(info.lookup);
  if (l == st.lookups.end())
    return;
  std::visit(
    [&](auto& body) {
      using T = std::decay_t<decltype(body)>;
      if constexpr (std::is_same_v<T, dht::nodes>) {
        l->second.walk.on_response(sender, body.closer);
      } else if constexpr (std::is_same_v<T, dht::providers>) {
        for (auto& p : body.providers)
          if (p.public_key != st.cfg.key->public_key())
            l->second.found[p.id().to_string()] = p.to_text();
        l->second.walk.on_response(sender, body.closer);
      } else {
        l->second.walk.on_response(sender, {});
      }
    },
    pkt.body);
  drive(self, info.lookup);
}

void on_packet(discovery_ptr self, dht::packet& pkt, const udp_address& from) {
  auto& st = self->state;
  if (!dht::is_request(pkt.body)) {
    on_answer(self, pkt, from);
    return;
  }
  heard_from(self, pkt.sender, from);
  // The answer goes where the request came from: never to an address a
  // packet names, which would let anyone aim our answers at a third party.
  auto reply = [&](dht::body b) {
    send_packet(self, from,
                dht::packet{pkt.request_id, st.self_record, std::move(b)});
  };
  auto k = st.table->k();
  std::visit(
    [&](auto& body) {
      using T = std::decay_t<decltype(body)>;
      if constexpr (std::is_same_v<T, dht::ping>) {
        reply(dht::pong{});
      } else if constexpr (std::is_same_v<T, dht::find_node>) {
        reply(dht::nodes{records_of(st.table->closest(body.target, k))});
      } else if constexpr (std::is_same_v<T, dht::get_providers>) {
        reply(dht::providers{st.store.get(body.key, clock::now()),
                             records_of(st.table->closest(body.key, k))});
      } else if constexpr (std::is_same_v<T, dht::add_provider>) {
        st.store.add(body.key, body.provider, clock::now());
        reply(dht::pong{});
        // Our own lookups of that key need not wait for their walk.
        if (body.provider.public_key != st.cfg.key->public_key()) {
          std::vector<uint64_t> waiting;
          for (auto& [id, l] : st.lookups)
            if (l.kind == dht_lookup::mode::find_providers &&
                l.key == body.key) {
              l.found[body.provider.id().to_string()] = body.provider.to_text();
              waiting.push_back(id);
            }
          for (auto id : waiting)
            drive(self, id);
        }
      }
    },
    pkt.body);
}

} // namespace

discovery_actor::behavior_type
discovery(discovery_actor::stateful_pointer<discovery_state> self,
          discovery_config cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  const auto& key = *st.cfg.key;
  st.self_record =
    peer_record::make(key.public_key(), unix_now(), st.cfg.addrs,
                      [&key](byte_view m) { return key.sign(m); });
  st.self_text = st.self_record.to_text();
  st.self_id = storage::node_id_of(st.self_record);
  st.table = std::make_unique<storage::routing_table>(st.self_id);
  // The process's UDP poller hands the datagrams to the mailbox.
  discovery_actor me{self};
  // A second's worth at once: a lookup's few queries never wait.
  auto limiter = std::make_shared<storage::rate_limiter>(st.cfg.rate_limit,
                                                         st.cfg.rate_limit);
  st.receiver =
    udp_poller::add(st.cfg.socket, [me, limiter, counters = st.counters,
                                    max_backlog = st.cfg.max_backlog](
                                     byte_view data, const sockaddr_in& from) {
      // Requests, and datagrams that are not even packets, cost their
      // source a token before they cost anything else. Answers pass: the
      // actor drops those it did not ask for before checking a signature.
      auto head = dht::peek(data);
      if ((!head || head->request) &&
          !limiter->allow(ntohl(from.sin_addr.s_addr), clock::now())) {
        counters->rate_limited.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      if (counters->queued.load(std::memory_order_relaxed) >= max_backlog) {
        counters->backlog_dropped.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      counters->queued.fetch_add(1, std::memory_order_relaxed);
      char host[INET_ADDRSTRLEN] = {0};
      ::inet_ntop(AF_INET, &from.sin_addr, host, sizeof(host));
      caf::anon_send(
        me, udp_atom::value, bytes(data.data, data.data + data.size),
        std::string{host} + ":" + std::to_string(ntohs(from.sin_port)));
    });
  if (!st.receiver)
    spdlog::error("discovery: UDP port {} is not read: the node cannot use "
                  "the DHT",
                  st.cfg.socket->port());
  // The contacts saved by the last run join the bootstrap records.
  auto bootstrap = st.cfg.bootstrap;
  size_t saved = 0;
  if (!st.cfg.contacts_file.empty()) {
    std::ifstream in{st.cfg.contacts_file};
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) {
        bootstrap.push_back(line);
        ++saved;
      }
  }
  std::set<storage::node_id> seen;
  for (auto& text : bootstrap) {
    auto rec = peer_record::from_text(text);
    if (!rec) {
      spdlog::warn("discovery: ignoring bootstrap record: {}",
                   describe(rec.error()));
      continue;
    }
    auto id = storage::node_id_of(*rec);
    if (rec->public_key != key.public_key() && seen.insert(id).second)
      st.seeds.push_back(storage::contact{id, *rec, {}, 0});
  }
  if (!st.seeds.empty()) {
    // Join: look ourselves up, which fills the table with our neighbours
    // (each of them once it answered).
    auto id = start_lookup(self, dht_lookup::mode::find_node, st.self_id);
    drive(self, id);
  }
  spdlog::info("discovery: DHT on UDP port {}, {} bootstrap contacts ({} "
               "saved)",
               st.cfg.socket->port(), st.seeds.size(), saved);
  st.saved_at = clock::now();
  self->delayed_send(self, st.cfg.tick, tick_atom::value);
  return instrumented<discovery_actor::behavior_type>(
    self, self->state.stats,
    [self](find_atom, const cid& c) -> caf::result<std::vector<std::string>> {
      auto& st = self->state;
      auto key = storage::provider_key(c);
      auto rp = self->make_response_promise<std::vector<std::string>>();
      auto id = start_lookup(self, dht_lookup::mode::find_providers, key);
      // Providers this node stores count too.
      for (auto& p : st.store.get(key, clock::now()))
        if (p.public_key != st.cfg.key->public_key())
          st.lookups.at(id).found[p.id().to_string()] = p.to_text();
      st.lookups.at(id).finders.push_back(rp);
      drive(self, id);
      return rp;
    },
    [self](get_atom, find_atom, const cid& c)
      -> caf::result<uint64_t, uint64_t, std::vector<uint32_t>> {
      auto& tally = self->state.lookup_tally;
      auto it = tally.find(storage::provider_key(c));
      if (it == tally.end())
        return {uint64_t{0}, uint64_t{0}, std::vector<uint32_t>{}};
      return {it->second.lookups, it->second.queries, it->second.hops};
    },
    [self](find_atom,
           const std::string& peer) -> caf::result<std::vector<std::string>> {
      auto& st = self->state;
      auto bin =
        peer_id::is_valid_text(peer) ? base58_decode(peer) : std::nullopt;
      if (!bin)
        return std::vector<std::string>{};
      auto target = sha256(*bin);
      for (auto& c : st.table->all())
        if (c.id == target)
          return std::vector<std::string>{c.record.to_text()};
      auto rp = self->make_response_promise<std::vector<std::string>>();
      auto id = start_lookup(self, dht_lookup::mode::find_node, target);
      st.lookups.at(id).finders.push_back(rp);
      drive(self, id);
      return rp;
    },
    [self](provide_atom, const cid& c) -> caf::result<ok_atom> {
      auto& st = self->state;
      auto key = storage::provider_key(c);
      st.store.add(key, st.self_record, clock::now());
      auto rp = self->make_response_promise<ok_atom>();
      // The closest contacts known now get the record at once; the walk
      // finds the closest ones there are (a contact that is gone holds it
      // for a request timeout) and gives it to them when it ends.
      for (auto& c : st.table->closest(key, st.table->k()))
        request(self, c, dht::add_provider{key, st.self_record}, 0);
      auto id = start_lookup(self, dht_lookup::mode::provide, key);
      st.lookups.at(id).providers.push_back(rp);
      drive(self, id);
      return rp;
    },
    [self](get_atom, spr_atom) { return self->state.self_text; },
    [self](list_atom) {
      std::vector<std::string> out;
      for (auto& c : self->state.table->all())
        out.push_back(c.record.to_text());
      return out;
    },
    [self](udp_atom, bytes& data, std::string& from) {
      auto& st = self->state;
      st.counters->queued.fetch_sub(1, std::memory_order_relaxed);
      ++st.packets_in;
      auto drop = [&](const std::string& why) {
        ++st.bad_packets;
        spdlog::debug("discovery: dropped a packet from {}: {}", from, why);
      };
      auto src = parse_source(from);
      auto head = dht::peek(data);
      if (!src || !head) {
        drop(src ? describe(head.error()) : "bad source address");
        return;
      }
      // An answer nobody waits for is dropped before its records' signatures
      // are checked (up to 33 Ed25519 verifications).
      if (!head->request && st.requests.count(head->request_id) == 0) {
        ++st.unsolicited;
        return;
      }
      auto pkt = dht::decode(data);
      if (!pkt) {
        drop(describe(pkt.error()));
        return;
      }
      on_packet(self, *pkt, *src);
    },
    [self](tick_atom) {
      auto& st = self->state;
      auto now = clock::now();
      std::vector<std::pair<uint64_t, dht_request>> expired;
      for (auto i = st.requests.begin(); i != st.requests.end();) {
        if (i->second.deadline <= now) {
          expired.emplace_back(*i);
          i = st.requests.erase(i);
        } else {
          ++i;
        }
      }
      for (auto& [id, req] : expired) {
        if (req.verify)
          st.verifying.erase(req.to);
        st.table->failed(req.to);
        auto l = st.lookups.find(req.lookup);
        if (l != st.lookups.end()) {
          l->second.walk.on_failure(req.to);
          drive(self, req.lookup);
        }
      }
      st.store.expire(now);
      // Saved a second after the table changed (cheap: sizes first), and
      // every `save_interval`.
      if (now - st.saved_at >= st.cfg.save_interval ||
          (now - st.saved_at >= std::chrono::seconds{1} &&
           st.table->size() != st.saved.size()))
        st.save_contacts();
      self->delayed_send(self, st.cfg.tick, tick_atom::value);
    });
}

} // namespace cairn::actors
