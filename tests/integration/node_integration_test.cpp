// Integration tests of the REST API, startup and durability of a real
// `cairn-node` process (binary CAIRN_NODE_BIN). Every test starts its own
// node(s) on 127.0.0.1 with `--api-port 0` and a temporary data dir, and
// node_process stops them even when an assertion fails.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/api_helpers.hpp"
#include "tests/integration/node_process.hpp"

namespace {

using cairn::test::api;
using cairn::test::block_size;
using cairn::test::exit_status;
using cairn::test::get_json;
using cairn::test::list_data;
using cairn::test::looks_like_cid;
using cairn::test::mib;
using cairn::test::node_args;
using cairn::test::node_process;
using cairn::test::random_bytes;
using cairn::test::raw_post;
using cairn::test::sha256_hex;
using cairn::test::temp_dir;
using cairn::test::upload;
using json = nlohmann::json;
using namespace std::chrono_literals;

/// A valid codex-root CID (the treeCid of "some file contents") that is never
/// stored as a manifest.
const std::string unknown_root_cid =
  "zDzSvJTezk7bJNQqFq8k1iHXY84psNuUfZVusA5bBQQUSuyzDSVL";

/// A node in its own temp dir: data in `<tmp>/data` (created by the node),
/// stderr in `<tmp>/node-stderr.log`.
struct local_node {
  temp_dir dir;
  std::string data_dir;
  node_process proc;

  explicit local_node(const std::vector<std::string>& extra = {})
    : dir("cairn-it"), data_dir(dir.file("data")),
      proc(node_args(data_dir, extra), dir.file("node-stderr.log")) {
    // nop
  }
};

struct space_info {
  std::int64_t total_blocks = -1;
  std::int64_t quota_max = -1;
  std::int64_t quota_used = -1;
  std::int64_t quota_reserved = -1;
};

::testing::AssertionResult get_space(httplib::Client& cli, space_info* out) {
  json j;
  auto r = get_json(cli, api("/space"), &j);
  if (!r)
    return r;
  for (auto key :
       {"totalBlocks", "quotaMaxBytes", "quotaUsedBytes", "quotaReservedBytes"})
    if (!j.contains(key) || !j[key].is_number_integer())
      return ::testing::AssertionFailure()
             << "GET /space: missing or non-integer '" << key
             << "': " << j.dump();
  out->total_blocks = j["totalBlocks"].get<std::int64_t>();
  out->quota_max = j["quotaMaxBytes"].get<std::int64_t>();
  out->quota_used = j["quotaUsedBytes"].get<std::int64_t>();
  out->quota_reserved = j["quotaReservedBytes"].get<std::int64_t>();
  return ::testing::AssertionSuccess();
}

/// Downloads `cid` and compares it with `expected` (size, Content-Length and
/// SHA-256).
::testing::AssertionResult download_equals(httplib::Client& cli,
                                           const std::string& cid,
                                           const std::string& expected) {
  auto res = cli.Get(api("/data/" + cid));
  if (!res)
    return ::testing::AssertionFailure()
           << "GET /data/" << cid
           << " failed: " << httplib::to_string(res.error());
  if (res->status != 200)
    return ::testing::AssertionFailure()
           << "GET /data/" << cid << " returned " << res->status << ": "
           << res->body.substr(0, 200);
  auto len = res->get_header_value("Content-Length");
  if (len != std::to_string(expected.size()))
    return ::testing::AssertionFailure()
           << "GET /data/" << cid << ": Content-Length '" << len
           << "', expected " << expected.size();
  if (res->body.size() != expected.size())
    return ::testing::AssertionFailure()
           << "GET /data/" << cid << ": got " << res->body.size()
           << " bytes, expected " << expected.size();
  auto got = sha256_hex(res->body);
  auto want = sha256_hex(expected);
  if (got != want)
    return ::testing::AssertionFailure() << "GET /data/" << cid << ": sha256 "
                                         << got << ", expected " << want;
  return ::testing::AssertionSuccess();
}

/// A plain connection to 127.0.0.1:`port`; -1 if it failed.
int connect_plain(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Reads `count` responses (each with a Content-Length) from `fd`, or what
/// came of them within 30 s: (status, body) each.
std::vector<std::pair<int, std::string>> read_responses(int fd,
                                                        std::size_t count) {
  std::vector<std::pair<int, std::string>> out;
  std::string buf;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    auto end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::string head = buf.substr(0, end);
      for (auto& c : head)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto cl = head.find("\r\ncontent-length:");
      std::size_t len =
        cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 17));
      if (buf.size() >= end + 4 + len) {
        out.emplace_back(std::atoi(buf.c_str() + 9), buf.substr(end + 4, len));
        buf.erase(0, end + 4 + len);
        continue;
      }
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0)
      continue;
    char chunk[16384];
    auto n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0)
      break;
    buf.append(chunk, static_cast<std::size_t>(n));
  }
  return out;
}

