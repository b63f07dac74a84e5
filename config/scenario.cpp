#include "config/scenario.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
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
  "max-dials-per-lookup",
  "max-upload-rate",
  "max-download-rate",
  "max-unsent",
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

uint32_t node_index(const toml::node& n, const std::string& key,
                    uint32_t nodes) {
  auto i = whole(n, key);
  if (i >= nodes)
    bad(n, key + ": node " + std::to_string(i) + " out of range (" +
             std::to_string(nodes) + " nodes)");
  return static_cast<uint32_t>(i);
}

// `group`, `fraction` and `nodes` of an event: the one way every event
// names its nodes.
node_selector parse_selector(const toml::table& t, const std::string& where,
                             uint32_t nodes) {
  node_selector sel;
  if (auto* n = t.get("group"))
    sel.group = text(*n, where + ": group");
  if (auto* n = t.get("fraction")) {
    sel.fraction = number(*n, where + ": fraction");
    if (!(*sel.fraction >= 0 && *sel.fraction <= 1))
      bad(*n, where + ": fraction must be within 0..1");
  }
  if (auto* n = t.get("nodes")) {
    auto* arr = n->as_array();
    if (!arr)
      bad(*n, where + ": nodes: not an array of node indices");
    for (auto& el : *arr)
      sel.nodes.push_back(node_index(el, where + ": nodes", nodes));
  }
  if (sel.fraction && !sel.nodes.empty())
    bad(t, where + ": give either 'fraction' or 'nodes'");
  return sel;
}

