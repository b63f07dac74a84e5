// Integration tests of the operator CLI `cairnctl` (binary CAIRNCTL_BIN),
// run as a subprocess whose stdout, stderr and exit code are captured,
// against real `cairn-node` processes (CAIRN_NODE_BIN) on 127.0.0.1 with
// port 0, and against a fake node (an HTTP server in this process) for
// answers a real node never gives: malformed JSON, odd types, a token check.
// `top` runs in a real terminal made by tmux (installed with apt-get if
// missing; the tests skip only if it cannot be). Every node, fake node and
// tmux server is stopped, also when an assertion fails.
//
// The tests of actors, tree, wants, store, restart and crash need the
// node's /api/cairn/v1/{actors,tree,wants,store} endpoints.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/api_helpers.hpp"
#include "tests/integration/loopback.hpp"
#include "tests/integration/net_helpers.hpp"
#include "tests/integration/node_process.hpp"
#include "tests/integration/subprocess.hpp"

#ifndef CAIRNCTL_BIN
#error "CAIRNCTL_BIN must be defined (path of the cairnctl binary)"
#endif

extern char** environ;

namespace {

using cairn::test::api;
using cairn::test::eventually;
using cairn::test::get_json;
using cairn::test::looks_like_cid;
using cairn::test::node_args;
using cairn::test::node_process;
using cairn::test::random_bytes;
using cairn::test::sha256_hex;
using cairn::test::temp_dir;
using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using cairn::test::run_process;
using cairn::test::run_result;

// -- running processes --------------------------------------------------------

/// Runs cairnctl with `args`; CAIRN_API_TOKEN and COLUMNS are removed from
/// the environment unless `env` sets them.
run_result ctl(const std::vector<std::string>& args,
               const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv{CAIRNCTL_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, env, {"CAIRN_API_TOKEN", "COLUMNS"});
}

/// The lines of `text` (without newlines).
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    lines.push_back(l);
  return lines;
}

/// Terminal columns of `text`: one per UTF-8 code point.
std::size_t columns_of(const std::string& text) {
  std::size_t n = 0;
  for (char c : text)
    n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

/// cairnctl `args` parsed as JSON from stdout; fails unless exit 0.
::testing::AssertionResult ctl_json(const std::vector<std::string>& args,
                                    json* out) {
  auto r = ctl(args);
  if (r.code != 0)
    return ::testing::AssertionFailure() << "cairnctl failed" << r.describe();
  *out = json::parse(r.out, nullptr, false);
  if (out->is_discarded())
    return ::testing::AssertionFailure()
           << "cairnctl printed no JSON" << r.describe();
  if (!r.err.empty())
    return ::testing::AssertionFailure()
           << "cairnctl wrote to stderr" << r.describe();
  return ::testing::AssertionSuccess();
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
}

/// A TCP port on 127.0.0.1 where nothing listens (bound, then closed).
int unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// -- nodes --------------------------------------------------------------------

using cairn::test::connect_nodes;
using cairn::test::test_node;

/// One node, started for each test.
class CairnctlTest : public ::testing::Test {
protected:
  void SetUp() override { ASSERT_TRUE(node.proc.start()); }

  std::vector<std::string> at(std::vector<std::string> args) {
    args.insert(args.begin(), {"--node", node.url()});
    return args;
  }

  test_node node;
};

/// The object of a JSON array whose `key` is `name`, or an empty object.
json find_named(const json& list, const std::string& key,
                const std::string& name) {
  if (list.is_array())
    for (auto& e : list)
      if (e.is_object() && e.contains(key) && e[key] == name)
        return e;
  return json::object();
}

// -- a fake node --------------------------------------------------------------

/// An HTTP server on 127.0.0.1 (port chosen by the OS) answering every
/// request from a table of canned answers; records the Authorization
/// headers it saw. Stopped by the destructor.
class fake_node {
public:
  /// An answer: status, body, content type.
  struct answer {
    int status = 200;
    std::string body;
    std::string type = "application/json";
    /// Time before the answer's headers are sent (a node looking for
    /// peers).
    std::chrono::milliseconds delay{0};
  };
  using handler = std::function<answer()>;

  fake_node() {
    auto serve = [this](const httplib::Request& req, httplib::Response& res) {
      handler h;
      {
        std::lock_guard<std::mutex> guard(mtx_);
        authorizations_.push_back(req.get_header_value("Authorization"));
        auto it = routes_.find(req.method + " " + req.path);
        if (it != routes_.end())
          h = it->second;
      }
      auto a = h ? h() : answer{404, "no such endpoint\n", "text/plain"};
      std::this_thread::sleep_for(a.delay);
      res.status = a.status;
      res.set_content(a.body, a.type.c_str());
    };
    srv_.Get(".*", serve);
    srv_.Post(".*", serve);
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running())
      std::this_thread::sleep_for(1ms);
  }

  ~fake_node() {
    srv_.stop();
    if (thread_.joinable())
      thread_.join();
  }

  /// Answers `method path` (e.g. "GET /api/cairn/v1/peers") with `h()`.
  void on(const std::string& route, handler h) {
    std::lock_guard<std::mutex> guard(mtx_);
    routes_[route] = std::move(h);
  }

  /// Answers `route` with a fixed answer.
  void on(const std::string& route, answer a) {
    on(route, [a] { return a; });
  }

  std::vector<std::string> authorizations() const {
    std::lock_guard<std::mutex> guard(mtx_);
    return authorizations_;
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_);
  }

private:
  httplib::Server srv_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mtx_;
  std::map<std::string, handler> routes_;
  std::vector<std::string> authorizations_;
};

/// Actors whose `processed` grows by 100 a second (actor i also has
/// mailbox i), as GET /api/cairn/v1/actors answers.
fake_node::handler steady_actors() {
  auto t0 = steady::now();
  return [t0] {
    auto secs = std::chrono::duration<double>(steady::now() - t0).count();
    json actors = json::array();
    const char* names[] = {"node_supervisor", "local_store", "engine", "api"};
    for (int i = 0; i < 4; ++i)
      actors.push_back(
        {{"name", names[i]},
         {"id", i + 1},
         {"kind", i == 0 ? "supervisor" : "event_based"},
         {"parent", i == 0 ? "" : "node_supervisor"},
         {"mailbox", i},
         {"processed", static_cast<std::uint64_t>(1000 + 100 * secs)},
         {"busy_seconds", 0.5},
         {"restarts", 0},
         {"last_error", ""},
         {"gauges", json::object()}});
    return fake_node::answer{200,
                             json{{"node", "fake"}, {"actors", actors}}.dump()};
  };
}

// -- tmux ---------------------------------------------------------------------

/// True if tmux runs here, installing it with apt-get when missing; else
/// `*why` says what failed.
bool tmux_available(std::string* why) {
  static int state = -1; // -1 unknown, 0 no, 1 yes
  static std::string reason;
  if (state < 0) {
    if (run_process({"tmux", "-V"}).code == 0) {
      state = 1;
    } else {
      auto apt =
        ::geteuid() == 0
          ? std::vector<std::string>{"apt-get", "install", "-y", "-qq", "tmux"}
          : std::vector<std::string>{"sudo", "-n",  "apt-get", "install",
                                     "-y",   "-qq", "tmux"};
      auto r = run_process(apt, {"DEBIAN_FRONTEND=noninteractive"}, {}, 300s);
      state = run_process({"tmux", "-V"}).code == 0 ? 1 : 0;
      if (state == 0)
        reason = "tmux is missing and could not be installed:" + r.describe();
    }
  }
  *why = reason;
  return state == 1;
}

/// A tmux server of its own (socket `-L cairnctl-test-<pid>-<n>`) running
/// one session 160x40 with `command` (run by sh). The destructor kills the
/// server and so every process in it.
class tmux_session {
public:
  explicit tmux_session(const std::string& command) {
    static std::atomic<int> counter{0};
    socket_ = "cairnctl-test-" + std::to_string(::getpid()) + "-" +
              std::to_string(counter++);
    started_ = tmux(
      {"new-session", "-d", "-s", "main", "-x", "160", "-y", "40", command});
  }

  ~tmux_session() { tmux({"kill-server"}); }

  tmux_session(const tmux_session&) = delete;
  tmux_session& operator=(const tmux_session&) = delete;

  const run_result& started() const noexcept { return started_; }

  /// The visible text of the pane.
  std::string capture() {
    return tmux({"capture-pane", "-p", "-t", "main"}).out;
  }

  void send_keys(const std::string& keys) {
    tmux({"send-keys", "-t", "main", keys});
  }

  /// True while the session (its command) runs.
  bool alive() { return tmux({"has-session", "-t", "main"}).code == 0; }

