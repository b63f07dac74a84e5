// cairn-sim agent --api-port: every hosted node's REST API on one HTTP
// server, at /nodes/{i}/api/codex/v1/..., /nodes/{i}/api/cairn/v1/... and
// /nodes/{i}/metrics. The routes and handlers are the node's own
// (actors/api_http.cpp), mounted under /nodes/{i} against node i's context.

#include <arpa/inet.h>

#include <spdlog/spdlog.h>

#include "actors/api_routes.hpp"
#include "messages/error.hpp"
#include "messages/http.hpp"
#include "tools/cairn-sim/sim.hpp"

namespace cairn::sim {

namespace {

using httplib::Request;
using httplib::Response;

// The node index at the start of `path` ("/nodes/7/..." or "/nodes/7"), or
// nothing.
std::optional<uint32_t> node_index(const std::string& path) {
  const std::string head = "/nodes/";
  if (path.compare(0, head.size(), head) != 0)
    return std::nullopt;
  auto end = path.find('/', head.size());
  auto digits =
    path.substr(head.size(), end == std::string::npos ? std::string::npos
                                                      : end - head.size());
  if (digits.empty() || digits.size() > 9 ||
      digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return static_cast<uint32_t>(std::stoul(digits));
}

bool is_loopback(const std::string& host) {
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  return host == "::1" || host == "localhost";
}

} // namespace

node_api_server::~node_api_server() {
  if (acceptor)
    acceptor->stop();
}

caf::expected<std::unique_ptr<node_api_server>>
serve_node_apis(const std::string& host, uint16_t port,
                std::shared_ptr<actors::sim_node_directory> nodes,
                const std::string& secret) {
  auto bound = actors::bind_api_server(host, port);
  if (!bound)
    return make_error(ec::unavailable,
                      "--api-port: cannot bind " + host + ":" +
                        std::to_string(port),
                      "address in use or not available");
  auto out = std::make_unique<node_api_server>();
  out->server = bound->server;
  out->port = bound->port;
  // Off loopback, anyone who reaches the port could drive every node: each
  // request must carry the agent's secret.
  auto token = is_loopback(host) ? std::string{} : secret;
  auto resolve = [nodes,
                  token](const Request& req,
                         Response& res) -> std::shared_ptr<actors::api_shared> {
    if (!token.empty()) {
      if (!bearer_matches(req.get_header_value("Authorization"), token)) {
        res.set_header("WWW-Authenticate", "Bearer");
        actors::rest::reply_error(
          req, res, 401,
          "refused: this agent's API is not on loopback and needs "
          "'Authorization: Bearer <the agent's secret>'");
        return nullptr;
      }
    }
    auto index = node_index(req.path);
    if (!index) {
      actors::rest::reply_error(req, res, 404,
                                "no such endpoint: " + req.method + " " +
                                  req.path +
                                  " (nodes are at /nodes/{i}/api/...)");
      return nullptr;
    }
    auto name = "node " + std::to_string(*index);
    std::shared_ptr<actors::node_context> ctx;
    if (!nodes->find(*index, ctx)) {
      actors::rest::reply_error(req, res, 404, "no " + name + " on this agent");
      return nullptr;
    }
    auto api = ctx ? ctx->api->get() : nullptr;
    if (!api || api->stopping) {
      actors::rest::reply_error(req, res, 503,
                                name + (ctx ? " is restarting its API"
                                            : " is down (killed or starting)"));
      return nullptr;
    }
    return api;
  };
  actors::rest::add_routes(
    *out->server, actors::rest::route_mount{"/nodes/[0-9]+", resolve, true});
  out->acceptor = std::make_unique<actors::http_acceptor>(
    out->server, actors::http_limits{},
    std::make_shared<actors::http_acceptor_counters>());
  out->acceptor->start();
  spdlog::info("cairn-sim: node APIs on http://{}:{}/nodes/{{i}}/api/...", host,
               out->port);
  return out;
}

} // namespace cairn::sim
