// --max-upload-rate and --max-download-rate between real cairn-node
// processes over loopback TCP: a limited seeder serves, and a limited
// downloader reads, no faster than its limit and not far slower; the waits
// show in /metrics; bad values stop the node with exit 2 and one line. A
// scenario group of cairn-sim gets the same limit.
//
// Timing bounds: the lower one is the limit itself less the bucket's burst
// (a tenth of a second at the rate) and the bytes read ahead of a pause (a
// socket's worth); the upper one is generous for a loaded 2-core machine.

#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/api_helpers.hpp"
#include "tests/integration/metrics_helpers.hpp"
#include "tests/integration/net_helpers.hpp"
#include "tests/integration/node_process.hpp"
#include "tests/integration/subprocess.hpp"

namespace {

using namespace cairn::test;
using namespace std::chrono_literals;

// 4 MB/s: 12 MiB take about 3 s.
constexpr double rate = 4e6;
constexpr std::size_t size = 12 * mib;

// Downloads `size` bytes seeded on `seeder` to `leecher`; the seconds the
// stream took, or a negative number after a failed assertion.
double timed_download(test_node& seeder, test_node& leecher) {
  auto data = random_bytes(size, 1808);
  std::string cid;
  EXPECT_TRUE(seed_and_connect(seeder, leecher, data, &cid));
  if (cid.empty())
    return -1;
  auto r = stream_network(leecher.proc, cid);
  EXPECT_TRUE(is_whole(r, data)) << leecher.proc.diagnostics();
  std::cout << "[  info    ] " << size / mib << " MiB at a 4 MB/s limit in "
            << r.seconds << " s (" << size / r.seconds / 1e6 << " MB/s)\n";
  return r.seconds;
}

// The bounds around the time `size` takes at `rate`.
void expect_paced(double seconds) {
  double ideal = size / rate;
  EXPECT_GE(seconds, ideal * 0.85) << "faster than the limit allows";
  EXPECT_LE(seconds, ideal * 3 + 5) << "far slower than the limit";
}

// The waits /metrics of `n` reports on its budget in `direction`.
double waits(const test_node& n, const std::string& direction) {
  scrape m;
  EXPECT_TRUE(scrape_metrics(n, &m));
  return m
    .samples["cairn_rate_limit_waits_total{direction=\"" + direction + "\"}"];
}

} // namespace

TEST(RateLimitTest, SeederServesNoFasterThanItsUploadLimit) {
  test_node seeder(
    {"--max-upload-rate", "4MB", "--metrics", "--metrics-port", "0"});
  test_node leecher({"--metrics", "--metrics-port", "0"});
  auto seconds = timed_download(seeder, leecher);
  ASSERT_GT(seconds, 0);
  expect_paced(seconds);
  EXPECT_GT(waits(seeder, "upload"), 0);
  EXPECT_EQ(waits(seeder, "download"), 0);
  EXPECT_EQ(waits(leecher, "download"), 0);
}

TEST(RateLimitTest, TwoDownloadersShareTheSeedersOneUploadLimit) {
  test_node seeder({"--max-upload-rate", "4MB"});
  test_node first, second;
  auto data = random_bytes(size / 2, 1809);
  std::string cid;
  ASSERT_TRUE(seed_and_connect(seeder, first, data, &cid));
  ASSERT_TRUE(second.proc.start());
  ASSERT_TRUE(connect_nodes(second.proc, seeder.proc));
  // Half the bytes each, at once: together they take as long as one
  // download of all of them.
  auto t0 = steady::now();
  stream_result r2;
  std::thread other([&] { r2 = stream_network(second.proc, cid); });
  auto r1 = stream_network(first.proc, cid);
  other.join();
  auto seconds = seconds_since(t0);
  EXPECT_TRUE(is_whole(r1, data)) << first.proc.diagnostics();
  EXPECT_TRUE(is_whole(r2, data)) << second.proc.diagnostics();
  std::cout << "[  info    ] 2 x " << size / 2 / mib
            << " MiB at one 4 MB/s limit in " << seconds << " s\n";
  expect_paced(seconds);
}

TEST(RateLimitTest, DownloaderReadsNoFasterThanItsDownloadLimit) {
  test_node seeder({"--metrics", "--metrics-port", "0"});
  test_node leecher(
    {"--max-download-rate", "4MB", "--metrics", "--metrics-port", "0"});
  auto seconds = timed_download(seeder, leecher);
  ASSERT_GT(seconds, 0);
  expect_paced(seconds);
  EXPECT_GT(waits(leecher, "download"), 0);
  EXPECT_EQ(waits(seeder, "upload"), 0);
}

TEST(RateLimitTest, BadRatesExitTwoWithOneLine) {
  temp_dir dir;
  auto toml = dir.file("bad.toml");
  std::ofstream(toml) << "max-download-rate = \"lots\"\n";
  struct bad_case {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string names;
  };
  const std::vector<bad_case> cases{
    {{"--max-upload-rate", "fast"}, {}, "--max-upload-rate"},
    {{"--max-upload-rate", "-5MB"}, {}, "--max-upload-rate"},
    {{"--max-download-rate", "10 furlongs"}, {}, "--max-download-rate"},
    {{}, {"CAIRN_MAX_UPLOAD_RATE=1e99"}, "--max-upload-rate"},
    {{"--config", toml}, {}, "--max-download-rate"},
  };
  for (auto& c : cases) {
    auto argv = node_args(dir.file("data"), c.args);
    argv.insert(argv.begin(), CAIRN_NODE_BIN);
    auto r = run_process(argv, c.env, {}, 20s);
    EXPECT_EQ(r.code, 2) << r.describe();
    auto lines = r.err_lines();
    ASSERT_EQ(lines.size(), 1u) << r.describe();
    EXPECT_NE(lines[0].find(c.names), std::string::npos) << r.describe();
  }
}

TEST(RateLimitTest, ASimulatedSeederKeepsItsGroupsUploadLimit) {
  temp_dir dir{"cairn-rate-sim"};
  std::ofstream(dir.file("rate.toml")) << R"(
seed = 3
time_limit = 60
[[group]]
name = "seeder"
count = 1
[group.node]
max-upload-rate = "1MB"
[[group]]
name = "leecher"
count = 1
[[event]]
action = "upload"
node = 0
data = "f"
size = "4MiB"
[[event]]
at = 1
action = "download"
data = "f"
group = "leecher"
)";
  auto out = dir.file("out");
  auto r = run_process({CAIRN_SIM_BIN, "run", dir.file("rate.toml"),
                        "--local-agents", "1", "--out", out},
                       {}, {}, 90s);
  ASSERT_EQ(r.code, 0) << r.describe();
  std::ifstream in(out + "/report.json");
  auto report = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(report.is_object()) << "no report.json";
  ASSERT_EQ(report["downloads"].size(), 1u) << report.dump();
  auto& d = report["downloads"][0];
  EXPECT_EQ(d.value("state", ""), "done") << d.dump();
  // 4 MiB at 1 MB/s.
  double ideal = 4.0 * mib / 1e6;
  double seconds = d.value("seconds", 0.0);
  EXPECT_GE(seconds, ideal * 0.85) << d.dump();
  EXPECT_LE(seconds, ideal * 3 + 10) << d.dump();
}
