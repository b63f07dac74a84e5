// Cairn's operator routes of the REST API (/api/cairn/v1): peers, downloads,
// actors, supervision tree, wants, store, restart and crash, block delete;
// and the Prometheus text of /metrics.

#include "actors/api_routes.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/fd_budget.hpp"
#include "messages/block.hpp"
#include "messages/buffer_pool.hpp"
#include "messages/http.hpp"

namespace cairn::actors::rest {

namespace {

// Every live actor's status, from the inspector.
caf::expected<std::vector<actor_status>>
actor_statuses(api_shared& api, caf::scoped_actor& self) {
  auto insp = api.ctx->inspector->get();
  if (!insp)
    return make_error(ec::unavailable, "the inspector is not running");
  return ask<std::vector<actor_status>>(self, insp, std::chrono::seconds{5},
                                        list_atom::value);
}

json status_json(const actor_status& s) {
  json gauges = json::object();
  for (auto& [k, v] : s.gauges)
    gauges[k] = v;
  return {{"name", s.name},
          {"id", s.id},
          {"kind", s.kind},
          {"parent", s.parent},
          {"mailbox", s.mailbox},
          {"processed", s.processed},
          {"busy_seconds", s.busy_seconds},
          {"restarts", s.restarts},
          {"last_error", s.last_error},
          {"responsive", s.responsive},
          {"gauges", gauges}};
}

// A sample value: integers exactly (byte counters exceed the 6 digits of
// the stream default), others with 9 significant digits.
std::string sample(double v) {
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0)
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  else
    std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

} // namespace

void handle_peers(api_shared& api, const Request&, Response& res) {
  caf::scoped_actor self{api.sys};
  reply_json(res, {{"peers", peers_json(api, self)}});
}

// GET /api/cairn/v1/downloads: recent downloads, newest last.
void handle_downloads(api_shared& api, const Request&, Response& res) {
  auto list = api.ctx->downloads->list();
  static const char* states[] = {"running", "done", "failed"};
  json out = json::array();
  for (auto& p : list) {
    auto state = p->state.load();
    double secs = (state == 0 ? p->elapsed_us() : p->finished_us.load()) / 1e6;
    auto first_byte = p->first_byte_us.load();
    std::string error;
    {
      std::lock_guard<std::mutex> guard{p->mtx};
      error = p->error;
    }
    auto sources = p->sources.get();
    json serving = json::array();
    for (auto& [id, n] : sources.blocks)
      serving.push_back({{"peerId", id}, {"blocks", n}});
    out.push_back(
      {{"cid", p->manifest_cid},
       {"treeCid", p->tree_cid},
       {"peers", serving},
       {"kind", p->kind},
       {"state", states[std::clamp(state, 0, 2)]},
       {"blocksDone", p->blocks_done.load()},
       {"blocksTotal", p->blocks_total},
       {"bytesDone", p->bytes_done.load()},
       {"blocksRepaired", p->blocks_repaired.load()},
       {"duplicateBlocks", sources.duplicates},
       {"seconds", secs},
       {"firstByteSeconds",
        first_byte < 0 ? json(nullptr) : json(first_byte / 1e6)},
       {"bytesPerSecond", secs > 0 ? p->bytes_done.load() / secs : 0.0},
       {"error", error.empty() ? json(nullptr) : json(error)}});
  }
  reply_json(res, {{"downloads", out}});
}

void handle_actors(api_shared& api, const Request& req, Response& res) {
  caf::scoped_actor self{api.sys};
  auto list = actor_statuses(api, self);
  if (!list) {
    reply_error(req, res, list.error());
    return;
  }
  json out = json::array();
  for (auto& s : *list)
    out.push_back(status_json(s));
  reply_json(res, {{"node", api.info.peer_id}, {"actors", out}});
}

// GET /api/cairn/v1/tree: the supervision tree, from the parent links the
// inspector knows, with the supervisor's restart counts per child.
void handle_tree(api_shared& api, const Request& req, Response& res) {
  caf::scoped_actor self{api.sys};
  auto list = actor_statuses(api, self);
  if (!list) {
    reply_error(req, res, list.error());
    return;
  }
  std::map<std::string, double> sup;
  for (auto& s : *list)
    if (s.name == "node_supervisor")
      for (auto& [k, v] : s.gauges)
        sup[k] = v;
  std::function<json(const actor_status&)> node = [&](const actor_status& s) {
    json children = json::array();
    for (auto& c : *list)
      if (c.parent == s.name && c.name != s.name)
        children.push_back(node(c));
    json j{{"name", s.name},
           {"id", s.id},
           {"kind", s.kind},
           {"restarts", s.restarts},
           {"children", children}};
    if (s.name == "node_supervisor") {
      double left = 1e9;
      for (auto& [k, v] : sup)
        if (k.rfind("intensity_left.", 0) == 0)
          left = std::min(left, v);
      j["intensity_left"] = left == 1e9 ? 0 : left;
    } else if (auto i = sup.find("intensity_left." + s.name); i != sup.end()) {
      j["intensity_left"] = i->second;
    }
    return j;
  };
  for (auto& s : *list)
    if (s.parent.empty()) {
      reply_json(res, node(s));
      return;
    }
  reply_error(req, res, 503, "the supervisor is not registered yet");
}

void handle_wants(api_shared& api, const Request& req, Response& res) {
  caf::scoped_actor self{api.sys};
  auto wants = ask<std::vector<want_summary>>(self, api.engine(), store_timeout,
                                              wants_atom::value);
  if (!wants) {
    reply_error(req, res, wants.error());
    return;
  }
  json out = json::array();
  for (auto& w : *wants)
    out.push_back({{"address", w.address},
                   {"ageSeconds", w.age_seconds},
                   {"peers", w.peers},
                   {"waiters", w.waiters}});
  reply_json(res, {{"wants", out}});
}

// GET /api/cairn/v1/store: the local store's counters.
void handle_store(api_shared& api, const Request& req, Response& res) {
  caf::scoped_actor self{api.sys};
  auto local = api.local_store();
  auto sp = ask<space_info>(self, local, store_timeout, space_atom::value);
  auto list = ask<std::vector<dataset_entry>>(self, local, store_timeout,
                                              list_atom::value);
  if (!sp || !list) {
    reply_error(req, res, sp ? list.error() : sp.error());
    return;
  }
  json out{{"blocks", sp->total_blocks},
           {"bytes", sp->quota_used_bytes},
           {"quotaBytes", sp->quota_max_bytes},
           {"datasets", list->size()}};
  // The store's own counters.
  if (auto st = ask<actor_status>(self, local, std::chrono::seconds{1},
                                  status_atom::value)) {
    for (auto& [k, v] : st->gauges) {
      if (k == "map_bytes")
        out["mapBytes"] = static_cast<uint64_t>(v);
      else if (k == "reads" || k == "writes")
        out[k] = static_cast<uint64_t>(v);
      else if (k == "txn_per_second")
        out["txnPerSecond"] = v;
    }
  }
  reply_json(res, out);
}

// POST /api/cairn/v1/store/verify: the local store checked as
// `cairn-node verify` checks it, while the node runs. Loopback or token
// only: it reads (and hashes) every block.
void handle_store_verify(api_shared& api, const Request& req, Response& res) {
  if (!allowed(api, req, res))
    return;
  caf::scoped_actor self{api.sys};
  // A store of 20 GiB takes some 20 s to hash; give it ample time.
  auto check = ask<store_check>(self, api.local_store(),
                                std::chrono::minutes{30}, verify_atom::value);
  if (!check) {
    reply_error(req, res, check.error());
    return;
  }
  auto problems = json::array();
  for (auto& line : check->problems) {
    auto colon = line.find(": ");
    problems.push_back(
      {{"kind", line.substr(0, colon)},
       {"text", colon == std::string::npos ? line : line.substr(colon + 2)}});
  }
  reply_json(res, {{"clean", check->problems.empty()},
                   {"problems", problems},
                   {"blocks", check->blocks},
                   {"bytes", check->bytes},
                   {"datasets", check->datasets},
                   {"leaves", check->leaves},
                   {"seconds", check->seconds}});
}

// POST /api/cairn/v1/actors/{name}/restart | crash
void handle_actor_action(api_shared& api, const Request& req, Response& res,
                         bool crash) {
  if (!allowed(api, req, res))
    return;
  auto name = req.matches[1].str();
  if (crash && !api.ctx->options.enable_fault_injection) {
    reply_error(req, res, 403,
                "refused: fault injection is disabled (start the node with "
                "--enable-fault-injection)");
    return;
  }
  caf::scoped_actor self{api.sys};
  // A restart asks the supervisor first: it knows its children even while
  // one is being replaced (the inspector forgets the old actor before it
  // hears of the new one, and would answer 404 meanwhile).
  if (!crash) {
    auto ok = ask<ok_atom>(self, api.supervisor, store_timeout,
                           restart_atom::value, name);
    if (ok) {
      reply_json(res, {{"actor", name}, {"done", "restarted"}});
      return;
    }
    if (!is(ok.error(), ec::not_found)) {
      reply_error(req, res, 503, describe(ok.error()));
      return;
    }
  }
  auto insp = api.ctx->inspector->get();
  auto handle =
    ask<caf::actor>(self, insp, store_timeout, get_atom::value, name);
  if (!handle) {
    reply_error(req, res, is(handle.error(), ec::not_found) ? 404 : 503,
                is(handle.error(), ec::not_found) ? "no actor named " + name
                                                  : describe(handle.error()));
    return;
  }
  if (!crash) {
    reply_error(req, res, 409,
                name + " is not supervised and cannot be restarted "
                       "(crash it instead)");
    return;
  }
  spdlog::warn("api: crashing {} on request (fault injection)", name);
  self->send<caf::message_priority::high>(
    caf::actor_cast<inspectable_actor>(*handle), crash_atom::value,
    "crashed by an operator (fault injection)");
  reply_json(res, {{"actor", name}, {"done", "crashed"}});
}

// The waits on the node's --max-upload-rate and --max-download-rate
// budgets, by direction (zero without a limit): the limit biting.
void rate_limit_metrics(std::ostream& o, const node_context& ctx) {
  auto waited = [](const std::shared_ptr<storage::token_bucket>& b) {
    return b ? b->waited() : storage::token_bucket::counters{};
  };
  const std::pair<const char*, storage::token_bucket::counters> budgets[] = {
    {"upload", waited(ctx.upload_budget)},
    {"download", waited(ctx.download_budget)}};
  o << "# HELP cairn_rate_limit_waits_total Times a peer session waited "
       "for the node's rate limit, by direction.\n"
       "# TYPE cairn_rate_limit_waits_total counter\n";
  for (auto& [dir, c] : budgets)
    o << "cairn_rate_limit_waits_total{direction=\"" << dir << "\"} "
      << sample(static_cast<double>(c.waits)) << '\n';
  o << "# HELP cairn_rate_limit_wait_seconds_total Seconds peer sessions "
       "waited for the node's rate limit, added up over sessions, by "
       "direction.\n# TYPE cairn_rate_limit_wait_seconds_total counter\n";
  for (auto& [dir, c] : budgets)
    o << "cairn_rate_limit_wait_seconds_total{direction=\"" << dir << "\"} "
      << sample(std::chrono::duration<double>(c.waited).count()) << '\n';
}

// The Prometheus text of GET /metrics.
std::string metrics_text(api_shared& api) {
  caf::scoped_actor self{api.sys};
  std::ostringstream o;
  auto metric = [&](const char* name, const char* type, const char* help,
                    double v) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type
      << '\n'
      << name << ' ' << sample(v) << '\n';
  };
  std::map<std::string, double> engine, store, dht, listener;
  auto list = actor_statuses(api, self);
  if (list)
    for (auto& s : *list) {
      if (s.name == "engine")
        engine.insert(s.gauges.begin(), s.gauges.end());
      if (s.name == "local_store")
        store.insert(s.gauges.begin(), s.gauges.end());
      if (s.name == "discovery")
        dht.insert(s.gauges.begin(), s.gauges.end());
      if (s.name == "peer_listener")
        listener.insert(s.gauges.begin(), s.gauges.end());
    }
  metric("cairn_block_exchange_peers", "gauge", "Connected peers.",
         engine["peers"]);
  metric("cairn_block_exchange_pending_blocks", "gauge",
         "Blocks this node waits for.", engine["pending_blocks"]);
  metric("cairn_block_exchange_blocks_received_total", "counter",
         "Verified blocks received from peers.", engine["blocks_in"]);
  metric("cairn_block_exchange_blocks_sent_total", "counter",
         "Blocks sent to peers.", engine["blocks_out"]);
  metric("cairn_block_exchange_bytes_received_total", "counter",
         "Block bytes received from peers.", engine["bytes_in"]);
  metric("cairn_block_exchange_bytes_sent_total", "counter",
         "Block bytes sent to peers.", engine["bytes_out"]);
  metric("cairn_block_exchange_bad_blocks_total", "counter",
         "Invalid or unrequested blocks received.", engine["bad_blocks"]);
  metric("cairn_block_exchange_want_haves_sent_total", "counter",
         "Want-have entries sent to peers (is a block there?).",
         engine["want_haves_sent"]);
  metric("cairn_block_exchange_want_blocks_sent_total", "counter",
         "Want-block entries sent to peers (send the block, or DONT_HAVE).",
         engine["want_blocks_sent"]);
  metric("cairn_block_exchange_leaves_queued_with_manifests_total", "counter",
         "Leaves queued for peers that asked for them with a manifest.",
         engine["leaves_queued_with_manifests"]);
  metric("cairn_block_exchange_wants_dropped_total", "counter",
         "Want-blocks from peers dropped unanswered: their queue was full.",
         engine["wants_dropped"]);
  metric("cairn_block_exchange_peers_evicted_total", "counter",
         "Peers closed to make room for a new one at --max-peers.",
         engine["peers_evicted"]);
  metric("cairn_block_exchange_redials_total", "counter",
         "Attempts to dial again a peer whose session was lost.",
         engine["redials"]);
  metric("cairn_repostore_blocks", "gauge", "Blocks in the local store.",
         store["blocks"]);
  metric("cairn_repostore_bytes_used", "gauge",
         "Bytes of blocks in the local store.", store["bytes"]);
  metric("cairn_repostore_bytes_quota", "gauge", "The storage quota.",
         store["quota_bytes"]);
  metric("cairn_peer_connections_accepted_total", "counter",
         "Peer connections accepted.", listener["accepted"]);
  metric("cairn_peer_handshakes_pending", "gauge",
         "Accepted peer connections still in their handshake.",
         listener["handshakes_pending"]);
  metric("cairn_peer_handshakes_refused_total", "counter",
         "Peer connections closed at once: too many handshakes pending "
         "(--max-pending-handshakes, --max-pending-handshakes-per-ip).",
         listener["handshakes_refused"]);
  metric("cairn_peer_heap_trims_total", "counter",
         "Times the heap's free memory was given back to the system after "
         "a burst of peer connections in their handshake ended.",
         listener["heap_trims"]);
  metric("cairn_peer_accept_pauses_total", "counter",
         "Times accepting peer connections paused: file descriptors were "
         "running out (--fd-reserve).",
         listener["accept_pauses"]);
  metric("cairn_peer_accept_paused", "gauge",
         "1 while accepting peer connections is paused.",
         listener["accept_paused"]);
  rate_limit_metrics(o, *api.ctx);
  metric("cairn_process_open_fds", "gauge", "Open file descriptors.",
         static_cast<double>(open_fds()));
  metric("cairn_process_max_fds", "gauge",
         "The file descriptor limit (soft RLIMIT_NOFILE).",
         static_cast<double>(fd_limit()));
  metric("cairn_dht_contacts", "gauge", "Contacts in the DHT routing table.",
         dht["contacts"]);
  metric("cairn_dht_datagrams_received_total", "counter",
         "DHT datagrams handed to discovery.", dht["datagrams_in"]);
  metric("cairn_dht_datagrams_sent_total", "counter", "DHT datagrams sent.",
         dht["datagrams_out"]);
  o << "# HELP cairn_dht_datagrams_dropped_total DHT datagrams dropped "
       "unanswered, by reason.\n# TYPE cairn_dht_datagrams_dropped_total "
       "counter\n";
  static const std::pair<const char*, const char*> dropped[] = {
    {"rate_limit", "dropped_rate_limited"},
    {"backlog", "dropped_backlog"},
    {"unsolicited", "dropped_unsolicited"},
    {"malformed", "dropped_malformed"}};
  for (auto [reason, gauge] : dropped)
    o << "cairn_dht_datagrams_dropped_total{reason=\"" << reason << "\"} "
      << sample(dht[gauge]) << '\n';
  metric("cairn_api_uploads_total", "counter", "Datasets uploaded.",
         static_cast<double>(api.uploads.load()));
  metric("cairn_api_downloads_total", "counter", "Downloads started.",
         static_cast<double>(api.downloads_started.load()));
  metric("cairn_actors", "gauge", "Live actors.",
         list ? static_cast<double>(list->size()) : 0);
  auto& conns = *api.connections;
  auto count = [](const std::atomic<uint64_t>& c) {
    return static_cast<double>(c.load());
  };
  metric("cairn_api_connections_total", "counter", "API connections accepted.",
         count(conns.accepted));
  metric("cairn_api_connections_pending", "gauge",
         "API connections still sending their request head.",
         count(conns.pending));
  metric("cairn_api_header_timeouts_total", "counter",
         "API connections closed for not sending their request head in time.",
         count(conns.header_timeouts));
  metric("cairn_api_connections_refused_total", "counter",
         "API connections refused: too many pending from one address.",
         count(conns.refused_per_ip));
  metric("cairn_api_connections_evicted_total", "counter",
         "Pending API connections dropped to admit newer ones.",
         count(conns.evicted));
  metric("cairn_api_oversized_heads_total", "counter",
         "API requests refused for a request head over the limit.",
         count(conns.oversized));
  // Apart, because they cost differently: anonymous memory is the node's
  // own, file pages (LMDB's map) are page cache the kernel shares and
  // reclaims.
  std::map<std::string, double> status;
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256], key[64];
    double kib = 0;
    while (std::fgets(line, sizeof(line), f))
      if (std::sscanf(line, "%63[^:]: %lf kB", key, &kib) == 2)
        status[key] = kib * 1024;
    std::fclose(f);
  }
  metric("cairn_process_rss_anon_bytes", "gauge",
         "Resident anonymous memory: heap, buffers, stacks.",
         status["RssAnon"]);
  metric("cairn_process_rss_file_bytes", "gauge",
         "Resident file pages, mostly LMDB's map: shared, reclaimable.",
         status["RssFile"]);
  metric(
    "cairn_block_buffers_idle_bytes", "gauge",
    "Idle block buffers kept for reuse: part of RssAnon, given back once "
    "unused for a while.",
    static_cast<double>(buffer_pool::blocks().kept() * default_block_size));
  auto per_actor = [&](const char* name, const char* type, const char* help,
                       auto value) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type
      << '\n';
    if (list)
      for (auto& s : *list)
        o << name << "{actor=\"" << s.name << "\"} "
          << sample(static_cast<double>(value(s))) << '\n';
  };
  per_actor("cairn_actor_mailbox", "gauge", "Messages waiting per actor.",
            [](auto& s) { return s.mailbox; });
  per_actor("cairn_actor_processed_total", "counter",
            "Messages handled per actor.", [](auto& s) { return s.processed; });
  per_actor("cairn_actor_busy_seconds_total", "counter",
            "Time spent in handlers per actor.",
            [](auto& s) { return s.busy_seconds; });
  per_actor("cairn_actor_restarts_total", "counter",
            "Supervisor restarts per actor name.",
            [](auto& s) { return s.restarts; });
  return o.str();
}

