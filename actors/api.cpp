#include "actors/api.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <sys/socket.h>

#include <caf/scoped_actor.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/store_stream.hpp"
#include "messages/error.hpp"
#include "messages/http.hpp"
#include "messages/peer_record.hpp"
#include "storage/chunker.hpp"
#include "storage/erasure.hpp"
#include "storage/merkle_tree.hpp"

namespace cairn::actors {

namespace {

using json = nlohmann::json;
using httplib::Request;
using httplib::Response;

constexpr const char* api_prefix = "/api/codex/v1";
constexpr auto store_timeout = std::chrono::seconds{30};
constexpr auto commit_timeout = std::chrono::seconds{300};
// Fetching a manifest from the network may include discovery and dialing.
constexpr auto network_timeout = std::chrono::seconds{30};
// Blocks per put batch (one LMDB transaction) and batches in flight.
constexpr size_t upload_batch_blocks = 64;
constexpr size_t upload_batches_in_flight = 2;
// Handler threads: each download or upload holds one while it runs.
constexpr size_t http_threads = 32;

std::string route(const char* suffix) {
  return std::string{api_prefix} + suffix;
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
  res.set_content(body.dump(), "application/json");
}

// Parses the {cid} path parameter or answers 400.
std::optional<cid> cid_param(const Request& req, Response& res) {
  auto parsed = cid::parse(req.matches[1].str());
  if (!parsed) {
    reply_error(req, res, 400,
                "invalid CID '" + req.matches[1].str() +
                  "': " + describe(parsed.error()));
    return std::nullopt;
  }
  return *parsed;
}

// Parses the {cid} path parameter and checks its codec, or answers 400.
std::optional<cid> cid_param(const Request& req, Response& res,
                             multicodec codec, const char* what) {
  auto id = cid_param(req, res);
  if (id && id->codec != codec) {
    reply_error(req, res, 400, id->to_string() + " is not a " + what + " CID");
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

// Sends a request from a handler thread and waits for the answer; returns
// the value or the error (timeouts and dead receivers included).
template <class T, class Handle, class... Ts>
caf::expected<T> ask(caf::scoped_actor& self, const Handle& dest,
                     std::chrono::seconds timeout, Ts&&... xs) {
  if (!dest)
    return make_error(ec::unavailable, "actor not running");
  caf::expected<T> out{make_error(ec::timeout)};
  self->request(dest, timeout, std::forward<Ts>(xs)...)
    .receive([&](T& x) { out = std::move(x); },
             [&](caf::error& err) { out = std::move(err); });
  return out;
}

// Waits up to `wait` (with no other message arriving meanwhile) for the
// answer to the request whose response id is `id`, and hands it to
// `on_value` or `on_error`; false if it did not come. The wait is on the
// scoped actor's own mailbox: no timer on CAF's clock thread, and no
// timeout message left in the mailbox afterwards (a blocking actor's
// timed request leaves one even when answered in time). Other messages
// stay queued for later receives.
template <class OnValue, class OnError>
bool await_answer(caf::scoped_actor& self, caf::message_id id,
                  caf::timespan wait, OnValue on_value, OnError on_error) {
  bool timed_out = false;
  caf::blocking_actor::accept_one_cond one;
  self->varargs_receive(
    one, id, std::move(on_value), std::move(on_error),
    caf::after(wait) >> [&] { timed_out = true; });
  return !timed_out;
}

// -- upload -------------------------------------------------------------------

// Writes a dataset's blocks into the store in batches (one transaction
// each) with a bounded number of batches in flight, then commits the
// dataset. Until committed, its destructor drops the references it added.
class dataset_writer {
public:
  dataset_writer(api_shared& api, caf::scoped_actor& self)
    : api_(api), self_(self), net_(api.network_store()) {}

  ~dataset_writer() {
    if (!committed_)
      abort();
  }

  /// Queues a block as the next leaf.
  caf::error add(block b) { return add_at(leaves_.size(), std::move(b)); }

  /// Queues a block as leaf `index` (leaves may come in any order; every
  /// index below the highest must be given before `commit`).
  caf::error add_at(uint64_t index, block b) {
    if (index >= leaves_.size())
      leaves_.resize(index + 1);
    leaves_[index] = b.id.digest;
    batch_.push_back(std::move(b));
    if (batch_.size() >= upload_batch_blocks)
      return flush();
    return caf::none;
  }

  /// The dataset's tree, once committed.
  const cid& tree_cid() const { return tree_cid_; }

  /// Stores what is queued and records the dataset of `m` (whose tree is
  /// built here over every block added).
  caf::expected<cid> commit(manifest m) {
    if (auto err = flush())
      return err;
    while (!pending_.empty())
      if (auto err = wait_oldest())
        return err;
    auto tree = storage::merkle_tree::build(leaves_);
    if (!tree)
      return tree.error();
    m.tree_cid = tree->root_cid();
    tree_cid_ = m.tree_cid;
    auto res = ask<cid>(self_, net_, commit_timeout, commit_atom::value,
                        m.to_block(), leaves_);
    if (res)
      committed_ = true;
    return res;
  }

private:
  caf::error flush() {
    if (batch_.empty())
      return caf::none;
    if (!net_)
      return make_error(ec::unavailable, "network_store is not running");
    std::vector<cid> ids;
    ids.reserve(batch_.size());
    for (auto& b : batch_)
      ids.push_back(b.id);
    pending_.push_back(
      {self_->request(net_, store_timeout, put_atom::value, std::move(batch_)),
       std::move(ids)});
    batch_.clear();
    if (pending_.size() > upload_batches_in_flight)
      return wait_oldest();
    return caf::none;
  }

  caf::error wait_oldest() {
    auto p = std::move(pending_.front());
    pending_.pop_front();
    caf::error err;
    p.handle.receive(
      [&](uint64_t) {
        stored_.insert(stored_.end(), p.ids.begin(), p.ids.end());
      },
      [&](caf::error& e) { err = std::move(e); });
    return err;
  }

  // Drops the references of every batch stored so far.
  void abort() {
    while (!pending_.empty())
      wait_oldest();
    if (stored_.empty())
      return;
    auto local = api_.local_store();
    auto res =
      ask<ok_atom>(self_, local, store_timeout, release_atom::value, stored_);
    if (!res)
      spdlog::warn("api: releasing an aborted dataset failed: {}",
                   describe(res.error()));
  }

  using put_handle = decltype(std::declval<caf::scoped_actor&>()->request(
    std::declval<network_store_actor&>(), store_timeout, put_atom::value,
    std::vector<block>{}));
  struct pending_put {
    put_handle handle;
    std::vector<cid> ids;
  };

  api_shared& api_;
  caf::scoped_actor& self_;
  network_store_actor net_;
  std::vector<digest256> leaves_;
  std::vector<block> batch_;
  std::deque<pending_put> pending_;
  std::vector<cid> stored_;
  cid tree_cid_{multicodec::codex_root, {}};
  bool committed_ = false;
};

// Streams an upload into the store: chunks and hashes the body, and hands
// the blocks to a dataset_writer.
class uploader {
public:
  uploader(api_shared& api, caf::scoped_actor& self)
    : writer_(api, self), chunker_([this](bytes b) {
        auto digest = sha256(b);
        return writer_.add(
          block::wrap(cid{multicodec::codex_block, digest},
                      std::make_shared<const bytes>(std::move(b))));
      }) {}

  caf::error feed(const char* data, size_t n) {
    return chunker_.feed(reinterpret_cast<const uint8_t*>(data), n);
  }

  caf::expected<cid> finish(std::optional<std::string> filename,
                            std::optional<std::string> mimetype) {
    if (chunker_.total() == 0)
      return make_error(ec::invalid_argument,
                        "the request body is empty: nothing to store");
    if (auto err = chunker_.finish())
      return err;
    manifest m;
    m.dataset_size = chunker_.total();
    m.filename = std::move(filename);
    m.mimetype = std::move(mimetype);
    return writer_.commit(std::move(m));
  }

  uint64_t total() const { return chunker_.total(); }

private:
  dataset_writer writer_;
  storage::chunker chunker_;
};

void handle_upload(api_shared& api, const Request& req, Response& res,
                   const httplib::ContentReader& reader) {
  if (req.is_multipart_form_data()) {
    reply_error(
      req, res, 415,
      "multipart uploads are not supported: send the file as the raw body");
    return;
  }
  std::optional<uint64_t> declared;
  if (req.has_header("Content-Length"))
    declared = std::strtoull(req.get_header_value("Content-Length").c_str(),
                             nullptr, 10);
  if (declared && *declared > api.ctx->options.storage_quota) {
    reply_error(req, res, 413,
                "quota_exceeded: upload of " + std::to_string(*declared) +
                  " bytes exceeds the storage quota");
    return;
  }
  std::optional<std::string> filename, mimetype;
  if (req.has_header("Content-Disposition"))
    filename =
      filename_from_disposition(req.get_header_value("Content-Disposition"));
  if (req.has_header("Content-Type"))
    mimetype = req.get_header_value("Content-Type");
  // Checked before reading the body: a manifest holds strings of at most
  // 4 KiB, and file systems take names of at most 255 bytes.
  if ((filename && filename->size() > 255) ||
      (mimetype && mimetype->size() > 255)) {
    reply_error(req, res, 400,
                "filename or Content-Type longer than 255 bytes");
    return;
  }
  caf::scoped_actor self{api.sys};
  uploader up{api, self};
  caf::error err;
  bool complete = reader([&](const char* data, size_t n) {
    if (api.stopping) {
      err = make_error(ec::shutting_down, "the node is stopping");
      return false;
    }
    err = up.feed(data, n);
    return !err;
  });
  if (err) {
    reply_error(req, res, err);
    return;
  }
  // A body cut short (client gone, read timeout) is never stored: the
  // uploader's destructor drops what was put.
  if (!complete) {
    reply_error(req, res, 400,
                "the request body ended early after " +
                  std::to_string(up.total()) + " bytes");
    return;
  }
  if (declared && *declared != up.total()) {
    reply_error(req, res, 400,
                "received " + std::to_string(up.total()) +
                  " bytes, Content-Length says " + std::to_string(*declared));
    return;
  }
  auto id = up.finish(std::move(filename), std::move(mimetype));
  if (!id) {
    reply_error(req, res, id.error());
    return;
  }
  ++api.uploads;
  spdlog::info("api: uploaded {} ({} bytes)", id->to_string(), up.total());
  res.status = 200;
  res.set_content(id->to_string(), "text/plain");
}

// -- protect ------------------------------------------------------------------

bool allowed(api_shared& api, const Request& req, Response& res);

// Parses a positive integer query parameter, or answers 400.
std::optional<uint32_t> uint_param(const Request& req, Response& res,
                                   const char* name) {
  auto text = req.get_param_value(name);
  auto v = parse_decimal(text, 65535);
  if (!v) {
    reply_error(req, res, 400,
                std::string{"give ?"} + name + "= as a positive integer" +
                  (text.empty() ? "" : " (got '" + text + "')"));
    return std::nullopt;
  }
  return static_cast<uint32_t>(*v);
}

// Encodes a stored dataset step by step (reading the K data blocks of a
// step, computing its M parity blocks, storing them) into a protected
// dataset: memory holds one step and the writer's batches, never the
// dataset. Runs on the HTTP handler thread, off the actor scheduler.
caf::expected<std::pair<cid, manifest>>
protect_dataset(api_shared& api, caf::scoped_actor& self, const manifest& orig,
                uint32_t k, uint32_t m) {
  auto layout = storage::ec_layout::make(orig.blocks_count(), k, m);
  if (!layout)
    return layout.error();
  auto backend = storage::parse_ec_backend(api.ctx->options.ec_backend);
  if (!backend)
    return backend.error();
  auto codec = storage::erasure_codec::get(k, m, *backend);
  if (!codec)
    return codec.error();
  auto local = api.local_store();
  if (!local)
    return make_error(ec::unavailable, "local_store is not running");
  const size_t len = orig.block_size;
  auto zero = block::make(bytes(len, 0));
  dataset_writer writer{api, self};
  std::vector<block> data(k);
  std::vector<bytes> out(m, bytes(len));
  for (uint64_t s = 0; s < layout->steps; ++s) {
    std::vector<const uint8_t*> in;
    for (uint32_t j = 0; j < k; ++j) {
      auto index = layout->index_of(s, j);
      if (layout->is_padding(index)) {
        data[j] = zero;
      } else {
        auto b = ask<block>(self, local, store_timeout, get_atom::value,
                            block_address{orig.tree_cid, index});
        if (!b)
          return make_error(
            is(b.error(), ec::not_found) ? ec::not_found : ec::storage_io,
            "block " + std::to_string(index) + " of the dataset",
            describe(b.error()) + "; the whole dataset must be stored here");
        if (b->size() != len)
          return make_error(ec::storage_io, "block " + std::to_string(index) +
                                              " has the wrong size");
        data[j] = std::move(*b);
      }
      in.push_back(data[j].data->data());
      // The new dataset holds its own reference to each data leaf.
      if (auto err = writer.add_at(index, data[j]))
        return err;
    }
    std::vector<uint8_t*> outp;
    for (auto& o : out) {
      o.resize(len);
      outp.push_back(o.data());
    }
    if (auto err = (*codec)->encode(in, outp, len))
      return err;
    for (uint32_t j = 0; j < m; ++j)
      if (auto err = writer.add_at(layout->index_of(s, k + j),
                                   block::make(std::move(out[j]))))
        return err;
  }
  manifest pm;
  pm.dataset_size = layout->total() * len;
  pm.block_size = orig.block_size;
  pm.codec = orig.codec;
  pm.hcodec = orig.hcodec;
  pm.version = orig.version;
  pm.filename = orig.filename;
  pm.mimetype = orig.mimetype;
  pm.is_protected = true;
  pm.ec_k = k;
  pm.ec_m = m;
  pm.original_tree_cid = orig.tree_cid;
  pm.original_dataset_size = orig.dataset_size;
  pm.strategy = ec_strategy::stepped;
  auto id = writer.commit(pm);
  if (!id)
    return id.error();
  pm.tree_cid = writer.tree_cid();
  return std::make_pair(*id, pm);
}

// POST /api/cairn/v1/data/{cid}/protect?ecK=K&ecM=M
void handle_protect(api_shared& api, const Request& req, Response& res) {
  if (!allowed(api, req, res))
    return;
  auto id = cid_param(req, res, multicodec::codex_manifest, "manifest");
  if (!id)
    return;
  auto k = uint_param(req, res, "ecK");
  if (!k)
    return;
  auto m = uint_param(req, res, "ecM");
  if (!m)
    return;
  caf::scoped_actor self{api.sys};
  auto head =
    ask<block>(self, api.local_store(), store_timeout, get_atom::value, *id);
  if (!head) {
    reply_error(req, res, is(head.error(), ec::not_found) ? 404 : 500,
                "cannot protect " + id->to_string() + ": " +
                  describe(head.error()));
    return;
  }
  auto orig = manifest_from_block(*head);
  if (!orig) {
    reply_error(req, res, 500, "invalid manifest: " + describe(orig.error()));
    return;
  }
  if (orig->is_protected) {
    reply_error(req, res, 400, id->to_string() + " is protected already");
    return;
  }
  auto started = std::chrono::steady_clock::now();
  auto out = protect_dataset(api, self, *orig, *k, *m);
  if (!out) {
    reply_error(req, res,
                is(out.error(), ec::invalid_argument) ? 400
                : is(out.error(), ec::not_found)      ? 409
                                                 : http_status(out.error()),
                "cannot protect " + id->to_string() + ": " +
                  describe(out.error()));
    return;
  }
  spdlog::info(
    "api: protected {} as {} (K={}, M={}) in {:.2f} s", id->to_string(),
    out->first.to_string(), *k, *m,
    std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
      .count());
  reply_json(res, {{"cid", out->first.to_string()},
                   {"manifest", manifest_json(out->second)}});
}

// DELETE /api/cairn/v1/blocks/{treeCid}/{index}
void handle_delete_leaf(api_shared& api, const Request& req, Response& res) {
  if (!allowed(api, req, res))
    return;
  auto tree = cid_param(req, res, multicodec::codex_root, "tree");
  if (!tree)
    return;
  auto text = req.matches[2].str();
  auto index = parse_decimal(text);
  if (!index) {
    reply_error(req, res, 400, "invalid block index '" + text + "'");
    return;
  }
  caf::scoped_actor self{api.sys};
  auto ok = ask<ok_atom>(self, api.local_store(), store_timeout,
                         delete_atom::value, block_address{*tree, *index});
  if (!ok) {
    reply_error(req, res, ok.error());
    return;
  }
  spdlog::info("api: deleted block {} of {}", *index, tree->to_string());
  res.status = 204;
}

// -- download -----------------------------------------------------------------

// The HTTP writer's side of a download: pulls ordered blocks from a
// `store_stream` and writes the bytes of the requested range.
struct download {
  download(caf::actor_system& sys) : self(sys) {}
  caf::scoped_actor self;
  store_stream_actor stream;
  byte_range range;
  uint32_t block_size = default_block_size;
  std::deque<block> queue;
  uint64_t next_index = 0;
  std::shared_ptr<download_progress> progress;
  /// Bytes of the range sent so far, and why the stream ended early.
  uint64_t written = 0;
  std::string abort_reason;
  /// Consecutive blocks copied together for one write.
  static constexpr size_t write_chunk = size_t{1} << 20;
  std::vector<char> chunk;
  /// The API's stopping flag: a download gives up when it is set.
  const std::atomic<bool>* stopping = nullptr;
  bool done = false;

  // Pulls more blocks. Errors: the stream's failure, its death, or the API
  // stopping.
  caf::error pull() {
    // One request per pull, without a CAF timeout (which would set and
    // cancel a timer on CAF's clock thread for every pull, about one per
    // block): the answer is awaited a second at a time on this thread's own
    // mailbox, checking in between that the stream is alive (CAF 0.17
    // never answers a request pending at an actor that dies). In all,
    // longer than the stream's own retry budget (4 attempts of 30 s), so
    // that its error reaches the client.
    caf::expected<std::vector<block>> res{make_error(ec::timeout)};
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds{150};
    auto pending = self->request(stream, caf::infinite, pull_atom::value,
                                 next_index + uint64_t{queue.size()});
    for (;;) {
      if (await_answer(
            self, pending.id(), std::chrono::seconds{1},
            [&](std::vector<block>& bs) { res = std::move(bs); },
            [&](caf::error& err) { res = std::move(err); }))
        break;
      if (stopping && *stopping)
        return make_error(ec::shutting_down, "the API is stopping");
      if (std::chrono::steady_clock::now() >= give_up)
        break;
      caf::error dead = make_error(ec::timeout, "no status within 2 s");
      auto probe = self->request(stream, caf::infinite, status_atom::value);
      await_answer(
        self, probe.id(), std::chrono::seconds{2},
        [&](actor_status&) { dead = caf::none; },
        [&](caf::error& err) { dead = std::move(err); });
      if (dead)
        return make_error(ec::unavailable, "the download's stream died",
                          describe(dead));
    }
    if (!res)
      return res.error();
    if (res->empty())
      done = true;
    for (auto& b : *res)
      queue.push_back(std::move(b));
    return caf::none;
  }

  // The part of the next queued block inside the range, for a write at
  // `pos` of the dataset; null (and nothing taken) if the stream and the
  // writer disagree: never send wrong bytes.
  std::optional<std::pair<block, std::pair<uint64_t, uint64_t>>>
  take_next(uint64_t pos) {
    auto& b = queue.front();
    uint64_t block_start = next_index * block_size;
    if (pos < block_start || pos >= block_start + b.size())
      return std::nullopt;
    uint64_t from = pos - block_start;
    uint64_t until = std::min<uint64_t>(b.size(), range.last + 1 - block_start);
    auto out = std::make_pair(std::move(b), std::make_pair(from, until));
    queue.pop_front();
    ++next_index;
    return out;
  }

  // Writes the parts inside the range of the next blocks pulled (at least
  // one, pulling if none is queued); `offset` is the position within the
  // range. Several queued blocks go out in one write of up to
  // `write_chunk` bytes: one system call (and one wake-up of the client)
  // instead of one per block.
  bool write_next(size_t offset, httplib::DataSink& sink) {
    if (queue.empty()) {
      if (done)
        return false;
      if (auto err = pull()) {
        spdlog::warn("api: download aborted: {}", describe(err));
        abort_reason = describe(err);
        return false;
      }
      if (queue.empty())
        return false;
    }
    uint64_t pos = range.first + offset;
    auto first = take_next(pos);
    if (!first)
      return false;
    auto [b, span] = std::move(*first);
    uint64_t n = span.second - span.first;
    const char* data =
      reinterpret_cast<const char*>(b.data->data()) + span.first;
    if (!queue.empty() && n < write_chunk) {
      chunk.assign(data, data + n);
      while (!queue.empty() && chunk.size() < write_chunk) {
        auto next = take_next(pos + chunk.size());
        if (!next)
          return false;
        auto& [nb, ns] = *next;
        auto* p = reinterpret_cast<const char*>(nb.data->data());
        chunk.insert(chunk.end(), p + ns.first, p + ns.second);
      }
      data = chunk.data();
      n = chunk.size();
    }
    if (!sink.write(data, n))
      return false;
    written += n;
    return true;
  }

  // Records how the download ended: done only if every byte went out.
  void finish(bool success) {
    if (!progress || progress->state != 0)
      return;
    if (success && written == range.length())
      progress->finish(download_progress::phase::done);
    else
      progress->finish(
        download_progress::phase::failed,
        "sent " + std::to_string(written) + " of " +
          std::to_string(range.length()) + " bytes: " +
          (abort_reason.empty() ? "the client went away" : abort_reason));
  }
};

// What a download of bytes [first, last] of a dataset fetches: the data
// blocks covering them (of a protected dataset, with repair from parity),
// with its progress tracked for /api/cairn/v1/downloads.
stream_spec stream_spec_for(api_shared& api, const cid& id, const manifest& m,
                            uint64_t first, uint64_t last, const char* kind) {
  stream_spec spec;
  spec.tree = m.tree_cid;
  spec.first = first / m.block_size;
  spec.last = last / m.block_size;
  spec.window = api.ctx->options.stream_window;
  spec.block_size = m.block_size;
  if (m.is_protected) {
    auto layout =
      storage::ec_layout::make(m.content_blocks_count(), m.ec_k, m.ec_m);
    auto backend = storage::parse_ec_backend(api.ctx->options.ec_backend);
    if (layout && backend && layout->total() == m.blocks_count()) {
      spec.ec = *layout;
      spec.ec_backend = *backend;
    } else {
      spdlog::warn("api: {} has an inconsistent erasure layout; downloading "
                   "without repair",
                   id.to_string());
    }
  }
  spec.progress = std::make_shared<download_progress>();
  spec.progress->manifest_cid = id.to_string();
  spec.progress->tree_cid = m.tree_cid.to_string();
  spec.progress->kind = kind;
  spec.progress->blocks_total = spec.last - spec.first + 1;
  api.track(spec.progress);
  return spec;
}

// The manifest (or single block) named by `id`: from the local store only,
// or through the network store, which asks peers for what is missing.
caf::expected<block> fetch_head(api_shared& api, caf::scoped_actor& self,
                                const cid& id, bool network) {
  if (network)
    return ask<block>(self, api.network_store(), network_timeout,
                      get_atom::value, id);
  return ask<block>(self, api.local_store(), store_timeout, get_atom::value,
                    id);
}

void handle_download(api_shared& api, const Request& req, Response& res,
                     bool network) {
  auto id = cid_param(req, res);
  if (!id)
    return;
  caf::scoped_actor self{api.sys};
  auto head = fetch_head(api, self, *id, network);
  if (!head) {
    if (is(head.error(), ec::not_found))
      reply_error(req, res, 404,
                  std::string{network ? "not found in the network: "
                                      : "not found locally: "} +
                    id->to_string());
    else
      reply_error(req, res, head.error());
    return;
  }
  auto dl = std::make_shared<download>(api.sys);
  dl->stopping = &api.stopping;
  uint64_t size = 0;
  std::string content_type = "application/octet-stream";
  if (id->codec == multicodec::codex_manifest) {
    auto m = manifest_from_block(*head);
    if (!m) {
      reply_error(req, res, 500,
                  "stored manifest is corrupt: " + describe(m.error()));
      return;
    }
    size = m->content_size();
    dl->block_size = m->block_size;
    if (m->mimetype && !m->mimetype->empty())
      content_type = *m->mimetype;
    if (m->filename)
      res.set_header("Content-Disposition", disposition_for(*m->filename));
    if (req.ranges.size() > 1) {
      reply_error(req, res, 416, "multiple ranges are not supported");
      return;
    }
    dl->range = byte_range{0, size == 0 ? 0 : size - 1};
    if (req.ranges.size() == 1) {
      auto r = resolve_range(req.ranges[0].first, req.ranges[0].second, size);
      if (!r) {
        reply_error(req, res, 416,
                    "range not satisfiable for " + std::to_string(size) +
                      " bytes");
        res.set_header("Content-Range", "bytes */" + std::to_string(size));
        return;
      }
      dl->range = *r;
      res.status = 206;
      res.set_header("Content-Range", "bytes " + std::to_string(r->first) +
                                        "-" + std::to_string(r->last) + "/" +
                                        std::to_string(size));
    } else {
      res.status = 200;
    }
    const_cast<Request&>(req).ranges.clear();
    auto spec = stream_spec_for(api, *id, *m, dl->range.first, dl->range.last,
                                network ? "stream" : "local");
    dl->next_index = spec.first;
    dl->progress = spec.progress;
    dl->stream = api.spawn_stream(spec);
    // Fetch the first blocks before committing to a status line, so that a
    // dataset with missing blocks answers with an error, not a cut stream.
    if (auto err = dl->pull()) {
      caf::anon_send_exit(dl->stream, caf::exit_reason::user_shutdown);
      reply_error(req, res, err);
      return;
    }
  } else {
    // A single block: its bytes as they are.
    const_cast<Request&>(req).ranges.clear();
    size = head->size();
    dl->range = byte_range{0, size - 1};
    dl->block_size = static_cast<uint32_t>(size);
    dl->queue.push_back(std::move(*head));
    dl->done = true;
    res.status = 200;
  }
  res.set_header("Accept-Ranges", "bytes");
  res.set_content_provider(
    dl->range.length(), content_type,
    [dl](size_t offset, size_t, httplib::DataSink& sink) {
      return dl->write_next(offset, sink);
    },
    [dl](bool success) {
      dl->finish(success);
      if (dl->stream)
        caf::anon_send_exit(dl->stream, caf::exit_reason::user_shutdown);
    });
}

json peers_json(api_shared& api, caf::scoped_actor& self);

// -- the other endpoints
// ----------------------------------------------------------

void handle_list(api_shared& api, const Request& req, Response& res) {
  caf::scoped_actor self{api.sys};
  auto list = ask<std::vector<dataset_entry>>(self, api.local_store(),
                                              store_timeout, list_atom::value);
  if (!list) {
    reply_error(req, res, list.error());
    return;
  }
  json content = json::array();
  for (auto& e : *list)
    content.push_back({{"cid", e.manifest_cid.to_string()},
                       {"manifest", manifest_json(e.meta)}});
  reply_json(res, {{"content", content}});
}

void handle_delete(api_shared& api, const Request& req, Response& res) {
  auto id = cid_param(req, res);
  if (!id)
    return;
  caf::scoped_actor self{api.sys};
  auto ok = ask<ok_atom>(self, api.local_store(), store_timeout,
                         delete_atom::value, *id);
  if (!ok) {
    reply_error(req, res, ok.error());
    return;
  }
  spdlog::info("api: deleted {}", id->to_string());
  res.status = 204;
}

void handle_exists(api_shared& api, const Request& req, Response& res) {
  auto id = cid_param(req, res);
  if (!id)
    return;
  caf::scoped_actor self{api.sys};
  auto has =
    ask<bool>(self, api.local_store(), store_timeout, has_atom::value, *id);
  if (!has) {
    reply_error(req, res, has.error());
    return;
  }
  reply_json(res, {{"has", *has}});
}

void handle_space(api_shared& api, const Request& req, Response& res) {
  caf::scoped_actor self{api.sys};
  auto sp =
    ask<space_info>(self, api.local_store(), store_timeout, space_atom::value);
  if (!sp) {
    reply_error(req, res, sp.error());
    return;
  }
  reply_json(res, {{"totalBlocks", sp->total_blocks},
                   {"quotaMaxBytes", sp->quota_max_bytes},
                   {"quotaUsedBytes", sp->quota_used_bytes},
                   {"quotaReservedBytes", sp->quota_reserved_bytes}});
}

void handle_debug_info(api_shared& api, const Request&, Response& res) {
  const auto& info = api.info;
  caf::scoped_actor self{api.sys};
  auto spr = ask<std::string>(self, api.discovery(), store_timeout,
                              get_atom::value, spr_atom::value);
  json nodes = json::array();
  if (auto table = ask<std::vector<std::string>>(
        self, api.discovery(), store_timeout, list_atom::value)) {
    for (auto& text : *table) {
      auto rec = peer_record::from_text(text);
      if (!rec)
        continue;
      auto id = sha256(rec->id().to_bytes());
      nodes.push_back(
        {{"nodeId", to_hex(byte_view{id.data(), id.size()})},
         {"peerId", rec->id().to_string()},
         {"record", text},
         {"address", rec->addrs.empty() ? "" : rec->addrs.front()},
         {"seen", true}});
    }
  }
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::steady_clock::now() - api.ctx->started)
                  .count();
  char* real = ::realpath(info.data_dir.c_str(), nullptr);
  std::string repo = real ? real : info.data_dir;
  std::free(real);
  auto node_id = sha256(api.ctx->key.peer_id().to_bytes());
  json local_node{{"nodeId", to_hex(byte_view{node_id.data(), node_id.size()})},
                  {"peerId", info.peer_id},
                  {"record", ""},
                  {"address", ""},
                  {"seen", false}};
  reply_json(
    res,
    {{"id", info.peer_id},
     {"addrs", info.addrs},
     {"repo", repo},
     {"spr", spr ? *spr : std::string{}},
     {"announceAddresses", json::array()},
     {"table", {{"localNode", local_node}, {"nodes", nodes}}},
     {"peers", peers_json(api, self)},
     {"codex",
      {{"version", "cairn-0.1.0"}, {"revision", ""}, {"contracts", ""}}},
     {"cairn",
      {{"api", "http://" + info.api_host + ":" + std::to_string(info.api_port)},
       {"uptimeSeconds", uptime},
       {"metrics",
        api.metrics_url.empty() ? json(nullptr) : json(api.metrics_url)},
       {"storageQuota", api.ctx->options.storage_quota},
       {"blockTtlSeconds", api.ctx->options.block_ttl.count()}}}});
}

void handle_loglevel(const Request& req, Response& res) {
  // Accepts Codex's chronicles syntax: "DEBUG" or "DEBUG;TRACE:topic"; the
  // part before ';' sets the level, topic overrides are not supported.
  auto level = req.get_param_value("level");
  auto base = level.substr(0, level.find(';'));
  for (auto& c : base)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!config::is_log_level(base)) {
    reply_error(req, res, 400,
                "invalid log level '" + level +
                  "': use trace, debug, info, notice, warn, error or fatal");
    return;
  }
  spdlog::set_level(spdlog::level::from_str(base == "notice"  ? "info"
                                            : base == "fatal" ? "critical"
                                            : base == "warn"  ? "warning"
                                            : base == "error" ? "err"
                                                              : base));
  spdlog::info("api: log level set to {}", base);
  res.status = 200;
  res.set_content("", "text/plain");
}

// GET /data/{cid}/network/manifest and POST /data/{cid}/network: the
// manifest, fetched from peers if needed; the POST also starts fetching
// every block in the background.
void handle_network_manifest(api_shared& api, const Request& req, Response& res,
                             bool start_download) {
  auto id = cid_param(req, res, multicodec::codex_manifest, "manifest");
  if (!id)
    return;
  caf::scoped_actor self{api.sys};
  auto head = fetch_head(api, self, *id, true);
  if (!head) {
    reply_error(req, res,
                is(head.error(), ec::not_found) ? 404
                                                : http_status(head.error()),
                "cannot fetch the manifest " + id->to_string() + ": " +
                  describe(head.error()));
    return;
  }
  auto m = manifest_from_block(*head);
  if (!m) {
    reply_error(req, res, 500, "invalid manifest: " + describe(m.error()));
    return;
  }
  if (start_download && m->content_size() > 0) {
    auto spec =
      stream_spec_for(api, *id, *m, 0, m->content_size() - 1, "background");
    spec.drain = true;
    api.spawn_stream(spec);
    spdlog::info("api: background download of {} started", id->to_string());
  }
  reply_json(res, {{"cid", id->to_string()}, {"manifest", manifest_json(*m)}});
}

// GET /connect/{peerId}?addrs=/ip4/A/tcp/P (repeatable).
void handle_connect(api_shared& api, const Request& req, Response& res) {
  auto peer = req.matches[1].str();
  if (!peer_id::is_valid_text(peer)) {
    reply_error(req, res, 400, "invalid peer ID '" + peer + "'");
    return;
  }
  std::vector<std::string> addrs;
  for (size_t i = 0; i < req.get_param_value_count("addrs"); ++i) {
    // Also accept one comma-separated value.
    auto v = req.get_param_value("addrs", i);
    size_t pos = 0;
    while (pos <= v.size()) {
      auto comma = v.find(',', pos);
      auto part = v.substr(pos, comma == std::string::npos ? std::string::npos
                                                           : comma - pos);
      if (!part.empty())
        addrs.push_back(part);
      if (comma == std::string::npos)
        break;
      pos = comma + 1;
    }
  }
  if (addrs.empty()) {
    reply_error(
      req, res, 400,
      "give the peer's addresses: ?addrs=/ip4/A.B.C.D/tcp/PORT (discovery "
      "by peer ID alone is not supported yet)");
    return;
  }
  for (auto& a : addrs) {
    if (!parse_multiaddr(a)) {
      reply_error(req, res, 400, "invalid multiaddr '" + a + "'");
      return;
    }
  }
  caf::scoped_actor self{api.sys};
  auto ok = ask<ok_atom>(self, api.engine(), std::chrono::seconds{15},
                         connect_atom::value, peer, addrs);
  if (!ok) {
    reply_error(req, res, is(ok.error(), ec::handshake_failed) ? 400 : 502,
                "cannot connect to " + peer + ": " + describe(ok.error()));
    return;
  }
  res.status = 200;
  res.set_content("Successfully connected to peer", "text/plain");
}

json peers_json(api_shared& api, caf::scoped_actor& self) {
  json out = json::array();
  auto peers = ask<std::vector<peer_summary>>(self, api.engine(), store_timeout,
                                              peers_atom::value);
  if (!peers)
    return out;
  for (auto& p : *peers)
    out.push_back({{"peerId", p.peer_id},
                   {"addrs", p.addrs},
                   {"blocksReceived", p.blocks_received},
                   {"bytesReceived", p.bytes_received},
                   {"bytesSent", p.bytes_sent},
                   {"rateBytesPerSecond", p.rate},
                   {"latencySeconds", p.latency},
                   {"badBlocks", p.bad_blocks},
                   {"timeouts", p.timeouts},
                   {"outstanding", p.outstanding},
                   {"queued", p.queued}});
  return out;
}

// GET /spr: this node's signed peer record (text, or JSON when asked).
void handle_spr(api_shared& api, const Request& req, Response& res) {
  caf::scoped_actor self{api.sys};
  auto spr = ask<std::string>(self, api.discovery(), store_timeout,
                              get_atom::value, spr_atom::value);
  if (!spr) {
    reply_error(req, res, 503,
                "discovery is not running: " + describe(spr.error()));
    return;
  }
  if (req.get_header_value("Accept").find("application/json") !=
      std::string::npos)
    reply_json(res, {{"spr", *spr}});
  else
    res.set_content(*spr, "text/plain");
}

void handle_peers(api_shared& api, const Request&, Response& res) {
  caf::scoped_actor self{api.sys};
  reply_json(res, {{"peers", peers_json(api, self)}});
}

// GET /api/cairn/v1/downloads: recent downloads, newest last.
void handle_downloads(api_shared& api, const Request&, Response& res) {
  auto list = api.ctx->downloads->list();
  static const char* states[] = {"running", "done", "failed"};
  json out = json::array();
  auto now = std::chrono::steady_clock::now();
  for (auto& p : list) {
    auto state = p->state.load();
    double secs = state == 0
                    ? std::chrono::duration<double>(now - p->started).count()
                    : p->finished_ms.load() / 1000.0;
    std::string error;
    {
      std::lock_guard<std::mutex> guard{p->mtx};
      error = p->error;
    }
    json serving = json::array();
    if (auto tree = cid::parse(p->tree_cid)) {
      caf::scoped_actor self{api.sys};
      self->request(api.engine(), store_timeout, peers_atom::value, *tree)
        .receive(
          [&](std::vector<std::string>& ids, std::vector<uint64_t>& counts) {
            for (size_t i = 0; i < ids.size() && i < counts.size(); ++i)
              serving.push_back({{"peerId", ids[i]}, {"blocks", counts[i]}});
          },
          [](caf::error&) {});
    }
    out.push_back(
      {{"cid", p->manifest_cid},
       {"treeCid", p->tree_cid},
       {"peers", serving},
       {"kind", p->kind},
       {"state", states[std::clamp(state, 0, 2)]},
       {"blocksDone", p->blocks_done.load()},
       {"blocksTotal", p->blocks_total},
       {"bytesDone", p->bytes_done.load()},
       {"blocksRepaired", p->blocks_repaired.load()},
       {"seconds", secs},
       {"bytesPerSecond", secs > 0 ? p->bytes_done.load() / secs : 0.0},
       {"error", error.empty() ? json(nullptr) : json(error)}});
  }
  reply_json(res, {{"downloads", out}});
}

// -- operator inspection ------------------------------------------------------

// Every live actor's status, from the inspector.
caf::expected<std::vector<actor_status>>
actor_statuses(api_shared& api, caf::scoped_actor& self) {
  auto insp = api.ctx->inspector->get();
  if (!insp)
    return make_error(ec::unavailable, "the inspector is not running");
  return ask<std::vector<actor_status>>(self, insp, std::chrono::seconds{5},
                                        list_atom::value);
}

json status_json(const actor_status& s) {
  json gauges = json::object();
  for (auto& [k, v] : s.gauges)
    gauges[k] = v;
  return {{"name", s.name},
          {"id", s.id},
          {"kind", s.kind},
          {"parent", s.parent},
          {"mailbox", s.mailbox},
          {"processed", s.processed},
          {"busy_seconds", s.busy_seconds},
          {"restarts", s.restarts},
          {"last_error", s.last_error},
          {"responsive", s.responsive},
          {"gauges", gauges}};
}

void handle_actors(api_shared& api, const Request& req, Response& res) {
  caf::scoped_actor self{api.sys};
  auto list = actor_statuses(api, self);
  if (!list) {
    reply_error(req, res, list.error());
    return;
  }
  json out = json::array();
  for (auto& s : *list)
    out.push_back(status_json(s));
  reply_json(res, {{"node", api.info.peer_id}, {"actors", out}});
}

// GET /api/cairn/v1/tree: the supervision tree, from the parent links the
// inspector knows, with the supervisor's restart counts per child.
void handle_tree(api_shared& api, const Request& req, Response& res) {
  caf::scoped_actor self{api.sys};
  auto list = actor_statuses(api, self);
  if (!list) {
    reply_error(req, res, list.error());
    return;
  }
  std::map<std::string, double> sup;
  for (auto& s : *list)
    if (s.name == "node_supervisor")
      for (auto& [k, v] : s.gauges)
        sup[k] = v;
  std::function<json(const actor_status&)> node = [&](const actor_status& s) {
    json children = json::array();
    for (auto& c : *list)
      if (c.parent == s.name && c.name != s.name)
        children.push_back(node(c));
    json j{{"name", s.name},
           {"id", s.id},
           {"kind", s.kind},
           {"restarts", s.restarts},
           {"children", children}};
    if (s.name == "node_supervisor") {
      double left = 1e9;
      for (auto& [k, v] : sup)
        if (k.rfind("intensity_left.", 0) == 0)
          left = std::min(left, v);
      j["intensity_left"] = left == 1e9 ? 0 : left;
    } else if (auto i = sup.find("intensity_left." + s.name); i != sup.end()) {
      j["intensity_left"] = i->second;
    }
    return j;
  };
  for (auto& s : *list)
    if (s.parent.empty()) {
      reply_json(res, node(s));
      return;
    }
  reply_error(req, res, 503, "the supervisor is not registered yet");
}

void handle_wants(api_shared& api, const Request& req, Response& res) {
  caf::scoped_actor self{api.sys};
  auto wants = ask<std::vector<want_summary>>(self, api.engine(), store_timeout,
                                              wants_atom::value);
  if (!wants) {
    reply_error(req, res, wants.error());
    return;
  }
  json out = json::array();
  for (auto& w : *wants)
    out.push_back({{"address", w.address},
                   {"ageSeconds", w.age_seconds},
                   {"peers", w.peers},
                   {"waiters", w.waiters}});
  reply_json(res, {{"wants", out}});
}

// GET /api/cairn/v1/store: the local store's counters.
void handle_store(api_shared& api, const Request& req, Response& res) {
  caf::scoped_actor self{api.sys};
  auto local = api.local_store();
  auto sp = ask<space_info>(self, local, store_timeout, space_atom::value);
  auto list = ask<std::vector<dataset_entry>>(self, local, store_timeout,
                                              list_atom::value);
  if (!sp || !list) {
    reply_error(req, res, sp ? list.error() : sp.error());
    return;
  }
  json out{{"blocks", sp->total_blocks},
           {"bytes", sp->quota_used_bytes},
           {"quotaBytes", sp->quota_max_bytes},
           {"datasets", list->size()}};
  // The store's own counters.
  if (auto st = ask<actor_status>(self, local, std::chrono::seconds{1},
                                  status_atom::value)) {
    for (auto& [k, v] : st->gauges) {
      if (k == "map_bytes")
        out["mapBytes"] = static_cast<uint64_t>(v);
      else if (k == "reads" || k == "writes")
        out[k] = static_cast<uint64_t>(v);
      else if (k == "txn_per_second")
        out["txnPerSecond"] = v;
    }
  }
  reply_json(res, out);
}

// Endpoints that change state answer loopback clients, or clients that
// present --api-token. Answers 403 (and returns false) otherwise.
bool allowed(api_shared& api, const Request& req, Response& res) {
  const auto& token = api.ctx->options.api_token;
  auto auth = req.get_header_value("Authorization");
  if (!token.empty() && auth == "Bearer " + token)
    return true;
  auto& addr = req.remote_addr;
  if (addr == "127.0.0.1" || addr == "::1" || addr == "::ffff:127.0.0.1" ||
      addr.rfind("127.", 0) == 0) {
    if (token.empty() || auth.empty())
      return true;
  }
  reply_error(req, res, 403,
              token.empty() ? "refused: " + req.method + " " + req.path +
                                " is for loopback clients (start the node with "
                                "--api-token to allow others)"
                            : "refused: " + req.method + " " + req.path +
                                " needs 'Authorization: Bearer <--api-token>'");
  return false;
}

// POST /api/cairn/v1/actors/{name}/restart | crash
void handle_actor_action(api_shared& api, const Request& req, Response& res,
                         bool crash) {
  if (!allowed(api, req, res))
    return;
  auto name = req.matches[1].str();
  if (crash && !api.ctx->options.enable_fault_injection) {
    reply_error(req, res, 403,
                "refused: fault injection is disabled (start the node with "
                "--enable-fault-injection)");
    return;
  }
  caf::scoped_actor self{api.sys};
  // A restart asks the supervisor first: it knows its children even while
  // one is being replaced (the inspector forgets the old actor before it
  // hears of the new one, and would answer 404 meanwhile).
  if (!crash) {
    auto ok = ask<ok_atom>(self, api.supervisor, store_timeout,
                           restart_atom::value, name);
    if (ok) {
      reply_json(res, {{"actor", name}, {"done", "restarted"}});
      return;
    }
    if (!is(ok.error(), ec::not_found)) {
      reply_error(req, res, 503, describe(ok.error()));
      return;
    }
  }
  auto insp = api.ctx->inspector->get();
  auto handle =
    ask<caf::actor>(self, insp, store_timeout, get_atom::value, name);
  if (!handle) {
    reply_error(req, res, is(handle.error(), ec::not_found) ? 404 : 503,
                is(handle.error(), ec::not_found) ? "no actor named " + name
                                                  : describe(handle.error()));
    return;
  }
  if (!crash) {
    reply_error(req, res, 409,
                name + " is not supervised and cannot be restarted "
                       "(crash it instead)");
    return;
  }
  spdlog::warn("api: crashing {} on request (fault injection)", name);
  self->send<caf::message_priority::high>(
    caf::actor_cast<inspectable_actor>(*handle), crash_atom::value,
    "crashed by an operator (fault injection)");
  reply_json(res, {{"actor", name}, {"done", "crashed"}});
}

// A sample value: integers exactly (byte counters exceed the 6 digits of
// the stream default), others with 9 significant digits.
std::string sample(double v) {
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0)
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  else
    std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

// The Prometheus text of GET /metrics.
std::string metrics_text(api_shared& api) {
  caf::scoped_actor self{api.sys};
  std::ostringstream o;
  auto metric = [&](const char* name, const char* type, const char* help,
                    double v) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type
      << '\n'
      << name << ' ' << sample(v) << '\n';
  };
  std::map<std::string, double> engine, store;
  auto list = actor_statuses(api, self);
  if (list)
    for (auto& s : *list) {
      if (s.name == "engine")
        engine.insert(s.gauges.begin(), s.gauges.end());
      if (s.name == "local_store")
        store.insert(s.gauges.begin(), s.gauges.end());
    }
  metric("cairn_block_exchange_peers", "gauge", "Connected peers.",
         engine["peers"]);
  metric("cairn_block_exchange_pending_blocks", "gauge",
         "Blocks this node waits for.", engine["pending_blocks"]);
  metric("cairn_block_exchange_blocks_received_total", "counter",
         "Verified blocks received from peers.", engine["blocks_in"]);
  metric("cairn_block_exchange_blocks_sent_total", "counter",
         "Blocks sent to peers.", engine["blocks_out"]);
  metric("cairn_block_exchange_bytes_received_total", "counter",
         "Block bytes received from peers.", engine["bytes_in"]);
  metric("cairn_block_exchange_bytes_sent_total", "counter",
         "Block bytes sent to peers.", engine["bytes_out"]);
  metric("cairn_block_exchange_bad_blocks_total", "counter",
         "Invalid or unrequested blocks received.", engine["bad_blocks"]);
  metric("cairn_repostore_blocks", "gauge", "Blocks in the local store.",
         store["blocks"]);
  metric("cairn_repostore_bytes_used", "gauge",
         "Bytes of blocks in the local store.", store["bytes"]);
  metric("cairn_repostore_bytes_quota", "gauge", "The storage quota.",
         store["quota_bytes"]);
  metric("cairn_api_uploads_total", "counter", "Datasets uploaded.",
         static_cast<double>(api.uploads.load()));
  metric("cairn_api_downloads_total", "counter", "Downloads started.",
         static_cast<double>(api.downloads_started.load()));
  metric("cairn_actors", "gauge", "Live actors.",
         list ? static_cast<double>(list->size()) : 0);
  auto per_actor = [&](const char* name, const char* type, const char* help,
                       auto value) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type
      << '\n';
    if (list)
      for (auto& s : *list)
        o << name << "{actor=\"" << s.name << "\"} "
          << sample(static_cast<double>(value(s))) << '\n';
  };
  per_actor("cairn_actor_mailbox", "gauge", "Messages waiting per actor.",
            [](auto& s) { return s.mailbox; });
  per_actor("cairn_actor_processed_total", "counter",
            "Messages handled per actor.", [](auto& s) { return s.processed; });
  per_actor("cairn_actor_busy_seconds_total", "counter",
            "Time spent in handlers per actor.",
            [](auto& s) { return s.busy_seconds; });
  per_actor("cairn_actor_restarts_total", "counter",
            "Supervisor restarts per actor name.",
            [](auto& s) { return s.restarts; });
  return o.str();
}

