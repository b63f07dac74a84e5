#include "actors/api.hpp"

#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include "actors/api_routes.hpp"
#include "actors/store_stream.hpp"
#include "messages/error.hpp"

namespace cairn::actors {

namespace {

using httplib::Request;
using httplib::Response;

// The handles the supervisor replaces when it restarts a child.
api_actor::behavior_type rewiring(api_actor::stateful_pointer<api_state> self) {
  return instrumented<api_actor::behavior_type>(
    self, self->state.stats,
    [self](update_atom, local_store_actor local) {
      std::lock_guard<std::mutex> guard{self->state.shared->mtx};
      self->state.shared->local = std::move(local);
    },
    [self](update_atom, network_store_actor net) {
      std::lock_guard<std::mutex> guard{self->state.shared->mtx};
      self->state.shared->net = std::move(net);
    },
    [self](update_atom, engine_actor eng) {
      std::lock_guard<std::mutex> guard{self->state.shared->mtx};
      self->state.shared->eng = std::move(eng);
    },
    [self](update_atom, discovery_actor d) {
      std::lock_guard<std::mutex> guard{self->state.shared->mtx};
      self->state.shared->disc = std::move(d);
    });
}

} // namespace

store_stream_actor api_shared::spawn_stream(stream_spec spec) {
  auto h = sys.spawn(store_stream, spec, network_store(), supervisor);
  ++downloads_started;
  if (auto insp = ctx->inspector->get())
    caf::anon_send(insp, put_atom::value, caf::actor_cast<caf::actor>(h),
                   "store_stream/" + std::to_string(++next_stream),
                   std::string{"event_based"}, std::string{"api"});
  return h;
}

caf::expected<bound_server> bind_api_server(const std::string& host,
                                            uint16_t port) {
  auto srv = std::make_shared<httplib::Server>();
  // httplib's default sets SO_REUSEPORT, which lets a second node bind the
  // same port and silently share its traffic. SO_REUSEADDR alone still
  // allows a quick rebind after a restart but refuses a busy port.
  // One request per connection: httplib would read a kept-alive
  // connection's next request itself, on the handler thread, past the
  // acceptor's limits on request heads (size, deadline, share of each
  // address); a client opens a new connection instead, which the acceptor
  // takes as any other. An idle kept-alive connection held a thread too.
  srv->set_keep_alive_max_count(1);
  srv->set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  int bound = -1;
  if (port == 0) {
    bound = srv->bind_to_any_port(host);
  } else if (srv->bind_to_port(host, port)) {
    bound = port;
  }
  if (bound <= 0)
    return make_error(ec::unavailable,
                      "cannot bind the API to " + host + ":" +
                        std::to_string(port),
                      "address in use or not available");
  return bound_server{std::move(srv), static_cast<uint16_t>(bound)};
}

api_state::~api_state() {
  if (shared) {
    shared->stopping = true; // uploads in progress stop reading
    shared->ctx->api->reset(shared.get());
  }
  if (acceptor)
    acceptor->stop();
  if (metrics_acceptor)
    metrics_acceptor->stop();
}

api_actor::behavior_type api(api_actor::stateful_pointer<api_state> self,
                             bound_server server, api_wiring wiring) {
  auto shared = std::make_shared<api_shared>(self->system());
  shared->local = std::move(wiring.local);
  shared->net = std::move(wiring.net);
  shared->eng = std::move(wiring.engine);
  shared->disc = std::move(wiring.discovery);
  shared->supervisor = std::move(wiring.supervisor);
  shared->info = std::move(wiring.info);
  if (wiring.metrics)
    shared->metrics_url = "http://" + wiring.ctx->options.metrics_address +
                          ":" + std::to_string(wiring.metrics->port) +
                          "/metrics";
  shared->ctx = std::move(wiring.ctx);
  auto& st = self->state;
  st.shared = shared;
  shared->ctx->api->set(shared);
  if (!server.server) {
    spdlog::debug("api: no socket (--no-api)");
    return rewiring(self);
  }
  st.server = server.server;
  rest::add_routes(*st.server, shared);
  auto& o = shared->ctx->options;
  http_limits limits;
  limits.workers = o.http_threads;
  limits.workers_per_ip = o.http_threads_per_ip;
  limits.max_pending = o.http_max_pending;
  limits.max_pending_per_ip = o.http_max_pending_per_ip;
  limits.header_timeout = o.http_header_timeout;
  st.acceptor =
    std::make_unique<http_acceptor>(st.server, limits, shared->connections);
  st.acceptor->start();
  spdlog::info("api: serving http://{}:{}{}", shared->info.api_host,
               server.port, rest::api_prefix);
  if (wiring.metrics) {
    st.metrics = wiring.metrics->server;
    st.metrics->Get("/metrics", [shared](const Request&, Response& res) {
      res.set_content(rest::metrics_text(*shared), "text/plain; version=0.0.4");
    });
    // A scraper needs one thread, two let a slow one not block the next.
    http_limits scrape = limits;
    scrape.workers = 2;
    scrape.workers_per_ip = 2;
    st.metrics_acceptor = std::make_unique<http_acceptor>(
      st.metrics, scrape, std::make_shared<http_acceptor_counters>());
    st.metrics_acceptor->start();
    spdlog::info("api: metrics on {}", shared->metrics_url);
  }
  return rewiring(self);
}

} // namespace cairn::actors
