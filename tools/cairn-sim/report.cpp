// The report of a run: report.json (everything collected) and report.md
// (a summary a person reads).

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "tools/cairn-sim/sim.hpp"

namespace cairn::sim {

namespace {

using json = nlohmann::json;

// The q-quantile of sorted `xs` (nearest rank).
double quantile(const std::vector<double>& xs, double q) {
  if (xs.empty())
    return 0;
  auto i = static_cast<size_t>(q * static_cast<double>(xs.size() - 1) + 0.5);
  return xs[std::min(i, xs.size() - 1)];
}

std::string fixed(double x, int digits = 2) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, x);
  return buf;
}

json to_json(const actors::sim_run_log& log) {
  json j;
  j["scenario"] = log.scenario;
  j["seed"] = log.seed;
  j["agents"] = log.agents;
  j["exit_code"] = log.exit_code;
  j["reason"] = log.reason;
  j["startup_seconds"] = log.startup_seconds;
  j["run_seconds"] = log.run_seconds;
  j["schedule"] = json::array();
  for (auto& s : log.steps) {
    json x{{"at", s.at},
           {"kind", config::event_name(s.kind)},
           {"node", s.node},
           {"event", s.event}};
    if (s.event < log.event_after.size() && !log.event_after[s.event].empty())
      x["after"] = log.event_after[s.event];
    if (!s.data.empty())
      x["data"] = s.data;
    if (s.kind == config::event_kind::protect) {
      x["as"] = s.as;
      x["k"] = s.k;
      x["m"] = s.m;
    }
    if (s.kind == config::event_kind::del) {
      x["blocks"] = s.blocks;
      x["pick_seed"] = s.pick_seed;
    }
    j["schedule"].push_back(std::move(x));
  }
  j["placement"] = log.placement;
  j["uploads"] = json::array();
  for (auto& [name, u] : log.uploads) {
    json x{{"data", name},
           {"node", u.node},
           {"size", u.size},
           {"data_seed", u.data_seed},
           {"at", u.at}};
    if (!u.source.empty()) {
      x["protects"] = u.source;
      x["k"] = u.k;
      x["m"] = u.m;
    }
    if (u.result) {
      x["cid"] = u.result->cid;
      x["sha256"] = u.result->sha256;
      x["seconds"] = u.result->seconds;
    }
    if (!u.error.empty())
      x["error"] = u.error;
    j["uploads"].push_back(std::move(x));
  }
  j["downloads"] = json::array();
  for (auto& d : log.downloads) {
    auto& r = d.result;
    json sources = json::array();
    for (size_t i = 0; i < r.sources.size(); ++i)
      sources.push_back(
        {{"peer", r.sources[i]},
         {"blocks", i < r.source_blocks.size() ? r.source_blocks[i] : 0},
         {"bytes", i < r.source_bytes.size() ? r.source_bytes[i] : 0}});
    j["downloads"].push_back(
      {{"node", d.node},
       {"group", d.node < log.node_group.size() ? log.node_group[d.node]
                                                : std::string{}},
       {"data", d.data},
       {"cid", r.cid},
       {"at", d.at},
       {"state", d.state},
       {"bytes", r.bytes},
       {"seconds", r.seconds},
       {"first_byte_seconds", r.first_byte_seconds},
       {"sha256", r.sha256},
       {"verified", r.verified},
       {"error", r.error},
       {"retries", r.retries},
       {"blocks_repaired", r.blocks_repaired},
       {"duplicate_blocks", r.duplicate_blocks},
       {"dht_lookups", r.dht_lookups},
       {"dht_queries", r.dht_queries},
       {"dht_hops", r.dht_hops},
       {"retry_reason", r.retry_reason},
       {"sources", std::move(sources)}});
  }
  j["events"] = json::array();
  for (auto& e : log.events) {
    json x{{"at", e.at}, {"what", e.what}};
    if (e.node)
      x["node"] = *e.node;
    if (!e.detail.empty())
      x["detail"] = e.detail;
    j["events"].push_back(std::move(x));
  }
  j["nodes"] = json::array();
  for (auto& n : log.nodes)
    j["nodes"].push_back(
      {{"index", n.index},
       {"agent", n.index < log.placement.size() ? log.placement[n.index] : 0},
       {"group", n.index < log.node_group.size() ? log.node_group[n.index]
                                                 : std::string{}},
       {"peer_id", n.peer_id},
       {"up", n.up},
       {"peers", n.peers},
       {"uploads", n.uploads},
       {"downloads_done", n.downloads_done},
       {"downloads_failed", n.downloads_failed},
       {"bytes_downloaded", n.bytes_downloaded},
       {"restarts", n.restarts}});
  return j;
}

// Per group with downloads, in scenario order: downloads, those done, and
// the completion times of those done.
std::string group_table(const actors::sim_run_log& log) {
  std::vector<std::string> order;
  std::map<std::string, std::pair<size_t, std::vector<double>>> by_group;
  for (auto& d : log.downloads) {
    auto g =
      d.node < log.node_group.size() ? log.node_group[d.node] : std::string{};
    auto& [count, times] = by_group[g];
    ++count;
    if (d.state == "done")
      times.push_back(d.result.seconds);
  }
  for (auto& g : log.node_group)
    if (by_group.count(g) > 0 &&
        std::find(order.begin(), order.end(), g) == order.end())
      order.push_back(g);
  if (by_group.count("") > 0)
    order.push_back("");
  std::string md = "\n## Completion time by group\n\nSeconds from the "
                   "request to the last byte, of the downloads done.\n\n"
                   "| group | downloads | done | median | p90 | max |\n"
                   "|---|---|---|---|---|---|\n";
  for (auto& g : order) {
    auto& [count, times] = by_group[g];
    std::sort(times.begin(), times.end());
    md += "| " + (g.empty() ? std::string{"(none)"} : g) + " | " +
          std::to_string(count) + " | " + std::to_string(times.size()) + " | ";
    md += times.empty() ? std::string{"| | |\n"}
                        : fixed(quantile(times, 0.5)) + " | " +
                            fixed(quantile(times, 0.9)) + " | " +
                            fixed(times.back()) + " |\n";
  }
  return md;
}

