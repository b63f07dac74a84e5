#include "config/options.hpp"

#include <cctype>
#include <cmath>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

namespace cairn::config {

namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return std::string{s};
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Splits "12.5GiB" into 12.5 and "gib".
bool split_number(std::string_view text, double& num, std::string& unit) {
  auto s = trim(text);
  size_t i = 0;
  while (i < s.size() &&
         (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.'))
    ++i;
  if (i == 0)
    return false;
  try {
    size_t used = 0;
    num = std::stod(s.substr(0, i), &used);
    if (used != i)
      return false;
  } catch (...) {
    return false;
  }
  unit = lower(trim(s.substr(i)));
  return std::isfinite(num) && num >= 0;
}

// Renders a TOML value as the text CLI11 would get on the command line.
std::optional<std::vector<std::string>> toml_values(const toml::node& n) {
  std::vector<std::string> out;
  if (auto* arr = n.as_array()) {
    for (auto& el : *arr) {
      auto v = toml_values(el);
      if (!v || v->size() != 1)
        return std::nullopt;
      out.push_back(v->front());
    }
    return out;
  }
  if (auto s = n.value<std::string>(); s && n.is_string())
    out.push_back(*s);
  else if (n.is_integer())
    out.push_back(std::to_string(*n.value<int64_t>()));
  else if (n.is_floating_point())
    out.push_back(std::to_string(*n.value<double>()));
  else if (n.is_boolean())
    out.push_back(*n.value<bool>() ? "true" : "false");
  else
    return std::nullopt;
  return out;
}

} // namespace

std::string env_name(const std::string& flag) {
  std::string out = "CAIRN_";
  for (char c : flag)
    out += c == '-'
             ? '_'
             : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::optional<uint64_t> parse_size(std::string_view text) {
  double num = 0;
  std::string unit;
  if (!split_number(text, num, unit))
    return std::nullopt;
  static const std::pair<const char*, double> units[] = {
    {"", 1},
    {"b", 1},
    {"k", 1e3},
    {"kb", 1e3},
    {"kib", 1024.0},
    {"m", 1e6},
    {"mb", 1e6},
    {"mib", 1048576.0},
    {"g", 1e9},
    {"gb", 1e9},
    {"gib", 1073741824.0},
    {"t", 1e12},
    {"tb", 1e12},
    {"tib", 1099511627776.0},
  };
  for (auto& [name, factor] : units) {
    if (unit == name) {
      // Whole numbers of bytes are exact; anything else goes through double.
      auto s = trim(text);
      if (factor == 1 && s.find('.') == std::string::npos) {
        try {
          size_t used = 0;
          auto exact = std::stoull(s, &used);
          if (trim(s.substr(used)).size() == unit.size())
            return static_cast<uint64_t>(exact);
        } catch (...) {
          return std::nullopt; // out of range
        }
      }
      double v = num * factor;
      if (v >= 18446744073709551615.0)
        return std::nullopt;
      return static_cast<uint64_t>(v + 0.5);
    }
  }
  return std::nullopt;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  double num = 0;
  std::string unit;
  if (!split_number(text, num, unit))
    return std::nullopt;
  static const std::pair<const char*, double> units[] = {
    {"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 604800},
  };
  for (auto& [name, factor] : units) {
    if (unit == name) {
      double v = num * factor;
      if (v < 1 || v > 1e12)
        return std::nullopt;
      return std::chrono::seconds{static_cast<int64_t>(std::llround(v))};
    }
  }
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> parse_latency(std::string_view text) {
  double num = 0;
  std::string unit;
  if (!split_number(text, num, unit))
    return std::nullopt;
  double ms = 0;
  if (unit == "ms")
    ms = num;
  else if (unit == "s")
    ms = num * 1000;
  else if (!(unit.empty() && num == 0))
    return std::nullopt; // a bare 50 could mean seconds or milliseconds
  if (ms > 10000)
    return std::nullopt;
  return std::chrono::milliseconds{std::llround(ms)};
}

std::string bootstrap_record(const std::string& text) {
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || text[first] != '{')
    return text;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_object() && j.contains("spr") && j["spr"].is_string())
    return j["spr"].get<std::string>();
  return text; // refused later with discovery's reason
}

bool is_log_level(std::string_view level) {
  for (auto l : {"trace", "debug", "info", "notice", "warn", "error", "fatal"})
    if (level == l)
      return true;
  return false;
}

namespace {

// Declares every flag of cairn-node on `app`, writing into `o`.
void define_flags(CLI::App& app, node_options& o) {
  app.set_version_flag("--version", "cairn-node 0.1.0");
  app.get_formatter()->column_width(34);
  // Every option also reads CAIRN_<FLAG> and shows its default.
  auto add = [](CLI::Option* opt) {
    opt->envname(env_name(opt->get_name().substr(2)));
    return opt;
  };
  auto plain = [&](const std::string& flag, auto& dst,
                   const std::string& help) {
    return add(app.add_option("--" + flag, dst, help)->capture_default_str());
  };
  // Options whose text is parsed by `parse` (sizes, durations).
  auto parsed = [&](const std::string& flag, auto& dst, auto parse,
                    const std::string& what, const std::string& help) {
    return add(app.add_option_function<std::string>(
      "--" + flag,
      [&dst, flag, parse, what](const std::string& s) {
        auto v = parse(s);
        if (!v)
          throw CLI::ValidationError("--" + flag, "'" + s + "' is not " + what);
        dst = *v;
      },
      help));
  };
  auto port = CLI::Range(0, 65535);
  add(app.add_option("--config", o.config_file,
                     "TOML file with settings (keys are the flag names)"));
  plain("data-dir", o.data_dir, "Directory of the LMDB store and node key");
  plain("api-bindaddr", o.api_bindaddr, "Address the REST API binds to");
  plain("api-port", o.api_port, "REST API port (0 = pick a free one)")
    ->check(port);
  add(app.add_flag("--no-api", o.no_api,
                   "Run without the REST API and /metrics (no HTTP threads)"));
  plain("listen-ip", o.listen_ip,
        "Address of the peer listener (TCP) and the DHT (UDP); with 0.0.0.0 "
        "the node announces 127.0.0.1, so give a routable address for peers "
        "on other machines");
  plain("listen-port", o.listen_port, "Peer listener port, TCP (0 = pick)")
    ->check(port);
  plain("disc-port", o.disc_port, "DHT discovery port, UDP (0 = pick)")
    ->check(port);
  plain("dht-rate-limit", o.dht_rate_limit,
        "DHT requests per second (and at once) answered per source IP; "
        "more are dropped (0 = no limit)")
    ->check(CLI::Range(0u, 1000000u));
  add(app
        .add_option("--bootstrap-node", o.bootstrap_nodes,
                    "Signed peer record (spr:...) to join the DHT through, "
                    "or the JSON {\"spr\": ...} of GET /spr; repeatable")
        ->transform([](std::string s) { return bootstrap_record(s); }, "SPR"));
  parsed("storage-quota", o.storage_quota, parse_size,
         "a size (e.g. 20GiB, 512MB, 1048576)",
         "Bytes of blocks to store at most (default 20GiB)");
  parsed("block-ttl", o.block_ttl, parse_duration,
         "a duration (e.g. 30d, 12h, 90s)",
         "Lifetime of a block after its last put (default 30d)");
  parsed("block-maintenance-interval", o.block_maintenance_interval,
         parse_duration, "a duration (e.g. 10m, 30s)",
         "How often expired blocks are deleted (default 10m)");
  plain("block-maintenance-batch", o.block_maintenance_batch,
        "Expired blocks deleted per maintenance pass")
    ->check(CLI::Range(1u, 1000000u));
  plain("max-peers", o.max_peers,
        "Connected peers at most; a newcomer beyond them replaces the least "
        "useful peer, or is refused if every peer has requests of ours in "
        "flight");
  plain("max-dials-per-lookup", o.max_dials_per_lookup,
        "Providers of a dataset one provider lookup dials at most, those "
        "already connected included (a random choice of the others); 0: all")
    ->check(CLI::Range(0u, 100000u));
  plain("fd-reserve", o.fd_reserve,
        "File descriptors kept for the API and the store: accepting peer "
        "connections pauses when all but these are open (at most half of "
        "RLIMIT_NOFILE, whose soft limit is raised to the hard one)")
    ->check(CLI::Range(0u, 1u << 30));
  parsed("max-upload-rate", o.max_upload_rate, parse_size,
         "a rate in bytes per second (e.g. 50MB, 10MiB, 0)",
         "Bytes per second of blocks sent to all peers together, e.g. 50MB "
         "(default 0 = no limit)");
  parsed("max-download-rate", o.max_download_rate, parse_size,
         "a rate in bytes per second (e.g. 50MB, 10MiB, 0)",
         "Bytes per second read from all peers together, e.g. 50MB "
         "(default 0 = no limit)");
  parsed(
    "max-unsent", o.max_unsent,
    [](std::string_view s) -> std::optional<uint64_t> {
      auto v = parse_size(s);
      return v && *v >= (uint64_t{1} << 20) ? v : std::nullopt;
    },
    "a size of at least 1MiB (e.g. 16MiB)",
    "Bytes of blocks queued for all peers' sockets together, at most: "
    "serving pauses above it until they drain (default 16MiB)");
  plain("max-pending-handshakes", o.max_pending_handshakes,
        "Accepted peer connections still in their handshake, at most; more "
        "are closed at once")
    ->check(CLI::Range(1u, 1000000u));
  plain("max-pending-handshakes-per-ip", o.max_pending_handshakes_per_ip,
        "Accepted peer connections still in their handshake from one IP "
        "address, at most; more are closed at once")
    ->check(CLI::Range(1u, 1000000u));
  plain("price-per-byte", o.price_per_byte,
        "Price per byte quoted to peers for this node's blocks");
  plain("max-price", o.max_price,
        "Highest price per byte paid; peers quoting more are not used");
  plain("log-level", o.log_level,
        "Lowest level logged to stderr: "
        "trace|debug|info|notice|warn|error|fatal")
    ->check(CLI::IsMember(
      {"trace", "debug", "info", "notice", "warn", "error", "fatal"}));
  add(app.add_flag("--metrics", o.metrics,
                   "Serve Prometheus metrics on --metrics-port"));
  plain("metrics-address", o.metrics_address,
        "Address of /metrics (with --metrics)");
  plain("metrics-port", o.metrics_port,
        "Port of /metrics (with --metrics; 0 = pick a free one)")
    ->check(port);
  add(app.add_flag("--insecure-transport", o.insecure_transport,
                   "Peer sessions in clear, unencrypted and unauthenticated "
                   "after the handshake (benchmarks only; peers must use it "
                   "too)"));
  plain("threads", o.threads,
        "Actor scheduler threads (0 = one per core, at least 2)")
    ->check(CLI::Range(0u, 256u));
  add(app.add_flag(
    "--fault-corrupt-blocks", o.fault_corrupt_blocks,
    "Fault injection for tests: corrupt every block served to peers"));
  plain("stream-window", o.stream_window,
        "Blocks a download requests ahead of the reader at first, and "
        "asks a seeder to send with the manifest")
    ->check(CLI::Range(1u, 1024u));
  plain("ec-backend", o.ec_backend,
        "Erasure-coding library: jerasure|isal (identical codes)")
    ->check(CLI::IsMember({"jerasure", "isal"}));
  add(app.add_flag("--enable-fault-injection", o.enable_fault_injection,
                   "Allow POST /api/cairn/v1/actors/{name}/crash"));
  plain("api-token", o.api_token,
        "Token (Authorization: Bearer) that lets non-loopback clients use "
        "endpoints that change state");
  plain("http-threads", o.http_threads,
        "REST API handler threads (each request being answered holds one)")
    ->check(CLI::Range(1u, 1024u));
  plain("http-threads-per-ip", o.http_threads_per_ip,
        "Handler threads one client address may hold at once")
    ->check(CLI::Range(1u, 1024u));
  plain("http-max-pending", o.http_max_pending,
        "Connections still sending their request head, at most (the "
        "oldest is dropped for a new one)")
    ->check(CLI::Range(1u, 1000000u));
  plain("http-max-pending-per-ip", o.http_max_pending_per_ip,
        "Connections still sending their request head, per client address")
    ->check(CLI::Range(1u, 1000000u));
  parsed("http-header-timeout", o.http_header_timeout, parse_duration,
         "a duration (e.g. 10s)",
         "Time a client has to send its request head (default 10s)");
  parsed("peer-idle-timeout", o.peer_idle_timeout, parse_duration,
         "a duration (e.g. 60s)",
         "A peer heard nothing from for this long is dropped; a quiet link "
         "gets a PING after a quarter of it (default 60s)");
  parsed("link-latency", o.link_latency, parse_latency,
         "a latency of at most 10s (e.g. 50ms, 0.05s, 0)",
         "Simulated one-way latency of links to peers: frames sent are held "
         "this long (blocks and presences: the want lists they answer, as "
         "they arrive), so two nodes with 50ms each see a 100ms round trip "
         "(simulations; default 0 = off)");
}

} // namespace

parse_outcome parse_node_options(int argc, const char* const* argv) {
  node_options o;
  CLI::App app{
    "cairn-node: a Codex-compatible content-addressed storage node.\n"
    "Every flag is also an env var CAIRN_<FLAG> (e.g. CAIRN_DATA_DIR)\n"
    "and a key in the TOML file of --config. Precedence: flag > env >\n"
    "config file > default.",
    "cairn-node"};
  define_flags(app, o);
  auto* verify = app.add_subcommand(
    "verify",
    "Check the store of --data-dir, which no running node may have open, and "
    "exit: 0 clean, 1 problems (one line each), 2 bad usage, no store or the "
    "store in use. Takes the node's flags too (--data-dir, --config, ...)");
  verify->fallthrough(); // --data-dir, --config, ... after the name
  verify->add_flag("--repair", o.repair,
                   "Fix what can be fixed safely: recount refcounts and "
                   "counters, delete orphan blocks and bad blocks, drop "
                   "datasets with missing blocks (each change printed); exit "
                   "0 if the store is clean afterwards");
  try {
    app.parse(argc, argv);
    if (verify->parsed())
      o.command = "verify";
    if (!o.config_file.empty()) {
      toml::table tbl;
      try {
        tbl = toml::parse_file(o.config_file);
      } catch (const toml::parse_error& e) {
        std::cerr << "cairn-node: config " << o.config_file << ":"
                  << e.source().begin.line << ": " << e.description() << "\n";
        return {std::nullopt, 2};
      }
      for (auto& [key, node] : tbl) {
        std::string k{key.str()};
        auto* opt = k == "config" ? nullptr : app.get_option_no_throw("--" + k);
        if (!opt) {
          std::cerr << "cairn-node: config " << o.config_file
                    << ": unknown key '" << k << "'\n";
          return {std::nullopt, 2};
        }
        if (opt->count() > 0)
          continue; // a flag or env var wins over the file
        auto vals = toml_values(node);
        if (!vals) {
          std::cerr << "cairn-node: config " << o.config_file << ": key '" << k
                    << "' has an unsupported value type\n";
          return {std::nullopt, 2};
        }
        if (vals->empty())
          continue; // an empty array leaves the default (empty) in place
        for (auto& v : *vals)
          opt->add_result(v);
        opt->run_callback();
      }
    }
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return {std::nullopt, 0};
  } catch (const CLI::CallForVersion&) {
    std::cout << "cairn-node 0.1.0\n";
    return {std::nullopt, 0};
  } catch (const CLI::ParseError& e) {
    std::cerr << "cairn-node: " << e.what() << "\n";
    return {std::nullopt, 2};
  }
  return {o, 0};
}

std::optional<node_options>
parse_node_flags(const std::vector<std::string>& flags, std::string& why) {
  node_options o;
  CLI::App app{"cairn-node", "cairn-node"};
  define_flags(app, o);
  std::vector<const char*> argv{"cairn-node"};
  for (auto& f : flags)
    argv.push_back(f.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    why = e.what();
    return std::nullopt;
  }
  return o;
}

} // namespace cairn::config