/// Sends all of `text` on `fd`.
bool send_all(int fd, const std::string& text) {
  std::size_t sent = 0;
  while (sent < text.size()) {
    auto n = ::send(fd, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

/// An error body is a one-line reason: not empty, at most a trailing newline.
::testing::AssertionResult one_line_reason(const std::string& body) {
  auto nl = body.find('\n');
  if (body.empty() || body == "\n")
    return ::testing::AssertionFailure() << "error response without a reason";
  if (nl != std::string::npos && nl + 1 != body.size())
    return ::testing::AssertionFailure()
           << "error reason is not one line: '" << body << "'";
  return ::testing::AssertionSuccess();
}

int count_ready_lines(const std::string& out) {
  int n = 0;
  for (std::size_t pos = 0;
       (pos = out.find("cairn-node ready ", pos)) != std::string::npos; ++pos)
    ++n;
  return n;
}

std::string expect_bad_start(node_process& proc, const std::string& what) {
  auto st = proc.run_until_exit(10s);
  std::string err;
  if (!st && proc.saw_ready_line()) {
    err = what + ": cairn-node started and kept serving instead of failing"
                 " (killed)";
  } else if (!st) {
    err = what + ": cairn-node did not exit within 10 s (killed)";
  } else if (!st->exited || st->code == 0) {
    err = what + ": expected a non-zero exit code, got " + st->to_string();
  } else if (proc.saw_ready_line()) {
    err = what + ": printed the ready line before failing";
  } else if (proc.stderr_text().empty()) {
    err = what + ": exited with code " + std::to_string(st->code) +
          " but wrote no reason on stderr";
  }
  if (!err.empty())
    err += proc.diagnostics();
  return err;
}

} // namespace

// -- data round trips ---------------------------------------------------------

TEST(NodeIntegrationTest, UploadDownloadRoundTripsSeveralSizes) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  const std::vector<std::size_t> sizes{
    1, block_size - 1, block_size, block_size + 1, mib + 17, 20 * mib};
  std::map<std::string, std::size_t> cids;
  std::vector<std::pair<std::string, std::string>> datasets;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE("size " + std::to_string(sizes[i]));
    auto data = random_bytes(sizes[i], 1000 + i);
    std::string cid;
    ASSERT_TRUE(upload(cli, data, &cid));
    EXPECT_TRUE(download_equals(cli, cid, data)) << n.proc.diagnostics();
    cids[cid] = sizes[i];
    datasets.emplace_back(cid, std::move(data));
  }
  EXPECT_EQ(cids.size(), sizes.size()) << "distinct data gave equal CIDs";

  // Content addressing: the same bytes with the same metadata give the same
  // manifest CID.
  std::string again;
  ASSERT_TRUE(upload(cli, datasets[3].second, &again));
  EXPECT_EQ(again, datasets[3].first);

  // Everything is still there after the other uploads, and listed.
  for (auto& [cid, data] : datasets)
    EXPECT_TRUE(download_equals(cli, cid, data));
  std::map<std::string, json> listing;
  ASSERT_TRUE(list_data(cli, &listing));
  for (auto& [cid, size] : cids) {
    ASSERT_TRUE(listing.count(cid)) << cid << " missing from GET /data";
    EXPECT_EQ(listing[cid].value("datasetSize", json()).dump(),
              std::to_string(size));
  }
}

TEST(NodeIntegrationTest, SomeFileContentsRoundTripsWithCodexTreeCid) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  const std::string data = "some file contents";
  ASSERT_EQ(data.size(), 18u);
  std::string cid;
  ASSERT_TRUE(upload(cli, data, &cid));
  auto res = cli.Get(api("/data/" + cid));
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->body, data);
  EXPECT_EQ(res->get_header_value("Content-Length"), "18");
  std::map<std::string, json> listing;
  ASSERT_TRUE(list_data(cli, &listing));
  ASSERT_TRUE(listing.count(cid)) << "uploaded CID not listed";
  auto& m = listing[cid];
  EXPECT_EQ(m.value("treeCid", ""), unknown_root_cid)
    << "treeCid differs from Codex's test vector: " << m.dump();
  EXPECT_EQ(m.value("datasetSize", -1), 18);
  EXPECT_EQ(m.value("blockSize", -1), 65536);
}

TEST(NodeIntegrationTest, UploadHeadersRoundTripOnDownload) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();

  auto png = random_bytes(3 * block_size + 5, 7);
  std::string png_cid;
  ASSERT_TRUE(upload(cli, png, &png_cid, "image/png", "codex.png"));
  auto res = cli.Get(api("/data/" + png_cid));
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "image/png");
  EXPECT_EQ(res->get_header_value("Content-Disposition"),
            "attachment; filename=\"codex.png\"");
  EXPECT_EQ(res->get_header_value("Content-Length"),
            std::to_string(png.size()));
  EXPECT_EQ(sha256_hex(res->body), sha256_hex(png));

  auto plain = random_bytes(1000, 8);
  std::string plain_cid;
  ASSERT_TRUE(upload(cli, plain, &plain_cid));
  res = cli.Get(api("/data/" + plain_cid));
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/octet-stream");
  EXPECT_EQ(res->get_header_value("Content-Disposition").find("filename="),
            std::string::npos)
    << "a filename was never uploaded: "
    << res->get_header_value("Content-Disposition");
  EXPECT_EQ(res->body, plain);

  // A text dataset fetched by a client that accepts gzip (every browser)
  // still comes with its exact Content-Length: downloads are not compressed.
  std::string text;
  while (text.size() < 200000)
    text += "hello text, line " + std::to_string(text.size()) + "\n";
  std::string text_cid;
  ASSERT_TRUE(upload(cli, text, &text_cid, "text/plain", "notes.txt"));
  res = cli.Get(api("/data/" + text_cid),
                {{"Accept-Encoding", "gzip, deflate, br"}});
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain");
  EXPECT_EQ(res->get_header_value("Content-Length"),
            std::to_string(text.size()));
  EXPECT_EQ(res->body, text);
}

