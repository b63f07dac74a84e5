// Codex data routes of the REST API: upload, list, delete, exists, space;
// and Cairn's protect, which erasure-codes a stored dataset.

#include "actors/api_routes.hpp"

#include <algorithm>
#include <cerrno>
#include <deque>
#include <vector>

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include "actors/http_acceptor.hpp"
#include "messages/buffer_pool.hpp"
#include "messages/http.hpp"
#include "storage/chunker.hpp"
#include "storage/erasure.hpp"
#include "storage/merkle_tree.hpp"

namespace cairn::actors::rest {

namespace {

// Blocks per put batch (one LMDB transaction) and batches in flight.
constexpr size_t upload_batch_blocks = 64;
constexpr size_t upload_batches_in_flight = 2;

// -- upload -------------------------------------------------------------------

// Writes a dataset's blocks into the store in batches (one transaction
// each) with a bounded number of batches in flight, then commits the
// dataset. Until the commit is sent, its destructor drops the references
// it added; the commit takes them over, whatever its answer (a commit
// that timed out here may still be recorded).
class dataset_writer {
public:
  dataset_writer(api_shared& api, caf::scoped_actor& self)
    : api_(api), self_(self), net_(api.network_store()) {}

  ~dataset_writer() {
    if (!handed_over_)
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
    // Bounced unread: the references are still the upload's.
    handed_over_ = res || res.error() != caf::sec::request_receiver_down;
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
  bool handed_over_ = false;
};

// Streams an upload into the store: chunks and hashes the body, and hands
// the blocks to a dataset_writer. Its calls return false once the upload
// must stop (`error()` says why).
class uploader {
public:
  uploader(api_shared& api, caf::scoped_actor& self)
    : api_(api), writer_(api, self), chunker_([this](bytes b) {
        auto digest = sha256(b);
        return writer_.add(
          block::wrap(cid{multicodec::codex_block, digest},
                      buffer_pool::blocks().share(std::move(b))));
      }) {}

  /// Takes a copy of `n` bytes of the body.
  bool feed(const char* data, size_t n) {
    return go_on() &&
           keep(chunker_.feed(reinterpret_cast<const uint8_t*>(data), n));
  }

  /// Where the next bytes of the body may be received in place: `max`
  /// pieces, the rest of a block then whole blocks.
  size_t space(iovec* out, size_t max) { return chunker_.space(out, max); }

  /// Takes `n` bytes received into what `space` gave.
  bool filled(size_t n) { return go_on() && keep(chunker_.filled(n)); }

  const caf::error& error() const { return err_; }

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
  bool go_on() {
    if (api_.stopping)
      err_ = make_error(ec::shutting_down, "the node is stopping");
    return !err_;
  }

  bool keep(caf::error err) {
    err_ = std::move(err);
    return !err_;
  }

