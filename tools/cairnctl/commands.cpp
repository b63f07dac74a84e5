#include "tools/cairnctl/commands.hpp"

#include <algorithm>
#include <cmath>
#include <future>
#include <iostream>

#include "tools/cairnctl/format.hpp"

namespace cairn::tools::cairnctl {

namespace {

constexpr const char* cairn_api = "/api/cairn/v1";

using rows_fn = std::function<void(
  const json& data, std::vector<std::vector<std::string>>& rows)>;

/// How a read command fetches, names and shows its data.
struct read_spec {
  read_spec(const char* key,
            std::function<result<json>(const node_client&)> fetch,
            std::vector<table::column> columns, rows_fn rows)
    : key(key), fetch(std::move(fetch)), columns(std::move(columns)),
      rows(std::move(rows)) {
    // The flags below keep their defaults unless a command sets them.
  }

  /// Key of the data in the per-node objects of multi-node JSON output.
  const char* key;
  /// Fetches one node's data (what `--json` prints for a single node).
  std::function<result<json>(const node_client&)> fetch;
  /// Table columns (without NODE).
  std::vector<table::column> columns;
  /// Table rows of one node's data.
  rows_fn rows;
  /// Show the NODE column even for a single node.
  bool node_column_always = false;
  /// The data is one object that already names its node (status): JSON
  /// output for several nodes lists the objects as they are.
  bool self_describing = false;
  /// Narrow the `shrink` columns to the terminal's width (output_columns).
  bool fit_terminal = false;
  /// Called after the output with each node's data; reports problems found
  /// in it and returns an exit code (status lists the parts it missed).
  std::function<int(const json& data)> check;
};

int worse(int a, int b) {
  return std::max(a, b);
}

/// GET `path`; the array under `key` of the answer.
result<json> fetch_list(const node_client& node, const std::string& path,
                        const char* key) {
  auto j = node.get_json(path);
  if (!j)
    return j.error();
  auto* list = array_field(*j, key);
  if (list == nullptr)
    return node.bad_answer(path, std::string{"the answer has no '"} + key +
                                   "' array");
  return *list;
}

/// GET `path`, expecting a JSON object.
result<json> fetch_object(const node_client& node, const std::string& path) {
  auto j = node.get_json(path);
  if (!j)
    return j.error();
  if (!j->is_object())
    return node.bad_answer(path, "the answer is not a JSON object");
  return j;
}

int run_read(const context& ctx, const read_spec& spec) {
  auto results = for_each_node(ctx, spec.fetch);
  int code = exit_ok;
  for (auto& r : results)
    if (!r) {
      report(r.error());
      code = worse(code, r.error().code);
    }
  auto with_checks = [&](int c) {
    if (spec.check)
      for (auto& r : results)
        if (r)
          c = worse(c, spec.check(*r));
    return c;
  };
  if (ctx.json) {
    if (ctx.nodes.size() == 1) {
      if (results[0])
        std::cout << dump_json(*results[0]) << "\n";
    } else {
      auto out = json::array();
      for (std::size_t i = 0; i < results.size(); ++i) {
        if (!results[i])
          continue;
        if (spec.self_describing)
          out.push_back(*results[i]);
        else
          out.push_back(
            {{"node", ctx.nodes[i].url().text}, {spec.key, *results[i]}});
      }
      std::cout << dump_json(out) << "\n";
    }
    return with_checks(code);
  }
  bool node_column = spec.node_column_always || ctx.nodes.size() > 1;
  std::vector<table::column> columns;
  if (node_column)
    columns.push_back({"NODE"});
  columns.insert(columns.end(), spec.columns.begin(), spec.columns.end());
  table t{columns};
  bool any = false;
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (!results[i])
      continue;
    any = true;
    std::vector<std::vector<std::string>> rows;
    spec.rows(*results[i], rows);
    for (auto& row : rows) {
      if (node_column)
        row.insert(row.begin(), ctx.nodes[i].url().text);
      t.add_row(std::move(row));
    }
  }
  if (any)
    std::cout << t.render(spec.fit_terminal ? output_columns() : 0);
  return with_checks(code);
}

std::string seconds_text(double s) {
  return fixed(s, s < 10 ? 2 : 1) + "s";
}

std::string percent(double part, double whole) {
  if (!(whole > 0))
    return "-";
  return fixed(std::min(100.0, 100.0 * part / whole), 0) + "%";
}

/// "a,b,c" of the strings in `j[key]`.
std::string joined(const json& j, const char* key, const char* sep = ",") {
  std::string out;
  if (auto* list = array_field(j, key))
    for (auto& x : *list)
      if (x.is_string())
        out += (out.empty() ? "" : sep) + x.get<std::string>();
  return out;
}

std::string gauges_text(const json& actor) {
  std::string out;
  if (!actor.is_object())
    return out;
  auto it = actor.find("gauges");
  if (it == actor.end() || !it->is_object())
    return out;
  for (auto& [name, value] : it->items())
    out += (out.empty() ? "" : " ") + name + "=" + gauge_text(name, value);
  return out;
}

// -- status -------------------------------------------------------------------

result<json> fetch_status(const node_client& node) {
  auto info = fetch_object(node, "/api/codex/v1/debug/info");
  if (!info)
    return info.error();
  json out{{"node", node.url().text}};
  out["peerId"] = text_field(*info, "id");
  out["addrs"] = json::array();
  if (auto* addrs = array_field(*info, "addrs"))
    out["addrs"] = *addrs;
  const json cairn =
    info->is_object() && info->contains("cairn") ? (*info)["cairn"] : json{};
  out["api"] = text_field(cairn, "api");
  out["uptimeSeconds"] =
    has_number(cairn, "uptimeSeconds") ? cairn["uptimeSeconds"] : json(nullptr);
  auto errors = json::array();
  auto space = fetch_object(node, "/api/codex/v1/space");
  out["space"] = nullptr;
  if (space)
    out["space"] = *space;
  else
    errors.push_back(space.error().message);
  auto count_of = [&](const char* field, result<json> list,
                      const std::function<bool(const json&)>& pred) {
    if (!list) {
      out[field] = nullptr;
      errors.push_back(list.error().message);
      return;
    }
    out[field] = std::count_if(list->begin(), list->end(), pred);
  };
  auto all = [](const json&) { return true; };
  count_of("actorCount", fetch_actors(node), all);
  count_of("peerCount", fetch_list(node, "/api/cairn/v1/peers", "peers"), all);
  count_of("runningDownloads",
           fetch_list(node, "/api/cairn/v1/downloads", "downloads"),
           [](const json& d) { return text_field(d, "state") == "running"; });
  if (!errors.empty())
    out["errors"] = errors;
  return out;
}

void status_rows(const json& s, std::vector<std::vector<std::string>>& rows) {
  auto opt_count = [&](const char* key) {
    return has_number(s, key) ? count(number_field(s, key)) : "-";
  };
  const json space = s.contains("space") ? s["space"] : json{};
  bool have_space = space.is_object();
  rows.push_back(
    {text_field(s, "peerId"),
     has_number(s, "uptimeSeconds")
       ? human_duration(number_field(s, "uptimeSeconds"))
       : "-",
     have_space ? human_bytes(number_field(space, "quotaUsedBytes")) : "-",
     have_space ? human_bytes(number_field(space, "quotaMaxBytes")) : "-",
     have_space ? count(number_field(space, "totalBlocks")) : "-",
     opt_count("actorCount"), opt_count("peerCount"),
     opt_count("runningDownloads"), text_field(s, "api"), joined(s, "addrs")});
}

} // namespace

