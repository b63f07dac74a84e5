// Downloads of the REST API: GET /data/{cid} from the local store, and
// /data/{cid}/network/{stream,manifest} and POST /data/{cid}/network, which
// fetch from peers. Each streamed download runs a store_stream actor that
// the HTTP writer pulls blocks from.

#include "actors/api_routes.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/store_stream.hpp"
#include "messages/http.hpp"
#include "storage/erasure.hpp"
#include "storage/lmdb_store.hpp"
#include "storage/store_readers.hpp"

namespace cairn::actors::rest {

namespace {

// -- download -----------------------------------------------------------------

// Blocks read straight from the store per read transaction (1 MiB).
constexpr size_t direct_batch = 16;

// The HTTP writer's side of a download: pulls ordered blocks from a
// `store_stream` and writes the bytes of the requested range.
//
// While the blocks are all in the local store, the writer reads them on
// its own thread instead (`direct`), 16 at a time into the buffer it
// writes from: no actor is woken for them, the bytes wait for no other
// thread, and they are copied once on their way from the store's file to
// the socket. At the first block that is not there it spawns the
// `store_stream` for the rest, which fetches from peers, repairs or fails
// as the download's kind says.
struct download {
  download(api_shared& api) : api(api), self(api.sys) {}
  api_shared& api;
  caf::scoped_actor self;
  store_stream_actor stream;
  /// The store stream's spec, until it is spawned.
  std::optional<stream_spec> spec;
  std::shared_ptr<storage::store_readers> direct;
  /// Blocks read from the store into `chunk`, from `next_index` on.
  size_t ready = 0;
  byte_range range;
  uint32_t block_size = default_block_size;
  std::deque<block> queue;
  uint64_t next_index = 0;
  std::shared_ptr<download_progress> progress;
  /// Bytes of the range sent so far, and why the stream ended early.
  uint64_t written = 0;
  std::string abort_reason;
  /// Consecutive blocks copied together for one write (pulled blocks), or
  /// read into it from the store (`direct`).
  static constexpr size_t write_chunk = size_t{1} << 20;
  std::vector<char> chunk;
  /// The API's stopping flag: a download gives up when it is set.
  const std::atomic<bool>* stopping = nullptr;
  bool done = false;

  // Pulls more blocks from the stream, spawning it first if it is not yet.
  // Errors: the stream's failure, its death, or the API stopping.
  caf::error pull() {
    if (spec) {
      spec->first = next_index + uint64_t{queue.size()};
      stream = api.spawn_stream(std::move(*spec));
      spec.reset();
    }
    return pull_stream();
  }

  // Reads the next blocks from the local store on this thread into
  // `chunk` (`ready` of them); false if not even one is there (or the store
  // is closed), and the stream takes over from there.
  bool read_direct() {
    uint64_t from = next_index;
    if (from > spec->last) {
      done = true;
      return false;
    }
    // At least one block, whatever its size.
    auto n = static_cast<size_t>(std::min<uint64_t>(
      std::clamp<size_t>(write_chunk / block_size, 1, direct_batch),
      spec->last - from + 1));
    chunk.resize(std::max(chunk.size(), n * size_t{block_size}));
    auto got = direct->read([&](storage::lmdb_store& st) {
      return st.read_leaf_blocks(spec->tree, from, n, block_size,
                                 reinterpret_cast<uint8_t*>(chunk.data()));
    });
    if (!got || !*got || **got == 0)
      return false;
    ready = **got;
    if (progress)
      for (size_t i = 0; i < ready; ++i)
        progress->block_done(from + i, block_size);
    return true;
  }

  // Writes the part inside the range of the blocks `read_direct` read, for
  // a write at `pos` of the dataset.
  bool write_direct(uint64_t pos, httplib::DataSink& sink) {
    uint64_t block_start = next_index * block_size;
    if (pos < block_start || pos >= block_start + block_size)
      return false; // the writer and httplib disagree: never send wrong bytes
    uint64_t until = std::min<uint64_t>(ready * uint64_t{block_size},
                                        range.last + 1 - block_start);
    uint64_t skip = pos - block_start;
    next_index += ready;
    ready = 0;
    if (!sink.write(chunk.data() + skip, until - skip))
      return false;
    written += until - skip;
    return true;
  }

  // The first blocks, before the status line: from the store if they are
  // there, else from the stream.
  caf::error pull_first() {
    if (direct && (read_direct() || done))
      return caf::none;
    direct.reset();
    return pull();
  }