// DELETE /api/cairn/v1/blocks/{treeCid}/{index}
void handle_delete_leaf(api_shared& api, const Request& req, Response& res) {
  if (!allowed(api, req, res))
    return;
  auto tree = cid_param(req, res, multicodec::codex_root, "tree");
  if (!tree)
    return;
  auto text = req.matches[2].str();
  auto index = parse_decimal(text);
  if (!index) {
    reply_error(req, res, 400, "invalid block index '" + text + "'");
    return;
  }
  caf::scoped_actor self{api.sys};
  auto ok = ask<ok_atom>(self, api.local_store(), store_timeout,
                         delete_atom::value, block_address{*tree, *index});
  if (!ok) {
    reply_error(req, res, ok.error());
    return;
  }
  spdlog::info("api: deleted block {} of {}", *index, tree->to_string());
  res.status = 204;
}

// Endpoints that change state answer loopback clients, or clients that
// present --api-token. Answers 403 (and returns false) otherwise.
bool allowed(api_shared& api, const Request& req, Response& res) {
  const auto& token = api.ctx->options.api_token;
  auto auth = req.get_header_value("Authorization");
  if (bearer_matches(auth, token))
    return true;
  auto& addr = req.remote_addr;
  if (addr == "127.0.0.1" || addr == "::1" || addr == "::ffff:127.0.0.1" ||
      addr.rfind("127.", 0) == 0) {
    if (token.empty() || auth.empty())
      return true;
  }
  reply_error(req, res, 403,
              token.empty() ? "refused: " + req.method + " " + req.path +
                                " is for loopback clients (start the node with "
                                "--api-token to allow others)"
                            : "refused: " + req.method + " " + req.path +
                                " needs 'Authorization: Bearer <--api-token>'");
  return false;
}

} // namespace cairn::actors::rest
