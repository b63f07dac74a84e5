// cairn-sim end to end with real processes: agents hosting 10 nodes each
// on loopback, the coordinator playing scenarios on them, the report it
// writes; agents in two network namespaces (as on two machines); an agent
// killed mid-run; the same seed twice; bad scenarios; the TLS control
// link refusing another cluster's certificate and a plaintext client.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/api_helpers.hpp"
#include "tests/integration/node_process.hpp"
#include "tests/integration/subprocess.hpp"

#ifndef CAIRN_SIM_BIN
#error "CAIRN_SIM_BIN must be defined (path of the cairn-sim binary)"
#endif
#ifndef CAIRNCTL_BIN
#error "CAIRNCTL_BIN must be defined (path of the cairnctl binary)"
#endif

using namespace cairn::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string scenario_file(const std::string& name) {
  return std::string{CAIRN_SOURCE_DIR} + "/config/scenarios/" + name;
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return json{};
  return json::parse(in, nullptr, false);
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

// A cluster's control-link keys made by `cairn-sim cert` in `dir/name`.
std::string cluster_keys(temp_dir& dir, const std::string& name) {
  auto keys = dir.file(name);
  auto r = run_process({CAIRN_SIM_BIN, "cert", "--out", keys}, {}, {}, 20s);
  EXPECT_EQ(r.code, 0) << r.describe();
  return keys;
}

// A run of four nodes on one agent, a few seconds long.
const char* const small_scenario = R"(
seed = 1
time_limit = 60
[[group]]
count = 4
[[event]]
action = "upload"
node = 1
data = "f"
size = 300000
[[event]]
at = 0.5
action = "download"
data = "f"
fraction = 0.67
spread = 1
[[event]]
after = "downloads-done:f"
action = "delete"
data = "f"
fraction = 0.5
blocks = 0.5
)";

// A `cairn-sim agent` process on `ip` (port chosen by the OS), run through
// `prefix` (e.g. `ip netns exec NS`) if given, logging to `dir.log`; killed
// (SIGKILL) by the destructor if still running, and with the test process.
class agent_process {
public:
  agent_process(const std::string& dir, const std::string& tls_dir,
                const std::string& ip = "127.0.0.1",
                std::vector<std::string> prefix = {},
                const std::vector<std::string>& extra = {})
    : process_(agent_args(dir, tls_dir, ip, std::move(prefix), extra),
               dir + ".log", background_process::stdout_to::pipe) {
    // The agent's one line on stdout: `... listen=IP:PORT api=IP:PORT`.
    auto text = process_.first_line(20s) + "\n";
    auto value = [&](const std::string& key) {
      auto at = text.find(" " + key + "=");
      if (at == std::string::npos)
        return std::string{};
      at += key.size() + 2;
      return text.substr(at, text.find_first_of(" \n", at) - at);
    };
    address_ = value("listen");
    api_address_ = value("api");
  }

  /// `127.0.0.1:PORT`, empty if the agent did not start.
  const std::string& address() const { return address_; }

  /// `127.0.0.1:PORT` of the nodes' APIs (`--api-port`), else empty.
  const std::string& api_address() const { return api_address_; }

  void kill9() { process_.kill9(); }

