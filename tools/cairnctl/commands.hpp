#pragma once

// The commands of cairnctl that read a node's state (status, actors, tree,
// peers, wants, downloads, store) or change it (restart, crash, loglevel).
// Each `run_*` prints to stdout (a table, or JSON with --json), reports
// failures on stderr, one line each, and returns the exit code.

#include <functional>
#include <string>
#include <vector>

#include "tools/cairnctl/client.hpp"

namespace cairn::tools::cairnctl {

/// What every command works with: the nodes given with --node (in order)
/// and whether to print JSON.
struct context {
  std::vector<node_client> nodes;
  bool json = false;
};

/// Prints "cairnctl: <message>" on stderr.
void report(const failure& err);

/// Calls `fetch` for every node, in parallel; the results in node order.
std::vector<result<json>>
for_each_node(const context& ctx,
              const std::function<result<json>(const node_client&)>& fetch);

/// GET /api/cairn/v1/actors: the node's "actors" array (each element as the
/// node gives it). Fails if the answer has no such array.
result<json> fetch_actors(const node_client& node);

/// `status`: one row per node (peer id, addresses, uptime, API URL, space,
/// actors, peers, running downloads).
int run_status(const context& ctx);

/// `actors`: the node's actors, one row each.
int run_actors(const context& ctx);

/// `actor NAME`: one actor of each node in full, every gauge included
/// (JSON: the actor's object). Fails (exit 1) on a node without that actor.
int run_actor(const context& ctx, const std::string& name);

/// `tree`: the supervision tree, indented with ├─ and └─.
int run_tree(const context& ctx);

/// `peers`: connected peers and their counters.
int run_peers(const context& ctx);

/// `wants`: blocks the node is waiting for.
int run_wants(const context& ctx);

/// `downloads`: the last downloads with their progress.
int run_downloads(const context& ctx);

/// `store`: the local store's counters.
int run_store(const context& ctx);

/// `store verify`: POST /api/cairn/v1/store/verify on every node; prints
/// one line per problem (prefixed with the node when there are several),
/// or a line saying the store is clean. Exit 1 if any node's store has a
/// problem.
int run_store_verify(const context& ctx);

/// `restart ACTOR` / `crash ACTOR` (`action` is "restart" or "crash"): POST
/// /api/cairn/v1/actors/{ACTOR}/{action} on every node.
int run_actor_action(const context& ctx, const std::string& actor,
                     const std::string& action);

/// `loglevel LEVEL`: POST /api/codex/v1/debug/chronicles/loglevel?level=LEVEL
/// on every node.
int run_loglevel(const context& ctx, const std::string& level);

} // namespace cairn::tools::cairnctl
