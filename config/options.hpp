#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::config {

/// Every setting of `cairn-node`. Each field is a flag `--name`, an env var
/// `CAIRN_NAME` (dashes become underscores) and a key `name` in the TOML file
/// given by `--config`. Precedence: flag > env > TOML > the default here.
/// `config/cairn-node.example.toml` lists every key with its default.
struct node_options {
  /// Directory of the node's LMDB store and key (`node.key`).
  std::string data_dir = "./cairn-data";
  /// Address the REST API binds to.
  std::string api_bindaddr = "127.0.0.1";
  /// Port of the REST API; 0 picks a free one (printed when ready).
  uint16_t api_port = 8080;
  /// Run without the REST API and /metrics (no HTTP threads): for nodes
  /// that a host such as `cairn-sim` drives through their actors.
  bool no_api = false;
  /// Address the peer listener binds to (block exchange, TCP).
  std::string listen_ip = "0.0.0.0";
  /// Port of the peer listener; 0 picks a free one.
  uint16_t listen_port = 8070;
  /// Port of the DHT (UDP); 0 picks a free one.
  uint16_t disc_port = 8090;
  /// DHT requests per second one IP address may send (and at once); more
  /// are dropped unanswered. 0: no limit.
  uint32_t dht_rate_limit = 100;
  /// Signed peer records (`spr:...`) of nodes to join the DHT through.
  std::vector<std::string> bootstrap_nodes;
  /// Bytes of blocks the node stores at most.
  uint64_t storage_quota = uint64_t{20} << 30;
  /// Lifetime of a stored block after its last put.
  std::chrono::seconds block_ttl = std::chrono::hours{24 * 30};
  /// How often maintenance looks for expired blocks.
  std::chrono::seconds block_maintenance_interval = std::chrono::minutes{10};
  /// Blocks maintenance deletes per pass at most.
  uint32_t block_maintenance_batch = 1000;
  /// Connected peers at most.
  uint32_t max_peers = 160;
  /// Providers of a dataset one provider lookup dials at most, those
  /// already connected included (a random choice of the others); 0: all.
  uint32_t max_dials_per_lookup = 8;
  /// File descriptors (of RLIMIT_NOFILE) kept for the API, the store and
  /// outgoing connections: accepting peer connections pauses when all but
  /// these are open. At most half the limit is kept.
  uint32_t fd_reserve = 256;
  /// Bytes per second of blocks the node sends to all its peers together
  /// (a token bucket over every peer session); 0: no limit.
  uint64_t max_upload_rate = 0;
  /// Bytes per second the node reads from all its peers together: a
  /// session over the budget stops reading its socket, and TCP slows the
  /// sender down; 0: no limit.
  uint64_t max_download_rate = 0;
  /// Bytes queued for all peers' sockets together above which serving
  /// blocks pauses until they drain (each peer's socket is also held to
  /// 4 MiB).
  uint64_t max_unsent = uint64_t{16} << 20;
  /// Peer connections accepted and still in their handshake, at most in
  /// all and from one address; more are closed at once.
  uint32_t max_pending_handshakes = 128;
  uint32_t max_pending_handshakes_per_ip = 8;
  /// Price per byte this node quotes to peers for its blocks.
  uint64_t price_per_byte = 0;
  /// Highest price per byte this node pays; peers quoting more are not
  /// asked for blocks.
  uint64_t max_price = 0;
  /// trace, debug, info, notice, warn, error or fatal.
  std::string log_level = "info";
  /// Serve Prometheus metrics on `metrics_address:metrics_port`.
  bool metrics = false;
  /// Address of the metrics endpoint.
  std::string metrics_address = "127.0.0.1";
  /// Port of the metrics endpoint.
  uint16_t metrics_port = 8008;
  /// Peer sessions in clear, without the Noise encryption (benchmarks
  /// only): frames can be read and changed on the path. Both ends must
  /// agree; a node refuses a peer of the other mode.
  bool insecure_transport = false;
  /// Worker threads of the actor scheduler; 0 = one per core.
  uint32_t threads = 0;
  /// Blocks a download keeps requested ahead of the reader.
  uint32_t stream_window = 64;
  /// Fault injection for tests: flip a byte in every block served to peers
  /// (the node lies; its peers must reject the blocks and penalise it).
  bool fault_corrupt_blocks = false;
  /// Library that computes erasure codes: "jerasure" or "isal" (the same
  /// code, byte for byte; ISA-L is faster).
  std::string ec_backend = "isal";
  /// Allow `POST /api/cairn/v1/actors/{name}/crash` (fault injection).
  bool enable_fault_injection = false;
  /// If set, endpoints that change state accept non-loopback clients that
  /// present it as `Authorization: Bearer <token>`.
  std::string api_token;
  /// REST API connection limits (README "Limits"): handler threads in all
  /// and per client address, connections still sending their request head
  /// in all and per address, and the time they have to send it.
  uint32_t http_threads = 32;
  uint32_t http_threads_per_ip = 8;
  uint32_t http_max_pending = 2048;
  uint32_t http_max_pending_per_ip = 256;
  std::chrono::seconds http_header_timeout{10};
  /// A peer session with nothing from the peer for this long is closed; a
  /// PING goes out after a quarter of it without traffic.
  std::chrono::seconds peer_idle_timeout{60};
  /// Simulated one-way latency of every link to a peer (no `netem` needed):
  /// frames this node sends are held this long, so two nodes with 50 ms each
  /// see a 100 ms round trip. For simulations and benchmarks; 0: off.
  std::chrono::milliseconds link_latency{0};
  /// The TOML file the other settings were read from, if any.
  std::string config_file;
  /// Command line only: the subcommand, empty to run the node, `verify` to
  /// check the store of `data_dir` (which no node may have open) and exit.
  std::string command;
  /// Command line only, with `verify`: fix what can be fixed safely.
  bool repair = false;
};

