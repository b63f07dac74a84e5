// Scenario files of cairn-sim: what parses, the one-line reasons for what
// does not (naming the line and the key), and a schedule that depends only
// on the scenario and the seed.

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <set>
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
[[event]]
at = 1
action = "churn"
group = "rest"
fraction = 0.5
up = "exp:3s"
down = "uniform:1s..2s"
duration = 20
[[event]]
after = "downloads-done:f"
action = "delete"
data = "f"
fraction = 0.5
blocks = 0.25
)");
  ASSERT_TRUE(s) << why_;
  auto key = [](const std::vector<sim_step>& xs) {
    std::string out;
    for (auto& x : xs)
      out += std::to_string(static_cast<int>(x.kind)) + ":" +
             std::to_string(x.node) + "@" + std::to_string(x.at) + "/" +
             std::to_string(x.data_seed) + "/" + std::to_string(x.pick_seed) +
             " ";
    return out;
  };
  auto a = expand(*s, 11);
  EXPECT_EQ(key(a), key(expand(*s, 11)));
  EXPECT_NE(key(a), key(expand(*s, 12)));
  size_t downloads = 0, kills = 0, restarts = 0, deletes = 0;
  for (auto& x : a) {
    downloads += x.kind == event_kind::download;
    kills += x.event == 2 && x.kind == event_kind::kill;
    restarts += x.event == 2 && x.kind == event_kind::restart;
    deletes += x.kind == event_kind::del;
  }
  EXPECT_EQ(downloads, 5u) << "half of the nine others";
  EXPECT_EQ(kills, 3u) << "30% of the group of nine";
  EXPECT_EQ(restarts, 3u);
  EXPECT_EQ(deletes, 5u) << "half of the ten nodes";
}

TEST_F(ScenarioTest, ProtectDeleteAndConditionsExpandIntoSteps) {
  auto s = parse(std::string{base} + R"(
[[event]]
name = "up"
action = "upload"
data = "f"
size = "1MiB"
[[event]]
after = "event:up"
at = 0.5
action = "protect"
data = "f"
k = 4
m = 2
[[event]]
after = "event:up"
name = "damage"
action = "delete"
data = "f"
nodes = [0]
blocks = 0.25
[[event]]
after = "event:damage"
action = "download"
data = "f.ec"
nodes = [3, 4]
)");
  ASSERT_TRUE(s) << why_;
  ASSERT_EQ(s->events.size(), 4u);
  EXPECT_EQ(s->events[1].as, "f.ec") << "the default name of a protected set";
  EXPECT_EQ(s->events[1].after.kind, event_condition::what::event_done);
  EXPECT_EQ(to_string(s->events[3].after), "event:damage");
  auto steps = expand(*s, 3);
  ASSERT_EQ(steps.size(), 5u);
  std::map<event_kind, std::vector<sim_step>> by;
  for (auto& x : steps)
    by[x.kind].push_back(x);
  ASSERT_EQ(by[event_kind::protect].size(), 1u);
  auto& p = by[event_kind::protect][0];
  EXPECT_EQ(p.node, 0u) << "on the uploader by default";
  EXPECT_EQ(p.as, "f.ec");
  EXPECT_EQ(p.k, 4u);
  EXPECT_EQ(p.m, 2u);
  EXPECT_EQ(p.at, 0.5) << "seconds after its condition";
  EXPECT_EQ(p.data_seed, by[event_kind::upload][0].data_seed);
  ASSERT_EQ(by[event_kind::del].size(), 1u);
  EXPECT_EQ(by[event_kind::del][0].blocks, 0.25);
  ASSERT_EQ(by[event_kind::download].size(), 2u);
  EXPECT_EQ(by[event_kind::download][0].data, "f.ec");
  EXPECT_EQ(by[event_kind::download][0].size, 1u << 20);
}

TEST_F(ScenarioTest, ChurnAlternatesKillsAndRestartsWithinItsDuration) {
  auto s = parse(std::string{base} + R"(
[[event]]
at = 2
action = "churn"
group = "rest"
up = "uniform:1s..3s"
down = "500ms"
duration = 30
)");
  ASSERT_TRUE(s) << why_;
  auto& e = s->events[0];
  EXPECT_EQ(e.up->kind, duration_dist::shape::uniform);
  EXPECT_EQ(e.up->a, 1);
  EXPECT_EQ(e.up->b, 3);
  EXPECT_EQ(e.down->kind, duration_dist::shape::fixed);
  EXPECT_DOUBLE_EQ(e.down->a, 0.5);
  std::map<uint32_t, std::vector<sim_step>> per_node;
  for (auto& x : expand(*s, 9))
    per_node[x.node].push_back(x);
  EXPECT_EQ(per_node.size(), 9u) << "every node of the group churns";
  for (auto& [node, xs] : per_node) {
    ASSERT_GE(xs.size(), 2u * 7) << "about ten 2.5 s cycles in 30 s";
    ASSERT_EQ(xs.size() % 2, 0u) << "each kill has its restart";
    for (size_t i = 0; i < xs.size(); ++i) {
      EXPECT_EQ(xs[i].kind,
                i % 2 == 0 ? event_kind::kill : event_kind::restart);
      if (i % 2 == 1) {
        EXPECT_NEAR(xs[i].at - xs[i - 1].at, 0.5, 1e-9);
      } else {
        EXPECT_LT(xs[i].at, 32.0);
        EXPECT_GE(xs[i].at - (i == 0 ? 2.0 : xs[i - 1].at), 1.0);
        EXPECT_LE(xs[i].at - (i == 0 ? 2.0 : xs[i - 1].at), 3.0);
      }
    }
  }
}

