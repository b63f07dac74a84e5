// Codex node and debug routes of the REST API: connect, spr, peer ID, debug
// info, log level, and the marketplace endpoints a node without persistence
// answers with 503.

#include "actors/api_routes.hpp"
#include "actors/node_log.hpp"

#include <cstdlib>
#include <vector>

#include <spdlog/spdlog.h>

#include "cairn_revision.hpp"
#include "config/options.hpp"
#include "messages/http.hpp"
#include "messages/peer_record.hpp"

namespace cairn::actors::rest {

// GET /connect/{peerId}?addrs=/ip4/A/tcp/P (repeatable; without it, the
// addresses of the peer's record, found by a DHT lookup of its ID).
void handle_connect(api_shared& api, const Request& req, Response& res) {
  auto peer = req.matches[1].str();
  if (!peer_id::is_valid_text(peer)) {
    reply_error(req, res, 400, "invalid peer ID '" + peer + "'");
    return;
  }
  std::vector<std::string> addrs;
  for (size_t i = 0; i < req.get_param_value_count("addrs"); ++i) {
    // Also accept one comma-separated value.
    auto v = req.get_param_value("addrs", i);
    size_t pos = 0;
    while (pos <= v.size()) {
      auto comma = v.find(',', pos);
      auto part = v.substr(pos, comma == std::string::npos ? std::string::npos
                                                           : comma - pos);
      if (!part.empty())
        addrs.push_back(part);
      if (comma == std::string::npos)
        break;
      pos = comma + 1;
    }
  }
  for (auto& a : addrs) {
    if (!parse_multiaddr(a)) {
      reply_error(req, res, 400, "invalid multiaddr '" + a + "'");
      return;
    }
  }
  caf::scoped_actor self{api.sys};
  if (addrs.empty()) {
    // Without addresses, the peer's signed record in the DHT gives them.
    if (auto found = ask<std::vector<std::string>>(
          self, api.discovery(), store_timeout, find_atom::value, peer))
      for (auto& text : *found)
        if (auto rec = peer_record::from_text(text);
            rec && rec->id().to_string() == peer)
          addrs = rec->addrs;
    if (addrs.empty()) {
      reply_error(req, res, 400,
                  "peer " + peer +
                    " is not in the DHT: give its addresses with "
                    "?addrs=/ip4/A.B.C.D/tcp/PORT");
      return;
    }
  }
  auto ok = ask<ok_atom>(self, api.engine(), std::chrono::seconds{15},
                         connect_atom::value, peer, addrs);
  if (!ok) {
    // As Codex: 400 for a peer that cannot be dialled or is not who the
    // path says.
    reply_error(req, res, is(ok.error(), ec::shutting_down) ? 503 : 400,
                "cannot connect to " + peer + ": " + describe(ok.error()));
    return;
  }
  res.status = 200;
  res.set_content("Successfully connected to peer", "text/plain");
}

// GET /spr: this node's signed peer record.
void handle_spr(api_shared& api, const Request& req, Response& res) {
  caf::scoped_actor self{api.sys};
  auto spr = ask<std::string>(self, api.discovery(), store_timeout,
                              get_atom::value, spr_atom::value);
  if (!spr) {
    reply_error(req, res, 503,
                "discovery is not running: " + describe(spr.error()));
    return;
  }
  reply_json_or_text(req, res, "spr", *spr);
}

// GET /peerid and /node/peerid: this node's peer ID.
void handle_peer_id(api_shared& api, const Request& req, Response& res) {
  reply_json_or_text(req, res, "id", api.info.peer_id);
}

void handle_debug_info(api_shared& api, const Request& req, Response& res) {
  const auto& info = api.info;
  auto api_url =
    "http://" + info.api_host + ":" + std::to_string(info.api_port);
  // A node without a server of its own (cairn-sim's) is reached through its
  // host's, at the path this request came by.
  if (api.ctx->options.no_api && req.has_header("Host"))
    api_url = "http://" + req.get_header_value("Host") +
              req.path.substr(0, req.path.find("/api/"));
  caf::scoped_actor self{api.sys};
  auto spr = ask<std::string>(self, api.discovery(), store_timeout,
                              get_atom::value, spr_atom::value);
  json nodes = json::array();
  if (auto table = ask<std::vector<std::string>>(
        self, api.discovery(), store_timeout, list_atom::value)) {
    for (auto& text : *table) {
      auto rec = peer_record::from_text(text);
      if (!rec)
        continue;
      auto id = sha256(rec->id().to_bytes());
      nodes.push_back(
        {{"nodeId", to_hex(byte_view{id.data(), id.size()})},
         {"peerId", rec->id().to_string()},
         {"record", text},
         {"address", rec->addrs.empty() ? "" : rec->addrs.front()},
         {"seen", true}});
    }
  }
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::steady_clock::now() - api.ctx->started)
                  .count();
  char* real = ::realpath(info.data_dir.c_str(), nullptr);
  std::string repo = real ? real : info.data_dir;
  std::free(real);
  auto node_id = sha256(api.ctx->key.peer_id().to_bytes());
  // This node as the DHT knows it: its record, its UDP address, and the
  // addresses the record announces.
  json announce = json::array();
  std::string dht_address;
  if (spr)
    if (auto rec = peer_record::from_text(*spr))
      for (auto& a : rec->addrs)
        announce.push_back(a);
  for (auto& a : info.addrs)
    if (a.find("/udp/") != std::string::npos && dht_address.empty())
      dht_address = a;
  json local_node{{"nodeId", to_hex(byte_view{node_id.data(), node_id.size()})},
                  {"peerId", info.peer_id},
                  {"record", spr ? *spr : std::string{}},
                  {"address", dht_address},
                  {"seen", true}};
  reply_json(res,
             {{"id", info.peer_id},
              {"addrs", info.addrs},
              {"repo", repo},
              {"spr", spr ? *spr : std::string{}},
              {"announceAddresses", announce},
              {"table", {{"localNode", local_node}, {"nodes", nodes}}},
              {"peers", peers_json(api, self)},
              {"codex",
               {{"version", "cairn-0.1.0"},
                {"revision", CAIRN_REVISION},
                {"contracts", ""}}},
              {"cairn",
               {{"api", api_url},
                {"uptimeSeconds", uptime},
                {"metrics", api.metrics_url.empty() ? json(nullptr)
                                                    : json(api.metrics_url)},
                {"storageQuota", api.ctx->options.storage_quota},
                {"blockTtlSeconds", api.ctx->options.block_ttl.count()}}}});
}