TEST(NodeIntegrationTest, DataListingShowsManifestFields) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();

  std::map<std::string, json> listing;
  ASSERT_TRUE(list_data(cli, &listing));
  EXPECT_TRUE(listing.empty()) << "fresh node lists datasets";

  auto a = random_bytes(2 * block_size + 100, 21);
  auto b = random_bytes(block_size, 22);
  std::string a_cid;
  std::string b_cid;
  ASSERT_TRUE(upload(cli, a, &a_cid, "image/png", "codex.png"));
  ASSERT_TRUE(upload(cli, b, &b_cid));
  ASSERT_TRUE(list_data(cli, &listing));
  EXPECT_EQ(listing.size(), 2u);
  ASSERT_TRUE(listing.count(a_cid));
  ASSERT_TRUE(listing.count(b_cid));

  for (auto& [cid, size] : std::vector<std::pair<std::string, std::size_t>>{
         {a_cid, a.size()}, {b_cid, b.size()}}) {
    SCOPED_TRACE(cid);
    auto& m = listing[cid];
    ASSERT_TRUE(m.contains("treeCid") && m["treeCid"].is_string()) << m;
    auto tree = m["treeCid"].get<std::string>();
    EXPECT_TRUE(looks_like_cid(tree)) << tree;
    EXPECT_NE(tree, cid) << "treeCid equals the manifest CID";
    ASSERT_TRUE(m.contains("datasetSize") && m["datasetSize"].is_number()) << m;
    EXPECT_EQ(m["datasetSize"].get<std::int64_t>(),
              static_cast<std::int64_t>(size));
    ASSERT_TRUE(m.contains("blockSize") && m["blockSize"].is_number()) << m;
    EXPECT_EQ(m["blockSize"].get<std::int64_t>(), 65536);
    ASSERT_TRUE(m.contains("protected") && m["protected"].is_boolean()) << m;
    EXPECT_FALSE(m["protected"].get<bool>());
  }
  auto& ma = listing[a_cid];
  EXPECT_EQ(ma.value("filename", json()), json("codex.png")) << ma;
  EXPECT_EQ(ma.value("mimetype", json()), json("image/png")) << ma;
  auto& mb = listing[b_cid];
  EXPECT_TRUE(!mb.contains("filename") || mb["filename"].is_null() ||
              mb["filename"] == "")
    << "filename was never uploaded: " << mb;
}

TEST(NodeIntegrationTest, ConcurrentUploadsAndDownloadsReturnIdenticalBytes) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  constexpr int uploads = 3;
  std::vector<std::string> data(uploads);
  std::vector<std::string> cids(uploads);
  std::vector<std::string> errors(uploads);
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < uploads; ++i) {
      data[i] = random_bytes(4 * mib + 1000 * i, 300 + i);
      threads.emplace_back([&, i] {
        auto cli = n.proc.client();
        auto r = upload(cli, data[i], &cids[i]);
        if (!r)
          errors[i] = r.message();
      });
    }
    for (auto& t : threads)
      t.join();
  }
  for (auto& e : errors)
    ASSERT_EQ(e, "");
  // Four concurrent readers per dataset.
  std::vector<std::string> results(uploads * 4);
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < uploads * 4; ++i)
      threads.emplace_back([&, i] {
        auto cli = n.proc.client();
        auto r = download_equals(cli, cids[i % uploads], data[i % uploads]);
        if (!r)
          results[i] = r.message();
      });
    for (auto& t : threads)
      t.join();
  }
  for (auto& r : results)
    EXPECT_EQ(r, "");
}

// -- ranges -------------------------------------------------------------------

struct range_case {
  std::string header; // after "bytes="
  std::size_t first;
  std::size_t last; // inclusive
};

// Each range of `cases` answers 206 with exactly its bytes of `data`.
void expect_ranges(httplib::Client& cli, const std::string& cid,
                   const std::string& data,
                   const std::vector<range_case>& cases) {
  for (auto& c : cases) {
    SCOPED_TRACE("Range: bytes=" + c.header);
    auto res = cli.Get(api("/data/" + cid), {{"Range", "bytes=" + c.header}});
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 206) << res->body.substr(0, 200);
    auto len = c.last - c.first + 1;
    EXPECT_EQ(res->get_header_value("Content-Range"),
              "bytes " + std::to_string(c.first) + "-" +
                std::to_string(c.last) + "/" + std::to_string(data.size()));
    EXPECT_EQ(res->get_header_value("Content-Length"), std::to_string(len));
    ASSERT_EQ(res->body.size(), len);
    EXPECT_TRUE(res->body == data.substr(c.first, len))
      << "wrong bytes for the range";
  }
}

TEST(NodeIntegrationTest, RangeRequestsReturnExactSlices) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  const std::size_t size = 4 * block_size + 1000;
  auto data = random_bytes(size, 42);
  std::string cid;
  ASSERT_TRUE(upload(cli, data, &cid));
  expect_ranges(
    cli, cid, data,
    {
      {"0-0", 0, 0},
      {"0-99", 0, 99},
      {"0-65535", 0, 65535},
      {"65530-65545", 65530, 65545},
      {"65535-65536", 65535, 65536},
      {"65536-131071", 65536, 131071},
      {"131000-200000", 131000, 200000},
      {"100-" + std::to_string(size - 1), 100, size - 1},
      {std::to_string(size - 1) + "-" + std::to_string(size - 1), size - 1,
       size - 1},
      {"200000-", 200000, size - 1},
      {"0-", 0, size - 1},
      {"-100", size - 100, size - 1},
      {"-1", size - 1, size - 1},
      {"-" + std::to_string(block_size + 10), size - block_size - 10, size - 1},
    });
  // The full download still works after ranged reads.
  EXPECT_TRUE(download_equals(cli, cid, data));
}

