// Fault injection across a small network of real `cairn-node` processes: a
// seeder S, two downloaders that copy its datasets first, and a downloader D
// started with --enable-fault-injection. While D streams two 24 MiB datasets
// (throttled by the test, so they are still running), `cairnctl crash`
// kills one actor of every kind on D, one at a time: each time the node must
// serve again within 2 s, every download must end (whole and correct, or
// with a clear error that /downloads reports), none may hang, and at the end
// the supervisor's counters and a fresh download show the node healed.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/net_helpers.hpp"
#include "tests/integration/subprocess.hpp"

#ifndef CAIRNCTL_BIN
#error "CAIRNCTL_BIN must be defined (path of the cairnctl binary)"
#endif

extern char** environ;

namespace {

using namespace cairn::test;
using namespace std::chrono_literals;

// -- cairnctl as a subprocess -------------------------------------------------

/// Runs `cairnctl args...`; killed after 30 s.
run_result ctl(const temp_dir&, const std::vector<std::string>& args) {
  std::vector<std::string> argv{CAIRNCTL_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, {}, {}, 30s);
}

// -- looking at D -------------------------------------------------------------

/// The actor named `name` in a list of actor objects, or an empty object.
json find_actor(const json& list, const std::string& name) {
  if (list.is_array())
    for (auto& a : list)
      if (a.is_object() && a.value("name", "") == name)
        return a;
  return json::object();
}

/// GET `path` with short timeouts (the node may be restarting its API).
httplib::Result quick_get(const node_process& n, const std::string& path) {
  httplib::Client cli(n.host(), n.port());
  cli.set_connection_timeout(0, 300000);
  cli.set_read_timeout(2, 0);
  return cli.Get(path);
}

/// The actor objects of GET /api/cairn/v1/actors, or null if unavailable.
json actors_now(const node_process& n) {
  auto res = quick_get(n, "/api/cairn/v1/actors");
  if (!res || res->status != 200)
    return nullptr;
  auto j = json::parse(res->body, nullptr, false);
  if (j.is_discarded() || !j.contains("actors"))
    return nullptr;
  return j["actors"];
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// Ends the test (fatal) if the node process has exited.
::testing::AssertionResult still_running(node_process& n) {
  if (auto st = n.wait_exit(0ms))
    return ::testing::AssertionFailure()
           << "the node exited (" << st->to_string() << "); stderr tail:\n"
           << n.stderr_tail(6000);
  return ::testing::AssertionSuccess();
}

// -- throttled downloads in threads -------------------------------------------

/// One /network/stream GET on D in its own thread, read at most at `rate`
/// bytes a second, its body hashed, not stored. `cancel()` (from the test's
/// thread) ends a download that hangs.
struct download {
  std::string label;
  std::string cid;
  const std::string* data = nullptr;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> bytes{0};
  stream_result result; // valid once done
  std::unique_ptr<httplib::Client> cli;
  std::thread thread;

  void start(const std::string& host, int port, double rate) {
    cli = std::make_unique<httplib::Client>(host, port);
    cli->set_connection_timeout(5, 0);
    cli->set_read_timeout(150, 0); // the test's deadline comes first
    thread = std::thread([this, rate] {
      sha256_stream sha;
      auto t0 = steady::now();
      auto next = t0;
      auto res = cli->Get(
        api("/data/" + cid + "/network/stream"), httplib::Headers{},
        [&](const httplib::Response& r) {
          result.status = r.status;
          result.content_length = r.get_header_value("Content-Length");
          return true;
        },
        [&](const char* p, std::size_t n) {
          sha.update(p, n);
          result.bytes += n;
          bytes = result.bytes;
          if (result.body.size() < 4096)
            result.body.append(p, std::min(n, 4096 - result.body.size()));
          // A pace that does not save up: a stall is not made up for later.
          next = std::max(next, steady::now()) +
                 std::chrono::duration_cast<steady::duration>(
                   std::chrono::duration<double>(double(n) / rate));
          std::this_thread::sleep_until(next);
          return true;
        });
      result.seconds = seconds_since(t0);
      if (!res)
        result.error = httplib::to_string(res.error());
      result.sha256 = sha.hex();
      done = true;
    });
  }

  void cancel() {
    if (cli)
      cli->stop();
  }

  std::string state() const {
    return label + " (" + cid + "): " +
           (done ? result.describe()
                 : "still running, " + std::to_string(bytes.load()) +
                     " bytes so far");
  }
};

/// Polls GET /debug/info until it answers 200 or `timeout` passes.
bool wait_api(const node_process& n, std::chrono::milliseconds timeout) {
  auto until = steady::now() + timeout;
  for (;;) {
    auto res = quick_get(n, api("/debug/info"));
    if (res && res->status == 200)
      return true;
    if (steady::now() >= until)
      return false;
    std::this_thread::sleep_for(50ms);
  }
}

TEST(FaultInjectionTest, EveryActorKindCrashesAndTheNodeHeals) {
  auto t_test = steady::now();
  // -- the network: S seeds, D2 and D3 copy, D is the victim ----------------
  test_node s;
  ASSERT_TRUE(s.proc.start());
  // The JSON form {"spr": ...}, as --bootstrap-node takes it.
  auto spr = quick_get(s.proc, api("/spr"));
  ASSERT_TRUE(spr && spr->status == 200 && spr->body.rfind("{\"spr\"", 0) == 0)
    << (spr ? spr->body : httplib::to_string(spr.error()));
  test_node d2({"--bootstrap-node", spr->body});
  test_node d3({"--bootstrap-node", spr->body});
  test_node d({"--enable-fault-injection", "--bootstrap-node", spr->body});
  ASSERT_TRUE(d2.proc.start());
  ASSERT_TRUE(d3.proc.start());
  ASSERT_TRUE(d.proc.start());
  auto url = d.proc.base_url();
  // On failure, D's whole story: stopped first, so that its log is complete.
  struct on_failure {
    node_process& n;
    ~on_failure() {
      if (!::testing::Test::HasFailure())
        return;
      auto st = n.stop();
      std::cout << "[fault] D stopped: " << st.to_string()
                << "\n[fault] D's stderr (tail):\n"
                << n.stderr_tail(12000) << "\n";
    }
  } print_log{d.proc};

  auto data_a = random_bytes(24 * mib, 4101);
  auto data_b = random_bytes(24 * mib + 12345, 4102);
  auto data_small = random_bytes(mib + 77, 4103);
  std::string cid_a, cid_b, cid_small;
  {
    auto cli = long_client(s.proc.host(), s.proc.port());
    ASSERT_TRUE(upload(cli, data_a, &cid_a));
    ASSERT_TRUE(upload(cli, data_b, &cid_b));
    ASSERT_TRUE(upload(cli, data_small, &cid_small));
  }
  ASSERT_TRUE(connect_nodes(d2.proc, s.proc));
  ASSERT_TRUE(connect_nodes(d3.proc, s.proc));
  ASSERT_TRUE(connect_nodes(d.proc, s.proc));
  // D2 and D3 hold a copy each: more providers for D to heal from.
  EXPECT_TRUE(is_whole(stream_network(d2.proc, cid_a), data_a));
  EXPECT_TRUE(is_whole(stream_network(d3.proc, cid_b), data_b));

  // -- two throttled downloads on D -----------------------------------------
  download dl[2];
  dl[0].label = "download A";
  dl[0].cid = cid_a;
  dl[0].data = &data_a;
  dl[1].label = "download B";
  dl[1].cid = cid_b;
  dl[1].data = &data_b;
  auto t_downloads = steady::now();
  for (auto& x : dl)
    x.start(d.proc.host(), d.proc.port(), 2.0 * mib);
  auto describe_downloads = [&] {
    std::string out;
    for (auto& x : dl)
      out += "\n  " + x.state();
    return out;
  };
  // No thread outlives the test: cancel what still runs (and stop D if a
  // cancelled download does not return).
  auto join_all = [&] {
    for (auto& x : dl) {
      if (!x.thread.joinable())
        continue;
      if (!x.done) {
        x.cancel();
        auto until = steady::now() + 5s;
        while (!x.done && steady::now() < until)
          std::this_thread::sleep_for(50ms);
        if (!x.done)
          d.proc.stop();
      }
      x.thread.join();
    }
  };
  struct joiner {
    std::function<void()> f;
    ~joiner() { f(); }
  } join_guard{join_all};

  {
    auto until = steady::now() + 15s;
    while (steady::now() < until &&
           (dl[0].bytes < 2 * mib || dl[1].bytes < 2 * mib) && !dl[0].done &&
           !dl[1].done)
      std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(dl[0].bytes >= 2 * mib && dl[1].bytes >= 2 * mib &&
                !dl[0].done && !dl[1].done)
      << "the downloads did not get going" << describe_downloads();
  }

  // -- one crash of each kind -----------------------------------------------
  const std::vector<std::string> supervised{"local_store", "network_store",
                                            "engine",      "discovery",
                                            "api",         "maintenance"};
  const std::vector<std::string> order{
    "local_store",  "network_store", "engine", "discovery",
    "peer_session", "store_stream",  "api",    "maintenance"};
  auto s_session = "peer_session/" + s.proc.peer_id();
  std::ostringstream heal_log;
  for (auto& kind : order) {
    ASSERT_TRUE(still_running(d.proc)) << "before crashing " << kind;
    if (!wait_api(d.proc, 10s)) {
      ADD_FAILURE() << "D's API has been down for 10 s more, cannot crash "
                    << kind << describe_downloads();
      heal_log << "  " << kind << ": not crashed (API down)\n";
      continue;
    }
    std::string name = kind;
    if (kind == "peer_session") {
      // The engine crash closed D's sessions: D finds S again through the
      // DHT (its downloads need blocks); an operator reconnect otherwise.
      name = s_session;
      auto until = steady::now() + 8s;
      while (find_actor(actors_now(d.proc), name).empty() &&
             steady::now() < until)
        std::this_thread::sleep_for(100ms);
      if (find_actor(actors_now(d.proc), name).empty()) {
        std::cout << "[fault] D had no session with S 8 s after the engine "
                     "and discovery crashes; reconnecting by hand\n";
        EXPECT_TRUE(connect_nodes(d.proc, s.proc));
      }
    } else if (kind == "store_stream") {
      auto r = ctl(d.dir, {"--node", url, "actors", "--json"});
      EXPECT_EQ(r.code, 0) << r.describe();
      auto actors = json::parse(r.out, nullptr, false);
      name.clear();
      if (actors.is_array())
        for (auto& a : actors)
          if (a.value("name", "").rfind("store_stream/", 0) == 0 &&
              a.value("parent", "") == "api") {
            name = a.value("name", "");
            break;
          }
      if (name.empty()) {
        ADD_FAILURE() << "no store_stream/<n> under api to crash: " << r.out
                      << describe_downloads();
        continue;
      }
    } else if (kind == "api") {
      // The registry of downloads lives in the api: show what it knew.
      auto res = quick_get(d.proc, "/api/cairn/v1/downloads");
      std::cout << "[fault] /downloads just before the api crash: "
                << (res ? res->body : httplib::to_string(res.error())) << "\n";
    }
    auto before = find_actor(actors_now(d.proc), name);
    if (before.empty()) {
      ADD_FAILURE() << "no actor named " << name
                    << " on D: " << actors_now(d.proc).dump();
      continue;
    }
    bool is_supervised =
      std::find(supervised.begin(), supervised.end(), name) != supervised.end();
    auto t0 = steady::now();
    auto r = ctl(d.dir, {"--node", url, "crash", name});
    EXPECT_EQ(r.code, 0) << r.describe();
    EXPECT_EQ(r.out, url + ": " + name + " crashed\n") << r.describe();
    // Healed: the old actor is gone (a supervised child is back with a new
    // id and one more restart), and the API serves.
    double healed = -1;
    std::string last;
    while (seconds_since(t0) < 10) {
      ASSERT_TRUE(still_running(d.proc)) << "after crashing " << name;
      auto actors = actors_now(d.proc);
      auto now = find_actor(actors, name);
      bool replaced =
        !actors.is_null() &&
        (now.empty() ? !is_supervised
                     : now.value("id", 0ull) != before.value("id", 0ull) &&
                         (!is_supervised || now.value("restarts", 0ull) >
                                              before.value("restarts", 0ull)));
      auto info = quick_get(d.proc, api("/debug/info"));
      auto space = quick_get(d.proc, api("/space"));
      bool serving =
        info && info->status == 200 && space && space->status == 200;
      last = "actor now: " + now.dump() + ", /debug/info " +
             (info ? std::to_string(info->status)
                   : httplib::to_string(info.error())) +
             ", /space " +
             (space ? std::to_string(space->status)
                    : httplib::to_string(space.error()));
      if (replaced && serving) {
        healed = seconds_since(t0);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    heal_log << "  " << name << ": "
             << (healed < 0 ? std::string("not healed in 10 s")
                            : std::to_string(healed) + " s")
             << "\n";
    EXPECT_GE(healed, 0) << name << " not healed within 10 s; last: " << last
                         << describe_downloads();
    EXPECT_LT(healed, 2.0) << name << " took " << healed << " s to heal";
    if (kind == "peer_session") {
      // The engine must notice: S either leaves /peers or has a new session.
      std::string seen;
      bool consistent = false;
      auto until = steady::now() + 2s;
      do {
        auto res = quick_get(d.proc, "/api/cairn/v1/peers");
        auto session = find_actor(actors_now(d.proc), name);
        seen = (res ? res->body : httplib::to_string(res.error())) + "\n  " +
               name + " now: " + session.dump();
        consistent = res && res->status == 200 &&
                     (res->body.find(s.proc.peer_id()) == std::string::npos ||
                      (!session.empty() &&
                       session.value("id", 0ull) != before.value("id", 0ull)));
        if (!consistent)
          std::this_thread::sleep_for(100ms);
      } while (!consistent && steady::now() < until);
      EXPECT_TRUE(consistent)
        << "2 s after its session crashed, D's engine still lists S as a "
           "connected peer without a live peer_session/"
        << s.proc.peer_id() << "; /api/cairn/v1/peers: " << seen;
    }
    // Well within the budget of 5 restarts of one child in 10 s.
    std::this_thread::sleep_for(300ms);
  }
  std::cout << "[fault] heal times (crash command to serving again):\n"
            << heal_log.str();
  std::cout << "[fault] downloads after the crashes:" << describe_downloads()
            << "\n";

  // -- every download ends: whole, or failed with a clear error -------------
  // About 2.5 times what they need: 24 MiB at 2 MiB/s, plus ~5 s stalls.
  auto deadline = t_downloads + 45s;
  while (steady::now() < deadline && !(dl[0].done && dl[1].done))
    std::this_thread::sleep_for(100ms);
  bool hung[2] = {!dl[0].done, !dl[1].done};
  if (hung[0] || hung[1]) {
    auto res = quick_get(d.proc, "/api/cairn/v1/downloads");
    ADD_FAILURE() << "a download hangs 45 s after it started:"
                  << describe_downloads() << "\n/downloads: "
                  << (res ? res->body : httplib::to_string(res.error()));
  }
  join_all();
  ASSERT_TRUE(still_running(d.proc));
  ASSERT_TRUE(wait_api(d.proc, 10s))
    << "D's API is still down after the downloads ended; the remaining "
       "checks need it";
  for (int i = 0; i < 2; ++i) {
    auto& x = dl[i];
    std::cout << "[fault] " << (hung[i] ? "cancelled by the test: " : "")
              << x.state() << "\n";
    if (hung[i])
      continue;
    auto whole = is_whole(x.result, *x.data);
    if (whole)
      continue;
    EXPECT_FALSE(x.result.status == 200 && x.result.bytes == x.data->size())
      << "complete length but wrong bytes: " << whole.message();
    std::string seen;
    auto entry = wait_download(d.proc, x.cid, "stream", 5s, &seen);
    EXPECT_EQ(entry.is_object() ? entry.value("state", "") : "", "failed")
      << x.label << " ended short (" << whole.message()
      << ") but /downloads does not report it failed: " << entry.dump()
      << "\nall: " << seen;
    EXPECT_TRUE(entry.is_object() && entry.contains("error") &&
                entry["error"].is_string() &&
                !entry["error"].get<std::string>().empty())
      << x.label << ": no error in " << entry.dump();
  }

  // -- the supervisor counted every crash -----------------------------------
  auto r = ctl(d.dir, {"--node", url, "actors", "--json"});
  EXPECT_EQ(r.code, 0) << r.describe();
  auto actors = json::parse(r.out, nullptr, false);
  EXPECT_TRUE(actors.is_array()) << r.describe();
  for (auto& name : supervised) {
    auto a = find_actor(actors, name);
    EXPECT_GE(a.value("restarts", 0ull), 1u) << name << ": " << a.dump();
    auto err = a.contains("last_error") && a["last_error"].is_string()
                 ? a["last_error"].get<std::string>()
                 : std::string{};
    EXPECT_NE(lower(err).find("inject"), std::string::npos)
      << name << ": " << a.dump();
  }

  // -- and the node still works: a fresh download from S --------------------
  std::map<std::string, json> peers;
  EXPECT_TRUE(peers_of(d.proc, &peers));
  bool session = !find_actor(actors, s_session).empty();
  std::cout << "[fault] at the end D "
            << (peers.count(s.proc.peer_id()) ? "lists" : "does not list")
            << " S in /peers and " << (session ? "has" : "has no") << " "
            << s_session << "\n";
  if (!peers.count(s.proc.peer_id())) {
    EXPECT_TRUE(connect_nodes(d.proc, s.proc));
  }
  auto fresh = stream_network(d.proc, cid_small);
  EXPECT_TRUE(is_whole(fresh, data_small));
  EXPECT_TRUE(still_running(d.proc));
  std::cout << "[fault] test body took " << seconds_since(t_test) << " s\n";
}

} // namespace
