// Operator inspection over HTTP, without cairnctl: the Prometheus endpoint
// (`--metrics`) parsed line by line and checked for every documented name,
// the token rule of the endpoints that change state, what survives restarts
// of the inspector and the API, the ready line, and the one-line reason of
// a busy port.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/api_helpers.hpp"
#include "tests/integration/loopback.hpp"
#include "tests/integration/metrics_helpers.hpp"
#include "tests/integration/net_helpers.hpp"
#include "tests/integration/node_process.hpp"

namespace {

using namespace cairn::test;

// POST /api/cairn/v1/actors/{name}/{action}; the status, or -1.
int post_action(const test_node& n, const std::string& name,
                const std::string& action) {
  auto cli = n.proc.client();
  auto r =
    cli.Post("/api/cairn/v1/actors/" + name + "/" + action, "", "text/plain");
  return r ? r->status : -1;
}

// Polls `pred` every 100 ms until it holds or `timeout` passes.
// A socket of `type` bound (and for TCP listening) on 127.0.0.1 at a port
// the OS picks; closed by the destructor.
class busy_port {
public:
  explicit busy_port(int type) {
    fd_ = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    if (type == SOCK_STREAM)
      ::listen(fd_, 4);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }

  ~busy_port() { ::close(fd_); }

  busy_port(const busy_port&) = delete;
  busy_port& operator=(const busy_port&) = delete;