// "5", "5s", "250ms" (or a TOML number of seconds).
std::optional<double> parse_seconds(const std::string& text) {
  std::string s = text;
  double unit = 1;
  if (s.size() > 2 && s.compare(s.size() - 2, 2, "ms") == 0) {
    unit = 1e-3;
    s.resize(s.size() - 2);
  } else if (s.size() > 1 && s.back() == 's') {
    s.resize(s.size() - 1);
  }
  if (s.empty() || s.find_first_not_of("0123456789.") != std::string::npos)
    return std::nullopt;
  try {
    size_t used = 0;
    double v = std::stod(s, &used);
    if (used != s.size() || !std::isfinite(v))
      return std::nullopt;
    return v * unit;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// A duration: seconds, "exp:MEAN" or "uniform:A..B" (each "5", "5s" or
// "250ms").
duration_dist parse_dist(const toml::node& n, const std::string& key) {
  duration_dist d;
  if (!n.is_string()) {
    d.a = seconds(n, key);
    return d;
  }
  auto s = *n.value<std::string>();
  auto fail = [&]() {
    bad(n, key + ": '" + s +
             "' is not a duration (5s, 250ms, exp:5s, uniform:2s..8s)");
  };
  if (s.rfind("exp:", 0) == 0) {
    auto mean = parse_seconds(s.substr(4));
    if (!mean || *mean <= 0)
      fail();
    d.kind = duration_dist::shape::exponential;
    d.a = *mean;
  } else if (s.rfind("uniform:", 0) == 0) {
    auto rest = s.substr(8);
    auto dots = rest.find("..");
    if (dots == std::string::npos)
      fail();
    auto lo = parse_seconds(rest.substr(0, dots));
    auto hi = parse_seconds(rest.substr(dots + 2));
    if (!lo || !hi || *hi < *lo)
      fail();
    d.kind = duration_dist::shape::uniform;
    d.a = *lo;
    d.b = *hi;
  } else {
    auto v = parse_seconds(s);
    if (!v)
      fail();
    d.a = *v;
  }
  return d;
}

event_condition parse_condition(const toml::node& n, const std::string& key) {
  auto s = text(n, key);
  event_condition c;
  auto colon = s.find(':');
  auto head = s.substr(0, colon);
  if (colon != std::string::npos && colon + 1 < s.size()) {
    c.name = s.substr(colon + 1);
    if (head == "event") {
      c.kind = event_condition::what::event_done;
      return c;
    }
    if (head == "downloads-done") {
      c.kind = event_condition::what::downloads_done;
      return c;
    }
  }
  bad(n, key + ": '" + s +
           "' is not a condition (event:NAME or downloads-done:DATA)");
}

scenario_event parse_event(const toml::table& t, uint32_t nodes) {
  scenario_event e;
  e.line = static_cast<int>(t.source().begin.line);
  auto* action = t.get("action");
  if (!action)
    bad(t, "event: missing key 'action'");
  auto a = text(*action, "event.action");
  const std::set<std::string> selector{"group", "fraction", "nodes"};
  std::set<std::string> allowed{"action", "at", "after", "name"};
  std::set<std::string> more;
  if (a == "upload") {
    e.kind = event_kind::upload;
    more = {"node", "data", "size", "data_seed"};
  } else if (a == "download") {
    e.kind = event_kind::download;
    more = {"data", "spread"};
  } else if (a == "kill") {
    e.kind = event_kind::kill;
    more = {"restart_after", "down"};
  } else if (a == "restart") {
    e.kind = event_kind::restart;
  } else if (a == "protect") {
    e.kind = event_kind::protect;
    more = {"node", "data", "k", "m", "as"};
  } else if (a == "delete") {
    e.kind = event_kind::del;
    more = {"data", "blocks"};
  } else if (a == "churn") {
    e.kind = event_kind::churn;
    more = {"up", "down", "duration"};
  } else {
    bad(*action, "event.action: '" + a +
                   "' is not one of upload, download, kill, restart, "
                   "protect, delete, churn");
  }
  allowed.insert(more.begin(), more.end());
  if (e.kind != event_kind::upload && e.kind != event_kind::protect)
    allowed.insert(selector.begin(), selector.end());
  auto where = "event '" + a + "'";
  check_keys(t, allowed, where);
  e.select = parse_selector(t, where, nodes);
  if (auto* n = t.get("at"))
    e.at = seconds(*n, where + ": at");
  if (auto* n = t.get("after"))
    e.after = parse_condition(*n, where + ": after");
  if (auto* n = t.get("name"))
    e.name = text(*n, where + ": name");
  if (auto* n = t.get("node"))
    e.node = node_index(*n, where + ": node", nodes);
  if (auto* n = t.get("data"))
    e.data = text(*n, where + ": data");
  if (auto* n = t.get("size"))
    e.size = size(*n, where + ": size");
  if (auto* n = t.get("data_seed"))
    e.data_seed = whole(*n, where + ": data_seed");
  if (auto* n = t.get("spread"))
    e.spread = seconds(*n, where + ": spread");
  if (auto* n = t.get("restart_after"))
    e.down = duration_dist{duration_dist::shape::fixed,
                           seconds(*n, where + ": restart_after"), 0};
  if (auto* n = t.get("down")) {
    if (t.get("restart_after"))
      bad(*n, where + ": give either 'restart_after' or 'down'");
    e.down = parse_dist(*n, where + ": down");
  }
  if (auto* n = t.get("up"))
    e.up = parse_dist(*n, where + ": up");
  if (auto* n = t.get("duration"))
    e.duration = seconds(*n, where + ": duration");
  if (auto* n = t.get("blocks")) {
    e.blocks = number(*n, where + ": blocks");
    if (!(e.blocks >= 0 && e.blocks <= 1))
      bad(*n, where + ": blocks must be a fraction within 0..1");
  }
  for (auto key : {"k", "m"}) {
    auto* n = t.get(key);
    if (!n)
      continue;
    auto v = whole(*n, where + ": " + key);
    if (v == 0 || v > 255)
      bad(*n, where + ": " + key + " must be 1..255");
    (std::string{key} == "k" ? e.k : e.m) = static_cast<uint32_t>(v);
  }
  if (auto* n = t.get("as"))
    e.as = text(*n, where + ": as");
  auto need = [&](const char* key, const std::string& what) {
    if (!t.get(key))
      bad(t, where + ": missing key '" + key + "' (" + what + ")");
  };
  switch (e.kind) {
  case event_kind::upload:
    need("data", "the dataset's name");
    need("size", "bytes");
    if (e.size == 0)
      bad(*t.get("size"), where + ": size must be at least 1 byte");
    break;
  case event_kind::download:
  case event_kind::del:
    need("data", "the name of an upload or protect");
    if (e.kind == event_kind::del)
      need("blocks", "the fraction of the dataset's blocks to drop");
    break;
  case event_kind::protect:
    need("data", "the name of an upload");
    need("k", "data blocks per step");
    need("m", "parity blocks per step");
    if (e.as.empty())
      e.as = e.data + ".ec";
    break;
  case event_kind::churn:
    need("up", "time a node stays up, e.g. \"exp:10s\"");
    need("down", "time a node stays down, e.g. \"uniform:2s..8s\"");
    need("duration", "seconds during which nodes are killed");
    break;
  default:
    break;
  }
  if (e.kind == event_kind::churn && std::max(e.up->a, e.up->b) <= 0)
    bad(*t.get("up"), where + ": up must be more than 0 s");
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
std::vector<uint32_t> select(const scenario& s, const node_selector& sel,
                             std::optional<uint32_t> except, rng& r) {
  if (!sel.nodes.empty())
    return sel.nodes;
  std::vector<uint32_t> pool;
  for (auto& g : s.groups)
    if (sel.group.empty() || g.name == sel.group)
      for (uint32_t i = g.first; i < g.first + g.count; ++i)
        if (!except || i != *except)
          pool.push_back(i);
  if (!sel.fraction)
    return pool;
  for (size_t i = pool.size(); i > 1; --i)
    std::swap(pool[i - 1], pool[r.below(i)]);
  auto take = static_cast<size_t>(std::llround(*sel.fraction * pool.size()));
  pool.resize(std::min(take, pool.size()));
  std::sort(pool.begin(), pool.end());
  return pool;
}

double draw(const duration_dist& d, rng& r) {
  switch (d.kind) {
  case duration_dist::shape::exponential:
    return -d.a * std::log1p(-r.uniform());
  case duration_dist::shape::uniform:
    return d.a + (d.b - d.a) * r.uniform();
  case duration_dist::shape::fixed:
    break;
  }
  return d.a;
}

// Checks what events refer to: groups, datasets, conditions (named events
// that exist, no event waiting for itself).
void check_references(const scenario& s) {
  std::set<std::string> groups;
  for (auto& g : s.groups)
    groups.insert(g.name);
  std::map<std::string, const scenario_event*> uploads, datasets;
  std::map<std::string, size_t> named;
  for (size_t i = 0; i < s.events.size(); ++i) {
    auto& e = s.events[i];
    auto line = [&](const std::string& what) {
      throw bad_scenario{e.line, what};
    };
    auto where = std::string{"event '"} + event_name(e.kind) + "'";
    if (!e.select.group.empty() && groups.count(e.select.group) == 0)
      line(where + ": no group named '" + e.select.group + "'");
    if (!e.name.empty() && !named.emplace(e.name, i).second)
      line(where + ": name '" + e.name + "' used twice");
    auto made = e.kind == event_kind::upload    ? e.data
                : e.kind == event_kind::protect ? e.as
                                                : std::string{};
    if (!made.empty() && !datasets.emplace(made, &e).second)
      line(where + ": dataset '" + made + "' made twice");
    if (e.kind == event_kind::upload)
      uploads.emplace(e.data, &e);
  }
  // What each event waits for, to find events that wait for themselves.
  std::vector<std::vector<size_t>> deps(s.events.size());
  for (size_t i = 0; i < s.events.size(); ++i) {
    auto& e = s.events[i];
    auto line = [&](const std::string& what) {
      throw bad_scenario{e.line, what};
    };
    auto where = std::string{"event '"} + event_name(e.kind) + "'";
    if (e.kind == event_kind::protect && uploads.count(e.data) == 0)
      line(where + ": no upload of '" + e.data + "'");
    if ((e.kind == event_kind::download || e.kind == event_kind::del) &&
        datasets.count(e.data) == 0)
      line(where + ": no upload or protect of '" + e.data + "'");
    if (e.after.kind == event_condition::what::event_done) {
      auto it = named.find(e.after.name);
      if (it == named.end())
        line(where + ": after: no event named '" + e.after.name + "'");
      deps[i].push_back(it->second);
    } else if (e.after.kind == event_condition::what::downloads_done) {
      if (datasets.count(e.after.name) == 0)
        line(where + ": after: no upload or protect of '" + e.after.name + "'");
      for (size_t j = 0; j < s.events.size(); ++j)
        if (s.events[j].kind == event_kind::download &&
            s.events[j].data == e.after.name)
          deps[i].push_back(j);
    }
  }
  // 0 unvisited, 1 on the path, 2 done.
  std::vector<int> mark(s.events.size(), 0);
  std::function<void(size_t)> visit = [&](size_t i) {
    mark[i] = 1;
    for (auto j : deps[i]) {
      if (mark[j] == 1)
        throw bad_scenario{s.events[i].line, std::string{"event '"} +
                                               event_name(s.events[i].kind) +
                                               "': after: '" +
                                               to_string(s.events[i].after) +
                                               "' waits for itself"};
      if (mark[j] == 0)
        visit(j);
    }
    mark[i] = 2;
  };
  for (size_t i = 0; i < s.events.size(); ++i)
    if (mark[i] == 0)
      visit(i);
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
    if (auto* events = root.get("event")) {
      if (!events->is_array_of_tables())
        bad(*events, "event: use [[event]] tables");
      for (auto& el : *events->as_array())
        s.events.push_back(parse_event(*el.as_table(), nodes));
      check_references(s);
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
  // Datasets first: an event may refer to one made later in the file.
  std::map<std::string, sim_step> datasets;
  for (size_t i = 0; i < s.events.size(); ++i) {
    auto& e = s.events[i];
    if (e.kind != event_kind::upload)
      continue;
    auto r = event_rng(i);
    sim_step up;
    up.at = e.at;
    up.event = i;
    up.kind = e.kind;
    up.node = e.node.value_or(0);
    up.data = e.data;
    up.size = e.size;
    up.data_seed = e.data_seed ? *e.data_seed : r.next();
    datasets[e.data] = up;
  }
  for (size_t i = 0; i < s.events.size(); ++i) {
    auto& e = s.events[i];
    if (e.kind != event_kind::protect)
      continue;
    auto step = datasets.at(e.data);
    step.at = e.at;
    step.event = i;
    step.kind = e.kind;
    step.node = e.node.value_or(step.node);
    step.as = e.as;
    step.k = e.k;
    step.m = e.m;
    datasets[e.as] = step;
  }
  std::vector<sim_step> out;
  for (size_t i = 0; i < s.events.size(); ++i) {
    auto& e = s.events[i];
    if (e.kind == event_kind::upload) {
      out.push_back(datasets.at(e.data));
      continue;
    }
    if (e.kind == event_kind::protect) {
      out.push_back(datasets.at(e.as));
      continue;
    }
    auto r = event_rng(i);
    sim_step base;
    base.at = e.at;
    base.event = i;
    base.kind = e.kind;
    std::optional<uint32_t> except;
    if (e.kind == event_kind::download || e.kind == event_kind::del) {
      auto& from = datasets.at(e.data);
      if (e.kind == event_kind::download)
        except = from.node;
      base.data = e.data;
      base.size = from.size;
      base.data_seed = from.data_seed;
      base.blocks = e.blocks;
    }
    for (auto n : select(s, e.select, except, r)) {
      auto step = base;
      step.node = n;
      switch (e.kind) {
      case event_kind::download:
        step.at = e.at + e.spread * r.uniform();
        out.push_back(step);
        break;
      case event_kind::del:
        step.pick_seed = r.next();
        out.push_back(step);
        break;
      case event_kind::kill:
        out.push_back(step);
        if (e.down) {
          step.kind = event_kind::restart;
          step.at = e.at + draw(*e.down, r);
          out.push_back(step);
        }
        break;
      case event_kind::churn: {
        // Up, down, up, ... from `at` until `at + duration`; a draw of
        // nothing still moves on by a millisecond.
        double t = e.at + std::max(draw(*e.up, r), 1e-3);
        while (t < e.at + e.duration) {
          step.kind = event_kind::kill;
          step.at = t;
          out.push_back(step);
          t += std::max(draw(*e.down, r), 1e-3);
          step.kind = event_kind::restart;
          step.at = t;
          out.push_back(step);
          t += std::max(draw(*e.up, r), 1e-3);
        }
        break;
      }
      default:
        out.push_back(step);
      }
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](auto& a, auto& b) { return a.at < b.at; });
  return out;
}

std::vector<uint64_t> pick_blocks(uint64_t count, double fraction,
                                  uint64_t seed) {
  rng r{seed};
  auto take = std::min<uint64_t>(
    count, static_cast<uint64_t>(std::llround(fraction * count)));
  // A partial Fisher-Yates shuffle over the indices, kept sparse: only
  // swapped positions are stored.
  std::map<uint64_t, uint64_t> moved;
  auto at = [&](uint64_t i) {
    auto it = moved.find(i);
    return it == moved.end() ? i : it->second;
  };
  std::vector<uint64_t> out;
  for (uint64_t i = 0; i < take; ++i) {
    auto j = i + r.below(count - i);
    auto vi = at(i), vj = at(j);
    moved[i] = vj;
    moved[j] = vi;
    out.push_back(vj);
  }
  std::sort(out.begin(), out.end());
  return out;
}

const char* event_name(event_kind k) {
  switch (k) {
  case event_kind::upload:
    return "upload";
  case event_kind::download:
    return "download";
  case event_kind::kill:
    return "kill";
  case event_kind::restart:
    return "restart";
  case event_kind::protect:
    return "protect";
  case event_kind::del:
    return "delete";
  case event_kind::churn:
    return "churn";
  }
  return "?";
}

std::string to_string(const event_condition& c) {
  switch (c.kind) {
  case event_condition::what::event_done:
    return "event:" + c.name;
  case event_condition::what::downloads_done:
    return "downloads-done:" + c.name;
  case event_condition::what::start:
    break;
  }
  return {};
}

uint32_t placement(const scenario& s, uint32_t index, uint32_t agents) {
  for (auto& g : s.groups)
    if (index >= g.first && index < g.first + g.count && g.agent)
      return *g.agent;
  return agents == 0 ? 0 : index % agents;
}

} // namespace cairn::config