  /// Waits up to `limit` for the agent to exit on its own.
  bool wait_exit(std::chrono::milliseconds limit) {
    return process_.wait_exit(limit);
  }

private:
  static std::vector<std::string>
  agent_args(const std::string& dir, const std::string& tls_dir,
             const std::string& ip, std::vector<std::string> prefix,
             const std::vector<std::string>& extra) {
    auto args = std::move(prefix);
    args.insert(args.end(), {CAIRN_SIM_BIN, "agent", "--listen", ip + ":0",
                             "--data-dir", dir, "--tls-dir", tls_dir});
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  background_process process_;
  std::string address_;
  std::string api_address_;
};

size_t count_state(const json& report, const std::string& state) {
  size_t n = 0;
  for (auto& d : report["downloads"])
    n += d["state"] == state;
  return n;
}

TEST(SimTest, TwoAgentsTwentyNodesEveryCopyVerifiedByteForByte) {
  temp_dir dir{"cairn-sim-it"};
  auto keys = cluster_keys(dir, "keys");
  agent_process a{dir.file("agent-a"), keys};
  agent_process b{dir.file("agent-b"), keys};
  ASSERT_FALSE(a.address().empty()) << "agent a did not start";
  ASSERT_FALSE(b.address().empty()) << "agent b did not start";
  auto out = dir.file("out");
  auto r = run_process(
    {CAIRN_SIM_BIN, "run", scenario_file("dissemination.toml"), "--agent",
     a.address(), "--agent", b.address(), "--tls-dir", keys, "--out", out},
    {}, {}, 150s);
  EXPECT_EQ(r.code, 0) << r.describe();
  auto report = read_json(out + "/report.json");
  ASSERT_TRUE(report.is_object()) << "no report.json" << r.describe();
  ASSERT_EQ(report["uploads"].size(), 1u);
  auto& up = report["uploads"][0];
  EXPECT_EQ(up["size"], 4u << 20);
  ASSERT_EQ(report["downloads"].size(), 19u);
  EXPECT_EQ(count_state(report, "done"), 19u) << report["downloads"].dump(1);
  std::set<uint32_t> nodes;
  for (auto& d : report["downloads"]) {
    nodes.insert(d["node"].get<uint32_t>());
    EXPECT_EQ(d["bytes"], 4u << 20);
    EXPECT_TRUE(d["verified"].get<bool>()) << "compared byte for byte";
    EXPECT_EQ(d["sha256"], up["sha256"]);
    EXPECT_EQ(d["cid"], up["cid"]);
    EXPECT_FALSE(d["sources"].empty()) << "blocks came from peers";
  }
  EXPECT_EQ(nodes.size(), 19u);
  EXPECT_EQ(nodes.count(0), 0u) << "the uploader does not download";
  ASSERT_EQ(report["nodes"].size(), 20u);
  std::set<uint32_t> agents;
  for (auto& n : report["nodes"])
    agents.insert(n["agent"].get<uint32_t>());
  EXPECT_EQ(agents.size(), 2u) << "nodes on both agents";
  std::ifstream md(out + "/report.md");
  EXPECT_TRUE(md.good());
  EXPECT_TRUE(a.wait_exit(10s)) << "the run stops its agents";
  EXPECT_TRUE(b.wait_exit(10s));
}

TEST(SimTest, ChurnKillsDownloadersMidRunAndTheRestCompleteOnWholeStores) {
  // The leechers read at 2 MB/s (about 3 MB/s in the first second, with
  // the bucket's burst and the socket buffers), so their 8 MiB downloads,
  // started by 1 s, are under way when 30% of them are killed at 1.5 s.
  temp_dir dir{"cairn-sim-it"};
  auto keys = cluster_keys(dir, "keys");
  agent_process a{dir.file("agent-a"), keys};
  agent_process b{dir.file("agent-b"), keys};
  ASSERT_FALSE(a.address().empty()) << "agent a did not start";
  ASSERT_FALSE(b.address().empty()) << "agent b did not start";
  auto scenario = dir.file("churn.toml");
  write_text(scenario, R"(
seed = 11
time_limit = 90
[[group]]
name = "seeder"
count = 1
[[group]]
name = "leechers"
count = 9
[group.node]
max-download-rate = "2MB"
[[event]]
action = "upload"
node = 0
data = "file"
size = "8MiB"
[[event]]
at = 0.5
action = "download"
data = "file"
group = "leechers"
spread = 0.5
[[event]]
at = 1.5
action = "kill"
group = "leechers"
fraction = 0.3
down = "uniform:1s..2s"
)");
  auto out = dir.file("out");
  auto r =
    run_process({CAIRN_SIM_BIN, "run", scenario, "--agent", a.address(),
                 "--agent", b.address(), "--tls-dir", keys, "--out", out},
                {}, {}, 150s);
  EXPECT_EQ(r.code, 0) << "every download on a node that stayed up completes"
                       << r.describe();
  auto report = read_json(out + "/report.json");
  ASSERT_TRUE(report.is_object()) << "no report.json" << r.describe();
  ASSERT_EQ(report["downloads"].size(), 9u);
  auto interrupted = count_state(report, "interrupted");
  EXPECT_EQ(interrupted, 3u)
    << "30% of 9, killed mid-download" << report["downloads"].dump(1);
  EXPECT_EQ(count_state(report, "done") + interrupted, 9u)
    << report["downloads"].dump(1);
  EXPECT_TRUE(a.wait_exit(10s)) << "the run stops its agents";
  EXPECT_TRUE(b.wait_exit(10s));
  // Each restarted node reopened its store after a kill; what it had
  // committed is whole (blocks hash to their CIDs, leaves point at stored
  // blocks, counts add up).
  size_t restarted = 0;
  for (auto& n : report["nodes"]) {
    if (n["restarts"].get<uint32_t>() == 0)
      continue;
    ++restarted;
    EXPECT_TRUE(n["up"].get<bool>()) << n.dump();
    auto agent_dir = n["agent"].get<uint32_t>() == 0 ? dir.file("agent-a")
                                                     : dir.file("agent-b");
    auto store = agent_dir + "/node-" + std::to_string(n["index"].get<int>());
    auto v =
      run_process({CAIRN_NODE_BIN, "verify", "--data-dir", store}, {}, {}, 60s);
    EXPECT_EQ(v.code, 0) << store << ": " << v.describe();
  }
  EXPECT_EQ(restarted, 3u) << report["nodes"].dump(1);
}

TEST(SimTest, LosingAnAgentEndsTheRunWithinTenSecondsWithAPartialReport) {
  temp_dir dir{"cairn-sim-it"};
  auto keys = cluster_keys(dir, "keys");
  // Downloads keep starting for 40 s: the run is busy when the agent goes.
  write_text(dir.file("long.toml"), R"(
seed = 3
time_limit = 60
[[group]]
count = 8
[[event]]
action = "upload"
node = 0
data = "f"
size = "1MiB"
[[event]]
at = 1
action = "download"
data = "f"
spread = 40
)");
  agent_process a{dir.file("agent-a"), keys};
  agent_process b{dir.file("agent-b"), keys};
  ASSERT_FALSE(a.address().empty() || b.address().empty());
  auto out = dir.file("out");
  auto run = std::async(std::launch::async, [&] {
    return run_process({CAIRN_SIM_BIN, "run", dir.file("long.toml"), "--agent",
                        a.address(), "--agent", b.address(), "--tls-dir", keys,
                        "--out", out},
                       {}, {}, 90s);
  });
  std::this_thread::sleep_for(5s);
  ASSERT_EQ(run.wait_for(0s), std::future_status::timeout)
    << "the run ended before the agent was killed: " << run.get().describe();
  auto killed = std::chrono::steady_clock::now();
  b.kill9();
  auto r = run.get();
  auto took = std::chrono::steady_clock::now() - killed;
  EXPECT_EQ(r.code, 1) << r.describe();
  EXPECT_LT(took, 10s) << r.describe();
  auto lines = r.err_lines();
  ASSERT_FALSE(lines.empty()) << r.describe();
  EXPECT_NE(lines.back().find("lost agent " + b.address()), std::string::npos)
    << r.describe();
  auto report = read_json(out + "/report.json");
  ASSERT_TRUE(report.is_object()) << "a partial report" << r.describe();
  EXPECT_EQ(report["exit_code"], 1);
  EXPECT_NE(report["reason"].get<std::string>().find(b.address()),
            std::string::npos);
  EXPECT_EQ(report["uploads"].size(), 1u);
  EXPECT_TRUE(a.wait_exit(10s)) << "the surviving agent is stopped";
}

// Two network namespaces joined by a veth pair, removed by the destructor.
struct netns_pair {
  std::string a, b;
  bool ok = false;
  std::string why;