  /// Polls the pane until `pred(text)` holds; the last text in `*last`.
  bool wait_for(const std::function<bool(const std::string&)>& pred,
                std::chrono::milliseconds timeout, std::string* last) {
    return eventually(
      [&] {
        *last = capture();
        return pred(*last);
      },
      timeout);
  }

private:
  run_result tmux(std::vector<std::string> args) {
    args.insert(args.begin(), {"tmux", "-L", socket_});
    return run_process(args, {"TERM=xterm-256color"}, {"TMUX"}, 20s);
  }

  std::string socket_;
  run_result started_;
};

/// The first HH:MM:SS on the first line of a top view.
std::string header_time(const std::string& screen) {
  auto first = screen.substr(0, screen.find('\n'));
  std::smatch m;
  if (std::regex_search(first, m, std::regex(R"(\b\d\d:\d\d:\d\d\b)")))
    return m.str();
  return {};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// A plain progress line: "12.0 MiB / 64.0 MiB  18%  45.2 MiB/s  ETA 1s",
/// the last one, "... done in 0.1s", or one before the first byte,
/// "0 B / 64.0 MiB  0%  discovering…  3s" ("0 B  discovering…  3s" before
/// the size is known).
bool is_progress_line(const std::string& line) {
  static const std::regex re(
    R"(^\d+(\.\d)? (B|KiB|MiB|GiB) / \d+(\.\d)? (B|KiB|MiB|GiB)  \d+%  )"
    R"(\d+(\.\d)? (B|KiB|MiB|GiB)/s  (ETA \S+|done in \d+\.\ds)$)");
  static const std::regex waiting(
    R"(^(0 B( / \d+(\.\d)? (B|KiB|MiB|GiB)  0%)?  )?discovering…  \S+$)");
  return std::regex_match(line, re) || std::regex_match(line, waiting);
}

// == usage and errors, no node ================================================

TEST(CairnctlUsageTest, HelpDescribesEveryCommand) {
  auto r = ctl({"--help"});
  ASSERT_EQ(r.code, 0) << r.describe();
  const std::vector<std::string> commands{
    "status", "actors",   "actor",     "top",     "tree",
    "peers",  "wants",    "downloads", "store",   "restart",
    "crash",  "loglevel", "upload",    "download"};
  for (auto& c : commands)
    EXPECT_TRUE(contains(r.out, "  " + c + " ")) << c << r.describe();
  for (auto opt : {"--node", "--json", "--token", "--timeout", "--version"})
    EXPECT_TRUE(contains(r.out, opt)) << opt << r.describe();
  EXPECT_TRUE(contains(r.out, "CAIRN_API_TOKEN")) << r.describe();
  for (auto& c : commands) {
    auto h = ctl({c, "--help"});
    EXPECT_EQ(h.code, 0) << h.describe();
    EXPECT_TRUE(contains(h.out, "Usage: cairnctl " + c)) << h.describe();
    EXPECT_TRUE(contains(h.out, "--node")) << h.describe();
    EXPECT_TRUE(contains(h.out, "Exit codes")) << h.describe();
  }
  EXPECT_TRUE(contains(ctl({"actor", "--help"}).out, "NAME"));
  EXPECT_TRUE(contains(ctl({"restart", "--help"}).out, "ACTOR"));
  EXPECT_TRUE(contains(ctl({"crash", "--help"}).out, "ACTOR"));
  EXPECT_TRUE(contains(ctl({"loglevel", "--help"}).out, "LEVEL"));
  EXPECT_TRUE(contains(ctl({"upload", "--help"}).out, "FILE"));
  auto dl = ctl({"download", "--help"}).out;
  EXPECT_TRUE(contains(dl, "CID") && contains(dl, "-o,--output")) << dl;
  auto top = ctl({"top", "--help"}).out;
  for (auto opt : {"--interval", "--iterations", "--sort", "m sort by mailbox"})
    EXPECT_TRUE(contains(top, opt)) << opt << top;
}

TEST(CairnctlUsageTest, BadUsageExits64WithOneLine) {
  for (auto args : std::vector<std::vector<std::string>>{
         {},
         {"bogus"},
         {"restart"},
         {"--node", "ftp://127.0.0.1:1", "status"},
         {"--node", "127.0.0.1", "status"},
         {"--node", "http://127.0.0.1:8080/nodes/1?x=1", "status"},
         {"top", "--sort", "name"},
         {"--node", "127.0.0.1:1", "--node", "127.0.0.1:2", "upload", "x"}}) {
    auto r = ctl(args);
    EXPECT_EQ(r.code, 64) << r.describe();
    EXPECT_EQ(r.err_lines().size(), 1u) << r.describe();
    EXPECT_TRUE(contains(r.err, "cairnctl: ")) << r.describe();
    EXPECT_EQ(r.out, "") << r.describe();
  }
}

TEST(CairnctlUsageTest, UnreachableNodeExitsTwoWithOneLine) {
  auto url = "http://127.0.0.1:" + std::to_string(unused_port());
  for (auto cmd : std::vector<std::vector<std::string>>{
         {"status"},
         {"actors"},
         {"peers", "--json"},
         {"restart", "engine"},
         {"loglevel", "info"},
         {"top"},
         {"download", "zDvZRwzm5sfnbDJgpKjm9GtvT3xRfHN1Mc3HJaHPhNR7Dcu4UDja",
          "-o", "/dev/null"}}) {
    std::vector<std::string> args{"--node", url};
    args.insert(args.end(), cmd.begin(), cmd.end());
    auto r = ctl(args);
    EXPECT_EQ(r.code, 2) << r.describe();
    EXPECT_EQ(r.err, "cairnctl: cannot reach " + url + ": connection refused\n")
      << r.describe();
    EXPECT_EQ(r.out, "") << r.describe();
  }
}

// == against a fake node ======================================================

TEST(CairnctlFakeNodeTest, TokenIsSentAsBearerFromFlagOrEnvironment) {
  fake_node fake;
  fake.on("GET /api/cairn/v1/peers", {200, R"({"peers":[]})"});
  auto r = ctl({"--node", fake.url(), "--token", "s3cret", "peers"});
  EXPECT_EQ(r.code, 0) << r.describe();
  r = ctl({"--node", fake.url(), "peers"}, {"CAIRN_API_TOKEN=from-env"});
  EXPECT_EQ(r.code, 0) << r.describe();
  r = ctl({"--node", fake.url(), "peers"});
  EXPECT_EQ(r.code, 0) << r.describe();
  auto seen = fake.authorizations();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], "Bearer s3cret");
  EXPECT_EQ(seen[1], "Bearer from-env");
  EXPECT_EQ(seen[2], "");
}

TEST(CairnctlFakeNodeTest, MalformedAnswersAreOneLineErrorsNotCrashes) {
  fake_node fake;
  fake.on("GET /api/cairn/v1/peers", {200, "{not json"});
  fake.on("GET /api/cairn/v1/actors", {200, R"({"actors": 5})"});
  fake.on("GET /api/cairn/v1/wants", {200, "[1,2,3]"});
  fake.on("GET /api/cairn/v1/store", {200, "\"just a string\""});
  fake.on("GET /api/cairn/v1/tree", {200, "{\"name\": \"\xff\xfe\"}"});
  for (auto cmd : {"peers", "actors", "wants", "store", "tree"})
    for (bool as_json : {false, true}) {
      std::vector<std::string> args{"--node", fake.url(), cmd};
      if (as_json)
        args.push_back("--json");
      auto r = ctl(args);
      EXPECT_EQ(r.code, 1) << r.describe();
      ASSERT_EQ(r.err_lines().size(), 1u) << r.describe();
      EXPECT_TRUE(contains(r.err, "cairnctl: " + fake.url() + ": GET /api/"))
        << r.describe();
      EXPECT_EQ(r.out, "") << r.describe();
    }
}

TEST(CairnctlFakeNodeTest, OddlyTypedFieldsStillPrint) {
  fake_node fake;
  fake.on("GET /api/cairn/v1/actors",
          {200, R"({"actors":[{"name":5,"mailbox":"x","gauges":[1]},7,
                   {"name":"engine","last_error":"a\u001b[2Jb\nc"}]})"});
  fake.on(
    "GET /api/cairn/v1/downloads",
    {200, R"({"downloads":[{"cid":null,"peers":"no","blocksTotal":-1}]})"});
  fake.on("GET /api/cairn/v1/tree",
          {200, R"({"name":"root","children":[5,{"children":"x"}]})"});
  for (auto cmd : {"actors", "downloads", "tree"}) {
    auto r = ctl({"--node", fake.url(), cmd});
    EXPECT_EQ(r.code, 0) << r.describe();
    EXPECT_EQ(r.err, "") << r.describe();
    // No control character of the node's reaches the terminal.
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.describe();
  }
  auto r = ctl({"--node", fake.url(), "actors"});
  EXPECT_TRUE(contains(r.out, "engine")) << r.describe();
}

