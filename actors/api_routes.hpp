#pragma once

// The handlers of the REST API's routes and the helpers they share. Used
// by the API's own files, and by cairn-sim, which mounts the same routes
// for each node it hosts (tools/cairn-sim/node_api.cpp) and protects
// datasets with `protect_dataset`:
// - api.cpp           the `api` actor: binds, serves, re-wires;
// - api_http.cpp      replies, path parameters, and the routing table;
// - api_data.cpp      Codex data routes: upload, list, delete, exists,
//                     space, and Cairn's protect;
// - api_download.cpp  downloads, local and from the network, and the
//                     network manifest;
// - api_node.cpp      Codex node and debug routes: connect, spr, peer ID,
//                     debug info, log level, the marketplace's 503s;
// - api_admin.cpp     Cairn's operator routes under /api/cairn/v1, and
//                     /metrics.
// Handlers run on cpp-httplib's threads and reach actors through scoped
// actors with finite timeouts.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <caf/scoped_actor.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "actors/api.hpp"
#include "messages/cid.hpp"
#include "messages/error.hpp"
#include "messages/manifest.hpp"

namespace cairn::actors::rest {

using json = nlohmann::json;
using httplib::Request;
using httplib::Response;

constexpr const char* api_prefix = "/api/codex/v1";
constexpr auto store_timeout = std::chrono::seconds{30};
constexpr auto commit_timeout = std::chrono::seconds{300};
/// Fetching a manifest from the network may include discovery and dialing.
constexpr auto network_timeout = std::chrono::seconds{30};

/// Encodes the stored dataset `orig` (every block must be stored here) into
/// a protected one with K data and M parity blocks per step, and commits
/// it. Blocks the calling thread (an HTTP handler's, or a detached actor's
/// in cairn-sim). Errors: invalid_argument (K, M), not_found (a block is
/// missing), storage_io, quota_exceeded.
caf::expected<std::pair<cid, manifest>> protect_dataset(api_shared& api,
                                                        caf::scoped_actor& self,
                                                        const manifest& orig,
                                                        uint32_t k, uint32_t m);

// -- helpers (api_http.cpp) ---------------------------------------------------

/// `/api/codex/v1` + `suffix`.
std::string route(const char* suffix);

/// Closes the connection after the answer: a request refused before its
/// body was read (or while it was) must not have the rest of that body
/// read as the next request.
void close_after(const Request& req);

/// Answers `status` with the one-line reason `why` (never sliced by a
/// Range header).
void reply_error(const Request& req, Response& res, int status,
                 const std::string& why);

/// Answers an error with its HTTP status (see `http_status`).
void reply_error(const Request& req, Response& res, const caf::error& err);

/// Answers 200 with `body`.
void reply_json(Response& res, const json& body);

/// Answers `{"key": value}`, or `value` as text when the client's Accept
/// prefers text/plain to JSON, as Codex's /spr and /peerid do.
void reply_json_or_text(const Request& req, Response& res, const char* key,
                        const std::string& value);

/// The {cid} path parameter (`matches[1]`), or nullopt after answering:
/// 404 for a CID Codex takes but Cairn cannot hold (`cid::is_foreign`;
/// Codex answers it as not stored), 400 for text that is no CID.
std::optional<cid> cid_param(const Request& req, Response& res);

/// As above, and the CID must have `codec` (`what` names it in the answer,
/// `wrong_codec_status`).
std::optional<cid> cid_param(const Request& req, Response& res,
                             multicodec codec, const char* what,
                             int wrong_codec_status = 400);

/// A manifest as the Codex API shows it.
json manifest_json(const manifest& m);

/// A positive integer query parameter, or nullopt after answering 400.
std::optional<uint32_t> uint_param(const Request& req, Response& res,
                                   const char* name);

/// Whether the client may use an endpoint that changes state (loopback, or
/// `--api-token`); answers 403 if not.
bool allowed(api_shared& api, const Request& req, Response& res);

/// Finds the node a request is for: its API's shared state, or null after
/// answering the request itself (e.g. 404 unknown node, 503 node down).
/// Called on httplib's threads.
using api_resolver =
  std::function<std::shared_ptr<api_shared>(const Request&, Response&)>;

/// Where the routes are mounted and whose node they serve.
struct route_mount {
  /// Put before every route: empty on a node's own server; in cairn-sim's
  /// agent a regex without capture groups ("/nodes/[0-9]+"), so that the
  /// handlers' path parameters keep their indexes.
  std::string prefix;
  api_resolver resolve;
  /// Also serve `GET <prefix>/metrics` (a node's own server has /metrics
  /// on --metrics-port instead).
  bool metrics = false;
};

/// Registers every route on `srv` under `mount.prefix`, with the checks
/// made before a body is read (405, Content-Length, the node's resolution)
/// and the answers httplib gives by itself.
void add_routes(httplib::Server& srv, route_mount mount);

/// The routes of a node's own server: every request is for `api`.
void add_routes(httplib::Server& srv, std::shared_ptr<api_shared> api);

// Sends a request from a handler thread and waits for the answer; returns
// the value or the error (timeouts and dead receivers included).
template <class T, class Handle, class... Ts>
inline caf::expected<T> ask(caf::scoped_actor& self, const Handle& dest,
                            std::chrono::seconds timeout, Ts&&... xs) {
  if (!dest)
    return make_error(ec::unavailable, "actor not running");
  caf::expected<T> out{make_error(ec::timeout)};
  self->request(dest, timeout, std::forward<Ts>(xs)...)
    .receive([&](T& x) { out = std::move(x); },
             [&](caf::error& err) { out = std::move(err); });
  return out;
}

// Waits up to `wait` (with no other message arriving meanwhile) for the
// answer to the request whose response id is `id`, and hands it to
// `on_value` or `on_error`; false if it did not come. The wait is on the
// scoped actor's own mailbox: no timer on CAF's clock thread, and no
// timeout message left in the mailbox afterwards (a blocking actor's
// timed request leaves one even when answered in time). Other messages
// stay queued for later receives.
template <class OnValue, class OnError>
inline bool await_answer(caf::scoped_actor& self, caf::message_id id,
                         caf::timespan wait, OnValue on_value,
                         OnError on_error) {
  bool timed_out = false;
  caf::blocking_actor::accept_one_cond one;
  self->varargs_receive(
    one, id, std::move(on_value), std::move(on_error),
    caf::after(wait) >> [&] { timed_out = true; });
  return !timed_out;
}

// -- handlers -----------------------------------------------------------------

// api_data.cpp
void handle_upload(api_shared& api, const Request& req, Response& res,
                   const httplib::ContentReader& reader);
void handle_list(api_shared& api, const Request& req, Response& res);
void handle_delete(api_shared& api, const Request& req, Response& res);
void handle_exists(api_shared& api, const Request& req, Response& res);
void handle_space(api_shared& api, const Request& req, Response& res);
void handle_protect(api_shared& api, const Request& req, Response& res);

// api_download.cpp
/// GET /data/{cid} (local store only) or, with `network`,
/// /data/{cid}/network/stream.
void handle_download(api_shared& api, const Request& req, Response& res,
                     bool network);
/// GET /data/{cid}/network/manifest, or POST /data/{cid}/network with
/// `start_download`.
void handle_network_manifest(api_shared& api, const Request& req, Response& res,
                             bool start_download);

// api_node.cpp
void handle_connect(api_shared& api, const Request& req, Response& res);
void handle_spr(api_shared& api, const Request& req, Response& res);
void handle_peer_id(api_shared& api, const Request& req, Response& res);
void handle_debug_info(api_shared& api, const Request& req, Response& res);
/// Sets the node's log level: the process's, or in cairn-sim's agent the
/// node's own (`node_context::log`).
void handle_loglevel(api_shared& api, const Request& req, Response& res);
void handle_no_persistence(const Request& req, Response& res);
/// The connected peers, as /debug/info and /api/cairn/v1/peers show them.
json peers_json(api_shared& api, caf::scoped_actor& self);

// api_admin.cpp
void handle_peers(api_shared& api, const Request& req, Response& res);
void handle_downloads(api_shared& api, const Request& req, Response& res);
void handle_actors(api_shared& api, const Request& req, Response& res);
void handle_tree(api_shared& api, const Request& req, Response& res);
void handle_wants(api_shared& api, const Request& req, Response& res);
void handle_store(api_shared& api, const Request& req, Response& res);
void handle_store_verify(api_shared& api, const Request& req, Response& res);
/// POST /api/cairn/v1/actors/{name}/restart, or /crash with `crash`.
void handle_actor_action(api_shared& api, const Request& req, Response& res,
                         bool crash);
void handle_delete_leaf(api_shared& api, const Request& req, Response& res);
/// The Prometheus text of GET /metrics.
std::string metrics_text(api_shared& api);

} // namespace cairn::actors::rest