  netns_pair() {
    auto id = std::to_string(::getpid() % 100000);
    a = "cairnsim-a-" + id;
    b = "cairnsim-b-" + id;
    std::vector<std::vector<std::string>> steps = {
      {"ip", "netns", "add", a},
      {"ip", "netns", "add", b},
      {"ip", "link", "add", "csa" + id, "type", "veth", "peer", "name",
       "csb" + id},
      {"ip", "link", "set", "csa" + id, "netns", a},
      {"ip", "link", "set", "csb" + id, "netns", b},
      {"ip", "-n", a, "addr", "add", "10.77.0.1/24", "dev", "csa" + id},
      {"ip", "-n", b, "addr", "add", "10.77.0.2/24", "dev", "csb" + id},
      {"ip", "-n", a, "link", "set", "csa" + id, "up"},
      {"ip", "-n", b, "link", "set", "csb" + id, "up"},
      {"ip", "-n", a, "link", "set", "lo", "up"},
      {"ip", "-n", b, "link", "set", "lo", "up"},
    };
    for (auto& s : steps) {
      auto r = run_process(s, {}, {}, 10s);
      if (r.code != 0) {
        why = r.command + ": " + r.err;
        return;
      }
    }
    ok = true;
  }

  ~netns_pair() {
    run_process({"ip", "netns", "del", a}, {}, {}, 10s);
    run_process({"ip", "netns", "del", b}, {}, {}, 10s);
  }
};

TEST(SimTest, AgentsInTwoNetworkNamespacesSpreadADataset) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root to create network namespaces";
  netns_pair ns;
  if (!ns.ok)
    GTEST_SKIP() << "cannot create network namespaces: " << ns.why;
  temp_dir dir{"cairn-sim-it"};
  auto keys = cluster_keys(dir, "keys");
  write_text(dir.file("spread.toml"), R"(
seed = 4
time_limit = 60
[[group]]
count = 10
[[event]]
action = "upload"
node = 0
data = "f"
size = "2MiB"
[[event]]
at = 0.5
action = "download"
data = "f"
spread = 1
)");
  agent_process a{
    dir.file("agent-a"), keys, "10.77.0.1", {"ip", "netns", "exec", ns.a}};
  agent_process b{
    dir.file("agent-b"), keys, "10.77.0.2", {"ip", "netns", "exec", ns.b}};
  ASSERT_FALSE(a.address().empty() || b.address().empty());
  EXPECT_EQ(a.address().rfind("10.77.0.1:", 0), 0u) << a.address();
  auto out = dir.file("out");
  auto r =
    run_process({"ip", "netns", "exec", ns.a, CAIRN_SIM_BIN, "run",
                 dir.file("spread.toml"), "--agent", a.address(), "--agent",
                 b.address(), "--tls-dir", keys, "--out", out},
                {}, {}, 120s);
  EXPECT_EQ(r.code, 0) << r.describe();
  auto report = read_json(out + "/report.json");
  ASSERT_TRUE(report.is_object()) << r.describe();
  EXPECT_EQ(count_state(report, "done"), 9u) << report["downloads"].dump(1);
  for (auto& d : report["downloads"])
    EXPECT_TRUE(d["verified"].get<bool>());
}