void add_routes(httplib::Server& srv, std::shared_ptr<api_shared> api) {
  auto with = [api](auto fn) {
    return [api, fn](const Request& req, Response& res) { fn(*api, req, res); };
  };
  const std::string cid_re = "([^/]+)";
  srv.Post(route("/data"), [api](const Request& req, Response& res,
                                 const httplib::ContentReader& reader) {
    handle_upload(*api, req, res, reader);
  });
  srv.Get(route("/data"), with(handle_list));
  srv.Get(route("/data/") + cid_re, [api](const Request& req, Response& res) {
    handle_download(*api, req, res, false);
  });
  srv.Get(route("/data/") + cid_re + "/network/stream",
          [api](const Request& req, Response& res) {
            handle_download(*api, req, res, true);
          });
  srv.Get(route("/data/") + cid_re + "/network/manifest",
          [api](const Request& req, Response& res) {
            handle_network_manifest(*api, req, res, false);
          });
  srv.Post(route("/data/") + cid_re + "/network",
           [api](const Request& req, Response& res) {
             handle_network_manifest(*api, req, res, true);
           });
  srv.Get(route("/connect/") + cid_re, with(handle_connect));
  srv.Get("/api/cairn/v1/peers", with(handle_peers));
  srv.Get(route("/spr"), with(handle_spr));
  srv.Get("/api/cairn/v1/downloads", with(handle_downloads));
  srv.Get("/api/cairn/v1/actors", with(handle_actors));
  srv.Get("/api/cairn/v1/tree", with(handle_tree));
  srv.Get("/api/cairn/v1/wants", with(handle_wants));
  srv.Get("/api/cairn/v1/store", with(handle_store));
  srv.Post("/api/cairn/v1/actors/(.+)/restart",
           [api](const Request& req, Response& res) {
             handle_actor_action(*api, req, res, false);
           });
  srv.Post("/api/cairn/v1/actors/(.+)/crash",
           [api](const Request& req, Response& res) {
             handle_actor_action(*api, req, res, true);
           });
  srv.Post("/api/cairn/v1/data/" + cid_re + "/protect", with(handle_protect));
  srv.Delete("/api/cairn/v1/blocks/" + cid_re + "/([^/]+)",
             with(handle_delete_leaf));
  srv.Delete(route("/data/") + cid_re, with(handle_delete));
  srv.Get(route("/data/") + cid_re + "/exists", with(handle_exists));
  srv.Get(route("/space"), with(handle_space));
  auto peerid = [api](const Request&, Response& res) {
    res.set_content(api->info.peer_id, "text/plain");
  };
  srv.Get(route("/peerid"), peerid);
  srv.Get(route("/node/peerid"), peerid);
  srv.Get(route("/debug/info"), with(handle_debug_info));
  srv.Post(
    route("/debug/chronicles/loglevel"),
    [](const Request& req, Response& res) { handle_loglevel(req, res); });
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
  srv.set_error_handler([](const Request& req, Response& res) {
    if (res.body.empty() && res.status == 404)
      res.set_content("no such endpoint: " + req.method + " " + req.path + "\n",
                      "text/plain");
  });
  srv.set_logger([](const Request& req, const Response& res) {
    spdlog::debug("api: {} {} -> {}", req.method, req.path, res.status);
  });
}

} // namespace

