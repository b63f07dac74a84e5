#pragma once

// Helpers shared by the integration tests: the REST paths, test data,
// digests, and the calls every test makes (upload, JSON GET).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

namespace cairn::test {

constexpr std::size_t mib = 1024 * 1024;

/// The node's block size (`--block-size` unset), which the tests' upload
/// sizes are chosen around.
constexpr std::size_t block_size = 65536;

/// `/api/codex/v1` + `rest`.
inline std::string api(const std::string& rest) {
  return "/api/codex/v1" + rest;
}

/// `n` deterministic pseudo-random bytes.
inline std::string random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::string out(n, '\0');
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    auto v = gen();
    std::memcpy(&out[i], &v, 8);
  }
  if (i < n) {
    auto v = gen();
    std::memcpy(&out[i], &v, n - i);
  }
  return out;
}

/// Incremental SHA-256 (OpenSSL EVP), hex digest.
class sha256_stream {
public:
  sha256_stream() : ctx_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
  }
  ~sha256_stream() { EVP_MD_CTX_free(ctx_); }
  sha256_stream(const sha256_stream&) = delete;
  sha256_stream& operator=(const sha256_stream&) = delete;

  void update(const char* data, std::size_t n) {
    EVP_DigestUpdate(ctx_, data, n);
  }

  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      out += digits[md[i] >> 4];
      out += digits[md[i] & 0xf];
    }
    return out;
  }

private:
  EVP_MD_CTX* ctx_;
};

/// SHA-256 of `data`, hex.
inline std::string sha256_hex(const std::string& data) {
  sha256_stream s;
  s.update(data.data(), data.size());
  return s.hex();
}

/// A base58btc multibase string: 'z' followed by base58 characters only.
inline bool looks_like_cid(const std::string& s) {
  static const std::string alphabet =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  return s.size() > 10 && s[0] == 'z' &&
         s.find_first_not_of(alphabet, 1) == std::string::npos;
}

/// POST /data; `*cid` is the answer. Fails with the reason otherwise.
inline ::testing::AssertionResult
upload(httplib::Client& cli, const std::string& body, std::string* cid,
       const std::string& content_type = "application/octet-stream",
       const std::string& filename = "") {
  httplib::Headers headers;
  if (!filename.empty())
    headers.emplace("Content-Disposition",
                    "attachment; filename=\"" + filename + "\"");
  auto res = cli.Post(api("/data"), headers, body, content_type);
  if (!res)
    return ::testing::AssertionFailure()
           << "POST /data (" << body.size()
           << " bytes) failed: " << httplib::to_string(res.error());
  if (res->status != 200)
    return ::testing::AssertionFailure()
           << "POST /data (" << body.size() << " bytes) returned "
           << res->status << ": " << res->body;
  if (!looks_like_cid(res->body))
    return ::testing::AssertionFailure()
           << "POST /data returned a body that is not a bare base58btc CID: '"
           << res->body << "'";
  *cid = res->body;
  return ::testing::AssertionSuccess();
}

/// GET `path` expecting 200 and JSON.
inline ::testing::AssertionResult
get_json(httplib::Client& cli, const std::string& path, nlohmann::json* out) {
  auto res = cli.Get(path);
  if (!res)
    return ::testing::AssertionFailure()
           << "GET " << path << " failed: " << httplib::to_string(res.error());
  if (res->status != 200)
    return ::testing::AssertionFailure() << "GET " << path << " returned "
                                         << res->status << ": " << res->body;
  try {
    *out = nlohmann::json::parse(res->body);
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure()
           << "GET " << path << " returned invalid JSON (" << e.what()
           << "): " << res->body;
  }
  return ::testing::AssertionSuccess();
}

/// The `/data` listing as cid -> manifest.
inline ::testing::AssertionResult
list_data(httplib::Client& cli, std::map<std::string, nlohmann::json>* out) {
  nlohmann::json j;
  auto r = get_json(cli, api("/data"), &j);
  if (!r)
    return r;
  if (!j.is_object() || !j.contains("content") || !j["content"].is_array())
    return ::testing::AssertionFailure()
           << "GET /data: no 'content' array: " << j.dump();
  out->clear();
  for (auto& item : j["content"]) {
    if (!item.contains("cid") || !item["cid"].is_string() ||
        !item.contains("manifest") || !item["manifest"].is_object())
      return ::testing::AssertionFailure()
             << "GET /data: item without cid/manifest: " << item.dump();
    (*out)[item["cid"].get<std::string>()] = item["manifest"];
  }
  return ::testing::AssertionSuccess();
}