  caf::error pull_stream() {
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
    uint64_t pos = range.first + offset;
    if (direct) {
      if (ready > 0 || read_direct())
        return write_direct(pos, sink);
      direct.reset();
    }
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
// with its progress tracked for /api/cairn/v1/downloads. `with_manifest`:
// the first leaves asked for with the manifest at `requested` (`fetch_head`).
stream_spec stream_spec_for(api_shared& api, const cid& id, const manifest& m,
                            uint64_t first, uint64_t last, const char* kind,
                            std::chrono::steady_clock::time_point requested,
                            uint32_t with_manifest) {
  stream_spec spec;
  spec.tree = m.tree_cid;
  spec.first = first / m.block_size;
  spec.last = last / m.block_size;
  spec.window = api.ctx->options.stream_window;
  if (spec.first == 0 && !m.is_protected) {
    spec.with_manifest = with_manifest > 0;
    spec.with_manifest_at = requested;
  }
  spec.block_size = m.block_size;
  spec.manifest = id;
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
  spec.progress->started = requested;
  spec.progress->dataset_size = m.content_size();
  spec.progress->block_size = m.block_size;
  spec.progress->manifest_cid = id.to_string();
  spec.progress->tree_cid = m.tree_cid.to_string();
  spec.progress->kind = kind;
  spec.progress->blocks_total = spec.last - spec.first + 1;
  spec.progress->sources.begin(api.ctx->sources, m.tree_cid);
  api.track(spec.progress);
  return spec;
}

// The manifest (or single block) named by `id`: from the local store only,
// or through the network store, which asks peers for what is missing (and
// the peer asked for a manifest for its first `leaves` leaves with it).
caf::expected<block> fetch_head(api_shared& api, caf::scoped_actor& self,
                                const cid& id, bool network,
                                uint32_t leaves = 0) {
  if (network && leaves > 0 && id.codec == multicodec::codex_manifest)
    return ask<block>(self, api.network_store(), network_timeout,
                      get_atom::value, manifest_atom::value, id, leaves);
  if (network)
    return ask<block>(self, api.network_store(), network_timeout,
                      get_atom::value, id);
  return ask<block>(self, api.local_store(), store_timeout, get_atom::value,
                    id);
}

} // namespace

void handle_download(api_shared& api, const Request& req, Response& res,
                     bool network) {
  auto requested = std::chrono::steady_clock::now();
  auto id = cid_param(req, res);
  if (!id)
    return;
  caf::scoped_actor self{api.sys};
  // Several ranges get the whole body (RFC 9110 §14.2 lets a server ignore
  // Range); "bytes=-" has neither bound: malformed, so ignored too.
  bool one_range = req.ranges.size() == 1 &&
                   (req.ranges[0].first >= 0 || req.ranges[0].second >= 0);
  // A download from the first byte asks for its first window with the
  // manifest.
  bool from_start = !one_range || req.ranges[0].first == 0;
  uint32_t leaves = network && from_start ? api.ctx->options.stream_window : 0;
  auto head = fetch_head(api, self, *id, network, leaves);
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
  auto dl = std::make_shared<download>(api);
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
    dl->range = byte_range{0, size == 0 ? 0 : size - 1};
    if (one_range) {
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
    auto spec =
      stream_spec_for(api, *id, *m, dl->range.first, dl->range.last,
                      network ? "stream" : "local", requested, leaves);
    spec.local_only = !network;
    dl->next_index = spec.first;
    dl->progress = spec.progress;
    // The blocks of a protected dataset are not its leaves in order.
    if (!spec.ec)
      dl->direct = api.ctx->readers;
    dl->spec = std::move(spec);
    // Fetch the first blocks before committing to a status line, so that a
    // dataset with missing blocks answers with an error, not a cut stream.
    if (auto err = dl->pull_first()) {
      if (dl->stream)
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

// GET /data/{cid}/network/manifest and POST /data/{cid}/network: the
// manifest, fetched from peers if needed; the POST also starts fetching
// every block in the background.
void handle_network_manifest(api_shared& api, const Request& req, Response& res,
                             bool start_download) {
  auto requested = std::chrono::steady_clock::now();
  // A CID of another kind names no manifest anywhere: 404, as in Codex.
  auto id = cid_param(req, res, multicodec::codex_manifest, "manifest", 404);
  if (!id)
    return;
  caf::scoped_actor self{api.sys};
  uint32_t leaves = start_download ? api.ctx->options.stream_window : 0;
  auto head = fetch_head(api, self, *id, true, leaves);
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
    auto spec = stream_spec_for(api, *id, *m, 0, m->content_size() - 1,
                                "background", requested, leaves);
    spec.drain = true;
    api.spawn_stream(spec);
    spdlog::info("api: background download of {} started", id->to_string());
  }
  reply_json(res, {{"cid", id->to_string()}, {"manifest", manifest_json(*m)}});
}

} // namespace cairn::actors::rest
