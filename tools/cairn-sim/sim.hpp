#pragma once

// The two commands of cairn-sim (README "cairn-sim"): `agent` hosts nodes,
// `run` plays a scenario on agents; and the report a run writes.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/http_acceptor.hpp"
#include "actors/sim_agent.hpp"
#include "actors/sim_coordinator.hpp"

namespace caf {
class actor_system_config;
}

namespace cairn::sim {

/// The files of a cluster's control link, as `cairn-sim cert` writes them
/// into one directory that every agent and coordinator gets a copy of.
struct tls_files {
  /// The cluster CA's certificate: peers must present a certificate it
  /// signed.
  std::string ca;
  /// This end's certificate and private key (PEM).
  std::string cert;
  std::string key;
  /// The agents' secret (the default `--secret-file`).
  std::string secret;

  static tls_files in(const std::string& dir);
};

/// Settings of `cairn-sim agent`.
struct agent_options {
  /// `IP:PORT` the agent's actor is published on (port 0: any).
  std::string listen;
  std::string data_dir = "./cairn-sim-data";
  /// Address the nodes listen on and announce; empty: the listen IP, or
  /// 127.0.0.1 when that is 0.0.0.0.
  std::string advertise_ip;
  /// The cluster's keys (`cairn-sim cert`).
  std::string tls_dir;
  /// Default: `<tls_dir>/secret`.
  std::string secret_file;
  std::string log_level = "warn";
  /// Scheduler threads; 0 = one per core, at least 2.
  uint32_t threads = 0;
  /// Port of the nodes' REST APIs on the --listen IP (0: any); -1: none.
  int api_port = -1;
};

/// Settings of `cairn-sim run`.
struct run_options {
  std::string scenario;
  /// Agents to connect to (`HOST:PORT`), in placement order.
  std::vector<std::string> agents;
  /// Agent processes to start on this machine (after `agents`).
  uint32_t local_agents = 0;
  std::string out = "./cairn-sim-out";
  /// Overrides the scenario's seed.
  std::optional<uint64_t> seed;
  /// The cluster's keys; needed with `agents`, made afresh in a temporary
  /// directory for local agents otherwise.
  std::string tls_dir;
  /// Default: `<tls_dir>/secret`.
  std::string secret_file;
  std::string log_level = "warn";
  /// The path of this program, to start local agents with.
  std::string self_exe;
};

/// The agent's HTTP server for its nodes' REST APIs (`--api-port`).
struct node_api_server {
  std::shared_ptr<httplib::Server> server;
  std::unique_ptr<actors::http_acceptor> acceptor;
  /// The bound port.
  uint16_t port = 0;
  /// Stops accepting and waits for the requests being answered.
  ~node_api_server();
};

/// Binds `host:port` and serves node i's REST API (the routes of a node's
/// own server) at `/nodes/{i}/api/...` and `/nodes/{i}/metrics` for the
/// nodes in `nodes`: unknown node 404, a node down 503. Off loopback every
/// request must carry `Authorization: Bearer <secret>` (else 401). Must be
/// destroyed before the nodes' actor system. Errors: `ec::unavailable`
/// (cannot bind).
caf::expected<std::unique_ptr<node_api_server>>
serve_node_apis(const std::string& host, uint16_t port,
                std::shared_ptr<actors::sim_node_directory> nodes,
                const std::string& secret);

/// Runs an agent until it is told to stop (or SIGINT/SIGTERM). Returns the
/// exit code: 0, 1 unusable (port, data dir), 2 bad settings.
int run_agent(const agent_options& o);

/// Plays a scenario. Returns the exit code: 0 every download done, 1 a
/// failure or a lost agent (report written all the same), 2 a bad
/// scenario or command line.
int run_scenario(const run_options& o);

/// Writes `report.json`, `report.md` and the plots into `dir`. Returns an
/// empty string, or why it could not.
std::string write_report(const actors::sim_run_log& log,
                         const std::string& dir);

/// Writes the plots of a run into `dir` as SVG: `completion-cdf.svg`,
/// `throughput.svg`, `bytes-served.svg`, with a line (or bar colour) per
/// group where there are several. Returns the names written; sets `why`
/// when some or all were not (no downloads, a file not writable).
std::vector<std::string> write_plots(const actors::sim_run_log& log,
                                     const std::string& dir, std::string& why);

/// `cairn-sim cert`: makes a cluster CA and one certificate and key it
/// signed, and a fresh secret, in `dir` (created if needed; refused if it
/// holds any of them already). Sets `why` on failure.
bool make_cluster_keys(const std::string& dir, std::string& why);

/// Whether the certificate, key (matching it) and CA certificate of `f`
/// load, before CAF reads them per connection (where a bad file would
/// abort the process). Sets `why` if not.
bool check_tls_files(const tls_files& f, std::string& why);

/// Loads CAF's OpenSSL module with `f`: every connection of
/// `caf::openssl::publish` / the module's middleman actor is TLS with
/// both ends' certificates verified against `f.ca`.
void use_control_tls(caf::actor_system_config& cfg, const tls_files& f);

/// A new directory `$TMPDIR/<prefix>-XXXXXX` (mode 0700).
std::optional<std::string> make_temp_dir(const std::string& prefix,
                                         std::string& why);

/// Sets the default logger to stderr at `level` (cairn-node's levels).
void setup_logging(const std::string& level);

/// `HOST:PORT` split; nothing if malformed.
std::optional<std::pair<std::string, uint16_t>>
split_host_port(const std::string& text);

/// The secret in `path` (surrounding whitespace dropped); sets `why` if
/// unreadable or empty.
std::optional<std::string> read_secret(const std::string& path,
                                       std::string& why);

} // namespace cairn::sim
