#include "config/scenario.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <toml++/toml.h>

#include "config/options.hpp"

namespace cairn::config {

namespace {

// The cairn-node keys a group may set: the others (ports, data dir, API,
// threads) belong to the agent that hosts the node.
const std::set<std::string> group_node_keys = {
  "storage-quota",
  "log-level",
  "block-ttl",
  "block-maintenance-interval",
  "block-maintenance-batch",
  "max-peers",
  "price-per-byte",
  "max-price",
  "stream-window",
  "link-latency",
  "ec-backend",
  "fault-corrupt-blocks",
};

// Thrown while parsing, caught once in parse_scenario.
struct bad_scenario {
  int line;
  std::string what;
};

[[noreturn]] void bad(const toml::node& n, std::string what) {
  throw bad_scenario{static_cast<int>(n.source().begin.line), std::move(what)};
}

void check_keys(const toml::table& t, const std::set<std::string>& allowed,
                const std::string& where) {
  for (auto& [k, v] : t) {
    std::string key{k.str()};
    if (allowed.count(key) == 0)
      bad(v, where + ": unknown key '" + key + "'");
  }
}

double number(const toml::node& n, const std::string& key) {
  if (auto i = n.value<int64_t>(); i && n.is_integer())
    return static_cast<double>(*i);
  if (auto d = n.value<double>(); d && n.is_floating_point())
    return *d;
  bad(n, key + ": not a number");
}

// Seconds, at least zero.
double seconds(const toml::node& n, const std::string& key) {
  auto v = number(n, key);
  if (!(v >= 0) || !std::isfinite(v))
    bad(n, key + ": negative time " + std::to_string(v));
  return v;
}

uint64_t whole(const toml::node& n, const std::string& key) {
  auto i = n.value<int64_t>();
  if (!i || !n.is_integer())
    bad(n, key + ": not a whole number");
  if (*i < 0)
    bad(n, key + ": negative value " + std::to_string(*i));
  return static_cast<uint64_t>(*i);
}

uint64_t size(const toml::node& n, const std::string& key) {
  if (n.is_integer()) {
    if (*n.value<int64_t>() < 0)
      bad(n, key + ": negative size " + std::to_string(*n.value<int64_t>()));
    return static_cast<uint64_t>(*n.value<int64_t>());
  }
  if (auto s = n.value<std::string>(); s && n.is_string()) {
    if (!s->empty() && s->front() == '-')
      bad(n, key + ": negative size '" + *s + "'");
    if (auto v = parse_size(*s))
      return *v;
    bad(n, key + ": '" + *s + "' is not a size (e.g. 4MiB, 1048576)");
  }
  bad(n, key + ": not a size");
}

std::string text(const toml::node& n, const std::string& key) {
  auto s = n.value<std::string>();
  if (!s || !n.is_string())
    bad(n, key + ": not a string");
  return *s;
}

// A TOML value as the text of a flag.
std::string flag_value(const toml::node& n, const std::string& key) {
  if (n.is_string())
    return *n.value<std::string>();
  if (n.is_integer())
    return std::to_string(*n.value<int64_t>());
  if (n.is_boolean())
    return *n.value<bool>() ? "true" : "false";
  if (n.is_floating_point())
    return std::to_string(*n.value<double>());
  bad(n, key + ": unsupported value type");
}

const toml::table& table(const toml::node& n, const std::string& key) {
  auto* t = n.as_table();
  if (!t)
    bad(n, key + ": not a table");
  return *t;
}

scenario_group parse_group(const toml::table& t, size_t i) {
  scenario_group g;
  g.name = "group" + std::to_string(i);
  check_keys(t, {"name", "count", "agent", "node"}, "group");
  if (auto* n = t.get("name"))
    g.name = text(*n, "group.name");
  auto where = "group '" + g.name + "'";
  auto* count = t.get("count");
  if (!count)
    bad(t, where + ": missing key 'count'");
  auto c = whole(*count, where + ": count");
  if (c == 0 || c > 100000)
    bad(*count, where + ": count must be 1..100000");
  g.count = static_cast<uint32_t>(c);
  if (auto* a = t.get("agent"))
    g.agent = static_cast<uint32_t>(whole(*a, where + ": agent"));
  if (auto* node = t.get("node")) {
    for (auto& [k, v] : table(*node, where + ": node")) {
      std::string key{k.str()};
      if (group_node_keys.count(key) == 0)
        bad(v, where + ": node: unknown or unsettable key '" + key + "'");
      g.node_flags.push_back("--" + key + "=" +
                             flag_value(v, where + ": node." + key));
      std::string why;
      if (!parse_node_flags({g.node_flags.back()}, why))
        bad(v, where + ": node." + key + ": " + why);
    }
  }
  return g;
}

scenario_event parse_event(const toml::table& t, uint32_t nodes) {
  scenario_event e;
  e.line = static_cast<int>(t.source().begin.line);
  auto* action = t.get("action");
  if (!action)
    bad(t, "event: missing key 'action'");
  auto a = text(*action, "event.action");
  std::set<std::string> allowed{"action", "at"};
  if (a == "upload") {
    e.kind = event_kind::upload;
    allowed.insert({"node", "data", "size", "data_seed"});
  } else if (a == "download") {
    e.kind = event_kind::download;
    allowed.insert({"data", "group", "fraction", "nodes", "spread"});
  } else if (a == "kill") {
    e.kind = event_kind::kill;
    allowed.insert({"group", "fraction", "nodes", "restart_after"});
  } else if (a == "restart") {
    e.kind = event_kind::restart;
    allowed.insert({"group", "fraction", "nodes"});
  } else {
    bad(*action, "event.action: '" + a +
                   "' is not one of upload, download, kill, restart");
  }
  auto where = "event '" + a + "'";
  check_keys(t, allowed, where);
  auto index = [&](const toml::node& n, const std::string& key) {
    auto i = whole(n, key);
    if (i >= nodes)
      bad(n, key + ": node " + std::to_string(i) + " out of range (" +
               std::to_string(nodes) + " nodes)");
    return static_cast<uint32_t>(i);
  };
  if (auto* n = t.get("at"))
    e.at = seconds(*n, where + ": at");
  if (auto* n = t.get("node"))
    e.node = index(*n, where + ": node");
  if (auto* n = t.get("data"))
    e.data = text(*n, where + ": data");
  if (auto* n = t.get("size"))
    e.size = size(*n, where + ": size");
  if (auto* n = t.get("data_seed"))
    e.data_seed = whole(*n, where + ": data_seed");
  if (auto* n = t.get("group"))
    e.group = text(*n, where + ": group");
  if (auto* n = t.get("fraction")) {
    e.fraction = number(*n, where + ": fraction");
    if (!(*e.fraction >= 0 && *e.fraction <= 1))
      bad(*n, where + ": fraction must be within 0..1");
  }
  if (auto* n = t.get("nodes")) {
    auto* arr = n->as_array();
    if (!arr)
      bad(*n, where + ": nodes: not an array of node indices");
    for (auto& el : *arr)
      e.nodes.push_back(index(el, where + ": nodes"));
  }
  if (auto* n = t.get("spread"))
    e.spread = seconds(*n, where + ": spread");
  if (auto* n = t.get("restart_after"))
    e.restart_after = seconds(*n, where + ": restart_after");
  if (e.fraction && !e.nodes.empty())
    bad(t, where + ": give either 'fraction' or 'nodes'");
  if (e.kind == event_kind::upload) {
    if (e.data.empty())
      bad(t, where + ": missing key 'data' (the dataset's name)");
    if (!t.get("size"))
      bad(t, where + ": missing key 'size'");
    if (e.size == 0)
      bad(*t.get("size"), where + ": size must be at least 1 byte");
  }
  if (e.kind == event_kind::download && e.data.empty())
    bad(t, where + ": missing key 'data' (the name of an upload)");
  return e;
}

// SplitMix64: the run's only source of randomness, the same everywhere.
struct rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
};

// The nodes an event selects, in a seeded order.
std::vector<uint32_t> select(const scenario& s, const scenario_event& e,
                             std::optional<uint32_t> except, rng& r) {
  if (!e.nodes.empty())
    return e.nodes;
  std::vector<uint32_t> pool;
  for (auto& g : s.groups)
    if (e.group.empty() || g.name == e.group)
      for (uint32_t i = g.first; i < g.first + g.count; ++i)
        if (!except || i != *except)
          pool.push_back(i);
  if (!e.fraction)
    return pool;
  for (size_t i = pool.size(); i > 1; --i)
    std::swap(pool[i - 1], pool[r.below(i)]);
  auto take = static_cast<size_t>(std::llround(*e.fraction * pool.size()));
  pool.resize(std::min(take, pool.size()));
  std::sort(pool.begin(), pool.end());
  return pool;
}

} // namespace

