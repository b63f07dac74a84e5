#include "actors/node_supervisor.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include <caf/io/middleman.hpp>

#include "actors/advertiser.hpp"
#include "actors/api.hpp"
#include "actors/engine.hpp"
#include "actors/local_store.hpp"
#include "actors/maintenance.hpp"
#include "actors/network_store.hpp"
#include "actors/peer_listener.hpp"
#include "messages/error.hpp"

namespace cairn::actors {

namespace {

using node_supervisor_ptr =
  node_supervisor_actor::stateful_pointer<node_supervisor_state>;

// Start order; stopping goes backwards.
const char* const child_names[] = {"inspector",  "local_store",   "discovery",
                                   "engine",     "network_store", "maintenance",
                                   "advertiser", "peer_listener", "api"};

// How the operator sees a child's kind.
const char* kind_of(node_supervisor_ptr self, const std::string& name) {
  if (name == "local_store" ||
      (name == "api" && !self->state.ctx->options.no_api))
    return "detached";
  if (name == "peer_listener")
    return "broker";
  return "event_based";
}

// Tells the inspector about a (re)started child.
void announce(node_supervisor_ptr self, const std::string& name,
              const caf::actor& h) {
  self->send(self->state.inspector, put_atom::value, h, name,
             std::string{kind_of(self, name)}, std::string{"node_supervisor"});
}

// A new inspector knows nobody: introduce the supervisor and its children.
void announce_all(node_supervisor_ptr self) {
  auto& st = self->state;
  self->send(st.inspector, put_atom::value, caf::actor_cast<caf::actor>(self),
             std::string{"node_supervisor"}, std::string{"supervisor"},
             std::string{});
  for (auto& c : st.children)
    if (c.handle)
      announce(self, c.name, c.handle);
}

// Why `ip:port` cannot be bound (`type`: SOCK_STREAM or SOCK_DGRAM), found
// with a socket of our own since CAF, httplib and the DHT word it each in
// their own way; empty if the probe binds after all.
std::string bind_problem(int type, const std::string& ip, uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  auto host = ip == "localhost" ? std::string{"127.0.0.1"} : ip;
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
    return {};
  int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return {};
  int yes = 1;
  if (type == SOCK_STREAM)
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int err = errno;
  ::close(fd);
  if (rc == 0)
    return {};
  switch (err) {
  case EADDRINUSE:
    return "address in use";
  case EADDRNOTAVAIL:
    return "address not available";
  case EACCES:
    return "permission denied";
  default:
    return std::strerror(err);
  }
}

// The error of a failed bind: which socket, address and flag, and why.
caf::error bind_error(const caf::error& original, int type,
                      const std::string& what, const std::string& flag,
                      const std::string& ip, uint16_t port) {
  auto why = bind_problem(type, ip, port);
  if (why.empty())
    return original;
  return make_error(
    ec::unavailable,
    what + " " + ip + ":" + std::to_string(port) + " (" + flag + ")", why);
}

child_entry* find_child(node_supervisor_ptr self, const std::string& name) {
  for (auto& c : self->state.children)
    if (c.name == name)
      return &c;
  return nullptr;
}

// Spawns child `name` wired with the current handles of what it uses.
// Gives `sc` the node's rate budgets, made on first use: all sessions, of
// every engine and listener the node runs, draw on the same two.
void share_budgets(node_context& ctx, session_config& sc) {
  auto& o = ctx.options;
  auto now = std::chrono::steady_clock::now();
  if (!ctx.upload_budget && o.max_upload_rate > 0)
    ctx.upload_budget =
      std::make_shared<storage::token_bucket>(o.max_upload_rate, now);
  if (!ctx.download_budget && o.max_download_rate > 0)
    ctx.download_budget =
      std::make_shared<storage::token_bucket>(o.max_download_rate, now);
  sc.upload_budget = ctx.upload_budget;
  sc.download_budget = ctx.download_budget;
}

caf::expected<caf::actor> spawn_child(node_supervisor_ptr self,
                                      const std::string& name) {
  auto& st = self->state;
  const auto& o = st.ctx->options;
  if (name == "inspector") {
    st.inspector =
      self->spawn<caf::monitored>(inspector, st.ctx->history, st.ctx->registry);
    st.ctx->inspector->set(st.inspector);
    return caf::actor_cast<caf::actor>(st.inspector);
  }
  if (name == "local_store") {
    st.local = self->spawn<caf::detached + caf::monitored>(
      local_store, store_options(o), st.ctx->preopened, st.ctx->readers,
      st.ctx->started_unix);
    return caf::actor_cast<caf::actor>(st.local);
  }
  if (name == "discovery") {
    discovery_config dc;
    dc.key = st.key;
    dc.socket = st.disc_socket;
    dc.addrs = st.info.addrs;
    dc.bootstrap = o.bootstrap_nodes;
    dc.contacts_file = o.data_dir + "/dht-contacts";
    dc.rate_limit = o.dht_rate_limit;
    st.discovery = self->spawn<caf::monitored>(discovery, std::move(dc));
    return caf::actor_cast<caf::actor>(st.discovery);
  }
  if (name == "advertiser") {
    st.advert = self->spawn<caf::monitored>(advertiser, st.local, st.discovery);
    return caf::actor_cast<caf::actor>(st.advert);
  }
  if (name == "engine") {
    engine_config ec;
    ec.session.key = st.key;
    ec.session.listen_addrs = st.info.addrs;
    ec.session.insecure_transport = o.insecure_transport;
    ec.session.idle_timeout = o.peer_idle_timeout;
    ec.session.keepalive_interval = o.peer_idle_timeout / 4;
    share_budgets(*st.ctx, ec.session);
    ec.session.link_latency = o.link_latency;
    ec.price_per_byte = o.price_per_byte;
    ec.max_price = o.max_price;
    ec.max_peers = o.max_peers;
    ec.max_unsent_total = o.max_unsent;
    ec.max_dials_per_lookup = o.max_dials_per_lookup;
    ec.corrupt_served = o.fault_corrupt_blocks;
    ec.inspector = st.ctx->inspector;
    if (!st.ctx->peers)
      st.ctx->peers = std::make_shared<peer_book>();
    ec.book = st.ctx->peers;
    ec.readers = st.ctx->readers;
    ec.sources = st.ctx->sources;
    st.engine = self->spawn<caf::monitored>(engine, std::move(ec), st.local,
                                            st.discovery);
    return caf::actor_cast<caf::actor>(st.engine);
  }
  if (name == "network_store") {
    st.net = self->spawn<caf::monitored>(network_store, st.local, st.engine,
                                         st.ctx->readers);
    return caf::actor_cast<caf::actor>(st.net);
  }
  if (name == "peer_listener") {
    if (!st.listener_socket) {
      auto bound =
        bind_peer_listener(self->system(), o.listen_ip, st.info.listen_port);
      if (!bound)
        return bound.error();
      st.listener_socket = std::move(bound->doorman);
    }
    session_config sc;
    sc.key = st.key;
    sc.listen_addrs = st.info.addrs;
    sc.insecure_transport = o.insecure_transport;
    sc.idle_timeout = o.peer_idle_timeout;
    sc.keepalive_interval = o.peer_idle_timeout / 4;
    share_budgets(*st.ctx, sc);
    sc.link_latency = o.link_latency;
    auto budget = make_fd_budget(fd_limit(), o.fd_reserve);
    st.listener = self->system().middleman().spawn_broker(
      budgeted_peer_listener, std::move(st.listener_socket), std::move(sc),
      caf::actor_cast<session_owner_actor>(st.engine), budget,
      std::chrono::milliseconds{250},
      storage::handshake_limits{o.max_pending_handshakes,
                                o.max_pending_handshakes_per_ip});
    self->monitor(st.listener);
    return caf::actor_cast<caf::actor>(st.listener);
  }
  if (name == "maintenance") {
    st.maint = self->spawn<caf::monitored>(maintenance, st.local,
                                           o.block_maintenance_interval,
                                           o.block_maintenance_batch);
    return caf::actor_cast<caf::actor>(st.maint);
  }
  if (name == "api" && o.no_api) {
    // No socket and no thread: the node's REST API is served by a server
    // outside it, if any (cairn-sim's agent), through ctx->api.
    st.api = self->spawn<caf::monitored>(api, bound_server{},
                                         api_wiring{st.local, st.net, st.engine,
                                                    st.discovery, self, st.info,
                                                    st.ctx, std::nullopt});
    return caf::actor_cast<caf::actor>(st.api);
  }
  if (name == "api") {
    auto server = st.api_server
                    ? caf::expected<bound_server>{bound_server{
                        std::move(st.api_server), st.info.api_port}}
                    : bind_api_server(o.api_bindaddr, st.info.api_port);
    if (!server)
      return bind_error(server.error(), SOCK_STREAM, "cannot bind the API to",
                        "--api-port", o.api_bindaddr, st.info.api_port);
    st.info.api_port = server->port;
    api_wiring wiring{st.local, st.net,  st.engine, st.discovery,
                      self,     st.info, st.ctx,    std::nullopt};
    if (o.metrics) {
      auto m = st.metrics_server
                 ? caf::expected<bound_server>{bound_server{
                     std::move(st.metrics_server), st.metrics_port}}
                 : bind_api_server(o.metrics_address, st.metrics_port);
      if (!m)
        return bind_error(
          make_error(ec::unavailable, "metrics endpoint", describe(m.error())),
          SOCK_STREAM, "cannot bind the metrics endpoint to", "--metrics-port",
          o.metrics_address, st.metrics_port);
      st.metrics_port = m->port;
      wiring.metrics = std::move(*m);
    }
    st.api = self->spawn<caf::detached + caf::monitored>(
      api, std::move(*server), std::move(wiring));
    return caf::actor_cast<caf::actor>(st.api);
  }
  return make_error(ec::not_found, "no child named " + name);
}

// Tells every child that uses `name` its new handle.
void rewire(node_supervisor_ptr self, const std::string& name) {
  auto& st = self->state;
  if (name == "local_store") {
    self->send(st.net, update_atom::value, st.local);
    self->send(st.maint, update_atom::value, st.local);
    self->send(st.api, update_atom::value, st.local);
    self->send(st.engine, update_atom::value, st.local);
    self->send(st.advert, update_atom::value, st.local);
  } else if (name == "discovery") {
    self->send(st.engine, update_atom::value, st.discovery);
    self->send(st.advert, update_atom::value, st.discovery);
    self->send(st.api, update_atom::value, st.discovery);
  } else if (name == "engine") {
    self->send(st.net, update_atom::value, st.engine);
    self->send(st.listener, update_atom::value,
               caf::actor_cast<session_owner_actor>(st.engine));
    self->send(st.api, update_atom::value, st.engine);
  } else if (name == "network_store") {
    self->send(st.api, update_atom::value, st.net);
  }
}

void stop_next(node_supervisor_ptr self) {
  auto& st = self->state;
  for (auto i = st.children.rbegin(); i != st.children.rend(); ++i) {
    if (i->handle) {
      spdlog::info("node_supervisor: stopping {}", i->name);
      self->send_exit(i->handle, caf::exit_reason::user_shutdown);
      return;
    }
  }
  for (auto& p : st.stop_promises)
    p.deliver(ok_atom::value);
  st.stop_promises.clear();
  self->quit();
}

void restart(node_supervisor_ptr self, child_entry& child,
             const caf::error& reason) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  while (!child.recent.empty() && now - child.recent.front() > st.policy.window)
    child.recent.pop_front();
  bool requested = child.requested;
  child.requested = false;
  if (!requested && child.recent.size() >= st.policy.max_restarts) {
    auto err = make_error(
      ec::unavailable, child.name,
      "restarted " + std::to_string(child.recent.size()) +
        " times within the restart window; last exit: " + describe(reason));
    spdlog::critical("node_supervisor: escalating: {}", describe(err));
    st.stopping = true;
    for (auto& c : st.children)
      if (c.handle)
        self->send_exit(c.handle, caf::exit_reason::user_shutdown);
    self->quit(err);
    return;
  }
  if (!requested)
    child.recent.push_back(now);
  ++child.restarts;
  auto h = spawn_child(self, child.name);
  if (!h) {
    spdlog::error("node_supervisor: restarting {} failed: {}", child.name,
                  describe(h.error()));
    // Try again shortly; each failure counts against the restart budget.
    self->delayed_send(self, std::chrono::milliseconds{200}, retry_atom::value,
                       child.name);
    return;
  }
  child.handle = *h;
  spdlog::info("node_supervisor: restarted {} (restart {})", child.name,
               child.restarts);
  rewire(self, child.name);
  if (child.name == "inspector")
    announce_all(self);
  else
    announce(self, child.name, child.handle);
}

} // namespace