TEST(SimTest, TheSameSeedGivesTheSameScheduleAndCids) {
  temp_dir dir{"cairn-sim-it"};
  write_text(dir.file("small.toml"), small_scenario);
  auto run = [&](const std::string& seed, const std::string& name) {
    auto out = dir.file(name);
    auto r = run_process({CAIRN_SIM_BIN, "run", dir.file("small.toml"),
                          "--local-agents", "1", "--seed", seed, "--out", out},
                         {}, {}, 90s);
    EXPECT_EQ(r.code, 0) << r.describe();
    return read_json(out + "/report.json");
  };
  auto first = run("9", "a");
  auto second = run("9", "b");
  auto other = run("10", "c");
  ASSERT_TRUE(first.is_object() && second.is_object() && other.is_object());
  EXPECT_EQ(first["schedule"], second["schedule"]);
  EXPECT_EQ(first["placement"], second["placement"]);
  ASSERT_EQ(first["uploads"].size(), 1u);
  EXPECT_EQ(first["uploads"][0]["cid"], second["uploads"][0]["cid"]);
  EXPECT_EQ(count_state(first, "done"), 2u) << first["downloads"].dump(1);
  EXPECT_NE(first["uploads"][0]["cid"], other["uploads"][0]["cid"])
    << "another seed, other data";
  EXPECT_NE(first["schedule"], other["schedule"]);
  size_t deletes = 0;
  for (auto& step : first["schedule"])
    if (step["kind"] == "delete") {
      ++deletes;
      EXPECT_EQ(step["after"], "downloads-done:f");
    }
  EXPECT_EQ(deletes, 2u) << "half of the four nodes drop blocks";
  double last_download_end = 0, first_delete = -1;
  for (auto& e : first["events"]) {
    if (e["what"] == "download done")
      last_download_end = std::max(last_download_end, e["at"].get<double>());
    if (first_delete < 0 &&
        (e["what"] == "deleted blocks" || e["what"] == "delete failed"))
      first_delete = e["at"];
  }
  EXPECT_GE(first_delete, last_download_end)
    << "the deletes waited for the downloads: " << first["events"].dump(1);
}

// Protect, then lose blocks, then download: each step waits for the one
// before (`after`), and the downloads get the lost blocks from parity.
const char* const repair_scenario = R"(
seed = 3
time_limit = 60
[[group]]
name = "seed"
count = 1
[[group]]
name = "rest"
count = 3
[[event]]
name = "up"
action = "upload"
node = 0
data = "f"
size = "1MiB"
[[event]]
name = "ec"
after = "event:up"
action = "protect"
data = "f"
k = 2
m = 2
[[event]]
name = "damage"
after = "event:ec"
at = 2
action = "delete"
data = "f.ec"
nodes = [0]
blocks = 0.1
[[event]]
after = "event:damage"
action = "download"
data = "f.ec"
group = "rest"
)";

TEST(SimTest, ProtectedDatasetLosesBlocksAndDownloadsAfterItCompleteByRepair) {
  temp_dir dir{"cairn-sim-it"};
  write_text(dir.file("repair.toml"), repair_scenario);
  auto out = dir.file("out");
  auto r = run_process({CAIRN_SIM_BIN, "run", dir.file("repair.toml"),
                        "--local-agents", "1", "--out", out},
                       {}, {}, 90s);
  EXPECT_EQ(r.code, 0) << r.describe();
  auto report = read_json(out + "/report.json");
  ASSERT_TRUE(report.is_object()) << "no report.json" << r.describe();
  json plain, ec;
  for (auto& u : report["uploads"])
    (u["data"] == "f" ? plain : ec) = u;
  ASSERT_EQ(report["uploads"].size(), 2u) << report["uploads"].dump(1);
  EXPECT_EQ(ec["data"], "f.ec");
  EXPECT_EQ(ec["protects"], "f");
  EXPECT_EQ(ec["k"], 2);
  EXPECT_NE(ec["cid"], plain["cid"]) << "a dataset of its own";
  EXPECT_EQ(ec["sha256"], plain["sha256"]) << "of the same bytes";
  double protected_at = -1, deleted_at = -1;
  for (auto& e : report["events"]) {
    if (e["what"] == "protected")
      protected_at = e["at"];
    if (e["what"] == "deleted blocks") {
      deleted_at = e["at"];
      EXPECT_EQ(e["node"], 0);
      EXPECT_NE(e["detail"], "f.ec: 0 blocks") << "blocks were dropped";
    }
  }
  ASSERT_GE(protected_at, 0) << report["events"].dump(1);
  ASSERT_GE(deleted_at, protected_at) << "the delete waited for the protect";
  ASSERT_EQ(report["downloads"].size(), 3u);
  uint64_t repaired = 0;
  for (auto& d : report["downloads"]) {
    EXPECT_EQ(d["state"], "done") << d.dump(1);
    EXPECT_TRUE(d["verified"].get<bool>());
    EXPECT_EQ(d["cid"], ec["cid"]);
    EXPECT_GE(d["at"].get<double>(), deleted_at)
      << "the downloads waited for the delete";
    repaired += d["blocks_repaired"].get<uint64_t>();
    uint64_t from_peers = 0;
    for (auto& src : d["sources"])
      from_peers += src["bytes"].get<uint64_t>();
    EXPECT_GT(from_peers, 0u) << "bytes per source peer";
  }
  EXPECT_GT(repaired, 0u) << "blocks nobody had were rebuilt from parity";
  for (auto& step : report["schedule"]) {
    if (step["kind"] == "download") {
      EXPECT_EQ(step["after"], "event:damage");
    }
  }
  ASSERT_EQ(report["plots"].size(), 3u) << report.dump(1);
  for (auto& p : report["plots"]) {
    std::ifstream svg(out + "/" + p.get<std::string>());
    std::string head(4, '\0');
    svg.read(head.data(), 4);
    EXPECT_EQ(head, "<svg") << p;
  }
  std::ifstream md(out + "/report.md");
  std::string text{std::istreambuf_iterator<char>(md), {}};
  EXPECT_NE(text.find("![completion-cdf.svg](completion-cdf.svg)"),
            std::string::npos);
}

