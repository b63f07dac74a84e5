#pragma once

// Helpers shared by the integration tests: the REST paths, test data,
// digests, and the calls every test makes (upload, JSON GET).

#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

namespace cairn::test {

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

} // namespace cairn::test
