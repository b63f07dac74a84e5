// A network download cut short: its seeder is killed mid-stream. The
// downloader's stream ends short, the dataset is not listed while it is
// partial, and it is dropped so that its blocks free their space; a later
// download from a seeder that is back completes and lists it.

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "tests/integration/api_helpers.hpp"
#include "tests/integration/net_helpers.hpp"

using namespace cairn::test;
using namespace std::chrono_literals;

TEST(PartialDownloadTest, DownloadCutByAKilledSeederIsNotListedAndIsDropped) {
  auto data = random_bytes(24 << 20, 1919);
  // Held to 4 MB/s, so that the kill lands mid-download.
  test_node seeder({"--max-upload-rate", "4MB"});
  test_node d;
  std::string cid;
  ASSERT_TRUE(seed_and_connect(seeder, d, data, &cid));

  std::atomic<bool> killed{false};
  auto got = stream_network(d.proc, cid, {}, false, [&](std::uint64_t n) {
    if (n >= data.size() / 4 && !killed.exchange(true))
      seeder.proc.kill9();
    return true;
  });
  ASSERT_TRUE(killed) << "the stream never reached 1/4: " << got.describe();
  EXPECT_LT(got.bytes, data.size()) << got.describe();

  auto cli = d.proc.client();
  std::map<std::string, json> listed;
  ASSERT_TRUE(list_data(cli, &listed));
  EXPECT_EQ(listed.count(cid), 0u) << "the partial download is listed";
  EXPECT_TRUE(wait_until_gone(d.proc, cid, 30s)) << d.proc.diagnostics();
  json store;
  ASSERT_TRUE(get_json(cli, "/api/cairn/v1/store", &store));
  EXPECT_EQ(store.value("blocks", -1), 0) << store.dump();
  EXPECT_EQ(store.value("datasets", -1), 0) << store.dump();

  // Once a seeder is back, the download completes and the dataset is listed.
  ASSERT_TRUE(seeder.proc.start()) << seeder.proc.diagnostics();
  ASSERT_TRUE(connect_nodes(d.proc, seeder.proc));
  EXPECT_TRUE(is_whole(stream_network(d.proc, cid), data));
  ASSERT_TRUE(list_data(cli, &listed));
  EXPECT_EQ(listed.count(cid), 1u) << "the whole download is not listed";
}
