// A node whose store is on a file system that fills up: a tmpfs the test
// mounts (root only; skipped otherwise, with the reason). Uploads and
// network downloads that do not fit fail with a clear status and reason,
// nothing partial is listed, the node keeps serving what it has, and it
// takes writes again once the space of the failed ones is free.

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "tests/integration/api_helpers.hpp"
#include "tests/integration/net_helpers.hpp"

using namespace cairn::test;
using namespace std::chrono_literals;

namespace {

/// A tmpfs of `size` mounted on a fresh temp dir, unmounted at the end.
struct small_fs {
  temp_dir dir{"cairn-fulldisk"};
  std::string error;
  bool mounted = false;

  explicit small_fs(const std::string& size) {
    auto opts = "size=" + size;
    mounted =
      ::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, opts.c_str()) == 0;
    if (!mounted)
      error = std::strerror(errno);
  }
  ~small_fs() {
    if (mounted)
      ::umount2(dir.path().c_str(), MNT_DETACH);
  }
};

} // namespace

TEST(FullDiskTest, WritesThatDoNotFitFailClearlyAndTheNodeServesOn) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "mounting a small tmpfs needs root";
  small_fs fs{"40m"};
  if (!fs.mounted)
    GTEST_SKIP() << "cannot mount a tmpfs here: " << fs.error;
  std::string data_dir = fs.dir.file("data");
  temp_dir logs{"cairn-fulldisk-log"};
  node_process a{
    node_args(data_dir, {"--listen-ip", "127.0.0.1", "--storage-quota", "1GiB",
                         "--block-maintenance-interval", "1s"}),
    logs.file("a-stderr.log")};
  ASSERT_TRUE(a.start()) << a.diagnostics();
  auto cli = a.client();

  // An upload larger than the disk: 507 with the reason, nothing listed.
  auto big = random_bytes(64 << 20, 1);
  // Sent the way curl sends (httplib's client would not read an answer
  // that comes before the whole body is written).
  auto res = raw_post(a.host(), a.port(), api("/data"), big, false);
  EXPECT_EQ(res.status, 507) << res.body << res.error;
  EXPECT_NE(res.body.find("no space left"), std::string::npos) << res.body;
  EXPECT_EQ(res.body.find('\n'), res.body.size() - 1) << res.body;
  std::map<std::string, json> listed;
  ASSERT_TRUE(list_data(cli, &listed));
  EXPECT_TRUE(listed.empty()) << listed.begin()->first;

  // The space of the failed upload is released, and a small one fits.
  auto small = random_bytes(1 << 20, 2);
  std::string small_cid;
  auto deadline = steady::now() + 15s;
  for (;;) {
    auto r = cli.Post(api("/data"), small, "application/octet-stream");
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    if (r->status == 200) {
      small_cid = r->body;
      break;
    }
    ASSERT_EQ(r->status, 507) << r->body;
    ASSERT_LT(steady::now(), deadline) << "still full: " << r->body;
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_TRUE(
    is_whole(stream_get(a.host(), a.port(), api("/data/" + small_cid)), small));

  // A network download that does not fit: the stream ends short, the
  // partial dataset is not listed, and the stored dataset is served on.
  // The partial one is dropped once the store can write the delete.
  test_node b;
  ASSERT_TRUE(b.proc.start()) << b.proc.diagnostics();
  auto bcli = b.proc.client();
  std::string big_cid;
  ASSERT_TRUE(upload(bcli, big, &big_cid));
  ASSERT_TRUE(connect_nodes(a, b.proc));
  auto got = stream_network(a, big_cid);
  EXPECT_LT(got.bytes, big.size()) << got.describe();
  ASSERT_TRUE(list_data(cli, &listed));
  EXPECT_EQ(listed.count(big_cid), 0u) << "the partial download is listed";
  EXPECT_EQ(listed.count(small_cid), 1u) << "the stored dataset is not listed";
  EXPECT_TRUE(
    is_whole(stream_get(a.host(), a.port(), api("/data/" + small_cid)), small));
  EXPECT_NE(a.stderr_text().find("no space left"), std::string::npos)
    << "the node logs why the download failed" << a.diagnostics();
  auto del = cli.Delete(api("/data/" + small_cid));
  ASSERT_TRUE(del) << httplib::to_string(del.error());
  EXPECT_EQ(del->status, 204) << del->body;
  EXPECT_TRUE(wait_until_gone(a, big_cid, 10s)) << a.diagnostics();
}

// Uploads that fill the disk one after another, none deleted, so that the
// disk runs out at a different point of each: in a batch of blocks, in the
// fsync of its blocks, or in the dataset's own transaction (built while
// that fsync runs). One answered with a CID is listed and whole; one
// answered with an error is not listed.
TEST(FullDiskTest, UploadsFillingTheDiskAreListedOnlyIfAnsweredWithACid) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "mounting a small tmpfs needs root";
  small_fs fs{"24m"};
  if (!fs.mounted)
    GTEST_SKIP() << "cannot mount a tmpfs here: " << fs.error;
  temp_dir logs{"cairn-fulldisk-log"};
  node_process a{node_args(fs.dir.file("data"), {"--listen-ip", "127.0.0.1",
                                                 "--storage-quota", "1GiB"}),
                 logs.file("a-stderr.log")};
  ASSERT_TRUE(a.start()) << a.diagnostics();
  std::map<std::string, std::string> stored; // CID -> the bytes uploaded
  int failed = 0;
  for (int i = 0; i < 40 && failed < 3; ++i) {
    // 2 MiB and an odd tail that moves the point where the disk fills.
    auto data = random_bytes((2 << 20) + i * 77777, 100 + i);
    auto res = raw_post(a.host(), a.port(), api("/data"), data, false);
    if (res.status == 200) {
      stored[res.body] = data;
      continue;
    }
    EXPECT_EQ(res.status, 507) << res.body << res.error;
    ++failed;
  }
  EXPECT_EQ(failed, 3) << "the disk never filled";
  EXPECT_FALSE(stored.empty());
  auto cli = a.client();
  std::map<std::string, json> listed;
  ASSERT_TRUE(list_data(cli, &listed));
  for (auto& [id, m] : listed)
    EXPECT_EQ(stored.count(id), 1u) << id << " is listed: its upload failed";
  for (auto& [id, data] : stored) {
    EXPECT_EQ(listed.count(id), 1u) << id << " was answered but not listed";
    EXPECT_TRUE(
      is_whole(stream_get(a.host(), a.port(), api("/data/" + id)), data))
      << id;
  }
}