TEST(NodeIntegrationTest, RangesAcrossTheStoreReadsOf16BlocksAreExact) {
  // A local download reads 16 blocks (1 MiB) at a time into the buffer it
  // writes from: ranges that start or end inside a block, on either side
  // of those reads' edges, get exactly their bytes.
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  const std::size_t size = 40 * block_size + 777;
  auto data = random_bytes(size, 43);
  std::string cid;
  ASSERT_TRUE(upload(cli, data, &cid));
  const std::size_t mib = 16 * block_size;
  auto r = [](std::size_t first, std::size_t last) {
    return range_case{std::to_string(first) + "-" + std::to_string(last), first,
                      last};
  };
  expect_ranges(cli, cid, data,
                {
                  r(mib - 1, mib),
                  r(mib - 100, mib + 100),
                  r(mib, 2 * mib - 1),
                  r(15 * block_size + 5, 17 * block_size + 5),
                  r(block_size + 3, 2 * mib + 3),
                  r(2 * mib + 1, size - 1),
                  r(mib + 1, mib + 1),
                });
  EXPECT_TRUE(download_equals(cli, cid, data));
}

/// The `reads` gauge of the node's local_store actor (requests it served).
std::int64_t local_store_reads(httplib::Client& cli) {
  json j;
  if (!get_json(cli, "/api/cairn/v1/actors", &j))
    return -1;
  for (auto& a : j.value("actors", json::array()))
    if (a.value("name", "") == "local_store")
      return a["gauges"].value("reads", -1.0);
  return -1;
}

TEST(NodeIntegrationTest,
     LocalDownloadReadsTheStoreOnItsOwnThreadUntilABlockIsMissing) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  const std::size_t blocks = 40;
  auto data = random_bytes(blocks * block_size - 100, 7);
  std::string cid;
  ASSERT_TRUE(upload(cli, data, &cid));

  // Every block is read by the HTTP thread: the local_store actor serves
  // the manifest, not one request per block.
  auto before = local_store_reads(cli);
  ASSERT_GE(before, 0);
  EXPECT_TRUE(download_equals(cli, cid, data));
  auto after = local_store_reads(cli);
  EXPECT_LT(after - before, 5) << "the blocks went through local_store";

  // A block deleted under the dataset: reads before it are served, a
  // download that reaches it stops there (the store_stream that takes over
  // at the missing block finds nothing), one that starts after it is whole.
  std::map<std::string, json> listing;
  ASSERT_TRUE(list_data(cli, &listing));
  auto tree = listing[cid].value("treeCid", "");
  ASSERT_FALSE(tree.empty());
  auto del = cli.Delete("/api/cairn/v1/blocks/" + tree + "/35");
  ASSERT_TRUE(del);
  ASSERT_EQ(del->status, 204) << del->body;
  auto head = cli.Get(api("/data/" + cid), {{"Range", "bytes=0-99999"}});
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 206);
  EXPECT_TRUE(head->body == data.substr(0, 100000));
  auto tail_from = 36 * block_size;
  auto tail = cli.Get(api("/data/" + cid),
                      {{"Range", "bytes=" + std::to_string(tail_from) + "-"}});
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->status, 206);
  EXPECT_TRUE(tail->body == data.substr(tail_from));
  auto whole = cli.Get(api("/data/" + cid));
  EXPECT_TRUE(!whole || whole->body.size() < data.size())
    << "a download across the missing block was not cut";
  // The node serves on.
  EXPECT_TRUE(head = cli.Get(api("/data/" + cid), {{"Range", "bytes=0-9"}}));
  EXPECT_EQ(head->body, data.substr(0, 10));
}

TEST(NodeIntegrationTest, UnsatisfiableRangeReturns416) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  const std::size_t size = 2 * block_size + 10;
  auto data = random_bytes(size, 43);
  std::string cid;
  ASSERT_TRUE(upload(cli, data, &cid));
  for (auto& r :
       {std::to_string(size) + "-",
        std::to_string(size) + "-" + std::to_string(size + 10),
        std::to_string(size + 100) + "-" + std::to_string(size + 200)}) {
    SCOPED_TRACE("Range: bytes=" + r);
    auto res = cli.Get(api("/data/" + cid), {{"Range", "bytes=" + r}});
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 416) << res->body.substr(0, 200);
  }
  // The node keeps serving.
  EXPECT_TRUE(download_equals(cli, cid, data));
}

// -- errors, delete, exists, space, quota -------------------------------------

TEST(NodeIntegrationTest, MalformedCidsAreRejectedWith400) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  const std::vector<std::string> bad{
    "notacid",
    "zzzz",
    "z",
    "z0OIl0OIl0OIl",
    "zQmXoypizjW3WknFiJnKLwHCnL72vedxjQkDDP1mXWo6uco",
    "z" + std::string(80, '1'),
  };
  for (auto& cid : bad) {
    SCOPED_TRACE("cid '" + cid + "'");
    auto res = cli.Get(api("/data/" + cid));
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 400) << res->body;
    EXPECT_TRUE(one_line_reason(res->body));
    res = cli.Get(api("/data/" + cid + "/exists"));
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 400) << res->body;
    res = cli.Delete(api("/data/" + cid));
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 400) << res->body;
  }
  // Still alive.
  space_info sp;
  EXPECT_TRUE(get_space(cli, &sp)) << n.proc.diagnostics();
}

