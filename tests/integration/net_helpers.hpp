#pragma once

// Helpers of the multi-node integration tests: a node in its own temp dir,
// connecting nodes, polling downloads, and streamed GETs hashed on the fly.
// Every function is inline: each test file that includes this header gets
// its own copy.

#include <chrono>
#include <cstdint>
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
#include "tests/integration/node_process.hpp"

namespace cairn::test {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

inline double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

/// A node in its own temp dir, its peer listener on 127.0.0.1 (port chosen
/// by the OS), stderr in `<tmp>/node-stderr.log`.
struct test_node {
  temp_dir dir;
  std::string data_dir;
  node_process proc;

  explicit test_node(const std::vector<std::string>& extra = {})
    : dir("cairn-net-it"), data_dir(dir.file("data")),
      proc(node_args(data_dir, with_defaults(extra)),
           dir.file("node-stderr.log")) {
    // nop
  }

  static std::vector<std::string>
  with_defaults(const std::vector<std::string>& extra) {
    std::vector<std::string> args{"--listen-ip", "127.0.0.1", "--storage-quota",
                                  "1GiB"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  /// The node's API base URL (`http://127.0.0.1:PORT`).
  std::string url() const { return proc.base_url(); }
};

/// A client with long timeouts for streaming downloads.
inline httplib::Client long_client(const std::string& host, int port) {
  httplib::Client cli(host, port);
  cli.set_connection_timeout(5, 0);
  cli.set_read_timeout(60, 0);
  cli.set_write_timeout(60, 0);
  return cli;
}

/// The first peer-listener multiaddr `/debug/info` reports for `n`.
inline ::testing::AssertionResult peer_addr(const node_process& n,
                                            std::string* out) {
  auto cli = n.client();
  json info;
  auto r = get_json(cli, api("/debug/info"), &info);
  if (!r)
    return r;
  if (!info.contains("id") || info["id"] != n.peer_id())
    return ::testing::AssertionFailure()
           << "/debug/info id differs from the ready line's peer id "
           << n.peer_id() << ": " << info.dump();
  if (!info.contains("addrs") || !info["addrs"].is_array() ||
      info["addrs"].empty() || !info["addrs"][0].is_string())
    return ::testing::AssertionFailure()
           << "/debug/info has no addrs: " << info.dump();
  auto addr = info["addrs"][0].get<std::string>();
  if (addr.rfind("/ip4/127.0.0.1/tcp/", 0) != 0 ||
      addr == "/ip4/127.0.0.1/tcp/0")
    return ::testing::AssertionFailure()
           << "/debug/info addrs[0] is not /ip4/127.0.0.1/tcp/PORT: " << addr;
  *out = addr;
  return ::testing::AssertionSuccess();
}

/// `GET /connect/{peer}?addrs={addr}` on `from`; the response (or nullptr).
inline httplib::Result connect_raw(const node_process& from,
                                   const std::string& peer,
                                   const std::string& addr) {
  auto cli = from.client();
  return cli.Get(api("/connect/" + peer + "?addrs=" + addr));
}

/// Connects `from` to `to` (asks `to` for its address first).
inline ::testing::AssertionResult connect_nodes(const node_process& from,
                                                const node_process& to) {
  std::string addr;
  auto r = peer_addr(to, &addr);
  if (!r)
    return r;
  auto res = connect_raw(from, to.peer_id(), addr);
  if (!res)
    return ::testing::AssertionFailure()
           << "GET /connect/" << to.peer_id() << "?addrs=" << addr
           << " failed: " << httplib::to_string(res.error());
  if (res->status != 200)
    return ::testing::AssertionFailure()
           << "GET /connect/" << to.peer_id() << "?addrs=" << addr
           << " returned " << res->status << ": " << res->body;
  return ::testing::AssertionSuccess();
}

/// Starts `a` and `b`, uploads `data` to `a` (its CID in `*cid`) and
/// connects `b` to `a`.
inline ::testing::AssertionResult seed_and_connect(test_node& a, test_node& b,
                                                   const std::string& data,
                                                   std::string* cid) {
  if (!a.proc.start() || !b.proc.start())
    return ::testing::AssertionFailure() << "a node did not start";
  auto ca = a.proc.client();
  if (auto r = upload(ca, data, cid); !r)
    return r;
  return connect_nodes(b.proc, a.proc);
}

/// Uploads `data` to the started nodes `a` and `b`, two seeders of one
/// dataset; `*cid` gets its CID, which both must answer.
inline ::testing::AssertionResult seed_both(const node_process& a,
                                            const node_process& b,
                                            const std::string& data,
                                            std::string* cid) {
  std::string other;
  auto ca = a.client();
  auto cb = b.client();
  if (auto r = upload(ca, data, cid); !r)
    return r;
  if (auto r = upload(cb, data, &other); !r)
    return r;
  if (other != *cid)
    return ::testing::AssertionFailure()
           << "the same data has CID " << *cid << " on one node and " << other
           << " on the other";
  return ::testing::AssertionSuccess();
}

/// `/api/cairn/v1/peers` of `n` as peerId -> entry.
inline ::testing::AssertionResult peers_of(const node_process& n,
                                           std::map<std::string, json>* out) {
  auto cli = n.client();
  json j;
  auto r = get_json(cli, "/api/cairn/v1/peers", &j);
  if (!r)
    return r;
  if (!j.contains("peers") || !j["peers"].is_array())
    return ::testing::AssertionFailure()
           << "/api/cairn/v1/peers: no 'peers' array: " << j.dump();
  out->clear();
  for (auto& p : j["peers"]) {
    if (!p.contains("peerId") || !p["peerId"].is_string())
      return ::testing::AssertionFailure()
             << "/api/cairn/v1/peers: entry without peerId: " << p.dump();
    (*out)[p["peerId"].get<std::string>()] = p;
  }
  return ::testing::AssertionSuccess();
}

inline std::uint64_t counter(const json& entry, const char* key) {
  if (!entry.contains(key) || !entry[key].is_number())
    return 0;
  return entry[key].get<std::uint64_t>();
}

/// Polls `/api/cairn/v1/downloads` of `n` until the newest entry for `cid`
/// of `kind` is no longer running (or `timeout`); that entry, or null.
inline json wait_download(const node_process& n, const std::string& cid,
                          const std::string& kind,
                          std::chrono::milliseconds timeout,
                          std::string* last_seen) {
  auto deadline = steady::now() + timeout;
  for (;;) {
    auto cli = n.client();
    json j;
    json found;
    if (get_json(cli, "/api/cairn/v1/downloads", &j) &&
        j.contains("downloads")) {
      *last_seen = j.dump();
      for (auto& d : j["downloads"])
        if (d.value("cid", "") == cid && d.value("kind", "") == kind)
          found = d; // newest last
    }
    if (!found.is_null() && found.value("state", "") != "running")
      return found;
    if (steady::now() >= deadline)
      return found;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
}

/// Waits until `n` no longer stores the block or manifest `cid`
/// (`GET /data/{cid}/exists` says false), for at most `timeout`.
inline ::testing::AssertionResult
wait_until_gone(const node_process& n, const std::string& cid,
                std::chrono::milliseconds timeout) {
  auto cli = n.client();
  auto deadline = steady::now() + timeout;
  json j;
  for (;;) {
    auto r = get_json(cli, api("/data/" + cid + "/exists"), &j);
    if (!r)
      return r;
    if (j.value("has", true) == false)
      return ::testing::AssertionSuccess();
    if (steady::now() >= deadline)
      return ::testing::AssertionFailure()
             << cid << " still stored after " << timeout.count() << " ms";
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
}

/// Outcome of a streamed GET whose body is hashed on the fly.
struct stream_result {
  /// httplib's error if no complete response arrived, else empty.
  std::string error;
  int status = 0;
  std::string content_length;
  std::string content_range;
  std::uint64_t bytes = 0;
  std::string sha256;
  /// The body if asked for, else at most its first 4 KiB (for messages).
  std::string body;
  double seconds = 0;

  std::string describe() const {
    std::ostringstream o;
    o << "status " << status << ", " << bytes << " bytes in " << seconds
      << " s, Content-Length '" << content_length << "'";
    if (!error.empty())
      o << ", error: " << error;
    if (status != 200 && status != 206)
      o << ", body: " << body.substr(0, 300);
    return o.str();
  }
};

/// GET `path` from host:port with a 60 s read timeout; the body is hashed as
/// it arrives. `on_bytes(total)` is called after each piece; returning false
/// aborts the download.
inline stream_result
stream_get(const std::string& host, int port, const std::string& path,
           const httplib::Headers& headers = {}, bool keep_body = false,
           std::function<bool(std::uint64_t)> on_bytes = {}) {
  stream_result out;
  sha256_stream sha;
  auto cli = long_client(host, port);
  auto t0 = steady::now();
  auto res = cli.Get(
    path, headers,
    [&](const httplib::Response& r) {
      out.status = r.status;
      out.content_length = r.get_header_value("Content-Length");
      out.content_range = r.get_header_value("Content-Range");
      return true;
    },
    [&](const char* data, std::size_t n) {
      sha.update(data, n);
      out.bytes += n;
      if (keep_body || out.body.size() < 4096)
        out.body.append(
          data,
          keep_body ? n : std::min<std::size_t>(n, 4096 - out.body.size()));
      return on_bytes ? on_bytes(out.bytes) : true;
    });
  out.seconds = seconds_since(t0);
  if (!res)
    out.error = httplib::to_string(res.error());
  out.sha256 = sha.hex();
  return out;
}

inline stream_result
stream_network(const node_process& n, const std::string& cid,
               const httplib::Headers& headers = {}, bool keep_body = false,
               std::function<bool(std::uint64_t)> on_bytes = {}) {
  return stream_get(n.host(), n.port(), api("/data/" + cid + "/network/stream"),
                    headers, keep_body, std::move(on_bytes));
}

/// A complete 200 with the right Content-Length, size and digest.
inline ::testing::AssertionResult is_whole(const stream_result& r,
                                           const std::string& expected) {
  if (!r.error.empty() || r.status != 200)
    return ::testing::AssertionFailure() << r.describe();
  if (r.content_length != std::to_string(expected.size()))
    return ::testing::AssertionFailure()
           << "Content-Length '" << r.content_length << "', expected "
           << expected.size() << " (" << r.describe() << ")";
  if (r.bytes != expected.size())
    return ::testing::AssertionFailure()
           << "got " << r.bytes << " bytes, expected " << expected.size();
  auto want = sha256_hex(expected);
  if (r.sha256 != want)
    return ::testing::AssertionFailure()
           << "sha256 " << r.sha256 << ", expected " << want;
  return ::testing::AssertionSuccess();
}

} // namespace cairn::test