  api_shared& api_;
  dataset_writer writer_;
  storage::chunker chunker_;
  caf::error err_;
};

// Bodies of at least this many bytes are read from the socket directly.
constexpr uint64_t direct_body_min = 64 * 1024;
// Blocks one read of a body read directly may fill (1 MiB).
constexpr size_t direct_body_blocks = 16;

// Passes a request body to `up`, and returns whether all of it came (false:
// the client went, timed out, or `up` refused a piece). httplib 0.11 reads
// a body in 4 KiB pieces with a poll() before each: two system calls per
// 4 KiB cost an upload more CPU than hashing its bytes did (perf: 2.4 of
// 3.4 CPU-s per GiB), and each piece is copied once more into its block.
// So a large body of a known length, on a handler thread of our acceptor,
// is received here straight into its blocks, up to 1 MiB per recvmsg.
// httplib may hold the first bytes of the body in its buffer, behind the
// request head: the first piece its reader gives is exactly those (or one
// fresh read if there are none), so that piece comes from the reader,
// which is then stopped, and the rest from the socket.
bool read_request_body(const Request& req, const httplib::ContentReader& reader,
                       std::optional<uint64_t> length, uploader& up) {
  int fd = http_acceptor::current_connection();
  if (fd < 0 || !length || *length < direct_body_min ||
      req.has_header("Transfer-Encoding"))
    return reader([&](const char* data, size_t n) { return up.feed(data, n); });
  uint64_t got = 0;
  bool refused = false;
  reader([&](const char* data, size_t n) {
    got += n;
    refused = !up.feed(data, n);
    return false; // one piece: httplib's buffer is empty now
  });
  if (refused || got == 0)
    return false;
  iovec room[direct_body_blocks];
  while (got < *length) {
    // Never past the body: the connection may carry another request.
    auto left = *length - got;
    // No more blocks taken than the rest of the body fills.
    size_t pieces = up.space(
      room, static_cast<size_t>(std::min<uint64_t>(
              direct_body_blocks, 1 + (left - 1) / default_block_size + 1)));
    size_t k = 0;
    for (; k < pieces && left > 0; ++k) {
      room[k].iov_len =
        static_cast<size_t>(std::min<uint64_t>(room[k].iov_len, left));
      left -= room[k].iov_len;
    }
    msghdr msg{};
    msg.msg_iov = room;
    msg.msg_iovlen = k;
    auto n = ::recvmsg(fd, &msg, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) // closed, or SO_RCVTIMEO passed (httplib's read timeout)
      return false;
    got += static_cast<uint64_t>(n);
    if (!up.filled(static_cast<size_t>(n)))
      return false;
  }
  return true;
}
} // namespace

// -- protect ------------------------------------------------------------------

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

void handle_upload(api_shared& api, const Request& req, Response& res,
                   const httplib::ContentReader& reader) {
  // Every refusal below comes before the body was read, or while it was:
  // the connection closes after the answer, or the rest of the body would
  // be read as the next request.
  auto refuse = [&](int status, const std::string& why) {
    reply_error(req, res, status, why);
    close_after(req);
  };
  if (req.is_multipart_form_data()) {
    refuse(
      415,
      "multipart uploads are not supported: send the file as the raw body");
    return;
  }
  // The pre-routing check refused a malformed or repeated Content-Length.
  std::optional<uint64_t> declared;
  if (req.has_header("Content-Length"))
    declared = parse_decimal(req.get_header_value("Content-Length"));
  if (declared && *declared > api.ctx->options.storage_quota) {
    refuse(413, "quota_exceeded: upload of " + std::to_string(*declared) +
                  " bytes exceeds the storage quota");
    return;
  }
  // Checked before reading the body, as Codex does (422). A manifest holds
  // strings of at most 4 KiB, and file systems take names of at most 255
  // bytes.
  std::optional<std::string> filename, mimetype;
  if (req.has_header("Content-Disposition"))
    filename =
      filename_from_disposition(req.get_header_value("Content-Disposition"));
  if (req.has_header("Content-Type") &&
      !req.get_header_value("Content-Type").empty())
    mimetype = req.get_header_value("Content-Type");
  if (mimetype && !is_valid_media_type(*mimetype)) {
    refuse(422,
           "The MIME type '" + mimetype->substr(0, 255) + "' is not valid.");
    return;
  }
  if (filename && !is_valid_filename(*filename)) {
    refuse(422, "The filename is not valid.");
    return;
  }
  caf::scoped_actor self{api.sys};
  uploader up{api, self};
  bool complete = read_request_body(req, reader, declared, up);
  if (up.error()) {
    refuse(http_status(up.error()), describe(up.error()));
    return;
  }
  // A body cut short (client gone, read timeout) is never stored: the
  // uploader's destructor drops what was put.
  if (!complete) {
    refuse(400, "the request body ended early after " +
                  std::to_string(up.total()) + " bytes");
    return;
  }
  if (declared && *declared != up.total()) {
    refuse(400, "received " + std::to_string(up.total()) +
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
  // A CID of a kind never stored here is absent: no error, as in Codex.
  if (cid::is_foreign(req.matches[1].str())) {
    res.status = 204;
    return;
  }
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
  if (cid::is_foreign(req.matches[1].str())) {
    reply_json(res, {{"has", false}});
    return;
  }
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

} // namespace cairn::actors::rest