TEST(NodeIntegrationTest, UnknownCidsReturn404AndExistsFalse) {
  local_node other;
  ASSERT_TRUE(other.proc.start());
  auto other_cli = other.proc.client();
  std::string foreign_cid;
  ASSERT_TRUE(upload(other_cli, random_bytes(5000, 5), &foreign_cid));

  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  for (auto& cid : {unknown_root_cid, foreign_cid}) {
    SCOPED_TRACE(cid);
    auto res = cli.Get(api("/data/" + cid));
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 404) << res->body;
    json j;
    ASSERT_TRUE(get_json(cli, api("/data/" + cid + "/exists"), &j));
    EXPECT_EQ(j, json({{"has", false}}));
  }
  // The uploading node has it.
  json j;
  ASSERT_TRUE(get_json(other_cli, api("/data/" + foreign_cid + "/exists"), &j));
  EXPECT_EQ(j, json({{"has", true}}));
}

TEST(NodeIntegrationTest, DeleteRemovesDatasetAndReleasesQuota) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  space_info s0;
  ASSERT_TRUE(get_space(cli, &s0));
  EXPECT_EQ(s0.quota_used, 0) << "fresh node uses quota";

  auto a = random_bytes(5 * block_size + 3, 51);
  auto b = random_bytes(2 * block_size + 9, 52);
  std::string a_cid;
  std::string b_cid;
  ASSERT_TRUE(upload(cli, a, &a_cid));
  space_info sa;
  ASSERT_TRUE(get_space(cli, &sa));
  ASSERT_TRUE(upload(cli, b, &b_cid));
  space_info sab;
  ASSERT_TRUE(get_space(cli, &sab));
  EXPECT_GT(sa.quota_used, s0.quota_used);
  EXPECT_GT(sab.quota_used, sa.quota_used);

  json j;
  ASSERT_TRUE(get_json(cli, api("/data/" + a_cid + "/exists"), &j));
  EXPECT_EQ(j, json({{"has", true}}));

  auto res = cli.Delete(api("/data/" + a_cid));
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 204) << res->body;
  res = cli.Get(api("/data/" + a_cid));
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 404);
  ASSERT_TRUE(get_json(cli, api("/data/" + a_cid + "/exists"), &j));
  EXPECT_EQ(j, json({{"has", false}}));
  space_info sb;
  ASSERT_TRUE(get_space(cli, &sb));
  EXPECT_EQ(sb.quota_used, sab.quota_used - (sa.quota_used - s0.quota_used))
    << "deleting A did not release exactly A's bytes";
  EXPECT_LT(sb.total_blocks, sab.total_blocks);
  std::map<std::string, json> listing;
  ASSERT_TRUE(list_data(cli, &listing));
  EXPECT_EQ(listing.count(a_cid), 0u) << "deleted dataset still listed";
  EXPECT_EQ(listing.count(b_cid), 1u);
  // B is untouched.
  EXPECT_TRUE(download_equals(cli, b_cid, b));

  res = cli.Delete(api("/data/" + b_cid));
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 204) << res->body;
  space_info s_end;
  ASSERT_TRUE(get_space(cli, &s_end));
  EXPECT_EQ(s_end.quota_used, s0.quota_used);
  EXPECT_EQ(s_end.quota_used, 0);
  ASSERT_TRUE(list_data(cli, &listing));
  EXPECT_TRUE(listing.empty());

  // Uploading A again works and serves the same bytes.
  std::string a_again;
  ASSERT_TRUE(upload(cli, a, &a_again));
  EXPECT_EQ(a_again, a_cid);
  EXPECT_TRUE(download_equals(cli, a_again, a));
}

TEST(NodeIntegrationTest, SpaceReportsQuotaAndUsage) {
  local_node n({"--storage-quota", "10MiB"});
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  auto res = cli.Get(api("/space"));
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->get_header_value("Content-Type").rfind("application/json", 0),
            0u)
    << res->get_header_value("Content-Type");
  space_info s0;
  ASSERT_TRUE(get_space(cli, &s0));
  EXPECT_EQ(s0.quota_max, 10 * static_cast<std::int64_t>(mib));
  EXPECT_GE(s0.quota_used, 0);
  EXPECT_GE(s0.quota_reserved, 0);
  EXPECT_GE(s0.total_blocks, 0);

  const std::size_t size = mib + 17; // 17 blocks
  std::string cid;
  ASSERT_TRUE(upload(cli, random_bytes(size, 61), &cid));
  space_info s1;
  ASSERT_TRUE(get_space(cli, &s1));
  EXPECT_EQ(s1.quota_max, s0.quota_max);
  auto delta = s1.quota_used - s0.quota_used;
  EXPECT_GE(delta, static_cast<std::int64_t>(size));
  EXPECT_LE(delta, static_cast<std::int64_t>(size + mib))
    << "quota use grew far more than the data";
  EXPECT_GE(s1.total_blocks - s0.total_blocks, 17);
}

TEST(NodeIntegrationTest, StorageQuotaFlagAcceptsPlainBytesAndSuffixes) {
  for (auto& [flag, bytes] : std::vector<std::pair<std::string, std::int64_t>>{
         {"5000000", 5000000}, {"1GiB", std::int64_t{1} << 30}}) {
    SCOPED_TRACE("--storage-quota " + flag);
    local_node n({"--storage-quota", flag});
    ASSERT_TRUE(n.proc.start());
    auto cli = n.proc.client();
    space_info s;
    ASSERT_TRUE(get_space(cli, &s));
    EXPECT_EQ(s.quota_max, bytes);
  }
}