std::optional<scenario> parse_scenario(const std::string& path,
                                       std::string& why) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    why = path + ":" + std::to_string(e.source().begin.line) + ": " +
          std::string{e.description()};
    return std::nullopt;
  }
  scenario s;
  s.path = path;
  try {
    check_keys(root, {"seed", "time_limit", "bootstrap", "group", "event"},
               "scenario");
    if (auto* n = root.get("seed"))
      s.seed = whole(*n, "seed");
    if (auto* n = root.get("time_limit")) {
      s.time_limit = seconds(*n, "time_limit");
      if (s.time_limit <= 0)
        bad(*n, "time_limit must be positive");
    }
    auto* groups = root.get("group");
    if (!groups || !groups->is_array_of_tables() || groups->as_array()->empty())
      bad(groups ? *groups : static_cast<const toml::node&>(root),
          "scenario: needs at least one [[group]] of nodes");
    std::set<std::string> names;
    for (auto& el : *groups->as_array()) {
      auto g = parse_group(*el.as_table(), s.groups.size());
      if (!names.insert(g.name).second)
        bad(el, "group '" + g.name + "': name used twice");
      g.first = s.node_count();
      s.groups.push_back(std::move(g));
    }
    uint32_t nodes = s.node_count();
    if (auto* b = root.get("bootstrap")) {
      auto& t = table(*b, "bootstrap");
      check_keys(t, {"node"}, "bootstrap");
      if (auto* n = t.get("node")) {
        s.bootstrap_node = static_cast<uint32_t>(whole(*n, "bootstrap.node"));
        if (s.bootstrap_node >= nodes)
          bad(*n, "bootstrap.node: node " + std::to_string(s.bootstrap_node) +
                    " out of range (" + std::to_string(nodes) + " nodes)");
      }
    }
    std::map<std::string, const scenario_event*> uploads;
    if (auto* events = root.get("event")) {
      if (!events->is_array_of_tables())
        bad(*events, "event: use [[event]] tables");
      for (auto& el : *events->as_array())
        s.events.push_back(parse_event(*el.as_table(), nodes));
      for (auto& e : s.events) {
        auto line = [&](const std::string& what) {
          throw bad_scenario{e.line, what};
        };
        if (!e.group.empty() && names.count(e.group) == 0)
          line("event: no group named '" + e.group + "'");
        if (e.kind == event_kind::upload && !uploads.emplace(e.data, &e).second)
          line("event 'upload': dataset '" + e.data + "' uploaded twice");
      }
      for (auto& e : s.events)
        if (e.kind == event_kind::download && uploads.count(e.data) == 0)
          throw bad_scenario{e.line,
                             "event 'download': no upload of '" + e.data + "'"};
    }
  } catch (const bad_scenario& b) {
    why = path + ":" + std::to_string(b.line) + ": " + b.what;
    return std::nullopt;
  }
  return s;
}

