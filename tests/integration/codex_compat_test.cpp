// What a Codex client sees of the REST API, checked against real cairn-node
// processes: content negotiation of /spr and /peerid, local-only
// downloads, /connect through the DHT, upload checks, the marketplace
// answers, methods, Range handling, POSTs without a body, /debug/info and
// the download records. Requests that httplib's client cannot send as they
// are (no Accept, no Content-Length, a body never sent) go over a raw socket.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/api_helpers.hpp"
#include "tests/integration/net_helpers.hpp"

using namespace cairn::test;

namespace {

/// What came back on a raw connection.
struct raw_answer {
  int status = 0;
  std::string head;
  std::string body;
  /// Seconds from the request's first byte to the whole answer.
  double seconds = 0;
};

/// Sends `text` on a fresh connection to 127.0.0.1:`port` and reads the
/// answer until `Content-Length` bytes of body came, the connection closes,
/// or `timeout` passes. Never sends more than `text`.
raw_answer raw_request(int port, const std::string& text,
                       std::chrono::milliseconds timeout = std::chrono::seconds{
                         10}) {
  raw_answer out;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return out;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return out;
  }
  auto t0 = steady::now();
  ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  std::string got;
  auto deadline = t0 + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - steady::now())
                  .count();
    if (left <= 0)
      break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0)
      break;
    char buf[65536];
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      break;
    got.append(buf, static_cast<size_t>(n));
    auto end = got.find("\r\n\r\n");
    if (end == std::string::npos)
      continue;
    auto head = got.substr(0, end);
    auto cl = head.find("Content-Length: ");
    if (cl != std::string::npos &&
        got.size() - end - 4 >= std::stoull(head.substr(cl + 16)))
      break;
  }
  out.seconds = seconds_since(t0);
  ::close(fd);
  auto end = got.find("\r\n\r\n");
  out.head = got.substr(0, end);
  if (end != std::string::npos)
    out.body = got.substr(end + 4);
  if (got.rfind("HTTP/1.1 ", 0) == 0)
    out.status = std::atoi(got.c_str() + 9);
  return out;
}

/// A GET of `path` with the given extra header lines ("Name: value\r\n").
std::string get_text(const std::string& path, const std::string& headers) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers +
         "Connection: close\r\n\r\n";
}

/// Whether `peer` shows up in the DHT table of `n` (its /debug/info)
/// within 5 s.
bool learns_of(const node_process& n, const std::string& peer) {
  auto cli = n.client();
  for (int i = 0; i < 50; ++i) {
    json info;
    if (!get_json(cli, api("/debug/info"), &info))
      return false;
    for (auto& node : info["table"]["nodes"])
      if (node.value("peerId", "") == peer)
        return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  return false;
}

bool has_header_line(const std::string& head, const std::string& line) {
  return (head + "\r\n").find("\r\n" + line + "\r\n") != std::string::npos;
}

} // namespace

TEST(CodexCompatTest, SprAndPeerIdAnswerJsonUnlessTextIsPreferred) {
  test_node n;
  ASSERT_TRUE(n.proc.start());
  int port = n.proc.port();
  struct accept_case {
    const char* header;
    bool json;
  };
  const accept_case cases[] = {
    {"", true},
    {"Accept: */*\r\n", true},
    {"Accept: application/json\r\n", true},
    {"Accept: text/plain\r\n", false},
    {"Accept: text/*\r\n", false},
    {"Accept: text/plain, application/json;q=0.5\r\n", false},
    {"Accept: text/plain;q=0.2, application/json\r\n", true},
  };
  for (auto path : {"/spr", "/peerid", "/node/peerid"}) {
    bool spr = std::string{path} == "/spr";
    for (auto& c : cases) {
      SCOPED_TRACE(std::string{path} + " with '" + c.header + "'");
      auto a = raw_request(port, get_text(api(path), c.header));
      ASSERT_EQ(a.status, 200) << a.head << a.body;
      if (c.json) {
        EXPECT_NE(a.head.find("Content-Type: application/json"),
                  std::string::npos)
          << a.head;
        auto j = json::parse(a.body, nullptr, false);
        ASSERT_TRUE(j.is_object()) << a.body;
        if (spr) {
          ASSERT_TRUE(j.contains("spr") && j["spr"].is_string()) << j;
          EXPECT_EQ(j["spr"].get<std::string>().rfind("spr:", 0), 0u) << j;
        } else {
          EXPECT_EQ(j.value("id", ""), n.proc.peer_id()) << j;
        }
      } else {
        EXPECT_NE(a.head.find("Content-Type: text/plain"), std::string::npos)
          << a.head;
        if (spr)
          EXPECT_EQ(a.body.rfind("spr:", 0), 0u) << a.body;
        else
          EXPECT_EQ(a.body, n.proc.peer_id());
      }
    }
  }
}