TEST(NodeIntegrationTest, UploadOverQuotaIsRejectedAndNodeKeepsServing) {
  local_node n({"--storage-quota", "1MiB"});
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  auto small = random_bytes(100 * 1000, 71);
  std::string small_cid;
  ASSERT_TRUE(upload(cli, small, &small_cid));
  space_info before;
  ASSERT_TRUE(get_space(cli, &before));

  auto big = random_bytes(3 * mib, 72);
  for (bool chunked : {false, true}) {
    SCOPED_TRACE(chunked ? "chunked body" : "body with Content-Length");
    auto res =
      raw_post(n.proc.host(), n.proc.port(), api("/data"), big, chunked);
    EXPECT_TRUE(res.status == 413 || res.status == 507)
      << "status " << res.status << " (socket: " << res.error
      << "): " << res.head << "\n"
      << res.body << n.proc.diagnostics();
    EXPECT_TRUE(one_line_reason(res.body));
  }

  space_info after;
  ASSERT_TRUE(get_space(cli, &after)) << n.proc.diagnostics();
  EXPECT_EQ(after.quota_used, before.quota_used)
    << "failed upload left bytes accounted";
  EXPECT_EQ(after.quota_reserved, before.quota_reserved);
  EXPECT_EQ(after.total_blocks, before.total_blocks);
  std::map<std::string, json> listing;
  ASSERT_TRUE(list_data(cli, &listing));
  EXPECT_EQ(listing.size(), 1u) << "failed upload is listed";

  EXPECT_TRUE(download_equals(cli, small_cid, small));
  auto second = random_bytes(200 * 1000, 73);
  std::string second_cid;
  EXPECT_TRUE(upload(cli, second, &second_cid))
    << "upload within quota failed after a rejected one";
  EXPECT_TRUE(download_equals(cli, second_cid, second));
}

TEST(NodeIntegrationTest, ChunkedUploadRoundTripsWithSameCid) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  auto data = random_bytes(mib + 17, 111);
  // Without a length, httplib sends Transfer-Encoding: chunked; odd piece
  // sizes so that chunks never line up with blocks.
  auto res = cli.Post(
    api("/data"),
    [&data](std::size_t offset, httplib::DataSink& sink) {
      if (offset >= data.size()) {
        sink.done();
        return true;
      }
      auto len = std::min<std::size_t>(10007, data.size() - offset);
      return sink.write(data.data() + offset, len);
    },
    "application/octet-stream");
  ASSERT_TRUE(res) << httplib::to_string(res.error()) << n.proc.diagnostics();
  ASSERT_EQ(res->status, 200) << res->body;
  auto cid = res->body;
  EXPECT_TRUE(looks_like_cid(cid)) << cid;
  EXPECT_TRUE(download_equals(cli, cid, data));
  // The same bytes and metadata with a Content-Length give the same CID.
  std::string again;
  ASSERT_TRUE(upload(cli, data, &again));
  EXPECT_EQ(again, cid);
}

TEST(NodeIntegrationTest, ALargeUploadReadsItsBodyAndNotTheNextRequest) {
  // A large body is read from the socket in big pieces, after the bytes of
  // it that httplib read together with the head. Those bytes may not be
  // lost, nor a next request on the connection taken as body (a connection
  // carries one request: that one is not answered).
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto data = random_bytes(3 * block_size + 4321, 7);
  int fd = connect_plain(n.proc.port());
  ASSERT_GE(fd, 0);
  std::string head = "POST " + api("/data") +
                     " HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     "application/octet-stream\r\nContent-Length: " +
                     std::to_string(data.size()) + "\r\n\r\n";
  ASSERT_TRUE(send_all(fd, head + data.substr(0, 1000)));
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(send_all(fd, data.substr(1000, 100000)));
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(send_all(fd, data.substr(101000) + "GET " + api("/space") +
                             " HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto answers = read_responses(fd, 2);
  ASSERT_EQ(answers.size(), 1u) << n.proc.diagnostics();
  EXPECT_EQ(answers[0].first, 200) << answers[0].second;
  auto cid = answers[0].second;
  auto cli = n.proc.client();
  EXPECT_TRUE(download_equals(cli, cid, data));
  // The same bytes sent at once, through httplib's client, give the same CID.
  std::string again;
  ASSERT_TRUE(upload(cli, data, &again));
  EXPECT_EQ(again, cid);
  ::close(fd);
  // A large body cut short stores nothing: the batch of blocks it put
  // before the client went is released again.
  space_info before;
  ASSERT_TRUE(get_space(cli, &before));
  auto big = random_bytes(70 * block_size, 8);
  fd = connect_plain(n.proc.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(
    fd, "POST " + api("/data") + " HTTP/1.1\r\nHost: x\r\nContent-Length: " +
          std::to_string(2 * big.size()) + "\r\n\r\n" + big));
  std::this_thread::sleep_for(300ms);
  ::close(fd);
  space_info after;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(get_space(cli, &after));
    if (after.quota_used == before.quota_used)
      break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(after.quota_used, before.quota_used);
  std::map<std::string, json> listing;
  ASSERT_TRUE(list_data(cli, &listing));
  EXPECT_EQ(listing.size(), 1u);
}

TEST(NodeIntegrationTest, EmptyUploadIsRejectedWith400) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  auto res = cli.Post(api("/data"), std::string(), "application/octet-stream");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 400) << res->body;
  EXPECT_TRUE(one_line_reason(res->body));
  space_info s;
  ASSERT_TRUE(get_space(cli, &s));
  EXPECT_EQ(s.quota_used, 0);
  std::map<std::string, json> listing;
  ASSERT_TRUE(list_data(cli, &listing));
  EXPECT_TRUE(listing.empty());
}

