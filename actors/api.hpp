#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <caf/typed_event_based_actor.hpp>

#include "actors/http_acceptor.hpp"
#include "actors/instrumented.hpp"
#include "actors/node_supervisor.hpp"
#include "actors/store_stream.hpp"
#include "messages/interfaces.hpp"

namespace httplib {
class Server;
}

namespace cairn::actors {

/// An HTTP server bound to its port but not yet serving.
struct bound_server {
  /// Null: no socket (--no-api).
  std::shared_ptr<httplib::Server> server;
  /// The bound port (resolved when 0 was asked for).
  uint16_t port = 0;
};

/// Binds the REST API's socket. Binding happens in the supervisor so that a
/// busy port fails the node's start with a clear error. Errors:
/// `ec::unavailable` (address in use, cannot bind).
caf::expected<bound_server> bind_api_server(const std::string& host,
                                            uint16_t port);

/// What the API is wired to when it starts.
struct api_wiring {
  local_store_actor local;
  network_store_actor net;
  engine_actor engine;
  discovery_actor discovery;
  node_supervisor_actor supervisor;
  node_info info;
  std::shared_ptr<node_context> ctx;
  /// The metrics server, bound when `--metrics` is on.
  std::optional<bound_server> metrics;
};

/// What the HTTP handler threads share with the `api` actor: the current
/// actor handles (replaced on re-wiring) and the node's facts. Guarded by
/// `mtx` where mutable.
struct api_shared {
  explicit api_shared(caf::actor_system& sys) : sys(sys) {}
  caf::actor_system& sys;
  std::mutex mtx;
  local_store_actor local;
  network_store_actor net;
  engine_actor eng;
  discovery_actor disc;
  node_supervisor_actor supervisor;
  node_info info;
  std::shared_ptr<node_context> ctx;
  /// `http://HOST:PORT/metrics` when `--metrics` is on, else empty.
  std::string metrics_url;
  /// Set when the API stops: uploads in progress give up.
  std::atomic<bool> stopping{false};
  local_store_actor local_store() {
    std::lock_guard<std::mutex> guard{mtx};
    return local;
  }
  network_store_actor network_store() {
    std::lock_guard<std::mutex> guard{mtx};
    return net;
  }
  engine_actor engine() {
    std::lock_guard<std::mutex> guard{mtx};
    return eng;
  }
  discovery_actor discovery() {
    std::lock_guard<std::mutex> guard{mtx};
    return disc;
  }

  /// Counters for /metrics.
  std::atomic<uint64_t> uploads{0};
  std::shared_ptr<http_acceptor_counters> connections =
    std::make_shared<http_acceptor_counters>();
  std::atomic<uint64_t> downloads_started{0};
  /// Numbers the downloads' store_streams for the inspector.
  std::atomic<uint64_t> next_stream{0};

  /// Spawns a download's store_stream and registers it with the inspector.
  store_stream_actor spawn_stream(stream_spec spec);

  /// Records a download in the node's log (it survives API restarts).
  void track(std::shared_ptr<download_progress> p) {
    ctx->downloads->track(std::move(p));
  }
};

/// State of the `api` actor: the HTTP servers and their acceptors.
struct api_state {
  static inline constexpr const char* name = "api";
  /// Handler counters, published for the inspector.
  std::shared_ptr<actor_stats> stats = std::make_shared<actor_stats>();
  std::shared_ptr<api_shared> shared;
  std::shared_ptr<httplib::Server> server;
  std::unique_ptr<http_acceptor> acceptor;
  /// The Prometheus endpoint (`--metrics`), if enabled.
  std::shared_ptr<httplib::Server> metrics;
  std::unique_ptr<http_acceptor> metrics_acceptor;
  /// Stops the servers and waits for its threads (the actor is detached, so
  /// this blocks no scheduler worker).
  ~api_state();
};

/// Serves the Codex REST API (`/api/codex/v1`, README "REST API") on `server`.
/// HTTP handler threads talk to the stores with scoped actors and spawn one
/// `store_stream` per download. Must be spawned `detached` when it has a
/// server (its destructor waits for the handler threads). Without one
/// (--no-api) it only keeps `wiring.ctx->api` current for a server outside
/// the node, and needs no thread of its own.
api_actor::behavior_type api(api_actor::stateful_pointer<api_state> self,
                             bound_server server, api_wiring wiring);

} // namespace cairn::actors