  std::string port() const { return std::to_string(port_); }

private:
  int fd_ = -1;
  int port_ = 0;
};

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
       {"cairn_block_exchange_peers",
        "cairn_block_exchange_pending_blocks",
        "cairn_block_exchange_blocks_received_total",
        "cairn_block_exchange_blocks_sent_total",
        "cairn_block_exchange_bytes_received_total",
        "cairn_block_exchange_bytes_sent_total",
        "cairn_block_exchange_bad_blocks_total",
        "cairn_block_exchange_want_haves_sent_total",
        "cairn_block_exchange_want_blocks_sent_total",
        "cairn_block_exchange_peers_evicted_total",
        "cairn_block_exchange_redials_total",
        "cairn_repostore_blocks",
        "cairn_repostore_bytes_used",
        "cairn_repostore_bytes_quota",
        "cairn_api_uploads_total",
        "cairn_api_downloads_total",
        "cairn_actors",
        "cairn_process_rss_anon_bytes",
        "cairn_process_rss_file_bytes",
        "cairn_block_buffers_idle_bytes",
        "cairn_dht_contacts",
        "cairn_peer_connections_accepted_total",
        "cairn_peer_accept_pauses_total",
        "cairn_peer_handshakes_pending",
        "cairn_peer_handshakes_refused_total",
        "cairn_peer_accept_paused",
        "cairn_process_open_fds",
        "cairn_process_max_fds",
        "cairn_dht_datagrams_received_total",
        "cairn_dht_datagrams_sent_total",
        "cairn_dht_datagrams_dropped_total{reason=\"rate_limit\"}",
        "cairn_dht_datagrams_dropped_total{reason=\"backlog\"}",
        "cairn_dht_datagrams_dropped_total{reason=\"unsolicited\"}",
        "cairn_dht_datagrams_dropped_total{reason=\"malformed\"}"}) {
    auto family = std::string{name}.substr(0, std::string{name}.find('{'));
    EXPECT_EQ(s.samples.count(name), 1u) << name << "\n" << res->body;
    EXPECT_EQ(s.types.count(family), 1u) << name;
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
  // Read from /proc/self/status: the heap and the mapped binary at least.
  EXPECT_GT(s.samples["cairn_process_rss_anon_bytes"], 1 << 20);
  EXPECT_GT(s.samples["cairn_process_rss_file_bytes"], 1 << 20);
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

TEST(InspectionTest, InspectorRestartKeepsTheRestartMetric) {
  test_node n{{"--metrics", "--metrics-port", "0", "--enable-fault-injection"}};
  ASSERT_TRUE(n.proc.start());
  const std::string maint = "cairn_actor_restarts_total{actor=\"maintenance\"}";
  const std::string insp = "cairn_actor_restarts_total{actor=\"inspector\"}";
  ASSERT_EQ(post_action(n, "maintenance", "crash"), 200);
  scrape s;
  ASSERT_TRUE(eventually(
    [&] {
      s = scrape{};
      return scrape_metrics(n, &s) && s.samples[maint] == 1;
    },
    std::chrono::seconds{5}));
  ASSERT_EQ(post_action(n, "inspector", "restart"), 200);
  EXPECT_TRUE(eventually(
    [&] {
      s = scrape{};
      return scrape_metrics(n, &s) && s.samples[insp] == 1;
    },
    std::chrono::seconds{5}))
    << insp << " = " << s.samples[insp];
  EXPECT_EQ(s.samples[maint], 1);
}

TEST(InspectionTest, ApiRestartKeepsTheNodesUptime) {
  test_node n;
  ASSERT_TRUE(n.proc.start());
  std::this_thread::sleep_for(std::chrono::milliseconds{2200});
  ASSERT_EQ(post_action(n, "api", "restart"), 200);
  // The new api answers once it counts its own restart.
  ASSERT_TRUE(eventually(
    [&] {
      auto cli = n.proc.client();
      auto r = cli.Get("/api/cairn/v1/actors");
      if (!r || r->status != 200)
        return false;
      auto actors = json::parse(r->body, nullptr, false);
      if (!actors.is_object() || !actors["actors"].is_array())
        return false;
      for (auto& a : actors["actors"])
        if (a.value("name", "") == "api")
          return a.value("restarts", 0) == 1;
      return false;
    },
    std::chrono::seconds{10}));
  auto cli = n.proc.client();
  json info;
  ASSERT_TRUE(get_json(cli, api("/debug/info"), &info));
  ASSERT_TRUE(info["cairn"]["uptimeSeconds"].is_number()) << info.dump();
  EXPECT_GE(info["cairn"]["uptimeSeconds"].get<double>(), 2) << info.dump();
}

TEST(InspectionTest, ReadyLineNamesTheMetricsUrl) {
  test_node n{{"--metrics", "--metrics-port", "0"}};
  ASSERT_TRUE(n.proc.start());
  auto url = metrics_url(n);
  ASSERT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << url;
  auto out = n.proc.stdout_text();
  auto ready = out.substr(0, out.find('\n'));
  EXPECT_EQ(ready, "cairn-node ready api=" + n.url() +
                     " peer-id=" + n.proc.peer_id() + " metrics=" + url)
    << out;
  test_node plain;
  ASSERT_TRUE(plain.proc.start());
  EXPECT_EQ(plain.proc.stdout_text().find("metrics="), std::string::npos);
}

TEST(InspectionTest, BusyPortIsOneLineNamingThePort) {
  struct busy_case {
    int type;
    std::string flag;
    std::string reason;
  };
  for (auto& c : std::vector<busy_case>{
         {SOCK_STREAM, "--listen-port", "cannot listen for peers on"},
         {SOCK_DGRAM, "--disc-port", "cannot bind the DHT to"},
         {SOCK_STREAM, "--api-port", "cannot bind the API to"},
         {SOCK_STREAM, "--metrics-port",
          "cannot bind the metrics endpoint to"}}) {
    busy_port taken(c.type);
    temp_dir dir("cairn-busy");
    std::vector<std::string> args{"--data-dir",
                                  dir.file("data"),
                                  "--api-bindaddr",
                                  "127.0.0.1",
                                  "--api-port",
                                  "0",
                                  "--listen-ip",
                                  "127.0.0.1",
                                  "--listen-port",
                                  "0",
                                  "--disc-port",
                                  "0",
                                  "--metrics",
                                  "--metrics-address",
                                  "127.0.0.1",
                                  "--metrics-port",
                                  "0"};
    for (size_t i = 0; i < args.size(); ++i)
      if (args[i] == c.flag)
        args[i + 1] = taken.port();
    node_process proc(args, dir.file("stderr.log"));
    auto status = proc.run_until_exit();
    ASSERT_TRUE(status) << c.flag << " did not stop the node"
                        << proc.diagnostics();
    EXPECT_EQ(status->code, 1) << proc.diagnostics();
    EXPECT_FALSE(proc.saw_ready_line()) << proc.diagnostics();
    EXPECT_EQ(proc.stderr_text(), "cairn-node: unavailable: " + c.reason +
                                    " 127.0.0.1:" + taken.port() + " (" +
                                    c.flag + "): address in use\n")
      << proc.diagnostics();
  }
}