store_stream_actor api_shared::spawn_stream(stream_spec spec) {
  auto h = sys.spawn(store_stream, spec, network_store(), supervisor);
  ++downloads_started;
  if (auto insp = ctx->inspector->get())
    caf::anon_send(insp, put_atom::value, caf::actor_cast<caf::actor>(h),
                   "store_stream/" + std::to_string(++next_stream),
                   std::string{"event_based"}, std::string{"api"});
  return h;
}

caf::expected<bound_server> bind_api_server(const std::string& host,
                                            uint16_t port) {
  auto srv = std::make_shared<httplib::Server>();
  srv->new_task_queue = [] { return new httplib::ThreadPool(http_threads); };
  // httplib's default sets SO_REUSEPORT, which lets a second node bind the
  // same port and silently share its traffic. SO_REUSEADDR alone still
  // allows a quick rebind after a restart but refuses a busy port.
  srv->set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  int bound = -1;
  if (port == 0) {
    bound = srv->bind_to_any_port(host);
  } else if (srv->bind_to_port(host, port)) {
    bound = port;
  }
  if (bound <= 0)
    return make_error(ec::unavailable,
                      "cannot bind the API to " + host + ":" +
                        std::to_string(port),
                      "address in use or not available");
  return bound_server{std::move(srv), static_cast<uint16_t>(bound)};
}