// -- restarts and durability --------------------------------------------------

TEST(NodeIntegrationTest, DatasetsSurviveCleanRestart) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto peer = n.proc.peer_id();
  std::vector<std::pair<std::string, std::string>> sets;
  {
    auto cli = n.proc.client();
    const std::vector<std::size_t> sizes{1, block_size + 1, 3 * mib + 5};
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      auto data = random_bytes(sizes[i], 80 + i);
      std::string cid;
      ASSERT_TRUE(upload(cli, data, &cid, "image/png",
                         "file" + std::to_string(i) + ".bin"));
      sets.emplace_back(cid, std::move(data));
    }
  }
  auto st = n.proc.stop();
  EXPECT_TRUE(st.clean()) << "SIGTERM: " << st.to_string()
                          << n.proc.diagnostics();
  ASSERT_TRUE(n.proc.start());
  EXPECT_EQ(n.proc.peer_id(), peer) << "peer id changed across restart";
  auto cli = n.proc.client();
  std::map<std::string, json> listing;
  ASSERT_TRUE(list_data(cli, &listing));
  for (std::size_t i = 0; i < sets.size(); ++i) {
    auto& [cid, data] = sets[i];
    SCOPED_TRACE(cid);
    EXPECT_TRUE(download_equals(cli, cid, data));
    ASSERT_TRUE(listing.count(cid)) << "not listed after restart";
    EXPECT_EQ(listing[cid].value("filename", json()),
              json("file" + std::to_string(i) + ".bin"));
  }
  // A second clean stop also exits with 0.
  st = n.proc.stop();
  EXPECT_TRUE(st.clean()) << st.to_string() << n.proc.diagnostics();
}

TEST(NodeIntegrationTest, DatasetsSurviveKill9RightAfterUpload) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  std::vector<std::pair<std::string, std::string>> sets;
  std::uint64_t seed = 90;
  auto add = [&](std::size_t size) {
    auto cli = n.proc.client();
    auto data = random_bytes(size, seed++);
    std::string cid;
    auto r = upload(cli, data, &cid);
    if (r)
      sets.emplace_back(cid, std::move(data));
    return r;
  };
  auto verify_all = [&] {
    auto cli = n.proc.client();
    for (auto& [cid, data] : sets)
      EXPECT_TRUE(download_equals(cli, cid, data))
        << "lost after kill -9" << n.proc.diagnostics();
  };

  ASSERT_TRUE(add(10));
  ASSERT_TRUE(add(2 * block_size));
  ASSERT_TRUE(add(5 * mib + 123));
  n.proc.kill9(); // immediately after the last POST returned
  ASSERT_TRUE(n.proc.start());
  verify_all();

  ASSERT_TRUE(add(block_size - 1));
  ASSERT_TRUE(add(mib));
  n.proc.kill9();
  ASSERT_TRUE(n.proc.start());
  verify_all();
  auto cli = n.proc.client();
  std::map<std::string, json> listing;
  ASSERT_TRUE(list_data(cli, &listing));
  for (auto& [cid, data] : sets)
    EXPECT_TRUE(listing.count(cid)) << cid << " not listed after kill -9";
}

TEST(NodeIntegrationTest, SigintShutsDownCleanly) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto data = random_bytes(300000, 99);
  std::string cid;
  {
    auto cli = n.proc.client();
    ASSERT_TRUE(upload(cli, data, &cid));
  }
  n.proc.send_signal(SIGINT);
  auto st = n.proc.wait_exit(5s);
  ASSERT_TRUE(st) << "no exit within 5 s of SIGINT" << n.proc.diagnostics();
  EXPECT_TRUE(st->clean()) << st->to_string() << n.proc.diagnostics();
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  EXPECT_TRUE(download_equals(cli, cid, data));
}

// -- start-up failures --------------------------------------------------------

TEST(NodeIntegrationTest, InvalidFlagsMakeNodeExitNonZero) {
  const std::vector<std::vector<std::string>> bad{
    {"--storage-quota", "banana"},
    {"--block-ttl", "banana"},
    {"--log-level", "loud"},
    {"--threads", "many"},
    {"--no-such-flag"},
  };
  for (auto& extra : bad) {
    temp_dir dir;
    node_process proc(node_args(dir.file("data"), extra),
                      dir.file("node-stderr.log"));
    EXPECT_EQ(expect_bad_start(proc, extra.front()), "");
  }
  // Same for a bad --api-port value (not the default "0").
  temp_dir dir;
  node_process proc(node_args(dir.file("data"), {}, "notaport"),
                    dir.file("node-stderr.log"));
  EXPECT_EQ(expect_bad_start(proc, "--api-port notaport"), "");
}

TEST(NodeIntegrationTest, UnusableDataDirMakesNodeExitNonZero) {
  temp_dir dir;
  auto file = dir.file("regular-file");
  std::ofstream(file) << "not a directory\n";
  for (auto& data_dir : {file, file + "/below-a-file"}) {
    node_process proc(node_args(data_dir), dir.file("node-stderr.log"));
    EXPECT_EQ(expect_bad_start(proc, "--data-dir " + data_dir), "");
  }
}