TEST(CairnctlFakeNodeTest, HttpErrorPrintsTheNodesFirstLine) {
  fake_node fake;
  fake.on("POST /api/cairn/v1/actors/engine/crash",
          {403, "fault injection is disabled\nsecond line\n", "text/plain"});
  auto r = ctl({"--node", fake.url(), "crash", "engine"});
  EXPECT_EQ(r.code, 1) << r.describe();
  EXPECT_EQ(r.err, "cairnctl: " + fake.url() +
                     ": fault injection is disabled (HTTP 403)\n")
    << r.describe();
  EXPECT_EQ(r.out, "");
}

TEST(CairnctlFakeNodeTest, ActorNamesArePercentEncodedInThePath) {
  fake_node fake;
  // The server decodes the path before routing: %2F arrives as '/'.
  fake.on("POST /api/cairn/v1/actors/peer_session/12D3KooW x/restart",
          {200, R"({"actor":"peer_session/12D3KooW x","done":"restarted"})"});
  auto r = ctl({"--node", fake.url(), "restart", "peer_session/12D3KooW x"});
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, fake.url() + ": peer_session/12D3KooW x restarted\n");
}

TEST(CairnctlFakeNodeTest, TopSnapshotComputesRatesOverTheInterval) {
  fake_node fake;
  fake.on("GET /api/cairn/v1/actors", steady_actors());
  json j;
  ASSERT_TRUE(ctl_json({"--node", fake.url(), "top", "--json", "--interval",
                        "0.5", "--sort", "mailbox"},
                       &j));
  ASSERT_TRUE(j.is_array()) << j.dump();
  ASSERT_EQ(j.size(), 4u) << j.dump();
  EXPECT_EQ(j[0].value("name", ""), "api") << "sorted by mailbox: " << j.dump();
  for (auto& a : j) {
    ASSERT_TRUE(a.contains("msgsPerSecond") && a["msgsPerSecond"].is_number())
      << a.dump();
    EXPECT_NEAR(a["msgsPerSecond"].get<double>(), 100.0, 35.0) << a.dump();
  }
  // Without a terminal: one plain snapshot.
  auto r = ctl({"--node", fake.url(), "top", "--interval", "0.3"});
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.describe();
  EXPECT_TRUE(contains(r.out, "cairnctl top  " + fake.url())) << r.describe();
  EXPECT_TRUE(contains(r.out, "4 actors")) << r.describe();
  EXPECT_TRUE(contains(r.out, "NAME")) << r.describe();
  EXPECT_TRUE(contains(r.out, "MSG/S")) << r.describe();
  EXPECT_TRUE(contains(r.out, "engine")) << r.describe();
}

TEST(CairnctlFakeNodeTest, TopInTerminalRedrawsSortsAndQuits) {
  std::string why;
  if (!tmux_available(&why))
    GTEST_SKIP() << why;
  fake_node fake;
  fake.on("GET /api/cairn/v1/actors", steady_actors());
  temp_dir dir("cairnctl-top");
  tmux_session tmux(shell_quote(CAIRNCTL_BIN) + " --node " + fake.url() +
                    " top; stty -a > " + shell_quote(dir.file("stty")));
  ASSERT_EQ(tmux.started().code, 0) << tmux.started().describe();
  std::string screen;
  ASSERT_TRUE(tmux.wait_for(
    [](const std::string& s) {
      return contains(s, "engine") && contains(s, "sort: mailbox");
    },
    5s, &screen))
    << screen;
  tmux.send_keys("r");
  EXPECT_TRUE(tmux.wait_for(
    [](const std::string& s) { return contains(s, "sort: rate"); }, 2s,
    &screen))
    << screen;
  tmux.send_keys("q");
  EXPECT_TRUE(eventually([&] { return !tmux.alive(); }, 2s));
  auto stty = read_file(dir.file("stty"));
  EXPECT_TRUE(std::regex_search(stty, std::regex(R"((^|\s)icanon(\s|$))")))
    << stty;
  EXPECT_TRUE(std::regex_search(stty, std::regex(R"((^|\s)echo(\s|$))")))
    << stty;
}

/// An actor list whose engine has the given gauges and last error.
fake_node::answer actors_with_gauges(const json& gauges,
                                     const std::string& last_error) {
  json actors = json::array();
  actors.push_back({{"name", "engine"},
                    {"id", 3},
                    {"kind", "event_based"},
                    {"parent", "node_supervisor"},
                    {"mailbox", 0},
                    {"processed", 10},
                    {"busy_seconds", 0.5},
                    {"restarts", 1},
                    {"last_error", last_error},
                    {"responsive", true},
                    {"gauges", gauges}});
  return {200, json{{"node", "fake"}, {"actors", actors}}.dump()};
}

/// Engine gauges as a node sends them: every value a double.
json engine_gauges() {
  return {{"peers", 3.0},          {"pending_blocks", 12.0},
          {"blocks_in", 4096.0},   {"blocks_out", 0.0},
          {"bytes_in", 1572864.0}, {"bytes_out", 3221225472.0},
          {"bad_blocks", 0.0},     {"txn_per_second", 0.25}};
}

TEST(CairnctlFakeNodeTest, ActorsPrintsCountsAsIntegersAndSizesInUnits) {
  fake_node fake;
  fake.on("GET /api/cairn/v1/actors", actors_with_gauges(engine_gauges(), ""));
  auto r = ctl({"--node", fake.url(), "actors"});
  ASSERT_EQ(r.code, 0) << r.describe();
  for (auto part :
       {"peers=3 ", "pending_blocks=12 ", "blocks_in=4096 ", "bad_blocks=0 ",
        "bytes_in=1.5 MiB ", "bytes_out=3.0 GiB ", "txn_per_second=0.25"})
    EXPECT_TRUE(contains(r.out, part)) << part << r.describe();
  EXPECT_FALSE(contains(r.out, "3.00")) << r.describe();
  EXPECT_FALSE(contains(r.out, "1572864")) << r.describe();
}

TEST(CairnctlFakeNodeTest, ActorsCutsGaugesToTheWidthAndKeepsLastError) {
  fake_node fake;
  fake.on("GET /api/cairn/v1/actors",
          actors_with_gauges(engine_gauges(), "unavailable: boom"));
  auto r = ctl({"--node", fake.url(), "actors"}, {"COLUMNS=120"});
  ASSERT_EQ(r.code, 0) << r.describe();
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.describe();
  for (auto& l : lines)
    EXPECT_LE(columns_of(l), 120u) << l << r.describe();
  EXPECT_TRUE(contains(lines[0], "LAST_ERROR")) << r.describe();
  EXPECT_TRUE(contains(lines[1], "unavailable: boom")) << r.describe();
  EXPECT_TRUE(contains(lines[1], "…")) << r.describe();
  // Not on a terminal and without COLUMNS, nothing is cut.
  auto full = ctl({"--node", fake.url(), "actors"});
  ASSERT_EQ(full.code, 0) << full.describe();
  EXPECT_TRUE(contains(full.out, "txn_per_second=0.25  unavailable: boom"))
    << full.describe();
}

TEST(CairnctlFakeNodeTest, ActorInATerminalKeepsLastErrorOnScreen) {
  std::string why;
  if (!tmux_available(&why))
    GTEST_SKIP() << why;
  fake_node fake;
  auto gauges = engine_gauges();
  for (int i = 0; i < 20; ++i)
    gauges["extra_gauge_" + std::to_string(i)] = i;
  fake.on("GET /api/cairn/v1/actors",
          actors_with_gauges(gauges, "unavailable: boom"));
  tmux_session tmux(shell_quote(CAIRNCTL_BIN) + " --node " + fake.url() +
                    " actors; sleep 30");
  ASSERT_EQ(tmux.started().code, 0) << tmux.started().describe();
  std::string screen;
  ASSERT_TRUE(tmux.wait_for(
    [](const std::string& s) { return contains(s, "engine"); }, 5s, &screen))
    << screen;
  std::istringstream in(screen);
  std::string row;
  for (std::string l; std::getline(in, l);)
    if (contains(l, "engine"))
      row = l;
  // The row fits the pane's 160 columns (tmux would wrap it otherwise).
  EXPECT_TRUE(contains(row, "unavailable: boom")) << screen;
  EXPECT_TRUE(contains(row, "…")) << screen;
}

