// Tests of config/options.hpp: sizes and durations, and cairn-node's options
// from flags, CAIRN_* env vars and the TOML file of --config, with their
// precedence (flag > env > TOML > default), errors (exit code 2) and the
// shipped example file and README's flag table.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/options.hpp"
#include "test_helpers.hpp"

#ifndef CAIRN_SOURCE_DIR
#define CAIRN_SOURCE_DIR "/work/main"
#endif

using namespace cairn::config;
using namespace std::chrono_literals;

namespace {

// Every flag of cairn-node, without the leading dashes.
const std::vector<std::string> all_flags{
  "config",
  "data-dir",
  "api-bindaddr",
  "api-port",
  "no-api",
  "listen-ip",
  "listen-port",
  "disc-port",
  "dht-rate-limit",
  "bootstrap-node",
  "storage-quota",
  "block-ttl",
  "block-maintenance-interval",
  "block-maintenance-batch",
  "max-peers",
  "max-dials-per-lookup",
  "max-upload-rate",
  "max-download-rate",
  "max-unsent",
  "fd-reserve",
  "price-per-byte",
  "max-price",
  "fault-corrupt-blocks",
  "log-level",
  "metrics",
  "metrics-address",
  "metrics-port",
  "insecure-transport",
  "threads",
  "stream-window",
  "ec-backend",
  "enable-fault-injection",
  "api-token",
  "http-threads",
  "http-threads-per-ip",
  "http-max-pending",
  "http-max-pending-per-ip",
  "http-header-timeout",
  "peer-idle-timeout",
  "max-pending-handshakes",
  "max-pending-handshakes-per-ip",
  "link-latency",
};

std::string env_of(const std::string& flag) {
  return cairn::config::env_name(flag);
}

// Every field but config_file equals the in-class default.
void expect_defaults(const node_options& o) {
  node_options d;
  EXPECT_EQ(o.data_dir, d.data_dir);
  EXPECT_EQ(o.api_bindaddr, d.api_bindaddr);
  EXPECT_EQ(o.api_port, d.api_port);
  EXPECT_EQ(o.listen_ip, d.listen_ip);
  EXPECT_EQ(o.listen_port, d.listen_port);
  EXPECT_EQ(o.disc_port, d.disc_port);
  EXPECT_EQ(o.dht_rate_limit, d.dht_rate_limit);
  EXPECT_EQ(o.bootstrap_nodes, d.bootstrap_nodes);
  EXPECT_EQ(o.storage_quota, d.storage_quota);
  EXPECT_EQ(o.block_ttl, d.block_ttl);
  EXPECT_EQ(o.block_maintenance_interval, d.block_maintenance_interval);
  EXPECT_EQ(o.block_maintenance_batch, d.block_maintenance_batch);
  EXPECT_EQ(o.max_peers, d.max_peers);
  EXPECT_EQ(o.max_dials_per_lookup, d.max_dials_per_lookup);
  EXPECT_EQ(o.fd_reserve, d.fd_reserve);
  EXPECT_EQ(o.log_level, d.log_level);
  EXPECT_EQ(o.metrics, d.metrics);
  EXPECT_EQ(o.metrics_address, d.metrics_address);
  EXPECT_EQ(o.metrics_port, d.metrics_port);
  EXPECT_EQ(o.threads, d.threads);
  EXPECT_EQ(o.stream_window, d.stream_window);
  EXPECT_EQ(o.ec_backend, d.ec_backend);
  EXPECT_EQ(o.enable_fault_injection, d.enable_fault_injection);
  EXPECT_EQ(o.api_token, d.api_token);
  EXPECT_EQ(o.insecure_transport, d.insecure_transport);
  EXPECT_EQ(o.http_threads, d.http_threads);
  EXPECT_EQ(o.http_threads_per_ip, d.http_threads_per_ip);
  EXPECT_EQ(o.http_max_pending, d.http_max_pending);
  EXPECT_EQ(o.http_max_pending_per_ip, d.http_max_pending_per_ip);
  EXPECT_EQ(o.http_header_timeout, d.http_header_timeout);
  EXPECT_EQ(o.peer_idle_timeout, d.peer_idle_timeout);
  EXPECT_EQ(o.max_pending_handshakes, d.max_pending_handshakes);
  EXPECT_EQ(o.max_pending_handshakes_per_ip, d.max_pending_handshakes_per_ip);
  EXPECT_EQ(o.link_latency, d.link_latency);
}

} // namespace