// The pid of the process whose command line holds `needle`, or -1.
pid_t sim_pid_with_arg(const std::string& needle) {
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    auto name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos)
      continue;
    std::ifstream in(e.path() / "cmdline");
    std::string cmd{std::istreambuf_iterator<char>(in), {}};
    if (cmd.find(needle) != std::string::npos)
      return static_cast<pid_t>(std::stol(name));
  }
  return -1;
}

// A local agent that dies mid-run (as one a sanitizer aborts does) fails
// the run, and cairn-sim's stderr says how it ended and carries the end of
// its log: the log itself goes with the output directory.
TEST(SimTest, ALocalAgentThatDiesFailsTheRunAndItsLogEndsOnStderr) {
  temp_dir dir{"cairn-sim-it"};
  write_text(dir.file("long.toml"), R"(
seed = 3
time_limit = 60
[[group]]
count = 2
[[event]]
action = "upload"
node = 0
data = "f"
size = "256KiB"
[[event]]
at = 20
action = "download"
data = "f"
)");
  auto out = dir.file("out");
  auto run = std::async(std::launch::async, [&] {
    return run_process({CAIRN_SIM_BIN, "run", dir.file("long.toml"),
                        "--local-agents", "1", "--log-level", "debug", "--out",
                        out},
                       {}, {}, 90s);
  });
  // The run is under way once node 0 stored the upload; the download
  // waits until 20 s.
  auto agent_log = out + "/agent-0.log";
  pid_t agent = -1;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (agent < 0 && std::chrono::steady_clock::now() < deadline &&
         run.wait_for(200ms) == std::future_status::timeout) {
    std::ifstream in(agent_log);
    std::string text{std::istreambuf_iterator<char>(in), {}};
    if (text.find("stored dataset") != std::string::npos)
      agent = sim_pid_with_arg(out + "/agent-0");
  }
  ASSERT_GT(agent, 0) << "no running local agent";
  ASSERT_EQ(run.wait_for(0s), std::future_status::timeout)
    << "the run ended before the agent died: " << run.get().describe();
  ASSERT_EQ(::kill(agent, SIGABRT), 0);
  auto r = run.get();
  EXPECT_EQ(r.code, 1) << r.describe();
  EXPECT_NE(r.err.find("local agent 0 (127.0.0.1:"), std::string::npos)
    << r.describe();
  EXPECT_NE(r.err.find("was killed by signal " + std::to_string(SIGABRT)),
            std::string::npos)
    << r.describe();
  EXPECT_NE(r.err.find("the end of " + agent_log + ":\n"), std::string::npos)
    << r.describe();
  std::ifstream in(agent_log);
  std::string last;
  for (std::string line; std::getline(in, line);)
    if (!line.empty())
      last = line;
  ASSERT_FALSE(last.empty()) << "the agent logged nothing";
  EXPECT_NE(r.err.find(last), std::string::npos)
    << "the log's last line on stderr" << r.describe();
  auto report = read_json(out + "/report.json");
  ASSERT_TRUE(report.is_object()) << r.describe();
  EXPECT_EQ(report["exit_code"], 1);
}