TEST(CairnctlFakeNodeTest, ActorShowsEveryGaugeInFull) {
  fake_node fake;
  auto gauges = engine_gauges();
  for (int i = 0; i < 20; ++i)
    gauges["extra_gauge_" + std::to_string(i)] = i;
  fake.on("GET /api/cairn/v1/actors",
          actors_with_gauges(gauges, "unavailable: boom"));
  auto r = ctl({"--node", fake.url(), "actor", "engine"}, {"COLUMNS=60"});
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.err, "") << r.describe();
  for (auto line : {"kind +event_based", "parent +node_supervisor",
                    "restarts +1", "last_error +unavailable: boom"})
    EXPECT_TRUE(
      std::regex_search(r.out, std::regex("(^|\n)" + std::string{line} + "\n")))
      << line << r.describe();
  for (auto& [name, value] : gauges.items())
    EXPECT_TRUE(contains(r.out, "gauge " + name + " ")) << name << r.describe();
  EXPECT_TRUE(std::regex_search(
    r.out, std::regex(R"(gauge bytes_in +1\.5 MiB \(1572864\))")))
    << r.describe();
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(gauge peers +3\n)")))
    << r.describe();
  EXPECT_FALSE(contains(r.out, "…")) << r.describe();
  json j;
  ASSERT_TRUE(
    ctl_json({"--node", fake.url(), "actor", "engine", "--json"}, &j));
  EXPECT_EQ(j.value("name", ""), "engine") << j.dump();
  auto missing = ctl({"--node", fake.url(), "actor", "nobody"});
  EXPECT_EQ(missing.code, 1) << missing.describe();
  EXPECT_EQ(missing.err,
            "cairnctl: " + fake.url() + ": no actor named nobody\n")
    << missing.describe();
  EXPECT_EQ(missing.out, "") << missing.describe();
}

TEST(CairnctlFakeNodeTest, PeersShowsADashForLatencyNeverMeasured) {
  fake_node fake;
  // The engine reports a prior latency (50 ms) until a block arrived.
  fake.on("GET /api/cairn/v1/peers",
          {200, json{{"peers",
                      {{{"peerId", "12D3KooWFresh"},
                        {"addrs", json::array()},
                        {"blocksReceived", 0},
                        {"rateBytesPerSecond", 0.0},
                        {"latencySeconds", 0.05}},
                       {{"peerId", "12D3KooWBusy"},
                        {"addrs", json::array()},
                        {"blocksReceived", 40},
                        {"rateBytesPerSecond", 2.0e6},
                        {"latencySeconds", 0.0125}}}}}
                  .dump()});
  auto r = ctl({"--node", fake.url(), "peers"});
  ASSERT_EQ(r.code, 0) << r.describe();
  std::string fresh, busy;
  for (auto& l : lines_of(r.out)) {
    if (contains(l, "12D3KooWFresh"))
      fresh = l;
    if (contains(l, "12D3KooWBusy"))
      busy = l;
  }
  EXPECT_TRUE(contains(fresh, "—")) << r.describe();
  EXPECT_FALSE(contains(fresh, "ms")) << r.describe();
  EXPECT_TRUE(contains(busy, "12.5 ms")) << r.describe();
}

TEST(CairnctlFakeNodeTest, DownloadSaysDiscoveringUntilBlocksFlow) {
  fake_node fake;
  const std::string cid =
    "zDvZRwzm5sfnbDJgpKjm9GtvT3xRfHN1Mc3HJaHPhNR7Dcu4UDja";
  auto data = random_bytes(1024 * 1024, 4);
  fake.on("GET /api/codex/v1/data/" + cid + "/network/stream",
          {200, data, "application/octet-stream", 2500ms});
  temp_dir dir("cairnctl-discover");
  auto r = ctl({"--node", fake.url(), "download", cid, "-o", dir.file("x")});
  ASSERT_EQ(r.code, 0) << r.describe();
  auto lines = r.err_lines();
  ASSERT_GE(lines.size(), 2u) << r.describe();
  EXPECT_TRUE(contains(lines.front(), "discovering…")) << r.describe();
  for (auto& l : lines) {
    EXPECT_TRUE(is_progress_line(l)) << "'" << l << "'" << r.describe();
    // No ETA from a rate measured over the wait.
    EXPECT_FALSE(std::regex_search(l, std::regex(R"(ETA \d+[dh])")))
      << l << r.describe();
  }
  EXPECT_TRUE(contains(lines.back(), "100%")) << r.describe();
  EXPECT_TRUE(std::regex_search(lines.back(),
                                std::regex(R"(done in ([2-9]|\d\d+)\.\ds$)")))
    << "time counts from the request" << r.describe();
  EXPECT_EQ(read_file(dir.file("x")), data);
}

// == against real nodes =======================================================

TEST_F(CairnctlTest, StatusJsonDescribesTheNode) {
  json s;
  ASSERT_TRUE(ctl_json(at({"status", "--json"}), &s));
  ASSERT_TRUE(s.is_object()) << s.dump();
  EXPECT_EQ(s.value("node", ""), node.url());
  EXPECT_EQ(s.value("peerId", ""), node.proc.peer_id());
  ASSERT_TRUE(s["addrs"].is_array() && !s["addrs"].empty()) << s.dump();
  EXPECT_EQ(s.value("api", ""), node.url());
  EXPECT_TRUE(s["uptimeSeconds"].is_number()) << s.dump();
  ASSERT_TRUE(s["space"].is_object()) << s.dump();
  EXPECT_EQ(s["space"].value("quotaMaxBytes", 0ull), 1ull << 30);
  EXPECT_EQ(s["space"].value("totalBlocks", 1ull), 0ull);
  ASSERT_TRUE(s["actorCount"].is_number()) << s.dump();
  EXPECT_GE(s["actorCount"].get<int>(), 10) << s.dump();
  EXPECT_EQ(s.value("peerCount", -1), 0) << s.dump();
  EXPECT_EQ(s.value("runningDownloads", -1), 0) << s.dump();
  EXPECT_FALSE(s.contains("errors")) << s.dump();
  // The table: a header and one row naming the node and its peer id.
  auto r = ctl(at({"status"}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out.rfind("NODE ", 0), 0u) << r.describe();
  EXPECT_TRUE(contains(r.out, node.proc.peer_id())) << r.describe();
}

TEST_F(CairnctlTest, ActorsJsonListsEveryActorWithTheDocumentedFields) {
  json actors;
  ASSERT_TRUE(ctl_json(at({"actors", "--json"}), &actors));
  ASSERT_TRUE(actors.is_array()) << actors.dump();
  std::set<std::string> names;
  for (auto& a : actors) {
    ASSERT_TRUE(a.is_object()) << a.dump();
    ASSERT_TRUE(a["name"].is_string()) << a.dump();
    EXPECT_TRUE(a["id"].is_number_unsigned()) << a.dump();
    ASSERT_TRUE(a["kind"].is_string()) << a.dump();
    EXPECT_TRUE(
      std::set<std::string>({"event_based", "detached", "broker", "supervisor"})
        .count(a["kind"].get<std::string>()))
      << a.dump();
    EXPECT_TRUE(a["parent"].is_string()) << a.dump();
    EXPECT_TRUE(a["mailbox"].is_number_unsigned()) << a.dump();
    EXPECT_TRUE(a["processed"].is_number_unsigned()) << a.dump();
    EXPECT_TRUE(a["busy_seconds"].is_number()) << a.dump();
    EXPECT_TRUE(a["restarts"].is_number_unsigned()) << a.dump();
    EXPECT_TRUE(a["last_error"].is_string()) << a.dump();
    if (a.contains("gauges")) {
      ASSERT_TRUE(a["gauges"].is_object()) << a.dump();
      for (auto& [k, v] : a["gauges"].items())
        EXPECT_TRUE(v.is_number()) << k << " in " << a.dump();
    }
    names.insert(a["name"].get<std::string>());
  }
  for (auto n : {"node_supervisor", "local_store", "network_store", "engine",
                 "discovery", "advertiser", "maintenance", "api",
                 "peer_listener", "inspector"})
    EXPECT_TRUE(names.count(n)) << n << " missing in " << actors.dump();
  auto root = find_named(actors, "name", "node_supervisor");
  EXPECT_EQ(root.value("parent", "?"), "");
  EXPECT_EQ(root.value("kind", ""), "supervisor");
  for (auto n : {"local_store", "network_store", "engine", "discovery",
                 "advertiser", "maintenance", "api", "peer_listener"})
    EXPECT_EQ(find_named(actors, "name", n).value("parent", ""),
              "node_supervisor")
      << n;
  EXPECT_EQ(find_named(actors, "name", "local_store").value("kind", ""),
            "detached");
  EXPECT_EQ(find_named(actors, "name", "api").value("kind", ""), "detached");
  EXPECT_EQ(find_named(actors, "name", "peer_listener").value("kind", ""),
            "broker");
  for (auto& a : actors) {
    if (a.value("parent", "") != "") {
      EXPECT_TRUE(names.count(a.value("parent", ""))) << a.dump();
    }
  }
  // The table has a row per actor.
  auto r = ctl(at({"actors"}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out.rfind("NAME ", 0), 0u) << r.describe();
  for (auto& n : names)
    EXPECT_TRUE(contains(r.out, "\n" + n + " ")) << n << r.describe();
}

TEST_F(CairnctlTest, ActorsJsonBeforeAndAfterTheCommandAgreeOnNames) {
  json before, after;
  ASSERT_TRUE(ctl_json(at({"--json", "actors"}), &before));
  ASSERT_TRUE(ctl_json(at({"actors", "--json"}), &after));
  ASSERT_TRUE(before.is_array() && after.is_array());
  std::set<std::string> a, b;
  for (auto& x : before)
    a.insert(x.value("name", ""));
  for (auto& x : after)
    b.insert(x.value("name", ""));
  EXPECT_EQ(a, b);
  EXPECT_TRUE(a.count("engine"));
}

TEST_F(CairnctlTest, JsonFlagWorksBeforeAndAfterTheCommand) {
  for (auto cmd : {"peers", "downloads"}) {
    json before, after;
    ASSERT_TRUE(ctl_json(at({"--json", cmd}), &before));
    ASSERT_TRUE(ctl_json(at({cmd, "--json"}), &after));
    EXPECT_TRUE(before.is_array()) << before.dump();
    EXPECT_EQ(before, after) << cmd;
  }
}

TEST_F(CairnctlTest, TreeShowsTheSupervisorAndItsChildren) {
  json tree;
  ASSERT_TRUE(ctl_json(at({"tree", "--json"}), &tree));
  ASSERT_TRUE(tree.is_object()) << tree.dump();
  EXPECT_EQ(tree.value("name", ""), "node_supervisor");
  EXPECT_EQ(tree.value("kind", ""), "supervisor");
  EXPECT_TRUE(tree["id"].is_number()) << tree.dump();
  EXPECT_TRUE(tree["restarts"].is_number()) << tree.dump();
  EXPECT_TRUE(tree["intensity_left"].is_number()) << tree.dump();
  ASSERT_TRUE(tree["children"].is_array()) << tree.dump();
  std::set<std::string> children;
  for (auto& c : tree["children"]) {
    EXPECT_TRUE(c["name"].is_string() && c["id"].is_number() &&
                c["kind"].is_string() && c["restarts"].is_number())
      << c.dump();
    children.insert(c.value("name", ""));
  }
  for (auto n : {"local_store", "network_store", "engine", "discovery",
                 "advertiser", "maintenance", "api", "peer_listener"})
    EXPECT_TRUE(children.count(n)) << n << " in " << tree.dump();
  auto r = ctl(at({"tree"}));
  ASSERT_EQ(r.code, 0) << r.describe();
  auto lines = std::vector<std::string>{};
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);)
    lines.push_back(l);
  ASSERT_GE(lines.size(), 3u) << r.out;
  EXPECT_EQ(lines[0].rfind("ACTOR ", 0), 0u) << r.out;
  EXPECT_EQ(lines[1].rfind("node_supervisor ", 0), 0u) << r.out;
  EXPECT_TRUE(contains(r.out, "├─ ")) << r.out;
  EXPECT_TRUE(contains(r.out, "└─ ")) << r.out;
  EXPECT_TRUE(contains(r.out, "── engine") || contains(r.out, "─ engine"))
    << r.out;
  EXPECT_TRUE(contains(r.out, "supervisor")) << r.out;
}

