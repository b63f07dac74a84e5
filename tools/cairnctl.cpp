// cairnctl: the operator CLI of Cairn. It talks to one or more nodes' REST
// API (`--node`, repeatable) and shows actors, the supervision tree, peers,
// wants, downloads and the store; restarts or crashes actors; sets the log
// level; uploads and downloads files. See README.md ("cairnctl") and
// `cairnctl --help`.
//
// The commands live in tools/cairnctl/: commands (read and change state),
// top (the live view), transfer (upload, download), client (HTTP), format
// (tables and units).

#include <csignal>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "tools/cairnctl/client.hpp"
#include "tools/cairnctl/commands.hpp"
#include "tools/cairnctl/top.hpp"
#include "tools/cairnctl/transfer.hpp"

namespace {

using namespace cairn::tools::cairnctl;

constexpr const char* default_node = "http://127.0.0.1:8080";

constexpr const char* exit_help =
  "Exit codes: 0 done; 1 a node answered with an error, or a file failed;\n"
  "2 a node could not be reached; 64 bad usage.";

/// The options every command takes, before or after its name. The program
/// and each command have their own copy; `merge` combines them.
struct global_options {
  std::vector<std::string> nodes;
  bool json = false;
  std::string token;
  int timeout = 10;
  CLI::Option* token_option = nullptr;
  CLI::Option* timeout_option = nullptr;

  /// Adds --node, --json, --token, --timeout to `app`.
  void add_to(CLI::App& app, bool with_json) {
    app
      .add_option("--node", nodes,
                  "A node's API, [http://]HOST:PORT[/PATH] (default " +
                    std::string{default_node} +
                    "); repeat to ask several nodes: read commands print one "
                    "table with a NODE column, or a JSON array with one "
                    "object per node. A PATH goes before every request: "
                    "http://AGENT:PORT/nodes/7 is node 7 of a cairn-sim "
                    "agent started with --api-port")
      ->type_name("URL")
      ->expected(1)
      ->allow_extra_args(false) // one URL per --node, never the next word
      ->take_all();
    if (with_json)
      app.add_flag("--json", json, "Print JSON instead of a table");
    token_option =
      app
        .add_option("--token", token,
                    "Sent as 'Authorization: Bearer TOKEN' with every request")
        ->envname("CAIRN_API_TOKEN")
        ->type_name("TOKEN");
    timeout_option =
      app
        .add_option("--timeout", timeout,
                    "Seconds to wait for a connection and for each answer "
                    "(transfers wait at least 300 s per read)")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600))
        ->type_name("SECONDS");
  }

  /// The program's options overridden or extended by a command's: nodes of
  /// both (program's first), --json of either, --token and --timeout of the
  /// command if it was given them.
  global_options merge(const global_options& command) const {
    auto out = *this;
    out.nodes.insert(out.nodes.end(), command.nodes.begin(),
                     command.nodes.end());
    out.json = json || command.json;
    if (command.token_option->count() > 0)
      out.token = command.token;
    if (command.timeout_option->count() > 0)
      out.timeout = command.timeout;
    return out;
  }
};

/// Everything else the command line sets.
struct command_line {
  std::string actor;
  std::string level;
  std::string file;
  std::string content_type = "application/octet-stream";
  std::string cid;
  std::string output;
  std::string store_action;
  top_options top;
};

int usage_error(const std::string& why) {
  std::cerr << "cairnctl: " << why << " (see cairnctl --help)" << std::endl;
  return exit_usage;
}

} // namespace