TEST(CodexCompatTest, BootstrapNodeTakesTheJsonOfSpr) {
  test_node b;
  ASSERT_TRUE(b.proc.start());
  auto cli = b.proc.client();
  auto spr = cli.Get(api("/spr"));
  ASSERT_TRUE(spr && spr->status == 200);
  ASSERT_EQ(spr->body.rfind("{", 0), 0u) << spr->body;
  test_node a({"--bootstrap-node", spr->body});
  ASSERT_TRUE(a.proc.start());
  // A knows B from its bootstrap record: B is in A's DHT table.
  EXPECT_TRUE(learns_of(a.proc, b.proc.peer_id()))
    << "B is not in A's DHT table";
}

TEST(CodexCompatTest, LocalDownloadAnswers404AtOnceAndNeverAsksPeers) {
  test_node a, b;
  ASSERT_TRUE(a.proc.start());
  ASSERT_TRUE(b.proc.start());
  auto data = random_bytes(5 * 65536 + 100, 41);
  auto ca = a.proc.client();
  std::string cid;
  ASSERT_TRUE(upload(ca, data, &cid));
  ASSERT_TRUE(connect_nodes(b.proc, a.proc));
  // B has the manifest, none of the blocks; A has them all.
  auto cb = b.proc.client();
  auto m = cb.Get(api("/data/" + cid + "/network/manifest"));
  ASSERT_TRUE(m && m->status == 200) << (m ? m->body : "no answer");
  auto t0 = steady::now();
  auto res = cb.Get(api("/data/" + cid));
  double took = seconds_since(t0);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404) << res->body.substr(0, 200);
  EXPECT_LT(took, 1.0) << "a local download waited for the network";
  EXPECT_EQ(res->body.find('\n'), res->body.size() - 1) << res->body;
  // Nothing was fetched from A.
  json space;
  ASSERT_TRUE(get_json(cb, api("/space"), &space));
  EXPECT_LE(space.value("totalBlocks", 99), 1) << space;
  // The network path still fetches.
  auto full = cb.Get(api("/data/" + cid + "/network/stream"));
  ASSERT_TRUE(full && full->status == 200);
  EXPECT_TRUE(full->body == data);
}

TEST(CodexCompatTest, ConnectWithoutAddrsFindsThePeerInTheDht) {
  test_node a;
  ASSERT_TRUE(a.proc.start());
  auto spr = a.proc.client().Get(api("/spr"), {{"Accept", "text/plain"}});
  ASSERT_TRUE(spr && spr->status == 200);
  test_node b({"--bootstrap-node", spr->body});
  ASSERT_TRUE(b.proc.start());
  auto cb = b.proc.client();
  auto res = cb.Get(api("/connect/" + a.proc.peer_id()));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  std::map<std::string, json> peers;
  ASSERT_TRUE(peers_of(b.proc, &peers));
  EXPECT_EQ(peers.count(a.proc.peer_id()), 1u);
  // C joins after B: once A knows C, B finds C by a lookup of its ID
  // through A.
  test_node c({"--bootstrap-node", spr->body});
  ASSERT_TRUE(c.proc.start());
  ASSERT_TRUE(learns_of(a.proc, c.proc.peer_id()));
  auto to_c = cb.Get(api("/connect/" + c.proc.peer_id()));
  ASSERT_TRUE(to_c);
  EXPECT_EQ(to_c->status, 200) << to_c->body;

  // A peer nobody knows: 400 with one reason.
  test_node stranger;
  ASSERT_TRUE(stranger.proc.start());
  auto unknown = cb.Get(api("/connect/" + stranger.proc.peer_id()));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400) << unknown->body;
  // An address where nobody listens: 400, and the reason says its code once.
  auto dead =
    connect_raw(b.proc, stranger.proc.peer_id(), "/ip4/127.0.0.1/tcp/1");
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->status, 400) << dead->body;
  EXPECT_EQ(dead->body.find("unavailable: unavailable"), std::string::npos)
    << dead->body;
}