TEST_F(CairnctlTest, UploadThenDownloadGivesIdenticalBytes) {
  auto data = random_bytes(3 * 1024 * 1024 + 12345, 7);
  auto file = node.dir.file("in.bin");
  write_file(file, data);
  auto up = ctl(at({"upload", file}));
  ASSERT_EQ(up.code, 0) << up.describe();
  ASSERT_FALSE(up.out.empty());
  ASSERT_EQ(up.out.back(), '\n') << up.describe();
  auto cid = up.out.substr(0, up.out.size() - 1);
  EXPECT_TRUE(looks_like_cid(cid))
    << "stdout must hold only the CID" << up.describe();
  auto check_progress = [](const run_result& r) {
    auto lines = r.err_lines();
    EXPECT_FALSE(lines.empty()) << r.describe();
    for (auto& l : lines)
      EXPECT_TRUE(is_progress_line(l)) << "'" << l << "'" << r.describe();
    EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.describe();
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.describe();
    if (!lines.empty()) {
      EXPECT_TRUE(contains(lines.back(), "100%") &&
                  contains(lines.back(), "done in"))
        << r.describe();
    }
  };
  check_progress(up);
  // The filename went along.
  auto cli = node.proc.client();
  auto head = cli.Get(api("/data/" + cid));
  ASSERT_TRUE(head);
  EXPECT_TRUE(contains(head->get_header_value("Content-Disposition"),
                       "filename=\"in.bin\""));

  auto out = node.dir.file("out.bin");
  auto down = ctl(at({"download", cid, "-o", out}));
  ASSERT_EQ(down.code, 0) << down.describe();
  EXPECT_EQ(down.out, "") << down.describe();
  check_progress(down);
  EXPECT_EQ(sha256_hex(read_file(out)), sha256_hex(data));
  // No temporary file is left next to the output.
  for (auto& e : std::filesystem::directory_iterator(node.dir.path()))
    EXPECT_FALSE(contains(e.path().filename().string(), ".part-")) << e.path();

  // To stdout when it is a pipe.
  auto piped = ctl(at({"download", cid}));
  ASSERT_EQ(piped.code, 0) << piped.err;
  EXPECT_EQ(piped.out.size(), data.size());
  EXPECT_EQ(sha256_hex(piped.out), sha256_hex(data));
}