class OptionsTest : public ::testing::Test {
protected:
  // No CAIRN_* variable of the outer environment leaks into a test, and
  // every one a test sets is gone afterwards (the outer ones come back).
  void SetUp() override {
    for (const auto& f : all_flags) {
      auto name = env_of(f);
      if (const char* v = std::getenv(name.c_str()))
        saved_[name] = v;
      ::unsetenv(name.c_str());
    }
  }

  void TearDown() override {
    for (const auto& f : all_flags)
      ::unsetenv(env_of(f).c_str());
    for (const auto& [name, value] : saved_)
      ::setenv(name.c_str(), value.c_str(), 1);
  }

  // Runs parse_node_options on `cairn-node args...`, capturing its output.
  parse_outcome parse(const std::vector<std::string>& args) {
    std::vector<const char*> argv{"cairn-node"};
    for (const auto& a : args)
      argv.push_back(a.c_str());
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    auto out = parse_node_options(static_cast<int>(argv.size()), argv.data());
    out_ = ::testing::internal::GetCapturedStdout();
    err_ = ::testing::internal::GetCapturedStderr();
    return out;
  }

  // Parses args that must succeed.
  node_options parse_ok(const std::vector<std::string>& args) {
    auto r = parse(args);
    EXPECT_EQ(r.exit_code, 0) << err_;
    EXPECT_TRUE(r.options.has_value()) << err_;
    return r.options.value_or(node_options{});
  }

  // Writes a TOML file and returns its path.
  std::string write_toml(const std::string& text,
                         const std::string& name = "node.toml") {
    auto path = dir_.file(name);
    std::ofstream{path} << text;
    return path;
  }

  cairn::test::temp_dir dir_;
  std::map<std::string, std::string> saved_;
  std::string out_;
  std::string err_;
};

// -- sizes and durations
// ---------------------------------------------------------

TEST(ParseSizeTest, AcceptsPlainNumbersAndUnits) {
  EXPECT_EQ(parse_size("1048576"), uint64_t{1048576});
  EXPECT_EQ(parse_size("512KB"), uint64_t{512000});
  EXPECT_EQ(parse_size("20GiB"), uint64_t{20} << 30);
  EXPECT_EQ(parse_size("1.5 MiB"), uint64_t{1572864});
  EXPECT_EQ(parse_size("0"), uint64_t{0});
  EXPECT_EQ(parse_size("1KiB"), uint64_t{1024});
  EXPECT_EQ(parse_size("1kib"), uint64_t{1024});
  EXPECT_EQ(parse_size("2 gb"), uint64_t{2000000000});
  EXPECT_EQ(parse_size("3TiB"), uint64_t{3} << 40);
  EXPECT_EQ(parse_size("7B"), uint64_t{7});
  EXPECT_EQ(parse_size("  64 MB  "), uint64_t{64000000});
  EXPECT_EQ(parse_size("1M"), uint64_t{1000000});
}

TEST(ParseSizeTest, RejectsGarbage) {
  for (auto s :
       {"banana", "-1", "10XB", "", " ", "GiB", "1.2.3", "1e3", "1,5MB", "nan",
        "inf", "0x10", "+5", "5 5", "12 GiB extra", ".", "1PiB"})
    EXPECT_EQ(parse_size(s), std::nullopt) << "'" << s << "'";
}

TEST(ParseSizeTest, RejectsValuesBeyondUint64) {
  EXPECT_EQ(parse_size("100000000TB"), std::nullopt); // 1e20
  EXPECT_EQ(parse_size("99999999999999999999999"), std::nullopt);
  EXPECT_EQ(parse_size(std::string(400, '9')), std::nullopt);
}

TEST(ParseSizeTest, HugeValuesAreExactOrRejected) {
  // Between 2^63 and 2^64 a size either parses to its value or is rejected;
  // it must not come back as some other number.
  struct {
    const char* text;
    double value;
  } cases[] = {{"10000000000000000000", 1e19},
               {"15EB", 15e18}, // unknown unit: rejected
               {"15000000TB", 15e18},
               {"12000000000000000000B", 12e18}};
  std::string wrong;
  for (auto c : cases) {
    auto v = parse_size(c.text);
    if (v && std::abs(static_cast<double>(*v) - c.value) > 1e6)
      wrong += std::string{"\n  "} + c.text + " -> " + std::to_string(*v);
  }
  if (!wrong.empty())
    FAIL() << "parse_size accepts values above 2^63 (its limit is "
              "1.8e19) but converts them with std::llround, which overflows "
              "long long:"
           << wrong;
}

