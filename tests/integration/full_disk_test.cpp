// A node whose store is on a file system that fills up: a tmpfs the test
// mounts (root only; skipped otherwise, with the reason). Uploads and
// network downloads that do not fit fail with a clear status and reason,
// no partial upload is listed, the node keeps serving what it has, and it
// takes writes again once the space of the failed ones is free.

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

/// The `/data` listing's CIDs, in one string (for messages and finds).
std::string listing(const node_process& n) {
  auto cli = n.client();
  json j;
  EXPECT_TRUE(get_json(cli, api("/data"), &j));
  std::string out;
  for (auto& item : j.value("content", json::array()))
    out += item.value("cid", std::string{}) + " ";
  return out;
}

} // namespace

TEST(FullDiskTest, WritesThatDoNotFitFailClearlyAndTheNodeServesOn) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "mounting a small tmpfs needs root";
  small_fs fs{"40m"};
  if (!fs.mounted)
    GTEST_SKIP() << "cannot mount a tmpfs here: " << fs.error;
  std::string data_dir = fs.dir.file("data");
  temp_dir logs{"cairn-fulldisk-log"};
  node_process a{node_args(data_dir, {"--listen-ip", "127.0.0.1",
                                      "--storage-quota", "1GiB"}),
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
  EXPECT_EQ(listing(a), "");

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

  // A network download that does not fit: the stream ends short and the
  // stored dataset is served on. (Its manifest stays listed, as that of
  // any download cut short, so that it can be taken up again.)
  test_node b;
  ASSERT_TRUE(b.proc.start()) << b.proc.diagnostics();
  auto bcli = b.proc.client();
  std::string big_cid;
  ASSERT_TRUE(upload(bcli, big, &big_cid));
  ASSERT_TRUE(connect_nodes(a, b.proc));
  auto got = stream_network(a, big_cid);
  EXPECT_LT(got.bytes, big.size()) << got.describe();
  EXPECT_NE(listing(a).find(small_cid), std::string::npos);
  EXPECT_TRUE(
    is_whole(stream_get(a.host(), a.port(), api("/data/" + small_cid)), small));
  EXPECT_NE(a.stderr_text().find("no space left"), std::string::npos)
    << "the node logs why the download failed" << a.diagnostics();
}