void report(const failure& err) {
  std::cerr << "cairnctl: " << err.message << std::endl;
}

std::vector<result<json>>
for_each_node(const context& ctx,
              const std::function<result<json>(const node_client&)>& fetch) {
  std::vector<std::future<result<json>>> pending;
  for (auto& node : ctx.nodes)
    pending.push_back(
      std::async(std::launch::async, [&fetch, &node] { return fetch(node); }));
  std::vector<result<json>> out;
  for (auto& p : pending)
    out.push_back(p.get());
  return out;
}

result<json> fetch_actors(const node_client& node) {
  return fetch_list(node, std::string{cairn_api} + "/actors", "actors");
}

int run_status(const context& ctx) {
  read_spec spec{"status",
                 fetch_status,
                 {{"PEER ID"},
                  {"UPTIME", true},
                  {"USED", true},
                  {"QUOTA", true},
                  {"BLOCKS", true},
                  {"ACTORS", true},
                  {"PEERS", true},
                  {"DOWNLOADS", true},
                  {"API"},
                  {"ADDRS"}},
                 status_rows};
  spec.node_column_always = true;
  spec.self_describing = true;
  spec.check = [](const json& s) {
    // The parts of the summary that failed were collected in
    // the data, not reported yet.
    auto* errors = array_field(s, "errors");
    if (errors == nullptr || errors->empty())
      return int{exit_ok};
    for (auto& e : *errors)
      report(failure{exit_failed, e.get<std::string>()});
    return int{exit_failed};
  };
  return run_read(ctx, spec);
}

