#pragma once

#include <algorithm>

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <caf/io/doorman.hpp>

#include "actors/discovery.hpp"
#include "actors/inspector.hpp"
#include "actors/instrumented.hpp"
#include "actors/local_store.hpp"
#include "actors/store_stream.hpp"
#include "config/options.hpp"
#include "messages/interfaces.hpp"
#include "storage/lmdb_store.hpp"
#include "storage/node_key.hpp"
#include "storage/store_readers.hpp"
#include "storage/token_bucket.hpp"

namespace httplib {
class Server;
}

namespace cairn::actors {

class peer_book;
struct api_shared;
struct node_log;

/// The shared state of a node's running `api` actor, for an HTTP server
/// outside the node: cairn-sim's agent serves every hosted node's REST API
/// from one server with it. Set by `api`; thread-safe.
class api_ref {
public:
  void set(std::shared_ptr<api_shared> x) {
    std::lock_guard<std::mutex> guard{mtx_};
    shared_ = std::move(x);
  }

  /// Clears the slot if it still holds `x` (a newer `api` may have set it).
  void reset(const api_shared* x) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (shared_.get() == x)
      shared_.reset();
  }

  /// Null while no `api` runs.
  std::shared_ptr<api_shared> get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return shared_;
  }

private:
  mutable std::mutex mtx_;
  std::shared_ptr<api_shared> shared_;
};

/// Everything a node is made of besides its actors: its settings, its key
/// and its store before the first `local_store` takes it. One per node, so
/// that one process can host many nodes (README "Actors": a node is a value).
struct node_context {
  config::node_options options;
  storage::node_key key;
  /// The store opened (and checked) before start; the first `local_store`
  /// takes it, later ones reopen `options.data_dir`.
  std::shared_ptr<std::unique_ptr<storage::lmdb_store>> preopened;
  /// The open store, for reads on threads other than `local_store`'s
  /// (local downloads read on the HTTP thread that writes the response).
  std::shared_ptr<storage::store_readers> readers =
    std::make_shared<storage::store_readers>();
  /// The node's inspector, for actors that register the actors they spawn.
  std::shared_ptr<inspector_ref> inspector = std::make_shared<inspector_ref>();
  /// Recent downloads, kept across API restarts.
  std::shared_ptr<download_log> downloads = std::make_shared<download_log>();
  /// Who delivered the blocks of each dataset fetched, recorded by the
  /// engine and kept across its restarts; downloads read their share.
  std::shared_ptr<tree_sources> sources = std::make_shared<tree_sources>();
  /// Restart counts and last errors of the node's actors, kept across
  /// inspector restarts.
  std::shared_ptr<actor_history> history = std::make_shared<actor_history>();
  /// The live actors the node's inspectors were told of, kept across
  /// inspector restarts.
  std::shared_ptr<actor_registry> registry = std::make_shared<actor_registry>();
  /// `http://ADDRESS:PORT/metrics` once the node started with --metrics
  /// (the port resolved when 0 was asked for); set by the supervisor before
  /// it answers `start_atom`, read after.
  std::string metrics_url;
  /// When the node was made: its uptime does not restart with the API.
  std::chrono::steady_clock::time_point started =
    std::chrono::steady_clock::now();
  /// The same in Unix time (the store's clock).
  uint64_t started_unix = unix_now();
  /// The engine's connected peers, kept across engine restarts (set by the
  /// supervisor when it first spawns the engine).
  std::shared_ptr<peer_book> peers;
  /// The budgets of `--max-upload-rate` and `--max-download-rate`, shared
  /// by all the node's peer sessions and kept across restarts of the engine
  /// and the listener; null for no limit. Set by the supervisor when it
  /// first spawns either.
  std::shared_ptr<storage::token_bucket> upload_budget;
  std::shared_ptr<storage::token_bucket> download_budget;
  /// The running `api`'s state; with --no-api its `api` serves no socket
  /// and is reached through this only.
  std::shared_ptr<api_ref> api = std::make_shared<api_ref>();
  /// The node's part of a log shared with other nodes of the process
  /// (cairn-sim's agent): its own level, lines tagged with it. Null when
  /// the node has the process to itself (cairn-node).
  std::shared_ptr<node_log> log;
};

