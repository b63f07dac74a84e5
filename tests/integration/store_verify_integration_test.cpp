// `cairn-node verify` and `cairnctl store verify` against real nodes: a
// store in use is refused, a clean store exits 0 (offline and online), a
// byte flipped in a block inside data.mdb is found, `--repair` drops the
// dataset that lost it and keeps the other, and bad usage exits 2.

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/api_helpers.hpp"
#include "tests/integration/net_helpers.hpp"
#include "tests/integration/node_process.hpp"
#include "tests/integration/subprocess.hpp"

#ifndef CAIRNCTL_BIN
#error "CAIRNCTL_BIN must be defined (path of the cairnctl binary)"
#endif

namespace {

using namespace cairn::test;
using namespace std::chrono_literals;

run_result verify(const std::string& data_dir,
                  const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{CAIRN_NODE_BIN, "verify", "--data-dir",
                                data_dir};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_process(argv, {}, {"CAIRN_DATA_DIR"}, 60s);
}

run_result ctl(const node_process& n, const std::vector<std::string>& args) {
  std::vector<std::string> argv{CAIRNCTL_BIN, "--node", n.base_url()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, {}, {"CAIRN_API_TOKEN"}, 60s);
}

bool has_text(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST(StoreVerifyIntegrationTest,
     CleanStoreVerifiesOnlineAndOfflineNotWhileInUse) {
  test_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  std::string cid;
  ASSERT_TRUE(upload(cli, random_bytes(300 * 1024, 1), &cid));

  auto busy = verify(n.data_dir);
  EXPECT_EQ(busy.code, 2) << busy.describe();
  EXPECT_TRUE(has_text(busy.err, "in use")) << busy.describe();

  auto online = ctl(n.proc, {"store", "verify"});
  EXPECT_EQ(online.code, 0) << online.describe();
  EXPECT_TRUE(has_text(online.out, "clean: 6 blocks")) << online.describe();
  auto res = cli.Post("/api/cairn/v1/store/verify");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto j = nlohmann::json::parse(res->body);
  EXPECT_TRUE(j["clean"].get<bool>()) << res->body;
  EXPECT_EQ(j["datasets"], 1) << res->body;
  EXPECT_EQ(j["leaves"], 5) << res->body;

  ASSERT_TRUE(n.proc.stop().clean());
  auto offline = verify(n.data_dir);
  EXPECT_EQ(offline.code, 0) << offline.describe();
  EXPECT_TRUE(offline.out.empty()) << offline.describe();
  EXPECT_TRUE(has_text(offline.err, "1 datasets, 5 leaves: clean"))
    << offline.describe();
}

TEST(StoreVerifyIntegrationTest, FlippedByteInABlockIsFoundAndRepaired) {
  test_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  auto damaged = random_bytes(200 * 1024, 7);
  auto whole = random_bytes(100 * 1024, 8);
  std::string damaged_cid, whole_cid;
  ASSERT_TRUE(upload(cli, damaged, &damaged_cid));
  ASSERT_TRUE(upload(cli, whole, &whole_cid));
  ASSERT_TRUE(n.proc.stop().clean());

  // The second block's bytes lie contiguously in the file (an LMDB
  // overflow value): flip one of them.
  auto path = n.data_dir + "/repo/data.mdb";
  std::string file;
  {
    std::ifstream in{path, std::ios::binary};
    file.assign(std::istreambuf_iterator<char>{in}, {});
  }
  auto needle = damaged.substr(65536, 64);
  auto at = file.find(needle);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(file.find(needle, at + 1), std::string::npos);
  {
    std::fstream io{path, std::ios::binary | std::ios::in | std::ios::out};
    io.seekp(static_cast<std::streamoff>(at + 1000));
    char c = static_cast<char>(file[at + 1000] ^ 0x40);
    io.write(&c, 1);
  }

  auto found = verify(n.data_dir);
  EXPECT_EQ(found.code, 1) << found.describe();
  EXPECT_EQ(std::count(found.out.begin(), found.out.end(), '\n'), 1)
    << found.describe();
  EXPECT_EQ(found.out.rfind("bad-hash: block z", 0), 0u) << found.describe();

  auto repaired = verify(n.data_dir, {"--repair"});
  EXPECT_EQ(repaired.code, 0) << repaired.describe();
  EXPECT_TRUE(
    has_text(repaired.out, "repaired: dropped dataset " + damaged_cid))
    << repaired.describe();
  auto again = verify(n.data_dir);
  EXPECT_EQ(again.code, 0) << again.describe();

  ASSERT_TRUE(n.proc.start());
  auto after = n.proc.client();
  auto gone = after.Get(api("/data/" + damaged_cid));
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
  auto r = stream_get(n.proc.host(), n.proc.port(), api("/data/" + whole_cid));
  EXPECT_TRUE(is_whole(r, whole));
}

TEST(StoreVerifyIntegrationTest, BadUsageExitsTwoWithAReason) {
  temp_dir dir{"cairn-verify-it"};
  auto none = verify(dir.file("nothing"));
  EXPECT_EQ(none.code, 2) << none.describe();
  EXPECT_TRUE(has_text(none.err, "no store in")) << none.describe();
  auto bad = verify(dir.file("nothing"), {"--no-such-flag"});
  EXPECT_EQ(bad.code, 2) << bad.describe();
  auto help = run_process({CAIRN_NODE_BIN, "verify", "--help"});
  EXPECT_EQ(help.code, 0) << help.describe();
  EXPECT_TRUE(has_text(help.out, "--repair")) << help.describe();

  test_node n;
  ASSERT_TRUE(n.proc.start());
  auto wrong = ctl(n.proc, {"store", "check"});
  EXPECT_EQ(wrong.code, 64) << wrong.describe();
}