void handle_loglevel(api_shared& api, const Request& req, Response& res) {
  // Accepts Codex's chronicles syntax: "DEBUG" or "DEBUG;TRACE:topic"; the
  // part before ';' sets the level, topic overrides are not supported.
  auto level = req.get_param_value("level");
  auto base = level.substr(0, level.find(';'));
  for (auto& c : base)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!config::is_log_level(base)) {
    reply_error(req, res, 400,
                "invalid log level '" + level +
                  "': use trace, debug, info, notice, warn, error or fatal");
    return;
  }
  set_log_level(api.ctx->log, spdlog_level(base));
  spdlog::info("api: log level set to {}", base);
  res.status = 200;
  res.set_content("", "text/plain");
}

json peers_json(api_shared& api, caf::scoped_actor& self) {
  json out = json::array();
  auto peers = ask<std::vector<peer_summary>>(self, api.engine(), store_timeout,
                                              peers_atom::value);
  if (!peers)
    return out;
  for (auto& p : *peers)
    out.push_back(
      {{"peerId", p.peer_id},
       {"addrs", p.addrs},
       {"blocksReceived", p.blocks_received},
       {"bytesReceived", p.bytes_received},
       {"bytesSent", p.bytes_sent},
       {"rateBytesPerSecond", p.rate},
       // The engine's latency is a prior until a block came:
       // null says "not measured", not a figure that looks it.
       {"latencySeconds", p.rate > 0 ? json(p.latency) : json(nullptr)},
       {"badBlocks", p.bad_blocks},
       {"timeouts", p.timeouts},
       {"outstanding", p.outstanding},
       {"queued", p.queued},
       {"roundTripSeconds", p.round_trip}});
  return out;
}

// Codex's marketplace and purchasing endpoints: a Codex node without
// persistence (no marketplace) answers each with 503.
void handle_no_persistence(const Request& req, Response& res) {
  reply_error(req, res, 503, "Persistence is not enabled");
}

} // namespace cairn::actors::rest
