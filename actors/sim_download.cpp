#include "actors/sim_download.hpp"

#include <cstring>
#include <functional>

#include <spdlog/spdlog.h>

#include "messages/error.hpp"

namespace cairn::actors {

namespace {

using sim_download_ptr =
  sim_download_actor::stateful_pointer<sim_download_state>;

// The manifest may have to be found through the DHT first; a pull waits
// for up to a window of blocks, each with the stream's own retries.
constexpr auto manifest_timeout = std::chrono::seconds{60};
constexpr auto pull_timeout = std::chrono::seconds{150};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t)
    .count();
}

// Adds the DHT lookups of `keys` (from the node's discovery) to the result,
// then calls `then`. A node without an answer counts none.
void collect_lookups(sim_download_ptr self, std::vector<cid> keys,
                     std::function<void()> then) {
  auto& st = self->state;
  if (keys.empty() || !st.spec.discovery)
    return then();
  auto key = keys.back();
  keys.pop_back();
  self
    ->request(st.spec.discovery, std::chrono::seconds{5}, get_atom::value,
              find_atom::value, key)
    .then(
      [self, keys, then](uint64_t lookups, uint64_t queries,
                         std::vector<uint32_t>& hops) {
        auto& r = self->state.result;
        r.dht_lookups += lookups;
        r.dht_queries += queries;
        r.dht_hops.insert(r.dht_hops.end(), hops.begin(), hops.end());
        collect_lookups(self, keys, then);
      },
      [self, keys, then](caf::error&) { collect_lookups(self, keys, then); });
}

// Fills in who delivered this download's blocks, the duplicates and the
// DHT lookups, then calls `then`.
void collect_sources(sim_download_ptr self, std::function<void()> then) {
  auto& st = self->state;
  std::vector<cid> keys{st.head.tree_cid};
  if (auto m = cid::parse(st.spec.cid))
    keys.push_back(*m);
  auto sources = st.progress ? st.progress->sources.get() : source_tally{};
  auto& r = st.result;
  for (auto& [id, n] : sources.blocks) {
    r.sources.push_back(id);
    r.source_blocks.push_back(n);
    r.source_bytes.push_back(n * st.head.block_size);
  }
  r.duplicate_blocks = sources.duplicates;
  collect_lookups(self, keys, then);
}

// Answers once, with the sources, duplicates and lookups asked from the
// node once the manifest was had (also when `why` says the download
// failed).
void finish(sim_download_ptr self, std::string why) {
  auto& st = self->state;
  if (st.done)
    return;
  st.done = true;
  st.result.seconds = seconds_since(st.started);
  if (st.progress)
    st.result.blocks_repaired = st.progress->blocks_repaired;
  if (st.stream)
    self->send_exit(st.stream, caf::exit_reason::user_shutdown);
  if (st.progress)
    st.progress->finish(why.empty() ? download_progress::phase::done
                                    : download_progress::phase::failed,
                        why);
  // The monitor lives in the node's supervisor, which outlives this actor:
  // in CAF 0.17 it would hold this actor's memory until the node stops.
  self->demonitor(st.spec.supervisor.address());
  auto deliver = [self] {
    self->state.promise.deliver(std::move(self->state.result));
    self->quit();
  };
  if (!why.empty()) {
    st.result.error = std::move(why);
    // Without a manifest there is no dataset to ask about.
    if (!st.progress)
      return deliver();
    return collect_sources(self, std::move(deliver));
  }
  st.result.sha256 = st.hash->finish_hex();
  st.result.verified = st.spec.expect_size > 0 && st.matches &&
                       st.result.bytes == st.spec.expect_size;
  collect_sources(self, std::move(deliver));
}

// Takes the bytes of data block `index` that belong to the dataset.
void consume(sim_download_ptr self, const block& b) {
  auto& st = self->state;
  uint64_t offset = st.next * st.head.block_size;
  uint64_t size = st.head.content_size();
  auto len = static_cast<size_t>(
    offset >= size ? 0 : std::min<uint64_t>(b.size(), size - offset));
  byte_view view{b.data->data(), len};
  st.hash->update(view);
  if (st.spec.expect_size > 0 && st.matches) {
    auto want = storage::synthetic_data(st.spec.expect_seed, offset, len);
    st.matches = offset + len <= st.spec.expect_size &&
                 std::memcmp(want.data(), view.data, len) == 0;
  }
  if (st.result.bytes == 0 && len > 0)
    st.result.first_byte_seconds = seconds_since(st.started);
  st.result.bytes += len;
  if (st.progress)
    st.progress->block_done(st.next, b.size());
  ++st.next;
}