TEST(CodexCompatTest, UploadRefusesAnInvalidMimeTypeOrFilenameWith422) {
  test_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  for (auto type : {"image", "image/", "/png", "text plain", "a/b;c",
                    "image/png; charset"}) {
    SCOPED_TRACE(type);
    auto res = cli.Post(api("/data"), "data", type);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 422) << res->body;
    EXPECT_NE(res->body.find("MIME type"), std::string::npos) << res->body;
  }
  for (auto name : {"../etc/passwd", "a/b.txt", "a\\\\b", "..", "x:y", "a?"}) {
    SCOPED_TRACE(name);
    auto res =
      cli.Post(api("/data"),
               {{"Content-Disposition",
                 std::string{"attachment; filename=\""} + name + "\""}},
               "data", "text/plain");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 422) << res->body;
  }
  std::string cid;
  EXPECT_TRUE(
    upload(cli, "data", &cid, "text/plain; charset=utf-8", "notes v2.txt"));
  EXPECT_TRUE(upload(cli, "data", &cid, "application/vnd.api+json"));
}

TEST(CodexCompatTest, MarketplaceEndpointsAnswer503WithoutPersistence) {
  test_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  auto check = [](const httplib::Result& res) {
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 503);
    EXPECT_EQ(res->body, "Persistence is not enabled\n");
  };
  for (auto path : {"/sales/slots", "/sales/slots/abc", "/sales/availability",
                    "/sales/availability/abc/reservations",
                    "/storage/purchases", "/storage/purchases/abc"}) {
    SCOPED_TRACE(path);
    check(cli.Get(api(path)));
  }
  check(cli.Post(api("/sales/availability"), "{}", "application/json"));
  check(cli.Patch(api("/sales/availability/abc"), "{}", "application/json"));
  check(cli.Post(api("/storage/request/zDvZRwzm"), "{}", "application/json"));
}

TEST(CodexCompatTest, AnUploadRefusedBeforeItsBodyClosesTheConnection) {
  test_node n;
  ASSERT_TRUE(n.proc.start());
  // A 2 MiB body that never comes, refused for its head: the answer comes
  // at once and the connection closes, so that the body is never read as
  // the next request.
  for (auto head : {std::string{"Content-Type: image\r\n"},
                    std::string{"Content-Type: multipart/form-data; "
                                "boundary=x\r\n"}}) {
    SCOPED_TRACE(head);
    auto r = raw_request(n.proc.port(),
                         "POST " + api("/data") +
                           " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Length: 2097152\r\n" +
                           head + "\r\n",
                         std::chrono::seconds{3});
    EXPECT_TRUE(r.status == 422 || r.status == 415) << r.head;
    EXPECT_TRUE(has_header_line(r.head, "Connection: close")) << r.head;
    EXPECT_LT(r.seconds, 2.0);
  }
}

TEST(CodexCompatTest, AnUploadWithContentEncodingIsStoredAsSent) {
  test_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  // Codex stores the bytes it is sent; httplib would decompress them (the
  // small body) or a part of them (the large one, read from the socket).
  for (size_t size : {size_t{100}, size_t{300000}}) {
    SCOPED_TRACE(size);
    auto body = random_bytes(size, 41);
    auto res = cli.Post(api("/data"), {{"Content-Encoding", "gzip"}}, body,
                        "application/octet-stream");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    auto got = cli.Get(api("/data/" + res->body));
    ASSERT_TRUE(got);
    EXPECT_EQ(got->status, 200);
    EXPECT_TRUE(got->body == body) << got->body.size() << " bytes back";
  }
}

TEST(CodexCompatTest, AFilenameThatIsNotUtf8IsListedWithAReplacement) {
  test_node n;
  ASSERT_TRUE(n.proc.start());
  // Latin-1 'é' in the name: stored as sent, listed as U+FFFD, not a 500.
  auto up = raw_request(n.proc.port(),
                        "POST " + api("/data") +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Content-Type: text/plain\r\n"
                          "Content-Disposition: attachment; "
                          "filename=\"caf\xe9.txt\"\r\n"
                          "Content-Length: 4\r\nConnection: close\r\n\r\n"
                          "data");
  ASSERT_EQ(up.status, 200) << up.head << up.body;
  auto cli = n.proc.client();
  auto list = cli.Get(api("/data"));
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200) << list->body;
  EXPECT_NE(list->body.find("caf\xef\xbf\xbd.txt"), std::string::npos)
    << list->body;
}