int main(int argc, char** argv) {
  // A node closing a connection early must give an error, not kill us.
  std::signal(SIGPIPE, SIG_IGN);
  command_line cl;
  global_options program;
  CLI::App app{"cairnctl: inspect and operate Cairn storage nodes through "
               "their REST API.",
               "cairnctl"};
  app.set_version_flag("--version", "cairnctl 0.1.0");
  app.get_formatter()->column_width(30);
  app.require_subcommand(0, 1);
  program.add_to(app, true);

  // Each command has its own copy of the global options, so that they work
  // after the command's name too (CLI11's fallthrough would stop parsing
  // the command's positional arguments after them).
  std::map<std::string, global_options> per_command;
  std::map<std::string, std::function<int(const context&)>> run;
  auto command = [&](const std::string& name, const std::string& summary,
                     const std::string& details, bool json_flag,
                     std::function<int(const context&)> fn) {
    auto* sub = app.add_subcommand(name, summary);
    sub->footer(details + "\n\n" + exit_help);
    per_command[name].add_to(*sub, json_flag);
    run[name] = std::move(fn);
    return sub;
  };

  command("status", "One summary per node",
          "Per node: peer id, uptime, space used and quota, blocks, number of\n"
          "actors, connected peers, running downloads, API URL, addresses\n"
          "(GET /api/codex/v1/debug/info, /api/codex/v1/space and\n"
          "/api/cairn/v1/{actors,peers,downloads}). JSON: {node, peerId,\n"
          "addrs, api, uptimeSeconds, space, actorCount, peerCount,\n"
          "runningDownloads} with \"errors\" listing the parts that failed.",
          true, run_status);
  command(
    "actors", "The node's actors, one row each",
    "GET /api/cairn/v1/actors: name, id, kind, parent, mailbox, messages\n"
    "processed, busy time, restarts, gauges, last error. Counts print as\n"
    "integers, sizes in KiB/MiB/GiB; on a terminal (or with $COLUMNS set)\n"
    "the gauges are cut to its width so that LAST_ERROR stays visible:\n"
    "`cairnctl actor NAME` shows them all. JSON: the node's actor objects\n"
    "as they are; for several nodes [{\"node\": URL, \"actors\": [...]}].",
    true, run_actors);
  auto* actor = command(
    "actor", "One actor in full, every gauge included",
    "GET /api/cairn/v1/actors, the actor named NAME: id, kind, parent,\n"
    "mailbox, messages processed, busy time, restarts, last error,\n"
    "responsiveness and every gauge, one line each. JSON: the actor's\n"
    "object; for several nodes [{\"node\": URL, \"actor\": {...}}]. A node\n"
    "without such an actor is an error (exit 1).",
    true, [&](const context& ctx) { return run_actor(ctx, cl.actor); });
  actor
    ->add_option("NAME", cl.actor,
                 "Actor name, as `cairnctl actors` lists it (e.g. engine, "
                 "peer_session/<peer id>)")
    ->required();
  auto* top = command(
    "top", "Live view of the actors, like htop",
    "Polls GET /api/cairn/v1/actors every --interval seconds and shows each\n"
    "actor's message rate over the interval, sorted by mailbox or rate,\n"
    "redrawn in place. Keys: m sort by mailbox, r sort by rate, q or Ctrl-C\n"
    "quit. When stdout is not a terminal, or with --json, prints one\n"
    "snapshot (rates over one interval) and exits.",
    true, [&](const context& ctx) { return run_top(ctx, cl.top); });
  top
    ->add_option("--interval", cl.top.interval_seconds,
                 "Seconds between refreshes")
    ->capture_default_str()
    ->check(CLI::Range(0.1, 3600.0))
    ->type_name("SECONDS");
  top
    ->add_option("--iterations", cl.top.iterations,
                 "Stop after N refreshes and leave the last view on the "
                 "screen (0 = run until q)")
    ->capture_default_str()
    ->type_name("N");
  top->add_option("--sort", cl.top.sort, "Initial sort: mailbox or rate")
    ->capture_default_str()
    ->check(CLI::IsMember({"mailbox", "rate"}));
  command("tree", "The supervision tree, indented",
          "GET /api/cairn/v1/tree, drawn with the kind, id and restarts of\n"
          "every actor, and the restarts a supervisor has left before it\n"
          "escalates. JSON: the node's tree as it is.",
          true, run_tree);
  command("peers", "Connected peers and their counters",
          "GET /api/cairn/v1/peers: peer id, addresses, blocks and bytes\n"
          "received, bytes sent, rate, latency (\"—\" until a block from the\n"
          "peer measured it), bad blocks, timeouts, requests outstanding and\n"
          "queued. JSON: the \"peers\" array.",
          true, run_peers);
  command("wants", "Blocks the node is waiting for",
          "GET /api/cairn/v1/wants: address (treeCid/index or CID), age,\n"
          "waiters, peers asked. JSON: the \"wants\" array.",
          true, run_wants);
  command("downloads", "The last downloads and their progress",
          "GET /api/cairn/v1/downloads: CID, kind, state, blocks done of\n"
          "total, bytes, time, rate, serving peers, error. JSON: the\n"
          "\"downloads\" array.",
          true, run_downloads);
  auto* store = command(
    "store", "The local store's counters, or `store verify`: check it",
    "GET /api/cairn/v1/store: blocks, bytes, quota, datasets, LMDB map\n"
    "size, reads, writes, transactions per second. JSON: the node's\n"
    "object as it is.\n"
    "`store verify`: POST /api/cairn/v1/store/verify, the checks of\n"
    "`cairn-node verify` on the running node (every block hashed, leaves,\n"
    "proofs, refcounts, counters, orphans); prints one line per problem,\n"
    "\"kind: text\", or \"clean: ...\", and exits 1 if there is a problem.\n"
    "JSON: {clean, problems: [{kind, text}], blocks, bytes, datasets,\n"
    "leaves, seconds, node}.",
    true, [&](const context& ctx) {
      return cl.store_action == "verify" ? run_store_verify(ctx)
                                         : run_store(ctx);
    });
  store->add_option("ACTION", cl.store_action, "verify: check the store")
    ->check(CLI::IsMember({"verify"}));
  auto* restart = command(
    "restart", "Restart an actor under its supervisor",
    "POST /api/cairn/v1/actors/ACTOR/restart on every node; prints\n"
    "\"NODE: ACTOR restarted\". The node answers 404 for an unknown actor\n"
    "and 403 when it refuses (e.g. not from loopback without a token).",
    true, [&](const context& ctx) {
      return run_actor_action(ctx, cl.actor, "restart");
    });
  restart
    ->add_option("ACTOR", cl.actor,
                 "Actor name, as `cairnctl actors` lists it (e.g. engine, "
                 "peer_session/<peer id>)")
    ->required();
  auto* crash =
    command("crash", "Crash an actor on purpose, to test supervision",
            "POST /api/cairn/v1/actors/ACTOR/crash on every node; prints\n"
            "\"NODE: ACTOR crashed\". The node must run with fault injection\n"
            "enabled, else it answers 403.",
            true, [&](const context& ctx) {
              return run_actor_action(ctx, cl.actor, "crash");
            });
  crash
    ->add_option("ACTOR", cl.actor, "Actor name, as `cairnctl actors` lists it")
    ->required();
  auto* loglevel = command(
    "loglevel", "Set the node's log level",
    "POST /api/codex/v1/debug/chronicles/loglevel?level=LEVEL on every\n"
    "node; prints \"NODE: log level set to LEVEL\". An unknown level is\n"
    "refused by the node (400).",
    true, [&](const context& ctx) { return run_loglevel(ctx, cl.level); });
  loglevel
    ->add_option("LEVEL", cl.level,
                 "trace, debug, info, notice, warn, error or fatal (Codex's "
                 "'DEBUG;TRACE:topic' form sets the part before ';')")
    ->required();
  auto* upload = command(
    "upload", "Upload a file and print its CID",
    "Streams FILE (never read whole into memory) with POST\n"
    "/api/codex/v1/data to one node, with its name in Content-Disposition,\n"
    "and prints the manifest CID on stdout (JSON: {node, cid, bytes}).\n"
    "Progress goes to stderr: a bar on a terminal, else a line a second.",
    true, [&](const context& ctx) {
      return run_upload(ctx, cl.file, cl.content_type);
    });
  upload->add_option("FILE", cl.file, "The file to upload")->required();
  upload
    ->add_option("--content-type", cl.content_type,
                 "Stored as the dataset's mimetype")
    ->capture_default_str();
  auto* download = command(
    "download", "Download a dataset into a file or stdout",
    "GET /api/codex/v1/data/CID/network/stream from one node, which fetches\n"
    "missing blocks from its peers, into FILE (replaced only when the\n"
    "download is complete) or stdout. Progress goes to stderr: a bar on a\n"
    "terminal, else a line a second; it says \"discovering…\" with the time\n"
    "since the request until the first bytes come, then the rate and ETA\n"
    "of the bytes flowing.",
    false,
    [&](const context& ctx) { return run_download(ctx, cl.cid, cl.output); });
  download->add_option("CID", cl.cid, "The dataset's manifest CID")->required();
  download
    ->add_option("-o,--output", cl.output,
                 "Write to FILE (default: stdout, which must not be a "
                 "terminal)")
    ->type_name("FILE");
  // Set after the commands, which would inherit it.
  app.footer("Every command takes --help (cairnctl COMMAND --help) and the\n"
             "options above, before or after its name.\n" +
             std::string{exit_help});

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return exit_ok;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return exit_ok;
  } catch (const CLI::CallForVersion&) {
    std::cout << "cairnctl 0.1.0\n";
    return exit_ok;
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }
  auto selected = app.get_subcommands();
  if (selected.empty())
    return usage_error("no command given: status, actors, actor, top, tree, "
                       "peers, wants, downloads, store, restart, crash, "
                       "loglevel, upload or download");
  auto name = selected.front()->get_name();
  auto opts = program.merge(per_command[name]);
  if (opts.nodes.empty())
    opts.nodes.push_back(default_node);
  context ctx;
  ctx.json = opts.json;
  for (auto& text : opts.nodes) {
    auto url = parse_node_url(text);
    if (!url)
      return usage_error(url.error().message);
    ctx.nodes.emplace_back(*url, client_options{opts.token, opts.timeout});
  }
  if ((name == "upload" || name == "download") && ctx.nodes.size() != 1)
    return usage_error(name + " talks to one node; give --node once");
  try {
    return run[name](ctx);
  } catch (const std::exception& e) {
    // Only a bug gets here (answers are checked before use): still one line.
    std::cerr << "cairnctl: " << name << ": " << e.what() << std::endl;
    return exit_failed;
  }
}
