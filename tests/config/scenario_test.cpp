// Scenario files of cairn-sim: what parses, the one-line reasons for what
// does not (naming the line and the key), and a schedule that depends only
// on the scenario and the seed.

#include <chrono>
#include <fstream>
#include <vector>

#include <gtest/gtest.h>

#include "config/options.hpp"
#include "config/scenario.hpp"
#include "test_helpers.hpp"

using namespace cairn::config;

namespace {

const char* base = R"(seed = 5
time_limit = 30

[[group]]
name = "seed"
count = 1

[[group]]
name = "rest"
count = 9
[group.node]
max-peers = 12
storage-quota = "64MiB"
)";

class ScenarioTest : public ::testing::Test {
protected:
  std::optional<scenario> parse(const std::string& text) {
    auto path = dir_.file("s.toml");
    std::ofstream(path) << text;
    why_.clear();
    return parse_scenario(path, why_);
  }

  cairn::test::temp_dir dir_{"cairn-scenario"};
  std::string why_;
};

TEST_F(ScenarioTest, ParsesGroupsEventsAndNodeSettings) {
  auto s = parse(std::string{base} + R"(
[[event]]
at = 0
action = "upload"
node = 0
data = "f"
size = "1MiB"

[[event]]
at = 1.5
action = "download"
data = "f"
spread = 2
)");
  ASSERT_TRUE(s) << why_;
  EXPECT_EQ(s->seed, 5u);
  EXPECT_EQ(s->node_count(), 10u);
  EXPECT_EQ(s->groups[1].first, 1u);
  EXPECT_EQ(
    s->groups[1].node_flags,
    (std::vector<std::string>{"--max-peers=12", "--storage-quota=64MiB"}));
  auto steps = expand(*s, s->seed);
  ASSERT_EQ(steps.size(), 10u) << "one upload, nine downloads";
  EXPECT_EQ(steps[0].kind, event_kind::upload);
  EXPECT_EQ(steps[0].size, 1u << 20);
  for (size_t i = 1; i < steps.size(); ++i) {
    EXPECT_NE(steps[i].node, 0u) << "the uploader does not download";
    EXPECT_GE(steps[i].at, 1.5);
    EXPECT_LE(steps[i].at, 3.5);
    EXPECT_EQ(steps[i].data_seed, steps[0].data_seed);
  }
}

TEST_F(ScenarioTest, TheSameSeedGivesTheSameScheduleAnotherSeedAnother) {
  auto s = parse(std::string{base} + R"(
[[event]]
action = "upload"
data = "f"
size = 1000
[[event]]
action = "download"
data = "f"
fraction = 0.5
spread = 3
[[event]]
at = 2
action = "kill"
group = "rest"
fraction = 0.3
restart_after = 1
)");
  ASSERT_TRUE(s) << why_;
  auto key = [](const std::vector<sim_step>& xs) {
    std::string out;
    for (auto& x : xs)
      out += std::to_string(static_cast<int>(x.kind)) + ":" +
             std::to_string(x.node) + "@" + std::to_string(x.at) + "/" +
             std::to_string(x.data_seed) + " ";
    return out;
  };
  auto a = expand(*s, 11);
  EXPECT_EQ(key(a), key(expand(*s, 11)));
  EXPECT_NE(key(a), key(expand(*s, 12)));
  size_t downloads = 0, kills = 0, restarts = 0;
  for (auto& x : a) {
    downloads += x.kind == event_kind::download;
    kills += x.kind == event_kind::kill;
    restarts += x.kind == event_kind::restart;
  }
  EXPECT_EQ(downloads, 5u) << "half of the nine others";
  EXPECT_EQ(kills, 3u) << "30% of the group of nine";
  EXPECT_EQ(restarts, 3u);
}

TEST_F(ScenarioTest, BadScenariosGiveOneLineNamingTheLineAndTheKey) {
  struct bad_case {
    std::string text;
    std::string expect;
  };
  std::vector<bad_case> cases = {
    {std::string{base} + "\n[[event]]\naction = \"upload\"\ndata = \"f\"\n"
                         "sise = 10\n",
     "s.toml:18: event 'upload': unknown key 'sise'"},
    {std::string{base} + "\n[[event]]\naction = \"upload\"\ndata = \"f\"\n"
                         "size = -5\n",
     "s.toml:18: event 'upload': size: negative size -5"},
    {std::string{base} + "\n[[event]]\naction = \"upload\"\nnode = 10\n"
                         "data = \"f\"\nsize = 5\n",
     "s.toml:17: event 'upload': node: node 10 out of range (10 nodes)"},
    {std::string{base} + "\n[[event]]\naction = \"download\"\ndata = \"g\"\n",
     "s.toml:15: event 'download': no upload of 'g'"},
    {"seed = 1\nwhatever = 2\n[[group]]\ncount = 1\n",
     "s.toml:2: scenario: unknown key 'whatever'"},
    {"[[group]]\ncount = 1\n[group.node]\napi-port = 5\n",
     "s.toml:4: group 'group0': node: unknown or unsettable key 'api-port'"},
    {"[[group]]\ncount = 1\n[group.node]\nmax-peers = \"many\"\n",
     "s.toml:4: group 'group0': node.max-peers: "},
    {"seed = 1\n", "scenario: needs at least one [[group]]"},
    {"[[group]]\ncount = 2\n[bootstrap]\nnode = 2\n",
     "s.toml:4: bootstrap.node: node 2 out of range (2 nodes)"},
    {"[[group]\n", "s.toml:1: "},
  };
  for (auto& c : cases) {
    EXPECT_FALSE(parse(c.text)) << c.text;
    EXPECT_EQ(why_.find('\n'), std::string::npos) << why_;
    EXPECT_NE(why_.find("s.toml:"), std::string::npos) << why_;
    EXPECT_NE(why_.find(c.expect), std::string::npos)
      << "got: " << why_ << "\nwant: " << c.expect;
  }
}

TEST_F(ScenarioTest, GroupsPinnedToAnAgentStayThereOthersGoRoundRobin) {
  auto s = parse(R"(
[[group]]
count = 2
agent = 1
[[group]]
count = 4
)");
  ASSERT_TRUE(s) << why_;
  EXPECT_EQ(placement(*s, 0, 3), 1u);
  EXPECT_EQ(placement(*s, 1, 3), 1u);
  EXPECT_EQ(placement(*s, 2, 3), 2u);
  EXPECT_EQ(placement(*s, 3, 3), 0u);
  EXPECT_EQ(placement(*s, 5, 3), 2u);
}

} // namespace

TEST_F(ScenarioTest, LatencyExampleGivesEachGroupItsLinkLatency) {
  std::string why;
  auto s = parse_scenario(
    std::string{CAIRN_SOURCE_DIR} + "/config/scenarios/latency.toml", why);
  ASSERT_TRUE(s) << why;
  std::vector<std::chrono::milliseconds> latencies;
  for (auto& g : s->groups) {
    auto o = parse_node_flags(g.node_flags, why);
    ASSERT_TRUE(o) << g.name << ": " << why;
    latencies.push_back(o->link_latency);
  }
  using std::chrono::milliseconds;
  EXPECT_EQ(latencies, (std::vector<milliseconds>{
                         milliseconds{10}, milliseconds{5}, milliseconds{100}}));
}

TEST_F(ScenarioTest, BadLinkLatencyIsRefusedWithItsKey) {
  auto s = parse(R"(seed = 5
[[group]]
name = "far"
count = 2
[group.node]
link-latency = "50"
)");
  EXPECT_FALSE(s);
  EXPECT_NE(why_.find("link-latency"), std::string::npos) << why_;
}
