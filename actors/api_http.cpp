// Helpers of the REST API's handlers, and its routing table.

#include "actors/api_routes.hpp"

#include <algorithm>
#include <regex>
#include <vector>

#include <spdlog/spdlog.h>

#include "messages/http.hpp"

namespace cairn::actors::rest {

namespace {

// The status text of an error httplib answered by itself (its body is
// empty): every error answer carries a one-line reason.
std::string default_reason(int status) {
  switch (status) {
  case 400:
    return "malformed request";
  case 408:
    return "the request took too long to arrive";
  case 413:
    return "request too large";
  case 414:
    return "request URI too long";
  case 431:
    return "request headers too large";
  default:
    return "HTTP error " + std::to_string(status);
  }
}

// Every route's method and path pattern: a path that exists answers a
// method it does not have with 405 and `Allow`, before any body is read.
class route_table {
public:
  /// `takes_data`: the route streams a body of any size (an upload); the
  /// others take at most `max_small_body` bytes, which httplib holds whole.
  void add(const std::string& method, const std::string& pattern,
           bool takes_data = false) {
    routes_.push_back({method, std::regex{pattern}, takes_data});
  }

  /// True if a route of `method` matching `path` streams its body.
  bool takes_data(const std::string& method, const std::string& path) const {
    for (auto& r : routes_)
      if (r.takes_data && r.method == method &&
          std::regex_match(path, r.pattern))
        return true;
    return false;
  }

  /// The methods the routes matching `path` take, sorted (HEAD wherever
  /// GET is); empty if no route matches.
  std::vector<std::string> allowed(const std::string& path) const {
    std::vector<std::string> methods;
    for (auto& r : routes_)
      if (std::regex_match(path, r.pattern)) {
        methods.push_back(r.method);
        if (r.method == "GET")
          methods.push_back("HEAD");
      }
    std::sort(methods.begin(), methods.end());
    methods.erase(std::unique(methods.begin(), methods.end()), methods.end());
    return methods;
  }

private:
  struct route {
    std::string method;
    std::regex pattern;
    bool takes_data;
  };
  std::vector<route> routes_;
};

// The largest body httplib reads into memory for a route that does not
// stream its body (JSON of a few hundred bytes, or none).
constexpr uint64_t max_small_body = 1 << 20;

// Checks a request before httplib reads its body: a malformed or repeated
// Content-Length (RFC 9112 §6.3) answers 400, a method the path does not
// take 405. A body on any route but an upload (or on a path that does not
// exist) is read into memory whole: over `max_small_body` it answers 413,
// of unknown length (chunked) 411. A refused request that has a body closes
// the connection, so that the body is never read as a next request. Returns
// false if refused.
bool check_request(const route_table& routes, const Request& req,
                   Response& res) {
  auto& r = const_cast<Request&>(req);
  bool has_body = req.has_header("Transfer-Encoding");
  auto lengths = req.get_header_value_count("Content-Length");
  std::string why;
  int status = 0;
  std::optional<uint64_t> length;
  for (size_t i = 0; i < lengths; ++i) {
    auto v = parse_decimal(req.get_header_value("Content-Length", i));
    if (!v || (length && *v != *length)) {
      status = 400;
      why = lengths > 1 ? "conflicting Content-Length headers"
                        : "malformed Content-Length '" +
                            req.get_header_value("Content-Length") + "'";
      has_body = true; // its end cannot be known
      break;
    }
    length = v;
  }
  if (length && *length > 0)
    has_body = true;
  if (status == 0) {
    auto methods = routes.allowed(req.path);
    if (!methods.empty() && std::find(methods.begin(), methods.end(),
                                      req.method) == methods.end()) {
      std::string allow;
      for (auto& m : methods)
        allow += (allow.empty() ? "" : ", ") + m;
      status = 405;
      why = req.method + " is not allowed on " + req.path +
            " (allowed: " + allow + ")";
      res.set_header("Allow", allow);
    }
  }
  bool streams = routes.takes_data(req.method, req.path);
  if (status == 0 && streams && req.has_header("Content-Encoding")) {
    // Stored as sent, as Codex stores it: httplib would decompress what it
    // reads itself but not what the upload reads from the socket.
    r.headers.erase("Content-Encoding");
  }
  if (status == 0 && has_body && !streams) {
    if (req.has_header("Transfer-Encoding")) {
      status = 411;
      why = "a body on " + req.path + " needs a Content-Length";
    } else if (length && *length > max_small_body) {
      status = 413;
      why = "a body of " + std::to_string(*length) + " bytes on " + req.path +
            " (at most " + std::to_string(max_small_body) + ")";
    }
  }
  if (status == 0) {
    // A POST without a body needs no Content-Length (Codex clients send
    // none): without one, httplib would read until the connection closes.
    if (!has_body && !length &&
        (req.method == "POST" || req.method == "PUT" || req.method == "PATCH"))
      r.set_header("Content-Length", "0");
    return true;
  }
  reply_error(req, res, status, why);
  if (has_body)
    close_after(req);
  return false;
}

} // namespace

std::string route(const char* suffix) {
  return std::string{api_prefix} + suffix;
}

void close_after(const Request& req) {
  auto& r = const_cast<Request&>(req);
  r.headers.erase("Connection");
  r.set_header("Connection", "close");
}

// Every error answer is one line of text. A Range header must not apply to
// it: httplib would slice the body.
void reply_error(const Request& req, Response& res, int status,
                 const std::string& why) {
  const_cast<Request&>(req).ranges.clear();
  res.status = status;
  res.set_content(why + "\n", "text/plain");
}

void reply_error(const Request& req, Response& res, const caf::error& err) {
  reply_error(req, res, http_status(err), describe(err));
}

void reply_json(Response& res, const json& body) {
  res.status = 200;
  // A string that is not UTF-8 (a filename in a manifest from a peer, or
  // from an upload's Content-Disposition) is shown with U+FFFD where its
  // bad bytes were; nlohmann's default would throw, failing the request.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace),
                  "application/json");
}