void pull(sim_download_ptr self) {
  auto& st = self->state;
  self->request(st.stream, pull_timeout, pull_atom::value, st.next)
    .then(
      [self](std::vector<block>& blocks) {
        if (blocks.empty())
          return finish(self, {});
        for (auto& b : blocks)
          consume(self, b);
        pull(self);
      },
      [self](caf::error& err) {
        auto& st = self->state;
        if (!is(err, ec::not_found) || st.result.retries >= st.spec.max_retries)
          return finish(self, describe(err));
        ++st.result.retries;
        st.result.retry_reason = describe(err);
        self->send_exit(st.stream, caf::exit_reason::user_shutdown);
        st.stream = nullptr;
        self->delayed_send(self, std::chrono::seconds{1}, retry_atom::value);
      });
}

// A stream over the data blocks from `st.next` on.
void open_stream(sim_download_ptr self) {
  auto& st = self->state;
  stream_spec spec;
  spec.tree = st.head.tree_cid;
  spec.first = st.next;
  spec.last = st.head.content_blocks_count() - 1;
  spec.window = st.spec.window;
  if (st.next == 0 && !st.ec) {
    spec.with_manifest = st.spec.window > 0;
    spec.with_manifest_at = st.manifest_asked;
  }
  spec.block_size = st.head.block_size;
  spec.progress = st.progress;
  spec.ec = st.ec;
  spec.ec_backend = st.backend;
  st.stream =
    self->spawn(store_stream, spec, st.spec.store, st.spec.supervisor);
  // CAF 0.17 never answers a request pending at an actor that died.
  self->monitor(st.stream);
  pull(self);
}

void start_stream(sim_download_ptr self, block& head);

// Fetches the manifest; one nobody has yet (its provider not announced or
// not found yet, as when a hundred nodes look it up at once) is asked for
// again a second later, up to `max_retries` times, as blocks are.
void fetch_manifest(sim_download_ptr self, const cid& id) {
  auto& st = self->state;
  st.manifest_asked = std::chrono::steady_clock::now();
  self
    ->request(st.spec.store, manifest_timeout, get_atom::value,
              manifest_atom::value, id, st.spec.window)
    .then(
      [self](block& head) { start_stream(self, head); },
      [self](caf::error& err) {
        auto& st = self->state;
        if (!is(err, ec::not_found) || st.result.retries >= st.spec.max_retries)
          return finish(self, "manifest: " + describe(err));
        ++st.result.retries;
        st.result.retry_reason = "manifest: " + describe(err);
        self->delayed_send(self, std::chrono::seconds{1}, retry_atom::value);
      });
}

void start_stream(sim_download_ptr self, block& head) {
  auto& st = self->state;
  auto m = manifest_from_block(head);
  if (!m)
    return finish(self, "invalid manifest: " + describe(m.error()));
  if (m->is_protected) {
    auto layout =
      storage::ec_layout::make(m->content_blocks_count(), m->ec_k, m->ec_m);
    if (!layout || layout->total() != m->blocks_count())
      return finish(self, "protected dataset with an inconsistent layout");
    auto backend = storage::parse_ec_backend(st.spec.ec_backend);
    if (!backend)
      return finish(self, describe(backend.error()));
    st.ec = *layout;
    st.backend = *backend;
  }
  st.head = std::move(*m);
  if (st.head.content_size() == 0)
    return finish(self, {});
  st.progress = std::make_shared<download_progress>();
  st.progress->started = st.started;
  st.progress->dataset_size = st.head.content_size();
  st.progress->block_size = st.head.block_size;
  st.progress->manifest_cid = st.spec.cid;
  st.progress->tree_cid = st.head.tree_cid.to_string();
  st.progress->kind = "stream";
  st.progress->blocks_total = st.head.content_blocks_count();
  st.progress->sources.begin(st.spec.sources, st.head.tree_cid);
  if (st.spec.downloads)
    st.spec.downloads->track(st.progress);
  open_stream(self);
}

} // namespace

sim_download_actor::behavior_type
sim_download(sim_download_actor::stateful_pointer<sim_download_state> self,
             sim_download_spec spec) {
  self->state.spec = std::move(spec);
  self->state.result.cid = self->state.spec.cid;
  self->monitor(self->state.spec.supervisor);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source == st.spec.supervisor.address())
      finish(self, "the node went down");
    else if (st.stream && dm.source == st.stream.address() && dm.reason)
      finish(self, "the download's stream ended: " + describe(dm.reason));
  });
  return {
    [self](download_atom) -> caf::result<sim_download_result> {
      auto& st = self->state;
      st.promise = self->make_response_promise<sim_download_result>();
      st.started = std::chrono::steady_clock::now();
      auto id = cid::parse(st.spec.cid);
      if (!id) {
        finish(self, "bad CID: " + describe(id.error()));
        return st.promise;
      }
      fetch_manifest(self, *id);
      return st.promise;
    },
    [self](retry_atom) {
      auto& st = self->state;
      if (st.done)
        return;
      // Without a dataset (no progress yet), the manifest is what failed.
      if (!st.progress)
        fetch_manifest(self, *cid::parse(st.spec.cid));
      else
        open_stream(self);
    },
  };
}

} // namespace cairn::actors