/// Outcome of parsing: either options to run with, or an exit code (0 after
/// `--help` / `--version`, 2 after an error already printed to stderr).
struct parse_outcome {
  std::optional<node_options> options;
  int exit_code = 0;
};

/// Parses flags, `CAIRN_*` env vars and the TOML file of `--config`.
/// Prints help, version or a one-line error to stdout/stderr.
parse_outcome parse_node_options(int argc, const char* const* argv);

/// Parses cairn-node flags (`--max-peers=8`, ...) without a config file,
/// for nodes a host configures (cairn-sim). `CAIRN_*` env vars apply as for
/// cairn-node. On a bad flag, sets `why` (one line) and returns nothing.
std::optional<node_options>
parse_node_flags(const std::vector<std::string>& flags, std::string& why);

/// Parses a byte size: `1048576`, `512KB`, `20GiB`, `1.5 MiB`, ... (decimal
/// units are powers of 1000, binary units of 1024). `std::nullopt` if bad.
std::optional<uint64_t> parse_size(std::string_view text);

/// Parses a duration: `90`, `90s`, `15m`, `2h`, `30d`, `1w`. Plain numbers
/// are seconds. `std::nullopt` if bad or not positive.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

/// Parses a link latency: `0`, `50ms`, `0.05s` (a unit is required but for
/// 0), rounded to the millisecond, at most 10 s. `std::nullopt` if bad.
std::optional<std::chrono::milliseconds> parse_latency(std::string_view text);

/// The environment variable of a flag: `data-dir` → `CAIRN_DATA_DIR`.
std::string env_name(const std::string& flag);

/// A `--bootstrap-node` value as a signed peer record: the `spr` field of
/// the JSON that `GET /spr` answers, or `text` itself.
std::string bootstrap_record(const std::string& text);

/// The log levels `--log-level` and the loglevel endpoint accept.
bool is_log_level(std::string_view level);

} // namespace cairn::config