TEST_F(ScenarioTest, PickBlocksIsASeededSubsetOfTheAskedSize) {
  auto a = pick_blocks(100, 0.3, 42);
  ASSERT_EQ(a.size(), 30u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::set<uint64_t>(a.begin(), a.end()).size(), 30u);
  EXPECT_LT(a.back(), 100u);
  EXPECT_EQ(a, pick_blocks(100, 0.3, 42));
  EXPECT_NE(a, pick_blocks(100, 0.3, 43));
  EXPECT_EQ(pick_blocks(7, 1.0, 1).size(), 7u);
  EXPECT_TRUE(pick_blocks(7, 0.0, 1).empty());
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
     "s.toml:15: event 'download': no upload or protect of 'g'"},
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
    {std::string{base} + "\n[[event]]\naction = \"protect\"\ndata = \"g\"\n"
                         "k = 4\nm = 2\n",
     "s.toml:15: event 'protect': no upload of 'g'"},
    {std::string{base} + "\n[[event]]\naction = \"upload\"\ndata = \"f\"\n"
                         "size = 5\n[[event]]\naction = \"protect\"\n"
                         "data = \"f\"\nk = 0\nm = 2\n",
     "s.toml:22: event 'protect': k must be 1..255"},
    {std::string{base} + "\n[[event]]\naction = \"delete\"\ndata = \"f\"\n"
                         "blocks = 1.5\n",
     "s.toml:18: event 'delete': blocks must be a fraction within 0..1"},
    {std::string{base} + "\n[[event]]\naction = \"kill\"\n"
                         "down = \"poisson:3s\"\n",
     "s.toml:17: event 'kill': down: 'poisson:3s' is not a duration"},
    {std::string{base} + "\n[[event]]\naction = \"churn\"\nup = \"exp:2s\"\n"
                         "down = \"uniform:5s..1s\"\nduration = 9\n",
     "s.toml:18: event 'churn': down: 'uniform:5s..1s' is not a duration"},
    {std::string{base} + "\n[[event]]\naction = \"churn\"\nup = \"exp:2s\"\n"
                         "down = 1\n",
     "s.toml:15: event 'churn': missing key 'duration'"},
    {std::string{base} + "\n[[event]]\naction = \"restart\"\n"
                         "after = \"event:nope\"\n",
     "s.toml:15: event 'restart': after: no event named 'nope'"},
    {std::string{base} + "\n[[event]]\naction = \"restart\"\n"
                         "after = \"when:ready\"\n",
     "s.toml:17: event 'restart': after: 'when:ready' is not a condition"},
    {std::string{base} + "\n[[event]]\nname = \"a\"\naction = \"restart\"\n"
                         "after = \"event:b\"\n[[event]]\nname = \"b\"\n"
                         "action = \"kill\"\nafter = \"event:a\"\n",
     "event 'kill': after: 'event:a' waits for itself"},
    {std::string{base} + "\n[[event]]\naction = \"upload\"\ndata = \"f\"\n"
                         "size = 5\nk = 3\n",
     "s.toml:19: event 'upload': unknown key 'k'"},
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

TEST_F(ScenarioTest, GroupsSetRateLimitsAndBadOnesNameTheKey) {
  auto s = parse(R"(
[[group]]
count = 2
[group.node]
max-upload-rate = "50MB"
max-download-rate = "10MiB"
)");
  ASSERT_TRUE(s) << why_;
  EXPECT_EQ(s->groups[0].node_flags,
            (std::vector<std::string>{"--max-download-rate=10MiB",
                                      "--max-upload-rate=50MB"}));
  EXPECT_FALSE(parse("[[group]]\ncount = 1\n[group.node]\n"
                     "max-upload-rate = \"fast\"\n"));
  EXPECT_NE(why_.find("s.toml:4: group 'group0': node.max-upload-rate: "),
            std::string::npos)
    << why_;
}

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
  EXPECT_EQ(latencies,
            (std::vector<milliseconds>{milliseconds{10}, milliseconds{5},
                                       milliseconds{100}}));
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