int run_actors(const context& ctx) {
  read_spec spec{"actors",
                 fetch_actors,
                 {{"NAME"},
                  {"ID", true},
                  {"KIND"},
                  {"PARENT"},
                  {"MAILBOX", true},
                  {"PROCESSED", true},
                  {"BUSY", true},
                  {"RESTARTS", true},
                  {"GAUGES", false, true},
                  {"LAST_ERROR"}},
                 [](const json& actors, auto& rows) {
                   for (auto& a : actors)
                     rows.push_back(
                       {text_field(a, "name"), text_field(a, "id"),
                        text_field(a, "kind"), text_field(a, "parent"),
                        count(number_field(a, "mailbox")),
                        count(number_field(a, "processed")),
                        seconds_text(number_field(a, "busy_seconds")),
                        count(number_field(a, "restarts")), gauges_text(a),
                        text_field(a, "last_error")});
                 }};
  // The gauges give way, so that LAST_ERROR stays on screen.
  spec.fit_terminal = true;
  return run_read(ctx, spec);
}

namespace {

/// The object of the actor named `name` in `actors`, or nullptr.
const json* find_actor(const json& actors, const std::string& name) {
  for (auto& a : actors)
    if (text_field(a, "name") == name)
      return &a;
  return nullptr;
}

/// One actor in full, a "key  value" line each, then every gauge.
std::string actor_detail(const json& a) {
  table t{{{""}, {""}}};
  auto yes_no = [&](const char* key) {
    auto it = a.find(key);
    return it != a.end() && it->is_boolean()
             ? std::string{it->get<bool>() ? "yes" : "no"}
             : std::string{"-"};
  };
  t.add_row({"name", text_field(a, "name")});
  t.add_row({"id", text_field(a, "id")});
  t.add_row({"kind", text_field(a, "kind")});
  t.add_row({"parent", text_field(a, "parent")});
  t.add_row({"mailbox", count(number_field(a, "mailbox"))});
  t.add_row({"processed", count(number_field(a, "processed"))});
  t.add_row({"busy", seconds_text(number_field(a, "busy_seconds"))});
  t.add_row({"restarts", count(number_field(a, "restarts"))});
  t.add_row({"last_error", text_field(a, "last_error")});
  t.add_row({"responsive", yes_no("responsive")});
  auto g = a.find("gauges");
  if (g != a.end() && g->is_object())
    for (auto& [name, value] : g->items()) {
      auto text = gauge_text(name, value);
      // Sizes also exactly, as the node counts them.
      if (is_byte_gauge(name) && value.is_number())
        text += " (" + count(value.get<double>()) + ")";
      t.add_row({"gauge " + name, text});
    }
  // The table's first line is its empty header.
  auto out = t.render();
  return out.substr(out.find('\n') + 1);
}

} // namespace

int run_actor(const context& ctx, const std::string& name) {
  auto results = for_each_node(ctx, [&](const node_client& node) {
    auto actors = fetch_actors(node);
    if (!actors)
      return actors;
    auto* a = find_actor(*actors, name);
    if (a == nullptr)
      return result<json>{
        failure{exit_failed, node.url().text + ": no actor named " + name}};
    return result<json>{*a};
  });
  int code = exit_ok;
  auto out = json::array();
  bool first = true;
  for (std::size_t i = 0; i < results.size(); ++i) {
    auto& r = results[i];
    if (!r) {
      report(r.error());
      code = worse(code, r.error().code);
      continue;
    }
    if (ctx.json) {
      out.push_back(ctx.nodes.size() == 1
                      ? *r
                      : json{{"node", ctx.nodes[i].url().text}, {"actor", *r}});
      continue;
    }
    if (ctx.nodes.size() > 1)
      std::cout << (first ? "" : "\n") << "node        "
                << printable(ctx.nodes[i].url().text) << "\n";
    first = false;
    std::cout << actor_detail(*r);
  }
  if (ctx.json && !out.empty())
    std::cout << dump_json(ctx.nodes.size() == 1 ? out[0] : out) << "\n";
  return code;
}

namespace {

void tree_rows(const json& n, const std::string& prefix, bool root, bool last,
               int depth, std::vector<std::vector<std::string>>& rows) {
  std::string label = root ? "" : prefix + (last ? "└─ " : "├─ ");
  label += text_field(n, "name");
  rows.push_back({label, text_field(n, "id"), text_field(n, "kind"),
                  count(number_field(n, "restarts")),
                  has_number(n, "intensity_left")
                    ? count(number_field(n, "intensity_left"))
                    : ""});
  auto* children = array_field(n, "children");
  if (children == nullptr || depth > 64)
    return;
  std::string below = root ? "" : prefix + (last ? "   " : "│  ");
  for (std::size_t i = 0; i < children->size(); ++i)
    tree_rows((*children)[i], below, false, i + 1 == children->size(),
              depth + 1, rows);
}

} // namespace