/// The LMDB settings of a node: the store lives in `<data-dir>/repo`.
storage::lmdb_options store_options(const config::node_options& o);

/// Restart policy: more than `max_restarts` within `window` escalates.
struct restart_policy {
  uint32_t max_restarts = 5;
  std::chrono::milliseconds window{10000};
};

/// A supervised child.
struct child_entry {
  std::string name;
  caf::actor handle;
  /// Times of recent restarts (within the policy window).
  std::deque<std::chrono::steady_clock::time_point> recent;
  /// Restarts since the node started.
  uint32_t restarts = 0;
  /// An operator asked for the restart under way: it does not count against
  /// the restart budget (which is there to stop crash loops).
  bool requested = false;
};

/// State of the `node_supervisor` actor.
struct node_supervisor_state {
  static inline constexpr const char* name = "node_supervisor";
  /// Handler counters, published for the inspector.
  std::shared_ptr<actor_stats> stats = std::make_shared<actor_stats>();
  std::shared_ptr<node_context> ctx;
  restart_policy policy;
  /// Children in start order.
  std::vector<child_entry> children;
  /// The typed handles the children are wired with.
  local_store_actor local;
  discovery_actor discovery;
  advertiser_actor advert;
  engine_actor engine;
  network_store_actor net;
  maintenance_actor maint;
  peer_listener_actor listener;
  api_actor api;
  inspector_actor inspector;
  /// The node key, shared with the peer sessions.
  std::shared_ptr<const storage::node_key> key;
  /// The peer listener's socket, bound at start before the engine needs to
  /// know its address; handed to the first peer_listener.
  caf::io::doorman_ptr listener_socket;
  /// The DHT's UDP socket, bound at start; restarts of discovery reuse it.
  std::shared_ptr<udp_socket> disc_socket;
  /// The resolved API address (the port stays fixed across restarts).
  node_info info;
  /// The metrics port (resolved when 0 was asked for; fixed across restarts).
  uint16_t metrics_port = 0;
  /// The API's and the metrics' servers, bound at start before any child
  /// runs (a busy port is then the only thing said); handed to the first
  /// api, restarts bind again.
  std::shared_ptr<httplib::Server> api_server;
  std::shared_ptr<httplib::Server> metrics_server;
  bool stopping = false;

  /// Restarts per child and the restarts left before escalation.
  void gauges(std::vector<std::pair<std::string, double>>& out) const {
    auto now = std::chrono::steady_clock::now();
    for (auto& c : children) {
      auto recent =
        std::count_if(c.recent.begin(), c.recent.end(),
                      [&](auto t) { return now - t <= policy.window; });
      out.emplace_back("restarts." + c.name, c.restarts);
      out.emplace_back("intensity_left." + c.name,
                       static_cast<double>(policy.max_restarts) -
                         static_cast<double>(recent));
    }
  }
  std::vector<caf::typed_response_promise<ok_atom>> stop_promises;
};

/// The root of a node (README "Actors"): on `start_atom` binds the peer, DHT,
/// API (and metrics) sockets, failing with one error naming the port and why
/// (e.g. "address in use") before any child runs, then spawns local_store,
/// engine, network_store, maintenance, peer_listener and api (monitored) and
/// answers with the node's info; restarts a child that dies under the same name
/// and re-wires its dependents; escalates (quits with an error naming the
/// child) after more than `policy.max_restarts` restarts within
/// `policy.window`; on `stop_atom` stops the children in reverse start order.
node_supervisor_actor::behavior_type node_supervisor(
  node_supervisor_actor::stateful_pointer<node_supervisor_state> self,
  std::shared_ptr<node_context> ctx, restart_policy policy);

} // namespace cairn::actors