std::string to_markdown(const actors::sim_run_log& log,
                        const std::vector<std::string>& plots,
                        const std::string& plots_why) {
  std::map<std::string, size_t> states;
  std::vector<double> times, hops;
  uint64_t bytes = 0, dups = 0, lookups = 0, queries = 0, repaired = 0;
  for (auto& d : log.downloads) {
    ++states[d.state];
    bytes += d.result.bytes;
    dups += d.result.duplicate_blocks;
    lookups += d.result.dht_lookups;
    queries += d.result.dht_queries;
    repaired += d.result.blocks_repaired;
    hops.insert(hops.end(), d.result.dht_hops.begin(), d.result.dht_hops.end());
    if (d.state == "done")
      times.push_back(d.result.seconds);
  }
  std::sort(times.begin(), times.end());
  std::sort(hops.begin(), hops.end());
  std::string md = "# cairn-sim report\n\n";
  md += "| | |\n|---|---|\n";
  md += "| scenario | `" + log.scenario + "` |\n";
  md += "| seed | " + std::to_string(log.seed) + " |\n";
  md += "| agents | " + std::to_string(log.agents.size()) + " |\n";
  md += "| nodes | " + std::to_string(log.placement.size()) + " |\n";
  md += "| outcome | " +
        (log.exit_code == 0
           ? std::string{"ok"}
           : "exit " + std::to_string(log.exit_code) + ": " + log.reason) +
        " |\n";
  md += "| start-up | " + fixed(log.startup_seconds) + " s |\n";
  md += "| timeline | " + fixed(log.run_seconds) + " s |\n";
  md += "| bytes downloaded | " + std::to_string(bytes) + " |\n";
  md += "| duplicate blocks received | " + std::to_string(dups) + " |\n";
  md += "| blocks rebuilt from parity | " + std::to_string(repaired) + " |\n";
  md += "| DHT provider lookups | " + std::to_string(lookups) + " (" +
        std::to_string(queries) + " nodes queried) |\n";
  if (!hops.empty())
    md += "| DHT lookup depth (hops) | median " +
          fixed(quantile(hops, 0.5), 0) + ", p90 " +
          fixed(quantile(hops, 0.9), 0) + ", max " + fixed(hops.back(), 0) +
          " |\n";
  md += "\n";
  md += "## Downloads\n\n| state | count |\n|---|---|\n";
  for (auto& [s, n] : states)
    md += "| " + s + " | " + std::to_string(n) + " |\n";
  if (!times.empty()) {
    md += "\nCompletion time of the downloads done (s): min " +
          fixed(times.front()) + ", median " + fixed(quantile(times, 0.5)) +
          ", p90 " + fixed(quantile(times, 0.9)) + ", max " +
          fixed(times.back()) + ".\n";
  }
  if (!log.downloads.empty())
    md += group_table(log);
  md += "\n## Uploads\n\n| data | node | bytes | CID | seconds |\n"
        "|---|---|---|---|---|\n";
  for (auto& [name, u] : log.uploads)
    md += "| " + name + " | " + std::to_string(u.node) + " | " +
          std::to_string(u.size) + " | " +
          (u.result ? "`" + u.result->cid + "`" : "failed: " + u.error) +
          " | " + (u.result ? fixed(u.result->seconds) : "") + " |\n";
  std::vector<const actors::sim_download_record*> bad;
  for (auto& d : log.downloads)
    if (d.state != "done")
      bad.push_back(&d);
  if (!bad.empty()) {
    md += "\n## Downloads not done\n\n| node | data | state | error |\n"
          "|---|---|---|---|\n";
    for (auto* d : bad)
      md += "| " + std::to_string(d->node) + " | " + d->data + " | " +
            d->state + " | " + d->result.error + " |\n";
  }
  md += "\n## Plots\n\n";
  for (auto& p : plots)
    md += "![" + p + "](" + p + ")\n\n";
  if (!plots_why.empty())
    md += "Plots skipped: " + plots_why + ".\n";
  md += "\n## Events\n\n| t (s) | what | node | detail |\n|---|---|---|---|\n";
  for (auto& e : log.events)
    md += "| " + fixed(e.at) + " | " + e.what + " | " +
          (e.node ? std::to_string(*e.node) : "") + " | " + e.detail + " |\n";
  return md;
}

} // namespace

std::string write_report(const actors::sim_run_log& log,
                         const std::string& dir) {
  std::string plots_why;
  auto plots = write_plots(log, dir, plots_why);
  auto j = to_json(log);
  j["plots"] = plots;
  if (!plots_why.empty())
    j["plots_skipped"] = plots_why;
  std::ofstream js(dir + "/report.json", std::ios::trunc);
  js << j.dump(2) << "\n";
  std::ofstream md(dir + "/report.md", std::ios::trunc);
  md << to_markdown(log, plots, plots_why);
  if (!js || !md)
    return "cannot write the report into " + dir;
  return {};
}

} // namespace cairn::sim