TEST_F(CairnctlTest, TransferErrorsAreOneLineAndLeaveNoFile) {
  auto missing = ctl(at({"upload", node.dir.file("no-such-file")}));
  EXPECT_EQ(missing.code, 1) << missing.describe();
  EXPECT_TRUE(contains(missing.err, "cannot open")) << missing.describe();
  EXPECT_EQ(missing.err_lines().size(), 1u) << missing.describe();
  EXPECT_EQ(missing.out, "");

  auto empty = node.dir.file("empty");
  write_file(empty, "");
  auto r = ctl(at({"upload", empty}));
  EXPECT_EQ(r.code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "(HTTP 400)")) << r.describe();
  EXPECT_EQ(r.out, "");

  auto out = node.dir.file("never");
  auto bad = ctl(at({"download", "notacid", "-o", out}));
  EXPECT_EQ(bad.code, 1) << bad.describe();
  EXPECT_TRUE(contains(bad.err, "(HTTP 400)")) << bad.describe();
  EXPECT_EQ(bad.err_lines().size(), 1u) << bad.describe();
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST_F(CairnctlTest, StoreJsonCountsTheUploadedBlocks) {
  auto data = random_bytes(1024 * 1024, 11);
  auto file = node.dir.file("store.bin");
  write_file(file, data);
  auto up = ctl(at({"upload", file}));
  ASSERT_EQ(up.code, 0) << up.describe();
  json s;
  ASSERT_TRUE(ctl_json(at({"store", "--json"}), &s));
  ASSERT_TRUE(s.is_object()) << s.dump();
  for (auto key : {"blocks", "bytes", "quotaBytes", "datasets", "mapBytes",
                   "reads", "writes"})
    ASSERT_TRUE(s[key].is_number_unsigned()) << key << " in " << s.dump();
  ASSERT_TRUE(s["txnPerSecond"].is_number()) << s.dump();
  EXPECT_GE(s["blocks"].get<std::uint64_t>(), 17u) << s.dump(); // 16 + manifest
  EXPECT_GE(s["bytes"].get<std::uint64_t>(), data.size()) << s.dump();
  EXPECT_EQ(s["quotaBytes"].get<std::uint64_t>(), 1ull << 30) << s.dump();
  EXPECT_EQ(s["datasets"].get<std::uint64_t>(), 1u) << s.dump();
  EXPECT_GT(s["mapBytes"].get<std::uint64_t>(), 0u) << s.dump();
  EXPECT_GT(s["writes"].get<std::uint64_t>(), 0u) << s.dump();
  EXPECT_GE(s["txnPerSecond"].get<double>(), 0.0) << s.dump();
  auto r = ctl(at({"store"}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out.rfind("BLOCKS", 0), 0u) << r.describe();
}

TEST_F(CairnctlTest, WantsJsonListsABlockTheNodeWaitsFor) {
  // A connected peer that has the dataset but is stopped (SIGSTOP): the
  // node asks it and keeps wanting the manifest until the peer answers or
  // the want times out (20 s). The client waits until `wants` was looked at
  // (up to 10 s: each look starts a process, slow on a loaded machine), then
  // hangs up. (A CID that nobody has is given up within a second.)
  test_node holder;
  ASSERT_TRUE(holder.proc.start());
  std::string cid;
  {
    auto hc = holder.proc.client();
    ASSERT_TRUE(cairn::test::upload(hc, random_bytes(100000, 3), &cid));
  }
  ASSERT_TRUE(connect_nodes(node.proc, holder.proc));
  ::kill(holder.proc.pid(), SIGSTOP);
  struct resume {
    pid_t pid;
    ~resume() { ::kill(pid, SIGCONT); }
  } resume_holder{holder.proc.pid()};
  auto fetcher = node.proc.client();
  fetcher.set_read_timeout(15, 0);
  std::thread fetch(
    [&] { fetcher.Get(api("/data/" + cid + "/network/stream")); });
  json want;
  std::string last;
  bool seen = eventually(
    [&] {
      json w;
      auto r = ctl(at({"wants", "--json"}));
      last = r.describe();
      w = json::parse(r.out, nullptr, false);
      want = find_named(w, "address", cid);
      return !want.empty();
    },
    10s);
  fetcher.stop();
  fetch.join();
  ASSERT_TRUE(seen) << last;
  EXPECT_TRUE(want["ageSeconds"].is_number()) << want.dump();
  EXPECT_GE(want.value("ageSeconds", -1.0), 0.0) << want.dump();
  ASSERT_TRUE(want["peers"].is_array()) << want.dump();
  for (auto& p : want["peers"])
    EXPECT_TRUE(p.is_string()) << want.dump();
  EXPECT_GE(want.value("waiters", 0), 1) << want.dump();
}

TEST_F(CairnctlTest, LoglevelSetsTheLevelAndRefusesUnknownOnes) {
  auto r = ctl(at({"loglevel", "debug"}));
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, node.url() + ": log level set to debug\n");
  EXPECT_EQ(r.err, "");
  json j;
  ASSERT_TRUE(ctl_json(at({"loglevel", "DEBUG;TRACE:libp2p", "--json"}), &j));
  EXPECT_EQ(j, (json{{"node", node.url()}, {"level", "DEBUG;TRACE:libp2p"}}));
  auto bad = ctl(at({"loglevel", "loud"}));
  EXPECT_EQ(bad.code, 1) << bad.describe();
  EXPECT_EQ(bad.err_lines().size(), 1u) << bad.describe();
  EXPECT_TRUE(contains(bad.err, "loud")) << bad.describe();
  EXPECT_TRUE(contains(bad.err, "(HTTP 400)")) << bad.describe();
}

TEST_F(CairnctlTest, RestartOfAnUnknownActorFails) {
  auto r = ctl(at({"restart", "no_such_actor"}));
  EXPECT_NE(r.code, 0) << r.describe();
  EXPECT_EQ(r.err_lines().size(), 1u) << r.describe();
  EXPECT_TRUE(contains(r.err, "no actor named")) << r.describe();
  EXPECT_TRUE(contains(r.err, "(HTTP 404)")) << r.describe();
  EXPECT_EQ(r.out, "");
}

TEST_F(CairnctlTest, CrashWithoutFaultInjectionIsRefused) {
  auto r = ctl(at({"crash", "local_store"}));
  EXPECT_NE(r.code, 0) << r.describe();
  EXPECT_EQ(r.err_lines().size(), 1u) << r.describe();
  EXPECT_TRUE(contains(r.err, "(HTTP 403)")) << r.describe();
  EXPECT_EQ(r.out, "");
  // And local_store was not touched.
  json actors;
  ASSERT_TRUE(ctl_json(at({"actors", "--json"}), &actors));
  EXPECT_EQ(find_named(actors, "name", "local_store").value("restarts", -1), 0)
    << actors.dump();
}

TEST_F(CairnctlTest, RestartIsCountedInActors) {
  auto r = ctl(at({"restart", "maintenance"}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, node.url() + ": maintenance restarted\n");
  std::string last;
  EXPECT_TRUE(eventually(
    [&] {
      json actors;
      if (!ctl_json(at({"actors", "--json"}), &actors))
        return false;
      last = actors.dump();
      return find_named(actors, "name", "maintenance").value("restarts", 0) >=
             1;
    },
    5s))
    << last;
}

TEST(CairnctlFaultTest, CrashWithFaultInjectionRestartsTheActor) {
  test_node n({"--enable-fault-injection"});
  ASSERT_TRUE(n.proc.start());
  auto r = ctl({"--node", n.url(), "crash", "maintenance"});
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, n.url() + ": maintenance crashed\n");
  std::string last;
  EXPECT_TRUE(eventually(
    [&] {
      json actors;
      if (!ctl_json({"--node", n.url(), "actors", "--json"}, &actors))
        return false;
      last = actors.dump();
      auto a = find_named(actors, "name", "maintenance");
      return a.value("restarts", 0) >= 1;
    },
    5s))
    << last;
}

TEST_F(CairnctlTest, UploadOfAnEmptyFilePrintsOneErrorLine) {
  auto empty = node.dir.file("empty");
  write_file(empty, "");
  auto r = ctl(at({"upload", empty}));
  EXPECT_EQ(r.code, 1) << r.describe();
  ASSERT_EQ(r.err_lines().size(), 1u) << r.describe();
  EXPECT_EQ(r.err.rfind("cairnctl: ", 0), 0u) << r.describe();
  EXPECT_TRUE(contains(r.err, "(HTTP 400)")) << r.describe();
  EXPECT_EQ(r.out, "");
}

TEST_F(CairnctlTest, RequestedRestartIsLoggedAtInfoNotAsAWarning) {
  auto r = ctl(at({"restart", "engine"}));
  ASSERT_EQ(r.code, 0) << r.describe();
  std::string log;
  ASSERT_TRUE(eventually(
    [&] {
      log = node.proc.stderr_text();
      return contains(log, "restarted engine");
    },
    5s))
    << log;
  EXPECT_TRUE(std::regex_search(
    log,
    std::regex(R"(info +node_supervisor: restarting engine as requested)")))
    << log;
  for (auto& l : lines_of(log)) {
    EXPECT_FALSE(contains(l, "warn") && contains(l, "engine")) << l;
    EXPECT_FALSE(contains(l, "exit_reason")) << l;
  }
}

TEST(CairnctlFaultTest, InspectorRestartKeepsRestartCountsAndLastErrors) {
  test_node n({"--enable-fault-injection"});
  ASSERT_TRUE(n.proc.start());
  auto at = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--node", n.url()});
    return args;
  };
  ASSERT_EQ(ctl(at({"crash", "maintenance"})).code, 0);
  json before;
  std::string last;
  ASSERT_TRUE(eventually(
    [&] {
      json actors;
      if (!ctl_json(at({"actors", "--json"}), &actors))
        return false;
      last = actors.dump();
      before = find_named(actors, "name", "maintenance");
      return before.value("restarts", 0) == 1;
    },
    5s))
    << last;
  auto error = before.value("last_error", "");
  EXPECT_TRUE(contains(error, "injected_fault")) << before.dump();

  auto r = ctl(at({"restart", "inspector"}));
  ASSERT_EQ(r.code, 0) << r.describe();
  json actors;
  ASSERT_TRUE(eventually(
    [&] {
      if (!ctl_json(at({"actors", "--json"}), &actors))
        return false;
      last = actors.dump();
      return find_named(actors, "name", "inspector").value("restarts", 0) == 1;
    },
    5s))
    << "the inspector's restart is not counted: " << last;
  auto after = find_named(actors, "name", "maintenance");
  EXPECT_EQ(after.value("restarts", -1), 1) << after.dump();
  EXPECT_EQ(after.value("last_error", ""), error) << after.dump();
  EXPECT_EQ(find_named(actors, "name", "inspector").value("last_error", "?"),
            "")
    << "a requested restart is no error";

  json tree;
  ASSERT_TRUE(ctl_json(at({"tree", "--json"}), &tree));
  EXPECT_EQ(
    find_named(tree["children"], "name", "maintenance").value("restarts", -1),
    1)
    << tree.dump();
  json top;
  ASSERT_TRUE(ctl_json(at({"top", "--json", "--interval", "0.2"}), &top));
  EXPECT_EQ(find_named(top, "name", "maintenance").value("restarts", -1), 1)
    << top.dump();
  auto table = ctl(at({"actors"}));
  ASSERT_EQ(table.code, 0) << table.describe();
  for (auto& l : lines_of(table.out)) {
    if (l.rfind("maintenance ", 0) == 0) {
      EXPECT_TRUE(contains(l, "injected_fault")) << l;
    }
  }
}