// Answers `{"key": value}`, or `value` as text when the client's Accept
// prefers text/plain to JSON, as Codex's /spr and /peerid do.
void reply_json_or_text(const Request& req, Response& res, const char* key,
                        const std::string& value) {
  auto type = preferred_media_type(req.get_header_value("Accept"),
                                   {"application/json", "text/plain"});
  if (type && *type == "text/plain") {
    res.status = 200;
    res.set_content(value, "text/plain");
  } else {
    reply_json(res, {{key, value}});
  }
}

std::optional<cid> cid_param(const Request& req, Response& res) {
  auto text = req.matches[1].str();
  auto parsed = cid::parse(text);
  if (!parsed) {
    if (cid::is_foreign(text))
      reply_error(req, res, 404,
                  "not stored here: " + text + " (" + describe(parsed.error()) +
                    ")");
    else
      reply_error(req, res, 400,
                  "invalid CID '" + text + "': " + describe(parsed.error()));
    return std::nullopt;
  }
  return *parsed;
}

std::optional<cid> cid_param(const Request& req, Response& res,
                             multicodec codec, const char* what,
                             int wrong_codec_status) {
  auto id = cid_param(req, res);
  if (id && id->codec != codec) {
    reply_error(req, res, wrong_codec_status,
                id->to_string() + " is not a " + what + " CID");
    return std::nullopt;
  }
  return id;
}

json manifest_json(const manifest& m) {
  json j{{"treeCid", m.tree_cid.to_string()},
         {"datasetSize", m.dataset_size},
         {"blockSize", m.block_size},
         {"protected", m.is_protected},
         {"filename", m.filename ? json(*m.filename) : json(nullptr)},
         {"mimetype", m.mimetype ? json(*m.mimetype) : json(nullptr)}};
  if (m.is_protected) {
    j["ecK"] = m.ec_k;
    j["ecM"] = m.ec_m;
    j["originalTreeCid"] =
      m.original_tree_cid ? m.original_tree_cid->to_string() : "";
    j["originalDatasetSize"] = m.original_dataset_size;
  }
  return j;
}