TEST(SimTest, BadScenariosExitTwoWithOneLineNamingTheKey) {
  temp_dir dir{"cairn-sim-it"};
  struct bad_case {
    std::string text;
    std::string expect;
  };
  std::vector<bad_case> cases = {
    {"[[group]]\ncount = 2\n[[event]]\naction = \"upload\"\ndata = \"f\"\n"
     "size = 10\nsize_typo = 1\n",
     "bad.toml:7: event 'upload': unknown key 'size_typo'"},
    {"[[group]]\ncount = 2\n[[event]]\naction = \"upload\"\nnode = 2\n"
     "data = \"f\"\nsize = 10\n",
     "bad.toml:5: event 'upload': node: node 2 out of range (2 nodes)"},
    {"[[group]]\ncount = 2\n[[event]]\naction = \"upload\"\ndata = \"f\"\n"
     "size = -1\n",
     "bad.toml:6: event 'upload': size: negative size -1"},
    {"[[group]]\ncount = 2\nagent = 5\n",
     "group 'group0': agent 5 out of range (1 agents)"},
    {"[[group]]\ncount = 2\n[[event]]\naction = \"kill\"\n"
     "down = \"exp:-1s\"\n",
     "bad.toml:5: event 'kill': down: 'exp:-1s' is not a duration"},
    {"[[group]]\ncount = 2\n[[event]]\naction = \"delete\"\n"
     "data = \"f\"\nblocks = 0.5\nafter = \"event:x\"\n",
     "bad.toml:3: event 'delete': no upload or protect of 'f'"},
    {"[[group]]\ncount = 2\n[[event]]\naction = \"restart\"\n"
     "after = \"event:x\"\n",
     "bad.toml:3: event 'restart': after: no event named 'x'"},
  };
  for (auto& c : cases) {
    write_text(dir.file("bad.toml"), c.text);
    auto r = run_process({CAIRN_SIM_BIN, "run", dir.file("bad.toml"),
                          "--local-agents", "1", "--out", dir.file("out")},
                         {}, {}, 20s);
    EXPECT_EQ(r.code, 2) << r.describe();
    auto lines = r.err_lines();
    ASSERT_EQ(lines.size(), 1u) << r.describe();
    EXPECT_NE(lines[0].find(c.expect), std::string::npos) << r.describe();
  }
  auto r = run_process(
    {CAIRN_SIM_BIN, "run", dir.file("missing.toml"), "--local-agents", "1"}, {},
    {}, 20s);
  EXPECT_EQ(r.code, 2) << r.describe();
  EXPECT_EQ(r.err_lines().size(), 1u) << r.describe();
}