// -- two nodes ----------------------------------------------------------------

class CairnctlTwoNodeTest : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_TRUE(a.proc.start());
    ASSERT_TRUE(b.proc.start());
  }

  test_node a;
  test_node b;
};

TEST_F(CairnctlTwoNodeTest, PeersJsonShowsTheConnectedNode) {
  ASSERT_TRUE(connect_nodes(a.proc, b.proc));
  json peers;
  std::string last;
  ASSERT_TRUE(eventually(
    [&] {
      if (!ctl_json({"--node", a.url(), "peers", "--json"}, &peers))
        return false;
      last = peers.dump();
      return !find_named(peers, "peerId", b.proc.peer_id()).empty();
    },
    5s))
    << last;
  auto p = find_named(peers, "peerId", b.proc.peer_id());
  ASSERT_TRUE(p["addrs"].is_array()) << p.dump();
  for (auto key : {"blocksReceived", "bytesReceived", "bytesSent", "badBlocks",
                   "timeouts", "outstanding", "queued"})
    EXPECT_TRUE(p[key].is_number_unsigned()) << key << " in " << p.dump();
  EXPECT_TRUE(p["rateBytesPerSecond"].is_number()) << p.dump();
  // Nothing was fetched from B: its latency was never measured.
  EXPECT_EQ(p["rateBytesPerSecond"], 0) << p.dump();
  EXPECT_TRUE(p["latencySeconds"].is_null()) << p.dump();
  auto r = ctl({"--node", a.url(), "peers"});
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, b.proc.peer_id())) << r.describe();
}

TEST_F(CairnctlTwoNodeTest, InspectorRestartKeepsListingPeerSessions) {
  ASSERT_TRUE(connect_nodes(a.proc, b.proc));
  const auto session = "peer_session/" + b.proc.peer_id();
  std::string last;
  auto listed = [&](const std::string& name, int restarts_of_inspector) {
    json actors;
    if (!ctl_json({"--node", a.url(), "actors", "--json"}, &actors))
      return false;
    last = actors.dump();
    return !find_named(actors, "name", name).empty() &&
           find_named(actors, "name", "inspector").value("restarts", -1) ==
             restarts_of_inspector;
  };
  ASSERT_TRUE(eventually([&] { return listed(session, 0); }, 5s)) << last;
  auto r = ctl({"--node", a.url(), "restart", "inspector"});
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_TRUE(eventually([&] { return listed(session, 1); }, 5s))
    << "the session is gone from the list: " << last;
}

TEST_F(CairnctlTwoNodeTest, TwoNodesGiveOneTableWithANodeColumn) {
  ASSERT_TRUE(connect_nodes(a.proc, b.proc));
  // Both see each other once the handshake is done.
  ASSERT_TRUE(eventually(
    [&] {
      json j;
      return ctl_json({"--node", b.url(), "peers", "--json"}, &j) &&
             j.size() == 1;
    },
    5s));
  auto r = ctl({"--node", a.url(), "--node", b.url(), "peers"});
  ASSERT_EQ(r.code, 0) << r.describe();
  std::vector<std::string> lines;
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);)
    lines.push_back(l);
  ASSERT_EQ(lines.size(), 3u) << r.describe();
  EXPECT_EQ(lines[0].rfind("NODE ", 0), 0u) << r.describe();
  EXPECT_TRUE(contains(lines[0], "PEER")) << r.describe();
  EXPECT_EQ(lines[1].rfind(a.url() + " ", 0), 0u) << r.describe();
  EXPECT_TRUE(contains(lines[1], b.proc.peer_id())) << r.describe();
  EXPECT_EQ(lines[2].rfind(b.url() + " ", 0), 0u) << r.describe();
  EXPECT_TRUE(contains(lines[2], a.proc.peer_id())) << r.describe();

  // JSON: one object per node, named by its URL.
  json j;
  ASSERT_TRUE(
    ctl_json({"--node", a.url(), "peers", "--node", b.url(), "--json"}, &j));
  ASSERT_TRUE(j.is_array() && j.size() == 2) << j.dump();
  EXPECT_EQ(j[0].value("node", ""), a.url());
  EXPECT_EQ(j[1].value("node", ""), b.url());
  ASSERT_TRUE(j[0]["peers"].is_array()) << j.dump();
  EXPECT_FALSE(find_named(j[0]["peers"], "peerId", b.proc.peer_id()).empty());
  EXPECT_FALSE(find_named(j[1]["peers"], "peerId", a.proc.peer_id()).empty());

  // One node down: the other is still shown, the failure is one line, exit 2.
  auto dead = "http://127.0.0.1:" + std::to_string(unused_port());
  auto partial = ctl({"--node", a.url(), "--node", dead, "peers"});
  EXPECT_EQ(partial.code, 2) << partial.describe();
  EXPECT_EQ(partial.err,
            "cairnctl: cannot reach " + dead + ": connection refused\n");
  EXPECT_TRUE(contains(partial.out, b.proc.peer_id())) << partial.describe();
}

TEST_F(CairnctlTwoNodeTest, StatusOfTwoNodesIsOneTable) {
  auto r = ctl({"--node", a.url(), "--node", b.url(), "status"});
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, a.proc.peer_id())) << r.describe();
  EXPECT_TRUE(contains(r.out, b.proc.peer_id())) << r.describe();
  json j;
  ASSERT_TRUE(
    ctl_json({"--node", a.url(), "--node", b.url(), "--json", "status"}, &j));
  ASSERT_TRUE(j.is_array() && j.size() == 2) << j.dump();
  EXPECT_EQ(j[0].value("node", ""), a.url());
  EXPECT_EQ(j[0].value("peerId", ""), a.proc.peer_id());
  EXPECT_EQ(j[1].value("node", ""), b.url());
  EXPECT_EQ(j[1].value("peerId", ""), b.proc.peer_id());
  // actors of both nodes, with a node key each.
  ASSERT_TRUE(
    ctl_json({"--node", a.url(), "--node", b.url(), "actors", "--json"}, &j));
  ASSERT_TRUE(j.is_array() && j.size() == 2) << j.dump();
  EXPECT_EQ(j[1].value("node", ""), b.url());
  EXPECT_FALSE(find_named(j[1]["actors"], "name", "engine").empty());
}

TEST_F(CairnctlTwoNodeTest, DownloadsJsonShowsAFinishedNetworkDownload) {
  auto data = random_bytes(2 * 1024 * 1024 + 100, 5);
  auto file = a.dir.file("seed.bin");
  write_file(file, data);
  auto up = ctl({"--node", a.url(), "upload", file});
  ASSERT_EQ(up.code, 0) << up.describe();
  auto cid = up.out.substr(0, up.out.find('\n'));
  ASSERT_TRUE(connect_nodes(b.proc, a.proc));
  auto out = b.dir.file("fetched.bin");
  auto down = ctl({"--node", b.url(), "download", cid, "-o", out});
  ASSERT_EQ(down.code, 0) << down.describe();
  EXPECT_EQ(sha256_hex(read_file(out)), sha256_hex(data));

  json downloads;
  std::string last;
  json d;
  ASSERT_TRUE(eventually(
    [&] {
      if (!ctl_json({"--node", b.url(), "downloads", "--json"}, &downloads))
        return false;
      last = downloads.dump();
      d = find_named(downloads, "cid", cid);
      return !d.empty() && d.value("state", "") != "running";
    },
    5s))
    << last;
  EXPECT_EQ(d.value("state", ""), "done") << d.dump();
  EXPECT_EQ(d.value("kind", ""), "stream") << d.dump();
  ASSERT_TRUE(d["blocksTotal"].is_number_unsigned()) << d.dump();
  EXPECT_EQ(d["blocksTotal"].get<std::uint64_t>(), 33u) << d.dump();
  EXPECT_EQ(d.value("blocksDone", 0ull), d["blocksTotal"].get<std::uint64_t>())
    << d.dump();
  // The dataset's bytes, not the padding of its last block.
  EXPECT_EQ(d.value("bytesDone", 0ull), data.size()) << d.dump();
  EXPECT_TRUE(d["treeCid"].is_string()) << d.dump();
  EXPECT_TRUE(d["seconds"].is_number()) << d.dump();
  EXPECT_TRUE(d["bytesPerSecond"].is_number()) << d.dump();
  EXPECT_TRUE(d["error"].is_null() || d["error"] == "") << d.dump();
  ASSERT_TRUE(d["peers"].is_array()) << d.dump();
  auto from_a = find_named(d["peers"], "peerId", a.proc.peer_id());
  ASSERT_FALSE(from_a.empty()) << d.dump();
  EXPECT_GE(from_a.value("blocks", 0), 33) << d.dump();

  auto table = ctl({"--node", b.url(), "downloads"});
  ASSERT_EQ(table.code, 0) << table.describe();
  EXPECT_TRUE(contains(table.out, cid)) << table.describe();
  EXPECT_TRUE(contains(table.out, "33/33")) << table.describe();
  EXPECT_TRUE(contains(table.out, "done")) << table.describe();
}