/// Result of `raw_post`.
struct raw_response {
  /// HTTP status, 0 if no status line arrived.
  int status = 0;
  std::string head;
  std::string body;
  /// What went wrong on the socket, if anything (for messages).
  std::string error;
};

/// POSTs `body` over a plain socket the way curl does: it keeps reading while
/// it sends and stops sending once the server answers, so an early reply
/// (e.g. 413 before the body was read) is seen. httplib's client only reads
/// after the whole body was written and misses such replies. With `chunked`
/// the body is sent with `Transfer-Encoding: chunked` in 64 KiB chunks (the
/// size is unknown to the server up front).
inline raw_response raw_post(const std::string& host, int port,
                             const std::string& path, const std::string& body,
                             bool chunked) {
  raw_response out;
  std::string req = "POST " + path + " HTTP/1.1\r\nHost: " + host + ":" +
                    std::to_string(port) +
                    "\r\nContent-Type: application/octet-stream\r\n"
                    "Connection: close\r\n";
  if (chunked) {
    req += "Transfer-Encoding: chunked\r\n\r\n";
    for (std::size_t pos = 0; pos < body.size(); pos += 65536) {
      auto piece = body.substr(pos, 65536);
      char len[32];
      std::snprintf(len, sizeof(len), "%zx\r\n", piece.size());
      req += len;
      req += piece;
      req += "\r\n";
    }
    req += "0\r\n\r\n";
  } else {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    req += body;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    out.error = std::string("socket: ") + std::strerror(errno);
    return out;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    out.error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return out;
  }
  std::string resp;
  std::size_t sent = 0;
  bool sending = true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  std::size_t head_end = std::string::npos;
  std::size_t content_length = std::string::npos;
  for (;;) {
    if (std::chrono::steady_clock::now() > deadline) {
      out.error = "timeout";
      break;
    }
    pollfd pfd{fd, static_cast<short>(POLLIN | (sending ? POLLOUT : 0)), 0};
    if (::poll(&pfd, 1, 100) < 0) {
      if (errno == EINTR)
        continue;
      out.error = std::string("poll: ") + std::strerror(errno);
      break;
    }
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[16384];
      auto n = ::recv(fd, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        out.error = std::string("recv: ") + std::strerror(errno);
        break;
      }
      if (n == 0)
        break;
      resp.append(buf, static_cast<std::size_t>(n));
      sending = false; // the server has answered: stop sending, like curl
      if (head_end == std::string::npos) {
        head_end = resp.find("\r\n\r\n");
        if (head_end != std::string::npos) {
          std::string lower = resp.substr(0, head_end);
          for (auto& c : lower)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          auto cl = lower.find("\r\ncontent-length:");
          if (cl != std::string::npos)
            content_length = std::stoul(lower.substr(cl + 17));
        }
      }
      if (head_end != std::string::npos &&
          content_length != std::string::npos &&
          resp.size() >= head_end + 4 + content_length)
        break;
      continue;
    }
    if (sending && (pfd.revents & POLLOUT)) {
      auto len = std::min<std::size_t>(req.size() - sent, 65536);
      auto n = ::send(fd, req.data() + sent, len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
          continue;
        // EPIPE/ECONNRESET: the server stopped reading; read its answer.
        out.error = std::string("send: ") + std::strerror(errno);
        sending = false;
        continue;
      }
      sent += static_cast<std::size_t>(n);
      if (sent == req.size())
        sending = false;
    }
  }
  ::close(fd);
  if (head_end != std::string::npos) {
    out.head = resp.substr(0, head_end);
    out.body = resp.substr(head_end + 4);
    std::istringstream status_line(out.head);
    std::string version;
    status_line >> version >> out.status;
  }
  return out;
}

} // namespace cairn::test