TEST(SimTest, CertMakesPrivateKeysOnceAndAgentsRefuseAMissingTlsDir) {
  temp_dir dir{"cairn-sim-it"};
  auto keys = cluster_keys(dir, "keys");
  for (auto name : {"key.pem", "secret"}) {
    struct stat st {};
    ASSERT_EQ(::stat((keys + "/" + name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 0077, 0u) << name << " is readable by others";
  }
  EXPECT_TRUE(std::ifstream(keys + "/ca.pem").good());
  EXPECT_TRUE(std::ifstream(keys + "/cert.pem").good());
  auto again = run_process({CAIRN_SIM_BIN, "cert", "--out", keys}, {}, {}, 20s);
  EXPECT_EQ(again.code, 1) << again.describe();
  ASSERT_EQ(again.err_lines().size(), 1u) << again.describe();
  EXPECT_NE(again.err.find("already holds"), std::string::npos)
    << again.describe();
  auto r = run_process({CAIRN_SIM_BIN, "agent", "--listen", "127.0.0.1:0",
                        "--data-dir", dir.file("agent"), "--tls-dir",
                        dir.file("nowhere")},
                       {}, {}, 20s);
  EXPECT_EQ(r.code, 2) << r.describe();
  ASSERT_EQ(r.err_lines().size(), 1u) << r.describe();
  EXPECT_NE(r.err.find("--tls-dir: cannot load the certificate"),
            std::string::npos)
    << r.describe();
}

// Both ends verify the other's certificate against their CA: a coordinator
// that trusts the agent but holds another cluster's certificate and key
// is refused by the agent's check alone (it knows the secret), one that
// trusts another CA altogether by both. The agent then serves its own
// cluster's coordinator.
TEST(SimTest, ACoordinatorWithAnotherClustersCertificateIsRefused) {
  temp_dir dir{"cairn-sim-it"};
  auto keys = cluster_keys(dir, "keys");
  auto other = cluster_keys(dir, "other");
  auto mixed = dir.file("mixed");
  std::filesystem::create_directories(mixed);
  std::filesystem::copy_file(keys + "/ca.pem", mixed + "/ca.pem");
  std::filesystem::copy_file(other + "/cert.pem", mixed + "/cert.pem");
  std::filesystem::copy_file(other + "/key.pem", mixed + "/key.pem");
  write_text(dir.file("small.toml"), small_scenario);
  agent_process a{dir.file("agent-a"), keys};
  ASSERT_FALSE(a.address().empty()) << "the agent did not start";
  for (auto& tls : {mixed, other}) {
    auto started = std::chrono::steady_clock::now();
    auto r =
      run_process({CAIRN_SIM_BIN, "run", dir.file("small.toml"), "--agent",
                   a.address(), "--tls-dir", tls, "--secret-file",
                   keys + "/secret", "--out", dir.file("out-refused")},
                  {}, {}, 60s);
    EXPECT_EQ(r.code, 1) << tls << r.describe();
    auto lines = r.err_lines();
    ASSERT_FALSE(lines.empty()) << r.describe();
    EXPECT_NE(lines[0].find("cannot reach agent " + a.address() + " over TLS"),
              std::string::npos)
      << r.describe();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);
    auto report = read_json(dir.file("out-refused") + "/report.json");
    EXPECT_EQ(report["exit_code"], 1) << report.dump();
  }
  auto r =
    run_process({CAIRN_SIM_BIN, "run", dir.file("small.toml"), "--agent",
                 a.address(), "--tls-dir", keys, "--out", dir.file("out")},
                {}, {}, 90s);
  EXPECT_EQ(r.code, 0) << r.describe();
  auto report = read_json(dir.file("out") + "/report.json");
  EXPECT_EQ(count_state(report, "done"), 2u) << report.dump(1);
  EXPECT_TRUE(a.wait_exit(10s)) << "the run stops the agent";
}

// CAF's plain middleman (a control link without TLS) gets no actor from a
// TLS agent, and the agent goes on to serve a TLS coordinator.
TEST(SimTest, APlaintextMiddlemanClientGetsNothingFromATlsAgent) {
  temp_dir dir{"cairn-sim-it"};
  auto keys = cluster_keys(dir, "keys");
  write_text(dir.file("small.toml"), small_scenario);
  agent_process a{dir.file("agent-a"), keys};
  ASSERT_FALSE(a.address().empty()) << "the agent did not start";
  auto colon = a.address().rfind(':');
  auto host = a.address().substr(0, colon);
  auto port = static_cast<uint16_t>(std::stoul(a.address().substr(colon + 1)));
  {
    caf::actor_system_config cfg;
    cfg.load<caf::io::middleman>();
    cfg.set("logger.console", caf::atom("none"));
    caf::actor_system sys{cfg};
    caf::scoped_actor self{sys};
    bool connected = false;
    caf::error err;
    self
      ->request(sys.middleman().actor_handle(), 5s, caf::connect_atom::value,
                host, port)
      .receive([&](const caf::node_id&, caf::strong_actor_ptr&,
                   const std::set<std::string>&) { connected = true; },
               [&](caf::error& e) { err = std::move(e); });
    EXPECT_FALSE(connected) << "a plaintext client reached the agent's actor";
    EXPECT_TRUE(err) << "no error for the plaintext client";
    // The agent drops the connection when the client's BASP handshake is
    // not a TLS ClientHello; a client that waited silently would time out.
    EXPECT_TRUE(err == caf::sec::disconnect_during_handshake ||
                err == caf::sec::request_timeout)
      << sys.render(err);
  }
  auto r =
    run_process({CAIRN_SIM_BIN, "run", dir.file("small.toml"), "--agent",
                 a.address(), "--tls-dir", keys, "--out", dir.file("out")},
                {}, {}, 90s);
  EXPECT_EQ(r.code, 0) << r.describe();
}

// The status of GET `path` (0 if no answer) and its body.
std::pair<int, std::string> http_get(httplib::Client& cli,
                                     const std::string& path) {
  auto res = cli.Get(path);
  if (!res)
    return {0, httplib::to_string(res.error())};
  return {res->status, res->body};
}

TEST(SimTest, EachNodesApiAndCairnctlThroughTheAgentsOneHttpServer) {
  temp_dir dir{"cairn-sim-it"};
  auto keys = cluster_keys(dir, "keys");
  // Three nodes; node 2 is killed at once. The run then waits, keeping the
  // agent's nodes up until the test ends it.
  write_text(dir.file("api.toml"), R"(
seed = 5
time_limit = 300
[[group]]
count = 3
[[event]]
action = "kill"
nodes = [2]
[[event]]
at = 250
action = "restart"
nodes = [2]
)");
  agent_process a{
    dir.file("agent"), keys, "127.0.0.1", {}, {"--api-port", "0"}};
  ASSERT_FALSE(a.address().empty()) << "the agent did not start";
  ASSERT_FALSE(a.api_address().empty()) << "no api= in the ready line";
  httplib::Client http{"http://" + a.api_address()};
  http.set_read_timeout(30, 0);
  EXPECT_EQ(http_get(http, "/nodes/0/api/codex/v1/debug/info").first, 404)
    << "no nodes before the coordinator spawns them";
  background_process run{{CAIRN_SIM_BIN, "run", dir.file("api.toml"), "--agent",
                          a.address(), "--tls-dir", keys, "--out",
                          dir.file("out")},
                         dir.file("run.log")};
  auto deadline = std::chrono::steady_clock::now() + 60s;
  auto up = [&] {
    return http_get(http, "/nodes/0/api/codex/v1/debug/info").first == 200 &&
           http_get(http, "/nodes/1/api/codex/v1/debug/info").first == 200 &&
           http_get(http, "/nodes/2/api/codex/v1/debug/info").first == 503;
  };
  while (!up() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(up()) << "nodes 0 and 1 up, node 2 killed";

  // cairnctl with a node of the agent as its --node.
  auto base = "http://" + a.api_address() + "/nodes/";
  auto status = [&](int node) {
    auto r = run_process(
      {CAIRNCTL_BIN, "status", "--node", base + std::to_string(node), "--json"},
      {}, {"CAIRN_API_TOKEN"}, 30s);
    EXPECT_EQ(r.code, 0) << r.describe();
    auto j = json::parse(r.out, nullptr, false);
    return j.is_object() ? j : json{};
  };
  auto s0 = status(0);
  auto s1 = status(1);
  ASSERT_TRUE(s0.contains("peerId") && s1.contains("peerId"));
  EXPECT_EQ(s1["node"], base + "1");
  EXPECT_EQ(s1["api"], base + "1") << "the URL the node is reached at";
  EXPECT_NE(s0["peerId"], s1["peerId"]) << "each path reaches its own node";
  auto [peer_status, peer_body] =
    http_get(http, "/nodes/1/api/codex/v1/peerid");
  EXPECT_EQ(peer_status, 200);
  EXPECT_NE(peer_body.find(s1["peerId"].get<std::string>()), std::string::npos)
    << peer_body;
  auto actors = run_process(
    {CAIRNCTL_BIN, "actors", "--node", base + "1", "--json"}, {}, {}, 30s);
  EXPECT_EQ(actors.code, 0) << actors.describe();
  for (auto name : {"engine", "local_store", "api"})
    EXPECT_NE(actors.out.find(std::string{"\""} + name + "\""),
              std::string::npos)
      << name << " in " << actors.out;

  // Data goes in through node 0 and comes out of node 1 over the nodes'
  // own session.
  auto data = random_bytes(600 * 1024 + 17, 77);
  auto posted =
    http.Post("/nodes/0/api/codex/v1/data", data, "application/octet-stream");
  ASSERT_TRUE(posted) << httplib::to_string(posted.error());
  ASSERT_EQ(posted->status, 200) << posted->body;
  auto cid = posted->body;
  auto [got_status, got] =
    http_get(http, "/nodes/1/api/codex/v1/data/" + cid + "/network/stream");
  EXPECT_EQ(got_status, 200) << got.substr(0, 200);
  EXPECT_TRUE(got == data) << "got " << got.size() << " bytes of "
                           << data.size();
  auto [local_status, local] =
    http_get(http, "/nodes/1/api/codex/v1/data/" + cid);
  EXPECT_EQ(local_status, 200) << "node 1 keeps the copy";

  auto [unknown_status, unknown] =
    http_get(http, "/nodes/99/api/codex/v1/debug/info");
  EXPECT_EQ(unknown_status, 404);
  EXPECT_EQ(unknown, "no node 99 on this agent\n");
  auto [down_status, down] = http_get(http, "/nodes/2/api/cairn/v1/peers");
  EXPECT_EQ(down_status, 503);
  EXPECT_NE(down.find("node 2 is down"), std::string::npos) << down;
  EXPECT_EQ(http_get(http, "/api/codex/v1/debug/info").first, 404);
  auto [metrics_status, metrics] = http_get(http, "/nodes/0/metrics");
  EXPECT_EQ(metrics_status, 200);
  EXPECT_NE(metrics.find("cairn_"), std::string::npos);
}

TEST(SimTest, EachNodeLogsAtItsGroupsLevelTaggedWithItsIndex) {
  temp_dir dir{"cairn-sim-it"};
  // Node 0 logs at debug; nodes 1 and 2 at the agent's level (warn), though
  // their downloads log at info and debug (peers connected, providers
  // looked for).
  write_text(dir.file("levels.toml"), R"(
seed = 2
time_limit = 60
[[group]]
name = "loud"
count = 1
[group.node]
log-level = "debug"
[[group]]
name = "quiet"
count = 2
[[event]]
action = "upload"
node = 0
data = "f"
size = "256KiB"
[[event]]
at = 1
action = "download"
data = "f"
group = "quiet"
)");
  auto out = dir.file("out");
  auto r =
    run_process({CAIRN_SIM_BIN, "run", dir.file("levels.toml"),
                 "--local-agents", "1", "--log-level", "warn", "--out", out},
                {}, {}, 90s);
  ASSERT_EQ(r.code, 0) << r.describe();
  std::ifstream log(out + "/agent-0.log");
  ASSERT_TRUE(log.good()) << "no agent log";
  size_t loud_debug = 0;
  size_t loud_info = 0;
  std::vector<std::string> too_verbose;
  for (std::string line; std::getline(log, line);) {
    bool debug = line.find(" debug ") != std::string::npos;
    bool info = line.find(" info ") != std::string::npos;
    if (line.find("node 0: ") != std::string::npos) {
      loud_debug += debug;
      loud_info += info;
    } else if ((line.find("node 1: ") != std::string::npos ||
                line.find("node 2: ") != std::string::npos) &&
               (debug || info)) {
      too_verbose.push_back(line);
    }
  }
  EXPECT_GT(loud_debug, 0u) << "node 0 logs at debug";
  EXPECT_GT(loud_info, 0u);
  EXPECT_TRUE(too_verbose.empty())
    << too_verbose.size() << " lines below warn, e.g. " << too_verbose[0];
}

} // namespace