TEST(ParseDurationTest, AcceptsUnits) {
  EXPECT_EQ(parse_duration("90"), std::chrono::seconds{90});
  EXPECT_EQ(parse_duration("90s"), std::chrono::seconds{90});
  EXPECT_EQ(parse_duration("15m"), std::chrono::seconds{15 * 60});
  EXPECT_EQ(parse_duration("2h"), std::chrono::seconds{2 * 3600});
  EXPECT_EQ(parse_duration("30d"), std::chrono::seconds{30 * 86400});
  EXPECT_EQ(parse_duration("1w"), std::chrono::seconds{7 * 86400});
  EXPECT_EQ(parse_duration("1.5h"), std::chrono::seconds{5400});
  EXPECT_EQ(parse_duration(" 10 M "), std::chrono::seconds{600});
  EXPECT_EQ(parse_duration("1"), std::chrono::seconds{1});
}

TEST(ParseDurationTest, RejectsZeroNegativeAndGarbage) {
  for (auto s : {"0", "0s", "0.2s", "x", "-5s", "", "5y", "5ms", "s", "1e3",
                 "3 days", "99999999999999999w"})
    EXPECT_EQ(parse_duration(s), std::nullopt) << "'" << s << "'";
}

TEST(ParseLatencyTest, AcceptsMillisecondsAndSeconds) {
  using std::chrono::milliseconds;
  EXPECT_EQ(parse_latency("50ms"), milliseconds{50});
  EXPECT_EQ(parse_latency("0.05s"), milliseconds{50});
  EXPECT_EQ(parse_latency(" 2.5 MS "), milliseconds{3});
  EXPECT_EQ(parse_latency("0"), milliseconds{0});
  EXPECT_EQ(parse_latency("0ms"), milliseconds{0});
  EXPECT_EQ(parse_latency("10s"), milliseconds{10000});
}

TEST(ParseLatencyTest, RejectsBareNumbersNegativeAndHuge) {
  for (auto s : {"50", "-5ms", "", "ms", "5m", "10.001s", "1h", "fast"})
    EXPECT_EQ(parse_latency(s), std::nullopt) << "'" << s << "'";
}

TEST(LogLevelTest, KnownLevels) {
  for (auto l : {"trace", "debug", "info", "notice", "warn", "error", "fatal"})
    EXPECT_TRUE(is_log_level(l)) << l;
  for (auto l : {"", "INFO", "warning", "verbose", "info "})
    EXPECT_FALSE(is_log_level(l)) << l;
}

// -- parse_node_options
// ------------------------------------------------------------

TEST_F(OptionsTest, DefaultsWithoutArguments) {
  auto o = parse_ok({});
  expect_defaults(o);
  EXPECT_EQ(o.config_file, "");
  // The documented defaults.
  EXPECT_EQ(o.data_dir, "./cairn-data");
  EXPECT_EQ(o.api_port, 8080);
  EXPECT_EQ(o.listen_port, 8070);
  EXPECT_EQ(o.disc_port, 8090);
  EXPECT_EQ(o.storage_quota, uint64_t{20} << 30);
  EXPECT_EQ(o.block_ttl, std::chrono::seconds{30 * 86400});
  EXPECT_EQ(o.metrics_port, 8008);
}