storage::lmdb_options store_options(const config::node_options& o) {
  storage::lmdb_options out;
  out.path = o.data_dir + "/repo";
  out.quota_bytes = o.storage_quota;
  out.block_ttl = o.block_ttl;
  return out;
}

node_supervisor_actor::behavior_type node_supervisor(
  node_supervisor_actor::stateful_pointer<node_supervisor_state> self,
  std::shared_ptr<node_context> ctx, restart_policy policy) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.policy = policy;
  st.info.peer_id = st.ctx->key.peer_id().to_string();
  st.info.api_host = st.ctx->options.api_bindaddr;
  st.info.api_port = st.ctx->options.api_port;
  st.metrics_port = st.ctx->options.metrics_port;
  st.info.data_dir = st.ctx->options.data_dir;
  st.key = std::make_shared<const storage::node_key>(st.ctx->key);
  // Children are monitored, not linked: when the supervisor is told to exit
  // from outside, it takes them down with it.
  // (An exit handler, not attach_functor: the state is gone by the time
  // attached functors run.)
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& c : self->state.children)
      if (c.handle)
        self->send_exit(c.handle, caf::exit_reason::user_shutdown);
    self->quit(msg.reason);
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    child_entry* child = nullptr;
    for (auto& c : st.children)
      if (c.handle && c.handle.address() == dm.source)
        child = &c;
    if (!child)
      return;
    child->handle = nullptr;
    if (st.stopping) {
      stop_next(self);
      return;
    }
    // The inspector cannot see its own death; for the others this repeats
    // what their inspector records, before their successor registers.
    st.ctx->history->exited(child->name, dm.source.id(), dm.reason);
    if (!child->requested)
      spdlog::warn("node_supervisor: {} exited: {}", child->name,
                   dm.reason ? describe(dm.reason) : std::string{"normally"});
    restart(self, *child, dm.reason);
  });
  return instrumented<node_supervisor_actor::behavior_type>(
    self, self->state.stats,
    [self](start_atom) -> caf::result<node_info> {
      auto& st = self->state;
      if (!st.children.empty())
        return st.info;
      // Every socket before any child: a busy port is then the one thing
      // said. The peer socket first: the engine announces its address.
      const auto& o = st.ctx->options;
      auto fail = [&](caf::error err) -> caf::result<node_info> {
        self->quit(err);
        return err;
      };
      auto bound =
        bind_peer_listener(self->system(), o.listen_ip, o.listen_port);
      if (!bound)
        return fail(bind_error(bound.error(), SOCK_STREAM,
                               "cannot listen for peers on", "--listen-port",
                               o.listen_ip, o.listen_port));
      st.listener_socket = std::move(bound->doorman);
      st.info.listen_port = bound->port;
      auto udp = udp_socket::bind(o.listen_ip, o.disc_port);
      if (!udp)
        return fail(bind_error(udp.error(), SOCK_DGRAM,
                               "cannot bind the DHT to", "--disc-port",
                               o.listen_ip, o.disc_port));
      st.disc_socket = std::move(*udp);
      // Without an API, api_port stays 0: nothing listens.
      auto api = o.no_api ? caf::expected<bound_server>{bound_server{}}
                          : bind_api_server(o.api_bindaddr, st.info.api_port);
      if (!api)
        return fail(bind_error(api.error(), SOCK_STREAM,
                               "cannot bind the API to", "--api-port",
                               o.api_bindaddr, st.info.api_port));
      st.api_server = std::move(api->server);
      st.info.api_port = api->port;
      if (o.metrics && !o.no_api) {
        auto m = bind_api_server(o.metrics_address, st.metrics_port);
        if (!m)
          return fail(bind_error(
            m.error(), SOCK_STREAM, "cannot bind the metrics endpoint to",
            "--metrics-port", o.metrics_address, st.metrics_port));
        st.metrics_server = std::move(m->server);
        st.metrics_port = m->port;
        st.ctx->metrics_url = "http://" + o.metrics_address + ":" +
                              std::to_string(m->port) + "/metrics";
      }
      auto announce = st.ctx->options.listen_ip == "0.0.0.0"
                        ? std::string{"127.0.0.1"}
                        : st.ctx->options.listen_ip;
      st.info.addrs = {
        "/ip4/" + announce + "/tcp/" + std::to_string(bound->port),
        "/ip4/" + announce + "/udp/" + std::to_string(st.disc_socket->port())};
      for (auto name : child_names) {
        auto h = spawn_child(self, name);
        if (!h) {
          st.stopping = true;
          for (auto& c : st.children)
            self->send_exit(c.handle, caf::exit_reason::user_shutdown);
          self->quit(h.error());
          return h.error();
        }
        st.children.push_back(child_entry{name, *h, {}, 0});
      }
      announce_all(self);
      // The store has been handed over; restarts reopen it by path.
      st.ctx->preopened.reset();
      return st.info;
    },
    [self](get_atom, const std::string& name) -> caf::result<caf::actor> {
      auto* c = find_child(self, name);
      if (!c)
        return make_error(ec::not_found, "no child named " + name);
      if (!c->handle)
        return make_error(ec::unavailable, name + " is restarting");
      return c->handle;
    },
    [self](stop_atom) -> caf::result<ok_atom> {
      auto& st = self->state;
      auto p = self->make_response_promise<ok_atom>();
      st.stop_promises.push_back(p);
      if (!st.stopping) {
        st.stopping = true;
        stop_next(self);
      }
      return p;
    },
    [self](restart_atom, const std::string& name) -> caf::result<ok_atom> {
      auto* c = find_child(self, name);
      if (!c)
        return make_error(ec::not_found, "no child named " + name);
      if (!c->handle)
        return make_error(ec::unavailable, name + " is restarting");
      auto& st = self->state;
      spdlog::info("node_supervisor: restarting {} as requested", name);
      c->requested = true;
      st.ctx->history->restart_requested(name);
      self->send_exit(c->handle, caf::exit_reason::kill);
      return ok_atom::value;
    },
    [self](retry_atom, const std::string& name) {
      auto* c = find_child(self, name);
      if (c && !c->handle && !self->state.stopping)
        restart(self, *c,
                make_error(ec::unavailable, "previous restart failed"));
    });
}

} // namespace cairn::actors