int run_tree(const context& ctx) {
  read_spec spec{"tree",
                 [](const node_client& node) {
                   return fetch_object(node, std::string{cairn_api} + "/tree");
                 },
                 {{"ACTOR"},
                  {"ID", true},
                  {"KIND"},
                  {"RESTARTS", true},
                  {"INTENSITY_LEFT", true}},
                 [](const json& tree, auto& rows) {
                   tree_rows(tree, "", true, true, 0, rows);
                 }};
  return run_read(ctx, spec);
}

namespace {

/// A peer's latency, or "—" when it was never measured. The engine reports
/// a prior (50 ms) until a block arrives, and measures the delivery rate
/// together with the latency: no rate yet means no latency yet.
std::string latency_text(const json& p) {
  if (!has_number(p, "latencySeconds") ||
      !(number_field(p, "rateBytesPerSecond") > 0))
    return "—";
  return fixed(number_field(p, "latencySeconds") * 1000, 1) + " ms";
}

} // namespace

int run_peers(const context& ctx) {
  read_spec spec{
    "peers",
    [](const node_client& node) {
      return fetch_list(node, std::string{cairn_api} + "/peers", "peers");
    },
    {{"PEER"},
     {"ADDRS"},
     {"BLOCKS", true},
     {"RECEIVED", true},
     {"SENT", true},
     {"RATE", true},
     {"LATENCY", true},
     {"BAD", true},
     {"TIMEOUTS", true},
     {"OUTSTANDING", true},
     {"QUEUED", true}},
    [](const json& peers, auto& rows) {
      for (auto& p : peers)
        rows.push_back({text_field(p, "peerId"), joined(p, "addrs"),
                        count(number_field(p, "blocksReceived")),
                        human_bytes(number_field(p, "bytesReceived")),
                        human_bytes(number_field(p, "bytesSent")),
                        human_rate(number_field(p, "rateBytesPerSecond")),
                        latency_text(p), count(number_field(p, "badBlocks")),
                        count(number_field(p, "timeouts")),
                        count(number_field(p, "outstanding")),
                        count(number_field(p, "queued"))});
    }};
  return run_read(ctx, spec);
}

int run_wants(const context& ctx) {
  read_spec spec{
    "wants",
    [](const node_client& node) {
      return fetch_list(node, std::string{cairn_api} + "/wants", "wants");
    },
    {{"ADDRESS"}, {"AGE", true}, {"WAITERS", true}, {"PEERS"}},
    [](const json& wants, auto& rows) {
      for (auto& w : wants)
        rows.push_back({text_field(w, "address"),
                        seconds_text(number_field(w, "ageSeconds")),
                        count(number_field(w, "waiters")),
                        joined(w, "peers", " ")});
    }};
  return run_read(ctx, spec);
}

int run_downloads(const context& ctx) {
  read_spec spec{
    "downloads",
    [](const node_client& node) {
      return fetch_list(node, std::string{cairn_api} + "/downloads",
                        "downloads");
    },
    {{"CID"},
     {"KIND"},
     {"STATE"},
     {"BLOCKS", true},
     {"DONE", true},
     {"BYTES", true},
     {"TIME", true},
     {"RATE", true},
     {"PEERS", true},
     {"ERROR"}},
    [](const json& downloads, auto& rows) {
      for (auto& d : downloads) {
        auto done = number_field(d, "blocksDone");
        auto total = number_field(d, "blocksTotal");
        auto* peers = array_field(d, "peers");
        rows.push_back(
          {text_field(d, "cid"), text_field(d, "kind"), text_field(d, "state"),
           count(done) + "/" + count(total), percent(done, total),
           human_bytes(number_field(d, "bytesDone")),
           seconds_text(number_field(d, "seconds")),
           human_rate(number_field(d, "bytesPerSecond")),
           count(peers ? peers->size() : 0), text_field(d, "error")});
      }
    }};
  return run_read(ctx, spec);
}