api_state::~api_state() {
  if (shared)
    shared->stopping = true; // uploads in progress stop reading
  if (server)
    server->stop();
  if (listener.joinable())
    listener.join();
  if (metrics)
    metrics->stop();
  if (metrics_listener.joinable())
    metrics_listener.join();
}

api_actor::behavior_type api(api_actor::stateful_pointer<api_state> self,
                             bound_server server, api_wiring wiring) {
  auto shared = std::make_shared<api_shared>(self->system());
  shared->local = std::move(wiring.local);
  shared->net = std::move(wiring.net);
  shared->eng = std::move(wiring.engine);
  shared->disc = std::move(wiring.discovery);
  shared->supervisor = std::move(wiring.supervisor);
  shared->info = std::move(wiring.info);
  if (wiring.metrics)
    shared->metrics_url = "http://" + wiring.ctx->options.metrics_address +
                          ":" + std::to_string(wiring.metrics->port) +
                          "/metrics";
  shared->ctx = std::move(wiring.ctx);
  auto& st = self->state;
  st.shared = shared;
  st.server = server.server;
  add_routes(*st.server, shared);
  st.listener = std::thread{[srv = st.server] { srv->listen_after_bind(); }};
  // httplib's stop() is a no-op until the server runs: wait for it, so that
  // an early exit of this actor cannot leave the listener running forever.
  for (int i = 0; i < 5000 && !st.server->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  spdlog::info("api: serving http://{}:{}{}", shared->info.api_host,
               server.port, api_prefix);
  if (wiring.metrics) {
    st.metrics = wiring.metrics->server;
    st.metrics->Get("/metrics", [shared](const Request&, Response& res) {
      res.set_content(metrics_text(*shared), "text/plain; version=0.0.4");
    });
    st.metrics_listener =
      std::thread{[srv = st.metrics] { srv->listen_after_bind(); }};
    for (int i = 0; i < 5000 && !st.metrics->is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    spdlog::info("api: metrics on {}", shared->metrics_url);
  }
  return instrumented<api_actor::behavior_type>(
    self, self->state.stats,
    [self](update_atom, local_store_actor local) {
      std::lock_guard<std::mutex> guard{self->state.shared->mtx};
      self->state.shared->local = std::move(local);
    },
    [self](update_atom, network_store_actor net) {
      std::lock_guard<std::mutex> guard{self->state.shared->mtx};
      self->state.shared->net = std::move(net);
    },
    [self](update_atom, engine_actor eng) {
      std::lock_guard<std::mutex> guard{self->state.shared->mtx};
      self->state.shared->eng = std::move(eng);
    },
    [self](update_atom, discovery_actor d) {
      std::lock_guard<std::mutex> guard{self->state.shared->mtx};
      self->state.shared->disc = std::move(d);
    });
}

} // namespace cairn::actors
