// Operator inspection over HTTP, without cairnctl: the Prometheus endpoint
// (`--metrics`) parsed line by line and checked for every documented name,
// and the token rule of the endpoints that change state.

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/api_helpers.hpp"
#include "tests/integration/net_helpers.hpp"
#include "tests/integration/node_process.hpp"

namespace {

using namespace cairn::test;

// Prometheus text: metric (with labels) -> value, and name -> type.
struct scrape {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
};

::testing::AssertionResult parse_metrics(const std::string& text, scrape* out) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty())
      continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      if (type != "gauge" && type != "counter")
        return ::testing::AssertionFailure() << "bad TYPE line: " << line;
      out->types[name] = type;
      continue;
    }
    if (line[0] == '#')
      continue;
    auto sp = line.rfind(' ');
    if (sp == std::string::npos)
      return ::testing::AssertionFailure() << "no value: " << line;
    try {
      size_t used = 0;
      auto v = std::stod(line.substr(sp + 1), &used);
      if (used != line.size() - sp - 1)
        throw std::invalid_argument("trailing");
      out->samples[line.substr(0, sp)] = v;
    } catch (const std::exception&) {
      return ::testing::AssertionFailure() << "bad value: " << line;
    }
  }
  return ::testing::AssertionSuccess();
}

std::string metrics_url(const test_node& n) {
  auto cli = n.proc.client();
  json info;
  EXPECT_TRUE(get_json(cli, api("/debug/info"), &info));
  auto m = info["cairn"]["metrics"];
  return m.is_string() ? m.get<std::string>() : std::string{};
}

} // namespace

TEST(InspectionTest, MetricsEndpointServesEveryDocumentedName) {
  test_node n{{"--metrics", "--metrics-port", "0"}};
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  std::string cid;
  ASSERT_TRUE(upload(cli, random_bytes(300000, 3), &cid));
  auto url = metrics_url(n);
  ASSERT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << url;
  auto host_port = url.substr(7, url.find("/metrics") - 7);
  httplib::Client mc(host_port.substr(0, host_port.find(':')),
                     std::stoi(host_port.substr(host_port.find(':') + 1)));
  auto res = mc.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type").rfind("text/plain", 0), 0u);
  scrape s;
  ASSERT_TRUE(parse_metrics(res->body, &s)) << res->body;
  for (auto name :
       {"cairn_block_exchange_peers", "cairn_block_exchange_pending_blocks",
        "cairn_block_exchange_blocks_received_total",
        "cairn_block_exchange_blocks_sent_total",
        "cairn_block_exchange_bytes_received_total",
        "cairn_block_exchange_bytes_sent_total",
        "cairn_block_exchange_bad_blocks_total", "cairn_repostore_blocks",
        "cairn_repostore_bytes_used", "cairn_repostore_bytes_quota",
        "cairn_api_uploads_total", "cairn_api_downloads_total",
        "cairn_actors"}) {
    EXPECT_EQ(s.samples.count(name), 1u) << name << "\n" << res->body;
    EXPECT_EQ(s.types.count(name), 1u) << name;
  }
  for (auto name :
       {"cairn_actor_mailbox", "cairn_actor_processed_total",
        "cairn_actor_busy_seconds_total", "cairn_actor_restarts_total"}) {
    EXPECT_EQ(s.types.count(name), 1u) << name;
    for (auto actor : {"engine", "local_store", "network_store", "api",
                       "discovery", "node_supervisor", "inspector"})
      EXPECT_EQ(
        s.samples.count(std::string{name} + "{actor=\"" + actor + "\"}"), 1u)
        << name << " of " << actor << "\n"
        << res->body;
  }
  EXPECT_EQ(s.samples["cairn_api_uploads_total"], 1);
  EXPECT_GE(s.samples["cairn_repostore_blocks"], 6); // 5 blocks + manifest
  EXPECT_EQ(s.samples["cairn_repostore_bytes_quota"], 1024.0 * 1024 * 1024);
  EXPECT_GE(s.samples["cairn_actors"], 10);
  EXPECT_GT(s.samples["cairn_actor_processed_total{actor=\"local_store\"}"], 0);
}

TEST(InspectionTest, WithoutMetricsDebugInfoSaysSo) {
  test_node n;
  ASSERT_TRUE(n.proc.start());
  EXPECT_EQ(metrics_url(n), "");
}

TEST(InspectionTest, ApiTokenIsCheckedWhenPresented) {
  test_node n{{"--api-token", "s3cret"}};
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  auto post = [&](const std::string& auth) {
    httplib::Headers h;
    if (!auth.empty())
      h.emplace("Authorization", auth);
    auto r =
      cli.Post("/api/cairn/v1/actors/maintenance/restart", h, "", "text/plain");
    return r ? r->status : -1;
  };
  EXPECT_EQ(post("Bearer wrong"), 403);
  EXPECT_EQ(post("Bearer s3cret"), 200);
  // A loopback client without a token is trusted.
  EXPECT_EQ(post(""), 200);
  // Restarts in a row: each is answered by the supervisor, also while the
  // inspector has not heard of the previous restart's new actor yet; and
  // restarts an operator asks for do not use up the restart budget (5 in
  // 10 s), which would stop the node.
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(post(""), 200) << "restart " << i;
  EXPECT_EQ(
    cli.Post("/api/cairn/v1/actors/nobody/restart", "", "text/plain")->status,
    404);
}
