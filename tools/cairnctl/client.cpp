#include "tools/cairnctl/client.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "tools/cairnctl/format.hpp"

namespace cairn::tools::cairnctl {

namespace {

failure usage(const std::string& why) {
  return failure{exit_usage, why};
}

std::string lower_first(std::string s) {
  if (!s.empty())
    s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

// Dials host:port once more to learn why httplib could not connect (it does
// not keep the socket error). Returns e.g. "connection refused".
std::string diagnose_connect(const std::string& host, int port,
                             int timeout_seconds) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  auto port_text = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), port_text.c_str(), &hints, &list);
  if (rc != 0)
    return "cannot resolve " + host + ": " + lower_first(::gai_strerror(rc));
  int last_error = 0;
  for (auto* ai = list; ai != nullptr; ai = ai->ai_next) {
    int fd =
      ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = errno;
      continue;
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    int err = 0;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd pfd{fd, POLLOUT, 0};
        int n = ::poll(&pfd, 1, timeout_seconds * 1000);
        if (n == 0) {
          err = ETIMEDOUT;
        } else {
          socklen_t len = sizeof(err);
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        }
      }
    }
    ::close(fd);
    if (err == 0) {
      ::freeaddrinfo(list);
      return "connection failed (the node accepts connections now)";
    }
    last_error = err;
  }
  ::freeaddrinfo(list);
  if (last_error == 0)
    return "no address for " + host;
  return lower_first(std::strerror(last_error));
}

std::string status_text(int status) {
  switch (status) {
  case 400:
    return "bad request";
  case 401:
    return "unauthorized";
  case 403:
    return "forbidden";
  case 404:
    return "not found";
  case 500:
    return "internal server error";
  case 502:
    return "bad gateway";
  case 503:
    return "service unavailable";
  default:
    return "error";
  }
}

} // namespace

result<node_url> parse_node_url(const std::string& text) {
  node_url out;
  std::string rest = text;
  auto sep = rest.find("://");
  if (sep != std::string::npos) {
    out.scheme = rest.substr(0, sep);
    for (auto& c : out.scheme)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    rest = rest.substr(sep + 3);
    if (out.scheme != "http" && out.scheme != "https")
      return usage("--node " + text + ": the scheme must be http or https");
  }
  while (!rest.empty() && rest.back() == '/')
    rest.pop_back();
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    out.path = rest.substr(slash);
    rest = rest.substr(0, slash);
    if (out.path.find_first_of("?#") != std::string::npos)
      return usage("--node " + text +
                   ": the URL may have a path but no query or fragment");
  }
  std::string port_text;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos)
      return usage("--node " + text + ": unclosed '[' in the IPv6 address");
    out.host = rest.substr(1, close - 1);
    auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return usage("--node " + text + ": expected ':PORT' after ']'");
      port_text = after.substr(1);
    }
  } else {
    auto colon = rest.rfind(':');
    if (colon != std::string::npos) {
      out.host = rest.substr(0, colon);
      port_text = rest.substr(colon + 1);
    } else {
      out.host = rest;
    }
  }
  if (out.host.empty())
    return usage("--node " + text + ": no host, e.g. http://127.0.0.1:8080");
  if (port_text.empty() && sep == std::string::npos)
    return usage("--node " + text + ": no port, e.g. 127.0.0.1:8080");
  if (port_text.empty()) {
    out.port = out.scheme == "https" ? 443 : 80;
  } else {
    if (port_text.size() > 5 ||
        port_text.find_first_not_of("0123456789") != std::string::npos)
      return usage("--node " + text + ": the port is not a number");
    out.port = std::stoi(port_text);
    if (out.port < 1 || out.port > 65535)
      return usage("--node " + text + ": the port is out of range");
  }
  auto host =
    out.host.find(':') != std::string::npos ? "[" + out.host + "]" : out.host;
  out.text =
    out.scheme + "://" + host + ":" + std::to_string(out.port) + out.path;
  return out;
}

std::string url_encode(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0xF];
    }
  }
  return out;
}

node_client::node_client(node_url url, client_options options)
  : url_(std::move(url)), options_(std::move(options)) {
  // Connections are opened per request.
}

std::unique_ptr<httplib::Client>
node_client::make_client(int min_io_seconds) const {
  auto host = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]"
                                                       : url_.host;
  auto cli = std::make_unique<httplib::Client>(url_.scheme + "://" + host +
                                               ":" + std::to_string(url_.port));
  auto io = std::max(min_io_seconds, options_.timeout_seconds);
  cli->set_connection_timeout(options_.timeout_seconds, 0);
  cli->set_read_timeout(io, 0);
  cli->set_write_timeout(io, 0);
  cli->set_keep_alive(false);
  if (!options_.token.empty())
    cli->set_default_headers({{"Authorization", "Bearer " + options_.token}});
  return cli;
}

failure node_client::transport_failure(httplib::Error error) const {
  using httplib::Error;
  switch (error) {
  case Error::Connection:
    return {exit_unreachable,
            "cannot reach " + url_.text + ": " +
              diagnose_connect(url_.host, url_.port, options_.timeout_seconds)};
  case Error::ConnectionTimeout:
    return {exit_unreachable,
            "cannot reach " + url_.text + ": connection timed out after " +
              std::to_string(options_.timeout_seconds) + " s"};
  case Error::SSLConnection:
  case Error::SSLServerVerification:
  case Error::SSLLoadingCerts:
    return {exit_unreachable, "cannot reach " + url_.text + ": " +
                                lower_first(httplib::to_string(error))};
  case Error::Read:
    return {exit_unreachable,
            url_.text +
              ": the connection broke or the node did not answer in time"};
  case Error::Write:
    return {exit_unreachable,
            url_.text + ": the connection broke while sending"};
  default:
    return {exit_unreachable,
            url_.text + ": " + lower_first(httplib::to_string(error))};
  }
}

failure node_client::http_failure(int status, const std::string& body) const {
  auto why = one_line(body);
  if (why.empty())
    why = status_text(status);
  return {exit_failed,
          url_.text + ": " + why + " (HTTP " + std::to_string(status) + ")"};
}

failure node_client::bad_answer(const std::string& path,
                                const std::string& what) const {
  return {exit_failed, url_.text + ": GET " + path + ": " + one_line(what)};
}

result<json> node_client::get_json(const std::string& path) const {
  auto cli = make_client();
  auto res = cli->Get(this->path(path));
  if (!res)
    return transport_failure(res.error());
  if (res->status < 200 || res->status > 299)
    return http_failure(res->status, res->body);
  // Exceptions are off: a malformed body yields a discarded value.
  auto j = json::parse(res->body, nullptr, false);
  if (j.is_discarded())
    return bad_answer(path, "the answer is not JSON: " + res->body);
  return j;
}

result<std::string> node_client::post(const std::string& path,
                                      int min_io_seconds) const {
  auto cli = make_client(min_io_seconds);
  auto res = cli->Post(this->path(path), std::string{}, "text/plain");
  if (!res)
    return transport_failure(res.error());
  if (res->status < 200 || res->status > 299)
    return http_failure(res->status, res->body);
  return res->body;
}

} // namespace cairn::tools::cairnctl