TEST_F(OptionsTest, FlagsSetEveryField) {
  auto o = parse_ok({"--data-dir",
                     "/var/lib/cairn",
                     "--api-bindaddr",
                     "0.0.0.0",
                     "--api-port",
                     "0",
                     "--listen-ip",
                     "127.0.0.1",
                     "--listen-port",
                     "9070",
                     "--disc-port",
                     "9090",
                     "--bootstrap-node",
                     "spr:abc",
                     "--storage-quota",
                     "5GiB",
                     "--block-ttl",
                     "2d",
                     "--block-maintenance-interval",
                     "30s",
                     "--block-maintenance-batch",
                     "50",
                     "--max-peers",
                     "10",
                     "--log-level",
                     "debug",
                     "--metrics",
                     "--metrics-address",
                     "0.0.0.0",
                     "--metrics-port",
                     "9008",
                     "--threads",
                     "3",
                     "--stream-window",
                     "64"});
  EXPECT_EQ(o.data_dir, "/var/lib/cairn");
  EXPECT_EQ(o.api_bindaddr, "0.0.0.0");
  EXPECT_EQ(o.api_port, 0);
  EXPECT_EQ(o.listen_ip, "127.0.0.1");
  EXPECT_EQ(o.listen_port, 9070);
  EXPECT_EQ(o.disc_port, 9090);
  EXPECT_EQ(o.bootstrap_nodes, std::vector<std::string>{"spr:abc"});
  EXPECT_EQ(o.storage_quota, uint64_t{5} << 30);
  EXPECT_EQ(o.block_ttl, std::chrono::seconds{2 * 86400});
  EXPECT_EQ(o.block_maintenance_interval, std::chrono::seconds{30});
  EXPECT_EQ(o.block_maintenance_batch, 50u);
  EXPECT_EQ(o.max_peers, 10u);
  EXPECT_EQ(o.log_level, "debug");
  EXPECT_TRUE(o.metrics);
  EXPECT_EQ(o.metrics_address, "0.0.0.0");
  EXPECT_EQ(o.metrics_port, 9008);
  EXPECT_EQ(o.threads, 3u);
  EXPECT_EQ(o.stream_window, 64u);
}

TEST_F(OptionsTest, FlagsWithEqualsSign) {
  auto o = parse_ok({"--api-port=9100", "--storage-quota=1.5 MiB"});
  EXPECT_EQ(o.api_port, 9100);
  EXPECT_EQ(o.storage_quota, uint64_t{1572864});
}

TEST_F(OptionsTest, EnvVarOverridesDefault) {
  ::setenv("CAIRN_API_PORT", "9001", 1);
  ::setenv("CAIRN_DATA_DIR", "/tmp/from-env", 1);
  ::setenv("CAIRN_STORAGE_QUOTA", "1GiB", 1);
  ::setenv("CAIRN_BLOCK_TTL", "1h", 1);
  ::setenv("CAIRN_LOG_LEVEL", "warn", 1);
  ::setenv("CAIRN_METRICS", "true", 1);
  auto o = parse_ok({});
  EXPECT_EQ(o.api_port, 9001);
  EXPECT_EQ(o.data_dir, "/tmp/from-env");
  EXPECT_EQ(o.storage_quota, uint64_t{1} << 30);
  EXPECT_EQ(o.block_ttl, std::chrono::seconds{3600});
  EXPECT_EQ(o.log_level, "warn");
  EXPECT_TRUE(o.metrics);
  // Untouched fields keep their defaults.
  EXPECT_EQ(o.listen_port, 8070);
}

TEST_F(OptionsTest, FlagBeatsEnvVar) {
  ::setenv("CAIRN_API_PORT", "9001", 1);
  ::setenv("CAIRN_STORAGE_QUOTA", "1GiB", 1);
  auto o = parse_ok({"--api-port", "9002", "--storage-quota", "2GiB"});
  EXPECT_EQ(o.api_port, 9002);
  EXPECT_EQ(o.storage_quota, uint64_t{2} << 30);
}