int run_store(const context& ctx) {
  read_spec spec{"store",
                 [](const node_client& node) {
                   return fetch_object(node, std::string{cairn_api} + "/store");
                 },
                 {{"BLOCKS", true},
                  {"BYTES", true},
                  {"QUOTA", true},
                  {"USED", true},
                  {"DATASETS", true},
                  {"MAP", true},
                  {"READS", true},
                  {"WRITES", true},
                  {"TXN/S", true}},
                 [](const json& s, auto& rows) {
                   auto bytes = number_field(s, "bytes");
                   auto quota = number_field(s, "quotaBytes");
                   rows.push_back({count(number_field(s, "blocks")),
                                   human_bytes(bytes), human_bytes(quota),
                                   percent(bytes, quota),
                                   count(number_field(s, "datasets")),
                                   human_bytes(number_field(s, "mapBytes")),
                                   count(number_field(s, "reads")),
                                   count(number_field(s, "writes")),
                                   fixed(number_field(s, "txnPerSecond"), 1)});
                 }};
  return run_read(ctx, spec);
}

namespace {

/// Runs `post` on every node; prints `line(node, answer)` per success, or
/// with --json one object per node (an array for several nodes). `verdict`
/// (if set) gives the exit code an answer calls for.
int run_posts(
  const context& ctx,
  const std::function<result<std::string>(const node_client&)>& post,
  const std::function<json(const node_client&, const std::string& answer)>&
    as_json,
  const std::function<std::string(const json&)>& line,
  const std::function<int(const json&)>& verdict = {}) {
  auto results = for_each_node(ctx, [&](const node_client& node) {
    auto r = post(node);
    if (!r)
      return result<json>{r.error()};
    return result<json>{as_json(node, *r)};
  });
  int code = exit_ok;
  auto out = json::array();
  for (auto& r : results) {
    if (!r) {
      report(r.error());
      code = worse(code, r.error().code);
      continue;
    }
    if (verdict)
      code = worse(code, verdict(*r));
    if (ctx.json)
      out.push_back(*r);
    else
      std::cout << line(*r) << "\n";
  }
  if (ctx.json && !out.empty())
    std::cout << dump_json(ctx.nodes.size() == 1 ? out[0] : out) << "\n";
  return code;
}

} // namespace

int run_store_verify(const context& ctx) {
  auto path = std::string{cairn_api} + "/store/verify";
  return run_posts(
    ctx,
    // The node hashes every block: a large store takes minutes.
    [&](const node_client& node) { return node.post(path, 1800); },
    [&](const node_client& node, const std::string& answer) {
      auto j = json::parse(answer, nullptr, false);
      if (!j.is_object() || !array_field(j, "problems"))
        j = {{"problems", json::array({{{"kind", "bad-answer"},
                                        {"text", "no \"problems\" array"}}})}};
      j["node"] = node.url().text;
      return j;
    },
    [&](const json& j) {
      auto prefix =
        ctx.nodes.size() > 1 ? text_field(j, "node") + ": " : std::string{};
      std::string out;
      for (auto& p : *array_field(j, "problems"))
        out += (out.empty() ? "" : "\n") + prefix + text_field(p, "kind") +
               ": " + text_field(p, "text");
      if (out.empty())
        out = prefix + "clean: " + count(number_field(j, "blocks")) +
              " blocks (" + human_bytes(number_field(j, "bytes")) + "), " +
              count(number_field(j, "datasets")) + " datasets, checked in " +
              fixed(number_field(j, "seconds"), 1) + " s";
      return out;
    },
    [](const json& j) {
      return array_field(j, "problems")->empty() ? exit_ok : exit_failed;
    });
}

int run_actor_action(const context& ctx, const std::string& actor,
                     const std::string& action) {
  auto path =
    std::string{cairn_api} + "/actors/" + url_encode(actor) + "/" + action;
  return run_posts(
    ctx, [&](const node_client& node) { return node.post(path); },
    [&](const node_client& node, const std::string& answer) {
      auto j = json::parse(answer, nullptr, false);
      auto done = text_field(j, "done");
      if (done.empty())
        done = action == "crash" ? "crashed" : "restarted";
      auto name = text_field(j, "actor");
      return json{{"node", node.url().text},
                  {"actor", name.empty() ? actor : name},
                  {"done", done}};
    },
    [](const json& j) {
      return printable(text_field(j, "node") + ": " + text_field(j, "actor") +
                       " " + text_field(j, "done"));
    });
}

int run_loglevel(const context& ctx, const std::string& level) {
  auto path =
    "/api/codex/v1/debug/chronicles/loglevel?level=" + url_encode(level);
  return run_posts(
    ctx, [&](const node_client& node) { return node.post(path); },
    [&](const node_client& node, const std::string&) {
      return json{{"node", node.url().text}, {"level", level}};
    },
    [](const json& j) {
      return printable(text_field(j, "node") + ": log level set to " +
                       text_field(j, "level"));
    });
}

} // namespace cairn::tools::cairnctl