std::vector<sim_step> expand(const scenario& s, uint64_t seed) {
  auto event_rng = [seed](size_t i) {
    return rng{seed ^ (0x5851f42d4c957f2dULL * (i + 1))};
  };
  // Uploads first: a download may come before its upload in the file.
  std::map<std::string, sim_step> uploads;
  for (size_t i = 0; i < s.events.size(); ++i) {
    auto& e = s.events[i];
    if (e.kind != event_kind::upload)
      continue;
    auto r = event_rng(i);
    sim_step up;
    up.at = e.at;
    up.event = i;
    up.kind = e.kind;
    up.node = e.node;
    up.data = e.data;
    up.size = e.size;
    up.data_seed = e.data_seed ? *e.data_seed : r.next();
    uploads[e.data] = up;
  }
  std::vector<sim_step> out;
  for (size_t i = 0; i < s.events.size(); ++i) {
    auto& e = s.events[i];
    if (e.kind == event_kind::upload) {
      out.push_back(uploads.at(e.data));
      continue;
    }
    auto r = event_rng(i);
    sim_step base;
    base.at = e.at;
    base.event = i;
    base.kind = e.kind;
    std::optional<uint32_t> except;
    if (e.kind == event_kind::download) {
      auto& up = uploads.at(e.data);
      except = up.node;
      base.data = up.data;
      base.size = up.size;
      base.data_seed = up.data_seed;
    }
    for (auto n : select(s, e, except, r)) {
      auto step = base;
      step.node = n;
      if (e.kind == event_kind::download)
        step.at = e.at + e.spread * r.uniform();
      out.push_back(step);
      if (e.kind == event_kind::kill && e.restart_after) {
        step.kind = event_kind::restart;
        step.at = e.at + *e.restart_after;
        out.push_back(step);
      }
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](auto& a, auto& b) { return a.at < b.at; });
  return out;
}

uint32_t placement(const scenario& s, uint32_t index, uint32_t agents) {
  for (auto& g : s.groups)
    if (index >= g.first && index < g.first + g.count && g.agent)
      return *g.agent;
  return agents == 0 ? 0 : index % agents;
}

} // namespace cairn::config