TEST_F(OptionsTest, BadEnvVarValueFails) {
  ::setenv("CAIRN_API_PORT", "eighty", 1);
  auto r = parse({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(r.options);
  ::setenv("CAIRN_API_PORT", "8080", 1);
  ::setenv("CAIRN_BLOCK_TTL", "forever", 1);
  r = parse({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(r.options);
}

TEST_F(OptionsTest, TomlFileSetsKeys) {
  auto path = write_toml(R"(
data-dir = "/srv/cairn"
api-port = 7000
listen-ip = "10.0.0.1"
storage-quota = "5GiB"
block-ttl = "2d"
block-maintenance-interval = "1h"
block-maintenance-batch = 10
max-peers = 20
log-level = "debug"
metrics = true
metrics-port = 9100
threads = 2
stream-window = 8
link-latency = "50ms"
bootstrap-node = ["spr:one", "spr:two"]
)");
  auto o = parse_ok({"--config", path});
  EXPECT_EQ(o.config_file, path);
  EXPECT_EQ(o.data_dir, "/srv/cairn");
  EXPECT_EQ(o.api_port, 7000);
  EXPECT_EQ(o.listen_ip, "10.0.0.1");
  EXPECT_EQ(o.storage_quota, uint64_t{5} << 30);
  EXPECT_EQ(o.block_ttl, std::chrono::seconds{2 * 86400});
  EXPECT_EQ(o.block_maintenance_interval, std::chrono::seconds{3600});
  EXPECT_EQ(o.block_maintenance_batch, 10u);
  EXPECT_EQ(o.max_peers, 20u);
  EXPECT_EQ(o.log_level, "debug");
  EXPECT_TRUE(o.metrics);
  EXPECT_EQ(o.metrics_port, 9100);
  EXPECT_EQ(o.threads, 2u);
  EXPECT_EQ(o.stream_window, 8u);
  EXPECT_EQ(o.link_latency, std::chrono::milliseconds{50});
  EXPECT_EQ(o.bootstrap_nodes,
            (std::vector<std::string>{"spr:one", "spr:two"}));
  // Keys the file does not set keep their defaults.
  EXPECT_EQ(o.listen_port, 8070);
  EXPECT_EQ(o.api_bindaddr, "127.0.0.1");
}

TEST_F(OptionsTest, TomlIntegerSizeAndDuration) {
  auto path = write_toml("storage-quota = 1048576\nblock-ttl = 90\n");
  auto o = parse_ok({"--config", path});
  EXPECT_EQ(o.storage_quota, uint64_t{1048576});
  EXPECT_EQ(o.block_ttl, std::chrono::seconds{90});
}

TEST_F(OptionsTest, ConfigFileFromEnvVar) {
  auto path = write_toml("api-port = 7100\n");
  ::setenv("CAIRN_CONFIG", path.c_str(), 1);
  auto o = parse_ok({});
  EXPECT_EQ(o.api_port, 7100);
  EXPECT_EQ(o.config_file, path);
}

TEST_F(OptionsTest, EnvVarBeatsToml) {
  auto path = write_toml("api-port = 7000\nlog-level = \"debug\"\n");
  ::setenv("CAIRN_API_PORT", "7001", 1);
  auto o = parse_ok({"--config", path});
  EXPECT_EQ(o.api_port, 7001);
  EXPECT_EQ(o.log_level, "debug"); // from the file: no env var for it
}

TEST_F(OptionsTest, FlagBeatsToml) {
  auto path = write_toml("api-port = 7000\nbootstrap-node = [\"spr:file\"]\n");
  auto o = parse_ok(
    {"--config", path, "--api-port", "7002", "--bootstrap-node", "spr:flag"});
  EXPECT_EQ(o.api_port, 7002);
  EXPECT_EQ(o.bootstrap_nodes, std::vector<std::string>{"spr:flag"});
}

TEST_F(OptionsTest, FlagBeatsEnvBeatsToml) {
  auto path =
    write_toml("api-port = 7000\nlisten-port = 7000\ndisc-port = 7000\n");
  ::setenv("CAIRN_API_PORT", "7001", 1);
  ::setenv("CAIRN_LISTEN_PORT", "7001", 1);
  auto o = parse_ok({"--config", path, "--api-port", "7002"});
  EXPECT_EQ(o.api_port, 7002);
  EXPECT_EQ(o.listen_port, 7001);
  EXPECT_EQ(o.disc_port, 7000);
}

TEST_F(OptionsTest, UnknownTomlKeyFails) {
  auto path = write_toml("api-port = 7000\nstorage-qouta = \"1GiB\"\n");
  auto r = parse({"--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(r.options);
  EXPECT_NE(err_.find("storage-qouta"), std::string::npos) << err_;
}

TEST_F(OptionsTest, ConfigKeyInsideTomlFails) {
  auto path = write_toml("config = \"other.toml\"\n");
  auto r = parse({"--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(r.options);
}

TEST_F(OptionsTest, MalformedTomlFails) {
  for (auto text :
       {"api-port = \n", "api-port 7000\n", "[unclosed\n",
        "data-dir = \"unterminated\n", "api-port = 1\napi-port = 2\n"}) {
    auto path = write_toml(text);
    auto r = parse({"--config", path});
    EXPECT_EQ(r.exit_code, 2) << text;
    EXPECT_FALSE(r.options) << text;
    EXPECT_FALSE(err_.empty()) << text;
  }
}

TEST_F(OptionsTest, UnsupportedTomlValueTypeFails) {
  for (auto text :
       {"[api-port]\nx = 1\n", "api-port = { a = 1 }\n",
        "bootstrap-node = [{ a = 1 }]\n", "bootstrap-node = [[\"a\", \"b\"]]\n",
        "data-dir = 1979-05-27\n"}) {
    auto path = write_toml(text);
    auto r = parse({"--config", path});
    EXPECT_EQ(r.exit_code, 2) << text;
    EXPECT_FALSE(r.options) << text;
  }
}

TEST_F(OptionsTest, MissingConfigFileFails) {
  auto r = parse({"--config", dir_.file("nope.toml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(r.options);
}

TEST_F(OptionsTest, BadValuesFail) {
  std::vector<std::vector<std::string>> cases{
    {"--storage-quota", "banana"},
    {"--storage-quota", "-1"},
    {"--block-ttl", "0"},
    {"--block-ttl", "soon"},
    {"--block-maintenance-interval", "-5s"},
    {"--api-port", "70000"},
    {"--api-port", "-1"},
    {"--api-port", "http"},
    {"--listen-port", "65536"},
    {"--log-level", "loud"},
    {"--threads", "1000"},
    {"--stream-window", "0"},
    {"--link-latency", "50"},
    {"--link-latency", "11s"},
    {"--block-maintenance-batch", "0"},
    {"--max-peers", "many"},
    {"--no-such-flag"},
    {"--api-port"},
    {"positional"},
  };
  for (const auto& args : cases) {
    auto r = parse(args);
    EXPECT_EQ(r.exit_code, 2)
      << args[0] << " " << (args.size() > 1 ? args[1] : "");
    EXPECT_FALSE(r.options) << args[0];
    EXPECT_FALSE(err_.empty()) << args[0];
  }
}

TEST_F(OptionsTest, BadTomlValuesFail) {
  for (auto text : {"storage-quota = \"banana\"\n", "api-port = 70000\n",
                    "api-port = \"abc\"\n", "log-level = \"loud\"\n",
                    "block-ttl = 0\n", "api-port = -1\n"}) {
    auto path = write_toml(text);
    auto r = parse({"--config", path});
    EXPECT_EQ(r.exit_code, 2) << text;
    EXPECT_FALSE(r.options) << text;
  }
}

TEST_F(OptionsTest, HelpExitsZeroWithoutOptions) {
  for (auto flag : {"--help", "-h"}) {
    auto r = parse({flag});
    EXPECT_EQ(r.exit_code, 0) << flag;
    EXPECT_FALSE(r.options) << flag;
    EXPECT_NE(out_.find("--data-dir"), std::string::npos) << out_;
    EXPECT_NE(out_.find("--storage-quota"), std::string::npos) << out_;
  }
}

// all_flags is what the example-file and environment tests go by, so it
// must be the flags the program has.
TEST_F(OptionsTest, HelpListsExactlyTheKnownFlags) {
  ASSERT_EQ(parse({"--help"}).exit_code, 0);
  std::set<std::string> listed;
  std::regex option_line{R"(^\s+--([a-z][a-z0-9-]*))"};
  std::istringstream lines{out_};
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, option_line) && m[1] != "version")
      listed.insert(m[1]);
  }
  EXPECT_EQ(listed, std::set<std::string>(all_flags.begin(), all_flags.end()));
}

// The README's flag table is where a user looks a flag up.
TEST_F(OptionsTest, ReadmeDocumentsEveryFlag) {
  std::ifstream in{CAIRN_SOURCE_DIR "/README.md"};
  ASSERT_TRUE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  for (const auto& f : all_flags)
    EXPECT_NE(text.str().find("| `--" + f + "`"), std::string::npos)
      << "README's cairn-node table lacks --" << f;
}

TEST_F(OptionsTest, VersionExitsZeroWithoutOptions) {
  auto r = parse({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.options);
  EXPECT_NE(out_.find("cairn-node"), std::string::npos) << out_;
}

TEST_F(OptionsTest, BootstrapNodeIsRepeatable) {
  auto o = parse_ok({"--bootstrap-node", "spr:a", "--bootstrap-node", "spr:b",
                     "--bootstrap-node=spr:c"});
  EXPECT_EQ(o.bootstrap_nodes,
            (std::vector<std::string>{"spr:a", "spr:b", "spr:c"}));
}

TEST_F(OptionsTest, BootstrapNodeAsTomlArray) {
  auto path =
    write_toml("bootstrap-node = [\"spr:x\", \"spr:y\", \"spr:z\"]\n");
  auto o = parse_ok({"--config", path});
  EXPECT_EQ(o.bootstrap_nodes,
            (std::vector<std::string>{"spr:x", "spr:y", "spr:z"}));
  // A single string is one node.
  path = write_toml("bootstrap-node = \"spr:only\"\n", "single.toml");
  o = parse_ok({"--config", path});
  EXPECT_EQ(o.bootstrap_nodes, std::vector<std::string>{"spr:only"});
}

TEST_F(OptionsTest, EmptyBootstrapArrayInToml) {
  // The example file ships `bootstrap-node = []`.
  auto path = write_toml("bootstrap-node = []\napi-port = 7000\n");
  auto r = parse({"--config", path});
  ASSERT_EQ(r.exit_code, 0) << err_;
  ASSERT_TRUE(r.options);
  EXPECT_TRUE(r.options->bootstrap_nodes.empty());
  EXPECT_EQ(r.options->api_port, 7000);
}

TEST_F(OptionsTest, ExampleFileYieldsDefaults) {
  std::string path = CAIRN_SOURCE_DIR "/config/cairn-node.example.toml";
  std::ifstream in{path};
  ASSERT_TRUE(in.good()) << path;
  auto r = parse({"--config", path});
  ASSERT_EQ(r.exit_code, 0) << err_;
  ASSERT_TRUE(r.options);
  expect_defaults(*r.options);
  EXPECT_EQ(r.options->config_file, path);
}

TEST_F(OptionsTest, ExampleFileListsEveryKey) {
  std::string path = CAIRN_SOURCE_DIR "/config/cairn-node.example.toml";
  std::ifstream in{path};
  ASSERT_TRUE(in.good()) << path;
  std::set<std::string> keys;
  std::regex key_re{R"(^\s*([a-z][a-z0-9-]*)\s*=)"};
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, key_re))
      keys.insert(m[1]);
  }
  for (const auto& f : all_flags) {
    if (f != "config") {
      EXPECT_TRUE(keys.count(f)) << "the example file lacks '" << f << "'";
    }
  }
  for (const auto& k : keys)
    EXPECT_NE(std::find(all_flags.begin(), all_flags.end(), k), all_flags.end())
      << "the example file has unknown key '" << k << "'";
}

TEST_F(OptionsTest, EveryFlagHasAnEnvVar) {
  // CAIRN_<FLAG> for every flag: set each to a non-default value.
  std::map<std::string, std::string> values{
    {"data-dir", "/e"},
    {"api-bindaddr", "0.0.0.0"},
    {"api-port", "1"},
    {"listen-ip", "127.0.0.2"},
    {"listen-port", "2"},
    {"disc-port", "3"},
    {"dht-rate-limit", "8"},
    {"bootstrap-node", "spr:e"},
    {"storage-quota", "1MB"},
    {"block-ttl", "1m"},
    {"block-maintenance-interval", "2m"},
    {"block-maintenance-batch", "5"},
    {"max-peers", "4"},
    {"max-dials-per-lookup", "12"},
    {"max-upload-rate", "3MB"},
    {"max-download-rate", "2MiB"},
    {"max-unsent", "3MiB"},
    {"fd-reserve", "9"},
    {"log-level", "error"},
    {"metrics", "true"},
    {"metrics-address", "0.0.0.0"},
    {"metrics-port", "5"},
    {"threads", "6"},
    {"stream-window", "7"},
    {"http-threads", "9"},
    {"http-threads-per-ip", "3"},
    {"http-max-pending", "100"},
    {"http-max-pending-per-ip", "10"},
    {"http-header-timeout", "4s"},
    {"peer-idle-timeout", "2m"},
    {"max-pending-handshakes", "11"},
    {"max-pending-handshakes-per-ip", "2"},
    {"link-latency", "0.02s"},
  };
  for (const auto& [flag, value] : values)
    ::setenv(env_of(flag).c_str(), value.c_str(), 1);
  auto o = parse_ok({});
  EXPECT_EQ(o.data_dir, "/e");
  EXPECT_EQ(o.api_bindaddr, "0.0.0.0");
  EXPECT_EQ(o.api_port, 1);
  EXPECT_EQ(o.listen_ip, "127.0.0.2");
  EXPECT_EQ(o.listen_port, 2);
  EXPECT_EQ(o.disc_port, 3);
  EXPECT_EQ(o.dht_rate_limit, 8u);
  EXPECT_EQ(o.bootstrap_nodes, std::vector<std::string>{"spr:e"});
  EXPECT_EQ(o.storage_quota, uint64_t{1000000});
  EXPECT_EQ(o.block_ttl, std::chrono::seconds{60});
  EXPECT_EQ(o.block_maintenance_interval, std::chrono::seconds{120});
  EXPECT_EQ(o.block_maintenance_batch, 5u);
  EXPECT_EQ(o.max_peers, 4u);
  EXPECT_EQ(o.max_dials_per_lookup, 12u);
  EXPECT_EQ(o.max_upload_rate, uint64_t{3000000});
  EXPECT_EQ(o.max_download_rate, uint64_t{2} << 20);
  EXPECT_EQ(o.max_unsent, uint64_t{3} << 20);
  EXPECT_EQ(o.fd_reserve, 9u);
  EXPECT_EQ(o.log_level, "error");
  EXPECT_TRUE(o.metrics);
  EXPECT_EQ(o.metrics_address, "0.0.0.0");
  EXPECT_EQ(o.metrics_port, 5);
  EXPECT_EQ(o.threads, 6u);
  EXPECT_EQ(o.stream_window, 7u);
  EXPECT_EQ(o.http_threads, 9u);
  EXPECT_EQ(o.http_threads_per_ip, 3u);
  EXPECT_EQ(o.http_max_pending, 100u);
  EXPECT_EQ(o.http_max_pending_per_ip, 10u);
  EXPECT_EQ(o.http_header_timeout, std::chrono::seconds{4});
  EXPECT_EQ(o.peer_idle_timeout, std::chrono::seconds{120});
  EXPECT_EQ(o.max_pending_handshakes, 11u);
  EXPECT_EQ(o.max_pending_handshakes_per_ip, 2u);
  EXPECT_EQ(o.link_latency, std::chrono::milliseconds{20});
}

TEST_F(OptionsTest, BootstrapNodeTakesTheJsonOfGetSpr) {
  auto o = parse_ok({"--bootstrap-node", "spr:AAA", "--bootstrap-node",
                     "{\"spr\": \"spr:BBB\"}"});
  EXPECT_EQ(o.bootstrap_nodes,
            (std::vector<std::string>{"spr:AAA", "spr:BBB"}));
  auto toml =
    write_toml("bootstrap-node = [\"{\\\"spr\\\":\\\"spr:CCC\\\"}\"]\n");
  auto t = parse_ok({"--config", toml});
  EXPECT_EQ(t.bootstrap_nodes, (std::vector<std::string>{"spr:CCC"}));
  // Anything else is kept as it is, for discovery to refuse with its reason.
  EXPECT_EQ(bootstrap_record("{\"id\": 1}"), "{\"id\": 1}");
  EXPECT_EQ(bootstrap_record(" {bad json"), " {bad json");
}

TEST_F(OptionsTest, RateLimitsTakeSizesPerSecondAndRefuseTheRest) {
  auto d = parse_ok({});
  EXPECT_EQ(d.max_upload_rate, 0u) << "no limit by default";
  EXPECT_EQ(d.max_download_rate, 0u);
  auto o =
    parse_ok({"--max-upload-rate", "50MB", "--max-download-rate", "10MiB"});
  EXPECT_EQ(o.max_upload_rate, uint64_t{50000000});
  EXPECT_EQ(o.max_download_rate, uint64_t{10} << 20);
  auto t =
    parse_ok({"--config", write_toml("max-upload-rate = 4000000\n"
                                     "max-download-rate = \"1.5MB\"\n")});
  EXPECT_EQ(t.max_upload_rate, uint64_t{4000000});
  EXPECT_EQ(t.max_download_rate, uint64_t{1500000});
  for (auto bad : {"fast", "-1MB", "5 furlongs", ""}) {
    auto r = parse({"--max-upload-rate", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(err_.find("--max-upload-rate"), std::string::npos) << err_;
    EXPECT_EQ(std::count(err_.begin(), err_.end(), '\n'), 1) << err_;
  }
}

TEST_F(OptionsTest, MaxUnsentTakesASizeOfAtLeastOneMebibyte) {
  EXPECT_EQ(parse_ok({}).max_unsent, uint64_t{16} << 20);
  EXPECT_EQ(parse_ok({"--max-unsent", "64MiB"}).max_unsent, uint64_t{64} << 20);
  EXPECT_EQ(parse_ok({"--max-unsent", "1MiB"}).max_unsent, uint64_t{1} << 20);
  for (auto bad : {"0", "1MB", "lots", ""}) {
    auto r = parse({"--max-unsent", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(err_.find("at least 1MiB"), std::string::npos) << err_;
    EXPECT_EQ(std::count(err_.begin(), err_.end(), '\n'), 1) << err_;
  }
}
