#pragma once

// How cairnctl talks to a node: the node's URL, requests carrying the bearer
// token, and every failure turned into one line and an exit code.

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace cairn::tools::cairnctl {

using json = nlohmann::json;

/// Exit codes of cairnctl (README, "cairnctl").
enum exit_code : int {
  /// Everything worked.
  exit_ok = 0,
  /// A node answered with an HTTP error or an answer cairnctl cannot use, or
  /// a local file could not be read or written.
  exit_failed = 1,
  /// A node could not be reached, or the connection broke.
  exit_unreachable = 2,
  /// Bad command line (sysexits' EX_USAGE).
  exit_usage = 64,
};

/// Why something failed: one line for stderr (without the "cairnctl: "
/// prefix) and the exit code it calls for.
struct failure {
  int code = exit_failed;
  std::string message;
};

/// A value or the failure that prevented it.
template <class T>
class result {
public:
  result(T value) : value_(std::move(value)) {}
  result(failure err) : error_(std::move(err)) {}

  explicit operator bool() const noexcept { return value_.has_value(); }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

  /// The failure; meaningful only when there is no value.
  const failure& error() const noexcept { return error_; }

private:
  std::optional<T> value_;
  failure error_;
};

/// Where a node's API is.
struct node_url {
  /// "http" or "https".
  std::string scheme = "http";
  /// Host name or address (IPv6 without brackets).
  std::string host;
  int port = 0;
  /// Put before every API path, without a final '/': empty for a node's own
  /// server, e.g. "/nodes/7" for a node in a cairn-sim agent.
  std::string path;
  /// `scheme://host:port[path]` (IPv6 in brackets): how cairnctl names the
  /// node in tables, JSON ("node") and messages.
  std::string text;
};

/// Parses `http://HOST:PORT[/PATH]`, `https://HOST[:PORT][/PATH]` or
/// `HOST:PORT[/PATH]` (http), with an optional final '/'. Fails
/// (exit_usage) on anything else.
result<node_url> parse_node_url(const std::string& text);

/// `text` percent-encoded for one URL path segment or query value: every
/// byte but unreserved characters (RFC 3986) is encoded, '/' included.
std::string url_encode(const std::string& text);

/// Settings shared by every request.
struct client_options {
  /// Sent as `Authorization: Bearer <token>` when not empty.
  std::string token;
  /// Seconds to wait for a connection and for each read or write.
  int timeout_seconds = 10;
};

/// One node's API. Each request opens its own connection; a `node_client`
/// may be used by one thread at a time.
class node_client {
public:
  node_client(node_url url, client_options options);

  /// The node's URL as given (normalized).
  const node_url& url() const noexcept { return url_; }

  /// The request path of the API path `api` ("/api/..."): with the URL's
  /// path before it.
  std::string path(const std::string& api) const { return url_.path + api; }

  /// GET the API path `path`, expecting 2xx and a JSON body. Fails with
  /// exit_unreachable when the node cannot be reached, exit_failed on an HTTP
  /// error (the node's one-line reason) or a body that is not JSON.
  result<json> get_json(const std::string& path) const;

  /// POST the API path `path` with an empty body, expecting 2xx; the answer's
  /// body. Waits at least `min_io_seconds` for it (see `make_client`). Fails
  /// like `get_json`.
  result<std::string> post(const std::string& path,
                           int min_io_seconds = 0) const;

  /// A fresh HTTP client for the node with the token and timeouts set; read
  /// and write timeouts are the options' timeout, or `min_io_seconds` if
  /// that is longer. For requests with their own body or content handlers
  /// (transfers, which may wait long for blocks from the network).
  std::unique_ptr<httplib::Client> make_client(int min_io_seconds = 0) const;

  /// The failure for a request that got no answer: "cannot reach URL:
  /// connection refused" (the socket error is found by dialing again) and
  /// exit_unreachable.
  failure transport_failure(httplib::Error error) const;

  /// The failure for an HTTP error answer: "URL: <first line of body> (HTTP
  /// <status>)" and exit_failed.
  failure http_failure(int status, const std::string& body) const;

  /// The failure for an answer of the wrong form: "URL: GET <path>: <what>".
  failure bad_answer(const std::string& path, const std::string& what) const;

private:
  node_url url_;
  client_options options_;
};

} // namespace cairn::tools::cairnctl