void add_routes(httplib::Server& srv, std::shared_ptr<api_shared> api) {
  add_routes(srv,
             route_mount{"", [api](const Request&, Response&) { return api; }});
}

void add_routes(httplib::Server& srv, route_mount mount) {
  auto routes = std::make_shared<route_table>();
  auto resolve = mount.resolve;
  const auto& at = mount.prefix;
  // Each handler finds its node again: it may have gone down since the
  // pre-routing check.
  auto with = [resolve](auto fn) {
    return [resolve, fn](const Request& req, Response& res) {
      if (auto api = resolve(req, res))
        fn(*api, req, res);
    };
  };
  auto get = [&](const std::string& pattern, httplib::Server::Handler h) {
    routes->add("GET", at + pattern);
    srv.Get(at + pattern, std::move(h));
  };
  auto post = [&](const std::string& pattern, httplib::Server::Handler h) {
    routes->add("POST", at + pattern);
    srv.Post(at + pattern, std::move(h));
  };
  auto del = [&](const std::string& pattern, httplib::Server::Handler h) {
    routes->add("DELETE", at + pattern);
    srv.Delete(at + pattern, std::move(h));
  };
  const std::string cid_re = "([^/]+)";
  const std::string cairn = "/api/cairn/v1";
  auto download = [with](bool network) {
    return with([network](api_shared& api, const Request& req, Response& res) {
      handle_download(api, req, res, network);
    });
  };
  auto network_manifest = [with](bool start) {
    return with([start](api_shared& api, const Request& req, Response& res) {
      handle_network_manifest(api, req, res, start);
    });
  };
  auto actor_action = [with](bool crash) {
    return with([crash](api_shared& api, const Request& req, Response& res) {
      handle_actor_action(api, req, res, crash);
    });
  };
  // Data (Codex).
  routes->add("POST", at + route("/data"), true);
  srv.Post(at + route("/data"),
           [resolve](const Request& req, Response& res,
                     const httplib::ContentReader& reader) {
             if (auto api = resolve(req, res))
               handle_upload(*api, req, res, reader);
             else
               close_after(req); // the body was not read
           });
  get(route("/data"), with(handle_list));
  get(route("/data/") + cid_re, download(false));
  del(route("/data/") + cid_re, with(handle_delete));
  get(route("/data/") + cid_re + "/exists", with(handle_exists));
  get(route("/data/") + cid_re + "/network/stream", download(true));
  get(route("/data/") + cid_re + "/network/manifest", network_manifest(false));
  post(route("/data/") + cid_re + "/network", network_manifest(true));
  get(route("/space"), with(handle_space));
  // Node and debug (Codex).
  get(route("/connect/") + cid_re, with(handle_connect));
  get(route("/spr"), with(handle_spr));
  get(route("/peerid"), with(handle_peer_id));
  get(route("/node/peerid"), with(handle_peer_id));
  get(route("/debug/info"), with(handle_debug_info));
  post(route("/debug/chronicles/loglevel"), with(handle_loglevel));
  // Marketplace and purchasing (Codex), without persistence.
  const std::string id_re = "([^/]+)";
  for (auto& p :
       {route("/sales/slots"), route("/sales/slots/") + id_re,
        route("/sales/availability/") + id_re + "/reservations",
        route("/storage/purchases"), route("/storage/purchases/") + id_re})
    get(p, handle_no_persistence);
  get(route("/sales/availability"), handle_no_persistence);
  post(route("/sales/availability"), handle_no_persistence);
  post(route("/storage/request/") + cid_re, handle_no_persistence);
  routes->add("PATCH", at + route("/sales/availability/") + id_re);
  srv.Patch(at + route("/sales/availability/") + id_re, handle_no_persistence);
  // Cairn's own.
  get(cairn + "/peers", with(handle_peers));
  get(cairn + "/downloads", with(handle_downloads));
  get(cairn + "/actors", with(handle_actors));
  get(cairn + "/tree", with(handle_tree));
  get(cairn + "/wants", with(handle_wants));
  get(cairn + "/store", with(handle_store));
  post(cairn + "/store/verify", with(handle_store_verify));
  post(cairn + "/actors/(.+)/restart", actor_action(false));
  post(cairn + "/actors/(.+)/crash", actor_action(true));
  post(cairn + "/data/" + cid_re + "/protect", with(handle_protect));
  del(cairn + "/blocks/" + cid_re + "/([^/]+)", with(handle_delete_leaf));
  if (mount.metrics)
    get("/metrics", with([](api_shared& api, const Request&, Response& res) {
          res.set_content(metrics_text(api), "text/plain; version=0.0.4");
        }));

  // A request for a node that is not there is refused before its body is
  // read, as a malformed one is.
  srv.set_pre_routing_handler(
    [routes, resolve](const Request& req, Response& res) {
      if (!check_request(*routes, req, res))
        return httplib::Server::HandlerResponse::Handled;
      if (resolve(req, res))
        return httplib::Server::HandlerResponse::Unhandled;
      close_after(req);
      return httplib::Server::HandlerResponse::Handled;
    });
  // A client that waits for 100 Continue learns of a refusal before it
  // sends the body. httplib then runs the pre-routing handler as well:
  // check_request only reads the request and sets an absent header, so a
  // second run decides the same (at the cost of one more route lookup, on
  // the requests that carry a body).
  srv.set_expect_100_continue_handler(
    [routes, resolve](const Request& req, Response& res) {
      if (!check_request(*routes, req, res))
        return res.status;
      return resolve(req, res) ? 100 : res.status;
    });
  srv.set_exception_handler(
    [](const Request& req, Response& res, std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      spdlog::error("api: {} {}: {}", req.method, req.path, what);
      reply_error(req, res, 500, "internal error: " + what);
    });
  // Downloads that honour Range, for requests httplib refused itself.
  auto ranged = std::make_shared<std::vector<std::pair<std::regex, bool>>>();
  ranged->push_back({std::regex{at + route("/data/") + cid_re}, false});
  ranged->push_back(
    {std::regex{at + route("/data/") + cid_re + "/network/stream"}, true});
  srv.set_error_handler(httplib::Server::HandlerWithResponse(
    [resolve, ranged](const Request& req, Response& res) {
      if (!res.body.empty())
        return httplib::Server::HandlerResponse::Unhandled;
      // httplib answers a Range header it cannot parse with an empty 416
      // before routing. RFC 9110 §14.2: such a header is ignored.
      if (res.status == 416 && req.method == "GET" && req.has_header("Range"))
        for (auto& [pattern, network] : *ranged) {
          auto& r = const_cast<Request&>(req);
          if (!std::regex_match(req.path, r.matches, pattern))
            continue;
          r.ranges.clear();
          res.status = -1;
          res.headers.clear();
          auto api = resolve(req, res);
          if (!api)
            return httplib::Server::HandlerResponse::Handled;
          handle_download(*api, req, res, network);
          if (res.status == -1)
            res.status = 200;
          return httplib::Server::HandlerResponse::Handled;
        }
      const_cast<Request&>(req).ranges.clear();
      if (res.status == 404)
        res.set_content("no such endpoint: " + req.method + " " + req.path +
                          "\n",
                        "text/plain");
      else
        res.set_content(default_reason(res.status) + "\n", "text/plain");
      return httplib::Server::HandlerResponse::Handled;
    }));
  srv.set_logger([](const Request& req, const Response& res) {
    spdlog::debug("api: {} {} -> {}", req.method, req.path, res.status);
  });
}

} // namespace cairn::actors::rest