// -- top and progress in a real terminal --------------------------------------

class CairnctlTerminalTest : public CairnctlTest {
protected:
  void SetUp() override {
    std::string why;
    if (!tmux_available(&why))
      GTEST_SKIP() << why;
    CairnctlTest::SetUp();
  }

  /// `cairnctl --node URL args` in a tmux pane; then its exit code goes to
  /// `rc`, its stderr to `err` and the terminal settings to `stty` in the
  /// node's temp dir (whole: written aside, then renamed), and the session
  /// ends.
  std::string command(const std::string& args) {
    auto stty = shell_quote(node.dir.file("stty"));
    auto part = shell_quote(node.dir.file("stty.part"));
    return shell_quote(CAIRNCTL_BIN) + " --node " + node.url() + " " + args +
           " 2> " + shell_quote(node.dir.file("err")) + "; echo $? > " +
           shell_quote(node.dir.file("rc")) + "; stty -a > " + part +
           " && mv " + part + " " + stty;
  }

  std::string why_not(const std::string& screen) {
    return "\nscreen:\n" + screen +
           "\nstderr: " + read_file(node.dir.file("err")) +
           "\nexit: " + read_file(node.dir.file("rc"));
  }

  // The settings are written after the exit code: they may still be on
  // their way when the test has seen it.
  void expect_terminal_restored() {
    std::string stty;
    EXPECT_TRUE(eventually(
      [&] { return !(stty = read_file(node.dir.file("stty"))).empty(); }, 5s))
      << "no terminal settings written";
    EXPECT_TRUE(std::regex_search(stty, std::regex(R"((^|\s)icanon(\s|$))")))
      << stty;
    EXPECT_TRUE(std::regex_search(stty, std::regex(R"((^|\s)echo(\s|$))")))
      << stty;
    EXPECT_TRUE(std::regex_search(stty, std::regex(R"((^|\s)isig(\s|$))")))
      << stty;
  }
};

TEST_F(CairnctlTerminalTest, TopShowsActorsAndRefreshesInPlace) {
  tmux_session tmux(command("top"));
  ASSERT_EQ(tmux.started().code, 0) << tmux.started().describe();
  std::string first;
  ASSERT_TRUE(tmux.wait_for(
    [](const std::string& s) { return contains(s, "engine"); }, 5s, &first))
    << why_not(first);
  EXPECT_TRUE(contains(first, "cairnctl top  " + node.url())) << first;
  EXPECT_TRUE(contains(first, " actors  ")) << first;
  EXPECT_TRUE(contains(first, " msgs/s")) << first;
  EXPECT_TRUE(contains(first, "sort: mailbox")) << first;
  for (auto col : {"NAME", "KIND", "MAILBOX", "MSG/S", "PROCESSED", "RESTARTS",
                   "LAST_ERROR"})
    EXPECT_TRUE(contains(first, col)) << col << "\n" << first;
  for (auto actor : {"local_store", "network_store", "api", "node_supervisor"})
    EXPECT_TRUE(contains(first, actor)) << actor << "\n" << first;
  auto t0 = header_time(first);
  ASSERT_FALSE(t0.empty()) << first;
  std::string later;
  EXPECT_TRUE(tmux.wait_for(
    [&](const std::string& s) {
      auto t = header_time(s);
      return !t.empty() && t != t0;
    },
    3s, &later))
    << "the header's time did not change:\n"
    << later;
  // Redrawn in place: one header, not a scrolling log.
  std::size_t headers = 0;
  for (auto pos = later.find("cairnctl top"); pos != std::string::npos;
       pos = later.find("cairnctl top", pos + 1))
    ++headers;
  EXPECT_EQ(headers, 1u) << later;
}

TEST_F(CairnctlTerminalTest, TopKeysChangeTheSortAndQQuits) {
  tmux_session tmux(command("top"));
  ASSERT_EQ(tmux.started().code, 0) << tmux.started().describe();
  std::string screen;
  ASSERT_TRUE(tmux.wait_for(
    [](const std::string& s) { return contains(s, "engine"); }, 5s, &screen))
    << why_not(screen);
  EXPECT_TRUE(contains(screen, "MAILBOX*")) << screen;
  tmux.send_keys("r");
  EXPECT_TRUE(tmux.wait_for(
    [](const std::string& s) {
      return contains(s, "sort: rate") && contains(s, "MSG/S*");
    },
    2s, &screen))
    << screen;
  tmux.send_keys("m");
  EXPECT_TRUE(tmux.wait_for(
    [](const std::string& s) {
      return contains(s, "sort: mailbox") && contains(s, "MAILBOX*");
    },
    2s, &screen))
    << screen;
  tmux.send_keys("q");
  EXPECT_TRUE(eventually([&] { return !tmux.alive(); }, 2s))
    << "top did not quit on q";
  EXPECT_EQ(read_file(node.dir.file("rc")), "0\n");
  expect_terminal_restored();
}

TEST_F(CairnctlTerminalTest, TopQuitsOnCtrlCAndRestoresTheTerminal) {
  tmux_session tmux(command("top"));
  ASSERT_EQ(tmux.started().code, 0) << tmux.started().describe();
  std::string screen;
  ASSERT_TRUE(tmux.wait_for(
    [](const std::string& s) { return contains(s, "engine"); }, 5s, &screen))
    << why_not(screen);
  tmux.send_keys("C-c");
  EXPECT_TRUE(eventually([&] { return !tmux.alive(); }, 2s))
    << "top did not quit on Ctrl-C";
  expect_terminal_restored();
}

TEST_F(CairnctlTerminalTest, TopStopsAfterIterations) {
  tmux_session tmux(command("top --iterations 2 --interval 0.3") +
                    "; sleep 30");
  ASSERT_EQ(tmux.started().code, 0) << tmux.started().describe();
  ASSERT_TRUE(
    eventually([&] { return read_file(node.dir.file("rc")) == "0\n"; }, 5s))
    << why_not(tmux.capture());
  // The last view stays on the normal screen.
  auto screen = tmux.capture();
  EXPECT_TRUE(contains(screen, "engine")) << screen;
  expect_terminal_restored();
}

TEST_F(CairnctlTerminalTest, TopWithoutTerminalPrintsOneSnapshot) {
  auto r = ctl(at({"top", "--interval", "0.3"}));
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.describe();
  EXPECT_TRUE(contains(r.out, "NAME")) << r.describe();
  EXPECT_TRUE(contains(r.out, "engine")) << r.describe();
  EXPECT_EQ(r.out.find("cairnctl top"), r.out.rfind("cairnctl top"))
    << "one snapshot only" << r.describe();
}

TEST_F(CairnctlTerminalTest, UploadDrawsABarOnATerminal) {
  auto file = node.dir.file("bar.bin");
  write_file(file, random_bytes(2 * 1024 * 1024, 9));
  tmux_session tmux(shell_quote(CAIRNCTL_BIN) + " --node " + node.url() +
                    " upload " + shell_quote(file) + " > " +
                    shell_quote(node.dir.file("cid")) + "; echo $? > " +
                    shell_quote(node.dir.file("rc")) + "; sleep 30");
  ASSERT_EQ(tmux.started().code, 0) << tmux.started().describe();
  ASSERT_TRUE(
    eventually([&] { return read_file(node.dir.file("rc")) == "0\n"; }, 10s))
    << tmux.capture();
  auto screen = tmux.capture();
  EXPECT_TRUE(contains(screen, "[########################]  2.0 MiB / 2.0 MiB"
                               "  100%"))
    << screen;
  EXPECT_TRUE(contains(screen, "done in")) << screen;
  auto cid = read_file(node.dir.file("cid"));
  EXPECT_TRUE(looks_like_cid(cid.substr(0, cid.find('\n')))) << cid;
}

} // namespace