TEST(NodeIntegrationTest, BusyApiPortMakesSecondNodeExitNonZero) {
  local_node first;
  ASSERT_TRUE(first.proc.start());
  temp_dir dir;
  node_process second(
    node_args(dir.file("data"), {}, std::to_string(first.proc.port())),
    dir.file("node-stderr.log"));
  EXPECT_EQ(
    expect_bad_start(second, "--api-port " + std::to_string(first.proc.port())),
    "");
  // The first node is unaffected.
  auto cli = first.proc.client();
  space_info s;
  EXPECT_TRUE(get_space(cli, &s));
}

// -- node and debug endpoints -------------------------------------------------

TEST(NodeIntegrationTest, LogLevelEndpointAcceptsKnownLevelsAndRejectsBogus) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  for (auto level :
       {"trace", "debug", "info", "notice", "warn", "error", "fatal", "info"}) {
    SCOPED_TRACE(level);
    auto res =
      cli.Post(api("/debug/chronicles/loglevel?level=") + level, "", "");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200) << res->body;
  }
  auto res = cli.Post(api("/debug/chronicles/loglevel?level=bogus"), "", "");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 400) << res->body;
  EXPECT_TRUE(one_line_reason(res->body));
  // The OpenAPI spec: "Invalid or missing log level" -> 400.
  res = cli.Post(api("/debug/chronicles/loglevel"), "", "");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 400) << res->body;
  space_info s;
  EXPECT_TRUE(get_space(cli, &s));
}

TEST(NodeIntegrationTest,
     PeerIdEndpointsMatchReadyLineAndPersistAcrossRestart) {
  local_node n;
  ASSERT_TRUE(n.proc.start());
  auto peer = n.proc.peer_id();
  EXPECT_EQ(peer.rfind("12D3KooW", 0), 0u) << peer;
  auto check = [&](const std::string& expected) {
    auto cli = n.proc.client();
    for (auto path : {"/peerid", "/node/peerid"}) {
      SCOPED_TRACE(path);
      auto res = cli.Get(api(path), {{"Accept", "text/plain"}});
      ASSERT_TRUE(res) << httplib::to_string(res.error());
      EXPECT_EQ(res->status, 200);
      EXPECT_EQ(res->body, expected);
      EXPECT_EQ(res->get_header_value("Content-Type").rfind("text/plain", 0),
                0u)
        << res->get_header_value("Content-Type");
    }
  };
  check(peer);
  EXPECT_EQ(count_ready_lines(n.proc.stdout_text()), 1) << n.proc.stdout_text();
  ASSERT_TRUE(n.proc.restart());
  EXPECT_EQ(n.proc.peer_id(), peer) << "node key did not persist";
  check(peer);
  n.proc.kill9();
  ASSERT_TRUE(n.proc.start());
  EXPECT_EQ(n.proc.peer_id(), peer) << "node key did not survive kill -9";

  // A different data dir is a different node.
  local_node other;
  ASSERT_TRUE(other.proc.start());
  EXPECT_NE(other.proc.peer_id(), peer);
}

TEST(NodeIntegrationTest, DebugInfoReportsIdentityRepoAndVersion) {
  // Also checks that these flags are accepted.
  local_node n({"--log-level", "debug", "--block-ttl", "30d", "--threads", "2",
                "--storage-quota", "1GiB"});
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  json j;
  ASSERT_TRUE(get_json(cli, api("/debug/info"), &j));
  ASSERT_TRUE(j.is_object()) << j;
  EXPECT_EQ(j.value("id", json()), json(n.proc.peer_id())) << j;
  ASSERT_TRUE(j.contains("addrs")) << j;
  EXPECT_TRUE(j["addrs"].is_array()) << j;
  ASSERT_TRUE(j.contains("repo") && j["repo"].is_string()) << j;
  std::error_code ec;
  auto canonical = std::filesystem::canonical(n.data_dir, ec).string();
  auto repo = j["repo"].get<std::string>();
  EXPECT_TRUE(repo == n.data_dir || repo == canonical)
    << "repo '" << repo << "' is not the data dir '" << n.data_dir << "'";
  ASSERT_TRUE(j.contains("spr")) << j;
  EXPECT_TRUE(j["spr"].is_string()) << j;
  ASSERT_TRUE(j.contains("announceAddresses")) << j;
  EXPECT_TRUE(j["announceAddresses"].is_array()) << j;
  EXPECT_TRUE(j.contains("table")) << j;
  ASSERT_TRUE(j.contains("codex") && j["codex"].is_object()) << j;
  EXPECT_TRUE(j["codex"].contains("version")) << j;
  EXPECT_TRUE(j["codex"].contains("revision")) << j;
}

TEST(NodeIntegrationTest, MaintenanceDeletesExpiredDatasets) {
  local_node n({"--block-ttl", "1s", "--block-maintenance-interval", "1s"});
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  std::string cid;
  ASSERT_TRUE(upload(cli, random_bytes(3 * 65536 + 5, 71), &cid));
  space_info s;
  ASSERT_TRUE(get_space(cli, &s));
  EXPECT_EQ(s.total_blocks, 5); // 4 data blocks + the manifest
  // The TTL is 1 s and maintenance runs every second: within a few seconds
  // the dataset and its blocks are gone and the quota is free again.
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto res = cli.Get(api("/data/" + cid));
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    gone = res->status == 404;
  }
  ASSERT_TRUE(gone) << "expired dataset still served";
  ASSERT_TRUE(get_space(cli, &s));
  EXPECT_EQ(s.total_blocks, 0);
  EXPECT_EQ(s.quota_used, 0);
  auto list = cli.Get(api("/data"));
  ASSERT_TRUE(list);
  EXPECT_EQ(nlohmann::json::parse(list->body)["content"].size(), 0u);
}