TEST(CodexCompatTest, CidsOfOtherKindsAreAnsweredAsNotStored) {
  test_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  // Codex takes these and has no such block: the spec's own example (a
  // CIDv0), a raw CIDv1 in base32, the same in base58btc.
  for (std::string c :
       {"QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
        "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq",
        "zb2rhZfjRh2FHHB2RkHVEvL2vJnCTcu7kwRqgVsf9gpkLgteo"}) {
    SCOPED_TRACE(c);
    auto get = cli.Get(api("/data/" + c));
    ASSERT_TRUE(get);
    EXPECT_EQ(get->status, 404) << get->body;
    auto stream = cli.Get(api("/data/" + c + "/network/stream"));
    ASSERT_TRUE(stream);
    EXPECT_EQ(stream->status, 404) << stream->body;
    auto exists = cli.Get(api("/data/" + c + "/exists"));
    ASSERT_TRUE(exists);
    EXPECT_EQ(exists->status, 200) << exists->body;
    EXPECT_EQ(exists->body, R"({"has":false})");
    auto del = cli.Delete(api("/data/" + c));
    ASSERT_TRUE(del);
    EXPECT_EQ(del->status, 204) << del->body;
  }
  // A block CID names no manifest: 404 too.
  auto m =
    cli.Get(api("/data/zDxWB8ED1aT6toYW9R1grC12wesgfBLxovs7KLq5WwfzvwsYTSV9"
                "/network/manifest"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 404) << m->body;
  // Text that is no CID is still 400.
  auto bad = cli.Get(api("/data/notacid"));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

TEST(CodexCompatTest, WrongMethodsGet405WithAllowBeforeTheBodyIsRead) {
  test_node n;
  ASSERT_TRUE(n.proc.start());
  int port = n.proc.port();
  // A 200 MiB PUT whose body never comes: the answer must not wait for it.
  auto put = raw_request(
    port,
    "PUT " + api("/data") +
      " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 209715200\r\n"
      "Content-Type: application/octet-stream\r\n\r\n",
    std::chrono::seconds{3});
  EXPECT_EQ(put.status, 405) << put.head;
  EXPECT_LT(put.seconds, 2.0);
  EXPECT_TRUE(has_header_line(put.head, "Allow: GET, HEAD, POST")) << put.head;
  EXPECT_FALSE(put.body.empty());
  // The same with Expect: 100-continue: refused without a 100.
  auto expect = raw_request(
    port,
    "PUT " + api("/data") +
      " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 209715200\r\n"
      "Expect: 100-continue\r\n\r\n",
    std::chrono::seconds{3});
  EXPECT_EQ(expect.status, 405) << expect.head;
  auto cli = n.proc.client();
  auto del = cli.Delete(api("/spr"));
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 405);
  EXPECT_EQ(del->get_header_value("Allow"), "GET, HEAD");
  auto post = cli.Post("/api/cairn/v1/peers", "", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  // A path that does not exist is still 404.
  auto none = cli.Get(api("/nothing-here"));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);
}

TEST(CodexCompatTest, MalformedAndMultipleRangesAnswerTheWholeBody) {
  test_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  auto data = random_bytes(3 * 65536 + 7, 42);
  std::string cid;
  ASSERT_TRUE(upload(cli, data, &cid));
  for (auto range : {"bytes=5-2", "bytes=abc", "items=0-1", "bytes=0-1,5-9",
                     "bytes=-", "bytes=1-2,"}) {
    SCOPED_TRACE(range);
    auto res = cli.Get(api("/data/" + cid), {{"Range", range}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body.substr(0, 100);
    EXPECT_TRUE(res->body == data) << res->body.size() << " bytes";
    EXPECT_TRUE(res->get_header_value("Content-Range").empty());
  }
  // An unsatisfiable range is 416 with a reason.
  auto past = cli.Get(api("/data/" + cid), {{"Range", "bytes=999999999-"}});
  ASSERT_TRUE(past);
  EXPECT_EQ(past->status, 416);
  EXPECT_FALSE(past->body.empty());
  // A malformed range on a CID that is not here is still a 404 with a reason.
  auto missing =
    cli.Get(api("/data/zDvZRwzm5sfnbDJgpKjm9GtvT3xRfHN1Mc3HJaHPhNR7Dcu4UDja"),
            {{"Range", "bytes=5-2"}});
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_FALSE(missing->body.empty());
}

TEST(CodexCompatTest, PostsWithoutBodyOrContentLengthWork) {
  test_node a, b;
  ASSERT_TRUE(a.proc.start());
  ASSERT_TRUE(b.proc.start());
  auto ca = a.proc.client();
  std::string cid;
  ASSERT_TRUE(upload(ca, random_bytes(70000, 43), &cid));
  ASSERT_TRUE(connect_nodes(b.proc, a.proc));
  auto post = [](const std::string& path) {
    return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  };
  auto bg = raw_request(b.proc.port(), post(api("/data/" + cid + "/network")));
  EXPECT_EQ(bg.status, 200) << bg.head << bg.body;
  EXPECT_LT(bg.seconds, 5.0);
  auto level = raw_request(a.proc.port(),
                           post(api("/debug/chronicles/loglevel?level=info")));
  EXPECT_EQ(level.status, 200) << level.head << level.body;
  EXPECT_LT(level.seconds, 2.0);
  // An upload without a body is refused at once, with its reason.
  auto empty = raw_request(a.proc.port(), post(api("/data")));
  EXPECT_EQ(empty.status, 400) << empty.head;
  EXPECT_NE(empty.body.find("empty"), std::string::npos) << empty.body;
  EXPECT_LT(empty.seconds, 2.0);
}

TEST(CodexCompatTest, MalformedOrConflictingContentLengthAnswers400) {
  test_node n;
  ASSERT_TRUE(n.proc.start());
  for (auto headers :
       {"Content-Length: -5\r\n", "Content-Length: 4\r\nContent-Length: 5\r\n",
        "Content-Length: 4x\r\n"}) {
    SCOPED_TRACE(headers);
    auto a =
      raw_request(n.proc.port(),
                  "POST " + api("/data") + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                    headers + "\r\ndata",
                  std::chrono::seconds{3});
    EXPECT_EQ(a.status, 400) << a.head;
    EXPECT_FALSE(a.body.empty());
  }
}

TEST(CodexCompatTest, DebugInfoFillsTheLocalNodeAnnounceAddressesAndRevision) {
  test_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  json j;
  ASSERT_TRUE(get_json(cli, api("/debug/info"), &j));
  auto local = j["table"]["localNode"];
  EXPECT_EQ(local.value("peerId", ""), n.proc.peer_id()) << local;
  EXPECT_EQ(local.value("record", ""), j.value("spr", "-")) << j;
  EXPECT_EQ(local.value("record", "").rfind("spr:", 0), 0u) << local;
  EXPECT_EQ(local.value("nodeId", "").size(), 64u) << local;
  EXPECT_NE(local.value("address", "").find("/udp/"), std::string::npos)
    << local;
  ASSERT_TRUE(j["announceAddresses"].is_array()) << j;
  EXPECT_FALSE(j["announceAddresses"].empty()) << j;
  auto revision = j["codex"].value("revision", "");
  EXPECT_GE(revision.size(), 7u) << j["codex"];
}

TEST(CodexCompatTest, DownloadRecordsCountDatasetBytesAndTheFirstByte) {
  test_node n;
  ASSERT_TRUE(n.proc.start());
  auto cli = n.proc.client();
  auto data = random_bytes(2 * 65536 + 1000, 44);
  std::string cid;
  ASSERT_TRUE(upload(cli, data, &cid));
  auto res = cli.Get(api("/data/" + cid));
  ASSERT_TRUE(res && res->status == 200);
  json j;
  ASSERT_TRUE(get_json(cli, "/api/cairn/v1/downloads", &j));
  ASSERT_FALSE(j["downloads"].empty()) << j;
  auto d = j["downloads"].back();
  EXPECT_EQ(d.value("bytesDone", 0), data.size()) << d;
  ASSERT_TRUE(d["firstByteSeconds"].is_number()) << d;
  EXPECT_GE(d.value("seconds", 0.0), d["firstByteSeconds"].get<double>()) << d;
  // Served from the store: no block arrived twice from the network.
  EXPECT_EQ(d.value("duplicateBlocks", -1), 0) << d;
}
